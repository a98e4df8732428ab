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
mod tests {
    use super::attention_terms::{chunked_pairs, windowed_pairs};
    use super::*;
    use crate::hardware::GpuCatalog;
    use crate::perf::RooflineTimer;
    use crate::perf::ops::MoeKernel;

    fn predictor(gpu: &str, timer: Option<KernelTimer>) -> IterationPredictor {
        let cat = GpuCatalog::builtin();
        let sku = cat.get(gpu).unwrap();
        let llm = LlmSpec::lookup("Qwen/Qwen3-32B-FP8")
            .unwrap()
            .with_dtypes(Dtype::Fp8, Dtype::Fp8);
        let timer =
            timer.unwrap_or_else(|| KernelTimer::shipped(&cat, gpu, Backend::Vllm).unwrap());
        IterationPredictor::new(&llm, 2, sku, Backend::Vllm, timer).unwrap()
    }

    #[test]
    fn fp8_decode_runs_near_the_memory_bound_without_per_call_quantisation() {
        // Llama-3.1-70B FP8 on one H200, 4 sequences: ~70 GB of weights per step, 14.6 ms at
        // the 4.8 TB/s datasheet bandwidth; measured TRT-LLM TPOT is ~20 ms at concurrency 4.
        // The isolated FP8 tables carry ~9 µs of activation quantisation per call (320 GEMMs
        // a step), which the engine fuses away.
        let cat = GpuCatalog::builtin();
        let sku = cat.get("h200_sxm").unwrap();
        let llm = LlmSpec::lookup("meta-llama/Llama-3.1-70B-FP8")
            .unwrap()
            .with_dtypes(Dtype::Fp8, Dtype::Fp8);
        let timer = KernelTimer::shipped(&cat, "h200_sxm", Backend::Trtllm).unwrap();
        let p = IterationPredictor::new(&llm, 1, sku, Backend::Trtllm, timer).unwrap();
        let ms = p.predict_ms(&BatchShape {
            prefill: &[],
            decode_seqs: 4,
            decode_kv_tokens: 4 * 2048,
            eager: false,
        });
        assert!((16.0..22.5).contains(&ms), "{ms}");
    }

    #[test]
    fn prefill_steps_are_launch_bound_only_where_the_gpu_part_is_shorter() {
        // Llama-3.1-8B on H100 with TensorRT-LLM: a step with a 1,024-token context is
        // GPU-bound at TP1 and bound by the eager launch of 32 layers at TP8.
        let cat = GpuCatalog::builtin();
        let sku = cat.get("h100_sxm").unwrap();
        let llm = LlmSpec::lookup("meta-llama/Llama-3.1-8B-Instruct").unwrap();
        let timer = KernelTimer::shipped(&cat, "h100_sxm", Backend::Trtllm).unwrap();
        let at = |tp: u32, backend: Backend| {
            IterationPredictor::new(&llm, tp, sku, backend, timer.clone()).unwrap()
        };
        let chunk = [PrefillChunk {
            tokens: 1024,
            context: 0,
        }];
        let mixed = BatchShape {
            prefill: &chunk,
            decode_seqs: 32,
            decode_kv_tokens: 32 * 1100,
            eager: false,
        };
        let decode = BatchShape {
            prefill: &[],
            ..mixed
        };
        let floor = 32.0 * Backend::Trtllm.eager_layer_launch_ms();
        let (tp1, tp8) = (at(1, Backend::Trtllm), at(8, Backend::Trtllm));
        assert_eq!(tp8.eager_floor_ms(), floor);
        assert!((tp8.predict_ms(&mixed) - floor).abs() < 1e-9 * floor);
        assert!(tp8.predict_ms(&decode) < 0.5 * floor);
        assert!(tp1.predict_ms(&mixed) > floor);
        // The floor is booked as framework overhead, so the breakdown still sums up.
        let parts: f64 = tp8.breakdown(&mixed).iter().map(|(_, ms)| ms).sum();
        assert!((parts - floor).abs() < 1e-9);
        // vLLM graphs mixed batches piecewise: no floor.
        let vllm = at(8, Backend::Vllm);
        assert_eq!(vllm.eager_floor_ms(), 0.0);
        assert!(vllm.predict_ms(&mixed) < floor);
    }

