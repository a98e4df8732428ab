//! Open-loop arrival processes as a scenario writes them, checked into the processes that
//! run ([`ArrivalProcess`], [`Arrivals`]).

mod process;

pub use process::{ArrivalProcess, Arrivals, Phase};

use rand_distr::{Exp, Gamma};
use serde::{Deserialize, Serialize};
use servesim_core::SimDuration;

use crate::error::{Result, TrafficError};
use crate::validate::{check_finite, check_nonneg, check_pos, span};

/// The arrival kinds a scenario may write (`arrival: {kind: …}`), each with what it is: what
/// `servesim list arrivals` prints. A test checks each name is one [`ArrivalConfig`] reads.
pub const ARRIVAL_KINDS: [(&str, &str); 6] = [
    (
        "poisson",
        "Poisson arrivals at rate_per_s (exponential gaps)",
    ),
    (
        "gamma",
        "renewal process with gamma gaps: cv < 1 smoother than Poisson, > 1 burstier",
    ),
    (
        "on_off",
        "Poisson at rate_per_s for on_s, silent for off_s, repeated",
    ),
    (
        "mmpp",
        "two-state Markov-modulated Poisson: a base and a burst state with exponential sojourns",
    ),
    (
        "schedule",
        "piecewise-constant Poisson rate over segments (a step burst, a replayed day)",
    ),
    (
        "diurnal",
        "Poisson with a sinusoidal rate: mean_rate_per_s, amplitude, period_s, peak_s",
    ),
];

/// An arrival process as written in a scenario file (`{kind: poisson, rate_per_s: 3}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ArrivalConfig {
    /// Poisson arrivals (exponential gaps).
    Poisson {
        /// Mean arrivals per second.
        rate_per_s: f64,
    },
    /// Renewal process with gamma gaps: `cv` < 1 is smoother than Poisson, > 1 burstier.
    Gamma {
        /// Mean arrivals per second.
        rate_per_s: f64,
        /// Coefficient of variation of the gaps (1 is Poisson).
        cv: f64,
    },
    /// Poisson at `rate_per_s` for `on_s`, silent for `off_s`, repeated; starts "on".
    OnOff {
        /// Rate while on.
        rate_per_s: f64,
        /// Length of each on period.
        on_s: f64,
        /// Length of each off period.
        off_s: f64,
    },
    /// Two-state Markov-modulated Poisson: exponential sojourns in a base and a burst
    /// state, Poisson within each; starts in the base state.
    Mmpp {
        /// Rate in the base state (may be 0).
        base_rate_per_s: f64,
        /// Rate in the burst state (may be 0).
        burst_rate_per_s: f64,
        /// Mean time spent in the base state per visit.
        mean_base_s: f64,
        /// Mean time spent in the burst state per visit.
        mean_burst_s: f64,
    },
    /// Piecewise-constant Poisson rate from the stream's start; ends after the last
    /// segment unless `repeat`.
    Schedule {
        /// The segments, in order.
        segments: Vec<SegmentConfig>,
        /// Start over after the last segment.
        #[serde(default)]
        repeat: bool,
    },
    /// Poisson with a sinusoidal rate
    /// `mean_rate_per_s * (1 + amplitude * cos(2π (t - peak_s) / period_s))`, `t` being
    /// simulated time (not time since the stream's start), so `peak_s` is a time of day.
    Diurnal {
        /// Mean rate over a period.
        mean_rate_per_s: f64,
        /// Relative swing, in `[0, 1]`.
        amplitude: f64,
        /// Period (86400 for a day).
        period_s: f64,
        /// A time at which the rate peaks.
        #[serde(default)]
        peak_s: f64,
    },
}

/// One segment of a [`ArrivalConfig::Schedule`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentConfig {
    /// How long this rate holds.
    pub duration_s: f64,
    /// The rate (0 is a pause).
    pub rate_per_s: f64,
}

fn rate_err(field: String, v: f64) -> TrafficError {
    TrafficError::config(field, format!("must be > 0, got {v}"))
}

/// The fastest rate accepted: one arrival per nanosecond, the clock's resolution.
const MAX_RATE_PER_S: f64 = 1e9;

