//! The public layout's `gdn_perf` table (Gated DeltaNet kernels, measured at Qwen3.5's layer
//! shapes): each row one kernel ([`GdnPart`]) of one GPU's share of a layer, its heads the
//! model's over TP.

use super::RowCtx;
use crate::error::Result;
use crate::perf::ops::{GdnPart, GdnShape, KernelOp};

/// The columns read, in the order [`op`] takes them.
pub(crate) const COLUMNS: &[&[&str]] = &[
    &["kernel_source"],
    &["phase"],
    &["batch_size"],
    &["seq_len"],
    &["num_k_heads"],
    &["num_v_heads"],
    &["head_k_dim"],
    &["head_v_dim"],
    &["d_conv"],
];

/// The operation of one row (columns `i` as [`COLUMNS`] lists them): the kernel from its
/// name and phase, a prompt of `seq_len` tokens per sequence in context, one token in
/// generation. A row naming another kernel, or a phase its kernel does not run in, is an
/// error naming the column.
pub(crate) fn op(r: &RowCtx<'_>, i: &[usize]) -> Result<KernelOp> {
    let kernel = r.str(i[0])?;
    let part = match kernel {
        "causal_conv1d_fn" => GdnPart::ContextConv,
        "chunk_gated_delta_rule" => GdnPart::ContextRule,
        "causal_conv1d_update" => GdnPart::GenerationConv,
        // TensorRT-LLM's name, and SGLang's decode variant of the same recurrence.
        "fused_recurrent_gated_delta_rule" | "fused_recurrent_gated_delta_rule_packed_decode" => {
            GdnPart::GenerationRule
        }
        other => {
            return Err(r.err(
                i[0],
                format!(
                    "{other}: expected causal_conv1d_fn, chunk_gated_delta_rule, \
                     causal_conv1d_update or fused_recurrent_gated_delta_rule"
                ),
            ));
        }
    };
    let phase = r.str(i[1])?;
    let want = if part.context() {
        "context"
    } else {
        "generation"
    };
    if phase != want {
        return Err(r.err(i[1], format!("{phase}: {kernel} runs in the {want} phase")));
    }
    Ok(KernelOp::Gdn(GdnShape {
        part,
        batch: r.pos_u32(i[2])?,
        len: if part.context() { r.pos_u32(i[3])? } else { 1 },
        k_heads: r.pos_u32(i[4])?,
        v_heads: r.pos_u32(i[5])?,
        head_k_dim: r.pos_u32(i[6])?,
        head_v_dim: r.pos_u32(i[7])?,
        conv_kernel: r.pos_u32(i[8])?,
    }))
}
