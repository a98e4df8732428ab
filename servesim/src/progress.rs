//! Progress of long work (many runs, many rows), observed only: what is done is counted
//! after it is done, so an observer can neither reorder nor change a result. The command
//! line draws it as a bar on a terminal; everything else passes [`Quiet`].

/// Told how much work a phase holds and each unit of it as it completes (from any thread).
pub trait Observer: Sync {
    /// A phase of `total` units, called `what` (e.g. "runs"), starts; it ends when the
    /// next starts.
    fn phase(&self, what: &str, total: u64);
    /// One more unit of the current phase is done.
    fn done(&self);
}

/// The observer that shows nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {
    fn phase(&self, _what: &str, _total: u64) {}
    fn done(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::parallel;
    use std::sync::Mutex;

    /// Records what it is told.
    #[derive(Default)]
    struct Log(Mutex<Vec<String>>, std::sync::atomic::AtomicU64);

    impl Observer for Log {
        fn phase(&self, what: &str, total: u64) {
            self.0.lock().unwrap().push(format!("{what} {total}"));
        }
        fn done(&self) {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn parallel_work_is_counted_once_per_job_and_keeps_its_results() {
        let log = Log::default();
        let out = parallel((0..40).collect(), 3, &log, |x: u64| x + 1);
        assert_eq!(out, (1..41).collect::<Vec<_>>());
        assert_eq!(log.1.into_inner(), 40);
        assert!(
            log.0.into_inner().unwrap().is_empty(),
            "parallel starts no phase"
        );
    }
}
