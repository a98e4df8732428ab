//! A Kalman filter on a local linear trend.

use nalgebra::{Matrix2, Vector2};

use super::LoadPredictor;

/// State `[level, trend]`, transition `F = [[1, 1], [0, 1]]`, observation `H = [1, 0]`,
/// process noise `diag(q_level, q_trend)`, measurement noise `r`.
#[derive(Clone, Debug)]
pub struct Kalman {
    q: Matrix2<f64>,
    r: f64,
    x: Vector2<f64>,
    p: Matrix2<f64>,
    n: usize,
}

impl Kalman {
    /// A filter with the given noise variances (non-positive or non-finite ones fall back to
    /// Dynamo's defaults 1.0, 0.1 and 10).
    pub fn new(process_noise_level: f64, process_noise_trend: f64, measurement_noise: f64) -> Self {
        let pos = |v: f64, d: f64| if v.is_finite() && v > 0.0 { v } else { d };
        Kalman {
            q: Matrix2::new(
                pos(process_noise_level, 1.0),
                0.0,
                0.0,
                pos(process_noise_trend, 0.1),
            ),
            r: pos(measurement_noise, 10.0),
            x: Vector2::zeros(),
            p: Matrix2::identity(),
            n: 0,
        }
    }

    /// The current state estimate `(level, trend)`.
    pub fn state(&self) -> (f64, f64) {
        (self.x[0], self.x[1])
    }
}

impl Default for Kalman {
    fn default() -> Self {
        Kalman::new(1.0, 0.1, 10.0)
    }
}

impl LoadPredictor for Kalman {
    fn observe(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        if self.n == 0 {
            // Diffuse start on the trend, the measurement's variance on the level.
            self.x = Vector2::new(value, 0.0);
            self.p = Matrix2::new(self.r, 0.0, 0.0, 1e6);
            self.n = 1;
            return;
        }
        let f = Matrix2::new(1.0, 1.0, 0.0, 1.0);
        // Predict.
        let x = f * self.x;
        let p = f * self.p * f.transpose() + self.q;
        // Update with H = [1, 0].
        let s = p[(0, 0)] + self.r;
        let k = Vector2::new(p[(0, 0)] / s, p[(1, 0)] / s);
        let y = value - x[0];
        self.x = x + k * y;
        let kh = Matrix2::new(k[0], 0.0, k[1], 0.0);
        self.p = (Matrix2::identity() - kh) * p;
        // Keep P symmetric against rounding.
        let off = 0.5 * (self.p[(0, 1)] + self.p[(1, 0)]);
        self.p[(0, 1)] = off;
        self.p[(1, 0)] = off;
        self.n += 1;
    }

    fn forecast(&self, steps: usize) -> Option<f64> {
        (self.n > 0).then(|| self.x[0] + steps.max(1) as f64 * self.x[1])
    }

    fn observations(&self) -> usize {
        self.n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_series_is_predicted() {
        let mut k = Kalman::default();
        for _ in 0..100 {
            k.observe(7.0);
        }
        assert!((k.predict_next().unwrap() - 7.0).abs() < 1e-6);
        assert!(k.state().1.abs() < 1e-6);
    }

    #[test]
    fn linear_trend_converges_to_the_trend() {
        let mut k = Kalman::default();
        for t in 0..300 {
            k.observe(100.0 + 5.0 * t as f64);
        }
        let (level, trend) = k.state();
        assert!((trend - 5.0).abs() < 1e-3, "{trend}");
        assert!((level - (100.0 + 5.0 * 299.0)).abs() < 1e-2, "{level}");
        assert!((k.forecast(10).unwrap() - (100.0 + 5.0 * 309.0)).abs() < 0.05);
    }

    #[test]
    fn nan_is_ignored() {
        let mut k = Kalman::default();
        k.observe(f64::NAN);
        assert_eq!(k.forecast(1), None);
        k.observe(1.0);
        k.observe(f64::NEG_INFINITY);
        assert_eq!(k.observations(), 1);
    }
}
