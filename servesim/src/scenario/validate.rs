//! The semantic checks that turn a [`ScenarioConfig`] into a [`Scenario`]; each error names
//! the field path, e.g. `cluster.pools[1].tp: 3 is not a power of two`.

use std::path::Path;

use servesim_core::SimDuration;
use servesim_models::backend::Backend;
use servesim_models::cluster::PoolRole;
use servesim_models::dtype::Dtype;
use servesim_models::hardware::{GpuCatalog, GpuSku};
use servesim_models::llm::LlmSpec;
use servesim_models::network::DEFAULT_TRANSFER_LATENCY;
use servesim_models::perf::ExpertRouting;
use servesim_models::perf::measured::MeasuredTimer;

use crate::Error;
use servesim_models::frontend::FrontendSpec;

use super::calibration::measured_timer;
use super::checks::{interval, invalid, seconds};
use super::faults::validate_faults;
use super::pool::validate_pool;
use servesim_planner::{PlannerConfig, PolicyKind};
use servesim_traffic::WorkloadSpec;

use super::{
    ClusterConfig, EngineOverrides, FrontendConfig, MAX_DURATION_S, MAX_FRONTEND_LATENCY_MS,
    MAX_TOKEN_COST_US, MetricsConfig, PoolPlan, Scenario, ScenarioConfig, SloConfig,
};

impl Scenario {
    /// Validates a parsed config (the checks in the file's order, so the first error
    /// reported is the first in the file's sections).
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
        let (gpu, backend, llm) = validate_served(&config, base_dir)?;
        let measured = config
            .calibration
            .as_deref()
            .map(|dir| validate_calibration(dir, base_dir, &gpu, backend))
            .transpose()?;
        let (slo_ttft, slo_itl) = validate_slo(&config.slo)?;
        let c = &config.cluster;
        let (gpu_budget, transfer_latency) = validate_cluster(c, &gpu)?;
        let traffic = config
            .traffic
            .validate("traffic", base_dir)
            .map_err(Error::Traffic)?;
        validate_context(&llm, &traffic)?;
        validate_stream_starts(&config, config.duration_s)?;
        let pools = validate_pools(c, &llm, &gpu, backend, traffic.block_tokens(), gpu_budget)?;
        let (sample_interval, warmup) =
            validate_metrics(&config.metrics, duration, config.duration_s)?;
        if let Some(p) = &config.planner {
            validate_planner(p)?;
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
            measured,
            config,
        })
    }
}

/// The kernel timer of the measured tables in the folder `dir` (relative to `base_dir`) over
/// the shipped ones, for the scenario's GPU and backend.
fn validate_calibration(
    dir: &str,
    base_dir: &Path,
    gpu: &GpuSku,
    backend: Backend,
) -> Result<MeasuredTimer, Error> {
    measured_timer(&base_dir.join(dir), gpu, backend).map_err(|e| invalid("calibration", e))
}

/// The most GB/s a GPU's NIC may be given (`cluster.nic_gb_per_s`): a hundred times
/// ConnectX-8's.
const MAX_NIC_GB_PER_S: f64 = 10_000.0;

