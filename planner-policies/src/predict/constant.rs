//! The last value.

use super::LoadPredictor;

/// Predicts that the next value equals the last one.
#[derive(Clone, Debug, Default)]
pub struct Constant {
    last: Option<f64>,
    n: usize,
}

impl LoadPredictor for Constant {
    fn observe(&mut self, value: f64) {
        if value.is_finite() {
            self.last = Some(value);
            self.n += 1;
        }
    }

    fn forecast(&self, _steps: usize) -> Option<f64> {
        self.last
    }

    fn observations(&self) -> usize {
        self.n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_the_last_value_and_ignores_nan() {
        let mut p = Constant::default();
        assert_eq!(p.predict_next(), None);
        p.observe(3.0);
        p.observe(f64::NAN);
        assert_eq!(p.forecast(5), Some(3.0));
        p.observe(7.0);
        assert_eq!(p.predict_next(), Some(7.0));
        assert_eq!(p.observations(), 2);
    }
}
