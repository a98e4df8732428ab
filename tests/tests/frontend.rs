//! The serving frontend in whole runs: its latency reaches every first token, its host time
//! per token caps the output rate, and nothing is lost behind it.

use std::path::Path;

use servesim::core::{SimTime, check_determinism};
use servesim::{Run, Scenario, run};

/// Llama-3.1-8B on one H100 under `traffic`, behind `frontend` (a YAML flow map, or "").
fn scenario(traffic: &str, frontend: &str) -> Scenario {
    let frontend = if frontend.is_empty() {
        String::new()
    } else {
        format!("frontend: {frontend}\n")
    };
    let yaml = format!(
        "seed: 7
duration_s: 120
model: meta-llama/Llama-3.1-8B-Instruct
gpu: h100_sxm
backend: trtllm
slo: {{ttft_ms: 500, itl_ms: 50}}
cluster:
  nodes: 1
  pools:
    - {{name: agg, role: aggregated, tp: 1, workers: 1}}
traffic:
  streams:
    - name: s
{traffic}
metrics: {{warmup_s: 20, keep_requests: true}}
{frontend}"
    );
    Scenario::from_yaml_str(&yaml, "test", Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

const LIGHT: &str = "      open:
        arrival: {kind: poisson, rate_per_s: 0.5}
        input: {kind: fixed, value: 1000}
        output: {kind: fixed, value: 100}";

const CLOSED_64: &str = "      closed:
        users: 64
        first_input: {kind: fixed, value: 500}
        followup_input: {kind: fixed, value: 1}
        output: {kind: fixed, value: 200}
        think_s: {kind: fixed, value: 0}
        turns: {kind: fixed, value: 1}
        ramp_s: 1.0";

#[test]
fn the_latency_reaches_every_first_token_under_light_load() {
    let (ideal, w_ideal) = run(&scenario(LIGHT, "")).unwrap();
    let (slow, w_slow) = run(&scenario(LIGHT, "{latency_ms: 30}")).unwrap();
    let mean = |s: &servesim::Summary| s.all.ttft_ms.mean.unwrap();
    let added = mean(&slow) - mean(&ideal);
    assert!((29.0..31.0).contains(&added), "TTFT grew by {added} ms");
    // Queue time counts from reaching the cluster: the frontend's latency is not in it.
    let queue = |w: &servesim::World| {
        let q = &w.metrics.requests.as_ref().unwrap().queue_ms;
        q.iter().sum::<f64>() / q.len() as f64
    };
    let (q_ideal, q_slow) = (queue(&w_ideal), queue(&w_slow));
    assert!((q_slow - q_ideal).abs() < 1.0, "{q_ideal} → {q_slow} ms");
    // The stream itself is not slowed.
    let itl = |s: &servesim::Summary| s.all.itl_mean_ms.mean.unwrap();
    assert!((itl(&slow) - itl(&ideal)).abs() < 0.05 * itl(&ideal));
}

#[test]
fn requests_closer_together_than_the_latency_are_not_held_back() {
    // 5 short requests a second (200 ms apart on average) behind a 1 s frontend: each must
    // enter the frontend when it is sent, not at the next event of the run.
    let sparse = "      open:
        arrival: {kind: poisson, rate_per_s: 5}
        input: {kind: fixed, value: 10}
        output: {kind: fixed, value: 2}";
    let (ideal, _) = run(&scenario(sparse, "")).unwrap();
    let (slow, _) = run(&scenario(sparse, "{latency_ms: 1000}")).unwrap();
    let added = slow.all.ttft_ms.mean.unwrap() - ideal.all.ttft_ms.mean.unwrap();
    assert!((999.0..1001.0).contains(&added), "TTFT grew by {added} ms");
    assert_eq!(slow.arrived, ideal.arrived);
}

#[test]
fn the_host_time_per_token_caps_the_output_rate() {
    let (ideal, _) = run(&scenario(CLOSED_64, "")).unwrap();
    // 500 µs a token: at most 2,000 tokens/s, far below what the GPU streams for 64 users.
    let (capped, w) = run(&scenario(CLOSED_64, "{token_cost_us: 500}")).unwrap();
    assert!(ideal.throughput_tokens_per_s > 3_000.0, "{ideal}");
    // The frontend is what limits: busy nearly all the run, and the summary says so.
    assert_eq!(ideal.frontend_busy_share, None);
    let busy = capped.frontend_busy_share.unwrap();
    assert!((0.9..=1.0).contains(&busy), "{busy}");
    assert!(capped.to_string().contains("frontend busy 9"), "{capped}");
    assert!(
        (1_600.0..=2_000.0).contains(&capped.throughput_tokens_per_s),
        "{capped}"
    );
    // Users see their tokens as the frontend delivers them, per token and per request alike.
    let (per_token, per_request) = (
        capped.all.itl_ms.as_ref().unwrap().mean.unwrap(),
        capped.all.itl_mean_ms.mean.unwrap(),
    );
    assert!(per_request > 25.0, "{capped}");
    assert!(
        (per_token - per_request).abs() < 0.1 * per_request,
        "{capped}"
    );
    // The users wait in the frontend: first tokens come later, and nothing is lost.
    assert!(capped.all.ttft_ms.mean.unwrap() > 4.0 * ideal.all.ttft_ms.mean.unwrap());
    let rejected: u64 = capped.rejected.values().sum();
    assert_eq!(
        capped.arrived,
        capped.all.completed + rejected + capped.in_flight
    );
    assert_eq!(w.in_flight() as u64, capped.in_flight);
}

#[test]
fn a_run_behind_a_frontend_is_deterministic() {
    let s = scenario(CLOSED_64, "{latency_ms: 20, token_cost_us: 120}");
    let (a, _) = run(&s).unwrap();
    let (b, _) = run(&s).unwrap();
    assert_eq!(a, b);
    let digest =
        check_determinism(|| Run::new(&s).unwrap().sim, SimTime::ZERO + s.duration()).unwrap();
    assert_eq!(digest.events, a.events);
}
