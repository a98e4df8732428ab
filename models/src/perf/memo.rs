//! A memoising front of [`IterationPredictor`] for the simulator's hot loop.
//!
//! An iteration's time is a sum of terms that depend on few numbers: the
//! token count (GEMMs, all-reduce, element-wise), the sequence count (LM
//! head), the prefill chunks (context attention) and the decode sequences
//! with their mean KV length (generation attention). The first two are
//! cached exactly by their integer argument. Generation attention changes its
//! KV argument every step, so it is cached on a grid of KV lengths (16 points
//! per octave) and interpolated linearly between grid points: attention time
//! is close to linear in KV length, and the measured tables themselves are
//! interpolated between far coarser points, so this adds well under 0.1 % of
//! error (tested). Context attention runs once per prefill iteration, which
//! is rare next to decode steps, and is computed exactly.

use std::cell::RefCell;
use std::collections::HashMap;

use servesim_core::SimDuration;

use super::predictor::{BatchShape, IterationPredictor};

/// Grid points per doubling of the KV length.
const KV_STEPS_PER_OCTAVE: f64 = 16.0;
/// Token counts cached in a dense vector (larger batches are computed directly).
const DENSE_TOKENS: usize = 1 << 17;

/// [`IterationPredictor`] with caches; single-threaded (each run owns its own).
#[derive(Debug)]
pub struct CachedPredictor {
    inner: IterationPredictor,
    tokens: RefCell<Vec<f64>>,
    heads: RefCell<Vec<f64>>,
    /// (sequences, KV grid index) → ms. Lookup only; never iterated.
    generation: RefCell<HashMap<(u32, u32), f64>>,
}

impl CachedPredictor {
    /// Wraps a predictor.
    pub fn new(inner: IterationPredictor) -> Self {
        CachedPredictor {
            inner,
            tokens: RefCell::new(Vec::new()),
            heads: RefCell::new(Vec::new()),
            generation: RefCell::new(HashMap::new()),
        }
    }

    /// The exact predictor underneath.
    pub fn inner(&self) -> &IterationPredictor {
        &self.inner
    }

    fn dense(cache: &RefCell<Vec<f64>>, i: u64, compute: impl FnOnce() -> f64) -> f64 {
        let Ok(i) = usize::try_from(i) else {
            return compute();
        };
        if i >= DENSE_TOKENS {
            return compute();
        }
        let mut c = cache.borrow_mut();
        if c.len() <= i {
            c.resize(i + 1, f64::NAN);
        }
        if c[i].is_nan() {
            c[i] = compute();
        }
        c[i]
    }

    fn generation_at(&self, seqs: u32, k: u32) -> f64 {
        if let Some(&ms) = self.generation.borrow().get(&(seqs, k)) {
            return ms;
        }
        let kv = grid_kv(k);
        let ms = self.inner.generation_attention_ms(seqs, kv);
        self.generation.borrow_mut().insert((seqs, k), ms);
        ms
    }

    /// Generation attention, interpolated between the two grid points around `kv`.
    fn generation_ms(&self, seqs: u32, kv: u32) -> f64 {
        let k = grid_index(kv);
        let (lo, hi) = (grid_kv(k), grid_kv(k + 1));
        if kv <= lo || hi <= lo {
            return self.generation_at(seqs, k);
        }
        let w = f64::from(kv - lo) / f64::from(hi - lo);
        (1.0 - w) * self.generation_at(seqs, k) + w * self.generation_at(seqs, k + 1)
    }

    /// Time of one iteration in ms.
    pub fn predict_ms(&self, b: &BatchShape<'_>) -> f64 {
        let mut prefill_tokens: u64 = 0;
        let mut pairs = 0.0f64;
        let mut chunks = 0u32;
        for c in b.prefill {
            prefill_tokens += u64::from(c.tokens);
            let (ctx, tok) = (f64::from(c.context), f64::from(c.tokens));
            pairs += (ctx + tok) * (ctx + tok) - ctx * ctx;
            chunks += u32::from(c.tokens > 0);
        }
        let tokens = prefill_tokens + u64::from(b.decode_seqs);
        if tokens == 0 {
            return 0.0;
        }
        let mut ms = Self::dense(&self.tokens, tokens, || self.inner.token_terms_ms(tokens));
        let seqs = u64::from(chunks) + u64::from(b.decode_seqs);
        ms += Self::dense(&self.heads, seqs, || self.inner.head_ms(seqs));
        if chunks > 0 {
            let len = (pairs / f64::from(chunks)).sqrt().round().max(1.0) as u32;
            ms += self.inner.context_attention_ms(chunks, len);
        }
        if b.decode_seqs > 0 {
            let kv = b
                .decode_kv_tokens
                .div_ceil(u64::from(b.decode_seqs))
                .clamp(1, u64::from(u32::MAX)) as u32;
            ms += self.generation_ms(b.decode_seqs, kv);
        }
        ms + self.inner.overhead_ms()
    }

