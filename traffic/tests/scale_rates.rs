//! `WorkloadConfig::scale_rates`: every open-loop rate, trace speed and the airline preset's
//! passengers scale; closed loops stay; the scaled load is the load asked for.

use std::path::Path;

use servesim_core::SimDuration;
use servesim_traffic::{Standalone, WorkloadConfig};

/// One stream of each kind: open, closed and trace (a fixed size `F` of 10 tokens throughout).
const MIX: &str = "
streams:
  - name: chat
    end_s: 400
    open: {arrival: {kind: poisson, rate_per_s: 5}, input: F, output: F}
  - name: users
    end_s: 400
    closed: {users: 7, first_input: F, followup_input: F, output: F, think_s: F, turns: F}
  - name: replay
    trace: {path: data/azure_sample.csv, format: azure}
";

/// A workload config from YAML where `F` stands for a fixed 10.
fn config(yaml: &str) -> WorkloadConfig {
    let yaml = yaml.replace(": F", ": {kind: fixed, value: 10}");
    WorkloadConfig::from_yaml_str(&yaml, "test").unwrap()
}

#[test]
fn open_streams_and_traces_scale_closed_loops_stay() {
    let mut c = config(MIX);
    assert_eq!(c.scale_rates(2.5), 2);
    let expect = config(
        &MIX.replace("rate_per_s: 5", "rate_per_s: 12.5")
            .replace("format: azure}", "format: azure, speed: 2.5}"),
    );
    assert_eq!(c, expect);
}

#[test]
fn the_airline_passengers_scale_even_at_their_default_rate() {
    let mut c = config("preset: airline");
    assert_eq!(c.scale_rates(2.0), 1);
    let airline = c.airline.as_ref().unwrap();
    assert_eq!(airline.passenger_rate_per_s, 6.0);
    assert_eq!(airline.storm_users, 200);
    let mut c = config("{preset: airline, airline: {passenger_rate_per_s: 1.5}}");
    c.scale_rates(4.0);
    assert_eq!(c.airline.unwrap().passenger_rate_per_s, 6.0);
}

#[test]
fn closed_loops_alone_have_nothing_to_scale() {
    let closed = MIX.split("  - name: users").nth(1).unwrap();
    let closed = closed.split("  - name: replay").next().unwrap();
    let mut c = config(&format!("streams:\n  - name: users{closed}"));
    let before = c.clone();
    assert_eq!(c.scale_rates(2.0), 0);
    assert_eq!(c, before);
}

#[test]
fn twice_the_rate_brings_about_twice_the_requests() {
    let count = |factor: f64| {
        let mut c = config(MIX.split("  - name: users").next().unwrap());
        c.scale_rates(factor);
        let spec = c.validate("traffic", Path::new(".")).unwrap();
        let run = Standalone {
            seed: 3,
            until: None,
            response: SimDuration::ZERO,
            max_requests: None,
        };
        run.run(&spec, |_| ()).unwrap() as f64
    };
    let ratio = count(2.0) / count(1.0);
    assert!((ratio - 2.0).abs() < 0.15, "ratio {ratio}");
}
