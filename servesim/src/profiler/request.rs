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
//! [`ProfileRequest::ignored`], never rejected; a missing or invalid required field is an
//! error naming its path. [`Overrides`] (the command-line flags) win over the file.

use std::path::Path;

use serde::Deserialize;
use servesim_models::backend::Backend;
use servesim_models::hardware::GpuCatalog;
use servesim_models::llm::LlmSpec;

use crate::Error;

/// Which form the request was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestForm {
    /// `spec.sla` / `spec.workload` / `spec.hardware`.
    Newer,
    /// `spec.profilingConfig.config.{sla, sweep, hardware}`.
    Older,
}

/// Values given on the command line; each replaces the request's field.
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
    /// Fields of the file this profiler does not use (dotted paths).
    pub ignored: Vec<String>,
    /// Values assumed where the file left them out.
    pub assumed: Vec<String>,
}

fn ser_backend<S: serde::Serializer>(b: &Backend, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(b.name())
}

#[derive(Deserialize, Default)]
struct RawDgdr {
    kind: Option<String>,
    metadata: Option<RawMeta>,
    spec: Option<RawSpec>,
}

#[derive(Deserialize, Default)]
struct RawMeta {
    name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawSpec {
    model: Option<String>,
    backend: Option<String>,
    sla: Option<RawSla>,
    workload: Option<RawWorkload>,
    hardware: Option<RawHardware>,
    profiling_config: Option<RawProfiling>,
}

#[derive(Deserialize, Default)]
struct RawSla {
    ttft: Option<f64>,
    itl: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawWorkload {
    isl: Option<f64>,
    osl: Option<f64>,
    request_rate: Option<f64>,
    concurrency: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawHardware {
    gpu_sku: Option<String>,
    total_gpus: Option<f64>,
    num_gpus_per_node: Option<f64>,
}

#[derive(Deserialize, Default)]
struct RawProfiling {
    config: Option<RawOldConfig>,
}

#[derive(Deserialize, Default)]
struct RawOldConfig {
    sla: Option<RawOldSla>,
    sweep: Option<RawSweep>,
    hardware: Option<RawOldHardware>,
}

#[derive(Deserialize, Default)]
struct RawOldSla {
    isl: Option<f64>,
    osl: Option<f64>,
    ttft: Option<f64>,
    itl: Option<f64>,
}

#[derive(Deserialize, Default)]
struct RawSweep {
    aic_system: Option<String>,
    aic_hf_id: Option<String>,
    aic_backend: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawOldHardware {
    num_gpus_per_node: Option<f64>,
    max_num_gpus_per_engine: Option<f64>,
    total_gpus: Option<f64>,
}

/// Every field path this profiler reads (the rest is reported as ignored).
const USED: [&str; 24] = [
    "apiVersion",
    "kind",
    "metadata.name",
    "spec.model",
    "spec.backend",
    "spec.sla.ttft",
    "spec.sla.itl",
    "spec.workload.isl",
    "spec.workload.osl",
    "spec.workload.requestRate",
    "spec.workload.concurrency",
    "spec.hardware.gpuSku",
    "spec.hardware.totalGpus",
    "spec.hardware.numGpusPerNode",
    "spec.profilingConfig.config.sla.isl",
    "spec.profilingConfig.config.sla.osl",
    "spec.profilingConfig.config.sla.ttft",
    "spec.profilingConfig.config.sla.itl",
    "spec.profilingConfig.config.sweep.aic_system",
    "spec.profilingConfig.config.sweep.aic_hf_id",
    "spec.profilingConfig.config.sweep.aic_backend",
    "spec.profilingConfig.config.hardware.num_gpus_per_node",
    "spec.profilingConfig.config.hardware.max_num_gpus_per_engine",
    "spec.profilingConfig.config.hardware.total_gpus",
];

/// Collects the paths under `v` that no used field lies at or below.
fn collect_ignored(v: &serde_norway::Value, path: &str, out: &mut Vec<String>) {
    let serde_norway::Value::Mapping(m) = v else {
        if !path.is_empty() && !USED.contains(&path) {
            out.push(path.to_string());
        }
        return;
    };
    for (k, child) in m {
        let key = match k {
            serde_norway::Value::String(s) => s.clone(),
            other => serde_norway::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        let p = if path.is_empty() {
            key
        } else {
            format!("{path}.{key}")
        };
        if USED.contains(&p.as_str()) {
            continue;
        }
        let prefix = format!("{p}.");
        if USED.iter().any(|u| u.starts_with(&prefix)) {
            collect_ignored(child, &p, out);
        } else {
            out.push(p);
        }
    }
}

fn invalid(path: &str, message: impl Into<String>) -> Error {
    Error::Config {
        path: path.to_string(),
        message: message.into(),
    }
}

fn positive(path: &str, v: f64, what: &str) -> Result<f64, Error> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(invalid(path, format!("must be a positive {what}, got {v}")))
    }
}

fn whole(path: &str, v: f64, what: &str, max: u32) -> Result<u32, Error> {
    if v.is_finite() && v >= 1.0 && v.fract() == 0.0 && v <= f64::from(max) {
        Ok(v as u32)
    } else {
        Err(invalid(
            path,
            format!("must be a whole number of {what} in 1..={max}, got {v}"),
        ))
    }
}

impl ProfileRequest {
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
            parse_err(path, e.into_inner().to_string())
        })?;
        let mut ignored = Vec::new();
        collect_ignored(&value, "", &mut ignored);
        Self::resolve(raw, ignored, overrides)
    }