    /// Time of one iteration.
    pub fn predict(&self, b: &BatchShape<'_>) -> SimDuration {
        let ms = self.predict_ms(b);
        if ms <= 0.0 {
            return SimDuration::ZERO;
        }
        SimDuration::from_secs_f64_round(ms / 1e3).unwrap_or(SimDuration::MAX)
    }
}

/// The grid index at or below `kv` (KV lengths 1, 2, ... exactly up to 16, then 16 per octave).
fn grid_index(kv: u32) -> u32 {
    let kv = f64::from(kv.max(1));
    if kv <= KV_STEPS_PER_OCTAVE {
        return kv as u32;
    }
    let octaves = (kv / KV_STEPS_PER_OCTAVE).log2();
    let mut k = KV_STEPS_PER_OCTAVE as u32 + (octaves * KV_STEPS_PER_OCTAVE).floor() as u32;
    // Guard against rounding at grid points.
    while grid_kv(k) > kv as u32 {
        k -= 1;
    }
    while grid_kv(k + 1) <= kv as u32 {
        k += 1;
    }
    k
}

/// The KV length of grid index `k`.
fn grid_kv(k: u32) -> u32 {
    let steps = KV_STEPS_PER_OCTAVE as u32;
    if k <= steps {
        return k.max(1);
    }
    let octaves = f64::from(k - steps) / KV_STEPS_PER_OCTAVE;
    (KV_STEPS_PER_OCTAVE * octaves.exp2())
        .round()
        .min(f64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::GpuCatalog;
    use crate::llm::{Dtype, LlmSpec};
    use crate::perf::{Backend, KernelTimer, PrefillChunk};

    #[test]
    fn grid_brackets_every_length() {
        for kv in (1..5000).chain([65_535, 1 << 20, u32::MAX / 2]) {
            let k = grid_index(kv);
            assert!(
                grid_kv(k) <= kv && kv < grid_kv(k + 1).max(kv + 1),
                "kv {kv} k {k}"
            );
        }
    }

    #[test]
    fn cached_times_match_the_exact_predictor() {
        let cat = GpuCatalog::builtin();
        let llm = LlmSpec::lookup("Qwen/Qwen3-32B-FP8")
            .unwrap()
            .with_dtypes(Dtype::Fp8, Dtype::Fp8);
        let timer = KernelTimer::shipped(&cat, "h100_sxm", Backend::Vllm).unwrap();
        let exact =
            IterationPredictor::new(&llm, 2, cat.get("h100_sxm").unwrap(), Backend::Vllm, timer)
                .unwrap();
        let cached = CachedPredictor::new(exact.clone());
        let mut worst = 0.0f64;
        for seqs in [1u32, 7, 64, 255] {
            for kv in [1u64, 100, 1000, 1777, 4096, 30_001] {
                for chunk in [0u32, 512, 3000] {
                    let chunks = [PrefillChunk {
                        tokens: chunk,
                        context: 200,
                    }];
                    let b = BatchShape {
                        prefill: if chunk > 0 { &chunks } else { &[] },
                        decode_seqs: seqs,
                        decode_kv_tokens: u64::from(seqs) * kv,
                    };
                    let (e, c) = (exact.predict_ms(&b), cached.predict_ms(&b));
                    // Twice: the second answer comes from the caches.
                    assert_eq!(c, cached.predict_ms(&b));
                    worst = worst.max((c - e).abs() / e);
                }
            }
        }
        assert!(worst < 1e-3, "worst relative error {worst}");
    }
}
