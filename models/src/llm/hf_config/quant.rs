//! Weights quantised apart from the model's dtype, as a `quantization_config` says: a
//! compressed-tensors config read for int4 routed experts (W4A16), a ModelOpt one for NVFP4
//! (NVIDIA's checkpoints for Blackwell), refused otherwise.

use std::path::Path;

use serde_json::Value;

use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};
use crate::llm::ExpertFormat;

/// The expert format of a compressed-tensors `quantization_config` (`quant` at `field`), read
/// for what vLLM's `CompressedTensorsWNA16MoEMethod` runs and Kimi-K2.5 publishes: one config
/// group of symmetric int4 weights in groups (`strategy: group`, `group_size`), activations
/// left in 16 bits. Any other scheme is refused, naming the field.
pub(super) fn int4_experts(quant: &Value, field: &str, path: &Path) -> Result<ExpertFormat> {
    let err = |at: &str, message: String| ModelsError::Config {
        path: path.to_path_buf(),
        field: format!("{field}.{at}"),
        message,
    };
    let groups = quant
        .get("config_groups")
        .and_then(Value::as_object)
        .ok_or_else(|| err("config_groups", "missing, or not an object".into()))?;
    let [(name, group)] = groups.iter().collect::<Vec<_>>()[..] else {
        return Err(err(
            "config_groups",
            format!(
                "{} groups: one group of int4 weights is read (W4A16 experts)",
                groups.len()
            ),
        ));
    };
    let at = |k: &str| format!("config_groups.{name}.{k}");
    if group.get("input_activations").is_some_and(|a| !a.is_null()) {
        return Err(err(
            &at("input_activations"),
            "quantised activations are not read (W4A16: weights only)".into(),
        ));
    }
    let w = group
        .get("weights")
        .ok_or_else(|| err(&at("weights"), "missing".into()))?;
    let text = |k: &str| w.get(k).and_then(Value::as_str);
    let bits = w.get("num_bits").and_then(Value::as_u64);
    if bits != Some(4) || text("type") != Some("int") {
        return Err(err(
            &at("weights"),
            format!(
                "num_bits {} of type {}: int4 weights are read",
                w.get("num_bits").unwrap_or(&Value::Null),
                w.get("type").unwrap_or(&Value::Null)
            ),
        ));
    }
    if text("strategy") != Some("group")
        || w.get("symmetric").and_then(Value::as_bool) != Some(true)
    {
        return Err(err(
            &at("weights.strategy"),
            "symmetric int4 weights in groups (`strategy: group`, `symmetric: true`) are read"
                .into(),
        ));
    }
    match w.get("group_size").and_then(Value::as_u64) {
        Some(g @ 1..=4096) => Ok(ExpertFormat::Int4 { group: g as u32 }),
        _ => Err(err(
            &at("weights.group_size"),
            format!(
                "{}: a group of 1 to 4096 weights is read",
                w.get("group_size").unwrap_or(&Value::Null)
            ),
        )),
    }
}

/// Whether an `ignore` list keeps the attention in 16 bits (names `self_attn`, or Gated
/// DeltaNet's `linear_attn`): a ModelOpt checkpoint that does quantises the experts alone.
fn ignores_attention(quant: &Value) -> bool {
    ignored(quant).iter().any(|p| p.contains("attn"))
}

fn ignored(quant: &Value) -> Vec<&str> {
    quant
        .get("ignore")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether `p` names a whole layer (`model.layers.0*`, `model.layers.1.*`).
fn whole_layer(p: &str) -> bool {
    let Some(body) = p.strip_suffix('*') else {
        return false;
    };
    let body = body.strip_suffix('.').unwrap_or(body);
    body.rsplit_once("layers.")
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks that a config quantising the routed experts (compressed-tensors int4, ModelOpt
/// NVFP4) quantises them only, as the simulator reads it: its `ignore` list must name the
/// attention (`self_attn`, `linear_attn`), the shared experts where the model has them, and
/// the dense layers' MLPs where it has such layers (their projections, or the whole layers:
/// Kimi-K2.5's list names all three, GLM-5.1-NVFP4's its first layers whole). What it leaves
/// then stays in 16 bits.
pub(super) fn experts_alone(
    quant: &Value,
    field: &str,
    path: &Path,
    shared: bool,
    dense_layers: bool,
) -> Result<()> {
    let ignore = ignored(quant);
    let names = |part: &str| ignore.iter().any(|p| p.contains(part));
    let dense_mlp = ignore.iter().any(|p| {
        (p.contains("mlp") && p.contains("proj") && !p.contains("expert")) || whole_layer(p)
    });
    let missing = [
        (!names("attn"), "the attention (`self_attn`)"),
        (shared && !names("shared_expert"), "the shared experts"),
        (
            dense_layers && !dense_mlp,
            "the dense layers' MLP projections",
        ),
    ]
    .into_iter()
    .filter_map(|(m, what)| m.then_some(what))
    .collect::<Vec<_>>();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ModelsError::Config {
            path: path.to_path_buf(),
            field: format!("{field}.ignore"),
            message: format!(
                "does not leave {} unquantised: the quantisation is read for the routed \
                 experts only",
                missing.join(", ")
            ),
        })
    }
}

/// The weights and KV cache of a ModelOpt `quantization_config` (`quant` at `field`:
/// `quant_method: modelopt`, as NVIDIA publishes its NVFP4 checkpoints, e.g.
/// nvidia/MiniMax-M2.5-NVFP4): `quant_algo: NVFP4` with one config group of 4-bit float weights
/// and activations in groups of 16 (NVFP4, W4A4), and the KV cache in FP8 where its
/// `kv_cache_scheme` says 8-bit floats. Returns whether the attention is left in 16 bits
/// (then the experts alone are NVFP4) and the KV dtype it gives.
pub(super) fn modelopt_nvfp4(
    quant: &Value,
    field: &str,
    path: &Path,
) -> Result<(bool, Option<Dtype>)> {
    let err = |at: &str, message: String| ModelsError::Config {
        path: path.to_path_buf(),
        field: format!("{field}.{at}"),
        message,
    };
    let algo = quant.get("quant_algo").and_then(Value::as_str);
    if algo != Some("NVFP4") {
        return Err(err(
            "quant_algo",
            format!(
                "{}: ModelOpt's NVFP4 is read",
                quant.get("quant_algo").unwrap_or(&Value::Null)
            ),
        ));
    }
    let nvfp4 = |t: Option<&Value>| {
        t.is_some_and(|t| {
            t.get("num_bits").and_then(Value::as_u64) == Some(4)
                && t.get("type").and_then(Value::as_str) == Some("float")
                && t.get("group_size").and_then(Value::as_u64) == Some(16)
        })
    };
    if let Some(groups) = quant.get("config_groups").and_then(Value::as_object) {
        for (name, g) in groups {
            for part in ["weights", "input_activations"] {
                if !nvfp4(g.get(part)) {
                    return Err(err(
                        &format!("config_groups.{name}.{part}"),
                        "4-bit floats in groups of 16 (NVFP4) are read".into(),
                    ));
                }
            }
        }
    }
    let kv = match quant.get("kv_cache_scheme") {
        None | Some(Value::Null) => None,
        Some(k)
            if k.get("num_bits").and_then(Value::as_u64) == Some(8)
                && k.get("type").and_then(Value::as_str) == Some("float") =>
        {
            Some(Dtype::Fp8)
        }
        Some(k) => {
            return Err(err(
                "kv_cache_scheme",
                format!("{k}: an FP8 KV cache (8-bit floats) is read"),
            ));
        }
    };
    Ok((ignores_attention(quant), kv))
}
