//! Validation against real serving runs: each row of a measured-serving CSV (the columns of
//! aiconfigurator's `silicon_sample.csv`, see `data/e2e/README.md`) is simulated the way it
//! was measured, and the predicted mean TTFT and TPOT are written next to the measured ones.
//!
//! # How a row is modelled
//!
//! - Model from `model_path` ([`LlmSpec::lookup`]: any owner prefix, `-Instruct`/`-FP8`
//!   suffixes); GEMM precision from `gemm_quant_mode` (or `precision` when that is blank):
//!   blank or `bf16` = native BF16 weights, `fp8` = per-tensor FP8, `fp8_block` =
//!   block-scaled FP8. The CSV has no KV-dtype column: the KV cache is FP8 for TensorRT-LLM
//!   with FP8 GEMMs (its FP8 checkpoints quantise the KV cache too), else BF16 (vLLM's and
//!   SGLang's `kv_cache_dtype=auto`).
//! - GPU from `system`, backend from `backend`; scheduling from
//!   [`crate::scenario::backend_defaults`]. KV capacity at each backend's default memory
//!   share, 0.9, read as the backend reads it: of the whole GPU for vLLM and SGLang, of the
//!   memory left after the weights for TensorRT-LLM (on the 70B FP8 H200 rows with 9,216-token
//!   requests this is what lets ~48 sequences run at once, as measured).
//! - `agg`: **one** aggregated worker of `tp_size` GPUs with `batch_size` as
//!   `max_num_seqs`. aiconfigurator's silicon rows describe one replica (its concurrency is the
//!   replica's: `batch_size` equals the concurrency in every shared row), so the closed loop's
//!   `N` users all go to that worker.
//! - `disagg`: `prefill_num_workers` × `prefill_tp_size` and `decode_num_workers` ×
//!   `decode_tp_size`, their batch sizes as `max_num_seqs`; `N` is the total across the
//!   deployment.
//! - TensorRT-LLM 1.0 release candidates (`backend_version` `1.0.0rc*`) keep one sequence
//!   slot of `max_batch_size` for the CUDA-graph padding request, so `batch_size − 1` slots
//!   serve the `N = batch_size` users: every request waits for one departure, and the
//!   measured TTFT grows by `E2E / N` with the output length at fixed concurrency (on the
//!   Llama-3.1-8B H100 rows, 1024/128 → 1024/512 at `N = 8`: 191 → 550 ms, while TPOT stays).
//! - Frontend: the backend's own OpenAI-compatible server, with the benchmark client reading
//!   its streams ([`FrontendSpec::engine_server`]): a fixed latency per request and host
//!   time per streamed token, which the measurements show where GPUs do not explain them
//!   (latencies that do not shrink with TP, output rates that stop at the same ceiling on
//!   TP4 and TP8).
//! - Traffic: one closed-loop stream of `N = silicon_concurrency` users, zero think time, one
//!   turn per conversation (every request is a fresh prompt of exactly `isl` tokens, no
//!   prefix shared), `osl` output tokens.
//! - Users out of step: a benchmark's users drift apart over a run (client and network
//!   jitter), but with fixed sizes a simulation that starts them together keeps them in step
//!   forever (all prompts prefill together, all answers end together), which inflates TTFT
//!   several times. So each row runs twice: once with every user starting at once, to measure
//!   the steady-state request lifetime `L` (mean end-to-end latency), then with each user
//!   starting at an independent uniform time within `L` (`stagger: random`) — the phases
//!   independent jitter leaves a long-running closed loop in; users spread evenly are its
//!   most regular case, with the least queueing — and the second run is reported, averaged
//!   over three draws of the phases (seeds 1–3): a single draw moves a row's TTFT by a few
//!   per cent typically, and by up to half where the loop has two regimes.
//! - Steady state: the first `2 N` completions are the warm-up; the means are over the next
//!   `max(10 N, 100)` completions (in completion order). TPOT is the per-request mean gap
//!   between tokens, `(last − first) / (osl − 1)`, averaged over requests, as benchmark
//!   clients report it.
//! - Measured from the start ([`Averaged::FromStart`], `--from-start K`): a benchmark that
//!   measures `K` requests per user from an idle server, with no warm-up, has its start in
//!   its means: all `N` users send their first prompt at once and queue behind each other's
//!   prefill. The prediction then blends the first requests of the run with users together
//!   (one request per user of `K`) with the steady state (the other `K − 1`); the requests
//!   right after the burst are taken as steady. On the shared rows, `K = 10` (the
//!   `--request-count 10×N` of common benchmark recipes) brings the TensorRT-LLM rows' TTFT
//!   error from 30.8 % to 19.4 % and SGLang's from 47.5 % to 33.2 %, while vLLM's rows, whose
//!   first tokens come sooner than even the steady state predicts, go from 31.7 % to
//!   121.9 %: they were not measured this way. The default is the steady state.
//!
//! Rows that cannot be modelled (mixture-of-experts and other unknown models, pipeline
//! parallelism, attention data parallelism, expert parallelism, unknown GPUs or precisions,
//! a model that does not fit) get empty predictions and a `reason`; a malformed row (wrong
//! number of fields, a number that does not parse, a missing concurrency) is an error naming
//! its line and column.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use servesim_core::{SimDuration, SimTime};
use servesim_models::llm::{Dtype, LlmSpec};
use servesim_models::perf::Backend;

