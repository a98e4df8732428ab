//! The iteration-level engine of one worker (a TP group holding one copy of the weights).
//!
//! Each iteration the scheduler builds a batch, the predictor times it, and
//! at its end every sequence in it advances (`docs/DOMAIN.md` §2):
//! - running decode sequences get one token each (all of them, every decode
//!   step: see [`decode_set`] for how that costs O(1) per step);
//! - the remaining token budget goes to prefill chunks, oldest first, then to
//!   newly admitted sequences, up to `max_num_seqs` running;
//! - KV blocks are paged; a sequence is admitted only if its prompt blocks fit
//!   above a watermark; when decode growth runs out of blocks the newest
//!   decode sequence is preempted and later recomputed;
//! - leading prompt blocks found in the prefix cache skip their prefill.
//!
//! A sequence either decodes where it was prefilled (aggregated serving, or a
//! short prompt under conditional disaggregation) or is *parked* after its
//! prefill until the world has moved its KV to a decode worker, which
//! reserved blocks for it with [`Engine::reserve_incoming`].
//!
//! The engine knows nothing of time beyond what it is told, of other workers
//! or of the network: the world drives it with [`Engine::start_iteration`] and
//! [`Engine::complete_iteration`].

mod advance;
mod config;
pub mod cuda_graph;
pub mod decode_set;
pub mod new_token_ratio;
mod schedule;

pub use config::{EngineConfig, HandedFirstToken, kv_capacity_tokens, kv_capacity_tokens_split};

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, OnceLock};

use servesim_core::{SimDuration, SimTime, Slab};

use crate::kv_cache::{KvPool, PrefixKey, chain_keys};
use crate::perf::{BatchShape, CachedPredictor, IterationPredictor, PrefillChunk};
use crate::request::RequestHandle;
use decode_set::{DecodeSet, Member, Slot, SuffixMax};

/// Times one iteration of a batch (the calibrated predictor, or anything else).
pub trait IterationTimer: Send {
    /// Wall time of one forward pass over `batch`.
    fn iteration_time(&self, batch: &BatchShape<'_>) -> SimDuration;
}

impl IterationTimer for IterationPredictor {
    fn iteration_time(&self, batch: &BatchShape<'_>) -> SimDuration {
        self.predict(batch)
    }
}

impl IterationTimer for CachedPredictor {
    fn iteration_time(&self, batch: &BatchShape<'_>) -> SimDuration {
        self.predict(batch)
    }
}

/// A request as a worker sees it.
#[derive(Clone, Debug)]
pub struct SeqSpec {
    /// The world's handle for the request (opaque to the engine).
    pub request: RequestHandle,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Output tokens to produce in all, the first included (≥ 1).
    pub output_tokens: u32,
    /// Content-block ids of the prompt, for prefix caching.
    pub prefix_blocks: Arc<[u64]>,
    /// Decode here after the prefill (else park and wait to be moved).
    pub decode_here: bool,
    /// A migrated request going on with an answer its client has seen part of: its
    /// `prompt_tokens` hold the tokens made before, and it makes no response header again.
    pub continues: bool,
}

/// A request a worker holds, as a fault finds it: the output tokens made of it so far and
/// when the last was (what a migration carries on and the client's stream resumes after).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldRequest {
    /// The request.
    pub request: RequestHandle,
    /// Output tokens made of it so far (of its `output_tokens`; a request handed over
    /// counts the token that came with it).
    pub made: u32,
    /// When the last of them was made (when it was queued here, if none was).
    pub last_token_at: SimTime,
    /// The longest gap its client has seen between them since it last joined decode (as a
    /// finished request's `max_itl`; zero outside decode).
    pub longest_gap: SimDuration,
}

