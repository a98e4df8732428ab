//! The simulation world: traffic → cluster → metrics, wired into the engine.
//!
//! One [`World`] is one run. Arrivals come from the workload one at a time
//! (a single pending arrival event, moved when a closed-loop follow-up
//! becomes due earlier); the cluster schedules its own events; a sampling
//! event fills the per-pool time series. Requests in flight live in a slab
//! whose slots are reused, so memory follows what is in flight.
//!
//! - [`build`]: the cluster, predictors and planner context of a scenario;
//! - `requests`: arrivals, the frontend hand-over and the cluster's notices;
//! - `planner_loop`: metrics scraped, decisions applied or recorded (or, in a stepped world,
//!   awaited from outside);
//! - `faults`: the scenario's fault schedule applied to the cluster, and its outcomes;
//! - `tracing`: the timeline export fed (only when a trace is asked for).

use servesim_core::{EventKey, Model, RngStreams, Scheduler, SimDuration, SimTime, Slab};
use servesim_models::cluster::{Cluster, ClusterEvent, ClusterOutput, PoolId};
use servesim_models::faults::next_failure_in_s;
use servesim_models::request::RequestHandle;
use servesim_planner::Planner;
use servesim_traffic::Workload;

use crate::Error;
use crate::metrics::Metrics;
use crate::scenario::{FaultEvent, Scenario};
use crate::trace::{TraceOutcome, Tracer};
use servesim_models::frontend::Frontend;

pub mod build;
pub mod context;
mod faults;
mod planner_loop;
#[cfg(test)]
pub(crate) use planner_loop::SATURATED;
mod requests;
mod tracing;

pub use build::{build_cluster, planner_context, pool_predictor, pool_predictors};
use context::ContextCheck;
use faults::FaultLoop;
pub use faults::FaultOutcome;
pub use planner_loop::ScalingEvent;
use planner_loop::{Outside, PlannerLoop, planner_loop};
use requests::InFlight;

/// Everything that happens in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// The workload's next request is due.
    Arrival,
    /// A cluster event.
    Cluster(ClusterEvent),
    /// Sample the time series.
    Sample,
    /// The planner's metrics are scraped (its decision comes `scrape_lag` later).
    PlannerScrape,
    /// The planner decides on the oldest scraped observation.
    PlannerDecide,
    /// The `i`-th fault of the scenario starts (or strikes again).
    Fault(u16),
    /// The `i`-th fault ends (a straggler recovers, a link or node comes back).
    FaultEnd(u16),
    /// The frontend hands the request in this slot to the cluster.
    Ingress(RequestHandle),
}

impl From<ClusterEvent> for Event {
    fn from(e: ClusterEvent) -> Event {
        Event::Cluster(e)
    }
}

/// One run's state.
pub struct World {
    /// The cluster.
    pub cluster: Cluster,
    /// The workload.
    pub workload: Workload,
    /// What is measured.
    pub metrics: Metrics,
    inflight: Slab<RequestHandle, InFlight>,
    out: ClusterOutput,
    arrival: Option<(SimTime, EventKey)>,
    sample_interval: SimDuration,
    error: Option<Error>,
    planner: Option<PlannerLoop>,
    faults: Option<FaultLoop>,
    arrivals: u64,
    /// The run's end: a request arriving then or later is not sent (the run covers
    /// `[0, duration)`, as `servesim traffic` counts it).
    arrivals_end: SimTime,
    max_requests: u64,
    slo_ttft_ms: f64,
    slo_itl_ms: f64,
    /// The frontend, when it costs anything.
    frontend: Option<Frontend>,
    /// The timeline being recorded, if asked for.
    trace: Option<Box<Tracer>>,
    /// What the trace held, once closed.
    trace_outcome: Option<TraceOutcome>,
    context: Option<ContextCheck>,
    /// Requests of each stream (by id) with no prompt or no output tokens, served with one.
    emptied: Vec<u64>,
    /// The model's response header ([`servesim_models::llm::LlmSpec::response_header_tokens`]).
    header_tokens: u32,
}

impl World {
    /// A world at time zero for `scenario`, with its seed's streams and the
    /// planner its `planner:` section names (if any).
    pub fn new(s: &Scenario) -> Result<World, Error> {
        let planner = match &s.planner() {
            Some(cfg) => {
                let ctx = planner_context(s)?;
                let planner =
                    servesim_planner::build(cfg, &ctx, "planner").map_err(Error::Planner)?;
                Some(planner)
            }
            None => None,
        };
        Self::with_planner(s, planner)
    }

