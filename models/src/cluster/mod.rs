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
//!
//! This file holds the cluster's vocabulary, its construction and the event
//! dispatch; `Cluster`'s behaviour is spread by concern over `requests.rs`
//! (admission, routing, driving engines), `handoff.rs` (KV moves to decode),
//! `lifecycle.rs` (workers started, scaled, drained, stopped), `faults.rs`
//! `stats.rs` (what is read of it) and `record.rs` (what it reports of its iterations and
//! transfers when a timeline is recorded).

mod faults;
mod handoff;
mod ids;
mod lifecycle;
pub mod placement;
mod record;
mod requests;
pub mod router;
mod stats;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use servesim_core::{EventKey, Scheduler, SimDuration, SimTime};

use crate::engine::decode_set::Slot;
use crate::engine::{BatchSummary, Engine, EngineConfig, IterationOutput, IterationTimer, SeqSpec};
use crate::network::{Network, TransferId};
use crate::request::RequestHandle;
pub use ids::{PoolId, WorkerId};
use placement::GpuInventory;
pub use record::{ClusterRecord, TransferOutcome};
use router::{Candidate, RouterKind};

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
    /// GPUs per worker: TP × attention DP.
    pub gpus_per_worker: u32,
    /// Attention data-parallel ranks per worker (1 without): each holds its own sequences,
    /// and their KV, on its `gpus_per_worker / attention_dp` GPUs.
    pub attention_dp: u32,
    /// KV bytes per token on each GPU of a rank: a share of the heads, or all of them where
    /// every GPU keeps them whole (MLA's latent, fewer KV heads than GPUs).
    pub kv_bytes_per_token_per_gpu: u64,
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
    pub handle: RequestHandle,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Output tokens (≥ 1).
    pub output_tokens: u32,
    /// Content-block ids of the prompt.
    pub prefix_blocks: Arc<[u64]>,
    /// A migrated request going on with an answer (see [`SeqSpec::continues`]).
    pub continues: bool,
}

/// What the world learns from the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Prefill started on a worker.
    Admitted {
        /// The request.
        handle: RequestHandle,
        /// Where.
        worker: WorkerId,
    },
    /// First token made.
    FirstToken {
        /// The request.
        handle: RequestHandle,
    },
    /// KV transfer started to a decode worker.
    TransferStarted {
        /// The request.
        handle: RequestHandle,
        /// The decode worker.
        worker: WorkerId,
    },
    /// KV transfer finished.
    TransferDone {
        /// The request.
        handle: RequestHandle,
    },
    /// Preempted (will be recomputed).
    Preempted {
        /// The request.
        handle: RequestHandle,
    },
    /// Last token made.
    Finished {
        /// The request.
        handle: RequestHandle,
        /// Its largest inter-token gap on the decode worker.
        max_itl: SimDuration,
    },
    /// A KV transfer failed; the KV is still on the prefill worker and is sent again.
    TransferFailed {
        /// The request.
        handle: RequestHandle,
    },
    /// A fault took the request from the cluster (its worker died, or its KV could
    /// not be moved): the world migrates it or fails it.
    Lost {
        /// The request.
        handle: RequestHandle,
        /// Why, in words.
        reason: &'static str,
        /// Output tokens its worker had made of it (0 where its KV could not be moved).
        made: u32,
        /// When the last of them was made.
        last_token_at: SimTime,
        /// The longest gap between them its client saw
        /// ([`crate::engine::HeldRequest::longest_gap`]).
        longest_gap: SimDuration,
    },
    /// The cluster cannot ever serve it.
    Rejected {
        /// The request.
        handle: RequestHandle,
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
    /// Iterations and KV transfers, in order, when the world asks for them (`Some`); left
    /// `None`, nothing is recorded.
    pub records: Option<Vec<ClusterRecord>>,
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
    /// KV hand-offs sent or taken in so far: the attention rank of the next, round robin.
    handoffs_seen: u32,
}

/// What a prefix-aware router predicted, summed over the requests it routed: the share of
/// each prompt's blocks that the worker it chose held cached (as Dynamo's KV router reports
/// its `kv_hit_rate`). Counters that only grow: a reader takes differences between reads.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RoutedHits {
    /// Requests routed with a predicted hit rate.
    pub requests: u64,
    /// The sum of their predicted hit rates (0–1 each).
    pub hit_rate_sum: f64,
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
    /// Prefilled requests whose KV waits for a worker of this (decode) pool to take it in.
    pub handoffs: u64,
    /// Prompt tokens still to prefill: in its workers' queues and, for a pool that
    /// prefills, those of the requests waiting for a worker (`unrouted`).
    pub queued_prefill_tokens: u64,
    /// Mean KV utilisation over serving workers.
    pub kv_utilisation: f64,
    /// Sequences running (prefill or decode) over serving workers.
    pub running: u64,
    /// GPUs held by the pool now.
    pub gpus_held: u32,
    /// What its router predicted of the prompts it routed so far (prefix-aware routers
    /// only; zero otherwise).
    pub routed_hits: RoutedHits,
}

impl PoolStats {
    /// Requests waiting for the pool: for a worker to be ready, in its workers' queues, and
    /// prefilled ones whose KV waits for a decode worker to take it in.
    pub fn waiting(&self) -> u64 {
        self.unrouted + self.queued + self.handoffs
    }
}

