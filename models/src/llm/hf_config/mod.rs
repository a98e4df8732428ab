//! Reading a Hugging Face `config.json`: the fields `transformers` gives each architecture
//! (its `configuration_*.py` and modelling code), what of them the simulator reads, and a
//! refusal naming the field for what it does not model yet.
//!
//! Read, per family:
//! - dense (Llama, Qwen2/3, Mistral): `hidden_size`, `num_hidden_layers`,
//!   `num_attention_heads`, `num_key_value_heads`, `head_dim`, `intermediate_size`,
//!   `vocab_size`, `tie_word_embeddings`, `attention_bias`;
//! - mixture of experts: the expert count (`n_routed_experts` DeepSeek, `num_experts` Qwen-MoE,
//!   `num_local_experts` Mixtral / gpt-oss / Llama-4 / MiniMax-M2), `num_experts_per_tok`,
//!   `moe_intermediate_size` (else `intermediate_size`), shared experts (`n_shared_experts`
//!   DeepSeek, `shared_expert_intermediate_size` Qwen2-MoE), and which layers are MoE
//!   (`first_k_dense_replace` and `moe_layer_freq` DeepSeek, `decoder_sparse_step` and
//!   `mlp_only_layers` Qwen-MoE, `moe_layers` / `interleave_moe_layer_step` Llama-4);
//! - multi-head latent attention (DeepSeek-V2/V3, Kimi-K2): `kv_lora_rank`, `q_lora_rank`,
//!   `qk_nope_head_dim`, `qk_rope_head_dim`, `v_head_dim`; and DeepSeek Sparse Attention's
//!   indexer (DeepSeek-V3.2, GLM-5): `index_topk`, `index_n_heads`, `index_head_dim`, and
//!   which layers run their own (`indexer_types`, `index_topk_pattern`, `index_topk_freq`);
//! - sliding windows: `layer_types` with `sliding_window` (gpt-oss and newer configs), Qwen's
//!   `use_sliding_window` / `max_window_layers`, and Mistral's `sliding_window` on every layer;
//! - Gated DeltaNet (linear-attention) layers, Qwen3-Next and Qwen3.5: `layer_types`
//!   `linear_attention` (or Qwen3-Next's `full_attention_interval`) with
//!   `linear_num_key_heads`, `linear_num_value_heads`, `linear_key_head_dim`,
//!   `linear_value_head_dim`, `linear_conv_kernel_dim`, and the attention layers' output gate
//!   (`attn_output_gate`);
//! - chunked attention (Llama-4): `attention_chunk_size` on its RoPE layers (`no_rope_layers`,
//!   by default three layers of four), or `layer_types` `chunked_attention`;
//! - weights: `quantization_config` `fp8` (block-scaled with `weight_block_size`), `mxfp4`
//!   (experts only, as gpt-oss's `modules_to_not_convert` leaves attention, router, embedding
//!   and LM head in bf16), `compressed-tensors` int4 experts (Kimi-K2.5) and `modelopt` NVFP4
//!   (NVIDIA's checkpoints: the experts alone where its `ignore` list keeps the attention,
//!   else every weight; an FP8 KV cache where `kv_cache_scheme` says so): `quant.rs`.
//!
//! Refused, naming the field: window patterns other than the above (`sliding_window_pattern`, or a
//! `sliding_window` of a family whose pattern is not read), multimodal models
//! (`vision_config`), layers this reading does not size ([`UNREAD_LAYERS`]: Mamba hybrids,
//! NAS blocks), and experts or MLA of a `model_type` other than the
//! families above ([`MOE_FAMILIES`]: GLM, Step and others name their parts
//! differently). Not counted: DeepSeek's and Qwen3.5's multi-token-prediction modules
//! (`num_nextn_predict_layers`, `mtp_num_hidden_layers`), loaded only for speculative decoding.

use std::path::Path;

use serde_json::{Map, Value};

mod mixers;
mod quant;

use mixers::mixers;
use quant::{experts_alone, int4_experts, modelopt_nvfp4};

use super::{
    ArchParts, Attention, ExpertFormat, Ffn, LayerSpec, LlmSpec, MlaDims, MoeSpec, SparseIndexer,
};
use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};
use crate::perf::ExpertRouting;

