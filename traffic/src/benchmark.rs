//! A benchmark client as a stream: what `aiperf` (and `genai-perf` before it) sends to a
//! server when asked for a concurrency or a request rate, with a warm-up that is not counted.
//!
//! ```yaml
//! - name: bench
//!   benchmark:
//!     concurrency: 64         # or request_rate: 10 (requests/s), or both (rate, at most 64 in flight)
//!     warmup_requests: 128    # aiperf --warmup-request-count
//!     requests: 1280          # aiperf --request-count: the measured ones
//!     isl: 4000               # --synthetic-input-tokens-mean, --synthetic-input-tokens-stddev
//!     isl_stddev: 0
//!     osl: 500                # --output-tokens-mean, --output-tokens-stddev (with ignore_eos)
//!     osl_stddev: 0
//!     dataset_entries: 100    # --num-dataset-entries (omitted: every prompt fresh)
//!     connections: 100        # the client's HTTP connection pool (omitted: no limit)
//! ```
//!
//! # What the client does (aiperf's timing manager and dataset, v0.2.0 to v0.13.0)
//!
//! - **Concurrency mode**: `concurrency` credits are issued at once when the stream starts
//!   (every user sends together; `ramp_s` spreads them instead), and each answer frees its
//!   credit for the next request, sent at once (no think time). The client keeps
//!   `concurrency` requests in flight until it has sent them all.
//! - **Request-rate mode**: requests are sent at `request_rate` per second, Poisson or at a
//!   constant interval (`arrival`); with `concurrency` as well, a request due while that many
//!   are in flight waits for the next answer.
//! - **Warm-up, then the measured phase**: the first `warmup_requests` requests form the
//!   warm-up phase and carry the class `<class>.warmup`; the next `requests` are measured and
//!   carry the stream's class. aiperf waits until every warm-up credit has come back before
//!   it starts the profiling phase ("Wait for the credits to be returned before continuing
//!   to the next phase", `CreditIssuingStrategy._execute_phases` in v0.2.0 and v0.3.0; a
//!   phase's `seamless` is `False` by default in v0.13.0), so the measured phase starts
//!   afresh, its users together again, or spread over `ramp_s` anew as the warm-up's were
//!   (`between_phases: drain`, the default).
//!   `between_phases: continue` lets the measured requests follow the warm-up's as slots
//!   free up, as a seamless phase does.
//! - **Sizes**: prompt and output lengths are drawn from normal distributions with the given
//!   means and standard deviations, rounded, at least 1 (aiperf's synthetic prompt
//!   generator and `--output-tokens-*`); outputs run to their length (`ignore_eos`). Every
//!   prompt is fresh (no prefix shared beyond the stream's `shared_prefix_tokens`), unless
//!   `dataset_entries` gives the client a dataset as aiperf's (see [`crate::dataset`]):
//!   then prompts repeat, pass after pass, each entry with its own lengths.
//!
//! - **Connections**: an HTTP client sends each request over a connection of its pool, and a
//!   request issued while every connection is busy waits in the client for one, first come
//!   first served (aiohttp's `TCPConnector(limit=…)`, 100 by default, and httpx's
//!   `Limits(max_connections=…)`, 100 by default, both queue such requests in order). Its
//!   latencies count from when it was issued, as the client times them (the wait is in the
//!   client's TTFT, not in the server's). aiperf's pool is `AIPERF_HTTP_CONNECTION_LIMIT`,
//!   2,500 a worker process by default (v0.1.1 to v0.3.0), which no concurrency of the
//!   shipped rows reaches in one worker; `connections` models a client whose pool is
//!   smaller than its concurrency. A request still waiting in the client when a run ends
//!   never reached the cluster, so the run's metrics do not count it.
//!
//! What the client reports about the measured requests (means, percentiles, TPOT as
//! `(e2e − ttft) / (osl − 1)` per request, output throughput) is computed from the
//! simulation's request records by whoever runs it (servesim's `validate`).

use std::collections::VecDeque;
use std::sync::Arc;

use rand::RngExt;
use rand_distr::{Distribution, Exp};
use serde::{Deserialize, Serialize};
use servesim_core::{SimDuration, SimTime, StreamRng};

