//! `servesim suite`: a planner benchmark suite (issue 19). Each workload of a folder
//! (`scenarios/planner-suite/`) runs under every policy and under the best fixed deployment
//! within its GPU budget (found by [`search`]), on the same seeds (common random numbers, as
//! [`crate::experiment::ab`]), and each is compared with that best fixed deployment, paired by
//! seed: SLO attainment, goodput per GPU, GPU-hours, with 95 % t-intervals.
//!
//! Intervals follow `ab`'s rules: none over fewer than two seeds, none where every seed gave
//! the same run (a trace replay draws nothing at random), and a proportion's interval clipped
//! to its range. [`manifest`] reads the folder, `table.rs` prints the report, [`page`] writes
//! it as one HTML page.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::Error;
use crate::experiment::{
    Estimate, identical_across_seeds, no_interval_reason, parallel, with_policy,
};
use crate::progress::Observer;
use crate::report::Summary;
use crate::run;
use crate::scenario::Scenario;

pub mod manifest;
pub mod page;
pub mod search;
mod table;
mod verdict;

pub use search::{Candidate, DEFAULT_ATTAINMENT_TARGET};
pub use verdict::Verdict;

/// The name of the best fixed deployment's row.
pub const BEST_FIXED: &str = "best-fixed";

/// One workload of a suite: a validated scenario and the name it goes by.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Its name in the report.
    pub name: String,
    /// Where it came from: the file, and the overrides applied to it.
    pub origin: String,
    /// The scenario file it was read from.
    pub file: PathBuf,
    /// The scenario.
    pub scenario: Scenario,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct SuiteOptions {
    /// The policies (each workload runs under every one).
    pub policies: Vec<String>,
    /// Seeds per policy: each workload's seed and the ones after it.
    pub seeds: u64,
    /// The attainment a fixed deployment must reach to be the best (see [`search`]).
    pub attainment_target: f64,
    /// Threads.
    pub threads: usize,
}

/// One run's numbers.
#[derive(Clone, Debug, Serialize)]
pub struct RunNumbers {
    /// The seed.
    pub seed: u64,
    /// SLO attainment (null if nothing was judged).
    pub slo_attainment: Option<f64>,
    /// Goodput, req/s.
    pub goodput_rps: f64,
    /// Goodput per GPU held, req/s per GPU.
    pub goodput_per_gpu: f64,
    /// GPU-hours.
    pub gpu_hours: f64,
}

/// A policy (or the best fixed deployment) on one workload.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The policy, or `best-fixed`.
    pub policy: String,
    /// SLO attainment over the runs that judged a request.
    pub slo_attainment: Estimate,
    /// Goodput per GPU held (req/s per GPU).
    pub goodput_per_gpu: Estimate,
    /// GPU-hours.
    pub gpu_hours: Estimate,
    /// Against the best fixed deployment, paired by seed (policy − best-fixed).
    pub vs_best_fixed: Diff,
    /// Every seed gave a bit-identical run.
    pub identical_seeds: bool,
    /// Each run.
    pub runs: Vec<RunNumbers>,
}

/// Paired differences against the best fixed deployment.
#[derive(Clone, Debug, Serialize)]
pub struct Diff {
    /// Attainment (share; `[-1, 1]`), over the seeds where both judged a request.
    pub slo_attainment: Estimate,
    /// Goodput per GPU.
    pub goodput_per_gpu: Estimate,
    /// GPU-hours.
    pub gpu_hours: Estimate,
    /// Mean goodput per GPU over the best fixed deployment's.
    pub goodput_per_gpu_ratio: f64,
    /// Wins, trades, loses or even, by the intervals above ([`Verdict::of`]); null for the
    /// best fixed deployment's own row and where a difference is unknown.
    pub verdict: Option<Verdict>,
}

/// One workload's results.
#[derive(Clone, Debug, Serialize)]
pub struct WorkloadReport {
    /// Its name.
    pub name: String,
    /// Its file and overrides.
    pub origin: String,
    /// Its GPU budget.
    pub gpu_budget: u32,
    /// The seeds its rows ran on.
    pub seeds: Vec<u64>,
    /// The seed the search ran on (not one of `seeds`).
    pub search_seed: u64,
    /// Every deployment the search tried.
    pub candidates: Vec<Candidate>,
    /// The best fixed deployment (`2P3D`).
    pub best_fixed: String,
    /// The best fixed deployment first, then the policies in the order given.
    pub rows: Vec<Row>,
    /// Why its rows have no intervals, if they have none (one seed, identical runs).
    pub no_interval: Option<String>,
}

/// The result of `servesim suite`.
#[derive(Clone, Debug, Serialize)]
pub struct SuiteReport {
    /// Seeds per policy.
    pub seeds: u64,
    /// The attainment target of the search.
    pub attainment_target: f64,
    /// Per workload, in the suite's order.
    pub workloads: Vec<WorkloadReport>,
}

