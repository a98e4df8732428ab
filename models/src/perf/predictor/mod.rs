//! Batch → iteration time: decomposes an engine iteration into kernel operations and times
//! each with a [`KernelTimer`].
//!
//! Per layer (TP = t, T tokens in the batch): QKV, output-projection, gate+up and down GEMMs;
//! context attention for the prefill chunks (one batched call whose causal length matches the
//! chunks' query × key pairs, chunks attending to their earlier context); generation attention
//! for the decode sequences (batch = sequences, KV length = mean); two all-reduces of `T × h`
//! when t > 1; five memory-bound element-wise kernels. Once per iteration: embedding, LM head
//! (`[sequences × h] · [h × vocab/t]`, bf16) with a logits all-gather when t > 1, and the
//! backend's fixed overhead. An iteration that runs prefill lasts at least the backend's
//! eager launch floor (engines that graph only decode-only batches launch it layer by layer
//! from the host). GEMM shapes are per-(model, TP) constants computed once.
//!
//! Mixtures of experts (TP, or TP × EP inside one worker: attention split by TP, the routed
//! experts `moe_tp` ways within each expert and `moe_ep` ways by expert, `moe_tp × moe_ep =
//! tp`): a MoE layer is the router GEMM (`[T × h] · [h × experts]`, bf16, on every GPU), the
//! shared experts as a TP-split gated MLP, and the fused routed-expert kernel of the MoE
//! tables (`KernelOp::Moe`, tokens routed uniformly: the tables' `balanced` distribution).
//! Every GPU holds all the batch's tokens after attention, so the experts' partial outputs
//! are summed by the same all-reduce as a dense MLP's (TensorRT-LLM's and vLLM's MoE under
//! attention TP: no all-to-all). Sliding-window layers attend to at most their window:
//! decode reads `min(kv, window)` tokens, a prompt's causal pairs are capped at the window
//! (attention sinks, one extra logit per head, are not timed).
//!
//! Gated DeltaNet (linear-attention) layers, between attention layers in Qwen3-Next and
//! Qwen3.5 (`linear_terms.rs`): their input and output projections are token terms, their
//! convolution and delta rule run over a prompt chunk's new tokens (the state holds the
//! context) and over a decode step's sequences whatever their length, timed from the `gdn`
//! tables; the attention terms count the attention layers only, their query projection
//! doubled where the output is gated.

use servesim_core::SimDuration;

use crate::backend::Backend;
use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};
use crate::hardware::GpuSku;
use crate::llm::{Attention, ExpertFormat, Ffn, LlmSpec, Parallelism};
use crate::perf::dispatch::{AllToAll, Phase, deepep_fits, trtllm_uses_all_to_all};
use crate::perf::inter_domain::AcrossDomains;
use crate::perf::kernel_timer::KernelTimer;
use crate::perf::moe_part::MoePart;
use crate::perf::ops::{AttnShape, GemmShape, KernelOp, MlaShape, NcclOp, OpKind};

mod attention_terms;
mod linear_terms;
mod moe_terms;

use attention_terms::Window;
use linear_terms::LinearLayers;

/// A prefill chunk in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefillChunk {
    /// Prompt tokens computed in this iteration.
    pub tokens: u32,
    /// Tokens already in the KV cache before this chunk (earlier chunks, cached prefix).
    pub context: u32,
}

/// What one engine iteration runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchShape<'a> {
    /// Prefill chunks.
    pub prefill: &'a [PrefillChunk],
    /// Decode sequences (one token each).
    pub decode_seqs: u32,
    /// Sum of the KV lengths of the decode sequences.
    pub decode_kv_tokens: u64,
    /// A decode-only batch of a size with no captured CUDA graph: the host launches its
    /// kernels one by one, as it does for every batch with prefill on the backends that
    /// graph decode-only batches alone (see [`Backend::eager_layer_launch_ms`]).
    pub eager: bool,
}

const N: usize = OpKind::ALL.len();

/// New tokens per prompt chunk of `chunks` chunks holding `tokens` tokens, rounded up (what
/// a Gated DeltaNet layer's kernels run over: the state holds the context before them).
pub fn new_tokens_per_chunk(tokens: u64, chunks: u32) -> u32 {
    tokens
        .div_ceil(u64::from(chunks.max(1)))
        .clamp(1, u64::from(u32::MAX)) as u32
}

