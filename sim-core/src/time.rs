//! Simulated time: integer nanoseconds.
//!
//! Floats never become time implicitly. The only ways in from seconds are the
//! named constructors [`SimDuration::from_secs_f64_round`],
//! [`SimDuration::from_secs_f64_ceil`] and [`SimDuration::from_secs_f64_floor`],
//! which say how they round and reject NaN, negative and overflowing inputs.
//!
//! Operators (`+`, `-`) panic on overflow or underflow, like `std::time::Instant`;
//! the `checked_*` and `saturating_*` methods never do.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

use serde::{Deserialize, Serialize};

use crate::CoreError;

const NANOS_PER_SEC: u64 = 1_000_000_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_MICRO: u64 = 1_000;

/// A point in simulated time, in nanoseconds since the start of the run.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SimTime(u64);

/// A span of simulated time, in nanoseconds.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SimDuration(u64);

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// The latest representable instant (about 584 years).
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// The instant `nanos` nanoseconds after the start.
    pub const fn from_nanos(nanos: u64) -> Self {
        SimTime(nanos)
    }

    /// Nanoseconds since the start.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds since the start, as a float (for reports only; may lose precision).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    /// The span since the start.
    pub const fn since_start(self) -> SimDuration {
        SimDuration(self.0)
    }

    /// `self + d`, or `None` on overflow.
    pub const fn checked_add(self, d: SimDuration) -> Option<SimTime> {
        match self.0.checked_add(d.0) {
            Some(n) => Some(SimTime(n)),
            None => None,
        }
    }

    /// `self - d`, or `None` if that would be before the start.
    pub const fn checked_sub(self, d: SimDuration) -> Option<SimTime> {
        match self.0.checked_sub(d.0) {
            Some(n) => Some(SimTime(n)),
            None => None,
        }
    }

    /// `self + d`, clamped to [`SimTime::MAX`].
    pub const fn saturating_add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }

    /// The span from `earlier` to `self`, or `None` if `earlier` is later.
    pub const fn checked_duration_since(self, earlier: SimTime) -> Option<SimDuration> {
        match self.0.checked_sub(earlier.0) {
            Some(n) => Some(SimDuration(n)),
            None => None,
        }
    }

    /// The span from `earlier` to `self`, zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    /// No time at all.
    pub const ZERO: SimDuration = SimDuration(0);
    /// The longest representable span.
    pub const MAX: SimDuration = SimDuration(u64::MAX);

    /// A span of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: u64) -> Self {
        SimDuration(nanos)
    }

    /// A span of `micros` microseconds; `None` on overflow.
    pub const fn from_micros(micros: u64) -> Option<Self> {
        Self::scaled(micros, NANOS_PER_MICRO)
    }

    /// A span of `millis` milliseconds; `None` on overflow.
    pub const fn from_millis(millis: u64) -> Option<Self> {
        Self::scaled(millis, NANOS_PER_MILLI)
    }

    /// A span of `secs` whole seconds; `None` on overflow.
    pub const fn from_secs(secs: u64) -> Option<Self> {
        Self::scaled(secs, NANOS_PER_SEC)
    }

    const fn scaled(value: u64, unit: u64) -> Option<Self> {
        match value.checked_mul(unit) {
            Some(n) => Some(SimDuration(n)),
            None => None,
        }
    }

    /// Seconds, rounded to the nearest nanosecond (ties away from zero).
    pub fn from_secs_f64_round(secs: f64) -> Result<Self, CoreError> {
        Self::from_secs_f64_with(secs, f64::round)
    }

    /// Seconds, rounded up to the next whole nanosecond (never shorter than asked).
    pub fn from_secs_f64_ceil(secs: f64) -> Result<Self, CoreError> {
        Self::from_secs_f64_with(secs, f64::ceil)
    }

    /// Seconds, rounded down to a whole nanosecond (never longer than asked).
    pub fn from_secs_f64_floor(secs: f64) -> Result<Self, CoreError> {
        Self::from_secs_f64_with(secs, f64::floor)
    }

    fn from_secs_f64_with(secs: f64, round: fn(f64) -> f64) -> Result<Self, CoreError> {
        if !secs.is_finite() || secs < 0.0 {
            return Err(CoreError::InvalidSeconds(secs));
        }
        let nanos = round(secs * NANOS_PER_SEC as f64);
        // u64::MAX as f64 rounds up to 2^64, so `>=` rejects everything unrepresentable.
        if nanos >= u64::MAX as f64 {
            return Err(CoreError::TimeOverflow);
        }
        Ok(SimDuration(nanos as u64))
    }

    /// Nanoseconds in this span.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds, as a float (for reports and models; may lose precision).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    /// Milliseconds, as a float.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_MILLI as f64
    }

    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: SimDuration) -> Option<SimDuration> {
        match self.0.checked_add(other.0) {
            Some(n) => Some(SimDuration(n)),
            None => None,
        }
    }

    /// `self - other`, or `None` if negative.
    pub const fn checked_sub(self, other: SimDuration) -> Option<SimDuration> {
        match self.0.checked_sub(other.0) {
            Some(n) => Some(SimDuration(n)),
            None => None,
        }
    }

    /// `self - other`, zero if negative.
    pub const fn saturating_sub(self, other: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_sub(other.0))
    }

    /// `self × k`, or `None` on overflow.
    pub const fn checked_mul(self, k: u64) -> Option<SimDuration> {
        match self.0.checked_mul(k) {
            Some(n) => Some(SimDuration(n)),
            None => None,
        }
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        self.checked_add(d)
            .expect("SimTime overflow: time past u64::MAX nanoseconds")
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        *self = *self + d;
    }
}

impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    fn sub(self, earlier: SimTime) -> SimDuration {
        self.checked_duration_since(earlier)
            .expect("SimTime underflow: subtracting a later time from an earlier one")
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, other: SimDuration) -> SimDuration {
        self.checked_add(other).expect("SimDuration overflow")
    }
}

impl AddAssign for SimDuration {
    fn add_assign(&mut self, other: SimDuration) {
        *self = *self + other;
    }
}

impl Sub for SimDuration {
    type Output = SimDuration;
    fn sub(self, other: SimDuration) -> SimDuration {
        self.checked_sub(other)
            .expect("SimDuration underflow: negative span")
    }
}

/// Seconds with nanosecond precision, e.g. `12.000000500s`.
fn fmt_nanos(nanos: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}.{:09}s", nanos / NANOS_PER_SEC, nanos % NANOS_PER_SEC)
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("t=")?;
        fmt_nanos(self.0, f)
    }
}

impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_nanos(self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_constructors_say_how_they_round() {
        let x = 1.5e-9; // 1.5 ns
        assert_eq!(SimDuration::from_secs_f64_round(x).unwrap().as_nanos(), 2);
        assert_eq!(SimDuration::from_secs_f64_ceil(x).unwrap().as_nanos(), 2);
        assert_eq!(SimDuration::from_secs_f64_floor(x).unwrap().as_nanos(), 1);
        assert_eq!(
            SimDuration::from_secs_f64_round(0.25).unwrap().as_nanos(),
            250_000_000
        );
        assert_eq!(
            SimDuration::from_secs_f64_round(0.0).unwrap(),
            SimDuration::ZERO
        );
    }

    #[test]
    fn float_constructors_reject_what_is_not_a_time() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1e-12, -3.0] {
            assert!(matches!(
                SimDuration::from_secs_f64_round(bad),
                Err(CoreError::InvalidSeconds(_))
            ));
        }
        assert!(matches!(
            SimDuration::from_secs_f64_round(1e11),
            Err(CoreError::TimeOverflow)
        ));
        // The largest whole second count that fits: 18_446_744_073 s.
        assert!(SimDuration::from_secs_f64_floor(18_446_744_073.0).is_ok());
        assert!(SimDuration::from_secs_f64_floor(18_446_744_074.0).is_err());
    }

    #[test]
    fn integer_constructors_detect_overflow() {
        assert_eq!(
            SimDuration::from_secs(3).unwrap().as_nanos(),
            3 * NANOS_PER_SEC
        );
        assert_eq!(SimDuration::from_millis(7).unwrap().as_nanos(), 7_000_000);
        assert_eq!(SimDuration::from_micros(7).unwrap().as_nanos(), 7_000);
        assert!(SimDuration::from_secs(u64::MAX / NANOS_PER_SEC + 1).is_none());
        assert!(SimDuration::from_secs(u64::MAX / NANOS_PER_SEC).is_some());
    }

    #[test]
    fn arithmetic_at_the_edges() {
        let one = SimDuration::from_nanos(1);
        assert_eq!(SimTime::MAX.checked_add(one), None);
        assert_eq!(SimTime::MAX.saturating_add(one), SimTime::MAX);
        assert_eq!(SimTime::ZERO.checked_sub(one), None);
        assert_eq!(
            SimTime::from_nanos(5).checked_duration_since(SimTime::from_nanos(6)),
            None
        );
        assert_eq!(
            SimTime::from_nanos(5).saturating_duration_since(SimTime::from_nanos(6)),
            SimDuration::ZERO
        );
        assert_eq!(SimDuration::MAX.checked_mul(2), None);
        assert_eq!(SimDuration::ZERO.saturating_sub(one), SimDuration::ZERO);
        let t = SimTime::from_nanos(10) + SimDuration::from_nanos(5);
        assert_eq!(t - SimTime::from_nanos(10), SimDuration::from_nanos(5));
    }

    #[test]
    #[should_panic(expected = "SimTime overflow")]
    fn add_panics_on_overflow() {
        let _ = SimTime::MAX + SimDuration::from_nanos(1);
    }

    #[test]
    #[should_panic(expected = "SimTime underflow")]
    fn time_sub_panics_when_negative() {
        let _ = SimTime::ZERO - SimTime::from_nanos(1);
    }

    #[test]
    fn display_is_exact() {
        assert_eq!(
            SimTime::from_nanos(12_000_000_500).to_string(),
            "t=12.000000500s"
        );
        assert_eq!(SimDuration::from_nanos(999).to_string(), "0.000000999s");
    }
}
