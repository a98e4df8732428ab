//! Validation against real serving runs: each row of a measured-serving CSV (the columns of
//! aiconfigurator's `silicon_sample.csv`, see `data/e2e/README.md`) is simulated the way it
//! was measured, and the predicted mean TTFT and TPOT are written next to the measured ones.
//!
//! # How a row is modelled
//!
//! - Model from `model_path` ([`servesim_models::llm::LlmSpec::lookup`]: any owner prefix, `-Instruct`/`-FP8`
//!   suffixes); GEMM precision from `gemm_quant_mode` (or `precision` when that is blank):
//!   blank or `bf16` = native BF16 weights, `fp8` = per-tensor FP8, `fp8_block` =
//!   block-scaled FP8, `nvfp4` = NVFP4 weights and activations in every GEMM and expert (on
//!   Blackwell; elsewhere the row's reason says the GPU has no FP4 tensor cores). The CSV has no KV-dtype column: the KV cache is FP8 for TensorRT-LLM
//!   with FP8 GEMMs (its FP8 checkpoints quantise the KV cache too), else BF16 (vLLM's and
//!   SGLang's `kv_cache_dtype=auto`).
//! - GPU from `system`, backend from `backend`; scheduling from
//!   [`servesim_models::engine::EngineConfig::for_backend`], and from the release
//!   `backend_version` names where it differs (vLLM from 0.14.0 schedules each step while
//!   the one before it runs: `release_settings` in `deployed.rs`). KV capacity at each backend's
//!   default memory share, 0.9, read as the backend reads it: of the whole GPU for vLLM and
//!   SGLang, of the memory left after the weights for TensorRT-LLM (on the 70B FP8 H200 rows
//!   with 9,216-token requests this is what lets ~48 sequences run at once, as measured).
//! - `agg`: **one** aggregated worker of `tp_size` GPUs with `batch_size` as
//!   `max_num_seqs`. aiconfigurator's silicon rows describe one replica (its concurrency is the
//!   replica's: `batch_size` equals the concurrency in every shared row), so the closed loop's
//!   `N` users all go to that worker.
//! - `disagg`: `prefill_num_workers` × `prefill_tp_size` and `decode_num_workers` ×
//!   `decode_tp_size`, their batch sizes as `max_num_seqs`; `N` is the total across the
//!   deployment.
//! - Token budget per iteration: the one aiconfigurator's generator writes for the
//!   deployments it benchmarks (the rows are aiconfigurator's silicon benchmarks): `batch +
//!   ISL + 1500` for an aggregated TensorRT-LLM or vLLM worker, `ISL + 1500` for a prefill
//!   worker, and SGLang's `--max-prefill-tokens` of `ISL + 1500` (see `deployed.rs`);
//!   its TensorRT-LLM prefill workers run without the overlap scheduler. It captures a CUDA
//!   graph of every batch size up to the engine's for TensorRT-LLM (every release from 0.2.0
//!   on), SGLang (from 0.5.0) and vLLM (from 0.7.0, 2026-03-12), and from 0.6.0 (2026-02-12)
//!   runs aggregated SGLang workers with mixed chunked prefill. What only some versions
//!   write applies to a row whose `silicon_data_source` says it was measured
//!   (`measured=YYYY-MM-DD`) on or after that version's release; the others keep the
//!   backend's default. Its SGLang and vLLM generators date from 0.5.0 (2026-01-15): an
//!   SGLang or vLLM row measured before that keeps the backend's own token budget and CUDA
//!   graphs (see `deployed.rs`).
//!   Its KV memory share (`free_gpu_memory_fraction: 0.80` in the generator's TensorRT-LLM
//!   templates) is not taken: with it the 24 Llama-3.1-70B rows at concurrency 33–128 queue
//!   for KV blocks they did not wait for (TTFT MAPE 54 % → 163 %), so the backend's own 0.9
//!   stays and the disagreement is reported in `docs/fidelity-notes.md`.
//! - `batch_size` is the whole of `max_batch_size`: no slot is held back. The batch columns
//!   are the concurrency's share of each rank: in 1,173 of the 1,178 rows with a
//!   `silicon_concurrency` it equals the batch × the workers × the attention data-parallel
//!   size (every dense row; `scripts/e2e-batch-shares`), so they do not say how many
//!   sequences the deployment admitted, only that it admitted this many, and a router that
//!   spreads the users evenly never meets the bound; the same identity gives a row without
//!   a concurrency its load (below). A rule that TensorRT-LLM 1.0 release candidates keep
//!   one slot for the CUDA-graph padding request was dropped: TensorRT-LLM documents
//!   `cuda_graph_config.enable_padding` (`CudaGraphConfig` in
//!   `tensorrt_llm/llmapi/llm_args.py`) as "batches are rounded up to the nearest
//!   cuda_graph_batch_size", with dummy requests, not as taking a slot of `max_batch_size`
//!   (`max_batch_size`: "the maximum number of requests that the engine can schedule"), and
//!   the Qwen3-235B-A22B rows of the same 1.0.0rc3 on H100, with `batch_size` equal to the
//!   concurrency too, have TTFT flat in OSL. The Llama-3.1-8B rows' TTFT growing with OSL at
//!   low concurrency is left unexplained.
//! - Frontend: for aggregated rows the backend's own OpenAI-compatible server, with the
//!   benchmark client reading its streams
//!   ([`servesim_models::frontend::FrontendSpec::engine_server`]): a fixed latency per request
//!   and host time per streamed token, which the measurements show where GPUs do not explain
//!   them (latencies that do not shrink with TP, output rates that stop at the same ceiling on
//!   TP4 and TP8). Disaggregated rows are fronted by another program (a disaggregation proxy,
//!   a router or Dynamo's frontend): the TensorRT-LLM ones ran under Dynamo (their
//!   `backend_version`, 0.5.1-rc0.pre3 to 0.8.1.post3, names Dynamo releases: TensorRT-LLM's
//!   0.5 and 0.8 of 2023–2024 served neither DeepSeek-V3 nor GB200), the SGLang ones do not
//!   say; their wide-EP GB200/GB300 runs (decode
//!   attention DP ≥ 16) stream up to 390 k tokens/s, median 116 k, where the aggregated
//!   servers stop at 8–20 k, so no frontend cost is assumed for them. (Some aggregated rows
//!   name their container too: the 130 vLLM 0.11.2 and 0.18.0 rows `vllm/vllm-openai`, vLLM's
//!   own server; six TensorRT-LLM rows and two vLLM disaggregated ones Dynamo's runtime
//!   images.)
//! - Traffic, by default ([`Averaged::Recipe`]): the benchmark client as aiconfigurator's own
//!   recipe runs it (`aiperf --concurrency C --warmup-request-count 2·C --num-requests
//!   20·C`, fixed ISL/OSL, `ignore_eos`; `data/e2e/README.md`), simulated as the client runs
//!   (a [`servesim_traffic::benchmark`] stream): `C = silicon_concurrency` users (or what the
//!   batch sizes imply, see below), every prompt fresh (`--dataset-entries N`: drawn from
//!   N repeating ones, as aiperf's dataset sampler does), the `2·C` warm-up requests first
//!   and not counted, then, once they are all answered (aiperf's phases), the `20·C`
//!   measured ones under the same concurrency. The prediction is
//!   the client's own statistics over the measured requests: mean and p50/p90/p99 of TTFT and
//!   of TPOT (`(e2e − ttft) / (osl − 1)` per request), and the output throughput.
//! - Users out of step: a benchmark's users drift apart over a run (client and network
//!   jitter), but with fixed sizes a simulation that starts them together keeps them in step
//!   forever (all prompts prefill together, all answers end together), which inflates TTFT
//!   several times (on the shared rows, the recipe with users in step predicts 100 % TTFT
//!   MAPE, a median 1.4 times the measured TTFT on the TensorRT-LLM rows and 2.5 times on
//!   SGLang's). So each row runs once with
//!   every user starting at once, to measure the request lifetime `L` (mean end-to-end
//!   latency), then with each user starting at an independent uniform time within `L` — the
//!   phases independent jitter leaves a long-running closed loop in; users spread evenly are
//!   its most regular case, with the least queueing — and the second run is reported,
//!   averaged over three draws of the phases (seeds 1–3): a single draw moves a row's TTFT
//!   by a few per cent typically, and by up to half where the loop has two regimes.
//!   `--in-step` reports the first run instead: users as the client starts them and
//!   nothing to pull them apart. Neither reading is fitted; the measured runs sit between
//!   the two, and `docs/fidelity-notes.md` gives both.
//! - Steady state (`--steady`, [`Averaged::SteadyState`]): one closed-loop stream of the
//!   same users (one turn each, zero think time); the first `2 N` completions are the
//!   warm-up, the means are over the next `max(10 N, 100)` completions (in completion
//!   order), users out of step as above.
//! - Measured from the start ([`Averaged::FromStart`], `--from-start K`): a benchmark that
//!   measures `K` requests per user from an idle server, with no warm-up, has its start in
//!   its means: all `N` users send their first prompt at once and queue behind each other's
//!   prefill. The prediction then blends the first requests of the run with users together
//!   (one request per user of `K`) with the steady state (the other `K − 1`); the requests
//!   right after the burst are taken as steady.
//!
//! The run never stops at a row. A row without `silicon_concurrency` (aiconfigurator's public
//! file has such rows, all disaggregated) is predicted at the concurrency its batch sizes
//! imply, as they do in the rows that name it: every serving slot full, `batch_size` for
//! `agg` and `decode_batch_size` × `decode_num_workers` for `disagg`, × the attention data-parallel size when given (each
//! attention replica has its own batch); its `note` column says so. Rows that cannot be
//! modelled (mixture-of-experts and other unknown models, pipeline parallelism, attention
//! data parallelism, expert parallelism, unknown GPUs or precisions, a model that does not
//! fit) and malformed rows (the wrong number of fields, a number that does not parse, a
//! measured latency that is not positive, more than a million users or sequences a rank, no
//! concurrency and no batch size to imply one) get empty predictions and a `reason` naming
//! the column at fault. Only a file without a header or without a [`REQUIRED_COLUMNS`]
//! column is an error.

