//! Roofline timing: `max(FLOPs / (peak × eff), bytes / (bandwidth × eff)) + launch latency`.
//!
//! [`base_ms`] is the efficiency-free roofline (plus a fixed floor) that the calibrated timer
//! divides measurements by: tables store `ln(measured / base)`, so what they teach (achieved
//! efficiency per shape) transfers to another GPU's datasheet.

use crate::dtype::Dtype;
use crate::hardware::GpuSku;
use crate::perf::expert_load::busiest_rank;
use crate::perf::ops::{AttnShape, KernelOp, MlaPart, MoeShape};

/// FLOPs and bytes of an operation, and which peak and link bound it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Work {
    /// Floating-point operations.
    pub flops: f64,
    /// Bytes through HBM.
    pub hbm_bytes: f64,
    /// Bytes each GPU sends over NVLink.
    pub link_bytes: f64,
    /// Dense FLOP/s of the relevant dtype on the GPU.
    pub peak_flops: f64,
}

impl Work {
    /// The work of a kernel that moves nothing over links, from its `(FLOPs, HBM bytes,
    /// dense peak)`.
    fn on_chip((flops, hbm_bytes, peak_flops): (f64, f64, f64)) -> Self {
        Work {
            flops,
            hbm_bytes,
            link_bytes: 0.0,
            peak_flops,
        }
    }
}

/// Tokens attended by a causal prompt of `isl` tokens with sliding window `w` (0: none).
fn causal_pairs(isl: f64, w: f64) -> f64 {
    if w <= 0.0 || isl <= w {
        isl * (isl + 1.0) / 2.0
    } else {
        w * (w + 1.0) / 2.0 + (isl - w) * w
    }
}

fn attn_work(a: &AttnShape, gpu: &GpuSku, context: bool) -> Work {
    let b = f64::from(a.batch);
    let len = f64::from(a.len);
    let h = f64::from(a.num_heads);
    let kvh = f64::from(a.num_kv_heads);
    let d = f64::from(a.head_dim);
    let w = f64::from(a.window);
    let act = 2.0; // activations stay 16-bit
    let kvb = a.kv_dtype.bytes();
    if context {
        let pairs = causal_pairs(len, w);
        Work {
            flops: 4.0 * b * h * d * pairs,
            hbm_bytes: b * len * d * (2.0 * h * act + 2.0 * kvh * kvb),
            link_bytes: 0.0,
            peak_flops: gpu.dense_flops(a.attn_dtype),
        }
    } else {
        let kv = if w > 0.0 { len.min(w) } else { len };
        Work {
            flops: 4.0 * b * h * d * kv,
            hbm_bytes: b * kv * 2.0 * kvh * d * kvb + b * 2.0 * h * d * act,
            link_bytes: 0.0,
            peak_flops: gpu.dense_flops(Dtype::Bf16),
        }
    }
}

/// The share of a fused MoE layer on the GPU it waits for: the token-expert pairs that land
/// on the GPU's `experts / moe_ep` experts (`tokens × topk / moe_ep` when routed evenly, the
/// busiest rank's under a power law: [`busiest_rank`]), each pair `6 × hidden × inter /
/// moe_tp` FLOPs (gate, up and down GEMMs); the GPU reads the weights of the local experts
/// that receive a token and the tokens' activations in and out.
fn moe_work(m: &MoeShape, gpu: &GpuSku) -> Work {
    let h = f64::from(m.hidden);
    let inter = f64::from(m.inter) / f64::from(m.moe_tp.max(1));
    let load = busiest_rank(m);
    Work {
        flops: 6.0 * h * inter * load.pairs,
        hbm_bytes: load.experts * 3.0 * h * inter * m.quant.weight_bytes()
            + m.tokens as f64 * h * 2.0 * 2.0,
        link_bytes: 0.0,
        peak_flops: gpu.dense_flops(m.quant.math_dtype()),
    }
}

