//! A quantity's mean over seeds with its 95 % Student t-interval.

use std::fmt;

use serde::Serialize;

/// Mean and 95 % confidence interval of one quantity.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// Mean.
    pub mean: f64,
    /// Lower end of the 95 % interval.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

/// Two-sided 95 % Student t quantile for `df` degrees of freedom.
pub fn t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        // Within 0.005 of the exact quantile beyond 30 degrees of freedom.
        _ => 1.96 + 2.4 / df as f64,
    }
}

impl Estimate {
    /// Mean and t-interval of a sample (infinite interval for fewer than two values).
    pub fn of(xs: &[f64]) -> Estimate {
        let n = xs.len();
        if n == 0 {
            return Estimate {
                mean: f64::NAN,
                low: f64::NAN,
                high: f64::NAN,
            };
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Estimate {
                mean,
                low: f64::NEG_INFINITY,
                high: f64::INFINITY,
            };
        }
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let half = t95(n - 1) * (var / n as f64).sqrt();
        Estimate {
            mean,
            low: mean - half,
            high: mean + half,
        }
    }
}

impl Estimate {
    /// The interval's ends clipped to `[lo, hi]`: a proportion (SLO attainment) lies in
    /// `[0, 1]` and a difference of two in `[-1, 1]`, whatever the t-interval's normal
    /// approximation says near the ends.
    pub fn clipped(self, lo: f64, hi: f64) -> Estimate {
        Estimate {
            low: self.low.clamp(lo, hi),
            high: self.high.clamp(lo, hi),
            ..self
        }
    }

    /// The mean alone, with no interval (NaN ends): over runs that are all the same run,
    /// a zero-width interval would claim a certainty that the seeds do not give.
    pub fn without_interval(self) -> Estimate {
        Estimate {
            low: f64::NAN,
            high: f64::NAN,
            ..self
        }
    }
}

impl fmt::Display for Estimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:+.4} [{:+.4}, {:+.4}]", self.mean, self.low, self.high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_interval_of_a_known_sample() {
        let e = Estimate::of(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(e.mean, 3.0);
        // sd = 1.5811, se = 0.7071, t(4) = 2.776 → half-width 1.963.
        assert!((e.high - 3.0 - 1.963).abs() < 1e-3, "{e}");
        assert!(Estimate::of(&[2.0]).high.is_infinite());
        assert!((t95(40) - 2.021).abs() < 0.005);
    }

    #[test]
    fn a_proportion_interval_stays_within_its_range() {
        let e = Estimate::of(&[0.99, 1.0, 0.97]).clipped(0.0, 1.0);
        assert!(e.high == 1.0 && e.low > 0.9 && e.mean < 1.0, "{e}");
        let d = Estimate::of(&[-0.9, -1.0, -0.5]).clipped(-1.0, 1.0);
        assert_eq!(d.low, -1.0);
    }
}