/// Predicts iteration times of one worker (a model at a TP size on a GPU SKU and backend).
#[derive(Debug, Clone)]
pub struct IterationPredictor {
    timer: KernelTimer,
    backend: Backend,
    tp: u32,
    layers: f64,
    /// Layers that attend with a KV cache (all but the Gated DeltaNet ones).
    attn_layers: f64,
    /// The Gated DeltaNet layers, if any.
    linear: Option<LinearLayers>,
    hidden: u64,
    wdtype: Dtype,
    kv_dtype: Dtype,
    heads_pg: u32,
    kv_heads_pg: u32,
    head_dim: u32,
    n_qkv: u64,
    k_out: u64,
    n_gate_up: u64,
    k_down: u64,
    vocab_pg: u64,
    eltwise_bytes_per_token: u64,
    /// Per-GEMM time of the isolated weight-dtype path that serving fuses away, ms.
    gemm_call_overhead_ms: f64,
    /// Layers with a dense MLP.
    dense_layers: f64,
    /// The experts, for a mixture of experts.
    moe: Option<MoePart>,
    /// The sliding-window layers, if any.
    window: Option<Window>,
    /// The chunked-attention layers, if any (`window` the chunk).
    chunked: Option<Window>,
    /// Least time of an iteration that runs prefill (launched eagerly), ms.
    eager_floor_ms: f64,
    /// The attention block of a multi-head latent attention model (its `batch` and `len`
    /// set per call): replaces the QKV and output GEMMs and the attention kernels.
    mla: Option<MlaShape>,
    /// The MLA block is timed as the sum of its kernels (SGLang's, see `mla_parts`), not
    /// from the module tables.
    mla_by_parts: bool,
    /// Attention data-parallel replicas of the worker.
    dp: u32,
    /// The MoE layers' all-to-all, where the engine moves tokens by one under attention DP
    /// (else all-gather and reduce-scatter).
    a2a: Option<AllToAll>,
    /// GPUs of one NVLink domain: a collective over more crosses the NICs.
    domain_gpus: u32,
    /// Each GPU's NIC, bytes/s one way.
    nic_bytes_per_s: f64,
}

impl IterationPredictor {
    /// A predictor for `llm` (with its weight and KV dtypes) at TP size `tp` on `gpu` with
    /// `backend`, timing kernels with `timer`.
    pub fn new(
        llm: &LlmSpec,
        tp: u32,
        gpu: &GpuSku,
        backend: Backend,
        timer: KernelTimer,
    ) -> Result<Self> {
        Self::with_parallelism(llm, &Parallelism::tensor(tp), gpu, backend, timer)
    }

