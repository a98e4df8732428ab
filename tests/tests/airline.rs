//! The airline disruption story (`docs/DOMAIN.md` §6), on behaviour rather than exact numbers.
//!
//! A shortened storm keeps the test quick: 15 minutes of storm from t = 300 s in a
//! 30-minute run, otherwise the shipped scenario.

use std::path::Path;

use servesim::experiment::with_policy;
use servesim::{Scenario, Summary, World, run};

fn scenario() -> Scenario {
    let text = include_str!("../../scenarios/airline-disruption.yaml")
        .replace("duration_s: 3600", "duration_s: 1800")
        .replace("storm_start_s: 600", "storm_start_s: 300")
        .replace("storm_duration_s: 1800", "storm_duration_s: 900");
    let s = Scenario::from_yaml_str(&text, "airline", Path::new(".")).unwrap();
    // Passengers stop with the run.
    s.edited(|c| c.traffic.airline.as_mut().unwrap().passenger_end_s = Some(1800.0))
        .unwrap()
}

const STORM: (f64, f64) = (300.0, 1200.0);

fn run_policy(policy: &str) -> (Summary, World) {
    run(&with_policy(&scenario(), policy, 7).unwrap()).unwrap()
}

/// Values of a per-interval series over `[from, to)` seconds.
fn window(values: &[f64], step: f64, from: f64, to: f64) -> Vec<f64> {
    values
        .iter()
        .enumerate()
        .filter(|(k, _)| (from..to).contains(&(*k as f64 * step)))
        .map(|(_, v)| *v)
        .filter(|v| v.is_finite())
        .collect()
}

fn step(w: &World) -> f64 {
    w.metrics.series[0].ready.interval().as_secs_f64()
}

#[test]
fn static_misses_the_ttft_slo_during_the_storm() {
    let (s, w) = run_policy("static");
    let storm = window(&w.metrics.ttft_p90_ms, step(&w), STORM.0 + 120.0, STORM.1);
    let misses = storm.iter().filter(|&&v| v > 500.0).count();
    assert!(
        misses * 2 > storm.len(),
        "TTFT p90 above 500 ms in most storm intervals: {storm:?}"
    );
    let before = window(&w.metrics.ttft_p90_ms, step(&w), 60.0, STORM.0);
    assert!(
        before.iter().all(|&v| v < 500.0),
        "calm before the storm: {before:?}"
    );
    assert_eq!(s.workers_started, 0);
    // The summary counts the run's seconds over the target, the storm's among them.
    assert!(s.ttft_over_slo_s >= misses as f64 * step(&w), "{s}");
}

#[test]
fn sla_adds_prefill_workers_and_ttft_recovers_once_they_are_up() {
    let (s, w) = run_policy("sla");
    let prefill = &w.metrics.series[0];
    let peak_ready = window(prefill.ready.values(), step(&w), STORM.0, STORM.1)
        .into_iter()
        .fold(0.0, f64::max);
    assert!(
        peak_ready >= 2.0,
        "sla brought up more prefill workers: {s}"
    );
    // Once the extra workers serve (start-up is 180 s), the TTFT p90 is back under the SLO
    // in most of the rest of the storm (not all: its correction factor flaps it between two
    // and three workers, each start-up seen through as Dynamo's connector does).
    let first_up = window(prefill.ready.values(), step(&w), STORM.0, STORM.1)
        .iter()
        .position(|&r| r >= 2.0)
        .map(|k| STORM.0 + k as f64 * step(&w))
        .unwrap();
    let after = window(&w.metrics.ttft_p90_ms, step(&w), first_up + 60.0, STORM.1);
    let ok = after.iter().filter(|&&v| v <= 500.0).count();
    assert!(
        ok * 2 > after.len(),
        "TTFT recovered after {first_up} s: {after:?}"
    );
    let (st, _) = run_policy("static");
    assert!(
        s.slo_attainment.unwrap() > st.slo_attainment.unwrap() + 0.2,
        "{s}\n{st}"
    );
}

#[test]
fn sla_holds_its_decisions_while_workers_start_and_says_so() {
    let (s, w) = run_policy("sla");
    let held: Vec<_> = s.scaling_events.iter().filter(|e| !e.applied).collect();
    assert!(!held.is_empty(), "a 180 s start-up spans decisions: {s}");
    assert!(
        s.to_string()
            .contains(&format!("pool changes ({} not applied)", held.len())),
        "{s}"
    );
    for e in &held {
        assert!(e.reason.starts_with("not ready"), "{e:?}");
        assert_eq!((e.started, e.stopped), (0, 0), "{e:?}");
        // Held while a worker of the deployment was starting (in the sample before the
        // decision: the planner reads metrics scraped just before it).
        let k = (e.time_s / step(&w)).ceil() as usize - 1;
        let starting: f64 = w
            .metrics
            .series
            .iter()
            .map(|p| p.starting.values().get(k).copied().unwrap_or(0.0))
            .sum();
        assert!(starting > 0.0, "{e:?}");
    }
    // Without the wait, the same run applies every decision.
    let no_wait = with_policy(&scenario(), "sla", 7)
        .unwrap()
        .edited(|c| {
            c.planner.as_mut().unwrap().sla.wait_until_ready = false;
        })
        .unwrap();
    let (s2, _) = run(&no_wait).unwrap();
    assert!(s2.scaling_events.iter().all(|e| e.applied), "{s2}");
}

#[test]
fn every_policy_scales_back_after_the_storm() {
    for policy in servesim::planner::POLICIES {
        let (s, w) = run_policy(policy);
        for (i, pool) in w.metrics.series.iter().enumerate() {
            let tail = window(pool.ready.values(), step(&w), 1700.0, 1800.0);
            let starting = window(pool.starting.values(), step(&w), 1700.0, 1800.0);
            assert!(
                tail.iter().all(|&r| r <= 1.0),
                "{policy}: pool {i} still has {tail:?} workers at the end\n{s}"
            );
            assert!(
                starting.iter().all(|&r| r == 0.0),
                "{policy}: pool {i} still starting {starting:?}"
            );
        }
    }
}

#[test]
fn advisory_mode_records_decisions_and_changes_nothing() {
    let s = with_policy(&scenario(), "sla", 7)
        .unwrap()
        .edited(|c| c.planner.as_mut().unwrap().advisory = true)
        .unwrap();
    let (advisory, w) = run(&s).unwrap();
    let (stat, _) = run_policy("static");
    assert!(advisory.scaling_decisions > 0, "decisions are recorded");
    assert!(w.scaling_events().iter().all(|e| !e.applied));
    assert_eq!(advisory.workers_started, 0);
    // The served traffic and its latencies are exactly those of a static deployment.
    assert_eq!(advisory.all, stat.all);
    assert_eq!(advisory.gpu_hours, stat.gpu_hours);
}
