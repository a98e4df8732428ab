//! Scenario files: YAML (or JSON) → raw config → validated [`Scenario`], which runs only read;
//! a changed scenario (another seed, planner or metrics switch) is validated again.
//!
//! The raw structs mirror the file with `deny_unknown_fields`; parse errors
//! name the field path (through `serde_path_to_error`) and the line. The
//! semantic checks name the path too, e.g.
//! `cluster.pools[1].tp: 3 is not a power of two`.

use std::path::{Path, PathBuf};

use servesim_core::SimDuration;
use servesim_models::backend::Backend;
use servesim_models::cluster::PoolRole;
use servesim_models::cluster::router::RouterKind;
use servesim_models::engine::EngineConfig;
use servesim_models::hardware::GpuSku;
use servesim_models::llm::{LlmSpec, Parallelism};
use servesim_models::network::Fabric;
use servesim_models::perf::KernelTimer;
use servesim_models::perf::measured::MeasuredTimer;
use servesim_planner::PlannerConfig;
use servesim_traffic::WorkloadSpec;

use crate::Error;

use servesim_models::frontend::FrontendSpec;

mod calibration;
mod checks;
mod config;
mod faults;
mod locate;
mod overrides;
mod pool;
pub mod schema;
mod validate;

pub(crate) use calibration::measured_timer;

pub use checks::MIN_INTERVAL_S;
pub use config::{
    ClusterConfig, DEFAULT_MAX_REQUESTS, EngineOverrides, FrontendConfig, LimitsConfig,
    MAX_DURATION_S, MAX_FRONTEND_LATENCY_MS, MAX_TOKEN_COST_US, MetricsConfig, PoolConfig,
    ScenarioConfig, SloConfig,
};
pub use faults::{FaultEvent, FaultsConfig, MIN_MTBF_S};
pub use overrides::Override;

/// Whether `a` and `b` name one file: spelt alike; or the same place once links, `.` and
/// `..` are resolved (a file not written yet by its folder's place); or, on Unix, one file
/// under two names (a hard link).
pub fn same_file(a: &Path, b: &Path) -> bool {
    a == b || same_inode(a, b) || resolved(a).is_some_and(|x| resolved(b) == Some(x))
}

/// Whether `path` lies in the folder `dir`, at any depth, once both are resolved.
pub fn inside(path: &Path, dir: &Path) -> bool {
    match (resolved(path), dir.canonicalize()) {
        (Some(p), Ok(d)) => p != d && p.starts_with(d),
        _ => false,
    }
}

/// Where `p` is: its nearest existing folder canonicalised (the path itself if it exists),
/// then the rest of it as written, `.` and `..` taken lexically.
fn resolved(p: &Path) -> Option<std::path::PathBuf> {
    use std::path::Component;
    let (base, rest) = p.ancestors().find_map(|a| {
        let existing = if a.as_os_str().is_empty() {
            Path::new(".").canonicalize()
        } else {
            a.canonicalize()
        };
        Some((existing.ok()?, p.strip_prefix(a).ok()?))
    })?;
    let mut out = base;
    for c in rest.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            _ => {}
        }
    }
    Some(out)
}

#[cfg(unix)]
fn same_inode(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_inode(_: &Path, _: &Path) -> bool {
    false
}

/// A validated pool.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolPlan {
    /// Name.
    pub name: String,
    /// Role.
    pub role: PoolRole,
    /// Tensor parallelism of attention.
    pub tp: u32,
    /// Attention data-parallel replicas inside a worker (1 without).
    pub attention_dp: u32,
    /// Expert parallelism inside a worker (1 for dense models).
    pub ep: u32,
    /// Whether the MoE layers move tokens by DeepEP's all-to-all (`moe_a2a_backend: deepep`).
    pub deepep: bool,
    /// Workers at time zero.
    pub workers: u32,
    /// Start-up time of a new worker.
    pub startup: SimDuration,
    /// Router policy.
    pub router: RouterKind,
    /// Engine of each worker (KV capacity included).
    pub engine: EngineConfig,
}

