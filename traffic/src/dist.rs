//! Distributions of sizes (tokens), think times (seconds) and turn counts.

use rand::RngExt;
use rand_distr::{Distribution, Exp, LogNormal, Normal};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrafficError};
use crate::validate::{check_finite, check_nonneg, check_pos};
use servesim_core::StreamRng;

/// A distribution of a non-negative quantity, as written in a scenario file
/// (`{kind: lognormal, mean: 300, p50: 200}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DistConfig {
    /// Always `value`.
    Fixed {
        /// The value.
        value: f64,
    },
    /// Uniform on `[min, max]` (whole numbers, both ends included, when counting tokens or turns).
    Uniform {
        /// Smallest value.
        min: f64,
        /// Largest value.
        max: f64,
    },
    /// Log-normal given by exactly two of `mean`, `p50` (the median) and `sigma` (of the log).
    Lognormal {
        /// Mean.
        mean: Option<f64>,
        /// Median.
        p50: Option<f64>,
        /// Standard deviation of the logarithm.
        sigma: Option<f64>,
        /// Draws below are raised to `min`.
        min: Option<f64>,
        /// Draws above are cut to `max`.
        max: Option<f64>,
    },
    /// Normal with mean and standard deviation, clipped to `[min, max]` (`min` defaults to 0).
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
        /// Draws below are raised to `min`.
        min: Option<f64>,
        /// Draws above are cut to `max`.
        max: Option<f64>,
    },
    /// Exponential with the given mean.
    Exponential {
        /// Mean.
        mean: f64,
        /// Draws above are cut to `max`.
        max: Option<f64>,
    },
}

/// A validated distribution, ready to sample.
#[derive(Clone, Debug)]
pub enum Dist {
    /// Always this value.
    Fixed(f64),
    /// Uniform on `[min, max]`.
    Uniform(f64, f64),
    /// A continuous law clipped to `[min, max]`.
    Clipped(Law, f64, f64),
}

/// The continuous laws behind [`Dist::Clipped`].
#[derive(Clone, Debug)]
pub enum Law {
    /// Log-normal.
    LogNormal(LogNormal<f64>),
    /// Normal.
    Normal(Normal<f64>),
    /// Exponential.
    Exp(Exp<f64>),
}

impl DistConfig {
    /// Refuses a law that can draw nothing above zero for a count that must be at least one
    /// (an answer's tokens, a conversation's turns): its draws, rounded, would all be 0,
    /// and each would be taken as 1 without a word.
    pub fn check_at_least_one(&self, field: &str) -> Result<()> {
        let (name, most) = match *self {
            DistConfig::Fixed { value } => ("value", Some(value)),
            DistConfig::Uniform { max, .. } => ("max", Some(max)),
            DistConfig::Lognormal { max, .. }
            | DistConfig::Normal { max, .. }
            | DistConfig::Exponential { max, .. } => ("max", max),
        };
        match most {
            Some(m) if m.round() < 1.0 => Err(TrafficError::config(
                format!("{field}.{name}"),
                format!("must be at least 1, got {m}"),
            )),
            _ => Ok(()),
        }
    }

    /// [`DistConfig::validate`] for a count of tokens: also refused when its draws are not
    /// bounded by what a count holds (`u32::MAX`, some 4.3 billion tokens) and its mean
    /// exceeds that. Such a law draws counts that saturate, each a prompt of billions of
    /// tokens that no model's context comes near and whose blocks alone fill memory.
    pub fn validate_tokens(&self, field: &str) -> Result<Dist> {
        let dist = self.validate(field)?;
        let most = f64::from(u32::MAX);
        let (mean, max) = match *self {
            DistConfig::Fixed { value } => (value, Some(value)),
            DistConfig::Uniform { min, max } => ((min + max) / 2.0, Some(max)),
            DistConfig::Lognormal {
                mean,
                p50,
                sigma,
                max,
                ..
            } => {
                let mean = match (mean, p50, sigma) {
                    (Some(m), _, _) => m,
                    // Validated above: p50 and sigma.
                    (None, Some(p50), Some(sigma)) => p50 * (sigma * sigma / 2.0).exp(),
                    _ => f64::INFINITY,
                };
                (mean, max)
            }
            DistConfig::Normal { mean, max, .. } | DistConfig::Exponential { mean, max } => {
                (mean, max)
            }
        };
        if max.is_some_and(|m| m <= most) || mean <= most {
            return Ok(dist);
        }
        let name = if matches!(self, DistConfig::Fixed { .. }) {
            "value"
        } else {
            "mean"
        };
        Err(TrafficError::config(
            format!("{field}.{name}"),
            format!(
                "{} tokens is more than this simulator accepts (at most {most} on average)",
                if mean < 1e15 {
                    format!("{mean}")
                } else {
                    format!("{mean:e}")
                }
            ),
        ))
    }

