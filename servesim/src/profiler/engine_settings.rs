//! What the profiler's deployments set on each engine beyond its split and batch, as
//! Dynamo's own profiler writes them.
//!
//! Dynamo's profiler (1.6.1, `dynamo/profiler/rapid.py`) renders its DGDs through
//! aiconfigurator's generator with the default rules, `generator/rule_plugin/{trtllm,sglang,
//! vllm}.rule` of aiconfigurator 0.12.0:
//! - **CUDA graphs**: TensorRT-LLM and SGLang aggregated and decode workers get
//!   `cuda_graph_batch_sizes` = 1–16, then steps of 4 to 32, of 8 to 64, of 16 to 128, of 32
//!   to 256 and of 64 to 512, and every size within 8 of the worker's `max_batch_size`, with
//!   `cuda_graph_enable_padding` on: every decode step of at most `max_batch_size + 8`
//!   sequences replays a graph, padded to the next captured size. Without them TensorRT-LLM's
//!   defaults leave most sizes above 32 uncaptured and unpadded, so those steps launch every
//!   kernel from the host ([`CudaGraphs::for_backend`]). vLLM workers get no sizes (its rule
//!   writes none): its defaults pad every decode batch up to its largest graph. Prefill
//!   workers run no decode-only steps and get none either.
//! - **TensorRT-LLM's overlap scheduler** is turned off on prefill workers (`prefill
//!   disable_overlap_scheduler = true`): a prompt arriving during an iteration joins the
//!   next one, as the fast model's prefill queue takes it.
//! - **SGLang's mixed chunks**: aggregated SGLang workers get `enable_mixed_chunk` (`agg
//!   enable_mixed_chunk = true`), so a prefill batch carries the running decode batch with
//!   it (`Scheduler.get_new_batch_prefill`, `mix_with_running`, SGLang 0.5.9) instead of
//!   stopping it, as the fast model's mixed iterations assume.
//! - **Token budgets** sized to the request's prompts ([`deployed_token_budget`]):
//!   TensorRT-LLM's `max_num_tokens` is the prompt and 500 tokens for a prefill worker and
//!   the batch, the prompt and 500 for an aggregated one, rounded up to its 32-token blocks;
//!   vLLM's `--max-num-batched-tokens` the same with 1,500; SGLang's `--max-prefill-tokens`
//!   the prompt and 1,500 (its chunked-prefill size still bounds a chunk). So a prefill
//!   worker of prompts longer than 500 tokens (1,500 under vLLM and SGLang) takes one whole
//!   prompt an iteration, where the backends' own 8,192 tokens would batch several. Decode
//!   workers' budgets equal their batch, which `max_batch_size` already bounds.
//! - **The KV hand-off** of prefill and decode workers: SGLang's over NIXL, TensorRT-LLM's
//!   cache transceiver sized to a whole request ([`engine_args`]); vLLM's NIXL connector
//!   and every backend's `--disaggregation-mode` are written with the worker (`output.rs`).

use serde_json::{Value, json};
use servesim_models::backend::Backend;
use servesim_models::dtype::Dtype;
use servesim_models::engine::cuda_graph::CudaGraphs;
use servesim_models::llm::DEFAULT_MEM_FRACTION;

use super::candidate::Split;

/// Largest size of the ladder captured whatever the batch.
const LADDER_TOP: u32 = 512;
/// The window of every size around the worker's `max_batch_size`.
const WINDOW: u32 = 8;

/// The graph sizes the DGD gives an aggregated or decode worker of `backend` whose ranks each
/// hold at most `max_batch` sequences, padded (see the module documentation); `None` where the
/// backend keeps its own defaults.
pub fn deployed_batch_sizes(backend: Backend, max_batch: u32) -> Option<Vec<u32>> {
    match backend {
        Backend::Trtllm | Backend::Sglang => {
            let mut sizes = ladder();
            sizes.extend(max_batch.saturating_sub(WINDOW).max(1)..=max_batch + WINDOW);
            sizes.sort_unstable();
            sizes.dedup();
            Some(sizes)
        }
        Backend::Vllm => None,
    }
}