/// Fields whose presence means layers this reading does not size: refused, never skipped.
const UNREAD_LAYERS: [(&str, &str); 4] = [
    (
        "hybrid_override_pattern",
        "Mamba layers (a hybrid of state-space and attention layers)",
    ),
    ("layers_block_type", "Mamba or other non-attention layers"),
    ("linear_attn_config", "linear-attention layers"),
    (
        "block_configs",
        "layers of different shapes (a NAS-searched model)",
    ),
];

/// `model_type`s whose experts and latent attention this reading follows (their
/// `transformers` modelling code): other families may hold parts that a reading of the common
/// fields would miss (other shared-expert fields, indexers, gates), so their mixtures of
/// experts and MLA are refused rather than guessed.
const MOE_FAMILIES: [&str; 13] = [
    "deepseek_v2",
    "deepseek_v3",
    // DeepSeek-V3's layers with DeepSeek Sparse Attention's indexer (DeepSeek-V3.2), and
    // GLM-5's, which transformers 5.25 builds from them (`GlmMoeDsaConfig(DeepseekV32Config)`).
    "deepseek_v32",
    "glm_moe_dsa",
    "kimi_k2",
    "qwen2_moe",
    "qwen3_moe",
    // Qwen2-MoE's experts with its gated shared expert, and Gated DeltaNet layers.
    "qwen3_next",
    "qwen3_5_moe_text",
    "mixtral",
    "gpt_oss",
    "llama4_text",
    // MiniMax-M2: Mixtral's experts (`num_local_experts` of `intermediate_size`) on every
    // layer, routed by a sigmoid with a score bias, and no shared expert
    // (transformers 5.25's `MiniMaxM2SparseMoeBlock`).
    "minimax_m2",
];

/// The object the architecture's fields are read from, and how errors name them.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    /// `text_config.` for a config that nests the language model's fields.
    prefix: &'static str,
    path: &'a Path,
}

impl Fields<'_> {
    fn err(&self, field: &str, message: String) -> ModelsError {
        ModelsError::Config {
            path: self.path.to_path_buf(),
            field: format!("{}{field}", self.prefix),
            message,
        }
    }

    /// The field, `None` when absent or null.
    fn value(&self, field: &str) -> Option<&Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    /// An integer field: at least 1 (or 0 where `zero_ok`), at most a bound far above any
    /// real model and low enough that sizes multiply without overflow.
    fn int(&self, field: &str, zero_ok: bool) -> Result<Option<u32>> {
        let most: u64 = match field {
            "num_hidden_layers" | "first_k_dense_replace" | "max_window_layers" => 10_000,
            "vocab_size" => 1 << 24,
            "intermediate_size"
            | "moe_intermediate_size"
            | "shared_expert_intermediate_size"
            | "intermediate_size_mlp" => 1 << 22,
            "sliding_window" => u64::from(u32::MAX),
            // Llama-4 Scout's context is 10,485,760 tokens.
            "max_position_embeddings" | "attention_chunk_size" => 1 << 28,
            _ => 1 << 20,
        };
        let least = u64::from(!zero_ok);
        match self.value(field) {
            None => Ok(None),
            Some(x) => match x.as_u64() {
                Some(n) if n > most => Err(self.err(
                    field,
                    format!("{n} is more than {most} (no model is this large)"),
                )),
                Some(n) if n >= least => Ok(Some(n as u32)),
                _ if zero_ok => Err(self.err(field, format!("{x} is not a whole number"))),
                _ => Err(self.err(field, format!("{x} is not a positive integer"))),
            },
        }
    }

    fn get(&self, field: &str) -> Result<Option<u32>> {
        self.int(field, false)
    }

    fn req(&self, field: &str) -> Result<u32> {
        self.get(field)?
            .ok_or_else(|| self.err(field, "missing".into()))
    }

    fn flag(&self, field: &str) -> Result<Option<bool>> {
        match self.value(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(x) => Err(self.err(field, format!("{x} is not a boolean"))),
        }
    }

    fn text(&self, field: &str) -> Option<&str> {
        self.value(field).and_then(Value::as_str)
    }
}

