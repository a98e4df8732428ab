//! Scenario files: YAML (or JSON) → raw config → validated [`Scenario`], which runs only read
//! (callers may set the seed, planner or metrics switches on their copy before a run).
//!
//! The raw structs mirror the file with `deny_unknown_fields`; parse errors
//! name the field path (through `serde_path_to_error`) and the line. The
//! semantic checks name the path too, e.g.
//! `cluster.pools[1].tp: 3 is not a power of two`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use servesim_core::SimDuration;
use servesim_models::backend::Backend;
use servesim_models::cluster::PoolRole;
use servesim_models::cluster::router::RouterKind;
use servesim_models::dtype::Dtype;
use servesim_models::engine::EngineConfig;
use servesim_models::hardware::{GpuCatalog, GpuSku};
use servesim_models::llm::{DEFAULT_MEM_FRACTION, LlmSpec, RESERVED_BYTES_PER_GPU};
use servesim_models::network::Fabric;
use servesim_planner::PlannerConfig;
use servesim_traffic::{WorkloadConfig, WorkloadSpec};

use crate::Error;
use servesim_models::frontend::FrontendSpec;

/// The scenario file as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioConfig {
    /// A name for reports.
    #[serde(default)]
    pub name: Option<String>,
    /// The seed of every random stream.
    pub seed: u64,
    /// Simulated time, in seconds.
    pub duration_s: f64,
    /// The served model: a built-in name or Hugging Face id, or a path to a `config.json`.
    pub model: String,
    /// KV-cache dtype (default: the model's).
    #[serde(default)]
    pub kv_dtype: Option<String>,
    /// GPU SKU of every worker.
    pub gpu: String,
    /// Serving engine: `vllm`, `sglang` or `trtllm`.
    pub backend: String,
    /// Latency targets.
    pub slo: SloConfig,
    /// Pools, nodes and network.
    pub cluster: ClusterConfig,
    /// The workload.
    pub traffic: WorkloadConfig,
    /// What to record.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The planner that scales the pools during the run (none: the pools stay as they start).
    #[serde(default)]
    pub planner: Option<PlannerConfig>,
    /// Failures injected during the run.
    #[serde(default)]
    pub faults: Option<FaultsConfig>,
    /// Guards against runaway runs.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The serving frontend's host costs (none: a frontend that costs nothing).
    #[serde(default)]
    pub frontend: Option<FrontendConfig>,
}

/// The `frontend:` section: the HTTP server, tokenizer and detokenizer in front of the
/// engines (see [`servesim_models::frontend`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontendConfig {
    /// Fixed latency of each request before it reaches a worker, ms (left out: 0).
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// Host time per streamed output token, in the one process all requests share, µs
    /// (left out: 0).
    #[serde(default)]
    pub token_cost_us: Option<f64>,
}

/// Longest frontend latency accepted, ms.
pub const MAX_FRONTEND_LATENCY_MS: f64 = 60_000.0;
/// Largest frontend cost per token accepted, µs.
pub const MAX_TOKEN_COST_US: f64 = 1_000_000.0;

/// Bounds a run stays within; going past one is an error, never a silent cut.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Most requests the workload may generate in one run (the run fails beyond it).
    #[serde(default = "default_max_requests")]
    pub max_requests: u64,
}

/// Default of [`LimitsConfig::max_requests`]: a billion requests (about four hours of
/// simulation at the speeds `servesim bench` measures).
pub const DEFAULT_MAX_REQUESTS: u64 = 1_000_000_000;
/// The longest simulated time accepted, s (about 116 days).
pub const MAX_DURATION_S: f64 = 1e7;

fn default_max_requests() -> u64 {
    DEFAULT_MAX_REQUESTS
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_requests: DEFAULT_MAX_REQUESTS,
        }
    }
}

