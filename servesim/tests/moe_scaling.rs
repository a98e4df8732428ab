//! A planner scales a pool of attention-data-parallel workers in whole workers: a decode
//! worker of four attention replicas (gpt-oss-120b, DP4 × EP4) is four GPUs, started and
//! paid for as one.

use std::path::Path;

use servesim::{Scenario, run};

const SCENARIO: &str = "
name: dp-scale
seed: 1
duration_s: 300
model: openai/gpt-oss-120b
gpu: h200_sxm
backend: vllm
slo: {ttft_ms: 1000, itl_ms: 30}
cluster:
  nodes: 2
  gpu_budget: 13
  pools:
    - {name: prefill, role: prefill, tp: 1, workers: 1, startup_s: 10}
    - {name: decode, role: decode, tp: 1, attention_dp: 4, ep: 4, workers: 1, startup_s: 10}
traffic:
  streams:
    - name: long
      open:
        arrival: {kind: poisson, rate_per_s: 12}
        input: {kind: fixed, value: 8000}
        output: {kind: fixed, value: 6000}
planner:
  policy: load-threshold
  interval_s: 20
";

#[test]
fn a_data_parallel_decode_worker_is_scaled_and_paid_for_whole() {
    let s = Scenario::from_yaml_str(SCENARIO, "dp.yaml", Path::new(".")).unwrap();
    let (summary, _) = run(&s).unwrap();
    let decode: Vec<_> = summary
        .scaling_events
        .iter()
        .filter(|e| e.pool == "decode" && e.applied)
        .collect();
    assert!(
        decode.iter().any(|e| e.started > 0),
        "the decode KV fills and a worker is added: {:?}",
        summary.scaling_events
    );
    // The decode pool's GPU-hours are four GPUs for every second of every worker (from
    // the moment it is asked for), never one.
    let duration = summary.duration_s;
    let mut worker_seconds = duration; // the warm worker
    for e in &decode {
        worker_seconds += f64::from(e.started) * (duration - e.time_s);
        worker_seconds -= f64::from(e.stopped) * (duration - e.time_s);
    }
    let pool = summary.pools.iter().find(|p| p.name == "decode").unwrap();
    let expected = 4.0 * worker_seconds / 3600.0;
    assert!(
        (pool.gpu_hours - expected).abs() < 1e-6,
        "{} GPU-hours against {expected}",
        pool.gpu_hours
    );
    // No decision asks for more decode workers than the budget holds beside the one
    // prefill worker a pool keeps, at four GPUs a decode worker.
    const BUDGET: u32 = 13;
    const PREFILL_FLOOR: u32 = 1;
    for e in summary.scaling_events.iter().filter(|e| e.pool == "decode") {
        assert!(4 * e.target <= BUDGET - PREFILL_FLOOR, "{e:?}");
    }
}
