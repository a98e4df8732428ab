//! Sizes of any architecture the specs describe: parameters (all, and active per token),
//! weight bytes (all, and per GPU under a [`Parallelism`]) and KV-cache bytes (per token, per
//! sequence, per GPU).
//!
//! Parameters are those of the `transformers` modules: attention projections (with biases
//! when `attention_bias`, one sink logit per head for gpt-oss, the query projection doubled
//! for a gated output), or a Gated DeltaNet layer's projections, convolution and gated norm
//! ([`super::GdnDims::params`]), two RMSNorms per layer, a gated
//! MLP (gate, up, down: `3 × h × intermediate`) or the experts (each a gated MLP of the expert
//! size, with gpt-oss's biases), the router (`h × experts`, a bias for gpt-oss), shared
//! experts, the embedding, the LM head unless tied, the final norm. Small buffers are not
//! counted (DeepSeek's expert-score correction bias, Qwen3's per-head q/k norms: < 0.01 %).
//! Every weight is counted in the weight dtype, except experts stored as MXFP4; FP8
//! checkpoints keep their embedding, LM head, norms and router in bf16, which this rule
//! counts at one byte (DeepSeek-V3: 1.9 GB counted of their 3.8 GB, 0.3 % of the model).

use super::{Attention, ExpertFormat, Ffn, LlmSpec, Mixer, MlaDims, MoeSpec};
use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};
use crate::hardware::GpuSku;

/// How one worker's GPUs split a model, in TensorRT-LLM's and SGLang's terms: `tp ×
/// attention_dp` GPUs; attention, dense MLPs, shared experts, embedding and LM head split `tp`
/// ways within each of `attention_dp` replicas (each replica with its own batch and KV); the
/// routed experts spread over all the worker's GPUs, `moe_ep` ways by expert and `moe_tp` ways
/// within each expert (`moe_tp × moe_ep = tp × attention_dp`); routers on every GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    /// Tensor parallelism of attention and the dense parts.
    pub tp: u32,
    /// Attention data-parallel replicas.
    pub attention_dp: u32,
    /// Tensor parallelism within each expert.
    pub moe_tp: u32,
    /// Expert parallelism.
    pub moe_ep: u32,
}

/// `TP 8` for plain tensor parallelism, else every factor: `TP 1 × attention DP 4, MoE TP 1
/// × EP 4`.
impl std::fmt::Display for Parallelism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if *self == Parallelism::tensor(self.tp) {
            write!(f, "TP {}", self.tp)
        } else {
            write!(
                f,
                "TP {} × attention DP {}, MoE TP {} × EP {}",
                self.tp, self.attention_dp, self.moe_tp, self.moe_ep
            )
        }
    }
}

impl Parallelism {
    /// Plain tensor parallelism over `tp` GPUs (experts split `tp` ways, none spread).
    pub fn tensor(tp: u32) -> Self {
        Parallelism {
            tp,
            attention_dp: 1,
            moe_tp: tp,
            moe_ep: 1,
        }
    }

    /// GPUs of the worker: `tp × attention_dp`.
    pub fn gpus(&self) -> u64 {
        u64::from(self.tp) * u64::from(self.attention_dp)
    }

    /// Whether the worker has GPUs and fits one NVLink domain of `gpu` or spans whole ones
    /// (two HGX nodes, as SGLang's `--nnodes 2` and TensorRT-LLM's and vLLM's multi-node
    /// workers run them); an error naming the TP size if not.
    pub fn check_fits(&self, gpu: &GpuSku) -> Result<()> {
        if self.tp == 0 || !gpu.holds_worker(self.gpus()) {
            let domain = gpu.nvlink_domain();
            return Err(ModelsError::Invalid {
                what: "TP size",
                message: format!(
                    "TP {} × attention DP {} (must fit one NVLink domain, 1..={domain} GPUs on \
                     {}, or span whole ones, a multiple of {domain})",
                    self.tp, self.attention_dp, gpu.sku
                ),
            });
        }
        Ok(())
    }
}