    /// A predictor for a worker split by `par`: TP, or TP × EP for a mixture of experts
    /// (`moe_tp × moe_ep = tp`; no attention data parallelism yet,
    /// [`LlmSpec::require_modelled`]).
    pub fn with_parallelism(
        llm: &LlmSpec,
        par: &Parallelism,
        gpu: &GpuSku,
        backend: Backend,
        timer: KernelTimer,
    ) -> Result<Self> {
        llm.require_modelled("the iteration predictor", par)?;
        let experts = match llm.moe().map(|m| m.expert_format) {
            Some(ExpertFormat::Nvfp4) => Dtype::Nvfp4,
            _ => llm.weight_dtype,
        };
        for (what, d) in [
            ("weight dtype", llm.weight_dtype),
            ("KV dtype", llm.kv_dtype),
            ("expert weights", experts),
        ] {
            if !gpu.runs(d) {
                return Err(ModelsError::Invalid {
                    what,
                    message: format!(
                        "{d} needs FP4 tensor cores, which {} does not have (Blackwell GPUs do)",
                        gpu.sku
                    ),
                });
            }
        }
        let tp = par.tp;
        par.check_fits(gpu)?;
        let dense_layers = llm
            .layers()
            .iter()
            .filter(|l| l.ffn == Ffn::Dense || llm.moe().is_none())
            .count() as u32;
        let ffn_split = dense_layers == 0 || llm.intermediate_size.is_multiple_of(tp);
        if !llm.num_heads.is_multiple_of(tp) || !ffn_split {
            return Err(ModelsError::Invalid {
                what: "TP size",
                message: format!(
                    "{tp} does not divide {}'s {} heads and FFN size {}",
                    llm.name, llm.num_heads, llm.intermediate_size
                ),
            });
        }
        llm.check_parallelism(par)?;
        let moe = MoePart::new(llm, par, dense_layers, backend, &timer)?;
        let mla = match llm.attention() {
            Attention::Standard => None,
            Attention::Mla(dims) => Some(MlaShape {
                batch: 1,
                len: 1,
                heads: llm.num_heads / tp,
                hidden: llm.hidden_size,
                dims,
                kv_dtype: llm.kv_dtype,
                gemm_dtype: llm.weight_dtype,
            }),
        };
        let chunked = llm.attention_chunks().map(|(window, layers)| Window {
            window,
            layers: f64::from(layers),
        });
        let window = llm.sliding_window().map(|(window, layers)| Window {
            window,
            layers: f64::from(layers),
        });
        let hd = u64::from(llm.head_dim);
        let h = u64::from(llm.hidden_size);
        let heads_pg = llm.num_heads / tp;
        let kv_heads_pg = llm.kv_heads_per_gpu(tp);
        let ffn_pg = u64::from(llm.intermediate_size / tp);
        // A gated attention output doubles the query projection (queries and gate).
        let q_pg = u64::from(heads_pg) * if llm.attention_output_gate() { 2 } else { 1 };
        let qkv = (q_pg + 2 * u64::from(kv_heads_pg)) * hd;
        let linear = match llm.linear_attention() {
            Some((d, n)) => Some(LinearLayers::new(d, n, tp)?),
            None => None,
        };
        // SiLU·mul (2r+w) of each layer's MLP: the dense MLP's, or a MoE layer's shared
        // experts' (the routed experts' is inside their fused kernel), averaged over layers.
        let act = match &moe {
            None => 3 * ffn_pg * 2,
            Some(m) => {
                let l = u64::from(llm.num_layers.max(1));
                let d = u64::from(dense_layers);
                3 * 2 * (ffn_pg * d + m.shared_pg * (l - d)) / l
            }
        };
        // Two RMSNorms (r+w), two residual adds (2r+w), SiLU·mul, RoPE (r+w q,k; inside the
        // MLA block's measured time for MLA, except where the block is timed by its parts:
        // there RoPE of the query's and the cached key's rope dims and the two latent
        // RMSNorms).
        let mla_by_parts =
            mla.is_some() && backend == Backend::Sglang && timer.measures_mla_parts();
        let rope = match &mla {
            None => 2 * (u64::from(heads_pg + kv_heads_pg) * hd * 2),
            Some(m) if mla_by_parts => {
                let d = &m.dims;
                let rope = u64::from(d.qk_rope_head_dim);
                let norms = u64::from(d.q_lora_rank.unwrap_or(0) + d.kv_lora_rank);
                2 * ((u64::from(m.heads) + 1) * rope * 2) + 2 * norms * 2
            }
            Some(_) => 0,
        };
        let eltwise = 2 * (2 * h * 2) + 2 * (3 * h * 2) + act + rope;
        let gemm_call_overhead_ms = timer.gemm_call_overhead_ms(llm.weight_dtype);
        let a2a = match &moe {
            Some(m)
                if backend == Backend::Trtllm
                    && m.kernel.moe_tp == 1
                    && trtllm_uses_all_to_all(par, m.kernel.topk, gpu) =>
            {
                Some(AllToAll::of(backend, &m.kernel, 1)?)
            }
            _ => None,
        };
        Ok(IterationPredictor {
            gemm_call_overhead_ms,
            dense_layers: f64::from(dense_layers),
            moe,
            window,
            chunked,
            eager_floor_ms: f64::from(llm.num_layers) * backend.eager_layer_launch_ms(),
            timer,
            backend,
            tp,
            layers: f64::from(llm.num_layers),
            attn_layers: f64::from(llm.attention_layers()),
            linear,
            hidden: h,
            wdtype: llm.weight_dtype,
            kv_dtype: llm.kv_dtype,
            heads_pg,
            kv_heads_pg,
            head_dim: llm.head_dim,
            n_qkv: qkv,
            k_out: u64::from(heads_pg) * hd,
            n_gate_up: 2 * ffn_pg,
            k_down: ffn_pg,
            vocab_pg: u64::from(llm.vocab_size).div_ceil(u64::from(tp)),
            eltwise_bytes_per_token: eltwise,
            mla,
            mla_by_parts,
            dp: par.attention_dp,
            a2a,
            domain_gpus: gpu.nvlink_domain(),
            nic_bytes_per_s: gpu.nic_bytes_per_s_per_direction,
        })
    }