impl LlmSpec {
    /// Loads a model from a Hugging Face `config.json` (see the module's documentation for
    /// the fields read and the architectures refused). Required: `hidden_size`,
    /// `num_hidden_layers`, `num_attention_heads`, `vocab_size`, and `intermediate_size`
    /// unless every layer has experts.
    /// As in `transformers`: `num_key_value_heads` defaults to `num_attention_heads`,
    /// `head_dim` to `hidden_size / num_attention_heads`, `tie_word_embeddings` to false.
    /// A `quantization_config` with `quant_method: fp8` gives FP8 weights (block-scaled when it
    /// has `weight_block_size`); `mxfp4` gives MXFP4 experts. `max_position_embeddings`, when
    /// given, is the context length.
    pub fn from_hf_config(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_hf_config_str(&text, path)
    }

    /// As [`LlmSpec::from_hf_config`], from the text of the file (`path` names it in errors).
    pub fn from_hf_config_str(text: &str, path: &Path) -> Result<Self> {
        let root_err = |field: &str, message: String| ModelsError::Config {
            path: path.to_path_buf(),
            field: field.to_string(),
            message,
        };
        let v: Value = serde_json::from_str(text).map_err(|e| {
            root_err(
                &format!("line {} column {}", e.line(), e.column()),
                e.to_string(),
            )
        })?;
        let root = v
            .as_object()
            .ok_or_else(|| root_err("(root)", "not a JSON object".into()))?;
        let f = match root.get("text_config") {
            None | Some(Value::Null) => Fields {
                obj: root,
                prefix: "",
                path,
            },
            Some(Value::Object(obj)) => Fields {
                obj,
                prefix: "text_config.",
                path,
            },
            Some(_) => return Err(root_err("text_config", "not a JSON object".into())),
        };
        for (field, what) in UNREAD_LAYERS {
            if f.value(field).is_some() {
                return Err(f.err(field, format!("{what}: not modelled yet")));
            }
        }
        let hidden_size = f.req("hidden_size")?;
        let num_layers = f.req("num_hidden_layers")?;
        let num_heads = f.req("num_attention_heads")?;
        let num_kv_heads = f.get("num_key_value_heads")?.unwrap_or(num_heads);
        let mla = mla_dims(&f, num_layers)?;
        let head_dim = match (mla, f.get("head_dim")?) {
            // The query/key head dimension; the cache is sized from the MLA ranks.
            (Some(d), _) => d.qk_nope_head_dim + d.qk_rope_head_dim,
            (None, Some(d)) => d,
            (None, None) if hidden_size.is_multiple_of(num_heads) => hidden_size / num_heads,
            (None, None) => {
                return Err(f.err(
                    "head_dim",
                    "missing, and hidden_size is not a multiple of num_attention_heads".into(),
                ));
            }
        };
        if mla.is_none() && !num_heads.is_multiple_of(num_kv_heads) {
            return Err(f.err(
                "num_key_value_heads",
                format!("{num_kv_heads} does not divide num_attention_heads {num_heads}"),
            ));
        }
        let mixers = mixers(&f, num_layers)?;
        let tie_word_embeddings = match f.flag("tie_word_embeddings")? {
            Some(b) => b,
            None if f.prefix.is_empty() => false,
            None => match root.get("tie_word_embeddings") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(x) => {
                    return Err(root_err(
                        "tie_word_embeddings",
                        format!("{x} is not a boolean"),
                    ));
                }
            },
        };
        let (quant_field, quant) = match f.value("quantization_config") {
            Some(q) => (format!("{}quantization_config", f.prefix), Some(q)),
            None => (
                "quantization_config".to_string(),
                root.get("quantization_config"),
            ),
        };
        let method = quant
            .and_then(|q| q.get("quant_method"))
            .and_then(Value::as_str);
        let mut kv_dtype = None;
        let (weight_dtype, expert_format) = match method {
            Some("fp8") => {
                let block =
                    quant.is_some_and(|q| q.get("weight_block_size").is_some_and(|b| !b.is_null()));
                let dtype = if block { Dtype::Fp8Block } else { Dtype::Fp8 };
                (dtype, ExpertFormat::WeightDtype)
            }
            Some("mxfp4") => (Dtype::Bf16, ExpertFormat::Mxfp4),
            Some("compressed-tensors") => (
                Dtype::Bf16,
                int4_experts(quant.unwrap_or(&Value::Null), &quant_field, path)?,
            ),
            Some("modelopt") => {
                let (experts_alone, kv) =
                    modelopt_nvfp4(quant.unwrap_or(&Value::Null), &quant_field, path)?;
                kv_dtype = kv;
                if experts_alone {
                    (Dtype::Bf16, ExpertFormat::Nvfp4)
                } else {
                    (Dtype::Nvfp4, ExpertFormat::WeightDtype)
                }
            }
            _ => (Dtype::Bf16, ExpertFormat::WeightDtype),
        };
        let intermediate_size = f.get("intermediate_size")?;
        let vocab_size = f.req("vocab_size")?;
        let moe = moe_spec(&f, expert_format, hidden_size, num_layers)?;
        let mut layers = Vec::with_capacity(mixers.len());
        for (i, mixer) in mixers.into_iter().enumerate() {
            let ffn = if moe.is_some() && is_moe_layer(&f, i as u32)? {
                Ffn::Moe
            } else {
                Ffn::Dense
            };
            layers.push(LayerSpec { mixer, ffn });
        }
        if let (ExpertFormat::Int4 { .. } | ExpertFormat::Nvfp4, Some(m)) = (expert_format, &moe) {
            experts_alone(
                quant.unwrap_or(&Value::Null),
                &quant_field,
                path,
                m.shared_intermediate_size > 0,
                layers.iter().any(|l| l.ffn == Ffn::Dense),
            )?;
        }
        if moe.is_none() && expert_format != ExpertFormat::WeightDtype {
            return Err(ModelsError::Config {
                path: path.to_path_buf(),
                field: format!("{quant_field}.quant_method"),
                message: format!(
                    "{} is read here for the experts of a mixture of experts (gpt-oss's \
                     MXFP4, Kimi-K2.5's int4, ModelOpt's NVFP4 that leaves the attention in \
                     16 bits); this model has none, and such dense weights are not modelled \
                     yet",
                    method.unwrap_or_default()
                ),
            });
        }
        // Dense configs keep the reading they always had (another method reads as bf16); for
        // the architectures read here a method not read is an error, not a guess.
        if let Some(m) =
            method.filter(|m| !["fp8", "mxfp4", "compressed-tensors", "modelopt"].contains(m))
            && (moe.is_some() || mla.is_some())
        {
            return Err(ModelsError::Config {
                path: path.to_path_buf(),
                field: format!("{quant_field}.quant_method"),
                message: format!(
                    "{m} is not read (read: fp8, mxfp4, compressed-tensors, modelopt)"
                ),
            });
        }
        let model_type = f
            .text("model_type")
            .or_else(|| root.get("model_type").and_then(Value::as_str));
        if (moe.is_some() || mla.is_some())
            && !model_type.is_some_and(|t| MOE_FAMILIES.contains(&t))
        {
            return Err(f.err(
                "model_type",
                format!(
                    "{}: the experts and latent attention of this family are not read yet (read: \
                     {})",
                    model_type.unwrap_or("(none)"),
                    MOE_FAMILIES.join(", ")
                ),
            ));
        }
        // Llama-4 sizes its dense layers' MLP apart from its experts'.
        let dense_ffn = f.int("intermediate_size_mlp", false)?.or(intermediate_size);
        // A model whose every layer has experts needs no dense MLP size (Qwen3.5-397B-A17B's
        // config has none); it is then the experts' and sizes nothing.
        let dense_ffn = match (dense_ffn, &moe) {
            (Some(i), _) => i,
            (None, Some(m)) if layers.iter().all(|l| l.ffn == Ffn::Moe) => {
                m.expert_intermediate_size
            }
            (None, _) => return Err(f.err("intermediate_size", "missing".into())),
        };
        if root.get("vision_config").is_some_and(|v| !v.is_null()) {
            return Err(root_err(
                "vision_config",
                "a multimodal model: the vision encoder's weights and image tokens are not \
                 modelled yet (a text-only config of the language model is read)"
                    .into(),
            ));
        }
        let parts = ArchParts {
            attention: mla.map_or(Attention::Standard, Attention::Mla),
            layers,
            moe,
            attention_bias: f.flag("attention_bias")?.unwrap_or(false),
            // gpt-oss's attention has a learned sink logit per head (GptOssAttention.sinks).
            attention_sinks: model_type == Some("gpt_oss"),
            // Qwen3-Next's attention gates its output by default (vLLM 0.11.0's
            // `Qwen3NextAttention`: `getattr(config, "attn_output_gate", True)`); Qwen3.5's
            // configs say so.
            attention_output_gate: f
                .flag("attn_output_gate")?
                .unwrap_or(model_type == Some("qwen3_next")),
        };
        let mut spec = LlmSpec::assemble(
            path.display().to_string(),
            [
                hidden_size,
                num_layers,
                num_heads,
                num_kv_heads,
                head_dim,
                dense_ffn,
                vocab_size,
            ],
            tie_word_embeddings,
            weight_dtype,
            parts,
        );
        spec.max_position_embeddings = f.get("max_position_embeddings")?;
        // A ModelOpt checkpoint's KV cache as its `kv_cache_scheme` says (FP8).
        if let Some(kv) = kv_dtype {
            spec.kv_dtype = kv;
        }
        if model_type == Some("gpt_oss") {
            spec.response_header_tokens = super::HARMONY_HEADER_TOKENS;
        }
        Ok(spec)
    }
}

