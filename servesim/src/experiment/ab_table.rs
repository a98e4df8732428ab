//! The terminal table of an A/B report (`servesim ab`).

use std::fmt;

use super::{AbReport, or_dash};
use crate::text::counted;

impl fmt::Display for AbReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one_seed = self.seeds.len() < 2;
        writeln!(
            f,
            "A/B on {} over {} ({})",
            self.scenario,
            counted(self.seeds.len() as u64, "seed"),
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
        let mut shown_none = false;
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
                interval(a.mean * 100.0, a.low * 100.0, a.high * 100.0, 2, " pp")
            };
            let (h, g, gg) = (&d.gpu_hours, &d.goodput_rps, &d.goodput_per_gpu);
            writeln!(
                f,
                "{} − {}: attainment {attainment}, GPU-hours {}, goodput {}, goodput/GPU {}",
                d.policy,
                d.baseline,
                interval(h.mean, h.low, h.high, 3, ""),
                interval(g.mean, g.low, g.high, 3, " req/s"),
                interval(gg.mean, gg.low, gg.high, 3, " req/s per GPU"),
            )?;
            shown_none |= [a, h, g, gg].iter().any(|e| contains_zero(e.low, e.high));
        }
        if shown_none {
            writeln!(
                f,
                "(n.s.: the 95 % interval holds 0, so these seeds show no difference either way)"
            )?;
        }
        Ok(())
    }
}

/// Whether an interval holds no difference.
fn contains_zero(low: f64, high: f64) -> bool {
    low <= 0.0 && 0.0 <= high
}

/// A paired difference, its interval, and `n.s.` where the interval holds 0.
fn interval(mean: f64, low: f64, high: f64, digits: usize, unit: &str) -> String {
    let ns = if contains_zero(low, high) {
        " n.s."
    } else {
        ""
    };
    format!("{mean:+.digits$}{unit} [{low:+.digits$}, {high:+.digits$}]{ns}")
}

#[cfg(test)]
mod tests {
    use super::interval;

    #[test]
    fn an_interval_holding_zero_is_marked() {
        assert_eq!(
            interval(0.5, -0.1, 1.1, 2, " pp"),
            "+0.50 pp [-0.10, +1.10] n.s."
        );
        assert_eq!(interval(-0.5, -1.1, -0.1, 3, ""), "-0.500 [-1.100, -0.100]");
        assert_eq!(interval(0.0, 0.0, 0.0, 1, ""), "+0.0 [+0.0, +0.0] n.s.");
    }
}
