//! Each layer's token mixer, as a `config.json` says: full attention, a sliding window
//! (`layer_types`, Qwen's `use_sliding_window`, Mistral's window on every layer), attention
//! within chunks (Llama-4), or a Gated DeltaNet layer (Qwen3-Next, Qwen3.5).

use serde_json::Value;

use super::Fields;
use crate::error::Result;
use crate::llm::{GdnDims, Mixer};

/// Families whose `sliding_window` (without `layer_types`) applies to every layer, as their
/// `transformers` modelling code applies it (Mistral, Mixtral, Phi-3).
const WINDOW_ON_EVERY_LAYER: [&str; 3] = ["mistral", "mixtral", "phi3"];

/// A Gated DeltaNet layer's dimensions (Qwen3-Next, Qwen3.5), every field required.
fn gdn_dims(f: &Fields<'_>) -> Result<GdnDims> {
    let d = GdnDims {
        key_heads: f.req("linear_num_key_heads")?,
        value_heads: f.req("linear_num_value_heads")?,
        key_head_dim: f.req("linear_key_head_dim")?,
        value_head_dim: f.req("linear_value_head_dim")?,
        conv_kernel: f.req("linear_conv_kernel_dim")?,
        ssm_state_bytes: match f.text("mamba_ssm_dtype") {
            None | Some("bfloat16" | "float16") => 2,
            Some("float32") => 4,
            Some(other) => {
                return Err(f.err(
                    "mamba_ssm_dtype",
                    format!("{other} is not float32, bfloat16 or float16"),
                ));
            }
        },
    };
    if !d.value_heads.is_multiple_of(d.key_heads) {
        return Err(f.err(
            "linear_num_value_heads",
            format!(
                "{} is not a multiple of linear_num_key_heads {} (each key head serves a group \
                 of value heads)",
                d.value_heads, d.key_heads
            ),
        ));
    }
    Ok(d)
}