impl PoolPlan {
    /// GPUs per worker: `tp × attention_dp`.
    pub fn gpus(&self) -> u32 {
        self.tp * self.attention_dp.max(1)
    }

    /// How a worker of the pool splits the model: attention `tp` ways in each of
    /// `attention_dp` replicas, the experts `ep` ways by expert and `gpus / ep` ways within
    /// each.
    pub fn parallelism(&self) -> Parallelism {
        Parallelism {
            tp: self.tp,
            attention_dp: self.attention_dp.max(1),
            moe_tp: self.gpus() / self.ep.max(1),
            moe_ep: self.ep,
        }
    }
}

/// A validated scenario: every field was checked when it was made, and it is read only
/// through its accessors. A changed scenario is a new one: the `with_*` methods change the
/// file as written and validate it again, so no run ever sees an unchecked value.
#[derive(Clone, Debug)]
pub struct Scenario {
    config: ScenarioConfig,
    base_dir: PathBuf,
    name: String,
    duration: SimDuration,
    llm: LlmSpec,
    gpu: GpuSku,
    backend: Backend,
    pools: Vec<PoolPlan>,
    gpu_budget: u32,
    transfer_latency: SimDuration,
    traffic: WorkloadSpec,
    sample_interval: SimDuration,
    warmup: SimDuration,
    slo_ttft: SimDuration,
    slo_itl: SimDuration,
    frontend: FrontendSpec,
    /// The kernel timer of the `calibration` folder's tables, if the file names one.
    measured: Option<MeasuredTimer>,
}

