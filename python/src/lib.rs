//! The private native module `servesim._native`: thin wrappers, no logic.
//!
//! Scenarios cross the boundary as JSON text of the scenario config (the same fields as the
//! YAML files); summaries and reports come back as JSON text; request rows and time series
//! come back as raw little-endian column buffers (`bytes`) that the Python side wraps in
//! NumPy/Arrow without a Python object per row. Every run releases the GIL.

use std::path::Path;
use std::sync::{Arc, Mutex};

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use servesim::core::{SimDuration, SimTime};
use servesim::planner::{Decision, Observation, Planner};
use servesim::scenario::ScenarioConfig;
use servesim::traffic::{Standalone, WorkloadSpec};
use servesim::{Error, Scenario, World};

create_exception!(
    _native,
    ServesimError,
    PyException,
    "Base of every servesim error."
);
create_exception!(
    _native,
    IoError,
    ServesimError,
    "A file could not be read or written."
);
create_exception!(
    _native,
    ParseError,
    ServesimError,
    "A scenario, traffic section or measured CSV does not parse; names the field path."
);
create_exception!(
    _native,
    ConfigError,
    ServesimError,
    "A field has an invalid value; names the field."
);
create_exception!(
    _native,
    TrafficError,
    ServesimError,
    "A trace row is invalid; names file, line and column."
);
create_exception!(
    _native,
    ModelsError,
    ServesimError,
    "Model, GPU or calibration data is invalid."
);
create_exception!(
    _native,
    PlannerError,
    ServesimError,
    "Unknown policy, bad planner settings or a failing Python planner."
);

/// Maps each facade error variant to its own Python exception class. Traffic errors go by
/// their own variant: a bad `traffic.*` field is a `ConfigError`, a workload document that
/// does not parse a `ParseError`, an unreadable file an `IoError`, a bad trace row a
/// `TrafficError`.
fn to_py(e: Error) -> PyErr {
    use servesim::traffic::TrafficError as T;
    let msg = e.to_string();
    match e {
        Error::Io { .. } | Error::Traffic(T::Io { .. }) => IoError::new_err(msg),
        Error::Parse { .. } | Error::Traffic(T::Parse { .. }) => ParseError::new_err(msg),
        Error::Config { .. } | Error::Traffic(T::Config { .. }) => ConfigError::new_err(msg),
        Error::Traffic(_) => TrafficError::new_err(msg),
        Error::Models(_) => ModelsError::new_err(msg),
        Error::Planner(_) => PlannerError::new_err(msg),
        _ => ServesimError::new_err(msg),
    }
}

/// The version of the Rust core.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Parses and validates scenario YAML (or JSON) text; returns the config as JSON text.
#[pyfunction]
fn parse_yaml(py: Python<'_>, text: &str, origin: &str, base_dir: &str) -> PyResult<String> {
    let s = py
        .detach(|| Scenario::from_yaml_str(text, origin, Path::new(base_dir)))
        .map_err(to_py)?;
    serde_json::to_string(&s.config()).map_err(|e| ServesimError::new_err(e.to_string()))
}

/// Parses config JSON text with field-naming errors, then validates it.
fn scenario_of(config_json: &str, base_dir: &str) -> Result<Scenario, Error> {
    let mut de = serde_json::Deserializer::from_str(config_json);
    let config: ScenarioConfig =
        serde_path_to_error::deserialize(&mut de).map_err(|e| Error::Parse {
            origin: "<dict>".into(),
            path: e.path().to_string(),
            message: e.into_inner().to_string(),
        })?;
    Scenario::validate(config, Path::new(base_dir))
}

/// Validates config JSON text (raises on the first invalid field).
#[pyfunction]
fn validate(py: Python<'_>, config_json: &str, base_dir: &str) -> PyResult<()> {
    py.detach(|| scenario_of(config_json, base_dir).map(|_| ()))
        .map_err(to_py)
}

