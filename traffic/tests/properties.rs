//! Invariants under random workloads and random cluster behaviour.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::path::Path;

use proptest::prelude::*;
use servesim_core::{RngStreams, SimDuration, SimTime};
use servesim_traffic::{Workload, WorkloadConfig};

fn arrival() -> impl Strategy<Value = String> {
    prop_oneof![
        (0.1f64..50.0).prop_map(|r| format!("{{kind: poisson, rate_per_s: {r}}}")),
        (0.1f64..50.0, 0.1f64..5.0)
            .prop_map(|(r, cv)| format!("{{kind: gamma, rate_per_s: {r}, cv: {cv}}}")),
        (0.1f64..50.0, 0.01f64..20.0, 0.0f64..20.0).prop_map(|(r, on, off)| format!(
            "{{kind: on_off, rate_per_s: {r}, on_s: {on}, off_s: {off}}}"
        )),
        (0.0f64..5.0, 1.0f64..80.0, 0.01f64..30.0, 0.01f64..10.0).prop_map(|(a, b, h0, h1)| format!(
            "{{kind: mmpp, base_rate_per_s: {a}, burst_rate_per_s: {b}, mean_base_s: {h0}, mean_burst_s: {h1}}}"
        )),
        (0.1f64..30.0, 0.001f64..100.0, 0.0f64..30.0).prop_map(|(r, d, r2)| format!(
            "{{kind: schedule, repeat: true, segments: [{{duration_s: {d}, rate_per_s: {r}}}, {{duration_s: 7, rate_per_s: {r2}}}]}}"
        )),
        (0.1f64..30.0, 0.0f64..1.0, 0.5f64..500.0).prop_map(|(m, a, p)| format!(
            "{{kind: diurnal, mean_rate_per_s: {m}, amplitude: {a}, period_s: {p}}}"
        )),
    ]
}

fn workload(arrivals: &[(String, f64, f64)], users: u32, think_s: f64) -> String {
    let mut y = String::from("streams:\n");
    for (i, (a, start, len)) in arrivals.iter().enumerate() {
        y += &format!(
            "  - {{name: s{i}, start_s: {start}, end_s: {}, open: {{arrival: {a}, input: {{kind: uniform, min: 1, max: 3000}}, output: {{kind: fixed, value: 10}}}}}}\n",
            start + len
        );
    }
    y += &format!(
        "  - {{name: users, end_s: 200, closed: {{users: {users}, ramp_s: 3, first_input: {{kind: fixed, value: 700}}, followup_input: {{kind: fixed, value: 50}}, output: {{kind: fixed, value: 20}}, think_s: {{kind: exponential, mean: {think_s}}}, turns: {{kind: uniform, min: 1, max: 4}}}}}}\n"
    );
    y
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Arrivals never go back in time, whatever the mix and however the cluster answers
    /// (random latencies, failures, completions reported late or early), and closed-loop
    /// users never have more than one request each in flight.
    #[test]
    fn arrivals_are_monotone_and_users_wait_for_answers(
        streams in prop::collection::vec((arrival(), 0.0f64..50.0, 0.5f64..100.0), 0..4),
        users in 1u32..30,
        think_s in 0.001f64..5.0,
        seed in any::<u64>(),
        latencies in prop::collection::vec((0u64..5_000_000_000, any::<bool>()), 1..50),
    ) {
        let spec = WorkloadConfig::from_yaml_str(&workload(&streams, users, think_s), "prop")
            .unwrap()
            .validate("traffic", Path::new("."))
            .unwrap();
        let mut w = Workload::new(&spec, &RngStreams::new(seed)).unwrap();
        let until = SimTime::ZERO + SimDuration::from_secs(150).unwrap();
        let mut answers = BinaryHeap::new();
        let mut in_flight: BTreeMap<u32, u32> = BTreeMap::new();
        let mut last = SimTime::ZERO;
        let mut k = 0usize;
        for _ in 0..20_000 {
            let next = w.peek_time().filter(|&t| t < until);
            let answer = answers.peek().map(|Reverse((t, _, _, _))| *t);
            let take_answer = match (next, answer) {
                (None, None) => break,
                (Some(a), Some(d)) => d <= a,
                (None, Some(_)) => true,
                (Some(_), None) => false,
            };
            if take_answer {
                let Reverse((t, id, user, failed)) = answers.pop().unwrap();
                *in_flight.get_mut(&user).unwrap() -= 1;
                let known = if failed { w.on_failed(id, t) } else { w.on_complete(id, t) };
                prop_assert!(known);
                continue;
            }
            let r = w.next_request().unwrap().unwrap();
            prop_assert!(r.arrival >= last, "went back from {} to {}", last, r.arrival);
            last = r.arrival;
            prop_assert_eq!(r.prefix_blocks.len() as u32, r.input_tokens.div_ceil(512));
            if let Some(info) = r.session {
                let n = in_flight.entry(info.user).or_default();
                *n += 1;
                prop_assert!(*n <= 1, "user {} has {} requests in flight", info.user, n);
                prop_assert!(w.waiting() <= users as usize);
                let (lat, failed) = latencies[k % latencies.len()];
                k += 1;
                answers.push(Reverse((r.arrival + SimDuration::from_nanos(lat), r.id, info.user, failed)));
            }
        }
    }

    /// Completion times reported earlier than the last arrival (a sloppy caller) still
    /// never make a follow-up go back in time.
    #[test]
    fn early_completions_do_not_rewind_time(seed in any::<u64>(), users in 1u32..10) {
        let spec = WorkloadConfig::from_yaml_str(&workload(&[], users, 0.01), "prop")
            .unwrap()
            .validate("traffic", Path::new("."))
            .unwrap();
        let mut w = Workload::new(&spec, &RngStreams::new(seed)).unwrap();
        let mut last = SimTime::ZERO;
        for _ in 0..500 {
            let Some(r) = w.next_request().unwrap() else { break };
            prop_assert!(r.arrival >= last);
            last = r.arrival;
            w.on_complete(r.id, SimTime::ZERO);
        }
    }
}