/// Multi-head latent attention's dimensions, when the config has `kv_lora_rank`.
fn mla_dims(f: &Fields<'_>, num_layers: u32) -> Result<Option<MlaDims>> {
    let Some(kv_lora_rank) = f.get("kv_lora_rank")? else {
        if f.value("index_topk").is_some() {
            return Err(f.err(
                "index_topk",
                "a sparse-attention indexer without multi-head latent attention \
                 (`kv_lora_rank`) is not read"
                    .into(),
            ));
        }
        return Ok(None);
    };
    let q_lora_rank = f.get("q_lora_rank")?;
    let indexer = sparse_indexer(f, num_layers)?;
    if indexer.is_some() && q_lora_rank.is_none() {
        return Err(f.err(
            "q_lora_rank",
            "missing: the sparse-attention indexer projects its queries from the query latent"
                .into(),
        ));
    }
    Ok(Some(MlaDims {
        q_lora_rank,
        kv_lora_rank,
        qk_nope_head_dim: f.req("qk_nope_head_dim")?,
        qk_rope_head_dim: f.req("qk_rope_head_dim")?,
        v_head_dim: f.req("v_head_dim")?,
        indexer,
    }))
}

/// DeepSeek Sparse Attention's indexer, when the config has `index_topk` (DeepSeek-V3.2's
/// `DeepseekV32Config`, GLM-5's `GlmMoeDsaConfig`, transformers 5.25), with which of the
/// `num_layers` layers run one of their own: GLM-5.2's `indexer_types` (`full` or `shared`,
/// a shared layer reusing the last full one's selection), else its `index_topk_pattern` (`F`
/// and `S`), else every `index_topk_freq`-th layer from `index_skip_topk_offset` on (the
/// first layers before the offset all full), as `GlmMoeDsaConfig.__post_init__` derives them;
/// without any of them every layer runs its own (DeepSeek-V3.2, GLM-5).
fn sparse_indexer(f: &Fields<'_>, num_layers: u32) -> Result<Option<SparseIndexer>> {
    let Some(topk) = f.get("index_topk")? else {
        return Ok(None);
    };
    let n = num_layers as usize;
    let full: Vec<bool> = if let Some(types) = f.value("indexer_types") {
        let parsed: Option<Vec<bool>> = types.as_array().filter(|a| a.len() == n).and_then(|a| {
            a.iter()
                .map(|t| match t.as_str() {
                    Some("full") => Some(true),
                    Some("shared") => Some(false),
                    _ => None,
                })
                .collect()
        });
        parsed.ok_or_else(|| {
            f.err(
                "indexer_types",
                format!("not a list of {num_layers} `full` or `shared` (num_hidden_layers)"),
            )
        })?
    } else if let Some(p) = f.value("index_topk_pattern") {
        let parsed: Option<Vec<bool>> = p.as_str().filter(|s| s.len() == n).and_then(|s| {
            s.chars()
                .map(|c| match c {
                    'F' => Some(true),
                    'S' => Some(false),
                    _ => None,
                })
                .collect()
        });
        parsed.ok_or_else(|| {
            f.err(
                "index_topk_pattern",
                format!("not {num_layers} letters `F` or `S` (num_hidden_layers)"),
            )
        })?
    } else {
        let freq = f.get("index_topk_freq")?.unwrap_or(1);
        let offset = f.int("index_skip_topk_offset", true)?.unwrap_or(2);
        (0..num_layers)
            .map(|i| (i + 1).saturating_sub(offset).is_multiple_of(freq))
            .collect()
    };
    if full.first() == Some(&false) {
        return Err(f.err(
            if f.value("indexer_types").is_some() {
                "indexer_types"
            } else {
                "index_topk_pattern"
            },
            "the first layer shares the selection of no earlier layer".into(),
        ));
    }
    Ok(Some(SparseIndexer {
        heads: f.req("index_n_heads")?,
        head_dim: f.req("index_head_dim")?,
        topk,
        own_layers: full.iter().filter(|&&b| b).count() as u32,
        layers: num_layers,
    }))
}

