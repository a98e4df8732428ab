//! How much of a MoE layer's work lands on the GPU whose time the layer takes: the token-expert
//! pairs it computes and the distinct experts whose weights it reads.
//!
//! Under the tables' `balanced` distribution every rank gets `tokens × topk / moe_ep` pairs,
//! spread over as many of its experts as they reach. Under a power law the ranks differ, and
//! the layer waits for the busiest. aiconfigurator's MoE collector (`power_law_logits_v3`,
//! `collector/helper.py` of its repository; the collector is not in the PyPI wheels) draws
//! each expert's popularity from a power law of the exponent the distribution names,
//! truncated to `[1, 0.8 · tokens]` (to `[0.01, 2]` when the pairs do not outnumber the
//! experts), scales the draws to `tokens × topk` whole pairs, and moves the rank with the most
//! pairs to the one it times. The tables agree at large batches, where a rank's time follows
//! its pairs: SGLang's DeepEP low-latency rows on H200 at 8,192 tokens and EP 64 run 3.5 and
//! 5.1 times their balanced twins (power laws 1.01 and 1.2) where this draw gives the busiest
//! rank 4.0 and 6.1 times the balanced pairs; TensorRT-LLM's rows on H200 at 4,096 tokens
//! and EP 8, 1.61 and 1.80 times, where it gives 1.46 and 1.72.
//!
//! The draw is random; the roofline takes its mean over [`DRAWS`] draws from a fixed seed
//! (deterministic, and the same draws for every token count and split of a layer), memoised
//! for every split at once, because the tables' rows and a run's steps ask for the same
//! layers again and again; batches of more than [`EXACT_TOKENS`] tokens are interpolated
//! between points of a grid in log tokens.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rand::RngExt;
use rustc_hash::FxHashMap;
use servesim_core::RngStreams;
use servesim_core::hash::stable_hash;

use super::ops::{ExpertRouting, MoeShape};

/// Draws the mean load is taken over. The busiest rank is the tail of a heavy-tailed draw:
/// at EP 64 and 8,192 tokens a mean over 32 draws sat 6 % from one over 64 of other seeds.
pub const DRAWS: u64 = 64;
/// The most experts a layer's load is drawn for: eight times the largest built-in mixture
/// (Qwen3.5-397B-A17B's 512). A layer of more, which no model has, is timed as balanced.
pub const MAX_DRAWN_EXPERTS: u32 = 4096;
/// The most tokens a layer's load is drawn for (no batch comes near; beyond it, balanced).
pub const MAX_DRAWN_TOKENS: u64 = 1 << 32;
/// Batches of up to this many tokens are drawn at their own size.
pub const EXACT_TOKENS: u64 = 256;
/// Grid points per doubling of the tokens above [`EXACT_TOKENS`].
const GRID_STEPS_PER_OCTAVE: f64 = 32.0;
/// Seed of the draws (any fixed number: the load is a property of the shape, not of a run).
const SEED: u64 = 0x6d6f_652d_6c6f_6164;

/// What the timed rank of a MoE layer does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankLoad {
    /// Token-expert pairs the rank computes.
    pub pairs: f64,
    /// Distinct local experts with at least one pair (whose weights the rank reads).
    pub experts: f64,
}

/// A layer's tokens, experts, top-k, EP and routing: what its load depends on.
type LoadKey = (u64, u32, u32, u32, ExpertRouting);

