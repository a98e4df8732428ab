//! A memoising front of [`IterationPredictor`] for the simulator's hot loop.
//!
//! An iteration's time is a sum of terms that depend on few numbers: the
//! token count (GEMMs, all-reduce, element-wise), the sequence count (LM
//! head), the prefill chunks (context attention) and the decode sequences
//! with their mean KV length (generation attention). The first two are
//! cached exactly by their integer argument. Generation attention changes its
//! KV argument every step, so it is cached on a grid of KV lengths (16 points
//! per octave) and interpolated linearly between grid points: attention time
//! is smooth in KV length, and the measured tables themselves are
//! interpolated between far coarser points, so this adds well under 0.1 % of
//! error (tested). Context attention is cached the same way, by chunk count
//! and equivalent length. Under attention data parallelism the terms are those of the
//! fullest rank's share ([`IterationPredictor::rank_share`]), the experts' of the whole batch.

use std::cell::RefCell;
use std::sync::OnceLock;

use servesim_core::SimDuration;

use super::dispatch::Phase;
use super::predictor::{BatchShape, IterationPredictor, new_tokens_per_chunk};

/// Grid points per doubling of the KV length.
const KV_STEPS_PER_OCTAVE: f64 = 16.0;
/// Token counts cached in a dense vector (larger batches are computed directly).
const DENSE_TOKENS: usize = 1 << 17;
/// Decode batch sizes whose attention is cached (larger ones are computed directly).
const DENSE_SEQS: usize = 1 << 14;

/// [`IterationPredictor`] with caches; single-threaded (each run owns its own, and a clone
/// for another thread carries the caches as they stand: they only memoise).
#[derive(Debug, Clone)]
pub struct CachedPredictor {
    inner: IterationPredictor,
    /// Token terms of steps run eagerly (with prefill, or decode batches without a graph).
    tokens: RefCell<Vec<f64>>,
    /// Token terms of decode steps replayed as CUDA graphs (where shared experts overlap).
    graphed_tokens: RefCell<Vec<f64>>,
    /// Token terms of graphed decode steps under attention DP, by the worker's token count
    /// (the fullest rank's share follows from it).
    dp_decode_tokens: RefCell<Vec<f64>>,
    heads: RefCell<Vec<f64>>,
    /// `generation[seqs][k]`: ms at KV grid index `k` (NaN until computed).
    generation: RefCell<Vec<Vec<f64>>>,
    /// `context[chunks][k]`: ms at equivalent-length grid index `k` (NaN until computed).
    context: RefCell<Vec<Vec<f64>>>,
}

