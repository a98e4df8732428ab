//! Property: no worker the profiler proposes overfills a GPU. For every built-in model, GPU,
//! backend and request size, each worker split the search keeps (TP, TP × EP, attention DP
//! × EP, wide-EP workers of up to 64 GPUs in an NVL72 rack or over several nodes where the
//! request allows more GPUs an engine) holds on its fullest GPU its
//! weights, the KV cache it is planned with and the activation reserve, within the GPU's
//! memory.

use proptest::prelude::*;
use servesim::profiler::search::Search;
use servesim::profiler::{Overrides, ProfileRequest};
use servesim_models::hardware::GpuCatalog;
use servesim_models::llm::{LlmSpec, RESERVED_BYTES_PER_GPU};

const REQUEST: &str = "
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeploymentRequest
metadata: {name: memory}
spec:
  model: MODEL
  backend: BACKEND
  sla: {ttft: 500, itl: 30}
  workload: {isl: ISL, osl: OSL}
  hardware: {gpuSku: GPU, totalGpus: TOTAL, numGpusPerNode: PER_NODE}
";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn no_proposed_worker_overfills_its_gpus(
        model in 0usize..LlmSpec::builtin_names().len(),
        gpu in 0usize..16,
        backend in prop::sample::select(vec!["vllm", "sglang", "trtllm"]),
        isl in 128u32..16_384,
        osl in 16u32..4_096,
        total in prop::sample::select(vec![8u32, 64, 72]),
        per_engine in prop::sample::select(vec![0u32, 16, 64]),
    ) {
        let catalog = GpuCatalog::builtin();
        let gpus: Vec<&str> = catalog.names().collect();
        let gpu = catalog.get(gpus[gpu % gpus.len()]).unwrap().clone();
        let name = LlmSpec::builtin_names()[model];
        let text = REQUEST
            .replace("MODEL", name)
            .replace("BACKEND", backend)
            .replace("GPU", &gpu.sku)
            .replace("TOTAL", &total.to_string())
            .replace("PER_NODE", &gpu.gpus_per_node.to_string())
            .replace("ISL", &isl.to_string())
            .replace("OSL", &osl.to_string())
            + &if per_engine > 0 {
                format!(
                    "  profilingConfig:\n    config:\n      hardware: \
                     {{max_num_gpus_per_engine: {per_engine}}}\n"
                )
            } else {
                String::new()
            };
        let Ok(req) = ProfileRequest::from_yaml_str(&text, "memory", &Overrides::default()) else {
            return Ok(()); // a combination the request itself refuses (e.g. an unknown SKU)
        };
        let Ok(search) = Search::new(&req, &gpu) else {
            return Ok(()); // no kernel timings for this GPU and backend: nothing proposed
        };
        let llm = servesim::profiler::search::served_llm(name).unwrap();
        for w in &search.workers {
            let par = w.split.parallelism();
            let weights = llm.weight_bytes_per_gpu(&par).unwrap() as f64;
            // The KV is pooled over the attention replicas: each GPU holds its replica's share.
            let kv_per_gpu = (w.kv_tokens / u64::from(w.split.attention_dp)) as f64
                * llm.kv_bytes_per_token_per_gpu(w.split.tp) as f64;
            let used = weights + kv_per_gpu + RESERVED_BYTES_PER_GPU as f64;
            prop_assert!(
                used <= gpu.memory_bytes,
                "{name} {} on {} ({backend}): {:.1} GB weights + {:.1} GB KV + reserve > {:.1} GB",
                w.split.label(), gpu.sku, weights / 1e9, kv_per_gpu / 1e9, gpu.memory_bytes / 1e9
            );
            prop_assert!(w.kv_tokens >= u64::from(isl + osl), "a worker holds one request");
        }
    }
}