use crate::Error;
use crate::metrics::RequestColumns;
use crate::scenario::Scenario;
use crate::world::Run;
use servesim_models::frontend::FrontendSpec;

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

/// Columns appended to the output.
pub const OUTPUT_COLUMNS: &[&str] = &["predicted_ttft_ms", "predicted_tpot_ms", "reason"];

/// Draws of the users' phases a row's steady state is averaged over (one seed each).
const PHASE_DRAWS: u64 = 3;

/// What the measured means are over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Averaged {
    /// The steady state: the benchmark left its start out (a warm-up, or a long run).
    #[default]
    SteadyState,
    /// The first `requests_per_user × N` requests of a run that starts on an idle server
    /// with all `N` users sending at once: that start burst is in the means (a benchmark
    /// run with `--request-count K×N` and no warm-up, or one whose warm-up drains first).
    FromStart {
        /// Requests measured per user, at least 1.
        requests_per_user: u32,
    },
}

impl Averaged {
    /// `--from-start K` as given: `None` is the steady state.
    pub fn from_start(requests_per_user: Option<u32>) -> Averaged {
        match requests_per_user {
            None => Averaged::SteadyState,
            Some(requests_per_user) => Averaged::FromStart { requests_per_user },
        }
    }
}

/// Most simulated time spent on one row before giving up on its steady state, s.
const MAX_SIM_S: u64 = 200_000;

/// A measured CSV file: its header and rows (fields as text), each with its line number.
#[derive(Clone, Debug)]
pub struct MeasuredFile {
    /// Column names.
    pub header: Vec<String>,
    /// Rows: (1-based line number, fields).
    pub rows: Vec<(usize, Vec<String>)>,
}

/// One row, modelled: what the simulator was asked to run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RowSpec {
    /// Line of the row in the file (1-based, the header is line 1).
    pub line: usize,
    /// `backend` column.
    pub backend: String,
    /// `mode` column (`agg` or `disagg`).
    pub mode: String,
    /// Closed-loop concurrency.
    pub concurrency: u32,
    /// Prompt tokens.
    pub isl: u32,
    /// Output tokens.
    pub osl: u32,
    /// Measured mean TTFT, ms (when given).
    pub measured_ttft_ms: Option<f64>,
    /// Measured mean TPOT, ms (when given).
    pub measured_tpot_ms: Option<f64>,
}

/// The prediction for one row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Prediction {
    /// Mean TTFT over the steady state, ms.
    pub ttft_ms: Option<f64>,
    /// Mean TPOT over the steady state, ms.
    pub tpot_ms: Option<f64>,
    /// Why there is no prediction.
    pub reason: Option<String>,
}