use crate::dataset::{Dataset, MAX_DATASET_ENTRIES};
use crate::dist::{Dist, DistConfig};
use crate::error::{Result, TrafficError};
use crate::request::ClassId;
use crate::stagger::Stagger;
use crate::validate::{check_nonneg, check_pos, gap, span};

/// Most requests one benchmark stream may send (warm-up and measured together).
pub const MAX_BENCHMARK_REQUESTS: u64 = 100_000_000;

/// A benchmark client, as written in a scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkConfig {
    /// Requests kept in flight (concurrency mode), or the most in flight in request-rate mode.
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Requests per second (request-rate mode).
    #[serde(default)]
    pub request_rate: Option<f64>,
    /// How requests are spread in request-rate mode (default `poisson`).
    #[serde(default)]
    pub arrival: Option<RateArrival>,
    /// Requests sent first and not measured (class `<class>.warmup`).
    #[serde(default)]
    pub warmup_requests: u32,
    /// Measured requests, sent after the warm-up.
    pub requests: u32,
    /// What happens between the warm-up and the measured phase.
    #[serde(default)]
    pub between_phases: BetweenPhases,
    /// Concurrency mode: the users send the first requests of each phase (the warm-up's,
    /// and the measured phase's after a drain) over this many seconds instead of at once
    /// (default 0), spread by `stagger`.
    #[serde(default)]
    pub ramp_s: f64,
    /// How the users are spread over `ramp_s`: evenly, or each at an independent uniform
    /// time (the phases that independent client jitter leaves a long-running closed loop in).
    #[serde(default)]
    pub stagger: Stagger,
    /// Mean prompt tokens (on top of the stream's `shared_prefix_tokens`).
    pub isl: f64,
    /// Standard deviation of the prompt tokens (default 0).
    #[serde(default)]
    pub isl_stddev: f64,
    /// Mean output tokens.
    pub osl: f64,
    /// Standard deviation of the output tokens (default 0).
    #[serde(default)]
    pub osl_stddev: f64,
    /// Draw the prompts from a dataset of this many entries, as aiperf does
    /// (`--num-dataset-entries`, 100 by default there): each entry a prompt and output
    /// length drawn once, handed out in a shuffled order, pass after pass, so a longer run
    /// repeats prompts (see [`crate::dataset`]). None (the default): every prompt fresh.
    #[serde(default)]
    pub dataset_entries: Option<u32>,
    /// The client's connection pool: at most this many requests at the server, a request
    /// issued while all are busy waiting in the client for one (first come, first served),
    /// its latencies counted from when it was issued (aiohttp's and httpx's pools hold 100
    /// by default). None (the default): no limit.
    #[serde(default)]
    pub connections: Option<u32>,
}

/// Arrivals of request-rate mode.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RateArrival {
    /// Exponential gaps of mean `1 / request_rate`.
    #[default]
    Poisson,
    /// Gaps of exactly `1 / request_rate`.
    Constant,
}

/// What the client does between its warm-up and its measured phase.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BetweenPhases {
    /// The measured requests follow the warm-up's under the same concurrency limit.
    Continue,
    /// Every warm-up request is answered first; then the measured phase starts afresh
    /// (aiperf's phases, see the module documentation).
    #[default]
    Drain,
}

impl BenchmarkConfig {
    /// aiperf's concurrency mode: `concurrency` users, `warmup_requests` not measured, then
    /// `requests` measured, every prompt `isl` tokens and every answer `osl` tokens.
    pub fn concurrency(
        concurrency: u32,
        warmup_requests: u32,
        requests: u32,
        isl: u32,
        osl: u32,
    ) -> Self {
        BenchmarkConfig {
            concurrency: Some(concurrency),
            request_rate: None,
            arrival: None,
            warmup_requests,
            requests,
            between_phases: BetweenPhases::default(),
            ramp_s: 0.0,
            stagger: Stagger::default(),
            isl: f64::from(isl),
            isl_stddev: 0.0,
            osl: f64::from(osl),
            osl_stddev: 0.0,
            dataset_entries: None,
            connections: None,
        }
    }