/// A planner written in Python: `decide(observation: dict)` returns per-pool targets
/// (a list with one entry per pool, int or None, or a dict pool name → int).
struct PyPlanner {
    obj: Py<PyAny>,
    interval_s: f64,
    error: Arc<Mutex<Option<PyErr>>>,
}

fn observation_dict<'py>(py: Python<'py>, obs: &Observation) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("now_s", obs.now_s)?;
    d.set_item("interval_s", obs.interval_s)?;
    d.set_item("gpu_budget", obs.gpu_budget)?;
    d.set_item("gpus_in_use", obs.gpus_in_use)?;
    d.set_item("slo_ttft_ms", obs.slo_ttft_ms)?;
    d.set_item("slo_itl_ms", obs.slo_itl_ms)?;
    d.set_item("startup_s", obs.startup_s.clone())?;
    let i = PyDict::new(py);
    let st = &obs.interval;
    i.set_item("requests", st.requests)?;
    i.set_item("mean_isl", st.mean_isl)?;
    i.set_item("mean_osl", st.mean_osl)?;
    i.set_item("ttft_mean_ms", st.ttft_mean_ms)?;
    i.set_item("ttft_p90_ms", st.ttft_p90_ms)?;
    i.set_item("itl_mean_ms", st.itl_mean_ms)?;
    i.set_item("itl_p90_ms", st.itl_p90_ms)?;
    d.set_item("interval", i)?;
    let pools = PyList::empty(py);
    for p in &obs.pools {
        let pd = PyDict::new(py);
        pd.set_item("name", &p.name)?;
        pd.set_item("role", format!("{:?}", p.role).to_lowercase())?;
        pd.set_item("gpus_per_worker", p.gpus_per_worker)?;
        pd.set_item("ready", p.ready)?;
        pd.set_item("starting", p.starting)?;
        pd.set_item("draining", p.draining)?;
        pd.set_item("active", p.active())?;
        pd.set_item("queue_depth", p.queue_depth)?;
        pd.set_item("queued_prefill_tokens", p.queued_prefill_tokens)?;
        pd.set_item("kv_utilisation", p.kv_utilisation.clone())?;
        pd.set_item("max_kv_tokens", p.max_kv_tokens)?;
        pools.append(pd)?;
    }
    d.set_item("pools", pools)?;
    Ok(d)
}

impl PyPlanner {
    fn call(&self, py: Python<'_>, obs: &Observation) -> PyResult<Decision> {
        let d = observation_dict(py, obs)?;
        let out = self.obj.bind(py).call_method1("decide", (d,))?;
        let n = obs.pools.len();
        if out.is_none() {
            return Ok(Decision::unchanged(n));
        }
        if let Ok(map) = out.cast::<PyDict>() {
            let mut targets = vec![None; n];
            for (k, v) in map.iter() {
                let name: String = k.extract().map_err(|_| {
                    PlannerError::new_err(format!("decide(): key {k} is not a pool name"))
                })?;
                let idx = obs
                    .pools
                    .iter()
                    .position(|p| p.name == name)
                    .ok_or_else(|| {
                        PlannerError::new_err(format!("decide(): unknown pool {name:?}"))
                    })?;
                targets[idx] = v.extract::<Option<u32>>().map_err(|_| {
                    PlannerError::new_err(format!(
                        "decide(): pool {name:?}: {v} is not a worker count (an int >= 0) or None"
                    ))
                })?;
            }
            return Ok(Decision { targets });
        }
        let targets: Vec<Option<u32>> = out.extract().map_err(|_| {
            PlannerError::new_err(format!(
                "decide(): {out} is not a dict of pool name to worker count, a list of \
                 counts (one per pool, None to leave one alone), or None"
            ))
        })?;
        if targets.len() != n {
            return Err(PlannerError::new_err(format!(
                "decide(): {} targets for {n} pools",
                targets.len()
            )));
        }
        Ok(Decision { targets })
    }
}