/// Mean absolute percentage errors of a group of rows.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Mape {
    /// Rows with both a measurement and a prediction.
    pub rows: usize,
    /// TTFT MAPE, %.
    pub ttft_pct: f64,
    /// TPOT MAPE, %.
    pub tpot_pct: f64,
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
/// `predicted_ttft_ms`, `predicted_tpot_ms` and `reason`).
impl Serialize for Validation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Predicted<'a> {
            #[serde(flatten)]
            spec: &'a RowSpec,
            predicted_ttft_ms: Option<f64>,
            predicted_tpot_ms: Option<f64>,
            reason: &'a Option<String>,
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
                })
                .collect(),
        }
        .serialize(s)
    }
}

fn malformed(origin: &str, line: usize, column: &str, message: impl Into<String>) -> Error {
    Error::Parse {
        origin: origin.to_string(),
        path: format!("line {line}, column {column}"),
        message: message.into(),
    }
}

/// Splits CSV text (RFC 4180: quoted fields may hold commas, quotes and newlines).
fn split_csv(text: &str, origin: &str) -> Result<Vec<(usize, Vec<String>)>, Error> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut start_line = 1;
    let mut quoted = false;
    let mut at_field_start = true;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                if !(fields.len() == 1 && fields[0].is_empty()) {
                    records.push((start_line, std::mem::take(&mut fields)));
                }
                fields.clear();
                line += 1;
                start_line = line;
                at_field_start = true;
            }
            _ => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if quoted {
        return Err(malformed(
            origin,
            start_line,
            &(fields.len() + 1).to_string(),
            "unterminated quoted field",
        ));
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push((start_line, fields));
    }
    Ok(records)
}

impl MeasuredFile {
    /// Parses CSV text; `origin` names it in errors. Every row must have the header's number
    /// of fields, and the header the [`REQUIRED_COLUMNS`].
    pub fn parse(text: &str, origin: &str) -> Result<MeasuredFile, Error> {
        let mut records = split_csv(text, origin)?.into_iter();
        let Some((_, header)) = records.next() else {
            return Err(malformed(origin, 1, "1", "empty file: no header"));
        };
        for c in REQUIRED_COLUMNS {
            if !header.iter().any(|h| h == c) {
                return Err(malformed(
                    origin,
                    1,
                    c,
                    format!("the header has no '{c}' column"),
                ));
            }
        }
        let rows: Vec<(usize, Vec<String>)> = records.collect();
        for (line, fields) in &rows {
            if fields.len() != header.len() {
                let col = fields.len().min(header.len()) + 1;
                return Err(malformed(
                    origin,
                    *line,
                    &col.to_string(),
                    format!(
                        "{} fields where the header has {}",
                        fields.len(),
                        header.len()
                    ),
                ));
            }
        }
        Ok(MeasuredFile { header, rows })
    }

    fn index(&self, column: &str) -> Option<usize> {
        self.header.iter().position(|h| h == column)
    }
}

/// A view of one row with typed accessors whose errors name line and column.
struct Row<'a> {
    file: &'a MeasuredFile,
    origin: &'a str,
    line: usize,
    fields: &'a [String],
}