/// The mixture of experts, when the config has a positive expert count.
fn moe_spec(
    f: &Fields<'_>,
    expert_format: ExpertFormat,
    hidden_size: u32,
    num_layers: u32,
) -> Result<Option<MoeSpec>> {
    let mut found = None;
    for field in ["n_routed_experts", "num_experts", "num_local_experts"] {
        if let Some(n) = f.int(field, true)? {
            found = Some((field, n));
            break;
        }
    }
    let Some((experts_field, num_experts)) = found.filter(|(_, n)| *n > 0) else {
        return Ok(None);
    };
    let top_k = match f.get("num_experts_per_tok")? {
        Some(k) => k,
        None => f.get("experts_per_token")?.ok_or_else(|| {
            f.err(
                "num_experts_per_tok",
                format!("missing ({experts_field} is {num_experts}: how many experts a token goes to is needed)"),
            )
        })?,
    };
    if top_k > num_experts {
        return Err(f.err(
            "num_experts_per_tok",
            format!("{top_k} is more than the {num_experts} experts ({experts_field})"),
        ));
    }
    let expert_intermediate_size = match f.get("moe_intermediate_size")? {
        Some(i) => i,
        None => f.req("intermediate_size")?,
    };
    // Expert weights of all layers, bounded so that sizes in bytes never overflow.
    let expert_params = 3
        * u128::from(num_experts)
        * u128::from(expert_intermediate_size)
        * u128::from(hidden_size)
        * u128::from(num_layers);
    if expert_params > 1 << 56 {
        return Err(f.err(
            experts_field,
            format!("{num_experts} experts of {expert_intermediate_size} in {num_layers} layers of {hidden_size} is more than 2^56 parameters (no model is this large)"),
        ));
    }
    let (shared_intermediate_size, shared_expert_gate) = if let Some(n) =
        f.int("n_shared_experts", true)?
    {
        // DeepSeekMoE: the shared experts are one MLP of n × moe_intermediate_size.
        let size = u64::from(n) * u64::from(expert_intermediate_size);
        if size > 1 << 22 {
            return Err(f.err(
                    "n_shared_experts",
                    format!("{n} shared experts of {expert_intermediate_size} is more than {} (no model is this large)", 1 << 22),
                ));
        }
        (size as u32, false)
    } else if let Some(s) = f.int("shared_expert_intermediate_size", true)? {
        // Qwen2-MoE: one shared expert, its output scaled by a sigmoid gate (h → 1).
        (s, s > 0)
    } else if f.text("model_type") == Some("llama4_text") {
        // Llama-4: one shared expert of the experts' size (transformers' `Llama4TextMoe`:
        // `shared_expert = Llama4TextMLP(config)`, of `intermediate_size`).
        (expert_intermediate_size, false)
    } else {
        (0, false)
    };
    let model_type = f.text("model_type");
    // MiniMax-M2's configs carry a `shared_intermediate_size` that its modelling code never
    // builds (transformers 5.25's `MiniMaxM2SparseMoeBlock` has routed experts only): 0 is
    // what the published models say; another value names a part no code defines.
    if model_type == Some("minimax_m2")
        && let Some(s) = f.int("shared_intermediate_size", true)?.filter(|&s| s > 0)
    {
        return Err(f.err(
            "shared_intermediate_size",
            format!(
                "{s}: MiniMax-M2's modelling code has no shared expert (its published configs \
                 say 0)"
            ),
        ));
    }
    Ok(Some(MoeSpec {
        num_experts,
        top_k,
        expert_intermediate_size,
        shared_intermediate_size,
        shared_expert_gate,
        // gpt-oss's router and experts have biases (GptOssTopKRouter.bias, GptOssExperts
        // gate_up_proj_bias / down_proj_bias).
        biases: model_type == Some("gpt_oss"),
        routing: default_routing(model_type),
        expert_format,
    }))
}