/// A model's parameters by how parallelism splits them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Params {
    /// Split by TP, replicated per attention-DP replica: attention, norms, dense MLPs,
    /// shared experts, embedding, LM head.
    dense: u64,
    /// On every GPU: the routers, and the sparse-attention indexers (vLLM 0.11.0's
    /// `Indexer`: "no tensor parallel, just replicated").
    router: u64,
    /// Weight matrices of one routed expert (stored in the expert format).
    expert_matrices: u64,
    /// Biases of one routed expert (in the weight dtype).
    expert_biases: u64,
    /// Layers with experts.
    moe_layers: u64,
}

impl LlmSpec {
    /// Parameters of one layer's attention (projections, biases, sinks).
    fn attention_params(&self) -> u64 {
        let h = u64::from(self.hidden_size);
        let heads = u64::from(self.num_heads);
        let sinks = if self.attention_sinks { heads } else { 0 };
        match self.attention {
            Attention::Standard => {
                let q = heads * u64::from(self.head_dim);
                let kv = u64::from(self.num_kv_heads) * u64::from(self.head_dim);
                let bias = if self.attention_bias {
                    q + 2 * kv + h
                } else {
                    0
                };
                // A gated output doubles the query projection (queries and gate).
                let gate = if self.attention_output_gate { q } else { 0 };
                h * (q + gate + 2 * kv) + q * h + bias + sinks
            }
            // DeepSeek-V2 §2.1 (DeepseekV3Attention): q_a_proj, q_a_layernorm, q_b_proj (or
            // q_proj), kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj, o_proj.
            Attention::Mla(d) => {
                let qk = u64::from(d.qk_nope_head_dim) + u64::from(d.qk_rope_head_dim);
                let kvl = u64::from(d.kv_lora_rank);
                let q = match d.q_lora_rank {
                    Some(r) => h * u64::from(r) + u64::from(r) + u64::from(r) * heads * qk,
                    None => h * heads * qk,
                };
                let kv_a = h * (kvl + u64::from(d.qk_rope_head_dim)) + kvl;
                let kv_b = kvl * heads * (u64::from(d.qk_nope_head_dim) + u64::from(d.v_head_dim));
                let o = heads * u64::from(d.v_head_dim) * h;
                q + kv_a + kv_b + o + sinks
            }
        }
    }

    fn params_split(&self) -> Params {
        let h = u64::from(self.hidden_size);
        let mut p = Params::default();
        let attn = self.attention_params();
        let indexer = match self.attention {
            Attention::Mla(MlaDims {
                indexer: Some(x),
                q_lora_rank,
                ..
            }) => u64::from(x.own_layers) * x.params(h, u64::from(q_lora_rank.unwrap_or(0))),
            _ => 0,
        };
        p.router += indexer;
        for layer in &self.layers {
            p.dense += 2 * h
                + match layer.mixer {
                    Mixer::LinearAttention(d) => d.params(h),
                    _ => attn,
                };
            match (layer.ffn, &self.moe) {
                (Ffn::Moe, Some(m)) => {
                    p.moe_layers += 1;
                    p.dense += shared_params(h, m);
                    p.router += h * u64::from(m.num_experts)
                        + if m.biases {
                            u64::from(m.num_experts)
                        } else {
                            0
                        };
                }
                _ => p.dense += 3 * h * u64::from(self.intermediate_size),
            }
        }
        if let Some(m) = &self.moe {
            let i = u64::from(m.expert_intermediate_size);
            p.expert_matrices = 3 * h * i;
            p.expert_biases = if m.biases { 2 * i + h } else { 0 };
        }
        let emb = u64::from(self.vocab_size) * h;
        p.dense += emb + if self.tie_word_embeddings { 0 } else { emb } + h;
        p
    }

    /// All parameters: layers (attention, norms, MLPs or experts, routers, shared experts),
    /// embedding, LM head (unless tied), final norm.
    pub fn params(&self) -> u64 {
        let p = self.params_split();
        p.dense + p.router + p.moe_layers * self.experts() * (p.expert_matrices + p.expert_biases)
    }

