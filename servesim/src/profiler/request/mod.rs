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
mod tests;
