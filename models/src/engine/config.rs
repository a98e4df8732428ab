//! An engine's scheduling configuration: batch limits, KV paging and the policies that
//! tell the backends apart, with each backend's defaults.

use crate::backend::Backend;
use crate::error::Result;
use crate::hardware::GpuSku;
use crate::llm::{LlmSpec, Parallelism, RESERVED_BYTES_PER_GPU};

use super::cuda_graph::CudaGraphs;
use super::new_token_ratio::{CLIP_MAX_NEW_TOKENS, NewTokenRatio};

/// How a backend schedules (the overheads that differ live in the predictor).
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// Most sequences running (prefilling or decoding) at once.
    pub max_num_seqs: u32,
    /// Token budget of one iteration (decode tokens plus prefill chunks).
    pub max_batched_tokens: u32,
    /// Tokens per KV block.
    pub block_tokens: u32,
    /// KV blocks of the worker.
    pub kv_blocks: u64,
    /// Blocks each sequence holds from admission to its end whatever its length: the fixed
    /// state of a model's Gated DeltaNet layers, drawn from the same pool as the KV (vLLM's
    /// hybrid KV cache manager gives each request one block per linear-attention layer group,
    /// `MambaManager` in `vllm/v1/core/single_type_kv_cache_manager.py`, 0.11.0). 0 for
    /// models without such layers.
    pub state_blocks: u64,
    /// Blocks kept free at admission (vLLM's watermark).
    pub watermark_blocks: u64,
    /// Split long prompts into chunks across iterations.
    pub chunked_prefill: bool,
    /// Prefill chunks and decode tokens share an iteration (vLLM, TensorRT-LLM);
    /// otherwise prefill iterations take priority over decode ones (SGLang).
    pub mixed_batches: bool,
    /// Reuse cached leading prompt blocks.
    pub prefix_caching: bool,
    /// Tokens per content block of the traffic's prefix ids (a multiple of `block_tokens`).
    pub prefix_block_tokens: u32,
    /// Reserve the blocks of a sequence's whole output when it is admitted (TensorRT-LLM's
    /// `GUARANTEED_NO_EVICT`): admission waits until prompt and output fit, decode never runs
    /// out of blocks and nothing is preempted. Otherwise blocks are taken as tokens are made
    /// and the newest sequence is preempted when they run out (vLLM, SGLang).
    pub reserve_output: bool,
    /// Plan each iteration while the previous one runs (TensorRT-LLM's overlap scheduler,
    /// SGLang's overlap schedule, vLLM's async scheduling): the plan made when an iteration
    /// ends was drawn up when it started, so it admits only requests queued by then and
    /// counts the sequences that finished in it as still holding their slots. A request that
    /// arrives while an iteration runs waits one more; an idle engine plans at once.
    pub overlap_schedule: bool,
    /// The decode batch sizes with a captured CUDA graph, and whether smaller batches are
    /// padded up to one ([`CudaGraphs`]; each backend's defaults cite their source).
    pub cuda_graphs: CudaGraphs,
    /// Admit only requests whose prompt and output fit beside `ratio ×` the running
    /// requests' outputs to come (SGLang's `new_token_ratio`; see [`NewTokenRatio`]).
    pub new_token_ratio: Option<NewTokenRatio>,
    /// When a request handed over from a prefill worker shows its first token: the client's
    /// stream comes from the decode worker in every disaggregated stack ([`HandedFirstToken`]).
    pub handed_first_token: HandedFirstToken,
    /// Leading tokens of each response that carry no text (the model's response header,
    /// [`crate::llm::LlmSpec::response_header_tokens`]): the request's first token, as its
    /// streaming client sees it, is the one made after them.
    pub header_tokens: u32,
}

/// How the first token of a disaggregated request reaches the client. In each backend's
/// disaggregated serving the router streams the decode worker's response, so the first token
/// shows only once the KV has landed and the decode worker has taken the request in.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum HandedFirstToken {
    /// The prefill worker's token travels with the KV and is streamed as the decode worker
    /// takes the request into its batch, before that batch runs (SGLang's PD disaggregation:
    /// the decode server's prebuilt batch carries the transferred `output_ids` and streams
    /// them when it is merged, `disaggregation/decode.py`, 0.4 to 0.5).
    StreamedOnJoin,
    /// The prefill worker's token travels with the KV and the generation worker returns it
    /// with its first response, after its first step (TensorRT-LLM's disaggregated serving:
    /// a generation-only request's responses come from the executor loop's iterations;
    /// `trtllm-serve disaggregated` streams the generation server).
    StreamedAfterFirstStep,
    /// The decode worker computes the first token itself in its first step over the moved KV
    /// (vLLM's NIXL connector moves whole blocks of the prompt and vLLM recomputes the rest,
    /// at least the last prompt token, for the logits; the prefill instance's one token is
    /// discarded by the proxy or Dynamo's handler).
    Recomputed,
}