/// The GPU, the backend and the model with its dtypes.
fn validate_served(
    config: &ScenarioConfig,
    base_dir: &Path,
) -> Result<(GpuSku, Backend, LlmSpec), Error> {
    let mut gpu = GpuCatalog::builtin()
        .get(&config.gpu)
        .map_err(|e| invalid("gpu", e.to_string()))?
        .clone();
    if let Some(n) = config.cluster.gpus_per_node {
        if n == 0 || n > gpu.gpus_per_node {
            return Err(invalid(
                "cluster.gpus_per_node",
                format!(
                    "must be from 1 to the {} GPUs of a {} node, got {n}",
                    gpu.gpus_per_node, gpu.sku
                ),
            ));
        }
        gpu = gpu.on_nodes_of(n);
    }
    if let Some(nic) = config.cluster.nic_gb_per_s {
        // No NIC comes near the bound; past it the fabric's arithmetic would overflow.
        if !(nic > 0.0 && nic <= MAX_NIC_GB_PER_S) {
            return Err(invalid(
                "cluster.nic_gb_per_s",
                format!(
                    "must be a positive number of GB/s, at most {MAX_NIC_GB_PER_S}, got {}",
                    // Written as the user would have: 1e300, not its 301 digits.
                    if nic.abs() >= 1e6 {
                        format!("{nic:e}")
                    } else {
                        nic.to_string()
                    }
                ),
            ));
        }
        gpu.nic_bytes_per_s_per_direction = nic * 1e9;
    }
    let backend = Backend::parse(&config.backend).map_err(|e| invalid("backend", e.to_string()))?;
    let mut llm = if config.model.ends_with(".json") {
        LlmSpec::from_hf_config(&base_dir.join(&config.model))
            .map_err(|e| invalid("model", e.to_string()))?
    } else {
        LlmSpec::lookup(&config.model).map_err(|e| invalid("model", e.to_string()))?
    };
    if let Some(w) = &config.weight_dtype {
        llm.weight_dtype = Dtype::parse(w).map_err(|e| invalid("weight_dtype", e.to_string()))?;
        if !gpu.runs(llm.weight_dtype) {
            return Err(invalid(
                "weight_dtype",
                format!(
                    "{} needs FP4 tensor cores, which {} does not have (Blackwell GPUs do: \
                     b200_sxm, gb200, b300_sxm, gb300)",
                    llm.weight_dtype, gpu.sku
                ),
            ));
        }
    }
    if let Some(r) = &config.expert_routing {
        let routing =
            ExpertRouting::parse(r).map_err(|e| invalid("expert_routing", e.to_string()))?;
        if llm.moe().is_none() {
            return Err(invalid(
                "expert_routing",
                format!("{}: {} has no experts to route to", routing, llm.name),
            ));
        }
        llm = llm.with_expert_routing(routing);
    }
    if let Some(kv) = &config.kv_dtype {
        llm.kv_dtype = Dtype::parse(kv).map_err(|e| invalid("kv_dtype", e.to_string()))?;
        if llm.kv_dtype == Dtype::Nvfp4 {
            return Err(invalid(
                "kv_dtype",
                "nvfp4: an NVFP4 KV cache is not modelled (bf16, fp16, fp32, fp8)",
            ));
        }
    }
    Ok((gpu, backend, llm))
}

/// A stream that starts at or after the run's end would send nothing: refused, as a fault
/// or a trace window past the end is. A preset's streams are the preset's: a run cut
/// short of one is warned of instead (`crate::warnings::before_run`).
fn validate_stream_starts(config: &ScenarioConfig, duration_s: f64) -> Result<(), Error> {
    for (i, s) in config.traffic.streams.iter().enumerate() {
        if s.start_s >= duration_s {
            return Err(invalid(
                format!("traffic.streams[{i}].start_s"),
                format!(
                    "stream {} starts at {} s, not before the run's end at {duration_s} s \
                     (duration_s): it would send nothing",
                    s.name, s.start_s
                ),
            ));
        }
    }
    Ok(())
}

/// A stream none of whose requests fits in the model's context (prompt and output over
/// its `max_position_embeddings`) is refused; one some of whose requests do not is warned
/// of after the run (`crate::warnings`).
fn validate_context(llm: &LlmSpec, traffic: &WorkloadSpec) -> Result<(), Error> {
    for (name, least) in traffic.least_request_tokens() {
        if let Some(least) = least
            && let Some(context) = llm.context_exceeded_by(least)
        {
            return Err(invalid(
                "traffic",
                format!(
                    "stream {name}: every request is longer than the context of {}: at least \
                     {least} tokens (prompt and output) against {context}",
                    llm.name
                ),
            ));
        }
    }
    Ok(())
}

/// The TTFT and ITL targets.
fn validate_slo(slo: &SloConfig) -> Result<(SimDuration, SimDuration), Error> {
    for (field, v) in [("slo.ttft_ms", slo.ttft_ms), ("slo.itl_ms", slo.itl_ms)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(invalid(
                field,
                format!("must be a positive number of ms, got {v}"),
            ));
        }
    }
    Ok((
        seconds("slo.ttft_ms", slo.ttft_ms / 1e3, true)?,
        seconds("slo.itl_ms", slo.itl_ms / 1e3, true)?,
    ))
}

