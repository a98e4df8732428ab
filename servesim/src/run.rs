//! A run of a scenario: the world in its simulation, stepped to a time or to the end.

use servesim_core::{SimDuration, SimTime, Simulation};
use servesim_planner::Planner;

use crate::Error;
use crate::progress::Observer;
use crate::report::Summary;
use crate::scenario::Scenario;
use crate::trace::{TraceConfig, Tracer};
use crate::world::World;

/// Slices of simulated time a run observed by [`Run::finish_observed`] is told in.
const PROGRESS_STEPS: u64 = 100;

/// A run in progress: the world and its scheduler.
pub struct Run {
    /// The simulation.
    pub sim: Simulation<World>,
    end: SimTime,
    scenario: Scenario,
}

impl Run {
    /// Prepares a run of `scenario` (nothing simulated yet).
    pub fn new(scenario: &Scenario) -> Result<Run, Error> {
        Self::start(scenario, World::new(scenario)?)
    }

    /// Prepares a run of `scenario` with `planner` in the loop instead of the one it names
    /// (a policy written elsewhere, e.g. in Python).
    pub fn with_planner(scenario: &Scenario, planner: Box<dyn Planner>) -> Result<Run, Error> {
        Self::start(scenario, World::with_planner(scenario, Some(planner))?)
    }

    pub(crate) fn start(scenario: &Scenario, world: World) -> Result<Run, Error> {
        let mut sim = Simulation::new(world);
        sim.model.schedule_start(&mut sim.scheduler)?;
        Ok(Run {
            sim,
            end: SimTime::ZERO + scenario.duration(),
            scenario: scenario.clone(),
        })
    }

    /// Simulates up to `t` (at most the scenario's end).
    pub fn run_until(&mut self, t: SimTime) -> Result<(), Error> {
        self.sim.run_until(t.min(self.end));
        match self.sim.model.take_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Records the rest of the run as a Chrome / Perfetto trace (written as it goes,
    /// closed by [`Run::finish`], whose world then tells what it holds:
    /// [`World::trace_outcome`]).
    /// Refuses a file the scenario reads (a trace it replays, say): it would be written over.
    pub fn trace_to(&mut self, config: &TraceConfig) -> Result<(), Error> {
        let s = &self.scenario;
        if let Some(field) = s.reads(&config.path) {
            return Err(Error::Config {
                path: "trace".into(),
                message: format!(
                    "{} is the scenario's {field}; give another path, or it would be written over",
                    config.path.display()
                ),
            });
        }
        let tracer = Tracer::create(config, s.name(), s.seed(), s.pools().len() as u32)?;
        self.sim.model.set_tracer(tracer);
        Ok(())
    }

    /// Simulates to the end and summarises.
    pub fn finish(mut self) -> Result<(Summary, World), Error> {
        self.run_until(self.end)?;
        self.sim.model.finish_trace(self.end)?;
        let summary = Summary::new(&self.scenario, &self.sim);
        Ok((summary, self.sim.model))
    }

    /// [`Run::finish`], telling `progress` of each hundredth of the simulated time as it is
    /// done (a phase of 100 units, "% simulated"). Only observed: the run is the same.
    pub fn finish_observed(mut self, progress: &dyn Observer) -> Result<(Summary, World), Error> {
        let start = self.sim.scheduler.now();
        let span = u128::from(self.end.saturating_duration_since(start).as_nanos());
        progress.phase("% simulated", PROGRESS_STEPS);
        for i in 1..=PROGRESS_STEPS {
            // At most `span`, so it fits in u64.
            let step = (span * u128::from(i) / u128::from(PROGRESS_STEPS)) as u64;
            self.run_until(start + SimDuration::from_nanos(step))?;
            progress.done();
        }
        self.finish()
    }

    /// The scenario run.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The scenario's end.
    pub fn end(&self) -> SimTime {
        self.end
    }
}

/// Runs a scenario to its end.
pub fn run(scenario: &Scenario) -> Result<(Summary, World), Error> {
    Run::new(scenario)?.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Quiet;

    #[test]
    fn an_observed_run_is_the_same_run() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/disagg-small.yaml");
        let s = Scenario::from_file(&path).unwrap();
        let s = s.edited(|c| c.duration_s = 120.0).unwrap();
        let (plain, _) = run(&s).unwrap();
        let (observed, _) = Run::new(&s).unwrap().finish_observed(&Quiet).unwrap();
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            serde_json::to_string(&observed).unwrap()
        );
    }
}