/// The routing a model's MoE layers are timed with unless the scenario says otherwise:
/// aiconfigurator's default (`workload_distribution: power_law` in `sdk/config.py` of 0.8.0),
/// with the exponent its model classes give (`sdk/models.py`: 1.01 for its DeepSeek family,
/// the architectures of DeepSeek-V3/R1, V3.2, Kimi-K2 and K2.5, GLM-5; 1.2 for every other
/// mixture).
fn default_routing(model_type: Option<&str>) -> ExpertRouting {
    match model_type {
        Some("deepseek_v3" | "deepseek_v32" | "kimi_k2" | "kimi_k25" | "glm_moe_dsa") => {
            ExpertRouting::PowerLaw101
        }
        _ => ExpertRouting::PowerLaw12,
    }
}

/// Whether layer `i` of a mixture-of-experts model has experts, by the rules of each
/// family's modelling code (all of them when none of the fields is present: Mixtral,
/// gpt-oss).
fn is_moe_layer(f: &Fields<'_>, i: u32) -> Result<bool> {
    // DeepSeek-V2/V3: `layer_idx >= first_k_dense_replace and layer_idx % moe_layer_freq == 0`.
    let first_dense = f.int("first_k_dense_replace", true)?.unwrap_or(0);
    let freq = f.get("moe_layer_freq")?.unwrap_or(1);
    // Qwen2/3-MoE: `layer_idx not in mlp_only_layers and (layer_idx + 1) % decoder_sparse_step == 0`.
    let step = f.get("decoder_sparse_step")?.unwrap_or(1);
    // Llama-4: `moe_layers`, by default every `interleave_moe_layer_step`-th layer from
    // `step - 1`.
    let interleave = f.get("interleave_moe_layer_step")?.unwrap_or(1);
    let listed = |field: &str| -> Result<Option<bool>> {
        match f.value(field) {
            None => Ok(None),
            Some(Value::Array(a)) => {
                for x in a {
                    if x.as_u64().is_none() {
                        return Err(f.err(field, format!("{x} is not a layer index")));
                    }
                }
                Ok(Some(a.iter().any(|x| x.as_u64() == Some(u64::from(i)))))
            }
            Some(x) => Err(f.err(field, format!("{x} is not a list of layer indices"))),
        }
    };
    let dense_listed = listed("mlp_only_layers")?.unwrap_or(false);
    // GLM-5's `mlp_layer_types` (transformers 5.25's `GlmMoeDsaConfig`: `dense` or `sparse` per
    // layer), where given, says it outright.
    if let Some(types) = f.value("mlp_layer_types") {
        let field = format!("mlp_layer_types[{i}]");
        return match types
            .as_array()
            .and_then(|a| a.get(i as usize))
            .and_then(Value::as_str)
        {
            Some("sparse") => Ok(true),
            Some("dense") => Ok(false),
            _ => Err(f.err(&field, "missing, or not `dense` or `sparse`".into())),
        };
    }
    let moe_listed = listed("moe_layers")?;
    Ok(i >= first_dense
        && i.is_multiple_of(freq)
        && (i + 1).is_multiple_of(step)
        && !dense_listed
        && moe_listed.unwrap_or((i + 1).is_multiple_of(interleave)))
}