/// What happened to a request during an iteration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineEvent {
    /// The request left the queue and starts its prefill (at the iteration's start).
    Admitted {
        /// The request.
        request: RequestHandle,
    },
    /// The request's first output token was produced.
    FirstToken {
        /// The request.
        request: RequestHandle,
    },
    /// Prefill done and parked: move its KV, then call [`Engine::release`] with `slot`.
    PrefillDone {
        /// The request.
        request: RequestHandle,
        /// Its slot on this worker.
        slot: Slot,
    },
    /// The last output token was produced; the request left the worker.
    Finished {
        /// The request.
        request: RequestHandle,
        /// Its largest gap between two consecutive tokens on this worker.
        max_itl: SimDuration,
    },
    /// Evicted from decode for lack of KV blocks; it will be recomputed here.
    Preempted {
        /// The request.
        request: RequestHandle,
    },
}

/// What an iteration produced, for the world to record.
#[derive(Clone, Debug, Default)]
pub struct IterationOutput {
    /// Request events, in a deterministic order.
    pub events: Vec<EngineEvent>,
    /// Inter-token gaps of the decode tokens made: `(gap, tokens with that gap)`.
    pub itl_gaps: Vec<(SimDuration, u64)>,
    /// Output tokens made by this iteration (first tokens included).
    pub tokens: u64,
}

#[derive(Clone, Debug)]
enum Phase {
    Waiting,
    Prefilling,
    Parked,
    Incoming,
    ReadyToDecode,
    Decoding(Member),
}

#[derive(Clone, Debug)]
struct Seq {
    spec: SeqSpec,
    phase: Phase,
    /// Chained keys of the prompt's full content blocks.
    keys: Vec<PrefixKey>,
    /// Leading keys this sequence references in the prefix cache.
    shared: usize,
    /// Private blocks held, outside `Decoding` (derived while decoding).
    private_blocks: u64,
    /// Tokens whose KV must be computed before decoding.
    prefill_target: u32,
    prefilled: u32,
    /// Output tokens made so far.
    generated: u32,
    admit_order: u64,
    /// When the request was queued here.
    queued_at: SimTime,
    last_token_at: SimTime,
    first_decode_gap: SimDuration,
    /// Handed over from a prefill worker, its first token not shown to the client yet.
    first_token_pending: bool,
    /// Its first text not shown to the client yet: the response header
    /// ([`EngineConfig::header_tokens`]) is still being made.
    text_pending: bool,
    /// The decode step that makes (or made) its first text token, behind a response header,
    /// since it last joined decode (its entry in [`Engine::showing`] while `text_pending`).
    shows_at: Option<u64>,
}

/// The shape of the iteration in flight (what a planner's regression sees).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Sequences with a prefill chunk in it.
    pub prefill_seqs: u32,
    /// Prefill tokens computed.
    pub prefill_tokens: u32,
    /// Decode sequences stepped.
    pub decode_seqs: u32,
    /// Σ KV length they attend to.
    pub decode_kv_tokens: u64,
    /// A decode-only step of a size with no captured CUDA graph, launched eagerly.
    pub eager: bool,
}

/// Live figures of a worker, for routers, planners and time series.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EngineLoad {
    /// Sequences waiting for admission to prefill.
    pub waiting: u64,
    /// Prompt tokens still to prefill (waiting and partially prefilled).
    pub queued_prefill_tokens: u64,
    /// Sequences prefilling or decoding.
    pub running: u64,
    /// Sequences decoding.
    pub decoding: u64,
    /// Σ KV length of decoding sequences.
    pub decode_kv_tokens: u64,
    /// KV blocks in use / total.
    pub kv_utilisation: f64,
    /// Transfers landed or in flight, waiting to decode here.
    pub incoming: u64,
}

