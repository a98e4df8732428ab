//! What an architecture is made of beyond a dense transformer: the attention kind (standard
//! multi-head / grouped-query, or DeepSeek's multi-head latent attention), each layer's token
//! mixer (full or sliding-window attention, or Gated DeltaNet linear attention) and feed-forward block (dense MLP or a
//! mixture of experts).

use crate::perf::ExpertRouting;

/// How attention keys and values are cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attention {
    /// Multi-head / grouped-query attention: `num_kv_heads × head_dim` keys and as many
    /// values per token per layer.
    Standard,
    /// Multi-head latent attention (DeepSeek-V2 §2.1, DeepSeek-V3 §2.1.1).
    Mla(MlaDims),
}

/// The dimensions of multi-head latent attention, as a DeepSeek `config.json` names them.
///
/// The cache holds, per token per layer, the compressed KV latent `c_KV` (`kv_lora_rank`
/// elements) and the decoupled RoPE key `k_R` (`qk_rope_head_dim` elements) shared by all
/// heads (DeepSeek-V2 §2.1.4, Table 1: "(d_c + d_h^R) l" elements per token); one "head" of
/// `kv_lora_rank + qk_rope_head_dim`, not split by tensor parallelism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MlaDims {
    /// Rank of the query compression (`q_lora_rank`); `None` when queries are not
    /// compressed (DeepSeek-V2-Lite: a plain `h × heads × (nope + rope)` projection).
    pub q_lora_rank: Option<u32>,
    /// Rank of the KV compression `d_c` (`kv_lora_rank`, 512 in DeepSeek-V2/V3).
    pub kv_lora_rank: u32,
    /// Per-head query/key dimension without RoPE (`qk_nope_head_dim`).
    pub qk_nope_head_dim: u32,
    /// Per-head decoupled RoPE dimension `d_h^R` (`qk_rope_head_dim`, 64).
    pub qk_rope_head_dim: u32,
    /// Per-head value dimension (`v_head_dim`).
    pub v_head_dim: u32,
    /// DeepSeek Sparse Attention's indexer, where each query attends only the tokens it picks
    /// (DeepSeek-V3.2, GLM-5); `None`: every query attends every earlier token.
    pub indexer: Option<SparseIndexer>,
}

/// DeepSeek Sparse Attention (DeepSeek-V3.2-Exp report §2.1; vLLM 0.11.0's `Indexer` in
/// `model_executor/models/deepseek_v2.py`): a lightning indexer scores every earlier token for
/// each query with `heads` small heads of `head_dim` in FP8, and the MLA attends only the
/// `topk` best. The indexer keeps a key of its own per token per layer (FP8, with one FP32
/// scale per 128 elements: `head_dim + head_dim / 128 × 4` bytes in vLLM's cache), beside
/// the latent. GLM-5.2's layers may instead reuse the selection of the last layer that ran
/// one (transformers 5.25's `GlmMoeDsaConfig.indexer_types`, `shared`: no indexer, no key of
/// their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SparseIndexer {
    /// The indexer's query heads (`index_n_heads`).
    pub heads: u32,
    /// Its head dimension (`index_head_dim`), also its key's.
    pub head_dim: u32,
    /// Tokens each query attends (`index_topk`).
    pub topk: u32,
    /// Layers that run an indexer of their own, of `layers`.
    pub own_layers: u32,
    /// Attention layers, every one attending the picked tokens.
    pub layers: u32,
}

impl SparseIndexer {
    /// Bytes of the indexer's key per token per layer: FP8 values and an FP32 scale per 128.
    pub fn key_bytes(&self) -> u64 {
        u64::from(self.head_dim) + 4 * u64::from(self.head_dim).div_ceil(128)
    }

    /// Parameters of one layer's indexer (`wq_b` from the query latent, `wk`, the key's
    /// LayerNorm and `weights_proj`), for a model of `hidden` with query rank `q_lora_rank`.
    pub fn params(&self, hidden: u64, q_lora_rank: u64) -> u64 {
        let (n, d) = (u64::from(self.heads), u64::from(self.head_dim));
        q_lora_rank * n * d + hidden * d + 2 * d + hidden * n
    }

    /// The share of the attention layers that run an indexer of their own.
    pub fn own_share(&self) -> f64 {
        f64::from(self.own_layers) / f64::from(self.layers.max(1))
    }
}