/// The work of an operation on a GPU.
pub fn work(op: &KernelOp, gpu: &GpuSku) -> Work {
    match op {
        KernelOp::Gemm(g) => {
            let (m, n, k) = (g.m as f64, g.n as f64, g.k as f64);
            let eb = g.dtype.bytes();
            Work {
                flops: 2.0 * m * n * k,
                hbm_bytes: (m * k + n * k) * eb + m * n * 2.0,
                link_bytes: 0.0,
                peak_flops: gpu.dense_flops(g.dtype),
            }
        }
        KernelOp::ContextAttention(a) => attn_work(a, gpu, true),
        KernelOp::Moe(m) => moe_work(m, gpu),
        KernelOp::MlaContext(m) | KernelOp::MlaGeneration(m) => {
            let context = matches!(op, KernelOp::MlaContext(_));
            Work::on_chip(crate::perf::mla::work(m, gpu, context))
        }
        KernelOp::MlaPart(p) => Work::on_chip(crate::perf::mla::part_work(p, gpu)),
        KernelOp::GenerationAttention(a) => attn_work(a, gpu, false),
        KernelOp::Gdn(g) => Work::on_chip(crate::perf::gdn::work(g, gpu)),
        KernelOp::CustomAllReduce {
            dtype,
            num_gpus,
            elems,
            ..
        } => {
            let bytes = *elems as f64 * dtype.bytes();
            Work {
                flops: 0.0,
                hbm_bytes: 0.0,
                link_bytes: crate::perf::ops::NcclOp::AllReduce.wire_bytes(bytes, *num_gpus),
                peak_flops: gpu.bf16_dense_flops,
            }
        }
        KernelOp::Nccl {
            op,
            dtype,
            num_gpus,
            elems,
        } => {
            let bytes = *elems as f64 * dtype.bytes();
            Work {
                flops: 0.0,
                hbm_bytes: 0.0,
                link_bytes: op.wire_bytes(bytes, *num_gpus),
                peak_flops: gpu.bf16_dense_flops,
            }
        }
        KernelOp::P2pCopy { bytes, .. } => Work {
            flops: 0.0,
            hbm_bytes: 0.0,
            link_bytes: *bytes as f64,
            peak_flops: gpu.bf16_dense_flops,
        },
        KernelOp::MoeDispatch(d) => Work {
            flops: 0.0,
            hbm_bytes: 0.0,
            link_bytes: crate::perf::dispatch::link_bytes(d, gpu),
            peak_flops: gpu.bf16_dense_flops,
        },
        KernelOp::ElementWise { bytes } => Work {
            flops: 0.0,
            hbm_bytes: *bytes as f64,
            link_bytes: 0.0,
            peak_flops: gpu.bf16_dense_flops,
        },
    }
}

/// Fixed floor (ms) added to the efficiency-free roofline: kernel launch and sync latency.
pub const BASE_FLOOR_MS: f64 = 0.004;

/// The efficiency-free roofline of `op` on `gpu`, in ms, plus [`BASE_FLOOR_MS`] (a dispatch
/// stage: plus its latency, [`crate::perf::dispatch::LATENCY_MS`]).
pub fn base_ms(op: &KernelOp, gpu: &GpuSku) -> f64 {
    let w = work(op, gpu);
    let t = (w.flops / w.peak_flops)
        .max(w.hbm_bytes / gpu.hbm_bytes_per_s)
        .max(w.link_bytes / gpu.nvlink_bytes_per_s_per_direction);
    let floor = match op {
        KernelOp::MoeDispatch(_) => crate::perf::dispatch::LATENCY_MS,
        _ => BASE_FLOOR_MS,
    };
    t * 1e3 + floor
}

/// Achievable fractions of peak and fixed latencies used by [`RooflineTimer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Efficiencies {
    /// GEMM: fraction of dense peak FLOP/s.
    pub gemm_compute: f64,
    /// GEMM: fraction of HBM bandwidth.
    pub gemm_memory: f64,
    /// Attention: fraction of dense peak FLOP/s.
    pub attn_compute: f64,
    /// Attention: fraction of HBM bandwidth.
    pub attn_memory: f64,
    /// Collectives: fraction of NVLink bandwidth.
    pub link: f64,
    /// Element-wise kernels: fraction of HBM bandwidth.
    pub elementwise_memory: f64,
    /// Launch latency of a compute kernel (ms).
    pub launch_ms: f64,
    /// Latency of a collective (ms).
    pub collective_ms: f64,
}

