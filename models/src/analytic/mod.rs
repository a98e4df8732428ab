//! Closed-form estimates of one worker under steady load with fixed request sizes, from its
//! iteration predictor: the profiler's fast model (`servesim profile`), where the simulator
//! would take seconds per deployment.
//!
//! - **Queueing**: arrivals taken as Poisson. A deployment's workers sit behind Dynamo's
//!   frontend router, whose default (`--router-mode round-robin`; KV-aware routing is opt-in)
//!   sends the `i`-th request to worker `i mod n` whatever its load: each of `n` workers is
//!   its own queue, fed every `n`-th arrival (Erlang-`n` interarrival times) and serving
//!   prompts one after another (deterministic service). That E_n/D/1 queue waits as long as
//!   `n` workers sharing one queue (M/D/n) within a few percent at any load (the tests check
//!   it against Lindley's recursion), so both are timed as M/D/n: the Erlang-C wait of M/M/n
//!   halved for deterministic service (the Allen–Cunneen approximation,
//!   `(c_a² + c_s²) / 2` with `c_a² = 1`, `c_s² = 0`), exact for `n = 1`
//!   (Pollaczek–Khinchine).
//! - **Slots**: a worker admits at most `max_num_seqs` requests; under Poisson arrivals the
//!   requests in flight fluctuate around their mean, so a cap at the mean would queue
//!   without bound. A request waits for a slot at the worker it was routed to (a router
//!   does not move it), so each worker's slots are sized with headroom over its own mean
//!   ([`slots_with_headroom`]: Erlang-C staffing, the fewest slots that make a wait for one
//!   rare), and a request that does wait for one waits the M/D/m wait of a request's whole
//!   life. In an aggregated worker the count in flight swings wider than Poisson: every
//!   running sequence also waits out the prefills of the prompts that arrive during its
//!   life, so a busier stretch lengthens every life in it ([`in_flight_peakedness`]); such
//!   peaked load is staffed by Hayward's approximation (Fredericks, "Congestion in blocking
//!   systems — a simple approximation technique", Bell System Technical Journal 59(6),
//!   1980): `m` slots offered `a` with peakedness `z` behave as `m / z` slots offered
//!   `a / z` of Poisson load.
//! - **Prefill**: one prompt at batch 1, chunked by the engine's token budget where the
//!   engine chunks prompts (whole otherwise: TensorRT-LLM's default, as the simulated
//!   engine runs it); a disaggregated prefill worker's queue batches the waiting prompts
//!   into each iteration up to that budget ([`BatchedPrefill`]).
//! - **Decode**: one step of `b` sequences at the mean context; a decode worker's count in
//!   flight, with every step at its own batch's time, is a processor-sharing chain of its
//!   own, weighted for how regular its arrivals are ([`decode_occupancy`]; round-robin
//!   makes them smoother than Poisson, [`fixed_service_departure_scv`] the prefill queue's
//!   departures smoother still).
//! - **Aggregated** (stationary estimate): with `b` sequences per worker, each request spends
//!   `n_c` iterations in prefill chunks (ISL split by the token budget left after the `b`
//!   decode tokens; one whole prompt without chunked prefill) and OSL − 1 in decode, so
//!   `b / (n_c + OSL − 1)` requests start per iteration and a share `f = min(1, that × n_c)`
//!   of iterations carry a prefill chunk.
//!   The mean iteration (= the mean ITL) is `(1 − f) · decode step + f · mixed step`; TTFT is
//!   half an iteration (arrival inside one) plus the `n_c` mixed steps plus the wait on
//!   the prefill slot, busy `requests/s × n_c mixed steps` of the time, fed round-robin.
//!   Where the budget left beside the decodes holds more than one prompt, the engines batch
//!   the waiting ones into one mixed step, as a prefill worker does: the slot's response is
//!   then scaled by that queue's against the one-at-a-time M/D/n at the same load
//!   ([`SteadyLoad::aggregated_prefill`]).

mod batched_prefill;
mod closed_loop;
mod decode_occupancy;

pub use batched_prefill::BatchedPrefill;
pub use closed_loop::{ClosedLoop, closed_loop};
pub use decode_occupancy::{DecodeOccupancy, decode_occupancy};