    /// The same worker with its MoE layers' tokens moved by DeepEP's all-to-all (SGLang's
    /// `--moe-a2a-backend deepep`, vLLM's `--all2all-backend deepep_*`), which these engines
    /// run only when told to. Needs attention DP, experts spread by EP and whole (MoE TP 1);
    /// TensorRT-LLM chooses its all-to-all itself ([`trtllm_uses_all_to_all`]). SGLang's
    /// experts then run its DeepEP MoE kernels where they are measured.
    pub fn with_deepep(mut self) -> Result<Self> {
        let bad = |message: String| ModelsError::Invalid {
            what: "DeepEP all-to-all",
            message,
        };
        if self.backend == Backend::Trtllm {
            return Err(bad(
                "TensorRT-LLM picks its own all-to-all (moe_ep_size > top-k on a multi-node \
                 NVLink fabric)"
                    .into(),
            ));
        }
        let Some(m) = self.moe else {
            return Err(bad("the model has no experts".into()));
        };
        let k = m.kernel;
        let par = Parallelism {
            tp: self.tp,
            attention_dp: self.dp,
            moe_tp: k.moe_tp,
            moe_ep: k.moe_ep,
        };
        if !deepep_fits(&par) {
            return Err(bad(format!(
                "needs attention DP and whole experts spread by EP (attention DP {}, MoE TP {}, \
                 EP {})",
                self.dp, k.moe_tp, k.moe_ep
            )));
        }
        self.a2a = Some(AllToAll::of(self.backend, &m.kernel, self.domains())?);
        self.moe = Some(m.with_deepep_kernels(self.backend, &self.timer));
        Ok(self)
    }

    /// Whether the MoE layers move tokens by all-to-all ([`IterationPredictor::with_deepep`],
    /// or TensorRT-LLM's own choice).
    pub fn all_to_all(&self) -> bool {
        self.a2a.is_some()
    }

    /// NVLink domains the worker's GPUs span (1 within a node of an HGX board or an NVL72
    /// rack).
    pub fn domains(&self) -> u32 {
        (self.tp * self.dp).div_ceil(self.domain_gpus.max(1))
    }

    /// Attention data-parallel replicas of the worker (1 without attention DP).
    pub fn attention_dp(&self) -> u32 {
        self.dp
    }

    /// The fullest attention-DP rank's share of a batch of `chunks` prefill chunks holding
    /// `prefill_tokens` tokens and `decode_seqs` decode sequences: `(chunks, prefill tokens,
    /// decode sequences)`. The engines spread requests over the ranks evenly (TensorRT-LLM's
    /// attention-DP scheduler gives each new request to the rank with the fewest,
    /// `tensorrt_llm/_torch/pyexecutor/executor_request_queue.py`; SGLang's data-parallel
    /// controller round-robins, `sglang/srt/managers/data_parallel_controller.py`), so the
    /// fullest rank holds `ceil(n / dp)` of each, the chunks of the batch's mean size. The
    /// whole batch when `dp` is 1.
    pub fn rank_share(
        &self,
        chunks: u32,
        prefill_tokens: u64,
        decode_seqs: u32,
    ) -> (u32, u64, u32) {
        if self.dp <= 1 {
            return (chunks, prefill_tokens, decode_seqs);
        }
        let c = chunks.div_ceil(self.dp);
        let p = if chunks == 0 {
            0
        } else {
            (prefill_tokens * u64::from(c)).div_ceil(u64::from(chunks))
        };
        (c, p, decode_seqs.div_ceil(self.dp))
    }

    /// The kernel timer.
    pub fn timer(&self) -> &KernelTimer {
        &self.timer
    }

    /// The same predictor timing its kernels with `timer`.
    pub(crate) fn with_timer(&self, timer: KernelTimer) -> Self {
        IterationPredictor {
            timer,
            ..self.clone()
        }
    }

    /// A GEMM as it runs inside a serving step: the isolated kernel's time less the per-call
    /// overhead of its dtype's path that the engine fuses away (never below half the kernel).
    fn gemm(&self, m: u64, n: u64, k: u64, dtype: Dtype) -> f64 {
        let ms = self
            .timer
            .time_ms(&KernelOp::Gemm(GemmShape { dtype, m, n, k }));
        if dtype == self.wdtype && self.gemm_call_overhead_ms > 0.0 {
            (ms - self.gemm_call_overhead_ms).max(0.5 * ms)
        } else {
            ms
        }
    }

