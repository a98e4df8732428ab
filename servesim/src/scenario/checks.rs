//! Small checks every part of a scenario uses: a field's error, durations and intervals.

use servesim_core::SimDuration;

use crate::Error;

pub(super) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Config {
        path: path.into(),
        message: message.into(),
    }
}

pub(super) fn seconds(path: &str, secs: f64, positive: bool) -> Result<SimDuration, Error> {
    if !secs.is_finite() || secs < 0.0 || (positive && secs == 0.0) {
        let want = if positive {
            "a positive number of seconds"
        } else {
            "a number of seconds >= 0"
        };
        return Err(invalid(path, format!("must be {want}, got {secs}")));
    }
    let d = SimDuration::from_secs_f64_round(secs).map_err(|e| invalid(path, e.to_string()))?;
    if positive && d == SimDuration::ZERO {
        return Err(invalid(
            path,
            format!("{secs:e} s is below the clock's resolution (1 ns)"),
        ));
    }
    Ok(d)
}

/// Shortest sampling or planning interval, s: a shorter one would take more steps than the
/// simulation itself (a million per simulated hour at 1 ms).
pub const MIN_INTERVAL_S: f64 = 1e-3;

/// A periodic interval: at least [`MIN_INTERVAL_S`].
pub(super) fn interval(path: &str, secs: f64) -> Result<SimDuration, Error> {
    let d = seconds(path, secs, true)?;
    if secs < MIN_INTERVAL_S {
        return Err(invalid(
            path,
            format!("must be at least {MIN_INTERVAL_S} s, got {secs}"),
        ));
    }
    Ok(d)
}
