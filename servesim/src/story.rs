//! What a comparison of planners showed, told in the terminal: one table of the policies
//! side by side, then a few plain sentences (when the burst came, how long first tokens
//! stayed above the SLO, what each planner did and what it cost).

use std::fmt::Write as _;

use crate::report::{Summary, seconds_over_ttft_slo};
use crate::scenario::Scenario;
use crate::text::counted;
use crate::world::World;

/// One policy's run.
pub struct PolicyRun<'a> {
    /// The policy's name.
    pub policy: &'a str,
    /// Its summary.
    pub summary: &'a Summary,
    /// Its world at the end (the series, the decisions).
    pub world: &'a World,
}

/// The comparison table and the sentences; `burst` is the window of the traffic's burst
/// (the airline storm), when it has one.
pub fn render(scenario: &Scenario, runs: &[PolicyRun<'_>], burst: Option<(f64, f64)>) -> String {
    let slo = scenario.slo_ttft().as_millis_f64();
    let end = scenario.duration().as_secs_f64();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} (seed {}): {} on {} ({}), {:.0} s; SLOs TTFT {:.0} ms, ITL {:.0} ms",
        scenario.name(),
        scenario.seed(),
        scenario.llm().name,
        scenario.gpu().sku,
        scenario.backend(),
        end,
        slo,
        scenario.slo_itl().as_millis_f64()
    );
    let _ = writeln!(
        s,
        "\n{:<16} {:>8} {:>10} {:>10} {:>9} {:>7} {:>16}",
        "policy", "SLO met", "TTFT p90", "goodput", "GPU-h", "+/-", "TTFT > SLO for"
    );
    // What the planners did is told from the burst on, where there is one.
    let from = burst.map_or(0.0, |(a, _)| a);
    for r in runs {
        // The burst's seconds, or those the run measures (after its warm-up), as its summary.
        let over = match burst {
            Some((a, b)) => seconds_over_ttft_slo(r.world, slo, a, b),
            None => r.summary.ttft_over_slo_s,
        };
        let _ = writeln!(
            s,
            "{:<16} {:>8} {:>8} ms {:>6.2} r/s {:>9.2} {:>7} {:>14.0} s",
            r.policy,
            r.summary
                .slo_attainment
                .map_or("-".into(), |a| format!("{:.1}%", a * 100.0)),
            r.summary
                .all
                .ttft_ms
                .p90
                .map_or("-".into(), |v| format!("{v:.0}")),
            r.summary.goodput_rps,
            r.summary.gpu_hours,
            format!(
                "{}/{}",
                r.summary.workers_started, r.summary.workers_stopped
            ),
            over
        );
    }
    s.push('\n');
    if let Some((a, b)) = burst {
        let _ = writeln!(
            s,
            "The burst runs from {a:.0} s to {b:.0} s; \"TTFT > SLO for\" counts its seconds with \
             a TTFT p90 above {slo:.0} ms, or with none finished while a request waited longer \
             for its first token."
        );
    } else {
        let _ = writeln!(
            s,
            "\"TTFT > SLO for\" counts the run's seconds (after its warm-up, if any) with a TTFT \
             p90 above {slo:.0} ms, or with none finished while a request waited longer for its \
             first token."
        );
    }
    let _ = writeln!(
        s,
        "\"+/-\" counts the workers the planner started and stopped."
    );
    for r in runs {
        let _ = writeln!(s, "- {}", what_it_did(r, from, scenario));
        // What the scenario's faults did under this policy (the run's summary says it too).
        for o in &r.summary.faults {
            let _ = writeln!(s, "  fault {o}");
        }
    }
    // The first of equals, as the cheapest is, and only among runs judged at all.
    let best = (runs.iter())
        .filter_map(|r| r.summary.slo_attainment.map(|a| (r.policy, a)))
        .fold(None::<(&str, f64)>, |best, (p, a)| match best {
            Some(b) if b.1 >= a => Some(b),
            _ => Some((p, a)),
        });
    let cheapest = runs
        .iter()
        .min_by(|a, b| a.summary.gpu_hours.total_cmp(&b.summary.gpu_hours));
    if let Some(cheapest) = cheapest {
        let most = match best {
            Some((policy, a)) => format!(
                "Most requests within their SLOs: {policy} ({:.1}%)",
                a * 100.0
            ),
            None => "No run had a request to judge against the SLOs".to_string(),
        };
        // The cheapest with what it met, so a cheap run that misses is not read as a win.
        let met = cheapest.summary.slo_attainment.map_or(String::new(), |a| {
            format!(", {:.1}% within the SLOs", a * 100.0)
        });
        let _ = writeln!(
            s,
            "{most}; fewest GPU-hours: {} ({:.2}{met}). One seed each: `servesim ab` gives \
             intervals over several.",
            cheapest.policy, cheapest.summary.gpu_hours
        );
    }
    s
}