/// The `faults:` section: what fails when, and what becomes of the requests it touches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsConfig {
    /// A request lost to a fault is retried from scratch (re-prefilled elsewhere) this many
    /// times, then fails with the fault as its reason.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// A failed KV transfer is sent again this many times before the request is lost.
    #[serde(default = "default_max_retries")]
    pub max_transfer_failures: u32,
    /// Dead workers are replaced through the normal start-up path.
    #[serde(default = "default_true")]
    pub replace_dead_workers: bool,
    /// The faults.
    pub events: Vec<FaultEvent>,
}

fn default_max_retries() -> u32 {
    2
}

fn default_true() -> bool {
    true
}

/// One fault. A `worker` left out is drawn from the seed (the run's `faults/<index>` stream).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultEvent {
    /// A worker dies mid-iteration.
    WorkerDown {
        /// When, s.
        at_s: f64,
        /// Its pool.
        pool: String,
        /// Its index among the pool's live workers at that time.
        #[serde(default)]
        worker: Option<u32>,
    },
    /// A node goes down with every worker on it; nothing is placed there until it is back.
    NodeDown {
        /// When, s.
        at_s: f64,
        /// The node.
        node: u32,
        /// How long until it is back (forever if left out), s.
        #[serde(default)]
        duration_s: Option<f64>,
    },
    /// A worker's GPUs slow down.
    Straggler {
        /// When, s.
        at_s: f64,
        /// For how long, s.
        duration_s: f64,
        /// Its pool.
        pool: String,
        /// Its index among the pool's live workers.
        #[serde(default)]
        worker: Option<u32>,
        /// Iteration times are multiplied by this (> 1).
        slowdown: f64,
    },
    /// A node's network links run at a fraction of their capacity (0: down).
    LinkDegraded {
        /// When, s.
        at_s: f64,
        /// For how long, s.
        duration_s: f64,
        /// The node.
        node: u32,
        /// Share of the nominal capacity left, in [0, 1).
        capacity_factor: f64,
    },
    /// Every KV transfer in flight at that moment fails.
    TransferFailure {
        /// When, s.
        at_s: f64,
    },
    /// Workers of a pool die at random (exponential gaps drawn from the seed).
    RandomWorkerFailures {
        /// The pool.
        pool: String,
        /// Mean time between failures in the pool, s.
        mtbf_s: f64,
        /// From, s.
        #[serde(default)]
        start_s: f64,
        /// Until (default: the end of the run), s.
        #[serde(default)]
        end_s: Option<f64>,
    },
}

impl FaultEvent {
    /// The fault's name in scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            FaultEvent::WorkerDown { .. } => "worker_down",
            FaultEvent::NodeDown { .. } => "node_down",
            FaultEvent::Straggler { .. } => "straggler",
            FaultEvent::LinkDegraded { .. } => "link_degraded",
            FaultEvent::TransferFailure { .. } => "transfer_failure",
            FaultEvent::RandomWorkerFailures { .. } => "random_worker_failures",
        }
    }

    /// When it starts, s.
    pub fn at_s(&self) -> f64 {
        match self {
            FaultEvent::WorkerDown { at_s, .. }
            | FaultEvent::NodeDown { at_s, .. }
            | FaultEvent::Straggler { at_s, .. }
            | FaultEvent::LinkDegraded { at_s, .. }
            | FaultEvent::TransferFailure { at_s } => *at_s,
            FaultEvent::RandomWorkerFailures { start_s, .. } => *start_s,
        }
    }
}

/// Latency targets of the service.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    /// Time to first token, ms.
    pub ttft_ms: f64,
    /// Mean inter-token latency of a request, ms.
    pub itl_ms: f64,
}

