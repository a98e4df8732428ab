//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong building or reading traffic. Bad input is
/// always an error that says where; nothing is skipped silently.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrafficError {
    /// A configuration value out of range; `field` is its path, e.g.
    /// `traffic.streams[1].open.arrival.rate_per_s`.
    #[error("{field}: {message}")]
    Config {
        /// Path of the offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A configuration document that does not parse (syntax, unknown field, wrong type).
    #[error("{origin}: {message}")]
    Parse {
        /// The file, or a short description of the source.
        origin: String,
        /// The parser's message (it names the field and position).
        message: String,
    },
    /// A trace row that cannot be read; `line` and `column` are 1-based.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Malformed {
        /// The trace file.
        path: PathBuf,
        /// Line of the row in the (decompressed) file.
        line: u64,
        /// Column: the field number in CSV files, the character position in JSONL.
        column: u64,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A file that cannot be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl TrafficError {
    /// A [`TrafficError::Config`] for `field`.
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        TrafficError::Config {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = TrafficError> = std::result::Result<T, E>;
