//! What a row becomes: its pools, precision and GPU count ([`plan`]), then the scenario the
//! simulator runs for it ([`scenario_of`]), built as a value.

use std::path::Path;

use servesim_models::backend::Backend;
use servesim_models::frontend::FrontendSpec;
use servesim_models::hardware::GpuCatalog;
use servesim_models::llm::{ExpertFormat, LlmSpec};
use servesim_models::perf::dispatch::deepep_fits;
use servesim_traffic::{BenchmarkConfig, ClosedConfig, Stagger, StreamConfig, WorkloadConfig};

use crate::Error;
use crate::scenario::{
    ClusterConfig, FrontendConfig, MetricsConfig, PoolConfig, Scenario, ScenarioConfig, SloConfig,
};

use super::deployed::{generator_settings, release_settings};
use super::measured::Row;
use super::{BENCH_CLASS, Load, RECIPE_REQUESTS_PER_USER, RECIPE_WARMUP_PER_USER, RecipeClient};

/// The pools, GPU count and precision of a row.
pub(super) struct Plan {
    pools: Vec<PoolConfig>,
    pub(super) gpus: u32,
    pub(super) model: String,
    /// Weight dtype, when not the one the model name gives (`fp8_block`, `nvfp4`).
    weight_dtype: Option<&'static str>,
    /// KV-cache dtype, when not the model's.
    kv_dtype: Option<&'static str>,
    /// How the row's columns were read, where not as written.
    pub(super) note: Option<String>,
}

/// One role's split: attention TP, attention DP and expert parallelism.
#[derive(Clone, Copy)]
pub(super) struct Split {
    pub(super) tp: u32,
    pub(super) dp: u32,
    pub(super) ep: u32,
}

/// A pool of warm workers (no start-up) split by `s`, with `batch` sequences per attention
/// rank as its `max_num_seqs` when given (the rows' batch sizes are per attention-DP rank: a
/// decode worker of 8 ranks with batch 32 serves a concurrency of 256).
pub(super) fn pool(
    name: &str,
    role: &str,
    s: Split,
    workers: u32,
    batch: Option<u32>,
) -> PoolConfig {
    let mut pool = PoolConfig::new(name, role, s.tp, workers);
    pool.attention_dp = s.dp;
    pool.ep = s.ep;
    pool.startup_s = 0.0;
    pool.engine.max_num_seqs = batch.map(|b| b.saturating_mul(s.dp));
    pool
}