/// One worker's engine.
#[derive(Clone, Debug)]
pub struct Engine {
    config: EngineConfig,
    blocks_per_entry: u64,
    seqs: Slab<Slot, Seq>,
    pool: KvPool,
    waiting: VecDeque<Slot>,
    prefilling: VecDeque<Slot>,
    ready: VecDeque<Slot>,
    decode: DecodeSet,
    /// Decode members that have not had a decode step yet.
    newcomers: Vec<Slot>,
    /// Decode members whose first text token is made by the decode step numbered first.
    showing: BTreeSet<(u64, Slot)>,
    gaps: SuffixMax,
    last_decode_end: SimTime,
    next_admit: u64,
    queued_prefill_tokens: u64,
    incoming: u64,
    // The iteration in flight.
    busy: bool,
    started_at: SimTime,
    /// End of the last iteration and how many sequences finished in it.
    ended_at: Option<SimTime>,
    finished_in_last: u32,
    /// Overlap schedule: admit only requests queued by this time, with this many slots
    /// still held by sequences that just finished (set while an iteration is planned).
    plan_cutoff: Option<SimTime>,
    plan_held_slots: u32,
    plan_chunks: Vec<(Slot, u32)>,
    plan_decode: bool,
    shape_chunks: Vec<PrefillChunk>,
    last_batch: BatchSummary,
    done: Vec<Slot>,
    /// SGLang's estimate of the running requests' outputs to come, as a share of them.
    new_token_ratio: f64,
    /// Output tokens reserved while admitting this iteration: (ratio × the running
    /// requests' outputs to come, the outputs of those admitted since).
    admission_reserve: (f64, u64),
}

/// An empty block list, shared (no allocation per moved request).
fn no_blocks() -> Arc<[u64]> {
    static EMPTY: OnceLock<Arc<[u64]>> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::from([])).clone()
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

impl Engine {
    /// An idle worker with an empty KV cache. The config must be valid
    /// (positive sizes, `prefix_block_tokens` a multiple of `block_tokens`):
    /// the scenario validates it and names the field otherwise.
    pub fn new(config: EngineConfig) -> Self {
        let block = u64::from(config.block_tokens.max(1));
        let blocks_per_entry = (u64::from(config.prefix_block_tokens) / block).max(1);
        let new_token_ratio = config.new_token_ratio.map_or(0.0, |r| r.init);
        Engine {
            pool: KvPool::new(config.kv_blocks, blocks_per_entry, config.prefix_caching),
            decode: DecodeSet::new(config.block_tokens),
            blocks_per_entry,
            config,
            seqs: Slab::new(),
            waiting: VecDeque::new(),
            prefilling: VecDeque::new(),
            ready: VecDeque::new(),
            newcomers: Vec::new(),
            showing: BTreeSet::new(),
            gaps: SuffixMax::default(),
            last_decode_end: SimTime::ZERO,
            next_admit: 0,
            queued_prefill_tokens: 0,
            incoming: 0,
            busy: false,
            started_at: SimTime::ZERO,
            ended_at: None,
            finished_in_last: 0,
            plan_cutoff: None,
            plan_held_slots: 0,
            plan_chunks: Vec::new(),
            plan_decode: false,
            shape_chunks: Vec::new(),
            last_batch: BatchSummary::default(),
            done: Vec::new(),
            new_token_ratio,
            admission_reserve: (0.0, 0),
        }
    }

    /// The scheduling configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The shape of the iteration in flight (or the last one).
    pub fn last_batch(&self) -> BatchSummary {
        self.last_batch
    }

    /// True while an iteration is in flight.
    pub fn is_busy(&self) -> bool {
        self.busy
    }

    /// True when the worker holds no sequence at all.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// Live figures.
    pub fn load(&self) -> EngineLoad {
        EngineLoad {
            waiting: self.waiting.len() as u64,
            queued_prefill_tokens: self.queued_prefill_tokens,
            running: self.running(),
            decoding: self.decode.len(),
            decode_kv_tokens: self.decode.kv_tokens(),
            kv_utilisation: self.pool.utilisation(),
            incoming: self.incoming,
        }
    }

    /// The KV pool (capacity, cache hit counts).
    pub fn kv(&self) -> &KvPool {
        &self.pool
    }

    /// How many of a prompt's leading content blocks are cached here (for prefix-aware routing).
    pub fn cached_prefix_blocks(&self, prefix_blocks: &[u64]) -> usize {
        let keys: Vec<PrefixKey> = chain_keys(prefix_blocks).collect();
        self.pool.cached_prefix_len(&keys)
    }

