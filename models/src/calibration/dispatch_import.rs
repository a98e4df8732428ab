//! The dispatch/combine tables of the public layout: TensorRT-LLM's all-to-all
//! (`trtllm_alltoall_perf`, a stage a row, latency in ms) and DeepEP's kernels as SGLang runs
//! them (`wideep_deepep_ll_perf`, `wideep_deepep_normal_perf`: dispatch and combine of one
//! shape in each row, in µs, on `node_num` nodes).

use std::path::Path;

use super::{Columns, RowCtx};
use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};
use crate::hardware::GpuCatalog;
use crate::perf::ops::{DispatchKernel, DispatchShape, DispatchStage, KernelOp};

/// SMs DeepEP's normal kernels run on unless the engine says otherwise (`Buffer.num_sms = 20`,
/// `deep_ep/buffer.py`; SGLang keeps it without `--deepep-config`). The normal table measures
/// 4–24; only these rows are imported, the others counted as skipped.
pub const DEEPEP_NORMAL_SMS: u64 = 20;

/// Which dispatch table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchTable {
    /// `trtllm_alltoall_perf`.
    TrtllmAlltoall,
    /// `wideep_deepep_ll_perf`.
    DeepepLowLatency,
    /// `wideep_deepep_normal_perf`.
    DeepepNormal,
}

/// The columns of a dispatch table, found in its header.
pub struct DispatchColumns {
    table: DispatchTable,
    idx: Vec<usize>,
    /// Ranks per node of the GPU measured (DeepEP's EP size is `node_num` times it).
    gpus_per_node: u32,
}

impl DispatchColumns {
    /// Checks the header of `table` measured on `gpu` (a GPU of the built-in catalog, whose
    /// GPUs per node give DeepEP's EP size).
    pub fn new(table: DispatchTable, cols: &Columns, path: &Path, gpu: &str) -> Result<Self> {
        let names: &[&str] = match table {
            DispatchTable::TrtllmAlltoall => &[
                "op_name",
                "kernel_source",
                "moe_dtype",
                "num_tokens",
                "hidden_size",
                "topk",
                "num_experts",
                "moe_ep_size",
                "distribution",
                "latency",
            ],
            DispatchTable::DeepepLowLatency => &[
                "node_num",
                "hidden_size",
                "num_token",
                "num_topk",
                "num_experts",
                "dispatch_avg_t_us",
                "combine_avg_t_us",
            ],
            DispatchTable::DeepepNormal => &[
                "node_num",
                "hidden_size",
                "num_token",
                "num_topk",
                "num_experts",
                "dispatch_transmit_us",
                "dispatch_notify_us",
                "combine_transmit_us",
                "combine_notify_us",
                "dispatch_sms",
            ],
        };
        let idx = names
            .iter()
            .map(|n| cols.require(&[n], path))
            .collect::<Result<Vec<_>>>()?;
        let gpus_per_node = match table {
            DispatchTable::TrtllmAlltoall => 1,
            _ => {
                let cat = GpuCatalog::builtin();
                let sku = cat.get(gpu).map_err(|e| ModelsError::Invalid {
                    what: "DeepEP table",
                    message: format!(
                        "{}: its EP size is node_num × the GPUs per node of the folder's \
                         GPU: {e}",
                        path.display()
                    ),
                })?;
                sku.gpus_per_node
            }
        };
        Ok(DispatchColumns {
            table,
            idx,
            gpus_per_node,
        })
    }

    /// The stages of one row with their latencies in ms (none for a row left out: another
    /// token distribution, a DeepEP normal row at other than [`DEEPEP_NORMAL_SMS`] SMs).
    pub fn rows(&self, r: &RowCtx<'_>) -> Result<Vec<(KernelOp, f64)>> {
        let i = &self.idx;
        if self.table == DispatchTable::TrtllmAlltoall {
            if r.str(i[8])? != "balanced" {
                return Ok(Vec::new());
            }
            let kernel = match r.str(i[1])? {
                "NVLinkTwoSided" => DispatchKernel::NvlinkTwoSided,
                "NVLinkOneSided" => DispatchKernel::NvlinkOneSided,
                k => return Err(r.unsupported(i[1], format!("`{k}`: not a known all-to-all"))),
            };
            let stage = match r.str(i[0])? {
                "alltoall_prepare" => DispatchStage::Prepare,
                "alltoall_dispatch" => DispatchStage::Dispatch,
                "alltoall_combine" => DispatchStage::Combine,
                "alltoall_combine_low_precision" => DispatchStage::CombineLowPrecision,
                s => return Err(r.unsupported(i[0], format!("`{s}`: not a known stage"))),
            };
            let d = DispatchShape {
                kernel,
                stage,
                dtype: r.dtype(i[2])?,
                tokens: r.pos_int(i[3])?,
                hidden: r.pos_u32(i[4])?,
                topk: r.pos_u32(i[5])?,
                experts: r.pos_u32(i[6])?,
                moe_ep: r.pos_u32(i[7])?,
                // One NVLink domain: GB200's NVL72 fabric joins every rank measured.
                nodes: 1,
            };
            return Ok(vec![(KernelOp::MoeDispatch(d), r.latency(i[9])?)]);
        }
        let nodes = r.pos_u32(i[0])?;
        let moe_ep = nodes
            .checked_mul(self.gpus_per_node)
            .ok_or_else(|| r.err(i[0], format!("{nodes} nodes is too many")))?;
        let kernel = if self.table == DispatchTable::DeepepNormal {
            if r.int(i[9])? != DEEPEP_NORMAL_SMS {
                return Ok(Vec::new());
            }
            DispatchKernel::DeepepNormal
        } else {
            DispatchKernel::DeepepLowLatency
        };
        let d = DispatchShape {
            kernel,
            stage: DispatchStage::Dispatch,
            // FP8 on dispatch: the low-latency table's bandwidths are FP8 bytes (hidden plus
            // a scale per 128 elements, per token-expert pair); the normal dispatch takes half
            // the time of its BF16 combine at large sizes, as FP8 would.
            dtype: Dtype::Fp8,
            tokens: r.pos_int(i[2])?,
            hidden: r.pos_u32(i[1])?,
            topk: r.pos_u32(i[3])?,
            experts: r.pos_u32(i[4])?,
            moe_ep,
            nodes,
        };
        let us = |cols: &[usize]| -> Result<f64> {
            let mut t = 0.0;
            for &c in cols {
                let v: f64 = r.str(c)?.parse().map_err(|_| {
                    r.err(
                        c,
                        format!("`{}` is not a time in µs", r.str(c).unwrap_or("")),
                    )
                })?;
                if !v.is_finite() || v < 0.0 {
                    return Err(r.err(c, format!("`{v}` is not a time in µs")));
                }
                t += v;
            }
            if t <= 0.0 {
                return Err(r.err(cols[0], "the stage takes no time".into()));
            }
            Ok(t / 1e3)
        };
        let (dispatch, combine) = if kernel == DispatchKernel::DeepepNormal {
            (us(&[i[5], i[6]])?, us(&[i[7], i[8]])?)
        } else {
            (us(&[i[5]])?, us(&[i[6]])?)
        };
        let combine_stage = DispatchShape {
            stage: DispatchStage::Combine,
            ..d
        };
        Ok(vec![
            (KernelOp::MoeDispatch(d), dispatch),
            (KernelOp::MoeDispatch(combine_stage), combine),
        ])
    }
}
