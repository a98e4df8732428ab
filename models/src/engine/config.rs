//! An engine's scheduling configuration: batch limits, KV paging and the policies that
//! tell the backends apart.

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
    /// SGLang's overlap schedule): the plan made when an iteration ends was drawn up when
    /// it started, so it admits only requests queued by then and counts the sequences that
    /// finished in it as still holding their slots. A request that arrives while an
    /// iteration runs waits one more; an idle engine plans at once.
    pub overlap_schedule: bool,
}
