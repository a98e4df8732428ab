//! LLM architectures: the built-in models (`builtin.rs`), Hugging Face `config.json` loading
//! (`hf_config.rs`), what a layer is made of (`arch.rs`: dense, mixture of experts, MLA,
//! sliding-window attention), the dtypes they are served in, and the derived sizes
//! (`sizes.rs`: weight bytes in all and per GPU under a [`Parallelism`], KV bytes per token
//! and per sequence, active parameters), and the KV capacity of a worker (standard attention
//! or MLA, dense models and mixtures of experts under TP, TP × EP and attention DP).

use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};
use crate::hardware::GpuSku;
use crate::perf::ExpertRouting;

mod arch;
mod builtin;
mod hf_config;
mod sizes;

pub use arch::{
    Attention, ExpertFormat, Ffn, GdnDims, LayerSpec, Mixer, MlaDims, MoeSpec, SparseIndexer,
};
pub use sizes::Parallelism;

/// Default memory share (vLLM's `gpu_memory_utilization` and TensorRT-LLM's
/// `free_gpu_memory_fraction` both default to 0.9).
pub const DEFAULT_MEM_FRACTION: f64 = 0.9;
/// Memory kept per GPU for activations, workspaces and CUDA graphs.
pub const RESERVED_BYTES_PER_GPU: u64 = 2 << 30;

/// A decoder-only transformer, with the dtypes it is served in.
///
/// The public fields are those of a dense transformer and keep their meaning for every
/// architecture (for a mixture of experts, `intermediate_size` is the dense MLP's, used by its
/// dense layers; for MLA, `head_dim` is the query/key head dimension `qk_nope + qk_rope`).
/// What else an architecture has (experts, latent attention, sliding windows) is read through
/// [`LlmSpec::attention`], [`LlmSpec::layers`] and [`LlmSpec::moe`]; code that times or
/// sizes layers asks [`LlmSpec::require_modelled`] first (or [`LlmSpec::require_dense`], where
/// only dense transformers are modelled).
#[derive(Debug, Clone, PartialEq)]
pub struct LlmSpec {
    /// Name (built-in name, or the `config.json` path it came from).
    pub name: String,
    /// Hidden size `h`.
    pub hidden_size: u32,
    /// Transformer layers.
    pub num_layers: u32,
    /// Query heads.
    pub num_heads: u32,
    /// KV heads (grouped-query attention).
    pub num_kv_heads: u32,
    /// Dimension of one head.
    pub head_dim: u32,
    /// MLP intermediate size (gated MLP: gate, up, down).
    pub intermediate_size: u32,
    /// Vocabulary size.
    pub vocab_size: u32,
    /// Whether the LM head shares the embedding's weights.
    pub tie_word_embeddings: bool,
    /// Weight (and GEMM) dtype.
    pub weight_dtype: Dtype,
    /// KV-cache dtype.
    pub kv_dtype: Dtype,
    /// The longest sequence (prompt and output) the model takes, tokens: `config.json`'s
    /// `max_position_embeddings` (with any RoPE scaling it ships with); `None` when unknown.
    pub max_position_embeddings: Option<u32>,
    /// Tokens a chat response starts with that carry no text, so a streaming client sees its
    /// first text with the token after them: gpt-oss's harmony header `<|channel|>analysis
    /// <|message|>` (see [`HARMONY_HEADER_TOKENS`]); 0 for every other model.
    pub response_header_tokens: u32,
    /// How keys and values are cached.
    attention: Attention,
    /// Each layer's token mixer and feed-forward block (`num_layers` of them).
    layers: Vec<LayerSpec>,
    /// The experts of the [`Ffn::Moe`] layers.
    moe: Option<MoeSpec>,
    /// Whether the q, k, v and output projections carry biases (`attention_bias`).
    attention_bias: bool,
    /// Whether every attention head has a learned sink logit (gpt-oss).
    attention_sinks: bool,
    /// Whether the attention output is gated by a second query-sized projection (Qwen3-Next's
    /// and Qwen3.5's `attn_output_gate`: `q_proj` makes the queries and the gate).
    attention_output_gate: bool,
}