impl CachedPredictor {
    /// Wraps a predictor.
    pub fn new(inner: IterationPredictor) -> Self {
        CachedPredictor {
            inner,
            tokens: RefCell::new(Vec::new()),
            graphed_tokens: RefCell::new(Vec::new()),
            dp_decode_tokens: RefCell::new(Vec::new()),
            heads: RefCell::new(Vec::new()),
            generation: RefCell::new(Vec::new()),
            context: RefCell::new(Vec::new()),
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

    /// One attention term at grid point `k`, from `cache` or computed.
    fn at(
        cache: &RefCell<Vec<Vec<f64>>>,
        n: u32,
        k: u32,
        compute: impl Fn(u32, u32) -> f64,
    ) -> f64 {
        let (i, j) = (n as usize, k as usize);
        if i >= DENSE_SEQS {
            return compute(n, grid_kv(k));
        }
        let mut cache = cache.borrow_mut();
        if cache.len() <= i {
            cache.resize_with(i + 1, Vec::new);
        }
        let row = &mut cache[i];
        if row.len() <= j {
            row.resize(j + 1, f64::NAN);
        }
        if row[j].is_nan() {
            row[j] = compute(n, grid_kv(k));
        }
        row[j]
    }

    /// An attention term at length `len`, interpolated between the two grid points around it.
    fn interpolated(
        cache: &RefCell<Vec<Vec<f64>>>,
        n: u32,
        len: u32,
        compute: impl Fn(u32, u32) -> f64,
    ) -> f64 {
        let k = grid_index(len);
        let (lo, hi) = (grid_kv(k), grid_kv(k + 1));
        if len <= lo || hi <= lo {
            return Self::at(cache, n, k, compute);
        }
        let w = f64::from(len - lo) / f64::from(hi - lo);
        (1.0 - w) * Self::at(cache, n, k, &compute) + w * Self::at(cache, n, k + 1, &compute)
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
        let all_chunks = chunks;
        // Attention DP: the fullest rank's share (the whole batch without it). Its token
        // terms depend on two counts; in a decode-only step the rank's follows from the
        // worker's, so those are cached by it, and steps with prefill are computed.
        let (chunks, rank_prefill, decode_seqs) =
            self.inner.rank_share(chunks, prefill_tokens, b.decode_seqs);
        let graphed = all_chunks == 0 && !b.eager;
        let mut ms = if self.inner.attention_dp() > 1 {
            let rank_tokens = rank_prefill + u64::from(decode_seqs);
            if chunks > 0 {
                self.inner
                    .token_terms_dp_ms(rank_tokens, tokens, Phase::Prefill, false)
            } else if graphed {
                Self::dense(&self.dp_decode_tokens, tokens, || {
                    self.inner
                        .token_terms_dp_ms(rank_tokens, tokens, Phase::Decode, true)
                })
            } else {
                self.inner
                    .token_terms_dp_ms(rank_tokens, tokens, Phase::Decode, false)
            }
        } else if graphed {
            Self::dense(&self.graphed_tokens, tokens, || {
                self.inner.token_terms_ms(tokens, true)
            })
        } else {
            Self::dense(&self.tokens, tokens, || {
                self.inner.token_terms_ms(tokens, false)
            })
        };
        let seqs = u64::from(chunks) + u64::from(decode_seqs);
        ms += Self::dense(&self.heads, seqs, || self.inner.head_ms(seqs));
        if chunks > 0 {
            let len = (pairs / f64::from(all_chunks)).sqrt().round().max(1.0) as u32;
            ms += Self::interpolated(&self.context, chunks, len, |c, l| {
                self.inner.context_attention_ms(c, l)
            });
            // Gated DeltaNet layers over the new tokens (zero without them).
            ms += self
                .inner
                .linear_context_ms(chunks, new_tokens_per_chunk(rank_prefill, chunks));
        }
        if decode_seqs > 0 {
            let kv = b
                .decode_kv_tokens
                .div_ceil(u64::from(b.decode_seqs))
                .clamp(1, u64::from(u32::MAX)) as u32;
            ms += Self::interpolated(&self.generation, decode_seqs, kv, |s, k| {
                self.inner.generation_attention_ms(s, k)
            });
        }
        self.inner
            .launch_bound_ms(ms + self.inner.overhead_ms(), chunks > 0 || b.eager)
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

/// KV lengths of the grid: 1..=16 one by one, then 16 points per octave up to `u32::MAX`.
fn grid() -> &'static [u32] {
    static GRID: OnceLock<Vec<u32>> = OnceLock::new();
    GRID.get_or_init(|| {
        let steps = KV_STEPS_PER_OCTAVE as u32;
        let mut g: Vec<u32> = (0..=steps).map(|k| k.max(1)).collect();
        let mut k = steps + 1;
        loop {
            let octaves = f64::from(k - steps) / KV_STEPS_PER_OCTAVE;
            let kv = (KV_STEPS_PER_OCTAVE * octaves.exp2()).round();
            if kv >= f64::from(u32::MAX) {
                g.push(u32::MAX);
                break;
            }
            g.push(kv as u32);
            k += 1;
        }
        g
    })
}

/// The grid index at or below `kv`: the last index whose length is <= kv
/// (index 0 and 1 both hold 1). Guessed from the octave of `kv` and a linear
/// step within it (never above the answer, at most two short), then corrected
/// against the grid itself, so the answer is exactly the binary search's.
fn grid_index(kv: u32) -> u32 {
    const STEPS: u32 = KV_STEPS_PER_OCTAVE as u32;
    let g = grid();
    let kv = kv.max(1);
    if kv <= STEPS {
        // Indices 1..=16 hold 1..=16.
        return kv;
    }
    // kv lies in [16·2^o, 16·2^(o+1)); 16·log2(x/16) >= x - 16 on [16, 32].
    let o = (31 - kv.leading_zeros()) - STEPS.trailing_zeros();
    let guess = STEPS + STEPS * o + ((kv >> o) - STEPS);
    let mut k = (guess as usize).min(g.len() - 1);
    while k + 1 < g.len() && g[k + 1] <= kv {
        k += 1;
    }
    while g[k] > kv {
        k -= 1;
    }
    k as u32
}

/// The KV length of grid index `k`.
fn grid_kv(k: u32) -> u32 {
    let g = grid();
    g[(k as usize).min(g.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::dtype::Dtype;
    use crate::hardware::GpuCatalog;
    use crate::llm::LlmSpec;
    use crate::perf::{KernelTimer, PrefillChunk};

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
    fn grid_index_is_the_last_grid_point_at_or_below() {
        let g = grid();
        let search = |kv: u32| (g.partition_point(|&x| x <= kv.max(1)) - 1) as u32;
        let edges = g
            .iter()
            .flat_map(|&x| [x.saturating_sub(1), x, x.saturating_add(1)]);
        for kv in (0..70_000).chain(edges).chain([u32::MAX - 1, u32::MAX]) {
            assert_eq!(grid_index(kv), search(kv), "kv {kv}");
        }
    }

    #[test]
    fn cached_times_match_the_exact_predictor() {
        let cat = GpuCatalog::builtin();
        let llm = LlmSpec::lookup("Qwen/Qwen3-32B-FP8")
            .unwrap()
            .with_dtypes(Dtype::Fp8, Dtype::Fp8);
        // vLLM at TP2, and TensorRT-LLM at TP8 where small prefill steps meet the eager
        // launch floor.
        let mut worst = 0.0f64;
        let mut floored = 0;
        for (backend, tp) in [(Backend::Vllm, 2), (Backend::Trtllm, 8)] {
            let timer = KernelTimer::shipped(&cat, "h100_sxm", backend).unwrap();
            let exact =
                IterationPredictor::new(&llm, tp, cat.get("h100_sxm").unwrap(), backend, timer)
                    .unwrap();
            let cached = CachedPredictor::new(exact.clone());
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
                            eager: false,
                        };
                        let (e, c) = (exact.predict_ms(&b), cached.predict_ms(&b));
                        // Twice: the second answer comes from the caches.
                        assert_eq!(c, cached.predict_ms(&b));
                        worst = worst.max((c - e).abs() / e);
                        let floor = exact.eager_floor_ms();
                        floored += usize::from(chunk > 0 && (e - floor).abs() < 1e-9 * floor);
                    }
                }
            }
        }
        assert!(worst < 1e-3, "worst relative error {worst}");
        assert!(floored > 0, "some prefill steps are launch-bound");
    }
}
