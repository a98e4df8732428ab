//! A prefill worker that batches the prompts waiting for it.
//!
//! An engine does not prefill one prompt at a time: at the start of each iteration it
//! schedules the waiting prompts first come, first served up to its token budget (vLLM V1's
//! `max_num_batched_tokens`, whose chunked prefill splits the last prompt to fill the budget
//! and finishes it first in the next iteration; TensorRT-LLM's `max_num_tokens`; SGLang's
//! chunked-prefill size), and a prompt gets its first token when the iteration holding its
//! last token ends. Without chunked prefill (TensorRT-LLM's default, `enable_chunked_prefill`
//! false) an iteration takes whole prompts only, as many as fit the budget, and a prompt
//! longer than the budget alone. With prompts shorter than the budget a busy worker runs
//! full iterations of several prompts, so a prompt's first token waits for the others'
//! prefill as well as its own: more than an M/D queue of one prompt's time says, and at a
//! capacity set by what a full iteration costs.
//!
//! [`BatchedPrefill`] times that queue: an iteration takes the waiting tokens up to the
//! budget, in that order, and lasts what the predictor gives its very chunks (a prompt
//! finished from an earlier iteration attends to the tokens before it; more chunks cost
//! more than fewer of the same tokens); each composition (a split prompt's rest, whole
//! prompts, a split prompt's start) is timed once. Arrivals at each of `n` workers are
//! every `n`-th of a Poisson stream (Dynamo's round-robin router, see
//! [`crate::analytic`]). Its mean
//! first-token time has no closed form, so it is measured on a fixed set of arrivals
//! ([`ARRIVALS`] from a fixed seed, the same at every rate: common random numbers, so the
//! search compares deployments on the same arrivals and the answer is deterministic).
//! Where a prompt is at least the budget, iterations hold one prompt's chunks and the queue
//! is the M/D/n one of [`crate::analytic::mdk_response_ms`], used as it is.

use std::cell::{OnceCell, RefCell};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use rand_distr::{Distribution, Gamma};
use rustc_hash::FxHashMap;
use servesim_core::RngStreams;

use super::{largest_within, mdk_max_utilisation, mdk_response_ms};
use crate::perf::PrefillChunk;

/// Arrivals each estimate runs over, per worker (the first tenth left out of its mean: the
/// queue starts empty).
///
/// The profiler plans a prefill pool at the rate where this mean meets the TTFT target, so
/// at a high utilisation, where a mean over a sample wanders most: two prefill workers of
/// Llama-3.1-70B (TP2, H200) at 89 % utilisation, means over 20,000 arrivals of twelve
/// seeds spread 774–933 ms (σ 46 ms, 5 %), against 860 ms over 200,000 (a replica of this
/// queue). 50,000 keep the spread near 3 % at a search time of about a quarter of a second.
pub const ARRIVALS: usize = 50_000;
/// Bisection rounds of [`BatchedPrefill::max_rate_per_s`].
const BISECTION_ROUNDS: usize = 24;
/// Prompts a saturated worker prefills to measure its most requests/s: enough for the
/// compositions of its iterations to repeat many times over.
const PEAK_PROMPTS: u32 = 1_000;

/// What one iteration holds: tokens finishing a prompt split by the iteration before, whole
/// prompts, and tokens starting a prompt the next iteration finishes.
type Composition = (u32, u32, u32);

/// Times an iteration of the given prefill chunks, ms.
type IterationTimer<'p> = Box<dyn Fn(&[PrefillChunk]) -> f64 + 'p>;

/// The prefill queue of identical workers batching prompts of one length.
pub struct BatchedPrefill<'p> {
    /// Prompt tokens.
    isl: u32,
    /// Tokens one iteration may take.
    budget: u32,
    /// Whether the last prompt an iteration takes may be split to fill the budget.
    chunked: bool,
    /// Whether the worker plans each iteration while the one before runs (an overlap
    /// schedule): back to back, an iteration takes only the prompts that had come when the
    /// one before it started.
    overlap: bool,
    /// One prompt prefilled alone (chunked when it exceeds the budget), ms.
    alone_ms: f64,
    /// Times an iteration of the given prefill chunks, ms.
    time: IterationTimer<'p>,
    /// Iteration times by composition, made when first met. Chunked prefill of prompts near
    /// the budget's size meets hundreds of them (the split point wanders), so a map: a
    /// list searched in turn took some 40 % of a profile search (gpt-oss-120b on H200).
    times: RefCell<FxHashMap<Composition, f64>>,
    /// One worker's most requests/s, made when first asked for.
    peak: OnceCell<f64>,
    /// Mean responses run to the end, by requests/s (its bits) and workers: a search asks
    /// again for the rate its bisection settled on.
    responses: RefCell<FxHashMap<(u64, u32), f64>>,
    /// The most workers whose arrivals are kept once drawn (more draw theirs afresh at each
    /// estimate).
    max_workers: u32,
    /// Arrivals each estimate runs over ([`ARRIVALS`] unless set lower), the first tenth
    /// left out of its mean.
    arrivals: usize,
}