impl Planner for PyPlanner {
    fn name(&self) -> &'static str {
        "python"
    }
    fn interval_s(&self) -> f64 {
        self.interval_s
    }
    fn decide(&mut self, obs: &Observation) -> Decision {
        let n = obs.pools.len();
        if self.error.lock().map(|e| e.is_some()).unwrap_or(true) {
            return Decision::unchanged(n);
        }
        Python::attach(|py| match self.call(py, obs) {
            Ok(d) => d,
            Err(e) => {
                if let Ok(mut slot) = self.error.lock() {
                    *slot = Some(e);
                }
                Decision::unchanged(n)
            }
        })
    }
}

fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
fn u64_bytes(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
fn u32_bytes(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
fn u16_bytes(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Columns as (name, numpy dtype string, little-endian bytes).
type Columns = Vec<(&'static str, &'static str, Vec<u8>)>;

fn request_columns(w: &World) -> Option<Columns> {
    let r = w.metrics.requests.as_ref()?;
    Some(vec![
        ("id", "<u8", u64_bytes(&r.id)),
        ("class", "<u2", u16_bytes(&r.class)),
        ("arrival_s", "<f8", f64_bytes(&r.arrival_s)),
        ("ttft_ms", "<f8", f64_bytes(&r.ttft_ms)),
        ("e2e_ms", "<f8", f64_bytes(&r.e2e_ms)),
        ("itl_mean_ms", "<f8", f64_bytes(&r.itl_mean_ms)),
        ("itl_max_ms", "<f8", f64_bytes(&r.itl_max_ms)),
        ("queue_ms", "<f8", f64_bytes(&r.queue_ms)),
        ("transfer_ms", "<f8", f64_bytes(&r.transfer_ms)),
        ("input_tokens", "<u4", u32_bytes(&r.input_tokens)),
        ("output_tokens", "<u4", u32_bytes(&r.output_tokens)),
        ("preemptions", "<u4", u32_bytes(&r.preemptions)),
        ("prefill_worker", "<u4", u32_bytes(&r.prefill_worker)),
        ("decode_worker", "<u4", u32_bytes(&r.decode_worker)),
    ])
}

/// Long-format time series: one row per (pool, sample).
fn series_columns(s: &Scenario, w: &World) -> (Columns, Vec<String>) {
    let mut pool = Vec::new();
    let mut time = Vec::new();
    let names = [
        "starting",
        "ready",
        "draining",
        "queue_depth",
        "queued_prefill_tokens",
        "kv_utilisation",
        "batch_size",
        "gpus",
    ];
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for (i, ps) in w.metrics.series.iter().enumerate() {
        let all = [
            &ps.starting,
            &ps.ready,
            &ps.draining,
            &ps.queue_depth,
            &ps.queued_prefill_tokens,
            &ps.kv_utilisation,
            &ps.batch_size,
            &ps.gpus,
        ];
        let len = all.iter().map(|t| t.values().len()).min().unwrap_or(0);
        for k in 0..len {
            pool.push(i as u32);
            time.push(ps.ready.time_of(k).as_secs_f64());
        }
        for (c, t) in cols.iter_mut().zip(all) {
            c.extend_from_slice(&t.values()[..len]);
        }
    }
    let mut out: Columns = vec![
        ("pool", "<u4", u32_bytes(&pool)),
        ("time_s", "<f8", f64_bytes(&time)),
    ];
    for (n, c) in names.iter().zip(&cols) {
        out.push((n, "<f8", f64_bytes(c)));
    }
    let pools = s.pools().iter().map(|p| p.name.clone()).collect();
    (out, pools)
}

fn columns_dict<'py>(py: Python<'py>, cols: Columns) -> PyResult<Bound<'py, PyList>> {
    let l = PyList::empty(py);
    for (n, dt, b) in cols {
        l.append((n, dt, PyBytes::new(py, &b)))?;
    }
    Ok(l)
}

/// Runs a scenario (config JSON text) to its end, the GIL released; `planner`, when given,
/// is a Python object with `decide(observation)` that replaces the scenario's policy.
/// Returns a dict: `summary` (JSON text), `scaling_events` (JSON text), `requests` (columns
/// or None), `timeseries` (columns), `pools` (names), `wall_s`.
#[pyfunction]
#[pyo3(signature = (config_json, base_dir, planner=None, planner_interval_s=60.0))]
fn run<'py>(
    py: Python<'py>,
    config_json: &str,
    base_dir: &str,
    planner: Option<Py<PyAny>>,
    planner_interval_s: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let error = Arc::new(Mutex::new(None));
    let boxed: Option<Box<dyn Planner>> = planner.map(|obj| {
        Box::new(PyPlanner {
            obj,
            interval_s: planner_interval_s,
            error: error.clone(),
        }) as Box<dyn Planner>
    });
    let t0 = std::time::Instant::now();
    let res = py.detach(move || -> Result<_, Error> {
        let s = scenario_of(config_json, base_dir)?;
        let (summary, world) = match boxed {
            Some(p) => servesim::Run::with_planner(&s, p)?.finish()?,
            None => servesim::run(&s)?,
        };
        let summary = serde_json::to_string(&summary).map_err(|e| Error::Config {
            path: ".".into(),
            message: e.to_string(),
        })?;
        let events = serde_json::to_string(world.scaling_events()).map_err(|e| Error::Config {
            path: ".".into(),
            message: e.to_string(),
        })?;
        let req = request_columns(&world);
        let (ts, pools) = series_columns(&s, &world);
        Ok((summary, events, req, ts, pools))
    });
    let wall = t0.elapsed().as_secs_f64();
    if let Some(e) = error.lock().ok().and_then(|mut e| e.take()) {
        return Err(e);
    }
    let (summary, events, req, ts, pools) = res.map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("summary", summary)?;
    d.set_item("scaling_events", events)?;
    match req {
        Some(c) => d.set_item("requests", columns_dict(py, c)?)?,
        None => d.set_item("requests", py.None())?,
    }
    d.set_item("timeseries", columns_dict(py, ts)?)?;
    d.set_item("pools", pools)?;
    d.set_item("wall_s", wall)?;
    Ok(d)
}

