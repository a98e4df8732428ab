//! Running arrival processes.
//!
//! Every process works in integer time: gaps are drawn in seconds and rounded to the
//! nanosecond, so arrivals never go back in time. Rate changes use the memorylessness of
//! the exponential law: at a rate change the pending gap is simply drawn afresh.

use rand::RngExt;
use rand_distr::{Distribution, Exp, Gamma};
use servesim_core::{SimDuration, SimTime, StreamRng};

use crate::validate::gap;

/// A validated arrival process (immutable; see [`Arrivals`] for the running state).
#[derive(Clone, Debug)]
pub enum ArrivalProcess {
    /// Poisson.
    Poisson(Exp<f64>),
    /// Gamma gaps (in seconds).
    Gamma(Gamma<f64>),
    /// Piecewise-constant rates: `(duration, rate)` phases, cycled or not.
    Phases {
        /// The phases, in order.
        phases: Vec<(Phase, f64)>,
        /// Start over after the last phase.
        repeat: bool,
    },
    /// Sinusoidal rate by thinning.
    Diurnal {
        /// Mean rate.
        mean: f64,
        /// Relative swing.
        amplitude: f64,
        /// Period in seconds.
        period_s: f64,
        /// A peak time in seconds.
        peak_s: f64,
    },
}

/// How long a phase of [`ArrivalProcess::Phases`] lasts.
#[derive(Clone, Copy, Debug)]
pub enum Phase {
    /// Exactly this long.
    Fixed(SimDuration),
    /// Exponential with this mean, in seconds.
    Exp(f64),
}

/// The running state of an arrival process within a window `[start, end)`.
#[derive(Clone, Debug)]
pub struct Arrivals {
    process: ArrivalProcess,
    now: SimTime,
    end: SimTime,
    /// Index of the current phase and when it ends (phased processes only).
    phase: usize,
    phase_end: SimTime,
    in_phase: bool,
    done: bool,
}

impl Arrivals {
    /// Arrivals of `process` from `start` until just before `end` (`SimTime::MAX`: never ends).
    pub fn new(process: ArrivalProcess, start: SimTime, end: SimTime) -> Self {
        Arrivals {
            process,
            now: start,
            end,
            phase: 0,
            phase_end: start,
            in_phase: false,
            done: start >= end,
        }
    }

    /// The next arrival time, or `None` once the window is over. Never earlier than the
    /// previous one.
    pub fn next(&mut self, rng: &mut StreamRng) -> Option<SimTime> {
        if self.done {
            return None;
        }
        let t = match &self.process {
            ArrivalProcess::Poisson(exp) => self.now.checked_add(gap(exp.sample(rng))),
            ArrivalProcess::Gamma(g) => self.now.checked_add(gap(g.sample(rng))),
            ArrivalProcess::Phases { .. } => self.next_phased(rng),
            ArrivalProcess::Diurnal { .. } => self.next_diurnal(rng),
        };
        match t {
            Some(t) if t < self.end => {
                self.now = t;
                Some(t)
            }
            _ => {
                self.done = true;
                None
            }
        }
    }

    fn next_phased(&mut self, rng: &mut StreamRng) -> Option<SimTime> {
        let ArrivalProcess::Phases { phases, repeat } = &self.process else {
            unreachable!("called for phased processes only")
        };
        // The first call enters phase 0.
        let mut rate = if self.in_phase {
            phases[self.phase].1
        } else {
            0.0
        };
        loop {
            if rate > 0.0 {
                let t = self
                    .now
                    .checked_add(gap(Exp::new(rate).ok()?.sample(rng)))?;
                if t < self.phase_end {
                    return Some(t);
                }
            }
            // Move to the next phase (or the first one).
            self.now = self.phase_end;
            if self.now >= self.end {
                return None;
            }
            if self.in_phase {
                self.phase += 1;
                if self.phase == phases.len() {
                    if !repeat {
                        return None;
                    }
                    self.phase = 0;
                }
            }
            self.in_phase = true;
            let (len, r) = phases[self.phase];
            let len = match len {
                Phase::Fixed(d) => d,
                Phase::Exp(mean) => gap(Exp::new(1.0 / mean).ok()?.sample(rng)),
            };
            self.phase_end = self.now.saturating_add(len);
            rate = r;
        }
    }