impl Scenario {
    /// Reads and validates a scenario file (YAML or JSON, by content).
    pub fn from_file(path: &Path) -> Result<Scenario, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::from_yaml_str(&text, &path.display().to_string(), &base)
    }

    /// Parses and validates scenario text; `origin` names it in errors, `base_dir`
    /// resolves relative paths in it (traces, `config.json`).
    pub fn from_yaml_str(text: &str, origin: &str, base_dir: &Path) -> Result<Scenario, Error> {
        // A byte-order mark (editors on Windows write one) is not part of the document.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let de = serde_norway::Deserializer::from_str(text);
        let config: ScenarioConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let message = parse_message(&path, &e.into_inner().to_string());
            Error::Parse {
                origin: origin.to_string(),
                message: key_placed(&message, &path, text),
                path,
            }
        })?;
        Self::validate(config, base_dir).map_err(|e| placed(e, text, origin))
    }

    /// This scenario with its file changed by `edit`, validated again (relative paths
    /// still resolve against this scenario's folder).
    pub fn edited(&self, edit: impl FnOnce(&mut ScenarioConfig)) -> Result<Scenario, Error> {
        let mut config = self.config.clone();
        edit(&mut config);
        Self::validate(config, &self.base_dir)
    }

    /// This scenario with another seed. Any seed is valid and nothing else depends on it, so
    /// only the seed changes: `ab` and `validate` make one per run without reading the
    /// scenario's files again.
    pub fn with_seed(&self, seed: u64) -> Result<Scenario, Error> {
        let mut s = self.clone();
        s.config.seed = seed;
        Ok(s)
    }

    /// This scenario with another `planner:` section (`None`: no planner), checked as the
    /// file's would be; nothing else depends on it.
    pub fn with_planner(&self, planner: Option<PlannerConfig>) -> Result<Scenario, Error> {
        if let Some(p) = &planner {
            validate::validate_planner(p)?;
        }
        let mut s = self.clone();
        s.config.planner = planner;
        Ok(s)
    }

    /// This scenario keeping (or not) a row per finished request (either is valid).
    pub fn with_keep_requests(&self, keep: bool) -> Result<Scenario, Error> {
        let mut s = self.clone();
        s.config.metrics.keep_requests = keep;
        Ok(s)
    }

    /// The file as written (re-serialisable; what the `with_*` methods change).
    pub fn config(&self) -> &ScenarioConfig {
        &self.config
    }

    /// Directory of the scenario file (relative paths in it are resolved against it).
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// The files this scenario reads, each with the field that names it, resolved against
    /// its folder: a `config.json` model, the `calibration` folder, trace replays and
    /// `sizes_from` tables.
    pub fn input_files(&self) -> Vec<(String, PathBuf)> {
        let c = &self.config;
        let mut out = Vec::new();
        if c.model.ends_with(".json") {
            out.push(("model".to_string(), self.base_dir.join(&c.model)));
        }
        if let Some(dir) = &c.calibration {
            out.push(("calibration".to_string(), self.base_dir.join(dir)));
        }
        for (field, path) in c.traffic.input_files() {
            out.push((field, self.base_dir.join(path)));
        }
        out
    }

    /// The field naming the file at `path` if this scenario reads it ([`Self::input_files`];
    /// a file the `calibration` folder holds, at any depth, counts), so that no output is
    /// written over it.
    pub fn reads(&self, path: &Path) -> Option<String> {
        self.input_files().into_iter().find_map(|(field, input)| {
            let held = field == "calibration" && path.is_file() && inside(path, &input);
            (same_file(path, &input) || held).then_some(field)
        })
    }

    /// The kernel timer of every pool: the `calibration` folder's tables over the shipped
    /// ones where the file names one, else the shipped tables of the GPU and backend.
    pub fn kernel_timer(&self) -> Result<KernelTimer, Error> {
        match &self.measured {
            Some(m) => Ok(m.timer.clone()),
            None => {
                KernelTimer::shipped_builtin(&self.gpu.sku, self.backend).map_err(Error::Models)
            }
        }
    }

    /// The `calibration` folder's tables this scenario's runs do not read
    /// (`gpu/backend/family`; none without a folder).
    pub fn unread_calibration(&self) -> &[String] {
        self.measured.as_ref().map_or(&[], |m| &m.unread)
    }

    /// Kernel families the shipped tables would time that this scenario's runs time by the
    /// roofline alone, its `calibration` folder's tables being of a GPU with no shipped
    /// tables of its own ([`MeasuredTimer::roofline_only`]; none without a folder).
    pub fn roofline_only_calibration(&self) -> &[String] {
        self.measured.as_ref().map_or(&[], |m| &m.roofline_only)
    }

    /// Display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The seed every random stream of a run derives from.
    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    /// Simulated time.
    pub fn duration(&self) -> SimDuration {
        self.duration
    }

    /// The model, with its dtypes.
    pub fn llm(&self) -> &LlmSpec {
        &self.llm
    }

    /// The GPU SKU.
    pub fn gpu(&self) -> &GpuSku {
        &self.gpu
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pools, in the file's order.
    pub fn pools(&self) -> &[PoolPlan] {
        &self.pools
    }

    /// Nodes of the cluster.
    pub fn nodes(&self) -> u32 {
        self.config.cluster.nodes
    }

    /// The fabric between nodes.
    pub fn fabric(&self) -> Fabric {
        self.config.cluster.fabric
    }

    /// GPUs the pools may hold at once.
    pub fn gpu_budget(&self) -> u32 {
        self.gpu_budget
    }

    /// Fixed latency of a KV transfer, on top of its bytes over the links.
    pub fn transfer_latency(&self) -> SimDuration {
        self.transfer_latency
    }

    /// Prompts up to this many tokens are prefilled on the decode worker (conditional
    /// disaggregation); `None`: every prompt goes to the prefill pool.
    pub fn local_prefill_max_tokens(&self) -> Option<u32> {
        self.config.cluster.local_prefill_max_tokens
    }

    /// The workload.
    pub fn traffic(&self) -> &WorkloadSpec {
        &self.traffic
    }

    /// Sampling interval of time series.
    pub fn sample_interval(&self) -> SimDuration {
        self.sample_interval
    }

    /// Warm-up excluded from the statistics.
    pub fn warmup(&self) -> SimDuration {
        self.warmup
    }

    /// Whether a run keeps a row per finished request.
    pub fn keep_requests(&self) -> bool {
        self.config.metrics.keep_requests
    }

    /// TTFT target.
    pub fn slo_ttft(&self) -> SimDuration {
        self.slo_ttft
    }

    /// ITL target.
    pub fn slo_itl(&self) -> SimDuration {
        self.slo_itl
    }

    /// The frontend's costs (an ideal one when the file has no `frontend:`).
    pub fn frontend(&self) -> FrontendSpec {
        self.frontend
    }

    /// The `planner:` section, if any.
    pub fn planner(&self) -> Option<&PlannerConfig> {
        self.config.planner.as_ref()
    }

    /// The `faults:` section, if any.
    pub fn faults(&self) -> Option<&FaultsConfig> {
        self.config.faults.as_ref()
    }

    /// Requests a run may generate before it stops with an error.
    pub fn max_requests(&self) -> u64 {
        self.config.limits.max_requests
    }
}

