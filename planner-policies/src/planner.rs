//! The [`Planner`] trait: what every policy answers to.

use crate::observation::{Decision, Observation};

/// A planner policy: shown an [`Observation`] every [`Planner::interval_s`] seconds of
/// simulated time, it answers target workers per pool.
///
/// A policy's state depends only on the observations it is shown (never on whether its
/// decisions were applied), so that advisory runs record what it would have done.
pub trait Planner: Send {
    /// The policy's name, as written in a scenario.
    fn name(&self) -> &'static str;
    /// How often the world calls [`Planner::decide`], s of simulated time.
    fn interval_s(&self) -> f64;
    /// One decision.
    fn decide(&mut self, obs: &Observation) -> Decision;
}