/// The cluster as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Nodes available (each of the SKU's GPUs per node).
    pub nodes: u32,
    /// Most GPUs held at once (default: every GPU of every node).
    #[serde(default)]
    pub gpu_budget: Option<u32>,
    /// The fabric between nodes.
    #[serde(default = "default_fabric")]
    pub fabric: Fabric,
    /// Fixed latency of a KV transfer, µs.
    #[serde(default = "default_transfer_latency_us")]
    pub transfer_latency_us: f64,
    /// Conditional disaggregation: prompts up to this many tokens are prefilled on the decode worker.
    #[serde(default)]
    pub local_prefill_max_tokens: Option<u32>,
    /// The pools: one aggregated, or one prefill and one decode.
    pub pools: Vec<PoolConfig>,
}

fn default_fabric() -> Fabric {
    Fabric::SingleSwitch
}

fn default_transfer_latency_us() -> f64 {
    10.0
}

/// One pool as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Name for reports.
    pub name: String,
    /// `prefill`, `decode` or `aggregated`.
    pub role: String,
    /// GPUs per worker: 1, 2, 4 or 8.
    pub tp: u32,
    /// Workers at time zero (warm).
    pub workers: u32,
    /// Seconds from asking for a worker to its serving.
    #[serde(default = "default_startup_s")]
    pub startup_s: f64,
    /// Router policy (default: `least_outstanding_tokens`; `kv_load` suits decode).
    #[serde(default)]
    pub router: Option<String>,
    /// Engine settings (defaults from the backend).
    #[serde(default)]
    pub engine: EngineOverrides,
}

fn default_startup_s() -> f64 {
    180.0
}

/// Engine settings that override the backend's defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineOverrides {
    /// Most sequences running at once.
    pub max_num_seqs: Option<u32>,
    /// Token budget per iteration.
    pub max_batched_tokens: Option<u32>,
    /// Tokens per KV block.
    pub block_tokens: Option<u32>,
    /// Memory share in (0, 1], read as the backend reads its own knob: for vLLM
    /// (`gpu_memory_utilization`) and SGLang (`mem_fraction_static`) the share of the GPU
    /// for weights and KV cache; for TensorRT-LLM (`free_gpu_memory_fraction`) the share of
    /// the memory left after weights and activations that goes to the KV cache.
    pub mem_fraction: Option<f64>,
    /// Split long prompts across iterations.
    pub chunked_prefill: Option<bool>,
    /// Prefill and decode in the same iteration.
    pub mixed_batches: Option<bool>,
    /// Reuse cached prompt prefixes.
    pub prefix_caching: Option<bool>,
    /// Reserve the blocks of the whole output at admission (TensorRT-LLM's
    /// `GUARANTEED_NO_EVICT`; its default), instead of preempting when blocks run out.
    pub reserve_output: Option<bool>,
    /// Plan each iteration while the previous one runs (TensorRT-LLM's overlap scheduler,
    /// SGLang's overlap schedule; both on by default): a request that arrives during an
    /// iteration waits one more.
    pub overlap_schedule: Option<bool>,
    /// Share of KV blocks kept free at admission, in [0, 1).
    pub watermark: Option<f64>,
}

/// What the run records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Interval of the per-pool time series, s.
    #[serde(default = "default_sample_s")]
    pub sample_interval_s: f64,
    /// Requests arriving before this time are served but not counted, s.
    #[serde(default)]
    pub warmup_s: f64,
    /// Keep one row per request (columnar).
    #[serde(default)]
    pub keep_requests: bool,
}

fn default_sample_s() -> f64 {
    10.0
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            sample_interval_s: default_sample_s(),
            warmup_s: 0.0,
            keep_requests: false,
        }
    }
}

/// A validated pool.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolPlan {
    /// Name.
    pub name: String,
    /// Role.
    pub role: PoolRole,
    /// GPUs per worker.
    pub tp: u32,
    /// Workers at time zero.
    pub workers: u32,
    /// Start-up time of a new worker.
    pub startup: SimDuration,
    /// Router policy.
    pub router: RouterKind,
    /// Engine of each worker (KV capacity included).
    pub engine: EngineConfig,
}