/// Which of aiconfigurator's generator rule sets wrote a deployment. They differ only in
/// TensorRT-LLM's token budget ([`deployed_token_budget`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeneratorRules {
    /// The default rules (`generator/rule_plugin/*.rule` of 0.12.0), which Dynamo's
    /// profiler deploys: TensorRT-LLM's budget is the prompt and 500 tokens, rounded up to
    /// its 32-token blocks.
    Default,
    /// The rules of the deployments aiconfigurator benchmarks, the measured rows'
    /// (`generator/backends/trtllm.py` of 0.3.0, `generator/rule_plugin/*.rule` of 0.5.0,
    /// `rule_plugin/benchmark/*.rule` of 0.8.0 to 0.12.0): TensorRT-LLM's `max_num_tokens`
    /// is the prompt and 1,500 tokens (with the batch for an aggregated worker), as vLLM's
    /// `--max-num-batched-tokens` and SGLang's `--max-prefill-tokens` are under either rule
    /// set. The benchmark rules of 0.8.0 on round TensorRT-LLM's up to a 32-token block, the
    /// earlier ones do not; not followed (at most 31 tokens).
    Benchmark,
}

/// Tokens `rules` let a `role` worker of `backend` schedule in one iteration, per
/// attention-DP rank, for prompts of `isl` tokens and ranks of at most `max_batch` sequences,
/// as they write them (see the module documentation); `None` where they leave the backend's
/// default (decode workers, and TensorRT-LLM and vLLM aggregated workers without a batch).
pub fn deployed_token_budget(
    rules: GeneratorRules,
    backend: Backend,
    role: &str,
    isl: u32,
    max_batch: Option<u32>,
) -> Option<u32> {
    let trtllm = |tokens: u32| match rules {
        GeneratorRules::Default => trtllm_blocks(tokens.saturating_add(TRTLLM_PROMPT_SLACK)),
        GeneratorRules::Benchmark => tokens.saturating_add(PROMPT_SLACK),
    };
    match (backend, role) {
        (Backend::Trtllm, "prefill") => Some(trtllm(isl)),
        (Backend::Trtllm, "aggregated") => Some(trtllm(max_batch?.saturating_add(isl))),
        (Backend::Vllm, "prefill") => Some(isl.saturating_add(PROMPT_SLACK)),
        (Backend::Vllm, "aggregated") => {
            Some(max_batch?.saturating_add(isl).saturating_add(PROMPT_SLACK))
        }
        (Backend::Sglang, "prefill" | "aggregated") => Some(sglang_max_prefill_tokens(isl)),
        _ => None,
    }
}

/// The tokens a worker of `backend` schedules in one iteration under the DGD's `written`
/// budget: SGLang's chunked-prefill size `sglang_chunk` still bounds a chunk, since
/// `--max-prefill-tokens` only stops more requests joining a prefill batch (its first is
/// taken whatever its size) while the chunked-prefill size truncates one
/// (`rem_input_tokens` and `rem_chunk_tokens` of `PrefillAdder.add_one_req`,
/// `managers/schedule_policy.py` in SGLang 0.5.5.post2); the others take it whole.
pub fn scheduled_tokens(backend: Backend, written: u32, sglang_chunk: u32) -> u32 {
    match backend {
        Backend::Sglang => written.min(sglang_chunk),
        Backend::Trtllm | Backend::Vllm => written,
    }
}

/// SGLang's `--max-prefill-tokens` in the DGD for prompts of `isl` tokens.
fn sglang_max_prefill_tokens(isl: u32) -> u32 {
    isl.saturating_add(PROMPT_SLACK)
}

/// Tokens the default rules add to a prompt in a TensorRT-LLM worker's budget.
const TRTLLM_PROMPT_SLACK: u32 = 500;
/// Tokens the generator adds to a prompt in a vLLM or SGLang worker's budget (and, under
/// its benchmark rules, a TensorRT-LLM worker's).
const PROMPT_SLACK: u32 = 1500;
/// TensorRT-LLM's `tokens_per_block` in the DGD, to which its budget is rounded up.
const TRTLLM_BLOCK_TOKENS: u32 = 32;

