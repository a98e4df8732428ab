//! The terminal table of an A/B report (`servesim ab`).

use std::fmt;

use super::{AbReport, or_dash};

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
        writeln!(
            f,
            "(TTFT and ITL in ms, ITL each request's mean gap; goodput: requests/s meeting both \
             SLOs; GPU-hours and actions, workers started and stopped, are each run's, their \
             means over the seeds)"
        )?;
        if let Some(why) = &self.no_interval {
            writeln!(f, "no intervals: {why}")?;
        } else {
            for p in self.policies.iter().filter(|p| p.identical_seeds) {
                writeln!(
                    f,
                    "{}: all {} seeds gave bit-identical runs (the seed reaches no randomness \
                     of the workload, e.g. a trace replay, or none of its draws arrived within \
                     the run): one run's numbers, no interval",
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
