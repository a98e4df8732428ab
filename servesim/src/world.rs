//! The simulation world: traffic → cluster → metrics, wired into the engine.
//!
//! One [`World`] is one run. Arrivals come from the workload one at a time
//! (a single pending arrival event, moved when a closed-loop follow-up
//! becomes due earlier); the cluster schedules its own events; a sampling
//! event fills the per-pool time series. Requests in flight live in a slab
//! whose slots are reused, so memory follows what is in flight.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use servesim_core::{EventKey, Model, RngStreams, Scheduler, SimDuration, SimTime, Simulation};
use servesim_models::cluster::{
    Cluster, ClusterEvent, ClusterOutput, ClusterSpec, Notice, PoolId, PoolSpec, RequestIn,
};
use servesim_models::hardware::GpuCatalog;
use servesim_models::network::{Network, Topology, TopologySpec};
use servesim_models::perf::{Backend, CachedPredictor, IterationPredictor, KernelTimer};
use servesim_traffic::{Request, Workload};

use crate::Error;
use crate::metrics::{Finished, Metrics};
use crate::report::Summary;
use crate::scenario::Scenario;

/// Everything that happens in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// The workload's next request is due.
    Arrival,
    /// A cluster event.
    Cluster(ClusterEvent),
    /// Sample the time series.
    Sample,
}

impl From<ClusterEvent> for Event {
    fn from(e: ClusterEvent) -> Event {
        Event::Cluster(e)
    }
}

/// A request in flight.
#[derive(Clone, Debug)]
struct InFlight {
    request: Request,
    admitted: Option<SimTime>,
    first_token: Option<SimTime>,
    transfer_started: Option<SimTime>,
    transfer: SimDuration,
    preemptions: u32,
    prefill_worker: u32,
    decode_worker: u32,
}

/// One run's state.
pub struct World {
    /// The cluster.
    pub cluster: Cluster,
    /// The workload.
    pub workload: Workload,
    /// What is measured.
    pub metrics: Metrics,
    inflight: Vec<Option<InFlight>>,
    free: Vec<u32>,
    out: ClusterOutput,
    arrival: Option<(SimTime, EventKey)>,
    sample_interval: SimDuration,
    error: Option<Error>,
}

/// The shipped kernel timer of a GPU and backend, parsed once per process
/// (the tables take a fraction of a second to decode; A/B runs build many clusters).
pub fn shipped_timer(gpu: &str, backend: Backend) -> Result<KernelTimer, Error> {
    static CACHE: OnceLock<Mutex<BTreeMap<(String, Backend), KernelTimer>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(BTreeMap::new()));
    let key = (gpu.to_string(), backend);
    if let Some(t) = cache.lock().expect("timer cache lock").get(&key) {
        return Ok(t.clone());
    }
    let timer =
        KernelTimer::shipped(&GpuCatalog::builtin(), gpu, backend).map_err(Error::Models)?;
    cache
        .lock()
        .expect("timer cache lock")
        .insert(key, timer.clone());
    Ok(timer)
}

/// Builds the cluster of a scenario (its predictors, network and pools).
pub fn build_cluster(s: &Scenario) -> Result<Cluster, Error> {
    let timer = shipped_timer(&s.gpu.sku, s.backend)?;
    let topology = Topology::new(TopologySpec {
        nodes: s.config.cluster.nodes,
        gpus_per_node: s.gpu.gpus_per_node,
        nvlink_bytes_per_s: s.gpu.nvlink_bytes_per_s_per_direction,
        nic_bytes_per_s: s.gpu.nic_bytes_per_s_per_direction,
        fabric: s.config.cluster.fabric,
    })
    .map_err(|e| Error::Config {
        path: "cluster.fabric".into(),
        message: e.to_string(),
    })?;
    let mut pools = Vec::new();
    for (i, p) in s.pools.iter().enumerate() {
        let predictor = IterationPredictor::new(&s.llm, p.tp, &s.gpu, s.backend, timer.clone())
            .map_err(|e| Error::Config {
                path: format!("cluster.pools[{i}].tp"),
                message: e.to_string(),
            })?;
        pools.push(PoolSpec {
            name: p.name.clone(),
            role: p.role,
            tp: p.tp,
            engine: p.engine.clone(),
            initial_workers: p.workers,
            startup: p.startup,
            router: p.router,
            timer: Box::new(CachedPredictor::new(predictor)),
        });
    }
    Cluster::new(ClusterSpec {
        pools,
        network: Network::new(topology, s.transfer_latency),
        gpus_per_node: s.gpu.gpus_per_node,
        nodes: s.config.cluster.nodes,
        gpu_budget: s.gpu_budget,
        kv_bytes_per_token: s.llm.kv_bytes_per_token(),
        local_prefill_max_tokens: s.config.cluster.local_prefill_max_tokens,
    })
    .map_err(|e| Error::Config {
        path: "cluster.pools".into(),
        message: e.to_string(),
    })
}