/// `n` decisions, of which `changes` changed a pool (applied, not advice or held back): a
/// planner that decided every interval and changed nothing is not one that never ran.
fn decisions(n: u64, changes: usize) -> String {
    let of = match changes {
        0 => "none changing a pool".to_string(),
        c => counted(c as u64, "pool change"),
    };
    format!("{}, {of}", counted(n, "decision"))
}

/// One sentence on what a planner did from `from_s` on.
fn what_it_did(r: &PolicyRun<'_>, from_s: f64, scenario: &Scenario) -> String {
    let events = r.world.scaling_events();
    let first_up = events
        .iter()
        .find(|e| e.started + e.pending > 0 && e.time_s >= from_s);
    // Where the budget held the planner back, by how much: what a buyer of GPUs reads.
    let cut = r
        .summary
        .budget_cut()
        .map_or(String::new(), |cut| format!("; {cut}"));
    let cost = format!("{:.2} GPU-h{cut}", r.summary.gpu_hours);
    match (r.world.planner_name(), first_up) {
        (None, _) => format!("{}: no planner, the pools as given ({cost}).", r.policy),
        (Some(_), None) if events.iter().all(|e| e.started + e.pending == 0) => format!(
            "{}: never started a worker ({}; {cost}).",
            r.policy,
            decisions(
                r.world.planner_decisions(),
                events.iter().filter(|e| e.applied).count()
            )
        ),
        (Some(_), None) => format!(
            "{}: started its workers before the burst only ({} started, {} stopped; {cost}).",
            r.policy, r.summary.workers_started, r.summary.workers_stopped
        ),
        (Some(_), Some(e)) => {
            let startup = scenario
                .pools()
                .iter()
                .find(|p| p.name == e.pool)
                .map_or(0.0, |p| p.startup.as_secs_f64());
            // Asked for with no GPUs to be had, a worker starts only once some are freed.
            let ready = if e.started > 0 {
                format!("ready about {startup:.0} s later")
            } else {
                "waiting for GPUs".to_string()
            };
            format!(
                "{}: first {} a {} worker {:.0} s in (at {:.0} s, {ready}: {}); {} started, {} \
                 stopped in all; {cost}.",
                r.policy,
                if e.started > 0 {
                    "started"
                } else {
                    "asked for"
                },
                e.pool,
                e.time_s - from_s,
                e.time_s,
                if e.reason.is_empty() {
                    "no reason given"
                } else {
                    e.reason.as_str()
                },
                r.summary.workers_started,
                r.summary.workers_stopped
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::decisions;

    #[test]
    fn a_planner_that_changed_nothing_still_decided() {
        assert_eq!(decisions(20, 0), "20 decisions, none changing a pool");
        assert_eq!(decisions(1, 1), "1 decision, 1 pool change");
        assert_eq!(decisions(12, 3), "12 decisions, 3 pool changes");
    }
}