impl Row<'_> {
    fn text(&self, column: &str) -> &str {
        self.file
            .index(column)
            .map(|i| self.fields[i].trim())
            .unwrap_or("")
    }

    /// A number (integers may be written `8.0`); blank → `None`.
    fn number(&self, column: &str) -> Result<Option<f64>, Error> {
        let t = self.text(column);
        if t.is_empty() {
            return Ok(None);
        }
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Some(v)),
            _ => Err(malformed(
                self.origin,
                self.line,
                column,
                format!("'{t}' is not a number"),
            )),
        }
    }

    /// A whole count ≥ 0; blank → `None`.
    fn count(&self, column: &str) -> Result<Option<u32>, Error> {
        match self.number(column)? {
            None => Ok(None),
            Some(v) if v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) => {
                Ok(Some(v as u32))
            }
            Some(v) => Err(malformed(
                self.origin,
                self.line,
                column,
                format!("{v} is not a whole count"),
            )),
        }
    }

    /// A batch size: blank for the backend's default, else at least 1.
    fn batch(&self, column: &str) -> Result<Option<u32>, Error> {
        match self.count(column)? {
            Some(0) => Err(malformed(
                self.origin,
                self.line,
                column,
                "must be > 0 (leave it blank for the backend's default)",
            )),
            b => Ok(b),
        }
    }

    fn required_count(&self, column: &str) -> Result<u32, Error> {
        match self.count(column)? {
            Some(v) if v > 0 => Ok(v),
            Some(_) => Err(malformed(self.origin, self.line, column, "must be > 0")),
            None => Err(malformed(self.origin, self.line, column, "is blank")),
        }
    }

    fn concurrency(&self) -> Result<u32, Error> {
        let col = "silicon_data_source";
        let src = self.text(col);
        let Some(rest) = src.split("silicon_concurrency=").nth(1) else {
            return Err(malformed(
                self.origin,
                self.line,
                col,
                "no 'silicon_concurrency=N' in it",
            ));
        };
        let n = rest.split(';').next().unwrap_or("").trim();
        match n.parse::<f64>() {
            Ok(v) if v >= 1.0 && v.fract() == 0.0 && v <= 1e6 => Ok(v as u32),
            _ => Err(malformed(
                self.origin,
                self.line,
                col,
                format!("silicon_concurrency '{n}' is not a positive whole number"),
            )),
        }
    }
}

/// The pools, GPU count and precision of a row.
struct Plan {
    /// YAML of the pools (one flow-style mapping per line).
    pools: Vec<String>,
    gpus: u32,
    model: String,
    block_fp8: bool,
    /// KV-cache dtype, when not the model's.
    kv_dtype: Option<&'static str>,
}

fn pool(name: &str, role: &str, tp: u32, workers: u32, batch: Option<u32>) -> String {
    let engine = batch
        .map(|b| format!(", engine: {{max_num_seqs: {b}}}"))
        .unwrap_or_default();
    format!(
        "    - {{name: {name}, role: {role}, tp: {tp}, workers: {workers}, startup_s: 0{engine}}}"
    )
}

/// Reads the parallelism and precision columns; `Ok(Err(reason))` when not modellable.
fn plan(row: &Row<'_>, mode: &str) -> Result<Result<Plan, String>, Error> {
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
    let (model, block_fp8) = match quant.as_str() {
        "" | "bf16" | "float16" | "fp16" => (model_path.to_string(), false),
        "fp8" => (format!("{model_path}-FP8"), false),
        "fp8_block" => (format!("{model_path}-FP8"), true),
        other => return Ok(Err(format!("GEMM precision '{other}' is not modelled"))),
    };
    // TensorRT-LLM's FP8 checkpoints (ModelOpt) quantise the KV cache to FP8 as well
    // (`kv_cache_quant_algo: FP8`); vLLM and SGLang keep `kv_cache_dtype=auto`, the
    // activation dtype (BF16), unless told otherwise. The TRT-LLM Llama-3.1-70B rows agree:
    // 32 users of 1024+8192 tokens on one H200 run without queueing, which only FP8 KV allows.
    let trtllm = row.text("backend").eq_ignore_ascii_case("trtllm");
    let kv_dtype = (trtllm && quant.starts_with("fp8")).then_some("fp8");
    // TensorRT-LLM 1.0 release candidates hold one sequence slot for the CUDA-graph padding
    // request (see the module documentation).
    let padding_slot = trtllm && row.text("backend_version").starts_with("1.0.0rc");
    // `moe_quant_mode` is filled for dense models too; MoE models fail the lookup below.
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
        if let Some(dp) = row.count(&format!("{p}attention_dp_size"))?
            && dp > 1
        {
            return Ok(Err(format!(
                "{p}attention_dp_size {dp}: attention data parallelism is not modelled"
            )));
        }
        if let Some(ep) = row.count(&format!("{p}moe_ep_size"))?
            && ep > 1
        {
            return Ok(Err(format!(
                "{p}moe_ep_size {ep}: expert parallelism (MoE) is not modelled"
            )));
        }
    }
    let plan = match mode {
        "agg" => {
            let tp = row.required_count("tp_size")?;
            let batch = row.batch("batch_size")?;
            let batch = if padding_slot {
                batch.map(|b| (b - 1).max(1))
            } else {
                batch
            };
            Plan {
                pools: vec![pool("agg", "aggregated", tp, 1, batch)],
                gpus: tp,
                model,
                block_fp8,
                kv_dtype,
            }
        }
        "disagg" => {
            let ptp = row.required_count("prefill_tp_size")?;
            let pw = row.required_count("prefill_num_workers")?;
            let dtp = row.required_count("decode_tp_size")?;
            let dw = row.required_count("decode_num_workers")?;
            let pb = row.batch("prefill_batch_size")?;
            let db = row.batch("decode_batch_size")?;
            let db = if padding_slot {
                db.map(|b| (b - 1).max(1))
            } else {
                db
            };
            let gpus = ptp
                .checked_mul(pw)
                .zip(dtp.checked_mul(dw))
                .and_then(|(p, d)| p.checked_add(d));
            let Some(gpus) = gpus else {
                return Ok(Err(format!(
                    "prefill_tp_size × prefill_num_workers + decode_tp_size × \
                     decode_num_workers ({ptp} × {pw} + {dtp} × {dw}) GPUs is more than \
                     can be simulated"
                )));
            };
            Plan {
                pools: vec![
                    pool("prefill", "prefill", ptp, pw, pb),
                    pool("decode", "decode", dtp, dw, db),
                ],
                gpus,
                model,
                block_fp8,
                kv_dtype,
            }
        }
        other => return Ok(Err(format!("mode '{other}' is neither agg nor disagg"))),
    };
    Ok(Ok(plan))
}

