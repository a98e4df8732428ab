//! An MLA block as SGLang runs it, the sum of its kernels: the projections as GEMMs and the
//! rest from SGLang's own kernel tables ([`MlaPart`]). SGLang ships no module tables; its
//! `DeepseekV2AttentionMLA` (SGLang 0.5, `models/deepseek_v2.py`) runs, per layer and GPU:
//! - the fused query and KV down-projection `h → q_lora + kv_lora + rope` (with no query
//!   LoRA, the query projection `h → heads × (nope + rope)` and the KV one apart), then the
//!   query up-projection `q_lora → heads × (nope + rope)`;
//! - over prompts (`forward_normal`): the KV up-projection `kv_lora → heads × (nope + v)`
//!   and attention with per-head keys and values;
//! - in decode (`forward_absorb`): the key up-projection absorbed into the query (a batched
//!   GEMM per head), attention over the cached latent, the value up-projection absorbed into
//!   the output (another batched GEMM); FP8 batched GEMMs where the checkpoint's weights are
//!   FP8 or narrower (`bmm_fp8`), BF16 ones otherwise;
//! - the output projection `heads × v → h`.
//!
//! aiconfigurator (0.8.0, `DeepSeekModel` in `sdk/models.py`) composes the layer of the
//! same kernels.

use crate::dtype::Dtype;
use crate::perf::ops::{KernelOp, MlaPart, MlaPartShape, MlaShape};

/// The time of block `m` in ms: over `m.batch` prompts of `m.len` tokens (`context`), or
/// `m.batch` decode sequences reading `m.len` cached tokens each; `gemm(m, n, k, dtype)` times
/// a projection, `time` a part.
pub(crate) fn block_ms(
    m: &MlaShape,
    context: bool,
    gemm: impl Fn(u64, u64, u64, Dtype) -> f64,
    time: impl Fn(&KernelOp) -> f64,
) -> f64 {
    let d = &m.dims;
    let n = u64::from(m.heads);
    let h = u64::from(m.hidden);
    let (kvl, rope) = (u64::from(d.kv_lora_rank), u64::from(d.qk_rope_head_dim));
    let (nope, v) = (u64::from(d.qk_nope_head_dim), u64::from(d.v_head_dim));
    let tokens = if context {
        u64::from(m.batch) * u64::from(m.len)
    } else {
        u64::from(m.batch)
    };
    let w = m.gemm_dtype;
    let projections = match d.q_lora_rank {
        Some(q) => {
            let q = u64::from(q);
            gemm(tokens, q + kvl + rope, h, w) + gemm(tokens, n * (nope + rope), q, w)
        }
        None => gemm(tokens, n * (nope + rope), h, w) + gemm(tokens, kvl + rope, h, w),
    } + gemm(tokens, h, n * v, w);
    let part = |part: MlaPart, batch: u64, len: u32, dtype: Dtype| {
        time(&KernelOp::MlaPart(MlaPartShape {
            part,
            batch: batch.min(u64::from(u32::MAX)) as u32,
            len,
            heads: m.heads,
            dims: m.dims,
            dtype,
        }))
    };
    if context {
        projections
            + gemm(tokens, n * (nope + v), kvl, w)
            + part(
                MlaPart::ContextAttention,
                u64::from(m.batch),
                m.len,
                m.kv_dtype,
            )
    } else {
        let bmm = if matches!(w, Dtype::Bf16 | Dtype::Fp16 | Dtype::Fp32) {
            Dtype::Bf16
        } else {
            Dtype::Fp8
        };
        projections
            + part(MlaPart::AbsorbQuery, tokens, 1, bmm)
            + part(MlaPart::GenerationAttention, tokens, m.len, m.kv_dtype)
            + part(MlaPart::AbsorbOutput, tokens, 1, bmm)
    }
}