/// The GPU budget and the KV transfer latency.
fn validate_cluster(c: &ClusterConfig, gpu: &GpuSku) -> Result<(u32, SimDuration), Error> {
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
    let transfer_latency = match c.transfer_latency_us {
        None => DEFAULT_TRANSFER_LATENCY,
        Some(us) if !(us.is_finite() && us >= 0.0) => {
            return Err(invalid(
                "cluster.transfer_latency_us",
                format!("must be >= 0, got {us}"),
            ));
        }
        Some(us) => seconds("cluster.transfer_latency_us", us / 1e6, false)?,
    };
    Ok((gpu_budget, transfer_latency))
}

/// The pools: each valid, names unique, one aggregated pool or a prefill pool then a decode
/// pool, initial workers within the budget.
fn validate_pools(
    c: &ClusterConfig,
    llm: &LlmSpec,
    gpu: &GpuSku,
    backend: Backend,
    prefix_block_tokens: u32,
    gpu_budget: u32,
) -> Result<Vec<PoolPlan>, Error> {
    let mut pools: Vec<PoolPlan> = Vec::new();
    for (i, p) in c.pools.iter().enumerate() {
        let path = format!("cluster.pools[{i}]");
        let plan = validate_pool(&path, p, llm, gpu, backend, prefix_block_tokens)?;
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
    let initial: u32 = pools.iter().map(|p| p.workers * p.gpus()).sum();
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
    // Its default, which servesim wrote into every scenario it saved before the field was
    // optional, is taken as unset: it changes nothing, and such files keep loading.
    let set = c
        .transfer_latency_us
        .filter(|&us| us != DEFAULT_TRANSFER_LATENCY.as_nanos() as f64 / 1e3);
    if set.is_some() && roles.len() != 2 {
        return Err(invalid(
            "cluster.transfer_latency_us",
            "times the KV hand-off from a prefill pool to a decode pool, and this cluster's \
             one pool is aggregated: it hands no KV over",
        ));
    }
    for (i, (p, plan)) in c.pools.iter().zip(&pools).enumerate() {
        if let Some(field) = inapplicable(&p.engine, plan.role, c.local_prefill_max_tokens) {
            return Err(invalid(
                format!("cluster.pools[{i}].engine.{}", field.0),
                field.1,
            ));
        }
    }
    Ok(pools)
}

/// An engine setting a pool of `role` never acts on, and why: a user's setting is never
/// ignored in silence.
fn inapplicable(
    o: &EngineOverrides,
    role: PoolRole,
    local_prefill: Option<u32>,
) -> Option<(&'static str, &'static str)> {
    if role != PoolRole::Decode && o.handed_first_token.is_some() {
        return Some((
            "handed_first_token",
            "says how a decode worker shows the first token a prefill worker handed it; \
             this pool makes its own first tokens",
        ));
    }
    // A decode worker keeps no prefix of the KV handed to it (`Engine::reserve_incoming`);
    // its own prefills (a preempted sequence's recompute) are chunked and mixed as set.
    if role == PoolRole::Decode && local_prefill.is_none() && o.prefix_caching.is_some() {
        return Some((
            "prefix_caching",
            "reuses prefixes of the prompts a pool prefills, and this decode pool prefills \
             none (it would with cluster.local_prefill_max_tokens); the KV handed to it is \
             not cached for others",
        ));
    }
    None
}

/// The sampling interval and the warm-up (which must leave some of the run).
fn validate_metrics(
    m: &MetricsConfig,
    duration: SimDuration,
    duration_s: f64,
) -> Result<(SimDuration, SimDuration), Error> {
    let sample_interval = interval("metrics.sample_interval_s", m.sample_interval_s)?;
    let warmup = seconds("metrics.warmup_s", m.warmup_s, false)?;
    if warmup >= duration {
        return Err(invalid(
            "metrics.warmup_s",
            format!("{} s leaves nothing of a {} s run", m.warmup_s, duration_s),
        ));
    }
    Ok((sample_interval, warmup))
}

/// The planner's policy name, interval and scrape lag (the policy's own settings are the
/// planner crate's to check when it builds the policy).
pub(super) fn validate_planner(p: &PlannerConfig) -> Result<(), Error> {
    // A name no policy has is said when the scenario is read, not when it runs.
    PolicyKind::parse_at(&p.policy, "planner.policy").map_err(Error::Planner)?;
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
    Ok(())
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