    /// Checks every figure; `field` is the config's path (`traffic.streams[0].benchmark`).
    pub(crate) fn validate(
        &self,
        field: &str,
        class: ClassId,
        warmup_class: ClassId,
    ) -> Result<BenchmarkSpec> {
        let f = |name: &str| format!("{field}.{name}");
        let rate = match self.request_rate {
            None => None,
            Some(r) => Some(check_pos(&f("request_rate"), r)?),
        };
        if let Some(0) = self.concurrency {
            return Err(TrafficError::config(f("concurrency"), "must be > 0, got 0"));
        }
        let concurrency = match (self.concurrency, rate) {
            (None, None) => {
                return Err(TrafficError::config(
                    field,
                    "give `concurrency`, `request_rate`, or both",
                ));
            }
            (c, _) => c,
        };
        if self.requests == 0 {
            return Err(TrafficError::config(f("requests"), "must be > 0, got 0"));
        }
        if u64::from(self.requests) + u64::from(self.warmup_requests) > MAX_BENCHMARK_REQUESTS {
            return Err(TrafficError::config(
                f("requests"),
                format!("with warmup_requests, more than {MAX_BENCHMARK_REQUESTS} requests"),
            ));
        }
        if rate.is_none() && self.arrival.is_some() {
            return Err(TrafficError::config(
                f("arrival"),
                "spreads the requests of request-rate mode (request_rate); in concurrency \
                 mode each user sends when its last answer ends",
            ));
        }
        if rate.is_some() && self.ramp_s != 0.0 {
            return Err(TrafficError::config(
                f("ramp_s"),
                "spreads the users of concurrency mode; request-rate mode has no ramp",
            ));
        }
        if rate.is_some() && self.stagger == Stagger::Random {
            return Err(TrafficError::config(
                f("stagger"),
                "spreads the users of concurrency mode over ramp_s; request-rate mode's \
                 requests follow `arrival`",
            ));
        }
        if let Some(n) = self.dataset_entries
            && !(1..=MAX_DATASET_ENTRIES).contains(&n)
        {
            return Err(TrafficError::config(
                f("dataset_entries"),
                format!("must be 1 to {MAX_DATASET_ENTRIES}, got {n}"),
            ));
        }
        if let Some(0) = self.connections {
            return Err(TrafficError::config(f("connections"), "must be > 0, got 0"));
        }
        let size = |mean_name: &str, mean: f64, std_name: &str, std: f64| -> Result<Dist> {
            check_pos(&f(mean_name), mean)?;
            check_nonneg(&f(std_name), std)?;
            // As an open stream's sizes: a token count the simulator holds.
            if mean > f64::from(u32::MAX) {
                return Err(TrafficError::config(
                    f(mean_name),
                    format!(
                        "{mean:e} tokens is more than this simulator accepts (at most {})",
                        u32::MAX
                    ),
                ));
            }
            let config = if std == 0.0 {
                DistConfig::Fixed {
                    value: mean.round().max(1.0),
                }
            } else {
                DistConfig::Normal {
                    mean,
                    std,
                    min: Some(1.0),
                    max: None,
                }
            };
            config.validate(&f(mean_name))
        };
        Ok(BenchmarkSpec {
            concurrency,
            rate: rate.map(|r| (r, self.arrival.unwrap_or_default())),
            warmup: self.warmup_requests,
            measured: self.requests,
            between: self.between_phases,
            ramp: span(&f("ramp_s"), self.ramp_s)?,
            stagger: self.stagger,
            isl: size("isl", self.isl, "isl_stddev", self.isl_stddev)?,
            osl: size("osl", self.osl, "osl_stddev", self.osl_stddev)?,
            dataset_entries: self.dataset_entries,
            connections: self.connections,
            class,
            warmup_class,
        })
    }

    /// Multiplies the request rate by `factor`; a concurrency is left as it is. Returns
    /// whether it changed anything.
    pub(crate) fn scale_rates(&mut self, factor: f64) -> bool {
        match &mut self.request_rate {
            Some(r) => {
                *r *= factor;
                true
            }
            None => false,
        }
    }
}

/// A validated benchmark client.
#[derive(Clone, Debug)]
pub(crate) struct BenchmarkSpec {
    concurrency: Option<u32>,
    rate: Option<(f64, RateArrival)>,
    warmup: u32,
    measured: u32,
    between: BetweenPhases,
    ramp: SimDuration,
    stagger: Stagger,
    isl: Dist,
    osl: Dist,
    dataset_entries: Option<u32>,
    connections: Option<u32>,
    class: ClassId,
    warmup_class: ClassId,
}

