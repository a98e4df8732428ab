//! The running workload: every stream merged into one time-ordered sequence of requests.
//!
//! # Driving protocol (used by the cluster simulation)
//!
//! - [`Workload::peek_time`] gives the earliest pending arrival; schedule an event there.
//! - [`Workload::next_request`] takes it. Requests come in non-decreasing arrival time;
//!   ties go to the stream listed first, then to the lower user index. It gives none when
//!   what was due waits in a benchmark client for a connection (an answer sends it).
//! - When a request finishes, call [`Workload::on_complete`] with the completion time.
//!   Closed-loop users then think and their follow-up becomes pending (peek again:
//!   it may now be the earliest). Open-loop and trace requests need no call.
//! - When a request fails or is rejected, call [`Workload::on_failed`]: the user gives
//!   up that conversation, thinks, and starts a new one (a fresh prompt, no shared history).
//!
//! A follow-up never arrives before a request already emitted: if the completion time
//! given is earlier than the last emitted arrival, the follow-up is held back to it.
//! Memory grows with streams and users, never with the number of requests generated, except
//! for the requests waiting in a benchmark client for a connection (request-rate mode with a
//! pool smaller than what the server keeps in flight, and no concurrency limit).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use rand::RngExt;
use servesim_core::hash::stable_hash;
use servesim_core::{RngStreams, SimDuration, SimTime, StreamRng};

use crate::arrival::Arrivals;
use crate::benchmark::Client;
use crate::config::{ClosedSpec, Sizes, StreamKind, WorkloadSpec};
use crate::error::{Result, TrafficError};
use crate::replay::Replay;
use crate::request::{ClassId, Request, RequestId, SessionInfo, StreamId, prompt_blocks};
use crate::stream::Stagger;
use crate::trace::TraceReader;
use crate::validate::gap;

/// The running workload. See the [module documentation](self) for the protocol.
#[derive(Debug)]
pub struct Workload {
    block_tokens: u32,
    names: Vec<String>,
    classes: Vec<String>,
    warmup_classes: Vec<bool>,
    streams: Vec<Stream>,
    /// One entry per stream (open, trace) or per user (closed) with a pending arrival.
    pending: BinaryHeap<Reverse<(SimTime, u16, u32)>>,
    /// Closed-loop and benchmark requests awaiting their answer (stream, user; a benchmark's
    /// class): lookups only, never iterated.
    waiting: HashMap<RequestId, (u16, u32)>,
    next_id: u64,
    last: SimTime,
}

#[derive(Debug)]
struct Stream {
    class: ClassId,
    /// Keeps this stream's block ids apart from every other stream's.
    namespace: u64,
    shared_prefix: u32,
    end: SimTime,
    source: Source,
}

/// What a benchmark stream's pending entry is (in the place of a closed-loop entry's user):
/// a request that waited for a connection and is sent now, or a request the client issues.
/// At one instant the waiting ones go first, so requests are sent in the order they were
/// issued (and the warm-up is the first requests issued).
const RELEASE: u32 = 0;
const ISSUE: u32 = 1;

#[derive(Debug)]
enum Source {
    Open(Box<Open>),
    Closed {
        spec: Arc<ClosedSpec>,
        users: Vec<User>,
    },
    Trace(Box<Replay>),
    Benchmark(Box<Client>),
}

#[derive(Debug)]
struct Open {
    arrivals: Arrivals,
    arrival_rng: StreamRng,
    size_rng: StreamRng,
    sizes: Sizes,
    seq: u64,
}

#[derive(Debug)]
struct User {
    rng: StreamRng,
    session: u32,
    turn: u32,
    turns: u32,
    /// Prompt of the next message.
    next_input: u32,
    /// Conversation so far (last prompt + last answer).
    context: u64,
}

