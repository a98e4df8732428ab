//! The simulated cluster: pools of workers, their lifecycle, routing, and the
//! KV hand-off from prefill to decode over the network.
//!
//! Request flow (`docs/DOMAIN.md` §1): arrival → router → a prefill (or aggregated)
//! worker's queue → prefill → first token → (disaggregated: a decode worker
//! reserves blocks, the KV moves over the network, the prefill worker frees
//! it) → decode steps → last token.
//!
//! Workers go `Starting → Ready → Draining → Stopped`. A worker holds its
//! GPUs from the moment it is asked for until it stops; it serves only once
//! ready; a draining worker takes nothing new and stops when empty.
//!
//! The cluster is driven by the world through [`Cluster::handle`], which
//! takes a [`ClusterEvent`] and schedules further ones on the world's
//! scheduler (any event type that a `ClusterEvent` converts into). What the
//! world must know (tokens, completions, ...) comes back as [`Notice`]s.

pub mod placement;
pub mod router;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use servesim_core::{EventKey, Scheduler, SimDuration, SimTime};

use crate::engine::decode_set::Slot;
use crate::engine::{
    BatchSummary, Engine, EngineConfig, EngineEvent, EngineLoad, IterationOutput, IterationTimer,
    SeqSpec,
};
use crate::network::{GpuId, LinkId, Network, TransferId, Vertex};
use placement::GpuInventory;
use router::{Candidate, RouterKind};

/// Index of a pool in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PoolId(pub u16);

/// Index of a worker in the cluster (never reused within a run).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkerId(pub u32);

/// What a pool's workers do (serialized by its scenario name: `prefill`, `decode`,
/// `aggregated`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolRole {
    /// Prefill only; the KV moves to a decode worker.
    Prefill,
    /// Decode only (and, with conditional disaggregation, short prefills).
    Decode,
    /// Both phases in one continuous-batching loop.
    Aggregated,
}

/// Where a worker is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WorkerState {
    /// Holding GPUs, loading weights; serves nothing yet.
    Starting,
    /// Serving.
    Ready,
    /// Finishing what it holds; takes nothing new.
    Draining,
    /// Gone; its GPUs are free.
    Stopped,
}

/// One pool's static description.
pub struct PoolSpec {
    /// Name, for reports.
    pub name: String,
    /// Role.
    pub role: PoolRole,
    /// GPUs per worker.
    pub tp: u32,
    /// The engine of every worker.
    pub engine: EngineConfig,
    /// Workers asked for at time zero (they start ready: a warm cluster).
    pub initial_workers: u32,
    /// Time from asking for a worker to its serving.
    pub startup: SimDuration,
    /// How requests are spread over the pool's workers.
    pub router: RouterKind,
    /// Iteration times of this pool's workers.
    pub timer: Box<dyn IterationTimer>,
}

/// The cluster's static description.
pub struct ClusterSpec {
    /// The pools: one aggregated pool, or one prefill and one decode pool.
    pub pools: Vec<PoolSpec>,
    /// The network (and so the nodes) the workers sit on.
    pub network: Network,
    /// GPUs per node.
    pub gpus_per_node: u32,
    /// Nodes.
    pub nodes: u32,
    /// Most GPUs held at once.
    pub gpu_budget: u32,
    /// KV bytes per token of the whole model (all layers, all heads).
    pub kv_bytes_per_token: u64,
    /// Conditional disaggregation: prompts up to this many tokens are
    /// prefilled on the decode worker (Dynamo's option); `None` disables it.
    pub local_prefill_max_tokens: Option<u32>,
}

/// The cluster's own events, carried by the world's event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClusterEvent {
    /// A worker's iteration ends.
    IterationDone(WorkerId),
    /// A worker finished starting.
    WorkerReady(WorkerId),
    /// The next KV transfer may have finished.
    NetworkCheck,
}

/// A request handed to the cluster.
#[derive(Clone, Debug)]
pub struct RequestIn {
    /// The world's handle for it.
    pub handle: u64,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Output tokens (≥ 1).
    pub output_tokens: u32,
    /// Content-block ids of the prompt.
    pub prefix_blocks: Arc<[u64]>,
}