/// Builds the scenario of a modellable row; user `u` starts at `u · ramp_s / N`.
fn scenario_of(
    plan: &Plan,
    row: &Row<'_>,
    spec: &RowSpec,
    ramp_s: f64,
    seed: u64,
) -> Result<Scenario, String> {
    let gpu = row.text("system").to_string();
    let catalog = servesim_models::hardware::GpuCatalog::builtin();
    let sku = catalog.get(&gpu).map_err(|e| format!("unknown GPU: {e}"))?;
    let per_node = sku.gpus_per_node.max(1);
    let yaml = format!(
        "name: line-{line}\nseed: {seed}\nduration_s: 1000000\nmodel: {model:?}\n{kv}gpu: {gpu:?}\n\
         backend: {backend:?}\nslo: {{ttft_ms: 1.0e9, itl_ms: 1.0e9}}\n\
         cluster:\n  nodes: {nodes}\n  pools:\n{pools}\n\
         traffic:\n  streams:\n    - name: bench\n      closed:\n        users: {users}\n\
         \x20       first_input: {{kind: fixed, value: {isl}}}\n\
         \x20       followup_input: {{kind: fixed, value: 1}}\n\
         \x20       output: {{kind: fixed, value: {osl}}}\n\
         \x20       think_s: {{kind: fixed, value: 0}}\n\
         \x20       turns: {{kind: fixed, value: 1}}\n\
         \x20       ramp_s: {ramp_s:?}\n\
         \x20       stagger: random\n\
         metrics: {{sample_interval_s: 60, keep_requests: true}}\n{frontend}",
        line = spec.line,
        seed = seed,
        model = plan.model,
        kv = plan
            .kv_dtype
            .map(|k| format!("kv_dtype: {k}\n"))
            .unwrap_or_default(),
        backend = spec.backend,
        nodes = plan.gpus.div_ceil(per_node),
        pools = plan.pools.join("\n"),
        users = spec.concurrency,
        isl = spec.isl,
        osl = spec.osl,
        frontend = frontend_yaml(&spec.backend),
    );
    let mut scenario =
        Scenario::from_yaml_str(&yaml, &format!("line {}", spec.line), Path::new("."))
            .map_err(|e| e.to_string())?;
    if plan.block_fp8 {
        scenario.llm.weight_dtype = Dtype::Fp8Block;
    }
    Ok(scenario)
}

