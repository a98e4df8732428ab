//! The roofline work of DeepSeek Sparse Attention (DeepSeek-V3.2-Exp report §2.1; GLM-5), as
//! vLLM 0.11.0 runs it (`Indexer` and `sparse_attn_indexer` in
//! `model_executor/models/deepseek_v2.py`, `FlashMLASparseImpl` in
//! `v1/attention/backends/mla/flashmla_sparse.py`):
//! - the lightning indexer projects each token's query from the query latent (`wq_b`), its key
//!   from the hidden state (`wk`) and per-head weights (`weights_proj`), on every GPU (its
//!   weights are replicated, not split by TP), writes the key to its cache (FP8 with an FP32
//!   scale per 128), and scores every earlier token in FP8 (`fp8_mqa_logits` over a prompt,
//!   `fp8_paged_mqa_logits` in decode), writing FP32 logits that a top-k reads back;
//! - the MLA then attends only the `topk` picked tokens, "MQA 576/512 approach for both
//!   prefill and decode": queries absorbed into the latent, scores over
//!   `kv_lora_rank + qk_rope_head_dim` and values of `kv_lora_rank` per picked token, for
//!   prompts as for decode.
//!
//! A prompt's latent is read from HBM once: the tokens its queries pick repeat from L2 (an
//! 8,192-token prompt's latent is 9.4 MB in BF16, against 50 MB of L2 on an H100).

use crate::dtype::Dtype;
use crate::hardware::GpuSku;
use crate::llm::SparseIndexer;

/// Query × key pairs of `b` causal prompts of `len` tokens each, every query attending every
/// token up to its own (dense attention's, and the indexer's scoring).
pub fn causal_pairs(b: f64, len: f64) -> f64 {
    b * len * (len + 1.0) / 2.0
}

/// Query × key pairs of a causal prompt of `len` tokens whose queries attend at most `topk`
/// tokens each: `Σ min(p + 1, topk)`.
pub fn prompt_pairs(x: &SparseIndexer, len: f64) -> f64 {
    let k = f64::from(x.topk);
    if len <= k {
        causal_pairs(1.0, len)
    } else {
        k * (k + 1.0) / 2.0 + (len - k) * k
    }
}

/// Tokens a decode query of a sequence with `len` cached tokens attends.
pub fn decode_keys(x: &SparseIndexer, len: f64) -> f64 {
    len.min(f64::from(x.topk))
}

/// The indexer's projections as GEMMs `(n, k)` of a model of `hidden` with query rank
/// `q_lora_rank`: `wq_b` (query latent to every head's query), `wk` (hidden state to the key)
/// and `weights_proj` (hidden state to a weight per head).
pub fn projections(x: &SparseIndexer, hidden: u64, q_lora_rank: u64) -> [(u64, u64); 3] {
    let (n, d) = (u64::from(x.heads), u64::from(x.head_dim));
    [(n * d, q_lora_rank), (d, hidden), (n, hidden)]
}

/// The indexer's scoring for `b` prompts of `len` tokens (`context`) or `b` decode sequences
/// of `len` cached tokens, on one GPU, its projections apart, per attention layer on average
/// (a layer that reuses another's selection scores nothing: [`SparseIndexer::own_share`]):
/// `(FLOPs expressed at the BF16 peak, HBM bytes)`.
pub fn scoring_work(
    x: &SparseIndexer,
    b: f64,
    len: f64,
    context: bool,
    gpu: &GpuSku,
) -> (f64, f64) {
    let (n, d) = (f64::from(x.heads), f64::from(x.head_dim));
    let fp8 = gpu.dense_flops(Dtype::Bf16) / gpu.dense_flops(Dtype::Fp8);
    let key = x.key_bytes() as f64;
    // Query tokens, and the (query, key) pairs each scores: a prompt's causal ones, or a
    // decode query against every cached token.
    let (tokens, pairs) = if context {
        (b * len, causal_pairs(b, len))
    } else {
        (b, b * len)
    };
    // Each new key written; the cached keys read (a prompt's once); the FP32 logits written
    // and read back by the top-k; the picked indices written.
    let keys_read = if context { b * len } else { pairs };
    let bytes =
        tokens * key + keys_read * key + 2.0 * 4.0 * pairs + tokens * f64::from(x.topk) * 4.0;
    let share = x.own_share();
    (share * (2.0 * pairs * n * d * fp8), share * bytes)
}

