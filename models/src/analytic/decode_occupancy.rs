//! A decode pool's count in flight, from its step time and how regular its arrivals are.
//!
//! Continuous batching advances every running sequence by one token a step, and a step of `n`
//! sequences takes `itl(n)`: a worker is a processor-sharing server whose total speed,
//! `n / itl(n)` tokens a millisecond, depends on how many it serves. Processor sharing is a
//! symmetric queue, whose stationary count depends on the work a request brings only through
//! its mean (Kelly, *Reversibility and Stochastic Networks*, 1979, §3.3), so up to the
//! worker's slots the count is exactly the birth–death chain of arrivals `λ` and departures
//! `μ(n) = n / (steps · itl(n))`. Beyond the slots a request waits for one, and the line is
//! taken as leaving at the full worker's rate (exponential gaps: the chain continued).
//!
//! Dynamo's frontend routes round-robin, so each of `w` workers takes every `w`-th request and
//! is its own chain, with its own slots: arrivals are shared out evenly, but each worker's
//! departures are its own, so one can be full while another has room (a pool of `w · slots`
//! shared slots never is, and near the most throughput it waits far less). Arrivals smoother
//! than Poisson (every `w`-th of a Poisson stream has Erlang-`w` gaps, squared coefficient of
//! variation `c_a² = 1 / w`) swing the count less: the chain is the diffusion whose stationary
//! density grows by `2 (λ − μ) / (λ c_a² + μ c_s²)` a state (a reflected Brownian motion's;
//! Harrison, *Brownian Motion and Stochastic Flow Systems*, 1985), which with Poisson arrivals
//! and the chain's own departures (`c_a² = c_s² = 1`) is `ln(λ / μ)` to second order; so each
//! step's `ln(λ / μ(n))` is weighted `2 / (c_a² + 1)`, as Whitt's QNA weights a queue's wait by
//! its arrivals' variability ("The Queueing Network Analyzer", Bell System Technical Journal
//! 62(9), 1983). With Poisson arrivals the chain is the exact one.
//!
//! Near a worker's most throughput `μ(n)` hardly grows with `n`, so the count swings far
//! above the `λ · steps · itl(n) = n` fixed point; where the step time jumps with the batch
//! (a kernel's tile, a graph's padding) the count may settle above the jump. That is where a
//! mean-value estimate meets the ITL target and the served requests do not.

/// The stationary count of a decode worker and what it means for its requests.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodeOccupancy {
    /// Mean sequences being decoded.
    pub in_service: f64,
    /// Mean requests waiting for a slot.
    pub waiting: f64,
    /// Mean gap between a request's tokens, ms: its decode time over its steps.
    pub itl_ms: f64,
    /// Mean wait for a slot, ms.
    pub wait_ms: f64,
    /// The share of the time a worker runs `k` sequences, `k = 0..=slots` (with requests
    /// waiting, at `slots`): what an arrival finds (Poisson arrivals see time averages).
    pub by_count: Vec<f64>,
}

impl DecodeOccupancy {
    /// The mean of `f(k)` over what arrivals find.
    pub fn seen_by_arrivals(&self, mut f: impl FnMut(u32) -> f64) -> f64 {
        (0u32..)
            .zip(&self.by_count)
            .filter(|(_, p)| **p > 0.0)
            .map(|(k, p)| p * f(k))
            .sum()
    }
}

