//! Experiments over many runs: every policy on the same seeds (common random
//! numbers: each policy sees the same traffic draws), in parallel, and paired
//! comparisons with confidence intervals.

mod ab;
mod ab_table;
mod estimate;

pub use ab::{
    AbReport, AbRun, MAX_AB_RUNS, PairedDiff, PolicyStats, ab, identical_across_seeds,
    no_interval_reason, or_dash,
};
pub use estimate::{Estimate, t95};

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use servesim_planner::{PlannerConfig, PolicyKind};

use crate::Error;
use crate::progress::Observer;
use crate::report::Summary;
use crate::scenario::Scenario;
use crate::trace::TraceConfig;
use crate::world::World;
use crate::{Run, run};

/// Default planner interval when a scenario has no `planner:` section.
pub const DEFAULT_INTERVAL_S: f64 = 60.0;

/// The scenario with `policy` as its planner (other planner settings kept) and `seed`.
pub fn with_policy(base: &Scenario, policy: &str, seed: u64) -> Result<Scenario, Error> {
    let mut planner = base
        .planner()
        .cloned()
        .unwrap_or_else(|| PlannerConfig::new(policy, DEFAULT_INTERVAL_S));
    planner.policy = policy.to_string();
    base.with_seed(seed)?.with_planner(Some(planner))
}

/// Checks a list of policies (given as `field`) before any run: each names a policy, and
/// none is named twice (its runs would count twice).
pub fn check_policies(policies: &[String], field: &str) -> Result<(), Error> {
    for (i, p) in policies.iter().enumerate() {
        let path = format!("{field}[{i}]");
        PolicyKind::parse_at(p, path.as_str()).map_err(Error::Planner)?;
        if policies[..i].contains(p) {
            return Err(Error::Config {
                path,
                message: format!("'{p}' is named twice (its runs would count twice)"),
            });
        }
    }
    Ok(())
}

/// Runs `jobs` in parallel on up to `threads` threads; results come back in job order.
/// `progress` is told of each job once it has finished.
pub fn parallel<T: Send, R: Send>(
    jobs: Vec<T>,
    threads: usize,
    progress: &dyn Observer,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let n = jobs.len();
    let jobs: Vec<Mutex<Option<T>>> = jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let results: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, n.max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let job = jobs[i]
                        .lock()
                        .expect("job lock")
                        .take()
                        .expect("each job taken once");
                    *results[i].lock().expect("result lock") = Some(f(job));
                    progress.done();
                }
            });
        }
    });
    results
        .into_iter()
        .map(|r| r.into_inner().expect("result lock").expect("every job ran"))
        .collect()
}

/// Every policy on `base`, one run each on the scenario's seed, in parallel (each run told
/// to `progress` as it ends).
pub fn run_policies(
    base: &Scenario,
    policies: &[String],
    threads: usize,
    progress: &dyn Observer,
) -> Result<Vec<(Summary, World)>, Error> {
    let scenarios: Vec<Scenario> = policies
        .iter()
        .map(|p| with_policy(base, p, base.seed()))
        .collect::<Result<_, _>>()?;
    progress.phase("runs", scenarios.len() as u64);
    parallel(scenarios, threads, progress, |s| run(&s))
        .into_iter()
        .collect()
}

/// [`run_policies`], each run also writing its timeline to the trace `trace(policy)` names
/// (`servesim report --trace-dir`: one file per policy).
pub fn run_policies_traced(
    base: &Scenario,
    policies: &[String],
    threads: usize,
    progress: &dyn Observer,
    trace: &(dyn Fn(&str) -> TraceConfig + Sync),
) -> Result<Vec<(Summary, World)>, Error> {
    let jobs: Vec<(Scenario, TraceConfig)> = policies
        .iter()
        .map(|p| Ok((with_policy(base, p, base.seed())?, trace(p))))
        .collect::<Result<_, Error>>()?;
    progress.phase("runs", jobs.len() as u64);
    parallel(jobs, threads, progress, |(s, t)| {
        let mut r = Run::new(&s)?;
        r.trace_to(&t)?;
        r.finish()
    })
    .into_iter()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Quiet;

    #[test]
    fn parallel_keeps_job_order() {
        let out = parallel((0..50).collect(), 4, &Quiet, |x: u64| x * x);
        assert_eq!(out, (0..50).map(|x| x * x).collect::<Vec<_>>());
    }
}
