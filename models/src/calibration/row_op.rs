//! One row of a kernel table as the operation it times: the parser every family shares in
//! the calibration format and the public layout.

use std::path::Path;

use super::{Columns, Family, RowCtx};
use crate::error::Result;
use crate::llm::MlaDims;
use crate::perf::ops::{
    AllReduceImpl, AttnShape, DispatchKernel, DispatchShape, DispatchStage, ExpertRouting, GdnPart,
    GdnShape, GemmShape, KernelOp, MlaPart, MlaPartShape, MlaShape, MoeQuant, MoeShape, NcclOp,
};

/// The row parser of a family in the calibration format: every column is required but the
/// family's optional one, the latency last.
pub(super) fn family_row(
    family: Family,
    cols: &Columns,
    path: &Path,
) -> Result<impl Fn(&RowCtx<'_>) -> Result<(KernelOp, f64)>> {
    let idx: Vec<usize> = family
        .columns()
        .iter()
        .map(|c| match cols.find(&[c]) {
            None if family.optional_column() == Some(c) => Ok(ABSENT),
            _ => cols.require(&[c], path),
        })
        .collect::<Result<_>>()?;
    Ok(move |r: &RowCtx<'_>| -> Result<(KernelOp, f64)> {
        let lat = r.latency(*idx.last().unwrap_or(&0))?;
        let op = row_op(family, r, &idx, |r, i| r.pos_u32(i))?;
        Ok((op, lat))
    })
}

/// The column index of an optional column a file lacks.
const ABSENT: usize = usize::MAX;