    #[test]
    fn decode_and_prefill_times_are_plausible_and_monotone() {
        let p = predictor("h200_sxm", None);
        let d = |n: u32, kv: u64| {
            p.predict_ms(&BatchShape {
                prefill: &[],
                decode_seqs: n,
                decode_kv_tokens: n as u64 * kv,
                eager: false,
            })
        };
        // A TP2 FP8 32B decode step reads ~16 GB per GPU: ~4-20 ms.
        let one = d(1, 1000);
        assert!(one > 3.0 && one < 20.0, "{one}");
        assert!(d(64, 4000) > d(8, 4000));
        assert!(d(64, 8000) > d(64, 1000));
        let pf = |t: u32, c: u32| {
            p.predict_ms(&BatchShape {
                prefill: &[PrefillChunk {
                    tokens: t,
                    context: c,
                }],
                decode_seqs: 0,
                decode_kv_tokens: 0,
                eager: false,
            })
        };
        let p4k = pf(4000, 0);
        assert!(p4k > 50.0 && p4k < 1000.0, "{p4k}");
        assert!(pf(2000, 2000) > pf(2000, 0));
        assert_eq!(
            p.predict(&BatchShape {
                prefill: &[],
                decode_seqs: 0,
                decode_kv_tokens: 0,
                eager: false,
            }),
            SimDuration::ZERO
        );
        let bd = p.breakdown(&BatchShape {
            prefill: &[PrefillChunk {
                tokens: 512,
                context: 0,
            }],
            decode_seqs: 3,
            decode_kv_tokens: 300,
            eager: false,
        });
        assert_eq!(bd.len(), OpKind::ALL.len());
        assert!(bd.iter().all(|(_, ms)| *ms >= 0.0));
    }

    #[test]
    fn b200_is_predictable_and_faster_than_h200() {
        let b = predictor("b200_sxm", None);
        let h = predictor("h200_sxm", None);
        let batch = BatchShape {
            prefill: &[PrefillChunk {
                tokens: 2048,
                context: 0,
            }],
            decode_seqs: 32,
            decode_kv_tokens: 32 * 2000,
            eager: false,
        };
        assert!(b.predict_ms(&batch) < h.predict_ms(&batch));
        let cat = GpuCatalog::builtin();
        let roof = predictor(
            "b200_sxm",
            Some(KernelTimer::Roofline(RooflineTimer::new(
                cat.get("b200_sxm").unwrap().clone(),
            ))),
        );
        assert!(roof.predict_ms(&batch) > 0.0);
    }

    fn moe_predictor(
        id: &str,
        gpu: &str,
        backend: Backend,
        tp: u32,
        ep: u32,
    ) -> IterationPredictor {
        let cat = GpuCatalog::builtin();
        let llm = LlmSpec::lookup(id).unwrap();
        let par = Parallelism {
            tp,
            attention_dp: 1,
            moe_tp: tp / ep,
            moe_ep: ep,
        };
        let timer = KernelTimer::shipped(&cat, gpu, backend).unwrap();
        IterationPredictor::with_parallelism(&llm, &par, cat.get(gpu).unwrap(), backend, timer)
            .unwrap()
    }

    #[test]
    fn moe_steps_are_timed_and_grow_with_the_batch() {
        let decode = |p: &IterationPredictor, n: u32| {
            p.predict_ms(&BatchShape {
                prefill: &[],
                decode_seqs: n,
                decode_kv_tokens: u64::from(n) * 2000,
                eager: false,
            })
        };
        for p in [
            moe_predictor(
                "Qwen/Qwen3-235B-A22B-FP8",
                "h100_sxm",
                Backend::Trtllm,
                4,
                4,
            ),
            moe_predictor(
                "Qwen/Qwen3-235B-A22B-FP8",
                "h100_sxm",
                Backend::Trtllm,
                8,
                8,
            ),
            moe_predictor("openai/gpt-oss-120b", "h200_sxm", Backend::Vllm, 2, 1),
            moe_predictor("openai/gpt-oss-120b", "h200_sxm", Backend::Trtllm, 4, 2),
        ] {
            let t: Vec<f64> = [1, 4, 16, 64, 256].iter().map(|&n| decode(&p, n)).collect();
            assert!(t.windows(2).all(|w| w[0] < w[1]), "{t:?}");
            // A step of one sequence reads every layer's attention and top-k experts: a few ms.
            assert!((2.0..40.0).contains(&t[0]), "{t:?}");
            let bd = p.breakdown(&BatchShape {
                prefill: &[PrefillChunk {
                    tokens: 1000,
                    context: 0,
                }],
                decode_seqs: 8,
                decode_kv_tokens: 8000,
                eager: false,
            });
            let moe = bd.iter().find(|(k, _)| *k == OpKind::MoeExperts).unwrap().1;
            assert!(moe > 0.0);
        }
        // Dense models book nothing as experts.
        let dense = predictor("h200_sxm", None);
        let bd = dense.breakdown(&BatchShape {
            prefill: &[],
            decode_seqs: 8,
            decode_kv_tokens: 8000,
            eager: false,
        });
        assert_eq!(bd.last().unwrap(), &(OpKind::MoeExperts, 0.0));
    }

