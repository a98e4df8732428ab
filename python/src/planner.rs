//! A planner written in Python: `decide(observation: dict)` returns per-pool targets (a list
//! with one entry per pool, int or None, or a dict pool name → int, or None).

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict};
use servesim::planner::{Decision, Observation, Planner};

use crate::errors::PlannerError;

/// Calls a Python object's `decide`; the first error it raises is kept in `error` (for the
/// run to raise) and the planner changes nothing from then on.
pub struct PyPlanner {
    /// The Python object.
    pub obj: Py<PyAny>,
    /// How often it is called, s of simulated time.
    pub interval_s: f64,
    /// The first error `decide` raised.
    pub error: Arc<Mutex<Option<PyErr>>>,
}

impl PyPlanner {
    fn call(&self, py: Python<'_>, obs: &Observation) -> PyResult<Decision> {
        // Every field of the observation, as the planner crate serializes it.
        let observation = pythonize::pythonize(py, obs)?;
        let out = self.obj.bind(py).call_method1("decide", (observation,))?;
        decision(obs, &out)
    }
}

/// `decide`'s answer as a [`Decision`] for the pools of `obs`.
fn decision(obs: &Observation, out: &Bound<'_, PyAny>) -> PyResult<Decision> {
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
                .ok_or_else(|| PlannerError::new_err(format!("decide(): unknown pool {name:?}")))?;
            targets[idx] = count(&v).ok_or_else(|| {
                PlannerError::new_err(format!(
                    "decide(): pool {name:?}: {v} is not a worker count (an int >= 0) or None"
                ))
            })?;
        }
        return Ok(Decision {
            targets,
            ..Decision::default()
        });
    }
    let not_targets = || {
        PlannerError::new_err(format!(
            "decide(): {out} is not a dict of pool name to worker count, a list of \
             counts (one per pool, None to leave one alone), or None"
        ))
    };
    let items: Vec<Bound<'_, PyAny>> = out.extract().map_err(|_| not_targets())?;
    let targets: Vec<Option<u32>> = items
        .iter()
        .map(count)
        .collect::<Option<_>>()
        .ok_or_else(not_targets)?;
    if targets.len() != n {
        return Err(PlannerError::new_err(format!(
            "decide(): {} targets for {n} pools",
            targets.len()
        )));
    }
    Ok(Decision {
        targets,
        ..Decision::default()
    })
}

/// A worker count as Python gives it: an int of at least 0, or None to leave the pool
/// alone; `None` for anything else, a bool included (Python's `False` is an int 0, and
/// would silently empty a pool).
fn count(v: &Bound<'_, PyAny>) -> Option<Option<u32>> {
    if v.is_instance_of::<PyBool>() {
        return None;
    }
    v.extract::<Option<u32>>().ok()
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