/// The tokens of gpt-oss's harmony header before its first text: `<|channel|>`, `analysis`
/// and `<|message|>`. gpt-oss answers in OpenAI's harmony format, every message opening with
/// its channel (`<|start|>assistant<|channel|>analysis<|message|>…`, the prompt ending at
/// `<|start|>assistant`); the chat endpoints parse it and stream a message's text only, so no
/// chunk goes out for the header (vLLM 0.18.0's `chat_completion/serving.py` streams nothing
/// while `extract_harmony_streaming_delta` returns no delta), and a streaming client's first
/// token is the fourth made (aiperf 0.1.1 to 0.3.0 time the first token from the first
/// response with text or reasoning, `ParsedResponseRecord.content_responses`).
pub const HARMONY_HEADER_TOKENS: u32 = 3;

/// The architecture-specific parts of a spec, in one value (for the constructors).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ArchParts {
    pub attention: Attention,
    pub layers: Vec<LayerSpec>,
    pub moe: Option<MoeSpec>,
    pub attention_bias: bool,
    pub attention_sinks: bool,
    pub attention_output_gate: bool,
}

impl ArchParts {
    /// A dense transformer of `layers` layers.
    pub fn dense(layers: u32) -> Self {
        ArchParts {
            attention: Attention::Standard,
            layers: vec![LayerSpec::DENSE; layers as usize],
            moe: None,
            attention_bias: false,
            attention_sinks: false,
            attention_output_gate: false,
        }
    }
}

impl LlmSpec {
    /// A spec from its dense fields and its architecture (`parts.layers` has `num_layers`
    /// entries; the constructors check it).
    pub(crate) fn assemble(
        name: String,
        dims: [u32; 7],
        tie_word_embeddings: bool,
        weight_dtype: Dtype,
        parts: ArchParts,
    ) -> Self {
        let [
            hidden_size,
            num_layers,
            num_heads,
            num_kv_heads,
            head_dim,
            intermediate_size,
            vocab_size,
        ] = dims;
        LlmSpec {
            name,
            hidden_size,
            num_layers,
            num_heads,
            num_kv_heads,
            head_dim,
            intermediate_size,
            vocab_size,
            tie_word_embeddings,
            weight_dtype,
            kv_dtype: Dtype::Bf16,
            max_position_embeddings: None,
            response_header_tokens: 0,
            attention: parts.attention,
            layers: parts.layers,
            moe: parts.moe,
            attention_bias: parts.attention_bias,
            attention_sinks: parts.attention_sinks,
            attention_output_gate: parts.attention_output_gate,
        }
    }

    /// The same model with other weight and KV dtypes.
    pub fn with_dtypes(mut self, weight: Dtype, kv: Dtype) -> Self {
        self.weight_dtype = weight;
        self.kv_dtype = kv;
        self
    }

    /// The same model with its routed experts stored in `format` (a no-op for dense models).
    pub fn with_expert_format(mut self, format: ExpertFormat) -> Self {
        if let Some(moe) = &mut self.moe {
            moe.expert_format = format;
        }
        self
    }

    /// How keys and values are cached.
    pub fn attention(&self) -> Attention {
        self.attention
    }

    /// Each layer's token mixer and feed-forward block, first layer first.
    pub fn layers(&self) -> &[LayerSpec] {
        &self.layers
    }

    /// The same model with its router spreading tokens as `routing` says (a no-op for dense
    /// models).
    pub fn with_expert_routing(mut self, routing: ExpertRouting) -> Self {
        if let Some(moe) = &mut self.moe {
            moe.routing = routing;
        }
        self
    }

    /// The mixture of experts, for models that have one.
    pub fn moe(&self) -> Option<&MoeSpec> {
        self.moe.as_ref()
    }

    /// Whether the attention projections carry biases (`attention_bias`).
    pub fn attention_bias(&self) -> bool {
        self.attention_bias
    }

    /// Whether every attention head has a learned sink logit (gpt-oss).
    pub fn attention_sinks(&self) -> bool {
        self.attention_sinks
    }

    /// Whether the attention output is gated by a query-sized projection (Qwen3-Next,
    /// Qwen3.5).
    pub fn attention_output_gate(&self) -> bool {
        self.attention_output_gate
    }

    /// The model's context ([`LlmSpec::max_position_embeddings`]) when a sequence of
    /// `tokens` (prompt and output) does not fit in it; `None` when it fits or the context is
    /// not known.
    pub fn context_exceeded_by(&self, tokens: u64) -> Option<u32> {
        self.max_position_embeddings
            .filter(|&context| tokens > u64::from(context))
    }

    /// The attention chunk of the chunked-attention layers and how many there are (`None`
    /// when no layer attends within chunks). One chunk size per model, as the configs give it.
    pub fn attention_chunks(&self) -> Option<(u32, u32)> {
        let chunks: Vec<u32> = self.layers.iter().filter_map(LayerSpec::chunk).collect();
        chunks.first().map(|&c| (c, chunks.len() as u32))
    }

