//! The profiling request: a DynamoGraphDeploymentRequest (DGDR) in either of its forms.
//!
//! - newer: `spec.sla: {ttft, itl}`, `spec.workload: {isl, osl, requestRate?, concurrency?}`,
//!   `spec.hardware: {gpuSku, totalGpus, numGpusPerNode}`;
//! - older: `spec.profilingConfig.config.sla: {isl, osl, ttft, itl}`, the GPU in
//!   `spec.profilingConfig.config.sweep.aic_system` (model and backend may also come from
//!   `sweep.aic_hf_id` / `sweep.aic_backend`), `hardware.num_gpus_per_node` and
//!   `hardware.max_num_gpus_per_engine`.
//!
//! Both carry `spec.model` and `spec.backend`. Fields this profiler does not use are listed in
//! [`ProfileRequest::ignored`], never rejected, unless one is a typo of a field it reads that
//! the request leaves out (`totalGPUs` for `totalGpus`) or a target of the SLA section it
//! would drop (`e2eLatency`); a missing or invalid required field is an error naming its
//! path. [`Overrides`] (the command-line flags) win over the file.

use std::path::{Path, PathBuf};

use servesim_models::backend::Backend;
use servesim_models::hardware::{GpuCatalog, GpuSku};

use crate::Error;
use crate::scenario::measured_timer;

mod fields;
mod raw;

use fields::{Fields, invalid};
use raw::{RawDgdr, collect_ignored, misspelt_field};

/// Which form the request was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestForm {
    /// `spec.sla` / `spec.workload` / `spec.hardware`.
    Newer,
    /// `spec.profilingConfig.config.{sla, sweep, hardware}`.
    Older,
}

servesim_core::named_enum! {
    /// How the deployment written to `dgd.yaml` is chosen among those the search ranked.
    /// Named as the CLI (`--prefer`) and `summary.json` write it.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Prefer {
        /// The most goodput (output tokens/s per GPU meeting both SLOs) of either mode.
        #[default]
        Goodput => "goodput",
        /// The best disaggregated deployment meeting both SLOs (the SLA planner scales its
        /// pools apart), even when an aggregated one gives more per GPU; else as `goodput`.
        Disagg => "disagg",
        /// The best aggregated deployment meeting both SLOs; else as `goodput`.
        Agg => "agg",
    }
}

/// Worker sizes the user fixed, in GPUs (a dense worker's TP; TP × attention DP of a
/// mixture of experts'): only those are searched for that role (`None`: every size).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TpPins {
    /// Prefill workers of a disaggregated deployment (`--prefill-tp`).
    pub prefill: Option<u32>,
    /// Decode workers of a disaggregated deployment (`--decode-tp`).
    pub decode: Option<u32>,
    /// Workers of an aggregated deployment (`--agg-tp`).
    pub aggregated: Option<u32>,
}

/// Values given by the CLI's flags (or Python's keywords of the same names); each replaces
/// the request's field.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    /// `spec.model`.
    pub model: Option<String>,
    /// `spec.backend`.
    pub backend: Option<String>,
    /// `spec.hardware.gpuSku`.
    pub gpu: Option<String>,
    /// `spec.hardware.totalGpus`.
    pub total_gpus: Option<u32>,
    /// `spec.hardware.numGpusPerNode`.
    pub gpus_per_node: Option<u32>,
    /// `spec.workload.isl`.
    pub isl: Option<u32>,
    /// `spec.workload.osl`.
    pub osl: Option<u32>,
    /// `spec.sla.ttft`, ms.
    pub ttft_ms: Option<f64>,
    /// `spec.sla.itl`, ms.
    pub itl_ms: Option<f64>,
    /// `spec.workload.requestRate`, requests/s.
    pub request_rate: Option<f64>,
    /// `spec.workload.concurrency`.
    pub concurrency: Option<u32>,
    /// The choice rule (default `goodput`).
    pub prefer: Option<Prefer>,
    /// TP sizes fixed per role.
    pub pins: TpPins,
    /// Kernel tables measured on the user's GPUs (`--calibration DIR`, the harness's or
    /// `servesim calibrate import`'s output), in place of the shipped tables of the same GPU,
    /// backend and family.
    pub calibration: Option<PathBuf>,
}