mod averaged;
mod benchmark;
mod deployed;
mod files;
mod measured;
mod report;
mod row_plan;
mod simulate;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::Error;
use crate::experiment::parallel;
use crate::progress::Observer;
use crate::scenario::ScenarioConfig;

pub use crate::scenario::{inside, same_file};
pub use averaged::{Averaged, RecipeClient};
use averaged::{RECIPE_REQUESTS_PER_USER, RECIPE_WARMUP_PER_USER};
pub use benchmark::{
    BenchmarkMeans, ClientStats, Distribution, Means, benchmark_means, client_stats,
};
use files::{calibration_dir, scenarios_dir};
pub use files::{is_scenario_name, scenario_file};
use measured::Row;
pub use measured::{MeasuredFile, render_csv};
pub use report::{Mape, render_mape, render_report};
use simulate::simulate;

/// Columns every input must have.
pub const REQUIRED_COLUMNS: &[&str] = &[
    "silicon_data_source",
    "backend",
    "model_path",
    "system",
    "mode",
    "isl",
    "osl",
];

/// Columns appended to the output: the predicted means, why a row has none, what a
/// prediction assumed, then (with [`Averaged::Recipe`]) the benchmark client's percentiles
/// and output throughput.
pub const OUTPUT_COLUMNS: &[&str] = &[
    "predicted_ttft_ms",
    "predicted_tpot_ms",
    "reason",
    "note",
    "predicted_ttft_p50_ms",
    "predicted_ttft_p90_ms",
    "predicted_ttft_p99_ms",
    "predicted_tpot_p50_ms",
    "predicted_tpot_p90_ms",
    "predicted_tpot_p99_ms",
    "predicted_output_tokens_per_s",
];

