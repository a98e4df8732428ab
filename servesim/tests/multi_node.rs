//! Workers wider than one NVLink domain: DeepSeek-V3 FP8, whose weights fit no node of eight
//! H100s, served by a 16-GPU prefill worker and a 16-GPU decode worker, each over two HGX
//! nodes; a node lost under the decode worker takes the whole worker with it.

use std::path::Path;

use servesim::{Scenario, run};

const TWO_NODE_WORKERS: &str = "name: dsv3-h100
seed: 3
duration_s: 120
model: deepseek-ai/DeepSeek-V3
gpu: h100_sxm
backend: trtllm
slo: {ttft_ms: 3000, itl_ms: 80}
cluster:
  nodes: 4
  pools:
    - {name: prefill, role: prefill, tp: 1, attention_dp: 16, ep: 16, workers: 1, startup_s: 0}
    - {name: decode, role: decode, tp: 1, attention_dp: 16, ep: 16, workers: 1, startup_s: 0}
traffic:
  streams:
    - name: chat
      open:
        arrival: {kind: poisson, rate_per_s: 2}
        input: {kind: fixed, value: 2000}
        output: {kind: fixed, value: 200}
";

#[test]
fn two_node_workers_serve_and_a_lost_node_takes_its_worker() {
    let s = Scenario::from_yaml_str(TWO_NODE_WORKERS, "s.yaml", Path::new(".")).unwrap();
    assert_eq!(s.pools()[1].gpus(), 16);
    let (ok, _) = run(&s).unwrap();
    assert!(ok.all.completed > 150, "{}", ok.all.completed);
    assert!(ok.slo_attainment.unwrap() > 0.9, "{:?}", ok.slo_attainment);
    // Each worker holds its 16 GPUs the whole run.
    for p in &ok.pools {
        assert!((p.gpu_hours - 16.0 * 120.0 / 3600.0).abs() < 1e-6, "{p:?}");
    }
    // Node 3 holds half of the decode worker (nodes 2 and 3): losing it loses the worker
    // and what it was serving; nothing is left to decode with.
    let faulty = Scenario::from_yaml_str(
        &format!(
            "{TWO_NODE_WORKERS}faults:\n  events:\n    - {{kind: node_down, at_s: 60, node: 3}}\n"
        ),
        "s.yaml",
        Path::new("."),
    )
    .unwrap();
    let (lost, _) = run(&faulty).unwrap();
    assert_eq!(lost.faults.len(), 1);
    assert!(lost.faults[0].requests_lost > 0, "{:?}", lost.faults);
    assert!(lost.all.completed < ok.all.completed);
    let decode = lost.pools.iter().find(|p| p.name == "decode").unwrap();
    assert_eq!(decode.ready_at_end, 0, "{decode:?}");
}