    /// Checks the figures (finite, non-negative, consistent) and builds the sampler.
    /// `field` is the path used in errors.
    pub fn validate(&self, field: &str) -> Result<Dist> {
        let f = |name: &str| format!("{field}.{name}");
        let bounds = |min: Option<f64>, max: Option<f64>, lo: f64| -> Result<(f64, f64)> {
            let min = match min {
                Some(v) => check_nonneg(&f("min"), v)?,
                None => lo,
            };
            let max = match max {
                Some(v) => check_nonneg(&f("max"), v)?,
                None => f64::INFINITY,
            };
            if max < min {
                return Err(TrafficError::config(
                    f("max"),
                    format!("must be >= min ({min}), got {max}"),
                ));
            }
            Ok((min, max))
        };
        Ok(match *self {
            DistConfig::Fixed { value } => Dist::Fixed(check_nonneg(&f("value"), value)?),
            DistConfig::Uniform { min, max } => {
                let min = check_nonneg(&f("min"), min)?;
                let max = check_nonneg(&f("max"), max)?;
                if max < min {
                    return Err(TrafficError::config(
                        f("max"),
                        format!("must be >= min ({min}), got {max}"),
                    ));
                }
                Dist::Uniform(min, max)
            }
            DistConfig::Lognormal {
                mean,
                p50,
                sigma,
                min,
                max,
            } => {
                let (mu, sigma) = match (mean, p50, sigma) {
                    (Some(mean), Some(p50), None) => {
                        let mean = check_pos(&f("mean"), mean)?;
                        let p50 = check_pos(&f("p50"), p50)?;
                        if mean < p50 {
                            return Err(TrafficError::config(
                                f("mean"),
                                format!(
                                    "a log-normal's mean is at least its p50 ({p50}), got {mean}"
                                ),
                            ));
                        }
                        (p50.ln(), (2.0 * (mean / p50).ln()).sqrt())
                    }
                    (None, Some(p50), Some(sigma)) => (
                        check_pos(&f("p50"), p50)?.ln(),
                        check_nonneg(&f("sigma"), sigma)?,
                    ),
                    (Some(mean), None, Some(sigma)) => {
                        let sigma = check_nonneg(&f("sigma"), sigma)?;
                        (
                            check_pos(&f("mean"), mean)?.ln() - sigma * sigma / 2.0,
                            sigma,
                        )
                    }
                    _ => {
                        return Err(TrafficError::config(
                            field,
                            "give exactly two of mean, p50 and sigma",
                        ));
                    }
                };
                let law = LogNormal::new(mu, sigma)
                    .map_err(|e| TrafficError::config(field, e.to_string()))?;
                let (min, max) = bounds(min, max, 0.0)?;
                Dist::Clipped(Law::LogNormal(law), min, max)
            }
            DistConfig::Normal {
                mean,
                std,
                min,
                max,
            } => {
                let mean = check_finite(&f("mean"), mean)?;
                let std = check_nonneg(&f("std"), std)?;
                let law = Normal::new(mean, std)
                    .map_err(|e| TrafficError::config(field, e.to_string()))?;
                let (min, max) = bounds(min, max, 0.0)?;
                Dist::Clipped(Law::Normal(law), min, max)
            }
            DistConfig::Exponential { mean, max } => {
                let mean = check_pos(&f("mean"), mean)?;
                let law =
                    Exp::new(1.0 / mean).map_err(|e| TrafficError::config(field, e.to_string()))?;
                let (min, max) = bounds(None, max, 0.0)?;
                Dist::Clipped(Law::Exp(law), min, max)
            }
        })
    }
}

impl Dist {
    /// One draw (never negative).
    pub fn sample(&self, rng: &mut StreamRng) -> f64 {
        match self {
            Dist::Fixed(v) => *v,
            Dist::Uniform(lo, hi) => {
                if lo == hi {
                    *lo
                } else {
                    rng.random_range(*lo..=*hi)
                }
            }
            Dist::Clipped(law, lo, hi) => {
                let x = match law {
                    Law::LogNormal(d) => d.sample(rng),
                    Law::Normal(d) => d.sample(rng),
                    Law::Exp(d) => d.sample(rng),
                };
                x.clamp(*lo, *hi)
            }
        }
    }

    /// The least value [`Dist::sample_count`] can give with this `floor`.
    pub fn least_count(&self, floor: u32) -> u32 {
        let x = match self {
            Dist::Fixed(v) => v.round(),
            Dist::Uniform(lo, hi) if lo.ceil() <= hi.floor() => lo.ceil(),
            Dist::Uniform(lo, _) | Dist::Clipped(_, lo, _) => lo.round(),
        };
        (x as u32).max(floor)
    }

