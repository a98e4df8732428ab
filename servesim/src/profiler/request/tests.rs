//! The profile request's tests: both DGDR forms, flags over the file, and what is refused.

use super::*;

const NEWER: &str = "
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeploymentRequest
metadata: {name: qwen}
spec:
  model: Qwen/Qwen3-32B-FP8
  backend: vllm
  sla: {ttft: 500, itl: 30}
  workload: {isl: 4000, osl: 500}
  hardware: {gpuSku: h200_sxm, totalGpus: 8, numGpusPerNode: 8}
  autoApply: true
";

const OLDER: &str = "
kind: DynamoGraphDeploymentRequest
spec:
  model: Qwen/Qwen3-32B-FP8
  backend: vllm
  profilingConfig:
    profilerImage: nvcr.io/x
    config:
      sla: {isl: 4000, osl: 500, ttft: 500.0, itl: 30.0}
      sweep: {use_ai_configurator: true, aic_system: h200_sxm, aic_backend_version: '0.20.0'}
      hardware: {num_gpus_per_node: 8}
";

fn parse(text: &str) -> Result<ProfileRequest, Error> {
    ProfileRequest::from_yaml_str(text, "req.yaml", &Overrides::default())
}

#[test]
fn nodes_of_fewer_gpus_narrow_a_node_sized_nvlink_domain() {
    let cat = servesim_models::hardware::GpuCatalog::builtin();
    let four = parse(&NEWER.replace("numGpusPerNode: 8", "numGpusPerNode: 4")).unwrap();
    let h200 = four.gpu_on_its_nodes(cat.get("h200_sxm").unwrap());
    assert_eq!((h200.gpus_per_node, h200.nvlink_domain()), (4, 4));
    // An NVL72 rack stays one domain of its trays, however many GPUs a node.
    let gb200 = four.gpu_on_its_nodes(cat.get("gb200").unwrap());
    assert_eq!((gb200.gpus_per_node, gb200.nvlink_domain()), (4, 72));
}

#[test]
fn both_forms_give_the_same_request() {
    let a = parse(NEWER).unwrap();
    let b = parse(OLDER).unwrap();
    assert_eq!(a.form, RequestForm::Newer);
    assert_eq!(b.form, RequestForm::Older);
    for r in [&a, &b] {
        assert_eq!((r.isl, r.osl, r.total_gpus, r.max_tp), (4000, 500, 8, 8));
        assert_eq!((r.ttft_ms, r.itl_ms), (500.0, 30.0));
        assert_eq!(r.gpu, "h200_sxm");
    }
    assert_eq!(a.ignored, vec!["spec.autoApply"]);
    assert!(a.assumed.is_empty());
    assert_eq!(
        b.ignored,
        vec![
            "spec.profilingConfig.profilerImage",
            "spec.profilingConfig.config.sweep.use_ai_configurator",
            "spec.profilingConfig.config.sweep.aic_backend_version",
        ]
    );
    assert!(b.assumed[0].contains("total GPUs: 8"), "{:?}", b.assumed);
}

#[test]
fn a_model_timed_as_a_built_in_of_another_name_says_so() {
    let said = |model: &str| {
        let r =
            parse(&NEWER.replace("model: Qwen/Qwen3-32B-FP8", &format!("model: {model}"))).unwrap();
        r.assumed.into_iter().find(|a| a.starts_with("model: "))
    };
    assert_eq!(said("Qwen/Qwen3-32B-FP8"), None);
    assert_eq!(
        said("Qwen/Qwen3-32B-Instruct").as_deref(),
        Some("model: 'Qwen/Qwen3-32B-Instruct' is timed as the built-in Qwen3-32B (bf16 weights)")
    );
}

#[test]
fn a_target_the_profiler_cannot_meet_is_refused_not_dropped() {
    let e = parse(&NEWER.replace("ttft: 500, ", "ttft: 500, e2eLatency: 9000, "))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("spec.sla.e2eLatency: not a target"), "{e}");
    // Dynamo's optimisation type ranks deployments: it is no target, only ignored.
    let r =
        parse(&NEWER.replace("ttft: 500, ", "ttft: 500, optimizationType: throughput, ")).unwrap();
    assert!(r.ignored.contains(&"spec.sla.optimizationType".to_string()));
}

