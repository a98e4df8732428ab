//! What a run's events become on the timeline: which process and thread each goes to, its
//! name and its arguments. Fed by the world (`world/tracing.rs`); writes through
//! [`EventWriter`], which holds the cap.

use std::fmt::Write as _;
use std::fs::File;
use std::io::BufWriter;

use serde::Serialize;
use servesim_core::SimTime;
use servesim_models::cluster::{Cluster, ClusterRecord, PoolId, PoolRole, PoolStats, WorkerId};

use super::writer::{Event, EventWriter, Phase};
use super::{TraceConfig, TraceOutcome};
use crate::Error;

/// The process of the run itself: the planner's decisions and the cap's instant.
const RUN_PID: u32 = 0;
/// Its thread of planner decisions.
const PLANNER_TID: u32 = 1;

/// A request's life as the timeline shows it.
pub(crate) struct RequestSpan<'a> {
    /// The traffic's id for it.
    pub id: u64,
    /// Its class's name.
    pub class: &'a str,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub arrival: SimTime,
    /// When its first token reached the user (`None`: it never made one).
    pub first_token: Option<SimTime>,
    /// When it ended.
    pub end: SimTime,
    /// How: `completed`, `rejected: …`, `failed: …`.
    pub outcome: &'a str,
    pub preemptions: u32,
    pub retries: u32,
}

/// One pool's part of a planner decision.
#[derive(Serialize)]
pub(crate) struct PoolDecision {
    pub pool: String,
    /// Workers starting or ready when it was taken.
    pub before: u32,
    /// Workers asked for (`None`: the policy left the pool as it is).
    pub target: Option<u32>,
}

#[derive(Serialize)]
struct IterationArgs {
    prefill_seqs: u32,
    prefill_tokens: u32,
    decode_seqs: u32,
    decode_kv_tokens: u64,
    waiting: u64,
    kv_utilisation: f64,
}

/// A run's trace being written.
pub(crate) struct Tracer {
    writer: EventWriter<BufWriter<File>>,
    config: TraceConfig,
    scenario: String,
    seed: u64,
    pools: u32,
    transfers: u64,
    name: String,
}

impl Tracer {
    /// Creates the file of `config` for a run of `scenario` (its name and seed) on a
    /// cluster of `pools` pools.
    pub(crate) fn create(
        config: &TraceConfig,
        scenario: &str,
        seed: u64,
        pools: u32,
    ) -> Result<Tracer, Error> {
        let file = File::create(&config.path).map_err(|source| Error::Io {
            path: config.path.clone(),
            source,
        })?;
        Ok(Tracer {
            writer: EventWriter::new(BufWriter::new(file), config.max_events.max(1)),
            config: config.clone(),
            scenario: scenario.to_string(),
            seed,
            pools,
            transfers: 0,
            name: String::new(),
        })
    }

    fn in_window(&self, t: SimTime) -> bool {
        self.config
            .window
            .is_none_or(|(start, end)| start <= t && t < end)
    }

    /// True if `n` events starting at `t` are to be written: inside the window and under
    /// the cap.
    fn wanted(&mut self, t: SimTime, n: u64) -> bool {
        self.in_window(t) && self.writer.room(n, t)
    }

    fn pool_pid(pool: PoolId) -> u32 {
        u32::from(pool.0) + 1
    }

    fn transfers_pid(&self) -> u32 {
        self.pools + 1
    }

    fn requests_pid(&self) -> u32 {
        self.pools + 2
    }