/// Reads the parallelism and precision columns; `Ok(Err(reason))` when not modellable.
pub(super) fn plan(row: &Row<'_>, mode: &str) -> Result<Result<Plan, String>, Error> {
    let quant = {
        let g = row.text("gemm_quant_mode");
        if g.is_empty() {
            row.text("precision")
        } else {
            g
        }
    }
    .to_ascii_lowercase();
    let model_path = row.text("model_path");
    let experts = LlmSpec::lookup(model_path)
        .ok()
        .and_then(|m| m.moe().copied());
    // A model published with MXFP4 experts (gpt-oss: the rest in bf16) on a GPU without FP4
    // tensor cores runs as published, whatever FP4 the row names: the engines' Hopper MoE
    // kernels take MXFP4 weights and bf16 activations (TensorRT-LLM's and vLLM's
    // `w4a16_mxfp4` in the MoE tables), and no FP4 GEMM exists there.
    let no_fp4 = GpuCatalog::builtin()
        .get(row.text("system"))
        .is_ok_and(|g| g.fp4_dense_flops.is_none());
    let as_published = no_fp4
        && experts.is_some_and(|m| m.expert_format == ExpertFormat::Mxfp4)
        && matches!(quant.as_str(), "fp4" | "nvfp4" | "mxfp4");
    // NVFP4 checkpoints quantise the GEMMs' weights and activations, experts included, to
    // NVFP4 (the row's `gemm_quant_mode` and `moe_quant_mode`); only GPUs with FP4 tensor
    // cores run them, which the scenario checks (naming `weight_dtype`).
    let (model, weight_dtype) = match quant.as_str() {
        "" | "bf16" | "float16" | "fp16" => (model_path.to_string(), None),
        "fp8" => (format!("{model_path}-FP8"), None),
        "fp8_block" => (format!("{model_path}-FP8"), Some("fp8_block")),
        _ if as_published => (model_path.to_string(), None),
        "nvfp4" => (model_path.to_string(), Some("nvfp4")),
        other => return Ok(Err(format!("GEMM precision '{other}' is not modelled"))),
    };
    if let Some(m) = experts {
        // The experts run in the GEMM precision (FP8 in the format of the model's own FP8
        // checkpoint, per-tensor or block-scaled, whichever the row names), or as published
        // (MXFP4).
        let moe = row.text("moe_quant_mode").to_ascii_lowercase();
        let fp8 = |q: &str| matches!(q, "fp8" | "fp8_block");
        let same = moe.is_empty() || moe == quant || (fp8(&moe) && fp8(&quant));
        let ok = if m.expert_format == ExpertFormat::Mxfp4 {
            as_published && (same || matches!(moe.as_str(), "fp4" | "nvfp4" | "mxfp4"))
        } else {
            same
        };
        if !ok {
            return Ok(Err(format!(
                "moe_quant_mode '{moe}' with GEMM precision '{quant}' is not modelled for \
                 {model_path} (experts run in the GEMM precision, or MXFP4 as published)"
            )));
        }
    }
    // TensorRT-LLM's FP8 and NVFP4 checkpoints (ModelOpt) quantise the KV cache to FP8 as
    // well (`kv_cache_quant_algo: FP8`: every FP8 and NVFP4 W4A4 recipe ModelOpt ships but a
    // GPTQ one pairs its weights with an FP8 KV cache, `modelopt_recipes/ptq.md` of
    // nvidia-modelopt 0.47.0; aiconfigurator 0.12.0 infers FP8 KV for DeepSeek-V3/R1 too,
    // `sdk/moe_comm_resolver.py`); vLLM and SGLang keep `kv_cache_dtype=auto`, the
    // activation dtype (BF16), unless told otherwise. A model served as published (gpt-oss's
    // MXFP4 experts) keeps its own. The TRT-LLM Llama-3.1-70B rows agree: 32 users of
    // 1024+8192 tokens on one H200 run without queueing, which only FP8 KV allows.
    let trtllm = row.text("backend").eq_ignore_ascii_case("trtllm");
    let kv_dtype = (trtllm && (quant.starts_with("fp8") || (quant == "nvfp4" && !as_published)))
        .then_some("fp8");
    // `moe_quant_mode` is filled for dense models too (and ignored for them).
    let prefixes: &[&str] = if mode == "agg" {
        &[""]
    } else {
        &["prefill_", "decode_"]
    };
    for p in prefixes {
        if let Some(pp) = row.count(&format!("{p}pp_size"))?
            && pp > 1
        {
            return Ok(Err(format!(
                "{p}pp_size {pp}: pipeline parallelism is not modelled"
            )));
        }
        if experts.is_none()
            && let Some(ep) = row.count(&format!("{p}moe_ep_size"))?
            && ep > 1
        {
            return Ok(Err(format!(
                "{p}moe_ep_size {ep}: expert parallelism (MoE) is not modelled"
            )));
        }
    }
    // A role's split: attention DP (a mixture of experts' only: TensorRT-LLM and SGLang
    // count a worker's GPUs as `tp × attention_dp`), and for a mixture of experts its EP,
    // `moe_tp × moe_ep` filling the worker's GPUs.
    let split_of = |p: &str, tp: u32| -> Result<Result<Split, String>, Error> {
        let dp = row
            .count(&format!("{p}attention_dp_size"))?
            .unwrap_or(1)
            .max(1);
        if experts.is_none() {
            if dp > 1 {
                return Ok(Err(format!(
                    "{p}attention_dp_size {dp}: attention data parallelism of a dense model \
                     is not modelled"
                )));
            }
            return Ok(Ok(Split { tp, dp, ep: 1 }));
        }
        let gpus = u64::from(tp) * u64::from(dp);
        let ep_given = row.count(&format!("{p}moe_ep_size"))?;
        let ep = ep_given.unwrap_or(1).max(1);
        let moe_tp_given = row.count(&format!("{p}moe_tp_size"))?;
        let moe_tp = moe_tp_given.map_or(gpus / u64::from(ep), u64::from);
        if moe_tp * u64::from(ep) != gpus {
            // The values as the row gives them, and what was read from them.
            let quoted = |given: Option<u32>, used: u64| match given {
                Some(g) if u64::from(g) == used => g.to_string(),
                Some(g) => format!("{g} (read as {used})"),
                None => format!("{used} (not given)"),
            };
            return Ok(Err(format!(
                "{p}moe_tp_size {} × {p}moe_ep_size {} is not {p}tp_size {tp} × \
                 {p}attention_dp_size {dp}: the experts must be split over the worker's GPUs",
                quoted(moe_tp_given, moe_tp),
                quoted(ep_given, u64::from(ep)),
            )));
        }
        Ok(Ok(Split { tp, dp, ep }))
    };
    let plan = match mode {
        "agg" => {
            let tp = row.required_count("tp_size")?;
            let batch = row.batch("batch_size")?;
            let split = match split_of("", tp)? {
                Ok(s) => s,
                Err(reason) => return Ok(Err(reason)),
            };
            Plan {
                pools: vec![pool("agg", "aggregated", split, 1, batch)],
                gpus: tp.saturating_mul(split.dp),
                model,
                weight_dtype,
                kv_dtype,
                note: blank_batches(&[("batch_size", batch)]),
            }
        }
        "disagg" => {
            let ptp = row.required_count("prefill_tp_size")?;
            let pw = row.required_count("prefill_num_workers")?;
            let dtp = row.required_count("decode_tp_size")?;
            let dw = row.required_count("decode_num_workers")?;
            let pb = row.batch("prefill_batch_size")?;
            let db = row.batch("decode_batch_size")?;
            let (ps, ds) = match (split_of("prefill_", ptp)?, split_of("decode_", dtp)?) {
                (Ok(p), Ok(d)) => (p, d),
                (Err(reason), _) | (_, Err(reason)) => return Ok(Err(reason)),
            };
            let gpus = ptp
                .checked_mul(ps.dp)
                .and_then(|g| g.checked_mul(pw))
                .zip(dtp.checked_mul(ds.dp).and_then(|g| g.checked_mul(dw)))
                .and_then(|(p, d)| p.checked_add(d));
            let Some(gpus) = gpus else {
                return Ok(Err(format!(
                    "the prefill and decode workers' GPUs ({ptp} × {} × {pw} + {dtp} × {} × \
                     {dw}) are more than can be simulated",
                    ps.dp, ds.dp
                )));
            };
            Plan {
                pools: vec![
                    pool("prefill", "prefill", ps, pw, pb),
                    pool("decode", "decode", ds, dw, db),
                ],
                gpus,
                model,
                weight_dtype,
                kv_dtype,
                note: blank_batches(&[("prefill_batch_size", pb), ("decode_batch_size", db)]),
            }
        }
        other => return Ok(Err(format!("mode '{other}' is neither agg nor disagg"))),
    };
    let mut plan = plan;
    if row.text("backend").eq_ignore_ascii_case("sglang") {
        plan.note = join_notes(
            sglang_wide_ep_runs_deepep(&mut plan.pools),
            plan.note.take(),
        );
    }
    Ok(Ok(plan))
}