impl MlaDims {
    /// Elements cached per token per layer: `kv_lora_rank + qk_rope_head_dim` (576 in
    /// DeepSeek-V3).
    pub fn cached_elements(&self) -> u64 {
        u64::from(self.kv_lora_rank) + u64::from(self.qk_rope_head_dim)
    }
}

/// The dimensions of a Gated DeltaNet layer (linear attention), as Qwen3-Next's and
/// Qwen3.5's `config.json` name them (`linear_num_key_heads`, `linear_num_value_heads`,
/// `linear_key_head_dim`, `linear_value_head_dim`, `linear_conv_kernel_dim`).
///
/// The layer keeps no KV cache: each sequence has a fixed state, the last `conv_kernel − 1`
/// inputs of its causal convolution over the `conv_dim` channels of the mixed query, key and
/// value projection, and a `key_head_dim × value_head_dim` matrix per value head
/// (`MambaStateShapeCalculator.gated_delta_net_state_shape` in vLLM 0.11.0, both split by TP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GdnDims {
    /// Key (and query) heads.
    pub key_heads: u32,
    /// Value heads.
    pub value_heads: u32,
    /// Dimension of a key head.
    pub key_head_dim: u32,
    /// Dimension of a value head.
    pub value_head_dim: u32,
    /// Width of the causal convolution.
    pub conv_kernel: u32,
    /// Bytes of an element of the delta rule's state: 4 where the config's
    /// `mamba_ssm_dtype` is `float32` (Qwen3.5's), else 2 (the model's 16-bit dtype, vLLM's
    /// default `mamba_cache_dtype`); the convolution's state is always 16-bit.
    pub ssm_state_bytes: u32,
}

impl GdnDims {
    /// Channels of the convolution: `2 × key heads × key dim + value heads × value dim`.
    pub fn conv_dim(&self) -> u64 {
        2 * u64::from(self.key_heads) * u64::from(self.key_head_dim)
            + u64::from(self.value_heads) * u64::from(self.value_head_dim)
    }

    /// Parameters of one layer besides its norms (vLLM 0.11.0's `Qwen3NextGatedDeltaNet`):
    /// `in_proj_qkvz` (hidden → queries, keys, values and the output gate `z`), `in_proj_ba`
    /// (hidden → the step size β and decay `a` of each value head), the convolution's
    /// `conv_dim × conv_kernel` weights, `dt_bias` and `A_log` (one per value head), the
    /// gated RMSNorm over a value head, and `out_proj` (values → hidden).
    pub fn params(&self, hidden: u64) -> u64 {
        let key = u64::from(self.key_heads) * u64::from(self.key_head_dim);
        let value = u64::from(self.value_heads) * u64::from(self.value_head_dim);
        let vh = u64::from(self.value_heads);
        hidden * (2 * key + 2 * value)
            + hidden * 2 * vh
            + self.conv_dim() * u64::from(self.conv_kernel)
            + 2 * vh
            + u64::from(self.value_head_dim)
            + value * hidden
    }

    /// Bytes of one sequence's state in one layer on one GPU of TP size `tp` (both parts
    /// split by TP, rounded up): the convolution's last inputs (16-bit) and the delta rule's
    /// matrices.
    pub fn state_bytes_per_gpu(&self, tp: u32) -> u64 {
        let tp = u64::from(tp.max(1));
        let conv = self.conv_dim().div_ceil(tp) * u64::from(self.conv_kernel.saturating_sub(1));
        let rule = u64::from(self.value_heads).div_ceil(tp)
            * u64::from(self.key_head_dim)
            * u64::from(self.value_head_dim);
        conv * 2 + rule * u64::from(self.ssm_state_bytes)
    }
}

/// What mixes tokens in one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mixer {
    /// Attention over the whole sequence.
    FullAttention,
    /// Attention over the last `window` tokens (Mistral's and gpt-oss's `sliding_window`:
    /// token `i` attends to tokens `i − window + 1 ..= i`), so the layer keeps at most
    /// `window` tokens of KV per sequence.
    SlidingAttention {
        /// Window in tokens.
        window: u32,
    },
    /// Attention within fixed chunks (Llama-4's `attention_chunk_size` on its RoPE layers):
    /// token `i` attends to the tokens of its own chunk, `chunk × ⌊i / chunk⌋ ..= i`, so the
    /// layer needs only the current chunk's KV (vLLM 0.11.0's
    /// `ChunkedLocalAttentionManager.remove_skipped_blocks` frees the earlier chunks' blocks).
    ChunkedAttention {
        /// Chunk in tokens.
        chunk: u32,
    },
    /// A Gated DeltaNet layer (linear attention): a fixed-size state per sequence instead of
    /// a KV cache.
    LinearAttention(GdnDims),
}