/// What the world learns from the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Prefill started on a worker.
    Admitted {
        /// The request.
        handle: u64,
        /// Where.
        worker: WorkerId,
    },
    /// First token made.
    FirstToken {
        /// The request.
        handle: u64,
    },
    /// KV transfer started to a decode worker.
    TransferStarted {
        /// The request.
        handle: u64,
        /// The decode worker.
        worker: WorkerId,
    },
    /// KV transfer finished.
    TransferDone {
        /// The request.
        handle: u64,
    },
    /// Preempted (will be recomputed).
    Preempted {
        /// The request.
        handle: u64,
    },
    /// Last token made.
    Finished {
        /// The request.
        handle: u64,
        /// Its largest inter-token gap on the decode worker.
        max_itl: SimDuration,
    },
    /// A KV transfer failed; the KV is still on the prefill worker and is sent again.
    TransferFailed {
        /// The request.
        handle: u64,
    },
    /// A fault took the request from the cluster (its worker died, or its KV could
    /// not be moved): the world retries it from scratch or fails it.
    Lost {
        /// The request.
        handle: u64,
        /// Why, in words.
        reason: &'static str,
    },
    /// The cluster cannot ever serve it.
    Rejected {
        /// The request.
        handle: u64,
        /// Why, in words.
        reason: String,
    },
}

/// Notices and token statistics, filled by the cluster and drained by the world.
#[derive(Clone, Debug, Default)]
pub struct ClusterOutput {
    /// Request notices, in order.
    pub notices: Vec<Notice>,
    /// Inter-token gaps: `(gap, tokens)`.
    pub itl_gaps: Vec<(SimDuration, u64)>,
    /// Output tokens made.
    pub tokens: u64,
}

/// One worker.
pub struct Worker {
    /// Its pool.
    pub pool: PoolId,
    /// Where it is in its life.
    pub state: WorkerState,
    /// Its GPUs (global indices).
    pub gpus: Vec<u32>,
    /// Its engine.
    pub engine: Engine,
    /// Iteration times are multiplied by this (1 normally; more for a straggler).
    pub slowdown: f64,
    ready_key: Option<EventKey>,
}

/// A pool's live figures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PoolStats {
    /// Workers starting.
    pub starting: u32,
    /// Workers ready.
    pub ready: u32,
    /// Workers draining.
    pub draining: u32,
    /// Requests waiting for any worker of the pool to be ready.
    pub unrouted: u64,
    /// Requests waiting in worker queues.
    pub queued: u64,
    /// Prompt tokens still to prefill.
    pub queued_prefill_tokens: u64,
    /// Mean KV utilisation over serving workers.
    pub kv_utilisation: f64,
    /// Sequences running (prefill or decode) over serving workers.
    pub running: u64,
    /// GPUs held by the pool now.
    pub gpus_held: u32,
}

struct Transfer {
    handoff: Handoff,
    to: WorkerId,
    to_slot: Slot,
}

/// A prefill that finished but found no decode worker with room yet.
struct Handoff {
    spec: SeqSpec,
    from: WorkerId,
    from_slot: Slot,
    first_token_at: SimTime,
    /// Transfers of this KV that failed so far.
    failures: u32,
}

/// One iteration of one worker, as a planner's regression sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IterationRecord {
    /// The batch.
    pub batch: BatchSummary,
    /// Its duration.
    pub duration: SimDuration,
}

/// Iterations remembered per pool (the most recent ones).
pub const ITERATION_HISTORY: usize = 512;

struct Pool {
    spec: PoolSpec,
    iterations: VecDeque<IterationRecord>,
    workers: Vec<WorkerId>,
    unrouted: VecDeque<RequestIn>,
    rr: u64,
    gpu_ns: u128,
    /// Dead workers to replace once GPUs are to be had again (a node comes back).
    owed_replacements: u32,
}

/// The cluster.
pub struct Cluster {
    pools: Vec<Pool>,
    workers: Vec<Worker>,
    gpus: GpuInventory,
    network: Network,
    kv_bytes_per_token: u64,
    local_prefill_max_tokens: Option<u32>,
    transfers: BTreeMap<TransferId, Transfer>,
    handoffs: VecDeque<Handoff>,
    network_key: Option<EventKey>,
    /// Link capacities before a fault changed them, to restore them.
    nominal_links: BTreeMap<u32, f64>,
    /// A KV hand-off whose transfer failed this many times is given up.
    pub max_transfer_failures: u32,
    front: PoolId,
    decode: Option<PoolId>,
    last_gpu_change: SimTime,
    scratch: IterationOutput,
    candidates: Vec<Candidate>,
    candidate_ids: Vec<WorkerId>,
}

/// Why a cluster could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The pools are not one aggregated pool or one prefill plus one decode pool.
    #[error("pools must be one aggregated pool, or one prefill and one decode pool")]
    PoolShape,
    /// The initial workers do not fit the GPUs or the budget.
    #[error(
        "pool '{pool}': {workers} initial workers of TP{tp} do not fit the nodes and the GPU budget"
    )]
    DoesNotFit {
        /// The pool.
        pool: String,
        /// Workers asked for.
        workers: u32,
        /// Their TP.
        tp: u32,
    },
}

