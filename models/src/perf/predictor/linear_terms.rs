//! The Gated DeltaNet (linear-attention) layers of an iteration: their projections, a token
//! term, and their kernels over prompts and decode sequences ([`GdnPart`]).
//!
//! A layer (vLLM 0.11.0's `Qwen3NextGatedDeltaNet.forward`, split by TP): `in_proj_qkvz`
//! (hidden → queries, keys, values and the output gate) and `in_proj_ba` (hidden → each value
//! head's step size and decay), the causal convolution and the gated delta rule, then the
//! gated RMSNorm and `out_proj` (values → hidden), whose output joins the layer's all-reduce
//! as attention's does. Over a prompt the kernels see its new tokens only (the state carries
//! everything before them); in decode one token per sequence, whatever its length.

use super::IterationPredictor;
use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};
use crate::llm::GdnDims;
use crate::perf::ops::{GdnPart, GdnShape, KernelOp};

/// A worker's Gated DeltaNet layers: how many, and one GPU's share of each.
#[derive(Debug, Clone, Copy)]
pub(super) struct LinearLayers {
    /// Layers.
    layers: f64,
    /// One GPU's kernel shape (part, batch and length set per call).
    shape: GdnShape,
    /// Output columns of the input projections on one GPU (`in_proj_qkvz`, `in_proj_ba`).
    n_qkvz: u64,
    n_ba: u64,
    /// Inner size of the output projection on one GPU (values).
    k_out: u64,
}

impl LinearLayers {
    /// `layers` layers of `d` split `tp` ways; an error when TP does not divide the heads
    /// (vLLM's `divide` of the key and value heads).
    pub(super) fn new(d: GdnDims, layers: u32, tp: u32) -> Result<Self> {
        if !d.key_heads.is_multiple_of(tp) || !d.value_heads.is_multiple_of(tp) {
            return Err(ModelsError::Invalid {
                what: "TP size",
                message: format!(
                    "{tp} does not divide the Gated DeltaNet layers' {} key and {} value heads",
                    d.key_heads, d.value_heads
                ),
            });
        }
        let (kh, vh) = (d.key_heads / tp, d.value_heads / tp);
        let key = u64::from(kh) * u64::from(d.key_head_dim);
        let value = u64::from(vh) * u64::from(d.value_head_dim);
        Ok(LinearLayers {
            layers: f64::from(layers),
            shape: GdnShape {
                part: GdnPart::ContextConv,
                batch: 1,
                len: 1,
                k_heads: kh,
                v_heads: vh,
                head_k_dim: d.key_head_dim,
                head_v_dim: d.value_head_dim,
                conv_kernel: d.conv_kernel,
            },
            n_qkvz: 2 * key + 2 * value,
            n_ba: 2 * u64::from(vh),
            k_out: value,
        })
    }
}

impl IterationPredictor {
    /// The Gated DeltaNet layers' projections for `tokens` tokens, all layers, in ms:
    /// `(input projections, output projection)`; zero without such layers.
    pub(super) fn linear_projections_ms(&self, tokens: u64) -> (f64, f64) {
        let Some(l) = &self.linear else {
            return (0.0, 0.0);
        };
        let w = self.wdtype;
        // `in_proj_ba` stays 16-bit under block FP8 (vLLM 0.11.0: "ba_proj doesn't support
        // blockwise fp8 quantization").
        let ba = if w == Dtype::Fp8Block { Dtype::Bf16 } else { w };
        let input = self.gemm(tokens, l.n_qkvz, self.hidden, w)
            + self.gemm(tokens, l.n_ba, self.hidden, ba);
        let output = self.gemm(tokens, self.hidden, l.k_out, w);
        (l.layers * input, l.layers * output)
    }

    /// The Gated DeltaNet kernels over `chunks` prompt chunks of `len` new tokens each, all
    /// layers, in ms (zero without such layers).
    pub fn linear_context_ms(&self, chunks: u32, len: u32) -> f64 {
        self.linear_kernels_ms([GdnPart::ContextConv, GdnPart::ContextRule], chunks, len)
    }

    /// The Gated DeltaNet kernels of one decode step of `seqs` sequences, all layers, in ms.
    pub(super) fn linear_decode_ms(&self, seqs: u32) -> f64 {
        self.linear_kernels_ms([GdnPart::GenerationConv, GdnPart::GenerationRule], seqs, 1)
    }

    fn linear_kernels_ms(&self, parts: [GdnPart; 2], batch: u32, len: u32) -> f64 {
        let Some(l) = &self.linear else {
            return 0.0;
        };
        if batch == 0 {
            return 0.0;
        }
        let ms: f64 = parts
            .into_iter()
            .map(|part| {
                self.timer.time_ms(&KernelOp::Gdn(GdnShape {
                    part,
                    batch,
                    len: len.max(1),
                    ..l.shape
                }))
            })
            .sum();
        l.layers * ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tp_splits_the_heads_and_the_projections() {
        let d = GdnDims {
            key_heads: 16,
            value_heads: 48,
            key_head_dim: 128,
            value_head_dim: 128,
            conv_kernel: 4,
            ssm_state_bytes: 4,
        };
        let l = LinearLayers::new(d, 48, 4).unwrap();
        assert_eq!((l.shape.k_heads, l.shape.v_heads), (4, 12));
        // q, k (4 × 128 each), v and z (12 × 128 each); β and a per value head.
        assert_eq!((l.n_qkvz, l.n_ba, l.k_out), (4096, 24, 1536));
        let e = LinearLayers::new(d, 48, 32).unwrap_err().to_string();
        assert!(e.contains("16 key and 48 value heads"), "{e}");
    }
}
