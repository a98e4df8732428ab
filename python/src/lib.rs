//! The private native module `servesim._native`: conversion only, no logic.
//!
//! Scenarios cross the boundary as JSON text of the scenario config (the same fields as the
//! YAML files); summaries and reports come back as JSON text; observations reach Python
//! planners as the planner crate serializes them; request rows and time series come back as
//! raw little-endian column buffers (`bytes`) that the Python side wraps in NumPy/Arrow
//! without a Python object per row. Every run releases the GIL.
//!
//! - `errors`: the exception classes and the mapping of facade errors onto them;
//! - `scenario`: parsing, validation and load scaling of scenario JSON;
//! - `run`: runs and policy comparisons, with `planner` for planners written in Python;
//! - `step`: a run stepped from one decision to the next, the decisions given from Python;
//! - `traffic`: workloads run without a cluster, and traces;
//! - `tools`: the profiler, kernel predictions and serving validation;
//! - `progress`: long calls' progress told to a Python object (drawn with tqdm);
//! - `columns`: column buffers.

mod columns;
mod errors;
mod planner;
mod progress;
mod run;
mod scenario;
mod step;
mod tools;
mod traffic;

use pyo3::prelude::*;

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(scenario::version, m)?)?;
    m.add_function(wrap_pyfunction!(scenario::parse_yaml, m)?)?;
    m.add_function(wrap_pyfunction!(scenario::validate, m)?)?;
    m.add_function(wrap_pyfunction!(scenario::scale_rates, m)?)?;
    m.add_function(wrap_pyfunction!(scenario::warnings_before, m)?)?;
    m.add_function(wrap_pyfunction!(run::run, m)?)?;
    m.add_function(wrap_pyfunction!(run::ab, m)?)?;
    m.add_function(wrap_pyfunction!(tools::profile, m)?)?;
    m.add_function(wrap_pyfunction!(tools::perf_check, m)?)?;
    m.add_function(wrap_pyfunction!(tools::perf_predict, m)?)?;
    m.add_function(wrap_pyfunction!(tools::perf_step, m)?)?;
    m.add_function(wrap_pyfunction!(tools::validate_serving, m)?)?;
    m.add_function(wrap_pyfunction!(traffic::read_trace, m)?)?;
    m.add_class::<traffic::Workload>()?;
    m.add_class::<step::Stepper>()?;
    errors::register(m)
}