/// A validated scenario: everything a run needs, immutable.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file as written (re-serialisable).
    pub config: ScenarioConfig,
    /// Display name.
    pub name: String,
    /// Simulated time.
    pub duration: SimDuration,
    /// The model, with its dtypes.
    pub llm: LlmSpec,
    /// The GPU SKU.
    pub gpu: GpuSku,
    /// The backend.
    pub backend: Backend,
    /// The pools.
    pub pools: Vec<PoolPlan>,
    /// GPU budget.
    pub gpu_budget: u32,
    /// Transfer latency.
    pub transfer_latency: SimDuration,
    /// The workload.
    pub traffic: WorkloadSpec,
    /// Sampling interval of time series.
    pub sample_interval: SimDuration,
    /// Warm-up excluded from the statistics.
    pub warmup: SimDuration,
    /// Directory of the scenario file (relative paths in it are resolved against it).
    pub base_dir: PathBuf,
    /// TTFT target.
    pub slo_ttft: SimDuration,
    /// ITL target.
    pub slo_itl: SimDuration,
    /// The frontend's costs.
    pub frontend: FrontendSpec,
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Config {
        path: path.into(),
        message: message.into(),
    }
}

fn seconds(path: &str, secs: f64, positive: bool) -> Result<SimDuration, Error> {
    if !secs.is_finite() || secs < 0.0 || (positive && secs == 0.0) {
        let want = if positive {
            "a positive number of seconds"
        } else {
            "a number of seconds >= 0"
        };
        return Err(invalid(path, format!("must be {want}, got {secs}")));
    }
    let d = SimDuration::from_secs_f64_round(secs).map_err(|e| invalid(path, e.to_string()))?;
    if positive && d == SimDuration::ZERO {
        return Err(invalid(
            path,
            format!("{secs:e} s is below the clock's resolution (1 ns)"),
        ));
    }
    Ok(d)
}

/// Shortest sampling or planning interval, s: a shorter one would take more steps than the
/// simulation itself (a million per simulated hour at 1 ms).
pub const MIN_INTERVAL_S: f64 = 1e-3;

