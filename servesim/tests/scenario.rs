//! Scenario files: every mistake is an error naming the field.

use std::path::Path;

use servesim::Scenario;
use servesim_core::SimDuration;

const GOOD: &str = "seed: 1
duration_s: 60
model: Qwen/Qwen3-32B-FP8
gpu: h100_sxm
backend: vllm
slo: {ttft_ms: 500, itl_ms: 30}
cluster:
  nodes: 1
  pools:
    - {name: prefill, role: prefill, tp: 2, workers: 1}
    - {name: decode, role: decode, tp: 2, workers: 1}
traffic:
  streams:
    - name: chat
      open:
        arrival: {kind: poisson, rate_per_s: 1}
        input: {kind: fixed, value: 100}
        output: {kind: fixed, value: 10}
";

fn error(edit: (&str, &str)) -> String {
    let text = GOOD.replacen(edit.0, edit.1, 1);
    assert_ne!(text, GOOD, "the edit {edit:?} must change the scenario");
    Scenario::from_yaml_str(&text, "s.yaml", Path::new("."))
        .unwrap_err()
        .to_string()
}

#[test]
fn the_good_scenario_validates() {
    let s = Scenario::from_yaml_str(GOOD, "s.yaml", Path::new(".")).unwrap();
    assert_eq!(s.pools().len(), 2);
    assert!(s.pools()[1].engine.kv_blocks > 1000);
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_document() {
    let text = format!("\u{feff}{GOOD}");
    let s = Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap();
    assert_eq!(s.pools().len(), 2);
    let d = std::env::temp_dir().join(format!("servesim-bom-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let file = d.join("s.yaml");
    std::fs::write(&file, &text).unwrap();
    let set = ["seed=2".parse().unwrap()];
    assert_eq!(Scenario::from_file_with(&file, &set).unwrap().seed(), 2);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn the_frontend_is_read_and_ideal_when_left_out() {
    let s = Scenario::from_yaml_str(GOOD, "s.yaml", Path::new(".")).unwrap();
    assert!(s.frontend().is_ideal());
    let text = GOOD.replacen(
        "seed: 1",
        "seed: 1\nfrontend: {latency_ms: 25, token_cost_us: 100}",
        1,
    );
    let s = Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap();
    assert_eq!(s.frontend().latency.as_nanos(), 25_000_000);
    assert_eq!(s.frontend().token_cost.as_nanos(), 100_000);
}

#[test]
fn the_traffic_prefix_block_reaches_the_engines() {
    let text = GOOD.replacen("traffic:\n", "traffic:\n  block_tokens: 256\n", 1);
    let s = Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap();
    assert!(
        s.pools()
            .iter()
            .all(|p| p.engine.prefix_block_tokens == 256)
    );
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (
            ("nodes: 1\n", "nodes: 1\n  gpus_per_node: 0\n"),
            "cluster.gpus_per_node: must be from 1 to the 8 GPUs of a h100_sxm node, got 0",
        ),
        (
            ("nodes: 1\n", "nodes: 1\n  gpus_per_node: 9\n"),
            "cluster.gpus_per_node: must be from 1 to the 8 GPUs of a h100_sxm node, got 9",
        ),
        (
            (
                "tp: 2, workers: 1}\n    - {name: decode, role: decode, tp: 2",
                "tp: 2, workers: 1}\n    - {name: decode, role: decode, tp: 3",
            ),
            "cluster.pools[1].tp: 3 is not a power of two",
        ),
        (
            ("duration_s: 60", "duration_s: -5"),
            "duration_s: must be a positive number of seconds",
        ),
        (
            (
                "input: {kind: fixed, value: 100}",
                "input:\n          kind: fixed\n          value: 100\n          max: 5",
            ),
            "traffic.streams[0].open.input: unknown field `max`, expected `value` at line 20 column 11",
        ),
        (
            (
                "input: {kind: fixed, value: 100}",
                "input:\n          kind: fixed\n          value: 100\n          value: 7",
            ),
            "traffic.streams[0].open.input: duplicate field `value` at line 20 column 11",
        ),
        (
            (
                "    - name: chat\n",
                "    - name: chat\n      start_s: 60\n",
            ),
            "traffic.streams[0].start_s: stream chat starts at 60 s, not before the run's end \
             at 60 s (duration_s): it would send nothing at line 15 column 16",
        ),
        (
            ("nodes: 1", "nodes: 1\n  bogus: 3"),
            "s.yaml: cluster.bogus: unknown field `bogus`",
        ),
        (
            ("workers: 1}", "worker: 1}"),
            "cluster.pools[0].worker: unknown field `worker`, expected one of `name`, `role`, `tp`, `attention_dp`, `ep`, \
             `moe_a2a_backend`, `workers`, `startup_s`, `router`, `engine`; did you mean `workers`?",
        ),
        (
            ("role: decode", "role: decoder"),
            "cluster.pools[1].role: 'decoder' is not one of",
        ),
        (("role: decode", "role: decoder"), "did you mean 'decode'?"),
        (("gpu: h100_sxm", "gpu: h900"), "gpu:"),
        (("model: Qwen/Qwen3-32B-FP8", "model: Mistral-7B"), "model:"),
        (("backend: vllm", "backend: tgi"), "backend:"),
        (
            ("ttft_ms: 500", "ttft_ms: 0"),
            "slo.ttft_ms: must be a positive",
        ),
        (
            ("rate_per_s: 1", "rate_per_s: -2"),
            "traffic.streams[0].open.arrival.rate_per_s",
        ),
        (
            ("nodes: 1", "nodes: 1\n  gpu_budget: 2"),
            "initial workers hold 4 GPUs, over the budget of 2",
        ),
        (
            (
                "workers: 1}\n    - {name: decode",
                "workers: 1, router: fastest}\n    - {name: decode",
            ),
            "unknown router 'fastest' (known: round_robin",
        ),
        (("seed: 1", "seed: one"), "seed:"),
        (
            ("role: prefill, tp: 2,", "role: prefill, tp: 2, ep: 2,"),
            "cluster.pools[0].ep: 2: Qwen3-32B has no experts",
        ),
        (
            (
                "role: decode, tp: 2,",
                "role: decode, tp: 2, engine: {schedule_conservativeness: 0.5},",
            ),
            "cluster.pools[1].engine.schedule_conservativeness: is SGLang's; vllm has none",
        ),
        (
            (
                "role: decode, tp: 2,",
                "role: decode, tp: 2, engine: {max_batched_tokens: 1},",
            ),
            "cluster.pools[1].engine.max_batched_tokens: 1 tokens a step is less than the 1024 \
             sequences it may decode (max_num_seqs): vLLM refuses a budget below max_num_seqs",
        ),
        (
            ("role: decode, tp: 2,", "role: decode, tp: 2, ep: 0,"),
            "cluster.pools[1].ep: 0 must be at least 1 and divide tp × attention_dp 2",
        ),
        (
            (
                "tp: 2, workers: 1}\n    - {name: decode, role: decode, tp: 2",
                "tp: 2, workers: 1}\n    - {name: decode, role: decode, tp: 16",
            ),
            "cluster.pools: initial workers hold 18 GPUs, over the budget of 8",
        ),
        (
            ("name: decode", "name: prefill"),
            "cluster.pools[1].name: 'prefill' is already the name of cluster.pools[0]",
        ),
        (
            ("seed: 1", "seed: 1\nmetrics: {sample_interval_s: 1e-10}"),
            "metrics.sample_interval_s: 1e-10 s is below the clock's resolution",
        ),
        (
            ("seed: 1", "seed: 1\nmetrics: {sample_interval_s: 1e-5}"),
            "metrics.sample_interval_s: must be at least 0.001 s",
        ),
        (
            (
                "seed: 1",
                "seed: 1\nfaults: {events: [{kind: straggler, at_s: 10, duration_s: 1e11, \
                 pool: decode, slowdown: 2}]}",
            ),
            "faults.events[0].duration_s: must be in (0, 10000000] s, got 100000000000",
        ),
        (
            (
                "seed: 1",
                "seed: 1\nfaults: {events: [{kind: random_worker_failures, pool: decode, \
                 mtbf_s: 1e-12}]}",
            ),
            "faults.events[0].mtbf_s: must be in [1, 10000000] s, got 0.000000000001",
        ),
        (
            (
                "seed: 1",
                "seed: 1\nfaults: {events: [{kind: random_worker_failures, pool: decode, \
                 mtbf_s: 0}]}",
            ),
            "faults.events[0].mtbf_s: must be in [1, 10000000] s, got 0",
        ),
        (
            (
                "seed: 1",
                "seed: 1\nfaults: {max_transfer_failures: 1000, events: []}",
            ),
            "faults.max_transfer_failures: 1000 is more than 100",
        ),
        (
            ("traffic:\n", "traffic:\n  block_tokens: 100\n"),
            "cluster.pools[0].engine.block_tokens: 16 must divide the traffic's prefix block of 100",
        ),
        (
            ("seed: 1", "seed: 1\nfrontend: {latency_ms: -3}"),
            "frontend.latency_ms: must be a number of ms in [0, 60000], got -3",
        ),
        (
            ("seed: 1", "seed: 1\nfrontend: {token_cost_us: .nan}"),
            "frontend.token_cost_us: must be a number of µs in [0, 1000000], got NaN",
        ),
        (
            ("seed: 1", "seed: 1\nfrontend: {token_cost_us: 1e-6}"),
            "frontend.token_cost_us: 1e-6 µs is below the clock's resolution",
        ),
        (
            ("seed: 1", "seed: 1\nfrontend: {}"),
            "frontend: give latency_ms, token_cost_us or both",
        ),
        (
            ("seed: 1", "seed: 1\nfrontend: {latency: 3}"),
            "frontend.latency: unknown field `latency`",
        ),
    ];
    for (edit, expected) in cases {
        let err = error(edit);
        assert!(
            err.contains(expected),
            "edit {edit:?}: expected `{expected}` in `{err}`"
        );
        // The field path is said once.
        let rest = err.strip_prefix("s.yaml: ").unwrap_or(&err);
        let path = rest.split(": ").next().unwrap_or_default();
        assert_eq!(rest.matches(&format!("{path}:")).count(), 1, "{err}");
    }
    // A top-level field written twice: its second key.
    assert_eq!(
        error(("gpu: h100_sxm\n", "gpu: h100_sxm\ngpu: h200_sxm\n")),
        "s.yaml: duplicate field `gpu` at line 5 column 1"
    );
}

#[test]
fn a_mixture_of_experts_spreads_its_experts_over_a_pool_by_ep() {
    let moe = GOOD
        .replace("Qwen/Qwen3-32B-FP8", "Qwen/Qwen3-30B-A3B-FP8")
        .replace("role: decode, tp: 2,", "role: decode, tp: 2, ep: 2,");
    let s = Scenario::from_yaml_str(&moe, "s.yaml", Path::new(".")).unwrap();
    let par = s.pools()[1].parallelism();
    assert_eq!((par.tp, par.moe_tp, par.moe_ep), (2, 1, 2));
    assert_eq!(s.pools()[0].parallelism().moe_tp, 2);
    // EP must divide the experts (128).
    let e = Scenario::from_yaml_str(
        &moe.replace("tp: 2, ep: 2,", "tp: 8, ep: 8,")
            .replace("nodes: 1", "nodes: 2")
            .replace("role: prefill, tp: 2,", "role: prefill, tp: 4, ep: 3,"),
        "s.yaml",
        Path::new("."),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("cluster.pools[0].ep: 3 must be at least 1 and divide tp × attention_dp 4"),
        "{e}"
    );
}

#[test]
fn attention_dp_makes_workers_of_tp_times_dp_gpus_for_a_mixture_of_experts() {
    // DeepSeek-V3 FP8 on H200: an 8-rank attention-DP prefill worker (EP 8) and a TP 8
    // decode worker (EP 8).
    let ds = GOOD
        .replace("Qwen/Qwen3-32B-FP8", "deepseek-ai/DeepSeek-V3-FP8")
        .replace("h100_sxm", "h200_sxm")
        .replace("nodes: 1", "nodes: 2")
        .replace(
            "role: prefill, tp: 2,",
            "role: prefill, tp: 1, attention_dp: 8, ep: 8,",
        )
        .replace("role: decode, tp: 2,", "role: decode, tp: 8, ep: 8,");
    let s = Scenario::from_yaml_str(&ds, "s.yaml", Path::new(".")).unwrap();
    let (p, d) = (&s.pools()[0], &s.pools()[1]);
    assert_eq!((p.gpus(), d.gpus()), (8, 8));
    let par = p.parallelism();
    assert_eq!(
        (par.tp, par.attention_dp, par.moe_tp, par.moe_ep),
        (1, 8, 1, 8)
    );
    // Each rank schedules its own batch: the worker's defaults are 8 ranks' worth.
    assert_eq!(p.engine.max_num_seqs, 8 * d.engine.max_num_seqs);
    // A worker fits one NVLink domain (a node of an H200 board) or spans whole ones (two
    // nodes), and attention DP serves a mixture of experts only.
    let two_nodes = Scenario::from_yaml_str(
        &ds.replace("nodes: 2", "nodes: 3").replace(
            "tp: 1, attention_dp: 8, ep: 8",
            "tp: 2, attention_dp: 8, ep: 16",
        ),
        "s.yaml",
        Path::new("."),
    )
    .unwrap();
    assert_eq!(two_nodes.pools()[0].gpus(), 16);
    let e = Scenario::from_yaml_str(
        &ds.replace("h200_sxm", "gb200")
            .replace("nodes: 2", "nodes: 36")
            .replace(
                "tp: 1, attention_dp: 8, ep: 8",
                "tp: 1, attention_dp: 128, ep: 128",
            ),
        "s.yaml",
        Path::new("."),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(
            "cluster.pools[0].attention_dp: a worker of tp 1 × attention_dp 128 = 128 GPUs spans \
             NVLink domains, so it takes whole ones: 128 is not a multiple of the 72 GPUs of one \
             NVLink domain of gb200 (18 nodes of 4)"
        ),
        "{e}"
    );
    let e = Scenario::from_yaml_str(
        &ds.replace("h200_sxm", "gb200")
            .replace("nodes: 2", "nodes: 36")
            .replace(
                "role: decode, tp: 8, ep: 8,",
                "role: decode, tp: 128, ep: 8,",
            ),
        "s.yaml",
        Path::new("."),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("cluster.pools[1].tp: a worker of tp 128 × attention_dp 1 = 128 GPUs spans"),
        "{e}"
    );
    let e = Scenario::from_yaml_str(
        &GOOD.replace(
            "role: prefill, tp: 2,",
            "role: prefill, tp: 1, attention_dp: 2,",
        ),
        "s.yaml",
        Path::new("."),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("cluster.pools[0].attention_dp: 2: Qwen3-32B") && e.contains("no experts"),
        "{e}"
    );
}

#[test]
fn a_deepep_pool_moves_its_tokens_by_all_to_all() {
    // DeepSeek-V3 FP8 under SGLang on H200: two attention-DP workers of 8 ranks (EP 8), the
    // first with DeepEP's all-to-all, the second as SGLang runs by default.
    let ds = GOOD
        .replace("Qwen/Qwen3-32B-FP8", "deepseek-ai/DeepSeek-V3-FP8")
        .replace("h100_sxm", "h200_sxm")
        .replace("backend: vllm", "backend: sglang")
        .replace("nodes: 1", "nodes: 2")
        .replace(
            "role: prefill, tp: 2,",
            "role: prefill, tp: 1, attention_dp: 8, ep: 8, moe_a2a_backend: deepep,",
        )
        .replace(
            "role: decode, tp: 2,",
            "role: decode, tp: 1, attention_dp: 8, ep: 8,",
        );
    let s = Scenario::from_yaml_str(&ds, "s.yaml", Path::new(".")).unwrap();
    assert!(s.pools()[0].deepep && !s.pools()[1].deepep);
    let p = servesim::world::pool_predictors(&s).unwrap();
    assert!(p[0].all_to_all() && !p[1].all_to_all());
    // The same decode batch costs the two workers differently only in the token exchange.
    let b = servesim::models::perf::BatchShape {
        prefill: &[],
        decode_seqs: 64,
        decode_kv_tokens: 64 * 2048,
        eager: false,
    };
    assert_ne!(p[0].predict_ms(&b), p[1].predict_ms(&b));
    for (edit, expected) in [
        (
            ("backend: sglang", "backend: trtllm"),
            "cluster.pools[0].moe_a2a_backend: deepep: TensorRT-LLM picks its own all-to-all",
        ),
        (
            ("attention_dp: 8, ep: 8, moe", "attention_dp: 8, ep: 4, moe"),
            "cluster.pools[0].moe_a2a_backend: deepep: needs attention_dp above 1 and ep equal",
        ),
        (
            ("moe_a2a_backend: deepep", "moe_a2a_backend: nccl"),
            "cluster.pools[0].moe_a2a_backend: `nccl` is not one of: none, deepep",
        ),
    ] {
        let e = Scenario::from_yaml_str(&ds.replace(edit.0, edit.1), "s.yaml", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(e.contains(expected), "{e}");
    }
}

#[test]
fn a_missing_file_names_the_file() {
    let err = Scenario::from_file(Path::new("no/such/scenario.yaml"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("no/such/scenario.yaml: "), "{err}");
}

#[test]
fn a_changed_scenario_is_validated_again() {
    let s = Scenario::from_yaml_str(GOOD, "s.yaml", Path::new(".")).unwrap();
    let reseeded = s.with_seed(42).unwrap();
    assert_eq!((s.seed(), reseeded.seed()), (1, 42));
    assert_eq!(reseeded.config().seed, 42, "the file as written follows");
    let mut planner = servesim::planner::PlannerConfig::new("sla", 0.0);
    let err = s
        .with_planner(Some(planner.clone()))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("planner.interval_s"), "{err}");
    planner.interval_s = 30.0;
    assert_eq!(
        s.with_planner(Some(planner))
            .unwrap()
            .planner()
            .unwrap()
            .policy,
        "sla"
    );
    let err = s
        .edited(|c| c.cluster.pools[1].tp = 3)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("cluster.pools[1].tp"), "{err}");
    let err = s
        .edited(|c| c.weight_dtype = Some("fp9".into()))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("weight_dtype"), "{err}");
    let fp8 = s
        .edited(|c| {
            c.model = "Qwen/Qwen3-32B".into();
            c.weight_dtype = Some("fp8_block".into());
        })
        .unwrap();
    assert_eq!(
        fp8.llm().weight_dtype,
        servesim::models::dtype::Dtype::Fp8Block
    );
    let err = s
        .edited(|c| c.expert_routing = Some("power_law_1.2".into()))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("expert_routing: power_law_1.2: Qwen3-32B has no experts"),
        "{err}"
    );
    let moe = |routing: &str| {
        s.edited(|c| {
            c.model = "Qwen/Qwen3-30B-A3B".into();
            c.expert_routing = Some(routing.into());
        })
    };
    let err = moe("zipf").unwrap_err().to_string();
    assert!(
        err.starts_with("expert_routing") && err.contains("power_law_1.01"),
        "{err}"
    );
    let balanced = moe("balanced").unwrap();
    assert_eq!(
        balanced.llm().moe().unwrap().routing,
        servesim::models::perf::ExpertRouting::Balanced
    );
}

#[test]
fn gpus_and_models_may_be_named_as_users_type_them_where_one_fits() {
    let text = GOOD.replacen("gpu: h100_sxm", "gpu: H100", 1).replacen(
        "model: Qwen/Qwen3-32B-FP8",
        "model: qwen-32b-fp8",
        1,
    );
    let s = Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap();
    assert_eq!(s.gpu().sku, "h100_sxm");
    assert_eq!(s.llm().name, "Qwen3-32B");
    let e = error(("model: Qwen/Qwen3-32B-FP8", "model: qwen3"));
    assert!(
        e.contains("model: model `qwen3` is ambiguous: it could be Qwen3-32B, Qwen3-0.6B"),
        "{e}"
    );
    let e = error(("gpu: h100_sxm", "gpu: H100-PCIe"));
    assert!(e.contains("gpu: unknown GPU SKU `H100-PCIe`"), "{e}");
}

#[test]
fn requests_longer_than_the_context_are_warned_of_or_refused_when_all_are() {
    // Qwen3-32B takes 40,960 tokens; prompts of 30,000 to 50,000 overrun it at times.
    let some = GOOD.replacen(
        "input: {kind: fixed, value: 100}",
        "input: {kind: uniform, min: 30000, max: 50000}",
        1,
    );
    let s = Scenario::from_yaml_str(&some, "s.yaml", Path::new(".")).unwrap();
    assert_eq!(s.llm().max_position_embeddings, Some(40_960));
    let summary = servesim::run(&s).unwrap().0;
    let w = summary
        .warnings
        .iter()
        .find(|w| w.starts_with("stream chat: "))
        .unwrap_or_else(|| panic!("{:?}", summary.warnings));
    assert!(
        w.contains("are longer than the context of Qwen3-32B (40960 tokens), up to "),
        "{w}"
    );
    assert!(summary.to_string().contains("warning: stream chat: "));
    // Prompts within the context: nothing to say.
    let quiet = servesim::run(&Scenario::from_yaml_str(GOOD, "s.yaml", Path::new(".")).unwrap())
        .unwrap()
        .0;
    assert!(!quiet.warnings.iter().any(|w| w.contains("context")));
    // Every request over it: the scenario is refused, the stream and the sizes named.
    let e = error((
        "input: {kind: fixed, value: 100}",
        "input: {kind: fixed, value: 50000}",
    ));
    assert_eq!(
        e,
        "s.yaml: traffic: stream chat: every request is longer than the context of Qwen3-32B: \
         at least 50010 tokens (prompt and output) against 40960 at line 13 column 3"
    );
}

#[test]
fn a_model_that_states_no_context_is_said_to_have_none_before_the_run() {
    let d = std::env::temp_dir().join(format!("servesim-no-context-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let config = r#"{"hidden_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 8,
        "intermediate_size": 4096, "vocab_size": 32000, "torch_dtype": "bfloat16"}"#;
    std::fs::write(d.join("config.json"), config).unwrap();
    let text = GOOD.replacen("model: Qwen/Qwen3-32B-FP8", "model: config.json", 1);
    let s = Scenario::from_yaml_str(&text, "s.yaml", &d).unwrap();
    let said = servesim::warnings::before_run(&s);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].contains(
            "states no context length (its config.json has no \
             max_position_embeddings): requests of any length are served"
        ),
        "{said:?}"
    );
    // A model that states one: nothing to say.
    let s = Scenario::from_yaml_str(GOOD, "s.yaml", Path::new(".")).unwrap();
    assert!(servesim::warnings::before_run(&s).is_empty());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_run_cut_short_of_a_preset_stream_is_warned_of_not_refused() {
    // GOOD runs 60 s: a storm from 60 s on sends nothing, and the run says so before it
    // starts (a user's own stream there is refused, above).
    let text = GOOD.replacen(
        "traffic:\n",
        "traffic:\n  preset: airline\n  airline: {storm_start_s: 60}\n",
        1,
    );
    let s = Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap();
    let said = servesim::warnings::before_run(&s);
    assert_eq!(
        said,
        [
            "traffic.airline.storm_start_s: the airline preset's storm start at 60 s, not before \
          the run's end at 60 s (duration_s): they send nothing"
        ]
    );
}

#[test]
fn a_schedule_past_the_runs_end_is_warned_of() {
    // GOOD runs 60 s: a stream from 10 s whose schedule reaches its burst at 70 s never
    // sends it; trailing pauses, or a schedule within the run, are nothing to say.
    let schedule = |segments: &str| {
        let arrival = format!(
            "start_s: 10\n      open:\n        arrival: {{kind: schedule, segments: [{segments}]}}"
        );
        let text = GOOD.replacen(
            "open:\n        arrival: {kind: poisson, rate_per_s: 1}",
            &arrival,
            1,
        );
        assert_ne!(text, GOOD);
        let s = Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap();
        servesim::warnings::before_run(&s)
    };
    let burst = "{duration_s: 20, rate_per_s: 1}, {duration_s: 40, rate_per_s: 0}, \
                 {duration_s: 30, rate_per_s: 50}, {duration_s: 600, rate_per_s: 1}";
    assert_eq!(
        schedule(burst),
        [
            "traffic.streams[0].open.arrival.segments[2]: stream chat's schedule reaches this \
          segment at 70 s, not before the run's end at 60 s (duration_s): it and the one after \
          it send nothing"
        ]
    );
    let last = "{duration_s: 50, rate_per_s: 1}, {duration_s: 600, rate_per_s: 2}";
    assert!(schedule(last)[0].ends_with("segments[1]: stream chat's schedule reaches this segment at 60 s, not before the run's end at 60 s (duration_s): it sends nothing"));
    let pauses = "{duration_s: 50, rate_per_s: 1}, {duration_s: 600, rate_per_s: 0}";
    assert!(schedule(pauses).is_empty());
    let within = "{duration_s: 20, rate_per_s: 1}, {duration_s: 40, rate_per_s: 3}";
    assert!(schedule(within).is_empty());
    // Summed on the clock, as the arrivals run them: 10 + 20.2 + 29.8 s is the end itself.
    let summed = "{duration_s: 20.2, rate_per_s: 1}, {duration_s: 29.8, rate_per_s: 1}, \
                  {duration_s: 5, rate_per_s: 9}";
    assert!(schedule(summed)[0].contains(
        "segments[2]: stream chat's schedule reaches this \
         segment at 60 s, not before the run's end at 60 s (duration_s): it sends nothing"
    ));
    // A stream's own end_s ends its schedule first.
    let text = GOOD.replacen(
        "open:\n        arrival: {kind: poisson, rate_per_s: 1}",
        "end_s: 30\n      open:\n        arrival: {kind: schedule, segments: \
         [{duration_s: 30, rate_per_s: 1}, {duration_s: 20, rate_per_s: 5}]}",
        1,
    );
    let s = Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap();
    assert_eq!(
        servesim::warnings::before_run(&s),
        [
            "traffic.streams[0].open.arrival.segments[1]: stream chat's schedule reaches this \
          segment at 30 s, not before its end_s at 30 s: it sends nothing"
        ]
    );
}

#[test]
fn a_scrape_lag_as_long_as_the_run_is_warned_of() {
    let text = GOOD.replacen(
        "traffic:\n",
        "planner: {policy: sla, interval_s: 30, scrape_lag_s: 60}\ntraffic:\n",
        1,
    );
    let s = Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap();
    assert_eq!(
        servesim::warnings::before_run(&s),
        [
            "planner.scrape_lag_s: 60 s is not shorter than the run (60 s, duration_s): the \
          planner sees no metrics within it"
        ]
    );
}

#[test]
fn a_planner_that_first_decides_after_the_run_is_warned_of() {
    // Said of the run, whose scenario carries the policy that ran (`ab` and `report` give
    // each run its own).
    let said = |planner: &str| {
        let text = GOOD.replacen("traffic:\n", &format!("planner: {planner}\ntraffic:\n"), 1);
        let s = Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap();
        let warnings = servesim::run(&s).unwrap().0.warnings;
        warnings
            .into_iter()
            .filter(|w| w.contains("first decides"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        said("{policy: sla, interval_s: 90}"),
        [
            "planner.interval_s: the planner (sla) first decides at 90 s, not before the run's \
          end at 60 s (duration_s): it changes nothing in this run"
        ]
    );
    assert_eq!(
        said("{policy: lookahead, interval_s: 30, lookahead: {interval_s: 70}}"),
        [
            "planner.lookahead.interval_s: the planner (lookahead) first decides at 70 s, not \
          before the run's end at 60 s (duration_s): it changes nothing in this run"
        ]
    );
    // Lookahead keeps a cadence of its own (at most 15 s), sla-load reads the load every
    // load_interval_s, and static changes nothing in any run.
    assert!(said("{policy: lookahead, interval_s: 90}").is_empty());
    assert!(said("{policy: sla-load, interval_s: 90}").is_empty());
    assert!(said("{policy: static, interval_s: 90}").is_empty());
    assert!(said("{policy: sla, interval_s: 30}").is_empty());
}

#[test]
fn a_run_warns_of_kernels_timed_from_another_shape_and_names_the_pools() {
    let run = |text: &str| {
        let s = Scenario::from_yaml_str(text, "s.yaml", Path::new(".")).unwrap();
        servesim::run(&s).unwrap().0
    };
    // TensorRT-LLM's H200 MXFP4 MoE rows are gpt-oss-20b's (32 experts); gpt-oss-120b has
    // 128, so its experts are timed from H100's rows of them, in every pool alike.
    let oss = GOOD
        .replace("Qwen/Qwen3-32B-FP8", "gpt-oss-120b")
        .replace("h100_sxm", "h200_sxm")
        .replace("backend: vllm", "backend: trtllm");
    let summary = run(&oss);
    let w: Vec<_> = summary
        .warnings
        .iter()
        .filter(|w| w.contains("timed from h100_sxm's measured rows of their kind"))
        .collect();
    assert_eq!(w.len(), 1, "{:?}", summary.warnings);
    assert!(
        w[0].starts_with("every pool, h200_sxm under trtllm: ")
            && w[0].contains("MoE layers (w4a16_mxfp4, 128 experts, top-4"),
        "{}",
        w[0]
    );
    // A GPU without tables of its own: its kernels borrow another's, which is said.
    let b300 = run(&GOOD.replace("h100_sxm", "b300_sxm"));
    assert!(
        b300.warnings
            .iter()
            .any(|w| w.contains("kernels timed from b200_sxm's measured tables")),
        "{:?}",
        b300.warnings
    );
}

#[test]
fn a_run_says_when_its_decode_steps_ran_eagerly() {
    let run = |text: &str| {
        let s = Scenario::from_yaml_str(text, "s.yaml", Path::new(".")).unwrap();
        servesim::run(&s).unwrap().0
    };
    // Some 40 to 100 sequences decoding: TensorRT-LLM's default graphs (1-32, 64, 128, no
    // padding) capture few of their sizes.
    let busy = GOOD
        .replacen("backend: vllm", "backend: trtllm", 1)
        .replacen("rate_per_s: 1}", "rate_per_s: 30}", 1)
        .replacen("value: 10}", "value: 150}", 1);
    let eager = |r: &servesim::report::Summary| {
        r.warnings
            .iter()
            .filter(|w| w.contains("decode-only steps ran eagerly"))
            .cloned()
            .collect::<Vec<_>>()
    };
    let unpadded = run(&busy);
    let said = eager(&unpadded);
    assert!(
        said.len() == 1
            && said[0].starts_with("pool decode: ")
            && said[0].contains("1–32, 64, 128, without padding"),
        "{:?}",
        unpadded.warnings
    );
    // Padded to the next captured size, none runs eagerly.
    let padded = run(&busy.replacen(
        "{name: decode, role: decode, tp: 2, workers: 1}",
        "{name: decode, role: decode, tp: 2, workers: 1, engine: {cuda_graph_padding: true}}",
        1,
    ));
    assert!(eager(&padded).is_empty(), "{:?}", padded.warnings);
}

#[test]
fn a_run_warns_of_a_pool_without_capacity_and_of_a_queue_without_bound() {
    let run = |text: &str| {
        let s = Scenario::from_yaml_str(text, "s.yaml", Path::new(".")).unwrap();
        servesim::run(&s).unwrap().0
    };
    // The good scenario: nothing to say.
    let quiet = run(GOOD);
    assert!(quiet.warnings.is_empty(), "{:?}", quiet.warnings);
    // No decode worker and no planner: requests wait to the end.
    let no_decode = GOOD.replacen(
        "{name: decode, role: decode, tp: 2, workers: 1}",
        "{name: decode, role: decode, tp: 2, workers: 0}",
        1,
    );
    let warns_of_no_decode = |r: &servesim::report::Summary| {
        assert!(
            r.warnings
                .iter()
                .any(|w| w.starts_with("pool decode starts with no workers")),
            "{:?}",
            r.warnings
        );
    };
    let none = run(&no_decode);
    warns_of_no_decode(&none);
    assert!(none.to_string().contains("warning: pool decode"), "{none}");
    // The `static` policy never starts one either.
    warns_of_no_decode(&run(&format!(
        "{no_decode}planner: {{policy: static, interval_s: 30}}\n"
    )));
    // Far more traffic than one prefill worker takes: the queue grows with the run.
    let flood = run(&GOOD
        .replacen("rate_per_s: 1}", "rate_per_s: 400}", 1)
        .replacen("value: 100}", "value: 8000}", 1));
    assert!(
        flood
            .warnings
            .iter()
            .any(|w| w.contains("queue grows with the run")),
        "{:?}",
        flood.warnings
    );
}

#[test]
fn cuda_graphs_and_sglang_admission_follow_the_backend_unless_set() {
    use servesim_models::engine::cuda_graph::GraphStep;
    let s = Scenario::from_yaml_str(GOOD, "s.yaml", Path::new(".")).unwrap();
    // vLLM pads a decode batch to its next captured size.
    let vllm = &s.pools()[1].engine;
    assert_eq!(vllm.cuda_graphs.step(37), GraphStep::Replay { batch: 40 });
    assert!(vllm.new_token_ratio.is_none());
    // It always does: a scenario asking it not to is refused.
    let e = error((
        "role: decode, tp: 2,",
        "role: decode, tp: 2, engine: {cuda_graph_padding: false},",
    ));
    assert!(
        e.contains("cluster.pools[1].engine.cuda_graph_padding: vLLM always pads"),
        "{e}"
    );
    let text = GOOD
        .replacen("backend: vllm", "backend: sglang", 1)
        .replacen(
            "role: decode, tp: 2,",
            "role: decode, tp: 2, engine: {schedule_conservativeness: 0.5, \
             cuda_graph_batch_sizes: [8, 16], cuda_graph_padding: false},",
            1,
        );
    let s = Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap();
    let sglang = &s.pools()[1].engine;
    assert_eq!(sglang.cuda_graphs.step(16), GraphStep::Replay { batch: 16 });
    assert_eq!(sglang.cuda_graphs.step(12), GraphStep::Eager);
    assert_eq!(sglang.new_token_ratio.map(|r| r.init), Some(0.35));
    // The prefill pool keeps SGLang's defaults.
    assert_eq!(
        s.pools()[0].engine.new_token_ratio.map(|r| r.init),
        Some(0.7)
    );
    // Under DP attention SGLang gives each rank its share of the server's chunked-prefill
    // size and admits at 0.3 times the conservativeness.
    let dp = text
        .replacen("model: Qwen/Qwen3-32B-FP8", "model: openai/gpt-oss-120b", 1)
        .replacen(
            "role: prefill, tp: 2,",
            "role: prefill, tp: 1, attention_dp: 2, ep: 2,",
            1,
        );
    let s = Scenario::from_yaml_str(&dp, "s.yaml", Path::new(".")).unwrap();
    let (tp, dp) = (&s.pools()[1].engine, &s.pools()[0].engine);
    assert_eq!(dp.max_batched_tokens, tp.max_batched_tokens);
    assert_eq!(dp.rank_token_budget(), tp.max_batched_tokens / 2);
    let init = dp.new_token_ratio.map(|r| r.init).unwrap();
    assert!((init - 0.7 * 0.3).abs() < 1e-12, "{init}");
}

#[test]
fn a_handed_over_first_token_shows_as_the_backend_shows_it_unless_set() {
    use servesim::run;
    use servesim_models::engine::HandedFirstToken;
    let s = Scenario::from_yaml_str(GOOD, "s.yaml", Path::new(".")).unwrap();
    assert_eq!(
        s.pools()[1].engine.handed_first_token,
        HandedFirstToken::Recomputed,
        "vLLM's decode instance makes the first token"
    );
    let with = |way: &str| {
        let text = GOOD.replacen(
            "role: decode, tp: 2,",
            &format!("role: decode, tp: 2, engine: {{handed_first_token: {way}}},"),
            1,
        );
        let s = Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap();
        run(&s).unwrap().0.all.ttft_ms.mean.unwrap()
    };
    // Streamed as the request joins the decode batch, the first token shows a decode step
    // earlier than with the first step's response.
    let on_join = with("streamed_on_join");
    let after_step = with("streamed_after_first_step");
    assert!(on_join < after_step, "{on_join} {after_step}");
    let e = Scenario::from_yaml_str(
        &GOOD.replacen(
            "role: decode, tp: 2,",
            "role: decode, tp: 2, engine: {handed_first_token: early},",
            1,
        ),
        "s.yaml",
        Path::new("."),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("engine.handed_first_token"), "{e}");
}

#[test]
fn a_request_waiting_for_a_client_connection_is_in_its_ttft_and_said_apart() {
    // aiperf's recipe against one worker, its 32 users through a pool of 8 connections: the
    // client counts the wait for a connection in the TTFT, and the request rows show it.
    let text = std::fs::read_to_string("../scenarios/aiperf-concurrency.yaml").unwrap();
    let base = Scenario::from_yaml_str(&text, "a.yaml", Path::new("../scenarios")).unwrap();
    let pooled = text.replacen(
        "        osl: 256\n",
        "        osl: 256\n        connections: 8\n",
        1,
    );
    assert_ne!(pooled, text);
    let pooled = Scenario::from_yaml_str(&pooled, "a.yaml", Path::new("../scenarios")).unwrap();
    let rows = |s: &Scenario| {
        let (summary, world) = servesim::run(&s.with_keep_requests(true).unwrap()).unwrap();
        let cols = world.metrics.requests.clone().unwrap();
        (summary.all.ttft_ms.mean.unwrap(), cols)
    };
    let (open_ttft, open) = rows(&base);
    let (pooled_ttft, cols) = rows(&pooled);
    assert!(open.client_wait_ms.iter().all(|&w| w == 0.0));
    assert!(
        pooled_ttft > 2.0 * open_ttft,
        "{pooled_ttft} vs {open_ttft}"
    );
    let waited = cols.client_wait_ms.iter().filter(|&&w| w > 0.0).count();
    assert!(waited > cols.id.len() / 2, "{waited} of {}", cols.id.len());
    // At the server, where 8 requests at a time leave each prompt less to queue behind, the
    // first token comes sooner than with all 32 there.
    let server: f64 = cols
        .client_wait_ms
        .iter()
        .zip(&cols.ttft_ms)
        .map(|(w, t)| t - w)
        .sum::<f64>()
        / cols.id.len() as f64;
    assert!(server < open_ttft, "{server} vs {open_ttft}");
}

#[test]
fn gpt_oss_shows_its_first_token_after_its_harmony_header() {
    // One user at a time, so that nothing but the header separates the first token from
    // the prefill: gpt-oss answers `<|channel|>analysis<|message|>` before any text, and
    // the chat endpoint streams text only.
    let scenario = |osl: u32| {
        let text = format!(
            "seed: 1
duration_s: 60
model: openai/gpt-oss-20b
gpu: h100_sxm
backend: vllm
slo: {{ttft_ms: 1000, itl_ms: 100}}
cluster:
  nodes: 1
  pools:
    - {{name: agg, role: aggregated, tp: 1, workers: 1, startup_s: 0}}
traffic:
  streams:
    - name: bench
      benchmark: {{concurrency: 1, requests: 20, isl: 1000, osl: {osl}}}
"
        );
        Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap()
    };
    let s = scenario(50);
    assert_eq!(s.pools()[0].engine.header_tokens, 3);
    let rows = |s: &Scenario| {
        let (_, world) = servesim::run(&s.with_keep_requests(true).unwrap()).unwrap();
        world.metrics.requests.clone().unwrap()
    };
    let long = rows(&s);
    // A one-token answer shows with its only token, after the prefill alone.
    let prefill = rows(&scenario(1)).ttft_ms[5];
    for i in 0..long.id.len() {
        let (ttft, e2e, itl) = (long.ttft_ms[i], long.e2e_ms[i], long.itl_mean_ms[i]);
        // The client counts the 47 tokens with text, 46 gaps from the first shown.
        assert!(
            ((e2e - ttft) / 46.0 - itl).abs() < 1e-6,
            "{e2e} {ttft} {itl}"
        );
        // Three decode steps after the prefill: the header's last two tokens and the first
        // with text.
        let header = ttft - prefill;
        assert!(
            (header - 3.0 * itl).abs() < 0.05 * itl,
            "{ttft} {prefill} {itl}"
        );
    }
}

#[test]
fn nodes_of_fewer_gpus_make_a_wide_worker_cross_them() {
    // One TP8 worker: in one 8-GPU node its all-reduces run over NVLink; on 4-GPU nodes
    // (`cluster.gpus_per_node: 4`) it spans two, its all-reduces crossing InfiniBand.
    let agg = GOOD
        .replace("nodes: 1", "nodes: 2")
        .replace(
            "    - {name: prefill, role: prefill, tp: 2, workers: 1}\n    - {name: decode, role: decode, tp: 2, workers: 1}",
            "    - {name: agg, role: aggregated, tp: 8, workers: 1}",
        );
    let step = |text: &str| {
        let s = Scenario::from_yaml_str(text, "s.yaml", Path::new(".")).unwrap();
        servesim::iteration::iteration_breakdown(&s, None, 32, 2000, &[])
            .unwrap()
            .total_ms
    };
    let eight = step(&agg);
    let four = step(&agg.replace("nodes: 2", "nodes: 2\n  gpus_per_node: 4"));
    assert!(
        four > 1.2 * eight,
        "{four} ms on 4-GPU nodes, {eight} on 8-GPU ones"
    );
    // What the file does not say stays out of what it writes back.
    let s = Scenario::from_yaml_str(&agg, "s.yaml", Path::new(".")).unwrap();
    assert!(
        !serde_norway::to_string(s.config())
            .unwrap()
            .contains("gpus_per_node")
    );
}

/// A planner profile whose decode worker holds far more or fewer KV tokens than the
/// scenario's was measured for another deployment: said before the run. Dynamo's profile of
/// Llama-3.1-8B FP8 on one H200 holds 945,029 tokens, the simulated H200 worker 961,904; on an
/// H100 the worker holds about half.
#[test]
fn a_planner_profile_of_another_deployment_is_said_before_the_run() {
    let path = Path::new("../scenarios/planner-suite/dynamo-perf-test.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let base = path.parent().unwrap();
    let s = Scenario::from_yaml_str(&text, "perf-test.yaml", base).unwrap();
    let profile_said = |s: &Scenario| {
        let said = servesim::warnings::before_run(s);
        said.into_iter()
            .find(|w| w.starts_with("planner.profile_dir"))
    };
    assert_eq!(profile_said(&s), None);
    let h100 = text.replacen("gpu: h200_sxm", "gpu: h100_sxm", 1);
    let s = Scenario::from_yaml_str(&h100, "perf-test.yaml", base).unwrap();
    let said = profile_said(&s).expect("an H100 worker holds about half");
    assert!(said.contains("holds 945029 KV tokens"), "{said}");
    // A policy that reads no profile: nothing to say.
    let s = servesim::experiment::with_policy(&s, "static", 1).unwrap();
    assert_eq!(profile_said(&s), None);
}

#[test]
fn a_growing_queue_is_warned_of_and_long_answers_are_not() {
    let warned = |edits: &[(&str, &str)]| {
        let mut text = GOOD.to_string();
        for (from, to) in edits {
            let edited = text.replacen(from, to, 1);
            assert_ne!(edited, text, "{from}");
            text = edited;
        }
        let s = Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap();
        let summary = servesim::run(&s).unwrap().0;
        let in_flight = summary.in_flight;
        let completed = summary.arrived - in_flight;
        let queue = summary
            .warnings
            .iter()
            .find(|w| w.contains("does not keep up"))
            .cloned();
        (queue, completed, in_flight)
    };
    // Prompts of 2,000 tokens at 20 a second: far more than one prefill worker takes.
    let (queue, _, _) = warned(&[
        ("rate_per_s: 1}", "rate_per_s: 20}"),
        ("value: 100}", "value: 2000}"),
    ]);
    let queue = queue.expect("an overloaded prefill pool");
    assert!(
        queue.contains("requests are still waiting at the end"),
        "{queue}"
    );
    // Answers of 3,000 tokens at 3 a second: none ends within the minute, every one is
    // decoding, none waits. Many in flight against few completed is their steady state.
    let (queue, completed, in_flight) = warned(&[
        ("rate_per_s: 1}", "rate_per_s: 3}"),
        ("value: 10}", "value: 3000}"),
    ]);
    assert!(in_flight >= 100 && in_flight as f64 > 0.25 * completed as f64);
    assert_eq!(queue, None, "{in_flight} in flight, {completed} completed");
}

#[test]
fn a_cluster_says_what_nics_it_was_built_with() {
    // H100s on 200 Gb/s NICs (25 GB/s a GPU), not the catalog's ConnectX-7 (50).
    let text = GOOD.replacen("  nodes: 1\n", "  nodes: 1\n  nic_gb_per_s: 25\n", 1);
    let s = Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap();
    assert_eq!(s.gpu().nic_bytes_per_s_per_direction, 25e9);
    let plain = Scenario::from_yaml_str(GOOD, "s.yaml", Path::new(".")).unwrap();
    assert_eq!(plain.gpu().nic_bytes_per_s_per_direction, 50e9);
    let e = error(("  nodes: 1\n", "  nodes: 1\n  nic_gb_per_s: 0\n"));
    assert!(
        e.contains("cluster.nic_gb_per_s: must be a positive number of GB/s, at most"),
        "{e}"
    );
    let e = error(("  nodes: 1\n", "  nodes: 1\n  nic_gb_per_s: 1e300\n"));
    assert!(e.contains("got 1e300"), "{e}");
}

#[test]
fn engine_settings_a_pool_never_acts_on_are_refused() {
    // A decode pool prefills no prompt (without conditional disaggregation): nothing of
    // what it is handed is a prefix to reuse.
    let e = error((
        "role: decode, tp: 2,",
        "role: decode, tp: 2, engine: {prefix_caching: true},",
    ));
    assert!(
        e.contains("cluster.pools[1].engine.prefix_caching: reuses prefixes of the prompts"),
        "{e}"
    );
    // It recomputes a preempted sequence, chunked and mixed as set.
    let text = GOOD.replacen(
        "role: decode, tp: 2,",
        "role: decode, tp: 2, engine: {chunked_prefill: false, mixed_batches: false},",
        1,
    );
    let s = Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap();
    assert!(!s.pools()[1].engine.chunked_prefill && !s.pools()[1].engine.mixed_batches);
    // With it, the decode pool prefills short prompts: the setting is taken.
    let text = GOOD
        .replacen(
            "  nodes: 1\n",
            "  nodes: 1\n  local_prefill_max_tokens: 64\n",
            1,
        )
        .replacen(
            "role: decode, tp: 2,",
            "role: decode, tp: 2, engine: {prefix_caching: false},",
            1,
        );
    let s = Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap();
    assert!(!s.pools()[1].engine.prefix_caching);
    // A prefill pool makes its own first tokens.
    let e = error((
        "role: prefill, tp: 2,",
        "role: prefill, tp: 2, engine: {handed_first_token: recomputed},",
    ));
    assert!(
        e.contains("cluster.pools[0].engine.handed_first_token: says how a decode worker"),
        "{e}"
    );
}

#[test]
fn a_kv_hand_offs_latency_needs_a_hand_off() {
    let with_latency = GOOD.replacen("  nodes: 1\n", "  nodes: 1\n  transfer_latency_us: 40\n", 1);
    let s = Scenario::from_yaml_str(&with_latency, "s.yaml", Path::new(".")).unwrap();
    assert_eq!(s.transfer_latency(), SimDuration::from_nanos(40_000));
    // Unset, the default; and a scenario written back leaves it unset.
    let s = Scenario::from_yaml_str(GOOD, "s.yaml", Path::new(".")).unwrap();
    assert_eq!(s.transfer_latency(), SimDuration::from_nanos(10_000));
    assert!(
        !serde_norway::to_string(s.config())
            .unwrap()
            .contains("transfer_latency_us")
    );
    // One aggregated pool hands no KV over: a latency set for it would be lost.
    let agg = with_latency.replacen(
        "    - {name: prefill, role: prefill, tp: 2, workers: 1}\n    - {name: decode, role: decode, tp: 2, workers: 1}",
        "    - {name: agg, role: aggregated, tp: 2, workers: 1}",
        1,
    );
    let e = Scenario::from_yaml_str(&agg, "s.yaml", Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cluster.transfer_latency_us: times the KV hand-off from a prefill pool"),
        "{e}"
    );
    assert!(e.contains("aggregated"), "{e}");
    // Its default, as servesim wrote it into the scenarios it saved before, still loads.
    let saved = agg.replace("transfer_latency_us: 40", "transfer_latency_us: 10.0");
    assert!(Scenario::from_yaml_str(&saved, "s.yaml", Path::new(".")).is_ok());
}

#[test]
fn a_benchmarks_warm_up_is_not_in_the_runs_totals() {
    // aiperf reports the measured requests only; their warm-up has its own class row.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/aiperf-concurrency.yaml");
    let s = Scenario::from_file(&path).unwrap();
    let summary = servesim::run(&s).unwrap().0;
    let (measured, warmup) = (
        class_of(&summary, "aiperf"),
        class_of(&summary, "aiperf.warmup"),
    );
    assert_eq!((measured.completed, warmup.completed), (640, 64));
    assert_eq!(summary.arrived, 640);
    assert_eq!(summary.all.completed, 640);
    assert_eq!(summary.all.output_tokens, measured.output_tokens);
    assert_eq!(summary.all.slo_met_share, measured.slo_met_share);
    assert_eq!(summary.all.ttft_ms.mean, measured.ttft_ms.mean);
    // Rates over the measured phase, which starts after the warm-up: its tokens over less
    // than the whole run.
    assert_eq!(measured.output_tokens, 640 * 256);
    assert!(summary.throughput_tokens_per_s * summary.duration_s > 640.0 * 256.0);
    assert!(!summary.warnings.iter().any(|w| w.contains("benchmark")));
    // Cut short by the run's end: the figures are of part of the benchmark, and say so.
    let short: servesim::scenario::Override = "duration_s=30".parse().unwrap();
    let s = Scenario::from_file_with(&path, &[short]).unwrap();
    let summary = servesim::run(&s).unwrap().0;
    let done = class_of(&summary, "aiperf").completed;
    assert!(done < 640);
    let said = format!("stream aiperf: {done} of its benchmark's 640 measured requests were");
    assert!(
        summary.warnings.iter().any(|w| w.starts_with(&said)),
        "{:?}",
        summary.warnings
    );
}

#[test]
fn a_benchmark_is_said_cut_short_only_by_its_own_count_and_at_the_runs_end() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/aiperf-concurrency.yaml");
    // A time-based warm-up leaves out of the figures what the client issued before it, not
    // out of the client's count: the benchmark is whole.
    let warm: servesim::scenario::Override = "metrics.warmup_s=30".parse().unwrap();
    let s = Scenario::from_file_with(&path, &[warm]).unwrap();
    let summary = servesim::run(&s).unwrap().0;
    assert!(class_of(&summary, "aiperf").completed < 640);
    assert!(
        !summary.warnings.iter().any(|w| w.contains("benchmark")),
        "{:?}",
        summary.warnings
    );
    // A stepped run's summary so far says nothing of what its end will leave out.
    let mut stepper = servesim::step::Stepper::new(&s, Some(10.0)).unwrap();
    stepper.advance(None).unwrap();
    let so_far = stepper.summary();
    assert!(so_far.duration_s < 100.0);
    assert!(
        !so_far.warnings.iter().any(|w| w.contains("benchmark")),
        "{:?}",
        so_far.warnings
    );
}

fn class_of(summary: &servesim::Summary, name: &str) -> servesim::report::GroupSummary {
    summary
        .by_class
        .iter()
        .find(|(n, _)| n.as_str() == name)
        .map(|(_, g)| g.clone())
        .unwrap()
}

#[test]
fn a_trace_cut_by_the_runs_end_or_with_empty_rows_says_so() {
    // Ten rows a second apart, replayed for 4.5 s: five are, five are not.
    let dir = std::env::temp_dir().join(format!("servesim-cut-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rows: String = (0..10)
        .map(|k| {
            format!(
                "{{\"timestamp\": {}, \"input_length\": 100, \"output_length\": 10}}\n",
                k * 1000
            )
        })
        .collect();
    std::fs::write(dir.join("t.jsonl"), rows).unwrap();
    let text = |duration: &str| {
        format!(
            "name: cut\nseed: 1\nduration_s: {duration}\nmodel: meta-llama/Llama-3.1-8B-Instruct\n\
             gpu: h100_sxm\nbackend: vllm\nslo: {{ttft_ms: 1000, itl_ms: 50}}\n\
             cluster:\n  nodes: 1\n  pools:\n    - {{name: agg, role: aggregated, tp: 1, workers: 1}}\n\
             traffic:\n  streams:\n    - name: t\n      trace: {{path: t.jsonl, format: mooncake}}\n"
        )
    };
    let summary = |duration: &str| {
        let s = Scenario::from_yaml_str(&text(duration), "cut.yaml", &dir).unwrap();
        servesim::run(&s).unwrap().0
    };
    let cut = summary("4.5");
    assert_eq!(cut.arrived, 5);
    assert!(
        cut.warnings.iter().any(|w| w.starts_with(
            "stream t: its trace goes on past the run's end at 4.5 s (its next row at 5.0 s)"
        )),
        "{:?}",
        cut.warnings
    );
    let whole = summary("30");
    assert_eq!(whole.arrived, 10);
    assert!(
        !whole
            .warnings
            .iter()
            .any(|w| w.contains("its trace goes on"))
    );
    assert!(
        !whole
            .warnings
            .iter()
            .any(|w| w.contains("no prompt or no output"))
    );
    // Rows of 0 tokens, which a server refuses, are served with one and said to be.
    let zero = "{\"timestamp\": 0, \"input_length\": 0, \"output_length\": 10}\n\
                {\"timestamp\": 1, \"input_length\": 100, \"output_length\": 0}\n";
    std::fs::write(dir.join("t.jsonl"), zero).unwrap();
    let zeros = summary("30");
    assert_eq!(zeros.all.completed, 2);
    assert!(
        zeros
            .warnings
            .iter()
            .any(|w| w.starts_with("stream t: 2 requests asked for no prompt or no output tokens")),
        "{:?}",
        zeros.warnings
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn lookahead_keeps_a_held_prefill_pool_under_the_budget() {
    // The step burst at a budget of 4 GPUs: while lookahead holds its prefill workers (their
    // queue or TTFT over the target), the budget fit takes from the decode pool, not them.
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/planner-suite/step-burst.yaml");
    let set: Vec<servesim::scenario::Override> =
        ["cluster.gpu_budget=4", "planner.policy=lookahead"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
    let s = Scenario::from_file_with(&path, &set).unwrap();
    let summary = servesim::run(&s).unwrap().0;
    let held = |e: &&servesim::ScalingEvent| e.reason.contains("prefill not shrunk");
    let events: Vec<_> = summary.scaling_events.iter().filter(held).collect();
    assert!(
        !events.is_empty(),
        "the burst holds prefill: {:?}",
        summary.scaling_events
    );
    for e in events {
        assert!(
            !(e.pool == "prefill" && e.target < e.active_before),
            "a held prefill pool shrunk: {e:?}"
        );
    }
}