impl BenchmarkSpec {
    /// Prompt tokens of each request.
    pub(crate) fn isl(&self) -> &Dist {
        &self.isl
    }

    /// Output tokens of each request.
    pub(crate) fn osl(&self) -> &Dist {
        &self.osl
    }
}

/// A benchmark client running: which phase it is in, what it sent, what is in flight.
#[derive(Debug)]
pub(crate) struct Client {
    spec: Arc<BenchmarkSpec>,
    size_rng: StreamRng,
    arrival_rng: StreamRng,
    /// The prompts to draw from, when the client has a dataset.
    dataset: Option<Dataset>,
    /// Issue times handed out so far (pending, waiting for a connection, or sent), warm-up
    /// first.
    issued: u64,
    /// Requests sent so far.
    sent: u64,
    /// Warm-up requests answered (or failed).
    warmup_returned: u32,
    /// Measured requests answered (or failed).
    measured_returned: u64,
    /// Requests issued and not yet answered, waiting for a connection or at the server
    /// (aiperf's concurrency counts a request from its credit).
    in_flight: u32,
    /// Request-rate mode: the next request's due time, when it waits for a free slot.
    held: Option<SimTime>,
    /// When each request waiting in the client for a connection was issued, oldest first.
    queued: VecDeque<SimTime>,
    /// When each request handed a connection by an answer, and not yet sent, was issued.
    released: VecDeque<SimTime>,
}

/// A request the client sends now.
#[derive(Debug)]
pub(crate) struct Send {
    /// When it was issued: now, or earlier when it waited for a connection.
    pub issued: SimTime,
    pub input: u32,
    pub output: u32,
    pub class: ClassId,
    /// Which prompt it carries: its index among the client's requests (warm-up first)
    /// when every prompt is fresh, its dataset entry otherwise. Equal ids, equal content.
    pub prompt: u64,
}

impl Client {
    /// The client at `start`, with the send times it has pending now.
    pub(crate) fn start(
        spec: Arc<BenchmarkSpec>,
        mut size_rng: StreamRng,
        arrival_rng: StreamRng,
        shuffle_rng: StreamRng,
        start: SimTime,
    ) -> (Client, Vec<SimTime>) {
        let dataset = spec
            .dataset_entries
            .map(|n| Dataset::generate(n, &spec.isl, &spec.osl, &mut size_rng, shuffle_rng));
        let mut client = Client {
            spec,
            size_rng,
            arrival_rng,
            dataset,
            issued: 0,
            sent: 0,
            warmup_returned: 0,
            measured_returned: 0,
            in_flight: 0,
            held: None,
            queued: VecDeque::new(),
            released: VecDeque::new(),
        };
        // A draining client's first phase is the warm-up alone; otherwise the measured
        // requests follow the warm-up's under the same limit.
        let first = if client.drains() {
            u64::from(client.spec.warmup)
        } else {
            client.total()
        };
        let times = client.phase_start(start, first);
        (client, times)
    }

    fn total(&self) -> u64 {
        u64::from(self.spec.warmup) + u64::from(self.spec.measured)
    }

    /// Measured requests answered (or failed) so far, and how many the client sends.
    pub(crate) fn measured_returned(&self) -> (u64, u64) {
        (self.measured_returned, u64::from(self.spec.measured))
    }

    /// Whether the measured phase waits for the warm-up to be answered.
    fn drains(&self) -> bool {
        self.spec.between == BetweenPhases::Drain && self.spec.warmup > 0
    }

    /// Send times at the start of a phase of `size` requests: every user at once (or over
    /// the ramp) in concurrency mode, the first request in request-rate mode.
    fn phase_start(&mut self, at: SimTime, size: u64) -> Vec<SimTime> {
        let users = match self.spec.rate {
            Some(_) => 1,
            None => u64::from(self.spec.concurrency.unwrap_or(1)).min(size),
        };
        self.issued += users;
        let ramp = u128::from(self.spec.ramp.as_nanos());
        let mut times: Vec<SimTime> = (0..users)
            .map(|u| {
                let offset = match self.spec.stagger {
                    Stagger::Even => ramp * u128::from(u) / u128::from(users),
                    // A uniform 53-bit fraction of the ramp.
                    Stagger::Random => {
                        (ramp * u128::from(self.arrival_rng.random::<u64>() >> 11)) >> 53
                    }
                };
                at.saturating_add(SimDuration::from_nanos(offset as u64))
            })
            .collect();
        times.sort_unstable();
        times
    }

