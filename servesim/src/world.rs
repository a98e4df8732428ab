//! The simulation world: traffic → cluster → metrics, wired into the engine.
//!
//! One [`World`] is one run. Arrivals come from the workload one at a time
//! (a single pending arrival event, moved when a closed-loop follow-up
//! becomes due earlier); the cluster schedules its own events; a sampling
//! event fills the per-pool time series. Requests in flight live in a slab
//! whose slots are reused, so memory follows what is in flight.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, OnceLock};

use serde::Serialize;

use rand::RngExt;
use rand_distr::{Distribution, Exp};
use servesim_core::{
    EventKey, Model, RngStreams, Scheduler, SimDuration, SimTime, Simulation, StreamRng,
};
use servesim_models::backend::Backend;
use servesim_models::cluster::{
    Cluster, ClusterEvent, ClusterOutput, ClusterSpec, Notice, PoolId, PoolSpec, RequestIn,
    WorkerId,
};
use servesim_models::hardware::GpuCatalog;
use servesim_models::network::{Network, Topology, TopologySpec};
use servesim_models::perf::{CachedPredictor, IterationPredictor, KernelTimer};
use servesim_models::request::RequestHandle;
use servesim_planner::{
    IntervalStats, IterationSample, Observation, Planner, PlannerContext, PoolContext,
    PoolObservation,
};
use servesim_traffic::{Request, Workload};

use crate::Error;
use crate::metrics::{Finished, Metrics};
use crate::report::Summary;
use crate::scenario::{FaultEvent, FaultsConfig, Scenario};
use servesim_models::frontend::Frontend;

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
    Ingress(u32),
}

/// What one fault did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultOutcome {
    /// The fault's kind.
    pub kind: &'static str,
    /// What it struck (pool and worker, node).
    pub target: String,
    /// When, s.
    pub at_s: f64,
    /// When it ended, s (`None`: a one-off, or lasting to the end).
    pub end_s: Option<f64>,
    /// Requests it took from the cluster (each retried or failed).
    pub requests_lost: u64,
    /// KV transfers it failed.
    pub transfers_failed: u64,
    /// When the struck pool had as many ready workers as before (worker or node
    /// loss), or when the fault ended (others), s; `None`: not within the run.
    pub recovered_at_s: Option<f64>,
    /// SLO attainment of requests finishing in the 5 minutes before.
    pub slo_attainment_before: Option<f64>,
    /// SLO attainment of requests finishing between the fault and the recovery.
    pub slo_attainment_during: Option<f64>,
    /// SLO attainment of requests finishing after the recovery.
    pub slo_attainment_after: Option<f64>,
}

/// The faults of a run and their bookkeeping.
struct FaultLoop {
    config: FaultsConfig,
    /// One stream per fault, for the choices left to the seed.
    rngs: Vec<StreamRng>,
    outcomes: Vec<FaultOutcome>,
    /// Outcomes waiting for their pool to be back: (outcome index, pool, ready before).
    recovering: Vec<(usize, PoolId, u32)>,
    /// Workers slowed by straggler fault `i`, to restore at its end.
    stragglers: Vec<(usize, WorkerId)>,
}

/// A planner decision for one pool: applied, or only recorded (advisory mode).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScalingEvent {
    /// When the decision was taken, s.
    pub time_s: f64,
    /// The pool.
    pub pool: String,
    /// Workers starting or ready before.
    pub active_before: u32,
    /// Workers the planner asked for.
    pub target: u32,
    /// Workers asked for from the cluster (may fall short of the target under the GPU budget).
    pub started: u32,
    /// Workers stopped or set draining.
    pub stopped: u32,
    /// False in advisory mode.
    pub applied: bool,
}

/// A finished request as the planner's metrics see it.
#[derive(Clone, Copy, Debug)]
struct Completion {
    at: SimTime,
    isl: u32,
    osl: u32,
    ttft_ms: f64,
    itl_ms: Option<f64>,
}