/// `e`, an error of a valid parse of `text`, with the line and column of the field it
/// names in `text` (from `origin`), when `text` holds that field.
pub(crate) fn placed(e: Error, text: &str, origin: &str) -> Error {
    let message = e.to_string();
    let Some((line, column)) = locate::leading_path(&message).and_then(|p| locate::locate(text, p))
    else {
        return e;
    };
    Error::At {
        origin: origin.to_string(),
        line,
        column,
        source: Box::new(e),
    }
}

/// `message` about a field's key placed at that key: an unknown field inside a block read
/// by its `kind:` (a distribution, an arrival, a fault), which the parser reads whole before
/// it knows its kind and so places at the block before, or the second key of a field
/// written twice, which it does not place at all.
fn key_placed(message: &str, path: &str, text: &str) -> String {
    let key_of = |lead: &str| {
        message
            .strip_prefix(lead)
            .and_then(|m| m.split_once('`'))
            .map(|(k, _)| k)
    };
    let (key, second) = match (key_of("unknown field `"), key_of("duplicate field `")) {
        (Some(k), _) => (k, false),
        (None, Some(k)) => (k, true),
        (None, None) => return message.to_string(),
    };
    let said = message.rsplit_once(" at line ").map_or(message, |(m, _)| m);
    let field = match path {
        "" | "." => key.to_string(),
        _ => format!("{path}.{key}"),
    };
    let at = if second {
        locate::locate_duplicate_key(text, &field)
    } else {
        locate::locate_key(text, &field)
    };
    match at {
        Some((line, column)) => format!("{said} at line {line} column {column}"),
        None => message.to_string(),
    }
}

/// A parse error's message as users read it: without the field path serde repeats in front
/// of it (the error names the path already), with a suggestion for a mistyped field or value.
pub fn parse_message(path: &str, message: &str) -> String {
    let message = match message.split_once(": ") {
        Some((lead, rest)) if !lead.is_empty() && path.starts_with(lead) && !lead.contains(' ') => {
            rest
        }
        _ => message,
    };
    servesim_core::suggest::with_suggestion(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_not_written_yet_are_placed_by_their_nearest_existing_folder() {
        let d = std::env::temp_dir().join(format!("servesim-paths-{}", std::process::id()));
        let cal = d.join("cal");
        std::fs::create_dir_all(&cal).unwrap();
        // Spelt two ways, neither written: one file.
        assert!(same_file(&d.join("o.csv"), &d.join("./x/../o.csv")));
        assert!(!same_file(&d.join("o.csv"), &d.join("p.csv")));
        // In a folder not created yet, inside an existing one, at any depth.
        assert!(inside(&cal.join("new/deeper/report.html"), &cal));
        assert!(!inside(&d.join("elsewhere/report.html"), &cal));
        assert!(!inside(&cal, &cal));
        // One file under two names.
        #[cfg(unix)]
        {
            let a = d.join("a.csv");
            std::fs::write(&a, "x").unwrap();
            let b = d.join("b.csv");
            std::fs::remove_file(&b).ok();
            std::fs::hard_link(&a, &b).unwrap();
            assert!(same_file(&a, &b));
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}