impl Workload {
    /// Starts the workload of `spec`; every stream draws from its own random streams of
    /// `rng` (`traffic/<name>/arrivals`, `traffic/<name>/sizes`, `traffic/<name>/users`#u),
    /// so adding a stream never changes the draws of another. Opens trace files.
    pub fn new(spec: &WorkloadSpec, rng: &RngStreams) -> Result<Workload> {
        let mut w = Workload {
            block_tokens: spec.block_tokens,
            names: spec.streams.iter().map(|s| s.name.clone()).collect(),
            classes: spec.classes.clone(),
            warmup_classes: spec.warmup_classes.clone(),
            streams: Vec::with_capacity(spec.streams.len()),
            pending: BinaryHeap::new(),
            waiting: HashMap::new(),
            next_id: 0,
            last: SimTime::ZERO,
        };
        for (i, s) in spec.streams.iter().enumerate() {
            let i = i as u16;
            let namespace = stable_hash(&("traffic", s.name.as_str()));
            let source = match &s.kind {
                StreamKind::Open { process, sizes } => {
                    let mut arrivals = Arrivals::new(process.clone(), s.start, s.end);
                    let mut arrival_rng = rng.stream(&format!("traffic/{}/arrivals", s.name));
                    if let Some(t) = arrivals.next(&mut arrival_rng) {
                        w.pending.push(Reverse((t, i, 0)));
                    }
                    Source::Open(Box::new(Open {
                        arrivals,
                        arrival_rng,
                        size_rng: rng.stream(&format!("traffic/{}/sizes", s.name)),
                        sizes: sizes.clone(),
                        seq: 0,
                    }))
                }
                StreamKind::Closed(c) => {
                    let family = format!("traffic/{}/users", s.name);
                    let join_family = format!("traffic/{}/join", s.name);
                    let users = (0..c.users)
                        .map(|u| {
                            let mut user = User {
                                rng: rng.substream(&family, u64::from(u)),
                                session: 0,
                                turn: 0,
                                turns: 0,
                                next_input: 0,
                                context: 0,
                            };
                            user.begin_session(c, s.shared_prefix);
                            let ramp = u128::from(c.ramp.as_nanos());
                            let offset = match c.stagger {
                                Stagger::Even => ramp * u128::from(u) / u128::from(c.users),
                                Stagger::Random => {
                                    let mut join = rng.substream(&join_family, u64::from(u));
                                    // A uniform 53-bit fraction of the ramp.
                                    (ramp * u128::from(join.random::<u64>() >> 11)) >> 53
                                }
                            };
                            let t = s
                                .start
                                .saturating_add(SimDuration::from_nanos(offset as u64));
                            if t < s.end {
                                w.pending.push(Reverse((t, i, u)));
                            }
                            user
                        })
                        .collect();
                    Source::Closed {
                        spec: c.clone(),
                        users,
                    }
                }
                StreamKind::Benchmark(b) => {
                    let (client, first) = Client::start(
                        b.clone(),
                        rng.stream(&format!("traffic/{}/sizes", s.name)),
                        rng.stream(&format!("traffic/{}/arrivals", s.name)),
                        rng.stream(&format!("traffic/{}/dataset", s.name)),
                        s.start,
                    );
                    for t in first.into_iter().filter(|&t| t < s.end) {
                        w.pending.push(Reverse((t, i, ISSUE)));
                    }
                    Source::Benchmark(Box::new(client))
                }
                StreamKind::Trace(t) => {
                    let mut window = t.clone();
                    let mut shift_ns = 0;
                    if t.random_start_ns > 0 {
                        let mut start = rng.stream(&format!("traffic/{}/start", s.name));
                        shift_ns = start.random_range(0..t.random_start_ns) as i64;
                        window.from_ns = window.from_ns.saturating_add(shift_ns);
                        if window.to_ns != i64::MAX {
                            window.to_ns = window.to_ns.saturating_add(shift_ns);
                        }
                    }
                    let mut replay = Box::new(Replay {
                        reader: TraceReader::open(&t.path, t.format)?,
                        spec: window,
                        shift_ns,
                        start: s.start,
                        end: s.end,
                        t0: None,
                        prev: i64::MIN,
                        seq: 0,
                        next: None,
                        error: None,
                    });
                    match replay.advance(namespace, spec.block_tokens)? {
                        Some(t) => w.pending.push(Reverse((t, i, 0))),
                        None => {
                            // Named as the file numbers its own streams.
                            let in_file = usize::from(i) - spec.preset_streams;
                            return Err(replay.replays_nothing(in_file));
                        }
                    }
                    Source::Trace(replay)
                }
            };
            w.streams.push(Stream {
                class: s.class,
                namespace,
                shared_prefix: s.shared_prefix,
                end: s.end,
                source,
            });
        }
        Ok(w)
    }

    /// Arrival time of the next request, if any (or of a request a benchmark client will
    /// issue, which may wait for a connection instead of arriving).
    pub fn peek_time(&self) -> Option<SimTime> {
        self.pending.peek().map(|Reverse((t, ..))| *t)
    }

    /// The earliest pending request, `Ok(None)` when every stream is done (closed-loop
    /// users waiting for answers may still add follow-ups later) or when what was due now
    /// waits in a benchmark client for a connection (the answer that frees one sends it). A
    /// trace row that cannot be read is returned as an error at its place in time; that
    /// stream then stops.
    pub fn next_request(&mut self) -> Result<Option<Request>> {
        while let Some(Reverse((t, s, u))) = self.pending.pop() {
            if let Some(r) = self.request_at(t, s, u)? {
                return Ok(Some(r));
            }
            if self.peek_time().is_none_or(|next| next > t) {
                break;
            }
        }
        Ok(None)
    }