    #[test]
    fn sliding_window_layers_attend_to_at_most_their_window() {
        assert_eq!(windowed_pairs(100.0, 128.0), 5050.0);
        assert_eq!(
            windowed_pairs(200.0, 128.0),
            128.0 * 129.0 / 2.0 + 72.0 * 128.0
        );
        // gpt-oss: 18 of 36 layers with a 128-token window. Past the window, decode attention
        // grows only with the full-attention layers.
        let p = moe_predictor("openai/gpt-oss-120b", "h200_sxm", Backend::Vllm, 1, 1);
        let full_only = |kv| {
            p.timer()
                .time_ms(&KernelOp::GenerationAttention(p.attn(32, kv)))
        };
        let got = p.generation_attention_ms(32, 8192);
        let want = 18.0 * full_only(8192) + 18.0 * full_only(128);
        assert!((got - want).abs() < 1e-9 * want, "{got} {want}");
        assert!(got < 36.0 * full_only(8192));
    }

    #[test]
    fn a_worker_across_two_nodes_all_reduces_through_nccl_and_the_nics() {
        let cat = GpuCatalog::builtin();
        let gpu = cat.get("h200_sxm").unwrap();
        let llm = LlmSpec::lookup("Qwen/Qwen3-32B").unwrap();
        let timer = KernelTimer::shipped(&cat, "h200_sxm", Backend::Vllm).unwrap();
        let at = |tp| {
            let p = IterationPredictor::new(&llm, tp, gpu, Backend::Vllm, timer.clone()).unwrap();
            let b = BatchShape {
                prefill: &[],
                decode_seqs: 8,
                decode_kv_tokens: 8 * 2000,
                eager: false,
            };
            let bd = p.breakdown(&b);
            let get = |k| bd.iter().find(|(o, _)| *o == k).unwrap().1;
            (p.domains(), get(OpKind::AllReduce), get(OpKind::GateUpGemm))
        };
        let (one, ar8, gemm8) = at(8);
        let (two, ar16, gemm16) = at(16);
        assert_eq!((one, two), (1, 2));
        // Across the nodes the engine's own all-reduce gives way to NCCL's over each node,
        // plus NCCL's tree between them.
        let elems = 8 * u64::from(llm.hidden_size);
        let nccl = timer.time_ms(&KernelOp::Nccl {
            op: NcclOp::AllReduce,
            dtype: Dtype::Bf16,
            num_gpus: 8,
            elems,
        });
        let (_, across) = AcrossDomains::split(
            &KernelOp::Nccl {
                op: NcclOp::AllReduce,
                dtype: Dtype::Bf16,
                num_gpus: 16,
                elems,
            },
            8,
        )
        .unwrap();
        let want =
            2.0 * f64::from(llm.num_layers) * (nccl + across.ms(gpu.nic_bytes_per_s_per_direction));
        assert!((ar16 - want).abs() < 1e-9 * want, "{ar16} {want}");
        assert!(ar16 > 2.0 * ar8, "{ar16} {ar8}");
        assert!(gemm16 < gemm8, "{gemm16} {gemm8}");
    }

    #[test]
    fn what_is_not_modelled_is_refused() {
        let cat = GpuCatalog::builtin();
        let gpu = cat.get("h200_sxm").unwrap();
        let timer = KernelTimer::shipped(&cat, "h200_sxm", Backend::Trtllm).unwrap();
        // A worker fits one NVLink domain (one node on an H200 board) or spans whole ones.
        let r1 = LlmSpec::lookup("DeepSeek-R1").unwrap();
        let wide = Parallelism {
            tp: 1,
            attention_dp: 12,
            moe_tp: 1,
            moe_ep: 12,
        };
        let e =
            IterationPredictor::with_parallelism(&r1, &wide, gpu, Backend::Trtllm, timer.clone())
                .unwrap_err()
                .to_string();
        assert!(e.contains("must fit one NVLink domain"), "{e}");
        // MoE TP × EP must fill the worker.
        let q = LlmSpec::lookup("Qwen/Qwen3-235B-A22B-FP8").unwrap();
        let bad = Parallelism {
            tp: 8,
            attention_dp: 1,
            moe_tp: 2,
            moe_ep: 2,
        };
        let e = IterationPredictor::with_parallelism(&q, &bad, gpu, Backend::Trtllm, timer)
            .unwrap_err()
            .to_string();
        assert!(e.contains("MoE TP"), "{e}");
    }