impl Default for Efficiencies {
    /// Achieved fractions measured on Hopper: medians over the shipped H100/H200 trtllm and vllm
    /// tables of large compute-bound GEMMs (m, n, k ≥ 4096: 0.62–0.64), weight-bound GEMMs
    /// (m ≤ 16: 0.59–0.68), long-prompt context attention (0.43–0.50), long-KV decode attention
    /// (0.60–0.75), large all-reduces and NCCL collectives (0.66–0.78 of NVLink), and the
    /// latency of tiny kernels (≈ 5 µs GEMM, 3–8 µs collectives).
    fn default() -> Self {
        Efficiencies {
            gemm_compute: 0.63,
            gemm_memory: 0.64,
            attn_compute: 0.47,
            attn_memory: 0.68,
            link: 0.70,
            elementwise_memory: 0.80,
            launch_ms: 0.005,
            collective_ms: 0.005,
        }
    }
}

/// Times operations from a SKU's datasheet with fixed efficiencies.
#[derive(Debug, Clone, PartialEq)]
pub struct RooflineTimer {
    /// The GPU.
    pub gpu: GpuSku,
    /// The efficiencies.
    pub eff: Efficiencies,
}

impl RooflineTimer {
    /// A roofline timer with the default efficiencies.
    pub fn new(gpu: GpuSku) -> Self {
        RooflineTimer {
            gpu,
            eff: Efficiencies::default(),
        }
    }

    /// Predicted time of `op` in ms.
    pub fn time_ms(&self, op: &KernelOp) -> f64 {
        let w = work(op, &self.gpu);
        let e = &self.eff;
        let (ce, me, lat) = match op {
            KernelOp::Gemm(_) | KernelOp::Moe(_) => (e.gemm_compute, e.gemm_memory, e.launch_ms),
            KernelOp::ContextAttention(_)
            | KernelOp::GenerationAttention(_)
            | KernelOp::MlaContext(_)
            | KernelOp::MlaGeneration(_)
            | KernelOp::Gdn(_) => (e.attn_compute, e.attn_memory, e.launch_ms),
            KernelOp::MlaPart(p) => match p.part {
                MlaPart::ContextAttention | MlaPart::GenerationAttention => {
                    (e.attn_compute, e.attn_memory, e.launch_ms)
                }
                MlaPart::AbsorbQuery | MlaPart::AbsorbOutput => {
                    (e.gemm_compute, e.gemm_memory, e.launch_ms)
                }
            },
            KernelOp::ElementWise { .. } => (1.0, e.elementwise_memory, e.launch_ms * 0.5),
            KernelOp::CustomAllReduce { .. }
            | KernelOp::Nccl { .. }
            | KernelOp::P2pCopy { .. }
            | KernelOp::MoeDispatch(_) => (1.0, 1.0, e.collective_ms),
        };
        let t = (w.flops / (w.peak_flops * ce))
            .max(w.hbm_bytes / (self.gpu.hbm_bytes_per_s * me))
            .max(w.link_bytes / (self.gpu.nvlink_bytes_per_s_per_direction * e.link));
        t * 1e3 + lat
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::GpuCatalog;
    use crate::perf::ops::{ExpertRouting, MoeKernel, MoeQuant};

    #[test]
    fn expert_parallelism_halves_the_expert_weights_a_gpu_reads() {
        let cat = GpuCatalog::builtin();
        let gpu = cat.get("h200_sxm").unwrap();
        let m = MoeShape {
            quant: MoeQuant::Fp8Block,
            tokens: 4096,
            hidden: 4096,
            inter: 1536,
            topk: 8,
            experts: 128,
            moe_tp: 1,
            moe_ep: 1,
            kernel: MoeKernel::Default,
            routing: ExpertRouting::Balanced,
        };
        let weights = |m: &MoeShape| moe_work(m, gpu).hbm_bytes - m.tokens as f64 * 4096.0 * 4.0;
        let one = weights(&m);
        assert_eq!(one, 128.0 * 3.0 * 4096.0 * 1536.0);
        assert_eq!(weights(&MoeShape { moe_ep: 2, ..m }), one / 2.0);
        assert_eq!(
            moe_work(&MoeShape { moe_ep: 2, ..m }, gpu).flops,
            moe_work(&m, gpu).flops / 2.0
        );
        // One token reads only its top-k experts.
        let single = MoeShape { tokens: 1, ..m };
        assert_eq!(weights(&single), 8.0 * 3.0 * 4096.0 * 1536.0);
    }
}