    /// The request of pending entry `(t, s, u)`, `None` when a benchmark client issued it
    /// into its queue for a connection.
    fn request_at(&mut self, t: SimTime, s: u16, u: u32) -> Result<Option<Request>> {
        let block_tokens = self.block_tokens;
        let id = RequestId(self.next_id);
        let stream = &mut self.streams[usize::from(s)];
        let mut class = stream.class;
        let mut issued = t;
        let (input, output, blocks, session) = match &mut stream.source {
            Source::Open(o) => {
                let size_rng = &mut o.size_rng;
                let (input, output) = match &o.sizes {
                    Sizes::Independent { input, output } => (
                        input
                            .sample_count(size_rng, 1)
                            .saturating_add(stream.shared_prefix),
                        output.sample_count(size_rng, 1),
                    ),
                    Sizes::Empirical(rows) => {
                        let (i, o) = rows[size_rng.random_range(0..rows.len())];
                        (i.saturating_add(stream.shared_prefix), o)
                    }
                };
                let blocks = prompt_blocks(
                    stream.namespace,
                    block_tokens,
                    stream.shared_prefix,
                    o.seq,
                    input,
                );
                o.seq += 1;
                if let Some(t) = o.arrivals.next(&mut o.arrival_rng) {
                    self.pending.push(Reverse((t, s, 0)));
                }
                (input, output, blocks, None)
            }
            Source::Closed { spec, users } => {
                let user = &mut users[u as usize];
                let input = user.next_input;
                let output = spec.output.sample_count(&mut user.rng, 1);
                user.context = u64::from(input) + u64::from(output);
                self.waiting.insert(id, (s, u));
                let seq = (u64::from(u) << 32) | u64::from(user.session);
                let blocks = prompt_blocks(
                    stream.namespace,
                    block_tokens,
                    stream.shared_prefix,
                    seq,
                    input,
                );
                let info = SessionInfo {
                    user: u,
                    session: user.session,
                    turn: user.turn,
                };
                (input, output, blocks, Some(info))
            }
            Source::Benchmark(client) => {
                let send = if u == RELEASE {
                    client.release()
                } else {
                    let (send, next) = client.issue(t);
                    if let Some(next) = next.filter(|&n| n < stream.end) {
                        self.pending.push(Reverse((next, s, ISSUE)));
                    }
                    match send {
                        Some(send) => send,
                        None => return Ok(None),
                    }
                };
                issued = send.issued;
                // The class is the phase (warm-up or measured) that the answer must report.
                self.waiting.insert(id, (s, u32::from(send.class.0)));
                // The benchmark's prompt follows the stream's shared prefix, as an open
                // stream's does.
                let input = send.input.saturating_add(stream.shared_prefix);
                let blocks = prompt_blocks(
                    stream.namespace,
                    block_tokens,
                    stream.shared_prefix,
                    send.prompt,
                    input,
                );
                class = send.class;
                (input, send.output, blocks, None)
            }
            Source::Trace(replay) => {
                if let Some(e) = replay.error.take() {
                    return Err(e);
                }
                let Some((_, input, output, blocks)) = replay.next.take() else {
                    unreachable!("a trace stream is pending only with a row or an error")
                };
                match replay.advance(stream.namespace, block_tokens) {
                    Ok(Some(next)) => self.pending.push(Reverse((next, s, 0))),
                    Ok(None) => {}
                    Err(e) => {
                        // Surface the error on the next call, at this point in time.
                        replay.error = Some(e);
                        self.pending.push(Reverse((t, s, 0)));
                    }
                }
                (input, output, blocks, None)
            }
        };
        self.next_id += 1;
        self.last = t;
        Ok(Some(Request {
            id,
            arrival: t,
            issued,
            input_tokens: input,
            output_tokens: output,
            prefix_blocks: blocks,
            class,
            stream: StreamId(s),
            session,
        }))
    }

    /// Request `id` was answered in full at `at`. For a closed-loop request the user
    /// thinks, then sends the next turn (or, after the last turn, starts a new
    /// conversation). Returns whether a user was waiting on `id`; other ids are ignored.
    pub fn on_complete(&mut self, id: RequestId, at: SimTime) -> bool {
        self.finish(id, at, false)
    }

    /// Request `id` failed or was rejected at `at`: its user abandons the conversation,
    /// thinks, and starts a new one. Returns whether a user was waiting on `id`.
    pub fn on_failed(&mut self, id: RequestId, at: SimTime) -> bool {
        self.finish(id, at, true)
    }

