//! The request file as serde reads it, in both of Dynamo's forms, and the fields it has that
//! this profiler does not read.

use serde::Deserialize;

#[derive(Deserialize, Default)]
pub(super) struct RawDgdr {
    #[serde(rename = "apiVersion")]
    pub(super) api_version: Option<String>,
    pub(super) kind: Option<String>,
    pub(super) metadata: Option<RawMeta>,
    pub(super) spec: Option<RawSpec>,
}

#[derive(Deserialize, Default)]
pub(super) struct RawMeta {
    pub(super) name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawSpec {
    pub(super) model: Option<String>,
    pub(super) backend: Option<String>,
    pub(super) sla: Option<RawSla>,
    pub(super) workload: Option<RawWorkload>,
    pub(super) hardware: Option<RawHardware>,
    pub(super) profiling_config: Option<RawProfiling>,
}

#[derive(Deserialize, Default)]
pub(super) struct RawSla {
    pub(super) ttft: Option<f64>,
    pub(super) itl: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawWorkload {
    pub(super) isl: Option<f64>,
    pub(super) osl: Option<f64>,
    pub(super) request_rate: Option<f64>,
    pub(super) concurrency: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawHardware {
    pub(super) gpu_sku: Option<String>,
    pub(super) total_gpus: Option<f64>,
    pub(super) num_gpus_per_node: Option<f64>,
}

#[derive(Deserialize, Default)]
pub(super) struct RawProfiling {
    pub(super) config: Option<RawOldConfig>,
}

#[derive(Deserialize, Default)]
pub(super) struct RawOldConfig {
    pub(super) sla: Option<RawOldSla>,
    pub(super) sweep: Option<RawSweep>,
    pub(super) hardware: Option<RawOldHardware>,
}

#[derive(Deserialize, Default)]
pub(super) struct RawOldSla {
    pub(super) isl: Option<f64>,
    pub(super) osl: Option<f64>,
    pub(super) ttft: Option<f64>,
    pub(super) itl: Option<f64>,
}

#[derive(Deserialize, Default)]
pub(super) struct RawSweep {
    pub(super) aic_system: Option<String>,
    pub(super) aic_hf_id: Option<String>,
    pub(super) aic_backend: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct RawOldHardware {
    pub(super) num_gpus_per_node: Option<f64>,
    pub(super) max_num_gpus_per_engine: Option<f64>,
    pub(super) total_gpus: Option<f64>,
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

/// The first ignored path of `ignored` that is a typo of a field this profiler reads and
/// neither the request nor `given` (the command line's overrides) supplies: the same name
/// but for its case or one character (`spec.hardware.totalGPUs` for
/// `spec.hardware.totalGpus`, `requestrate` for `requestRate`). The path, and the field it
/// most likely means. Such a field would otherwise be dropped and its default assumed. Two
/// characters apart is another field, not a typo: Dynamo's `min_num_gpus_per_engine`
/// beside `max_num_gpus_per_engine`.
pub(super) fn misspelt_field(
    v: &serde_norway::Value,
    ignored: &[String],
    given: &[&str],
) -> Option<(String, &'static str)> {
    ignored.iter().find_map(|i| {
        let (parent, leaf) = i.rsplit_once('.').unwrap_or(("", i));
        let leaf = leaf.to_lowercase();
        USED.iter()
            .find(|u| {
                let (p, l) = u.rsplit_once('.').unwrap_or(("", u));
                p == parent
                    && !has_path(v, u)
                    && !given.contains(u)
                    && servesim_core::suggest::distance(&leaf, &l.to_lowercase()) <= 1
            })
            .map(|u| (i.clone(), *u))
    })
}

/// Whether `v` holds a value at the dotted `path`.
fn has_path(v: &serde_norway::Value, path: &str) -> bool {
    path.split('.')
        .try_fold(v, |node, key| node.get(key))
        .is_some()
}

/// Collects the paths under `v` that no used field lies at or below.
pub(super) fn collect_ignored(v: &serde_norway::Value, path: &str, out: &mut Vec<String>) {
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