    /// The Gated DeltaNet layers' dimensions and how many there are (`None` when every layer
    /// attends). One set of dimensions per model, as the configs give them.
    pub fn linear_attention(&self) -> Option<(GdnDims, u32)> {
        let mut found = None;
        let mut n = 0;
        for l in &self.layers {
            if let Mixer::LinearAttention(d) = l.mixer {
                found = Some(d);
                n += 1;
            }
        }
        found.map(|d| (d, n))
    }

    /// Layers that attend with a KV cache (all but the Gated DeltaNet ones).
    pub fn attention_layers(&self) -> u32 {
        self.layers.iter().filter(|l| l.attends()).count() as u32
    }

    /// Whether this is a dense transformer as the engine models it: standard attention over
    /// the whole sequence and a gated MLP in every layer (biases and sinks aside, which change
    /// sizes, not shapes).
    pub fn is_dense(&self) -> bool {
        self.attention == Attention::Standard
            && self.moe.is_none()
            && self.layers.iter().all(|l| *l == LayerSpec::DENSE)
    }

    /// `Ok` for a dense transformer; otherwise a [`ModelsError::NotModelled`] naming `what`
    /// was asked and which parts of the architecture it does not model yet. The code that
    /// times or sizes dense layers (the iteration predictor, a worker's KV capacity) asks this
    /// first, so that no other architecture is silently treated as dense.
    pub fn require_dense(&self, what: &str) -> Result<()> {
        let mut parts = Vec::new();
        if let Some(m) = &self.moe {
            parts.push(format!(
                "mixture-of-experts layers ({} routed experts, top-{})",
                m.num_experts, m.top_k
            ));
        }
        if let Attention::Mla(d) = self.attention {
            parts.push(format!(
                "multi-head latent attention (KV latent {} + RoPE key {})",
                d.kv_lora_rank, d.qk_rope_head_dim
            ));
        }
        if let Some(w) = self.layers.iter().find_map(LayerSpec::window) {
            parts.push(format!("sliding-window attention (window {w})"));
        }
        if let Some((c, n)) = self.attention_chunks() {
            parts.push(format!("attention within chunks of {c} on {n} layers"));
        }
        if let Some((_, n)) = self.linear_attention() {
            parts.push(format!("{n} Gated DeltaNet (linear-attention) layers"));
        }
        if self.attention_output_gate {
            parts.push("a gated attention output".into());
        }
        if parts.is_empty() {
            return Ok(());
        }
        Err(ModelsError::NotModelled {
            model: self.name.clone(),
            what: what.to_string(),
            reason: format!(
                "it has {}; this part of the simulator times and sizes dense transformer \
                 layers only (MoE layer time, MLA and sliding-window attention are a later step)",
                parts.join(", ")
            ),
        })
    }

    /// `Ok` when the iteration predictor and a worker's KV capacity model this architecture
    /// split by `par`: standard (grouped-query) attention over the whole sequence or one
    /// sliding window (attention sinks, one logit per head, are not timed: they add one
    /// column to each head's softmax), or multi-head latent attention, and Gated DeltaNet
    /// layers between attention layers; dense MLPs and mixtures of experts; under TP, TP × EP,
    /// and attention data parallelism for a mixture of experts inside one worker. Otherwise a
    /// [`ModelsError::NotModelled`] naming `what` was asked and what is not modelled yet
    /// (sliding windows of several sizes, attention data parallelism without experts, a model
    /// without attention layers).
    pub fn require_modelled(&self, what: &str, par: &Parallelism) -> Result<()> {
        let mut parts = Vec::new();
        let mut windows: Vec<u32> = self.layers.iter().filter_map(|l| l.window()).collect();
        windows.sort_unstable();
        windows.dedup();
        if windows.len() > 1 {
            parts.push(format!("sliding windows of several sizes ({windows:?})"));
        }
        if self.attention_layers() == 0 {
            // The KV cache is counted in tokens of the attention layers.
            parts.push("no attention layer (every layer is Gated DeltaNet)".into());
        }
        if par.attention_dp > 1 && self.moe.is_none() {
            // The engines run attention DP for the MoE layers' sake (TensorRT-LLM's
            // `enable_attention_dp`, SGLang's `--enable-dp-attention`); a dense model's data
            // parallelism is separate workers.
            parts.push(format!(
                "attention data parallelism ({} replicas) without a mixture of experts",
                par.attention_dp
            ));
        }
        if parts.is_empty() {
            return Ok(());
        }
        Err(ModelsError::NotModelled {
            model: self.name.clone(),
            what: what.to_string(),
            reason: format!(
                "it is asked for {}; this part of the simulator times and sizes standard \
                 attention (full or one sliding window) or MLA, with Gated DeltaNet layers \
                 between attention layers, dense MLPs and mixtures of experts under TP, TP × \
                 EP and attention DP inside one worker",
                parts.join(", ")
            ),
        })
    }