/// The indexer's whole work (projections in `gemm_dtype` and scoring) for a model of
/// `hidden` with query rank `q_lora_rank`, as [`scoring_work`], per layer on average: a
/// layer that reuses another's selection runs none ([`SparseIndexer::own_share`]).
#[allow(clippy::too_many_arguments)]
pub fn indexer_work(
    x: &SparseIndexer,
    hidden: f64,
    q_lora_rank: f64,
    b: f64,
    len: f64,
    context: bool,
    gemm_dtype: Dtype,
    gpu: &GpuSku,
) -> (f64, f64) {
    let scale = gpu.dense_flops(Dtype::Bf16) / gpu.dense_flops(gemm_dtype);
    let tokens = if context { b * len } else { b };
    let (f, bytes) = scoring_work(x, b, len, context, gpu);
    let weights: f64 = projections(x, hidden as u64, q_lora_rank as u64)
        .iter()
        .map(|&(n, k)| (n * k) as f64)
        .sum();
    let share = x.own_share();
    (
        f + share * (2.0 * tokens * weights * scale),
        bytes + share * (weights * gemm_dtype.bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::GpuCatalog;

    const V32: SparseIndexer = SparseIndexer {
        heads: 64,
        head_dim: 128,
        topk: 2048,
        own_layers: 61,
        layers: 61,
    };

    #[test]
    fn queries_attend_at_most_topk_tokens() {
        assert_eq!(prompt_pairs(&V32, 10.0), 55.0);
        assert_eq!(prompt_pairs(&V32, 2048.0), 2048.0 * 2049.0 / 2.0);
        // Past the top-k every query attends exactly top-k tokens.
        let grow = prompt_pairs(&V32, 3048.0) - prompt_pairs(&V32, 2048.0);
        assert_eq!(grow, 1000.0 * 2048.0);
        assert_eq!(decode_keys(&V32, 100.0), 100.0);
        assert_eq!(decode_keys(&V32, 100_000.0), 2048.0);
    }

    #[test]
    fn the_indexer_scores_every_cached_token_in_decode() {
        let cat = GpuCatalog::builtin();
        let gpu = cat.get("h200_sxm").unwrap();
        let at = |len| indexer_work(&V32, 7168.0, 1536.0, 1.0, len, false, Dtype::Fp8Block, gpu);
        let (f1, b1) = at(1000.0);
        let (f2, b2) = at(2000.0);
        // Each further cached token: its 132-byte key read and 8 bytes of FP32 logits
        // written and read; 64 heads × 128 FP8 multiply-adds, half a BF16 one each.
        assert_eq!(V32.key_bytes(), 132);
        assert!((b2 - b1 - 1000.0 * 140.0).abs() < 1e-6, "{}", b2 - b1);
        let fp8 = gpu.dense_flops(Dtype::Bf16) / gpu.dense_flops(Dtype::Fp8);
        assert!((f2 - f1 - 1000.0 * 2.0 * 64.0 * 128.0 * fp8).abs() < 1e-3);
    }

    #[test]
    fn layers_that_share_a_selection_run_no_indexer() {
        let cat = GpuCatalog::builtin();
        let gpu = cat.get("b200_sxm").unwrap();
        let glm52 = SparseIndexer {
            own_layers: 21,
            layers: 78,
            ..V32
        };
        let work = |x: &SparseIndexer| {
            indexer_work(
                x,
                6144.0,
                2048.0,
                4.0,
                30_000.0,
                false,
                Dtype::Fp8Block,
                gpu,
            )
        };
        let (all, some) = (work(&V32), work(&glm52));
        assert!((some.0 / all.0 - 21.0 / 78.0).abs() < 1e-12);
        assert!((some.1 / all.1 - 21.0 / 78.0).abs() < 1e-12);
    }
}
