//! A request no worker could ever run is refused when it arrives, and the others run on.

use std::path::Path;

use servesim::Scenario;

/// One Llama-3.1-8B worker on H100 with a quarter of its memory for weights and KV (some
/// 25,000 tokens of KV), a stream of small requests, and one request of `isl` prompt and
/// `osl` output tokens.
fn scenario(backend: &str, isl: u32, osl: u32) -> Scenario {
    let text = format!(
        "seed: 1
duration_s: 60
model: meta-llama/Llama-3.1-8B-Instruct
gpu: h100_sxm
backend: {backend}
slo: {{ttft_ms: 1000, itl_ms: 30}}
cluster:
  nodes: 1
  pools:
    - {{name: agg, role: aggregated, tp: 1, workers: 1, startup_s: 0, engine: {{mem_fraction: 0.25}}}}
traffic:
  streams:
    - name: big
      benchmark: {{concurrency: 1, requests: 1, isl: {isl}, osl: {osl}}}
    - name: small
      open:
        arrival: {{kind: poisson, rate_per_s: 1}}
        input: {{kind: fixed, value: 100}}
        output: {{kind: fixed, value: 10}}
"
    );
    Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap()
}

#[test]
fn a_request_no_worker_could_ever_run_is_refused_and_the_rest_run() {
    // vLLM: prompt and output beyond the KV (it had filled it, been preempted and never
    // come back, every later request stuck behind it); SGLang: prompt and clipped output
    // beyond it (never admitted).
    for (backend, isl, osl) in [("vllm", 20_000, 8_000), ("sglang", 22_000, 3_000)] {
        let (s, _) = servesim::run(&scenario(backend, isl, osl)).unwrap();
        assert_eq!(
            s.rejected.values().sum::<u64>(),
            1,
            "{backend}: {:?}",
            s.rejected
        );
        let reason = s.rejected.keys().next().unwrap();
        assert!(
            reason.starts_with("prompt and output larger than"),
            "{reason}"
        );
        assert!(s.in_flight <= 1, "{backend}: {} in flight", s.in_flight);
        assert!(s.all.completed + 2 >= s.arrived, "{backend}: {s:?}");
        // The refused request counts against its class, as against the run: the class
        // shares are over the same requests as the attainment.
        let big = &s.by_class["big"];
        assert_eq!(
            (big.completed, big.slo_met_share),
            (0, Some(0.0)),
            "{backend}"
        );
        assert_eq!(s.all.slo_met_share, s.slo_attainment, "{backend}");
    }
    // One that fits runs.
    let (s, _) = servesim::run(&scenario("vllm", 10_000, 2_000)).unwrap();
    assert!(s.rejected.is_empty(), "{:?}", s.rejected);
}