/// A periodic interval: at least [`MIN_INTERVAL_S`].
fn interval(path: &str, secs: f64) -> Result<SimDuration, Error> {
    let d = seconds(path, secs, true)?;
    if secs < MIN_INTERVAL_S {
        return Err(invalid(
            path,
            format!("must be at least {MIN_INTERVAL_S} s, got {secs}"),
        ));
    }
    Ok(d)
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
        let de = serde_norway::Deserializer::from_str(text);
        let config: ScenarioConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            Error::Parse {
                origin: origin.to_string(),
                path,
                message: e.into_inner().to_string(),
            }
        })?;
        Self::validate(config, base_dir)
    }

    /// Validates a parsed config.
    pub fn validate(config: ScenarioConfig, base_dir: &Path) -> Result<Scenario, Error> {
        if config.duration_s > MAX_DURATION_S {
            return Err(invalid(
                "duration_s",
                format!(
                    "{} s is more than this simulator accepts ({MAX_DURATION_S} s, about 116 days)",
                    config.duration_s
                ),
            ));
        }
        let duration = seconds("duration_s", config.duration_s, true)?;
        let catalog = GpuCatalog::builtin();
        let gpu = catalog
            .get(&config.gpu)
            .map_err(|e| invalid("gpu", e.to_string()))?
            .clone();
        let backend =
            Backend::parse(&config.backend).map_err(|e| invalid("backend", e.to_string()))?;
        let mut llm = if config.model.ends_with(".json") {
            LlmSpec::from_hf_config(&base_dir.join(&config.model))
                .map_err(|e| invalid("model", e.to_string()))?
        } else {
            LlmSpec::lookup(&config.model).map_err(|e| invalid("model", e.to_string()))?
        };
        if let Some(kv) = &config.kv_dtype {
            llm.kv_dtype = Dtype::parse(kv).map_err(|e| invalid("kv_dtype", e.to_string()))?;
        }
        for (field, v) in [
            ("slo.ttft_ms", config.slo.ttft_ms),
            ("slo.itl_ms", config.slo.itl_ms),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(invalid(
                    field,
                    format!("must be a positive number of ms, got {v}"),
                ));
            }
        }
        let slo_ttft = seconds("slo.ttft_ms", config.slo.ttft_ms / 1e3, true)?;
        let slo_itl = seconds("slo.itl_ms", config.slo.itl_ms / 1e3, true)?;

        let c = &config.cluster;
        if c.nodes == 0 {
            return Err(invalid("cluster.nodes", "must be at least 1"));
        }
        let all_gpus = u64::from(c.nodes) * u64::from(gpu.gpus_per_node);
        if all_gpus > 1_000_000 {
            return Err(invalid(
                "cluster.nodes",
                format!(
                    "{} nodes is more than this simulator supports (1,000,000 GPUs)",
                    c.nodes
                ),
            ));
        }
        let gpu_budget = c.gpu_budget.unwrap_or(all_gpus as u32);
        if gpu_budget == 0 || u64::from(gpu_budget) > all_gpus {
            return Err(invalid(
                "cluster.gpu_budget",
                format!("must be 1..={all_gpus} (the nodes' GPUs), got {gpu_budget}"),
            ));
        }
        if !(c.transfer_latency_us.is_finite() && c.transfer_latency_us >= 0.0) {
            return Err(invalid(
                "cluster.transfer_latency_us",
                format!("must be >= 0, got {}", c.transfer_latency_us),
            ));
        }
        let transfer_latency = seconds(
            "cluster.transfer_latency_us",
            c.transfer_latency_us / 1e6,
            false,
        )?;
        let traffic = config
            .traffic
            .validate("traffic", base_dir)
            .map_err(Error::Traffic)?;
        let mut pools: Vec<PoolPlan> = Vec::new();
        for (i, p) in c.pools.iter().enumerate() {
            let path = format!("cluster.pools[{i}]");
            let plan = validate_pool(&path, p, &llm, &gpu, backend, traffic.block_tokens())?;
            if let Some(j) = pools.iter().position(|q| q.name == plan.name) {
                return Err(invalid(
                    format!("{path}.name"),
                    format!("'{}' is already the name of cluster.pools[{j}]", plan.name),
                ));
            }
            pools.push(plan);
        }
        let roles: Vec<PoolRole> = pools.iter().map(|p| p.role).collect();
        if !matches!(
            roles[..],
            [PoolRole::Aggregated] | [PoolRole::Prefill, PoolRole::Decode]
        ) {
            return Err(invalid(
                "cluster.pools",
                "must be one aggregated pool, or a prefill pool followed by a decode pool",
            ));
        }
        let initial: u32 = pools.iter().map(|p| p.workers * p.tp).sum();
        if initial > gpu_budget {
            return Err(invalid(
                "cluster.pools",
                format!("initial workers hold {initial} GPUs, over the budget of {gpu_budget}"),
            ));
        }
        if c.local_prefill_max_tokens.is_some() && roles.len() != 2 {
            return Err(invalid(
                "cluster.local_prefill_max_tokens",
                "needs a decode pool",
            ));
        }
        let m = &config.metrics;
        let sample_interval = interval("metrics.sample_interval_s", m.sample_interval_s)?;
        let warmup = seconds("metrics.warmup_s", m.warmup_s, false)?;
        if warmup >= duration {
            return Err(invalid(
                "metrics.warmup_s",
                format!(
                    "{} s leaves nothing of a {} s run",
                    m.warmup_s, config.duration_s
                ),
            ));
        }
        if let Some(p) = &config.planner {
            for (field, v) in [
                ("planner.interval_s", p.interval_s),
                ("planner.scrape_lag_s", p.scrape_lag_s),
            ] {
                if !(v.is_finite() && v >= 0.0) || (field == "planner.interval_s" && v == 0.0) {
                    return Err(invalid(
                        field,
                        format!("must be a positive number of seconds, got {v}"),
                    ));
                }
            }
            interval("planner.interval_s", p.interval_s)?;
            seconds("planner.scrape_lag_s", p.scrape_lag_s, false)?;
        }
        if let Some(f) = &config.faults {
            validate_faults(f, &pools, c.nodes, config.duration_s)?;
        }
        let frontend = config
            .frontend
            .map(validate_frontend)
            .transpose()?
            .unwrap_or_default();
        Ok(Scenario {
            base_dir: base_dir.to_path_buf(),
            name: config.name.clone().unwrap_or_else(|| "scenario".into()),
            duration,
            llm,
            gpu,
            backend,
            pools,
            gpu_budget,
            transfer_latency,
            traffic,
            sample_interval,
            warmup,
            slo_ttft,
            slo_itl,
            frontend,
            config,
        })
    }
}