struct Transfer {
    handoff: Handoff,
    to: WorkerId,
    to_slot: Slot,
    started: SimTime,
    bytes: u64,
}

/// A prefill that finished but found no decode worker with room yet.
struct Handoff {
    spec: SeqSpec,
    from: WorkerId,
    from_slot: Slot,
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
    /// Decode-only iterations its workers ran, all run long, and those of them launched
    /// eagerly (no CUDA graph of their size).
    decode_only_steps: u64,
    eager_steps: u64,
    /// Workers a decision asked for that found no GPUs: they start once GPUs are freed (a
    /// worker stops, a node comes back), after the replacements.
    owed: u32,
    /// Dead workers' replacements that found no GPUs, started the same way.
    owed_replacements: u32,
    /// What a prefix-aware router predicted of the requests it routed, all run long.
    routed_hits: RoutedHits,
}

/// The cluster.
pub struct Cluster {
    pools: Vec<Pool>,
    workers: Vec<Worker>,
    gpus: GpuInventory,
    network: Network,
    local_prefill_max_tokens: Option<u32>,
    transfers: BTreeMap<TransferId, Transfer>,
    handoffs: VecDeque<Handoff>,
    network_key: Option<EventKey>,
    /// Link capacities before a fault changed them, to restore them.
    nominal_links: BTreeMap<u32, f64>,
    /// A KV hand-off whose transfer failed this many times is given up.
    pub max_transfer_failures: u32,
    /// Workers decisions asked for that started later, once GPUs were freed.
    owed_started: u64,
    front: PoolId,
    decode: Option<PoolId>,
    last_gpu_change: SimTime,
    scratch: IterationOutput,
    candidates: Vec<Candidate>,
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
        "pool '{pool}': {workers} initial workers of {gpus} GPUs do not fit the nodes and the \
         GPU budget beside the other pools' (a worker stays on one node, or takes whole nodes \
         of one NVLink domain)"
    )]
    DoesNotFit {
        /// The pool.
        pool: String,
        /// Workers asked for.
        workers: u32,
        /// GPUs per worker.
        gpus: u32,
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
            gpus: GpuInventory::new(
                spec.nodes,
                spec.gpus_per_node,
                spec.network.topology().spec().nodes_per_nvlink_domain,
                spec.gpu_budget,
            ),
            network: spec.network,
            local_prefill_max_tokens: spec.local_prefill_max_tokens,
            transfers: BTreeMap::new(),
            handoffs: VecDeque::new(),
            network_key: None,
            nominal_links: BTreeMap::new(),
            max_transfer_failures: 2,
            owed_started: 0,
            front,
            decode,
            last_gpu_change: SimTime::ZERO,
            scratch: IterationOutput::default(),
            candidates: Vec::new(),
        };
        for spec in spec.pools {
            cluster.pools.push(Pool {
                spec,
                iterations: VecDeque::with_capacity(ITERATION_HISTORY),
                workers: Vec::new(),
                unrouted: VecDeque::new(),
                rr: 0,
                gpu_ns: 0,
                decode_only_steps: 0,
                eager_steps: 0,
                owed: 0,
                owed_replacements: 0,
                routed_hits: RoutedHits::default(),
            });
        }
        for pool in cluster.initial_placement() {
            let Some(w) = cluster.place_worker(pool, SimTime::ZERO) else {
                let s = &cluster.pools[pool.0 as usize].spec;
                return Err(ClusterError::DoesNotFit {
                    pool: s.name.clone(),
                    workers: s.initial_workers,
                    gpus: s.gpus_per_worker,
                });
            };
            cluster.workers[w.0 as usize].state = WorkerState::Ready;
        }
        Ok(cluster)
    }

    /// The order the initial workers are placed in, first fit: pool by pool; or, where that
    /// leaves a worker without room, the widest workers first (first fit decreasing, the
    /// classic bin-packing order), which a pool's narrow workers scattered over an NVL72
    /// rack's trays would otherwise keep a wide-EP worker out of. A layout that fits pool
    /// by pool is kept as it is.
    fn initial_placement(&self) -> Vec<PoolId> {
        let in_order: Vec<PoolId> = (0..self.pools.len())
            .flat_map(|p| {
                let n = self.pools[p].spec.initial_workers as usize;
                std::iter::repeat_n(PoolId(p as u16), n)
            })
            .collect();
        let fits = |order: &[PoolId]| {
            let mut gpus = self.gpus.clone();
            order.iter().all(|p| {
                gpus.take(self.pools[p.0 as usize].spec.gpus_per_worker)
                    .is_some()
            })
        };
        if fits(&in_order) {
            return in_order;
        }
        let mut widest_first = in_order.clone();
        widest_first
            .sort_by_key(|p| std::cmp::Reverse(self.pools[p.0 as usize].spec.gpus_per_worker));
        if fits(&widest_first) {
            widest_first
        } else {
            in_order
        }
    }

    /// Handles one of the cluster's events.
    pub fn handle<E: From<ClusterEvent>>(
        &mut self,
        event: ClusterEvent,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        match event {
            ClusterEvent::IterationDone(w) => self.iteration_done(w, sched, out),
            ClusterEvent::WorkerReady(w) => self.worker_ready(w, sched, out),
            ClusterEvent::NetworkCheck => self.network_check(sched, out),
        }
    }
}

#[cfg(test)]
mod tests;
