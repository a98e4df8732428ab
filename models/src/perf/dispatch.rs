//! Expert parallelism's token dispatch and combine: the network model of one stage (the bytes
//! each rank sends over its links) and how measured stages are keyed for interpolation.
//!
//! The calibrated timer stores each measured stage as `ln(measured / network model)`, so the
//! model here is the roofline the measurements correct: between measured shapes the ratio is
//! interpolated over tokens per rank and EP size; with no table of the kernel, the model itself
//! times the stage (through [`super::roofline::RooflineTimer`], at its link efficiency).

use crate::backend::Backend;
use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};
use crate::hardware::GpuSku;
use crate::llm::Parallelism;
use crate::perf::ops::{DispatchKernel, DispatchShape, DispatchStage, KernelOp, MoeShape};
use crate::perf::table::ln;

/// Fixed latency of a dispatch stage, ms: the network model's floor, and the floor of the
/// roofline the measured stages are divided by. Every shipped table's smallest stage takes
/// 8–36 µs (DeepEP low-latency dispatch on H200: 8.1 µs; its normal kernels: 25–36 µs;
/// TensorRT-LLM's two-sided all-to-all on GB200: 10–12 µs), where collectives' 4 µs floor
/// would leave the latency-bound stages' log ratio bending between measured token counts.
pub const LATENCY_MS: f64 = 0.010;

/// Which kind of step moves the tokens: the engines pick their all-to-all kernel by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A decode-only step.
    Decode,
    /// A step that runs prefill (alone or with decode sequences).
    Prefill,
}

/// The all-to-all kernel `backend` runs in a `phase` step. SGLang's DeepEP in its `auto` mode
/// (the default of `--deepep-mode`; `DeepEPMode.resolve` in `sglang/srt/layers/moe/utils.py`
/// picks `normal` when the batch extends prompts and `low_latency` otherwise, read in the
/// SGLang 0.5.12 wheel, whose `--moe-a2a-backend` defaults to `none`): the low-latency
/// kernels for decode steps, the normal ones for prefill. vLLM runs one of
/// them per process (`--all2all-backend deepep_low_latency` or `deepep_high_throughput`, as a
/// disaggregated deployment gives its decode and prefill workers); this takes its kernel by
/// the step as SGLang's `auto` mode does. TensorRT-LLM: its two-sided NVLink all-to-all for
/// both (`tensorrt_llm/_torch/modules/fused_moe/`).
pub fn kernel_for(backend: Backend, phase: Phase) -> DispatchKernel {
    match (backend, phase) {
        (Backend::Trtllm, _) => DispatchKernel::NvlinkTwoSided,
        (_, Phase::Decode) => DispatchKernel::DeepepLowLatency,
        (_, Phase::Prefill) => DispatchKernel::DeepepNormal,
    }
}

/// A token exchange to time: `tokens` on each of `moe_ep` ranks over `nodes` NVLink domains,
/// each routed to `topk` of `experts` experts, `dtype` the MoE's activation dtype.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DispatchQuery {
    /// The kernel.
    pub kernel: DispatchKernel,
    /// The MoE's activation dtype (the dispatch sends FP8 with DeepEP, this otherwise).
    pub dtype: Dtype,
    /// Tokens on each rank (zero: nothing moves).
    pub tokens: u64,
    /// Hidden size.
    pub hidden: u32,
    /// Experts per token.
    pub topk: u32,
    /// Routed experts.
    pub experts: u32,
    /// Expert-parallel ranks.
    pub moe_ep: u32,
    /// NVLink domains the ranks span.
    pub nodes: u32,
}

