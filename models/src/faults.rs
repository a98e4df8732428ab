//! Fault processes: when a pool failing at random fails next, which live worker a fault
//! strikes, and what becomes of a request a fault took. What a fault does to the cluster
//! (the worker's requests lost, its transfers cancelled, a replacement started) is
//! [`crate::cluster`]'s; the scenario's schedule of faults is applied by the facade's world.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, Exp};

/// Seconds to the next failure of a pool whose workers fail at random with mean time
/// between failures `mtbf_s`: failures as a Poisson process, so exponential gaps (the usual
/// reading of an MTBF, and what makes failures independent of the run's history);
/// never (infinite) when `1 / mtbf_s` is no rate (negative or NaN; scenarios check
/// `mtbf_s` first).
pub fn next_failure_in_s(mtbf_s: f64, rng: &mut impl Rng) -> f64 {
    Exp::new(1.0 / mtbf_s).map_or(f64::INFINITY, |e| e.sample(rng))
}

/// The live worker a fault strikes: the `named`-th, else one drawn uniformly from `rng`;
/// `Err` says why none is (no live worker, or no such index).
pub fn struck_worker<W: Copy>(
    live: &[W],
    named: Option<u32>,
    rng: &mut impl Rng,
) -> Result<W, StrikeMiss> {
    if live.is_empty() {
        return Err(StrikeMiss::NoneLive);
    }
    let k = match named {
        Some(k) => k as usize,
        None => rng.random_range(0..live.len()),
    };
    live.get(k).copied().ok_or(StrikeMiss::NoSuchWorker {
        index: k,
        live: live.len(),
    })
}

/// Why a fault struck no worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrikeMiss {
    /// The pool has no live worker.
    NoneLive,
    /// The named worker is not among the live ones.
    NoSuchWorker {
        /// The index named.
        index: usize,
        /// Live workers.
        live: usize,
    },
}

/// What becomes of a request a fault took from the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterLoss {
    /// Migrated: sent again with the output tokens its client has seen, which the next
    /// worker prefills with the prompt before it makes the rest (Dynamo's request
    /// migration, `--migration-limit` of its frontend).
    Retry,
    /// Failed, with the fault as its reason.
    Fail,
}

/// A request that has been retried `retries` times is retried again while fewer than
/// `max_retries` and while the tokens its frontend tracks for it (`tracked`: its prompt and
/// the output tokens streamed so far) are at most `max_seq_len`, else failed. Dynamo's
/// frontend stops tracking a longer one (ai-dynamo 1.6.1, `--migration-max-seq-len` in
/// `dynamo/frontend/frontend_args.py`: "Once the accumulated token count exceeds this
/// limit, the request becomes non-migratable"; no limit by default).
pub fn after_loss(
    retries: u32,
    max_retries: u32,
    tracked: u64,
    max_seq_len: Option<u64>,
) -> AfterLoss {
    if retries < max_retries && max_seq_len.is_none_or(|max| tracked <= max) {
        AfterLoss::Retry
    } else {
        AfterLoss::Fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use servesim_core::RngStreams;

    #[test]
    fn failure_gaps_have_the_mean_time_between_failures() {
        let mut rng = RngStreams::new(1).stream("faults");
        let n = 20_000;
        let mean = (0..n)
            .map(|_| next_failure_in_s(300.0, &mut rng))
            .sum::<f64>()
            / n as f64;
        assert!((mean / 300.0 - 1.0).abs() < 0.03, "{mean}");
        assert_eq!(next_failure_in_s(-1.0, &mut rng), f64::INFINITY);
    }

    #[test]
    fn a_fault_strikes_the_named_or_a_drawn_live_worker() {
        let mut rng = RngStreams::new(1).stream("faults");
        assert_eq!(struck_worker(&[7, 8, 9], Some(1), &mut rng), Ok(8));
        assert_eq!(
            struck_worker(&[7, 8], Some(2), &mut rng),
            Err(StrikeMiss::NoSuchWorker { index: 2, live: 2 })
        );
        assert_eq!(
            struck_worker::<u32>(&[], None, &mut rng),
            Err(StrikeMiss::NoneLive)
        );
        let drawn: Vec<u32> = (0..100)
            .map(|_| struck_worker(&[7, 8, 9], None, &mut rng).unwrap())
            .collect();
        assert!([7, 8, 9].iter().all(|w| drawn.contains(w)), "{drawn:?}");
    }

    #[test]
    fn a_lost_request_is_retried_while_it_has_retries_left() {
        assert_eq!(after_loss(0, 2, 100, None), AfterLoss::Retry);
        assert_eq!(after_loss(1, 2, 100, None), AfterLoss::Retry);
        assert_eq!(after_loss(2, 2, 100, None), AfterLoss::Fail);
        assert_eq!(after_loss(0, 0, 100, None), AfterLoss::Fail);
    }

    #[test]
    fn a_request_longer_than_the_frontend_tracks_is_not_migrated() {
        assert_eq!(after_loss(0, 2, 100, Some(100)), AfterLoss::Retry);
        assert_eq!(after_loss(0, 2, 101, Some(100)), AfterLoss::Fail);
    }
}