    fn finish(&mut self, id: RequestId, at: SimTime, failed: bool) -> bool {
        let Some((s, u)) = self.waiting.remove(&id) else {
            return false;
        };
        let stream = &mut self.streams[usize::from(s)];
        let (spec, users) = match &mut stream.source {
            Source::Closed { spec, users } => (spec, users),
            Source::Benchmark(client) => {
                let end = stream.end;
                let (issues, released) = client.on_answer(ClassId(u as u16), at);
                if released {
                    // Sent now, past the stream's end too: it was issued before it.
                    self.pending.push(Reverse((at.max(self.last), s, RELEASE)));
                }
                for t in issues {
                    let t = t.max(self.last);
                    if t < end {
                        self.pending.push(Reverse((t, s, ISSUE)));
                    }
                }
                return true;
            }
            _ => unreachable!("only closed-loop and benchmark requests wait"),
        };
        let user = &mut users[u as usize];
        let think = gap(spec.think_s.sample(&mut user.rng));
        user.turn += 1;
        let mut next_session = failed || user.turn >= user.turns;
        if !next_session {
            // What a message adds to the conversation: nothing is an answer too.
            let add = spec.followup_input.sample_count(&mut user.rng, 0);
            let next = user.context + u64::from(add);
            if next <= u64::from(spec.max_input) {
                user.next_input = next as u32;
            } else {
                next_session = true;
            }
        }
        if next_session {
            user.session += 1;
            user.begin_session(spec, stream.shared_prefix);
        }
        let t = at.saturating_add(think).max(self.last);
        if t < stream.end {
            self.pending.push(Reverse((t, s, u)));
        }
        true
    }

    /// The trace streams with rows still to replay, by stream index, and when the next of
    /// them is due: at a run's end, what its time limit left out of each trace.
    pub fn traces_left(&self) -> Vec<(usize, SimTime)> {
        let mut left: Vec<(usize, SimTime)> = self
            .pending
            .iter()
            .map(|Reverse((t, s, _))| (usize::from(*s), *t))
            .filter(|&(s, _)| matches!(self.streams[s].source, Source::Trace(_)))
            .collect();
        left.sort_unstable();
        left.dedup_by_key(|(s, _)| *s);
        left
    }

    /// The benchmark streams whose clients have measured requests still unanswered, by
    /// stream index: how many of them were answered (or failed), and how many it sends.
    pub fn benchmarks_unfinished(&self) -> Vec<(usize, u64, u64)> {
        (self.streams.iter().enumerate())
            .filter_map(|(k, s)| match &s.source {
                Source::Benchmark(c) => Some((k, c.measured_returned())),
                _ => None,
            })
            .filter(|(_, (returned, measured))| returned < measured)
            .map(|(k, (returned, measured))| (k, returned, measured))
            .collect()
    }

    /// Closed-loop and benchmark requests sent and not yet completed or failed.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Tokens per prefix block.
    pub fn block_tokens(&self) -> u32 {
        self.block_tokens
    }

    /// Class names, indexed by [`ClassId`].
    pub fn class_names(&self) -> &[String] {
        &self.classes
    }

    /// Whether each class, indexed by [`ClassId`], holds a benchmark's warm-up requests,
    /// which its client does not measure.
    pub fn warmup_classes(&self) -> &[bool] {
        &self.warmup_classes
    }

    /// The name of a class.
    pub fn class_name(&self, class: ClassId) -> &str {
        &self.classes[usize::from(class.0)]
    }

    /// Stream names, indexed by [`StreamId`].
    pub fn stream_names(&self) -> &[String] {
        &self.names
    }

    /// Runs the workload alone, without a cluster, until `until` (exclusive): every
    /// closed-loop request is answered `latency` after it arrives. Calls `f` on each
    /// request in order and returns how many there were. For stats, export and tests.
    pub fn run_standalone(
        &mut self,
        until: SimTime,
        latency: SimDuration,
        mut f: impl FnMut(&Request),
    ) -> Result<u64> {
        self.drive_alone(until, latency, |r| {
            f(r);
            true
        })
    }

