//! A run stepped from decision to decision, for planners that live outside the event loop
//! (a learning agent, a `gymnasium` environment): the simulation stops at each decision
//! time and hands out the [`Observation`]; the caller answers with a [`Decision`] and the
//! simulation goes on to the next one. The world is the one [`Run`] steps; only who
//! decides changes, so a stepper given each decision a policy would take reproduces that
//! policy's run.

use serde::Serialize;

use servesim_core::SimTime;
use servesim_planner::{Decision, Observation, PlannerError, PoolRole};

use crate::Error;
use crate::report::Summary;
use crate::run::Run;
use crate::scenario::Scenario;
use crate::world::World;

/// Decision interval when neither the caller nor the scenario's `planner:` gives one, s.
pub const DEFAULT_INTERVAL_S: f64 = 60.0;

/// A run of a scenario whose planner decisions are given from outside, one at a time.
///
/// ```no_run
/// # use servesim::{Scenario, Stepper};
/// let s = Scenario::from_file("scenarios/disagg-small.yaml".as_ref())?;
/// let mut stepper = Stepper::new(&s, Some(30.0))?;
/// stepper.advance(None)?; // to the first decision
/// while let Some(obs) = stepper.observation().filter(|_| !stepper.is_done()) {
///     let targets = obs.pools.iter().map(|p| Some(p.active().max(1))).collect();
///     let decision = servesim::planner::Decision { targets, ..Default::default() };
///     stepper.advance(Some(&decision))?;
/// }
/// assert!(stepper.progress().completed > 0);
/// # Ok::<(), servesim::Error>(())
/// ```
pub struct Stepper {
    run: Run,
    /// The observation the run ended on (set once done).
    last: Option<Observation>,
}

/// What a stepped run has accumulated so far, for rewards read as differences between steps.
/// Requests count as the run's summary counts them: those arriving after the warm-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Progress {
    /// Simulated time, s.
    pub time_s: f64,
    /// Requests completed.
    pub completed: u64,
    /// Requests completed within both SLOs (the summary's goodput count).
    pub slo_met: u64,
    /// Output tokens of the requests completed within both SLOs.
    pub good_tokens: u64,
    /// GPU-hours held by all pools (starting, ready and draining workers).
    pub gpu_hours: f64,
}

/// One pool of a stepped run, as its decisions address it (for sizing an action space
/// before the first observation).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoolShape {
    /// Pool name.
    pub name: String,
    /// What its workers do.
    pub role: PoolRole,
    /// GPUs per worker (its TP size).
    pub gpus_per_worker: u32,
    /// Workers starting or ready now (at time zero, the scenario's `workers`).
    pub active: u32,
}

impl Stepper {
    /// Prepares a run of `scenario` (nothing simulated yet) whose decisions are due every
    /// `interval_s` seconds (default: the scenario's `planner.interval_s`, else
    /// [`DEFAULT_INTERVAL_S`]), after the scenario's `planner.scrape_lag_s`. The scenario's
    /// policy is not consulted and its `advisory` is ignored: decisions given are applied.
    pub fn new(scenario: &Scenario, interval_s: Option<f64>) -> Result<Stepper, Error> {
        let interval_s = interval_s
            .or(scenario.planner().map(|p| p.interval_s))
            .unwrap_or(DEFAULT_INTERVAL_S);
        let run = Run::start(scenario, World::stepped(scenario, interval_s)?)?;
        Ok(Stepper { run, last: None })
    }

    /// Applies `decision` to the observation waiting for one (`None`: change nothing; with
    /// no observation waiting, before the first step, it is not read), then simulates to
    /// the next decision time before the scenario's end, or to the end.
    ///
    /// A decision must have one target per pool. Once done, this does nothing.
    pub fn advance(&mut self, decision: Option<&Decision>) -> Result<(), Error> {
        if self.is_done() {
            return Ok(());
        }
        if let Some(obs) = self.run.sim.model.awaiting_decision() {
            let unchanged = Decision::unchanged(obs.pools.len());
            let decision = decision.unwrap_or(&unchanged);
            if decision.targets.len() != obs.pools.len() {
                return Err(Error::Planner(PlannerError::Invalid {
                    path: "decision.targets".into(),
                    message: format!(
                        "{} targets for {} pools",
                        decision.targets.len(),
                        obs.pools.len()
                    ),
                }));
            }
            let sim = &mut self.run.sim;
            sim.model.decide_awaiting(decision, &mut sim.scheduler);
        }
        let end = self.run.end();
        loop {
            let sim = &mut self.run.sim;
            match sim.scheduler.next_event_time() {
                Some(t) if t <= end => {
                    sim.step();
                }
                _ => break,
            }
            if let Some(e) = sim.model.take_error() {
                return Err(e);
            }
            // A decision due at the very end has nothing after it to act on: the run
            // finishes, and its observation is the last one.
            if sim.model.awaiting_decision().is_some() && sim.now() < end {
                return Ok(());
            }
        }
        self.run.run_until(end)?;
        self.last = self.run.sim.model.observe_now(end);
        Ok(())
    }

    /// The observation waiting for a decision; once done, the one the run ended on
    /// (scraped at the end). `None` before the first [`Stepper::advance`].
    pub fn observation(&self) -> Option<&Observation> {
        self.last
            .as_ref()
            .or_else(|| self.run.sim.model.awaiting_decision())
    }

    /// Whether the run has reached the scenario's end.
    pub fn is_done(&self) -> bool {
        self.last.is_some()
    }

    /// Simulated time now.
    pub fn now(&self) -> SimTime {
        self.run.sim.now()
    }

    /// The totals so far.
    pub fn progress(&self) -> Progress {
        let w = &self.run.sim.model;
        let now = self.now();
        Progress {
            time_s: now.as_secs_f64(),
            completed: w.metrics.all.completed,
            slo_met: w.metrics.all.slo_met,
            good_tokens: w.metrics.all.good_tokens,
            gpu_hours: w
                .cluster
                .pool_ids()
                .map(|p| w.cluster.gpu_seconds(p, now))
                .sum::<f64>()
                / 3600.0,
        }
    }

    /// The run's summary so far (its figures over the time simulated).
    pub fn summary(&self) -> Summary {
        Summary::new(self.run.scenario(), &self.run.sim)
    }

    /// The pools, in the order of observations and decisions.
    pub fn pools(&self) -> Vec<PoolShape> {
        let c = &self.run.sim.model.cluster;
        c.pool_ids()
            .map(|p| PoolShape {
                name: c.pool_name(p).to_string(),
                role: c.pool_role(p),
                gpus_per_worker: c.gpus_per_worker(p),
                active: c.active_workers(p),
            })
            .collect()
    }

    /// Most GPUs the deployment may hold at once.
    pub fn gpu_budget(&self) -> u32 {
        self.run.sim.model.cluster.gpu_budget()
    }

    /// The world, read-only.
    pub fn world(&self) -> &World {
        &self.run.sim.model
    }
}

#[cfg(test)]
mod tests;