/// The load of the rank a MoE layer waits for, under the layer's routing.
pub fn busiest_rank(m: &MoeShape) -> RankLoad {
    let ep = m.moe_ep.max(1);
    // The inverse CDF's exponent, `1 / (1 − α)`: whole for both laws the tables name
    // (−100 for α = 1.01, −5 for 1.2), so a draw takes `powi`, not `powf`.
    let inverse_exponent = match m.routing {
        ExpertRouting::Balanced => return balanced(m, ep),
        ExpertRouting::PowerLaw101 => -100,
        ExpertRouting::PowerLaw12 => -5,
    };
    // A split the experts do not divide, no pairs at all, or more experts than any model has
    // (a draw holds one count per expert), has no power-law draw to take.
    if m.experts == 0
        || m.experts > MAX_DRAWN_EXPERTS
        || m.tokens > MAX_DRAWN_TOKENS
        || !m.experts.is_multiple_of(ep)
        || m.tokens == 0
        || m.topk == 0
    {
        return balanced(m, ep);
    }
    let at = |tokens| drawn(tokens, m, ep, inverse_exponent);
    if m.tokens <= EXACT_TOKENS {
        return at(m.tokens);
    }
    // Larger batches between points of a grid in log tokens, per token: the load moves
    // smoothly there, and a run meets thousands of batch sizes.
    let x = (m.tokens as f64).log2() * GRID_STEPS_PER_OCTAVE;
    let grid = |k: f64| (k / GRID_STEPS_PER_OCTAVE).exp2().round() as u64;
    let (t0, t1) = (grid(x.floor()), grid(x.ceil()));
    if t0 >= t1 {
        return at(m.tokens);
    }
    let (l0, l1) = (at(t0), at(t1));
    let f = ((m.tokens as f64).ln() - (t0 as f64).ln()) / ((t1 as f64).ln() - (t0 as f64).ln());
    let per_token =
        |a: f64, ta: u64, b: f64, tb: u64| (a / ta as f64) * (1.0 - f) + (b / tb as f64) * f;
    let pairs = m.tokens as f64 * per_token(l0.pairs, t0, l1.pairs, t1);
    RankLoad {
        pairs,
        // Pairs go per token, experts linearly: where every count is zero or one the line
        // between the grid points could pass above the pairs.
        experts: (l0.experts * (1.0 - f) + l1.experts * f).min(pairs),
    }
}

/// The mean load at `tokens` of the layer `m`'s experts under EP `ep`, memoised. One set of
/// draws serves every split of the experts (the collector's counts do not depend on the
/// split), so all of them are kept at once: a table's rows ask for several.
fn drawn(tokens: u64, m: &MoeShape, ep: u32, inverse_exponent: i32) -> RankLoad {
    let key = (tokens, m.experts, m.topk, ep, m.routing);
    static MEMO: OnceLock<Mutex<FxHashMap<LoadKey, RankLoad>>> = OnceLock::new();
    let memo = MEMO.get_or_init(Default::default);
    let lock = || memo.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(load) = lock().get(&key).copied() {
        return load;
    }
    // The same draws at every token count and split (common random numbers): a layer's
    // load then moves smoothly with its tokens, as the roofline's ratios between neighbours
    // need.
    let id = stable_hash(&(m.experts, m.topk, m.routing));
    let splits: Vec<u32> = (1..=m.experts)
        .filter(|d| m.experts.is_multiple_of(*d))
        .collect();
    let loads = power_law_means(tokens, m.experts, m.topk, &splits, inverse_exponent, id);
    let mut memo = lock();
    for (&d, &l) in splits.iter().zip(&loads) {
        memo.insert((tokens, m.experts, m.topk, d, m.routing), l);
    }
    // `ep` divides the experts (checked by the caller), so it is one of the splits.
    splits
        .iter()
        .position(|&d| d == ep)
        .map_or_else(|| balanced(&MoeShape { tokens, ..*m }, ep), |i| loads[i])
}

/// The uniform split: every rank the same share, reaching as many experts as it has pairs.
fn balanced(m: &MoeShape, ep: u32) -> RankLoad {
    let pairs = m.tokens as f64 * f64::from(m.topk) / f64::from(ep);
    RankLoad {
        pairs,
        experts: pairs.min(f64::from(m.experts) / f64::from(ep)),
    }
}

