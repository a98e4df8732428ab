//! ARIMA(p, d, q) fitted by least squares.
//!
//! The series is differenced `d` times; the ARMA(p, q) part is fitted by the Hannan–Rissanen
//! method: a long autoregression gives residuals, then the differenced series is regressed by
//! ordinary least squares (nalgebra's SVD) on an intercept, its `p` lags and the `q` lagged
//! residuals. Forecasts set future shocks to zero and undo the differencing. Until enough
//! values are seen to fit (or when the fit is degenerate) it predicts the last value.

use std::collections::VecDeque;

use nalgebra::{DMatrix, DVector};

use super::LoadPredictor;

#[derive(Clone, Debug)]
struct Fit {
    intercept: f64,
    ar: Vec<f64>,
    ma: Vec<f64>,
    /// The differenced series and its residuals (aligned), for the recursion.
    z: Vec<f64>,
    e: Vec<f64>,
}

/// ARIMA(p, d, q) on the last `window` values.
#[derive(Clone, Debug)]
pub struct Arima {
    p: usize,
    d: usize,
    q: usize,
    window: usize,
    history: VecDeque<f64>,
    n: usize,
}

/// Ordinary least squares; `None` when the solution is not finite.
fn ols(x: &DMatrix<f64>, y: &DVector<f64>) -> Option<DVector<f64>> {
    let svd = x.clone().svd(true, true);
    let beta = svd.solve(y, 1e-10).ok()?;
    beta.iter().all(|b| b.is_finite()).then_some(beta)
}

impl Arima {
    /// ARIMA(p, d, q) fitted on at most `window` recent values (p, q ≤ 8, d ≤ 2, window ≥ 8:
    /// larger values are clamped).
    pub fn new(p: usize, d: usize, q: usize, window: usize) -> Self {
        let window = window.max(8);
        Arima {
            p: p.min(8),
            d: d.min(2),
            q: q.min(8),
            window,
            history: VecDeque::with_capacity(window),
            n: 0,
        }
    }

    /// The fitted intercept, AR and MA coefficients (of the differenced series), if enough
    /// values have been seen and the fit is not degenerate.
    pub fn coefficients(&self) -> Option<(f64, Vec<f64>, Vec<f64>)> {
        self.fit().map(|f| (f.intercept, f.ar, f.ma))
    }

    fn differenced(&self) -> Vec<f64> {
        let mut z: Vec<f64> = self.history.iter().copied().collect();
        for _ in 0..self.d {
            z = z.windows(2).map(|w| w[1] - w[0]).collect();
        }
        z
    }

    /// Fits the model to the current window (done when asked: the planners forecast once or
    /// twice per interval).
    fn fit(&self) -> Option<Fit> {
        let z = self.differenced();
        let (p, q) = (self.p, self.q);
        let len = z.len();
        if p == 0 && q == 0 {
            if len >= 1 {
                let mean = z.iter().sum::<f64>() / len as f64;
                return Some(Fit {
                    intercept: mean,
                    ar: Vec::new(),
                    ma: Vec::new(),
                    e: z.iter().map(|v| v - mean).collect(),
                    z,
                });
            }
            return None;
        }
        // Step 1: residuals of a long autoregression (only needed with an MA part).
        let mut e = vec![0.0; len];
        let mut start = p;
        if q > 0 {
            let m = (p + q).max((len / 4).min(10)).max(1);
            let rows = len.saturating_sub(m);
            if rows < m + 1 + 3 {
                return None;
            }
            let x = DMatrix::from_fn(rows, m + 1, |r, c| if c == 0 { 1.0 } else { z[m + r - c] });
            let y = DVector::from_fn(rows, |r, _| z[m + r]);
            let beta = ols(&x, &y)?;
            let fitted = &x * &beta;
            for r in 0..rows {
                e[m + r] = y[r] - fitted[r];
            }
            start = (m + q).max(p);
        }
        // Step 2: z_t on [1, z_{t-1..t-p}, e_{t-1..t-q}].
        let cols = 1 + p + q;
        let rows = len.saturating_sub(start);
        if rows < cols + 3 {
            return None;
        }
        let x = DMatrix::from_fn(rows, cols, |r, c| {
            let t = start + r;
            if c == 0 {
                1.0
            } else if c <= p {
                z[t - c]
            } else {
                e[t - (c - p)]
            }
        });
        let y = DVector::from_fn(rows, |r, _| z[start + r]);
        let beta = ols(&x, &y)?;
        let fitted = &x * &beta;
        let mut resid = vec![0.0; len];
        for r in 0..rows {
            resid[start + r] = y[r] - fitted[r];
        }
        Some(Fit {
            intercept: beta[0],
            ar: beta.iter().skip(1).take(p).copied().collect(),
            ma: beta.iter().skip(1 + p).take(q).copied().collect(),
            z,
            e: resid,
        })
    }
}