/// Compares policies on common random numbers (the GIL released); returns the report as
/// JSON text.
#[pyfunction]
#[pyo3(signature = (config_json, base_dir, policies, first_seed=1, seeds=5, threads=0))]
fn ab(
    py: Python<'_>,
    config_json: &str,
    base_dir: &str,
    policies: Vec<String>,
    first_seed: u64,
    seeds: u64,
    threads: usize,
) -> PyResult<String> {
    py.detach(|| {
        let s = scenario_of(config_json, base_dir)?;
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let r = servesim::experiment::ab(&s, &policies, first_seed, seeds, threads)?;
        serde_json::to_string(&r).map_err(|e| Error::Config {
            path: ".".into(),
            message: e.to_string(),
        })
    })
    .map_err(to_py)
}

/// Runs the profiler on a request file (a DynamoGraphDeploymentRequest) and writes its
/// outputs into `out` (the GIL released); returns the text of `summary.json`.
#[pyfunction]
#[pyo3(signature = (request, out, mode="fast"))]
fn profile(py: Python<'_>, request: &str, out: &str, mode: &str) -> PyResult<String> {
    py.detach(|| {
        use servesim::profiler::{Overrides, ProfileMode, run_file};
        let mode = match mode {
            "fast" => ProfileMode::Fast,
            "simulate" => ProfileMode::Simulate,
            other => {
                return Err(Error::Config {
                    path: "mode".into(),
                    message: format!("'{other}' is not one of fast, simulate"),
                });
            }
        };
        let out = Path::new(out);
        run_file(Path::new(request), &Overrides::default(), mode, out)?;
        let summary = out.join("summary.json");
        std::fs::read_to_string(&summary).map_err(|source| Error::Io {
            path: summary,
            source,
        })
    })
    .map_err(to_py)
}

