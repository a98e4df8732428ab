use std::path::Path;

use servesim_planner::Decision;

use super::Stepper;
use crate::scenario::Scenario;
use crate::world::{SATURATED, planner_context};

fn scenario() -> Scenario {
    let yaml = format!("{SATURATED}planner: {{policy: sla, interval_s: 10, scrape_lag_s: 1}}\n");
    Scenario::from_yaml_str(&yaml, "saturated", Path::new(".")).unwrap()
}

/// The summary as JSON, without the planner's name (the only thing a stepper changes).
fn figures(summary: &crate::Summary) -> serde_json::Value {
    let mut v = serde_json::to_value(summary).unwrap();
    v.as_object_mut().unwrap().remove("planner");
    v
}

#[test]
fn a_stepper_given_a_policys_decisions_reproduces_that_policys_run() {
    let s = scenario();
    let (expected, _) = crate::run(&s).unwrap();
    assert!(!expected.scaling_events.is_empty(), "the policy should act");

    let mut policy = servesim_planner::build(
        s.planner().unwrap(),
        &planner_context(&s).unwrap(),
        "planner",
    )
    .unwrap();
    let mut stepper = Stepper::new(&s, None).unwrap();
    stepper.advance(None).unwrap();
    let mut times = Vec::new();
    while !stepper.is_done() {
        let obs = stepper.observation().unwrap().clone();
        times.push(obs.now_s);
        let decision = policy.decide(&obs);
        stepper.advance(Some(&decision)).unwrap();
    }
    // Decisions at 10, 20 and 30 s; the one due at the end (40 s) has nothing to act on.
    assert_eq!(times, [10.0, 20.0, 30.0]);
    assert_eq!(stepper.summary().planner.as_deref(), Some("external"));
    // The run itself takes the decision due at its end (40 s, here one held back while a
    // worker starts), which changes nothing; a stepper is not asked for it.
    let mut expected = expected;
    let at_end = |e: &crate::ScalingEvent| e.time_s >= 40.0;
    assert!(
        expected
            .scaling_events
            .iter()
            .filter(|e| at_end(e))
            .all(|e| !e.applied)
    );
    let dropped = expected.scaling_events.iter().filter(|e| at_end(e)).count() as u64;
    expected.scaling_events.retain(|e| !at_end(e));
    expected.scaling_decisions -= dropped;
    expected.planner_decisions -= 1;
    assert_eq!(figures(&stepper.summary()), figures(&expected));
    let end = stepper.observation().unwrap();
    assert_eq!(end.now_s, 40.0);
}

#[test]
fn the_same_decisions_give_the_same_observations_and_progress() {
    let s = scenario();
    let trace = || {
        let mut stepper = Stepper::new(&s, Some(5.0)).unwrap();
        stepper.advance(None).unwrap();
        let mut seen = Vec::new();
        let mut k = 0u32;
        while !stepper.is_done() {
            seen.push((stepper.observation().cloned(), stepper.progress()));
            k += 1;
            let d = Decision {
                targets: vec![Some(1 + k % 3), None],
                ..Decision::default()
            };
            stepper.advance(Some(&d)).unwrap();
        }
        seen.push((stepper.observation().cloned(), stepper.progress()));
        seen
    };
    let (a, b) = (trace(), trace());
    assert_eq!(a.len(), 8, "decisions at 5..35 s, then the end");
    assert_eq!(a, b);
    // Reward inputs grow: GPU time always, completions under this load.
    assert!(a.windows(2).all(|w| w[1].1.gpu_hours > w[0].1.gpu_hours));
    assert!(a.last().unwrap().1.completed > 0);
}

#[test]
fn a_decision_with_the_wrong_number_of_targets_is_refused_and_done_is_final() {
    let s = scenario();
    let mut stepper = Stepper::new(&s, None).unwrap();
    assert!(stepper.observation().is_none());
    stepper.advance(None).unwrap();
    let bad = Decision::unchanged(3);
    let err = stepper.advance(Some(&bad)).unwrap_err().to_string();
    assert!(err.contains("3 targets for 2 pools"), "{err}");
    while !stepper.is_done() {
        stepper.advance(None).unwrap();
    }
    let t = stepper.now();
    stepper.advance(None).unwrap();
    assert_eq!(stepper.now(), t);
    assert!(stepper.summary().scaling_events.is_empty());
}

#[test]
fn a_stepped_world_applies_what_it_is_given_and_says_nothing_of_advice() {
    // The scenario asks for advice only; a stepper applies the decisions given to it.
    let yaml = format!(
        "{SATURATED}planner: {{policy: sla, interval_s: 10, scrape_lag_s: 1, advisory: true}}\n"
    );
    let s = Scenario::from_yaml_str(&yaml, "saturated", Path::new(".")).unwrap();
    let advice = |w: &[String]| w.iter().any(|w| w.starts_with("planner.advisory"));
    assert!(advice(&crate::run(&s).unwrap().0.warnings));
    let mut stepper = Stepper::new(&s, None).unwrap();
    while !stepper.is_done() {
        stepper.advance(None).unwrap();
    }
    assert!(!advice(&stepper.summary().warnings));
}
