//! A prefill worker that batches the prompts waiting for it.
//!
//! An engine does not prefill one prompt at a time: at the start of each iteration it
//! schedules the waiting prompts first come, first served up to its token budget (vLLM V1's
//! `max_num_batched_tokens`, whose chunked prefill splits the last prompt to fill the budget
//! and finishes it first in the next iteration; TensorRT-LLM's `max_num_tokens`; SGLang's
//! chunked-prefill size), and a prompt gets its first token when the iteration holding its
//! last token ends. Without chunked prefill (TensorRT-LLM's default, `enable_chunked_prefill`
//! false) an iteration takes whole prompts only, as many as fit the budget, and a prompt
//! longer than the budget alone. With prompts shorter than the budget a busy worker runs full iterations
//! of several prompts, so a prompt's first token waits for the others' prefill as well as
//! its own: more than an M/D queue of one prompt's time says, and at a capacity set by what
//! a full iteration costs.
//!
//! [`BatchedPrefill`] times that queue: an iteration takes the waiting tokens up to the
//! budget, in that order, and lasts what the predictor gives an iteration of so many tokens
//! (interpolated between iterations of whole prompts and the full budget); arrivals at each
//! of `n` workers are every `n`-th of a Poisson stream (Dynamo's round-robin router, see
//! [`crate::analytic`]). Its mean first-token time has no closed form, so it is measured on
//! a fixed set of arrivals ([`ARRIVALS`] from a fixed seed, the same at every rate: common
//! random numbers, so the search compares deployments on the same arrivals and the answer
//! is deterministic). Where a prompt is at least the budget, iterations hold one prompt's
//! chunks and the queue is the M/D/n one of [`crate::analytic::mdk_response_ms`], used as
//! it is.

use std::sync::OnceLock;

use rand_distr::{Distribution, Exp1};
use servesim_core::RngStreams;

use super::{largest_within, mdk_max_utilisation, mdk_response_ms};

/// Arrivals each estimate runs over, per worker.
///
/// The profiler plans a prefill pool at the rate where this mean meets the TTFT target, so
/// at a high utilisation, where a mean over a sample wanders most: two prefill workers of
/// Llama-3.1-70B (TP2, H200) at 89 % utilisation, means over 20,000 arrivals of twelve
/// seeds spread 774–933 ms (σ 46 ms, 5 %), against 860 ms over 200,000 (a replica of this
/// queue). 50,000 keep the spread near 3 % at a search time of about a quarter of a second.
pub const ARRIVALS: usize = 50_000;
/// Leading arrivals left out of the mean (the queue starts empty).
const WARMUP: usize = 5_000;
/// Bisection rounds of [`BatchedPrefill::max_rate_per_s`].
const BISECTION_ROUNDS: usize = 24;

/// The prefill queue of identical workers batching prompts of one length.
#[derive(Debug)]
pub struct BatchedPrefill {
    /// Prompt tokens.
    isl: u32,
    /// Tokens one iteration may take.
    budget: u32,
    /// Whether the last prompt an iteration takes may be split to fill the budget.
    chunked: bool,
    /// One prompt prefilled alone (chunked when it exceeds the budget), ms.
    alone_ms: f64,
    /// Iteration times at increasing token counts, `(tokens, ms)`, up to the budget.
    iterations: Vec<(u32, f64)>,
    /// Per worker count `n` (index `n - 1`): cumulative arrival times of one worker at a
    /// total rate of one request per ms, made when first asked for.
    unit_arrivals: Vec<OnceLock<Vec<f64>>>,
}