/// `tokens` rounded up to whole TensorRT-LLM KV blocks, as the default rules write its token
/// counts (`max_num_tokens`, the cache transceiver's buffer).
fn trtllm_blocks(tokens: u32) -> u32 {
    tokens
        .div_ceil(TRTLLM_BLOCK_TOKENS)
        .saturating_mul(TRTLLM_BLOCK_TOKENS)
}

/// Whether the DGD turns the overlap scheduler off on a `role` worker of `backend`.
pub fn stops_overlap(backend: Backend, role: &str) -> bool {
    backend == Backend::Trtllm && role == "prefill"
}

/// Whether the DGD has an aggregated worker of `backend` mix prefill chunks into its decode
/// batches where the backend would not by default: SGLang's `--enable-mixed-chunk`.
pub fn mixes_chunks(backend: Backend) -> bool {
    backend == Backend::Sglang
}

/// The graphs a rank of a worker of `tp` GPUs has in the fast model: vLLM's defaults (for
/// its default `max_num_seqs`, whose sizes cover every batch the search gives it); for
/// TensorRT-LLM and SGLang the ladder, then every size up to the search's largest batch,
/// `max_batch`.
/// A candidate's batch is only known once its step time is, so above the ladder every size
/// counts as captured: the DGD's window holds the steps near the batch, and only a rank
/// running more than 512 sequences and more than 8 below its batch pads further than here.
pub fn fast_model_graphs(
    backend: Backend,
    default_max_num_seqs: u32,
    tp: u32,
    max_batch: u32,
) -> CudaGraphs {
    match backend {
        Backend::Trtllm | Backend::Sglang => {
            let mut sizes = ladder();
            sizes.extend(LADDER_TOP + 1..=max_batch + WINDOW);
            CudaGraphs::new(sizes, true)
        }
        Backend::Vllm => CudaGraphs::for_backend(backend, default_max_num_seqs, tp),
    }
}

