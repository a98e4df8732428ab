//! Runs of a scenario: one run (optionally with a Python planner) and policy comparisons.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use servesim::Error;
use servesim::core::{SimDuration, SimTime};
use servesim::planner::Planner;
use servesim::trace::{DEFAULT_MAX_EVENTS, TraceConfig};

use crate::columns::{self, encode_all, series_columns};
use crate::errors::{to_py, unserializable};
use crate::planner::PyPlanner;
use crate::progress::PyObserver;
use crate::scenario::scenario_of;

/// Runs a scenario (config JSON text) to its end, the GIL released; `planner`, when given,
/// is a Python object with `decide(observation)` that replaces the scenario's policy;
/// `trace`, when given, a file to write the run's timeline to (`servesim run --trace`),
/// under `trace_max_events` and within `trace_window` (start and end, seconds);
/// `progress`, when given, an object told of each hundredth of the simulated time
/// (`phase(what, total)`, `done()`).
/// Returns a dict: `summary` (JSON text), `scaling_events` (JSON text), `requests` (columns
/// or None), `classes` (class names, by the `class` column's codes), `timeseries` (columns),
/// `pools` (names), `trace` (what the trace holds, a dict, or None), `wall_s`.
#[pyfunction]
#[pyo3(signature = (
    config_json, base_dir, planner=None, planner_interval_s=60.0, trace=None,
    trace_max_events=1_000_000, trace_window=None, progress=None
))]
#[allow(clippy::too_many_arguments)]
pub fn run<'py>(
    py: Python<'py>,
    config_json: &str,
    base_dir: &str,
    planner: Option<Py<PyAny>>,
    planner_interval_s: f64,
    trace: Option<std::path::PathBuf>,
    trace_max_events: u64,
    trace_window: Option<(f64, f64)>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let observer = PyObserver(progress);
    let trace = trace
        .map(|path| trace_config(path, trace_max_events, trace_window))
        .transpose()
        .map_err(to_py)?;
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
        let mut run = match boxed {
            Some(p) => servesim::Run::with_planner(&s, p)?,
            None => servesim::Run::new(&s)?,
        };
        if let Some(t) = &trace {
            run.trace_to(t)?;
        }
        let (summary, world) = match observer.0 {
            Some(_) => run.finish_observed(&observer)?,
            None => run.finish()?,
        };
        let trace = world.trace_outcome().map(|t| TraceInfo {
            path: t.path.display().to_string(),
            bytes: t.bytes,
            events: t.events,
            max_events: t.max_events,
            stopped_at_s: t.stopped_at.map(|at| at.as_secs_f64()),
            message: t.to_string(),
        });
        let summary = serde_json::to_string(&summary).map_err(unserializable)?;
        let events = serde_json::to_string(world.scaling_events()).map_err(unserializable)?;
        let requests = world
            .metrics
            .requests
            .as_ref()
            .map(|r| encode_all(r.columns()));
        let series = series_columns(&world.metrics.long_series());
        let pools: Vec<String> = s.pools().iter().map(|p| p.name.clone()).collect();
        let classes = world.workload.class_names().to_vec();
        Ok((summary, events, requests, series, pools, classes, trace))
    });
    let wall = t0.elapsed().as_secs_f64();
    if let Some(e) = error.lock().ok().and_then(|mut e| e.take()) {
        return Err(e);
    }
    let (summary, events, requests, series, pools, classes, trace) = res.map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("summary", summary)?;
    d.set_item("scaling_events", events)?;
    match requests {
        Some(c) => d.set_item("requests", columns::to_list(py, c)?)?,
        None => d.set_item("requests", py.None())?,
    }
    d.set_item("timeseries", columns::to_list(py, series)?)?;
    d.set_item("pools", pools)?;
    d.set_item("classes", classes)?;
    match trace {
        Some(t) => {
            let td = PyDict::new(py);
            td.set_item("path", t.path)?;
            td.set_item("bytes", t.bytes)?;
            td.set_item("events", t.events)?;
            td.set_item("max_events", t.max_events)?;
            td.set_item("stopped_at_s", t.stopped_at_s)?;
            td.set_item("message", t.message)?;
            d.set_item("trace", td)?
        }
        None => d.set_item("trace", py.None())?,
    }
    d.set_item("wall_s", wall)?;
    Ok(d)
}

/// Compares policies on common random numbers (the GIL released); returns the report as
/// JSON text. `progress`, when given, is told of each run as it ends.
#[pyfunction]
#[pyo3(signature = (config_json, base_dir, policies, first_seed=1, seeds=5, threads=0, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn ab(
    py: Python<'_>,
    config_json: &str,
    base_dir: &str,
    policies: Vec<String>,
    first_seed: u64,
    seeds: u64,
    threads: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let observer = PyObserver(progress);
    py.detach(|| {
        let s = scenario_of(config_json, base_dir)?;
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let r = servesim::experiment::ab(&s, &policies, first_seed, seeds, threads, &observer)?;
        serde_json::to_string(&r).map_err(unserializable)
    })
    .map_err(to_py)
}

// The signature of `run` spells the CLI's default cap out, so that Python sees its value.
const _: () = assert!(DEFAULT_MAX_EVENTS == 1_000_000);

/// What a run's trace holds, for Python.
struct TraceInfo {
    path: String,
    bytes: u64,
    events: u64,
    max_events: u64,
    stopped_at_s: Option<f64>,
    message: String,
}

/// The trace to write, its arguments checked as the CLI's are.
fn trace_config(
    path: std::path::PathBuf,
    max_events: u64,
    window: Option<(f64, f64)>,
) -> Result<TraceConfig, Error> {
    let invalid = |field: &str, message: String| Error::Config {
        path: field.into(),
        message,
    };
    if max_events == 0 {
        return Err(invalid("trace_max_events", "must be at least 1".into()));
    }
    let window = match window {
        None => None,
        Some((start, end)) => {
            let at = |v: f64| {
                SimDuration::from_secs_f64_round(v)
                    .map(|d| SimTime::ZERO + d)
                    .map_err(|e| invalid("trace_window", format!("{v}: {e}")))
            };
            let (start, end) = (at(start)?, at(end)?);
            if end <= start {
                return Err(invalid(
                    "trace_window",
                    "the end must come after the start".into(),
                ));
            }
            Some((start, end))
        }
    };
    Ok(TraceConfig {
        path,
        max_events,
        window,
    })
}
