//! A closed loop of users: each sends its next request when the last one's answer ends
//! (a benchmark client's concurrency mode, `aiperf --concurrency N`), so the deployment
//! always holds the same number of requests and a request arrives only as another leaves.
//!
//! With fixed prompt and answer lengths every stage of a request's cycle takes a fixed time,
//! and users spread over the cycle (as the profiler's simulation starts them: ramped over one
//! request's life) arrive at each stage evenly spaced, one as another leaves: a D/D/c queue,
//! which waits for nothing below its capacity. So the loop runs at its operational bounds
//! (Denning and Buzen, "The operational analysis of queueing network models", ACM
//! Computing Surveys 10(3), 1978, §6): `N` users whose cycle takes `Z` when nothing waits
//! send `N / Z` requests/s, and where a stage serves fewer, it sets the rate and the users
//! beyond it wait (Little's law over the cycle: `N = X · (Z + W)`). A Poisson stream at the
//! loop's rate queues far longer: the M/D/1 wait at a quarter of a prefill slot's capacity
//! is a sixth of its service, where the loop waits for none.

/// Where a closed loop settles.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClosedLoop {
    /// Requests answered per second.
    pub requests_per_s: f64,
    /// Mean wait, ms, beyond the cycle's own time: for the stage that sets the rate.
    pub wait_ms: f64,
}

/// The closed loop of `users` users whose request cycle takes `cycle_ms` when nothing
/// waits, through stages that serve at most `most_per_s` requests/s (the tightest of
/// them; infinite for none).
pub fn closed_loop(users: u32, cycle_ms: f64, most_per_s: f64) -> ClosedLoop {
    let users = f64::from(users);
    let per_s = (users / cycle_ms * 1e3).min(most_per_s);
    ClosedLoop {
        requests_per_s: per_s,
        wait_ms: (users / per_s * 1e3 - cycle_ms).max(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_the_bound_nothing_waits() {
        let loop16 = closed_loop(16, 11_500.0, 10.0);
        assert!((loop16.requests_per_s - 16.0 / 11.5).abs() < 1e-12);
        assert_eq!(loop16.wait_ms, 0.0);
    }

    #[test]
    fn beyond_the_bound_the_users_wait_for_it() {
        let bound = closed_loop(64, 1_000.0, 32.0);
        assert_eq!(bound.requests_per_s, 32.0);
        // Little's law: 64 users, 32 answers a second, so two seconds a cycle.
        assert!((bound.wait_ms - 1_000.0).abs() < 1e-9);
    }
}
