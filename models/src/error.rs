//! The one error type of `servesim-models`.

use std::path::PathBuf;

/// Every error this crate reports. Each names the file, line, column or field at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A CSV row or value is malformed.
    #[error("{path}:{line}{}: {message}", column.as_ref().map(|c| format!(": column `{c}`")).unwrap_or_default())]
    Csv {
        /// The file (or a description of the input).
        path: PathBuf,
        /// 1-based line number in the file.
        line: u64,
        /// The column at fault, when one is.
        column: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A calibration file's header is missing a required key or has an unsupported version.
    #[error("{path}: {message}")]
    CalibrationHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A configuration file (SKU file, Hugging Face `config.json`) has a missing or invalid field.
    #[error("{path}: field `{field}`: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// The field at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A name (GPU SKU, model, backend, dtype, table) that is not known.
    #[error("unknown {what} `{name}` (known: {known})")]
    UnknownName {
        /// What kind of name (e.g. "GPU SKU").
        what: &'static str,
        /// The name given.
        name: String,
        /// The accepted names, comma separated.
        known: String,
    },
    /// A short name that fits several known names (e.g. `llama` for two built-in Llamas).
    #[error("{what} `{name}` is ambiguous: it could be {candidates}")]
    AmbiguousName {
        /// What kind of name (e.g. "model").
        what: &'static str,
        /// The name given.
        name: String,
        /// The names it fits, comma separated.
        candidates: String,
    },
    /// A well-formed value the models cannot handle (e.g. an unknown dtype or collective).
    #[error("{path}:{line}: column `{column}`: {message}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The column.
        column: String,
        /// What is not supported.
        message: String,
    },
    /// A model (or a part of one) that a computation does not model yet, e.g. a
    /// mixture-of-experts model asked for the dense iteration predictor.
    #[error("{model}: {what} is not modelled yet: {reason}")]
    NotModelled {
        /// The model.
        model: String,
        /// What was asked of it.
        what: String,
        /// What it has that is not modelled, and what is missing.
        reason: String,
    },
    /// A value outside its valid range (e.g. a TP size of 0).
    #[error("invalid {what}: {message}")]
    Invalid {
        /// What was given.
        what: &'static str,
        /// Why it is invalid.
        message: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = ModelsError> = std::result::Result<T, E>;
