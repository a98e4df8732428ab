//! The facade's one error type.

use std::path::{Path, PathBuf};

/// Every error of the facade; each names the file, line or field at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A scenario file does not parse (syntax, type or unknown field).
    #[error("{origin}: {}{message}", path_prefix(path))]
    Parse {
        /// The file.
        origin: String,
        /// The field path (`cluster.pools[1].tp`), `.` for the root.
        path: String,
        /// What is wrong, with the line and column.
        message: String,
    },
    /// A field has an invalid value.
    #[error("{path}: {message}")]
    Config {
        /// The field path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A value of a file that parses but is not valid, with where the file holds it.
    #[error("{origin}: {source} at line {line} column {column}")]
    At {
        /// The file.
        origin: String,
        /// Its line (from 1).
        line: usize,
        /// Its column (from 1).
        column: usize,
        /// What is wrong, naming the field.
        source: Box<Error>,
    },
    /// From the traffic crate (workload config or a trace row).
    #[error(transparent)]
    Traffic(servesim_traffic::TrafficError),
    /// From the models crate (catalogs, calibration data).
    #[error(transparent)]
    Models(servesim_models::ModelsError),
    /// From the planner crate (unknown policy, bad planner settings, unreadable profile).
    #[error(transparent)]
    Planner(servesim_planner::PlannerError),
}

/// A parse error's field path as it leads its message: none for the root (`.`) or where
/// the parser knows no path (`?`: a syntax error).
fn path_prefix(path: &str) -> String {
    match path {
        "" | "." | "?" => String::new(),
        p => format!("{p}: "),
    }
}

impl Error {
    /// A file at `path` that could not be read or written.
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The error itself, under any [`Error::At`] that says where it is.
    pub fn inner(&self) -> &Error {
        match self {
            Error::At { source, .. } => source.inner(),
            e => e,
        }
    }
}