fn validate_frontend(f: FrontendConfig) -> Result<FrontendSpec, Error> {
    if f.latency_ms.is_none() && f.token_cost_us.is_none() {
        return Err(invalid(
            "frontend",
            "give latency_ms, token_cost_us or both (leave the section out for a frontend that costs nothing)",
        ));
    }
    // A value in `unit`s (`per_s` of them a second), within [0, max], resolvable by the clock.
    let duration = |path: &str, v: f64, max: f64, unit: &str, per_s: f64| {
        if !(v.is_finite() && (0.0..=max).contains(&v)) {
            return Err(invalid(
                path,
                format!("must be a number of {unit} in [0, {max}], got {v}"),
            ));
        }
        let d = SimDuration::from_secs_f64_round(v / per_s)
            .map_err(|e| invalid(path, e.to_string()))?;
        if v > 0.0 && d == SimDuration::ZERO {
            return Err(invalid(
                path,
                format!("{v:e} {unit} is below the clock's resolution (1 ns)"),
            ));
        }
        Ok(d)
    };
    Ok(FrontendSpec {
        latency: duration(
            "frontend.latency_ms",
            f.latency_ms.unwrap_or(0.0),
            MAX_FRONTEND_LATENCY_MS,
            "ms",
            1e3,
        )?,
        token_cost: duration(
            "frontend.token_cost_us",
            f.token_cost_us.unwrap_or(0.0),
            MAX_TOKEN_COST_US,
            "µs",
            1e6,
        )?,
    })
}

