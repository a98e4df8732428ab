//! The crate's one error type.

/// Why a planner could not be built (bad configuration, unreadable profile).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PlannerError {
    /// The policy name is not one of the known policies.
    #[error("{path}: unknown policy '{name}' (known: {known})")]
    UnknownPolicy {
        /// Field path of the name, e.g. `planner.policy`.
        path: String,
        /// The name given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// A configuration value is out of range or inconsistent with the deployment.
    #[error("{path}: {message}")]
    Invalid {
        /// Field path, e.g. `planner.interval_s`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A profile file could not be read, parsed or is inconsistent.
    #[error("{file}: {message}")]
    Profile {
        /// The file (or directory) concerned.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The in-process profile could not be computed from the performance model.
    #[error("{path}: cannot compute a profile from the performance model: {message}")]
    Model {
        /// Field path that asked for it.
        path: String,
        /// What is missing or failed.
        message: String,
    },
}

impl PlannerError {
    pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        PlannerError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// `Ok` when `seconds` is a positive, finite number of seconds, else an error naming `path`.
    pub(crate) fn check_positive_seconds(path: String, seconds: f64) -> Result<(), Self> {
        if seconds.is_finite() && seconds > 0.0 {
            Ok(())
        } else {
            Err(PlannerError::invalid(
                path,
                format!("must be a positive number of seconds, got {seconds}"),
            ))
        }
    }
}
