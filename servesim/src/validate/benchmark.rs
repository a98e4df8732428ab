//! A simulated benchmark: a scenario run until enough requests completed, and the means of
//! its steady state and of its start.

use servesim_core::{SimDuration, SimTime};

use crate::Error;
use crate::Run;
use crate::metrics::RequestColumns;
use crate::scenario::Scenario;

use super::MAX_SIM_S;

/// Means of a set of simulated requests, ms.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Means {
    /// Time to first token.
    pub ttft_ms: f64,
    /// Per-request mean gap between tokens, averaged over requests.
    pub tpot_ms: f64,
    /// End-to-end latency.
    pub e2e_ms: f64,
}

impl Means {
    /// Means of the requests `keep` selects (by index in completion order); NaN when it
    /// selects none.
    pub(super) fn of(cols: &RequestColumns, keep: impl Fn(usize) -> bool) -> Means {
        let (mut sum, mut n) = (Means::default(), 0.0);
        for i in (0..cols.ttft_ms.len()).filter(|&i| keep(i)) {
            sum.ttft_ms += cols.ttft_ms[i];
            sum.tpot_ms += cols.itl_mean_ms[i];
            sum.e2e_ms += cols.e2e_ms[i];
            n += 1.0;
        }
        Means {
            ttft_ms: sum.ttft_ms / n,
            tpot_ms: sum.tpot_ms / n,
            e2e_ms: sum.e2e_ms / n,
        }
    }

    /// `share` of `a` and the rest of `b`.
    pub(super) fn blend(a: Means, share: f64, b: Means) -> Means {
        let mix = |x: f64, y: f64| share * x + (1.0 - share) * y;
        Means {
            ttft_ms: mix(a.ttft_ms, b.ttft_ms),
            tpot_ms: mix(a.tpot_ms, b.tpot_ms),
            e2e_ms: mix(a.e2e_ms, b.e2e_ms),
        }
    }
}

/// What a simulated benchmark measured: its steady state and its start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BenchmarkMeans {
    /// The `take` completions after the first `skip`.
    pub steady: Means,
    /// The requests sent at the start of the run (time zero; NaN when none was).
    pub start: Means,
}

/// Simulates a scenario until `skip + take` requests have completed; returns the means of
/// the steady state (the `take` after the first `skip`, in completion order) and of the
/// requests sent at time zero.
pub fn benchmark_means(
    scenario: &Scenario,
    skip: usize,
    take: usize,
) -> Result<Result<BenchmarkMeans, String>, Error> {
    let mut run = Run::new(scenario)?;
    let mut t = SimTime::ZERO;
    let step = SimDuration::from_nanos(20_000_000_000);
    let cap = SimTime::ZERO + SimDuration::from_nanos(MAX_SIM_S * 1_000_000_000);
    loop {
        t += step;
        run.run_until(t)?;
        let done = run
            .sim
            .model
            .metrics
            .requests
            .as_ref()
            .map_or(0, |r| r.ttft_ms.len());
        if done >= skip + take {
            break;
        }
        if t >= cap || t >= run.end() {
            return Ok(Err(format!(
                "only {done} requests completed in {MAX_SIM_S} simulated seconds"
            )));
        }
    }
    let cols = run
        .sim
        .model
        .metrics
        .requests
        .as_ref()
        .expect("requests kept");
    let steady = skip..skip + take;
    Ok(Ok(BenchmarkMeans {
        steady: Means::of(cols, |i| steady.contains(&i)),
        start: Means::of(cols, |i| cols.arrival_s[i] == 0.0),
    }))
}