#[test]
fn errors_name_the_field() {
    let e = parse(&NEWER.replace("ttft: 500, ", "")).unwrap_err();
    assert!(e.to_string().starts_with("spec.sla.ttft: missing"), "{e}");
    // A misspelt field is ignored, and named where its absence is the error.
    let e = parse(&NEWER.replace("  sla:", "  slaa:"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("spec.sla.ttft: missing")
            && e.ends_with(
                "(the request has `spec.slaa`, which is ignored: did you mean `spec.sla`?)"
            ),
        "{e}"
    );
    let e = parse(&NEWER.replace("ttft: 500", "tfft: 500"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean `spec.sla.ttft`"), "{e}");
    let e = parse(&NEWER.replace("ttft: 500, ", ""))
        .unwrap_err()
        .to_string();
    assert!(
        !e.contains("did you mean"),
        "autoApply is no misspelling: {e}"
    );
    // An optional field misspelt would be dropped for its default: refused instead.
    let e = parse(&NEWER.replace("totalGpus: 8", "totalGPUs: 16"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("spec.hardware.totalGPUs: not a field this profiler reads")
            && e.contains("did you mean `spec.hardware.totalGpus`, which the request"),
        "{e}"
    );
    let e = parse(&NEWER.replace("osl: 500}", "osl: 500, requestrate: 2}"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("did you mean `spec.workload.requestRate`"),
        "{e}"
    );
    // Dynamo's own field two characters from one read here is another field, and a
    // field the command line gives is not left to its default: only ignored.
    let older = OLDER.replace(
        "hardware: {num_gpus_per_node: 8}",
        "hardware: {num_gpus_per_node: 8, min_num_gpus_per_engine: 2}",
    );
    assert!(parse(&older).is_ok());
    let given = Overrides {
        total_gpus: Some(16),
        ..Overrides::default()
    };
    let typo = NEWER.replace("totalGpus: 8", "totalGPUs: 16");
    let r = ProfileRequest::from_yaml_str(&typo, "req.yaml", &given).unwrap();
    assert_eq!(r.total_gpus, 16);
    // Given beside the field it resembles, it is only ignored.
    let both = NEWER.replace("totalGpus: 8", "totalGpus: 8, totalGPUs: 16");
    assert!(
        parse(&both)
            .unwrap()
            .ignored
            .contains(&"spec.hardware.totalGPUs".to_string())
    );
    let e = parse(&NEWER.replace("ttft: 500", "ttft: fast")).unwrap_err();
    assert!(e.to_string().contains("spec.sla.ttft"), "{e}");
    // The path once, not again in front of serde's own message.
    assert!(
        !e.to_string().contains("spec.sla.ttft: spec.sla.ttft"),
        "{e}"
    );
    let e = parse(&NEWER.replace("ttft: 500", "ttft: -5")).unwrap_err();
    assert!(e.to_string().starts_with("spec.sla.ttft: must be"), "{e}");
    // Targets no serving latency has: out of range, in few digits.
    let e = parse(&NEWER.replace("itl: 30", "itl: 1e308")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "spec.sla.itl: must be a latency target of 0.001 to 3600000 ms, got 1e308"
    );
    let e = parse(&NEWER.replace("nvidia.com/v1alpha1", "apps/v1")).unwrap_err();
    assert!(e.to_string().starts_with("apiVersion: 'apps/v1'"), "{e}");
    let e = parse(&NEWER.replace("isl: 4000", "isl: 40.5")).unwrap_err();
    assert!(e.to_string().starts_with("spec.workload.isl"), "{e}");
    let e = parse(&NEWER.replace("h200_sxm", "h900")).unwrap_err();
    assert!(e.to_string().starts_with("spec.hardware.gpuSku"), "{e}");
    let e = parse(&NEWER.replace("Qwen/Qwen3-32B-FP8", "nobody/Nothing-7B")).unwrap_err();
    assert!(e.to_string().starts_with("spec.model"), "{e}");
    let e = parse(&NEWER.replace("backend: vllm", "backend: onnx")).unwrap_err();
    assert!(e.to_string().starts_with("spec.backend"), "{e}");
    // A field in both forms with two values.
    let both = NEWER.replace(
        "  autoApply: true",
        "  profilingConfig: {config: {sla: {ttft: 800}}}",
    );
    let e = parse(&both).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("spec.sla.ttft: 500, but spec.profilingConfig.config.sla.ttft says 800"),
        "{e}"
    );
    let e = parse(&NEWER.replace("numGpusPerNode: 8", "numGpusPerNode: 16")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("spec.hardware.numGpusPerNode: 16 is more than a h200_sxm node's 8"),
        "{e}"
    );
    let e = parse(&NEWER.replace("totalGpus: 8", "totalGpus: 0")).unwrap_err();
    assert!(e.to_string().starts_with("spec.hardware.totalGpus"), "{e}");
    let e = parse(&OLDER.replace("ttft: 500.0, ", "")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("spec.profilingConfig.config.sla.ttft: missing"),
        "{e}"
    );
    let e = parse(&OLDER.replace("aic_system: h200_sxm, ", "")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("spec.profilingConfig.config.sweep.aic_system: missing"),
        "{e}"
    );
    let e = parse(&NEWER.replace("kind: DynamoGraphDeploymentRequest", "kind: Pod")).unwrap_err();
    assert!(e.to_string().starts_with("kind:"), "{e}");
    let e = parse("spec: [1, 2").unwrap_err();
    assert!(e.to_string().contains("req.yaml"), "{e}");
    let e = parse("- 1").unwrap_err();
    assert!(e.to_string().contains("mapping"), "{e}");
    let e =
        parse(&NEWER.replace("osl: 500", "osl: 500, requestRate: 2, concurrency: 4")).unwrap_err();
    assert!(e.to_string().starts_with("spec.workload:"), "{e}");
    // Beyond a million requests/s the worker counts no longer fit the search's integers.
    let e = parse(&NEWER.replace("osl: 500", "osl: 500, requestRate: 1e30")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("spec.workload.requestRate: must be at most 1000000"),
        "{e}"
    );
    assert!(parse(&NEWER.replace("osl: 500", "osl: 500, requestRate: 1e6")).is_ok());
}

#[test]
fn flags_override_the_file() {
    let o = Overrides {
        ttft_ms: Some(300.0),
        total_gpus: Some(16),
        isl: Some(1000),
        concurrency: Some(64),
        gpu: Some("h100_sxm".into()),
        ..Overrides::default()
    };
    let r = ProfileRequest::from_yaml_str(NEWER, "x", &o).unwrap();
    assert_eq!(
        (
            r.ttft_ms,
            r.total_gpus,
            r.isl,
            r.concurrency,
            r.gpu.as_str()
        ),
        (300.0, 16, 1000, Some(64), "h100_sxm")
    );
    // A flag fills a missing field.
    let r = ProfileRequest::from_yaml_str(&NEWER.replace("ttft: 500, ", ""), "x", &o).unwrap();
    assert_eq!(r.ttft_ms, 300.0);
    let e = ProfileRequest::from_yaml_str(
        NEWER,
        "x",
        &Overrides {
            itl_ms: Some(f64::NAN),
            ..Overrides::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("--itl"), "{e}");
}