    fn attn(&self, batch: u32, len: u32) -> AttnShape {
        AttnShape {
            batch,
            len,
            num_heads: self.heads_pg,
            num_kv_heads: self.kv_heads_pg,
            head_dim: self.head_dim,
            window: 0,
            attn_dtype: Dtype::Bf16,
            kv_dtype: self.kv_dtype,
        }
    }

    /// Milliseconds per [`OpKind`] (in [`OpKind::ALL`] order), all layers included.
    fn times(&self, b: &BatchShape<'_>) -> [f64; N] {
        let mut t = [0.0; N];
        let mut prefill_tokens: u64 = 0;
        let mut pairs = 0.0f64;
        for c in b.prefill {
            prefill_tokens += u64::from(c.tokens);
            let (ctx, tok) = (f64::from(c.context), f64::from(c.tokens));
            pairs += (ctx + tok) * (ctx + tok) - ctx * ctx;
        }
        let tokens = prefill_tokens + u64::from(b.decode_seqs);
        if tokens == 0 {
            return t;
        }
        let all_chunks = b.prefill.iter().filter(|c| c.tokens > 0).count() as u32;
        // Attention DP: the fullest rank's share runs every rank-local term; the experts
        // see every rank's tokens.
        let (chunks, rank_prefill, decode_seqs) =
            self.rank_share(all_chunks, prefill_tokens, b.decode_seqs);
        let local = rank_prefill + u64::from(decode_seqs);
        let phase = if all_chunks > 0 {
            Phase::Prefill
        } else {
            Phase::Decode
        };
        self.token_terms(local, tokens, phase, all_chunks == 0 && !b.eager, &mut t);
        if chunks > 0 {
            // One batched causal call with the same query × key pairs as the chunks.
            let len = (pairs / f64::from(all_chunks)).sqrt().round().max(1.0) as u32;
            t[4] = self.context_attention_ms(chunks, len)
                + self.linear_context_ms(chunks, new_tokens_per_chunk(rank_prefill, chunks));
        }
        if decode_seqs > 0 {
            let kv = b
                .decode_kv_tokens
                .div_ceil(u64::from(b.decode_seqs))
                .clamp(1, u64::from(u32::MAX)) as u32;
            t[5] = self.generation_attention_ms(decode_seqs, kv);
        }
        t[9] = self.head_ms(u64::from(chunks) + u64::from(decode_seqs));
        t[10] = self.backend.iteration_overhead_ms();
        let sum: f64 = t.iter().sum();
        t[10] += self.launch_bound_ms(sum, chunks > 0 || b.eager) - sum;
        t
    }

    /// The terms that depend only on the batch's token count (GEMMs, all-reduce,
    /// element-wise), written into their [`OpKind`] slots: `tokens` on the fullest
    /// attention-DP rank (all of them without attention DP), `moe_tokens` through the routed
    /// experts (every rank's); `phase` picks the all-to-all kernel where there is one;
    /// `graphed`: a decode step replayed as a CUDA graph.
    fn token_terms(
        &self,
        tokens: u64,
        moe_tokens: u64,
        phase: Phase,
        graphed: bool,
        t: &mut [f64; N],
    ) {
        let l = self.layers;
        let w = self.wdtype;
        if self.mla.is_none() {
            let (linear_in, linear_out) = self.linear_projections_ms(tokens);
            let a = self.attn_layers;
            t[0] = a * self.gemm(tokens, self.n_qkv, self.hidden, w) + linear_in;
            t[1] = a * self.gemm(tokens, self.hidden, self.k_out, w) + linear_out;
        }
        if let Some(m) = &self.moe {
            self.moe_terms(m, tokens, moe_tokens, phase, graphed, t);
        } else {
            t[2] = l * self.gemm(tokens, self.n_gate_up, self.hidden, w);
            t[3] = l * self.gemm(tokens, self.hidden, self.k_down, w);
        }
        if self.tp > 1 {
            let op = KernelOp::CustomAllReduce {
                dtype: Dtype::Bf16,
                num_gpus: self.tp,
                elems: tokens * self.hidden,
                implementation: self.backend.allreduce_impl(),
            };
            t[6] = 2.0 * l * self.collective_ms(&op);
        }
        if self.dp > 1
            && let Some(m) = &self.moe
        {
            t[6] += m.layers
                * match &self.a2a {
                    // Each EP rank sends its share of its attention replica's tokens.
                    Some(a) => a.ms(tokens.div_ceil(u64::from(self.tp)), phase, |op| {
                        self.timer.time_ms(op)
                    }),
                    None => self.dispatch_combine_ms(moe_tokens),
                };
        }
        let per_kernel = tokens * self.eltwise_bytes_per_token / 5;
        t[7] = 5.0
            * l
            * self.timer.time_ms(&KernelOp::ElementWise {
                bytes: per_kernel.max(1),
            });
        t[8] = self.timer.time_ms(&KernelOp::ElementWise {
            bytes: (tokens * self.hidden * 2 * 2).max(1),
        }) * 2.0;
    }