/// The `frontend:` section of a row's scenario: the backend's own OpenAI-compatible server
/// ([`FrontendSpec::engine_server`]), empty for an unknown backend (the scenario names it).
fn frontend_yaml(backend: &str) -> String {
    let Ok(backend) = Backend::parse(backend) else {
        return String::new();
    };
    let f = FrontendSpec::engine_server(backend);
    if f.is_ideal() {
        return String::new();
    }
    format!(
        "frontend: {{latency_ms: {:?}, token_cost_us: {:?}}}\n",
        f.latency.as_millis_f64(),
        f.token_cost.as_nanos() as f64 / 1e3
    )
}

/// Means of a set of simulated requests, ms.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Means {
    /// Time to first token.
    pub ttft_ms: f64,
    /// Per-request mean gap between tokens, averaged over requests.
    pub tpot_ms: f64,
    /// End-to-end latency.
    pub e2e_ms: f64,
}

impl Means {
    /// Means of the requests `keep` selects (by index in completion order); NaN when it
    /// selects none.
    fn of(cols: &RequestColumns, keep: impl Fn(usize) -> bool) -> Means {
        let (mut sum, mut n) = (Means::default(), 0.0);
        for i in (0..cols.ttft_ms.len()).filter(|&i| keep(i)) {
            sum.ttft_ms += cols.ttft_ms[i];
            sum.tpot_ms += cols.itl_mean_ms[i];
            sum.e2e_ms += cols.e2e_ms[i];
            n += 1.0;
        }
        Means {
            ttft_ms: sum.ttft_ms / n,
            tpot_ms: sum.tpot_ms / n,
            e2e_ms: sum.e2e_ms / n,
        }
    }

    /// `share` of `a` and the rest of `b`.
    fn blend(a: Means, share: f64, b: Means) -> Means {
        let mix = |x: f64, y: f64| share * x + (1.0 - share) * y;
        Means {
            ttft_ms: mix(a.ttft_ms, b.ttft_ms),
            tpot_ms: mix(a.tpot_ms, b.tpot_ms),
            e2e_ms: mix(a.e2e_ms, b.e2e_ms),
        }
    }
}

/// What a simulated benchmark measured: its steady state and its start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BenchmarkMeans {
    /// The `take` completions after the first `skip`.
    pub steady: Means,
    /// The requests sent at the start of the run (time zero; NaN when none was).
    pub start: Means,
}

/// Simulates a scenario until `skip + take` requests have completed; returns the means of
/// the steady state (the `take` after the first `skip`, in completion order) and of the
/// requests sent at time zero.
pub fn benchmark_means(
    scenario: &Scenario,
    skip: usize,
    take: usize,
) -> Result<Result<BenchmarkMeans, String>, Error> {
    let mut run = Run::new(scenario)?;
    let mut t = SimTime::ZERO;
    let step = SimDuration::from_nanos(20_000_000_000);
    let cap = SimTime::ZERO + SimDuration::from_nanos(MAX_SIM_S * 1_000_000_000);
    loop {
        t += step;
        run.run_until(t)?;
        let done = run
            .sim
            .model
            .metrics
            .requests
            .as_ref()
            .map_or(0, |r| r.ttft_ms.len());
        if done >= skip + take {
            break;
        }
        if t >= cap || t >= run.end() {
            return Ok(Err(format!(
                "only {done} requests completed in {MAX_SIM_S} simulated seconds"
            )));
        }
    }
    let cols = run
        .sim
        .model
        .metrics
        .requests
        .as_ref()
        .expect("requests kept");
    let steady = skip..skip + take;
    Ok(Ok(BenchmarkMeans {
        steady: Means::of(cols, |i| steady.contains(&i)),
        start: Means::of(cols, |i| cols.arrival_s[i] == 0.0),
    }))
}