impl HandedFirstToken {
    /// Each backend's way.
    pub fn of(backend: Backend) -> Self {
        match backend {
            Backend::Vllm => HandedFirstToken::Recomputed,
            Backend::Sglang => HandedFirstToken::StreamedOnJoin,
            Backend::Trtllm => HandedFirstToken::StreamedAfterFirstStep,
        }
    }
}

impl EngineConfig {
    /// Why a request of `prompt` tokens making `output` (when it `decodes` here) could never
    /// run to its end on a worker of this configuration, even alone; `None` when it can.
    /// The engines refuse such a request rather than hold it forever: vLLM will not start
    /// unless its KV cache holds one sequence of `max_model_len` tokens
    /// (`check_enough_kv_cache_memory`, `vllm/v1/core/kv_cache_utils.py`) and rejects a
    /// request whose prompt and `max_tokens` exceed that length (`_validate_input` of its
    /// OpenAI server), so the whole sequence must fit where it decodes; SGLang admits a
    /// request only with its prompt and its output (clipped at [`CLIP_MAX_NEW_TOKENS`])
    /// in its free tokens. Beside the tokens, a sequence holds its fixed state blocks, and
    /// admission keeps the watermark free.
    ///
    /// Under attention DP a sequence lives on one rank, in that rank's share of the blocks.
    pub fn never_fits(&self, prompt: u32, output: u32, decodes: bool) -> Option<&'static str> {
        let block = u64::from(self.block_tokens.max(1));
        let whole = u64::from(prompt) + if decodes { u64::from(output) } else { 0 };
        let blocks = whole.div_ceil(block) + self.state_blocks;
        let ranks = u64::from(self.attention_ranks());
        let (kv_blocks, watermark) = (self.kv_blocks / ranks, self.watermark_blocks / ranks);
        if blocks + watermark > kv_blocks {
            return Some(match (decodes, self.state_blocks > 0) {
                (true, false) => "prompt and output",
                (true, true) => "prompt, output and fixed state",
                (false, false) => "prompt",
                (false, true) => "prompt and fixed state",
            });
        }
        let prompt_blocks = u64::from(prompt).div_ceil(block) + self.state_blocks;
        let clipped = u64::from(output).min(CLIP_MAX_NEW_TOKENS);
        if decodes
            && self.new_token_ratio.is_some()
            && prompt_blocks * block + clipped >= kv_blocks * block
        {
            return Some("prompt and output (clipped at 4,096 tokens, as SGLang admits it)");
        }
        None
    }

    /// Attention data-parallel ranks of the worker (1 without): each schedules its own
    /// sequences in its share of the KV blocks and of `max_batched_tokens` (TensorRT-LLM's
    /// `max_num_tokens` and `max_batch_size` are per rank under attention DP; SGLang's DP
    /// attention runs a scheduler per rank). The CUDA graphs are captured per rank too.
    pub fn attention_ranks(&self) -> u32 {
        self.cuda_graphs.ranks().max(1)
    }

    /// The prompt-token budget of a worker of `ranks` attention-DP ranks whose backend's own
    /// default is `default`: each rank takes the default under TensorRT-LLM and vLLM (their
    /// `max_num_tokens` and `max_num_batched_tokens` are per rank), but SGLang's
    /// chunked-prefill size is the server's, each rank taking `chunked_prefill_size // dp`
    /// ("DP attention is enabled. The chunked prefill size is adjusted to ...",
    /// `ServerArgs._handle_data_parallelism` of SGLang 0.5).
    pub fn worker_token_budget(backend: Backend, default: u32, ranks: u32) -> u32 {
        match backend {
            Backend::Sglang => default,
            Backend::Trtllm | Backend::Vllm => default.saturating_mul(ranks),
        }
    }

    /// The most prompt tokens one sequence's chunk may take in a step: one rank's share of
    /// the budget.
    pub fn rank_token_budget(&self) -> u32 {
        (self.max_batched_tokens / self.attention_ranks()).max(1)
    }

    /// Scheduling defaults of each backend on `gpu` for a worker of `tp` GPUs, as the engines
    /// set them when serving (vLLM 0.12's OpenAI server, SGLang 0.5, TensorRT-LLM 1.0's
    /// PyTorch flow). `kv_blocks` is left at 0: the KV capacity depends on the model and the
    /// memory share, which the caller knows. A caller that changes `max_num_seqs` should
    /// recompute `cuda_graphs` ([`CudaGraphs::for_backend`]): vLLM's capture sizes follow it.
    pub fn for_backend(backend: Backend, gpu: &GpuSku, tp: u32) -> EngineConfig {
        let mib = gpu.memory_bytes / f64::from(1u32 << 20);
        let base = EngineConfig {
            max_num_seqs: 256,
            max_batched_tokens: 8192,
            block_tokens: 16,
            kv_blocks: 0,
            state_blocks: 0,
            watermark_blocks: 0,
            chunked_prefill: true,
            mixed_batches: true,
            prefix_caching: true,
            prefix_block_tokens: 512,
            reserve_output: false,
            overlap_schedule: false,
            cuda_graphs: CudaGraphs::none(),
            new_token_ratio: None,
            handed_first_token: HandedFirstToken::of(backend),
            header_tokens: 0,
        };
        let config = match backend {
            // vLLM: 1,024 sequences and 8,192 tokens a step on GPUs of 70 GiB or more other
            // than the A100 (where larger steps cost throughput), else 256 and 2,048. Each
            // step is scheduled when the one before it ends, as up to 0.13.0
            // (`SchedulerConfig.async_scheduling = False`). From 0.14.0 vLLM schedules each
            // step while the previous one runs (async scheduling: its `AsyncScheduler` and
            // `EngineCore.step_with_batch_queue`, two batches in flight), on by default
            // (`VllmConfig.__post_init__` in `vllm/config/vllm.py`, read in 0.14.0 and 0.18.0)
            // unless speculative decoding it cannot overlap is set (any but EAGLE and MTP in
            // 0.14.0, those and GPU n-gram in 0.18.0), the executor is not `mp`, `uni` or
            // `external_launcher` (Ray), or, in 0.14.0, pipeline parallelism is on:
            // `engine.overlap_schedule: true` in a scenario, and `validate` for the rows of
            // those releases. It keeps a finished sequence's KV blocks until the next step is
            // planned, which the simulated engine frees when the step ends.
            Backend::Vllm => {
                let large = mib >= 70.0 * 1024.0 && !gpu.sku.contains("a100");
                EngineConfig {
                    max_num_seqs: if large { 1024 } else { 256 },
                    max_batched_tokens: if large { 8192 } else { 2048 },
                    ..base
                }
            }
            // SGLang runs prefill batches apart from decode ones unless mixed chunking is on,
            // and plans each batch while the previous one runs (overlap schedule, its default).
            // Under it a finished request's KV is released only after the next batch is
            // planned (`Scheduler.event_loop_overlap` and `process_batch_result`, 0.5.9); the
            // simulated engine frees it when the step ends.
            // Its chunked-prefill size follows the GPU's memory; its running requests are
            // bounded by the request pool (at least 2,048) and, in practice, by the KV cache.
            Backend::Sglang => EngineConfig {
                max_num_seqs: 2048,
                max_batched_tokens: match mib {
                    m if m < 35.0 * 1024.0 => 2048,
                    m if m < 60.0 * 1024.0 => 4096,
                    m if m < 160.0 * 1024.0 => 8192,
                    _ => 16384,
                },
                mixed_batches: false,
                overlap_schedule: true,
                new_token_ratio: Some(NewTokenRatio::sglang(1.0)),
                ..base
            },
            // TensorRT-LLM: a batch of up to 2,048 sequences and 8,192 tokens, 32-token blocks,
            // context chunking off, the default capacity policy GUARANTEED_NO_EVICT (output
            // blocks reserved at admission), and the PyTorch backend's overlap scheduler (on by
            // default since 1.0).
            Backend::Trtllm => EngineConfig {
                max_num_seqs: 2048,
                block_tokens: 32,
                chunked_prefill: false,
                reserve_output: true,
                overlap_schedule: true,
                ..base
            },
        };
        EngineConfig {
            cuda_graphs: CudaGraphs::for_backend(backend, config.max_num_seqs, tp),
            ..config
        }
    }
}

