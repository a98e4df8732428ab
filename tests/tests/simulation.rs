//! End-to-end properties of whole runs: determinism, conservation of requests.

use std::path::Path;

use proptest::prelude::*;
use servesim::core::{SimTime, check_determinism};
use servesim::{Run, Scenario, run};

fn scenario(yaml: &str) -> Scenario {
    Scenario::from_yaml_str(yaml, "test", Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

/// A disaggregated or aggregated deployment under a given load.
fn yaml(
    seed: u64,
    rate: f64,
    input_mean: u32,
    kv_fraction: f64,
    disagg: bool,
    duration_s: u32,
) -> String {
    let pools = if disagg {
        "    - {name: prefill, role: prefill, tp: 2, workers: 1}\n    - {name: decode, role: decode, tp: 2, workers: 1, engine: {mem_fraction: MEM}}\n"
    } else {
        "    - {name: agg, role: aggregated, tp: 2, workers: 2, engine: {mem_fraction: MEM}}\n"
    };
    format!(
        "seed: {seed}
duration_s: {duration_s}
model: Qwen/Qwen3-32B-FP8
kv_dtype: fp8
gpu: h100_sxm
backend: vllm
slo: {{ttft_ms: 500, itl_ms: 30}}
cluster:
  nodes: 1
  pools:
{}
traffic:
  streams:
    - name: chat
      open:
        arrival: {{kind: poisson, rate_per_s: {rate}}}
        input: {{kind: lognormal, mean: {input_mean}, p50: {}}}
        output: {{kind: uniform, min: 20, max: 400}}
    - name: users
      closed:
        users: 8
        first_input: {{kind: fixed, value: 1500}}
        followup_input: {{kind: fixed, value: 100}}
        output: {{kind: fixed, value: 50}}
        think_s: {{kind: fixed, value: 2}}
        turns: {{kind: uniform, min: 1, max: 4}}
",
        pools.replace("MEM", &kv_fraction.to_string()),
        input_mean * 3 / 4
    )
}

/// Scenario texts over any seed, load, prompt size, KV budget (small budgets force
/// preemption and rejection) and deployment, half of them behind a frontend that delays
/// requests and, at 300 µs a token, saturates at the higher rates.
fn sampled_scenarios(duration_s: u32) -> impl Strategy<Value = String> {
    (
        0u64..1000,
        0.5f64..8.0,
        200u32..20_000,
        0.25f64..0.9,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            move |(seed, rate, input_mean, kv_fraction, disagg, frontend)| {
                let mut text = yaml(seed, rate, input_mean, kv_fraction, disagg, duration_s);
                if frontend {
                    text.push_str("frontend: {latency_ms: 20, token_cost_us: 300}\n");
                }
                text
            },
        )
}

#[test]
fn one_seed_one_result_and_the_event_traces_match() {
    let s = scenario(&yaml(3, 4.0, 1500, 0.9, true, 60));
    let (a, _) = run(&s).unwrap();
    let (b, _) = run(&s).unwrap();
    assert_eq!(a, b);
    assert!(a.all.completed > 100, "{a}");
    let digest =
        check_determinism(|| Run::new(&s).unwrap().sim, SimTime::ZERO + s.duration()).unwrap();
    assert_eq!(digest.events, a.events);
    let (c, _) = run(&scenario(&yaml(4, 4.0, 1500, 0.9, true, 60))).unwrap();
    assert_ne!(a, c, "another seed, another run");
}

#[test]
fn overload_misses_the_ttft_slo_and_nothing_is_lost() {
    // 1 prefill worker, ~6 req/s of 6k-token prompts: far beyond what it can prefill.
    let (s, w) = run(&scenario(&yaml(1, 6.0, 6000, 0.9, true, 60))).unwrap();
    let rejected: u64 = s.rejected.values().sum();
    assert_eq!(s.arrived, s.all.completed + rejected + s.in_flight);
    assert!(s.in_flight_late > 0);
    assert!(s.slo_attainment.unwrap() < 0.5, "{s}");
    assert_eq!(w.in_flight() as u64, s.in_flight);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Every arrived request ends completed, rejected or in flight, under any
    /// load, prompt size and KV budget (small budgets force preemption and rejection),
    /// with or without a frontend that delays them.
    #[test]
    fn every_request_is_accounted_for(text in sampled_scenarios(30)) {
        let (s, _) = run(&scenario(&text)).unwrap();
        let rejected: u64 = s.rejected.values().sum();
        prop_assert_eq!(s.arrived, s.all.completed + rejected + s.in_flight, "{}", s);
        let judged = s.all.completed + rejected + s.in_flight_late;
        prop_assert!(judged <= s.arrived);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]
    /// Two runs of one scenario and seed give the same summary and the same event trace,
    /// whatever the seed, load, deployment and frontend.
    #[test]
    fn one_seed_one_result_whatever_the_scenario(text in sampled_scenarios(20)) {
        let s = scenario(&text);
        let (a, _) = run(&s).unwrap();
        let (b, _) = run(&s).unwrap();
        prop_assert_eq!(&a, &b);
        let digest =
            check_determinism(|| Run::new(&s).unwrap().sim, SimTime::ZERO + s.duration()).unwrap();
        prop_assert_eq!(digest.events, a.events);
    }
}