impl DispatchQuery {
    /// The stages the query runs, checked: the prepare (TensorRT-LLM's two-sided all-to-all
    /// exchanges the routing first), the dispatch and the combine. A zero size, more experts
    /// per token than experts, experts or ranks not divisible among ranks or nodes are errors
    /// naming the field.
    pub fn stages(&self) -> Result<(Option<DispatchShape>, DispatchShape, DispatchShape)> {
        let bad = |what: &'static str, message: String| ModelsError::Invalid { what, message };
        for (what, v) in [
            ("dispatch hidden size", self.hidden),
            ("dispatch top-k", self.topk),
            ("dispatch experts", self.experts),
            ("dispatch EP size", self.moe_ep),
            ("dispatch nodes", self.nodes),
        ] {
            if v == 0 {
                return Err(bad(what, "must be at least 1".into()));
            }
        }
        if self.topk > self.experts {
            return Err(bad(
                "dispatch top-k",
                format!(
                    "{} experts per token of {} experts",
                    self.topk, self.experts
                ),
            ));
        }
        if !self.experts.is_multiple_of(self.moe_ep) {
            return Err(bad(
                "dispatch EP size",
                format!(
                    "{} ranks do not split {} experts",
                    self.moe_ep, self.experts
                ),
            ));
        }
        if !self.moe_ep.is_multiple_of(self.nodes) {
            return Err(bad(
                "dispatch nodes",
                format!("{} nodes do not split {} ranks", self.nodes, self.moe_ep),
            ));
        }
        let dtype = match self.kernel {
            DispatchKernel::DeepepLowLatency | DispatchKernel::DeepepNormal => Dtype::Fp8,
            _ if self.dtype == Dtype::Fp8Block => Dtype::Fp8,
            _ => self.dtype,
        };
        let at = |stage| DispatchShape {
            kernel: self.kernel,
            stage,
            dtype,
            tokens: self.tokens,
            hidden: self.hidden,
            topk: self.topk,
            experts: self.experts,
            moe_ep: self.moe_ep,
            nodes: self.nodes,
        };
        let prepare =
            (self.kernel == DispatchKernel::NvlinkTwoSided).then(|| at(DispatchStage::Prepare));
        Ok((
            prepare,
            at(DispatchStage::Dispatch),
            at(DispatchStage::Combine),
        ))
    }
}

/// Whether TensorRT-LLM moves a MoE layer's tokens by all-to-all rather than all-gather and
/// reduce-scatter: its fused MoE enables the all-to-all under attention DP when the EP size
/// exceeds the experts per token and the GPUs share a multi-node NVLink fabric
/// (`enable_alltoall` in `tensorrt_llm/_torch/modules/fused_moe/fused_moe_cutlass.py` and
/// `fused_moe_wide_ep.py`: `moe_ep_size > experts_per_token`, `enable_attention_dp`,
/// `MnnvlMemory.supports_mnnvl()`, which a worker wider than one such fabric does not
/// have). SGLang and vLLM only when told to (`--moe-a2a-backend deepep`,
/// `--all2all-backend deepep_*`): never by default.
pub fn trtllm_uses_all_to_all(par: &Parallelism, topk: u32, gpu: &GpuSku) -> bool {
    par.attention_dp > 1
        && par.moe_ep > topk
        && gpu.nvlink_domain() > gpu.gpus_per_node
        && par.gpus() <= u64::from(gpu.nvlink_domain())
}

/// Whether DeepEP's all-to-all can move the MoE tokens of a worker split by `par`, where an
/// engine runs it when told to (SGLang's `--moe-a2a-backend deepep` with
/// `--enable-dp-attention`, vLLM's `--all2all-backend deepep_*`): between attention-DP ranks,
/// with whole experts spread by EP over all the worker's GPUs (MoE TP 1). TensorRT-LLM picks
/// its own all-to-all ([`trtllm_uses_all_to_all`]).
pub fn deepep_fits(par: &Parallelism) -> bool {
    par.attention_dp > 1 && par.moe_ep > 1 && u64::from(par.moe_ep) == par.gpus()
}

/// The all-to-all of a worker's MoE layers: the stages of each phase's kernel, timed for a
/// step's tokens per rank without allocating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AllToAll {
    /// (prepare, dispatch, combine) of decode steps, then of prefill steps.
    stages: [(Option<DispatchShape>, DispatchShape, DispatchShape); 2],
}

impl AllToAll {
    /// The all-to-all `backend` runs ([`kernel_for`]) for a MoE of `topk` of `experts`
    /// experts of hidden size `hidden`, activations in `dtype`, over `moe_ep` ranks in
    /// `domains` NVLink domains; malformed sizes are errors naming the field.
    pub fn new(
        backend: Backend,
        dtype: Dtype,
        hidden: u32,
        topk: u32,
        experts: u32,
        moe_ep: u32,
        domains: u32,
    ) -> Result<Self> {
        let at = |phase| {
            DispatchQuery {
                kernel: kernel_for(backend, phase),
                dtype,
                tokens: 0,
                hidden,
                topk,
                experts,
                moe_ep,
                nodes: domains,
            }
            .stages()
        };
        Ok(AllToAll {
            stages: [at(Phase::Decode)?, at(Phase::Prefill)?],
        })
    }

