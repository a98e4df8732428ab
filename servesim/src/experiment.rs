//! Experiments over many runs: every policy on the same seeds (common random
//! numbers: each policy sees the same traffic draws), in parallel, and paired
//! comparisons with confidence intervals.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
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

/// One run of an A/B experiment.
#[derive(Clone, Debug, Serialize)]
pub struct AbRun {
    /// The policy.
    pub policy: String,
    /// The seed.
    pub seed: u64,
    /// Its summary.
    pub summary: Summary,
}

/// Mean and 95 % confidence interval of one quantity.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// Mean.
    pub mean: f64,
    /// Lower end of the 95 % interval.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

/// Two-sided 95 % Student t quantile for `df` degrees of freedom.
pub fn t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        // Within 0.005 of the exact quantile beyond 30 degrees of freedom.
        _ => 1.96 + 2.4 / df as f64,
    }
}

impl Estimate {
    /// Mean and t-interval of a sample (infinite interval for fewer than two values).
    pub fn of(xs: &[f64]) -> Estimate {
        let n = xs.len();
        if n == 0 {
            return Estimate {
                mean: f64::NAN,
                low: f64::NAN,
                high: f64::NAN,
            };
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Estimate {
                mean,
                low: f64::NEG_INFINITY,
                high: f64::INFINITY,
            };
        }
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let half = t95(n - 1) * (var / n as f64).sqrt();
        Estimate {
            mean,
            low: mean - half,
            high: mean + half,
        }
    }
}

impl Estimate {
    /// The interval's ends clipped to `[lo, hi]`: a proportion (SLO attainment) lies in
    /// `[0, 1]` and a difference of two in `[-1, 1]`, whatever the t-interval's normal
    /// approximation says near the ends.
    pub fn clipped(self, lo: f64, hi: f64) -> Estimate {
        Estimate {
            low: self.low.clamp(lo, hi),
            high: self.high.clamp(lo, hi),
            ..self
        }
    }

    /// The mean alone, with no interval (NaN ends): over runs that are all the same run,
    /// a zero-width interval would claim a certainty that the seeds do not give.
    pub fn without_interval(self) -> Estimate {
        Estimate {
            low: f64::NAN,
            high: f64::NAN,
            ..self
        }
    }
}

/// Whether `runs` (two or more) are bit-identical but for their seed: the seed reaches no
/// randomness of the workload (e.g. a trace replay without sampling), so the runs are one
/// run repeated and intervals over them mean nothing.
pub fn identical_across_seeds(runs: &[&Summary]) -> bool {
    let key = |s: &Summary| {
        // JSON compares NaN (null) equal to itself, as a run's missing quantities should.
        serde_json::to_string(&Summary {
            seed: 0,
            ..s.clone()
        })
        .ok()
    };
    let Some(first) = runs.first() else {
        return false;
    };
    let first = key(first);
    runs.len() >= 2 && first.is_some() && runs[1..].iter().all(|s| key(s) == first)
}

impl fmt::Display for Estimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:+.4} [{:+.4}, {:+.4}]", self.mean, self.low, self.high)
    }
}

/// Per-policy means over the seeds.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyStats {
    /// The policy.
    pub policy: String,
    /// SLO attainment, over the runs that judged any request (NaN if none did).
    pub slo_attainment: Estimate,
    /// Runs that judged at least one request against the SLOs (a run that completed,
    /// rejected and left late nothing has no attainment and is left out of it).
    pub runs_judged: usize,
    /// TTFT p50, p90, p99 (ms, means over the runs that completed a request; NaN if none).
    pub ttft_ms: [f64; 3],
    /// Per-request mean ITL p50, p90, p99 (ms).
    pub itl_ms: [f64; 3],
    /// Goodput, req/s.
    pub goodput_rps: Estimate,
    /// GPU-hours.
    pub gpu_hours: Estimate,
    /// Workers started plus stopped, per run.
    pub scaling_actions: f64,
    /// Every seed gave the same run (bit-identical summaries): the estimates are that run's
    /// numbers, with no interval (`low` and `high` NaN, null in JSON).
    pub identical_seeds: bool,
}