impl BatchedPrefill {
    /// Workers taking up to `budget` tokens per iteration of prompts of `isl` tokens, one
    /// prompt alone taking `alone_ms`, an iteration of `tokens` taking `ms` at each of
    /// `iterations` (increasing tokens, at most `budget`, each time positive; unused when a
    /// prompt fills the budget), for up to `max_workers` workers.
    pub fn new(
        isl: u32,
        budget: u32,
        alone_ms: f64,
        iterations: Vec<(u32, f64)>,
        max_workers: u32,
    ) -> BatchedPrefill {
        assert!(alone_ms > 0.0, "a prompt takes time: {alone_ms}");
        assert!(
            iterations.windows(2).all(|w| w[0].0 < w[1].0)
                && iterations
                    .iter()
                    .all(|&(t, ms)| t > 0 && t <= budget && ms > 0.0),
            "iterations must increase in tokens up to the budget, each timed: {iterations:?}"
        );
        BatchedPrefill {
            isl: isl.max(1),
            budget: budget.max(1),
            chunked: true,
            alone_ms,
            iterations,
            unit_arrivals: (0..max_workers.max(1)).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The same queue with whole prompts only in each iteration (no chunked prefill).
    pub fn without_chunking(self) -> BatchedPrefill {
        BatchedPrefill {
            chunked: false,
            ..self
        }
    }

    /// Whether iterations can hold more than one prompt.
    pub fn batches(&self) -> bool {
        let room = if self.chunked {
            self.isl < self.budget
        } else {
            self.whole_prompts() >= 2
        };
        room && !self.iterations.is_empty()
    }

    /// Whole prompts that fit one iteration's budget (at least one).
    fn whole_prompts(&self) -> u32 {
        (self.budget / self.isl).max(1)
    }

    /// Tokens of a full iteration: the budget, or the whole prompts that fit it.
    fn full_tokens(&self) -> u32 {
        if self.chunked {
            self.budget
        } else {
            self.whole_prompts() * self.isl
        }
    }

    /// One prompt prefilled alone, ms.
    pub fn alone_ms(&self) -> f64 {
        self.alone_ms
    }

    /// Most requests/s `workers` workers can prefill (full iterations back to back).
    pub fn peak_per_s(&self, workers: u32) -> f64 {
        let per_worker = if self.batches() {
            let full = self.full_tokens();
            f64::from(full) / f64::from(self.isl) / (self.iteration_ms(full) / 1e3)
        } else {
            1e3 / self.alone_ms
        };
        f64::from(workers) * per_worker
    }

    /// Mean time from a prompt's arrival to its first token, ms, at `rate_per_s` requests/s
    /// over `workers` workers; infinite at or beyond their peak.
    pub fn response_ms(&self, rate_per_s: f64, workers: u32) -> f64 {
        let workers = workers.max(1);
        if rate_per_s <= 0.0 {
            return self.alone_ms;
        }
        if rate_per_s >= self.peak_per_s(workers) {
            return f64::INFINITY;
        }
        if !self.batches() {
            let rho = rate_per_s * self.alone_ms / 1e3 / f64::from(workers);
            return mdk_response_ms(self.alone_ms, rho, workers);
        }
        self.simulated_response_ms(rate_per_s / 1e3, workers)
    }

    /// The most requests/s `workers` workers take with a mean first-token time within
    /// `target_ms`, at most `cap` of their peak; 0 when even one prompt alone misses it.
    pub fn max_rate_per_s(&self, target_ms: f64, workers: u32, cap: f64) -> f64 {
        let workers = workers.max(1);
        if !self.batches() {
            let rho = mdk_max_utilisation(self.alone_ms, target_ms, workers, cap);
            return f64::from(workers) * rho / (self.alone_ms / 1e3);
        }
        if target_ms < self.alone_ms {
            return 0.0;
        }
        let most = cap.min(0.999) * self.peak_per_s(workers);
        largest_within(most, BISECTION_ROUNDS, |rate| {
            self.response_ms(rate, workers) <= target_ms
        })
    }

    /// An iteration of `tokens` (at most the budget), ms: linear between the timed
    /// iterations, in proportion to the smallest below it.
    fn iteration_ms(&self, tokens: u32) -> f64 {
        let pts = &self.iterations;
        let (t0, ms0) = pts[0];
        if tokens <= t0 {
            return ms0 * f64::from(tokens) / f64::from(t0);
        }
        for w in pts.windows(2) {
            let ((a, ta), (b, tb)) = (w[0], w[1]);
            if tokens <= b {
                return ta + (tb - ta) * f64::from(tokens - a) / f64::from(b - a);
            }
        }
        let (tl, ml) = pts[pts.len() - 1];
        ml * f64::from(tokens) / f64::from(tl)
    }

    /// The queue run over the fixed arrivals at `rate_per_ms` in total.
    fn simulated_response_ms(&self, rate_per_ms: f64, workers: u32) -> f64 {
        let unit = self.unit_arrivals(workers);
        let arrival = |i: usize| unit[i] / rate_per_ms;
        let (mut now, mut head, mut next) = (0.0f64, 0usize, 0usize);
        // Tokens of the head prompt still to prefill (less than ISL once it was split).
        let mut head_left = self.isl;
        let (mut sum, mut counted) = (0.0f64, 0usize);
        while head < unit.len() {
            if head == next {
                // Idle: the next prompt starts an iteration as it arrives.
                now = now.max(arrival(next));
            }
            while next < unit.len() && arrival(next) <= now {
                next += 1;
            }
            // First come, first served up to the budget; the last prompt taken may split
            // (whole prompts only without chunking).
            let full = self.full_tokens();
            let (mut room, mut j, mut left) = (full, head, head_left);
            while j < next && room > 0 {
                if !self.chunked && left > room {
                    break;
                }
                let take = left.min(room);
                room -= take;
                if take < left {
                    left -= take;
                    break;
                }
                j += 1;
                left = self.isl;
            }
            now += self.iteration_ms(full - room);
            for i in head..j {
                if i >= WARMUP {
                    sum += now - arrival(i);
                    counted += 1;
                }
            }
            head = j;
            head_left = left;
        }
        sum / counted.max(1) as f64
    }

    /// One worker's arrival times at one request per ms in total: every `workers`-th
    /// arrival of a Poisson stream (round-robin), from a fixed seed.
    fn unit_arrivals(&self, workers: u32) -> &[f64] {
        let slot = (workers as usize - 1).min(self.unit_arrivals.len() - 1);
        let n = slot + 1;
        self.unit_arrivals[slot].get_or_init(|| {
            let mut rng = RngStreams::new(0).substream("analytic/prefill-arrivals", n as u64);
            let mut t = 0.0;
            (0..ARRIVALS)
                .map(|_| {
                    let gap: f64 = (0..n).map(|_| -> f64 { Exp1.sample(&mut rng) }).sum();
                    t += gap;
                    t
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prompts of 1,000 tokens, a budget of `budget`, an iteration costing `per_prompt` ms
    /// a prompt's worth of tokens plus `fixed` ms.
    fn queue(budget: u32, per_prompt: f64, fixed: f64, workers: u32) -> BatchedPrefill {
        let iterations = (1..=budget / 1000)
            .map(|s| (s * 1000, fixed + per_prompt * f64::from(s)))
            .collect();
        BatchedPrefill::new(1000, budget, fixed + per_prompt, iterations, workers)
    }

    #[test]
    fn a_prompt_that_fills_the_budget_queues_as_md() {
        let q = BatchedPrefill::new(1000, 1000, 100.0, vec![(1000, 100.0)], 4);
        assert!(!q.batches());
        for (rate, n) in [(5.0, 1), (8.0, 1), (30.0, 4)] {
            let rho = rate * 0.1 / f64::from(n);
            assert_eq!(q.response_ms(rate, n), mdk_response_ms(100.0, rho, n));
        }
    }

    #[test]
    fn sharing_an_iteration_that_costs_its_tokens_waits_longer_than_one_by_one() {
        // No fixed cost: batching saves nothing, and a prompt waits for its partners.
        let (one, two) = (queue(1000, 100.0, 0.0, 1), queue(2000, 100.0, 0.0, 1));
        assert!(two.batches() && (one.peak_per_s(1) - two.peak_per_s(1)).abs() < 1e-9);
        for rate in [3.0, 5.0, 8.0] {
            let (a, b) = (one.response_ms(rate, 1), two.response_ms(rate, 1));
            assert!(b > a, "rate {rate}: batched {b} vs alone {a}");
        }
        // At light load prompts rarely meet: close to the prefill alone.
        let light = two.response_ms(0.2, 1);
        assert!(light < 110.0, "{light}");
    }

    #[test]
    fn batching_that_amortises_a_fixed_cost_carries_more_within_a_target() {
        let (one, four) = (queue(1000, 60.0, 40.0, 1), queue(4000, 60.0, 40.0, 1));
        assert!(four.peak_per_s(1) > 1.4 * one.peak_per_s(1));
        let (a, b) = (
            one.max_rate_per_s(400.0, 1, 0.95),
            four.max_rate_per_s(400.0, 1, 0.95),
        );
        assert!(b > a, "{b} vs {a}");
        let back = four.response_ms(b, 1);
        assert!(
            (back - 400.0).abs() < 8.0,
            "the bisection lands on the target: {back}"
        );
    }

    #[test]
    fn a_budget_that_splits_prompts_runs_full_iterations() {
        // 2,500 tokens: two prompts and half of a third per full iteration.
        let q = BatchedPrefill::new(
            1000,
            2500,
            100.0,
            vec![(1000, 100.0), (2000, 180.0), (2500, 230.0)],
            1,
        );
        assert!((q.iteration_ms(1500) - 140.0).abs() < 1e-9, "interpolated");
        assert!(
            (q.iteration_ms(500) - 50.0).abs() < 1e-9,
            "below the first point"
        );
        assert!((q.peak_per_s(1) - 2.5 / 0.230).abs() < 1e-9);
        assert!(q.response_ms(0.99 * q.peak_per_s(1), 1).is_finite());
    }

    #[test]
    fn without_chunking_an_iteration_takes_whole_prompts_only() {
        // 2,500 tokens hold two whole prompts of 1,000; chunking adds half of a third.
        let iterations = vec![(1000, 100.0), (2000, 180.0), (2500, 220.0)];
        let chunked = BatchedPrefill::new(1000, 2500, 100.0, iterations.clone(), 1);
        let whole =
            BatchedPrefill::new(1000, 2500, 100.0, iterations[..2].to_vec(), 1).without_chunking();
        assert!(whole.batches());
        assert!((whole.peak_per_s(1) - 2.0 / 0.180).abs() < 1e-9);
        assert!(whole.peak_per_s(1) < chunked.peak_per_s(1));
        // A lone prompt runs in an iteration of its own tokens, not of the budget.
        let light = whole.response_ms(0.1, 1);
        assert!((100.0..105.0).contains(&light), "{light}");
        // Two whole prompts of a budget of 1,999 do not fit: one at a time, as M/D/1.
        let one = BatchedPrefill::new(1000, 1999, 100.0, vec![(1000, 100.0)], 1).without_chunking();
        assert!(!one.batches());
        assert_eq!(one.response_ms(5.0, 1), mdk_response_ms(100.0, 0.5, 1));
    }

    #[test]
    fn the_estimate_is_deterministic_and_monotone_in_load() {
        let q = queue(3000, 30.0, 20.0, 2);
        let r: Vec<f64> = [5.0, 10.0, 20.0, 30.0, 40.0]
            .iter()
            .map(|&x| q.response_ms(x, 2))
            .collect();
        assert!(r.windows(2).all(|w| w[0] < w[1]), "{r:?}");
        assert_eq!(queue(3000, 30.0, 20.0, 2).response_ms(20.0, 2), r[2]);
        assert_eq!(q.response_ms(q.peak_per_s(2), 2), f64::INFINITY);
    }
}