    #[test]
    fn nvfp4_runs_only_with_fp4_tensor_cores() {
        let cat = GpuCatalog::builtin();
        let llm = LlmSpec::lookup("deepseek-ai/DeepSeek-V3")
            .unwrap()
            .with_dtypes(Dtype::Nvfp4, Dtype::Bf16);
        let on = |gpu: &str| {
            let timer = KernelTimer::Roofline(RooflineTimer::new(cat.get(gpu).unwrap().clone()));
            IterationPredictor::with_parallelism(
                &llm,
                &TP8_EP8,
                cat.get(gpu).unwrap(),
                Backend::Trtllm,
                timer,
            )
        };
        let e = on("h200_sxm").unwrap_err().to_string();
        assert!(
            e.contains("weight dtype") && e.contains("FP4 tensor cores"),
            "{e}"
        );
        let p = on("b200_sxm").unwrap();
        let step = p.predict_ms(&decode(64, 2048));
        assert!(step > 0.0 && step.is_finite(), "{step}");
    }

    #[test]
    fn trtllm_runs_small_nvfp4_moe_steps_on_its_min_latency_kernel() {
        let cat = GpuCatalog::builtin();
        let llm = LlmSpec::lookup("deepseek-ai/DeepSeek-V3")
            .unwrap()
            .with_dtypes(Dtype::Nvfp4, Dtype::Nvfp4);
        let tp4 = Parallelism {
            tp: 4,
            attention_dp: 1,
            moe_tp: 4,
            moe_ep: 1,
        };
        let experts = |backend: Backend, n: u32| {
            let timer = KernelTimer::shipped(&cat, "b200_sxm", backend).unwrap();
            let gpu = cat.get("b200_sxm").unwrap();
            let p = IterationPredictor::with_parallelism(&llm, &tp4, gpu, backend, timer).unwrap();
            let bd = p.breakdown(&decode(n, 1024));
            bd.iter().find(|(k, _)| *k == OpKind::MoeExperts).unwrap().1
        };
        // Past 128 tokens TensorRT-LLM's CUTLASS kernel takes over: the measured tables time
        // it at about four times the min-latency kernel for these shapes.
        let (small, large) = (experts(Backend::Trtllm, 128), experts(Backend::Trtllm, 129));
        assert!(large > 2.0 * small, "{small} {large}");
        // vLLM has no such kernel: its time grows smoothly with the batch.
        let (small, large) = (experts(Backend::Vllm, 128), experts(Backend::Vllm, 129));
        assert!(large < 1.1 * small, "{small} {large}");
    }

    fn deepseek(par: Parallelism, backend: Backend) -> IterationPredictor {
        let cat = GpuCatalog::builtin();
        let llm = LlmSpec::lookup("deepseek-ai/DeepSeek-V3-FP8")
            .unwrap()
            .with_dtypes(Dtype::Fp8Block, Dtype::Fp8);
        let timer = KernelTimer::shipped(&cat, "h200_sxm", backend).unwrap();
        IterationPredictor::with_parallelism(
            &llm,
            &par,
            cat.get("h200_sxm").unwrap(),
            backend,
            timer,
        )
        .unwrap()
    }

    const TP8_EP8: Parallelism = Parallelism {
        tp: 8,
        attention_dp: 1,
        moe_tp: 1,
        moe_ep: 8,
    };
    const DEP8: Parallelism = Parallelism {
        tp: 1,
        attention_dp: 8,
        moe_tp: 1,
        moe_ep: 8,
    };