/// A validated profiling request.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ProfileRequest {
    /// `metadata.name` (default `profile`).
    pub name: String,
    /// The form it was written in.
    pub form: RequestForm,
    /// The model id as written (a built-in name or Hugging Face id).
    pub model: String,
    /// The serving backend.
    #[serde(serialize_with = "ser_backend")]
    pub backend: Backend,
    /// GPU SKU.
    pub gpu: String,
    /// GPUs available to the deployment.
    pub total_gpus: u32,
    /// GPUs per node (the largest TP).
    pub gpus_per_node: u32,
    /// Largest TP size to try.
    pub max_tp: u32,
    /// Input tokens per request.
    pub isl: u32,
    /// Output tokens per request.
    pub osl: u32,
    /// TTFT target, ms.
    pub ttft_ms: f64,
    /// ITL target, ms.
    pub itl_ms: f64,
    /// Requested load, requests/s.
    pub request_rate: Option<f64>,
    /// Requested load, concurrent requests.
    pub concurrency: Option<u32>,
    /// How the deployment is chosen.
    pub prefer: Prefer,
    /// TP sizes fixed per role (only those searched).
    pub pins: TpPins,
    /// The folder of measured kernel tables that time the search and its simulations in place
    /// of the shipped ones (see [`Overrides::calibration`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<PathBuf>,
    /// Fields of the file this profiler does not use (dotted paths).
    pub ignored: Vec<String>,
    /// Values assumed where the file left them out.
    pub assumed: Vec<String>,
}

impl Overrides {
    /// The request's fields the overrides give (in either form of the request).
    fn given(&self) -> Vec<&'static str> {
        let fields: [(bool, &[&'static str]); 11] = [
            (
                self.model.is_some(),
                &["spec.model", "spec.profilingConfig.config.sweep.aic_hf_id"],
            ),
            (
                self.backend.is_some(),
                &[
                    "spec.backend",
                    "spec.profilingConfig.config.sweep.aic_backend",
                ],
            ),
            (
                self.gpu.is_some(),
                &[
                    "spec.hardware.gpuSku",
                    "spec.profilingConfig.config.sweep.aic_system",
                ],
            ),
            (
                self.total_gpus.is_some(),
                &[
                    "spec.hardware.totalGpus",
                    "spec.profilingConfig.config.hardware.total_gpus",
                ],
            ),
            (
                self.gpus_per_node.is_some(),
                &[
                    "spec.hardware.numGpusPerNode",
                    "spec.profilingConfig.config.hardware.num_gpus_per_node",
                ],
            ),
            (
                self.isl.is_some(),
                &["spec.workload.isl", "spec.profilingConfig.config.sla.isl"],
            ),
            (
                self.osl.is_some(),
                &["spec.workload.osl", "spec.profilingConfig.config.sla.osl"],
            ),
            (
                self.ttft_ms.is_some(),
                &["spec.sla.ttft", "spec.profilingConfig.config.sla.ttft"],
            ),
            (
                self.itl_ms.is_some(),
                &["spec.sla.itl", "spec.profilingConfig.config.sla.itl"],
            ),
            (self.request_rate.is_some(), &["spec.workload.requestRate"]),
            (self.concurrency.is_some(), &["spec.workload.concurrency"]),
        ];
        fields
            .into_iter()
            .filter(|(given, _)| *given)
            .flat_map(|(_, paths)| paths.iter().copied())
            .collect()
    }
}

fn ser_backend<S: serde::Serializer>(b: &Backend, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(b.name())
}

/// Whether an ignored path is a latency target of the request's SLA section that the profiler
/// would drop: Dynamo's `e2eLatency` (ai-dynamo 1.6.1's `SLASpec`, the alternative to `ttft`
/// and `itl`) or any other key there, but `optimizationType`, which ranks deployments rather
/// than bounding them. A user's target is refused, never lost to a warning.
fn is_unmet_target(path: &str) -> bool {
    ["spec.sla.", "spec.profilingConfig.config.sla."]
        .iter()
        .any(|section| {
            path.strip_prefix(section)
                .is_some_and(|k| k != "optimizationType")
        })
}

/// `e` with a hint where a field it names is missing beside an ignored one of a similar
/// name (`spec.slaa` for `spec.sla`): the ignored list is said only on success otherwise.
fn misspelt(e: Error, ignored: &[String]) -> Error {
    let Error::Config { path, message } = e else {
        return e;
    };
    let steps: Vec<&str> = path.split('.').collect();
    let hint = ignored.iter().find_map(|i| {
        let (parent, leaf) = i.rsplit_once('.').unwrap_or(("", i));
        let depth = if parent.is_empty() {
            0
        } else {
            parent.split('.').count()
        };
        let (wanted, above) = (steps.get(depth)?, steps[..depth].join("."));
        (above == parent && servesim_core::suggest::closest(leaf, [*wanted]).is_some())
            .then(|| (i.clone(), steps[..=depth].join(".")))
    });
    let message = match hint {
        Some((written, meant)) => format!(
            "{message} (the request has `{written}`, which is ignored: did you mean `{meant}`?)"
        ),
        None => message,
    };
    Error::Config { path, message }
}

impl ProfileRequest {
    /// `gpu` on the request's nodes: fewer GPUs a node than the datasheet's (a 4-GPU HGX
    /// board) also narrow an NVLink domain of one node to them, so a worker wider than such
    /// a node pays for crossing nodes.
    pub fn gpu_on_its_nodes(&self, gpu: &GpuSku) -> GpuSku {
        gpu.on_nodes_of(self.gpus_per_node)
    }