/// A policy against the baseline, paired by seed.
#[derive(Clone, Debug, Serialize)]
pub struct PairedDiff {
    /// The policy.
    pub policy: String,
    /// The baseline it is compared with.
    pub baseline: String,
    /// Attainment difference (policy − baseline), over the seeds where both judged requests.
    pub slo_attainment: Estimate,
    /// GPU-hours difference.
    pub gpu_hours: Estimate,
    /// Goodput difference.
    pub goodput_rps: Estimate,
    /// Goodput per GPU held difference (req/s per GPU, [`Summary::goodput_per_gpu`]): what
    /// a planner that saves GPUs is judged by.
    pub goodput_per_gpu: Estimate,
    /// Both the policy's and the baseline's runs are identical across seeds: the differences
    /// are exact, with no interval (`low` and `high` NaN, null in JSON).
    pub identical_seeds: bool,
}

/// The result of `servesim ab`.
#[derive(Clone, Debug, Serialize)]
pub struct AbReport {
    /// Scenario name.
    pub scenario: String,
    /// Seeds run.
    pub seeds: Vec<u64>,
    /// Per policy.
    pub policies: Vec<PolicyStats>,
    /// Each policy against the first.
    pub paired: Vec<PairedDiff>,
    /// Why no estimate has an interval, when none has: one seed, or every seed giving the
    /// same run under every policy (then `low` and `high` are NaN, null in JSON).
    pub no_interval: Option<String>,
    /// Every run.
    pub runs: Vec<AbRun>,
}

/// Why a comparison over `seeds` seeds prints no interval, if it prints none: one seed (a
/// t-interval needs two values), or runs identical on every seed under every policy (the
/// seed reaches no randomness: the runs are one run repeated, and a zero-width interval
/// would claim a certainty they do not give).
pub fn no_interval_reason(seeds: usize, all_identical: bool) -> Option<String> {
    if seeds < 2 {
        Some(
            "one seed: no intervals (a t-interval needs two or more seeds; give --seeds 2 \
             or more)"
                .into(),
        )
    } else if all_identical {
        Some(format!(
            "all {seeds} seeds gave bit-identical runs under every policy (the seed reaches \
             no randomness of the workload, e.g. a trace replay): one run's numbers, exact \
             differences, no intervals"
        ))
    } else {
        None
    }
}

fn attainment(s: &Summary) -> Option<f64> {
    s.slo_attainment
}

/// `x` with `decimals`, or `-` where nothing was measured (NaN).
pub fn or_dash(x: f64, decimals: usize) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{x:.decimals$}")
    }
}

/// Most runs (policies × seeds) of one comparison.
pub const MAX_AB_RUNS: u64 = 100_000;