    /// An iteration or a KV transfer of the cluster (`request`: the traffic's id of the
    /// request a transfer moves, if still known).
    pub(crate) fn cluster_record(
        &mut self,
        r: &ClusterRecord,
        cluster: &Cluster,
        request: Option<u64>,
    ) {
        match *r {
            ClusterRecord::Iteration {
                worker,
                pool,
                start,
                duration,
                batch,
                waiting,
                kv_utilisation,
            } => {
                if !self.wanted(start, 1) {
                    return;
                }
                let name = match (batch.prefill_seqs, batch.decode_seqs) {
                    (_, 0) => "prefill",
                    (0, _) => "decode",
                    _ => "mixed",
                };
                let args = IterationArgs {
                    prefill_seqs: batch.prefill_seqs,
                    prefill_tokens: batch.prefill_tokens,
                    decode_seqs: batch.decode_seqs,
                    decode_kv_tokens: batch.decode_kv_tokens,
                    waiting,
                    kv_utilisation,
                };
                let e = Event {
                    name,
                    cat: "iteration",
                    pid: Self::pool_pid(pool),
                    tid: worker.0 + 1,
                    ts: start,
                    phase: Phase::Complete(duration),
                };
                self.writer.event(&e, &args);
            }
            ClusterRecord::Transfer {
                from,
                to,
                bytes,
                start,
                end,
                outcome,
                ..
            } => {
                if !self.wanted(start, 2) {
                    return;
                }
                self.name.clear();
                let label =
                    |w: WorkerId| format!("{}/w{}", cluster.pool_name(cluster.worker(w).pool), w.0);
                let _ = write!(self.name, "{} → {}", label(from), label(to));
                self.transfers += 1;
                let id = self.transfers;
                let begin = Event {
                    name: &self.name,
                    cat: "kv",
                    pid: self.transfers_pid(),
                    tid: 0,
                    ts: start,
                    phase: Phase::Begin(id),
                };
                #[derive(Serialize)]
                struct Begin {
                    request: Option<u64>,
                    bytes: u64,
                }
                self.writer.event(&begin, &Begin { request, bytes });
                let e = Event {
                    ts: end,
                    phase: Phase::End(id),
                    ..begin
                };
                #[derive(Serialize)]
                struct End {
                    outcome: &'static str,
                }
                let outcome = outcome.name();
                self.writer.event(&e, &End { outcome });
            }
        }
    }