/// The planner in the loop.
struct PlannerLoop {
    planner: Box<dyn Planner>,
    advisory: bool,
    interval: SimDuration,
    scrape_lag: SimDuration,
    startup_s: Vec<f64>,
    max_kv_tokens: Vec<u64>,
    /// Observations scraped and not yet decided on.
    pending: VecDeque<Observation>,
    /// Requests finished in the current scrape window, oldest first.
    window: VecDeque<Completion>,
    events: Vec<ScalingEvent>,
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
    /// When it reached the cluster (after the frontend, if any).
    entered: SimTime,
    admitted: Option<SimTime>,
    first_token: Option<SimTime>,
    transfer_started: Option<SimTime>,
    transfer: SimDuration,
    preemptions: u32,
    prefill_worker: u32,
    decode_worker: u32,
    retries: u32,
}

/// What the cluster is told of a request in slab slot `handle` (at least one token each way).
fn request_in(handle: RequestHandle, r: &Request) -> RequestIn {
    RequestIn {
        handle,
        prompt_tokens: r.input_tokens.max(1),
        output_tokens: r.output_tokens.max(1),
        prefix_blocks: r.prefix_blocks.clone(),
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
    inflight: Vec<Option<InFlight>>,
    free: Vec<u32>,
    out: ClusterOutput,
    arrival: Option<(SimTime, EventKey)>,
    sample_interval: SimDuration,
    error: Option<Error>,
    planner: Option<PlannerLoop>,
    faults: Option<FaultLoop>,
    arrivals: u64,
    max_requests: u64,
    slo_ttft_ms: f64,
    slo_itl_ms: f64,
    /// The frontend, when it costs anything.
    frontend: Option<Frontend>,
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

/// The iteration-time predictor of one worker of each pool.
pub fn pool_predictors(s: &Scenario) -> Result<Vec<IterationPredictor>, Error> {
    let timer = shipped_timer(&s.gpu.sku, s.backend)?;
    s.pools
        .iter()
        .enumerate()
        .map(|(i, p)| {
            IterationPredictor::new(&s.llm, p.tp, &s.gpu, s.backend, timer.clone()).map_err(|e| {
                Error::Config {
                    path: format!("cluster.pools[{i}].tp"),
                    message: e.to_string(),
                }
            })
        })
        .collect()
}

/// Builds the cluster of a scenario (its predictors, network and pools).
pub fn build_cluster(s: &Scenario) -> Result<Cluster, Error> {
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
    for (p, predictor) in s.pools.iter().zip(pool_predictors(s)?) {
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
    let mut cluster = Cluster::new(ClusterSpec {
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
    })?;
    if let Some(f) = &s.config.faults {
        cluster.max_transfer_failures = f.max_transfer_failures;
    }
    Ok(cluster)
}

/// What a planner of `s` may know up front: its pools (with their performance
/// models), SLOs and GPU budget.
pub fn planner_context(s: &Scenario) -> Result<PlannerContext, Error> {
    let mut pools = Vec::new();
    for (p, predictor) in s.pools.iter().zip(pool_predictors(s)?) {
        pools.push(PoolContext {
            name: p.name.clone(),
            role: p.role,
            gpus_per_worker: p.tp,
            initial_workers: p.workers,
            startup_s: p.startup.as_secs_f64(),
            max_kv_tokens: p.engine.kv_blocks * u64::from(p.engine.block_tokens),
            max_num_seqs: p.engine.max_num_seqs,
            max_batched_tokens: p.engine.max_batched_tokens,
            predictor: Some(predictor),
        });
    }
    Ok(PlannerContext {
        slo_ttft_ms: s.slo_ttft.as_millis_f64(),
        slo_itl_ms: s.slo_itl.as_millis_f64(),
        gpu_budget: s.gpu_budget,
        base_dir: s.base_dir.clone(),
        pools,
    })
}

/// Puts `planner` in the loop of a run of `s`, with the scenario's `advisory` and
/// `scrape_lag_s` settings (none and zero without a `planner:` section).
fn planner_loop(s: &Scenario, planner: Box<dyn Planner>) -> Result<PlannerLoop, Error> {
    let bad = |field: &str, message: String| Error::Config {
        path: format!("planner.{field}"),
        message,
    };
    // The same bound as a scenario's `planner.interval_s`, for planners from elsewhere (a
    // lookahead policy's own interval, a Python planner's `interval_s`).
    let interval_s = planner.interval_s();
    if !(interval_s.is_finite() && interval_s >= crate::scenario::MIN_INTERVAL_S) {
        return Err(bad(
            "interval_s",
            format!(
                "the planner's interval must be at least {} s, got {interval_s}",
                crate::scenario::MIN_INTERVAL_S
            ),
        ));
    }
    let interval = SimDuration::from_secs_f64_round(interval_s)
        .map_err(|e| bad("interval_s", e.to_string()))?;
    let cfg = s.config.planner.as_ref();
    let lag = cfg.map_or(0.0, |c| c.scrape_lag_s);
    let scrape_lag =
        SimDuration::from_secs_f64_round(lag).map_err(|e| bad("scrape_lag_s", e.to_string()))?;
    Ok(PlannerLoop {
        planner,
        advisory: cfg.is_some_and(|c| c.advisory),
        interval,
        scrape_lag,
        startup_s: s.pools.iter().map(|p| p.startup.as_secs_f64()).collect(),
        max_kv_tokens: s
            .pools
            .iter()
            .map(|p| p.engine.kv_blocks * u64::from(p.engine.block_tokens))
            .collect(),
        pending: VecDeque::new(),
        window: VecDeque::new(),
        events: Vec::new(),
    })
}

impl World {
    /// A world at time zero for `scenario`, with its seed's streams and the
    /// planner its `planner:` section names (if any).
    pub fn new(s: &Scenario) -> Result<World, Error> {
        let planner = match &s.config.planner {
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
            planner: planner.map(|p| planner_loop(s, p)).transpose()?,
            faults: s.config.faults.clone().map(|config| {
                let streams = RngStreams::new(s.config.seed);
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
            max_requests: s.config.limits.max_requests,
            slo_ttft_ms: s.slo_ttft.as_millis_f64(),
            slo_itl_ms: s.slo_itl.as_millis_f64(),
            frontend: (!s.frontend.is_ideal()).then(|| Frontend::new(s.frontend)),
        })
    }

    /// Share of the run up to `now` the frontend's host process was busy (`None`: no frontend).
    pub fn frontend_busy_share(&self, now: SimTime) -> Option<f64> {
        self.frontend.as_ref().map(|f| f.busy_share(now))
    }

    /// The planner's decisions so far (applied or advisory).
    pub fn scaling_events(&self) -> &[ScalingEvent] {
        self.planner.as_ref().map_or(&[], |p| &p.events)
    }

    /// The planner's name, if one is in the loop.
    pub fn planner_name(&self) -> Option<&'static str> {
        self.planner.as_ref().map(|p| p.planner.name())
    }

    fn scrape(&mut self, now: SimTime) {
        let Some(pl) = self.planner.as_mut() else {
            return;
        };
        let start = now.checked_sub(pl.interval).unwrap_or(SimTime::ZERO);
        while pl.window.front().is_some_and(|c| c.at <= start) {
            pl.window.pop_front();
        }
        let done: Vec<Completion> = pl.window.iter().copied().filter(|c| c.at <= now).collect();
        let mean = |f: &dyn Fn(&Completion) -> Option<f64>| {
            let v: Vec<f64> = done.iter().filter_map(f).collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        };
        let p90 = |f: &dyn Fn(&Completion) -> Option<f64>| {
            let mut v: Vec<f64> = done.iter().filter_map(f).collect();
            v.sort_by(f64::total_cmp);
            (!v.is_empty())
                .then(|| v[((v.len() as f64 * 0.9).ceil() as usize).clamp(1, v.len()) - 1])
        };
        let interval = IntervalStats {
            requests: done.len() as u64,
            mean_isl: mean(&|c| Some(f64::from(c.isl))),
            mean_osl: mean(&|c| Some(f64::from(c.osl))),
            ttft_mean_ms: mean(&|c| Some(c.ttft_ms)),
            ttft_p90_ms: p90(&|c| Some(c.ttft_ms)),
            itl_mean_ms: mean(&|c| c.itl_ms),
            itl_p90_ms: p90(&|c| c.itl_ms),
        };
        let pools = self
            .cluster
            .pool_ids()
            .map(|p| {
                let s = self.cluster.pool_stats(p);
                PoolObservation {
                    name: self.cluster.pool_name(p).to_string(),
                    role: self.cluster.pool_role(p),
                    gpus_per_worker: self.cluster.pool_tp(p),
                    ready: s.ready,
                    starting: s.starting,
                    draining: s.draining,
                    queue_depth: s.unrouted + s.queued,
                    queued_prefill_tokens: s.queued_prefill_tokens,
                    kv_utilisation: self
                        .cluster
                        .worker_loads(p)
                        .iter()
                        .map(|(_, l)| l.kv_utilisation)
                        .collect(),
                    max_kv_tokens: pl.max_kv_tokens[p.0 as usize],
                    iterations: self
                        .cluster
                        .recent_iterations(p)
                        .iter()
                        .map(|r| IterationSample {
                            prefill_tokens: r.batch.prefill_tokens,
                            decode_seqs: r.batch.decode_seqs,
                            decode_kv_tokens: r.batch.decode_kv_tokens,
                            duration_ms: r.duration.as_millis_f64(),
                        })
                        .collect(),
                }
            })
            .collect();
        pl.pending.push_back(Observation {
            now_s: now.as_secs_f64(),
            interval_s: pl.interval.as_secs_f64(),
            pools,
            interval,
            gpu_budget: self.cluster.gpu_budget(),
            gpus_in_use: self.cluster.gpus_in_use(),
            slo_ttft_ms: self.slo_ttft_ms,
            slo_itl_ms: self.slo_itl_ms,
            startup_s: pl.startup_s.clone(),
        });
    }

    fn decide(&mut self, sched: &mut Scheduler<Event>) {
        let Some(pl) = self.planner.as_mut() else {
            return;
        };
        let Some(mut obs) = pl.pending.pop_front() else {
            return;
        };
        obs.now_s = sched.now().as_secs_f64();
        let decision = pl.planner.decide(&obs);
        for (i, target) in decision.targets.iter().enumerate() {
            let (Some(target), Some(pool)) = (*target, self.cluster.pool_ids().nth(i)) else {
                continue;
            };
            let before = self.cluster.active_workers(pool);
            if target == before {
                continue;
            }
            let (started, stopped) = if pl.advisory {
                (0, 0)
            } else {
                self.cluster.set_target(pool, target, sched)
            };
            pl.events.push(ScalingEvent {
                time_s: sched.now().as_secs_f64(),
                pool: self.cluster.pool_name(pool).to_string(),
                active_before: before,
                target,
                started,
                stopped,
                applied: !pl.advisory,
            });
        }
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
            self.arrivals += 1;
            if self.arrivals > self.max_requests {
                self.error.get_or_insert(Error::Config {
                    path: "limits.max_requests".into(),
                    message: format!(
                        "the workload generated more than {} requests; raise the limit to run it",
                        self.max_requests
                    ),
                });
                return;
            }
            self.metrics.arrival(request.arrival);
            let flight = InFlight {
                request,
                entered: sched.now(),
                admitted: None,
                first_token: None,
                transfer_started: None,
                transfer: SimDuration::ZERO,
                preemptions: 0,
                prefill_worker: u32::MAX,
                decode_worker: u32::MAX,
                retries: 0,
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
            if let Some(frontend) = &mut self.frontend {
                let at = frontend.admit(sched.now());
                sched.schedule_at(at, Event::Ingress(handle));
                continue;
            }
            let handle = RequestHandle(u64::from(handle));
            let input = request_in(handle, &self.flight(handle).request);
            self.cluster.arrive(input, sched, &mut self.out);
            self.apply_notices(sched);
        }
        // Requests handed to the frontend left no notices behind to move the next arrival.
        self.schedule_arrival(sched);
    }

    /// The frontend hands the request in `slot` to the cluster.
    fn ingress(&mut self, slot: u32, sched: &mut Scheduler<Event>) {
        let flight = self.inflight[slot as usize]
            .as_mut()
            .expect("a request in the frontend is in flight");
        flight.entered = sched.now();
        let input = request_in(RequestHandle(u64::from(slot)), &flight.request);
        self.cluster.arrive(input, sched, &mut self.out);
        self.apply_notices(sched);
    }

    fn flight(&mut self, handle: RequestHandle) -> &mut InFlight {
        self.inflight[handle.0 as usize]
            .as_mut()
            .expect("notice for a live request")
    }

    fn retire(&mut self, handle: RequestHandle) -> InFlight {
        self.free.push(handle.0 as u32);
        self.inflight[handle.0 as usize]
            .take()
            .expect("live request")
    }

    fn apply_notices(&mut self, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        // When this step's tokens reach their users (later than `now` behind a frontend).
        let seen = match &mut self.frontend {
            Some(f) => {
                let seen = f.stream(now, self.out.tokens);
                for (gap, _) in &mut self.out.itl_gaps {
                    *gap = f.user_gap(now, seen, *gap);
                }
                seen
            }
            None => now,
        };
        self.metrics.tokens_made += self.out.tokens;
        self.out.tokens = 0;
        self.metrics.itl_gaps(now, &self.out.itl_gaps);
        self.out.itl_gaps.clear();
        // Retries arrive again within this loop and may add notices: drain until none is left.
        let mut notices = Vec::new();
        loop {
            std::mem::swap(&mut notices, &mut self.out.notices);
            if notices.is_empty() {
                break;
            }
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
                        self.flight(handle).first_token.get_or_insert(seen);
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
                        let first_token = f.first_token.unwrap_or(seen);
                        self.metrics.finished(&Finished {
                            arrival: f.request.arrival,
                            queue: f.admitted.map_or(SimDuration::ZERO, |a| {
                                a.saturating_duration_since(f.entered)
                            }),
                            first_token,
                            last_token: seen,
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
                        if let Some(pl) = self.planner.as_mut() {
                            let osl = f.request.output_tokens.max(1);
                            let itl = (osl > 1)
                                .then(|| (seen - first_token).as_millis_f64() / f64::from(osl - 1));
                            pl.window.push_back(Completion {
                                at: seen,
                                isl: f.request.input_tokens,
                                osl,
                                ttft_ms: (first_token - f.request.arrival).as_millis_f64(),
                                itl_ms: itl,
                            });
                        }
                        self.workload.on_complete(f.request.id, seen);
                    }
                    Notice::Rejected { handle, reason } => {
                        let f = self.retire(handle);
                        self.metrics.rejected(f.request.arrival, &reason);
                        self.workload.on_failed(f.request.id, now);
                    }
                    Notice::TransferFailed { .. } => self.metrics.transfer_failures += 1,
                    Notice::Lost { handle, reason } => {
                        let max = self.faults.as_ref().map_or(0, |f| f.config.max_retries);
                        let f = self.flight(handle);
                        if f.retries < max {
                            f.retries += 1;
                            f.transfer_started = None;
                            let again = request_in(handle, &f.request);
                            self.metrics.retried += 1;
                            self.cluster.arrive(again, sched, &mut self.out);
                        } else {
                            let f = self.retire(handle);
                            self.metrics.failed(f.request.arrival, reason);
                            self.workload.on_failed(f.request.id, now);
                        }
                    }
                }
            }
        }
        self.out.notices = notices;
        self.schedule_arrival(sched);
    }

    /// The live worker a fault strikes: the one named, else one drawn from the fault's
    /// stream; `Err` says why none is struck (the pool has no such live worker now).
    fn fault_worker(
        &mut self,
        i: usize,
        pool: &str,
        index: Option<u32>,
    ) -> Result<(PoolId, WorkerId), String> {
        let p = self
            .cluster
            .pool_ids()
            .find(|&p| self.cluster.pool_name(p) == pool)
            .ok_or_else(|| format!("{pool}: no such pool"))?;
        let live = self.cluster.live_workers(p);
        let k = match index {
            _ if live.is_empty() => return Err(format!("{pool}: no live worker")),
            Some(k) => k as usize,
            None => match self.faults.as_mut() {
                Some(f) => f.rngs[i].random_range(0..live.len()),
                None => return Err("faults are off".into()),
            },
        };
        live.get(k).map(|&w| (p, w)).ok_or_else(|| {
            format!(
                "{pool} worker {k}: no such live worker ({} live), nothing struck",
                live.len()
            )
        })
    }

    fn outcome(&self, kind: &'static str, target: String, at: SimTime, lost: u64) -> FaultOutcome {
        FaultOutcome {
            kind,
            target,
            at_s: at.as_secs_f64(),
            end_s: None,
            requests_lost: lost,
            transfers_failed: 0,
            recovered_at_s: None,
            slo_attainment_before: None,
            slo_attainment_during: None,
            slo_attainment_after: None,
        }
    }

    /// The outcome of a fault that struck nothing: nothing lost, nothing to recover from.
    fn missed(&self, kind: &'static str, why: String, at: SimTime) -> FaultOutcome {
        let mut o = self.outcome(kind, why, at, 0);
        o.recovered_at_s = Some(at.as_secs_f64());
        o
    }

    /// Kills the worker a fault strikes (see [`World::fault_worker`]) and tells the outcome.
    fn strike(
        &mut self,
        i: usize,
        pool: &str,
        index: Option<u32>,
        replace: bool,
        sched: &mut Scheduler<Event>,
        recovering: &mut Vec<(PoolId, u32)>,
    ) -> FaultOutcome {
        let kind = self.faults.as_ref().expect("faults").config.events[i].kind();
        let now = sched.now();
        match self.fault_worker(i, pool, index) {
            Err(missed) => self.missed(kind, missed, now),
            Ok((p, w)) => {
                self.kill(p, w, replace, sched, recovering);
                let lost = self.lost_notices();
                self.outcome(kind, format!("{pool} worker {}", w.0), now, lost)
            }
        }
    }

    /// Kills a worker for a fault; its pool is then watched for recovery.
    fn kill(
        &mut self,
        pool: PoolId,
        w: WorkerId,
        replace: bool,
        sched: &mut Scheduler<Event>,
        recovering: &mut Vec<(PoolId, u32)>,
    ) {
        let before = self.cluster.pool_stats(pool).ready;
        self.cluster.kill_worker(w, replace, sched, &mut self.out);
        recovering.push((pool, before));
    }

    fn lost_notices(&self) -> u64 {
        self.out
            .notices
            .iter()
            .filter(|n| matches!(n, Notice::Lost { .. }))
            .count() as u64
    }

    fn fault(&mut self, i: usize, sched: &mut Scheduler<Event>) {
        let Some(faults) = &self.faults else { return };
        let event = faults.config.events[i].clone();
        let replace = faults.config.replace_dead_workers;
        let now = sched.now();
        let end_in = |secs: f64| SimDuration::from_secs_f64_round(secs).unwrap_or(SimDuration::MAX);
        let mut recovering = Vec::new();
        let outcome = match &event {
            // A miss (no such live worker) is recorded, and random failures go on.
            FaultEvent::WorkerDown {
                pool,
                worker: index,
                ..
            } => self.strike(i, pool, *index, replace, sched, &mut recovering),
            FaultEvent::RandomWorkerFailures { pool, .. } => {
                self.strike(i, pool, None, replace, sched, &mut recovering)
            }
            FaultEvent::NodeDown {
                node, duration_s, ..
            } => {
                let before: Vec<(PoolId, u32)> = self
                    .cluster
                    .pool_ids()
                    .map(|p| (p, self.cluster.pool_stats(p).ready))
                    .collect();
                self.cluster
                    .set_node_down(*node, true, replace, sched, &mut self.out);
                recovering.extend(
                    before
                        .into_iter()
                        .filter(|&(p, r)| self.cluster.pool_stats(p).ready < r),
                );
                if let Some(d) = duration_s {
                    sched.schedule_in(end_in(*d), Event::FaultEnd(i as u16));
                }
                let lost = self.lost_notices();
                let mut o = self.outcome(event.kind(), format!("node {node}"), now, lost);
                o.end_s = duration_s.map(|d| now.as_secs_f64() + d);
                o
            }
            FaultEvent::Straggler {
                pool,
                worker,
                duration_s,
                slowdown,
                ..
            } => {
                let w = match self.fault_worker(i, pool, *worker) {
                    Ok((_, w)) => w,
                    Err(missed) => {
                        let outcome = self.missed(event.kind(), missed, now);
                        self.faults.as_mut().expect("faults").outcomes.push(outcome);
                        return;
                    }
                };
                self.cluster.set_slowdown(w, *slowdown);
                sched.schedule_in(end_in(*duration_s), Event::FaultEnd(i as u16));
                let mut o = self.outcome(
                    event.kind(),
                    format!("{pool} worker {} ×{slowdown}", w.0),
                    now,
                    0,
                );
                o.end_s = Some(now.as_secs_f64() + duration_s);
                // Remember which worker, for the end of the fault.
                self.faults
                    .as_mut()
                    .expect("faults")
                    .stragglers
                    .push((i, w));
                o
            }
            FaultEvent::LinkDegraded {
                node,
                duration_s,
                capacity_factor,
                ..
            } => {
                self.cluster.set_node_links(*node, *capacity_factor, sched);
                sched.schedule_in(end_in(*duration_s), Event::FaultEnd(i as u16));
                let mut o = self.outcome(
                    event.kind(),
                    format!("node {node} links ×{capacity_factor}"),
                    now,
                    0,
                );
                o.end_s = Some(now.as_secs_f64() + duration_s);
                o
            }
            FaultEvent::TransferFailure { .. } => {
                let failed = self.cluster.fail_transfers(sched, &mut self.out);
                let lost = self.lost_notices();
                let mut o = self.outcome(event.kind(), "transfers in flight".into(), now, lost);
                o.transfers_failed = u64::from(failed);
                o.recovered_at_s = Some(now.as_secs_f64());
                o
            }
        };
        let faults = self.faults.as_mut().expect("faults");
        let index = faults.outcomes.len();
        faults.outcomes.push(outcome);
        faults
            .recovering
            .extend(recovering.into_iter().map(|(p, r)| (index, p, r)));
        if let FaultEvent::RandomWorkerFailures { mtbf_s, end_s, .. } = event {
            let gap =
                Exp::new(1.0 / mtbf_s).map_or(f64::INFINITY, |e| e.sample(&mut faults.rngs[i]));
            let next = now.as_secs_f64() + gap;
            if next < end_s.unwrap_or(f64::INFINITY) && gap.is_finite() {
                sched.schedule_in(end_in(gap), Event::Fault(i as u16));
            }
        }
        self.apply_notices(sched);
    }

    fn fault_end(&mut self, i: usize, sched: &mut Scheduler<Event>) {
        let Some(faults) = &mut self.faults else {
            return;
        };
        let now = sched.now();
        match faults.config.events[i].clone() {
            FaultEvent::NodeDown { node, .. } => {
                self.cluster
                    .set_node_down(node, false, true, sched, &mut self.out)
            }
            FaultEvent::LinkDegraded { node, .. } => self.cluster.set_node_links(node, 1.0, sched),
            FaultEvent::Straggler { .. } => {
                if let Some(pos) = faults.stragglers.iter().position(|&(k, _)| k == i) {
                    let (_, w) = faults.stragglers.remove(pos);
                    self.cluster.set_slowdown(w, 1.0);
                }
            }
            _ => {}
        }
        let faults = self.faults.as_mut().expect("faults");
        let kind = faults.config.events[i].kind();
        for o in faults.outcomes.iter_mut().rev() {
            if o.kind == kind
                && o.recovered_at_s.is_none()
                && o.end_s.is_some_and(|e| e <= now.as_secs_f64() + 1e-9)
            {
                if !matches!(kind, "node_down") {
                    o.recovered_at_s = Some(now.as_secs_f64());
                }
                break;
            }
        }
        self.apply_notices(sched);
    }

    /// Marks faults whose pool is back to its ready count as recovered.
    fn check_recovery(&mut self, now: SimTime) {
        let Some(faults) = &mut self.faults else {
            return;
        };
        let cluster = &self.cluster;
        faults.recovering.retain(|&(index, pool, before)| {
            if cluster.pool_stats(pool).ready >= before {
                let o = &mut faults.outcomes[index];
                o.recovered_at_s = Some(
                    o.recovered_at_s
                        .map_or(now.as_secs_f64(), |r| r.max(now.as_secs_f64())),
                );
                return false;
            }
            true
        });
    }

    /// The faults' outcomes, with attainment before, during and after each.
    pub fn fault_outcomes(&self) -> Vec<FaultOutcome> {
        let Some(faults) = &self.faults else {
            return Vec::new();
        };
        let step = self.sample_interval.as_secs_f64();
        let index = |t: f64| (t / step).ceil().max(0.0) as usize;
        let pending: Vec<usize> = faults.recovering.iter().map(|&(i, _, _)| i).collect();
        faults
            .outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let mut o = o.clone();
                if pending.contains(&i) {
                    o.recovered_at_s = None;
                }
                let at = index(o.at_s) + 1;
                o.slo_attainment_before = self
                    .metrics
                    .attainment_between(at.saturating_sub(index(300.0)), at);
                if let Some(r) = o.recovered_at_s {
                    let r = index(r) + 1;
                    o.slo_attainment_during = self.metrics.attainment_between(at, r.max(at + 1));
                    o.slo_attainment_after =
                        self.metrics.attainment_between(r.max(at + 1), usize::MAX);
                } else {
                    o.slo_attainment_during = self.metrics.attainment_between(at, usize::MAX);
                }
                o
            })
            .collect()
    }

    fn sample(&mut self, now: SimTime) {
        if now > SimTime::ZERO {
            self.metrics.close_interval();
        }
        self.check_recovery(now);
        for (i, series) in self.metrics.series.iter_mut().enumerate() {
            let s = self.cluster.pool_stats(PoolId(i as u16));
            let serving = f64::from((s.ready + s.draining).max(1));
            series.starting.record_until(now, f64::from(s.starting));
            series.ready.record_until(now, f64::from(s.ready));
            series.draining.record_until(now, f64::from(s.draining));
            series
                .queue_depth
                .record_until(now, (s.unrouted + s.queued) as f64);
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
            Event::Ingress(slot) => self.ingress(slot, sched),
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

    fn start(scenario: &Scenario, world: World) -> Result<Run, Error> {
        let mut sim = Simulation::new(world);
        sim.scheduler.schedule_at(SimTime::ZERO, Event::Sample);
        if let Some(pl) = &sim.model.planner {
            // The k-th decision at k × interval sees metrics scraped `lag` earlier;
            // decisions whose scrape would fall before time zero are skipped.
            let mut first = pl.interval;
            while first < pl.scrape_lag {
                first += pl.interval;
            }
            sim.scheduler.schedule_at(
                SimTime::ZERO + (first - pl.scrape_lag),
                Event::PlannerScrape,
            );
            sim.scheduler
                .schedule_at(SimTime::ZERO + first, Event::PlannerDecide);
        }
        if let Some(f) = &scenario.config.faults {
            for (i, e) in f.events.iter().enumerate() {
                let at =
                    SimDuration::from_secs_f64_round(e.at_s()).map_err(|err| Error::Config {
                        path: format!("faults.events[{i}].at_s"),
                        message: err.to_string(),
                    })?;
                let i = u16::try_from(i).map_err(|_| Error::Config {
                    path: "faults.events".into(),
                    message: "more than 65,535 faults".into(),
                })?;
                sim.scheduler
                    .schedule_at(SimTime::ZERO + at, Event::Fault(i));
            }
        }
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