    fn running(&self) -> u64 {
        self.prefilling.len() as u64 + self.decode.len()
    }

    fn seq(&self, slot: Slot) -> &Seq {
        &self.seqs[slot]
    }

    fn seq_mut(&mut self, slot: Slot) -> &mut Seq {
        &mut self.seqs[slot]
    }

    fn new_seq(&self, spec: SeqSpec, phase: Phase, now: SimTime) -> Seq {
        let full_blocks = (spec.prompt_tokens / self.config.prefix_block_tokens.max(1)) as usize;
        let usable = spec.prefix_blocks.len().min(full_blocks);
        let keys = if self.config.prefix_caching {
            chain_keys(&spec.prefix_blocks[..usable]).collect()
        } else {
            Vec::new()
        };
        let text_pending = self.config.header_tokens > 0 && !spec.continues;
        Seq {
            prefill_target: spec.prompt_tokens,
            spec,
            phase,
            keys,
            shared: 0,
            private_blocks: 0,
            prefilled: 0,
            generated: 0,
            admit_order: 0,
            queued_at: now,
            last_token_at: now,
            first_decode_gap: SimDuration::ZERO,
            first_token_pending: false,
            text_pending,
            shows_at: None,
        }
    }

    /// Queues a request for prefill (and decode, if `decode_here`).
    pub fn enqueue(&mut self, spec: SeqSpec, now: SimTime) {
        debug_assert!(spec.prompt_tokens >= 1 && spec.output_tokens >= 1);
        self.queued_prefill_tokens += u64::from(spec.prompt_tokens);
        let seq = self.new_seq(spec, Phase::Waiting, now);
        let slot = self.seqs.insert(seq);
        self.waiting.push_back(slot);
    }

    /// Reserves blocks for a request whose prefill ran elsewhere and whose KV
    /// (`prompt_tokens` tokens, first token made) is about to be moved here.
    /// `None` if the blocks are not available now (try again after a release).
    pub fn reserve_incoming(&mut self, spec: SeqSpec, now: SimTime) -> Option<Slot> {
        let output = if self.config.reserve_output {
            u64::from(spec.output_tokens.saturating_sub(1))
        } else {
            0
        };
        let kv = u64::from(spec.prompt_tokens) + output;
        let need = ceil_div(kv, u64::from(self.config.block_tokens)) + self.config.state_blocks;
        if self.pool.available() < need + self.config.watermark_blocks || !self.pool.allocate(need)
        {
            return None;
        }
        // Moved KV is not published to this worker's prefix cache: no keys.
        let spec = SeqSpec {
            prefix_blocks: no_blocks(),
            ..spec
        };
        debug_assert!(
            spec.output_tokens >= 2,
            "a prefill worker finishes a one-token request itself"
        );
        let mut seq = self.new_seq(spec, Phase::Incoming, now);
        seq.private_blocks = need;
        seq.prefilled = seq.prefill_target;
        // The prefill worker's token travels with the KV unless this worker recomputes it.
        seq.generated = match self.config.handed_first_token {
            HandedFirstToken::Recomputed => 0,
            _ => 1,
        };
        seq.first_token_pending = true;
        self.incoming += 1;
        Some(self.seqs.insert(seq))
    }

    /// The KV of an incoming request has landed.
    pub fn incoming_landed(&mut self, slot: Slot, now: SimTime) {
        let seq = self.seq_mut(slot);
        debug_assert!(matches!(seq.phase, Phase::Incoming));
        seq.phase = Phase::ReadyToDecode;
        seq.last_token_at = now;
        seq.queued_at = now; // ready to join decode from now
        self.ready.push_back(slot);
    }