    /// The all-to-all `backend` runs for the experts of `moe` (its activations in the
    /// experts' math dtype), over its EP ranks in `domains` NVLink domains.
    pub fn of(backend: Backend, moe: &MoeShape, domains: u32) -> Result<Self> {
        let dtype = moe.quant.math_dtype();
        Self::new(
            backend,
            dtype,
            moe.hidden,
            moe.topk,
            moe.experts,
            moe.moe_ep,
            domains,
        )
    }

    /// One layer's dispatch and combine of `tokens` tokens per rank in a `phase` step, in ms,
    /// each stage timed by `time`.
    pub fn ms(&self, tokens: u64, phase: Phase, time: impl Fn(&KernelOp) -> f64) -> f64 {
        let (prepare, dispatch, combine) = self.stages[usize::from(phase == Phase::Prefill)];
        if tokens == 0 || dispatch.moe_ep <= 1 {
            return 0.0;
        }
        let t = |d: DispatchShape| time(&KernelOp::MoeDispatch(DispatchShape { tokens, ..d }));
        prepare.map_or(0.0, t) + t(dispatch) + t(combine)
    }
}

/// Where a dispatch's times come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchSource {
    /// Interpolated between measured neighbours of the kernel's table.
    Measured,
    /// No table of the kernel: the network model (bytes each rank sends over its link).
    NetworkModel,
}