impl std::fmt::Debug for BatchedPrefill<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchedPrefill")
            .field("isl", &self.isl)
            .field("budget", &self.budget)
            .field("chunked", &self.chunked)
            .field("alone_ms", &self.alone_ms)
            .finish_non_exhaustive()
    }
}

impl<'p> BatchedPrefill<'p> {
    /// Workers taking up to `budget` tokens per iteration of prompts of `isl` tokens, one
    /// prompt alone taking `alone_ms`, an iteration of prefill chunks taking what `time`
    /// gives them (positive), the arrivals of up to `max_workers` workers kept once drawn;
    /// the last prompt an iteration takes is split to fill the budget where `chunked`, else
    /// iterations take whole prompts.
    pub fn new(
        isl: u32,
        budget: u32,
        chunked: bool,
        alone_ms: f64,
        time: impl Fn(&[PrefillChunk]) -> f64 + 'p,
        max_workers: u32,
    ) -> BatchedPrefill<'p> {
        assert!(alone_ms > 0.0, "a prompt takes time: {alone_ms}");
        BatchedPrefill {
            isl: isl.max(1),
            budget: budget.max(1),
            chunked,
            overlap: false,
            alone_ms,
            time: Box::new(time),
            times: RefCell::new(FxHashMap::default()),
            peak: OnceCell::new(),
            responses: RefCell::new(FxHashMap::default()),
            max_workers: max_workers.max(1),
            arrivals: ARRIVALS,
        }
    }

    /// The same workers planning each iteration while the one before runs, as the simulated
    /// engine's overlap schedule does (`Engine::start_iteration`): back to back, an
    /// iteration takes the prompts that had come when the one before it started, and
    /// plans afresh where that leaves it nothing to run.
    pub fn with_overlap_schedule(self) -> BatchedPrefill<'p> {
        BatchedPrefill {
            overlap: true,
            responses: RefCell::default(),
            ..self
        }
    }

    /// The same workers estimated over the first `arrivals` of the fixed arrivals (at least
    /// 1,000, at most the 50,000 an estimate runs over by default): cheaper, and noisier
    /// near saturation.
    pub fn with_arrivals(self, arrivals: usize) -> BatchedPrefill<'p> {
        BatchedPrefill {
            arrivals: arrivals.clamp(1_000, ARRIVALS),
            responses: RefCell::default(),
            ..self
        }
    }

    /// Whether iterations can hold more than one prompt.
    pub fn batches(&self) -> bool {
        if self.chunked {
            self.isl < self.budget
        } else {
            self.budget / self.isl >= 2
        }
    }

    /// One prompt prefilled alone, ms.
    pub fn alone_ms(&self) -> f64 {
        self.alone_ms
    }

    /// Most requests/s `workers` workers can prefill (iterations back to back, a backlog
    /// always waiting).
    pub fn peak_per_s(&self, workers: u32) -> f64 {
        let per_worker = if self.batches() {
            *self.peak.get_or_init(|| {
                let (mut ms, mut done, mut head_left) = (0.0, 0u32, self.isl);
                while done < PEAK_PROMPTS {
                    let (composition, finished, left) = self.take(head_left, usize::MAX);
                    ms += self.iteration_ms(composition);
                    done += finished as u32;
                    head_left = left;
                }
                f64::from(done) / (ms / 1e3)
            })
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
        self.simulated_response_ms(rate_per_s / 1e3, workers, f64::INFINITY)
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
            rate < self.peak_per_s(workers)
                && self.simulated_response_ms(rate / 1e3, workers, target_ms) <= target_ms
        })
    }

    /// One iteration's take, first come first served up to the budget, of `waiting` prompts
    /// whose first has `head_left` tokens still to prefill: what it holds, the prompts it
    /// finishes, and the tokens left of the prompt it splits (a whole prompt's if none).
    fn take(&self, head_left: u32, waiting: usize) -> (Composition, usize, u32) {
        let (mut room, mut taken, mut left) = (self.budget, 0usize, head_left);
        let (mut continued, mut whole, mut started) = (0, 0, 0);
        while taken < waiting && room > 0 {
            if !self.chunked && left > room {
                break;
            }
            let take = left.min(room);
            room -= take;
            if take < left {
                started = take;
                left -= take;
                break;
            }
            if left < self.isl {
                continued = take;
            } else {
                whole += 1;
            }
            taken += 1;
            left = self.isl;
        }
        ((continued, whole, started), taken, left)
    }

    /// An iteration of `composition`, ms, timed once.
    fn iteration_ms(&self, composition: Composition) -> f64 {
        if let Some(&ms) = self.times.borrow().get(&composition) {
            return ms;
        }
        let (continued, whole, started) = composition;
        let mut chunks = Vec::with_capacity(whole as usize + 2);
        if continued > 0 {
            chunks.push(PrefillChunk {
                tokens: continued,
                context: self.isl - continued,
            });
        }
        chunks.extend((0..whole).map(|_| PrefillChunk {
            tokens: self.isl,
            context: 0,
        }));
        if started > 0 {
            chunks.push(PrefillChunk {
                tokens: started,
                context: 0,
            });
        }
        let ms = (self.time)(&chunks);
        self.times.borrow_mut().insert(composition, ms);
        ms
    }

    /// The queue's mean response, ms, run over the fixed arrivals at `rate_per_ms` in total;
    /// some mean above `give_up_above` as soon as the responses so far put it there (they
    /// only add, so the whole run's mean is above it too: a bisection needs no more).
    fn simulated_response_ms(&self, rate_per_ms: f64, workers: u32, give_up_above: f64) -> f64 {
        let key = (rate_per_ms.to_bits(), workers);
        if let Some(&ms) = self.responses.borrow().get(&key) {
            return ms;
        }
        let drawn = self.unit_arrivals(workers);
        let unit = &drawn[..self.arrivals];
        let warmup = self.arrivals / 10;
        // Every arrival from the warm-up's end on is counted once it is answered; a sum past
        // this puts the mean above `give_up_above` (a margin far beyond rounding's keeps the
        // answer exact).
        let total = (unit.len() - warmup) as f64;
        let give_up_sum = give_up_above * total * (1.0 + 1e-9);
        let scale = 1.0 / rate_per_ms;
        let arrival = |i: usize| unit[i] * scale;
        // The last composition met and its time: a backlog often repeats one.
        let mut last: Option<(Composition, f64)> = None;
        let (mut now, mut head, mut next) = (0.0f64, 0usize, 0usize);
        // Tokens of the head prompt still to prefill (less than ISL once it was split).
        let mut head_left = self.isl;
        // Under an overlap schedule: when the iteration that just ended started, and the
        // prompts that had come by then (they end before `known`).
        let (mut started_at, mut known) = (0.0f64, 0usize);
        let (mut sum, mut counted) = (0.0f64, 0usize);
        while head < unit.len() {
            let idle = head == next;
            if idle {
                // Idle: the next prompt starts an iteration as it arrives.
                now = now.max(arrival(next));
            }
            while next < unit.len() && arrival(next) <= now {
                next += 1;
            }
            let mut planned = None;
            if self.overlap && !idle {
                known = known.max(head);
                while known < next && arrival(known) <= started_at {
                    known += 1;
                }
                planned = Some(self.take(head_left, known - head)).filter(|p| p.0 != (0, 0, 0));
            }
            let (composition, finished, left) =
                planned.unwrap_or_else(|| self.take(head_left, next - head));
            started_at = now;
            let ms = match last {
                Some((c, ms)) if c == composition => ms,
                _ => self.iteration_ms(composition),
            };
            last = Some((composition, ms));
            now += ms;
            for i in head.max(warmup)..head + finished {
                sum += now - arrival(i);
                counted += 1;
            }
            head += finished;
            head_left = left;
            if sum > give_up_sum {
                return sum / total;
            }
        }
        let mean = sum / counted.max(1) as f64;
        self.responses.borrow_mut().insert(key, mean);
        mean
    }

    /// One worker's arrival times at one request per ms in total: every `workers`-th
    /// arrival of a Poisson stream (round-robin), from a fixed seed. The gap between a
    /// worker's arrivals, the sum of `n` unit exponential gaps, is drawn whole from its
    /// Gamma(`n`, 1) distribution: one draw a gap, not `n`, for pools of hundreds. They
    /// depend on `n` alone, so they are drawn once per process and shared by every queue
    /// (the profiler builds one for each aggregated batch it weighs); those of more than
    /// `max_workers` (a disaggregated prefill pool sized beyond its GPU budget) are drawn
    /// afresh each time, not kept.
    fn unit_arrivals(&self, workers: u32) -> Arc<[f64]> {
        let n = workers.max(1);
        let draw = || -> Arc<[f64]> {
            let mut rng = RngStreams::new(0).substream("analytic/prefill-arrivals", u64::from(n));
            let gaps = Gamma::new(f64::from(n), 1.0).expect("a positive shape and scale");
            let mut t = 0.0;
            (0..ARRIVALS)
                .map(|_| {
                    t += gaps.sample(&mut rng);
                    t
                })
                .collect()
        };
        if n > self.max_workers {
            return draw();
        }
        static DRAWN: OnceLock<Mutex<BTreeMap<u32, Arc<[f64]>>>> = OnceLock::new();
        // A poisoned lock only means another thread panicked while inserting: the map
        // holds whole entries either way.
        let mut drawn = DRAWN
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        drawn.entry(n).or_insert_with(draw).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An iteration costing `fixed` ms plus `per_token` ms a token, whatever its chunks.
    fn linear(fixed: f64, per_token: f64) -> impl Fn(&[PrefillChunk]) -> f64 {
        move |chunks| fixed + per_token * chunks.iter().map(|c| f64::from(c.tokens)).sum::<f64>()
    }

    /// Prompts of 1,000 tokens, a budget of `budget` (chunked), an iteration costing
    /// `per_prompt` ms a prompt's worth of tokens plus `fixed` ms.
    fn queue(budget: u32, per_prompt: f64, fixed: f64, workers: u32) -> BatchedPrefill<'static> {
        let time = linear(fixed, per_prompt / 1000.0);
        BatchedPrefill::new(1000, budget, true, fixed + per_prompt, time, workers)
    }

    #[test]
    fn fewer_arrivals_estimate_the_same_queue_from_the_same_draws() {
        // All of them: the queue as built.
        let full = queue(2500, 60.0, 40.0, 1);
        let all = queue(2500, 60.0, 40.0, 1).with_arrivals(ARRIVALS);
        let fewer = queue(2500, 60.0, 40.0, 1).with_arrivals(10_000);
        for rate in [3.0, 6.0, 9.0] {
            let r = full.response_ms(rate, 1);
            assert_eq!(all.response_ms(rate, 1), r);
            // A fifth of them (their first fifth) lands within a few percent.
            let f = fewer.response_ms(rate, 1);
            assert!((f - r).abs() < 0.05 * r, "rate {rate}: {f} vs {r}");
        }
        // Two workers draw their own arrivals, and share them with every other queue.
        let two = queue(2500, 60.0, 40.0, 2).with_arrivals(10_000);
        let again = queue(2500, 60.0, 40.0, 2).with_arrivals(10_000);
        assert_eq!(two.response_ms(12.0, 2), again.response_ms(12.0, 2));
    }

    #[test]
    fn workers_beyond_those_kept_draw_their_own_arrivals() {
        // Arrivals are kept for up to two workers; eight draw theirs, the same each time, and
        // at four times the rate wait less than two do: each gets every eighth arrival, more
        // evenly spaced than every second.
        let q = queue(2500, 60.0, 40.0, 2).with_arrivals(10_000);
        let (two, eight) = (q.response_ms(12.0, 2), q.response_ms(48.0, 8));
        assert!(two.is_finite() && two > 100.0, "{two}");
        assert_eq!(q.response_ms(48.0, 8), eight);
        assert!(eight < two, "{eight} vs {two}");
        let kept = queue(2500, 60.0, 40.0, 8).with_arrivals(10_000);
        assert_eq!(kept.response_ms(48.0, 8), eight);
    }

    #[test]
    fn a_prompt_that_fills_the_budget_queues_as_md() {
        let q = BatchedPrefill::new(1000, 1000, true, 100.0, linear(0.0, 0.1), 4);
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
    fn each_iteration_is_timed_by_its_own_chunks() {
        // A chunk finishing a prompt costs 20 ms more than a fresh one (its attention to the
        // tokens before it); 2,500 tokens hold two whole prompts and half of a third.
        let time = |chunks: &[PrefillChunk]| {
            chunks
                .iter()
                .map(|c| 10.0 + 0.1 * f64::from(c.tokens) + if c.context > 0 { 20.0 } else { 0.0 })
                .sum::<f64>()
        };
        let q = BatchedPrefill::new(1000, 2500, true, 110.0, time, 1);
        // Saturated, iterations alternate (two whole, a half) and (the half, two whole):
        // 2 × 2,500 tokens, six chunks of which one continues, per five prompts.
        let cycle_ms = 2.0 * 250.0 + 6.0 * 10.0 + 20.0;
        assert!((q.peak_per_s(1) - 5.0 / (cycle_ms / 1e3)).abs() < 1e-6);
        let mut seen: Vec<Composition> = q.times.borrow().keys().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![(0, 2, 500), (500, 2, 0)]);
        assert!(q.response_ms(0.9 * q.peak_per_s(1), 1).is_finite());
    }

    #[test]
    fn without_chunking_an_iteration_takes_whole_prompts_only() {
        // 2,500 tokens hold two whole prompts of 1,000; chunking adds half of a third.
        let time = linear(20.0, 0.08);
        let chunked = BatchedPrefill::new(1000, 2500, true, 100.0, &time, 1);
        let whole = BatchedPrefill::new(1000, 2500, false, 100.0, &time, 1);
        assert!(whole.batches());
        assert!((whole.peak_per_s(1) - 2.0 / 0.180).abs() < 1e-9);
        assert!(whole.peak_per_s(1) < chunked.peak_per_s(1));
        // A lone prompt runs in an iteration of its own tokens, not of the budget.
        let light = whole.response_ms(0.1, 1);
        assert!((100.0..105.0).contains(&light), "{light}");
        // Two whole prompts of a budget of 1,999 do not fit: one at a time, as M/D/1.
        let one = BatchedPrefill::new(1000, 1999, false, 100.0, &time, 1);
        assert!(!one.batches());
        assert_eq!(one.response_ms(5.0, 1), mdk_response_ms(100.0, 0.5, 1));
    }

    #[test]
    fn an_overlap_schedule_leaves_late_prompts_to_the_iteration_after_next() {
        // Under load a prompt that came during an iteration misses the plan of the next,
        // drawn when that iteration started: it waits longer than without the overlap.
        let plain = queue(3000, 100.0, 30.0, 1);
        let overlap = queue(3000, 100.0, 30.0, 1).with_overlap_schedule();
        assert_eq!(plain.peak_per_s(1), overlap.peak_per_s(1));
        let light = (plain.response_ms(0.2, 1), overlap.response_ms(0.2, 1));
        assert!((light.0 - light.1).abs() < 0.02 * light.0, "{light:?}");
        for rate in [7.0, 8.0, 8.5] {
            let (a, b) = (plain.response_ms(rate, 1), overlap.response_ms(rate, 1));
            assert!(b > a, "rate {rate}: overlap {b} vs plain {a}");
        }
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

    #[test]
    fn a_bisection_giving_up_early_finds_what_whole_runs_find() {
        for (workers, target) in [(1, 150.0), (2, 120.0), (3, 400.0)] {
            let q = queue(2500, 60.0, 40.0, workers).with_arrivals(10_000);
            let found = q.max_rate_per_s(target, workers, 0.95);
            // The same bisection over whole runs of a fresh queue (nothing remembered).
            let whole = queue(2500, 60.0, 40.0, workers).with_arrivals(10_000);
            let most = 0.95 * whole.peak_per_s(workers);
            let expected = largest_within(most, BISECTION_ROUNDS, |rate| {
                whole.response_ms(rate, workers) <= target
            });
            assert!(found > 0.0, "{workers} workers");
            assert_eq!(found, expected, "{workers} workers within {target} ms");
            // The rate found is asked for again (the search does): the same mean.
            let again = q.response_ms(found, workers);
            assert_eq!(again, whole.response_ms(found, workers));
            assert!(again <= target);
        }
    }
}