impl Cluster {
    /// Builds the cluster with every pool's initial workers ready at time zero.
    pub fn new(spec: ClusterSpec) -> Result<Self, ClusterError> {
        let roles: Vec<PoolRole> = spec.pools.iter().map(|p| p.role).collect();
        let (front, decode) = match roles[..] {
            [PoolRole::Aggregated] => (PoolId(0), None),
            [PoolRole::Prefill, PoolRole::Decode] => (PoolId(0), Some(PoolId(1))),
            [PoolRole::Decode, PoolRole::Prefill] => (PoolId(1), Some(PoolId(0))),
            _ => return Err(ClusterError::PoolShape),
        };
        let mut cluster = Cluster {
            pools: Vec::new(),
            workers: Vec::new(),
            gpus: GpuInventory::new(spec.nodes, spec.gpus_per_node, spec.gpu_budget),
            network: spec.network,
            kv_bytes_per_token: spec.kv_bytes_per_token,
            local_prefill_max_tokens: spec.local_prefill_max_tokens,
            transfers: BTreeMap::new(),
            handoffs: VecDeque::new(),
            network_key: None,
            nominal_links: BTreeMap::new(),
            max_transfer_failures: 2,
            front,
            decode,
            last_gpu_change: SimTime::ZERO,
            scratch: IterationOutput::default(),
            candidates: Vec::new(),
            candidate_ids: Vec::new(),
        };
        for spec in spec.pools {
            cluster.pools.push(Pool {
                spec,
                iterations: VecDeque::with_capacity(ITERATION_HISTORY),
                workers: Vec::new(),
                unrouted: VecDeque::new(),
                rr: 0,
                gpu_ns: 0,
                owed_replacements: 0,
            });
        }
        for p in 0..cluster.pools.len() {
            let pool = PoolId(p as u16);
            let n = cluster.pools[p].spec.initial_workers;
            for _ in 0..n {
                let Some(w) = cluster.place_worker(pool, SimTime::ZERO) else {
                    let s = &cluster.pools[p].spec;
                    return Err(ClusterError::DoesNotFit {
                        pool: s.name.clone(),
                        workers: n,
                        tp: s.tp,
                    });
                };
                cluster.workers[w.0 as usize].state = WorkerState::Ready;
            }
        }
        Ok(cluster)
    }

    /// The pools' ids, in order.
    pub fn pool_ids(&self) -> impl Iterator<Item = PoolId> + use<> {
        (0..self.pools.len() as u16).map(PoolId)
    }

    /// A pool's name.
    pub fn pool_name(&self, pool: PoolId) -> &str {
        &self.pools[pool.0 as usize].spec.name
    }

    /// A pool's role.
    pub fn pool_role(&self, pool: PoolId) -> PoolRole {
        self.pools[pool.0 as usize].spec.role
    }

    /// GPUs per worker of a pool.
    pub fn pool_tp(&self, pool: PoolId) -> u32 {
        self.pools[pool.0 as usize].spec.tp
    }

    /// A worker.
    pub fn worker(&self, id: WorkerId) -> &Worker {
        &self.workers[id.0 as usize]
    }

    /// GPUs held now (starting, ready or draining workers).
    pub fn gpus_in_use(&self) -> u32 {
        self.gpus.in_use()
    }

    /// The GPU budget.
    pub fn gpu_budget(&self) -> u32 {
        self.gpus.budget()
    }

    /// GPU-seconds held by a pool up to `now`.
    pub fn gpu_seconds(&self, pool: PoolId, now: SimTime) -> f64 {
        let p = &self.pools[pool.0 as usize];
        let pending =
            u128::from(self.held_by(pool)) * u128::from((now - self.last_gpu_change).as_nanos());
        (p.gpu_ns + pending) as f64 / 1e9
    }

    fn held_by(&self, pool: PoolId) -> u32 {
        self.pools[pool.0 as usize]
            .workers
            .iter()
            .filter(|w| self.workers[w.0 as usize].state != WorkerState::Stopped)
            .map(|w| self.workers[w.0 as usize].gpus.len() as u32)
            .sum()
    }

    /// Brings the GPU-time integrals up to `now` (call before any change in GPUs held).
    fn account_gpus(&mut self, now: SimTime) {
        let dt = u128::from((now - self.last_gpu_change).as_nanos());
        for p in 0..self.pools.len() {
            let held = u128::from(self.held_by(PoolId(p as u16)));
            self.pools[p].gpu_ns += held * dt;
        }
        self.last_gpu_change = now;
    }

