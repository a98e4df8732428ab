//! A run stepped from one planner decision to the next, the decisions given from Python
//! (`servesim.gym`): [`servesim::Stepper`] behind a lock, each step with the GIL released.

use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use servesim::planner::Decision;

use crate::errors::{to_py, unserializable};
use crate::scenario::scenario_of;

/// A stepped run of a scenario (config JSON): `advance(targets)` applies the targets to the
/// observation waiting for them and simulates to the next decision time, or to the end.
#[pyclass(module = "servesim._native", frozen)]
pub struct Stepper {
    inner: Mutex<servesim::Stepper>,
}

impl Stepper {
    fn lock(&self) -> PyResult<MutexGuard<'_, servesim::Stepper>> {
        self.inner
            .lock()
            .map_err(|_| PyRuntimeError::new_err("a step panicked; the stepper is unusable"))
    }
}

#[pymethods]
impl Stepper {
    /// Prepares the run (nothing simulated yet); decisions are due every `interval_s`
    /// seconds (default: the scenario's `planner.interval_s`, else 60).
    #[new]
    #[pyo3(signature = (config_json, base_dir=".", interval_s=None))]
    fn new(
        py: Python<'_>,
        config_json: &str,
        base_dir: &str,
        interval_s: Option<f64>,
    ) -> PyResult<Self> {
        let inner = py
            .detach(|| {
                let s = scenario_of(config_json, base_dir)?;
                servesim::Stepper::new(&s, interval_s)
            })
            .map_err(to_py)?;
        Ok(Stepper {
            inner: Mutex::new(inner),
        })
    }

    /// Applies `targets` (one `int | None` per pool; None for the whole list: change
    /// nothing) to the observation waiting for a decision, then simulates to the next one.
    #[pyo3(signature = (targets=None))]
    fn advance(&self, py: Python<'_>, targets: Option<Vec<Option<u32>>>) -> PyResult<()> {
        let decision = targets.map(|targets| Decision {
            targets,
            ..Decision::default()
        });
        let mut guard = self.lock()?;
        let inner: &mut servesim::Stepper = &mut guard;
        py.detach(|| inner.advance(decision.as_ref()))
            .map_err(to_py)
    }

    /// The observation waiting for a decision (once done, the one the run ended on), as a
    /// Python planner's `decide` receives it; None before the first `advance`.
    fn observation<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let inner = self.lock()?;
        inner
            .observation()
            .map(|o| pythonize::pythonize(py, o).map_err(PyErr::from))
            .transpose()
    }

    /// Whether the run has reached the scenario's end.
    #[getter]
    fn done(&self) -> PyResult<bool> {
        Ok(self.lock()?.is_done())
    }

    /// Totals so far (dict): `time_s`, `completed`, `slo_met`, `good_tokens`, `gpu_hours`.
    fn progress<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let p = self.lock()?.progress();
        Ok(pythonize::pythonize(py, &p)?)
    }

    /// The pools (list of dicts): `name`, `role`, `gpus_per_worker`, `active`.
    fn pools<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let pools = self.lock()?.pools();
        Ok(pythonize::pythonize(py, &pools)?)
    }

    /// Most GPUs the deployment may hold at once.
    #[getter]
    fn gpu_budget(&self) -> PyResult<u32> {
        Ok(self.lock()?.gpu_budget())
    }

    /// The run's summary so far, as JSON text (the CLI's `--json`).
    fn summary(&self) -> PyResult<String> {
        let s = self.lock()?.summary();
        serde_json::to_string(&s).map_err(|e| to_py(unserializable(e)))
    }
}