/// The busiest rank's load under each of `splits` (EP sizes dividing the experts), averaged
/// over [`DRAWS`] draws of the collector's power law of exponent `α = 1 − 1 / inverse_exponent`.
fn power_law_means(
    tokens: u64,
    experts: u32,
    topk: u32,
    splits: &[u32],
    inverse_exponent: i32,
    id: u64,
) -> Vec<RankLoad> {
    let uniforms = uniforms(id, experts);
    // At most 2^32 tokens (`MAX_DRAWN_TOKENS`, a grid point a little above) and a top-k of at
    // most `MAX_DRAWN_EXPERTS`: far from overflowing.
    let pairs_total = tokens.saturating_mul(u64::from(topk));
    let (lo, hi): (f64, f64) = if pairs_total > u64::from(experts) {
        (1.0, 0.8 * tokens as f64)
    } else {
        (0.01, 2.0)
    };
    let one_minus_alpha = 1.0 / f64::from(inverse_exponent);
    let (lo_p, hi_p) = (lo.powf(one_minus_alpha), hi.max(lo).powf(one_minus_alpha));
    let n = experts as usize;
    let mut weights = vec![0.0; n];
    let mut counts = vec![0i64; n];
    let mut prefix = vec![0i64; n + 1];
    // Experts by count, then by draw: `count + share`, the share below one.
    let mut order: Vec<(f64, usize)> = Vec::with_capacity(n);
    let mut sums = vec![(0.0, 0.0); splits.len()];
    for draw in uniforms.chunks_exact(n) {
        // Inverse CDF of the truncated power law.
        let inverse_cdf = |u: f64| (hi_p - lo_p) * u + lo_p;
        // The two laws' exponents as constants: their squarings unrolled, the experts in
        // vector lanes.
        match inverse_exponent {
            -100 => fill(&mut weights, draw, |u| powi(inverse_cdf(u), -100)),
            -5 => fill(&mut weights, draw, |u| powi(inverse_cdf(u), -5)),
            e => fill(&mut weights, draw, |u| powi(inverse_cdf(u), e)),
        }
        let total: f64 = weights.iter().sum();
        for (c, w) in counts.iter_mut().zip(&weights) {
            *c = round_half_away(w / total * pairs_total as f64);
        }
        // Rounding leaves the sum a few pairs off: the collector adds them to the largest
        // counts in turn, or takes them from the smallest, from the largest where that one is
        // zero. Equal counts are ordered by their draws (where every count rounds to zero,
        // the most popular experts get the pairs), never by the experts' numbers, which would
        // pile them on one rank.
        let delta = pairs_total as i64 - counts.iter().sum::<i64>();
        let fix = delta.unsigned_abs() as usize;
        let rank_key = |counts: &[i64], e: usize| counts[e] as f64 + weights[e] / total;
        if fix > 0 {
            order.clear();
            order.extend((0..n).map(|e| (rank_key(&counts, e), e)));
            let larger = |a: &(f64, usize), b: &(f64, usize)| b.0.total_cmp(&a.0);
            if fix < n {
                // Only the first (or last) `fix` of the order are touched, once each.
                let at = if delta > 0 { fix - 1 } else { n - fix };
                order.select_nth_unstable_by(at, larger);
            } else {
                order.sort_by(larger);
            }
        }
        for i in 0..fix {
            if delta > 0 {
                counts[order[i % n].1] += 1;
            } else {
                let e = order[n - 1 - i % n].1;
                if counts[e] > 0 {
                    counts[e] -= 1;
                } else if let Some(top) =
                    (0..n).max_by(|&a, &b| rank_key(&counts, a).total_cmp(&rank_key(&counts, b)))
                {
                    counts[top] -= 1;
                }
            }
        }
        // The pairs of the experts before each: a rank's are the difference at its ends, so
        // every split's ranks are summed at once.
        let mut before = 0;
        for (p, c) in prefix.iter_mut().zip(&counts) {
            *p = before;
            before += c;
        }
        prefix[n] = before;
        for (&ep, (pairs, touched)) in splits.iter().zip(&mut sums) {
            let size = n / ep as usize;
            // The first of equally busy ranks, as `torch.argmax` picks.
            let (mut busiest, mut most) = (0, i64::MIN);
            for rank in 0..ep as usize {
                let load = prefix[(rank + 1) * size] - prefix[rank * size];
                if load > most {
                    (busiest, most) = (rank, load);
                }
            }
            let experts = &counts[busiest * size..(busiest + 1) * size];
            *pairs += most as f64;
            *touched += experts.iter().filter(|&&c| c > 0).count() as f64;
        }
    }
    sums.into_iter()
        .map(|(pairs, experts)| RankLoad {
            pairs: pairs / DRAWS as f64,
            experts: experts / DRAWS as f64,
        })
        .collect()
}