/// Models and simulates one row.
fn predict(
    file: &MeasuredFile,
    origin: &str,
    line: usize,
    fields: &[String],
    averaged: Averaged,
) -> Result<(RowSpec, Prediction), Error> {
    let row = Row {
        file,
        origin,
        line,
        fields,
    };
    let spec = RowSpec {
        line,
        backend: row.text("backend").to_ascii_lowercase(),
        mode: row.text("mode").to_ascii_lowercase(),
        concurrency: row.concurrency()?,
        isl: row.required_count("isl")?,
        osl: row.required_count("osl")?,
        measured_ttft_ms: row.number("silicon_ttft_ms")?,
        measured_tpot_ms: row.number("silicon_tpot_ms")?,
    };
    let skip = |reason: String| Prediction {
        reason: Some(reason),
        ..Prediction::default()
    };
    let plan = match plan(&row, &spec.mode)? {
        Ok(p) => p,
        Err(reason) => return Ok((spec, skip(reason))),
    };
    if let Err(e) = LlmSpec::lookup(&plan.model) {
        return Ok((spec, skip(e.to_string())));
    }
    let users = spec.concurrency as usize;
    let (skip_n, take_n) = (2 * users, (10 * users).max(100));
    // First run: users together, as the benchmark starts, to learn its start and the
    // request lifetime; then users out of step, for its steady state.
    let together = match scenario_of(&plan, &row, &spec, 0.0, 1) {
        Ok(s) => s,
        Err(reason) => return Ok((spec, skip(reason))),
    };
    let start = match benchmark_means(&together, skip_n, take_n)? {
        Ok(m) => m,
        Err(reason) => return Ok((spec, skip(reason))),
    };
    let mut steady = Means::default();
    for seed in 1..=PHASE_DRAWS {
        let apart = match scenario_of(&plan, &row, &spec, start.steady.e2e_ms / 1e3, seed) {
            Ok(s) => s,
            Err(reason) => return Ok((spec, skip(reason))),
        };
        match benchmark_means(&apart, skip_n, take_n)? {
            Ok(m) => steady = Means::blend(m.steady, 1.0 / seed as f64, steady),
            Err(reason) => return Ok((spec, skip(reason))),
        }
    }
    // Measured from the start, one request per user is the start burst; the rest are
    // taken as the steady state.
    let Means {
        ttft_ms: ttft,
        tpot_ms: tpot,
        ..
    } = match averaged {
        Averaged::SteadyState => steady,
        Averaged::FromStart { requests_per_user } => Means::blend(
            start.start,
            1.0 / f64::from(requests_per_user.max(1)),
            steady,
        ),
    };
    let prediction = Prediction {
        ttft_ms: Some(ttft),
        tpot_ms: if spec.osl > 1 { Some(tpot) } else { None },
        reason: None,
    };
    Ok((spec, prediction))
}

fn mape(pairs: &[(f64, f64, f64, f64)]) -> Mape {
    let n = pairs.len();
    if n == 0 {
        return Mape::default();
    }
    let ape = |m: f64, p: f64| (p - m).abs() / m * 100.0;
    Mape {
        rows: n,
        ttft_pct: pairs.iter().map(|x| ape(x.0, x.1)).sum::<f64>() / n as f64,
        tpot_pct: pairs.iter().map(|x| ape(x.2, x.3)).sum::<f64>() / n as f64,
    }
}

