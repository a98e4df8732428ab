//! The suite's report as terminal text: a table per workload, then one line per workload
//! with every policy's goodput per GPU relative to the best fixed deployment.

use std::fmt;

use crate::experiment::Estimate;
use crate::text::counted;

use super::{BEST_FIXED, SuiteReport, WorkloadReport};

/// `mean [low, high]` scaled by `k` with `decimals` (and a sign if `signed`), the mean alone
/// where there is no interval (NaN ends), `-` where nothing was measured.
pub(super) fn estimate(e: &Estimate, k: f64, decimals: usize, signed: bool) -> String {
    let num = |x: f64| {
        // What rounds to zero prints as zero, never as "-0.0".
        let half_unit = 0.5 * 10f64.powi(-(decimals as i32));
        let v = if (x * k).abs() < half_unit {
            0.0
        } else {
            x * k
        };
        if signed {
            format!("{v:+.decimals$}")
        } else {
            format!("{v:.decimals$}")
        }
    };
    if e.mean.is_nan() {
        "-".into()
    } else if e.low.is_nan() || e.high.is_nan() {
        num(e.mean)
    } else {
        format!("{} [{}, {}]", num(e.mean), num(e.low), num(e.high))
    }
}

fn pct(e: &Estimate) -> String {
    if e.mean.is_nan() {
        return "-".into();
    }
    if e.low.is_nan() {
        return format!("{:.1}%", e.mean * 100.0);
    }
    format!(
        "{:.1}% [{:.1}, {:.1}]",
        e.mean * 100.0,
        e.low * 100.0,
        e.high * 100.0
    )
}

/// The seeds as `a..b` (or one number).
pub(super) fn seed_range(seeds: &[u64]) -> String {
    match (seeds.first(), seeds.last()) {
        (Some(a), Some(b)) if a != b => format!("{a}..{b}"),
        (Some(a), _) => a.to_string(),
        _ => "-".into(),
    }
}

fn workload(f: &mut fmt::Formatter<'_>, w: &WorkloadReport) -> fmt::Result {
    writeln!(
        f,
        "{} ({}): {} GPUs, seeds {}; best-fixed {} (best of {} fixed deployments on seed {})",
        w.name,
        w.origin,
        w.gpu_budget,
        seed_range(&w.seeds),
        w.best_fixed,
        w.candidates.len(),
        w.search_seed
    )?;
    writeln!(
        f,
        "  {:<15} {:>21} {:>20} {:>20} {:>21} {:>22} {:>22}",
        "policy",
        "SLO attainment",
        "goodput/GPU (req/s)",
        "GPU-hours",
        "Δattainment (pp)",
        "Δgoodput/GPU",
        "ΔGPU-hours"
    )?;
    for r in &w.rows {
        let d = &r.vs_best_fixed;
        let (da, dg, dh) = if r.policy == BEST_FIXED {
            (String::new(), String::new(), String::new())
        } else {
            (
                estimate(&d.slo_attainment, 100.0, 1, true),
                estimate(&d.goodput_per_gpu, 1.0, 3, true),
                estimate(&d.gpu_hours, 1.0, 3, true),
            )
        };
        writeln!(
            f,
            "  {:<15} {:>21} {:>20} {:>20} {:>21} {:>22} {:>22}",
            r.policy,
            pct(&r.slo_attainment),
            estimate(&r.goodput_per_gpu, 1.0, 3, false),
            estimate(&r.gpu_hours, 1.0, 3, false),
            da,
            dg,
            dh
        )?;
    }
    if let Some(why) = &w.no_interval {
        writeln!(f, "  no interval: {why}")?;
    }
    Ok(())
}

impl fmt::Display for SuiteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Planner suite: {} workloads, {} each; differences paired by seed against the \
             best fixed deployment (95 % t-intervals); best-fixed: the most goodput per GPU at \
             >= {} SLO attainment (DistServe's per-GPU goodput)",
            self.workloads.len(),
            counted(self.seeds, "seed"),
            percent(self.attainment_target)
        )?;
        for w in &self.workloads {
            writeln!(f)?;
            workload(f, w)?;
        }
        let Some(first) = self.workloads.first() else {
            return Ok(());
        };
        writeln!(f)?;
        writeln!(
            f,
            "Goodput per GPU relative to best-fixed, and SLO attainment (means over the seeds); \
             then, by the paired intervals, whether the policy wins (more goodput per GPU, \
             attainment not lower), trades (better on one, worse on the other), loses or is \
             even (no difference in goodput per GPU)"
        )?;
        write!(f, "{:<22} {:>14}", "workload", BEST_FIXED)?;
        for r in first.rows.iter().skip(1) {
            write!(f, " {:>22}", r.policy)?;
        }
        writeln!(f)?;
        for w in &self.workloads {
            let att = |e: &Estimate| {
                if e.mean.is_nan() {
                    "-".to_string()
                } else {
                    format!("{:.0}%", e.mean * 100.0)
                }
            };
            write!(
                f,
                "{:<22} {:>14}",
                w.name,
                format!("{} {}", w.best_fixed, att(&w.rows[0].slo_attainment))
            )?;
            for r in w.rows.iter().skip(1) {
                let ratio = r.vs_best_fixed.goodput_per_gpu_ratio;
                let ratio = if ratio.is_finite() {
                    format!("{ratio:.2}x")
                } else {
                    "-".into()
                };
                let verdict = r.vs_best_fixed.verdict.map_or("", |v| v.as_str());
                write!(
                    f,
                    " {:>22}",
                    format!("{ratio} {} {verdict}", att(&r.slo_attainment))
                )?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// A share as a percentage with as few decimals as give it back (`90%`, `99.9%`,
/// `99.995%`; at most six, cut rather than rounded beyond): a target below 1 never reads
/// 100 %.
pub(super) fn percent(share: f64) -> String {
    let pct = share * 100.0;
    let below_all = |v: f64| share >= 1.0 || v < 100.0;
    let exact = (0..=6)
        .map(|decimals| format!("{pct:.decimals$}"))
        .find(|s| {
            s.parse::<f64>()
                .is_ok_and(|v| (v - pct).abs() <= 1e-9 * pct.abs().max(1.0) && below_all(v))
        });
    let s = exact.unwrap_or_else(|| {
        let s = format!("{:.6}", (pct * 1e6).floor() / 1e6);
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    });
    format!("{s}%")
}

#[cfg(test)]
mod tests {
    use super::percent;

    #[test]
    fn targets_read_as_given() {
        assert_eq!(percent(0.9), "90%");
        assert_eq!(percent(0.999), "99.9%");
        assert_eq!(percent(0.9995), "99.95%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(0.99995), "99.995%");
        assert_eq!(percent(0.9999999), "99.99999%");
        assert_eq!(percent(1.0 / 3.0), "33.333333%");
        assert_eq!(percent(1.0 - 1e-10), "99.999999%");
    }
}