use crate::engine::cuda_graph::CudaGraphs;
use crate::perf::{BatchShape, CachedPredictor, PrefillChunk};

/// Mean M/D/1 response time, ms, of service `service_ms` at utilisation `rho` (kept below 1).
pub fn mdl_response_ms(service_ms: f64, rho: f64) -> f64 {
    let rho = rho.clamp(0.0, 0.999);
    service_ms * (1.0 + rho / (2.0 * (1.0 - rho)))
}

/// The utilisation at which the M/D/1 mean response of `service_ms` equals `target_ms`, at
/// most `cap`; 0 when even an idle worker misses the target.
pub fn mdl_max_utilisation(service_ms: f64, target_ms: f64, cap: f64) -> f64 {
    let k = target_ms / service_ms - 1.0;
    if k <= 0.0 {
        return 0.0;
    }
    (2.0 * k / (1.0 + 2.0 * k)).min(cap)
}

/// Pools of up to this many servers run the Erlang B recurrence from its start.
const EXACT_ERLANG_SERVERS: u32 = 4096;

/// Erlang C: the probability that a Poisson arrival waits in an M/M/k queue of offered load
/// `a` (erlangs, `a < k`); 1 when `a ≥ k`.
pub fn erlang_c(k: u32, a: f64) -> f64 {
    if k == 0 || a >= f64::from(k) {
        return 1.0;
    }
    if a <= 0.0 {
        return 0.0;
    }
    // Erlang B by its stable recurrence, then C from B. The recurrence forgets where it
    // starts: below `a` each step scales an error in B by about `i / a`, so a pool of more
    // than `EXACT_ERLANG_SERVERS` starts it `12 √a` below `a` from B ≈ 1 − i/a, the error
    // then shrunk by some e^−72, and a B that underflows to zero (some 38 √a above `a`)
    // stays there. A pool of 300,000 workers (a profile at a million requests a second)
    // takes some 20,000–30,000 steps, not 300,000.
    let start = if k > EXACT_ERLANG_SERVERS {
        (a - 12.0 * a.sqrt()).floor().max(0.0) as u32
    } else {
        0
    };
    let mut b = 1.0 - f64::from(start) / a;
    for i in start + 1..=k {
        b = a * b / (f64::from(i) + a * b);
        if b == 0.0 {
            break;
        }
    }
    let rho = a / f64::from(k);
    b / (1.0 - rho + rho * b)
}

/// Mean wait before service, ms, of an M/D/k queue: `k` servers of deterministic service
/// `service_ms` at utilisation `rho` each (Allen–Cunneen; see the module documentation).
pub fn mdk_wait_ms(service_ms: f64, rho: f64, k: u32) -> f64 {
    let k = k.max(1);
    if rho >= 1.0 {
        return f64::INFINITY;
    }
    let a = rho * f64::from(k);
    0.5 * erlang_c(k, a) * service_ms / (f64::from(k) * (1.0 - rho))
}

/// Squared coefficient of variation of the gaps between departures from `servers` servers
/// at utilisation `rho` fed Poisson arrivals and serving in a fixed time (Whitt, "The
/// Queueing Network Analyzer", Bell System Technical Journal 62(9), 1983, its departure
/// formula for `m` servers, `1 + (1 − ρ²)(c_a² − 1) + ρ² (c_s² − 1) / √m`, with
/// `c_a² = 1`, `c_s² = 0`): a busy queue spaces what it lets out.
pub fn fixed_service_departure_scv(rho: f64, servers: u32) -> f64 {
    let rho = rho.clamp(0.0, 1.0);
    1.0 - rho * rho / f64::from(servers.max(1)).sqrt()
}

/// Mean M/D/k response time, ms (wait plus service).
pub fn mdk_response_ms(service_ms: f64, rho: f64, k: u32) -> f64 {
    service_ms + mdk_wait_ms(service_ms, rho.clamp(0.0, 0.999), k)
}

/// The largest utilisation of `k` servers at which the M/D/k mean response of `service_ms`
/// is at most `target_ms`, at most `cap`; 0 when even idle servers miss the target.
pub fn mdk_max_utilisation(service_ms: f64, target_ms: f64, k: u32, cap: f64) -> f64 {
    if target_ms < service_ms {
        return 0.0;
    }
    largest_within(cap.min(0.999), 60, |rho| {
        mdk_response_ms(service_ms, rho, k) <= target_ms
    })
}