/// Runs the suite: the search of every workload, then every policy and the best fixed
/// deployment on every seed. Runs shared between workloads (a fixed deployment of the
/// start-up sweep) run once. Each run is told to `progress` as it ends (the search, then
/// the comparison, as phases).
pub fn run_suite(
    workloads: &[Workload],
    opts: &SuiteOptions,
    progress: &dyn Observer,
) -> Result<SuiteReport, Error> {
    let invalid = |path: &str, message: String| Error::Config {
        path: path.into(),
        message,
    };
    if opts.policies.is_empty() {
        return Err(invalid("policies", "name at least one policy".into()));
    }
    if opts.seeds == 0 {
        return Err(invalid("seeds", "must be at least 1".into()));
    }
    if !(0.0..=1.0).contains(&opts.attainment_target) {
        return Err(invalid(
            "attainment_target",
            format!("must be in [0, 1], got {}", opts.attainment_target),
        ));
    }
    if let Some((i, p)) = opts
        .policies
        .iter()
        .enumerate()
        .find(|(i, p)| opts.policies[..*i].contains(p) || p.as_str() == BEST_FIXED)
    {
        return Err(invalid(
            &format!("policies[{i}]"),
            format!("'{p}' is named twice or is the baseline's name"),
        ));
    }
    let seeds_of = |w: &Workload| -> Result<(Vec<u64>, u64), Error> {
        let first = w.scenario.seed();
        let search = first.checked_add(opts.seeds).ok_or_else(|| {
            invalid(
                &format!("{}: seed", w.name),
                format!("{first} + {} seeds runs past the largest seed", opts.seeds),
            )
        })?;
        Ok(((first..search).collect(), search))
    };

    // 1. The search: every candidate of every workload on its search seed, each distinct
    //    run once.
    let mut runs = RunSet::default();
    let mut searched = Vec::new();
    for w in workloads {
        let (_, search_seed) = seeds_of(w)?;
        let cands = search::candidates(&w.scenario).map_err(|e| in_workload(w, e))?;
        let mut ids = Vec::new();
        for c in &cands {
            let s = search::fixed(&w.scenario, c, search_seed).map_err(|e| in_workload(w, e))?;
            ids.push(runs.add(s, search::run_key));
        }
        searched.push((cands, ids));
    }
    runs.run_all(opts.threads, progress, "search runs")?;
    let mut bests = Vec::new();
    let mut candidate_lists = Vec::new();
    for (w, (cands, ids)) in workloads.iter().zip(&searched) {
        let list: Vec<Candidate> = cands
            .iter()
            .zip(ids)
            .map(|(c, &id)| {
                let s = runs.summary(id);
                Candidate {
                    label: search::label(&w.scenario, c),
                    workers: c.clone(),
                    gpus: c
                        .iter()
                        .zip(w.scenario.pools())
                        .map(|(n, p)| n * p.gpus())
                        .sum(),
                    slo_attainment: s.slo_attainment.unwrap_or(f64::NAN),
                    goodput_per_gpu: s.goodput_per_gpu(),
                }
            })
            .collect();
        let best = search::best(&list, opts.attainment_target).ok_or_else(|| {
            in_workload(w, invalid("cluster", "no fixed deployment to try".into()))
        })?;
        bests.push(cands[best].clone());
        candidate_lists.push(list);
    }

    // 2. Every policy and the best fixed deployment on every seed.
    let mut rows_ids: Vec<Vec<(String, Vec<usize>)>> = Vec::new();
    for (w, best) in workloads.iter().zip(&bests) {
        let (seeds, _) = seeds_of(w)?;
        let mut rows = Vec::new();
        let mut ids = Vec::new();
        for &seed in &seeds {
            let s = search::fixed(&w.scenario, best, seed).map_err(|e| in_workload(w, e))?;
            ids.push(runs.add(s, search::run_key));
        }
        rows.push((BEST_FIXED.to_string(), ids));
        for p in &opts.policies {
            let mut ids = Vec::new();
            for &seed in &seeds {
                let s = with_policy(&w.scenario, p, seed).map_err(|e| in_workload(w, e))?;
                ids.push(runs.add_unshared(s));
            }
            rows.push((p.clone(), ids));
        }
        rows_ids.push(rows);
    }
    runs.run_all(opts.threads, progress, "runs")?;

    let mut reports = Vec::new();
    for (((w, rows), candidates), best) in workloads
        .iter()
        .zip(rows_ids)
        .zip(candidate_lists)
        .zip(&bests)
    {
        let (seeds, search_seed) = seeds_of(w)?;
        let summaries: Vec<(String, Vec<&Summary>)> = rows
            .iter()
            .map(|(p, ids)| (p.clone(), ids.iter().map(|&i| runs.summary(i)).collect()))
            .collect();
        let base = &summaries[0].1;
        let rows: Vec<Row> = summaries
            .iter()
            .map(|(p, v)| row(p, v, base, opts.seeds))
            .collect();
        let no_interval = no_interval(&rows, opts.seeds);
        reports.push(WorkloadReport {
            name: w.name.clone(),
            origin: w.origin.clone(),
            gpu_budget: w.scenario.gpu_budget(),
            seeds,
            search_seed,
            candidates,
            best_fixed: search::label(&w.scenario, best),
            rows,
            no_interval,
        });
    }
    Ok(SuiteReport {
        seeds: opts.seeds,
        attainment_target: opts.attainment_target,
        workloads: reports,
    })
}

