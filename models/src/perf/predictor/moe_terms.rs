//! The mixture-of-experts terms of an iteration: the MLPs of the dense layers and the shared
//! experts, the router and the routed experts, and the token dispatch and combine of attention
//! data parallelism.

use super::{IterationPredictor, N};
use crate::dtype::Dtype;
use crate::perf::dispatch::Phase;
use crate::perf::moe_part::MoePart;
use crate::perf::ops::{GemmShape, KernelOp, NcclOp};

impl IterationPredictor {
    /// The MLP terms of a mixture of experts: dense layers' MLPs and shared experts (GEMMs),
    /// the router and the routed experts ([`OpKind::MoeExperts`]). In a `graphed` decode step
    /// of an engine that runs the shared experts on a second stream
    /// ([`Backend::overlaps_shared_experts`]) a MoE layer takes the longer of the two paths:
    /// the shared experts' GEMMs count only for what the routed path does not hide.
    ///
    /// [`OpKind::MoeExperts`]: crate::perf::ops::OpKind::MoeExperts
    /// [`Backend::overlaps_shared_experts`]: crate::backend::Backend::overlaps_shared_experts
    pub(super) fn moe_terms(
        &self,
        m: &MoePart,
        tokens: u64,
        moe_tokens: u64,
        phase: Phase,
        graphed: bool,
        t: &mut [f64; N],
    ) {
        let w = self.wdtype;
        let d = self.dense_layers;
        if d > 0.0 {
            t[2] = d * self.gemm(tokens, self.n_gate_up, self.hidden, w);
            t[3] = d * self.gemm(tokens, self.hidden, self.k_down, w);
        }
        let router = self.timer.time_ms(&KernelOp::Gemm(GemmShape {
            dtype: Dtype::Bf16,
            m: tokens,
            n: u64::from(m.kernel.experts),
            k: self.hidden,
        }));
        let experts = self.timer.time_ms(&KernelOp::Moe(
            m.experts(moe_tokens, phase == Phase::Prefill),
        ));
        let routed = router + experts;
        t[11] = m.layers * routed;
        if m.shared_pg > 0 {
            let up = self.gemm(tokens, 2 * m.shared_pg, self.hidden, w);
            let down = self.gemm(tokens, self.hidden, m.shared_pg, w);
            let exposed = if graphed && self.backend.overlaps_shared_experts() {
                ((up + down - routed) / (up + down)).max(0.0)
            } else {
                1.0
            };
            t[2] += m.layers * up * exposed;
            t[3] += m.layers * down * exposed;
        }
    }

    /// One MoE layer's token dispatch and combine under attention DP, in ms: the hidden
    /// states of every rank's `tokens` all-gathered to every GPU before the experts and the
    /// experts' outputs reduce-scattered back to their ranks after, over the worker's `tp ×
    /// dp` GPUs (TensorRT-LLM's fused MoE under `enable_attention_dp` without the all-to-all
    /// backend, `tensorrt_llm/_torch/modules/fused_moe/fused_moe_cutlass.py`: `allgather`
    /// then `reducescatter`; SGLang's DP attention, `sglang/srt/layers/dp_attention.py`:
    /// `dp_gather` / `dp_scatter`), BF16 activations, timed from the NCCL tables.
    pub(super) fn dispatch_combine_ms(&self, tokens: u64) -> f64 {
        let gpus = self.tp * self.dp;
        let elems = (tokens * self.hidden).max(1);
        let op = |op| KernelOp::Nccl {
            op,
            dtype: Dtype::Bf16,
            num_gpus: gpus,
            elems,
        };
        self.collective_ms(&op(NcclOp::AllGather)) + self.collective_ms(&op(NcclOp::ReduceScatter))
    }
}
