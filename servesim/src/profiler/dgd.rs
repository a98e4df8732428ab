//! The DynamoGraphDeployment the profiler writes for a deployment (`dgd.yaml`): the frontend,
//! each worker service in its engine's own arguments, and for a disaggregated deployment
//! the SLA Planner reading the profile, as Dynamo 1.6.1 and aiconfigurator 0.12.0's
//! generator (through which Dynamo's profiler renders its DGDs) write them.

use serde_json::{Value, json};
use servesim_models::backend::Backend;
use servesim_models::dtype::Dtype;
use servesim_models::engine::EngineConfig;
use servesim_models::hardware::GpuCatalog;

use super::Outcome;
use super::candidate::{Candidate, Split};
use super::engine_settings::{engine_args, mixes_chunks};
use super::request::ProfileRequest;

/// Where the DGD's Planner reads the planner profile inside its container (as Dynamo's own
/// planner manifests mount a volume at `/data`): copy `prefill_raw_data.json` and
/// `decode_raw_data.json` there. A path of this machine would mean nothing in a pod.
pub const CONTAINER_PROFILE_DIR: &str = "/data/profiling_results";

/// The frontend's router, written out although it is Dynamo's default (`dynamo.frontend
/// --router-mode`: `round-robin`, `random` or `kv`): the fast model and `--mode simulate`
/// both assume it.
pub const FRONTEND_ROUTER: &str = "round-robin";

/// vLLM's KV connector between prefill and decode workers, as aiconfigurator 0.12.0 writes it
/// for both roles (`generator/builders/k8s_builder.py`).
const VLLM_KV_TRANSFER: &str = r#"{"kv_connector":"NixlConnector","kv_role":"kv_both"}"#;

/// How often the Planner adjusts the pools, s: as Dynamo 1.6.1's own test of its SLA planner
/// runs it (`throughput_adjustment_interval_seconds`).
const PLANNER_INTERVAL_S: u32 = 60;

/// Kubernetes admits names of at most 63 characters where they become labels and DNS names
/// (RFC 1123 labels). aiconfigurator 0.12.0's generator caps the model's part of a DGD's
/// name so (`_RFC1123_MAX_LEN` in `generator/naive.py`) and then appends the mode; the
/// whole name is capped here.
const K8S_NAME_MAX: usize = 63;

/// The DGD's name: the request's name as an RFC 1123 label (lower case, `[a-z0-9-]`, no
/// leading, trailing or doubled `-`; `dynamo` where nothing is left, as aiconfigurator's
/// `_sanitize_rfc1123` falls back), then the mode, the request's part cut so that the whole
/// fits [`K8S_NAME_MAX`] and the aggregated and disaggregated DGDs keep distinct names.
fn dgd_name(request_name: &str, mode: &str) -> String {
    let mut base: String = request_name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while base.contains("--") {
        base = base.replace("--", "-");
    }
    let mut base = base.trim_matches('-').to_string();
    if base.is_empty() {
        base = "dynamo".into();
    }
    // ASCII only by now, so a byte cut is a character cut.
    base.truncate(K8S_NAME_MAX - mode.len() - 1);
    format!("{}-{mode}", base.trim_end_matches('-'))
}

