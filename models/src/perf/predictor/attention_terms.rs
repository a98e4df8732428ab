//! The attention terms of an iteration: context attention over the prompt chunks and
//! generation attention over the decode sequences, all attention layers, with sliding-window
//! layers capped at their window and chunked-attention layers within their chunk; an MLA
//! model's attention block as measured, or (SGLang) as the sum of its parts.

use super::IterationPredictor;
use crate::perf::mla_parts;
use crate::perf::ops::{KernelOp, MlaShape};

/// The sliding-window layers of a predictor.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    /// Tokens attended.
    pub(super) window: u32,
    /// Layers with the window.
    pub(super) layers: f64,
}

/// Query × key pairs of a causal prompt of `n` tokens attending within chunks of `c`: each
/// whole chunk's `c(c + 1)/2`, and the last part chunk's.
pub(super) fn chunked_pairs(n: f64, c: f64) -> f64 {
    let whole = (n / c).floor();
    let rest = n - whole * c;
    whole * c * (c + 1.0) / 2.0 + rest * (rest + 1.0) / 2.0
}

/// Tokens a causal prompt of `n` tokens attends with window `w`: `Σ min(p + 1, w)`.
pub(super) fn windowed_pairs(n: f64, w: f64) -> f64 {
    if n <= w {
        n * (n + 1.0) / 2.0
    } else {
        w * (w + 1.0) / 2.0 + (n - w) * w
    }
}

impl IterationPredictor {
    /// Context attention of `chunks` prompts of equivalent length `len`, all layers, in ms.
    /// Sliding-window and chunked-attention layers run a causal call with the prompts' pairs
    /// capped at the window or within the chunks.
    pub fn context_attention_ms(&self, chunks: u32, len: u32) -> f64 {
        if let Some(m) = self.mla {
            let m = MlaShape {
                batch: chunks,
                len,
                ..m
            };
            return self.attn_layers * self.mla_ms(&m, true);
        }
        let at = |len| {
            self.timer
                .time_ms(&KernelOp::ContextAttention(self.attn(chunks, len)))
        };
        // A causal call of the same pairs as a windowed or chunked prompt.
        let capped = |w: Option<Window>, pairs: fn(f64, f64) -> f64| {
            w.map_or((0.0, 0.0), |w| {
                let p = pairs(f64::from(len), f64::from(w.window));
                let l = (2.0 * p).sqrt().round().max(1.0) as u32;
                (w.layers, w.layers * at(l.min(len)))
            })
        };
        let (wl, wt) = capped(self.window, windowed_pairs);
        let (cl, ct) = capped(self.chunked, chunked_pairs);
        (self.attn_layers - wl - cl) * at(len) + wt + ct
    }

    /// Generation attention of `seqs` sequences of mean KV length `kv`, all layers, in ms.
    /// Sliding-window layers read at most the window; chunked-attention layers their current
    /// chunk (half a chunk on average once a sequence is past its first).
    pub fn generation_attention_ms(&self, seqs: u32, kv: u32) -> f64 {
        if let Some(m) = self.mla {
            let m = MlaShape {
                batch: seqs,
                len: kv,
                ..m
            };
            return self.attn_layers * self.mla_ms(&m, false);
        }
        let at = |kv| {
            self.timer
                .time_ms(&KernelOp::GenerationAttention(self.attn(seqs, kv)))
        };
        let (wl, wt) = self
            .window
            .map_or((0.0, 0.0), |w| (w.layers, w.layers * at(kv.min(w.window))));
        // Past its first chunk a sequence reads its current chunk, on average half of one.
        let (cl, ct) = self.chunked.map_or((0.0, 0.0), |c| {
            let read = if kv <= c.window {
                kv
            } else {
                c.window.div_ceil(2)
            };
            (c.layers, c.layers * at(read))
        });
        let attention = (self.attn_layers - wl - cl) * at(kv) + wt + ct;
        // Gated DeltaNet layers read their state, whatever the length.
        attention + self.linear_decode_ms(seqs)
    }

    /// One layer's MLA block in ms: from the module tables, or the sum of its kernels.
    fn mla_ms(&self, m: &MlaShape, context: bool) -> f64 {
        if self.mla_by_parts {
            return mla_parts::block_ms(
                m,
                context,
                |mm, n, k, d| self.gemm(mm, n, k, d),
                |op| self.timer.time_ms(op),
            );
        }
        self.timer.time_ms(&if context {
            KernelOp::MlaContext(*m)
        } else {
            KernelOp::MlaGeneration(*m)
        })
    }
}