/// `servesim perf predict`: predicts every row of a kernel table (public layout) with the
/// shipped calibration of `gpu` and `backend`; writes `output` with `predicted_ms` and
/// `reason` columns. Returns (rows, rows predicted).
#[pyfunction]
fn perf_predict(
    py: Python<'_>,
    gpu: &str,
    backend: &str,
    table: &str,
    input: &str,
    output: &str,
) -> PyResult<(u64, u64)> {
    py.detach(|| {
        use servesim::models::backend::Backend;
        use servesim::models::calibration::import::PublicTable;
        use servesim::models::hardware::GpuCatalog;
        use servesim::models::perf::CalibratedTimer;
        use servesim::models::perf::evaluate::predict_public_file;
        let catalog = GpuCatalog::builtin();
        let backend = Backend::parse(backend)?;
        let table = PublicTable::parse(table)?;
        let timer = CalibratedTimer::shipped(&catalog, gpu, backend)?;
        let s = predict_public_file(&timer, table, Path::new(input), Path::new(output))?;
        Ok((s.rows as u64, s.predicted as u64))
    })
    .map_err(|e: servesim::models::ModelsError| to_py(Error::Models(e)))
}

/// Reads a trace (Azure, Mooncake or BurstGPT; format from the name or header) as columns
/// `time_s`, `input_tokens`, `output_tokens` (raw little-endian buffers, no object per row).
#[pyfunction]
fn read_trace<'py>(py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyList>> {
    let cols = py
        .detach(|| {
            use servesim::traffic::{TraceFormat, TraceReader};
            let path = Path::new(path);
            let mut reader = TraceReader::open(path, TraceFormat::detect(path)?)?;
            let (mut t, mut i, mut o) = (Vec::new(), Vec::new(), Vec::new());
            let mut t0 = None;
            while let Some(row) = reader.next_row()? {
                let start = *t0.get_or_insert(row.time_ns);
                // In i128: two timestamps far apart overflow an i64 difference.
                let since = i128::from(row.time_ns) - i128::from(start);
                t.extend_from_slice(&(since as f64 / 1e9).to_le_bytes());
                i.extend_from_slice(&row.input_tokens.to_le_bytes());
                o.extend_from_slice(&row.output_tokens.to_le_bytes());
            }
            Ok(vec![
                ("time_s", "<f8", t),
                ("input_tokens", "<u4", i),
                ("output_tokens", "<u4", o),
            ])
        })
        .map_err(|e: servesim::traffic::TrafficError| to_py(Error::Traffic(e)))?;
    columns_dict(py, cols)
}

/// Where a workload comes from: a scenario (config JSON), a `traffic:` section (JSON), or
/// a file (a trace, or YAML with a `traffic:` key, as `servesim traffic stats` reads).
/// Returns the spec, the seed and the duration the source gives.
fn workload_of(
    kind: &str,
    source: &str,
    base_dir: &str,
    format: Option<&str>,
) -> Result<(WorkloadSpec, Option<u64>, Option<SimDuration>), Error> {
    use servesim::traffic::{TraceFormat, WorkloadConfig, load_spec};
    let format = match format {
        None => None,
        Some(_) if kind != "file" => {
            return Err(Error::Config {
                path: "format".into(),
                message: "only a trace file has a format".into(),
            });
        }
        Some("azure") => Some(TraceFormat::Azure),
        Some("mooncake") => Some(TraceFormat::Mooncake),
        Some("burstgpt") => Some(TraceFormat::Burstgpt),
        Some(other) => {
            return Err(Error::Config {
                path: "format".into(),
                message: format!("'{other}' is not one of azure, mooncake, burstgpt"),
            });
        }
    };
    match kind {
        "scenario" => {
            let s = scenario_of(source, base_dir)?;
            Ok((s.traffic().clone(), Some(s.seed()), Some(s.duration())))
        }
        "traffic" => {
            let mut de = serde_json::Deserializer::from_str(source);
            let config: WorkloadConfig =
                serde_path_to_error::deserialize(&mut de).map_err(|e| {
                    let path = e.path().to_string();
                    Error::Parse {
                        origin: "<dict>".into(),
                        path: if path == "." {
                            "traffic".into()
                        } else {
                            format!("traffic.{path}")
                        },
                        message: e.into_inner().to_string(),
                    }
                })?;
            let spec = config
                .validate("traffic", Path::new(base_dir))
                .map_err(Error::Traffic)?;
            Ok((spec, None, None))
        }
        "file" => {
            let (spec, seed) = load_spec(Path::new(source), format).map_err(Error::Traffic)?;
            Ok((spec, seed, None))
        }
        other => Err(Error::Config {
            path: "source".into(),
            message: format!("unknown source kind {other:?}"),
        }),
    }
}

