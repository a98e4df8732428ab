//! The semantic checks that turn a [`ScenarioConfig`] into a [`Scenario`]; each error names
//! the field path, e.g. `cluster.pools[1].tp: 3 is not a power of two`.

use std::path::Path;

use servesim_core::SimDuration;
use servesim_models::backend::Backend;
use servesim_models::cluster::PoolRole;
use servesim_models::cluster::router::RouterKind;
use servesim_models::dtype::Dtype;
use servesim_models::engine::cuda_graph::{CudaGraphs, TRTLLM_DEFAULT_MAX_BATCH};
use servesim_models::engine::new_token_ratio::NewTokenRatio;
use servesim_models::engine::{EngineConfig, kv_capacity_tokens_split};
use servesim_models::hardware::{GpuCatalog, GpuSku};
use servesim_models::llm::{DEFAULT_MEM_FRACTION, LlmSpec};
use servesim_models::perf::ExpertRouting;
use servesim_models::perf::dispatch::deepep_fits;
use servesim_models::perf::measured::MeasuredTimer;

use crate::Error;
use servesim_models::frontend::FrontendSpec;

use super::calibration::measured_timer;
use super::checks::{interval, invalid, seconds};
use super::faults::validate_faults;
use servesim_planner::{PlannerConfig, PolicyKind};
use servesim_traffic::WorkloadSpec;

