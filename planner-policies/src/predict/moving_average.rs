//! Mean of the last values.

use std::collections::VecDeque;

use super::LoadPredictor;

/// Predicts the mean of the last `window` values.
#[derive(Clone, Debug)]
pub struct MovingAverage {
    window: usize,
    values: VecDeque<f64>,
    n: usize,
}

impl MovingAverage {
    /// Averages the last `window` values (at least 1).
    pub fn new(window: usize) -> Self {
        let window = window.max(1);
        MovingAverage {
            window,
            values: VecDeque::with_capacity(window),
            n: 0,
        }
    }
}

impl LoadPredictor for MovingAverage {
    fn observe(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        if self.values.len() == self.window {
            self.values.pop_front();
        }
        self.values.push_back(value);
        self.n += 1;
    }

    fn forecast(&self, _steps: usize) -> Option<f64> {
        if self.values.is_empty() {
            None
        } else {
            Some(self.values.iter().sum::<f64>() / self.values.len() as f64)
        }
    }

    fn observations(&self) -> usize {
        self.n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_the_window() {
        let mut p = MovingAverage::new(3);
        assert_eq!(p.forecast(1), None);
        for v in [1.0, 2.0, 3.0, 4.0, 5.0] {
            p.observe(v);
        }
        assert_eq!(p.predict_next(), Some(4.0));
        p.observe(f64::INFINITY);
        assert_eq!(p.predict_next(), Some(4.0));
        let mut c = MovingAverage::new(10);
        for _ in 0..20 {
            c.observe(2.5);
        }
        assert_eq!(c.forecast(3), Some(2.5));
    }
}