impl World {
    /// A world at time zero for `scenario`, with its seed's streams.
    pub fn new(s: &Scenario) -> Result<World, Error> {
        let cluster = build_cluster(s)?;
        let workload =
            Workload::new(&s.traffic, &RngStreams::new(s.config.seed)).map_err(Error::Traffic)?;
        let metrics = Metrics::new(
            s.slo_ttft,
            s.slo_itl,
            s.warmup,
            workload.class_names().len(),
            s.pools.len(),
            s.sample_interval,
            s.config.metrics.keep_requests,
        );
        Ok(World {
            cluster,
            workload,
            metrics,
            inflight: Vec::new(),
            free: Vec::new(),
            out: ClusterOutput::default(),
            arrival: None,
            sample_interval: s.sample_interval,
            error: None,
        })
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.inflight.len() - self.free.len()
    }

    /// Requests in flight whose TTFT target is already missed at `now`.
    pub fn in_flight_late(&self, now: SimTime, ttft: SimDuration) -> u64 {
        self.inflight
            .iter()
            .flatten()
            .filter(|f| self.metrics.counts(f.request.arrival))
            .filter(|f| match f.first_token {
                Some(t) => t - f.request.arrival > ttft,
                None => now.saturating_duration_since(f.request.arrival) > ttft,
            })
            .count() as u64
    }