/// The occupancy of each of `workers` workers of `slots` sequences, fed `rate_per_s`
/// requests in all (round-robin) of `steps` decode steps each, a step of `n` sequences
/// taking `step_ms(n)`, a worker's arrivals having squared coefficient of variation
/// `arrival_scv` (1: Poisson; 0: evenly spaced); `None` when even a full worker serves
/// fewer than arrive (the line grows without bound), or a step takes no positive finite
/// time.
pub fn decode_occupancy(
    rate_per_s: f64,
    steps: f64,
    workers: u32,
    slots: u32,
    arrival_scv: f64,
    mut step_ms: impl FnMut(u32) -> f64,
) -> Option<DecodeOccupancy> {
    let (workers, slots) = (workers.max(1), slots.max(1));
    let steps = steps.max(1.0);
    // Each worker takes every `workers`-th arrival.
    let lambda = rate_per_s / 1e3 / f64::from(workers); // per ms
    if lambda.is_nan() || lambda <= 0.0 {
        return Some(DecodeOccupancy {
            in_service: 0.0,
            waiting: 0.0,
            itl_ms: step_ms(1),
            wait_ms: 0.0,
            by_count: vec![1.0],
        });
    }
    // The weight of each state's `ln(λ / μ)` (see the module documentation).
    let scale = 2.0 / (arrival_scv.clamp(0.0, 1.0) + 1.0);
    // log π(n) − log π(0), n = 0..=slots.
    let mut log_p = Vec::with_capacity(slots as usize + 1);
    log_p.push(0.0);
    let mut full_rate = 0.0;
    let mut step_at = vec![f64::NAN];
    for n in 1..=slots {
        let step = step_ms(n);
        if !(step.is_finite() && step > 0.0) {
            return None;
        }
        step_at.push(step);
        let mu = f64::from(n) / (steps * step);
        full_rate = mu;
        log_p.push(log_p[n as usize - 1] + scale * (lambda / mu).ln());
    }
    if lambda >= full_rate {
        return None;
    }
    let r = (lambda / full_rate).powf(scale);
    let top = log_p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = log_p.iter().map(|l| (l - top).exp()).collect();
    // States above the slots: π(slots) · r^k, k ≥ 1.
    let p_full = weights[slots as usize];
    let tail = p_full * r / (1.0 - r);
    let total: f64 = weights.iter().sum::<f64>() + tail;
    let in_service = (weights
        .iter()
        .enumerate()
        .map(|(n, w)| n as f64 * w)
        .sum::<f64>()
        + f64::from(slots) * tail)
        / total;
    let waiting = p_full * r / (1.0 - r).powi(2) / total;
    let mut by_count: Vec<f64> = weights.iter().map(|w| w / total).collect();
    by_count[slots as usize] += tail / total;
    // A request's mean gap is its tokens' mean: at `n` sequences the worker makes
    // `n / step(n)` tokens a millisecond, each after `step(n)`. For Poisson arrivals this is
    // Little's law (`in_service / λ` over `steps` steps); for smoother ones it stays a step
    // time the worker runs where the weighted chain's light-load mean does not.
    let (mut seqs, mut tokens) = (0.0, 0.0);
    for (n, p) in (0u32..).zip(&by_count).skip(1) {
        seqs += p * f64::from(n);
        tokens += p * f64::from(n) / step_at[n as usize];
    }
    Some(DecodeOccupancy {
        in_service,
        waiting,
        itl_ms: seqs / tokens,
        wait_ms: waiting / lambda,
        by_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the load, the step times and the arrivals' regularity: the shares of
        /// the time at each count sum to one, the mean in service is within the slots, and
        /// the ITL is a step time the worker runs; with Poisson arrivals (the exact chain)
        /// Little's law holds for the whole.
        #[test]
        fn the_chain_is_a_distribution_within_the_slots(
            rate in 0.1f64..30.0,
            workers in 1u32..6,
            slots in 1u32..300,
            base in 1.0f64..40.0,
            per_seq in 0.0f64..1.0,
            scv in 0.0f64..1.0,
        ) {
            let step = |n: u32| base + per_seq * f64::from(n);
            if let Some(o) = decode_occupancy(rate, 200.0, workers, slots, scv, step) {
                let total: f64 = o.by_count.iter().sum();
                prop_assert!((total - 1.0).abs() < 1e-9, "{total}");
                prop_assert!(o.in_service <= f64::from(slots) + 1e-9);
                prop_assert!(o.itl_ms >= step(1) - 1e-9 && o.itl_ms <= step(slots) + 1e-9);
                let poisson = decode_occupancy(rate, 200.0, workers, slots, 1.0, step).unwrap();
                let lambda = rate / 1e3 / f64::from(workers);
                let life = 200.0 * poisson.itl_ms;
                let n = poisson.in_service + poisson.waiting;
                prop_assert!((n - lambda * (poisson.wait_ms + life)).abs() <= 1e-6 * n.max(1.0));
            } else {
                // No steady state only where a full worker serves fewer than it is sent.
                let full = f64::from(slots) / (200.0 * step(slots)) * 1e3;
                prop_assert!(rate / f64::from(workers) >= full * (1.0 - 1e-9));
            }
        }
    }

    #[test]
    fn a_constant_step_is_an_infinite_server_at_light_load() {
        // itl fixed at 20 ms, 500 steps: a life of 10 s; 5 req/s is 50 in flight on
        // average (Poisson), far below 1,000 slots: no waiting, ITL the step.
        let o = decode_occupancy(5.0, 500.0, 1, 1000, 1.0, |_| 20.0).unwrap();
        assert!((o.in_service - 50.0).abs() < 1e-6, "{o:?}");
        assert!(o.wait_ms < 1e-9 && (o.itl_ms - 20.0).abs() < 1e-9);
    }

    #[test]
    fn near_the_most_throughput_the_count_swings_above_the_fixed_point() {
        // A step of 10 ms + 0.2 ms a sequence, 500 steps a request: at most 10 req/s. The
        // mean-value fixed point n = λ · steps · itl(n) is n = 50 (ITL 20 ms) at 5 req/s
        // and n = 450 (ITL 100 ms) at 9 req/s; the chain's mean is above it, more so near
        // the most throughput.
        let step = |n: u32| 10.0 + 0.2 * f64::from(n);
        let light = decode_occupancy(5.0, 500.0, 1, 1000, 1.0, step).unwrap();
        let heavy = decode_occupancy(9.0, 500.0, 1, 1000, 1.0, step).unwrap();
        assert!((50.0..51.5).contains(&light.in_service), "{light:?}");
        assert!((455.0..470.0).contains(&heavy.in_service), "{heavy:?}");
        assert!(heavy.itl_ms > 100.0, "{heavy:?}");
        // More than full workers serve: no steady state (400 slots serve 8.9 req/s).
        assert!(decode_occupancy(9.5, 500.0, 1, 400, 1.0, step).is_none());
        assert!(decode_occupancy(9.5, 500.0, 1, 1000, 1.0, step).is_some());
        // A step that takes no time, or forever, is no answer.
        assert!(decode_occupancy(1.0, 500.0, 1, 10, 1.0, |_| f64::INFINITY).is_none());
        assert!(decode_occupancy(1.0, 500.0, 1, 10, 1.0, |_| 0.0).is_none());
    }

    #[test]
    fn a_step_that_jumps_with_the_batch_can_hold_the_count_above_the_jump() {
        // 20 ms up to 128 sequences, 23 ms above: at 12.5 req/s of 500 steps the fixed point
        // below the jump is n = 125, the one above n = 143.75; the chain spends time in both.
        let step = |n: u32| if n <= 128 { 20.0 } else { 23.0 };
        let o = decode_occupancy(12.5, 500.0, 1, 200, 1.0, step).unwrap();
        assert!(o.itl_ms > 21.0 && o.in_service > 130.0, "{o:?}");
        assert!(o.itl_ms < 23.0, "{o:?}");
    }

    #[test]
    fn a_waiting_line_forms_only_when_the_slots_fill() {
        let few = decode_occupancy(5.0, 500.0, 1, 52, 1.0, |_| 20.0).unwrap();
        let many = decode_occupancy(5.0, 500.0, 1, 80, 1.0, |_| 20.0).unwrap();
        assert!(
            few.wait_ms > many.wait_ms && many.wait_ms < 1.0,
            "{few:?} {many:?}"
        );
        // Little's law on the whole: in flight = λ · (wait + life).
        let life_ms = 500.0 * few.itl_ms;
        let n = few.in_service + few.waiting;
        assert!((n - 5e-3 * (few.wait_ms + life_ms)).abs() < 1e-6);
    }

    #[test]
    fn round_robin_workers_are_chains_of_their_own_swinging_less_for_smoother_arrivals() {
        // A step of 10 ms + 0.2 ms a sequence near its most throughput (10 req/s a worker).
        let step = |n: u32| 10.0 + 0.2 * f64::from(n);
        // Two workers fed 18 req/s in all, taken as Poisson, are each one fed 9 req/s.
        let one = decode_occupancy(9.0, 500.0, 1, 600, 1.0, step).unwrap();
        let two = decode_occupancy(18.0, 500.0, 2, 600, 1.0, step).unwrap();
        assert_eq!(one, two);
        // Every second arrival of the stream (Erlang-2) swings the count less: fewer in
        // flight, a shorter ITL, a shorter wait for a slot; evenly spaced ones less still.
        let erlang = decode_occupancy(18.0, 500.0, 2, 600, 0.5, step).unwrap();
        let even = decode_occupancy(18.0, 500.0, 2, 600, 0.0, step).unwrap();
        assert!(erlang.in_service < one.in_service, "{erlang:?} {one:?}");
        assert!(even.in_service < erlang.in_service, "{even:?} {erlang:?}");
        assert!(even.itl_ms < erlang.itl_ms && erlang.itl_ms < one.itl_ms);
        assert!(even.wait_ms < erlang.wait_ms && erlang.wait_ms < one.wait_ms);
        // Far from the most throughput the count is about where the mean puts it: 1 req/s
        // a worker, n = 1 × 500 × (10 + 0.2 n) / 1000, n = 5.56.
        let light = decode_occupancy(2.0, 500.0, 2, 600, 0.5, step).unwrap();
        assert!(
            (light.in_service - 5.56).abs() < 0.1,
            "{}",
            light.in_service
        );
    }
}
