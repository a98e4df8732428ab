//! Holt's double exponential smoothing.

use super::LoadPredictor;

/// Level and trend smoothed exponentially; forecast `level + steps × trend`.
#[derive(Clone, Debug)]
pub struct Holt {
    alpha: f64,
    beta: f64,
    level: f64,
    trend: f64,
    n: usize,
}

impl Holt {
    /// Smoothing factors for the level (`alpha`) and the trend (`beta`), clamped to (0, 1].
    pub fn new(alpha: f64, beta: f64) -> Self {
        let clamp = |v: f64| {
            if v.is_finite() {
                v.clamp(1e-6, 1.0)
            } else {
                0.5
            }
        };
        Holt {
            alpha: clamp(alpha),
            beta: clamp(beta),
            level: 0.0,
            trend: 0.0,
            n: 0,
        }
    }

    /// The current level and trend.
    pub fn state(&self) -> (f64, f64) {
        (self.level, self.trend)
    }
}

impl LoadPredictor for Holt {
    fn observe(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        match self.n {
            0 => self.level = value,
            1 => {
                self.trend = value - self.level;
                self.level = value;
            }
            _ => {
                let prev = self.level;
                self.level = self.alpha * value + (1.0 - self.alpha) * (self.level + self.trend);
                self.trend = self.beta * (self.level - prev) + (1.0 - self.beta) * self.trend;
            }
        }
        self.n += 1;
    }

    fn forecast(&self, steps: usize) -> Option<f64> {
        (self.n > 0).then(|| self.level + steps.max(1) as f64 * self.trend)
    }

    fn observations(&self) -> usize {
        self.n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_series_is_predicted_exactly() {
        let mut h = Holt::new(0.5, 0.3);
        for _ in 0..50 {
            h.observe(42.0);
        }
        assert!((h.predict_next().unwrap() - 42.0).abs() < 1e-9);
    }

    #[test]
    fn linear_trend_converges_to_the_trend() {
        let mut h = Holt::new(0.4, 0.2);
        for t in 0..200 {
            h.observe(10.0 + 3.0 * t as f64);
        }
        let (_, trend) = h.state();
        assert!((trend - 3.0).abs() < 1e-6, "{trend}");
        // Next value is 10 + 3 × 200; five ahead 10 + 3 × 204.
        assert!((h.predict_next().unwrap() - 610.0).abs() < 1e-6);
        assert!((h.forecast(5).unwrap() - 622.0).abs() < 1e-6);
    }
}
