//! How a policy compares with the best fixed deployment, read from the paired 95 %
//! intervals (issue 19's bar: more goodput per GPU at equal or better SLO attainment).

use serde::Serialize;

use crate::experiment::Estimate;

/// A policy against the best fixed deployment, on one workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// More goodput per GPU (its interval above zero), attainment not shown lower.
    Wins,
    /// Shown better on one of goodput per GPU and attainment, and worse on the other.
    Trades,
    /// Less goodput per GPU with attainment not shown higher, or lower attainment with
    /// goodput per GPU not shown different.
    Loses,
    /// No difference shown in goodput per GPU, attainment not shown lower.
    Even,
}

impl Verdict {
    /// From the paired differences (policy − best-fixed) of goodput per GPU and attainment.
    /// `exact`: every seed of both gave the same run, so a difference is exact and its sign
    /// is the verdict's, where otherwise only an interval clear of zero counts. `None` where
    /// a difference is unknown (nothing judged, or one seed: no interval).
    pub fn of(goodput_per_gpu: &Estimate, attainment: &Estimate, exact: bool) -> Option<Self> {
        let side = |e: &Estimate| -> Option<i8> {
            if e.mean.is_nan() {
                None
            } else if exact {
                Some(sign(e.mean, e.mean))
            } else if e.low.is_finite() && e.high.is_finite() {
                Some(sign(e.low, e.high))
            } else {
                None
            }
        };
        Some(match (side(goodput_per_gpu)?, side(attainment)?) {
            (1, a) if a >= 0 => Verdict::Wins,
            (1, _) | (-1, 1) => Verdict::Trades,
            (0, a) if a >= 0 => Verdict::Even,
            _ => Verdict::Loses,
        })
    }

    /// The word printed for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Wins => "wins",
            Verdict::Trades => "trades",
            Verdict::Loses => "loses",
            Verdict::Even => "even",
        }
    }
}

/// +1 where the interval `[low, high]` lies above zero, −1 below, 0 where it holds zero.
fn sign(low: f64, high: f64) -> i8 {
    if low > 0.0 {
        1
    } else if high < 0.0 {
        -1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(mean: f64, low: f64, high: f64) -> Estimate {
        Estimate { mean, low, high }
    }

    #[test]
    fn only_intervals_clear_of_zero_count() {
        let up = e(0.2, 0.1, 0.3);
        let down = e(-0.2, -0.3, -0.1);
        let either = e(0.05, -0.1, 0.2);
        assert_eq!(Verdict::of(&up, &either, false), Some(Verdict::Wins));
        assert_eq!(Verdict::of(&up, &up, false), Some(Verdict::Wins));
        assert_eq!(Verdict::of(&up, &down, false), Some(Verdict::Trades));
        assert_eq!(Verdict::of(&down, &up, false), Some(Verdict::Trades));
        assert_eq!(Verdict::of(&down, &either, false), Some(Verdict::Loses));
        assert_eq!(Verdict::of(&either, &down, false), Some(Verdict::Loses));
        assert_eq!(Verdict::of(&either, &either, false), Some(Verdict::Even));
        assert_eq!(Verdict::of(&either, &up, false), Some(Verdict::Even));
    }

    #[test]
    fn exact_differences_count_by_their_sign_and_missing_ones_give_none() {
        let none = e(0.2, f64::NAN, f64::NAN);
        let zero = e(0.0, f64::NAN, f64::NAN);
        let minus = e(-0.01, f64::NAN, f64::NAN);
        assert_eq!(Verdict::of(&none, &zero, true), Some(Verdict::Wins));
        assert_eq!(Verdict::of(&none, &minus, true), Some(Verdict::Trades));
        assert_eq!(Verdict::of(&zero, &zero, true), Some(Verdict::Even));
        // One seed: no interval, no verdict; nothing judged: none either.
        assert_eq!(Verdict::of(&none, &zero, false), None);
        let unjudged = e(f64::NAN, f64::NAN, f64::NAN);
        assert_eq!(Verdict::of(&e(0.2, 0.1, 0.3), &unjudged, false), None);
    }
}