/// Draws of the users' phases a row's steady state is averaged over (one seed each).
const PHASE_DRAWS: u64 = 3;

/// The class of a row's benchmark requests (its warm-up is `bench.warmup`).
const BENCH_CLASS: &str = "bench";

/// Most simulated time spent on one row before giving up on its steady state, s.
const MAX_SIM_S: u64 = 200_000;

/// One row, modelled: what the simulator was asked to run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RowSpec {
    /// Line of the row in the file (1-based, the header is line 1).
    pub line: usize,
    /// `backend` column.
    pub backend: String,
    /// `mode` column (`agg` or `disagg`).
    pub mode: String,
    /// `model_path` column.
    pub model: String,
    /// `system` column (the GPU).
    pub system: String,
    /// Closed-loop concurrency: `silicon_concurrency`, else what the batch sizes imply (the
    /// prediction's `note` says so); `None` when the row does not say.
    pub concurrency: Option<u32>,
    /// Prompt tokens (`None` when the row does not say).
    pub isl: Option<u32>,
    /// Output tokens (`None` when the row does not say).
    pub osl: Option<u32>,
    /// Measured mean TTFT, ms (when given).
    pub measured_ttft_ms: Option<f64>,
    /// Measured mean TPOT, ms (when given).
    pub measured_tpot_ms: Option<f64>,
}