    /// [`Workload::run_standalone`], stopping early (before the request) when `f` returns
    /// false; returns how many requests `f` accepted.
    fn drive_alone(
        &mut self,
        until: SimTime,
        latency: SimDuration,
        mut f: impl FnMut(&Request) -> bool,
    ) -> Result<u64> {
        let mut answers: BinaryHeap<Reverse<(SimTime, RequestId)>> = BinaryHeap::new();
        let mut n = 0;
        loop {
            let arrival = self.peek_time().filter(|&t| t < until);
            let answer = answers.peek().map(|Reverse((t, _))| *t);
            match (arrival, answer) {
                (None, None) => return Ok(n),
                (Some(a), Some(d)) if a < d => {}
                (_, Some(d)) => {
                    let Some(Reverse((_, id))) = answers.pop() else {
                        unreachable!()
                    };
                    self.on_complete(id, d);
                    continue;
                }
                (Some(_), None) => {}
            }
            // None: what was due waits in a benchmark client for a connection, which an
            // answer still pending frees.
            let Some(r) = self.next_request()? else {
                continue;
            };
            if self.waiting.contains_key(&r.id) {
                answers.push(Reverse((r.arrival.saturating_add(latency), r.id)));
            }
            if !f(&r) {
                return Ok(n);
            }
            n += 1;
        }
    }
}

/// A workload run alone, without a cluster: what `servesim traffic stats` and `export` and
/// Python's `servesim.traffic.generate` run.
///
/// Open-loop and trace streams come out exactly as a cluster simulation with the same seed
/// sees them (the same named random streams). Closed-loop users need their answers to go on:
/// with no cluster here, every closed-loop request is answered `response` after it arrives,
/// then its user thinks (`think_s`) and sends the next turn. With `response` zero the
/// closed-loop streams run at the fastest pace their think times allow; a served run's
/// follow-ups come later, by the cluster's latency.
#[derive(Clone, Copy, Debug)]
pub struct Standalone {
    /// The run seed (a scenario's `seed:`).
    pub seed: u64,
    /// Requests arriving at or after this time are left out. `None` runs until every stream
    /// ends; a workload with a stream that never ends is then a `Config` error on field
    /// `until`.
    pub until: Option<SimTime>,
    /// How long after its arrival a closed-loop request is answered.
    pub response: SimDuration,
    /// Most requests to generate; one more is a `Config` error on field `max_requests`
    /// (a guard against closed loops with zero think and response times, which never
    /// advance the clock). `None`: no limit.
    pub max_requests: Option<u64>,
}

/// What a [`Standalone`] run of a workload sent, and what it left out.
#[derive(Clone, Debug, PartialEq)]
pub struct Driven {
    /// Requests sent.
    pub requests: u64,
    /// The trace streams with rows at or after the run's end, which it never sent: each
    /// stream's name and when its next row would have come.
    pub traces_cut: Vec<(String, SimTime)>,
}

impl Standalone {
    /// Runs `spec`: calls `f` on each request in arrival order and returns how many there
    /// were.
    pub fn run(&self, spec: &WorkloadSpec, f: impl FnMut(&Request)) -> Result<u64> {
        self.drive(spec, f).map(|d| d.requests)
    }

    /// As [`Standalone::run`], with the traces the run's end cut short.
    pub fn drive(&self, spec: &WorkloadSpec, mut f: impl FnMut(&Request)) -> Result<Driven> {
        let until = match self.until {
            Some(t) => t,
            None if spec.is_unbounded() => {
                return Err(TrafficError::config(
                    "until",
                    "a stream of this workload never ends, so a run of it needs a time limit",
                ));
            }
            None => SimTime::MAX,
        };
        let limit = self.max_requests.unwrap_or(u64::MAX);
        let mut w = Workload::new(spec, &RngStreams::new(self.seed))?;
        let mut n = 0u64;
        let mut over = None;
        w.drive_alone(until, self.response, |r| {
            if n == limit {
                over = Some(r.arrival);
                return false;
            }
            n += 1;
            f(r);
            true
        })?;
        if let Some(t) = over {
            return Err(TrafficError::config(
                "max_requests",
                format!(
                    "more than {limit} requests by {:.3} s: give a shorter time limit or a \
                     larger limit",
                    t.as_secs_f64()
                ),
            ));
        }
        let names = w.stream_names();
        let traces_cut = (w.traces_left().into_iter())
            .map(|(stream, next)| (names[stream].clone(), next))
            .collect();
        Ok(Driven {
            requests: n,
            traces_cut,
        })
    }
}

// The cluster world may move the workload across threads (e.g. the Python binding).
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Workload>();
};

impl User {
    fn begin_session(&mut self, spec: &ClosedSpec, shared_prefix: u32) {
        self.turn = 0;
        self.turns = spec.turns.sample_count(&mut self.rng, 1);
        // A first message over the cap is cut to it (the later ones end the conversation).
        self.next_input = spec
            .first_input
            .sample_count(&mut self.rng, 1)
            .saturating_add(shared_prefix)
            .min(spec.max_input);
        self.context = 0;
    }
}
