//! What a prefix-aware router predicted reaches the planner: the share of each prompt the
//! chosen worker held cached, averaged over the requests routed in the interval (Dynamo's
//! KV router `kv_hit_rate`), and nothing where the router does not look at prefixes.

use std::path::Path;
use std::sync::{Arc, Mutex};

use servesim::Scenario;
use servesim::planner::{Decision, Observation, Planner};

/// Keeps each observation's `kv_hit_rate` of both pools, and changes nothing.
struct Recorder(Arc<Mutex<Vec<[Option<f64>; 2]>>>);

impl Planner for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn interval_s(&self) -> f64 {
        30.0
    }
    fn decide(&mut self, obs: &Observation) -> Decision {
        let seen = [obs.pools[0].kv_hit_rate, obs.pools[1].kv_hit_rate];
        self.0.lock().unwrap().push(seen);
        Decision::unchanged(obs.pools.len())
    }
}

fn hit_rates(router: &str) -> Vec<[Option<f64>; 2]> {
    // Every prompt: a 2,048-token system prompt then 512 tokens of its own, in blocks of
    // 512: four of its five blocks are cached once a worker has seen one prompt.
    let yaml = format!(
        "name: hits
seed: 3
duration_s: 240
model: meta-llama/Llama-3.1-8B-Instruct
gpu: h100_sxm
backend: vllm
slo: {{ttft_ms: 500, itl_ms: 50}}
cluster:
  nodes: 1
  pools:
    - {{name: prefill, role: prefill, tp: 1, workers: 2, router: {router}, engine: {{prefix_caching: true}}}}
    - {{name: decode, role: decode, tp: 1, workers: 1}}
traffic:
  streams:
    - name: chat
      shared_prefix_tokens: 2048
      open:
        arrival: {{kind: poisson, rate_per_s: 4}}
        input: {{kind: fixed, value: 512}}
        output: {{kind: fixed, value: 20}}
"
    );
    let s = Scenario::from_yaml_str(&yaml, "hits.yaml", Path::new(".")).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let run = servesim::Run::with_planner(&s, Box::new(Recorder(seen.clone()))).unwrap();
    run.finish().unwrap();
    seen.lock().unwrap().clone()
}

#[test]
fn a_prefix_aware_router_reports_the_share_of_prompts_it_found_cached() {
    let seen = hit_rates("prefix_aware");
    assert!(seen.len() >= 6, "{seen:?}");
    for [prefill, decode] in &seen[1..] {
        // Four blocks in five, less the first prompt each worker sees.
        let h = prefill.expect("requests were routed");
        assert!((0.7..=0.8 + 1e-9).contains(&h), "{seen:?}");
        assert_eq!(
            *decode, None,
            "the decode pool's router does not look at prefixes"
        );
    }
    // The first interval holds each worker's first, uncached prompt.
    assert!(seen[0][0].unwrap() < seen.last().unwrap()[0].unwrap());
}

#[test]
fn a_router_blind_to_prefixes_reports_none() {
    let seen = hit_rates("least_outstanding_tokens");
    assert!(seen.iter().all(|s| *s == [None, None]), "{seen:?}");
}