use super::{
    ClusterConfig, EngineOverrides, FrontendConfig, MAX_DURATION_S, MAX_FRONTEND_LATENCY_MS,
    MAX_TOKEN_COST_US, MetricsConfig, PoolConfig, PoolPlan, Scenario, ScenarioConfig, SloConfig,
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
    Ok(pools)
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
                servesim_core::NotOneOf {
                    name: other.to_string(),
                    known: "prefill, decode, aggregated".into(),
                }
                .to_string(),
            ));
        }
    };
    if !p.tp.is_power_of_two() {
        return Err(invalid(
            format!("{path}.tp"),
            format!("{} is not a power of two", p.tp),
        ));
    }
    let dp = p.attention_dp;
    if !dp.is_power_of_two() {
        return Err(invalid(
            format!("{path}.attention_dp"),
            format!("{dp} is not a power of two"),
        ));
    }
    // A worker's GPUs share one NVLink domain (a node of an HGX board, or a whole NVL72 rack
    // of 4-GPU trays, `GpuSku::nvlink_domain`, where TensorRT-LLM and SGLang run tensor and
    // expert parallelism across trays over the rack's NVLink switches), or span whole
    // domains joined by InfiniBand (SGLang's `--nnodes`, TensorRT-LLM's and vLLM's
    // multi-node workers), whose collectives cross the NICs
    // (`servesim_models::perf::inter_domain`).
    let domain = gpu.nvlink_domain();
    let gpus = p.tp.saturating_mul(dp);
    if !gpu.holds_worker(u64::from(gpus)) {
        return Err(invalid(
            format!("{path}.{}", if dp > 1 { "attention_dp" } else { "tp" }),
            format!(
                "a worker of tp {} × attention_dp {dp} = {gpus} GPUs spans NVLink domains, so it \
                 takes whole ones: {gpus} is not a multiple of the {domain} GPUs of one NVLink \
                 domain of {} ({})",
                p.tp,
                gpu.sku,
                if domain == gpu.gpus_per_node {
                    "a node".to_string()
                } else {
                    format!(
                        "{} nodes of {}",
                        gpu.nodes_per_nvlink_domain(),
                        gpu.gpus_per_node
                    )
                }
            ),
        ));
    }
    if gpus > gpu.gpus_per_node && !gpus.is_multiple_of(gpu.gpus_per_node) {
        return Err(invalid(
            format!("{path}.tp"),
            format!(
                "a worker of {gpus} GPUs spans nodes, so it takes whole nodes: {gpus} is not a \
                 multiple of the {} GPUs of a node of {}",
                gpu.gpus_per_node, gpu.sku
            ),
        ));
    }
    if dp > 1 && llm.moe().is_none() {
        return Err(invalid(
            format!("{path}.attention_dp"),
            format!(
                "{dp}: {} has no experts (attention data parallelism serves a mixture of \
                 experts; a dense model's data parallelism is more workers)",
                llm.name
            ),
        ));
    }
    if p.ep == 0 || !gpus.is_multiple_of(p.ep) {
        return Err(invalid(
            format!("{path}.ep"),
            format!(
                "{} must be at least 1 and divide tp × attention_dp {gpus}",
                p.ep
            ),
        ));
    }
    if p.ep > 1 {
        let experts = llm.moe().map(|m| m.num_experts);
        if !experts.is_some_and(|e| e.is_multiple_of(p.ep)) {
            return Err(invalid(
                format!("{path}.ep"),
                match experts {
                    Some(e) => format!("{} does not divide {}'s {e} experts", p.ep, llm.name),
                    None => format!("{}: {} has no experts", p.ep, llm.name),
                },
            ));
        }
    }
    let par = p.parallelism();
    let deepep = match p.moe_a2a_backend.as_deref().map(str::trim) {
        None | Some("none") => false,
        Some("deepep") => {
            let why = if backend == Backend::Trtllm {
                Some("TensorRT-LLM picks its own all-to-all".to_string())
            } else if !deepep_fits(&par) {
                Some(format!(
                    "needs attention_dp above 1 and ep equal to the worker's {gpus} GPUs \
                     (attention_dp {dp}, ep {})",
                    p.ep
                ))
            } else {
                None
            };
            if let Some(why) = why {
                return Err(invalid(
                    format!("{path}.moe_a2a_backend"),
                    format!("deepep: {why}"),
                ));
            }
            true
        }
        Some(other) => {
            return Err(invalid(
                format!("{path}.moe_a2a_backend"),
                format!("`{other}` is not one of: none, deepep"),
            ));
        }
    };
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
    let d = EngineConfig::for_backend(backend, gpu, p.tp);
    let mut engine = EngineConfig {
        // Under attention DP each rank schedules its own batch under the backend's limits
        // (TensorRT-LLM's `max_batch_size` and `max_num_tokens` are per rank); the one engine
        // of the worker takes them all, so the defaults scale with the ranks. Overrides are
        // the worker's.
        max_num_seqs: o.max_num_seqs.unwrap_or(d.max_num_seqs.saturating_mul(dp)),
        max_batched_tokens: o
            .max_batched_tokens
            .unwrap_or(EngineConfig::worker_token_budget(
                backend,
                d.max_batched_tokens,
                dp,
            )),
        block_tokens: o.block_tokens.unwrap_or(d.block_tokens),
        chunked_prefill: o.chunked_prefill.unwrap_or(d.chunked_prefill),
        mixed_batches: o.mixed_batches.unwrap_or(d.mixed_batches),
        // A model with Gated DeltaNet layers reuses no prefix by default: its state at the
        // prefix is not in the KV blocks (vLLM 0.11.0's `MambaManager.find_longest_cache_hit`:
        // "Prefix caching is not supported for mamba now").
        prefix_caching: o
            .prefix_caching
            .unwrap_or(d.prefix_caching && llm.linear_attention().is_none()),
        reserve_output: o.reserve_output.unwrap_or(d.reserve_output),
        overlap_schedule: o.overlap_schedule.unwrap_or(d.overlap_schedule),
        handed_first_token: o.handed_first_token.unwrap_or(d.handed_first_token),
        header_tokens: llm.response_header_tokens,
        // The traffic's prefix ids each stand for this many prompt tokens.
        prefix_block_tokens,
        ..d
    };
    // Graphs are captured per attention-DP rank, for the rank's own batch.
    engine.cuda_graphs =
        cuda_graphs(backend, engine.max_num_seqs.div_ceil(dp), p.tp, o).per_rank(dp);
    if let Some(c) = o.schedule_conservativeness {
        let field = format!("{path}.engine.schedule_conservativeness");
        if backend != Backend::Sglang {
            return Err(invalid(field, format!("is SGLang's; {backend} has none")));
        }
        if !(c.is_finite() && c > 0.0) {
            return Err(invalid(field, format!("{c} is not a positive number")));
        }
    }
    if backend == Backend::Sglang {
        // SGLang's default conservativeness is 1.0; under DP attention it admits more
        // boldly: `_handle_data_parallelism` multiplies the default and a given one alike
        // by 0.3.
        let dp_scale = if dp > 1 { 0.3 } else { 1.0 };
        let c = o.schedule_conservativeness.unwrap_or(1.0) * dp_scale;
        engine.new_token_ratio = Some(NewTokenRatio::sglang(c));
    }
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
    let kv_tokens = kv_capacity_tokens_split(backend, llm, gpu, &par, mem)
        .map_err(|e| invalid(format!("{path}.tp"), e.to_string()))?;
    engine.kv_blocks = kv_tokens / u64::from(engine.block_tokens);
    // Gated DeltaNet layers: each sequence's fixed state, in blocks of the same pool.
    engine.state_blocks = llm
        .state_tokens_per_sequence(&par)
        .div_ceil(u64::from(engine.block_tokens));
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
        attention_dp: dp,
        ep: p.ep,
        deepep,
        workers: p.workers,
        startup,
        router,
        engine,
    })
}

/// The pool's CUDA graphs for a rank of `max_num_seqs` sequences: the backend's defaults for
/// it and the worker's TP, with the user's sizes and padding in their place where given.
fn cuda_graphs(backend: Backend, max_num_seqs: u32, tp: u32, o: &EngineOverrides) -> CudaGraphs {
    let default = CudaGraphs::for_backend(backend, max_num_seqs, tp);
    let padding = o.cuda_graph_padding.unwrap_or(default.padding());
    match (&o.cuda_graph_batch_sizes, backend) {
        (Some(sizes), _) => CudaGraphs::new(sizes.clone(), padding),
        // TensorRT-LLM generates another list when padding is turned on.
        (None, Backend::Trtllm) => CudaGraphs::trtllm(TRTLLM_DEFAULT_MAX_BATCH, padding),
        (None, _) => CudaGraphs::new(default.sizes().to_vec(), padding),
    }
}