    /// A request that ended (completed, rejected or failed): written whole, so its spans
    /// always close.
    pub(crate) fn request(&mut self, r: &RequestSpan<'_>) {
        let n = if r.first_token.is_some() { 4 } else { 2 };
        if !self.wanted(r.arrival, n) {
            return;
        }
        let span = Event {
            name: "request",
            cat: "request",
            pid: self.requests_pid(),
            tid: 0,
            ts: r.arrival,
            phase: Phase::Begin(r.id),
        };
        #[derive(Serialize)]
        struct Begin<'a> {
            id: u64,
            class: &'a str,
            input_tokens: u32,
            output_tokens: u32,
        }
        let begin = Begin {
            id: r.id,
            class: r.class,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
        };
        self.writer.event(&span, &begin);
        if let Some(first) = r.first_token {
            let ttft = Event {
                name: "to first token",
                ..span
            };
            self.writer.event(&ttft, &());
            let ttft_end = Event {
                ts: first,
                phase: Phase::End(r.id),
                ..ttft
            };
            self.writer.event(&ttft_end, &());
        }
        #[derive(Serialize)]
        struct End<'a> {
            outcome: &'a str,
            preemptions: u32,
            retries: u32,
        }
        let end = Event {
            ts: r.end,
            phase: Phase::End(r.id),
            ..span
        };
        let args = End {
            outcome: r.outcome,
            preemptions: r.preemptions,
            retries: r.retries,
        };
        self.writer.event(&end, &args);
    }

    /// A planner decision: every pool's workers before and its target, and the reason;
    /// `unapplied` says why the targets were only recorded (`advisory` mode, or `held` back
    /// by the policy).
    pub(crate) fn decision(
        &mut self,
        at: SimTime,
        pools: &[PoolDecision],
        unapplied: Option<&str>,
        reason: &str,
    ) {
        if !self.wanted(at, 1) {
            return;
        }
        self.name.clear();
        for p in pools {
            let Some(target) = p.target.filter(|&t| t != p.before) else {
                continue;
            };
            let sep = if self.name.is_empty() { "" } else { ", " };
            let _ = write!(self.name, "{sep}{} {} → {target}", p.pool, p.before);
        }
        if self.name.is_empty() {
            self.name.push_str("no change");
        }
        if let Some(why) = unapplied {
            let _ = write!(self.name, " ({why})");
        }
        let applied = unapplied.is_none();
        #[derive(Serialize)]
        struct Args<'a> {
            pools: &'a [PoolDecision],
            applied: bool,
            reason: &'a str,
        }
        let e = Event {
            name: &self.name,
            cat: "planner",
            pid: RUN_PID,
            tid: PLANNER_TID,
            ts: at,
            phase: Phase::Instant,
        };
        self.writer.event(
            &e,
            &Args {
                pools,
                applied,
                reason,
            },
        );
    }

    /// A pool's counters at a sample: its workers, its queue and its KV use.
    pub(crate) fn counters(&mut self, at: SimTime, pool: PoolId, s: &PoolStats) {
        if !self.wanted(at, 3) {
            return;
        }
        let pid = Self::pool_pid(pool);
        let counter = |name| Event {
            name,
            cat: "pool",
            pid,
            tid: 0,
            ts: at,
            phase: Phase::Counter,
        };
        #[derive(Serialize)]
        struct Workers {
            ready: u32,
            starting: u32,
            draining: u32,
        }
        let workers = Workers {
            ready: s.ready,
            starting: s.starting,
            draining: s.draining,
        };
        self.writer.event(&counter("workers"), &workers);
        #[derive(Serialize)]
        struct Queue {
            requests: u64,
            prefill_tokens: u64,
        }
        let queue = Queue {
            requests: s.waiting(),
            prefill_tokens: s.queued_prefill_tokens,
        };
        self.writer.event(&counter("queue"), &queue);
        #[derive(Serialize)]
        struct Kv {
            utilisation: f64,
        }
        let kv = Kv {
            utilisation: s.kv_utilisation,
        };
        self.writer.event(&counter("kv"), &kv);
    }

    /// Names every track (every worker the cluster ever had), closes the file and says
    /// what it holds.
    pub(crate) fn finish(mut self, cluster: &Cluster, end: SimTime) -> Result<TraceOutcome, Error> {
        #[derive(Serialize)]
        struct Name<'a> {
            name: &'a str,
        }
        #[derive(Serialize)]
        struct Sort {
            sort_index: u32,
        }
        let process = |w: &mut EventWriter<BufWriter<File>>, pid: u32, name: &str| {
            w.metadata("process_name", pid, 0, &Name { name });
            w.metadata("process_sort_index", pid, 0, &Sort { sort_index: pid });
        };
        let w = &mut self.writer;
        process(w, RUN_PID, "run");
        w.metadata(
            "thread_name",
            RUN_PID,
            PLANNER_TID,
            &Name {
                name: "planner decisions",
            },
        );
        for pool in cluster.pool_ids() {
            let role = match cluster.pool_role(pool) {
                PoolRole::Prefill => "prefill",
                PoolRole::Decode => "decode",
                PoolRole::Aggregated => "aggregated",
            };
            let name = format!(
                "{} ({role}, {} GPUs a worker)",
                cluster.pool_name(pool),
                cluster.gpus_per_worker(pool)
            );
            process(w, Self::pool_pid(pool), &name);
        }
        for id in 0..cluster.worker_count() {
            let worker = WorkerId(id);
            let pool = cluster.worker(worker).pool;
            let pid = Self::pool_pid(pool);
            let name = format!("{}/w{id}", cluster.pool_name(pool));
            w.metadata("thread_name", pid, id + 1, &Name { name: &name });
            w.metadata("thread_sort_index", pid, id + 1, &Sort { sort_index: id });
        }
        let transfers = self.pools + 1;
        process(w, transfers, "KV transfers");
        process(w, transfers + 1, "requests");
        let stopped_at = self.writer.stopped_at();
        let events = self.writer.events();
        #[derive(Serialize)]
        struct Other<'a> {
            generator: String,
            scenario: &'a str,
            seed: u64,
            end_s: f64,
            time: &'static str,
            window_s: Option<(f64, Option<f64>)>,
            events: u64,
            max_events: u64,
            truncated: bool,
            truncated_at_s: Option<f64>,
        }
        let window_s = self.config.window.map(|(a, b)| {
            let b = (b != SimTime::from_nanos(u64::MAX)).then(|| b.as_secs_f64());
            (a.as_secs_f64(), b)
        });
        let other = Other {
            generator: format!("servesim {}", env!("CARGO_PKG_VERSION")),
            scenario: &self.scenario,
            seed: self.seed,
            end_s: end.as_secs_f64(),
            time: "ts and dur are microseconds of simulated time",
            window_s,
            events,
            max_events: self.config.max_events,
            truncated: stopped_at.is_some(),
            truncated_at_s: stopped_at.map(SimTime::as_secs_f64),
        };
        let path = self.config.path.clone();
        self.writer.finish(&other).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
        Ok(TraceOutcome {
            path,
            bytes,
            events,
            max_events: self.config.max_events,
            stopped_at,
        })
    }
}