    /// A world at time zero for `scenario` with `planner` in the loop (or none).
    pub fn with_planner(s: &Scenario, planner: Option<Box<dyn Planner>>) -> Result<World, Error> {
        let cluster = build_cluster(s)?;
        let workload =
            Workload::new(s.traffic(), &RngStreams::new(s.seed())).map_err(Error::Traffic)?;
        let metrics = Metrics::new(
            s.slo_ttft(),
            s.slo_itl(),
            s.warmup(),
            workload.class_names().len(),
            s.pools().len(),
            s.sample_interval(),
            s.keep_requests(),
        )
        .with_unmeasured_classes(workload.warmup_classes().to_vec());
        Ok(World {
            cluster,
            metrics,
            inflight: Slab::new(),
            out: ClusterOutput::default(),
            arrival: None,
            sample_interval: s.sample_interval(),
            error: None,
            planner: planner.map(|p| planner_loop(s, p)).transpose()?,
            faults: s.faults().cloned().map(|config| {
                let streams = RngStreams::new(s.seed());
                let mut cluster_faults = config;
                let rngs = (0..cluster_faults.events.len())
                    .map(|i| streams.substream("faults", i as u64))
                    .collect();
                cluster_faults.events.shrink_to_fit();
                FaultLoop {
                    config: cluster_faults,
                    rngs,
                    outcomes: Vec::new(),
                    recovering: Vec::new(),
                    stragglers: Vec::new(),
                }
            }),
            arrivals: 0,
            arrivals_end: SimTime::ZERO + s.duration(),
            max_requests: s.max_requests(),
            slo_ttft_ms: s.slo_ttft().as_millis_f64(),
            slo_itl_ms: s.slo_itl().as_millis_f64(),
            frontend: (!s.frontend().is_ideal()).then(|| Frontend::new(s.frontend())),
            trace: None,
            trace_outcome: None,
            context: s
                .llm()
                .max_position_embeddings
                .map(|c| ContextCheck::new(c, workload.stream_names().len())),
            emptied: vec![0; workload.stream_names().len()],
            header_tokens: s.llm().response_header_tokens,
            workload,
        })
    }

    /// A world at time zero for `scenario` whose planner decisions come from outside the
    /// event loop (a [`crate::Stepper`]'s caller), due every `interval_s` seconds and
    /// applied whatever the scenario's `planner.advisory`.
    pub(crate) fn stepped(s: &Scenario, interval_s: f64) -> Result<World, Error> {
        let mut world = Self::with_planner(s, Some(Box::new(Outside { interval_s })))?;
        if let Some(pl) = world.planner.as_mut() {
            pl.outside = true;
            pl.advisory = false;
        }
        Ok(world)
    }

    /// Schedules what a run starts with: the first sample, the planner's first scrape and
    /// decision, the scenario's faults, and the first arrival.
    pub(crate) fn schedule_start(&mut self, sched: &mut Scheduler<Event>) -> Result<(), Error> {
        sched.schedule_at(SimTime::ZERO, Event::Sample);
        if let Some(pl) = &self.planner {
            // The k-th decision at k × interval sees metrics scraped `lag` earlier;
            // decisions whose scrape would fall before time zero are skipped.
            let first = planner_loop::first_decision(pl.interval, pl.scrape_lag);
            sched.schedule_at(
                SimTime::ZERO + (first - pl.scrape_lag),
                Event::PlannerScrape,
            );
            sched.schedule_at(SimTime::ZERO + first, Event::PlannerDecide);
        }
        if let Some(f) = self.faults.as_mut() {
            for (i, e) in f.config.events.iter().enumerate() {
                let mut at_s = e.at_s();
                // Failures at random are a Poisson process from `start_s`: the first comes
                // one exponential gap after it, as each next one after the last.
                if let FaultEvent::RandomWorkerFailures { mtbf_s, end_s, .. } = e {
                    at_s += next_failure_in_s(*mtbf_s, &mut f.rngs[i]);
                    if !(at_s < end_s.unwrap_or(f64::INFINITY) && at_s.is_finite()) {
                        continue;
                    }
                }
                let at = SimDuration::from_secs_f64_round(at_s).map_err(|err| Error::Config {
                    path: format!("faults.events[{i}].at_s"),
                    message: err.to_string(),
                })?;
                let i = u16::try_from(i).map_err(|_| Error::Config {
                    path: "faults.events".into(),
                    message: "more than 65,535 faults".into(),
                })?;
                sched.schedule_at(SimTime::ZERO + at, Event::Fault(i));
            }
        }
        self.schedule_arrival(sched);
        Ok(())
    }

    /// Share of the run up to `now` the frontend's host process was busy (`None`: no frontend).
    pub fn frontend_busy_share(&self, now: SimTime) -> Option<f64> {
        self.frontend.as_ref().map(|f| f.busy_share(now))
    }

    /// The planner's decisions so far (applied or advisory).
    pub fn scaling_events(&self) -> &[ScalingEvent] {
        self.planner.as_ref().map_or(&[], |p| &p.events)
    }

    /// Whether the planner in the loop only records its decisions (`planner.advisory`; a
    /// stepped world applies the decisions given to it whatever the scenario says).
    pub fn planner_advisory(&self) -> bool {
        self.planner.as_ref().is_some_and(|p| p.advisory)
    }

    /// Decisions the planner has taken so far, those changing nothing included (each of
    /// [`World::scaling_events`] is a change one of them asked of a pool).
    pub fn planner_decisions(&self) -> u64 {
        self.planner.as_ref().map_or(0, |p| p.decisions)
    }