fn validate_pool(
    path: &str,
    p: &PoolConfig,
    llm: &LlmSpec,
    gpu: &GpuSku,
    backend: Backend,
    prefix_block_tokens: u32,
) -> Result<PoolPlan, Error> {
    let role = match p.role.as_str() {
        "prefill" => PoolRole::Prefill,
        "decode" => PoolRole::Decode,
        "aggregated" => PoolRole::Aggregated,
        other => {
            return Err(invalid(
                format!("{path}.role"),
                format!("'{other}' is not one of prefill, decode, aggregated"),
            ));
        }
    };
    if !p.tp.is_power_of_two() {
        return Err(invalid(
            format!("{path}.tp"),
            format!("{} is not a power of two", p.tp),
        ));
    }
    if p.tp > gpu.gpus_per_node {
        return Err(invalid(
            format!("{path}.tp"),
            format!("{} is more than a node's {} GPUs", p.tp, gpu.gpus_per_node),
        ));
    }
    if p.workers > 100_000 {
        return Err(invalid(
            format!("{path}.workers"),
            format!(
                "{} is more than this simulator supports (100,000)",
                p.workers
            ),
        ));
    }
    let startup = seconds(&format!("{path}.startup_s"), p.startup_s, false)?;
    let router = match &p.router {
        Some(r) => r
            .parse::<RouterKind>()
            .map_err(|e| invalid(format!("{path}.router"), e))?,
        None if role == PoolRole::Decode => RouterKind::KvLoad,
        None => RouterKind::LeastOutstandingTokens,
    };
    let o = &p.engine;
    let d = EngineConfig::for_backend(backend, gpu);
    let mut engine = EngineConfig {
        max_num_seqs: o.max_num_seqs.unwrap_or(d.max_num_seqs),
        max_batched_tokens: o.max_batched_tokens.unwrap_or(d.max_batched_tokens),
        block_tokens: o.block_tokens.unwrap_or(d.block_tokens),
        chunked_prefill: o.chunked_prefill.unwrap_or(d.chunked_prefill),
        mixed_batches: o.mixed_batches.unwrap_or(d.mixed_batches),
        prefix_caching: o.prefix_caching.unwrap_or(d.prefix_caching),
        reserve_output: o.reserve_output.unwrap_or(d.reserve_output),
        overlap_schedule: o.overlap_schedule.unwrap_or(d.overlap_schedule),
        // The traffic's prefix ids each stand for this many prompt tokens.
        prefix_block_tokens,
        ..d
    };
    for (field, v) in [
        ("max_num_seqs", engine.max_num_seqs),
        ("max_batched_tokens", engine.max_batched_tokens),
        ("block_tokens", engine.block_tokens),
    ] {
        if v == 0 {
            return Err(invalid(
                format!("{path}.engine.{field}"),
                "must be at least 1",
            ));
        }
    }
    if !engine
        .prefix_block_tokens
        .is_multiple_of(engine.block_tokens)
    {
        return Err(invalid(
            format!("{path}.engine.block_tokens"),
            format!(
                "{} must divide the traffic's prefix block of {} tokens (traffic.block_tokens)",
                engine.block_tokens, engine.prefix_block_tokens
            ),
        ));
    }
    let mem = o.mem_fraction.unwrap_or(DEFAULT_MEM_FRACTION);
    if !(mem > 0.0 && mem <= 1.0) {
        return Err(invalid(
            format!("{path}.engine.mem_fraction"),
            format!("must be in (0, 1], got {mem}"),
        ));
    }
    // Each engine reads its memory knob its own way: TensorRT-LLM's share is of the memory
    // left after the weights and activations, vLLM's and SGLang's of the whole GPU.
    let kv_tokens = match backend {
        Backend::Trtllm => llm.kv_capacity_tokens_of_free(gpu, p.tp, mem, RESERVED_BYTES_PER_GPU),
        Backend::Vllm | Backend::Sglang => {
            llm.kv_capacity_tokens_with_reserve(gpu, p.tp, mem, RESERVED_BYTES_PER_GPU)
        }
    }
    .map_err(|e| invalid(format!("{path}.tp"), e.to_string()))?;
    engine.kv_blocks = kv_tokens / u64::from(engine.block_tokens);
    if engine.kv_blocks == 0 {
        return Err(invalid(
            format!("{path}.tp"),
            format!(
                "{} at TP{} leaves no memory for the KV cache on {}",
                llm.name, p.tp, gpu.sku
            ),
        ));
    }
    let watermark = o.watermark.unwrap_or(0.01);
    if !(0.0..1.0).contains(&watermark) {
        return Err(invalid(
            format!("{path}.engine.watermark"),
            format!("must be in [0, 1), got {watermark}"),
        ));
    }
    engine.watermark_blocks = (engine.kv_blocks as f64 * watermark) as u64;
    Ok(PoolPlan {
        name: p.name.clone(),
        role,
        tp: p.tp,
        workers: p.workers,
        startup,
        router,
        engine,
    })
}

/// Shortest mean time between random worker failures, s (a pool failing faster than its
/// workers can be replaced many times over is not a scenario, it is a loop).
pub const MIN_MTBF_S: f64 = 1.0;

