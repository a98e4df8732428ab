//! Scenarios and `traffic:` sections crossing as JSON text: parsing, validation, load scaling.

use std::path::Path;

use pyo3::prelude::*;
use servesim::scenario::ScenarioConfig;
use servesim::traffic::WorkloadConfig;
use servesim::{Error, Scenario};

use crate::errors::{ServesimError, to_py, unserializable};

/// The version of the Rust core.
#[pyfunction]
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Parses and validates scenario YAML (or JSON) text; returns the config as JSON text.
#[pyfunction]
pub fn parse_yaml(py: Python<'_>, text: &str, origin: &str, base_dir: &str) -> PyResult<String> {
    let s = py
        .detach(|| Scenario::from_yaml_str(text, origin, Path::new(base_dir)))
        .map_err(to_py)?;
    serde_json::to_string(&s.config()).map_err(|e| ServesimError::new_err(e.to_string()))
}

/// Validates config JSON text (raises on the first invalid field).
#[pyfunction]
pub fn validate(py: Python<'_>, config_json: &str, base_dir: &str) -> PyResult<()> {
    py.detach(|| scenario_of(config_json, base_dir).map(|_| ()))
        .map_err(to_py)
}

/// What can be said of a run of the scenario (config JSON text) before it starts (a run
/// that will take long): `servesim::warnings::before_run`.
#[pyfunction]
pub fn warnings_before(py: Python<'_>, config_json: &str, base_dir: &str) -> PyResult<Vec<String>> {
    py.detach(|| scenario_of(config_json, base_dir).map(|s| servesim::warnings::before_run(&s)))
        .map_err(to_py)
}

/// Scales the load of a `traffic:` section (JSON text) by `factor`, as
/// [`WorkloadConfig::scale_rates`]; returns the section as JSON text and how many streams
/// were scaled.
#[pyfunction]
pub fn scale_rates(traffic_json: &str, factor: f64) -> PyResult<(String, usize)> {
    let mut traffic = traffic_of(traffic_json).map_err(to_py)?;
    let scaled = traffic.scale_rates(factor);
    let json = serde_json::to_string(&traffic)
        .map_err(unserializable)
        .map_err(to_py)?;
    Ok((json, scaled))
}

/// Parses config JSON text with field-naming errors, then validates it.
pub fn scenario_of(config_json: &str, base_dir: &str) -> Result<Scenario, Error> {
    let mut de = serde_json::Deserializer::from_str(config_json);
    let config: ScenarioConfig = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        Error::Parse {
            origin: "<dict>".into(),
            message: dict_message(&path, &e.into_inner().to_string()),
            path,
        }
    })?;
    Scenario::validate(config, Path::new(base_dir))
}

/// Parses a `traffic:` section (JSON text); errors name the field under `traffic`.
pub fn traffic_of(traffic_json: &str) -> Result<WorkloadConfig, Error> {
    let mut de = serde_json::Deserializer::from_str(traffic_json);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        Error::Parse {
            origin: "<dict>".into(),
            path: if path == "." {
                "traffic".into()
            } else {
                format!("traffic.{path}")
            },
            message: dict_message(&path, &e.into_inner().to_string()),
        }
    })
}

/// A parse error of a dict as users read it: no position in the JSON text it crossed as
/// (the user never wrote that text; the path names the field), no Rust type names, and a
/// suggestion for a mistyped name.
fn dict_message(path: &str, message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => message,
    };
    servesim::scenario::parse_message(path, message)
}
