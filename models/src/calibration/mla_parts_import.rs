//! SGLang's MLA tables of the public layout, kernel by kernel (`context_mla_perf`,
//! `generation_mla_perf`, `mla_bmm_perf`): the parts of an MLA block besides its projections
//! ([`MlaPart`]), all measured at DeepSeek-V3's MLA dimensions (the tables name no model;
//! `num_heads` is the heads on the GPU).

use super::RowCtx;
use crate::error::{ModelsError, Result};
use crate::llm::{Attention, LlmSpec};
use crate::perf::ops::{KernelOp, MlaPart, MlaPartShape};

/// The model whose MLA dimensions the kernel tables measure.
const MEASURED_MODEL: &str = "deepseek-ai/DeepSeek-V3";

/// Which of the three tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MlaPartTable {
    /// `context_mla_perf`: attention over prompts.
    Context,
    /// `generation_mla_perf`: attention over the cached latent.
    Generation,
    /// `mla_bmm_perf`: the absorbed GEMMs.
    Bmm,
}

impl MlaPartTable {
    /// The columns read, in the order [`op`] takes them.
    pub(crate) fn columns(self) -> &'static [&'static [&'static str]] {
        match self {
            MlaPartTable::Context | MlaPartTable::Generation => &[
                &["num_heads"],
                &["batch_size"],
                &["isl"],
                &["step"],
                &["kv_cache_dtype"],
                &["mla_dtype"],
            ],
            MlaPartTable::Bmm => &[
                &["op_name"],
                &["num_tokens"],
                &["num_heads"],
                &["bmm_dtype"],
            ],
        }
    }
}

/// The operation of one row (columns `i` as [`MlaPartTable::columns`] lists them). Rows of
/// what is not modelled (prompts after a cached prefix, attention in another dtype than
/// BF16) are [`ModelsError::Unsupported`], which the import counts as skipped.
pub(crate) fn op(table: MlaPartTable, r: &RowCtx<'_>, i: &[usize]) -> Result<KernelOp> {
    let llm = LlmSpec::lookup(MEASURED_MODEL)?;
    let Attention::Mla(dims) = llm.attention() else {
        return Err(ModelsError::Invalid {
            what: "model",
            message: format!("{MEASURED_MODEL} has no multi-head latent attention"),
        });
    };
    let shape = match table {
        MlaPartTable::Context | MlaPartTable::Generation => {
            let attn = r.str(i[5])?;
            if !matches!(attn, "bfloat16" | "bf16") {
                return Err(r.unsupported(i[5], format!("{attn} attention is not modelled")));
            }
            let step = r.u32(i[3])?;
            let (part, len) = if table == MlaPartTable::Context {
                if step > 0 {
                    return Err(r.unsupported(i[3], "prompts after a cached prefix".into()));
                }
                (MlaPart::ContextAttention, r.pos_u32(i[2])?)
            } else {
                // KV length = step + 1.
                let len = step
                    .checked_add(1)
                    .ok_or_else(|| r.err(i[3], "too large".into()))?;
                (MlaPart::GenerationAttention, len)
            };
            MlaPartShape {
                part,
                batch: r.pos_u32(i[1])?,
                len,
                heads: r.pos_u32(i[0])?,
                dims,
                dtype: r.dtype(i[4])?,
            }
        }
        MlaPartTable::Bmm => MlaPartShape {
            part: match r.str(i[0])? {
                "mla_gen_pre" => MlaPart::AbsorbQuery,
                "mla_gen_post" => MlaPart::AbsorbOutput,
                other => {
                    return Err(r.err(
                        i[0],
                        format!("{other}: expected mla_gen_pre or mla_gen_post"),
                    ));
                }
            },
            batch: r.pos_u32(i[1])?,
            len: 1,
            heads: r.pos_u32(i[2])?,
            dims,
            dtype: r.dtype(i[3])?,
        },
    };
    Ok(KernelOp::MlaPart(shape))
}