/// A worker's split in its engine's own arguments:
/// - vLLM: `--tensor-parallel-size`, `--data-parallel-size` for attention replicas and
///   `--enable-expert-parallel` (its EP size is then TP × DP);
/// - SGLang: `--tp` counts every GPU of the worker, `--dp` with `--enable-dp-attention` runs
///   attention as that many replicas, `--ep-size` spreads the experts, over DeepEP
///   (`--moe-a2a-backend deepep`) beyond eight GPUs ([`Split::runs_deepep`]);
/// - TensorRT-LLM (`dynamo.trtllm`): `--tensor-parallel-size` counts every GPU,
///   `--expert-parallel-size` spreads the experts, and attention replicas are the LLM API's
///   `enable_attention_dp` (one per GPU), given through `--override-engine-args`
///   ([`engine_args`]).
fn split_args(backend: Backend, split: Split) -> Vec<String> {
    let (tp, dp, ep) = (split.tp, split.attention_dp, split.ep);
    let mut a: Vec<String> = Vec::new();
    match backend {
        Backend::Vllm => {
            a.extend(["--tensor-parallel-size".into(), tp.to_string()]);
            if dp > 1 {
                a.extend(["--data-parallel-size".into(), dp.to_string()]);
            }
            if ep > 1 {
                a.push("--enable-expert-parallel".into());
            }
        }
        Backend::Sglang => {
            a.extend(["--tp".into(), split.gpus().to_string()]);
            if dp > 1 {
                a.extend([
                    "--dp".into(),
                    dp.to_string(),
                    "--enable-dp-attention".into(),
                ]);
            }
            if ep > 1 {
                a.extend(["--ep-size".into(), ep.to_string()]);
            }
            if split.runs_deepep(backend) {
                a.extend(["--moe-a2a-backend".into(), "deepep".into()]);
            }
        }
        Backend::Trtllm => {
            a.extend(["--tensor-parallel-size".into(), split.gpus().to_string()]);
            if ep > 1 {
                a.extend(["--expert-parallel-size".into(), ep.to_string()]);
            }
        }
    }
    a
}

/// One worker service of the DGD. A worker wider than a node spans `gpus / gpus_per_node`
/// nodes (Dynamo's `multinode.nodeCount`, with the GPU limit per node, as its multi-node
/// TensorRT-LLM and SGLang deployments of DeepSeek-R1 on GB200 declare them).
fn worker(
    r: &ProfileRequest,
    role: &str,
    split: Split,
    replicas: u32,
    max_num_seqs: Option<u32>,
    kv: Dtype,
) -> (String, Value) {
    let (backend, model, gpus_per_node) = (r.backend, r.model.as_str(), r.gpus_per_node);
    let (prefix, module) = match backend {
        Backend::Vllm => ("Vllm", "dynamo.vllm"),
        Backend::Sglang => ("SGLang", "dynamo.sglang"),
        Backend::Trtllm => ("TRTLLM", "dynamo.trtllm"),
    };
    let name = match role {
        "prefill" => format!("{prefix}PrefillWorker"),
        "decode" => format!("{prefix}DecodeWorker"),
        _ => format!("{prefix}Worker"),
    };
    let mut args: Vec<String> = vec![
        match backend {
            Backend::Vllm => "--model",
            Backend::Sglang | Backend::Trtllm => "--model-path",
        }
        .into(),
        model.into(),
    ];
    args.extend(split_args(backend, split));
    // TensorRT-LLM's `max_batch_size` is per attention-DP rank, and so is vLLM's
    // `--max-num-seqs` (each data-parallel rank runs its own engine core and scheduler);
    // SGLang's `--max-running-requests` is given for the whole server.
    // Each is the slots the search sized and `--mode simulate` ran, so the DGD deploys the
    // worker that was judged. aiconfigurator 0.12.0's default SGLang and vLLM rules write
    // 512 there, or twice the batch from 512 up (`agg_decode max_batch_size` in
    // `rule_plugin/{sglang,vllm}.rule`, evaluated line by line, so vLLM's token budgets
    // after it grow with it): such a worker admits the bursts the search sized to wait for
    // a slot, and its ITL then exceeds what was predicted; not followed.
    let per_rank = max_num_seqs.map(|n| split.per_rank(n));
    if let (Some(n), Some(rank)) = (max_num_seqs, per_rank) {
        match backend {
            Backend::Vllm => args.extend(["--max-num-seqs".into(), rank.to_string()]),
            Backend::Sglang => args.extend(["--max-running-requests".into(), n.to_string()]),
            Backend::Trtllm => args.extend(["--max-batch-size".into(), rank.to_string()]),
        }
    }
    args.extend(engine_args(
        backend,
        role,
        split,
        per_rank,
        (r.isl, r.osl),
        kv,
    ));
    // Under DP attention SGLang gives each rank `chunked_prefill_size // dp`
    // (`ServerArgs._handle_data_parallelism` of SGLang 0.5); the search planned each rank
    // with the whole default, so the DGD asks for that many times the ranks.
    if backend == Backend::Sglang && split.attention_dp > 1 && role != "decode" {
        let chunk = GpuCatalog::builtin()
            .get(&r.gpu)
            .map(|g| EngineConfig::for_backend(backend, g, split.tp).max_batched_tokens);
        if let Ok(chunk) = chunk {
            let whole = chunk.saturating_mul(split.attention_dp);
            args.extend(["--chunked-prefill-size".into(), whole.to_string()]);
        }
    }
    if role == "aggregated" && mixes_chunks(backend) {
        args.push("--enable-mixed-chunk".into());
    }
    // A disaggregated worker's role. Every backend takes `--disaggregation-mode` from Dynamo
    // 1.0 on, and vLLM's workers exchange their KV through NIXL, named in vLLM's own
    // `--kv-transfer-config` (aiconfigurator 0.12.0, `vllm_worker_role_args` in
    // `generator/dynamo_features.py`: Dynamo 1.4 removed the old `--is-prefill-worker`; and
    // `generator/builders/k8s_builder.py`; Dynamo 1.6.1's `dynamo/vllm/args.py` refuses a
    // prefill worker without a KV transfer config).
    if matches!(role, "prefill" | "decode") {
        args.extend(["--disaggregation-mode".into(), role.into()]);
        if backend == Backend::Vllm {
            args.extend(["--kv-transfer-config".into(), VLLM_KV_TRANSFER.into()]);
        }
    }
    // The search keeps only workers that fill whole nodes when wider than one.
    let gpn = gpus_per_node.max(1);
    let nodes = split.gpus().div_ceil(gpn);
    let per_node = if nodes > 1 { gpn } else { split.gpus() };
    let mut spec = json!({
        "componentType": "worker",
        "replicas": replicas,
        "resources": {"limits": {"gpu": per_node.to_string()}},
        "extraPodSpec": {"mainContainer": {
            "command": ["python3", "-m", module],
            "args": args,
        }},
    });
    if nodes > 1 {
        spec["multinode"] = json!({"nodeCount": nodes});
    }
    if role != "aggregated" {
        spec["subComponentType"] = json!(role);
    }
    (name, spec)
}

