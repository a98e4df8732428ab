//! Each field of a request in both forms, the checks between them, and the values the
//! profiler uses: the command line's first, then the newer form's, then the older form's.

use servesim_models::backend::Backend;
use servesim_models::hardware::{GpuCatalog, GpuSku};
use servesim_models::llm::LlmSpec;

use crate::Error;

use super::raw::RawSpec;
use super::{Overrides, RequestForm};

pub(super) fn invalid(path: &str, message: impl Into<String>) -> Error {
    Error::Config {
        path: path.to_string(),
        message: message.into(),
    }
}

pub(super) fn positive(path: &str, v: f64, what: &str) -> Result<f64, Error> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(invalid(path, format!("must be a positive {what}, got {v}")))
    }
}

/// Most requests/s a request may ask for, as many as the most users it may name (a million):
/// beyond it the worker counts no longer fit the search's integers.
const MAX_REQUEST_RATE: f64 = 1_000_000.0;

/// A request rate, positive and at most [`MAX_REQUEST_RATE`].
fn rate(path: &str, v: f64) -> Result<f64, Error> {
    let v = positive(path, v, "number of requests/s")?;
    if v > MAX_REQUEST_RATE {
        return Err(invalid(
            path,
            format!("must be at most {MAX_REQUEST_RATE} requests/s, got {v:e}"),
        ));
    }
    Ok(v)
}

/// Latency targets the profiler takes, ms: from a microsecond (the simulator's resolution
/// of latencies) to an hour (beyond it no serving latency target means anything, and the
/// figures written with it would be absurdly long).
const SLO_MS: std::ops::RangeInclusive<f64> = 0.001..=3_600_000.0;

/// A latency target in ms within [`SLO_MS`].
fn slo_ms(path: &str, v: f64) -> Result<f64, Error> {
    if v.is_finite() && SLO_MS.contains(&v) {
        Ok(v)
    } else {
        // Far outside the range, the value in scientific notation rather than hundreds of
        // digits.
        let got = if v != 0.0 && !(1e-6..=1e9).contains(&v.abs()) {
            format!("{v:e}")
        } else {
            format!("{v}")
        };
        Err(invalid(
            path,
            format!(
                "must be a latency target of {} to {} ms, got {got}",
                SLO_MS.start(),
                SLO_MS.end()
            ),
        ))
    }
}

pub(super) fn whole(path: &str, v: f64, what: &str, max: u32) -> Result<u32, Error> {
    if v.is_finite() && v >= 1.0 && v.fract() == 0.0 && v <= f64::from(max) {
        Ok(v as u32)
    } else {
        Err(invalid(
            path,
            format!("must be a whole number of {what} in 1..={max}, got {v}"),
        ))
    }
}

/// A field of the request in both forms, with the path of each.
struct Field<T> {
    newer: Option<T>,
    newer_path: &'static str,
    older: Option<T>,
    older_path: &'static str,
}

fn field<T>(
    newer: Option<T>,
    newer_path: &'static str,
    older: Option<T>,
    older_path: &'static str,
) -> Field<T> {
    Field {
        newer,
        newer_path,
        older,
        older_path,
    }
}

/// How a value is shown when the two forms disagree on it.
trait Shown {
    fn shown(&self) -> String;
}

impl Shown for String {
    fn shown(&self) -> String {
        self.trim().to_string()
    }
}

impl Shown for f64 {
    fn shown(&self) -> String {
        self.to_string()
    }
}

impl<T: Clone + Shown> Field<T> {
    /// Given in both forms with two values: which was meant is not ours to guess.
    pub(super) fn check_agree(&self) -> Result<(), Error> {
        if let (Some(a), Some(b)) = (&self.newer, &self.older)
            && a.shown() != b.shown()
        {
            return Err(invalid(
                self.newer_path,
                format!(
                    "{}, but {} says {}: give one",
                    a.shown(),
                    self.older_path,
                    b.shown()
                ),
            ));
        }
        Ok(())
    }

    /// The command line's value, else the newer form's, else the older form's, with the
    /// path (or flag) it came from.
    fn pick(&self, flag: Option<T>, flag_name: &'static str) -> Option<(T, &'static str)> {
        flag.map(|v| (v, flag_name))
            .or_else(|| self.newer.clone().map(|v| (v, self.newer_path)))
            .or_else(|| self.older.clone().map(|v| (v, self.older_path)))
    }