/// The note of a row whose batch `columns` (name, value) are blank: the backend's default
/// sequences per worker, and its CUDA graphs, in their place.
fn blank_batches(columns: &[(&str, Option<u32>)]) -> Option<String> {
    let blank: Vec<&str> = (columns.iter())
        .filter(|(_, b)| b.is_none())
        .map(|(c, _)| *c)
        .collect();
    (!blank.is_empty()).then(|| {
        format!(
            "{} blank: the backend's default sequences per worker and CUDA graphs",
            blank.join(" and ")
        )
    })
}

/// Two notes as one, `; ` between them.
pub(super) fn join_notes(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    }
}

/// The closed loop of a row's users, each joining at an independent uniform time within
/// `ramp_s` (see the module documentation: users out of step).
pub(super) fn users_out_of_step(load: &Load<'_>, ramp_s: f64) -> StreamConfig {
    let users = ClosedConfig {
        ramp_s,
        stagger: Stagger::Random,
        ..ClosedConfig::one_turn_fixed(load.users, load.isl, load.osl)
    };
    StreamConfig::closed(BENCH_CLASS, users)
}

/// aiperf as aiconfigurator's recipe runs it: `--concurrency C --warmup-request-count 2·C
/// --num-requests 20·C`, fixed ISL and OSL.
/// Its users send their first request at independent uniform times within `ramp_s` (0:
/// together, as the tool starts them); its prompts come from `how`'s dataset when it has
/// one, else each is fresh, and its connections are `how`'s pool.
pub(super) fn aiperf_recipe(load: &Load<'_>, ramp_s: f64, how: RecipeClient) -> StreamConfig {
    let c = load.users;
    let client = BenchmarkConfig {
        ramp_s,
        stagger: Stagger::Random,
        dataset_entries: how.dataset_entries,
        connections: how.connections,
        ..BenchmarkConfig::concurrency(
            c,
            c.saturating_mul(RECIPE_WARMUP_PER_USER),
            c.saturating_mul(RECIPE_REQUESTS_PER_USER),
            load.isl,
            load.osl,
        )
    };
    StreamConfig::benchmark(BENCH_CLASS, client)
}

