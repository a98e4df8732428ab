//! Gated DeltaNet kernels ([`GdnShape`]): their work for the roofline, and how the calibrated
//! timer keys them.
//!
//! A layer's convolution runs over `conv_dim = 2 × key heads × key dim + value heads × value
//! dim` channels (the mixed query-key-value projection: `conv_dim` in vLLM 0.11.0's
//! `Qwen3NextGatedDeltaNet`), keeping the last `conv_kernel − 1` inputs of each sequence as its
//! state; the delta rule keeps a `key dim × value dim` matrix per value head and sequence
//! (`MambaStateShapeCalculator.gated_delta_net_state_shape`). Both states are in the model's
//! dtype (16-bit: vLLM's `mamba_cache_dtype` defaults to it).

use crate::hardware::GpuSku;
use crate::perf::ops::{GdnPart, GdnShape};
use crate::perf::table::ln;

/// Bytes of an activation or state element (16-bit).
const ELEMENT_BYTES: f64 = 2.0;
/// Tokens a chunk of the chunked delta rule holds (flash-linear-attention's
/// `chunk_gated_delta_rule`: `chunk_size=64`).
const CHUNK: f64 = 64.0;

/// Channels of the convolution on one GPU.
fn conv_dim(s: &GdnShape) -> f64 {
    2.0 * f64::from(s.k_heads) * f64::from(s.head_k_dim)
        + f64::from(s.v_heads) * f64::from(s.head_v_dim)
}

/// FLOPs, HBM bytes and the dense peak that bounds a Gated DeltaNet kernel on `gpu`.
///
/// - Convolution: `2 × conv_kernel` FLOPs a channel a token; each token's channels read and
///   written, and each sequence's state (`conv_kernel − 1` inputs) written (prompts) or read
///   and written (decode).
/// - Chunked rule over prompts: per token and value head, the state's contribution to the
///   output and the token's to the state (`2 × 2 × dk × dv`) and attention within its chunk
///   (`2 × 64 × (dk + dv)`); the queries, keys and values read, the output written, the gate
///   and step size (FP32) read, the final state written.
/// - Recurrent rule in decode: the state decayed, read against the key, updated by an outer
///   product and read against the query (`6 × dk × dv` a value head); the state read and
///   written, which bounds it.
pub(crate) fn work(s: &GdnShape, gpu: &GpuSku) -> (f64, f64, f64) {
    let b = f64::from(s.batch);
    let tokens = b * f64::from(s.len);
    let (dk, dv) = (f64::from(s.head_k_dim), f64::from(s.head_v_dim));
    let (kh, vh) = (f64::from(s.k_heads), f64::from(s.v_heads));
    let conv = conv_dim(s);
    let w = f64::from(s.conv_kernel);
    let conv_state = conv * (w - 1.0).max(0.0) * ELEMENT_BYTES;
    let rule_state = vh * dk * dv * ELEMENT_BYTES;
    let qkvo = (2.0 * kh * dk + 2.0 * vh * dv) * ELEMENT_BYTES;
    let (flops, bytes) = match s.part {
        GdnPart::ContextConv => (
            2.0 * tokens * conv * w,
            tokens * conv * 2.0 * ELEMENT_BYTES + b * conv_state + conv * w * ELEMENT_BYTES,
        ),
        GdnPart::GenerationConv => (
            2.0 * b * conv * w,
            b * (2.0 * conv_state + conv * 2.0 * ELEMENT_BYTES) + conv * w * ELEMENT_BYTES,
        ),
        GdnPart::ContextRule => (
            tokens * vh * (4.0 * dk * dv + 2.0 * CHUNK * (dk + dv)),
            tokens * (qkvo + vh * 2.0 * 4.0) + b * rule_state,
        ),
        GdnPart::GenerationRule => (b * vh * 6.0 * dk * dv, b * (2.0 * rule_state + qkvo)),
    };
    (flops, bytes, gpu.bf16_dense_flops)
}

/// Where the category keeps the part.
const PART_SHIFT: u32 = 48;

fn part_code(p: GdnPart) -> u64 {
    match p {
        GdnPart::ContextConv => 0,
        GdnPart::ContextRule => 1,
        GdnPart::GenerationConv => 2,
        GdnPart::GenerationRule => 3,
    }
}