    /// Reads a request file (YAML or JSON) and applies `overrides`.
    pub fn from_file(path: &Path, overrides: &Overrides) -> Result<ProfileRequest, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_yaml_str(&text, &path.display().to_string(), overrides)
    }

    /// Parses request text (`origin` names it in errors) and applies `overrides`.
    pub fn from_yaml_str(
        text: &str,
        origin: &str,
        overrides: &Overrides,
    ) -> Result<ProfileRequest, Error> {
        let parse_err = |path: String, message: String| Error::Parse {
            origin: origin.to_string(),
            path,
            message,
        };
        let value: serde_norway::Value =
            serde_norway::from_str(text).map_err(|e| parse_err(".".into(), e.to_string()))?;
        let value = if value.is_null() {
            serde_norway::Value::Mapping(Default::default())
        } else {
            value
        };
        if !value.is_mapping() {
            return Err(parse_err(
                ".".into(),
                "a DynamoGraphDeploymentRequest must be a mapping".into(),
            ));
        }
        let de = serde_norway::Deserializer::from_str(text);
        let raw: RawDgdr = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let message = crate::scenario::parse_message(&path, &e.into_inner().to_string());
            parse_err(path, message)
        })?;
        let mut ignored = Vec::new();
        collect_ignored(&value, "", &mut ignored);
        if let Some((written, meant)) = misspelt_field(&value, &ignored, &overrides.given()) {
            return Err(invalid(
                &written,
                format!(
                    "not a field this profiler reads: did you mean `{meant}`, which the request does \
                     not give?"
                ),
            ));
        }
        if let Some(target) = ignored.iter().find(|i| is_unmet_target(i)) {
            return Err(invalid(
                target,
                "not a target this profiler meets (it meets `ttft` and `itl`, each a mean in ms); \
                 remove it, or give the SLO as `ttft` and `itl`"
                    .to_string(),
            ));
        }
        let hints: Vec<String> = ignored.clone();
        Self::resolve(raw, ignored, overrides).map_err(|e| misspelt(e, &hints))
    }

    fn resolve(
        raw: RawDgdr,
        mut ignored: Vec<String>,
        o: &Overrides,
    ) -> Result<ProfileRequest, Error> {
        // Dynamo's resources are `nvidia.com/v1alpha1` and later versions of that group.
        if let Some(v) = &raw.api_version
            && !v.starts_with("nvidia.com/")
        {
            return Err(invalid(
                "apiVersion",
                format!("'{v}' is not a version of Dynamo's nvidia.com resources"),
            ));
        }
        if let Some(kind) = &raw.kind
            && kind != "DynamoGraphDeploymentRequest"
        {
            return Err(invalid(
                "kind",
                format!("'{kind}' is not DynamoGraphDeploymentRequest"),
            ));
        }
        let f = Fields::of(raw.spec.unwrap_or_default());
        f.check_agree()?;
        let mut assumed = Vec::new();
        let (model, llm, backend, gpu, sku) = f.deployment(o)?;
        let (gpus_per_node, total_gpus, max_tp) = f.gpus(o, &sku, &mut assumed)?;
        let w = f.workload(o)?;
        if let Some(context) = llm.context_exceeded_by(u64::from(w.isl) + u64::from(w.osl)) {
            return Err(invalid(
                "isl + osl",
                format!(
                    "a request of {} input and {} output tokens is longer than {}'s context \
                     of {context} tokens",
                    w.isl, w.osl, llm.name
                ),
            ));
        }
        // An id read as a built-in of another name (an `-Instruct` suffix dropped, a short
        // form) is a checkpoint the profile has not seen: say which one it times.
        let given = model
            .rsplit('/')
            .next()
            .unwrap_or(&model)
            .to_ascii_lowercase();
        let given = given.strip_suffix("-fp8").unwrap_or(&given);
        if llm.name.to_ascii_lowercase() != given {
            assumed.push(format!(
                "model: '{model}' is timed as the built-in {} ({} weights)",
                llm.name,
                llm.weight_dtype.name()
            ));
        }
        if !is_hugging_face_id(&model) {
            assumed.push(format!(
                "the DGD's workers load the model as written, '{model}', which is not a \
                 Hugging Face id (owner/name): put the checkpoint's id in dgd.yaml before \
                 deploying it"
            ));
        }
        for (flag, pin) in [
            ("--prefill-tp", o.pins.prefill),
            ("--decode-tp", o.pins.decode),
            ("--agg-tp", o.pins.aggregated),
        ] {
            if let Some(gpus) = pin
                && !(gpus.is_power_of_two() && gpus <= max_tp)
            {
                return Err(invalid(
                    flag,
                    format!(
                        "{gpus} is not a worker size searched (a power of two GPUs, at most \
                         {max_tp})"
                    ),
                ));
            }
        }
        if let Some(dir) = &o.calibration {
            let sku = GpuCatalog::builtin()
                .get(&gpu)
                .map_err(|e| invalid("spec.hardware.gpuSku", e.to_string()))?
                .clone();
            if dir.to_str().is_none() {
                return Err(invalid(
                    "--calibration",
                    format!("{}: not a UTF-8 path", dir.display()),
                ));
            }
            let m = measured_timer(dir, &sku, backend).map_err(|e| invalid("--calibration", e))?;
            ignored.extend(m.unread.iter().map(|t| {
                format!(
                    "calibration table {t}: {} under {} reads other tables",
                    sku.sku,
                    backend.name()
                )
            }));
            if !m.roofline_only.is_empty() {
                assumed.push(format!(
                    "calibration: {} has no shipped tables, so the folder's take their place and \
                     {} are timed by the roofline alone",
                    sku.sku,
                    m.roofline_only.join(", ")
                ));
            }
        }
        Ok(ProfileRequest {
            name: raw
                .metadata
                .and_then(|m| m.name)
                .unwrap_or_else(|| "profile".into()),
            form: f.form,
            model,
            backend,
            gpu,
            total_gpus,
            gpus_per_node,
            max_tp,
            isl: w.isl,
            osl: w.osl,
            ttft_ms: w.ttft_ms,
            itl_ms: w.itl_ms,
            request_rate: w.request_rate,
            concurrency: w.concurrency,
            prefer: o.prefer.unwrap_or_default(),
            pins: o.pins,
            calibration: o.calibration.clone(),
            ignored,
            assumed,
        })
    }
}