/// The SLA planner's configuration, the one argument of `python3 -m dynamo.planner --config`
/// in Dynamo 1.6.1 (its `PlannerConfig`, `dynamo/planner/config/planner_config.py`), as
/// Dynamo's own test of that planner writes it
/// (`dynamo/planner/tests/manual/perf_test_configs/disagg_8b_planner.yaml`), with the
/// request's GPU budget and the engines' sizes: it scales the pools to the SLOs from the
/// profile in `profile_dir`.
fn planner_config(r: &ProfileRequest, prefill: Split, decode: Split, profile_dir: &str) -> Value {
    json!({
        "environment": "kubernetes",
        "backend": r.backend.name(),
        "mode": "disagg",
        "optimization_target": "sla",
        "ttft_ms": r.ttft_ms,
        "itl_ms": r.itl_ms,
        "profile_results_dir": profile_dir,
        "throughput_adjustment_interval_seconds": PLANNER_INTERVAL_S,
        "max_gpu_budget": r.total_gpus,
        "prefill_engine_num_gpu": prefill.gpus(),
        "decode_engine_num_gpu": decode.gpus(),
    })
}

/// The DynamoGraphDeployment of a deployment (with a Planner reading `profile_dir` when it is
/// disaggregated).
pub fn dgd(o: &Outcome, c: &Candidate, profile_dir: &str) -> Value {
    let r = &o.request;
    let mut services = serde_json::Map::new();
    services.insert(
        "Frontend".into(),
        json!({
            "componentType": "frontend",
            "replicas": 1,
            "extraPodSpec": {"mainContainer": {"command": ["python3", "-m", "dynamo.frontend"], "args": ["--http-port", "8000", "--router-mode", FRONTEND_ROUTER]}},
        }),
    );
    match (c.prefill, c.decode, c.aggregated) {
        (Some(p), Some(d), _) => {
            services.insert(
                "Planner".into(),
                json!({
                    "componentType": "planner",
                    "replicas": 1,
                    "extraPodSpec": {"mainContainer": {
                        "command": ["python3", "-m", "dynamo.planner"],
                        "args": ["--config", planner_config(r, p.split, d.split, profile_dir).to_string()],
                    }},
                }),
            );
            let (n, s) = worker(r, "prefill", p.split, p.workers, None, o.kv_dtype);
            services.insert(n, s);
            let (n, s) = worker(r, "decode", d.split, d.workers, Some(c.batch), o.kv_dtype);
            services.insert(n, s);
        }
        (_, _, Some(a)) => {
            let (n, s) = worker(
                r,
                "aggregated",
                a.split,
                a.workers,
                Some(c.batch),
                o.kv_dtype,
            );
            services.insert(n, s);
        }
        _ => {}
    }
    json!({
        "apiVersion": "nvidia.com/v1alpha1",
        "kind": "DynamoGraphDeployment",
        "metadata": {"name": dgd_name(&r.name, c.mode.short())},
        "spec": {"backendFramework": r.backend.name(), "services": services},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_engine_is_told_the_split_in_its_own_arguments() {
        let dp8 = Split {
            tp: 1,
            attention_dp: 8,
            ep: 8,
        };
        let tp8 = Split {
            tp: 8,
            attention_dp: 1,
            ep: 8,
        };
        let args = |b, s| split_args(b, s).join(" ");
        assert_eq!(
            args(Backend::Vllm, dp8),
            "--tensor-parallel-size 1 --data-parallel-size 8 --enable-expert-parallel"
        );
        assert_eq!(
            args(Backend::Vllm, tp8),
            "--tensor-parallel-size 8 --enable-expert-parallel"
        );
        assert_eq!(
            args(Backend::Sglang, dp8),
            "--tp 8 --dp 8 --enable-dp-attention --ep-size 8"
        );
        let dp32 = Split {
            tp: 1,
            attention_dp: 32,
            ep: 32,
        };
        assert_eq!(
            args(Backend::Sglang, dp32),
            "--tp 32 --dp 32 --enable-dp-attention --ep-size 32 --moe-a2a-backend deepep"
        );
        assert!(!args(Backend::Trtllm, dp32).contains("deepep"));
        assert_eq!(
            args(Backend::Trtllm, dp8),
            "--tensor-parallel-size 8 --expert-parallel-size 8"
        );
        assert_eq!(
            args(Backend::Trtllm, Split::tensor(4)),
            "--tensor-parallel-size 4"
        );
    }

    #[test]
    fn the_dgd_name_is_an_rfc_1123_label_that_keeps_its_mode() {
        assert_eq!(
            dgd_name("Qwen/Qwen3-32B on H200", "agg"),
            "qwen-qwen3-32b-on-h200-agg"
        );
        assert_eq!(dgd_name("__", "disagg"), "dynamo-disagg");
        let long = "a".repeat(70) + "-b";
        for mode in ["agg", "disagg"] {
            let name = dgd_name(&long, mode);
            assert_eq!(name.len(), K8S_NAME_MAX, "{name}");
            assert!(name.ends_with(&format!("a-{mode}")), "{name}");
        }
        // A cut that lands on a `-` does not leave it doubled before the mode.
        let name = dgd_name(&("a".repeat(55) + "-bbbbbbbbbb"), "disagg");
        assert_eq!(name, "a".repeat(55) + "-disagg");
    }

    proptest::proptest! {
        /// Whatever the request's name, the DGD's is an RFC 1123 label of at most 63
        /// characters ending in its mode.
        #[test]
        fn any_name_becomes_a_label_ending_in_its_mode(name in ".{0,90}", agg in proptest::bool::ANY) {
            let mode = if agg { "agg" } else { "disagg" };
            let label = dgd_name(&name, mode);
            proptest::prop_assert!(label.len() <= K8S_NAME_MAX, "{label}");
            proptest::prop_assert!(label.ends_with(&format!("-{mode}")), "{label}");
            proptest::prop_assert!(
                label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{label}"
            );
            proptest::prop_assert!(!label.starts_with('-') && !label.contains("--"), "{label}");
        }
    }
}