    /// The path a missing field is reported under: the form's own.
    fn missing_path(&self, form: RequestForm) -> &'static str {
        match form {
            RequestForm::Newer => self.newer_path,
            RequestForm::Older => self.older_path,
        }
    }
}

fn missing(path: &str, what: &str) -> Error {
    invalid(
        path,
        format!("missing: {what} (or give it on the command line)"),
    )
}

/// The request's fields, each in both forms.
pub(super) struct Fields {
    pub(super) form: RequestForm,
    model: Field<String>,
    backend: Field<String>,
    gpu: Field<String>,
    total_gpus: Field<f64>,
    gpus_per_node: Field<f64>,
    max_tp: Option<f64>,
    ttft: Field<f64>,
    itl: Field<f64>,
    isl: Field<f64>,
    osl: Field<f64>,
    request_rate: Option<f64>,
    concurrency: Option<f64>,
}

/// The load and targets of a request.
pub(super) struct Workload {
    pub(super) ttft_ms: f64,
    pub(super) itl_ms: f64,
    pub(super) isl: u32,
    pub(super) osl: u32,
    pub(super) request_rate: Option<f64>,
    pub(super) concurrency: Option<u32>,
}

impl Fields {
    pub(super) fn of(spec: RawSpec) -> Fields {
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
        Fields {
            form,
            model: field(
                spec.model,
                "spec.model",
                sweep.aic_hf_id,
                "spec.profilingConfig.config.sweep.aic_hf_id",
            ),
            backend: field(
                spec.backend,
                "spec.backend",
                sweep.aic_backend,
                "spec.profilingConfig.config.sweep.aic_backend",
            ),
            gpu: field(
                hw.gpu_sku,
                "spec.hardware.gpuSku",
                sweep.aic_system,
                "spec.profilingConfig.config.sweep.aic_system",
            ),
            total_gpus: field(
                hw.total_gpus,
                "spec.hardware.totalGpus",
                ohw.total_gpus,
                "spec.profilingConfig.config.hardware.total_gpus",
            ),
            gpus_per_node: field(
                hw.num_gpus_per_node,
                "spec.hardware.numGpusPerNode",
                ohw.num_gpus_per_node,
                "spec.profilingConfig.config.hardware.num_gpus_per_node",
            ),
            max_tp: ohw.max_num_gpus_per_engine,
            ttft: field(
                sla.ttft,
                "spec.sla.ttft",
                osla.ttft,
                "spec.profilingConfig.config.sla.ttft",
            ),
            itl: field(
                sla.itl,
                "spec.sla.itl",
                osla.itl,
                "spec.profilingConfig.config.sla.itl",
            ),
            isl: field(
                wl.isl,
                "spec.workload.isl",
                osla.isl,
                "spec.profilingConfig.config.sla.isl",
            ),
            osl: field(
                wl.osl,
                "spec.workload.osl",
                osla.osl,
                "spec.profilingConfig.config.sla.osl",
            ),
            request_rate: wl.request_rate,
            concurrency: wl.concurrency,
        }
    }

    /// Every field given in both forms says the same.
    pub(super) fn check_agree(&self) -> Result<(), Error> {
        for f in [&self.model, &self.backend, &self.gpu] {
            f.check_agree()?;
        }
        for f in [
            &self.total_gpus,
            &self.gpus_per_node,
            &self.ttft,
            &self.itl,
            &self.isl,
            &self.osl,
        ] {
            f.check_agree()?;
        }
        Ok(())
    }

    /// The model as written and as the catalog reads it, the backend and the GPU.
    pub(super) fn deployment(
        &self,
        o: &Overrides,
    ) -> Result<(String, LlmSpec, Backend, String, GpuSku), Error> {
        let (model, path) = self
            .model
            .pick(o.model.clone(), "--model")
            .ok_or_else(|| missing("spec.model", "the model (a Hugging Face id)"))?;
        let llm = LlmSpec::lookup(&model).map_err(|e| invalid(path, e.to_string()))?;
        let (backend, path) = self
            .backend
            .pick(o.backend.clone(), "--backend")
            .ok_or_else(|| missing("spec.backend", "the backend (vllm, sglang or trtllm)"))?;
        let backend = Backend::parse(&backend).map_err(|e| invalid(path, e.to_string()))?;
        let (gpu, path) = self.gpu.pick(o.gpu.clone(), "--gpu").ok_or_else(|| {
            missing(
                self.gpu.missing_path(self.form),
                "the GPU SKU (e.g. h200_sxm)",
            )
        })?;
        // A name a user types (`H200`, `h200-sxm`) becomes the catalog's.
        let sku = GpuCatalog::builtin()
            .get(gpu.trim())
            .map_err(|e| invalid(path, e.to_string()))?
            .clone();
        Ok((model, llm, backend, sku.sku.clone(), sku))
    }

