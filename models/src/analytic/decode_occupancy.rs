//! A decode pool's count in flight under Poisson arrivals, from its step time.
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
//! Dynamo's frontend routes round-robin, so each of `w` workers takes every `w`-th request:
//! their counts stay within about one of each other, and the pool is taken as one chain of
//! `w · slots` slots whose `N` requests step as `w` workers of `⌈N / w⌉` (the same pooling
//! the prefill queue's M/D/n makes of round-robin workers; see the module documentation).
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

/// The occupancy of `workers` workers of `slots` sequences each, fed `rate_per_s` requests
/// in all of `steps` decode steps each, a step of `n` sequences taking `step_ms(n)`; `None`
/// when even full workers serve fewer than arrive (the line grows without bound), or a step
/// takes no positive finite time. The figures are per worker.
pub fn decode_occupancy(
    rate_per_s: f64,
    steps: f64,
    workers: u32,
    slots: u32,
    mut step_ms: impl FnMut(u32) -> f64,
) -> Option<DecodeOccupancy> {
    let (workers, slots) = (workers.max(1), slots.max(1));
    let steps = steps.max(1.0);
    let lambda = rate_per_s / 1e3; // per ms
    if lambda.is_nan() || lambda <= 0.0 {
        return Some(DecodeOccupancy {
            in_service: 0.0,
            waiting: 0.0,
            itl_ms: step_ms(1),
            wait_ms: 0.0,
            by_count: vec![1.0],
        });
    }
    let most = workers.saturating_mul(slots);
    // log π(N) − log π(0), N = 0..=most.
    let mut log_p = Vec::with_capacity(most as usize + 1);
    log_p.push(0.0);
    let mut full_rate = 0.0;
    for n in 1..=most {
        let step = step_ms(n.div_ceil(workers));
        if !(step.is_finite() && step > 0.0) {
            return None;
        }
        let mu = f64::from(n) / (steps * step);
        full_rate = mu;
        log_p.push(log_p[n as usize - 1] + (lambda / mu).ln());
    }
    let r = lambda / full_rate;
    if r >= 1.0 {
        return None;
    }
    let top = log_p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = log_p.iter().map(|l| (l - top).exp()).collect();
    // States above the slots: π(most) · r^k, k ≥ 1.
    let p_full = weights[most as usize];
    let tail = p_full * r / (1.0 - r);
    let total: f64 = weights.iter().sum::<f64>() + tail;
    let in_service = (weights
        .iter()
        .enumerate()
        .map(|(n, w)| n as f64 * w)
        .sum::<f64>()
        + f64::from(most) * tail)
        / total;
    let waiting = p_full * r / (1.0 - r).powi(2) / total;
    let mut by_count = vec![0.0; slots as usize + 1];
    for (n, w) in (0u32..).zip(&weights) {
        by_count[n.div_ceil(workers) as usize] += w / total;
    }
    by_count[slots as usize] += tail / total;
    // Little's law: a request is in service `in_service / λ`, over `steps` steps.
    let per_worker = f64::from(workers);
    Some(DecodeOccupancy {
        in_service: in_service / per_worker,
        waiting: waiting / per_worker,
        itl_ms: in_service / lambda / steps,
        wait_ms: waiting / lambda,
        by_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_step_is_an_infinite_server_at_light_load() {
        // itl fixed at 20 ms, 500 steps: a life of 10 s; 5 req/s is 50 in flight on
        // average (Poisson), far below 1,000 slots: no waiting, ITL the step.
        let o = decode_occupancy(5.0, 500.0, 1, 1000, |_| 20.0).unwrap();
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
        let light = decode_occupancy(5.0, 500.0, 1, 1000, step).unwrap();
        let heavy = decode_occupancy(9.0, 500.0, 1, 1000, step).unwrap();
        assert!((50.0..51.5).contains(&light.in_service), "{light:?}");
        assert!((455.0..470.0).contains(&heavy.in_service), "{heavy:?}");
        assert!(heavy.itl_ms > 100.0, "{heavy:?}");
        // More than full workers serve: no steady state (400 slots serve 8.9 req/s).
        assert!(decode_occupancy(9.5, 500.0, 1, 400, step).is_none());
        assert!(decode_occupancy(9.5, 500.0, 1, 1000, step).is_some());
        // A step that takes no time, or forever, is no answer.
        assert!(decode_occupancy(1.0, 500.0, 1, 10, |_| f64::INFINITY).is_none());
        assert!(decode_occupancy(1.0, 500.0, 1, 10, |_| 0.0).is_none());
    }

    #[test]
    fn a_step_that_jumps_with_the_batch_can_hold_the_count_above_the_jump() {
        // 20 ms up to 128 sequences, 23 ms above: at 12.5 req/s of 500 steps the fixed point
        // below the jump is n = 125, the one above n = 143.75; the chain spends time in both.
        let step = |n: u32| if n <= 128 { 20.0 } else { 23.0 };
        let o = decode_occupancy(12.5, 500.0, 1, 200, step).unwrap();
        assert!(o.itl_ms > 21.0 && o.in_service > 130.0, "{o:?}");
        assert!(o.itl_ms < 23.0, "{o:?}");
    }

    #[test]
    fn a_waiting_line_forms_only_when_the_slots_fill() {
        let few = decode_occupancy(5.0, 500.0, 1, 52, |_| 20.0).unwrap();
        let many = decode_occupancy(5.0, 500.0, 1, 80, |_| 20.0).unwrap();
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
    fn round_robin_workers_pool_their_slots() {
        // Two workers of 52 slots fed 10 req/s wait less than one fed 5 req/s, and each
        // holds the same mean.
        let one = decode_occupancy(5.0, 500.0, 1, 52, |_| 20.0).unwrap();
        let two = decode_occupancy(10.0, 500.0, 2, 52, |_| 20.0).unwrap();
        assert!(two.wait_ms < one.wait_ms, "{one:?} {two:?}");
        assert!((two.in_service - 50.0).abs() < 1e-6, "{two:?}");
        assert!((one.in_service - 50.0).abs() < 1e-6, "{one:?}");
    }
}
