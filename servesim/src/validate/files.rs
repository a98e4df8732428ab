//! The files around a validation: the calibration folder it reads, the scenario folder it
//! writes, and each row's scenario as a file `servesim run` reads.

use std::path::{Path, PathBuf};

use super::{Averaged, PHASE_DRAWS, RowScenario};
use crate::Error;

/// The folder `dir` of measured kernel tables, absolute, once its tables are read.
pub(super) fn calibration_dir(dir: &Path) -> Result<PathBuf, Error> {
    let invalid = |message: String| Error::Config {
        path: "calibration".into(),
        message,
    };
    let abs = dir
        .canonicalize()
        .map_err(|e| invalid(format!("{}: {e}", dir.display())))?;
    if abs.to_str().is_none() {
        return Err(invalid(format!("{}: not a UTF-8 path", dir.display())));
    }
    match servesim_models::calibration::load_dir(&abs) {
        Ok(t) if t.is_empty() => Err(invalid(format!(
            "{}: the folder holds no calibration table",
            dir.display()
        ))),
        Ok(_) => Ok(abs),
        Err(e) => Err(invalid(format!("{}: {e}", dir.display()))),
    }
}

/// Whether `name` is one a row's scenario is written under (`line-N.yaml`, N its line).
pub fn is_scenario_name(name: &str) -> bool {
    name.strip_prefix("line-")
        .and_then(|n| n.strip_suffix(".yaml"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Makes `dir` ready for a run's scenario files before any row is simulated: created where
/// it is not, and refused where it already holds `line-N.yaml` files, which would mix with
/// this run's (and a user may have edited them).
pub(super) fn scenarios_dir(dir: &Path) -> Result<(), Error> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Config {
            path: "scenarios".into(),
            message: format!("{} is a file, not a folder", dir.display()),
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut earlier = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let name = entry.map_err(|e| Error::io(dir, e))?.file_name();
        let name = name.to_string_lossy();
        if is_scenario_name(&name) {
            earlier.push(name.into_owned());
        }
    }
    earlier.sort();
    match earlier.as_slice() {
        [] => Ok(()),
        [first, rest @ ..] => Err(Error::Config {
            path: "scenarios".into(),
            message: format!(
                "{} already holds the scenarios of an earlier run ({first}{}): give an empty \
                 or new directory, so that every file in it is of this run",
                dir.display(),
                if rest.is_empty() {
                    String::new()
                } else {
                    format!(" and {} more", rest.len())
                }
            ),
        }),
    }
}

/// The scenario a row's prediction simulated, as a YAML file `servesim run` reads, headed by
/// what it is: the first of the draws the prediction averages, and which of its requests the
/// prediction reads ([`RowScenario::reads`]).
pub fn scenario_file(
    origin: &str,
    line: usize,
    averaged: Averaged,
    scenario: &RowScenario,
) -> Result<String, Error> {
    let draws = match averaged {
        Averaged::Recipe(c) if c.in_step => "the only draw: users in step".to_string(),
        _ => format!("draw 1 of {PHASE_DRAWS} (seeds 1 to {PHASE_DRAWS}), users out of step"),
    };
    let yaml = serde_norway::to_string(&scenario.config).map_err(|e| Error::Config {
        path: format!("{origin}:{line}"),
        message: format!("its scenario does not serialize: {e}"),
    })?;
    Ok(format!(
        "# The scenario servesim validate simulated for line {line} of {origin}: {draws}.\n\
         # {}\n{yaml}",
        scenario.reads
    ))
}