    /// Parameters a token's forward pass multiplies by (for FLOPs: about 2 per parameter,
    /// attention over the context apart): every layer's attention, norms and dense MLP; in
    /// MoE layers the router, the shared experts and `top_k` routed experts; the final norm
    /// and the LM head (also when tied). Not the embedding, of which a token reads one row.
    /// DeepSeek-V3: ≈ 37 B (its paper's "37B activated").
    pub fn active_params_per_token(&self) -> u64 {
        let p = self.params_split();
        let emb = u64::from(self.vocab_size) * u64::from(self.hidden_size);
        let head = if self.tie_word_embeddings { emb } else { 0 };
        let top_k = self.moe.map_or(0, |m| u64::from(m.top_k));
        p.dense - emb
            + head
            + p.router
            + p.moe_layers * top_k * (p.expert_matrices + p.expert_biases)
    }

    fn experts(&self) -> u64 {
        self.moe.map_or(0, |m| u64::from(m.num_experts))
    }

    /// Bytes of `n` expert weights in the expert format.
    fn expert_matrix_bytes(&self, n: u64) -> u64 {
        match self.moe.map(|m| m.expert_format) {
            // 32 four-bit values and one 8-bit scale per block: 17 bytes per 32 weights.
            Some(ExpertFormat::Mxfp4) => (n * 17).div_ceil(32),
            // Two weights a byte and a 16-bit scale per group.
            Some(ExpertFormat::Int4 { group }) => n.div_ceil(2) + 2 * n.div_ceil(u64::from(group)),
            Some(ExpertFormat::Nvfp4) => Dtype::Nvfp4.bytes_of(n),
            _ => self.weight_dtype.bytes_of(n),
        }
    }

    /// Weight bytes of the whole model (Qwen3-32B FP8: ≈ 32.8 GB; gpt-oss-120b with MXFP4
    /// experts: ≈ 65 GB).
    pub fn weight_bytes(&self) -> u64 {
        let p = self.params_split();
        let w = self.weight_dtype;
        let experts = p.moe_layers * self.experts();
        w.bytes_of(p.dense + p.router + experts * p.expert_biases)
            + self.expert_matrix_bytes(experts * p.expert_matrices)
    }

    /// Checks `par` against the model: every size at least 1, `moe_tp × moe_ep` equal to the
    /// worker's GPUs, experts divisible by `moe_ep` (as TensorRT-LLM, vLLM and SGLang require
    /// without redundant expert slots), no expert parallelism without experts.
    pub fn check_parallelism(&self, par: &Parallelism) -> Result<()> {
        let bad = |what: &'static str, message: String| Err(ModelsError::Invalid { what, message });
        for (what, v) in [
            ("TP size", par.tp),
            ("attention DP size", par.attention_dp),
            ("MoE TP size", par.moe_tp),
            ("MoE EP size", par.moe_ep),
        ] {
            if v == 0 {
                return bad(what, "0 (must be at least 1)".into());
            }
        }
        if par.gpus() > 1 << 20 {
            return bad("parallelism", format!("{} GPUs in one worker", par.gpus()));
        }
        let Some(m) = &self.moe else {
            if par.moe_ep > 1 {
                return bad(
                    "MoE EP size",
                    format!("{} ({} has no experts)", par.moe_ep, self.name),
                );
            }
            return Ok(());
        };
        if u64::from(par.moe_tp) * u64::from(par.moe_ep) != par.gpus() {
            return bad(
                "MoE TP size",
                format!(
                    "MoE TP {} × EP {} must equal the worker's GPUs, TP {} × attention DP {}",
                    par.moe_tp, par.moe_ep, par.tp, par.attention_dp
                ),
            );
        }
        if !m.num_experts.is_multiple_of(par.moe_ep) {
            return bad(
                "MoE EP size",
                format!(
                    "{} does not divide {}'s {} experts",
                    par.moe_ep, self.name, m.num_experts
                ),
            );
        }
        Ok(())
    }