/// One MoE layer's token dispatch (with its prepare) and combine, in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DispatchTimes {
    /// Tokens to their experts' ranks (prepare included).
    pub dispatch_ms: f64,
    /// The experts' outputs back.
    pub combine_ms: f64,
    /// Where they come from.
    pub source: DispatchSource,
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::KernelTimer;

    fn deepseek(kernel: DispatchKernel, tokens: u64, moe_ep: u32) -> DispatchQuery {
        DispatchQuery {
            kernel,
            dtype: Dtype::Fp8Block,
            tokens,
            hidden: 7168,
            topk: 8,
            experts: 256,
            moe_ep,
            nodes: 1,
        }
    }

    fn timer(gpu: &str, backend: Backend) -> KernelTimer {
        KernelTimer::shipped_builtin(gpu, backend).unwrap()
    }

    #[test]
    fn a_measured_point_is_reproduced() {
        // h200_sxm sglang, DeepEP low latency, DeepSeek-V3's shape, 8 tokens a rank on one
        // node: dispatch 12.317 µs, combine 15.031 µs measured.
        let t = timer("h200_sxm", Backend::Sglang);
        let q = deepseek(DispatchKernel::DeepepLowLatency, 8, 8);
        let r = t.dispatch_combine(&q).unwrap();
        assert_eq!(r.source, DispatchSource::Measured);
        assert!((r.dispatch_ms - 0.012317).abs() < 1e-9, "{r:?}");
        assert!((r.combine_ms - 0.015031).abs() < 1e-9, "{r:?}");
        // GB200 TensorRT-LLM two-sided, fp8, 256 tokens at EP 4: prepare + dispatch.
        let t = timer("gb200", Backend::Trtllm);
        let q = deepseek(DispatchKernel::NvlinkTwoSided, 256, 4);
        let r = t.dispatch_combine(&q).unwrap();
        let table = crate::calibration::shipped::load(
            "gb200",
            "trtllm",
            crate::calibration::Family::MoeDispatch,
        )
        .unwrap()
        .unwrap();
        let row = |stage| {
            table
                .rows
                .iter()
                .find_map(|(op, ms)| match op {
                    crate::perf::KernelOp::MoeDispatch(d)
                        if d.kernel == DispatchKernel::NvlinkTwoSided
                            && d.stage == stage
                            && d.dtype == Dtype::Fp8
                            && d.tokens == 256
                            && d.moe_ep == 4 =>
                    {
                        Some(*ms)
                    }
                    _ => None,
                })
                .unwrap()
        };
        let want = row(DispatchStage::Prepare) + row(DispatchStage::Dispatch);
        assert!((r.dispatch_ms - want).abs() < 1e-9, "{r:?} {want}");
        assert!((r.combine_ms - row(DispatchStage::Combine)).abs() < 1e-9);
    }

    #[test]
    fn more_tokens_never_take_less_time() {
        // The measured tables are noisy where the kernels are latency-bound (DeepEP normal,
        // H200: 26.99 µs at one token, 26.50 µs at two), so up to that noise: a point is
        // never more than 5 % below any earlier one. The network model is strictly monotone.
        let cases = [
            (
                "h200_sxm",
                Backend::Sglang,
                DispatchKernel::DeepepLowLatency,
                8,
            ),
            ("h200_sxm", Backend::Sglang, DispatchKernel::DeepepNormal, 8),
            ("b200_sxm", Backend::Sglang, DispatchKernel::DeepepNormal, 8),
            ("gb200", Backend::Trtllm, DispatchKernel::NvlinkTwoSided, 4),
            (
                "h200_sxm",
                Backend::Trtllm,
                DispatchKernel::NvlinkTwoSided,
                8,
            ),
        ];
        for (gpu, backend, kernel, ep) in cases {
            let t = timer(gpu, backend);
            let mut peak = (0.0f64, 0.0f64);
            let mut last = 0.0f64;
            let mut tokens = 1u64;
            while tokens <= 65536 {
                let r = t.dispatch_combine(&deepseek(kernel, tokens, ep)).unwrap();
                for (p, v) in [(&mut peak.0, r.dispatch_ms), (&mut peak.1, r.combine_ms)] {
                    assert!(
                        v > 0.0 && v >= 0.95 * *p,
                        "{gpu} {kernel:?} {tokens}: {r:?}"
                    );
                    *p = p.max(v);
                }
                if r.source == DispatchSource::NetworkModel {
                    assert!(
                        r.dispatch_ms + r.combine_ms > last,
                        "{gpu} {kernel:?} {tokens}"
                    );
                }
                last = r.dispatch_ms + r.combine_ms;
                tokens += tokens.div_ceil(3);
            }
        }
    }

    #[test]
    fn without_a_table_the_network_model_times_it() {
        // No TensorRT-LLM all-to-all was measured on H200.
        let t = timer("h200_sxm", Backend::Trtllm);
        let r = t
            .dispatch_combine(&deepseek(DispatchKernel::NvlinkTwoSided, 1024, 8))
            .unwrap();
        assert_eq!(r.source, DispatchSource::NetworkModel);
        // 1024 tokens × (7 × (1 − (7/8)^8) ≈ 4.53 remote ranks) × (7168 + 224) FP8 bytes
        // ≈ 34.3 MB at 0.7 × 450 GB/s ≈ 0.109 ms, plus 10 µs.
        let gpu = t.gpu();
        let (_, d, _) = deepseek(DispatchKernel::NvlinkTwoSided, 1024, 8)
            .stages()
            .unwrap();
        let want = link_bytes(&d, gpu) / (0.7 * gpu.nvlink_bytes_per_s_per_direction) * 1e3;
        assert!(
            r.dispatch_ms > want && r.dispatch_ms < want + 0.05,
            "{r:?} {want}"
        );
        // Nothing moves over one rank or without tokens.
        let none = t
            .dispatch_combine(&deepseek(DispatchKernel::NvlinkTwoSided, 0, 8))
            .unwrap();
        assert_eq!((none.dispatch_ms, none.combine_ms), (0.0, 0.0));
    }

    #[test]
    fn bad_queries_are_errors_naming_the_field() {
        let t = timer("h200_sxm", Backend::Sglang);
        let q = deepseek(DispatchKernel::DeepepLowLatency, 8, 8);
        for (bad, field) in [
            (DispatchQuery { topk: 0, ..q }, "dispatch top-k"),
            (DispatchQuery { topk: 300, ..q }, "dispatch top-k"),
            (DispatchQuery { hidden: 0, ..q }, "dispatch hidden size"),
            (DispatchQuery { moe_ep: 0, ..q }, "dispatch EP size"),
            (DispatchQuery { moe_ep: 7, ..q }, "dispatch EP size"),
            (DispatchQuery { nodes: 0, ..q }, "dispatch nodes"),
            (DispatchQuery { nodes: 3, ..q }, "dispatch nodes"),
        ] {
            let e = t.dispatch_combine(&bad).unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
    }

    #[test]
    fn engines_pick_their_kernels_by_phase() {
        use DispatchKernel::*;
        assert_eq!(kernel_for(Backend::Sglang, Phase::Decode), DeepepLowLatency);
        assert_eq!(kernel_for(Backend::Sglang, Phase::Prefill), DeepepNormal);
        assert_eq!(kernel_for(Backend::Trtllm, Phase::Decode), NvlinkTwoSided);
        assert_eq!(kernel_for(Backend::Trtllm, Phase::Prefill), NvlinkTwoSided);
    }
}