/// Simulates every row of a measured file, its means taken as `averaged` says; `origin`
/// names the file in errors.
pub fn validate_rows(
    file: &MeasuredFile,
    origin: &str,
    averaged: Averaged,
) -> Result<Validation, Error> {
    let mut rows = Vec::with_capacity(file.rows.len());
    for (line, fields) in &file.rows {
        rows.push(predict(file, origin, *line, fields, averaged)?);
    }
    let mut all = Vec::new();
    let mut by: BTreeMap<String, Vec<(f64, f64, f64, f64)>> = BTreeMap::new();
    for (s, p) in &rows {
        if let (Some(mt), Some(pt), Some(mp), Some(pp)) =
            (s.measured_ttft_ms, p.ttft_ms, s.measured_tpot_ms, p.tpot_ms)
            && mt > 0.0
            && mp > 0.0
        {
            all.push((mt, pt, mp, pp));
            by.entry(format!("{}/{}", s.backend, s.mode))
                .or_default()
                .push((mt, pt, mp, pp));
        }
    }
    Ok(Validation {
        rows,
        averaged,
        overall: mape(&all),
        groups: by.iter().map(|(k, v)| (k.clone(), mape(v))).collect(),
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The output CSV: every input row in order, with [`OUTPUT_COLUMNS`] appended.
pub fn render_csv(file: &MeasuredFile, validation: &Validation) -> String {
    let mut out = String::new();
    let header: Vec<String> = file
        .header
        .iter()
        .map(String::as_str)
        .chain(OUTPUT_COLUMNS.iter().copied())
        .map(csv_field)
        .collect();
    out.push_str(&header.join(","));
    out.push('\n');
    for ((_, fields), (_, p)) in file.rows.iter().zip(&validation.rows) {
        let mut cells: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        let num = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_default();
        cells.push(num(p.ttft_ms));
        cells.push(num(p.tpot_ms));
        cells.push(csv_field(p.reason.as_deref().unwrap_or("")));
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// A table of the errors, overall and by backend/mode.
pub fn render_mape(v: &Validation) -> String {
    let mut s = String::new();
    let modelled = v.rows.iter().filter(|(_, p)| p.reason.is_none()).count();
    let _ = writeln!(
        s,
        "{} rows, {} modelled, {} not",
        v.rows.len(),
        modelled,
        v.rows.len() - modelled
    );
    let _ = match v.averaged {
        Averaged::SteadyState => writeln!(s, "predicted: steady-state means"),
        Averaged::FromStart {
            requests_per_user: 1,
        } => writeln!(
            s,
            "predicted: means of each user's first request from an idle server (the start burst)"
        ),
        Averaged::FromStart { requests_per_user } => writeln!(
            s,
            "predicted: means of each user's first {requests_per_user} requests from an idle \
             server (the start burst included)"
        ),
    };
    let _ = writeln!(
        s,
        "{:<16} {:>5} {:>10} {:>10}",
        "group", "rows", "TTFT MAPE", "TPOT MAPE"
    );
    for (k, m) in v
        .groups
        .iter()
        .map(|(k, m)| (k.as_str(), m))
        .chain([("overall", &v.overall)])
    {
        let _ = writeln!(
            s,
            "{:<16} {:>5} {:>9.1}% {:>9.1}%",
            k, m.rows, m.ttft_pct, m.tpot_pct
        );
    }
    s
}

/// Reads `input`, simulates every row (its means taken as `averaged` says) and writes
/// `output`.
pub fn validate_file(input: &Path, output: &Path, averaged: Averaged) -> Result<Validation, Error> {
    let text = std::fs::read_to_string(input).map_err(|source| Error::Io {
        path: input.to_path_buf(),
        source,
    })?;
    let origin = input.display().to_string();
    let file = MeasuredFile::parse(&text, &origin)?;
    let v = validate_rows(&file, &origin, averaged)?;
    std::fs::write(output, render_csv(&file, &v)).map_err(|source| Error::Io {
        path: output.to_path_buf(),
        source,
    })?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_serializes_its_counts_errors_and_each_rows_prediction() {
        let spec = RowSpec {
            line: 2,
            backend: "vllm".into(),
            mode: "agg".into(),
            concurrency: 4,
            isl: 100,
            osl: 10,
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
            reason: None,
        };
        let v = Validation {
            rows: vec![(spec.clone(), predicted), (spec, unmodelled)],
            overall: Mape {
                rows: 1,
                ttft_pct: 10.0,
                tpot_pct: 0.0,
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
        let first = &j["predictions"][0];
        assert_eq!(first["concurrency"], 4);
        assert_eq!(first["predicted_ttft_ms"], 55.0);
        assert!(first["reason"].is_null());
        assert_eq!(j["predictions"][1]["reason"], "pipeline parallelism");
    }
}
