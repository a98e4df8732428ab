//! How the calibrated timer keys multi-head latent attention: whole blocks ([`MlaShape`]) and
//! their parts timed on their own ([`MlaPartShape`]), with how far one category stands from
//! another.

use crate::perf::dtype_code::{dtype_code, dtype_dist};
use crate::perf::ops::{MlaPart, MlaPartShape, MlaShape};
use crate::perf::table::ln;

/// Where a category keeps whether the attention is sparse (an indexer picks the tokens
/// attended: DeepSeek Sparse Attention), which no measured MLA row is.
const SPARSE_BIT: u64 = 1 << 48;

fn sparse(dims: &crate::llm::MlaDims) -> u64 {
    if dims.indexer.is_some() {
        SPARSE_BIT
    } else {
        0
    }
}

/// How far a sparse category stands from a dense one (and a dense from a dense: 0).
fn sparse_dist(a: u64, b: u64) -> f64 {
    if (a ^ b) & SPARSE_BIT == 0 { 0.0 } else { 1.0 }
}

/// An MLA block's category is its dtypes (KV cache, projection GEMMs), model shape (hidden
/// size, KV latent rank) and whether it is sparse; its coordinates the heads on the GPU, the
/// batch and the length.
pub(super) fn mla_key(m: &MlaShape) -> (u64, [f64; 3]) {
    let cat = dtype_code(m.kv_dtype)
        | (dtype_code(m.gemm_dtype) << 8)
        | (u64::from(m.hidden.min(0xffff)) << 16)
        | (u64::from(m.dims.kv_lora_rank.min(0xffff)) << 32)
        | sparse(&m.dims);
    let x = [ln(m.heads.into()), ln(m.batch.into()), ln(m.len.into())];
    (cat, x)
}

/// Distance between MLA categories: the KV-cache dtype (which picks the attention kernel)
/// before the GEMM dtype, then the log ratios of the model's sizes. A sparse block is timed
/// from dense rows (none measure one) through the roofline of its own work.
pub(super) fn mla_dist(a: u64, b: u64) -> f64 {
    let size = |c: u64, shift: u32| (((c >> shift) & 0xffff) as f64).max(1.0);
    let lr = |shift: u32| (size(a, shift) / size(b, shift)).ln().abs();
    2.0 * dtype_dist(a & 0xff, b & 0xff)
        + dtype_dist((a >> 8) & 0xff, (b >> 8) & 0xff)
        + lr(16)
        + lr(32)
        + sparse_dist(a, b)
}

/// Orderings built for MLA blocks: batch and length innermost, within the head count walked
/// first (the heads on a GPU pick the kernels' tiling, as the GQA ratio does for generation
/// attention). Chosen by leave-shape-out on the shipped tables (`servesim perf check`).
pub(super) const MLA_LEAVES: &[usize] = &[1, 2];
/// MLA coordinates walked first: heads per GPU.
pub(super) const MLA_OUTER: &[usize] = &[0];

/// An MLA part's category is the part (never stood for by another's rows), its dtype and the
/// model's latent sizes; its coordinates the heads on the GPU, the batch and the length, as
/// for whole blocks.
pub(super) fn mla_part_key(p: &MlaPartShape) -> (u64, [f64; 3]) {
    let cat = dtype_code(p.dtype)
        | (u64::from(p.dims.kv_lora_rank.min(0xffff)) << 8)
        | (u64::from(p.dims.qk_rope_head_dim.min(0xff)) << 24)
        | (mla_part_code(p.part) << MLA_PART_SHIFT)
        | sparse(&p.dims);
    let x = [ln(p.heads.into()), ln(p.batch.into()), ln(p.len.into())];
    (cat, x)
}

pub(super) fn mla_part_code(p: MlaPart) -> u64 {
    match p {
        MlaPart::ContextAttention => 0,
        MlaPart::GenerationAttention => 1,
        MlaPart::AbsorbQuery => 2,
        MlaPart::AbsorbOutput => 3,
    }
}

/// Where an MLA part's category keeps the part.
const MLA_PART_SHIFT: u32 = 32;

/// The part an MLA part category is of ([`mla_part_code`]).
pub(super) fn mla_part_of(c: u64) -> u64 {
    (c >> MLA_PART_SHIFT) & 0xff
}

/// Distance between MLA part categories of one part: the dtype, then the latent sizes.
pub(super) fn mla_part_dist(a: u64, b: u64) -> f64 {
    let size = |c: u64, shift: u32, mask: u64| (((c >> shift) & mask) as f64).max(1.0);
    let lr = |shift: u32, mask: u64| (size(a, shift, mask) / size(b, shift, mask)).ln().abs();
    let other_part = if mla_part_of(a) == mla_part_of(b) {
        0.0
    } else {
        1e6
    };
    other_part + dtype_dist(a & 0xff, b & 0xff) + lr(8, 0xffff) + lr(24, 0xff) + sparse_dist(a, b)
}