    /// The sliding window of the model's sliding-window layers and how many there are
    /// (`None` when every layer attends to the whole sequence). Assumes one window size
    /// ([`LlmSpec::require_modelled`] checks it).
    pub fn sliding_window(&self) -> Option<(u32, u32)> {
        let mut n = 0;
        let mut w = 0;
        for l in &self.layers {
            if let Some(x) = l.window() {
                n += 1;
                w = x;
            }
        }
        (n > 0).then_some((w, n))
    }

    /// Parameters per dense transformer layer (attention, gated MLP, two norms); the layers
    /// of other architectures are summed by [`LlmSpec::params`].
    pub fn params_per_layer(&self) -> u64 {
        let h = u64::from(self.hidden_size);
        let hd = u64::from(self.head_dim);
        let q = u64::from(self.num_heads) * hd;
        let kv = u64::from(self.num_kv_heads) * hd;
        let ffn = u64::from(self.intermediate_size);
        h * (q + 2 * kv) + q * h + 3 * h * ffn + 2 * h
    }

    /// KV heads held by one GPU at TP size `tp`: `ceil(kv_heads / tp)`, at least one
    /// (KV heads are replicated, not split, below one per GPU).
    pub fn kv_heads_per_gpu(&self, tp: u32) -> u32 {
        self.num_kv_heads.div_ceil(tp.max(1)).max(1)
    }

    /// KV-cache capacity in tokens of one worker of `tp` GPUs using `mem_fraction` of each
    /// GPU's memory: `(mem × fraction − weights/tp) / kv_bytes_per_token_per_gpu`.
    /// Errors when the weights do not fit, the arguments are out of range, or the model is
    /// not modelled ([`LlmSpec::require_modelled`]).
    pub fn kv_capacity_tokens(&self, gpu: &GpuSku, tp: u32, mem_fraction: f64) -> Result<u64> {
        self.kv_capacity_tokens_with_reserve(gpu, tp, mem_fraction, 0)
    }

    /// As [`LlmSpec::kv_capacity_tokens`], also leaving `reserved_bytes` per GPU
    /// (activations, workspace, CUDA graphs).
    pub fn kv_capacity_tokens_with_reserve(
        &self,
        gpu: &GpuSku,
        tp: u32,
        mem_fraction: f64,
        reserved_bytes: u64,
    ) -> Result<u64> {
        self.kv_capacity_tokens_split(gpu, &Parallelism::tensor(tp), mem_fraction, reserved_bytes)
    }

    /// As [`LlmSpec::kv_capacity_tokens_with_reserve`] for a worker split by `par` (TP, or TP
    /// × EP for a mixture of experts: the weights of the fullest GPU,
    /// [`LlmSpec::weight_bytes_per_gpu`]).
    pub fn kv_capacity_tokens_split(
        &self,
        gpu: &GpuSku,
        par: &Parallelism,
        mem_fraction: f64,
        reserved_bytes: u64,
    ) -> Result<u64> {
        let weights = self.check_deployment(gpu, par, mem_fraction)?;
        let budget = gpu.memory_bytes * mem_fraction;
        let free = budget - weights - reserved_bytes as f64;
        let fit = Fit {
            weights,
            reserved: reserved_bytes as f64,
            budget,
            fraction: Some(mem_fraction),
        };
        self.kv_tokens_in(free, &fit, gpu, par)
    }

    /// KV-cache capacity in tokens when `free_fraction` is a share of the memory left once
    /// the weights and `reserved_bytes` are taken (TensorRT-LLM's `free_gpu_memory_fraction`),
    /// not of the whole GPU (vLLM's `gpu_memory_utilization`, SGLang's
    /// `mem_fraction_static`): `(mem − weights/tp − reserved) × fraction / kv_bytes`.
    pub fn kv_capacity_tokens_of_free(
        &self,
        gpu: &GpuSku,
        tp: u32,
        free_fraction: f64,
        reserved_bytes: u64,
    ) -> Result<u64> {
        self.kv_capacity_tokens_of_free_split(
            gpu,
            &Parallelism::tensor(tp),
            free_fraction,
            reserved_bytes,
        )
    }