/// A kernel's category is its part and the layer's shape (head dimensions, value heads per
/// key head, convolution width); its coordinates the value heads on the GPU, the batch and
/// the prompt length, as for an MLA part.
pub(crate) fn key(s: &GdnShape) -> (u64, [f64; 3]) {
    let ratio = (s.v_heads / s.k_heads.max(1)).min(0xff);
    let cat = u64::from(s.head_k_dim.min(0xffff))
        | (u64::from(s.head_v_dim.min(0xffff)) << 16)
        | (u64::from(ratio) << 32)
        | (u64::from(s.conv_kernel.min(0xff)) << 40)
        | (part_code(s.part) << PART_SHIFT);
    let x = [ln(s.v_heads.into()), ln(s.batch.into()), ln(s.len.into())];
    (cat, x)
}

/// Whether two categories are of the same part (another part's rows never stand in).
pub(crate) fn same_part(a: u64, b: u64) -> bool {
    a >> PART_SHIFT == b >> PART_SHIFT
}

/// Distance between categories of one part: the log ratios of the head dimensions and of
/// the value heads per key head, and a different convolution width.
pub(crate) fn dist(a: u64, b: u64) -> f64 {
    let field = |c: u64, shift: u32, mask: u64| (((c >> shift) & mask) as f64).max(1.0);
    let lr = |shift: u32, mask: u64| (field(a, shift, mask) / field(b, shift, mask)).ln().abs();
    let other_part = if same_part(a, b) { 0.0 } else { 1e6 };
    let width = if (a >> 40) & 0xff == (b >> 40) & 0xff {
        0.0
    } else {
        1.0
    };
    other_part + lr(0, 0xffff) + lr(16, 0xffff) + lr(32, 0xff) + width
}

/// Orderings built: batch and length innermost, within the heads on the GPU walked first
/// (as for MLA parts: the heads pick the kernels' grid).
pub(crate) const LEAVES: &[usize] = &[1, 2];
/// Coordinates walked first: value heads on the GPU.
pub(crate) const OUTER: &[usize] = &[0];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::GpuCatalog;

    fn shape(part: GdnPart, batch: u32, len: u32) -> GdnShape {
        // Qwen3.5-27B at TP 1: 16 key heads, 48 value heads of 128.
        GdnShape {
            part,
            batch,
            len,
            k_heads: 16,
            v_heads: 48,
            head_k_dim: 128,
            head_v_dim: 128,
            conv_kernel: 4,
        }
    }

    #[test]
    fn decode_is_bound_by_the_state_and_prompts_grow_with_their_tokens() {
        let cat = GpuCatalog::builtin();
        let gpu = cat.get("h200_sxm").unwrap();
        // Decode: 48 value heads × 128 × 128 16-bit states read and written per sequence.
        let (_, bytes, _) = work(&shape(GdnPart::GenerationRule, 8, 1), gpu);
        let state = 48.0 * 128.0 * 128.0 * 2.0;
        assert!(
            bytes > 8.0 * 2.0 * state && bytes < 8.0 * 2.1 * state,
            "{bytes}"
        );
        for part in [GdnPart::ContextConv, GdnPart::ContextRule] {
            let (f1, b1, _) = work(&shape(part, 1, 1024), gpu);
            let (f2, b2, _) = work(&shape(part, 1, 2048), gpu);
            assert!((f2 / f1 - 2.0).abs() < 1e-9, "{part:?}");
            assert!(b2 > 1.9 * b1 && b2 < 2.0 * b1, "{part:?}: {b1} {b2}");
        }
    }

    #[test]
    fn categories_keep_parts_apart_and_shapes_near() {
        let (a, _) = key(&shape(GdnPart::ContextRule, 1, 8));
        let (b, _) = key(&shape(GdnPart::GenerationRule, 1, 1));
        assert!(!same_part(a, b) && dist(a, b) >= 1e6);
        let mut other = shape(GdnPart::ContextRule, 1, 8);
        other.v_heads = 16;
        let (c, x) = key(&other);
        assert!(same_part(a, c) && dist(a, c) > 0.0 && dist(a, c) < 2.0);
        assert_eq!(x, [16f64.ln(), 0.0, 8f64.ln()]);
    }
}