    /// Decisions of the planner whose counts the GPU budget cut, and the most GPUs one of
    /// them asked for ([`servesim_planner::Decision::asked_gpus`]).
    pub fn planner_budget_cut(&self) -> (u64, Option<u32>) {
        self.planner.as_ref().map_or((0, None), |p| p.budget_cut)
    }

    /// Workers the planner's decisions started: at once ([`ScalingEvent::started`]) or
    /// later, once GPUs were freed for those pending.
    pub fn workers_started(&self) -> u64 {
        let at_once: u64 = self
            .scaling_events()
            .iter()
            .map(|e| u64::from(e.started))
            .sum();
        at_once + self.cluster.owed_started()
    }

    /// The requests over the model's context so far, by stream (`None` when the model's
    /// context is not known).
    pub fn context_check(&self) -> Option<&ContextCheck> {
        self.context.as_ref()
    }

    /// Requests of each stream (by id) that asked for no prompt or no output tokens (a trace's
    /// rows of 0), which a server refuses: the simulation serves them with one token each.
    pub fn emptied(&self) -> &[u64] {
        &self.emptied
    }

    /// The planner's name, if one is in the loop.
    pub fn planner_name(&self) -> Option<&'static str> {
        self.planner.as_ref().map(|p| p.planner.name())
    }

    /// When the planner in the loop first decides, at its own interval past its scrape lag
    /// (none without a planner).
    pub fn first_planner_decision(&self) -> Option<SimDuration> {
        (self.planner.as_ref()).map(|pl| planner_loop::first_decision(pl.interval, pl.scrape_lag))
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Requests in flight now that were issued after the warm-up, of classes their clients
    /// measure (those the summary's `arrived` counts).
    pub fn in_flight_measured(&self) -> usize {
        (self.inflight.values())
            .filter(|f| self.metrics.measures(f.request.issued, f.request.class.0))
            .count()
    }

    /// Requests in flight whose TTFT target is already missed at `now`, counted from when
    /// their client issued them, as finished ones are, by class (indexed by the workload's
    /// class ids).
    pub fn in_flight_late_by_class(&self, now: SimTime, ttft: SimDuration) -> Vec<u64> {
        let mut late = vec![0u64; self.workload.class_names().len()];
        let missed = self
            .inflight
            .values()
            .filter(|f| self.metrics.counts(f.request.issued))
            .filter(|f| match f.first_token {
                Some(t) => t - f.request.issued > ttft,
                None => now.saturating_duration_since(f.request.issued) > ttft,
            });
        for f in missed {
            if let Some(n) = late.get_mut(usize::from(f.request.class.0)) {
                *n += 1;
            }
        }
        late
    }

    /// Takes the first error met during the run (a malformed trace row read mid-run).
    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }

    fn sample(&mut self, now: SimTime) {
        if now > SimTime::ZERO {
            // Once per sample interval, over the requests in flight.
            let oldest = self
                .inflight
                .values()
                .filter(|f| f.first_token.is_none())
                .map(|f| now.saturating_duration_since(f.request.arrival))
                .max()
                .unwrap_or(SimDuration::ZERO);
            self.metrics.close_interval(oldest);
        }
        self.check_recovery(now);
        for (i, series) in self.metrics.series.iter_mut().enumerate() {
            let s = self.cluster.pool_stats(PoolId(i as u16));
            let serving = f64::from((s.ready + s.draining).max(1));
            series.starting.record_until(now, f64::from(s.starting));
            series.ready.record_until(now, f64::from(s.ready));
            series.draining.record_until(now, f64::from(s.draining));
            series.queue_depth.record_until(now, s.waiting() as f64);
            series
                .queued_prefill_tokens
                .record_until(now, s.queued_prefill_tokens as f64);
            series.kv_utilisation.record_until(now, s.kv_utilisation);
            series
                .batch_size
                .record_until(now, s.running as f64 / serving);
            series.gpus.record_until(now, f64::from(s.gpus_held));
            if let Some(trace) = self.trace.as_deref_mut() {
                trace.counters(now, PoolId(i as u16), &s);
            }
        }
    }
}

impl Model for World {
    type Event = Event;

    fn handle(&mut self, event: Event, sched: &mut Scheduler<Event>) {
        if self.error.is_some() {
            return;
        }
        match event {
            Event::Arrival => self.arrive(sched),
            Event::Ingress(handle) => self.ingress(handle, sched),
            Event::Cluster(e) => {
                self.cluster.handle(e, sched, &mut self.out);
                self.apply_notices(sched);
            }
            Event::Sample => {
                self.sample(sched.now());
                sched.schedule_in(self.sample_interval, Event::Sample);
            }
            Event::PlannerScrape => {
                self.scrape(sched.now());
                if let Some(pl) = &self.planner {
                    sched.schedule_in(pl.interval, Event::PlannerScrape);
                }
            }
            Event::Fault(i) => self.fault(usize::from(i), sched),
            Event::FaultEnd(i) => self.fault_end(usize::from(i), sched),
            Event::PlannerDecide => {
                self.decide(sched);
                if let Some(pl) = &self.planner {
                    sched.schedule_in(pl.interval, Event::PlannerDecide);
                }
            }
        }
    }
}