    /// GPUs per node, in total, and the largest TP to try; what was assumed is noted.
    pub(super) fn gpus(
        &self,
        o: &Overrides,
        sku: &GpuSku,
        assumed: &mut Vec<String>,
    ) -> Result<(u32, u32, u32), Error> {
        let given = self
            .gpus_per_node
            .pick(o.gpus_per_node.map(f64::from), "--gpus-per-node");
        let gpn = match given {
            Some((n, path)) => {
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
        let total = match self
            .total_gpus
            .pick(o.total_gpus.map(f64::from), "--total-gpus")
        {
            Some((n, path)) => whole(path, n, "GPUs", 100_000)?,
            None => {
                assumed.push(format!("total GPUs: {gpn} (one node)"));
                gpn
            }
        };
        // A worker stays within one NVLink domain (a node, or a rack of trays, NVL72) unless
        // the request allows more GPUs an engine: then it may span whole domains (Dynamo's
        // multi-node workers, `multinode.nodeCount`), its collectives over InfiniBand.
        let here = sku.on_nodes_of(gpn);
        let domain = here.nvlink_domain();
        let max_tp = match self.max_tp {
            Some(n) => {
                let path = "spec.profilingConfig.config.hardware.max_num_gpus_per_engine";
                // Up to 64, or the NVLink domain where it is wider (72 on NVL72, the
                // default there).
                let n = whole(path, n, "GPUs", 64.max(domain))?;
                if !here.holds_worker(u64::from(n)) {
                    return Err(invalid(
                        path,
                        format!(
                            "{n}: an engine wider than one NVLink domain takes whole ones, and \
                             {n} is not a multiple of the {domain} GPUs of one on {}",
                            sku.sku
                        ),
                    ));
                }
                n
            }
            None => domain,
        }
        .min(total);
        Ok((gpn, total, max_tp))
    }

    /// The SLA targets and the workload.
    pub(super) fn workload(&self, o: &Overrides) -> Result<Workload, Error> {
        let required = |f: &Field<f64>, flag: Option<f64>, name: &'static str, what: &str| {
            f.pick(flag, name)
                .ok_or_else(|| missing(f.missing_path(self.form), what))
        };
        let (v, p) = required(&self.ttft, o.ttft_ms, "--ttft", "the TTFT target in ms")?;
        let ttft_ms = slo_ms(p, v)?;
        let (v, p) = required(&self.itl, o.itl_ms, "--itl", "the ITL target in ms")?;
        let itl_ms = slo_ms(p, v)?;
        let isl_flag = o.isl.map(f64::from);
        let (v, p) = required(&self.isl, isl_flag, "--isl", "the input length in tokens")?;
        let isl = whole(p, v, "tokens", 1_000_000)?;
        let osl_flag = o.osl.map(f64::from);
        let (v, p) = required(&self.osl, osl_flag, "--osl", "the output length in tokens")?;
        let osl = whole(p, v, "tokens", 1_000_000)?;
        // An override's load replaces the request's, whichever of the two it gives.
        let (request_rate, concurrency) = match (o.request_rate, o.concurrency) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "--request-rate",
                    "given with a concurrency too: give one of the two",
                ));
            }
            (Some(r), None) => (Some(rate("--request-rate", r)?), None),
            (None, Some(c)) => {
                let c = whole("--concurrency", f64::from(c), "requests", 1_000_000)?;
                (None, Some(c))
            }
            (None, None) => {
                if self.request_rate.is_some() && self.concurrency.is_some() {
                    return Err(invalid(
                        "spec.workload",
                        "give requestRate or concurrency, not both",
                    ));
                }
                let r = self.request_rate;
                let c = self.concurrency;
                (
                    r.map(|r| rate("spec.workload.requestRate", r))
                        .transpose()?,
                    c.map(|c| whole("spec.workload.concurrency", c, "requests", 1_000_000))
                        .transpose()?,
                )
            }
        };
        Ok(Workload {
            ttft_ms,
            itl_ms,
            isl,
            osl,
            request_rate,
            concurrency,
        })
    }
}
