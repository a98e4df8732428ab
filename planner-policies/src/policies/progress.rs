//! The start of a stateful policy's decision: its clock moved on, the request sizes
//! remembered; shared by `sla-load` and `lookahead`.

use crate::observation::{Observation, finite};
use crate::policies::Common;

/// Mean ISL assumed before any request is seen, tokens.
const DEFAULT_ISL: f64 = 1024.0;
/// Mean OSL assumed before any request is seen, tokens.
const DEFAULT_OSL: f64 = 256.0;

/// What a stateful policy carries from one decision to the next: its clock and the last
/// usable mean request sizes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Progress {
    clock: f64,
    isl: Option<f64>,
    osl: Option<f64>,
}

/// Where one decision stands.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    /// Length of the interval the observation covers, s.
    pub dt: f64,
    /// The policy's time of the decision, s.
    pub now: f64,
}

impl Progress {
    /// Begins a decision on `obs`: `None` when the observation does not match the deployment
    /// (the policy then changes nothing); else the clock moved to the observation's time (or
    /// on by the interval when that time is unusable or behind) and the sizes remembered
    /// (intervals without requests keep the last ones).
    pub fn step(&mut self, common: &Common, obs: &Observation) -> Option<Step> {
        if !common.matches(obs) {
            return None;
        }
        let dt = common.dt(obs);
        self.clock = match finite(Some(obs.now_s)) {
            Some(t) if t >= self.clock => t,
            _ => self.clock + dt,
        };
        let stats = &obs.interval;
        if stats.requests > 0 {
            if let Some(v) = finite(stats.mean_isl).filter(|v| *v > 0.0) {
                self.isl = Some(v);
            }
            if let Some(v) = finite(stats.mean_osl).filter(|v| *v > 0.0) {
                self.osl = Some(v);
            }
        }
        Some(Step {
            dt,
            now: self.clock,
        })
    }

    /// Whether a mean ISL has been seen.
    pub fn seen_isl(&self) -> bool {
        self.isl.is_some()
    }

    /// Whether a mean OSL has been seen.
    pub fn seen_osl(&self) -> bool {
        self.osl.is_some()
    }

    /// The last mean ISL and OSL seen, or the defaults before any.
    pub fn sizes(&self) -> (f64, f64) {
        (
            self.isl.unwrap_or(DEFAULT_ISL),
            self.osl.unwrap_or(DEFAULT_OSL),
        )
    }
}