/// Each layer's token mixer.
pub(super) fn mixers(f: &Fields<'_>, num_layers: u32) -> Result<Vec<Mixer>> {
    let n = num_layers as usize;
    // A size some layers need, an error naming it (and who asks) where it is missing.
    let size = |name: &'static str, what: &'static str| -> Result<_> {
        let v = f.get(name)?;
        Ok(move |field: &str| {
            v.ok_or_else(|| f.err(name, format!("missing, and {field} asks for {what}")))
        })
    };
    let window_size = size("sliding_window", "sliding-window attention")?;
    let sliding = |field: &str| {
        Ok(Mixer::SlidingAttention {
            window: window_size(field)?,
        })
    };
    let chunk_size = size("attention_chunk_size", "chunked attention")?;
    let chunked = |field: &str| {
        Ok(Mixer::ChunkedAttention {
            chunk: chunk_size(field)?,
        })
    };
    let chunk = f.get("attention_chunk_size")?;
    let window = f.get("sliding_window")?;
    if let Some(types) = f.value("layer_types") {
        let Some(types) = types.as_array().filter(|a| a.len() == n) else {
            return Err(f.err(
                "layer_types",
                format!("not a list of {num_layers} layer types (num_hidden_layers)"),
            ));
        };
        let mut out = Vec::with_capacity(n);
        for (i, t) in types.iter().enumerate() {
            let field = format!("layer_types[{i}]");
            out.push(match t.as_str() {
                Some("full_attention") => Mixer::FullAttention,
                Some("sliding_attention") => sliding(&field)?,
                Some("linear_attention") => Mixer::LinearAttention(gdn_dims(f)?),
                Some("chunked_attention") => chunked(&field)?,
                // DeepSeek Sparse Attention over the whole sequence (transformers 5.25's
                // `GlmMoeDsaConfig`: "every layer is DSA"; NVIDIA's GLM-5.3 config names it
                // `deepseek_sparse_attention`), read where the config has its indexer.
                Some("indexed_attention" | "deepseek_sparse_attention")
                    if f.value("index_topk").is_some() =>
                {
                    Mixer::FullAttention
                }
                _ => {
                    return Err(f.err(
                        &field,
                        format!(
                            "{t} is not full_attention, sliding_attention, chunked_attention, \
                             linear_attention, or (with a sparse-attention indexer, \
                             `index_topk`) indexed_attention"
                        ),
                    ));
                }
            });
        }
        return Ok(out);
    }
    // Llama-4 without `layer_types`: its RoPE layers attend within chunks, its NoPE layers
    // (`no_rope_layers[i]` 0; by default every fourth) to everything (transformers 4.51's
    // `Llama4TextConfig`: `no_rope_layer_interval` 4; vLLM 0.11.0's `Llama4Attention` takes
    // `ChunkedLocalAttention` where the layer uses RoPE).
    if chunk.is_some() {
        if f.text("model_type") != Some("llama4_text") {
            return Err(f.err(
                "attention_chunk_size",
                format!(
                    "which layers attend within chunks is not read for model_type {} (read: \
                     layer_types, or Llama-4's no_rope_layers)",
                    f.text("model_type").unwrap_or("(none)")
                ),
            ));
        }
        let rope: Vec<bool> = match f.value("no_rope_layers") {
            None => (0..n).map(|i| (i + 1) % 4 != 0).collect(),
            Some(Value::Array(a)) if a.len() == n => {
                let mut out = Vec::with_capacity(n);
                for (i, x) in a.iter().enumerate() {
                    out.push(match x.as_u64() {
                        Some(0) => false,
                        Some(1) => true,
                        _ => {
                            return Err(f.err(
                                &format!("no_rope_layers[{i}]"),
                                format!("{x} is not 0 or 1"),
                            ));
                        }
                    });
                }
                out
            }
            Some(_) => {
                return Err(f.err(
                    "no_rope_layers",
                    format!("not a list of {num_layers} flags (num_hidden_layers)"),
                ));
            }
        };
        let c = chunked("attention_chunk_size")?;
        return Ok(rope
            .into_iter()
            .map(|r| if r { c } else { Mixer::FullAttention })
            .collect());
    }
    // Qwen3-Next without `layer_types`: every `full_attention_interval`-th layer attends,
    // the others are Gated DeltaNet (`Qwen3NextConfig` in transformers 4.57:
    // `"linear_attention" if bool((i + 1) % interval) else "full_attention"`).
    if let Some(interval) = f.get("full_attention_interval")? {
        let d = gdn_dims(f)?;
        return Ok((0..n)
            .map(|i| {
                if (i + 1).is_multiple_of(interval as usize) {
                    Mixer::FullAttention
                } else {
                    Mixer::LinearAttention(d)
                }
            })
            .collect());
    }
    if f.value("sliding_window_pattern").is_some() {
        return Err(f.err(
            "sliding_window_pattern",
            "this family's pattern of sliding and full layers is not read; a config that \
             lists `layer_types` is"
                .into(),
        ));
    }
    match f.flag("use_sliding_window")? {
        // Qwen2/3: no window unless `use_sliding_window`; then the layers from
        // `max_window_layers` on slide.
        Some(false) => Ok(vec![Mixer::FullAttention; n]),
        Some(true) => {
            let from = f.int("max_window_layers", true)?.unwrap_or(0) as usize;
            let slide = sliding("use_sliding_window")?;
            Ok((0..n)
                .map(|i| {
                    if i >= from {
                        slide
                    } else {
                        Mixer::FullAttention
                    }
                })
                .collect())
        }
        None => match window {
            None => Ok(vec![Mixer::FullAttention; n]),
            Some(_)
                if f.text("model_type")
                    .is_some_and(|t| WINDOW_ON_EVERY_LAYER.contains(&t)) =>
            {
                Ok(vec![sliding("sliding_window")?; n])
            }
            Some(_) => Err(f.err(
                "sliding_window",
                format!(
                    "which layers slide is not read for model_type {} (read: layer_types, \
                     use_sliding_window, or the window on every layer of {})",
                    f.text("model_type").unwrap_or("(none)"),
                    WINDOW_ON_EVERY_LAYER.join(", ")
                ),
            )),
        },
    }
}
