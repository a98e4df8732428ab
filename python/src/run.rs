//! Runs of a scenario: one run (optionally with a Python planner) and policy comparisons.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use servesim::Error;
use servesim::planner::Planner;

use crate::columns::{self, encode_all, series_columns};
use crate::errors::{to_py, unserializable};
use crate::planner::PyPlanner;
use crate::scenario::scenario_of;

/// Runs a scenario (config JSON text) to its end, the GIL released; `planner`, when given,
/// is a Python object with `decide(observation)` that replaces the scenario's policy.
/// Returns a dict: `summary` (JSON text), `scaling_events` (JSON text), `requests` (columns
/// or None), `classes` (class names, by the `class` column's codes), `timeseries` (columns),
/// `pools` (names), `wall_s`.
#[pyfunction]
#[pyo3(signature = (config_json, base_dir, planner=None, planner_interval_s=60.0))]
pub fn run<'py>(
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
        Ok((summary, events, requests, series, pools, classes))
    });
    let wall = t0.elapsed().as_secs_f64();
    if let Some(e) = error.lock().ok().and_then(|mut e| e.take()) {
        return Err(e);
    }
    let (summary, events, requests, series, pools, classes) = res.map_err(to_py)?;
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
    d.set_item("wall_s", wall)?;
    Ok(d)
}

/// Compares policies on common random numbers (the GIL released); returns the report as
/// JSON text.
#[pyfunction]
#[pyo3(signature = (config_json, base_dir, policies, first_seed=1, seeds=5, threads=0))]
pub fn ab(
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
        let r = servesim::experiment::ab(
            &s,
            &policies,
            first_seed,
            seeds,
            threads,
            &servesim::progress::Quiet,
        )?;
        serde_json::to_string(&r).map_err(unserializable)
    })
    .map_err(to_py)
}
