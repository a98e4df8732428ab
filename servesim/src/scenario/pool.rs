//! One pool of a scenario as its workers will run: parallelism, router, and the engine's
//! settings over the backend's defaults, each checked against the backend, the model and the
//! GPU.

use servesim_models::backend::Backend;
use servesim_models::cluster::PoolRole;
use servesim_models::cluster::router::RouterKind;
use servesim_models::engine::cuda_graph::{CudaGraphs, TRTLLM_DEFAULT_MAX_BATCH};
use servesim_models::engine::new_token_ratio::NewTokenRatio;
use servesim_models::engine::{EngineConfig, kv_capacity_tokens_split};
use servesim_models::hardware::GpuSku;
use servesim_models::llm::{DEFAULT_MEM_FRACTION, LlmSpec};
use servesim_models::perf::dispatch::deepep_fits;

use crate::Error;

use super::checks::{invalid, seconds};
use super::{EngineOverrides, PoolConfig, PoolPlan};

pub(super) fn validate_pool(
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
    // vLLM V1 pads every decode batch up to the largest captured size to its next one
    // (its `CudagraphDispatcher`); no setting runs such a batch eagerly.
    if backend == Backend::Vllm && o.cuda_graph_padding == Some(false) {
        return Err(invalid(
            format!("{path}.engine.cuda_graph_padding"),
            "vLLM always pads a decode batch to its next captured size (only batches beyond \
             the largest, engine.cuda_graph_batch_sizes, run eagerly)"
                .to_string(),
        ));
    }
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
    // vLLM and TensorRT-LLM count each decoding sequence's token against the step's budget
    // (a prefill worker decodes none; vLLM checks its engine's settings whatever its role).
    // vLLM refuses a budget below `max_num_seqs` at start-up (`SchedulerConfig`: "must be
    // greater than or equal to max_num_seqs"); TensorRT-LLM would leave the decodes beyond
    // it for a later step, which this engine does not model. SGLang's budget is its
    // prefill's alone (`--max-prefill-tokens`).
    let decodes = role != PoolRole::Prefill || backend == Backend::Vllm;
    if backend != Backend::Sglang && decodes && engine.max_batched_tokens < engine.max_num_seqs {
        let why = match backend {
            Backend::Vllm => "vLLM refuses a budget below max_num_seqs",
            _ => {
                "a step that leaves decoding sequences for later is not modelled; give at \
                 least max_num_seqs"
            }
        };
        return Err(invalid(
            format!("{path}.engine.max_batched_tokens"),
            format!(
                "{} tokens a step is less than the {} sequences it may decode \
                 (max_num_seqs): {why}",
                engine.max_batched_tokens, engine.max_num_seqs
            ),
        ));
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
                "{} at {par} leaves no memory for the KV cache on {}",
                llm.name, gpu.sku
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