/// How to run a workload without a cluster, from the Python arguments.
struct AloneArgs<'a> {
    kind: &'a str,
    source: &'a str,
    base_dir: &'a str,
    format: Option<&'a str>,
    seed: Option<u64>,
    duration_s: Option<f64>,
    response_s: f64,
    max_requests: Option<u64>,
}

/// The workload of `a` and how to run it alone (see [`Standalone`]).
fn alone(a: &AloneArgs<'_>) -> Result<(WorkloadSpec, Standalone), Error> {
    let (spec, seed, duration) = workload_of(a.kind, a.source, a.base_dir, a.format)?;
    let secs = |path: &str, s: f64| {
        SimDuration::from_secs_f64_round(s).map_err(|e| Error::Config {
            path: path.into(),
            message: e.to_string(),
        })
    };
    let until = match a.duration_s {
        Some(s) => Some(secs("duration_s", s)?),
        None => duration,
    };
    let run = Standalone {
        seed: a.seed.or(seed).unwrap_or(0),
        until: until.map(|d| SimTime::ZERO + d),
        response: secs("response_s", a.response_s)?,
        max_requests: a.max_requests,
    };
    Ok((spec, run))
}

/// Runs `spec` alone; calls `f` on each request. The time limit is `duration_s` here.
fn run_alone(
    spec: &WorkloadSpec,
    run: &Standalone,
    f: impl FnMut(&servesim::traffic::Request),
) -> Result<u64, Error> {
    run.run(spec, f).map_err(|e| match e {
        servesim::traffic::TrafficError::Config { field, message } if field == "until" => {
            Error::Config {
                path: "duration_s".into(),
                message: format!("{message}: pass duration_s"),
            }
        }
        e => Error::Traffic(e),
    })
}

/// Generates the requests of a workload without a cluster (the GIL released) as raw
/// little-endian columns (name, dtype, data, validity bitmap or None). Returns a dict:
/// `columns`, `classes` and `streams` (names of the `class` and `stream` codes), and
/// `block_ids` (`(offsets <i8, values <u8)` of each prompt's block ids, when asked for).
#[pyfunction]
#[pyo3(signature = (kind, source, base_dir=".", seed=None, duration_s=None, response_s=0.0,
                    max_requests=None, block_ids=false, format=None))]
