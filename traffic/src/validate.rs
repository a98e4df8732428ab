//! Small checks shared by the config validators; each error names the field.

use servesim_core::{SimDuration, SimTime};

use crate::error::{Result, TrafficError};

/// `v` if finite.
pub(crate) fn check_finite(field: &str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(TrafficError::config(
            field,
            format!("must be a finite number, got {v}"),
        ))
    }
}

/// `v` if finite and `> 0`.
pub(crate) fn check_pos(field: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(TrafficError::config(field, format!("must be > 0, got {v}")))
    }
}

/// `v` if finite and `>= 0`.
pub(crate) fn check_nonneg(field: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(TrafficError::config(
            field,
            format!("must be >= 0, got {v}"),
        ))
    }
}

/// A non-negative number of seconds as a span (rounded to the nearest nanosecond).
pub(crate) fn span(field: &str, secs: f64) -> Result<SimDuration> {
    check_nonneg(field, secs)?;
    SimDuration::from_secs_f64_round(secs).map_err(|e| TrafficError::config(field, e.to_string()))
}

/// A non-negative number of seconds as an instant.
pub(crate) fn instant(field: &str, secs: f64) -> Result<SimTime> {
    Ok(SimTime::ZERO + span(field, secs)?)
}

/// Seconds drawn at run time as a span; saturates rather than failing, since the
/// caller treats `SimDuration::MAX` as "never".
pub(crate) fn gap(secs: f64) -> SimDuration {
    SimDuration::from_secs_f64_round(secs).unwrap_or(SimDuration::MAX)
}