fn validate_faults(
    f: &FaultsConfig,
    pools: &[PoolPlan],
    nodes: u32,
    duration_s: f64,
) -> Result<(), Error> {
    for (field, v) in [
        ("max_retries", f.max_retries),
        ("max_transfer_failures", f.max_transfer_failures),
    ] {
        if v > 100 {
            return Err(invalid(
                format!("faults.{field}"),
                format!("{v} is more than 100"),
            ));
        }
    }
    for (i, e) in f.events.iter().enumerate() {
        let path = format!("faults.events[{i}]");
        let at = e.at_s();
        if !(at.is_finite() && (0.0..duration_s).contains(&at)) {
            let field = if matches!(e, FaultEvent::RandomWorkerFailures { .. }) {
                "start_s"
            } else {
                "at_s"
            };
            return Err(invalid(
                format!("{path}.{field}"),
                format!("must be within the run (0..{duration_s} s), got {at}"),
            ));
        }
        let pool_ok = |p: &str| -> Result<(), Error> {
            if pools.iter().any(|x| x.name == p) {
                Ok(())
            } else {
                let known: Vec<&str> = pools.iter().map(|x| x.name.as_str()).collect();
                Err(invalid(
                    format!("{path}.pool"),
                    format!("no pool '{p}' (pools: {})", known.join(", ")),
                ))
            }
        };
        let node_ok = |n: u32| -> Result<(), Error> {
            if n < nodes {
                Ok(())
            } else {
                Err(invalid(
                    format!("{path}.node"),
                    format!("{n} is not a node (0..{nodes})"),
                ))
            }
        };
        // A duration: positive, and no longer than the longest run.
        let positive = |field: &str, v: f64| -> Result<(), Error> {
            if v.is_finite() && v > 0.0 && v <= MAX_DURATION_S {
                Ok(())
            } else {
                Err(invalid(
                    format!("{path}.{field}"),
                    format!("must be in (0, {MAX_DURATION_S}] s, got {v}"),
                ))
            }
        };
        match e {
            FaultEvent::WorkerDown { pool, .. } => pool_ok(pool)?,
            FaultEvent::NodeDown {
                node, duration_s, ..
            } => {
                node_ok(*node)?;
                if let Some(d) = duration_s {
                    positive("duration_s", *d)?;
                }
            }
            FaultEvent::Straggler {
                pool,
                duration_s,
                slowdown,
                ..
            } => {
                pool_ok(pool)?;
                positive("duration_s", *duration_s)?;
                if !(slowdown.is_finite() && *slowdown >= 1.0 && *slowdown <= 1e6) {
                    return Err(invalid(
                        format!("{path}.slowdown"),
                        format!("must be in [1, 1e6], got {slowdown}"),
                    ));
                }
            }
            FaultEvent::LinkDegraded {
                node,
                duration_s,
                capacity_factor,
                ..
            } => {
                node_ok(*node)?;
                positive("duration_s", *duration_s)?;
                if !(0.0..1.0).contains(capacity_factor) {
                    return Err(invalid(
                        format!("{path}.capacity_factor"),
                        format!("must be in [0, 1), got {capacity_factor}"),
                    ));
                }
            }
            FaultEvent::TransferFailure { .. } => {}
            FaultEvent::RandomWorkerFailures {
                pool,
                mtbf_s,
                start_s,
                end_s,
            } => {
                pool_ok(pool)?;
                positive("mtbf_s", *mtbf_s)?;
                if *mtbf_s < MIN_MTBF_S {
                    return Err(invalid(
                        format!("{path}.mtbf_s"),
                        format!("must be at least {MIN_MTBF_S} s, got {mtbf_s}"),
                    ));
                }
                if let Some(end) = end_s
                    && !(end.is_finite() && end > start_s)
                {
                    return Err(invalid(
                        format!("{path}.end_s"),
                        format!("must be after start_s ({start_s}), got {end}"),
                    ));
                }
            }
        }
    }
    Ok(())
}
