//! What the deployment of a measured row set on its engines beyond the backend's defaults:
//! what aiconfigurator's generator of the day writes for the deployments it benchmarks, and
//! what the row's own release of its backend does by default.

use servesim_models::backend::Backend;
use servesim_models::engine::EngineConfig;
use servesim_models::hardware::GpuSku;

use crate::profiler::engine_settings::{GeneratorRules, deployed_token_budget, scheduled_tokens};
use crate::scenario::PoolConfig;

/// The first day aiconfigurator's generator wrote SGLang and vLLM deployments: the release
/// of 0.5.0 (2026-01-15, PyPI), whose `generator/rule_plugin/{sglang,vllm}.rule` replaced the
/// empty `generator/backends/{sglang,vllm}.py` of 0.3.0 and 0.4.0. Its TensorRT-LLM
/// generator is older than every row (0.1.0, 2025-08-12).
const SGLANG_VLLM_GENERATOR_SINCE: u32 = 20260115;

/// The first day aiconfigurator's generator ran aggregated SGLang workers with mixed chunked
/// prefill: the release of 0.6.0 (2026-02-12, PyPI).
const SGLANG_MIXED_CHUNK_SINCE: u32 = 20260212;

/// The first day aiconfigurator's generator captured every vLLM batch size: the release of
/// 0.7.0 (2026-03-12, PyPI), the first with `generator/rule_plugin/benchmark/`.
const VLLM_CAPTURE_SIZES_SINCE: u32 = 20260312;

/// vLLM's first release that schedules each step while the previous one runs by default
/// (async scheduling): 0.14.0. `SchedulerConfig.async_scheduling` is `False` up to 0.13.0,
/// and from 0.14.0 `None`, which `VllmConfig.__post_init__` turns on unless something it
/// cannot overlap is set (read in 0.14.0 and 0.18.0: speculative decoding of most kinds, a
/// Ray executor, and in 0.14.0 pipeline parallelism). The rows' vLLM deployments have none
/// of these: one node, no pipeline, no speculative decoding.
const VLLM_ASYNC_SCHEDULING: (u32, u32, u32) = (0, 14, 0);

/// What the row's own `release` of its `backend` does by default where the scenario's
/// defaults do not: vLLM from 0.14.0 schedules each step while the previous one runs (the
/// engine's overlap schedule), where nothing set before says otherwise. A row that names no
/// release keeps the scenario's default.
pub(super) fn release_settings(
    backend: Option<Backend>,
    release: Option<(u32, u32, u32)>,
    pools: &mut [PoolConfig],
) {
    if backend == Some(Backend::Vllm) && release.is_some_and(|r| r >= VLLM_ASYNC_SCHEDULING) {
        for pool in pools {
            pool.engine.overlap_schedule.get_or_insert(true);
        }
    }
}

/// Whether aiconfigurator's generator wrote a `backend` deployment measured on `measured_on`
/// (`YYYYMMDD`): a row measured before its generator had that backend was configured some
/// other way, which it does not say, so it keeps the backend's defaults. An undated row is
/// taken as the generator's (the shared rows are aiconfigurator's benchmarks).
fn generator_wrote(backend: Backend, measured_on: Option<u32>) -> bool {
    match backend {
        Backend::Trtllm => true,
        Backend::Sglang | Backend::Vllm => {
            measured_on.is_none_or(|d| d >= SGLANG_VLLM_GENERATOR_SINCE)
        }
    }
}