/// The prediction for one row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Prediction {
    /// Mean TTFT, ms.
    pub ttft_ms: Option<f64>,
    /// Mean TPOT, ms.
    pub tpot_ms: Option<f64>,
    /// The benchmark client's own statistics (with [`Averaged::Recipe`]).
    pub client: Option<ClientStats>,
    /// Why there is no prediction.
    pub reason: Option<String>,
    /// What the prediction assumed that the row does not say (a concurrency implied by the
    /// batch sizes).
    pub note: Option<String>,
    /// The scenario of the prediction's first draw (seed 1), when asked for: the users in
    /// step under `--in-step`, else out of step (see [`scenario_file`]).
    pub scenario: Option<Box<RowScenario>>,
}

/// The scenario a row's prediction simulated (its first draw), as a file `servesim run`
/// reads, and which of its requests the prediction reads.
#[derive(Clone, Debug, PartialEq)]
pub struct RowScenario {
    /// The scenario.
    pub config: ScenarioConfig,
    /// Which of its requests the prediction's means are of, as a sentence.
    pub reads: String,
}

impl Prediction {
    /// No prediction, for `reason`.
    fn skip(reason: String) -> Prediction {
        Prediction {
            reason: Some(reason),
            ..Prediction::default()
        }
    }
}

/// The load a row's scenario runs: its line, backend, users and request sizes.
struct Load<'a> {
    line: usize,
    backend: &'a str,
    /// The day the row was measured (`YYYYMMDD`), when it says.
    measured_on: Option<u32>,
    /// The release `backend_version` names (`major, minor, patch`), when it names one.
    release: Option<(u32, u32, u32)>,
    users: u32,
    isl: u32,
    osl: u32,
    /// The folder of measured kernel tables that times the row's runs, where it has tables
    /// they read (`--calibration`).
    calibration: Option<&'a Path>,
}

/// The outcome of a validation.
#[derive(Clone, Debug)]
pub struct Validation {
    /// Every row, in input order.
    pub rows: Vec<(RowSpec, Prediction)>,
    /// The errors over every modelled row.
    pub overall: Mape,
    /// The errors by `backend/mode`.
    pub groups: BTreeMap<String, Mape>,
    /// What the predicted means are over.
    pub averaged: Averaged,
}