/// SGLang spreads a worker over more than one node's eight GPUs only with DeepEP:
/// aiconfigurator searches SGLang workers of more than eight GPUs (EP 16-64) only under
/// `enable_wideep` (its other SGLang workers have one to eight: `sdk/task.py` of 0.4.0 and
/// 0.8.0), which sets `moe_backend: deepep_moe` for the whole deployment (`cli/main.py` of
/// 0.8.0), and its generator writes that as `--moe-a2a-backend deepep`
/// (`backend_config_mapping.yaml`) on every worker DeepEP can serve. A deployment with no
/// worker that wide may have run either way; nothing in a row says, so it keeps SGLang's
/// default.
///
/// Under DeepEP SGLang spreads the experts over every GPU of the worker, whatever it was
/// asked: "The expert parallel size is adjusted to be the same as the tensor parallel size"
/// (`ServerArgs._handle_a2a_moe` of SGLang 0.5.5.post2), and with DP attention its tensor
/// parallel size is the worker's GPUs. One 2025-12 campaign (the SGLang 0.5.5.post2 GB200
/// rows of `workflow_run_id=227` in `data/e2e/measured_moe.csv`) records its attention-DP
/// workers' experts as `moe_tp_size` = the DP size and `moe_ep_size` 1, as aiconfigurator 0.4.0 lists
/// SGLang's narrow workers (MoE TP 1-8, EP 1); in a wide deployment those workers ran EP over
/// their GPUs. Returns the note that says so, when a recorded split was read that way.
fn sglang_wide_ep_runs_deepep(pools: &mut [PoolConfig]) -> Option<String> {
    let wide = |p: &PoolConfig| p.ep > 8 || p.parallelism().gpus() > 8;
    if !pools.iter().any(wide) {
        return None;
    }
    let mut read_as_ep = Vec::new();
    for pool in pools {
        let gpus = pool.tp.saturating_mul(pool.attention_dp);
        if pool.attention_dp > 1 && pool.ep != gpus {
            read_as_ep.push(format!(
                "{} recorded as MoE TP {} × EP {}",
                pool.role,
                gpus / pool.ep.max(1),
                pool.ep
            ));
            pool.ep = gpus;
        }
        if deepep_fits(&pool.parallelism()) {
            pool.moe_a2a_backend = Some("deepep".into());
        }
    }
    (!read_as_ep.is_empty()).then(|| {
        format!(
            "SGLang wide EP: DeepEP spreads the experts over every GPU of a worker ({})",
            read_as_ep.join(", ")
        )
    })
}

