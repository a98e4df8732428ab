//! `servesim ab`: every policy on the same seeds, per-policy means and each policy's
//! differences from the first, paired by seed.

use serde::Serialize;

use super::{Estimate, check_policies, parallel, with_policy};
use crate::Error;
use crate::progress::Observer;
use crate::report::Summary;
use crate::run;
use crate::scenario::Scenario;

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
        Some("one seed (a t-interval needs two or more seeds; give --seeds 2 or more)".into())
    } else if all_identical {
        Some(format!(
            "all {seeds} seeds gave bit-identical runs under every policy (the seed reaches \
             no randomness of the workload, e.g. a trace replay, or none of its draws \
             arrived within the run): one run's numbers and exact differences"
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Quiet;

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
}