#[allow(clippy::too_many_arguments)]
fn generate_traffic<'py>(
    py: Python<'py>,
    kind: &str,
    source: &str,
    base_dir: &str,
    seed: Option<u64>,
    duration_s: Option<f64>,
    response_s: f64,
    max_requests: Option<u64>,
    block_ids: bool,
    format: Option<&str>,
) -> PyResult<Bound<'py, PyDict>> {
    #[derive(Default)]
    struct Cols {
        id: Vec<u8>,
        time: Vec<u8>,
        input: Vec<u8>,
        output: Vec<u8>,
        blocks: Vec<u8>,
        class: Vec<u8>,
        stream: Vec<u8>,
        user: Vec<u8>,
        session: Vec<u8>,
        turn: Vec<u8>,
        valid: Vec<u8>,
        n: usize,
        offsets: Vec<u8>,
        ids: Vec<u8>,
        next_offset: i64,
    }
    let args = AloneArgs {
        kind,
        source,
        base_dir,
        format,
        seed,
        duration_s,
        response_s,
        max_requests,
    };
    let (c, classes, streams) = py
        .detach(|| {
            let mut c = Cols::default();
            if block_ids {
                c.offsets.extend_from_slice(&0i64.to_le_bytes());
            }
            let (spec, run) = alone(&args)?;
            run_alone(&spec, &run, |r| {
                c.id.extend_from_slice(&r.id.0.to_le_bytes());
                c.time
                    .extend_from_slice(&r.arrival.as_secs_f64().to_le_bytes());
                c.input.extend_from_slice(&r.input_tokens.to_le_bytes());
                c.output.extend_from_slice(&r.output_tokens.to_le_bytes());
                let nb = r.prefix_blocks.len() as u32;
                c.blocks.extend_from_slice(&nb.to_le_bytes());
                c.class
                    .extend_from_slice(&i32::from(r.class.0).to_le_bytes());
                c.stream
                    .extend_from_slice(&i32::from(r.stream.0).to_le_bytes());
                let info = r.session.unwrap_or(servesim::traffic::SessionInfo {
                    user: 0,
                    session: 0,
                    turn: 0,
                });
                c.user.extend_from_slice(&info.user.to_le_bytes());
                c.session.extend_from_slice(&info.session.to_le_bytes());
                c.turn.extend_from_slice(&info.turn.to_le_bytes());
                if c.n % 8 == 0 {
                    c.valid.push(0);
                }
                if r.session.is_some()
                    && let Some(last) = c.valid.last_mut()
                {
                    *last |= 1 << (c.n % 8);
                }
                c.n += 1;
                if block_ids {
                    for b in r.prefix_blocks.iter() {
                        c.ids.extend_from_slice(&b.to_le_bytes());
                    }
                    c.next_offset += r.prefix_blocks.len() as i64;
                    c.offsets.extend_from_slice(&c.next_offset.to_le_bytes());
                }
            })?;
            let streams = spec.stream_names().map(str::to_string).collect::<Vec<_>>();
            Ok::<_, Error>((c, spec.class_names().to_vec(), streams))
        })
        .map_err(to_py)?;
    let cols = PyList::empty(py);
    let none = py.None();
    for (name, dt, data) in [
        ("request_id", "<u8", &c.id),
        ("time_s", "<f8", &c.time),
        ("input_tokens", "<u4", &c.input),
        ("output_tokens", "<u4", &c.output),
        ("prefix_blocks", "<u4", &c.blocks),
        ("class", "<i4", &c.class),
        ("stream", "<i4", &c.stream),
    ] {
        cols.append((name, dt, PyBytes::new(py, data), &none))?;
    }
    let valid = PyBytes::new(py, &c.valid);
    for (name, data) in [
        ("user", &c.user),
        ("session", &c.session),
        ("turn", &c.turn),
    ] {
        cols.append((name, "<u4", PyBytes::new(py, data), &valid))?;
    }
    let d = PyDict::new(py);
    d.set_item("columns", cols)?;
    d.set_item("classes", classes)?;
    d.set_item("streams", streams)?;
    if block_ids {
        d.set_item(
            "block_ids",
            (PyBytes::new(py, &c.offsets), PyBytes::new(py, &c.ids)),
        )?;
    } else {
        d.set_item("block_ids", &none)?;
    }
    Ok(d)
}

/// `servesim traffic stats`: counts, span, rate, sizes and prefix reuse per class of a
/// workload run without a cluster (the GIL released); returns the JSON text.
#[pyfunction]
#[pyo3(signature = (kind, source, base_dir=".", seed=None, duration_s=None, response_s=0.0,
                    max_requests=None, format=None))]