/// Serialized as Python's `servesim.validate` returns it: `rows` (rows read), `predicted`
/// (rows modelled), `overall`, `groups`, and `predictions` (each row's spec with its
/// `predicted_ttft_ms`, `predicted_tpot_ms`, `reason` and `note`).
impl Serialize for Validation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Predicted<'a> {
            #[serde(flatten)]
            spec: &'a RowSpec,
            predicted_ttft_ms: Option<f64>,
            predicted_tpot_ms: Option<f64>,
            reason: &'a Option<String>,
            note: &'a Option<String>,
            client: &'a Option<ClientStats>,
        }
        #[derive(Serialize)]
        struct Report<'a> {
            rows: usize,
            predicted: usize,
            overall: &'a Mape,
            groups: &'a BTreeMap<String, Mape>,
            predictions: Vec<Predicted<'a>>,
        }
        Report {
            rows: self.rows.len(),
            predicted: self.rows.iter().filter(|(_, p)| p.reason.is_none()).count(),
            overall: &self.overall,
            groups: &self.groups,
            predictions: self
                .rows
                .iter()
                .map(|(spec, p)| Predicted {
                    spec,
                    predicted_ttft_ms: p.ttft_ms,
                    predicted_tpot_ms: p.tpot_ms,
                    reason: &p.reason,
                    note: &p.note,
                    client: &p.client,
                })
                .collect(),
        }
        .serialize(s)
    }
}

/// Models and simulates one row; whatever is wrong with it becomes its `reason`.
fn predict(
    file: &MeasuredFile,
    origin: &str,
    line: usize,
    fields: &[String],
    averaged: Averaged,
    keep_scenario: bool,
    calibration: Option<&Path>,
) -> (RowSpec, Prediction) {
    let row = Row {
        file,
        origin,
        line,
        fields,
    };
    let mut spec = RowSpec {
        line,
        backend: row.text("backend").to_ascii_lowercase(),
        mode: row.text("mode").to_ascii_lowercase(),
        model: row.text("model_path").to_string(),
        system: row.text("system").to_ascii_lowercase(),
        concurrency: None,
        isl: None,
        osl: None,
        measured_ttft_ms: None,
        measured_tpot_ms: None,
    };
    let prediction = match file.width_fault(fields) {
        Some(reason) => Prediction::skip(reason),
        None => {
            simulate(&row, &mut spec, averaged, keep_scenario, calibration).unwrap_or_else(|e| {
                Prediction::skip(match e {
                    // The line is the row's own; the column at fault is what the reason says.
                    Error::Parse { path, message, .. } => {
                        let column = path.split(", ").nth(1).unwrap_or(&path);
                        format!("{column}: {message}")
                    }
                    e => e.to_string(),
                })
            })
        }
    };
    (spec, prediction)
}

/// Simulates every row of a measured file on up to `threads` threads, its means taken as
/// `averaged` says (each row told to `progress` once predicted), keeping each row's
/// scenario with `keep_scenarios`, its kernels timed by the tables of the folder
/// `calibration` where it has tables of the row's GPU and backend; `origin` names the file
/// in errors. Rows are independent runs, so the result does not depend on `threads`.
pub fn validate_rows(
    file: &MeasuredFile,
    origin: &str,
    averaged: Averaged,
    threads: usize,
    progress: &dyn Observer,
    keep_scenarios: bool,
    calibration: Option<&Path>,
) -> Result<Validation, Error> {
    progress.phase("rows", file.rows.len() as u64);
    let jobs: Vec<_> = file.rows.iter().collect();
    let rows = parallel(jobs, threads, progress, |(line, fields)| {
        predict(
            file,
            origin,
            *line,
            fields,
            averaged,
            keep_scenarios,
            calibration,
        )
    });
    let (overall, groups) = report::summarise(&rows);
    Ok(Validation {
        rows,
        averaged,
        overall,
        groups,
    })
}