/// A `role` worker's CUDA graphs ([`deployed_batch_sizes`], for ranks of `max_batch`
/// sequences), token budget for prompts of `isl` tokens ([`deployed_token_budget`]),
/// TensorRT-LLM's attention replicas and overlap scheduler ([`stops_overlap`]), and how a
/// disaggregated worker hands its KV over, in its engine's own arguments: vLLM's
/// `--max-num-batched-tokens`; SGLang's `--max-prefill-tokens`, `--cuda-graph-bs` (it always
/// pads) and `--disaggregation-transfer-backend`; for TensorRT-LLM one
/// `--override-engine-args` JSON (Dynamo's `dynamo.trtllm` merges it into the LLM API's
/// arguments) holding `enable_attention_dp`, `disable_overlap_scheduler`, `max_num_tokens`,
/// `cuda_graph_config` (`batch_sizes`, `enable_padding`) and `cache_transceiver_config`.
///
/// The KV hand-off, as aiconfigurator 0.12.0's default rules write it for prefill and
/// decode workers: SGLang's over NIXL (`prefill_decode kv_transfer_backend = "nixl"` in
/// `rule_plugin/sglang.rule`; SGLang's own default is Mooncake), TensorRT-LLM's cache
/// transceiver with a buffer of a whole request of `isl + osl` tokens and 500 more in
/// 32-token blocks (`prefill_decode cache_transceiver_max_tokens_in_buffer` in
/// `rule_plugin/trtllm.rule`, its backend `DEFAULT` as `extra_engine_args.1.0.0.yaml.j2`
/// writes it).
///
/// An FP8 KV cache (the profiler serves per-tensor FP8 weights with one,
/// `search::served_llm`) is asked for as aiconfigurator 0.12.0's generator asks
/// (`kv_cache_dtype` in `generator/config/backend_config_mapping.yaml`): vLLM's
/// `--kv-cache-dtype fp8`, SGLang's `--kv-cache-dtype fp8_e4m3` (it takes no bare `fp8`),
/// TensorRT-LLM's `kv_cache_config.dtype: fp8`. Each engine's default (`auto`) keeps the
/// checkpoint's dtype, which for an FP8 checkpoint without KV scales is 16-bit: a worker
/// sized for an FP8 cache would hold half the tokens it was judged with. Dynamo 1.6.1's
/// TensorRT-LLM worker builds its `kv_cache_config` as an object, which an override replaces
/// whole (`deep_update` merges dicts only, `dynamo/trtllm/workers/llm_worker.py`), so the
/// override also carries the memory share the search sized with (Dynamo's own default,
/// 0.9).
pub fn engine_args(
    backend: Backend,
    role: &str,
    split: Split,
    max_batch: Option<u32>,
    (isl, osl): (u32, u32),
    kv: Dtype,
) -> Vec<String> {
    let fp8_kv = kv == Dtype::Fp8;
    let hands_over = matches!(role, "prefill" | "decode");
    let sizes = max_batch.and_then(|b| deployed_batch_sizes(backend, b));
    let budget = deployed_token_budget(GeneratorRules::Default, backend, role, isl, max_batch);
    match backend {
        Backend::Vllm => {
            let mut args = Vec::new();
            if let Some(t) = budget {
                args.extend(["--max-num-batched-tokens".into(), t.to_string()]);
            }
            if fp8_kv {
                args.extend(["--kv-cache-dtype".into(), "fp8".into()]);
            }
            args
        }
        Backend::Sglang => {
            // Written for every role (`agg_prefill_decode max_prefill_tokens`); a decode
            // worker prefills nothing, so its budget is moot.
            let mut args = vec![
                "--max-prefill-tokens".to_string(),
                sglang_max_prefill_tokens(isl).to_string(),
            ];
            if let Some(sizes) = sizes {
                args.push("--cuda-graph-bs".to_string());
                args.extend(sizes.iter().map(u32::to_string));
            }
            if hands_over {
                args.extend(["--disaggregation-transfer-backend".into(), "nixl".into()]);
            }
            if fp8_kv {
                args.extend(["--kv-cache-dtype".into(), "fp8_e4m3".into()]);
            }
            args
        }
        Backend::Trtllm => {
            let mut o = serde_json::Map::new();
            if let Some(t) = budget {
                o.insert("max_num_tokens".into(), json!(t));
            }
            if split.attention_dp > 1 {
                o.insert("enable_attention_dp".into(), json!(true));
            }
            if stops_overlap(backend, role) {
                o.insert("disable_overlap_scheduler".into(), json!(true));
            }
            if let Some(sizes) = sizes {
                o.insert(
                    "cuda_graph_config".into(),
                    json!({"batch_sizes": sizes, "enable_padding": true}),
                );
            }
            if fp8_kv {
                o.insert(
                    "kv_cache_config".into(),
                    json!({"dtype": "fp8", "free_gpu_memory_fraction": DEFAULT_MEM_FRACTION}),
                );
            }
            if hands_over {
                let request = isl.saturating_add(osl).saturating_add(TRTLLM_PROMPT_SLACK);
                let buffer = trtllm_blocks(request);
                o.insert(
                    "cache_transceiver_config".into(),
                    json!({"backend": "DEFAULT", "max_tokens_in_buffer": buffer}),
                );
            }
            if o.is_empty() {
                Vec::new()
            } else {
                vec![
                    "--override-engine-args".into(),
                    Value::Object(o).to_string(),
                ]
            }
        }
    }
}