/// The feed-forward block of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ffn {
    /// A gated MLP (gate, up, down) of the model's `intermediate_size`.
    Dense,
    /// The model's mixture of experts ([`MoeSpec`]).
    Moe,
}

/// One decoder layer: its token mixer and its feed-forward block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerSpec {
    /// Token mixer.
    pub mixer: Mixer,
    /// Feed-forward block.
    pub ffn: Ffn,
}

impl LayerSpec {
    /// The layer's sliding window, if it has one.
    pub fn window(&self) -> Option<u32> {
        match self.mixer {
            Mixer::SlidingAttention { window } => Some(window),
            _ => None,
        }
    }

    /// The layer's attention chunk, if it attends within chunks.
    pub fn chunk(&self) -> Option<u32> {
        match self.mixer {
            Mixer::ChunkedAttention { chunk } => Some(chunk),
            _ => None,
        }
    }

    /// Whether the layer attends with a KV cache (full or sliding-window attention).
    pub fn attends(&self) -> bool {
        !matches!(self.mixer, Mixer::LinearAttention(_))
    }

    /// A dense transformer layer: full attention and a gated MLP.
    pub const DENSE: LayerSpec = LayerSpec {
        mixer: Mixer::FullAttention,
        ffn: Ffn::Dense,
    };
}

/// How expert weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpertFormat {
    /// In the model's weight dtype, as every other weight.
    WeightDtype,
    /// OCP MXFP4 (gpt-oss's `quant_method: mxfp4`): blocks of 32 FP4 (E2M1) values sharing
    /// one 8-bit (E8M0) scale, 17 bytes per 32 weights (OCP Microscaling Formats (MX) v1.0,
    /// MXFP4: block size 32, E8M0 scale).
    Mxfp4,
    /// Symmetric int4 weights in groups of `group` sharing one 16-bit scale, 16-bit
    /// activations (W4A16: compressed-tensors' `pack-quantized` int4, as Kimi-K2.5 publishes
    /// its routed experts, groups of 32, scales in bf16).
    Int4 {
        /// Weights per scale.
        group: u32,
    },
    /// NVFP4 weights and activations ([`crate::dtype::Dtype::Nvfp4`]: 16 FP4 values and an
    /// FP8 scale), the rest of the model in 16 bits, as NVIDIA's ModelOpt checkpoints of mixtures of
    /// experts publish them (`quant_method: modelopt`, `quant_algo: NVFP4`, attention and
    /// shared experts in the `ignore` list); FP4 tensor cores, Blackwell only.
    Nvfp4,
}

/// The mixture-of-experts block, as the Hugging Face configs describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoeSpec {
    /// Routed experts per MoE layer (`n_routed_experts`, `num_experts` or `num_local_experts`).
    pub num_experts: u32,
    /// Routed experts each token goes to (`num_experts_per_tok`).
    pub top_k: u32,
    /// Intermediate size of one routed expert's gated MLP (`moe_intermediate_size`, or the
    /// config's `intermediate_size` where experts are the only MLPs: Mixtral, gpt-oss).
    pub expert_intermediate_size: u32,
    /// Intermediate size of the shared experts, all of them together (DeepSeek:
    /// `n_shared_experts × moe_intermediate_size`; Qwen2-MoE / Qwen3-Next:
    /// `shared_expert_intermediate_size`); 0 when there are none.
    pub shared_intermediate_size: u32,
    /// Whether the shared expert's output is scaled by a learned `h → 1` gate (Qwen2-MoE).
    pub shared_expert_gate: bool,
    /// Whether the router and each expert's projections carry biases (gpt-oss).
    pub biases: bool,
    /// How the router spreads tokens over the experts, as the MoE kernel tables measure it.
    pub routing: ExpertRouting,
    /// How the routed experts' weights are stored.
    pub expert_format: ExpertFormat,
}