    /// Sum of the token-count terms of a batch of `tokens` tokens, in ms; `graphed`: a decode
    /// step replayed as a CUDA graph.
    pub fn token_terms_ms(&self, tokens: u64, graphed: bool) -> f64 {
        let mut t = [0.0; N];
        // Without attention DP nothing is dispatched, so the phase does not matter.
        self.token_terms(tokens, tokens, Phase::Decode, graphed, &mut t);
        t.iter().sum()
    }

    /// As [`IterationPredictor::token_terms_ms`] under attention DP: `local` tokens on the
    /// fullest rank, `total` through the experts and their dispatch and combine (by the
    /// all-to-all kernel of a `phase` step, where there is one).
    pub fn token_terms_dp_ms(&self, local: u64, total: u64, phase: Phase, graphed: bool) -> f64 {
        let mut t = [0.0; N];
        self.token_terms(local, total, phase, graphed, &mut t);
        t.iter().sum()
    }

    /// LM head (and its gather across TP) for `seqs` sequences, in ms.
    pub fn head_ms(&self, seqs: u64) -> f64 {
        let seqs = seqs.max(1);
        let mut ms = self.gemm(seqs, self.vocab_pg, self.hidden, Dtype::Bf16);
        if self.tp > 1 {
            let op = KernelOp::Nccl {
                op: NcclOp::AllGather,
                dtype: Dtype::Bf16,
                num_gpus: self.tp,
                elems: seqs * self.vocab_pg * u64::from(self.tp),
            };
            ms += self.collective_ms(&op);
        }
        ms
    }

    /// A collective over the worker's GPUs, in ms: from the tables where the GPUs share one
    /// NVLink domain; over several, NCCL's collective within each and its cost between them
    /// ([`AcrossDomains`]).
    fn collective_ms(&self, op: &KernelOp) -> f64 {
        match AcrossDomains::split(op, self.domain_gpus) {
            None => self.timer.time_ms(op),
            Some((within, across)) => self.timer.time_ms(&within) + across.ms(self.nic_bytes_per_s),
        }
    }

    /// The framework's per-iteration overhead, in ms.
    pub fn overhead_ms(&self) -> f64 {
        self.backend.iteration_overhead_ms()
    }

    /// Least time of an iteration that runs prefill, in ms: the host time to launch every
    /// layer eagerly ([`Backend::eager_layer_launch_ms`]; zero where such steps are graphed).
    pub fn eager_floor_ms(&self) -> f64 {
        self.eager_floor_ms
    }

    /// An iteration of `ms` on the GPU, as long as the host's launches make it when it runs
    /// `eager` (with prefill, or a decode batch of no captured size); unchanged when it
    /// replays a CUDA graph.
    pub fn launch_bound_ms(&self, ms: f64, eager: bool) -> f64 {
        if eager {
            ms.max(self.eager_floor_ms)
        } else {
            ms
        }
    }

    /// Time of one iteration running `batch` (zero for an empty batch). Allocation-free.
    pub fn predict(&self, batch: &BatchShape<'_>) -> SimDuration {
        let ms: f64 = self.times(batch).iter().sum();
        if ms <= 0.0 {
            return SimDuration::ZERO;
        }
        SimDuration::from_secs_f64_round(ms / 1e3).unwrap_or(SimDuration::MAX)
    }

    /// Time of one iteration in ms, as a float.
    pub fn predict_ms(&self, batch: &BatchShape<'_>) -> f64 {
        self.times(batch).iter().sum()
    }

    /// Milliseconds per operation kind (all layers), in [`OpKind::ALL`] order.
    pub fn breakdown(&self, batch: &BatchShape<'_>) -> Vec<(OpKind, f64)> {
        OpKind::ALL.into_iter().zip(self.times(batch)).collect()
    }
}

#[cfg(test)]
mod tests;
