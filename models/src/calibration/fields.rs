//! The fields of a calibration row, as written: one operation's shape in its family's column
//! order (the latency aside).

use crate::perf::ops::KernelOp;

/// The comma-separated fields of `op` in its family's column order, without the latency.
pub(super) fn op_fields(op: &KernelOp) -> String {
    match op {
        KernelOp::Gemm(g) => format!("{},{},{},{}", g.dtype, g.m, g.n, g.k),
        KernelOp::ContextAttention(a) | KernelOp::GenerationAttention(a) => format!(
            "{},{},{},{},{},{},{},{}",
            a.batch,
            a.len,
            a.num_heads,
            a.num_kv_heads,
            a.head_dim,
            a.window,
            a.attn_dtype,
            a.kv_dtype
        ),
        KernelOp::CustomAllReduce {
            dtype,
            num_gpus,
            elems,
            implementation,
        } => {
            format!("{dtype},{num_gpus},{elems},{}", implementation.name())
        }
        KernelOp::Nccl {
            op,
            dtype,
            num_gpus,
            elems,
        } => {
            format!("{},{dtype},{num_gpus},{elems}", op.name())
        }
        KernelOp::P2pCopy {
            src_gpu,
            dst_gpu,
            bytes,
        } => format!("{src_gpu},{dst_gpu},{bytes}"),
        KernelOp::Moe(m) => format!(
            "{},{},{},{},{},{},{},{},{}",
            m.quant, m.tokens, m.hidden, m.inter, m.topk, m.experts, m.moe_tp, m.moe_ep, m.routing
        ),
        KernelOp::MlaContext(m) | KernelOp::MlaGeneration(m) => format!(
            "{},{},{},{},{},{},{},{},{},{},{}",
            m.batch,
            m.len,
            m.heads,
            m.hidden,
            m.dims.q_lora_rank.unwrap_or(0),
            m.dims.kv_lora_rank,
            m.dims.qk_nope_head_dim,
            m.dims.qk_rope_head_dim,
            m.dims.v_head_dim,
            m.kv_dtype,
            m.gemm_dtype
        ),
        KernelOp::MlaPart(p) => format!(
            "{},{},{},{},{},{},{},{},{}",
            p.part.name(),
            p.batch,
            p.len,
            p.heads,
            p.dims.kv_lora_rank,
            p.dims.qk_nope_head_dim,
            p.dims.qk_rope_head_dim,
            p.dims.v_head_dim,
            p.dtype
        ),
        KernelOp::MoeDispatch(d) => format!(
            "{},{},{},{},{},{},{},{},{}",
            d.kernel.name(),
            d.stage.name(),
            d.dtype,
            d.tokens,
            d.hidden,
            d.topk,
            d.experts,
            d.moe_ep,
            d.nodes
        ),
        KernelOp::Gdn(g) => format!(
            "{},{},{},{},{},{},{},{}",
            g.part.name(),
            g.batch,
            g.len,
            g.k_heads,
            g.v_heads,
            g.head_k_dim,
            g.head_v_dim,
            g.conv_kernel
        ),
        KernelOp::ElementWise { bytes } => format!("{bytes}"),
    }
}