/// Whether `model` has the form of a Hugging Face id, `owner/name`, which the DGD's workers
/// can load (a built-in's short name or a `config.json` path does not).
fn is_hugging_face_id(model: &str) -> bool {
    let ok = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !part.starts_with('.')
    };
    matches!(model.split_once('/'), Some((owner, name)) if ok(owner) && ok(name))
        && !model.ends_with(".json")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEWER: &str = "
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeploymentRequest
metadata: {name: qwen}
spec:
  model: Qwen/Qwen3-32B-FP8
  backend: vllm
  sla: {ttft: 500, itl: 30}
  workload: {isl: 4000, osl: 500}
  hardware: {gpuSku: h200_sxm, totalGpus: 8, numGpusPerNode: 8}
  autoApply: true
";

    const OLDER: &str = "
kind: DynamoGraphDeploymentRequest
spec:
  model: Qwen/Qwen3-32B-FP8
  backend: vllm
  profilingConfig:
    profilerImage: nvcr.io/x
    config:
      sla: {isl: 4000, osl: 500, ttft: 500.0, itl: 30.0}
      sweep: {use_ai_configurator: true, aic_system: h200_sxm, aic_backend_version: '0.20.0'}
      hardware: {num_gpus_per_node: 8}
";

    fn parse(text: &str) -> Result<ProfileRequest, Error> {
        ProfileRequest::from_yaml_str(text, "req.yaml", &Overrides::default())
    }

    #[test]
    fn nodes_of_fewer_gpus_narrow_a_node_sized_nvlink_domain() {
        let cat = servesim_models::hardware::GpuCatalog::builtin();
        let four = parse(&NEWER.replace("numGpusPerNode: 8", "numGpusPerNode: 4")).unwrap();
        let h200 = four.gpu_on_its_nodes(cat.get("h200_sxm").unwrap());
        assert_eq!((h200.gpus_per_node, h200.nvlink_domain()), (4, 4));
        // An NVL72 rack stays one domain of its trays, however many GPUs a node.
        let gb200 = four.gpu_on_its_nodes(cat.get("gb200").unwrap());
        assert_eq!((gb200.gpus_per_node, gb200.nvlink_domain()), (4, 72));
    }

    #[test]
    fn both_forms_give_the_same_request() {
        let a = parse(NEWER).unwrap();
        let b = parse(OLDER).unwrap();
        assert_eq!(a.form, RequestForm::Newer);
        assert_eq!(b.form, RequestForm::Older);
        for r in [&a, &b] {
            assert_eq!((r.isl, r.osl, r.total_gpus, r.max_tp), (4000, 500, 8, 8));
            assert_eq!((r.ttft_ms, r.itl_ms), (500.0, 30.0));
            assert_eq!(r.gpu, "h200_sxm");
        }
        assert_eq!(a.ignored, vec!["spec.autoApply"]);
        assert!(a.assumed.is_empty());
        assert_eq!(
            b.ignored,
            vec![
                "spec.profilingConfig.profilerImage",
                "spec.profilingConfig.config.sweep.use_ai_configurator",
                "spec.profilingConfig.config.sweep.aic_backend_version",
            ]
        );
        assert!(b.assumed[0].contains("total GPUs: 8"), "{:?}", b.assumed);
    }

    #[test]
    fn a_model_timed_as_a_built_in_of_another_name_says_so() {
        let said = |model: &str| {
            let r = parse(&NEWER.replace("model: Qwen/Qwen3-32B-FP8", &format!("model: {model}")))
                .unwrap();
            r.assumed.into_iter().find(|a| a.starts_with("model: "))
        };
        assert_eq!(said("Qwen/Qwen3-32B-FP8"), None);
        assert_eq!(
            said("Qwen/Qwen3-32B-Instruct").as_deref(),
            Some(
                "model: 'Qwen/Qwen3-32B-Instruct' is timed as the built-in Qwen3-32B (bf16 weights)"
            )
        );
    }

    #[test]
    fn a_target_the_profiler_cannot_meet_is_refused_not_dropped() {
        let e = parse(&NEWER.replace("ttft: 500, ", "ttft: 500, e2eLatency: 9000, "))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("spec.sla.e2eLatency: not a target"), "{e}");
        // Dynamo's optimisation type ranks deployments: it is no target, only ignored.
        let r = parse(&NEWER.replace("ttft: 500, ", "ttft: 500, optimizationType: throughput, "))
            .unwrap();
        assert!(r.ignored.contains(&"spec.sla.optimizationType".to_string()));
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse(&NEWER.replace("ttft: 500, ", "")).unwrap_err();
        assert!(e.to_string().starts_with("spec.sla.ttft: missing"), "{e}");
        // A misspelt field is ignored, and named where its absence is the error.
        let e = parse(&NEWER.replace("  sla:", "  slaa:"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("spec.sla.ttft: missing")
                && e.ends_with(
                    "(the request has `spec.slaa`, which is ignored: did you mean `spec.sla`?)"
                ),
            "{e}"
        );
        let e = parse(&NEWER.replace("ttft: 500", "tfft: 500"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean `spec.sla.ttft`"), "{e}");
        let e = parse(&NEWER.replace("ttft: 500, ", ""))
            .unwrap_err()
            .to_string();
        assert!(
            !e.contains("did you mean"),
            "autoApply is no misspelling: {e}"
        );
        // An optional field misspelt would be dropped for its default: refused instead.
        let e = parse(&NEWER.replace("totalGpus: 8", "totalGPUs: 16"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("spec.hardware.totalGPUs: not a field this profiler reads")
                && e.contains("did you mean `spec.hardware.totalGpus`, which the request"),
            "{e}"
        );
        let e = parse(&NEWER.replace("osl: 500}", "osl: 500, requestrate: 2}"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("did you mean `spec.workload.requestRate`"),
            "{e}"
        );
        // Dynamo's own field two characters from one read here is another field, and a
        // field the command line gives is not left to its default: only ignored.
        let older = OLDER.replace(
            "hardware: {num_gpus_per_node: 8}",
            "hardware: {num_gpus_per_node: 8, min_num_gpus_per_engine: 2}",
        );
        assert!(parse(&older).is_ok());
        let given = Overrides {
            total_gpus: Some(16),
            ..Overrides::default()
        };
        let typo = NEWER.replace("totalGpus: 8", "totalGPUs: 16");
        let r = ProfileRequest::from_yaml_str(&typo, "req.yaml", &given).unwrap();
        assert_eq!(r.total_gpus, 16);
        // Given beside the field it resembles, it is only ignored.
        let both = NEWER.replace("totalGpus: 8", "totalGpus: 8, totalGPUs: 16");
        assert!(
            parse(&both)
                .unwrap()
                .ignored
                .contains(&"spec.hardware.totalGPUs".to_string())
        );
        let e = parse(&NEWER.replace("ttft: 500", "ttft: fast")).unwrap_err();
        assert!(e.to_string().contains("spec.sla.ttft"), "{e}");
        // The path once, not again in front of serde's own message.
        assert!(
            !e.to_string().contains("spec.sla.ttft: spec.sla.ttft"),
            "{e}"
        );
        let e = parse(&NEWER.replace("ttft: 500", "ttft: -5")).unwrap_err();
        assert!(e.to_string().starts_with("spec.sla.ttft: must be"), "{e}");
        // Targets no serving latency has: out of range, in few digits.
        let e = parse(&NEWER.replace("itl: 30", "itl: 1e308")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "spec.sla.itl: must be a latency target of 0.001 to 3600000 ms, got 1e308"
        );
        let e = parse(&NEWER.replace("nvidia.com/v1alpha1", "apps/v1")).unwrap_err();
        assert!(e.to_string().starts_with("apiVersion: 'apps/v1'"), "{e}");
        let e = parse(&NEWER.replace("isl: 4000", "isl: 40.5")).unwrap_err();
        assert!(e.to_string().starts_with("spec.workload.isl"), "{e}");
        let e = parse(&NEWER.replace("h200_sxm", "h900")).unwrap_err();
        assert!(e.to_string().starts_with("spec.hardware.gpuSku"), "{e}");
        let e = parse(&NEWER.replace("Qwen/Qwen3-32B-FP8", "nobody/Nothing-7B")).unwrap_err();
        assert!(e.to_string().starts_with("spec.model"), "{e}");
        let e = parse(&NEWER.replace("backend: vllm", "backend: onnx")).unwrap_err();
        assert!(e.to_string().starts_with("spec.backend"), "{e}");
        // A field in both forms with two values.
        let both = NEWER.replace(
            "  autoApply: true",
            "  profilingConfig: {config: {sla: {ttft: 800}}}",
        );
        let e = parse(&both).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "spec.sla.ttft: 500, but spec.profilingConfig.config.sla.ttft says 800"
            ),
            "{e}"
        );
        let e = parse(&NEWER.replace("numGpusPerNode: 8", "numGpusPerNode: 16")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spec.hardware.numGpusPerNode: 16 is more than a h200_sxm node's 8"),
            "{e}"
        );
        let e = parse(&NEWER.replace("totalGpus: 8", "totalGpus: 0")).unwrap_err();
        assert!(e.to_string().starts_with("spec.hardware.totalGpus"), "{e}");
        let e = parse(&OLDER.replace("ttft: 500.0, ", "")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spec.profilingConfig.config.sla.ttft: missing"),
            "{e}"
        );
        let e = parse(&OLDER.replace("aic_system: h200_sxm, ", "")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spec.profilingConfig.config.sweep.aic_system: missing"),
            "{e}"
        );
        let e =
            parse(&NEWER.replace("kind: DynamoGraphDeploymentRequest", "kind: Pod")).unwrap_err();
        assert!(e.to_string().starts_with("kind:"), "{e}");
        let e = parse("spec: [1, 2").unwrap_err();
        assert!(e.to_string().contains("req.yaml"), "{e}");
        let e = parse("- 1").unwrap_err();
        assert!(e.to_string().contains("mapping"), "{e}");
        let e = parse(&NEWER.replace("osl: 500", "osl: 500, requestRate: 2, concurrency: 4"))
            .unwrap_err();
        assert!(e.to_string().starts_with("spec.workload:"), "{e}");
        // Beyond a million requests/s the worker counts no longer fit the search's integers.
        let e = parse(&NEWER.replace("osl: 500", "osl: 500, requestRate: 1e30")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spec.workload.requestRate: must be at most 1000000"),
            "{e}"
        );
        assert!(parse(&NEWER.replace("osl: 500", "osl: 500, requestRate: 1e6")).is_ok());
    }

    #[test]
    fn flags_override_the_file() {
        let o = Overrides {
            ttft_ms: Some(300.0),
            total_gpus: Some(16),
            isl: Some(1000),
            concurrency: Some(64),
            gpu: Some("h100_sxm".into()),
            ..Overrides::default()
        };
        let r = ProfileRequest::from_yaml_str(NEWER, "x", &o).unwrap();
        assert_eq!(
            (
                r.ttft_ms,
                r.total_gpus,
                r.isl,
                r.concurrency,
                r.gpu.as_str()
            ),
            (300.0, 16, 1000, Some(64), "h100_sxm")
        );
        // A flag fills a missing field.
        let r = ProfileRequest::from_yaml_str(&NEWER.replace("ttft: 500, ", ""), "x", &o).unwrap();
        assert_eq!(r.ttft_ms, 300.0);
        let e = ProfileRequest::from_yaml_str(
            NEWER,
            "x",
            &Overrides {
                itl_ms: Some(f64::NAN),
                ..Overrides::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("--itl"), "{e}");
    }
}
