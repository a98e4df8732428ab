//! Expert parallelism's token dispatch and combine: the network model of one stage (the bytes
//! each rank sends over its links) and how measured stages are keyed for interpolation.
//!
//! The calibrated timer stores each measured stage as `ln(measured / network model)`, so the
//! model here is the roofline the measurements correct: between measured shapes the ratio is
//! interpolated over tokens per rank and EP size; with no table of the kernel, the model itself
//! times the stage (through [`super::roofline::RooflineTimer`], at its link efficiency).

use crate::dtype::Dtype;
use crate::hardware::GpuSku;
use crate::perf::ops::{DispatchKernel, DispatchShape, DispatchStage};

/// Bytes of one token's payload in a stage: the hidden state in the dispatch dtype (FP8 with
/// one FP32 scale per 128 elements, as DeepEP and TensorRT-LLM send it), BF16 on the way back
/// (NVFP4 in the low-precision combine), the routing (`topk` expert ids and weights, four
/// bytes each) in a prepare.
pub fn token_bytes(d: &DispatchShape) -> f64 {
    let h = f64::from(d.hidden);
    match d.stage {
        DispatchStage::Prepare => 8.0 * f64::from(d.topk),
        DispatchStage::Dispatch => match d.dtype {
            Dtype::Fp8 | Dtype::Fp8Block => h + (h / 128.0).ceil() * 4.0,
            dt => h * dt.bytes(),
        },
        DispatchStage::Combine => h * 2.0,
        DispatchStage::CombineLowPrecision => h * Dtype::Nvfp4.bytes(),
    }
}

/// Copies of one token that leave its rank: DeepEP's low-latency kernels send one per
/// token-expert pair whose expert is elsewhere (`topk × (ep − 1) / ep`); the others one per
/// other rank holding any of its experts (`(ep − 1) × (1 − (1 − 1/ep)^topk)` under uniform
/// routing).
pub fn remote_copies(d: &DispatchShape) -> f64 {
    let ep = f64::from(d.moe_ep.max(1));
    let k = f64::from(d.topk);
    match d.kernel {
        DispatchKernel::DeepepLowLatency => k * (ep - 1.0) / ep,
        _ => (ep - 1.0) * (1.0 - (1.0 - 1.0 / ep).powf(k)),
    }
}

/// Bytes each rank sends in a stage, counted at NVLink speed: what goes to ranks on other
/// nodes (a share `(ep − ep/nodes) / (ep − 1)` of the remote copies) is weighted by how much
/// slower the NIC is than NVLink.
pub fn link_bytes(d: &DispatchShape, gpu: &GpuSku) -> f64 {
    let sent = d.tokens as f64 * remote_copies(d) * token_bytes(d);
    let ep = f64::from(d.moe_ep.max(1));
    let nodes = f64::from(d.nodes.clamp(1, d.moe_ep.max(1)));
    if nodes <= 1.0 || ep <= 1.0 {
        return sent;
    }
    let off = (ep - ep / nodes) / (ep - 1.0);
    let slower = gpu.nvlink_bytes_per_s_per_direction / gpu.nic_bytes_per_s_per_direction;
    sent * ((1.0 - off) + off * slower)
}

fn kernel_code(k: DispatchKernel) -> u64 {
    match k {
        DispatchKernel::DeepepLowLatency => 0,
        DispatchKernel::DeepepNormal => 1,
        DispatchKernel::NvlinkTwoSided => 2,
        DispatchKernel::NvlinkOneSided => 3,
    }
}

fn stage_code(s: DispatchStage) -> u64 {
    match s {
        DispatchStage::Prepare => 0,
        DispatchStage::Dispatch => 1,
        DispatchStage::Combine => 2,
        DispatchStage::CombineLowPrecision => 3,
    }
}

/// A stage's category (kernel and stage, then the dtype code `dtype`, hidden size, top-k,
/// experts and nodes) and its log coordinates: tokens per rank, EP size.
pub fn key(d: &DispatchShape, dtype: u64) -> (u64, [f64; 2]) {
    let cat = kernel_code(d.kernel)
        | (stage_code(d.stage) << 4)
        | ((dtype & 0xff) << 8)
        | (u64::from(d.hidden.min(0xffff)) << 16)
        | (u64::from(d.topk.min(0xff)) << 32)
        | (u64::from(d.experts.min(0xffff)) << 40)
        | (u64::from(d.nodes.min(0xff)) << 56);
    let ln = |x: f64| x.max(1.0).ln();
    (cat, [ln(d.tokens as f64), ln(d.moe_ep.into())])
}

/// Whether two categories are of the same kernel and stage: the only ones a stage is
/// interpolated from (another kernel's rows say nothing of this one's).
pub fn same_kernel(a: u64, b: u64) -> bool {
    a & 0xff == b & 0xff
}

/// Distance between categories of one kernel and stage (`dtype_dist` between dtype codes):
/// the dtype, then the log ratios of the sizes; infinite across kernels or stages.
pub fn dist(a: u64, b: u64, dtype_dist: fn(u64, u64) -> f64) -> f64 {
    if !same_kernel(a, b) {
        return f64::INFINITY;
    }
    let size = |c: u64, shift: u32, mask: u64| (((c >> shift) & mask) as f64).max(1.0);
    let lr = |shift: u32, mask: u64| (size(a, shift, mask) / size(b, shift, mask)).ln().abs();
    10.0 * dtype_dist((a >> 8) & 0xff, (b >> 8) & 0xff)
        + lr(16, 0xffff)
        + lr(32, 0xff)
        + lr(40, 0xffff)
        + 10.0 * lr(56, 0xff)
}

/// Orderings built for dispatch stages: tokens innermost, within each EP size walked first.
pub const LEAVES: &[usize] = &[0];
/// Dispatch coordinates walked first: the EP size.
pub const OUTER: &[usize] = &[1];