/// `v` if in `[0, MAX_RATE_PER_S]` (and `> 0` when `positive`).
fn check_rate(field: &str, v: f64, positive: bool) -> Result<f64> {
    let v = if positive {
        check_pos(field, v)?
    } else {
        check_nonneg(field, v)?
    };
    if v > MAX_RATE_PER_S {
        return Err(TrafficError::config(
            field,
            format!("must be at most {MAX_RATE_PER_S:e} (one per nanosecond), got {v}"),
        ));
    }
    Ok(v)
}

/// A phase length of at least one nanosecond (a shorter one would never advance time).
fn phase_len(field: &str, secs: f64) -> Result<SimDuration> {
    check_pos(field, secs)?;
    let d = span(field, secs)?;
    if d == SimDuration::ZERO {
        return Err(TrafficError::config(
            field,
            format!("must be at least 1e-9 (one nanosecond), got {secs}"),
        ));
    }
    Ok(d)
}

/// Shortest segment of a `schedule`: a rate held for less is not a schedule, and a
/// repeating one of nanosecond segments would cycle billions of times between arrivals.
const MIN_SEGMENT_S: f64 = 1e-3;

/// Mean sojourns below a microsecond would mostly round to zero nanoseconds.
const MIN_MEAN_SOJOURN_S: f64 = 1e-6;

impl ArrivalConfig {
    /// Checks the figures; `field` is the path used in errors.
    pub fn validate(&self, field: &str) -> Result<ArrivalProcess> {
        let f = |name: &str| format!("{field}.{name}");
        Ok(match self {
            &ArrivalConfig::Poisson { rate_per_s } => {
                let r = check_rate(&f("rate_per_s"), rate_per_s, true)?;
                ArrivalProcess::Poisson(Exp::new(r).map_err(|_| rate_err(f("rate_per_s"), r))?)
            }
            &ArrivalConfig::Gamma { rate_per_s, cv } => {
                let r = check_rate(&f("rate_per_s"), rate_per_s, true)?;
                let cv = check_pos(&f("cv"), cv)?;
                // Shape k = 1/cv², scale so that the mean gap is 1/r.
                let k = 1.0 / (cv * cv);
                let g = Gamma::new(k, 1.0 / (r * k))
                    .map_err(|e| TrafficError::config(f("cv"), e.to_string()))?;
                ArrivalProcess::Gamma(g)
            }
            &ArrivalConfig::OnOff {
                rate_per_s,
                on_s,
                off_s,
            } => {
                let r = check_rate(&f("rate_per_s"), rate_per_s, true)?;
                let mut phases = vec![(Phase::Fixed(phase_len(&f("on_s"), on_s)?), r)];
                if check_nonneg(&f("off_s"), off_s)? > 0.0 {
                    phases.push((Phase::Fixed(phase_len(&f("off_s"), off_s)?), 0.0));
                }
                ArrivalProcess::Phases {
                    phases,
                    repeat: true,
                }
            }
            &ArrivalConfig::Mmpp {
                base_rate_per_s,
                burst_rate_per_s,
                mean_base_s,
                mean_burst_s,
            } => {
                let r0 = check_rate(&f("base_rate_per_s"), base_rate_per_s, false)?;
                let r1 = check_rate(&f("burst_rate_per_s"), burst_rate_per_s, false)?;
                if r0 == 0.0 && r1 == 0.0 {
                    return Err(TrafficError::config(
                        f("burst_rate_per_s"),
                        "base_rate_per_s or burst_rate_per_s must be > 0, both are 0",
                    ));
                }
                let mut holds = [0.0; 2];
                for (h, (name, v)) in holds
                    .iter_mut()
                    .zip([("mean_base_s", mean_base_s), ("mean_burst_s", mean_burst_s)])
                {
                    *h = check_pos(&f(name), v)?;
                    if *h < MIN_MEAN_SOJOURN_S {
                        return Err(TrafficError::config(
                            f(name),
                            format!("must be at least {MIN_MEAN_SOJOURN_S:e}, got {v}"),
                        ));
                    }
                }
                let [h0, h1] = holds;
                ArrivalProcess::Phases {
                    phases: vec![(Phase::Exp(h0), r0), (Phase::Exp(h1), r1)],
                    repeat: true,
                }
            }
            ArrivalConfig::Schedule { segments, repeat } => {
                if segments.is_empty() {
                    return Err(TrafficError::config(f("segments"), "must not be empty"));
                }
                let mut phases = Vec::with_capacity(segments.len());
                for (i, s) in segments.iter().enumerate() {
                    let g = |name: &str| format!("{field}.segments[{i}].{name}");
                    let d = phase_len(&g("duration_s"), s.duration_s)?;
                    if s.duration_s < MIN_SEGMENT_S {
                        return Err(TrafficError::config(
                            g("duration_s"),
                            format!("must be at least {MIN_SEGMENT_S} s, got {}", s.duration_s),
                        ));
                    }
                    phases.push((
                        Phase::Fixed(d),
                        check_rate(&g("rate_per_s"), s.rate_per_s, false)?,
                    ));
                }
                if phases.iter().all(|&(_, r)| r == 0.0) {
                    return Err(TrafficError::config(
                        f("segments"),
                        "at least one segment needs rate_per_s > 0",
                    ));
                }
                ArrivalProcess::Phases {
                    phases,
                    repeat: *repeat,
                }
            }
            &ArrivalConfig::Diurnal {
                mean_rate_per_s,
                amplitude,
                period_s,
                peak_s,
            } => {
                let mean = check_rate(&f("mean_rate_per_s"), mean_rate_per_s, true)?;
                let amplitude = check_nonneg(&f("amplitude"), amplitude)?;
                if amplitude > 1.0 {
                    return Err(TrafficError::config(
                        f("amplitude"),
                        format!("must be in [0, 1], got {amplitude}"),
                    ));
                }
                check_rate(&f("mean_rate_per_s"), mean * (1.0 + amplitude), true)?;
                ArrivalProcess::Diurnal {
                    mean,
                    amplitude,
                    period_s: check_pos(&f("period_s"), period_s)?,
                    peak_s: check_finite(&f("peak_s"), peak_s)?,
                }
            }
        })
    }
}