#[allow(clippy::too_many_arguments)]
fn traffic_stats(
    py: Python<'_>,
    kind: &str,
    source: &str,
    base_dir: &str,
    seed: Option<u64>,
    duration_s: Option<f64>,
    response_s: f64,
    max_requests: Option<u64>,
    format: Option<&str>,
) -> PyResult<String> {
    let args = AloneArgs {
        kind,
        source,
        base_dir,
        format,
        seed,
        duration_s,
        response_s,
        max_requests,
    };
    py.detach(|| {
        let (spec, run) = alone(&args)?;
        let mut b = servesim::traffic::StatsBuilder::new(spec.class_names());
        run_alone(&spec, &run, |r| b.record(r))?;
        Ok::<_, Error>(b.finish().to_json())
    })
    .map_err(to_py)
}

/// `servesim validate`: simulates every measured serving row of `input` and writes it to
/// `output` with its predictions (the GIL released); `from_start` as the CLI's
/// `--from-start` (`None`: the steady state). Returns a dict: `rows`, `predicted`, `overall`
/// and `groups` (MAPEs: `rows`, `ttft_pct`, `tpot_pct`), `predictions` (per row).
#[pyfunction]
fn validate_serving<'py>(
    py: Python<'py>,
    input: &str,
    output: &str,
    from_start: Option<u32>,
) -> PyResult<Bound<'py, PyDict>> {
    let averaged = servesim::validate::Averaged::from_start(from_start);
    let v = py
        .detach(|| servesim::validate::validate_file(Path::new(input), Path::new(output), averaged))
        .map_err(to_py)?;
    let mape = |m: &servesim::validate::Mape| -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("rows", m.rows)?;
        d.set_item("ttft_pct", m.ttft_pct)?;
        d.set_item("tpot_pct", m.tpot_pct)?;
        Ok(d)
    };
    let d = PyDict::new(py);
    d.set_item("rows", v.rows.len())?;
    d.set_item(
        "predicted",
        v.rows.iter().filter(|(_, p)| p.reason.is_none()).count(),
    )?;
    d.set_item("overall", mape(&v.overall)?)?;
    let groups = PyDict::new(py);
    for (k, m) in &v.groups {
        groups.set_item(k, mape(m)?)?;
    }
    d.set_item("groups", groups)?;
    let rows = PyList::empty(py);
    for (spec, p) in &v.rows {
        let r = PyDict::new(py);
        r.set_item("line", spec.line)?;
        r.set_item("backend", &spec.backend)?;
        r.set_item("mode", &spec.mode)?;
        r.set_item("concurrency", spec.concurrency)?;
        r.set_item("isl", spec.isl)?;
        r.set_item("osl", spec.osl)?;
        r.set_item("measured_ttft_ms", spec.measured_ttft_ms)?;
        r.set_item("measured_tpot_ms", spec.measured_tpot_ms)?;
        r.set_item("predicted_ttft_ms", p.ttft_ms)?;
        r.set_item("predicted_tpot_ms", p.tpot_ms)?;
        r.set_item("reason", &p.reason)?;
        rows.append(r)?;
    }
    d.set_item("predictions", rows)?;
    Ok(d)
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(parse_yaml, m)?)?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(ab, m)?)?;
    m.add_function(wrap_pyfunction!(profile, m)?)?;
    m.add_function(wrap_pyfunction!(perf_predict, m)?)?;
    m.add_function(wrap_pyfunction!(read_trace, m)?)?;
    m.add_function(wrap_pyfunction!(generate_traffic, m)?)?;
    m.add_function(wrap_pyfunction!(traffic_stats, m)?)?;
    m.add_function(wrap_pyfunction!(validate_serving, m)?)?;
    m.add("ServesimError", py.get_type::<ServesimError>())?;
    m.add("IoError", py.get_type::<IoError>())?;
    m.add("ParseError", py.get_type::<ParseError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("TrafficError", py.get_type::<TrafficError>())?;
    m.add("ModelsError", py.get_type::<ModelsError>())?;
    m.add("PlannerError", py.get_type::<PlannerError>())?;
    Ok(())
}