/// Builds the scenario of a modellable row, its load the one `stream`.
pub(super) fn scenario_of(
    plan: &Plan,
    row: &Row<'_>,
    load: &Load<'_>,
    stream: StreamConfig,
    seed: u64,
) -> Result<Scenario, String> {
    let gpu = row.text("system").to_string();
    let catalog = GpuCatalog::builtin();
    let sku = catalog.get(&gpu).map_err(|e| format!("unknown GPU: {e}"))?;
    let per_node = sku.gpus_per_node.max(1);
    let traffic = WorkloadConfig::of_streams(vec![stream]);
    let cluster = ClusterConfig::new(plan.gpus.div_ceil(per_node), plan.pools.clone());
    // SLOs far beyond any latency: a row judges means, not attainment.
    let slo = SloConfig {
        ttft_ms: 1.0e9,
        itl_ms: 1.0e9,
    };
    let mut config = ScenarioConfig::new(
        &plan.model,
        &gpu,
        load.backend,
        1_000_000.0,
        slo,
        cluster,
        traffic,
    );
    config.name = Some(format!("line-{}", load.line));
    config.seed = seed;
    config.kv_dtype = plan.kv_dtype.map(str::to_string);
    config.calibration = load.calibration.and_then(Path::to_str).map(str::to_string);
    config.weight_dtype = plan.weight_dtype.map(str::to_string);
    config.metrics = MetricsConfig {
        sample_interval_s: 60.0,
        keep_requests: true,
        ..MetricsConfig::default()
    };
    // The engine's own OpenAI-compatible server fronts an aggregated run, and the host costs
    // read from those runs apply there. A disaggregated run is fronted by another program
    // (TensorRT-LLM's `trtllm-serve disaggregated` proxy, SGLang's router, Dynamo's
    // frontend), of which the rows say nothing, and the wide-EP rows stream up to 390 k
    // tokens/s through it (median 116 k), far beyond the aggregated servers' ceiling of
    // 8–20 k: no frontend cost is assumed.
    let aggregated = plan.pools.iter().any(|p| p.role == "aggregated");
    config.frontend = if aggregated {
        engine_server(load.backend)
    } else {
        None
    };
    generator_settings(
        Backend::parse(load.backend).ok(),
        load.measured_on,
        load.isl,
        sku,
        &mut config.cluster.pools,
    );
    release_settings(
        Backend::parse(load.backend).ok(),
        load.release,
        &mut config.cluster.pools,
    );
    let pools = config.cluster.pools.clone();
    Scenario::validate(config, Path::new(".")).map_err(|e| in_row_terms(&e, &pools))
}

/// A scenario's error in the row's terms: the column the field came from leads it (the
/// scenario's own field follows in brackets), so that a reason names what the user can fix
/// in the file they gave.
fn in_row_terms(e: &Error, pools: &[PoolConfig]) -> String {
    let text = e.to_string();
    let column = match e.inner() {
        _ if text.contains("longer than the context") => Some("isl, osl".to_string()),
        Error::Config { path, .. } => path
            .strip_prefix("cluster.pools[")
            .and_then(|rest| rest.split_once("]."))
            .and_then(|(i, field)| {
                let role = pools.get(i.parse::<usize>().ok()?)?.role.as_str();
                let prefix = match role {
                    "prefill" => "prefill_",
                    "decode" => "decode_",
                    _ => "",
                };
                let column = match field {
                    "tp" => "tp_size",
                    "attention_dp" => "attention_dp_size",
                    "ep" => "moe_ep_size",
                    "workers" if !prefix.is_empty() => "num_workers",
                    "engine.max_num_seqs" => "batch_size",
                    _ => return None,
                };
                Some(format!("{prefix}{column}"))
            }),
        _ => None,
    };
    match column {
        Some(c) => format!("{c}: {text}"),
        None => text,
    }
}