impl ArrivalConfig {
    /// The highest rate the process can arrive at (requests per second): a bound on its
    /// load, read to warn of long runs before they start.
    pub fn peak_rate_per_s(&self) -> f64 {
        match self {
            ArrivalConfig::Poisson { rate_per_s }
            | ArrivalConfig::Gamma { rate_per_s, .. }
            | ArrivalConfig::OnOff { rate_per_s, .. } => *rate_per_s,
            ArrivalConfig::Mmpp {
                base_rate_per_s,
                burst_rate_per_s,
                ..
            } => base_rate_per_s.max(*burst_rate_per_s),
            ArrivalConfig::Schedule { segments, .. } => {
                segments.iter().map(|s| s.rate_per_s).fold(0.0, f64::max)
            }
            ArrivalConfig::Diurnal {
                mean_rate_per_s,
                amplitude,
                ..
            } => mean_rate_per_s * (1.0 + amplitude),
        }
    }

    /// Multiplies every rate of the process by `factor` (a positive number): its load
    /// changes, its shape does not (burst and on/off lengths, the diurnal period and peak
    /// stay). The match is exhaustive, so a new kind does not compile until it says here how
    /// its load scales.
    pub fn scale_rates(&mut self, factor: f64) {
        match self {
            ArrivalConfig::Poisson { rate_per_s }
            | ArrivalConfig::Gamma { rate_per_s, .. }
            | ArrivalConfig::OnOff { rate_per_s, .. } => *rate_per_s *= factor,
            ArrivalConfig::Mmpp {
                base_rate_per_s,
                burst_rate_per_s,
                ..
            } => {
                *base_rate_per_s *= factor;
                *burst_rate_per_s *= factor;
            }
            ArrivalConfig::Schedule { segments, .. } => {
                for s in segments {
                    s.rate_per_s *= factor;
                }
            }
            ArrivalConfig::Diurnal {
                mean_rate_per_s, ..
            } => *mean_rate_per_s *= factor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_kind_is_one_a_scenario_may_write_and_no_other_is() {
        for (kind, _) in ARRIVAL_KINDS {
            let err = serde_norway::from_str::<ArrivalConfig>(&format!("{{kind: {kind}}}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("missing field"), "{kind}: {err}");
        }
        let err = serde_norway::from_str::<ArrivalConfig>("{kind: nope}")
            .unwrap_err()
            .to_string();
        let listed: Vec<&str> = ARRIVAL_KINDS.iter().map(|(k, _)| *k).collect();
        let named: Vec<&str> = err.split('`').skip(3).step_by(2).collect();
        assert_eq!(named.len(), listed.len(), "{err}");
        for kind in named {
            assert!(listed.contains(&kind), "{kind} is not listed: {err}");
        }
    }

    #[test]
    fn scale_rates_scales_every_rate_of_every_kind_and_nothing_else() {
        let cases = [
            (
                "{kind: poisson, rate_per_s: 2}",
                "{kind: poisson, rate_per_s: 6}",
            ),
            (
                "{kind: gamma, rate_per_s: 2, cv: 3}",
                "{kind: gamma, rate_per_s: 6, cv: 3}",
            ),
            (
                "{kind: on_off, rate_per_s: 2, on_s: 5, off_s: 7}",
                "{kind: on_off, rate_per_s: 6, on_s: 5, off_s: 7}",
            ),
            (
                "{kind: mmpp, base_rate_per_s: 1, burst_rate_per_s: 4, mean_base_s: 10, mean_burst_s: 5}",
                "{kind: mmpp, base_rate_per_s: 3, burst_rate_per_s: 12, mean_base_s: 10, mean_burst_s: 5}",
            ),
            (
                "{kind: schedule, repeat: true, segments: [{duration_s: 10, rate_per_s: 1}, {duration_s: 20, rate_per_s: 0}]}",
                "{kind: schedule, repeat: true, segments: [{duration_s: 10, rate_per_s: 3}, {duration_s: 20, rate_per_s: 0}]}",
            ),
            (
                "{kind: diurnal, mean_rate_per_s: 2, amplitude: 0.5, period_s: 100, peak_s: 30}",
                "{kind: diurnal, mean_rate_per_s: 6, amplitude: 0.5, period_s: 100, peak_s: 30}",
            ),
        ];
        for (before, after) in cases {
            let mut a: ArrivalConfig = serde_norway::from_str(before).unwrap();
            a.scale_rates(3.0);
            let expect: ArrivalConfig = serde_norway::from_str(after).unwrap();
            assert_eq!(a, expect, "{before}");
        }
    }

    #[test]
    fn bad_rates_name_the_field() {
        let cases = [
            (
                "{kind: poisson, rate_per_s: 0}",
                "a.rate_per_s: must be > 0, got 0",
            ),
            (
                "{kind: poisson, rate_per_s: -2}",
                "a.rate_per_s: must be > 0, got -2",
            ),
            (
                "{kind: gamma, rate_per_s: 1, cv: 0}",
                "a.cv: must be > 0, got 0",
            ),
            (
                "{kind: diurnal, mean_rate_per_s: 1, amplitude: 2, period_s: 10}",
                "a.amplitude",
            ),
            ("{kind: schedule, segments: []}", "a.segments"),
            (
                "{kind: schedule, segments: [{duration_s: 1, rate_per_s: -1}]}",
                "a.segments[0].rate_per_s",
            ),
            (
                "{kind: schedule, repeat: true, segments: [{duration_s: 1e-10, rate_per_s: 5}]}",
                "a.segments[0].duration_s: must be at least",
            ),
            (
                "{kind: schedule, segments: [{duration_s: 1, rate_per_s: 5e9}]}",
                "a.segments[0].rate_per_s: must be at most",
            ),
            ("{kind: on_off, rate_per_s: 1, on_s: 0, off_s: 1}", "a.on_s"),
            (
                "{kind: on_off, rate_per_s: 1, on_s: 1e-12, off_s: 1}",
                "a.on_s: must be at least",
            ),
            (
                "{kind: poisson, rate_per_s: 2e9}",
                "a.rate_per_s: must be at most",
            ),
            (
                "{kind: mmpp, base_rate_per_s: 1, burst_rate_per_s: 5, mean_base_s: 1e-9, mean_burst_s: 1}",
                "a.mean_base_s: must be at least",
            ),
            (
                "{kind: mmpp, base_rate_per_s: 0, burst_rate_per_s: 0, mean_base_s: 1, mean_burst_s: 1}",
                "a.burst_rate_per_s: base_rate_per_s or",
            ),
        ];
        for (src, msg) in cases {
            let cfg: ArrivalConfig = serde_norway::from_str(src).unwrap();
            let err = cfg.validate("a").unwrap_err().to_string();
            assert!(err.starts_with(msg), "{src}: {err}");
        }
    }
}
