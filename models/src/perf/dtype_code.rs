//! The dtype part of the calibrated timer's categories: a code per dtype, and how far one
//! dtype's measurements stand from another's.

use crate::dtype::Dtype;

/// The code a category keeps a dtype as.
pub(super) fn dtype_code(d: Dtype) -> u64 {
    match d {
        Dtype::Bf16 => 0,
        Dtype::Fp16 => 1,
        Dtype::Fp32 => 2,
        Dtype::Fp8 => 3,
        Dtype::Fp8Block => 4,
        Dtype::Int8 => 5,
        Dtype::Nvfp4 => 6,
    }
}

/// How far apart two dtype codes stand: 0 the same, 1 a near variant (FP8 per tensor and per
/// block, BF16 and FP16), 3 otherwise.
pub(super) fn dtype_dist(a: u64, b: u64) -> f64 {
    match (a.min(b), a.max(b)) {
        (x, y) if x == y => 0.0,
        (3, 4) | (0, 1) => 1.0,
        _ => 3.0,
    }
}