fn in_workload(w: &Workload, e: Error) -> Error {
    Error::Config {
        path: format!("workload '{}' ({})", w.name, w.origin),
        message: e.to_string(),
    }
}

/// Why a workload prints no intervals (`ab`'s rule, [`no_interval_reason`]), or which rows
/// have none: one line, or none if every row has them.
fn no_interval(rows: &[Row], seeds: u64) -> Option<String> {
    let identical: Vec<&str> = rows
        .iter()
        .filter(|r| r.identical_seeds)
        .map(|r| r.policy.as_str())
        .collect();
    let all = identical.len() == rows.len();
    no_interval_reason(seeds as usize, all).or_else(|| {
        (!identical.is_empty()).then(|| {
            format!(
                "{}: every seed gave a bit-identical run (one run's numbers, no interval)",
                identical.join(", ")
            )
        })
    })
}

fn attainment(s: &Summary) -> Option<f64> {
    s.slo_attainment
}

/// A row: estimates over the seeds and paired differences against `base`.
fn row(policy: &str, v: &[&Summary], base: &[&Summary], seeds: u64) -> Row {
    let identical = identical_across_seeds(v);
    let paired_identical = identical && identical_across_seeds(base);
    let est = |xs: Vec<f64>, exact: bool| {
        let e = Estimate::of(&xs);
        if exact || seeds < 2 {
            e.without_interval()
        } else {
            e
        }
    };
    let own = |f: &dyn Fn(&Summary) -> Option<f64>| {
        est(v.iter().filter_map(|s| f(s)).collect(), identical)
    };
    let diff = |f: &dyn Fn(&Summary) -> Option<f64>| {
        est(
            v.iter()
                .zip(base)
                .filter_map(|(a, b)| Some(f(a)? - f(b)?))
                .collect(),
            paired_identical,
        )
    };
    let gpg = |s: &Summary| Some(s.goodput_per_gpu());
    let gpu_h = |s: &Summary| Some(s.gpu_hours);
    let mean_gpg = own(&gpg).mean;
    let base_gpg = Estimate::of(&base.iter().map(|s| s.goodput_per_gpu()).collect::<Vec<_>>());
    let d_attainment = diff(&attainment).clipped(-1.0, 1.0);
    let d_gpg = diff(&gpg);
    let verdict = (policy != BEST_FIXED)
        .then(|| Verdict::of(&d_gpg, &d_attainment, paired_identical && seeds >= 2))
        .flatten();
    Row {
        policy: policy.to_string(),
        slo_attainment: own(&attainment).clipped(0.0, 1.0),
        goodput_per_gpu: own(&gpg),
        gpu_hours: own(&gpu_h),
        vs_best_fixed: Diff {
            slo_attainment: d_attainment,
            goodput_per_gpu: d_gpg,
            gpu_hours: diff(&gpu_h),
            goodput_per_gpu_ratio: mean_gpg / base_gpg.mean,
            verdict,
        },
        identical_seeds: identical,
        runs: v
            .iter()
            .map(|s| RunNumbers {
                seed: s.seed,
                slo_attainment: s.slo_attainment,
                goodput_rps: s.goodput_rps,
                goodput_per_gpu: s.goodput_per_gpu(),
                gpu_hours: s.gpu_hours,
            })
            .collect(),
    }
}

/// Scenarios to run, each distinct run once; their summaries once run.
#[derive(Default)]
struct RunSet {
    scenarios: Vec<Scenario>,
    shared: BTreeMap<String, usize>,
    summaries: Vec<Option<Summary>>,
}

impl RunSet {
    /// Adds a run that others with the same key share; returns its index.
    fn add(&mut self, s: Scenario, key: fn(&Scenario) -> String) -> usize {
        let k = key(&s);
        if let Some(&i) = self.shared.get(&k) {
            return i;
        }
        let i = self.add_unshared(s);
        self.shared.insert(k, i);
        i
    }

    /// Adds a run of its own.
    fn add_unshared(&mut self, s: Scenario) -> usize {
        self.scenarios.push(s);
        self.summaries.push(None);
        self.scenarios.len() - 1
    }

    /// Runs every run not yet run, in parallel, as a phase `what` of `progress`.
    fn run_all(
        &mut self,
        threads: usize,
        progress: &dyn Observer,
        what: &str,
    ) -> Result<(), Error> {
        let todo: Vec<usize> = (0..self.scenarios.len())
            .filter(|&i| self.summaries[i].is_none())
            .collect();
        let jobs: Vec<Scenario> = todo.iter().map(|&i| self.scenarios[i].clone()).collect();
        progress.phase(what, jobs.len() as u64);
        let results = parallel(jobs, threads, progress, |s| {
            run(&s).map(|(summary, _)| summary)
        });
        for (i, r) in todo.into_iter().zip(results) {
            self.summaries[i] = Some(r?);
        }
        Ok(())
    }

    fn summary(&self, i: usize) -> &Summary {
        self.summaries[i].as_ref().expect("run before it is read")
    }
}
