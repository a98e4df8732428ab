//! Load predictors: given one value per interval (request count, mean ISL, demand), forecast
//! the next ones.
//!
//! - [`Constant`]: the last value;
//! - [`MovingAverage`]: the mean of the last `window` values;
//! - [`Holt`]: double exponential smoothing (level and trend);
//! - [`Arima`]: ARIMA(p, d, q) fitted by least squares (Hannan–Rissanen) on a bounded window;
//! - [`Kalman`]: a Kalman filter on a local linear trend (state `[level, trend]`).
//!
//! Non-finite observations are ignored; forecasts are never negative for the non-negative
//! series the planners feed (callers clamp).

mod arima;
mod constant;
mod holt;
mod kalman;
mod moving_average;

pub use arima::Arima;
pub use constant::Constant;
pub use holt::Holt;
pub use kalman::Kalman;
pub use moving_average::MovingAverage;

use serde::{Deserialize, Serialize};

use crate::error::PlannerError;

/// A one-series load predictor.
pub trait LoadPredictor: Send + std::fmt::Debug {
    /// Adds the newest value of the series (non-finite values are ignored).
    fn observe(&mut self, value: f64);
    /// The value `steps` intervals ahead (`steps` ≥ 1; 0 is read as 1), or `None` before the
    /// first observation.
    fn forecast(&self, steps: usize) -> Option<f64>;
    /// The next interval's value.
    fn predict_next(&self) -> Option<f64> {
        self.forecast(1)
    }
    /// Observations taken so far.
    fn observations(&self) -> usize;
}

/// Which predictor to use, as written in a scenario (`{kind: holt, alpha: 0.5}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PredictorConfig {
    /// The last value.
    Constant,
    /// Mean of the last `window` values.
    MovingAverage {
        /// Values averaged (≥ 1).
        #[serde(default = "default_window")]
        window: usize,
    },
    /// Double exponential smoothing.
    Holt {
        /// Level smoothing, in (0, 1].
        #[serde(default = "default_alpha")]
        alpha: f64,
        /// Trend smoothing, in (0, 1].
        #[serde(default = "default_beta")]
        beta: f64,
    },
    /// ARIMA(p, d, q) by least squares.
    Arima {
        /// Autoregressive order (≤ 8).
        #[serde(default = "default_p")]
        p: usize,
        /// Differencing order (≤ 2).
        #[serde(default = "default_d")]
        d: usize,
        /// Moving-average order (≤ 8).
        #[serde(default)]
        q: usize,
        /// Most recent values kept for fitting (≥ 8).
        #[serde(default = "default_arima_window")]
        window: usize,
    },
    /// Kalman filter, local linear trend.
    Kalman {
        /// Process noise of the level.
        #[serde(default = "default_q_level")]
        process_noise_level: f64,
        /// Process noise of the trend.
        #[serde(default = "default_q_trend")]
        process_noise_trend: f64,
        /// Measurement noise.
        #[serde(default = "default_r")]
        measurement_noise: f64,
    },
}

impl PredictorConfig {
    /// ARIMA with its default orders and window (ARIMA(1, 1, 0) over the last 128 values).
    pub fn default_arima() -> Self {
        PredictorConfig::Arima {
            p: default_p(),
            d: default_d(),
            q: 0,
            window: default_arima_window(),
        }
    }
}

fn default_window() -> usize {
    3
}
fn default_alpha() -> f64 {
    0.5
}
fn default_beta() -> f64 {
    0.3
}
fn default_p() -> usize {
    1
}
fn default_d() -> usize {
    1
}
fn default_arima_window() -> usize {
    128
}
fn default_q_level() -> f64 {
    1.0
}
fn default_q_trend() -> f64 {
    0.1
}
fn default_r() -> f64 {
    10.0
}

impl PredictorConfig {
    /// The predictor's name as written (`constant`, `moving-average`, `holt`, `arima`, `kalman`).
    pub fn name(&self) -> &'static str {
        match self {
            PredictorConfig::Constant => "constant",
            PredictorConfig::MovingAverage { .. } => "moving-average",
            PredictorConfig::Holt { .. } => "holt",
            PredictorConfig::Arima { .. } => "arima",
            PredictorConfig::Kalman { .. } => "kalman",
        }
    }

    /// Checks the parameters; errors name the field under `path`.
    pub fn validate(&self, path: &str) -> Result<(), PlannerError> {
        let unit = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v <= 1.0 {
                Ok(())
            } else {
                Err(PlannerError::invalid(
                    format!("{path}.{name}"),
                    format!("must be in (0, 1], got {v}"),
                ))
            }
        };
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(PlannerError::invalid(
                    format!("{path}.{name}"),
                    format!("must be a positive number, got {v}"),
                ))
            }
        };
        match *self {
            PredictorConfig::Constant => Ok(()),
            PredictorConfig::MovingAverage { window } => {
                if window == 0 || window > 10_000 {
                    Err(PlannerError::invalid(
                        format!("{path}.window"),
                        format!("must be in 1..=10000, got {window}"),
                    ))
                } else {
                    Ok(())
                }
            }
            PredictorConfig::Holt { alpha, beta } => {
                unit("alpha", alpha)?;
                unit("beta", beta)
            }
            PredictorConfig::Arima { p, d, q, window } => {
                if p > 8 {
                    return Err(PlannerError::invalid(
                        format!("{path}.p"),
                        format!("must be at most 8, got {p}"),
                    ));
                }
                if d > 2 {
                    return Err(PlannerError::invalid(
                        format!("{path}.d"),
                        format!("must be at most 2, got {d}"),
                    ));
                }
                if q > 8 {
                    return Err(PlannerError::invalid(
                        format!("{path}.q"),
                        format!("must be at most 8, got {q}"),
                    ));
                }
                if !(8..=100_000).contains(&window) {
                    return Err(PlannerError::invalid(
                        format!("{path}.window"),
                        format!("must be in 8..=100000, got {window}"),
                    ));
                }
                Ok(())
            }
            PredictorConfig::Kalman {
                process_noise_level,
                process_noise_trend,
                measurement_noise,
            } => {
                positive("process_noise_level", process_noise_level)?;
                positive("process_noise_trend", process_noise_trend)?;
                positive("measurement_noise", measurement_noise)
            }
        }
    }

    /// A fresh predictor (call [`PredictorConfig::validate`] first; out-of-range values are
    /// clamped here rather than panicking).
    pub fn build(&self) -> Box<dyn LoadPredictor> {
        match *self {
            PredictorConfig::Constant => Box::new(Constant::default()),
            PredictorConfig::MovingAverage { window } => Box::new(MovingAverage::new(window)),
            PredictorConfig::Holt { alpha, beta } => Box::new(Holt::new(alpha, beta)),
            PredictorConfig::Arima { p, d, q, window } => Box::new(Arima::new(p, d, q, window)),
            PredictorConfig::Kalman {
                process_noise_level,
                process_noise_trend,
                measurement_noise,
            } => Box::new(Kalman::new(
                process_noise_level,
                process_noise_trend,
                measurement_noise,
            )),
        }
    }
}
