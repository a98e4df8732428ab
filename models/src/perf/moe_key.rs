//! How the calibrated timer keys a fused MoE layer (its category and coordinates, and how
//! far one category stands from another), and the least time a call of each category was
//! measured to take.

use crate::perf::ops::{ExpertRouting, MoeKernel, MoeQuant, MoeShape};
use crate::perf::table::ln;

fn moe_quant_code(q: MoeQuant) -> u64 {
    match q {
        MoeQuant::Bf16 => 0,
        MoeQuant::Fp8 => 1,
        MoeQuant::Fp8Block => 2,
        MoeQuant::W4a16Mxfp4 => 3,
        MoeQuant::Nvfp4 => 4,
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
/// knows no routing), the dtype next (FP8 flavours close, MXFP4 far), then the log ratios of
/// the shape's sizes.
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

/// The least time measured for a call of each MoE category, ms. A fused MoE call runs a
/// sequence of kernels (routing, permutation, two grouped GEMMs, finalisation) whose launches
/// and synchronisations cost the same whatever the experts' size, so no call of a category's
/// kernel is timed faster than its fastest measured one. Without it, a split the tables never
/// measured (gpt-oss-120b at MoE TP 8 under TensorRT-LLM on H200, whose MXFP4 rows are at
/// MoE TP 1 only) scaled that cost down with the roofline, to a third of a measured call.
#[derive(Debug, Clone, Default)]
pub(super) struct MoeFloors(Vec<Floor>);

/// A category's fastest measured call (its coordinates, time and efficiency-free roofline)
/// and the next fastest (to leave the fastest out of a leave-shape-out check).
#[derive(Debug, Clone, Copy)]
struct Floor {
    cat: u64,
    x: [f64; 3],
    ms: f64,
    base_ms: f64,
    next_ms: f64,
}

impl MoeFloors {
    /// Takes a measured call of `m` lasting `ms`, whose efficiency-free roofline is
    /// `base_ms`, into account.
    pub(super) fn note(&mut self, m: &MoeShape, ms: f64, base_ms: f64) {
        let (cat, x) = moe_key(m);
        match self.0.iter_mut().find(|f| f.cat == cat) {
            // A repeated measurement of the fastest shape is still that shape.
            Some(f) if x == f.x => f.ms = f.ms.min(ms),
            Some(f) if ms < f.ms => {
                *f = Floor {
                    x,
                    ms,
                    base_ms,
                    next_ms: f.ms,
                    ..*f
                }
            }
            Some(f) => f.next_ms = f.next_ms.min(ms),
            None => self.0.push(Floor {
                cat,
                x,
                ms,
                base_ms,
                next_ms: f64::INFINITY,
            }),
        }
    }

    /// The fixed cost of a call of category `cat`, ms: what its fastest measured call took
    /// beyond its efficiency-free roofline (0 when none was measured, or where that call beat
    /// its roofline). Every call of the category takes at least its fastest, so a call's time
    /// less this cost is at least the fastest call's roofline: positive.
    pub(super) fn fixed(&self, cat: u64) -> f64 {
        self.0
            .iter()
            .find(|f| f.cat == cat)
            .map_or(0.0, |f| (f.ms - f.base_ms).max(0.0))
    }

    /// The fastest measured call of category `cat`, ms (0 when none was measured); with
    /// `leave_out`, not counting a call at `m`'s own coordinates.
    pub(super) fn of(&self, cat: u64, m: &MoeShape, leave_out: bool) -> f64 {
        let Some(f) = self.0.iter().find(|f| f.cat == cat) else {
            return 0.0;
        };
        let ms = if leave_out && moe_key(m).1 == f.x {
            f.next_ms
        } else {
            f.ms
        };
        if ms.is_finite() { ms } else { 0.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_floor_is_the_fastest_call_and_the_next_one_when_that_is_left_out() {
        let shape = |tokens| MoeShape {
            quant: MoeQuant::Fp8,
            tokens,
            hidden: 4096,
            inter: 1536,
            topk: 8,
            experts: 128,
            moe_tp: 1,
            moe_ep: 1,
            kernel: MoeKernel::Default,
            routing: ExpertRouting::Balanced,
        };
        let mut f = MoeFloors::default();
        for (tokens, ms) in [(8, 0.09), (1, 0.07), (64, 0.2), (2, 0.08), (1, 0.075)] {
            f.note(&shape(tokens), ms, 0.01);
        }
        let cat = moe_key(&shape(1)).0;
        assert_eq!(f.of(cat, &shape(16), false), 0.07);
        assert_eq!(f.of(cat, &shape(16), true), 0.07);
        // Left out, the fastest shape's repeats are left out with it.
        assert_eq!(f.of(cat, &shape(1), true), 0.08);
        // Another category: none measured.
        let other = MoeShape {
            experts: 64,
            ..shape(1)
        };
        assert_eq!(f.of(moe_key(&other).0, &other, false), 0.0);
    }
}