    fn resolve(raw: RawDgdr, ignored: Vec<String>, o: &Overrides) -> Result<ProfileRequest, Error> {
        if let Some(kind) = &raw.kind
            && kind != "DynamoGraphDeploymentRequest"
        {
            return Err(invalid(
                "kind",
                format!("'{kind}' is not DynamoGraphDeploymentRequest"),
            ));
        }
        let spec = raw.spec.unwrap_or_default();
        let old = spec
            .profiling_config
            .and_then(|p| p.config)
            .unwrap_or_default();
        let form = if spec.sla.is_none() && old.sla.is_some() {
            RequestForm::Older
        } else {
            RequestForm::Newer
        };
        let sla = spec.sla.unwrap_or_default();
        let wl = spec.workload.unwrap_or_default();
        let hw = spec.hardware.unwrap_or_default();
        let osla = old.sla.unwrap_or_default();
        let sweep = old.sweep.unwrap_or_default();
        let ohw = old.hardware.unwrap_or_default();
        let older = form == RequestForm::Older;
        // A field given in both forms with two values: which was meant is not ours to guess.
        let text = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_string());
        let num = |v: Option<f64>| v.map(|x| x.to_string());
        for (newer, newer_value, older_path, older_value) in [
            (
                "spec.model",
                text(&spec.model),
                "sweep.aic_hf_id",
                text(&sweep.aic_hf_id),
            ),
            (
                "spec.backend",
                text(&spec.backend),
                "sweep.aic_backend",
                text(&sweep.aic_backend),
            ),
            (
                "spec.hardware.gpuSku",
                text(&hw.gpu_sku),
                "sweep.aic_system",
                text(&sweep.aic_system),
            ),
            (
                "spec.hardware.totalGpus",
                num(hw.total_gpus),
                "hardware.total_gpus",
                num(ohw.total_gpus),
            ),
            (
                "spec.hardware.numGpusPerNode",
                num(hw.num_gpus_per_node),
                "hardware.num_gpus_per_node",
                num(ohw.num_gpus_per_node),
            ),
            ("spec.sla.ttft", num(sla.ttft), "sla.ttft", num(osla.ttft)),
            ("spec.sla.itl", num(sla.itl), "sla.itl", num(osla.itl)),
            ("spec.workload.isl", num(wl.isl), "sla.isl", num(osla.isl)),
            ("spec.workload.osl", num(wl.osl), "sla.osl", num(osla.osl)),
        ] {
            if let (Some(a), Some(b)) = (&newer_value, &older_value)
                && a != b
            {
                return Err(invalid(
                    newer,
                    format!("{a}, but spec.profilingConfig.config.{older_path} says {b}: give one"),
                ));
            }
        }
        // The path a missing field is reported under: the form's own.
        let at = |newer: &'static str, older_path: &'static str| -> &'static str {
            if older { older_path } else { newer }
        };
        let missing = |path: &str, what: &str| {
            invalid(
                path,
                format!("missing: {what} (or give it on the command line)"),
            )
        };
        let mut assumed = Vec::new();

        // Model.
        let (model, model_path) = match (&o.model, &spec.model, &sweep.aic_hf_id) {
            (Some(m), _, _) => (m.clone(), "--model"),
            (None, Some(m), _) => (m.clone(), "spec.model"),
            (None, None, Some(m)) => (m.clone(), "spec.profilingConfig.config.sweep.aic_hf_id"),
            _ => return Err(missing("spec.model", "the model (a Hugging Face id)")),
        };
        LlmSpec::lookup(&model).map_err(|e| invalid(model_path, e.to_string()))?;

        // Backend.
        let (backend, backend_path) = match (&o.backend, &spec.backend, &sweep.aic_backend) {
            (Some(b), _, _) => (b.clone(), "--backend"),
            (None, Some(b), _) => (b.clone(), "spec.backend"),
            (None, None, Some(b)) => (b.clone(), "spec.profilingConfig.config.sweep.aic_backend"),
            _ => {
                return Err(missing(
                    "spec.backend",
                    "the backend (vllm, sglang or trtllm)",
                ));
            }
        };
        let backend = Backend::parse(&backend).map_err(|e| invalid(backend_path, e.to_string()))?;

        // GPU.
        let gpu_path = at(
            "spec.hardware.gpuSku",
            "spec.profilingConfig.config.sweep.aic_system",
        );
        let (gpu, gpu_path) = match (&o.gpu, &hw.gpu_sku, &sweep.aic_system) {
            (Some(g), _, _) => (g.clone(), "--gpu"),
            (None, Some(g), _) => (g.clone(), "spec.hardware.gpuSku"),
            (None, None, Some(g)) => (g.clone(), "spec.profilingConfig.config.sweep.aic_system"),
            _ => return Err(missing(gpu_path, "the GPU SKU (e.g. h200_sxm)")),
        };
        let gpu = gpu.trim().to_ascii_lowercase();
        let catalog = GpuCatalog::builtin();
        let sku = catalog
            .get(&gpu)
            .map_err(|e| invalid(gpu_path, e.to_string()))?;

        // GPUs per node and in total.
        let given = match (o.gpus_per_node, hw.num_gpus_per_node, ohw.num_gpus_per_node) {
            (Some(n), _, _) => Some(("--gpus-per-node", f64::from(n))),
            (None, Some(n), _) => Some(("spec.hardware.numGpusPerNode", n)),
            (None, None, Some(n)) => {
                Some(("spec.profilingConfig.config.hardware.num_gpus_per_node", n))
            }
            _ => None,
        };
        let gpn = match given {
            Some((path, n)) => {
                let n = whole(path, n, "GPUs", 64)?;
                if n > sku.gpus_per_node {
                    return Err(invalid(
                        path,
                        format!(
                            "{n} is more than a {} node's {} GPUs",
                            sku.sku, sku.gpus_per_node
                        ),
                    ));
                }
                n
            }
            None => {
                assumed.push(format!(
                    "GPUs per node: {} (the {} datasheet)",
                    sku.gpus_per_node, sku.sku
                ));
                sku.gpus_per_node
            }
        };
        let total = match (o.total_gpus, hw.total_gpus, ohw.total_gpus) {
            (Some(n), _, _) => whole("--total-gpus", f64::from(n), "GPUs", 100_000)?,
            (None, Some(n), _) => whole("spec.hardware.totalGpus", n, "GPUs", 100_000)?,
            (None, None, Some(n)) => whole(
                "spec.profilingConfig.config.hardware.total_gpus",
                n,
                "GPUs",
                100_000,
            )?,
            _ => {
                assumed.push(format!("total GPUs: {gpn} (one node)"));
                gpn
            }
        };
        let max_tp = match ohw.max_num_gpus_per_engine {
            Some(n) => whole(
                "spec.profilingConfig.config.hardware.max_num_gpus_per_engine",
                n,
                "GPUs",
                64,
            )?
            .min(gpn),
            _ => gpn,
        }
        .min(sku.gpus_per_node)
        .min(total);

        // SLA and workload.
        let f64_field = |flag: Option<f64>,
                         flag_name: &'static str,
                         newer: Option<f64>,
                         newer_path: &'static str,
                         older_v: Option<f64>,
                         older_path: &'static str|
         -> Option<(f64, &'static str)> {
            flag.map(|v| (v, flag_name))
                .or(newer.map(|v| (v, newer_path)))
                .or(older_v.map(|v| (v, older_path)))
        };
        let ttft_at = at("spec.sla.ttft", "spec.profilingConfig.config.sla.ttft");
        let (ttft, p) = f64_field(
            o.ttft_ms,
            "--ttft",
            sla.ttft,
            "spec.sla.ttft",
            osla.ttft,
            "spec.profilingConfig.config.sla.ttft",
        )
        .ok_or_else(|| missing(ttft_at, "the TTFT target in ms"))?;
        let ttft_ms = positive(p, ttft, "number of ms")?;
        let itl_at = at("spec.sla.itl", "spec.profilingConfig.config.sla.itl");
        let (itl, p) = f64_field(
            o.itl_ms,
            "--itl",
            sla.itl,
            "spec.sla.itl",
            osla.itl,
            "spec.profilingConfig.config.sla.itl",
        )
        .ok_or_else(|| missing(itl_at, "the ITL target in ms"))?;
        let itl_ms = positive(p, itl, "number of ms")?;
        let isl_at = at("spec.workload.isl", "spec.profilingConfig.config.sla.isl");
        let (isl, p) = f64_field(
            o.isl.map(f64::from),
            "--isl",
            wl.isl,
            "spec.workload.isl",
            osla.isl,
            "spec.profilingConfig.config.sla.isl",
        )
        .ok_or_else(|| missing(isl_at, "the input length in tokens"))?;
        let isl = whole(p, isl, "tokens", 1_000_000)?;
        let osl_at = at("spec.workload.osl", "spec.profilingConfig.config.sla.osl");
        let (osl, p) = f64_field(
            o.osl.map(f64::from),
            "--osl",
            wl.osl,
            "spec.workload.osl",
            osla.osl,
            "spec.profilingConfig.config.sla.osl",
        )
        .ok_or_else(|| missing(osl_at, "the output length in tokens"))?;
        let osl = whole(p, osl, "tokens", 1_000_000)?;
        let request_rate = match (o.request_rate, wl.request_rate) {
            (Some(r), _) => Some(positive("--request-rate", r, "number of requests/s")?),
            (None, Some(r)) => Some(positive(
                "spec.workload.requestRate",
                r,
                "number of requests/s",
            )?),
            _ => None,
        };
        let concurrency = match (o.concurrency, wl.concurrency) {
            (Some(c), _) => Some(whole("--concurrency", f64::from(c), "requests", 1_000_000)?),
            (None, Some(c)) => Some(whole(
                "spec.workload.concurrency",
                c,
                "requests",
                1_000_000,
            )?),
            _ => None,
        };
        if request_rate.is_some() && concurrency.is_some() {
            return Err(invalid(
                "spec.workload",
                "give requestRate or concurrency, not both",
            ));
        }
        Ok(ProfileRequest {
            name: raw
                .metadata
                .and_then(|m| m.name)
                .unwrap_or_else(|| "profile".into()),
            form,
            model,
            backend,
            gpu,
            total_gpus: total,
            gpus_per_node: gpn,
            max_tp,
            isl,
            osl,
            ttft_ms,
            itl_ms,
            request_rate,
            concurrency,
            ignored,
            assumed,
        })
    }
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
    fn errors_name_the_field() {
        let e = parse(&NEWER.replace("ttft: 500, ", "")).unwrap_err();
        assert!(e.to_string().starts_with("spec.sla.ttft: missing"), "{e}");
        let e = parse(&NEWER.replace("ttft: 500", "ttft: fast")).unwrap_err();
        assert!(e.to_string().contains("spec.sla.ttft"), "{e}");
        let e = parse(&NEWER.replace("ttft: 500", "ttft: -5")).unwrap_err();
        assert!(e.to_string().starts_with("spec.sla.ttft: must be"), "{e}");
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