    /// Weight bytes on the fullest GPU of a worker split by `par` (splits rounded up): the
    /// dense parts over `tp`, the router whole, `experts / moe_ep` experts each over `moe_tp`.
    /// Times the worker's GPUs it is never less than [`LlmSpec::weight_bytes`].
    pub fn weight_bytes_per_gpu(&self, par: &Parallelism) -> Result<u64> {
        self.check_parallelism(par)?;
        let p = self.params_split();
        let w = self.weight_dtype;
        let dense = w.bytes_of(p.dense).div_ceil(u64::from(par.tp));
        let per_expert = (self.expert_matrix_bytes(p.expert_matrices)
            + w.bytes_of(p.expert_biases))
        .div_ceil(u64::from(par.moe_tp));
        let experts = self.experts() / u64::from(par.moe_ep);
        Ok(dense + w.bytes_of(p.router) + p.moe_layers * experts * per_expert)
    }

    /// Bytes left for the KV cache (and any recurrent state) on the fullest GPU of a worker
    /// split by `par` that uses `mem_fraction` of each GPU's memory and keeps
    /// `reserved_bytes` (the whole-GPU share, as vLLM's `gpu_memory_utilization` and SGLang's
    /// `mem_fraction_static`): `memory × fraction − weights per GPU − reserved`. Errors when
    /// the weights do not fit, or the fraction is outside (0, 1].
    pub fn kv_budget_bytes_per_gpu(
        &self,
        gpu: &GpuSku,
        par: &Parallelism,
        mem_fraction: f64,
        reserved_bytes: u64,
    ) -> Result<u64> {
        if !(mem_fraction > 0.0 && mem_fraction <= 1.0) {
            return Err(ModelsError::Invalid {
                what: "memory fraction",
                message: format!("{mem_fraction} (must be in (0, 1])"),
            });
        }
        let weights = self.weight_bytes_per_gpu(par)?;
        let free = gpu.memory_bytes * mem_fraction - weights as f64 - reserved_bytes as f64;
        if free <= 0.0 {
            return Err(ModelsError::Invalid {
                what: "deployment",
                message: format!(
                    "{} weights ({:.1} GB on the fullest GPU of {par}) do not fit in {} at \
                     memory fraction {mem_fraction}",
                    self.name,
                    weights as f64 / 1e9,
                    gpu.sku
                ),
            });
        }
        Ok(free.floor() as u64)
    }

    /// KV-cache elements one layer keeps per token (before any window).
    fn kv_elements(&self, kv_heads: u32) -> u64 {
        match self.attention {
            Attention::Standard => 2 * u64::from(kv_heads) * u64::from(self.head_dim),
            Attention::Mla(d) => d.cached_elements(),
        }
    }

    /// KV-cache bytes per token for the whole model while a sequence is within every
    /// window (each layer keeps each token): `layers × 2 × kv_heads × head_dim × kv_dtype_bytes`
    /// (Qwen3-32B FP8 KV: 131 072); MLA: `layers × (kv_lora_rank + qk_rope_head_dim) ×
    /// kv_dtype_bytes` (DeepSeek-V3 bf16: 61 × 576 × 2 = 70 272). Sliding-window layers stop
    /// growing at their window: [`LlmSpec::kv_bytes_for_sequence`].
    pub fn kv_bytes_per_token(&self) -> u64 {
        self.kv_bytes_per_token_of(self.num_kv_heads)
    }

    /// KV-cache bytes per token on one GPU at TP size `tp` (within every window): KV heads
    /// split as [`LlmSpec::kv_heads_per_gpu`]; MLA's latent is one head shared by all query
    /// heads, so every TP rank keeps all of it (the reason engines serve MLA with attention
    /// data parallelism).
    pub fn kv_bytes_per_token_per_gpu(&self, tp: u32) -> u64 {
        self.kv_bytes_per_token_of(self.kv_heads_per_gpu(tp))
    }