impl LoadPredictor for Arima {
    fn observe(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        if self.history.len() == self.window {
            self.history.pop_front();
        }
        self.history.push_back(value);
        self.n += 1;
    }

    fn forecast(&self, steps: usize) -> Option<f64> {
        let last = *self.history.back()?;
        let Some(fit) = self.fit() else {
            return Some(last);
        };
        let steps = steps.max(1);
        let mut z = fit.z.clone();
        let mut e = fit.e.clone();
        // Last value of the series differenced k times, k = 0..d.
        let mut lasts: Vec<f64> = Vec::with_capacity(self.d);
        {
            let mut s: Vec<f64> = self.history.iter().copied().collect();
            for _ in 0..self.d {
                lasts.push(*s.last()?);
                s = s.windows(2).map(|w| w[1] - w[0]).collect();
            }
        }
        let mut value = last;
        for _ in 0..steps {
            let t = z.len();
            let mut next = fit.intercept;
            for (i, a) in fit.ar.iter().enumerate() {
                next += a * z.get(t.wrapping_sub(i + 1)).copied().unwrap_or(0.0);
            }
            for (j, b) in fit.ma.iter().enumerate() {
                next += b * e.get(t.wrapping_sub(j + 1)).copied().unwrap_or(0.0);
            }
            z.push(next);
            e.push(0.0);
            // Undo the differencing, innermost level first.
            let mut v = next;
            for k in (0..self.d).rev() {
                lasts[k] += v;
                v = lasts[k];
            }
            value = v;
        }
        if value.is_finite() {
            Some(value)
        } else {
            Some(last)
        }
    }

    fn observations(&self) -> usize {
        self.n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of roughly N(0, 1) shocks (sum of uniforms from an LCG).
    fn shocks(n: usize, mut seed: u64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let mut s = 0.0;
                for _ in 0..12 {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    s += (seed >> 11) as f64 / (1u64 << 53) as f64;
                }
                s - 6.0
            })
            .collect()
    }

    #[test]
    fn ar1_coefficient_is_recovered() {
        let phi = 0.7;
        let mut a = Arima::new(1, 0, 0, 4000);
        let mut x = 0.0;
        for s in shocks(3000, 7) {
            x = 2.0 + phi * x + s;
            a.observe(x);
        }
        let (c, ar, ma) = a.coefficients().unwrap();
        assert!(ma.is_empty());
        assert!((ar[0] - phi).abs() < 0.05, "{ar:?}");
        // Mean of the process is c / (1 - phi) = 2 / 0.3.
        assert!((c / (1.0 - ar[0]) - 2.0 / 0.3).abs() < 0.5, "{c}");
        // One step ahead is c + phi x.
        let f = a.predict_next().unwrap();
        assert!((f - (c + ar[0] * x)).abs() < 1e-9);
    }

    #[test]
    fn arma11_is_fitted() {
        let (phi, theta) = (0.5, 0.4);
        let mut a = Arima::new(1, 0, 1, 5000);
        let (mut x, mut prev) = (0.0, 0.0);
        for s in shocks(5000, 11) {
            x = phi * x + s + theta * prev;
            prev = s;
            a.observe(x);
        }
        let (_, ar, ma) = a.coefficients().unwrap();
        assert!((ar[0] - phi).abs() < 0.1, "{ar:?}");
        assert!((ma[0] - theta).abs() < 0.1, "{ma:?}");
    }

    #[test]
    fn differenced_trend_is_extrapolated() {
        let mut a = Arima::new(1, 1, 0, 64);
        for t in 0..40 {
            a.observe(5.0 + 2.0 * t as f64);
        }
        // The differenced series is constant 2: next value 5 + 2 × 40.
        let f = a.predict_next().unwrap();
        assert!((f - 85.0).abs() < 1e-6, "{f}");
        assert!((a.forecast(3).unwrap() - 89.0).abs() < 1e-6);
    }

    #[test]
    fn constant_and_short_series_fall_back_to_the_last_value() {
        let mut a = Arima::new(2, 0, 1, 16);
        assert_eq!(a.forecast(1), None);
        a.observe(3.0);
        a.observe(f64::NAN);
        assert_eq!(a.predict_next(), Some(3.0));
        for _ in 0..50 {
            a.observe(3.0);
        }
        let f = a.predict_next().unwrap();
        assert!((f - 3.0).abs() < 1e-6, "{f}");
    }
}
