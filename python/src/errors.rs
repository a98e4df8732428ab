//! The Python exception classes and the one mapping of facade errors onto them.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use servesim::Error;

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
/// `TrafficError`. An error placed at a line of its file goes by the error placed.
pub fn to_py(e: Error) -> PyErr {
    use servesim::traffic::TrafficError as T;
    let msg = e.to_string();
    match e.inner() {
        Error::Io { .. } | Error::Traffic(T::Io { .. }) => IoError::new_err(msg),
        Error::Parse { .. } | Error::Traffic(T::Parse { .. }) => ParseError::new_err(msg),
        Error::Config { .. } | Error::Traffic(T::Config { .. }) => ConfigError::new_err(msg),
        Error::Traffic(_) => TrafficError::new_err(msg),
        Error::Models(_) => ModelsError::new_err(msg),
        Error::Planner(_) => PlannerError::new_err(msg),
        _ => ServesimError::new_err(msg),
    }
}

/// A value that should serialize but did not, as the facade's error.
pub fn unserializable(e: serde_json::Error) -> Error {
    Error::Config {
        path: ".".into(),
        message: e.to_string(),
    }
}

/// Adds every exception class to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ServesimError", py.get_type::<ServesimError>())?;
    m.add("IoError", py.get_type::<IoError>())?;
    m.add("ParseError", py.get_type::<ParseError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("TrafficError", py.get_type::<TrafficError>())?;
    m.add("ModelsError", py.get_type::<ModelsError>())?;
    m.add("PlannerError", py.get_type::<PlannerError>())?;
    Ok(())
}
