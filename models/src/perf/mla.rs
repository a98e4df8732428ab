//! The roofline work of a multi-head latent attention block ([`MlaShape`]): the FLOPs and
//! bytes the calibrated timer divides the MLA module tables by, and the roofline timer uses
//! where no table exists.
//!
//! Per GPU with `n` query heads (DeepSeek-V2 §2.1, `DeepseekV3Attention`): the query down
//! projection `h → q_lora_rank` and the KV down projection `h → kv_lora_rank + qk_rope` run on
//! every GPU (not split by heads); the query up projection `q_lora_rank → n × (qk_nope +
//! qk_rope)`, the KV up projections `kv_lora_rank → n × (qk_nope + v)` and the output
//! projection `n × v → h` are split by heads. Prefill multiplies the KV up projections into
//! every token and attends with per-head keys of `qk_nope + qk_rope` and values of `v`;
//! decode absorbs them into the query and output (the `mla_bmm` batched GEMMs, DeepSeek-V2
//! §2.1.2) and attends over the cached latent directly: scores over `kv_lora_rank + qk_rope`,
//! values of `kv_lora_rank`, one latent read per cached token for all heads. With DeepSeek
//! Sparse Attention ([`crate::perf::dsa`]) prompts are attended in that absorbed form too,
//! over the tokens the indexer picks, and the indexer's own work is added.

use crate::dtype::Dtype;
use crate::hardware::GpuSku;
use crate::perf::dsa;
use crate::perf::ops::{MlaPart, MlaPartShape, MlaShape};

/// Weights of the block on the GPU, in elements.
fn weights(m: &MlaShape) -> f64 {
    let d = &m.dims;
    let (h, n) = (f64::from(m.hidden), f64::from(m.heads));
    let qk = f64::from(d.qk_nope_head_dim) + f64::from(d.qk_rope_head_dim);
    let kvl = f64::from(d.kv_lora_rank);
    let q = match d.q_lora_rank {
        Some(r) => h * f64::from(r) + f64::from(r) * n * qk,
        None => h * n * qk,
    };
    let kv_a = h * (kvl + f64::from(d.qk_rope_head_dim));
    let kv_b = kvl * n * (f64::from(d.qk_nope_head_dim) + f64::from(d.v_head_dim));
    let o = n * f64::from(d.v_head_dim) * h;
    q + kv_a + kv_b + o
}

/// The work of an MLA block, `(FLOPs, HBM bytes, peak FLOP/s)`: the projection GEMMs at the
/// GEMM dtype's peak and attention at the BF16 peak, expressed as BF16-peak FLOPs.
pub fn work(m: &MlaShape, gpu: &GpuSku, context: bool) -> (f64, f64, f64) {
    let d = &m.dims;
    let (b, len, n) = (f64::from(m.batch), f64::from(m.len), f64::from(m.heads));
    let h = f64::from(m.hidden);
    let kvl = f64::from(d.kv_lora_rank);
    let rope = f64::from(d.qk_rope_head_dim);
    let (nope, v) = (f64::from(d.qk_nope_head_dim), f64::from(d.v_head_dim));
    let w = weights(m);
    let wb = m.gemm_dtype.bytes();
    let kvb = m.kv_dtype.bytes();
    let peak = gpu.dense_flops(crate::dtype::Dtype::Bf16);
    let gemm_scale = peak / gpu.dense_flops(m.gemm_dtype);
    let (xf, xb) = d.indexer.map_or((0.0, 0.0), |x| {
        let q_lora = d.q_lora_rank.map_or(0.0, f64::from);
        dsa::indexer_work(&x, h, q_lora, b, len, context, m.gemm_dtype, gpu)
    });
    if context {
        let tokens = b * len;
        let attn = match d.indexer {
            None => 2.0 * dsa::causal_pairs(b, len) * n * (nope + rope + v),
            // Absorbed queries over the picked tokens' latents.
            Some(x) => 2.0 * b * dsa::prompt_pairs(&x, len) * n * (2.0 * kvl + rope),
        };
        let per_token = h * 2.0 * 2.0 + (kvl + rope) * kvb + n * (2.0 * (nope + rope) + v) * 2.0;
        (
            2.0 * tokens * w * gemm_scale + attn + xf,
            w * wb + tokens * per_token + xb,
            peak,
        )
    } else {
        let keys = d.indexer.map_or(len, |x| dsa::decode_keys(&x, len));
        let attn = 2.0 * b * n * keys * (2.0 * kvl + rope);
        (
            2.0 * b * w * gemm_scale + attn + xf,
            w * wb + b * keys * (kvl + rope) * kvb + b * h * 2.0 * 2.0 + xb,
            peak,
        )
    }
}