/// The kernel operation of one row of `family`, its fields read from the columns `i` in
/// [`Family::columns`] order (the latency aside): one parser for the calibration format and
/// the public layout alike. `attn_len` reads an attention call's length from its column, which
/// the public layout holds as a generation step rather than a KV length.
pub(crate) fn row_op(
    family: Family,
    r: &RowCtx<'_>,
    i: &[usize],
    attn_len: impl FnOnce(&RowCtx<'_>, usize) -> Result<u32>,
) -> Result<KernelOp> {
    Ok(match family {
        Family::Gemm => KernelOp::Gemm(GemmShape {
            dtype: r.dtype(i[0])?,
            m: r.pos_int(i[1])?,
            n: r.pos_int(i[2])?,
            k: r.pos_int(i[3])?,
        }),
        Family::ContextAttention | Family::GenerationAttention => {
            let a = AttnShape {
                batch: r.pos_u32(i[0])?,
                len: attn_len(r, i[1])?,
                num_heads: r.pos_u32(i[2])?,
                num_kv_heads: r.pos_u32(i[3])?,
                head_dim: r.pos_u32(i[4])?,
                window: r.u32(i[5])?,
                attn_dtype: r.dtype(i[6])?,
                kv_dtype: r.dtype(i[7])?,
            };
            if family == Family::ContextAttention {
                KernelOp::ContextAttention(a)
            } else {
                KernelOp::GenerationAttention(a)
            }
        }
        Family::CustomAllreduce => KernelOp::CustomAllReduce {
            dtype: r.dtype(i[0])?,
            num_gpus: r.pos_u32(i[1])?,
            elems: r.pos_int(i[2])?,
            implementation: r.parse(i[3], AllReduceImpl::parse)?,
        },
        Family::Nccl => KernelOp::Nccl {
            op: r.parse(i[0], NcclOp::parse)?,
            dtype: r.dtype(i[1])?,
            num_gpus: r.pos_u32(i[2])?,
            elems: r.pos_int(i[3])?,
        },
        Family::P2pCopy => KernelOp::P2pCopy {
            src_gpu: r.u32(i[0])?,
            dst_gpu: r.u32(i[1])?,
            bytes: r.pos_int(i[2])?,
        },
        Family::Moe
        | Family::MoeMinLatency
        | Family::MoeDeepepNormal
        | Family::MoeDeepepLowLatency => {
            let m = MoeShape {
                quant: r.parse(i[0], MoeQuant::parse)?,
                tokens: r.pos_int(i[1])?,
                hidden: r.pos_u32(i[2])?,
                inter: r.pos_u32(i[3])?,
                topk: r.pos_u32(i[4])?,
                experts: r.pos_u32(i[5])?,
                moe_tp: r.pos_u32(i[6])?,
                moe_ep: r.pos_u32(i[7])?,
                kernel: family.moe_kernel().unwrap_or_default(),
                routing: match i[8] {
                    ABSENT => ExpertRouting::Balanced,
                    c => r.parse(c, ExpertRouting::parse)?,
                },
            };
            // A token picks `topk` distinct experts, and each EP rank holds one at least.
            for (col, n) in [(i[4], m.topk), (i[7], m.moe_ep)] {
                if n > m.experts {
                    let said = format!("{n} is more than the row's {} experts", m.experts);
                    return Err(r.err(col, said));
                }
            }
            KernelOp::Moe(m)
        }
        Family::MlaContext | Family::MlaGeneration => {
            let q_lora = r.u32(i[4])?;
            let dims = MlaDims {
                q_lora_rank: (q_lora > 0).then_some(q_lora),
                kv_lora_rank: r.pos_u32(i[5])?,
                qk_nope_head_dim: r.pos_u32(i[6])?,
                qk_rope_head_dim: r.pos_u32(i[7])?,
                v_head_dim: r.pos_u32(i[8])?,
                indexer: None,
            };
            mla_op(family, r, [i[0], i[1], i[2], i[3], i[9], i[10]], dims)?
        }
        Family::MlaParts => KernelOp::MlaPart(MlaPartShape {
            part: r.parse(i[0], MlaPart::parse)?,
            batch: r.pos_u32(i[1])?,
            len: r.pos_u32(i[2])?,
            heads: r.pos_u32(i[3])?,
            dims: MlaDims {
                q_lora_rank: None,
                kv_lora_rank: r.pos_u32(i[4])?,
                qk_nope_head_dim: r.pos_u32(i[5])?,
                qk_rope_head_dim: r.pos_u32(i[6])?,
                v_head_dim: r.pos_u32(i[7])?,
                indexer: None,
            },
            dtype: r.dtype(i[8])?,
        }),
        Family::MoeDispatch => KernelOp::MoeDispatch(DispatchShape {
            kernel: r.parse(i[0], DispatchKernel::parse)?,
            stage: r.parse(i[1], DispatchStage::parse)?,
            dtype: r.dtype(i[2])?,
            tokens: r.pos_int(i[3])?,
            hidden: r.pos_u32(i[4])?,
            topk: r.pos_u32(i[5])?,
            experts: r.pos_u32(i[6])?,
            moe_ep: r.pos_u32(i[7])?,
            nodes: r.pos_u32(i[8])?,
        }),
        Family::Gdn => KernelOp::Gdn(GdnShape {
            part: r.parse(i[0], GdnPart::parse)?,
            batch: r.pos_u32(i[1])?,
            len: r.pos_u32(i[2])?,
            k_heads: r.pos_u32(i[3])?,
            v_heads: r.pos_u32(i[4])?,
            head_k_dim: r.pos_u32(i[5])?,
            head_v_dim: r.pos_u32(i[6])?,
            conv_kernel: r.pos_u32(i[7])?,
        }),
    })
}

/// An MLA row: `i` = batch, length, heads, hidden, KV dtype, GEMM dtype columns.
fn mla_op(family: Family, r: &RowCtx<'_>, i: [usize; 6], dims: MlaDims) -> Result<KernelOp> {
    let m = MlaShape {
        batch: r.pos_u32(i[0])?,
        len: r.pos_u32(i[1])?,
        heads: r.pos_u32(i[2])?,
        hidden: r.pos_u32(i[3])?,
        dims,
        kv_dtype: r.dtype(i[4])?,
        gemm_dtype: r.dtype(i[5])?,
    };
    Ok(if family == Family::MlaContext {
        KernelOp::MlaContext(m)
    } else {
        KernelOp::MlaGeneration(m)
    })
}
