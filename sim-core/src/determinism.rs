//! The determinism check: run the same simulation twice, compare the traces.
//!
//! A trace is the sequence of `(time, stable hash of the event)` handled by the
//! run loop. The first run records it; the second compares on the fly and, at
//! the first difference, reports the index, the time and both events.

use std::fmt::{self, Debug};
use std::hash::Hash;

use crate::SimTime;
use crate::engine::{Model, Simulation};
use crate::hash::{StableHasher, stable_hash};

/// A digest of a whole event trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceDigest {
    /// Events handled.
    pub events: u64,
    /// Stable hash over every `(time, event)` in order.
    pub hash: u64,
}

/// Where two runs that should have been identical first differed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// Position of the first differing event (0-based).
    pub index: u64,
    /// The first run's event there: time and `Debug` form (`None` if its trace ended).
    pub first: Option<(SimTime, String)>,
    /// The second run's event there.
    pub second: Option<(SimTime, String)>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |e: &Option<(SimTime, String)>| match e {
            Some((t, ev)) => format!("{t} {ev}"),
            None => "(trace ended)".to_string(),
        };
        write!(
            f,
            "non-determinism detected at event #{}: first run {}, second run {}",
            self.index,
            side(&self.first),
            side(&self.second)
        )
    }
}

impl std::error::Error for Divergence {}

/// Builds the simulation twice with `build`, runs each until `end`, and checks
/// that both handled the same events at the same times.
pub fn check_determinism<M, F>(mut build: F, end: SimTime) -> Result<TraceDigest, Divergence>
where
    M: Model,
    M::Event: Hash + Debug,
    F: FnMut() -> Simulation<M>,
{
    let mut trace: Vec<(SimTime, u64)> = Vec::new();
    build().run_until_observed(end, |t, e| trace.push((t, stable_hash(e))));

    let mut digest = StableHasher::default();
    let mut index = 0usize;
    let mut mismatch: Option<(SimTime, String)> = None;
    let mut second = build();
    second.run_until_observed(end, |t, e| {
        if mismatch.is_some() {
            return;
        }
        if trace.get(index) != Some(&(t, stable_hash(e))) {
            mismatch = Some((t, format!("{e:?}")));
            return;
        }
        (t, stable_hash(e)).hash(&mut digest);
        index += 1;
    });

    if mismatch.is_none() && index == trace.len() {
        use std::hash::Hasher;
        return Ok(TraceDigest {
            events: trace.len() as u64,
            hash: digest.finish(),
        });
    }
    // Re-run the first build up to the divergence to show its event in words.
    let mut first = None;
    let mut seen = 0usize;
    build().run_until_observed(end, |t, e| {
        if seen == index {
            first = Some((t, format!("{e:?}")));
        }
        seen += 1;
    });
    Err(Divergence {
        index: index as u64,
        first,
        second: mismatch,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::SimDuration;
    use crate::engine::Scheduler;

    #[derive(Debug, Hash)]
    struct Ping(u64);

    /// Pings itself `left` times; the gap comes from `gap`.
    struct Pinger {
        left: u64,
        gap: fn(u64) -> u64,
    }

    impl Model for Pinger {
        type Event = Ping;
        fn handle(&mut self, Ping(n): Ping, sched: &mut Scheduler<Ping>) {
            if self.left > 0 {
                self.left -= 1;
                sched.schedule_in(SimDuration::from_nanos((self.gap)(n)), Ping(n + 1));
            }
        }
    }

    fn build(gap: fn(u64) -> u64) -> Simulation<Pinger> {
        let mut sim = Simulation::new(Pinger { left: 100, gap });
        sim.scheduler.schedule_at(SimTime::ZERO, Ping(0));
        sim
    }

    #[test]
    fn identical_runs_pass() {
        let digest = check_determinism(|| build(|n| n % 7 + 1), SimTime::MAX).unwrap();
        assert_eq!(digest.events, 101);
    }

    static HIDDEN_STATE: AtomicU64 = AtomicU64::new(0);

    #[test]
    fn hidden_state_is_caught_with_time_and_event() {
        // A planted bug: state that survives between runs (like a global counter).
        let err = check_determinism(
            || {
                build(|n| {
                    if n == 40 {
                        1 + HIDDEN_STATE.fetch_add(1, Ordering::Relaxed)
                    } else {
                        1
                    }
                })
            },
            SimTime::MAX,
        )
        .unwrap_err();
        assert_eq!(err.index, 41);
        let (t1, e1) = err.first.clone().unwrap();
        let (t2, e2) = err.second.clone().unwrap();
        assert_eq!(e1, "Ping(41)");
        assert_eq!(e2, "Ping(41)");
        assert_ne!(t1, t2);
        assert!(
            err.to_string()
                .contains("non-determinism detected at event #41")
        );
    }
}