/// Runs every policy on the seeds `first_seed..first_seed + seeds` in parallel and compares
/// them (each run told to `progress` as it ends).
pub fn ab(
    base: &Scenario,
    policies: &[String],
    first_seed: u64,
    seeds: u64,
    threads: usize,
    progress: &dyn Observer,
) -> Result<AbReport, Error> {
    let invalid = |path: &str, message: String| Error::Config {
        path: path.into(),
        message,
    };
    if policies.is_empty() {
        return Err(invalid("policies", "name at least one policy".into()));
    }
    if seeds == 0 {
        return Err(invalid("seeds", "must be at least 1".into()));
    }
    check_policies(policies, "policies")?;
    if seeds.saturating_mul(policies.len() as u64) > MAX_AB_RUNS {
        return Err(invalid(
            "seeds",
            format!(
                "{seeds} seeds × {} policies is more than {MAX_AB_RUNS} runs",
                policies.len()
            ),
        ));
    }
    let end = first_seed.checked_add(seeds).ok_or_else(|| {
        invalid(
            "seeds",
            format!("{first_seed} + {seeds} seeds runs past the largest seed (2^64 - 1)"),
        )
    })?;
    let seed_list: Vec<u64> = (first_seed..end).collect();
    let jobs: Vec<(String, u64)> = policies
        .iter()
        .flat_map(|p| seed_list.iter().map(move |&s| (p.clone(), s)))
        .collect();
    progress.phase("runs", jobs.len() as u64);
    let results = parallel(jobs.clone(), threads, progress, |(p, seed)| {
        with_policy(base, &p, seed).and_then(|s| run(&s).map(|(s, _)| s))
    });
    let mut runs = Vec::new();
    for ((policy, seed), r) in jobs.into_iter().zip(results) {
        runs.push(AbRun {
            policy,
            seed,
            summary: r?,
        });
    }
    let of = |p: &str| -> Vec<&Summary> {
        runs.iter()
            .filter(|r| r.policy == p)
            .map(|r| &r.summary)
            .collect()
    };
    let mean = |xs: Vec<f64>| {
        if xs.is_empty() {
            f64::NAN
        } else {
            xs.iter().sum::<f64>() / xs.len() as f64
        }
    };
    let q3 = |v: &[&Summary], pick: &dyn Fn(&Summary) -> [Option<f64>; 3]| -> [f64; 3] {
        [0, 1, 2].map(|i| mean(v.iter().filter_map(|s| pick(s)[i]).collect()))
    };
    let stats: Vec<PolicyStats> = policies
        .iter()
        .map(|p| {
            let v = of(p);
            let judged: Vec<f64> = v.iter().filter_map(|s| attainment(s)).collect();
            let identical = identical_across_seeds(&v);
            let est = |xs: &[f64]| {
                let e = Estimate::of(xs);
                if identical || seed_list.len() < 2 {
                    e.without_interval()
                } else {
                    e
                }
            };
            PolicyStats {
                identical_seeds: identical,
                policy: p.clone(),
                runs_judged: judged.len(),
                slo_attainment: est(&judged).clipped(0.0, 1.0),
                ttft_ms: q3(&v, &|s| {
                    [s.all.ttft_ms.p50, s.all.ttft_ms.p90, s.all.ttft_ms.p99]
                }),
                itl_ms: q3(&v, &|s| {
                    [
                        s.all.itl_mean_ms.p50,
                        s.all.itl_mean_ms.p90,
                        s.all.itl_mean_ms.p99,
                    ]
                }),
                goodput_rps: est(&v.iter().map(|s| s.goodput_rps).collect::<Vec<_>>()),
                gpu_hours: est(&v.iter().map(|s| s.gpu_hours).collect::<Vec<_>>()),
                scaling_actions: mean(
                    v.iter()
                        .map(|s| (s.workers_started + s.workers_stopped) as f64)
                        .collect(),
                ),
            }
        })
        .collect();
    let baseline = &policies[0];
    let base_runs = of(baseline);
    let base_identical = identical_across_seeds(&base_runs);
    let paired = policies[1..]
        .iter()
        .map(|p| {
            let v = of(p);
            let identical = base_identical && identical_across_seeds(&v);
            // Paired by seed, over the seeds where both runs have the quantity.
            let diff = |f: &dyn Fn(&Summary) -> Option<f64>| {
                let e = Estimate::of(
                    &v.iter()
                        .zip(&base_runs)
                        .filter_map(|(a, b)| Some(f(a)? - f(b)?))
                        .collect::<Vec<_>>(),
                );
                if identical || seed_list.len() < 2 {
                    e.without_interval()
                } else {
                    e
                }
            };
            PairedDiff {
                identical_seeds: identical,
                policy: p.clone(),
                baseline: baseline.clone(),
                slo_attainment: diff(&attainment).clipped(-1.0, 1.0),
                gpu_hours: diff(&|s| Some(s.gpu_hours)),
                goodput_rps: diff(&|s| Some(s.goodput_rps)),
                goodput_per_gpu: diff(&|s| Some(s.goodput_per_gpu()).filter(|g| g.is_finite())),
            }
        })
        .collect::<Vec<PairedDiff>>();
    let no_interval = no_interval_reason(seed_list.len(), stats.iter().all(|p| p.identical_seeds));
    Ok(AbReport {
        scenario: base.name().to_string(),
        seeds: seed_list,
        policies: stats,
        paired,
        no_interval,
        runs,
    })
}