    /// Whether the next request may be handed out now: some are left, and the warm-up is
    /// not being drained.
    fn may_issue(&self) -> bool {
        let warmup = u64::from(self.spec.warmup);
        let draining =
            self.drains() && self.issued == warmup && self.warmup_returned < self.spec.warmup;
        self.issued < self.total() && !draining
    }

    /// Issues the next request at `at`: returns it when a connection is free (else it waits
    /// in the client, [`Client::release`]) and, in request-rate mode, when the one after it
    /// is due (`None` when it must wait for an answer or none is left).
    pub(crate) fn issue(&mut self, at: SimTime) -> (Option<Send>, Option<SimTime>) {
        let pool_full = self.spec.connections.is_some_and(|c| self.connected() >= c);
        // aiperf's concurrency counts a request from its credit, before any connection.
        self.in_flight += 1;
        let next = match self.spec.rate {
            Some((rate, arrival)) if self.may_issue() => {
                self.issued += 1;
                let due =
                    at.saturating_add(match arrival {
                        RateArrival::Constant => gap(1.0 / rate),
                        RateArrival::Poisson => gap(Exp::new(rate)
                            .map_or(f64::INFINITY, |e| e.sample(&mut self.arrival_rng))),
                    });
                if self.spec.concurrency.is_some_and(|c| self.in_flight >= c) {
                    self.held = Some(due);
                    None
                } else {
                    Some(due)
                }
            }
            _ => None,
        };
        if pool_full {
            self.queued.push_back(at);
            return (None, next);
        }
        (Some(self.send(at)), next)
    }

    /// Connections of the pool taken: by requests at the server, and by those an answer
    /// handed one and about to be sent; every request issued and not yet answered but those
    /// still waiting.
    fn connected(&self) -> u32 {
        self.in_flight - self.queued.len() as u32
    }

    /// Sends the request that has waited longest for a connection; [`Client::on_answer`]
    /// handed it one.
    pub(crate) fn release(&mut self) -> Send {
        let issued = self
            .released
            .pop_front()
            .expect("a release follows an answer that handed a waiting request its connection");
        self.send(issued)
    }

    /// The request issued at `issued`, its size and prompt drawn as it is sent.
    fn send(&mut self, issued: SimTime) -> Send {
        let seq = self.sent;
        let warmup = seq < u64::from(self.spec.warmup);
        self.sent += 1;
        let (prompt, input, output) = match &mut self.dataset {
            Some(d) => {
                let e = d.next();
                (u64::from(e.index), e.input, e.output)
            }
            None => (
                seq,
                self.spec.isl.sample_count(&mut self.size_rng, 1),
                self.spec.osl.sample_count(&mut self.size_rng, 1),
            ),
        };
        Send {
            issued,
            input,
            output,
            class: if warmup {
                self.spec.warmup_class
            } else {
                self.spec.class
            },
            prompt,
        }
    }

    /// A request of class `class` was answered (or failed) at `at`; returns the issue times
    /// this frees and whether its connection went to a request waiting in the client (to be
    /// sent now, [`Client::release`]).
    pub(crate) fn on_answer(&mut self, class: ClassId, at: SimTime) -> (Vec<SimTime>, bool) {
        self.in_flight -= 1;
        // The connection goes to the request that has waited longest, if any.
        let released = match self.queued.pop_front() {
            Some(issued) => {
                self.released.push_back(issued);
                true
            }
            None => false,
        };
        (self.freed(class, at), released)
    }

    fn freed(&mut self, class: ClassId, at: SimTime) -> Vec<SimTime> {
        if class == self.spec.warmup_class && self.spec.warmup > 0 {
            self.warmup_returned += 1;
            if self.drains() && self.warmup_returned == self.spec.warmup {
                // The measured phase starts afresh, all its users together.
                return self.phase_start(at, u64::from(self.spec.measured));
            }
        } else {
            self.measured_returned += 1;
        }
        match self.spec.rate {
            // A request due while the limit was in flight goes now.
            Some(_) => self
                .held
                .take()
                .map(|due| due.max(at))
                .into_iter()
                .collect(),
            None if self.may_issue() => {
                self.issued += 1;
                vec![at]
            }
            None => Vec::new(),
        }
    }
}