/// The uniform numbers of every draw of a layer's experts (`id`), expert by expert, draw by
/// draw: the same at every token count (common random numbers), so drawn once per process.
fn uniforms(id: u64, experts: u32) -> Arc<[f64]> {
    /// Every layer's uniforms, by its `id` and experts.
    type Drawn = FxHashMap<(u64, u32), Arc<[f64]>>;
    static DRAWN: OnceLock<Mutex<Drawn>> = OnceLock::new();
    let memo = DRAWN.get_or_init(Default::default);
    let mut memo = memo.lock().unwrap_or_else(PoisonError::into_inner);
    memo.entry((id, experts))
        .or_insert_with(|| {
            let mut rng = RngStreams::new(SEED).substream("moe/power-law", id);
            let n = DRAWS as usize * experts as usize;
            (0..n).map(|_| rng.random::<f64>()).collect()
        })
        .clone()
}

/// `weights[e] = f(draw[e])`, inlined for each `f`.
#[inline(always)]
fn fill(weights: &mut [f64], draw: &[f64], f: impl Fn(f64) -> f64) {
    for (w, &u) in weights.iter_mut().zip(draw) {
        *w = f(u);
    }
}

/// `x.round()` of a count (`x` at least 0 and below 2^52, or NaN: 0) without calling libm's
/// `round`, which a target without SSE4.1 does: the whole part, and one more where the
/// fraction (exact: `x` less its whole part) is at least a half.
fn round_half_away(x: f64) -> i64 {
    let whole = x as i64;
    whole + i64::from(x - whole as f64 >= 0.5)
}

