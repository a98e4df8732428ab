//! Weights quantised apart from the model's dtype, as a `quantization_config` says: a
//! compressed-tensors config read for int4 routed experts (W4A16), refused otherwise.

use std::path::Path;

use serde_json::Value;

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

/// Checks that a compressed-tensors config quantises the routed experts only, as the
/// simulator reads it: its `ignore` list must name the attention (`self_attn`), the shared
/// experts where the model has them, and the dense layers' MLP projections where it has such
/// layers (Kimi-K2.5's list names all three, and the LM head). What it leaves then stays in
/// 16 bits.
pub(super) fn int4_leaves_the_rest(
    quant: &Value,
    field: &str,
    path: &Path,
    shared: bool,
    dense_layers: bool,
) -> Result<()> {
    let ignore: Vec<&str> = quant
        .get("ignore")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let names = |part: &str| ignore.iter().any(|p| p.contains(part));
    let dense_mlp = ignore
        .iter()
        .any(|p| p.contains("mlp") && p.contains("proj") && !p.contains("expert"));
    let missing = [
        (!names("self_attn"), "the attention (`self_attn`)"),
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
                "does not leave {} unquantised: int4 is read for the routed experts only",
                missing.join(", ")
            ),
        })
    }
}