    fn next_diurnal(&mut self, rng: &mut StreamRng) -> Option<SimTime> {
        let ArrivalProcess::Diurnal {
            mean,
            amplitude,
            period_s,
            peak_s,
        } = self.process
        else {
            unreachable!("called for diurnal processes only")
        };
        // Thinning: candidates at the peak rate, each kept with probability rate(t)/peak.
        let peak = mean * (1.0 + amplitude);
        let exp = Exp::new(peak).ok()?;
        loop {
            self.now = self.now.checked_add(gap(exp.sample(rng)))?;
            if self.now >= self.end {
                return None;
            }
            let phase = std::f64::consts::TAU * (self.now.as_secs_f64() - peak_s) / period_s;
            let rate = mean * (1.0 + amplitude * phase.cos());
            if rng.random::<f64>() * peak < rate {
                return Some(self.now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrival::ArrivalConfig;
    use servesim_core::RngStreams;

    fn process(yaml: &str) -> ArrivalProcess {
        serde_norway::from_str::<ArrivalConfig>(yaml)
            .unwrap()
            .validate("a")
            .unwrap()
    }

    fn times(yaml: &str, start_s: u64, end_s: u64) -> Vec<SimTime> {
        let start = SimTime::ZERO + SimDuration::from_secs(start_s).unwrap();
        let end = SimTime::ZERO + SimDuration::from_secs(end_s).unwrap();
        let mut a = Arrivals::new(process(yaml), start, end);
        let mut rng = RngStreams::new(11).stream("traffic/test");
        std::iter::from_fn(|| a.next(&mut rng)).collect()
    }

    fn gaps_s(ts: &[SimTime]) -> Vec<f64> {
        ts.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect()
    }

    fn mean_cv(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
        (m, v.sqrt() / m)
    }

    #[test]
    fn poisson_rate_and_cv_over_a_long_stream() {
        // 10 req/s for 100,000 s: a million arrivals, count s.d. 0.1%.
        let ts = times("{kind: poisson, rate_per_s: 10}", 0, 100_000);
        let rate = ts.len() as f64 / 100_000.0;
        assert!((rate / 10.0 - 1.0).abs() < 0.004, "rate {rate}");
        let (_, cv) = mean_cv(&gaps_s(&ts));
        assert!((cv - 1.0).abs() < 0.005, "cv {cv}");
    }

    #[test]
    fn gamma_rate_and_cv_over_a_long_stream() {
        for cv_target in [0.5f64, 2.0, 4.0] {
            let ts = times(
                &format!("{{kind: gamma, rate_per_s: 20, cv: {cv_target}}}"),
                0,
                50_000,
            );
            let rate = ts.len() as f64 / 50_000.0;
            let (_, cv) = mean_cv(&gaps_s(&ts));
            // A million gaps; the CV's sampling error grows with cv (heavier tail).
            let tol = 0.004 * cv_target.max(1.0);
            assert!(
                (rate / 20.0 - 1.0).abs() < tol,
                "cv {cv_target}: rate {rate}"
            );
            assert!(
                (cv / cv_target - 1.0).abs() < tol,
                "cv {cv_target}: got {cv}"
            );
        }
    }

    #[test]
    fn windows_are_respected() {
        let ts = times("{kind: poisson, rate_per_s: 50}", 100, 200);
        assert!(ts.first().unwrap().as_secs_f64() >= 100.0);
        assert!(ts.last().unwrap().as_secs_f64() < 200.0);
        assert!((4_500..5_500).contains(&ts.len()));
        assert!(times("{kind: poisson, rate_per_s: 50}", 5, 5).is_empty());
    }

    #[test]
    fn on_off_is_silent_when_off() {
        let ts = times(
            "{kind: on_off, rate_per_s: 100, on_s: 2, off_s: 3}",
            10,
            1010,
        );
        for t in &ts {
            let phase = (t.as_secs_f64() - 10.0) % 5.0;
            assert!(phase < 2.0, "arrival at {t} in an off period");
        }
        let rate = ts.len() as f64 / 1000.0;
        assert!((rate / 40.0 - 1.0).abs() < 0.03, "rate {rate}");
    }

    #[test]
    fn mmpp_mean_rate_is_the_time_weighted_rate() {
        let ts = times(
            "{kind: mmpp, base_rate_per_s: 2, burst_rate_per_s: 50, mean_base_s: 30, mean_burst_s: 5}",
            0,
            200_000,
        );
        let rate = ts.len() as f64 / 200_000.0;
        let expect = (2.0 * 30.0 + 50.0 * 5.0) / 35.0;
        assert!(
            (rate / expect - 1.0).abs() < 0.03,
            "rate {rate}, expected {expect}"
        );
        // Bursty: the gap CV is well above Poisson's 1.
        assert!(mean_cv(&gaps_s(&ts)).1 > 1.5);
    }

    #[test]
    fn schedule_follows_its_segments() {
        let ts = times(
            "{kind: schedule, segments: [{duration_s: 100, rate_per_s: 10}, {duration_s: 100, rate_per_s: 0}, {duration_s: 100, rate_per_s: 40}]}",
            50,
            10_000,
        );
        let count = |a: f64, b: f64| {
            ts.iter()
                .filter(|t| (a..b).contains(&t.as_secs_f64()))
                .count()
        };
        assert_eq!(count(0.0, 50.0), 0);
        assert!((900..1100).contains(&count(50.0, 150.0)));
        assert_eq!(count(150.0, 250.0), 0);
        assert!((3700..4300).contains(&count(250.0, 350.0)));
        assert_eq!(count(350.0, 1e9), 0, "ends after the last segment");
        let rep = times(
            "{kind: schedule, repeat: true, segments: [{duration_s: 1, rate_per_s: 100}, {duration_s: 1, rate_per_s: 0}]}",
            0,
            1000,
        );
        assert!((47_000..53_000).contains(&rep.len()));
    }

    #[test]
    fn diurnal_rate_peaks_where_asked() {
        let ts = times(
            "{kind: diurnal, mean_rate_per_s: 10, amplitude: 0.8, period_s: 1000, peak_s: 250}",
            0,
            100_000,
        );
        let rate = ts.len() as f64 / 100_000.0;
        assert!((rate / 10.0 - 1.0).abs() < 0.01, "rate {rate}");
        let near = |c: f64| {
            ts.iter()
                .filter(|t| ((t.as_secs_f64() - c).rem_euclid(1000.0)) < 50.0)
                .count()
        };
        // Around the peak (225..275 ≈ 1.8×) versus the trough (725..775 ≈ 0.2×).
        assert!(near(225.0) > 7 * near(725.0));
    }
}