/// `x` to the power `n`, by the same squarings in the same order as `f64::powi` (the
/// compiler's `__powidf2`: the result bit for bit), without its call (the draws of a
/// process take hundreds of thousands), and the same on every target, which Rust does not
/// promise of `powi`.
fn powi(mut x: f64, n: i32) -> f64 {
    let mut left = n.unsigned_abs();
    let mut product = 1.0;
    loop {
        if left & 1 == 1 {
            product *= x;
        }
        left >>= 1;
        if left == 0 {
            break;
        }
        x *= x;
    }
    if n < 0 { 1.0 / product } else { product }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::ops::{MoeKernel, MoeQuant};

    fn deepseek(tokens: u64, ep: u32, routing: ExpertRouting) -> MoeShape {
        MoeShape {
            quant: MoeQuant::Fp8Block,
            tokens,
            hidden: 7168,
            inter: 2048,
            topk: 8,
            experts: 256,
            moe_tp: 1,
            moe_ep: ep,
            kernel: MoeKernel::DeepepLowLatency,
            routing,
        }
    }

    #[test]
    fn powers_are_those_of_powi_bit_for_bit() {
        let mut rng = RngStreams::new(7).substream("test", 0);
        for _ in 0..10_000 {
            let x = 0.5 + rng.random::<f64>();
            for n in [-100, -5, -1, 0, 1, 2, 3, 7, 64] {
                assert_eq!(powi(x, n).to_bits(), x.powi(n).to_bits(), "{x}^{n}");
            }
        }
    }

    #[test]
    fn counts_round_as_round_does() {
        let mut rng = RngStreams::new(8).substream("test", 0);
        let halves = [0.0, 0.5, 1.5, 2.5, 0.49999999999999994, 4503599627370495.5];
        let drawn = (0..100_000).map(|_| rng.random::<f64>() * 1e6);
        for x in halves.into_iter().chain(drawn) {
            assert_eq!(round_half_away(x), x.round() as i64, "{x}");
        }
        assert_eq!(round_half_away(f64::NAN), f64::NAN.round() as i64);
    }

    #[test]
    fn the_uniforms_are_the_layers_stream_in_order() {
        let id = stable_hash(&(256u32, 8u32, ExpertRouting::PowerLaw101));
        let mut rng = RngStreams::new(SEED).substream("moe/power-law", id);
        let drawn = uniforms(id, 256);
        assert_eq!(drawn.len(), DRAWS as usize * 256);
        assert!(drawn.iter().all(|&u| u == rng.random::<f64>()));
    }

    #[test]
    fn a_balanced_rank_gets_its_share() {
        let l = busiest_rank(&deepseek(64, 8, ExpertRouting::Balanced));
        assert_eq!(l.pairs, 64.0);
        assert_eq!(l.experts, 32.0);
        let l = busiest_rank(&deepseek(2, 8, ExpertRouting::Balanced));
        assert_eq!((l.pairs, l.experts), (2.0, 2.0));
    }

    #[test]
    fn the_busiest_rank_under_a_power_law_carries_more_than_its_share() {
        for ep in [8, 64, 256] {
            let balanced = busiest_rank(&deepseek(8192, ep, ExpertRouting::Balanced)).pairs;
            let mild = busiest_rank(&deepseek(8192, ep, ExpertRouting::PowerLaw101)).pairs;
            let steep = busiest_rank(&deepseek(8192, ep, ExpertRouting::PowerLaw12)).pairs;
            assert!(
                balanced < mild && mild < steep,
                "ep {ep}: {balanced} {mild} {steep}"
            );
        }
        // One rank holds every expert: all pairs are its own, whatever the routing.
        let whole = busiest_rank(&deepseek(4096, 1, ExpertRouting::PowerLaw12));
        assert_eq!(whole.pairs, 4096.0 * 8.0);
    }

    #[test]
    fn a_skewed_router_leaves_experts_idle_at_small_batches() {
        // 128 pairs over 256 experts: evenly, 128 experts read; under the power law, fewer.
        let skewed = busiest_rank(&deepseek(16, 1, ExpertRouting::PowerLaw101));
        assert_eq!(skewed.pairs, 128.0);
        assert!(skewed.experts < 128.0, "{skewed:?}");
        // Large batches reach nearly every expert either way.
        let full = busiest_rank(&deepseek(8192, 1, ExpertRouting::PowerLaw101));
        assert!(full.experts > 240.0, "{full:?}");
    }

    proptest::proptest! {
        /// The busiest rank carries at least the even share and at most every pair, and
        /// reads at least one expert where it has a pair, and no more experts than it holds
        /// or has pairs for.
        #[test]
        fn the_busiest_rank_is_within_its_bounds(
            tokens in 1u64..20_000,
            ep_log2 in 0u32..9,
            routing in 0usize..3,
            // DeepSeek's 256 experts of top-8, Kimi-K2's 384, and many experts of top-1
            // (every count zero or one up to hundreds of tokens).
            (experts, topk) in proptest::sample::select(vec![(256u32, 8u32), (384, 8), (4096, 1)]),
        ) {
            let ep = 1u32 << ep_log2;
            let shape = MoeShape {
                experts,
                topk,
                ..deepseek(tokens, ep, ExpertRouting::ALL[routing])
            };
            let l = busiest_rank(&shape);
            let pairs = (tokens * u64::from(topk)) as f64;
            let local = f64::from(experts) / f64::from(ep);
            proptest::prop_assert!(l.pairs >= pairs / f64::from(ep) - 1e-9, "{l:?}");
            proptest::prop_assert!(l.pairs <= pairs, "{l:?}");
            proptest::prop_assert!(l.experts >= l.pairs.min(1.0) - 1e-9, "{l:?}");
            proptest::prop_assert!(l.experts <= l.pairs, "{l:?}");
            proptest::prop_assert!(l.experts <= local.ceil(), "{l:?}");
        }
    }

    #[test]
    fn a_layer_of_more_experts_than_any_model_is_timed_as_balanced() {
        let huge = MoeShape {
            experts: u32::MAX,
            ..deepseek(64, 1, ExpertRouting::PowerLaw12)
        };
        assert_eq!(busiest_rank(&huge).experts, 512.0);
    }

    #[test]
    fn the_mean_load_is_deterministic() {
        let a = power_law_means(1024, 256, 8, &[8, 32], -5, 7);
        let b = power_law_means(1024, 256, 8, &[8, 32], -5, 7);
        assert_eq!(a, b);
    }
}