    /// Takes the first error met during the run (a malformed trace row read mid-run).
    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }

    /// Keeps exactly one arrival event, at the workload's next arrival.
    fn schedule_arrival(&mut self, sched: &mut Scheduler<Event>) {
        let next = self.workload.peek_time();
        if next == self.arrival.map(|(t, _)| t) {
            return;
        }
        if let Some((_, key)) = self.arrival.take() {
            sched.cancel(key);
        }
        if let Some(t) = next {
            let t = t.max(sched.now());
            self.arrival = Some((t, sched.schedule_cancellable_at(t, Event::Arrival)));
        }
    }

    fn arrive(&mut self, sched: &mut Scheduler<Event>) {
        self.arrival = None;
        while self.workload.peek_time().is_some_and(|t| t <= sched.now()) {
            let request = match self.workload.next_request() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    self.error.get_or_insert(Error::Traffic(e));
                    return;
                }
            };
            self.metrics.arrival(request.arrival);
            let input = RequestIn {
                handle: 0,
                prompt_tokens: request.input_tokens.max(1),
                output_tokens: request.output_tokens.max(1),
                prefix_blocks: request.prefix_blocks.clone(),
            };
            let flight = InFlight {
                request,
                admitted: None,
                first_token: None,
                transfer_started: None,
                transfer: SimDuration::ZERO,
                preemptions: 0,
                prefill_worker: u32::MAX,
                decode_worker: u32::MAX,
            };
            let handle = match self.free.pop() {
                Some(slot) => {
                    self.inflight[slot as usize] = Some(flight);
                    slot
                }
                None => {
                    self.inflight.push(Some(flight));
                    (self.inflight.len() - 1) as u32
                }
            };
            self.cluster.arrive(
                RequestIn {
                    handle: u64::from(handle),
                    ..input
                },
                sched,
                &mut self.out,
            );
            self.apply_notices(sched);
        }
    }

    fn flight(&mut self, handle: u64) -> &mut InFlight {
        self.inflight[handle as usize]
            .as_mut()
            .expect("notice for a live request")
    }

    fn retire(&mut self, handle: u64) -> InFlight {
        self.free.push(handle as u32);
        self.inflight[handle as usize].take().expect("live request")
    }

    fn apply_notices(&mut self, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        self.metrics.tokens_made += self.out.tokens;
        self.out.tokens = 0;
        self.metrics.itl_gaps(now, &self.out.itl_gaps);
        self.out.itl_gaps.clear();
        let mut notices = std::mem::take(&mut self.out.notices);
        for notice in notices.drain(..) {
            match notice {
                Notice::Admitted { handle, worker } => {
                    let f = self.flight(handle);
                    f.admitted.get_or_insert(now);
                    if f.prefill_worker == u32::MAX {
                        f.prefill_worker = worker.0;
                        f.decode_worker = worker.0;
                    }
                }
                Notice::FirstToken { handle } => {
                    self.flight(handle).first_token.get_or_insert(now);
                }
                Notice::TransferStarted { handle, worker } => {
                    let f = self.flight(handle);
                    f.transfer_started = Some(now);
                    f.decode_worker = worker.0;
                }
                Notice::TransferDone { handle } => {
                    let f = self.flight(handle);
                    let started = f.transfer_started.take().unwrap_or(now);
                    f.transfer += now - started;
                }
                Notice::Preempted { handle } => {
                    self.flight(handle).preemptions += 1;
                    self.metrics.preemptions += 1;
                }
                Notice::Finished { handle, max_itl } => {
                    let f = self.retire(handle);
                    let first_token = f.first_token.unwrap_or(now);
                    self.metrics.finished(&Finished {
                        arrival: f.request.arrival,
                        admitted: f.admitted.unwrap_or(first_token),
                        first_token,
                        last_token: now,
                        input_tokens: f.request.input_tokens,
                        output_tokens: f.request.output_tokens.max(1),
                        max_itl,
                        transfer: f.transfer,
                        preemptions: f.preemptions,
                        class: f.request.class.0,
                        id: f.request.id.0,
                        prefill_worker: f.prefill_worker,
                        decode_worker: f.decode_worker,
                    });
                    self.workload.on_complete(f.request.id, now);
                }
                Notice::Rejected { handle, reason } => {
                    let f = self.retire(handle);
                    self.metrics.rejected(f.request.arrival, &reason);
                    self.workload.on_failed(f.request.id, now);
                }
            }
        }
        self.out.notices = notices;
        self.schedule_arrival(sched);
    }

    fn sample(&mut self, now: SimTime) {
        for (i, series) in self.metrics.series.iter_mut().enumerate() {
            let s = self.cluster.pool_stats(PoolId(i as u16));
            let serving = f64::from((s.ready + s.draining).max(1));
            series.starting.record_until(now, f64::from(s.starting));
            series.ready.record_until(now, f64::from(s.ready));
            series.draining.record_until(now, f64::from(s.draining));
            series
                .queue_depth
                .record_until(now, (s.frontend_queue + s.queued) as f64);
            series
                .queued_prefill_tokens
                .record_until(now, s.queued_prefill_tokens as f64);
            series.kv_utilisation.record_until(now, s.kv_utilisation);
            series
                .batch_size
                .record_until(now, s.running as f64 / serving);
            series.gpus.record_until(now, f64::from(s.gpus_held));
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
            Event::Cluster(e) => {
                self.cluster.handle(e, sched, &mut self.out);
                self.apply_notices(sched);
            }
            Event::Sample => {
                self.sample(sched.now());
                sched.schedule_in(self.sample_interval, Event::Sample);
            }
        }
    }
}

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
        let mut sim = Simulation::new(World::new(scenario)?);
        sim.scheduler.schedule_at(SimTime::ZERO, Event::Sample);
        let world = &mut sim.model;
        world.schedule_arrival(&mut sim.scheduler);
        Ok(Run {
            sim,
            end: SimTime::ZERO + scenario.duration,
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

    /// Simulates to the end and summarises.
    pub fn finish(mut self) -> Result<(Summary, World), Error> {
        self.run_until(self.end)?;
        let summary = Summary::new(&self.scenario, &self.sim);
        Ok((summary, self.sim.model))
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