/// The largest `x` in `[0, hi]` at which `within(x)` holds, found by `rounds` halvings;
/// `hi` when it holds there. `within` holds at 0 and, once false, stays false above.
pub(crate) fn largest_within(hi: f64, rounds: usize, within: impl Fn(f64) -> bool) -> f64 {
    if within(hi) {
        return hi;
    }
    let (mut lo, mut hi) = (0.0f64, hi);
    for _ in 0..rounds {
        let mid = 0.5 * (lo + hi);
        if within(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Most a request may be likely to wait for a slot: slots are sized so that under 1 % of
/// requests find every one taken (a common Erlang-C staffing target).
pub const SLOT_WAIT_PROBABILITY: f64 = 0.01;

/// Slots of a worker whose requests in flight average `mean_in_flight`, with variance
/// `peakedness` times that (1: Poisson): the fewest (at most `cap`) at which a request finds
/// every one taken with probability at most [`SLOT_WAIT_PROBABILITY`] (Erlang C over the
/// worker's own slots, a request waiting at the worker it was routed to, by Hayward's
/// approximation for peaked load, see the module documentation); `cap` when even that many
/// do not.
pub fn slots_with_headroom(mean_in_flight: f64, peakedness: f64, cap: u32) -> u32 {
    let start = (mean_in_flight.ceil() as u32).clamp(1, cap.max(1));
    (start..=cap.max(1))
        .find(|&m| hayward_wait_probability(m, mean_in_flight, peakedness) <= SLOT_WAIT_PROBABILITY)
        .unwrap_or(cap.max(1))
}

/// Probability that a request waits for one of `slots` slots offered `mean_in_flight` of
/// load of peakedness `z` (Hayward: Erlang C of `slots / z` slots, whole ones, offered
/// `mean_in_flight / z`).
fn hayward_wait_probability(slots: u32, mean_in_flight: f64, z: f64) -> f64 {
    let z = z.max(1.0);
    erlang_c(
        ((f64::from(slots) / z).floor() as u32).max(1),
        mean_in_flight / z,
    )
}

/// Mean wait for a slot, ms, of requests holding one for `life_ms` each, `mean_in_flight`
/// of them on average with peakedness `z` over `slots` slots: the M/D/m wait of
/// [`mdk_wait_ms`] with Hayward's scaling (`m / z` slots at the same utilisation; the wait
/// of one of them is `z` times longer for the same chance of waiting). Equal to
/// [`mdk_wait_ms`] for `z = 1`.
pub fn slot_wait_ms(life_ms: f64, mean_in_flight: f64, slots: u32, z: f64) -> f64 {
    let slots = slots.max(1);
    let rho = mean_in_flight / f64::from(slots);
    if rho >= 1.0 {
        return f64::INFINITY;
    }
    let z = z.max(1.0);
    0.5 * hayward_wait_probability(slots, mean_in_flight, z) * z * life_ms
        / (f64::from(slots) * (1.0 - rho))
}

/// Peakedness (variance over mean) of the count in flight at an aggregated worker whose mean
/// ITL is `itl_ms` and whose decode-only step is `decode_step_ms`.
///
/// A share `ρ = 1 − decode / ITL` of the worker's time goes to prefill tokens, so a sequence
/// lives `OSL · decode / (1 − ρ)` with `ρ` proportional to the arrival rate. Over one life,
/// arrivals are Poisson of mean `N`; a stretch with `δ` more of them also runs its prefills,
/// stretching every life in it, so the count in flight moves by `δ / (1 − ρ)` (the
/// derivative of `λ · L(λ)`): its variance is `N / (1 − ρ)²`, its peakedness `1 / (1 − ρ)²
/// = (ITL / decode)²`. A disaggregated decode worker, whose steps carry no prefill, has 1.
pub fn in_flight_peakedness(itl_ms: f64, decode_step_ms: f64) -> f64 {
    if decode_step_ms > 0.0 && itl_ms.is_finite() {
        (itl_ms / decode_step_ms).powi(2).max(1.0)
    } else {
        1.0
    }
}

/// Time of one prompt of `isl` tokens prefilled alone, in chunks of at most `chunk` tokens
/// (each chunk attending to the ones before it), ms, with `predict_ms` timing each step.
pub fn prefill_alone_ms(isl: u32, chunk: u32, predict_ms: impl Fn(&BatchShape<'_>) -> f64) -> f64 {
    let mut done = 0;
    let mut ms = 0.0;
    while done < isl {
        let tokens = (isl - done).min(chunk);
        ms += predict_ms(&BatchShape {
            prefill: &[PrefillChunk {
                tokens,
                context: done,
            }],
            decode_seqs: 0,
            decode_kv_tokens: 0,
            eager: false,
        });
        done += tokens;
    }
    ms
}

/// Fixed request sizes, and the engine's token budget per iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SteadyLoad {
    /// Prompt tokens.
    pub isl: u32,
    /// Output tokens.
    pub osl: u32,
    /// Tokens one iteration may schedule.
    pub max_batched_tokens: u32,
    /// Whether the engine splits a prompt to fill an iteration's budget (chunked prefill);
    /// without, a prompt runs whole, alone where it exceeds the budget.
    pub chunked_prefill: bool,
}

impl SteadyLoad {
    /// Mean context of a decoding sequence: the prompt and half the output.
    pub fn mean_context(&self) -> u64 {
        u64::from(self.isl) + u64::from(self.osl) / 2
    }

    /// Decode steps of a request after its first token (at least 1).
    pub fn decode_steps(&self) -> f64 {
        f64::from(self.osl.saturating_sub(1).max(1))
    }

    /// Prefill time of one prompt at batch 1, chunked by the token budget under chunked
    /// prefill, ms.
    pub fn prefill_ms(&self, p: &CachedPredictor) -> f64 {
        prefill_alone_ms(
            self.isl,
            self.prefill_chunk(self.max_batched_tokens.max(16)),
            |b| p.predict_ms(b),
        )
    }

    /// The most prompt tokens of one prompt an iteration with `room` tokens of budget left
    /// takes: the room under chunked prefill, else the whole prompt.
    fn prefill_chunk(&self, room: u32) -> u32 {
        if self.chunked_prefill {
            room
        } else {
            self.isl.max(1)
        }
    }

    /// The prefill queue of a worker batching prompts (see [`BatchedPrefill`]; the arrivals
    /// of up to `max_workers` workers kept once drawn), its iterations timed by `p`: an
    /// aggregated slot with no decodes beside it.
    pub fn batched_prefill<'p>(
        &self,
        p: &'p CachedPredictor,
        max_workers: u32,
    ) -> BatchedPrefill<'p> {
        self.aggregated_prefill(p, 0, self.prefill_ms(p), max_workers)
    }

    /// The prefill slot of an aggregated worker at `b` sequences (see [`BatchedPrefill`]):
    /// each iteration takes the waiting prompts up to the budget the `b − 1` decodes beside
    /// them leave (none for `b` 0, a prefill worker), and lasts what `p` gives those chunks
    /// with the decodes; one prompt alone takes `alone_ms` (its mixed steps).
    pub fn aggregated_prefill<'p>(
        &self,
        p: &'p CachedPredictor,
        b: u32,
        alone_ms: f64,
        max_workers: u32,
    ) -> BatchedPrefill<'p> {
        let decode_seqs = b.saturating_sub(1);
        let decode_kv_tokens = u64::from(decode_seqs) * self.mean_context();
        let time = move |chunks: &[PrefillChunk]| {
            p.predict_ms(&BatchShape {
                prefill: chunks,
                decode_seqs,
                decode_kv_tokens,
                eager: false,
            })
        };
        BatchedPrefill::new(
            self.isl.max(1),
            self.max_batched_tokens.saturating_sub(b).max(16),
            self.chunked_prefill,
            alone_ms,
            time,
            max_workers,
        )
    }

    /// Decode step time at `b` sequences of the mean context, ms, as the engine runs it
    /// with `graphs` (padded to a captured size, or eager).
    pub fn decode_step_ms(&self, p: &CachedPredictor, graphs: &CudaGraphs, b: u32) -> f64 {
        let (decode_seqs, decode_kv_tokens, eager) =
            graphs.decode_batch(b, u64::from(b) * self.mean_context());
        p.predict_ms(&BatchShape {
            prefill: &[],
            decode_seqs,
            decode_kv_tokens,
            eager,
        })
    }

    /// An aggregated worker at `b` sequences (see the module documentation), or `None` when
    /// it cannot keep up with the prefill work of `b` sequences.
    pub fn aggregated(
        &self,
        p: &CachedPredictor,
        graphs: &CudaGraphs,
        b: u32,
    ) -> Option<AggregatedPoint> {
        let budget = self.max_batched_tokens;
        if b >= budget {
            return None;
        }
        let chunk = self.prefill_chunk(budget - b).min(self.isl);
        let decode = self.decode_step_ms(p, graphs, b);
        let mut done = 0;
        let mut mixed = 0.0;
        let mut n_c = 0u32;
        while done < self.isl {
            let tokens = (self.isl - done).min(chunk);
            mixed += p.predict_ms(&BatchShape {
                prefill: &[PrefillChunk {
                    tokens,
                    context: done,
                }],
                decode_seqs: b.saturating_sub(1),
                decode_kv_tokens: u64::from(b.saturating_sub(1)) * self.mean_context(),
                eager: false,
            });
            done += tokens;
            n_c += 1;
        }
        let mixed_mean = mixed / f64::from(n_c);
        let per_iter = f64::from(b) / (f64::from(n_c) + self.decode_steps());
        let f = per_iter * f64::from(n_c);
        if f >= 0.98 {
            return None;
        }
        let iter = (1.0 - f) * decode + f * mixed_mean;
        let rate = per_iter / (iter / 1e3);
        // The prefill slot is busy a share `rate × mixed` of the time (not `f`, a share of
        // iterations: mixed iterations are the long ones).
        let rho = rate * mixed / 1e3;
        if rho >= 0.98 {
            return None;
        }
        Some(AggregatedPoint {
            itl_ms: iter,
            decode_step_ms: decode,
            prefill_ms: mixed,
            prefill_utilisation: rho,
            requests_per_s: rate,
        })
    }
}

