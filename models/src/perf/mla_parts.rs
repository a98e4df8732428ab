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
//!   the output (another batched GEMM). Their dtype is the KV up-projection's after loading
//!   (`post_load_weights`, the same from SGLang 0.5.5.post2 to 0.5.14): a checkpoint in
//!   128 × 128 FP8 blocks (DeepSeek-V3/R1's, Kimi-K2's) is dequantized to BF16
//!   (`block_quant_dequant`: `bmm_fp8` takes one scale per tensor, and DeepGEMM's
//!   block-scaled batched GEMM is Hopper's and off unless `SGL_USE_DEEPGEMM_BMM` is set), so
//!   those run BF16 batched GEMMs; a per-tensor or per-channel FP8 one is requantized per
//!   tensor and runs `bmm_fp8`, and so, by assumption, does an NVFP4 checkpoint (its KV
//!   up-projection taken to be FP8 per tensor; not checked against one); BF16 and INT8 ones
//!   (dequantized) run in BF16;
//! - the output projection `heads × v → h`.
//!
//! With DeepSeek Sparse Attention ([`crate::perf::dsa`]) the indexer's projections are three
//! more GEMMs (its scoring rides with the attention part), and prompts run the absorbed form
//! as decode does, over the picked tokens (vLLM 0.11.0's `FlashMLASparseImpl`: "MQA 576/512
//! approach for both prefill and decode"; taken to hold for SGLang's sparse backend too).
//!
//! aiconfigurator (0.8.0, `DeepSeekModel` in `sdk/models.py`) composes the layer of the
//! same kernels.

use crate::dtype::Dtype;
use crate::perf::dsa;
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
    } + gemm(tokens, h, n * v, w)
        + d.indexer.map_or(0.0, |x| {
            let q = u64::from(d.q_lora_rank.unwrap_or(0));
            let all: f64 = dsa::projections(&x, h, q)
                .iter()
                .map(|&(nn, k)| gemm(tokens, nn, k, w))
                .sum();
            x.own_share() * all
        });
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
    let bmm = if matches!(w, Dtype::Fp8 | Dtype::Nvfp4) {
        Dtype::Fp8
    } else {
        Dtype::Bf16
    };
    let attend = || {
        part(
            MlaPart::ContextAttention,
            u64::from(m.batch),
            m.len,
            m.kv_dtype,
        )
    };
    if context && d.indexer.is_some() {
        projections
            + part(MlaPart::AbsorbQuery, tokens, 1, bmm)
            + attend()
            + part(MlaPart::AbsorbOutput, tokens, 1, bmm)
    } else if context {
        projections + gemm(tokens, n * (nope + v), kvl, w) + attend()
    } else {
        projections
            + part(MlaPart::AbsorbQuery, tokens, 1, bmm)
            + part(MlaPart::GenerationAttention, tokens, m.len, m.kv_dtype)
            + part(MlaPart::AbsorbOutput, tokens, 1, bmm)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::llm::{Attention, LlmSpec};

    /// The dtypes the absorbed GEMMs of one decode block run in, for weights in `w`.
    fn absorbed_dtypes(w: Dtype) -> Vec<Dtype> {
        let llm = LlmSpec::lookup("deepseek-ai/DeepSeek-V3").unwrap();
        let Attention::Mla(dims) = llm.attention() else {
            panic!("DeepSeek-V3 has MLA")
        };
        let m = MlaShape {
            batch: 64,
            len: 2048,
            heads: 16,
            hidden: llm.hidden_size,
            dims,
            kv_dtype: Dtype::Fp8,
            gemm_dtype: w,
        };
        let seen = RefCell::new(Vec::new());
        block_ms(
            &m,
            false,
            |_, _, _, _| 0.0,
            |op| {
                if let KernelOp::MlaPart(p) = op
                    && p.part != MlaPart::GenerationAttention
                {
                    seen.borrow_mut().push(p.dtype);
                }
                0.0
            },
        );
        seen.into_inner()
    }

    #[test]
    fn deepseeks_fp8_blocks_are_dequantized_for_the_absorbed_gemms() {
        // SGLang's `post_load_weights`: 128 × 128 FP8 blocks become BF16, a per-tensor FP8
        // checkpoint keeps `bmm_fp8`.
        assert_eq!(absorbed_dtypes(Dtype::Fp8Block), [Dtype::Bf16; 2]);
        assert_eq!(absorbed_dtypes(Dtype::Bf16), [Dtype::Bf16; 2]);
        assert_eq!(absorbed_dtypes(Dtype::Fp8), [Dtype::Fp8; 2]);
        assert_eq!(absorbed_dtypes(Dtype::Nvfp4), [Dtype::Fp8; 2]);
    }
}