/// The work of a part of an MLA block ([`MlaPartShape`]), `(FLOPs, HBM bytes, peak FLOP/s)`:
/// attention as in [`work`] without the projections, with BF16 activations; an absorbed
/// GEMM multiplies each head's `qk_nope` query (or `kv_lora` output) by its `kv_lora × qk_nope`
/// (or `kv_lora × v`) weight.
pub fn part_work(p: &MlaPartShape, gpu: &GpuSku) -> (f64, f64, f64) {
    let d = &p.dims;
    let (b, len, n) = (f64::from(p.batch), f64::from(p.len), f64::from(p.heads));
    let kvl = f64::from(d.kv_lora_rank);
    let rope = f64::from(d.qk_rope_head_dim);
    let (nope, v) = (f64::from(d.qk_nope_head_dim), f64::from(d.v_head_dim));
    let bf16 = gpu.dense_flops(Dtype::Bf16);
    // The indexer's scoring rides with the attention parts (its projections are GEMMs of
    // their own), on every GPU whatever its heads.
    let indexer = |context: bool| {
        p.dims
            .indexer
            .map_or((0.0, 0.0), |x| dsa::scoring_work(&x, b, len, context, gpu))
    };
    match p.part {
        MlaPart::ContextAttention => {
            let tokens = b * len;
            let (xf, xb) = indexer(true);
            match p.dims.indexer {
                None => (
                    2.0 * dsa::causal_pairs(b, len) * n * (nope + rope + v),
                    tokens * n * (2.0 * (nope + rope) + 2.0 * v) * 2.0,
                    bf16,
                ),
                Some(x) => (
                    2.0 * b * dsa::prompt_pairs(&x, len) * n * (2.0 * kvl + rope) + xf,
                    tokens * (kvl + rope) * p.dtype.bytes()
                        + tokens * n * (2.0 * kvl + rope) * 2.0
                        + xb,
                    bf16,
                ),
            }
        }
        MlaPart::GenerationAttention => {
            let keys = p.dims.indexer.map_or(len, |x| dsa::decode_keys(&x, len));
            let (xf, xb) = indexer(false);
            (
                2.0 * b * n * keys * (2.0 * kvl + rope) + xf,
                b * keys * (kvl + rope) * p.dtype.bytes() + b * n * (2.0 * kvl + rope) * 2.0 + xb,
                bf16,
            )
        }
        MlaPart::AbsorbQuery | MlaPart::AbsorbOutput => {
            let other = if p.part == MlaPart::AbsorbQuery {
                nope
            } else {
                v
            };
            (
                2.0 * b * n * kvl * other,
                n * kvl * other * p.dtype.bytes() + b * n * (kvl + other) * 2.0,
                gpu.dense_flops(p.dtype),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::Dtype;
    use crate::hardware::GpuCatalog;
    use crate::llm::{Attention, LlmSpec};

    fn shape(heads: u32, batch: u32, len: u32) -> MlaShape {
        let v3 = LlmSpec::lookup("deepseek-ai/DeepSeek-V3").unwrap();
        let Attention::Mla(dims) = v3.attention() else {
            panic!("DeepSeek-V3 has MLA")
        };
        MlaShape {
            batch,
            len,
            heads,
            hidden: v3.hidden_size,
            dims,
            kv_dtype: Dtype::Fp8,
            gemm_dtype: Dtype::Fp8Block,
        }
    }

    #[test]
    fn decode_reads_the_weights_once_and_one_latent_per_cached_token() {
        let cat = GpuCatalog::builtin();
        let gpu = cat.get("h200_sxm").unwrap();
        // DeepSeek-V3 at 128 heads: q_a 7168×1536, q_b 1536×128×192, kv_a 7168×576,
        // kv_b 512×128×256, o 128×128×7168 = 187.1 M weights.
        let one = work(&shape(128, 1, 1), gpu, false);
        let w = 7168.0 * 1536.0
            + 1536.0 * 128.0 * 192.0
            + 7168.0 * 576.0
            + 512.0 * 128.0 * 256.0
            + 128.0 * 128.0 * 7168.0;
        assert_eq!(one.1, w + 576.0 + 7168.0 * 4.0);
        let long = work(&shape(128, 1, 1001), gpu, false);
        assert_eq!(long.1 - one.1, 1000.0 * 576.0);
        // Fewer heads per GPU (attention TP) read fewer head-split weights, never fewer
        // latent bytes.
        let tp8 = work(&shape(16, 1, 1001), gpu, false);
        assert!(tp8.1 < long.1);
        assert!(tp8.1 > 1001.0 * 576.0);
        // Prefill grows quadratically in the prompt.
        let p1 = work(&shape(128, 1, 4096), gpu, true).0;
        let p2 = work(&shape(128, 1, 8192), gpu, true).0;
        assert!(p2 > 2.0 * p1);
    }

    #[test]
    fn sparse_prompts_grow_linearly_past_the_top_k_but_for_the_indexer() {
        let cat = GpuCatalog::builtin();
        let gpu = cat.get("h200_sxm").unwrap();
        let v32 = LlmSpec::lookup("deepseek-ai/DeepSeek-V3.2").unwrap();
        let Attention::Mla(dims) = v32.attention() else {
            panic!("MLA")
        };
        let x = dims.indexer.unwrap();
        let at = |len: u32| {
            let m = MlaShape {
                len,
                dims,
                ..shape(16, 1, len)
            };
            let (f, ..) = work(&m, gpu, true);
            let (xf, _) = dsa::indexer_work(
                &x,
                7168.0,
                1536.0,
                1.0,
                f64::from(len),
                true,
                m.gemm_dtype,
                gpu,
            );
            f - xf
        };
        // Every further token past 2,048 attends 2,048 latents: equal steps cost the same.
        let (a, b, c) = (at(4096), at(6144), at(8192));
        assert!(((c - b) / (b - a) - 1.0).abs() < 1e-9);
        // Below the top-k each query attends all earlier tokens: the steps grow.
        let (a, b, c) = (at(512), at(1024), at(1536));
        assert!(c - b > 1.01 * (b - a));
        // The indexer alone is quadratic: it scores every causal pair.
        let idx = |len: f64| dsa::scoring_work(&x, 1.0, len, true, gpu).0;
        assert!((idx(8192.0) / idx(4096.0) - 4.0).abs() < 0.01);
    }
}