    /// A prefill-only step of `chunk`.
    fn prefill(chunk: &[PrefillChunk]) -> BatchShape<'_> {
        BatchShape {
            prefill: chunk,
            decode_seqs: 0,
            decode_kv_tokens: 0,
            eager: false,
        }
    }

    fn decode(n: u32, kv: u64) -> BatchShape<'static> {
        BatchShape {
            prefill: &[],
            decode_seqs: n,
            decode_kv_tokens: u64::from(n) * kv,
            eager: false,
        }
    }

    #[test]
    fn mla_attention_is_timed_from_the_module_tables() {
        let p = deepseek(TP8_EP8, Backend::Trtllm);
        let bd = p.breakdown(&decode(64, 4096));
        let get = |k| bd.iter().find(|(o, _)| *o == k).unwrap().1;
        // The MLA block holds the projections: no separate QKV or output GEMMs.
        assert_eq!(get(OpKind::QkvGemm), 0.0);
        assert_eq!(get(OpKind::OutProjGemm), 0.0);
        assert!(get(OpKind::GenerationAttention) > 0.0);
        // 61 layers of 16 heads per GPU; decode grows with the cached length and the batch.
        assert!(p.generation_attention_ms(64, 8192) > p.generation_attention_ms(64, 1024));
        assert!(p.generation_attention_ms(128, 4096) > p.generation_attention_ms(16, 4096));
        let step = p.predict_ms(&decode(64, 4096));
        assert!((5.0..200.0).contains(&step), "{step}");
        let chunk = [PrefillChunk {
            tokens: 4096,
            context: 0,
        }];
        let pf = p.predict_ms(&BatchShape {
            prefill: &chunk,
            decode_seqs: 0,
            decode_kv_tokens: 0,
            eager: false,
        });
        assert!(pf > step, "{pf} {step}");
    }

    #[test]
    fn sglang_times_an_mla_block_by_its_own_kernels() {
        // SGLang ships no MLA module tables: its block is its projection GEMMs plus its own
        // attention and absorbed-GEMM kernels. H200, 16 heads a GPU, 4 sequences of 1,024
        // cached FP8 tokens: FlashAttention MLA 28 µs and two FP8 batched GEMMs of 8 µs each
        // (measured rows) and the projections, against vLLM's measured module at 113-119 µs.
        let sgl = deepseek(TP8_EP8, Backend::Sglang);
        let vllm = deepseek(TP8_EP8, Backend::Vllm);
        let per_layer = |p: &IterationPredictor| p.generation_attention_ms(4, 1024) / 61.0;
        let (s, v) = (per_layer(&sgl), per_layer(&vllm));
        assert!((0.045..0.085).contains(&s), "{s}");
        assert!(v > 1.3 * s, "{v} {s}");
        // The attention kernel reads every cached latent; the projections are booked with
        // the block, as for the module tables.
        assert!(sgl.generation_attention_ms(4, 16_384) > sgl.generation_attention_ms(4, 1024));
        let bd = sgl.breakdown(&decode(4, 1024));
        assert_eq!(
            bd.iter().find(|(o, _)| *o == OpKind::QkvGemm).unwrap().1,
            0.0
        );
        // Over prompts the KV up-projection runs on every token: a 4,096-token prompt costs
        // more than four 1,024-token ones' projections and less than their square.
        let one = sgl.context_attention_ms(1, 1024);
        let long = sgl.context_attention_ms(1, 4096);
        assert!(long > 4.0 * one * 0.9 && long < 16.0 * one, "{one} {long}");
    }

    #[test]
    fn graphed_decode_steps_hide_the_shared_experts_behind_the_routed_ones() {
        // TensorRT-LLM and SGLang run DeepSeek's shared experts on a second stream inside the
        // decode graph; an eager step (prefill, or a batch without a graph) and vLLM run them
        // in turn.
        let shared = |p: &IterationPredictor, eager: bool| {
            let bd = p.breakdown(&BatchShape {
                eager,
                ..decode(4, 1024)
            });
            let get = |k| bd.iter().find(|(o, _)| *o == k).unwrap().1;
            get(OpKind::GateUpGemm) + get(OpKind::DownGemm)
        };
        for backend in [Backend::Trtllm, Backend::Sglang] {
            let p = deepseek(TP8_EP8, backend);
            let (graphed, eager) = (shared(&p, false), shared(&p, true));
            // What remains is the three leading dense layers' MLPs.
            assert!(graphed < 0.5 * eager, "{backend:?}: {graphed} {eager}");
            assert!(graphed > 0.0);
            let step = |eager| {
                p.predict_ms(&BatchShape {
                    eager,
                    ..decode(4, 1024)
                })
            };
            assert!(step(false) < step(true));
        }
        let v = deepseek(TP8_EP8, Backend::Vllm);
        assert_eq!(shared(&v, false), shared(&v, true));
    }

    #[test]
    fn an_attention_dp_step_is_its_fullest_rank_plus_the_shared_experts() {
        let dep = deepseek(DEP8, Backend::Trtllm);
        // The fullest rank's share: ceil over the ranks.
        assert_eq!(dep.rank_share(0, 0, 64), (0, 0, 8));
        assert_eq!(dep.rank_share(0, 0, 65), (0, 0, 9));
        assert_eq!(dep.rank_share(1, 4096, 7), (1, 4096, 1));
        assert_eq!(dep.rank_share(10, 10_000, 0), (2, 2000, 0));
        let bd = dep.breakdown(&decode(64, 4096));
        let get = |k| bd.iter().find(|(o, _)| *o == k).unwrap().1;
        // Attention of 8 sequences on the fullest rank, all 128 heads.
        let rank_attn = dep.generation_attention_ms(8, 4096);
        assert!((get(OpKind::GenerationAttention) - rank_attn).abs() < 1e-12);
        // The experts see all 64 tokens; dispatch and combine run over the 8 GPUs.
        assert!(get(OpKind::AllReduce) > 0.0);
        // One more sequence on one rank costs a rank's attention step more; a balanced
        // batch of 8 × 9 does not cost more than 65.
        let t64 = dep.predict_ms(&decode(64, 4096));
        let t65 = dep.predict_ms(&decode(65, 4096));
        let t72 = dep.predict_ms(&decode(72, 4096));
        assert!(
            t65 > t64 && (t72 - t65).abs() < 0.05 * t65,
            "{t64} {t65} {t72}"
        );
        // At the same batch, attention DP reads each rank's share of the KV only once per
        // rank, where TP 8 reads every sequence's latent on every GPU: long contexts favour DP.
        let tp = deepseek(TP8_EP8, Backend::Trtllm);
        let long = decode(256, 16384);
        assert!(dep.predict_ms(&long) < tp.predict_ms(&long));
        // The cached predictor agrees with the exact one under attention DP.
        let cached = super::super::CachedPredictor::new(dep.clone());
        for b in [decode(64, 4096), decode(65, 3000), long] {
            let (a, c) = (dep.predict_ms(&b), cached.predict_ms(&b));
            assert!((a - c).abs() < 2e-3 * a, "{a} {c}");
        }
        let chunk = [PrefillChunk {
            tokens: 3000,
            context: 0,
        }];
        let mixed = BatchShape {
            prefill: &chunk,
            decode_seqs: 40,
            decode_kv_tokens: 40 * 2000,
            eager: false,
        };
        let (a, c) = (dep.predict_ms(&mixed), cached.predict_ms(&mixed));
        assert!((a - c).abs() < 2e-3 * a, "{a} {c}");
    }

    #[test]
    fn deepep_moves_tokens_by_all_to_all_only_where_the_engine_does() {
        // TensorRT-LLM in one HGX node: EP 8 is not above DeepSeek-V3's top-k 8 and H200 has
        // no multi-node NVLink fabric, so all-gather and reduce-scatter stay.
        let trt = deepseek(DEP8, Backend::Trtllm);
        assert!(!trt.all_to_all());
        assert!(trt.clone().with_deepep().is_err());
        // SGLang: the same until DeepEP is asked for.
        let gather = deepseek(DEP8, Backend::Sglang);
        assert!(!gather.all_to_all());
        let e = deepseek(TP8_EP8, Backend::Sglang)
            .with_deepep()
            .unwrap_err();
        assert!(e.to_string().contains("attention DP"), "{e}");
        let ep = gather.clone().with_deepep().unwrap();
        assert!(ep.all_to_all());
        let slot = |p: &IterationPredictor, b: &BatchShape<'_>| {
            let bd = p.breakdown(b);
            bd.iter().find(|(o, _)| *o == OpKind::AllReduce).unwrap().1
        };
        // A decode step of 64 sequences: 8 a rank, DeepEP's low-latency kernels, measured
        // on H200 for DeepSeek-V3's shape at 8 tokens: 12.317 + 15.031 µs, in 58 MoE layers.
        let d = decode(64, 4096);
        let want = 58.0 * (0.012317 + 0.015031);
        assert!(
            (slot(&ep, &d) - want).abs() < 1e-9,
            "{} {want}",
            slot(&ep, &d)
        );
        assert!(slot(&gather, &d) > 0.0);
        // A prefill step runs the normal kernels: 4096 tokens on one rank of eight.
        let chunk = [PrefillChunk {
            tokens: 4096,
            context: 0,
        }];
        let pf = prefill(&chunk);
        let timer = ep.timer();
        let normal = crate::perf::dispatch::AllToAll::new(
            Backend::Sglang,
            Dtype::Fp8Block,
            7168,
            8,
            256,
            8,
            1,
        )
        .unwrap()
        .ms(4096, Phase::Prefill, |op| timer.time_ms(op));
        assert!((slot(&ep, &pf) - 58.0 * normal).abs() < 1e-9);
        assert!(normal > 0.012317 + 0.015031);
        // The cached predictor agrees.
        let cached = super::super::CachedPredictor::new(ep.clone());
        for b in [d, pf] {
            let (a, c) = (ep.predict_ms(&b), cached.predict_ms(&b));
            assert!((a - c).abs() < 2e-3 * a, "{a} {c}");
        }
    }

    #[test]
    fn sglang_runs_its_deepep_moe_kernels_under_deepep() {
        // SGLang's DeepEPMoE: DeepGEMM's masked grouped GEMM in decode steps, the contiguous
        // one in prefill steps, from their own tables; vLLM's DeepEP path keeps its kernel.
        let moe = |p: &IterationPredictor, b: &BatchShape<'_>| {
            let bd = p.breakdown(b);
            bd.iter().find(|(o, _)| *o == OpKind::MoeExperts).unwrap().1
        };
        let d = decode(64, 4096);
        let chunk = [PrefillChunk {
            tokens: 4096,
            context: 0,
        }];
        let pf = prefill(&chunk);
        let sgl = deepseek(DEP8, Backend::Sglang);
        let ep = sgl.clone().with_deepep().unwrap();
        let timer = ep.timer();
        let m = ep.moe.unwrap();
        assert_eq!(m.experts(64, false).kernel, MoeKernel::DeepepLowLatency);
        assert_eq!(m.experts(4096, true).kernel, MoeKernel::DeepepNormal);
        assert!(timer.measures_moe(&m.experts(64, false)));
        assert_ne!(moe(&ep, &d), moe(&sgl, &d));
        assert_ne!(moe(&ep, &pf), moe(&sgl, &pf));
        let router_and = |shape| {
            58.0 * (timer.time_ms(&KernelOp::Gemm(GemmShape {
                dtype: Dtype::Bf16,
                m: 8,
                n: 256,
                k: 7168,
            })) + timer.time_ms(&KernelOp::Moe(shape)))
        };
        // Eight tokens a rank in decode, the experts over all 64.
        assert!((moe(&ep, &d) - router_and(m.experts(64, false))).abs() < 1e-9);
        let vllm = deepseek(DEP8, Backend::Vllm);
        let vep = vllm.clone().with_deepep().unwrap();
        assert_eq!(moe(&vep, &d), moe(&vllm, &d));
        // The cached predictor agrees.
        let cached = super::super::CachedPredictor::new(ep.clone());
        for b in [d, pf] {
            let (a, c) = (ep.predict_ms(&b), cached.predict_ms(&b));
            assert!((a - c).abs() < 2e-3 * a, "{a} {c}");
        }
    }

    fn qwen35(gpu: &str, backend: Backend, tp: u32) -> Result<IterationPredictor> {
        let cat = GpuCatalog::builtin();
        let llm = LlmSpec::lookup("Qwen/Qwen3.5-27B").unwrap();
        let timer = KernelTimer::shipped(&cat, gpu, backend).unwrap();
        IterationPredictor::new(&llm, tp, cat.get(gpu).unwrap(), backend, timer)
    }

    #[test]
    fn gated_deltanet_layers_are_timed_by_their_new_tokens_and_sequences() {
        for backend in Backend::ALL {
            let p = qwen35("h200_sxm", backend, 2).unwrap();
            let decode = |seqs: u32, kv: u64| {
                p.predict_ms(&BatchShape {
                    prefill: &[],
                    decode_seqs: seqs,
                    decode_kv_tokens: u64::from(seqs) * kv,
                    eager: false,
                })
            };
            // The linear layers' decode kernels read a fixed state: the same at any length,
            // and the step grows with the length only through the 16 attention layers.
            let linear = p.linear_decode_ms(64);
            assert!(linear > 0.0 && linear < decode(64, 1000), "{backend:?}");
            let attn = |kv| p.generation_attention_ms(64, kv) - linear;
            let grew = decode(64, 16_000) - decode(64, 1000);
            assert!(
                (grew - (attn(16_000) - attn(1000))).abs() < 1e-6 * grew,
                "{backend:?}"
            );
            // A chunk after 8,000 tokens of context costs the linear layers what the same
            // chunk costs alone: their state holds the context.
            let chunk = |context| {
                p.breakdown(&BatchShape {
                    prefill: &[PrefillChunk {
                        tokens: 2000,
                        context,
                    }],
                    decode_seqs: 0,
                    decode_kv_tokens: 0,
                    eager: true,
                })
            };
            let ctx = |bd: &[(OpKind, f64)]| bd[4].1;
            let (alone, after) = (ctx(&chunk(0)), ctx(&chunk(8000)));
            let linear_ctx = p.linear_context_ms(1, 2000);
            assert!(linear_ctx > 0.0 && after > alone, "{backend:?}");
            // Attention's pairs: 10,000² − 8,000², a causal call of 6,000.
            let want = p.context_attention_ms(1, 6000) + linear_ctx;
            assert!(
                (after - want).abs() < 1e-9 * after,
                "{backend:?}: {after} {want}"
            );
        }
    }

    #[test]
    fn chunked_layers_attend_within_their_chunk() {
        // Two whole chunks of 4 and a part chunk of 2: 2 × 10 + 3 pairs.
        assert_eq!(chunked_pairs(10.0, 4.0), 23.0);
        assert_eq!(chunked_pairs(3.0, 4.0), 6.0);
        let cat = GpuCatalog::builtin();
        let llm = LlmSpec::lookup("Llama-4-Scout-17B-16E").unwrap();
        let backend = Backend::Vllm;
        let timer = KernelTimer::shipped(&cat, "h200_sxm", backend).unwrap();
        let p =
            IterationPredictor::new(&llm, 8, cat.get("h200_sxm").unwrap(), backend, timer).unwrap();
        let one = |kv| {
            p.timer()
                .time_ms(&KernelOp::GenerationAttention(p.attn(16, kv)))
        };
        // 12 global layers read everything; 36 chunked ones their current chunk, half of one
        // once past the first.
        let got = p.generation_attention_ms(16, 30_000);
        let want = 12.0 * one(30_000) + 36.0 * one(4096);
        assert!((got - want).abs() < 1e-9 * want, "{got} {want}");
        let got = p.generation_attention_ms(16, 5000);
        assert!((got - 48.0 * one(5000)).abs() < 1e-9 * got);
    }

    #[test]
    fn sparse_attention_reads_the_picked_tokens_and_scores_them_all() {
        let cat = GpuCatalog::builtin();
        for backend in Backend::ALL {
            let predictor = |model: &str| {
                let llm = LlmSpec::lookup(model).unwrap();
                let timer = KernelTimer::shipped(&cat, "h200_sxm", backend).unwrap();
                IterationPredictor::new(&llm, 8, cat.get("h200_sxm").unwrap(), backend, timer)
                    .unwrap()
            };
            let (dense, sparse) = (predictor("DeepSeek-V3"), predictor("DeepSeek-V3.2"));
            let decode = |p: &IterationPredictor, kv| p.generation_attention_ms(32, kv);
            // Past the top-k of 2,048 a decode step reads 2,048 latents whatever the length,
            // and the indexer's 132-byte keys of them all: at 32 k tokens well under half of
            // reading every latent, and growing far slower.
            assert!(
                decode(&sparse, 32_000) < 0.5 * decode(&dense, 32_000),
                "{backend:?}"
            );
            let growth = |p: &IterationPredictor| decode(p, 32_000) - decode(p, 8_000);
            assert!(growth(&sparse) < 0.25 * growth(&dense), "{backend:?}");
            // Prompts run the absorbed form over the picked tokens, and the indexer (replicated
            // on every GPU) scores every earlier token: dearer than dense attention at 2 k
            // tokens, the gap narrowing with the prompt as the dense pairs outgrow the picked.
            let ratio =
                |len| sparse.context_attention_ms(1, len) / dense.context_attention_ms(1, len);
            assert!(ratio(2_000) > 1.0, "{backend:?}");
            assert!(ratio(32_000) < ratio(2_000), "{backend:?}");
        }
    }

    #[test]
    fn nvfp4_experts_need_fp4_tensor_cores() {
        let cat = GpuCatalog::builtin();
        // MiniMax-M2.5 as nvidia/MiniMax-M2.5-NVFP4 publishes it: experts in NVFP4.
        let cfg = include_str!("../../../../data/models/minimax-m2.5.config.json");
        let start = cfg.find("\"quantization_config\"").unwrap();
        let end = start + cfg[start..].find("},").unwrap() + 1;
        let cfg = format!(
            "{}\"quantization_config\": {{\"quant_method\": \"modelopt\", \
             \"quant_algo\": \"NVFP4\", \"ignore\": [\"model.layers.0.self_attn*\"]}}{}",
            &cfg[..start],
            &cfg[end..]
        );
        let llm = LlmSpec::from_hf_config_str(&cfg, std::path::Path::new("c.json")).unwrap();
        assert_eq!(
            llm.moe().unwrap().expert_format,
            crate::llm::ExpertFormat::Nvfp4
        );
        let on = |gpu: &str| {
            let timer = KernelTimer::shipped(&cat, gpu, Backend::Trtllm).unwrap();
            IterationPredictor::new(&llm, 4, cat.get(gpu).unwrap(), Backend::Trtllm, timer)
        };
        let e = on("h200_sxm").unwrap_err().to_string();
        assert!(
            e.contains("expert weights") && e.contains("FP4 tensor cores"),
            "{e}"
        );
        assert!(on("b200_sxm").is_ok());
    }
}