    fn kv_bytes_per_token_of(&self, kv_heads: u32) -> u64 {
        u64::from(self.attention_layers()) * self.kv_dtype.bytes_of(self.kv_elements(kv_heads))
            + self.indexer_key_bytes_per_token()
    }

    /// Bytes of the sparse-attention indexers' keys per token, over the layers that run one
    /// (0 without).
    fn indexer_key_bytes_per_token(&self) -> u64 {
        match self.attention {
            Attention::Mla(MlaDims {
                indexer: Some(x), ..
            }) => u64::from(x.own_layers) * x.key_bytes(),
            _ => 0,
        }
    }

    /// Bytes of one sequence's Gated DeltaNet state on one GPU of a worker split by `par`
    /// (0 without such layers): every linear-attention layer's convolution inputs and delta
    /// rule matrices ([`super::GdnDims::state_bytes_per_gpu`]). A sequence holds it from
    /// admission to its end, whatever its length.
    pub fn state_bytes_per_sequence_per_gpu(&self, par: &Parallelism) -> u64 {
        self.linear_attention()
            .map_or(0, |(d, n)| u64::from(n) * d.state_bytes_per_gpu(par.tp))
    }

    /// A sequence's Gated DeltaNet state in tokens of the KV cache it shares memory with
    /// (rounded up; 0 without such layers): what the engine charges each sequence besides
    /// its tokens.
    pub fn state_tokens_per_sequence(&self, par: &Parallelism) -> u64 {
        let per_token = self.kv_bytes_per_token_per_gpu(par.tp).max(1);
        self.state_bytes_per_sequence_per_gpu(par)
            .div_ceil(per_token)
    }

    /// KV-cache bytes of one sequence of `len` tokens: full-attention layers keep every
    /// token, sliding-window layers the last `min(len, window)`. Errors only on overflow.
    pub fn kv_bytes_for_sequence(&self, len: u64) -> Result<u64> {
        self.kv_bytes_for_sequence_of(len, self.num_kv_heads)
    }

    /// As [`LlmSpec::kv_bytes_for_sequence`], on one GPU of a worker split by `par` (each
    /// attention-DP replica keeps the KV of its own sequences).
    pub fn kv_bytes_for_sequence_per_gpu(&self, len: u64, par: &Parallelism) -> Result<u64> {
        self.check_parallelism(par)?;
        self.kv_bytes_for_sequence_of(len, self.kv_heads_per_gpu(par.tp))
    }

    fn kv_bytes_for_sequence_of(&self, len: u64, kv_heads: u32) -> Result<u64> {
        let per_token = self.kv_dtype.bytes_of(self.kv_elements(kv_heads));
        let overflow = || ModelsError::Invalid {
            what: "sequence length",
            message: format!("{len} tokens of {} overflow a byte count", self.name),
        };
        // The indexers' keys grow with every token (MLA layers attend the whole sequence).
        let mut total: u64 = len
            .checked_mul(self.indexer_key_bytes_per_token())
            .ok_or_else(overflow)?;
        for layer in &self.layers {
            let tokens = match layer.mixer {
                Mixer::FullAttention => len,
                Mixer::SlidingAttention { window } => len.min(u64::from(window)),
                // The tokens of the current chunk.
                Mixer::ChunkedAttention { chunk } if len > 0 => (len - 1) % u64::from(chunk) + 1,
                Mixer::ChunkedAttention { .. } | Mixer::LinearAttention(_) => 0,
            };
            total = tokens
                .checked_mul(per_token)
                .and_then(|b| total.checked_add(b))
                .ok_or_else(overflow)?;
        }
        Ok(total)
    }
}

/// Parameters of a MoE layer's shared experts (and their gate).
fn shared_params(h: u64, m: &MoeSpec) -> u64 {
    3 * h * u64::from(m.shared_intermediate_size) + if m.shared_expert_gate { h } else { 0 }
}
