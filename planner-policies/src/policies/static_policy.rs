//! `static`: keeps the deployment as it is.

use crate::observation::{Decision, Observation};
use crate::planner::Planner;
use crate::policy_kind::PolicyKind;

/// Never changes any pool.
#[derive(Clone, Debug)]
pub struct Static {
    interval_s: f64,
}

impl Static {
    /// Called every `interval_s` seconds (it still records a decision).
    pub fn new(interval_s: f64) -> Self {
        Static { interval_s }
    }
}

impl Planner for Static {
    fn name(&self) -> &'static str {
        PolicyKind::Static.as_str()
    }

    fn interval_s(&self) -> f64 {
        self.interval_s
    }

    fn decide(&mut self, obs: &Observation) -> Decision {
        Decision::unchanged(obs.pools.len())
    }
}