/// 1–16, then steps of 4 to 32, of 8 to 64, of 16 to 128, of 32 to 256 and of 64 to 512.
fn ladder() -> Vec<u32> {
    let steps = [(16, 4), (32, 8), (64, 16), (128, 32), (256, 64)];
    let mut sizes: Vec<u32> = (1..=16).collect();
    for (from, step) in steps {
        sizes.extend((from + step..=from * 2).step_by(step as usize));
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;
    use servesim_models::engine::cuda_graph::GraphStep;

    #[test]
    fn the_ladder_is_aiconfigurators() {
        let l = ladder();
        assert_eq!(
            &l[..18],
            &[
                1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 24
            ]
        );
        assert_eq!(&l[l.len() - 4..], &[320, 384, 448, 512]);
        assert!(l.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn trtllm_and_sglang_workers_capture_the_ladder_and_their_batch() {
        for b in [Backend::Trtllm, Backend::Sglang] {
            let s = deployed_batch_sizes(b, 157).unwrap();
            assert!(s.contains(&160) && s.contains(&149) && s.contains(&165));
            assert!(!s.contains(&148) && !s.contains(&166));
            let g = CudaGraphs::new(s, true);
            // No decode step up to the batch runs eagerly.
            assert!((1..=165).all(|n| g.step(n) != GraphStep::Eager));
            assert_eq!(g.step(37), GraphStep::Replay { batch: 40 });
            assert_eq!(g.step(150), GraphStep::Replay { batch: 150 });
        }
        assert_eq!(deployed_batch_sizes(Backend::Vllm, 157), None);
        // A batch of a few keeps sizes from 1.
        assert_eq!(deployed_batch_sizes(Backend::Trtllm, 4).unwrap()[0], 1);
    }

    #[test]
    fn the_fast_model_replays_a_graph_at_every_batch() {
        let g = fast_model_graphs(Backend::Trtllm, 2048, 1, 1024);
        assert!((1..=1032).all(|n| g.step(n) != GraphStep::Eager));
        assert_eq!(g.step(37), GraphStep::Replay { batch: 40 });
        assert_eq!(g.step(600), GraphStep::Replay { batch: 600 });
        assert_eq!(
            fast_model_graphs(Backend::Vllm, 1024, 1, 1024),
            CudaGraphs::for_backend(Backend::Vllm, 1024, 1)
        );
    }

    #[test]
    fn workers_are_told_their_cuda_graphs_in_their_engines_arguments() {
        let dp8 = Split {
            tp: 1,
            attention_dp: 8,
            ep: 8,
        };
        let trt = engine_args(
            Backend::Trtllm,
            "decode",
            dp8,
            Some(20),
            (4000, 500),
            Dtype::Bf16,
        );
        assert_eq!(trt[0], "--override-engine-args");
        let o: Value = serde_json::from_str(&trt[1]).unwrap();
        assert_eq!(o["enable_attention_dp"], json!(true));
        assert_eq!(o["cuda_graph_config"]["enable_padding"], json!(true));
        let sizes = o["cuda_graph_config"]["batch_sizes"].as_array().unwrap();
        assert_eq!(
            sizes.len(),
            deployed_batch_sizes(Backend::Trtllm, 20).unwrap().len()
        );
        assert_eq!(sizes.last(), Some(&json!(512)));
        assert_eq!(o.get("disable_overlap_scheduler"), None);
        assert_eq!(
            o.get("max_num_tokens"),
            None,
            "a decode worker keeps its own"
        );
        // Its KV arrives through the cache transceiver, with room for a whole request: the
        // prompt, the answer and 500 tokens in whole 32-token blocks.
        assert_eq!(
            o["cache_transceiver_config"],
            json!({"backend": "DEFAULT", "max_tokens_in_buffer": 5024})
        );
        // A prefill worker: attention replicas, no overlap scheduler, no graphs, a budget of
        // the prompt and 500 tokens in whole 32-token blocks.
        let prefill = engine_args(
            Backend::Trtllm,
            "prefill",
            dp8,
            None,
            (4000, 500),
            Dtype::Bf16,
        );
        assert_eq!(
            prefill[1],
            r#"{"cache_transceiver_config":{"backend":"DEFAULT","max_tokens_in_buffer":5024},"disable_overlap_scheduler":true,"enable_attention_dp":true,"max_num_tokens":4512}"#
        );
        let tp4 = Split::tensor(4);
        let agg = engine_args(
            Backend::Trtllm,
            "aggregated",
            tp4,
            None,
            (4000, 500),
            Dtype::Bf16,
        );
        assert!(agg.is_empty(), "no batch, no budget: {agg:?}");
        let sglang = engine_args(
            Backend::Sglang,
            "decode",
            Split::tensor(2),
            Some(4),
            (4000, 500),
            Dtype::Bf16,
        );
        assert_eq!(
            &sglang[..4],
            &["--max-prefill-tokens", "5500", "--cuda-graph-bs", "1"]
        );
        assert!(
            sglang.ends_with(&["--disaggregation-transfer-backend".into(), "nixl".into()]),
            "{sglang:?}"
        );
        assert_eq!(
            engine_args(
                Backend::Sglang,
                "prefill",
                tp4,
                None,
                (4000, 500),
                Dtype::Bf16
            ),
            [
                "--max-prefill-tokens",
                "5500",
                "--disaggregation-transfer-backend",
                "nixl"
            ]
        );
        assert_eq!(
            engine_args(
                Backend::Sglang,
                "aggregated",
                tp4,
                None,
                (4000, 500),
                Dtype::Bf16
            ),
            ["--max-prefill-tokens", "5500"]
        );
        assert!(
            engine_args(
                Backend::Vllm,
                "decode",
                Split::tensor(2),
                Some(64),
                (4000, 500),
                Dtype::Bf16
            )
            .is_empty()
        );
        assert_eq!(
            engine_args(
                Backend::Vllm,
                "aggregated",
                Split::tensor(2),
                Some(64),
                (4000, 500),
                Dtype::Bf16
            ),
            ["--max-num-batched-tokens", "5564"]
        );
    }

    #[test]
    fn an_fp8_kv_cache_is_asked_for_in_each_engines_words() {
        let tp2 = Split::tensor(2);
        let args = |b| engine_args(b, "decode", tp2, Some(64), (4000, 500), Dtype::Fp8);
        let vllm = args(Backend::Vllm);
        assert!(
            vllm.ends_with(&["--kv-cache-dtype".into(), "fp8".into()]),
            "{vllm:?}"
        );
        let sglang = args(Backend::Sglang);
        assert!(
            sglang.ends_with(&["--kv-cache-dtype".into(), "fp8_e4m3".into()]),
            "{sglang:?}"
        );
        let trt = args(Backend::Trtllm);
        let o: Value = serde_json::from_str(&trt[1]).unwrap();
        assert_eq!(
            o["kv_cache_config"],
            json!({"dtype": "fp8", "free_gpu_memory_fraction": 0.9})
        );
        // A 16-bit cache is each engine's own default: nothing is said.
        let bf16 = engine_args(
            Backend::Vllm,
            "decode",
            tp2,
            Some(64),
            (4000, 500),
            Dtype::Bf16,
        );
        assert!(!bf16.iter().any(|a| a.contains("kv-cache")), "{bf16:?}");
    }

    #[test]
    fn token_budgets_are_the_rules_of_aiconfigurators_generator() {
        use Backend::{Sglang, Trtllm, Vllm};
        let budget = |b, role, batch| {
            deployed_token_budget(GeneratorRules::Default, b, role, 4000, batch)
                .map(|t| scheduled_tokens(b, t, 8192))
        };
        // TensorRT-LLM: prompt + 500 (+ batch when aggregated), up to a 32-token block.
        assert_eq!(budget(Trtllm, "prefill", None), Some(4512));
        assert_eq!(budget(Trtllm, "aggregated", Some(100)), Some(4608));
        // vLLM: prompt + 1,500 (+ batch when aggregated).
        assert_eq!(budget(Vllm, "prefill", None), Some(5500));
        assert_eq!(budget(Vllm, "aggregated", Some(100)), Some(5600));
        // SGLang: prompt + 1,500, within its chunked-prefill size.
        assert_eq!(budget(Sglang, "prefill", None), Some(5500));
        assert_eq!(
            deployed_token_budget(
                GeneratorRules::Default,
                Sglang,
                "aggregated",
                8000,
                Some(64)
            )
            .map(|t| scheduled_tokens(Sglang, t, 8192)),
            Some(8192)
        );
        // Decode workers, and aggregated ones without a batch, keep the backend's.
        for b in [Trtllm, Vllm, Sglang] {
            assert_eq!(budget(b, "decode", Some(64)), None);
        }
        assert_eq!(budget(Trtllm, "aggregated", None), None);
    }
}
