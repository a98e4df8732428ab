//! Progress of long calls told to a Python object (`phase(what, total)`, `done()`), from the
//! Rust threads doing the work: the Python side draws it (tqdm). Only observed: what the
//! object does or raises changes no result.

use pyo3::prelude::*;
use servesim::progress::Observer;

/// The facade's [`Observer`] over an optional Python object.
pub struct PyObserver(pub Option<Py<PyAny>>);

impl PyObserver {
    fn tell(&self, f: impl FnOnce(Python<'_>, &Py<PyAny>) -> PyResult<Py<PyAny>>) {
        if let Some(obj) = &self.0 {
            Python::attach(|py| {
                // A bar that fails to draw must not stop the work.
                let _ = f(py, obj);
            });
        }
    }
}

impl Observer for PyObserver {
    fn phase(&self, what: &str, total: u64) {
        self.tell(|py, o| o.call_method1(py, "phase", (what, total)));
    }

    fn done(&self) {
        self.tell(|py, o| o.call_method0(py, "done"));
    }
}