/// The `frontend:` of a row's scenario: the backend's own OpenAI-compatible server
/// ([`FrontendSpec::engine_server`]); none for an unknown backend (the scenario names it).
fn engine_server(backend: &str) -> Option<FrontendConfig> {
    let f = FrontendSpec::engine_server(Backend::parse(backend).ok()?);
    (!f.is_ideal()).then(|| FrontendConfig {
        latency_ms: Some(f.latency.as_millis_f64()),
        token_cost_us: Some(f.token_cost.as_nanos() as f64 / 1e3),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sglang_deployment_with_a_worker_wider_than_a_node_runs_deepep_over_every_gpu_it_fits() {
        let split = |tp, dp, ep| Split { tp, dp, ep };
        let mut wide = vec![
            pool("prefill", "prefill", split(1, 8, 8), 2, None),
            pool("prefill2", "prefill", split(4, 1, 1), 1, None),
            pool("decode", "decode", split(1, 32, 32), 1, Some(64)),
        ];
        assert_eq!(sglang_wide_ep_runs_deepep(&mut wide), None);
        let a2a: Vec<_> = wide.iter().map(|p| p.moe_a2a_backend.as_deref()).collect();
        assert_eq!(a2a, [Some("deepep"), None, Some("deepep")]);
        // Within one node, nothing says which the deployment ran: SGLang's default.
        let mut narrow = vec![
            pool("agg", "aggregated", split(1, 8, 8), 1, None),
            pool("tp", "aggregated", split(1, 4, 1), 1, None),
        ];
        assert_eq!(sglang_wide_ep_runs_deepep(&mut narrow), None);
        assert_eq!(narrow[0].moe_a2a_backend, None);
        assert_eq!(
            (narrow[1].ep, narrow[1].moe_a2a_backend.as_deref()),
            (1, None)
        );
        // A wide worker recorded with its experts split by MoE TP ran DeepEP all the same,
        // and DeepEP spreads every attention-DP worker's experts over its GPUs; a worker
        // without attention DP keeps its split.
        let mut recorded_as_tp = vec![
            pool("prefill", "prefill", split(1, 8, 1), 2, None),
            pool("prefill2", "prefill", split(4, 1, 1), 1, None),
            pool("decode", "decode", split(1, 32, 1), 1, Some(64)),
        ];
        let note = sglang_wide_ep_runs_deepep(&mut recorded_as_tp).unwrap();
        assert!(
            note.contains("decode recorded as MoE TP 32 × EP 1"),
            "{note}"
        );
        let read: Vec<_> = recorded_as_tp
            .iter()
            .map(|p| (p.ep, p.moe_a2a_backend.as_deref()))
            .collect();
        assert_eq!(read, [(8, Some("deepep")), (1, None), (32, Some("deepep"))]);
    }

    #[test]
    fn tensorrt_llms_modelopt_checkpoints_keep_their_kv_cache_in_fp8() {
        use crate::validate::measured::MeasuredFile;
        let text = "silicon_data_source,backend,model_path,system,mode,isl,osl,gemm_quant_mode,\
                    moe_quant_mode,tp_size,moe_tp_size,moe_ep_size,batch_size\n\
                    a,trtllm,deepseek-ai/DeepSeek-V3,b200_sxm,agg,1024,1024,nvfp4,nvfp4,8,8,1,8\n\
                    b,trtllm,deepseek-ai/DeepSeek-V3,h200_sxm,agg,1024,1024,fp8_block,fp8_block,8,8,1,8\n\
                    c,sglang,deepseek-ai/DeepSeek-V3,b200_sxm,agg,1024,1024,nvfp4,nvfp4,8,8,1,8\n\
                    d,trtllm,openai/gpt-oss-120b,h200_sxm,agg,1024,1024,fp4,fp4,1,1,1,8\n";
        let file = MeasuredFile::parse(text, "m.csv").unwrap();
        let kv: Vec<_> = file
            .rows
            .iter()
            .map(|(line, fields)| {
                let row = Row {
                    file: &file,
                    origin: "m.csv",
                    line: *line,
                    fields,
                };
                plan(&row, "agg").unwrap().unwrap().kv_dtype
            })
            .collect();
        // NVFP4 and FP8 under TensorRT-LLM in FP8; SGLang's own dtype; gpt-oss as published.
        assert_eq!(kv, [Some("fp8"), Some("fp8"), None, None]);
    }
}