    fn place_worker(&mut self, pool: PoolId, now: SimTime) -> Option<WorkerId> {
        let spec = &self.pools[pool.0 as usize].spec;
        let gpus = self.gpus.take(spec.tp)?;
        let engine = Engine::new(spec.engine.clone());
        self.account_gpus(now);
        let id = WorkerId(self.workers.len() as u32);
        self.workers.push(Worker {
            pool,
            state: WorkerState::Starting,
            gpus,
            engine,
            slowdown: 1.0,
            ready_key: None,
        });
        self.pools[pool.0 as usize].workers.push(id);
        Some(id)
    }

    /// Live figures of a pool.
    pub fn pool_stats(&self, pool: PoolId) -> PoolStats {
        let p = &self.pools[pool.0 as usize];
        let mut s = PoolStats {
            unrouted: p.unrouted.len() as u64,
            ..PoolStats::default()
        };
        let mut kv_sum = 0.0;
        let mut serving = 0;
        for w in &p.workers {
            let worker = &self.workers[w.0 as usize];
            match worker.state {
                WorkerState::Starting => s.starting += 1,
                WorkerState::Ready => s.ready += 1,
                WorkerState::Draining => s.draining += 1,
                WorkerState::Stopped => continue,
            }
            s.gpus_held += worker.gpus.len() as u32;
            if worker.state != WorkerState::Starting {
                let load = worker.engine.load();
                s.queued += load.waiting;
                s.queued_prefill_tokens += load.queued_prefill_tokens;
                s.running += load.running;
                kv_sum += load.kv_utilisation;
                serving += 1;
            }
        }
        s.kv_utilisation = if serving > 0 {
            kv_sum / f64::from(serving)
        } else {
            0.0
        };
        s
    }

    /// The pool's most recent iterations, oldest first.
    pub fn recent_iterations(&self, pool: PoolId) -> &VecDeque<IterationRecord> {
        &self.pools[pool.0 as usize].iterations
    }

    /// Live figures of each serving worker of a pool, by id.
    pub fn worker_loads(&self, pool: PoolId) -> Vec<(WorkerId, EngineLoad)> {
        self.pools[pool.0 as usize]
            .workers
            .iter()
            .filter(|w| {
                matches!(
                    self.workers[w.0 as usize].state,
                    WorkerState::Ready | WorkerState::Draining
                )
            })
            .map(|&w| (w, self.workers[w.0 as usize].engine.load()))
            .collect()
    }

    /// Workers of a pool that are starting or ready (what a target counts).
    pub fn active_workers(&self, pool: PoolId) -> u32 {
        self.pools[pool.0 as usize]
            .workers
            .iter()
            .filter(|w| {
                matches!(
                    self.workers[w.0 as usize].state,
                    WorkerState::Starting | WorkerState::Ready
                )
            })
            .count() as u32
    }

    /// Scales a pool towards `target` active workers: new workers start (as far
    /// as GPUs allow), surplus ones stop if still starting, else drain (the
    /// least loaded first). Returns how many workers were asked for or released.
    pub fn set_target<E: From<ClusterEvent>>(
        &mut self,
        pool: PoolId,
        target: u32,
        sched: &mut Scheduler<E>,
    ) -> (u32, u32) {
        let active = self.active_workers(pool);
        // The decision takes the place of replacements still owed to the pool.
        self.pools[pool.0 as usize].owed_replacements = 0;
        let (mut added, mut removed) = (0, 0);
        if target > active {
            for _ in active..target {
                if self.start_worker(pool, sched).is_none() {
                    break;
                }
                added += 1;
            }
        } else {
            for _ in target..active {
                let Some(w) = self.pick_victim(pool) else {
                    break;
                };
                self.retire(w, sched);
                removed += 1;
            }
        }
        (added, removed)
    }

    /// Asks for a new worker of `pool`: it holds its GPUs from now and serves after
    /// the pool's start-up time. `None` when the GPUs are not to be had.
    fn start_worker<E: From<ClusterEvent>>(
        &mut self,
        pool: PoolId,
        sched: &mut Scheduler<E>,
    ) -> Option<WorkerId> {
        let w = self.place_worker(pool, sched.now())?;
        let startup = self.pools[pool.0 as usize].spec.startup;
        let key = sched.schedule_cancellable_in(startup, ClusterEvent::WorkerReady(w).into());
        self.workers[w.0 as usize].ready_key = Some(key);
        Some(w)
    }

    /// The worker to remove: the newest starting one, else the least loaded ready one.
    fn pick_victim(&self, pool: PoolId) -> Option<WorkerId> {
        let ws = &self.pools[pool.0 as usize].workers;
        let starting = ws
            .iter()
            .rev()
            .find(|w| self.workers[w.0 as usize].state == WorkerState::Starting);
        starting.copied().or_else(|| {
            ws.iter()
                .filter(|w| self.workers[w.0 as usize].state == WorkerState::Ready)
                .min_by_key(|w| {
                    let l = self.workers[w.0 as usize].engine.load();
                    (
                        l.queued_prefill_tokens + l.decode_kv_tokens + l.running,
                        w.0,
                    )
                })
                .copied()
        })
    }