/// The engine settings aiconfigurator's generator writes for the deployments it benchmarks,
/// the token budget of its benchmark rules ([`GeneratorRules::Benchmark`]) among them, on `pools` of `backend` on `sku`
/// serving prompts of `isl` tokens, for a row measured on `measured_on` (`YYYYMMDD`) when it
/// says.
pub(super) fn generator_settings(
    backend: Option<Backend>,
    measured_on: Option<u32>,
    isl: u32,
    sku: &GpuSku,
    pools: &mut [PoolConfig],
) {
    let wrote = backend.filter(|&b| generator_wrote(b, measured_on));
    for pool in pools {
        let ranks = pool.attention_dp.max(1);
        let batch = pool.engine.max_num_seqs.map(|b| b.div_ceil(ranks));
        if let Some(b) = wrote
            && let Some(written) =
                deployed_token_budget(GeneratorRules::Benchmark, b, &pool.role, isl, batch)
        {
            // SGLang's chunked-prefill size (the backend's default) still bounds a chunk
            // (`scheduled_tokens` says where SGLang does so): a rank's share of the worker's
            // default budget, as the scenario's.
            let default = EngineConfig::for_backend(b, sku, pool.tp).max_batched_tokens;
            let chunk = (EngineConfig::worker_token_budget(b, default, ranks) / ranks).max(1);
            let per_rank = scheduled_tokens(b, written, chunk);
            pool.engine.max_batched_tokens = Some(per_rank.saturating_mul(ranks));
        }
        // aiconfigurator's generator captures a CUDA graph of every batch size up to the
        // engine's for TensorRT-LLM and SGLang workers of every role (`cuda_graph_batch_sizes
        // = range(1, max_batch_size + 1)` in `generator/rule_plugin/{trtllm,sglang}.rule` of
        // 0.5.0 and 0.6.0, `rule_plugin/benchmark/` of 0.7.0 to 0.12.0), and for vLLM from
        // 0.7.0 (`rule_plugin/benchmark/vllm.rule`, `--cudagraph-capture-sizes`): every decode
        // step replays the graph of its own size (a rank's, under attention DP).
        let every_size = match wrote {
            Some(Backend::Trtllm | Backend::Sglang) => true,
            Some(Backend::Vllm) => measured_on.is_some_and(|d| d >= VLLM_CAPTURE_SIZES_SINCE),
            None => false,
        };
        if every_size {
            pool.engine.cuda_graph_batch_sizes = batch.map(|b| (1..=b).collect());
        }
        match backend {
            // It turns TensorRT-LLM's overlap scheduler off on prefill workers only
            // (`disable_overlap_scheduler: true` for that role: `generator/backends/
            // trtllm.py` of 0.3.0, `rule_plugin/trtllm.rule` of 0.5.0 to 0.12.0).
            Some(Backend::Trtllm) if pool.role == "prefill" => {
                pool.engine.overlap_schedule = Some(false);
            }
            // From 0.6.0 on it runs aggregated SGLang workers with mixed chunked prefill (`agg
            // enable_mixed_chunk = true`, `--enable-mixed-chunk`: `rule_plugin/sglang.rule`
            // of 0.6.0, `rule_plugin/benchmark/sglang.rule` of 0.7.0 to 0.12.0; 0.5.0, its
            // first SGLang generator, did not): a prefill batch takes the running decodes in
            // with it (`mix_with_running` in SGLang 0.5.9's `Scheduler.get_new_batch_prefill`),
            // its prompt budget less one token each. A row measured before that release, or
            // that does not say when, keeps SGLang's default (off).
            Some(Backend::Sglang)
                if pool.role == "aggregated"
                    && measured_on.is_some_and(|d| d >= SGLANG_MIXED_CHUNK_SINCE) =>
            {
                pool.engine.mixed_batches = Some(true);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use servesim_models::hardware::GpuCatalog;

    use super::*;
    use crate::validate::row_plan::{Split, pool};

    #[test]
    fn the_token_budget_is_the_one_aiconfigurators_generator_writes() {
        let budget = |b, role, batch, isl| {
            deployed_token_budget(GeneratorRules::Benchmark, b, role, isl, batch)
        };
        // An aggregated TensorRT-LLM or vLLM worker of batch 64 serving 1024-token prompts.
        for b in [Backend::Trtllm, Backend::Vllm] {
            assert_eq!(
                budget(b, "aggregated", Some(64), 1024),
                Some(64 + 1024 + 1500)
            );
            assert_eq!(budget(b, "prefill", Some(1), 8192), Some(8192 + 1500));
            assert_eq!(budget(b, "decode", Some(64), 1024), None);
            // No batch size: the backend's default stays.
            assert_eq!(budget(b, "aggregated", None, 1024), None);
        }
        // SGLang's `--max-prefill-tokens`, whatever the batch.
        assert_eq!(
            budget(Backend::Sglang, "aggregated", Some(64), 1024),
            Some(2524)
        );
        assert_eq!(budget(Backend::Sglang, "decode", Some(64), 1024), None);
    }

    #[test]
    fn vllm_schedules_asynchronously_from_its_0_14_release_on() {
        // An aggregated worker's overlap schedule after the settings of a release, from
        // what was set before.
        let overlap = |backend, release, before| {
            let split = Split {
                tp: 2,
                dp: 1,
                ep: 1,
            };
            let mut pools = vec![pool("agg", "aggregated", split, 1, Some(8))];
            pools[0].engine.overlap_schedule = before;
            release_settings(Some(backend), release, &mut pools);
            pools[0].engine.overlap_schedule
        };
        assert_eq!(overlap(Backend::Vllm, Some((0, 18, 0)), None), Some(true));
        assert_eq!(overlap(Backend::Vllm, Some((0, 14, 0)), None), Some(true));
        assert_eq!(overlap(Backend::Vllm, Some((1, 0, 0)), None), Some(true));
        // Earlier releases and rows that name none keep the scenario's default.
        assert_eq!(overlap(Backend::Vllm, Some((0, 13, 9)), None), None);
        assert_eq!(overlap(Backend::Vllm, None, None), None);
        // Other backends' releases are not vLLM's.
        assert_eq!(overlap(Backend::Sglang, Some((0, 18, 0)), None), None);
        // A setting made before stays.
        let off = Some(false);
        assert_eq!(overlap(Backend::Vllm, Some((0, 18, 0)), off), off);
    }

    #[test]
    fn every_batch_size_is_captured_and_sglang_mixes_as_the_generator_of_the_day_writes() {
        let split = |tp, dp, ep| Split { tp, dp, ep };
        let pools = || {
            vec![
                pool("prefill", "prefill", split(4, 1, 1), 1, Some(1)),
                pool("decode", "decode", split(1, 8, 8), 1, Some(64)),
                pool("agg", "aggregated", split(8, 1, 1), 1, Some(37)),
            ]
        };
        let sizes = |p: &PoolConfig| p.engine.cuda_graph_batch_sizes.clone();
        let catalog = GpuCatalog::builtin();
        let h200 = || catalog.get("h200_sxm").unwrap();
        let mut trt = pools();
        generator_settings(
            Some(Backend::Trtllm),
            Some(20260325),
            1024,
            h200(),
            &mut trt,
        );
        assert_eq!(sizes(&trt[0]), Some(vec![1]));
        // A rank's batch under attention DP (the rows' batch sizes are a rank's).
        assert_eq!(trt[1].engine.max_num_seqs, Some(512));
        assert_eq!(sizes(&trt[1]), Some((1..=64).collect()));
        assert_eq!(sizes(&trt[2]), Some((1..=37).collect()));
        let overlap: Vec<_> = trt.iter().map(|p| p.engine.overlap_schedule).collect();
        assert_eq!(overlap, [Some(false), None, None]);
        assert!(trt.iter().all(|p| p.engine.mixed_batches.is_none()));
        let mixed = |measured_on| {
            let mut sgl = pools();
            generator_settings(Some(Backend::Sglang), measured_on, 1024, h200(), &mut sgl);
            assert_eq!(sizes(&sgl[2]), Some((1..=37).collect()));
            sgl.iter()
                .map(|p| p.engine.mixed_batches)
                .collect::<Vec<_>>()
        };
        assert_eq!(mixed(Some(20260325)), [None, None, Some(true)]);
        // Before the generator mixed, or not said: SGLang's default.
        assert_eq!(mixed(Some(20260120)), [None, None, None]);
        assert_eq!(mixed(None), [None, None, None]);
        // Before the generator wrote SGLang deployments at all: SGLang's own capture sizes.
        let mut early = pools();
        generator_settings(
            Some(Backend::Sglang),
            Some(20251110),
            1024,
            h200(),
            &mut early,
        );
        assert!(early.iter().all(|p| sizes(p).is_none()));
        assert!(generator_wrote(Backend::Trtllm, Some(20251110)));
        assert!(!generator_wrote(Backend::Vllm, Some(20251205)));
        assert!(generator_wrote(Backend::Vllm, None));
        // vLLM's generator captures every size from 0.7.0 on, and leaves batching alone.
        let vllm = |measured_on| {
            let mut v = pools();
            generator_settings(Some(Backend::Vllm), measured_on, 1024, h200(), &mut v);
            assert!(v.iter().all(|p| p.engine.mixed_batches.is_none()));
            sizes(&v[2])
        };
        assert_eq!(vllm(Some(20260327)), Some((1..=37).collect()));
        assert_eq!(vllm(Some(20260120)), None);
        assert_eq!(vllm(None), None);
    }
}