    /// Every request this worker holds (waiting, prefilling, decoding, parked or
    /// incoming), in slot order, with the tokens made of it: what is lost if the worker
    /// dies.
    pub fn held_requests(&self) -> Vec<HeldRequest> {
        self.seqs
            .values()
            .map(|s| {
                let (made, last_token_at, longest_gap) = match &s.phase {
                    Phase::Decoding(member) => {
                        let (made, last) = self.decoded(s, member);
                        (made, last, self.longest_gap(s, member))
                    }
                    _ => (s.generated, s.last_token_at, SimDuration::ZERO),
                };
                HeldRequest {
                    request: s.spec.request,
                    made,
                    last_token_at,
                    longest_gap,
                }
            })
            .collect()
    }

    /// The output tokens decoding `seq` (`member` of the decode set) has made in all, and
    /// when the last was: decode steps do not stamp every sequence, so those since it joined
    /// decode are counted from the decode set, the last made at the last step's end.
    fn decoded(&self, seq: &Seq, member: &Member) -> (u32, SimTime) {
        let since_join = self.decode.made_since_join(member) as u32;
        let last = if since_join > 0 {
            self.last_decode_end
        } else {
            seq.last_token_at
        };
        (seq.generated + since_join, last)
    }

    /// The longest gap the client of decoding `seq` (`member` of the decode set) has seen
    /// since it joined decode: behind a response header, from its first text on.
    fn longest_gap(&self, seq: &Seq, member: &Member) -> SimDuration {
        SimDuration::from_nanos(match seq.shows_at {
            Some(at) => self.gaps.max_since(at + 1).unwrap_or(0),
            None => self
                .gaps
                .max_since(member.joined + 2)
                .unwrap_or(0)
                .max(seq.first_decode_gap.as_nanos()),
        })
    }

    /// The request of a parked sequence (to hand it to a decode worker).
    pub fn parked_spec(&self, slot: Slot) -> SeqSpec {
        let seq = self.seq(slot);
        debug_assert!(matches!(seq.phase, Phase::Parked));
        seq.spec.clone()
    }

    /// Frees a parked (or still incoming) sequence's blocks and forgets it.
    pub fn release(&mut self, slot: Slot) {
        let seq = self.seqs.remove(slot).expect("live slot");
        debug_assert!(matches!(seq.phase, Phase::Parked | Phase::Incoming));
        if matches!(seq.phase, Phase::Incoming) {
            self.incoming -= 1;
        }
        self.pool.release_private(seq.private_blocks);
        self.pool.release_prefix(&seq.keys[..seq.shared]);
    }

    /// Plans the iteration starting at `now` and returns its duration; `None` when there
    /// is nothing to run.
    pub fn start_iteration(
        &mut self,
        now: SimTime,
        timer: &(impl IterationTimer + ?Sized),
        out: &mut IterationOutput,
    ) -> Option<SimDuration> {
        debug_assert!(!self.busy, "an iteration is already in flight");
        // Back to back under the overlap schedule, the plan is the one drawn up when the
        // iteration that just ended started; if that plan is empty, the engine was idle
        // and plans afresh.
        if self.config.overlap_schedule && self.ended_at == Some(now) {
            self.plan_cutoff = Some(self.started_at);
            self.plan_held_slots = self.finished_in_last;
            let planned = self.plan(now, timer, out);
            if planned.is_some() {
                self.started_at = now;
                return planned;
            }
        }
        self.plan_cutoff = None;
        self.plan_held_slots = 0;
        let planned = self.plan(now, timer, out);
        self.started_at = now;
        planned
    }
}

#[cfg(test)]
mod tests;

/// Helpers shared by the engine's and the cluster's tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// 1 ms per iteration plus 10 µs per token: simple enough to reason about.
    pub(crate) struct LinearTimer;

    impl IterationTimer for LinearTimer {
        fn iteration_time(&self, batch: &BatchShape<'_>) -> SimDuration {
            let prefill: u64 = batch.prefill.iter().map(|c| u64::from(c.tokens)).sum();
            let tokens = prefill + u64::from(batch.decode_seqs);
            SimDuration::from_micros(1000 + 10 * tokens).expect("small")
        }
    }
}