    /// One draw as a whole count of at least `floor` (tokens: 1; turns: 1).
    pub fn sample_count(&self, rng: &mut StreamRng, floor: u32) -> u32 {
        let x = match self {
            // Whole numbers with both ends equally likely.
            Dist::Uniform(lo, hi) if lo.ceil() <= hi.floor() => {
                let (first, end) = (lo.ceil(), hi.floor() + 1.0);
                // Past 2^53, `+ 1.0` is lost: one whole number left, no range to draw from.
                if first < end {
                    rng.random_range(first..end).floor()
                } else {
                    first
                }
            }
            _ => self.sample(rng).round(),
        };
        // `as` saturates: huge draws become u32::MAX rather than wrapping.
        (x as u32).max(floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_counts_past_what_a_count_holds_are_refused() {
        let lognormal = |mean, max| DistConfig::Lognormal {
            mean: Some(mean),
            p50: Some(1500.0),
            sigma: None,
            min: None,
            max,
        };
        let e = lognormal(1e12, None).validate_tokens("input").unwrap_err();
        assert!(
            e.to_string()
                .contains("input.mean: 1000000000000 tokens is more than"),
            "{e}"
        );
        let e = lognormal(1e300, None).validate_tokens("input").unwrap_err();
        assert!(e.to_string().contains("1e300 tokens"), "{e}");
        // Cut to a max a count holds, or with a mean within it: accepted.
        assert!(lognormal(1e12, Some(1e5)).validate_tokens("input").is_ok());
        assert!(lognormal(1e9, None).validate_tokens("input").is_ok());
        let e = DistConfig::Fixed { value: 5e9 }
            .validate_tokens("output")
            .unwrap_err();
        assert!(
            e.to_string().contains("output.value: 5000000000 tokens"),
            "{e}"
        );
        // Other quantities (think time, turns) keep the plain check.
        assert!(lognormal(1e12, None).validate("think_s").is_ok());
    }
    use servesim_core::RngStreams;

    fn yaml(s: &str) -> DistConfig {
        serde_norway::from_str(s).unwrap()
    }

    #[test]
    fn lognormal_by_mean_and_p50_matches_both() {
        let d = yaml("{kind: lognormal, mean: 300, p50: 200}")
            .validate("d")
            .unwrap();
        let mut rng = RngStreams::new(1).stream("t");
        let mut xs: Vec<f64> = (0..400_000).map(|_| d.sample(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        xs.sort_by(f64::total_cmp);
        let p50 = xs[xs.len() / 2];
        assert!((mean / 300.0 - 1.0).abs() < 0.01, "mean {mean}");
        assert!((p50 / 200.0 - 1.0).abs() < 0.01, "p50 {p50}");
    }

    #[test]
    fn uniform_counts_past_float_precision_do_not_panic() {
        let mut rng = RngStreams::new(1).stream("t");
        for (min, max) in [(1e16, 1e16), (1e16, 1e16 + 2.0)] {
            let d = DistConfig::Uniform { min, max }.validate("d").unwrap();
            assert_eq!(d.sample_count(&mut rng, 1), u32::MAX, "saturates");
        }
    }

    #[test]
    fn uniform_counts_include_both_ends() {
        let d = yaml("{kind: uniform, min: 3, max: 5}")
            .validate("d")
            .unwrap();
        let mut rng = RngStreams::new(1).stream("t");
        let mut seen = [0u32; 7];
        for _ in 0..30_000 {
            seen[d.sample_count(&mut rng, 1) as usize] += 1;
        }
        assert_eq!(seen[..3], [0, 0, 0]);
        assert_eq!(seen[6], 0);
        assert!(
            seen[3..6].iter().all(|&n| (9_500..10_500).contains(&n)),
            "{seen:?}"
        );
    }

    #[test]
    fn clipped_normal_stays_in_bounds() {
        let d = yaml("{kind: normal, mean: 100, std: 80, min: 20, max: 150}")
            .validate("d")
            .unwrap();
        let mut rng = RngStreams::new(1).stream("t");
        for _ in 0..10_000 {
            let x = d.sample(&mut rng);
            assert!((20.0..=150.0).contains(&x));
        }
    }

    #[test]
    fn bad_figures_name_the_field() {
        let cases = [
            ("{kind: lognormal, mean: 100, p50: 200}", "d.mean"),
            ("{kind: lognormal, mean: 100}", "d:"),
            ("{kind: uniform, min: 5, max: 2}", "d.max"),
            ("{kind: fixed, value: -1}", "d.value"),
            ("{kind: exponential, mean: 0}", "d.mean"),
            ("{kind: normal, mean: 1, std: .nan}", "d.std"),
        ];
        for (src, field) in cases {
            let err = yaml(src).validate("d").unwrap_err().to_string();
            assert!(err.starts_with(field), "{src}: {err}");
        }
        assert!(serde_norway::from_str::<DistConfig>("{kind: fixed, value: 1, typo: 2}").is_err());
    }
}