impl fmt::Display for AbReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one_seed = self.seeds.len() < 2;
        writeln!(
            f,
            "A/B on {} over {} seed{} ({})",
            self.scenario,
            self.seeds.len(),
            if one_seed { "" } else { "s" },
            if self.no_interval.is_some() {
                "no intervals: see below"
            } else {
                "95 % confidence intervals"
            }
        )?;
        writeln!(
            f,
            "{:<15} {:>22} {:>18} {:>18} {:>10} {:>22} {:>8}",
            "policy",
            "SLO attainment",
            "TTFT p50/p90/p99",
            "ITL p50/p90/p99",
            "goodput",
            "GPU-hours",
            "actions"
        )?;
        for p in &self.policies {
            // Why this row has no interval, if it has none.
            let alone = if p.identical_seeds {
                Some("(one run)")
            } else if one_seed {
                Some("(one seed)")
            } else {
                None
            };
            writeln!(
                f,
                "{:<15} {:>22} {:>18} {:>18} {:>10.2} {:>22} {:>8.1}",
                p.policy,
                match alone {
                    _ if p.runs_judged == 0 => "- (nothing judged)".to_string(),
                    Some(why) => format!("{:>7.2}% {why}", p.slo_attainment.mean * 100.0),
                    None => format!(
                        "{:>7.2}% [{:>5.1},{:>5.1}]",
                        p.slo_attainment.mean * 100.0,
                        p.slo_attainment.low * 100.0,
                        p.slo_attainment.high * 100.0
                    ),
                },
                p.ttft_ms.map(|x| or_dash(x, 0)).join("/"),
                p.itl_ms.map(|x| or_dash(x, 1)).join("/"),
                p.goodput_rps.mean,
                match alone {
                    Some(why) => format!("{:>8.2} {why}", p.gpu_hours.mean),
                    None => format!(
                        "{:>8.2} [{:.2},{:.2}]",
                        p.gpu_hours.mean, p.gpu_hours.low, p.gpu_hours.high
                    ),
                },
                p.scaling_actions
            )?;
        }
        if let Some(why) = &self.no_interval {
            writeln!(f, "no intervals: {why}")?;
        } else {
            for p in self.policies.iter().filter(|p| p.identical_seeds) {
                writeln!(
                    f,
                    "{}: all {} seeds gave bit-identical runs (the seed reaches no randomness \
                     of the workload, e.g. a trace replay): one run's numbers, no interval",
                    p.policy,
                    self.seeds.len()
                )?;
            }
        }
        for p in &self.policies {
            if p.runs_judged < self.seeds.len() {
                writeln!(
                    f,
                    "{}: {} of {} runs judged no request (no completions, rejections or late \
                     requests): left out of its attainment",
                    p.policy,
                    self.seeds.len() - p.runs_judged,
                    self.seeds.len()
                )?;
            }
        }
        for d in &self.paired {
            let a = &d.slo_attainment;
            if d.identical_seeds || one_seed {
                let attainment = if a.mean.is_nan() {
                    "-".to_string()
                } else {
                    format!("{:+.2} pp", a.mean * 100.0)
                };
                writeln!(
                    f,
                    "{} − {}: attainment {attainment}, GPU-hours {:+.3}, goodput {:+.3} req/s, \
                     goodput/GPU {:+.3} ({})",
                    d.policy,
                    d.baseline,
                    d.gpu_hours.mean,
                    d.goodput_rps.mean,
                    d.goodput_per_gpu.mean,
                    if d.identical_seeds {
                        "exact: identical runs on every seed, no interval"
                    } else {
                        "one seed, no interval"
                    }
                )?;
                continue;
            }
            let attainment = if a.mean.is_nan() {
                "-".to_string()
            } else {
                format!(
                    "{:+.2} pp [{:+.2}, {:+.2}]",
                    a.mean * 100.0,
                    a.low * 100.0,
                    a.high * 100.0
                )
            };
            writeln!(
                f,
                "{} − {}: attainment {attainment}, GPU-hours {:+.3} [{:+.3}, {:+.3}], goodput {:+.3} req/s [{:+.3}, {:+.3}], goodput/GPU {:+.3} [{:+.3}, {:+.3}]",
                d.policy,
                d.baseline,
                d.gpu_hours.mean,
                d.gpu_hours.low,
                d.gpu_hours.high,
                d.goodput_rps.mean,
                d.goodput_rps.low,
                d.goodput_rps.high,
                d.goodput_per_gpu.mean,
                d.goodput_per_gpu.low,
                d.goodput_per_gpu.high
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Quiet;

    #[test]
    fn t_interval_of_a_known_sample() {
        let e = Estimate::of(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(e.mean, 3.0);
        // sd = 1.5811, se = 0.7071, t(4) = 2.776 → half-width 1.963.
        assert!((e.high - 3.0 - 1.963).abs() < 1e-3, "{e}");
        assert!(Estimate::of(&[2.0]).high.is_infinite());
        assert!((t95(40) - 2.021).abs() < 0.005);
    }

    /// `scenarios/disagg-small.yaml` cut to `duration_s` seconds, and the folder its paths
    /// are read from.
    fn small_scenario_text(duration_s: u32) -> (String, std::path::PathBuf) {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/disagg-small.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("duration_s: 300", &format!("duration_s: {duration_s}"));
        (text, path.parent().unwrap().to_path_buf())
    }

    #[test]
    fn runs_that_judge_nothing_have_no_attainment() {
        let (text, dir) = small_scenario_text(40);
        let text = text.replace("rate_per_s: 2}", "rate_per_s: 1.0e-9}");
        let s = Scenario::from_yaml_str(&text, "quiet", &dir).unwrap();
        let p = vec!["static".to_string(), "load-threshold".into()];
        let r = ab(&s, &p, 0, 2, 1, &Quiet).unwrap();
        for stats in &r.policies {
            assert_eq!(stats.runs_judged, 0);
            assert!(stats.slo_attainment.mean.is_nan() && stats.ttft_ms[0].is_nan());
        }
        assert!(r.paired[0].slo_attainment.mean.is_nan());
        let text = r.to_string();
        assert!(
            text.contains("- (nothing judged)") && text.contains("-/-/-"),
            "{text}"
        );
        assert!(text.contains("2 of 2 runs judged no request"), "{text}");
        assert!(text.contains("attainment -,"), "{text}");
    }

    #[test]
    fn runs_identical_across_seeds_print_no_interval() {
        // A trace replay: the seed reaches no randomness, every seed gives the same run.
        let chat = "    - name: chat
      open:
        arrival: {kind: poisson, rate_per_s: 2}
        input: {kind: lognormal, mean: 2000, p50: 1500}
        output: {kind: lognormal, mean: 300, p50: 250}";
        let (text, dir) = small_scenario_text(60);
        assert!(text.contains(chat));
        let text = text.replace(
            chat,
            "    - name: replay
      trace: {path: ../data/traces/azure_llm_2023_conv.csv.gz, format: azure, to_s: 60}",
        );
        let s = Scenario::from_yaml_str(&text, "replay", &dir).unwrap();
        let p = vec!["static".to_string(), "load-threshold".into()];
        let r = ab(&s, &p, 0, 3, 1, &Quiet).unwrap();
        assert!(r.runs.iter().all(|run| run.summary.arrived > 0));
        for stats in &r.policies {
            assert!(stats.identical_seeds, "{}", stats.policy);
            assert!(stats.gpu_hours.mean.is_finite() && stats.gpu_hours.low.is_nan());
        }
        assert!(r.paired[0].identical_seeds && r.paired[0].gpu_hours.high.is_nan());
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["policies"][0]["identical_seeds"], true);
        assert!(json["policies"][0]["gpu_hours"]["low"].is_null());
        let out = r.to_string();
        assert!(
            out.contains("no intervals: all 3 seeds gave bit-identical runs under every policy"),
            "{out}"
        );
        assert_eq!(
            out.matches("bit-identical").count(),
            1,
            "one line says why: {out}"
        );
        assert!(r.no_interval.is_some() && !out.contains('['), "{out}");
        assert!(
            out.contains("(exact: identical runs on every seed"),
            "{out}"
        );
        assert!(!out.contains("NaN"), "{out}");
    }

    #[test]
    fn identical_runs_are_told_apart_from_runs_that_differ() {
        let (text, dir) = small_scenario_text(60);
        let s = Scenario::from_yaml_str(&text, "random", &dir).unwrap();
        let r = ab(&s, &["static".to_string()], 0, 2, 1, &Quiet).unwrap();
        assert!(!r.policies[0].identical_seeds);
        assert!(r.policies[0].goodput_rps.low.is_finite());
        assert!(!r.to_string().contains("bit-identical"));
    }

    #[test]
    fn one_seed_gives_no_interval_and_says_why() {
        let (text, dir) = small_scenario_text(60);
        let s = Scenario::from_yaml_str(&text, "one", &dir).unwrap();
        let p = vec!["static".to_string(), "load-threshold".into()];
        let r = ab(&s, &p, 0, 1, 1, &Quiet).unwrap();
        assert!(r.no_interval.as_deref().unwrap().starts_with("one seed"));
        for stats in &r.policies {
            assert!(stats.goodput_rps.low.is_nan() && stats.slo_attainment.high.is_nan());
        }
        assert!(r.paired[0].goodput_rps.low.is_nan());
        let out = r.to_string();
        assert!(!out.contains("inf") && !out.contains('['), "{out}");
        assert!(
            out.contains("no intervals: one seed") && out.contains("(one seed)"),
            "{out}"
        );
    }

    #[test]
    fn the_paired_goodput_per_gpu_is_each_seeds_difference_averaged() {
        let (text, dir) = small_scenario_text(60);
        let s = Scenario::from_yaml_str(&text, "gpg", &dir).unwrap();
        let p = vec!["static".to_string(), "load-threshold".into()];
        let r = ab(&s, &p, 0, 3, 1, &Quiet).unwrap();
        let of = |policy: &str| -> Vec<f64> {
            r.runs
                .iter()
                .filter(|run| run.policy == policy)
                .map(|run| {
                    let s = &run.summary;
                    s.goodput_rps / (s.gpu_hours * 3600.0 / s.duration_s)
                })
                .collect()
        };
        let d: Vec<f64> = of("load-threshold")
            .iter()
            .zip(of("static"))
            .map(|(a, b)| a - b)
            .collect();
        let want = Estimate::of(&d);
        let got = r.paired[0].goodput_per_gpu;
        assert!((got.mean - want.mean).abs() < 1e-12, "{got} {want}");
        assert!(
            (got.low - want.low).abs() < 1e-12 && got.low.is_finite(),
            "{got}"
        );
        assert!(r.to_string().contains("goodput/GPU"), "{r}");
    }

    #[test]
    fn a_proportion_interval_stays_within_its_range() {
        let e = Estimate::of(&[0.99, 1.0, 0.97]).clipped(0.0, 1.0);
        assert!(e.high == 1.0 && e.low > 0.9 && e.mean < 1.0, "{e}");
        let d = Estimate::of(&[-0.9, -1.0, -0.5]).clipped(-1.0, 1.0);
        assert_eq!(d.low, -1.0);
    }

    #[test]
    fn ab_rejects_no_policies_no_seeds_and_seeds_past_the_last() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/disagg-small.yaml");
        let s = Scenario::from_file(&path).unwrap();
        let p = vec!["static".to_string()];
        let err = |r: Result<AbReport, Error>| match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        };
        assert!(err(ab(&s, &[], 0, 2, 1, &Quiet)).contains("policies"));
        assert!(err(ab(&s, &p, 0, 0, 1, &Quiet)).contains("seeds: must be at least 1"));
        assert!(err(ab(&s, &p, u64::MAX, 2, 1, &Quiet)).contains("past the largest seed"));
        assert!(
            err(ab(&s, &p, 0, 10_000_000_000_000, 1, &Quiet)).contains("more than 100000 runs")
        );
        let twice = vec!["static".to_string(), "sla".into(), "static".into()];
        assert!(
            err(ab(&s, &twice, 0, 2, 1, &Quiet)).contains("policies[2]: 'static' is named twice")
        );
    }

    #[test]
    fn parallel_keeps_job_order() {
        let out = parallel((0..50).collect(), 4, &Quiet, |x: u64| x * x);
        assert_eq!(out, (0..50).map(|x| x * x).collect::<Vec<_>>());
    }
}