    /// As [`LlmSpec::kv_capacity_tokens_of_free`] for a worker split by `par`.
    pub fn kv_capacity_tokens_of_free_split(
        &self,
        gpu: &GpuSku,
        par: &Parallelism,
        free_fraction: f64,
        reserved_bytes: u64,
    ) -> Result<u64> {
        let weights = self.check_deployment(gpu, par, free_fraction)?;
        let free = (gpu.memory_bytes - weights - reserved_bytes as f64) * free_fraction;
        // The share is of what the weights leave: they must fit the whole GPU.
        let fit = Fit {
            weights,
            reserved: reserved_bytes as f64,
            budget: gpu.memory_bytes,
            fraction: None,
        };
        self.kv_tokens_in(free, &fit, gpu, par)
    }

    /// Checks a deployment and returns the weight bytes on its fullest GPU: a dense model's
    /// weights over TP (`weights / tp`, unrounded), a mixture of experts' per
    /// [`LlmSpec::weight_bytes_per_gpu`].
    fn check_deployment(&self, gpu: &GpuSku, par: &Parallelism, mem_fraction: f64) -> Result<f64> {
        self.require_modelled("the KV capacity of a tensor-parallel worker", par)?;
        let tp = par.tp;
        par.check_fits(gpu)?;
        if !(mem_fraction > 0.0 && mem_fraction <= 1.0) {
            return Err(ModelsError::Invalid {
                what: "memory fraction",
                message: format!("{mem_fraction} (must be in (0, 1])"),
            });
        }
        if self.moe.is_none() && par.moe_ep <= 1 && par.attention_dp <= 1 {
            return Ok(self.weight_bytes() as f64 / f64::from(tp));
        }
        Ok(self.weight_bytes_per_gpu(par)? as f64)
    }

    /// Tokens of KV of a worker split by `par` with `free` bytes per GPU: each attention-DP
    /// rank keeps the KV of its own sequences in its own GPUs' memory (TensorRT-LLM and
    /// SGLang size one KV pool per rank), so the worker holds `attention_dp` times a rank's
    /// tokens; an error when nothing is left. Every layer is counted as keeping every token,
    /// sliding-window layers too: the engines' block pools count tokens of the whole model
    /// (an under-estimate for windowed models where an engine frees the blocks that fall out
    /// of a window).
    fn kv_tokens_in(&self, free: f64, fit: &Fit, gpu: &GpuSku, par: &Parallelism) -> Result<u64> {
        let tp = par.tp;
        if free <= 0.0 {
            // Per GPU, where the fit is decided: a worker's GPUs together can hold more than
            // its weights while its fullest GPU cannot (experts are spread, attention is not).
            let reserved = if fit.reserved > 0.0 {
                format!(" and {:.1} GB reserved", fit.reserved / 1e9)
            } else {
                String::new()
            };
            let budget = match fit.fraction {
                Some(f) => format!(
                    "the {:.1} GB a GPU gives at memory fraction {f}",
                    fit.budget / 1e9
                ),
                None => format!("a GPU's {:.1} GB", fit.budget / 1e9),
            };
            return Err(ModelsError::Invalid {
                what: "deployment",
                message: format!(
                    "{} weights ({:.1} GB) do not fit {} × {}: {:.1} GB of them on the \
                     fullest GPU of {par}{reserved}, against {}",
                    self.name,
                    self.weight_bytes() as f64 / 1e9,
                    par.gpus(),
                    gpu.sku,
                    fit.weights / 1e9,
                    budget,
                ),
            });
        }
        let rank = (free / self.kv_bytes_per_token_per_gpu(tp) as f64).floor() as u64;
        Ok(rank * u64::from(par.attention_dp.max(1)))
    }
}

/// What a worker's fullest GPU must hold beside its KV cache (its weights and the memory
/// kept back) and what the engine lets it use, bytes: a share of the GPU (`fraction`, as
/// vLLM's and SGLang's) or, where the share is of what the weights leave (TensorRT-LLM's),
/// the whole GPU.
struct Fit {
    weights: f64,
    reserved: f64,
    budget: f64,
    fraction: Option<f64>,
}

#[cfg(test)]
mod tests;