/// KV-cache tokens of one worker of `tp` GPUs whose engine is given the memory share
/// `mem_fraction`, read as each engine reads its own knob: TensorRT-LLM's
/// `free_gpu_memory_fraction` is a share of the memory left after the weights and
/// activations, vLLM's `gpu_memory_utilization` and SGLang's `mem_fraction_static` a share
/// of the whole GPU ([`RESERVED_BYTES_PER_GPU`] kept for activations either way).
pub fn kv_capacity_tokens(
    backend: Backend,
    llm: &LlmSpec,
    gpu: &GpuSku,
    tp: u32,
    mem_fraction: f64,
) -> Result<u64> {
    kv_capacity_tokens_split(backend, llm, gpu, &Parallelism::tensor(tp), mem_fraction)
}

/// As [`kv_capacity_tokens`] for a worker split by `par` (TP × EP for a mixture of experts:
/// the weights of its fullest GPU).
pub fn kv_capacity_tokens_split(
    backend: Backend,
    llm: &LlmSpec,
    gpu: &GpuSku,
    par: &Parallelism,
    mem_fraction: f64,
) -> Result<u64> {
    match backend {
        Backend::Trtllm => {
            llm.kv_capacity_tokens_of_free_split(gpu, par, mem_fraction, RESERVED_BYTES_PER_GPU)
        }
        Backend::Vllm | Backend::Sglang => {
            llm.kv_capacity_tokens_split(gpu, par, mem_fraction, RESERVED_BYTES_PER_GPU)
        }
    }
}
