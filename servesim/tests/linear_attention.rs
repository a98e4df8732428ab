//! A model with Gated DeltaNet layers (Qwen3.5-27B) served end to end: each sequence holds
//! its fixed state in the worker's KV pool, so the state's size bounds how many sequences a
//! full worker runs, and nothing is reused from the prefix cache.

use std::path::{Path, PathBuf};

use servesim::{Scenario, run};
use servesim_models::llm::LlmSpec;

/// Qwen3.5-27B's language model with its delta-rule state in `dtype`.
fn config_with_state(dtype: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text =
        std::fs::read_to_string(root.join("data/models/qwen3.5-27b.text-config.json")).unwrap();
    let text = text.replace(
        "\"mamba_ssm_dtype\": \"float32\"",
        &format!("\"mamba_ssm_dtype\": \"{dtype}\""),
    );
    let dir = std::env::temp_dir().join(format!("servesim-gdn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("qwen3.5-27b-{dtype}.json"));
    std::fs::write(&path, text).unwrap();
    path
}

/// A TensorRT-LLM worker (output blocks reserved at admission: a sequence runs only when its
/// prompt, output and state fit) under `users` closed-loop users.
fn scenario(model: &Path, users: u32) -> Scenario {
    let yaml = format!(
        "
name: gdn
seed: 1
duration_s: 600
model: {}
gpu: h200_sxm
backend: trtllm
slo: {{ttft_ms: 5000, itl_ms: 100}}
cluster:
  nodes: 1
  pools:
    - {{name: agg, role: aggregated, tp: 1, workers: 1, startup_s: 0}}
traffic:
  streams:
    - name: bench
      benchmark:
        concurrency: {users}
        warmup_requests: {users}
        requests: {}
        isl: 4000
        osl: 1000
",
        model.display(),
        users * 3
    );
    Scenario::from_yaml_str(&yaml, "gdn.yaml", Path::new(".")).unwrap()
}

#[test]
fn the_state_of_each_sequence_takes_room_in_the_kv_pool() {
    let fp32 = config_with_state("float32");
    let bf16 = config_with_state("bfloat16");
    let llm = LlmSpec::from_hf_config(&fp32).unwrap();
    let s = scenario(&fp32, 8);
    let engine = &s.pools()[0].engine;
    // The state in blocks of the pool, and no prefix reuse.
    let state = llm.state_tokens_per_sequence(&s.pools()[0].parallelism());
    assert!(state > 1000, "{state}");
    assert_eq!(
        engine.state_blocks,
        state.div_ceil(u64::from(engine.block_tokens))
    );
    assert!(!engine.prefix_caching);
    // With few users the state's size changes nothing; with many, the worker full, a
    // smaller state lets more sequences run at once.
    let tokens_per_s = |path: &Path, users: u32| {
        let (summary, _) = run(&scenario(path, users)).unwrap();
        assert_eq!(summary.preemptions, 0);
        assert!(summary.all.completed > 0);
        summary.throughput_tokens_per_s
    };
    let (few32, few16) = (tokens_per_s(&fp32, 8), tokens_per_s(&bf16, 8));
    assert!((few32 / few16 - 1.0).abs() < 0.01, "{few32} {few16}");
    let (many32, many16) = (tokens_per_s(&fp32, 400), tokens_per_s(&bf16, 400));
    // 16-bit states: some 18 % more sequences fit (5,000 tokens each and their state); the
    // steps of a larger batch take longer, so the throughput of the measured requests gains
    // less (about 3 %).
    assert!(many16 > 1.02 * many32, "{many32} {many16}");
    std::fs::remove_dir_all(fp32.parent().unwrap()).ok();
}