    fn retire<E: From<ClusterEvent>>(&mut self, w: WorkerId, sched: &mut Scheduler<E>) {
        let worker = &mut self.workers[w.0 as usize];
        match worker.state {
            WorkerState::Starting => {
                if let Some(key) = worker.ready_key.take() {
                    sched.cancel(key);
                }
                self.stop(w, sched.now());
            }
            WorkerState::Ready => {
                worker.state = WorkerState::Draining;
                self.stop_if_drained(w, sched.now());
            }
            WorkerState::Draining | WorkerState::Stopped => {}
        }
    }

    fn stop(&mut self, w: WorkerId, now: SimTime) {
        self.account_gpus(now);
        let worker = &mut self.workers[w.0 as usize];
        worker.state = WorkerState::Stopped;
        let gpus = std::mem::take(&mut worker.gpus);
        self.gpus.give_back(&gpus);
    }

    fn stop_if_drained(&mut self, w: WorkerId, now: SimTime) {
        let worker = &self.workers[w.0 as usize];
        if worker.state == WorkerState::Draining
            && worker.engine.is_empty()
            && !worker.engine.is_busy()
        {
            self.stop(w, now);
        }
    }

    /// Kills a worker now, mid-iteration if it is in one: everything it holds is
    /// lost ([`Notice::Lost`]), transfers from or to it are cancelled (the other
    /// side frees its blocks), its GPUs are given back (a down node only blocks new
    /// placements). With `replace`, a worker that was starting or serving (not one
    /// being retired) is replaced through the normal start-up path: at once where GPUs
    /// allow, else when a node comes back, unless a planner decision for the pool
    /// comes first.
    pub fn kill_worker<E: From<ClusterEvent>>(
        &mut self,
        w: WorkerId,
        replace: bool,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        let now = sched.now();
        let worker = &mut self.workers[w.0 as usize];
        if worker.state == WorkerState::Stopped {
            return;
        }
        if let Some(key) = worker.ready_key.take() {
            sched.cancel(key);
        }
        let pool = worker.pool;
        let replace = replace && matches!(worker.state, WorkerState::Starting | WorkerState::Ready);
        let lost = worker.engine.held_requests();
        let config = worker.engine.config().clone();
        worker.engine = Engine::new(config); // its KV cache is gone
        let ids: Vec<TransferId> = self
            .transfers
            .iter()
            .filter(|(_, t)| t.handoff.from == w || t.to == w)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let t = self.transfers.remove(&id).expect("listed transfer");
            self.network.cancel_transfer(now, id);
            if t.handoff.from == w {
                self.workers[t.to.0 as usize].engine.release(t.to_slot);
                self.kick(t.to, sched, out);
            } else {
                let from = t.handoff.from;
                self.workers[from.0 as usize]
                    .engine
                    .release(t.handoff.from_slot);
                self.kick(from, sched, out);
                self.stop_if_drained(from, now);
            }
        }
        self.handoffs.retain(|h| h.from != w);
        self.stop(w, now);
        for handle in lost {
            out.notices.push(Notice::Lost {
                handle,
                reason: "worker lost",
            });
        }
        self.schedule_network_check(sched);
        if replace && self.start_worker(pool, sched).is_none() {
            // No other node has room now: replace it when a node comes back.
            self.pools[pool.0 as usize].owed_replacements += 1;
        }
        // Hand-offs may now find room on the surviving decode workers.
        self.retry_handoffs(sched, out);
    }

    /// Takes a node down (`true`: its workers die, and with `replace` are replaced
    /// elsewhere where GPUs allow; nothing is placed there until it is back) or ends one
    /// fault holding it down (`false`; when none does, the replacements that found no
    /// GPUs start).
    pub fn set_node_down<E: From<ClusterEvent>>(
        &mut self,
        node: u32,
        down: bool,
        replace: bool,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        let still_down = self.gpus.set_node_down(node, down);
        if !down {
            if still_down {
                return;
            }
            // Workers that died while no GPUs were to be had start now, where they fit.
            for p in 0..self.pools.len() {
                while self.pools[p].owed_replacements > 0
                    && self.start_worker(PoolId(p as u16), sched).is_some()
                {
                    self.pools[p].owed_replacements -= 1;
                }
            }
            return;
        }
        let victims: Vec<WorkerId> = (0..self.workers.len() as u32)
            .map(WorkerId)
            .filter(|w| {
                let worker = &self.workers[w.0 as usize];
                worker.state != WorkerState::Stopped
                    && worker
                        .gpus
                        .first()
                        .is_some_and(|&g| self.gpus.node_of(g) == node)
            })
            .collect();
        for w in victims {
            self.kill_worker(w, replace, sched, out);
        }
    }

    /// Workers of a pool that are not stopped, in creation order.
    pub fn live_workers(&self, pool: PoolId) -> Vec<WorkerId> {
        self.pools[pool.0 as usize]
            .workers
            .iter()
            .copied()
            .filter(|w| self.workers[w.0 as usize].state != WorkerState::Stopped)
            .collect()
    }

    /// Makes a worker a straggler: its iterations take `factor` times as long (1 restores it).
    pub fn set_slowdown(&mut self, w: WorkerId, factor: f64) {
        self.workers[w.0 as usize].slowdown = factor;
    }

    /// Scales the capacity of every link of a node's NICs by `factor` of nominal
    /// (0: the links are down and transfers over them stall; 1: restored).
    pub fn set_node_links<E: From<ClusterEvent>>(
        &mut self,
        node: u32,
        factor: f64,
        sched: &mut Scheduler<E>,
    ) {
        let now = sched.now();
        let on_node = |v: &Vertex| matches!(v, Vertex::Nic(g) if self.gpus.node_of(g.0) == node);
        let links: Vec<(u32, f64)> = self
            .network
            .topology()
            .links()
            .iter()
            .enumerate()
            .filter(|(_, l)| on_node(&l.from) || on_node(&l.to))
            .map(|(i, l)| (i as u32, l.capacity))
            .collect();
        for (i, nominal) in links {
            let nominal = *self.nominal_links.entry(i).or_insert(nominal);
            self.network
                .set_link_capacity(now, LinkId(i), nominal * factor.max(0.0))
                .expect("a link of the topology");
        }
        self.schedule_network_check(sched);
    }

    /// Fails every KV transfer in flight: the decode side frees its blocks and the
    /// KV is sent again from the prefill worker, up to `max_transfer_failures`
    /// times, after which the request is lost. Returns how many failed.
    pub fn fail_transfers<E: From<ClusterEvent>>(
        &mut self,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) -> u32 {
        let now = sched.now();
        let failed = std::mem::take(&mut self.transfers);
        let n = failed.len() as u32;
        let mut retry = Vec::new();
        for (id, mut t) in failed {
            self.network.cancel_transfer(now, id);
            self.workers[t.to.0 as usize].engine.release(t.to_slot);
            out.notices.push(Notice::TransferFailed {
                handle: t.handoff.spec.request,
            });
            t.handoff.failures += 1;
            if t.handoff.failures > self.max_transfer_failures {
                let h = t.handoff;
                self.workers[h.from.0 as usize].engine.release(h.from_slot);
                out.notices.push(Notice::Lost {
                    handle: h.spec.request,
                    reason: "KV transfer failed",
                });
                self.kick(h.from, sched, out);
                self.stop_if_drained(h.from, now);
            } else {
                retry.push(t.handoff);
            }
        }
        // Failed hand-offs go first (in transfer-id order: deterministic).
        for h in retry.into_iter().rev() {
            self.handoffs.push_front(h);
        }
        self.schedule_network_check(sched);
        self.retry_handoffs(sched, out);
        n
    }

    /// A request arrives at the cluster.
    pub fn arrive<E: From<ClusterEvent>>(
        &mut self,
        req: RequestIn,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        let local = self.decode.filter(|_| {
            self.local_prefill_max_tokens
                .is_some_and(|m| req.prompt_tokens <= m)
        });
        let pool = local.unwrap_or(self.front);
        // Every pool the request will use must be able to hold it: its prompt, and its whole
        // output too where a pool reserves output blocks at admission.
        let decodes_at_front = self.decode.is_none() || local.is_some();
        let mut needs = vec![(pool, decodes_at_front)];
        if let Some(d) = self.decode.filter(|_| !decodes_at_front) {
            needs.push((d, true));
        }
        for (p, decodes) in needs {
            let spec = &self.pools[p.0 as usize].spec;
            let engine = &spec.engine;
            let reserved = engine.reserve_output && decodes;
            let tokens = u64::from(req.prompt_tokens)
                + if reserved {
                    u64::from(req.output_tokens)
                } else {
                    0
                };
            let blocks = tokens.div_ceil(u64::from(engine.block_tokens));
            if blocks + engine.watermark_blocks > engine.kv_blocks {
                let what = if reserved {
                    "prompt and output (reserved at admission)"
                } else {
                    "prompt"
                };
                out.notices.push(Notice::Rejected {
                    handle: req.handle,
                    reason: format!(
                        "{what} larger than a '{}' worker's KV cache ({} tokens)",
                        spec.name,
                        engine.kv_blocks * u64::from(engine.block_tokens)
                    ),
                });
                return;
            }
        }
        self.route(pool, req, sched, out);
    }

    fn route<E: From<ClusterEvent>>(
        &mut self,
        pool: PoolId,
        req: RequestIn,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        let Some(w) = self.pick_worker(pool, &req.prefix_blocks) else {
            self.pools[pool.0 as usize].unrouted.push_back(req);
            return;
        };
        let decode_here = self.pools[pool.0 as usize].spec.role != PoolRole::Prefill;
        let spec = SeqSpec {
            request: req.handle,
            prompt_tokens: req.prompt_tokens,
            output_tokens: req.output_tokens,
            prefix_blocks: req.prefix_blocks,
            decode_here,
        };
        self.workers[w.0 as usize].engine.enqueue(spec, sched.now());
        self.kick(w, sched, out);
    }

    fn pick_worker(&mut self, pool: PoolId, prefix: &[u64]) -> Option<WorkerId> {
        let kind = self.pools[pool.0 as usize].spec.router;
        self.candidates.clear();
        self.candidate_ids.clear();
        for &w in &self.pools[pool.0 as usize].workers {
            let worker = &self.workers[w.0 as usize];
            if worker.state != WorkerState::Ready {
                continue;
            }
            let cached = if kind == RouterKind::PrefixAware {
                worker.engine.cached_prefix_blocks(prefix)
            } else {
                0
            };
            self.candidates.push(Candidate {
                worker: w.0,
                load: worker.engine.load(),
                cached_prefix_blocks: cached,
            });
            self.candidate_ids.push(w);
        }
        let i = router::pick(kind, &self.candidates, &mut self.pools[pool.0 as usize].rr)?;
        Some(self.candidate_ids[i])
    }

    /// Starts the worker's next iteration if it is idle and has work. What the
    /// start itself does (admissions, preemptions) is reported at once.
    fn kick<E: From<ClusterEvent>>(
        &mut self,
        w: WorkerId,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        let worker = &mut self.workers[w.0 as usize];
        if worker.engine.is_busy()
            || !matches!(worker.state, WorkerState::Ready | WorkerState::Draining)
        {
            return;
        }
        let timer = &self.pools[worker.pool.0 as usize].spec.timer;
        if let Some(d) =
            worker
                .engine
                .start_iteration(sched.now(), timer.as_ref(), &mut self.scratch)
        {
            let d = if worker.slowdown == 1.0 {
                d
            } else {
                SimDuration::from_secs_f64_round(d.as_secs_f64() * worker.slowdown)
                    .unwrap_or(SimDuration::MAX)
            };
            sched.schedule_in(d, ClusterEvent::IterationDone(w).into());
            let history = &mut self.pools[worker.pool.0 as usize].iterations;
            if history.len() == ITERATION_HISTORY {
                history.pop_front();
            }
            let batch = worker.engine.last_batch();
            history.push_back(IterationRecord { batch, duration: d });
        }
        if !self.scratch.events.is_empty() {
            let mut scratch = std::mem::take(&mut self.scratch);
            self.apply_engine_output(w, &mut scratch, sched, out);
            self.scratch = scratch;
        }
    }

    /// Handles one of the cluster's events.
    pub fn handle<E: From<ClusterEvent>>(
        &mut self,
        event: ClusterEvent,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        let now = sched.now();
        match event {
            ClusterEvent::IterationDone(w) => {
                if self.workers[w.0 as usize].state == WorkerState::Stopped {
                    return; // it died mid-iteration: the iteration never ends
                }
                self.workers[w.0 as usize]
                    .engine
                    .complete_iteration(now, &mut self.scratch);
                let mut scratch = std::mem::take(&mut self.scratch);
                self.apply_engine_output(w, &mut scratch, sched, out);
                self.scratch = scratch;
                self.kick(w, sched, out);
                if Some(self.workers[w.0 as usize].pool) == self.decode {
                    self.retry_handoffs(sched, out);
                }
                self.stop_if_drained(w, now);
            }
            ClusterEvent::WorkerReady(w) => {
                let worker = &mut self.workers[w.0 as usize];
                if worker.state != WorkerState::Starting {
                    return;
                }
                worker.state = WorkerState::Ready;
                worker.ready_key = None;
                let pool = worker.pool;
                let waiting = std::mem::take(&mut self.pools[pool.0 as usize].unrouted);
                for req in waiting {
                    self.route(pool, req, sched, out);
                }
                if Some(pool) == self.decode {
                    self.retry_handoffs(sched, out);
                }
            }
            ClusterEvent::NetworkCheck => {
                self.network_key = None;
                let done = self.network.poll_completed(now);
                for (_, id) in done {
                    let t = self.transfers.remove(&id).expect("known transfer");
                    let h = &t.handoff;
                    out.notices.push(Notice::TransferDone {
                        handle: h.spec.request,
                    });
                    self.workers[h.from.0 as usize].engine.release(h.from_slot);
                    self.workers[t.to.0 as usize].engine.incoming_landed(
                        t.to_slot,
                        h.first_token_at,
                        now,
                    );
                    let from = h.from;
                    self.kick(from, sched, out);
                    self.kick(t.to, sched, out);
                    self.stop_if_drained(from, now);
                }
                self.schedule_network_check(sched);
            }
        }
    }

    fn apply_engine_output<E: From<ClusterEvent>>(
        &mut self,
        w: WorkerId,
        scratch: &mut IterationOutput,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        out.tokens += scratch.tokens;
        out.itl_gaps.append(&mut scratch.itl_gaps);
        scratch.tokens = 0;
        for event in scratch.events.drain(..) {
            match event {
                EngineEvent::Admitted { request } => out.notices.push(Notice::Admitted {
                    handle: request,
                    worker: w,
                }),
                EngineEvent::FirstToken { request } => {
                    out.notices.push(Notice::FirstToken { handle: request })
                }
                EngineEvent::Preempted { request } => {
                    out.notices.push(Notice::Preempted { handle: request })
                }
                EngineEvent::Finished { request, max_itl } => out.notices.push(Notice::Finished {
                    handle: request,
                    max_itl,
                }),
                EngineEvent::PrefillDone { request, slot } => {
                    let spec = self.workers[w.0 as usize].engine.parked_spec(slot);
                    let handoff = Handoff {
                        spec,
                        from: w,
                        from_slot: slot,
                        first_token_at: sched.now(),
                        failures: 0,
                    };
                    debug_assert_eq!(handoff.spec.request, request);
                    self.handoffs.push_back(handoff);
                }
            }
        }
        if !self.handoffs.is_empty() {
            self.retry_handoffs(sched, out);
        }
    }

    /// Starts the KV transfer of waiting hand-offs, first come first served,
    /// while a decode worker can reserve their blocks.
    fn retry_handoffs<E: From<ClusterEvent>>(
        &mut self,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        let Some(decode) = self.decode else { return };
        let now = sched.now();
        let mut started = false;
        while !self.handoffs.is_empty() {
            let Some(to) = self.pick_worker(decode, &[]) else {
                break;
            };
            let spec = SeqSpec {
                decode_here: true,
                ..self.handoffs[0].spec.clone()
            };
            let Some(to_slot) = self.workers[to.0 as usize]
                .engine
                .reserve_incoming(spec, now)
            else {
                break;
            };
            let h = self.handoffs.pop_front().expect("front exists");
            let bytes = u64::from(h.spec.prompt_tokens) * self.kv_bytes_per_token;
            let shards = self.shards(h.from, to, bytes);
            let id = self
                .network
                .start_transfer(now, &shards)
                .expect("workers are placed on the network's own GPUs");
            out.notices.push(Notice::TransferStarted {
                handle: h.spec.request,
                worker: to,
            });
            self.transfers.insert(
                id,
                Transfer {
                    handoff: h,
                    to,
                    to_slot,
                },
            );
            started = true;
        }
        if started {
            self.schedule_network_check(sched);
        }
    }

    /// One flow per GPU pair: shard `i` goes from source GPU `i mod tp_src`
    /// to destination GPU `i mod tp_dst`, over `max(tp_src, tp_dst)` flows.
    fn shards(&self, from: WorkerId, to: WorkerId, bytes: u64) -> Vec<(GpuId, GpuId, u64)> {
        let src = &self.workers[from.0 as usize].gpus;
        let dst = &self.workers[to.0 as usize].gpus;
        let n = src.len().max(dst.len());
        (0..n)
            .map(|i| {
                let share = bytes / n as u64 + u64::from((i as u64) < bytes % n as u64);
                (GpuId(src[i % src.len()]), GpuId(dst[i % dst.len()]), share)
            })
            .collect()
    }

    fn schedule_network_check<E: From<ClusterEvent>>(&mut self, sched: &mut Scheduler<E>) {
        if let Some(key) = self.network_key.take() {
            sched.cancel(key);
        }
        if let Some(at) = self.network.next_event_time() {
            let at = at.max(sched.now());
            self.network_key =
                Some(sched.schedule_cancellable_at(at, ClusterEvent::NetworkCheck.into()));
        }
    }
}

#[cfg(test)]
mod tests;
