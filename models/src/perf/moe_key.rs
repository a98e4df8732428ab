//! How the calibrated timer keys a fused MoE layer: its category and coordinates, and how
//! far one category stands from another.

use crate::perf::ops::{ExpertRouting, MoeKernel, MoeQuant, MoeShape};
use crate::perf::table::ln;

fn moe_quant_code(q: MoeQuant) -> u64 {
    match q {
        MoeQuant::Bf16 => 0,
        MoeQuant::Fp8 => 1,
        MoeQuant::Fp8Block => 2,
        MoeQuant::W4a16Mxfp4 => 3,
        MoeQuant::Nvfp4 => 4,
        MoeQuant::Int4Wo => 5,
    }
}

/// A MoE layer's category is its kernel, routing and model shape (dtype, top-k, hidden, expert
/// size, experts); its coordinates the tokens and the MoE TP and EP sizes, which set the GPU's
/// share.
pub(super) fn moe_key(m: &MoeShape) -> (u64, [f64; 3]) {
    let kernel = match m.kernel {
        MoeKernel::Default => 0,
        MoeKernel::MinLatency => 1,
        MoeKernel::DeepepNormal => 2,
        MoeKernel::DeepepLowLatency => 3,
    };
    let routing = match m.routing {
        ExpertRouting::Balanced => 0,
        ExpertRouting::PowerLaw101 => 1,
        ExpertRouting::PowerLaw12 => 2,
    };
    let cat = moe_quant_code(m.quant)
        | (kernel << MOE_KERNEL_SHIFT)
        | (routing << MOE_ROUTING_SHIFT)
        | (u64::from(m.topk.min(0xff)) << 8)
        | (u64::from(m.hidden.min(0xffff)) << 16)
        | (u64::from(m.inter.min(0xffff)) << 32)
        | (u64::from(m.experts.min(0xffff)) << 48);
    let x = [
        ln(m.tokens as f64),
        ln(m.moe_tp.into()),
        ln(m.moe_ep.into()),
    ];
    (cat, x)
}

/// Bits of a MoE category's low byte that hold its kernel (two bits; the dtype codes are
/// below them) and its routing (the two bits above).
const MOE_KERNEL_SHIFT: u32 = 4;
const MOE_ROUTING_SHIFT: u32 = 6;

/// Distance between MoE categories: the kernel first (one kernel's rows never stand for
/// another's unless no row of its own exists), the routing next (balanced rows stand for a
/// power law only where none is measured: the roofline that carries a time across shapes
/// models the busiest rank's load, not the kernel's response to it), the dtype next (FP8
/// flavours close, MXFP4 far), then the log ratios of the shape's sizes.
pub(super) fn moe_dist(a: u64, b: u64) -> f64 {
    let kernel = |c: u64| (c >> MOE_KERNEL_SHIFT) & 0x3;
    let dk = if kernel(a) == kernel(b) { 0.0 } else { 1000.0 };
    let routing = |c: u64| (c >> MOE_ROUTING_SHIFT) & 0x3;
    let dr = match (routing(a), routing(b)) {
        (x, y) if x == y => 0.0,
        (0, _) | (_, 0) => 100.0,
        _ => 50.0,
    };
    let q = |c: u64| c & ((1 << MOE_KERNEL_SHIFT) - 1);
    let dq = match (q(a).min(q(b)), q(a).max(q(b))) {
        (x, y) if x == y => 0.0,
        (1, 2) => 1.0,
        _ => 3.0,
    };
    let size = |c: u64, shift: u32, mask: u64| (((c >> shift) & mask) as f64).max(1.0);
    let lr = |shift: u32, mask: u64| (size(a, shift, mask) / size(b, shift, mask)).ln().abs();
    dk + dr + 10.0 * dq + lr(8, 0xff) + lr(16, 0xffff) + lr(32, 0xffff) + lr(48, 0xffff)
}

/// Orderings built for MoE layers: tokens innermost, within the MoE TP and EP sizes walked
/// first. The engines pick their fused-MoE kernel by the split (vLLM: Triton without EP,
/// FlashInfer's CUTLASS with it), so tokens are interpolated within one split, never between
/// kernels. Measured by leave-shape-out on the shipped tables (H100 vLLM: p90 25 % with every
/// coordinate innermost in turn, as for GEMMs).
pub(super) const MOE_LEAVES: &[usize] = &[0];
/// MoE coordinates walked first: MoE TP, then EP.
pub(super) const MOE_OUTER: &[usize] = &[1, 2];