/// Reads `input`, simulates every row on up to `threads` threads (its means taken as
/// `averaged` says, each row told to `progress`, its kernels timed by the folder
/// `calibration` where it has tables of the row's GPU and backend) and writes `output`,
/// and, with `scenarios`, each predicted row's scenario there ([`scenario_file`]).
pub fn validate_file(
    input: &Path,
    output: &Path,
    averaged: Averaged,
    threads: usize,
    progress: &dyn Observer,
    scenarios: Option<&Path>,
    calibration: Option<&Path>,
) -> Result<Validation, Error> {
    let bytes = std::fs::read(input).map_err(|e| Error::io(input, e))?;
    let text = utf8_text(bytes, &input.display().to_string())?;
    // Writing the predictions over the measured rows would lose them.
    if same_file(input, output) {
        return Err(Error::Config {
            path: "output".into(),
            message: format!(
                "{} is the input file; give another path, or its measured rows would be \
                 written over",
                output.display()
            ),
        });
    }
    let origin = input.display().to_string();
    let file = MeasuredFile::parse(&text, &origin)?;
    if let Some(dir) = scenarios {
        scenarios_dir(dir)?;
    }
    // Read once here, so a bad file is the command's error, not every row's; absolute, so
    // the scenarios written with `scenarios` name it from anywhere.
    let calibration = calibration.map(calibration_dir).transpose()?;
    let v = validate_rows(
        &file,
        &origin,
        averaged,
        threads,
        progress,
        scenarios.is_some(),
        calibration.as_deref(),
    )?;
    std::fs::write(output, render_csv(&file, &v)).map_err(|e| Error::io(output, e))?;
    if let Some(dir) = scenarios {
        for (spec, p) in &v.rows {
            if let Some(scenario) = &p.scenario {
                let path = dir.join(format!("line-{}.yaml", spec.line));
                let text = scenario_file(&origin, spec.line, averaged, scenario)?;
                std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
            }
        }
    }
    Ok(v)
}

/// The file's bytes as text, or an error naming the line and column of the first byte that
/// is not UTF-8 (a spreadsheet's Latin-1 export, say), so that the user can fix it.
fn utf8_text(bytes: Vec<u8>, origin: &str) -> Result<String, Error> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..at];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let column = 1 + at
            - before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
        Error::Parse {
            origin: origin.to_string(),
            path: ".".into(),
            message: format!(
                "line {line} column {column}: byte 0x{:02X} is not UTF-8 (save the file as \
                 UTF-8)",
                e.as_bytes()[at]
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_that_is_not_utf8_is_named_by_its_line_and_column() {
        let e = utf8_text(b"a,b\nc,d\nx,caf\xe9\n".to_vec(), "m.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            "m.csv: line 3 column 6: byte 0xE9 is not UTF-8 (save the file as UTF-8)"
        );
        assert_eq!(utf8_text(b"a,b\n".to_vec(), "m.csv").unwrap(), "a,b\n");
    }

    #[test]
    fn a_validation_serializes_its_counts_errors_and_each_rows_prediction() {
        let spec = RowSpec {
            line: 2,
            backend: "vllm".into(),
            mode: "agg".into(),
            model: "meta-llama/Llama-3.1-8B".into(),
            system: "h100_sxm".into(),
            concurrency: Some(4),
            isl: Some(100),
            osl: Some(10),
            measured_ttft_ms: Some(50.0),
            measured_tpot_ms: None,
        };
        let unmodelled = Prediction {
            reason: Some("pipeline parallelism".into()),
            ..Prediction::default()
        };
        let predicted = Prediction {
            ttft_ms: Some(55.0),
            tpot_ms: Some(9.0),
            client: None,
            reason: None,
            note: Some("implied".into()),
            scenario: None,
        };
        let v = Validation {
            rows: vec![(spec.clone(), predicted), (spec, unmodelled)],
            overall: Mape {
                rows: 1,
                ttft_pct: Some(10.0),
                tpot_pct: None,
                ttft_rows: 1,
                tpot_rows: 0,
            },
            groups: BTreeMap::new(),
            averaged: Averaged::SteadyState,
        };
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(
            (j["rows"].as_u64(), j["predicted"].as_u64()),
            (Some(2), Some(1))
        );
        assert_eq!(j["overall"]["ttft_pct"], 10.0);
        assert!(j["overall"]["tpot_pct"].is_null());
        let first = &j["predictions"][0];
        assert_eq!(first["concurrency"], 4);
        assert_eq!(first["predicted_ttft_ms"], 55.0);
        assert!(first["reason"].is_null());
        assert_eq!(first["note"], "implied");
        assert_eq!(j["predictions"][1]["reason"], "pipeline parallelism");
        assert!(j["predictions"][1]["note"].is_null());
    }
}
