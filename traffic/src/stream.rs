//! One stream of a workload as written in a scenario file: open-loop arrivals, closed-loop
//! users or a replayed trace (see [`crate::config`] for the whole `traffic:` section).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::arrival::ArrivalConfig;
use crate::benchmark::BenchmarkConfig;
use crate::dist::DistConfig;
pub use crate::stagger::Stagger;
use crate::trace::TraceFormat;

/// Most closed-loop users in one stream (each holds a little state for the whole run).
pub const MAX_USERS: u32 = 1_000_000;

fn one() -> f64 {
    1.0
}

/// One stream. Exactly one of `open`, `closed`, `trace` and `benchmark` is given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Unique name; also names the stream's random streams (`traffic/<name>/...`).
    pub name: String,
    /// Class label for reports (default: the stream's name).
    #[serde(default)]
    pub class: Option<String>,
    /// Start of the window (simulated seconds).
    #[serde(default)]
    pub start_s: f64,
    /// End of the window (exclusive); none means the stream never ends.
    #[serde(default)]
    pub end_s: Option<f64>,
    /// Leading prompt tokens common to every request of the stream (a system prompt),
    /// added to the sampled (or empirical) input sizes; not for trace streams.
    #[serde(default)]
    pub shared_prefix_tokens: u32,
    /// Open-loop arrivals.
    #[serde(default)]
    pub open: Option<OpenConfig>,
    /// Closed-loop users.
    #[serde(default)]
    pub closed: Option<ClosedConfig>,
    /// Trace replay.
    #[serde(default)]
    pub trace: Option<TraceConfig>,
    /// A benchmark client (aiperf's concurrency or request-rate mode, warm-up first).
    #[serde(default)]
    pub benchmark: Option<BenchmarkConfig>,
}

/// Open-loop stream: an arrival process and sizes (either `input` and `output`, or
/// `sizes_from` a trace).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenConfig {
    /// When requests arrive.
    pub arrival: ArrivalConfig,
    /// Prompt tokens (on top of `shared_prefix_tokens`).
    #[serde(default)]
    pub input: Option<DistConfig>,
    /// Output tokens.
    #[serde(default)]
    pub output: Option<DistConfig>,
    /// Empirical sizes: rows drawn uniformly from this trace, input and output kept together.
    #[serde(default)]
    pub sizes_from: Option<TraceFileConfig>,
}

/// A trace file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceFileConfig {
    /// Path, relative to the scenario file's folder.
    pub path: PathBuf,
    /// Its format.
    pub format: TraceFormat,
}

/// Closed-loop users holding conversations (see [`crate::workload`] for the protocol).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosedConfig {
    /// Number of users.
    pub users: u32,
    /// Users join over this many seconds from `start_s`, spread by `stagger` (default 0: all
    /// at once).
    #[serde(default)]
    pub ramp_s: f64,
    /// How users are spread over the ramp.
    #[serde(default)]
    pub stagger: Stagger,
    /// Tokens of a conversation's first message (on top of `shared_prefix_tokens`).
    pub first_input: DistConfig,
    /// Tokens each follow-up message adds to the conversation so far.
    pub followup_input: DistConfig,
    /// Output tokens of every answer.
    pub output: DistConfig,
    /// Seconds between an answer and the user's next message (or next conversation).
    pub think_s: DistConfig,
    /// Turns per conversation (at least 1).
    pub turns: DistConfig,
    /// A conversation whose next prompt would exceed this ends there instead; a first prompt
    /// over it (system prompt included) is cut to it. More than `shared_prefix_tokens`.
    #[serde(default)]
    pub max_input_tokens: Option<u32>,
}

/// Trace replay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceConfig {
    /// Path, relative to the scenario file's folder.
    pub path: PathBuf,
    /// Its format.
    pub format: TraceFormat,
    /// Time speed-up: 2 replays twice as fast (twice the rate), 0.5 half as fast.
    #[serde(default = "one")]
    pub speed: f64,
    /// Replay from this many trace seconds after the first row (default 0).
    #[serde(default)]
    pub from_s: f64,
    /// Stop this many trace seconds after the first row.
    #[serde(default)]
    pub to_s: Option<f64>,
    /// Shift the window (`from_s`, and `to_s` when given) by a uniform random time in
    /// `[0, random_start_s)` trace seconds, drawn per seed from the stream's
    /// `traffic/<name>/start` random stream: each seed replays a different stretch of the
    /// trace, so that seeds of a replay vary as runs on different days would (default 0:
    /// every seed replays the same requests).
    #[serde(default)]
    pub random_start_s: f64,
}

impl StreamConfig {
    /// Multiplies the stream's load by `factor` (a positive number): every rate of an
    /// open-loop stream's arrivals, a trace's replay speed, a benchmark's request rate.
    /// Closed-loop users and a benchmark's concurrency are a
    /// population, not a rate: they are left as they are. Returns whether it changed anything.
    pub fn scale_rates(&mut self, factor: f64) -> bool {
        let mut scaled = false;
        if let Some(open) = &mut self.open {
            open.arrival.scale_rates(factor);
            scaled = true;
        }
        if let Some(trace) = &mut self.trace {
            trace.speed *= factor;
            scaled = true;
        }
        if let Some(benchmark) = &mut self.benchmark {
            scaled |= benchmark.scale_rates(factor);
        }
        scaled
    }

    /// A stream of closed-loop users, open from time zero, no shared prefix.
    pub fn closed(name: &str, closed: ClosedConfig) -> Self {
        StreamConfig {
            closed: Some(closed),
            ..Self::empty(name)
        }
    }

    /// A benchmark client's stream, open from time zero, no shared prefix.
    pub fn benchmark(name: &str, benchmark: BenchmarkConfig) -> Self {
        StreamConfig {
            benchmark: Some(benchmark),
            ..Self::empty(name)
        }
    }

    /// A trace replayed, open from time zero, no shared prefix.
    pub fn trace(name: &str, trace: TraceConfig) -> Self {
        StreamConfig {
            trace: Some(trace),
            ..Self::empty(name)
        }
    }

    /// A stream of open-loop arrivals, open from time zero, no shared prefix.
    pub fn open(name: &str, open: OpenConfig) -> Self {
        StreamConfig {
            open: Some(open),
            ..Self::empty(name)
        }
    }

    fn empty(name: &str) -> Self {
        StreamConfig {
            name: name.to_string(),
            class: None,
            start_s: 0.0,
            end_s: None,
            shared_prefix_tokens: 0,
            open: None,
            closed: None,
            trace: None,
            benchmark: None,
        }
    }
}

impl ClosedConfig {
    /// `users` users who each send one fixed-size prompt at a time and the next as soon as
    /// the answer is in (one turn, no think time): a benchmark client's concurrency mode.
    pub fn one_turn_fixed(users: u32, input_tokens: u32, output_tokens: u32) -> Self {
        let fixed = |value: f64| DistConfig::Fixed { value };
        ClosedConfig {
            users,
            ramp_s: 0.0,
            stagger: Stagger::default(),
            first_input: fixed(f64::from(input_tokens)),
            followup_input: fixed(0.0),
            output: fixed(f64::from(output_tokens)),
            think_s: fixed(0.0),
            turns: fixed(1.0),
            max_input_tokens: None,
        }
    }
}