/// An aggregated worker's steady state at one batch size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AggregatedPoint {
    /// Mean iteration, = mean ITL, ms.
    pub itl_ms: f64,
    /// A decode-only step of the worker's sequences, ms.
    pub decode_step_ms: f64,
    /// A prompt's prefill (its mixed steps), ms.
    pub prefill_ms: f64,
    /// Share of the time the worker's prefill slot is busy.
    pub prefill_utilisation: f64,
    /// Requests served per second.
    pub requests_per_s: f64,
}

impl AggregatedPoint {
    /// Peakedness of the worker's count in flight (see [`in_flight_peakedness`]).
    pub fn in_flight_peakedness(&self) -> f64 {
        in_flight_peakedness(self.itl_ms, self.decode_step_ms)
    }

    /// Mean TTFT, ms, of `workers` such workers behind a round-robin router: half an
    /// iteration (an arrival lands inside one), then the prefill slot's response (M/D/n, see
    /// the module documentation) scaled by `packing`, what batching the waiting prompts
    /// into one iteration does to it (1 for one prompt at a time; see
    /// [`SteadyLoad::aggregated_prefill`]).
    pub fn ttft_ms(&self, workers: u32, packing: f64) -> f64 {
        0.5 * self.itl_ms
            + packing * mdk_response_ms(self.prefill_ms, self.prefill_utilisation, workers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aggregated_prefill_slot_batches_what_the_budget_holds() {
        use crate::backend::Backend;
        use crate::hardware::GpuCatalog;
        use crate::llm::LlmSpec;
        use crate::perf::{IterationPredictor, KernelTimer};
        let cat = GpuCatalog::builtin();
        let llm = LlmSpec::lookup("Qwen/Qwen3-32B-FP8").unwrap();
        let timer = KernelTimer::shipped_builtin("h200_sxm", Backend::Vllm).unwrap();
        let p = CachedPredictor::new(
            IterationPredictor::new(&llm, 2, cat.get("h200_sxm").unwrap(), Backend::Vllm, timer)
                .unwrap(),
        );
        let graphs = CudaGraphs::none();
        let load = |budget| SteadyLoad {
            isl: 2000,
            osl: 200,
            max_batched_tokens: budget,
            chunked_prefill: true,
        };
        let b = 64;
        // Room for two prompts beside the decodes: iterations batch them, each sharing the
        // decodes' part of the step, so a saturated slot serves more than one at a time.
        let wide = load(b + 4000);
        let point = wide.aggregated(&p, &graphs, b).unwrap();
        let slot = wide.aggregated_prefill(&p, b, point.prefill_ms, 1);
        assert!(slot.batches());
        assert_eq!(slot.alone_ms(), point.prefill_ms);
        let one_at_a_time = 1e3 / point.prefill_ms;
        assert!(
            slot.peak_per_s(1) > 1.05 * one_at_a_time,
            "{}",
            slot.peak_per_s(1)
        );
        // A lightly loaded slot rarely holds two: close to one prompt alone.
        let light = slot.response_ms(0.05 * one_at_a_time, 1);
        assert!((light - point.prefill_ms).abs() < 0.05 * point.prefill_ms);
        // Room for one prompt: nothing to batch.
        let narrow = load(b + 2000);
        let point = narrow.aggregated(&p, &graphs, b).unwrap();
        assert!(
            !narrow
                .aggregated_prefill(&p, b, point.prefill_ms, 1)
                .batches()
        );
    }

    #[test]
    fn mdl_utilisation_inverts_the_response() {
        for (s, target) in [(10.0, 15.0), (40.0, 200.0), (1.0, 1.01)] {
            let rho = mdl_max_utilisation(s, target, 1.0);
            let back = mdl_response_ms(s, rho);
            assert!(
                (back - target).abs() < 1e-9 * target,
                "{s} {target}: {back}"
            );
        }
        assert_eq!(mdl_max_utilisation(10.0, 9.0, 0.95), 0.0, "unreachable");
        assert_eq!(mdl_max_utilisation(1.0, 1e6, 0.95), 0.95, "capped");
    }

    #[test]
    fn a_busy_queue_of_fixed_service_spaces_its_departures() {
        // Idle: departures are the Poisson arrivals; one server always busy: evenly spaced.
        assert_eq!(fixed_service_departure_scv(0.0, 1), 1.0);
        assert_eq!(fixed_service_departure_scv(1.0, 1), 0.0);
        // Busier spaces them more; more servers, each serving in turn, less.
        assert!(fixed_service_departure_scv(0.8, 1) < fixed_service_departure_scv(0.5, 1));
        assert!(fixed_service_departure_scv(0.8, 4) > fixed_service_departure_scv(0.8, 1));
        // Outside [0, 1] the utilisation is clamped; zero servers count as one.
        assert_eq!(fixed_service_departure_scv(1.5, 0), 0.0);
    }

    #[test]
    fn one_server_mdk_is_md1_and_more_servers_wait_less() {
        for rho in [0.1, 0.5, 0.9] {
            let one = mdk_response_ms(40.0, rho, 1);
            assert!((one - mdl_response_ms(40.0, rho)).abs() < 1e-9, "{rho}");
            assert!(mdk_response_ms(40.0, rho, 5) < one);
        }
        // Erlang C of two servers at one erlang: 1/3 (textbook value).
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        let r = mdk_max_utilisation(40.0, 100.0, 4, 0.95);
        assert!((mdk_response_ms(40.0, r, 4) - 100.0).abs() < 1e-6);
        assert!(r > mdl_max_utilisation(40.0, 100.0, 0.95));
    }

    #[test]
    fn a_large_pool_starts_the_erlang_recurrence_late_and_loses_nothing() {
        // The whole recurrence, as small pools run it.
        let whole = |k: u32, a: f64| {
            let mut b = 1.0;
            for i in 1..=k {
                b = a * b / (f64::from(i) + a * b);
            }
            let rho = a / f64::from(k);
            b / (1.0 - rho + rho * b)
        };
        for k in [4097, 10_000, 300_000] {
            for rho in [0.05, 0.5, 0.9, 0.99, 0.9999] {
                let a = rho * f64::from(k);
                let (fast, exact) = (erlang_c(k, a), whole(k, a));
                assert!(
                    (fast - exact).abs() <= 1e-12 * exact.max(1e-300),
                    "k {k}, rho {rho}: {fast} against {exact}"
                );
            }
        }
        // Where both are far from underflow: near the load, and a load too small to start
        // anywhere but the beginning.
        for (k, a) in [
            (4097, 4090.0),
            (5000, 4900.0),
            (20_000, 19_950.0),
            (5000, 100.0),
        ] {
            let (fast, exact) = (erlang_c(k, a), whole(k, a));
            assert!(exact > 1e-6 || a < 144.0, "k {k}, a {a}: {exact}");
            assert!(
                (fast - exact).abs() <= 1e-12 * exact.max(1e-300),
                "k {k}, a {a}: {fast} against {exact}"
            );
        }
        // Up to the threshold, the recurrence runs from its start, as it always did.
        assert_eq!(erlang_c(4096, 4000.0), whole(4096, 4000.0));
    }

    #[test]
    fn slots_leave_headroom_over_the_mean_and_respect_the_cap() {
        let m = slots_with_headroom(50.0, 1.0, 1000);
        assert!(m > 50 && erlang_c(m, 50.0) <= SLOT_WAIT_PROBABILITY, "{m}");
        assert!(erlang_c(m - 1, 50.0) > SLOT_WAIT_PROBABILITY);
        assert_eq!(slots_with_headroom(50.0, 1.0, 55), 55);
    }

    #[test]
    fn peaked_load_needs_more_slots_and_waits_longer() {
        // An aggregated worker whose mean ITL is 40 ms on decode steps of 14.6 ms spends 64 %
        // of its time on prefills: peakedness (40 / 14.6)² ≈ 7.5.
        let z = in_flight_peakedness(40.0, 14.6);
        assert!((z - (40.0f64 / 14.6).powi(2)).abs() < 1e-12);
        assert_eq!(in_flight_peakedness(10.0, 10.0), 1.0);
        assert_eq!(in_flight_peakedness(9.0, 10.0), 1.0);
        let poisson = slots_with_headroom(108.0, 1.0, 1000);
        let peaked = slots_with_headroom(108.0, z, 1000);
        assert!(peaked > poisson + 40, "{poisson} {peaked}");
        // Hayward: `m / z` slots offered `a / z`.
        let m = (f64::from(peaked) / z).floor() as u32;
        assert!(erlang_c(m, 108.0 / z) <= SLOT_WAIT_PROBABILITY);
        // Unpeaked, the wait is M/D/m's; peaked, longer at the same slots.
        for (life, mean, slots) in [(12_000.0, 108.0, 127), (5_000.0, 20.0, 24)] {
            let plain = slot_wait_ms(life, mean, slots, 1.0);
            let rho = mean / f64::from(slots);
            assert!((plain - mdk_wait_ms(life, rho, slots)).abs() < 1e-9 * plain.max(1.0));
            assert!(slot_wait_ms(life, mean, slots, z) > plain);
        }
        assert_eq!(slot_wait_ms(1.0, 10.0, 10, z), f64::INFINITY);
    }

    #[test]
    fn a_worker_fed_every_kth_arrival_waits_as_k_workers_sharing_a_queue() {
        // Round-robin routing (E_k/D/1 per worker) against the M/D/k the fast model times.
        for (k, rho) in [(2, 0.5), (2, 0.9), (4, 0.5), (4, 0.8), (4, 0.9)] {
            let exact = lindley_mean_wait(k, rho, 200_000);
            let mdk = mdk_wait_ms(1.0, rho, k);
            assert!(
                (mdk - exact).abs() < 0.1 * exact + 0.01,
                "k {k} rho {rho}: M/D/k {mdk} vs E_k/D/1 {exact}"
            );
        }
    }

    /// Mean wait of a unit deterministic service under Erlang-`k` arrivals at utilisation
    /// `rho`, by Lindley's recursion over `n` arrivals (a fixed-seed LCG: a test oracle).
    fn lindley_mean_wait(k: u32, rho: f64, n: usize) -> f64 {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut uniform = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let mean_gap = 1.0 / rho;
        let (mut w, mut sum) = (0.0f64, 0.0);
        for _ in 0..n {
            let gap: f64 = (0..k).map(|_| -uniform().ln()).sum::<f64>() * mean_gap / f64::from(k);
            w = (w + 1.0 - gap).max(0.0);
            sum += w;
        }
        sum / n as f64
    }
}
