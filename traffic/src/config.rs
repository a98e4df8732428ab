//! The workload as written in a scenario file, and its validation into a [`WorkloadSpec`].
//!
//! ```yaml
//! traffic:
//!   block_tokens: 512            # prefix-block size, default 512 (as in Mooncake)
//!   preset: airline              # optional; figures overridable under `airline:`
//!   airline: {storm_users: 300}
//!   streams:
//!     - name: batch
//!       class: summarise
//!       start_s: 0
//!       end_s: 3600
//!       open:
//!         arrival: {kind: gamma, rate_per_s: 2, cv: 3}
//!         input: {kind: lognormal, mean: 3000, p50: 2000}
//!         output: {kind: fixed, value: 200}
//!     - name: replay
//!       trace: {path: data/traces/azure_llm_2023_conv.csv.gz, format: azure, speed: 2}
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use servesim_core::{SimDuration, SimTime};

use crate::arrival::ArrivalProcess;
use crate::benchmark::BenchmarkSpec;
use crate::dist::Dist;
use crate::error::{Result, TrafficError};
use crate::preset::AirlineConfig;
use crate::request::ClassId;
use crate::stream::{MAX_USERS, Stagger, StreamConfig};
use crate::trace::{TraceFormat, read_sizes};
use crate::validate::{check_pos, instant, span};

/// Default prefix-block size, in tokens (Mooncake's).
pub const DEFAULT_BLOCK_TOKENS: u32 = 512;

fn default_block_tokens() -> u32 {
    DEFAULT_BLOCK_TOKENS
}

/// A workload: named streams, each with its time window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadConfig {
    /// Tokens per prefix block (default 512).
    #[serde(default = "default_block_tokens")]
    pub block_tokens: u32,
    /// A built-in mix whose streams come before `streams`.
    #[serde(default)]
    pub preset: Option<Preset>,
    /// Overrides of the airline preset's figures (needs `preset: airline`).
    #[serde(default)]
    pub airline: Option<AirlineConfig>,
    /// The streams.
    #[serde(default)]
    pub streams: Vec<StreamConfig>,
}

/// Built-in mixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// Passenger questions plus a storm of closed-loop rerouting conversations
    /// (see [`AirlineConfig`]).
    Airline,
}

/// A validated workload, immutable; [`crate::Workload::new`] runs it.
#[derive(Clone, Debug)]
pub struct WorkloadSpec {
    pub(crate) block_tokens: u32,
    pub(crate) streams: Vec<StreamSpec>,
    /// How many of `streams`, the first, a preset made (the file's own follow).
    pub(crate) preset_streams: usize,
    pub(crate) classes: Vec<String>,
    /// Whether each class (by [`ClassId`]) holds a benchmark's warm-up requests.
    pub(crate) warmup_classes: Vec<bool>,
}

#[derive(Clone, Debug)]
pub(crate) struct StreamSpec {
    pub name: String,
    pub class: ClassId,
    pub start: SimTime,
    pub end: SimTime,
    pub shared_prefix: u32,
    pub kind: StreamKind,
}

#[derive(Clone, Debug)]
pub(crate) enum StreamKind {
    Open {
        process: ArrivalProcess,
        sizes: Sizes,
    },
    Closed(Arc<ClosedSpec>),
    Trace(TraceSpec),
    Benchmark(Arc<BenchmarkSpec>),
}

#[derive(Clone, Debug)]
pub(crate) enum Sizes {
    Independent { input: Dist, output: Dist },
    Empirical(Arc<[(u32, u32)]>),
}

#[derive(Clone, Debug)]
pub(crate) struct ClosedSpec {
    pub users: u32,
    pub ramp: SimDuration,
    pub stagger: Stagger,
    pub first_input: Dist,
    pub followup_input: Dist,
    pub output: Dist,
    pub think_s: Dist,
    pub turns: Dist,
    pub max_input: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct TraceSpec {
    pub path: PathBuf,
    pub format: TraceFormat,
    pub speed: f64,
    pub from_ns: i64,
    pub to_ns: i64,
    pub random_start_ns: u64,
}

impl WorkloadSpec {
    /// Whether some stream's requests wait for answers to earlier ones (closed-loop users,
    /// benchmark clients): run without a cluster, their times are the answers' assumed ones.
    pub fn waits_for_answers(&self) -> bool {
        self.streams
            .iter()
            .any(|s| matches!(s.kind, StreamKind::Closed(_) | StreamKind::Benchmark(_)))
    }

    /// Tokens per prefix block.
    pub fn block_tokens(&self) -> u32 {
        self.block_tokens
    }

    /// Names of the streams, by [`crate::StreamId`].
    pub fn stream_names(&self) -> impl Iterator<Item = &str> {
        self.streams.iter().map(|s| s.name.as_str())
    }

    /// The fewest tokens (prompt, shared prefix included, and output) a request of each
    /// stream can have, by stream, in [`crate::StreamId`] order; `None` for a trace replay
    /// (its file is read as it runs). A closed-loop stream's least is its first turn's.
    pub fn least_request_tokens(&self) -> Vec<(&str, Option<u64>)> {
        self.streams
            .iter()
            .map(|s| {
                let shared = u64::from(s.shared_prefix);
                let least = |input: &Dist, output: &Dist| {
                    u64::from(input.least_count(1)) + u64::from(output.least_count(1))
                };
                let tokens = match &s.kind {
                    StreamKind::Open {
                        sizes: Sizes::Independent { input, output },
                        ..
                    } => Some(shared + least(input, output)),
                    StreamKind::Open {
                        sizes: Sizes::Empirical(rows),
                        ..
                    } => rows
                        .iter()
                        .map(|&(i, o)| shared + u64::from(i) + u64::from(o))
                        .min(),
                    StreamKind::Closed(c) => Some(shared + least(&c.first_input, &c.output)),
                    StreamKind::Benchmark(b) => Some(shared + least(b.isl(), b.osl())),
                    StreamKind::Trace(_) => None,
                };
                (s.name.as_str(), tokens)
            })
            .collect()
    }

    /// Class names, by [`ClassId`].
    pub fn class_names(&self) -> &[String] {
        &self.classes
    }

    /// Whether each class, by [`ClassId`], holds a benchmark's warm-up requests, which its
    /// client does not measure.
    pub fn warmup_classes(&self) -> &[bool] {
        &self.warmup_classes
    }

    /// Whether some stream never ends (a run over it needs a time limit).
    pub fn is_unbounded(&self) -> bool {
        self.streams.iter().any(|s| {
            s.end == SimTime::MAX
                && !matches!(
                    s.kind,
                    StreamKind::Trace(_)
                        | StreamKind::Benchmark(_)
                        | StreamKind::Open {
                            process: ArrivalProcess::Phases { repeat: false, .. },
                            ..
                        }
                )
        })
    }
}

impl WorkloadConfig {
    /// A workload of these streams, with the default prefix block and no preset.
    pub fn of_streams(streams: Vec<StreamConfig>) -> Self {
        WorkloadConfig {
            block_tokens: DEFAULT_BLOCK_TOKENS,
            preset: None,
            airline: None,
            streams,
        }
    }

    /// Parses YAML (or JSON); `origin` names the source in errors.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<WorkloadConfig> {
        serde_norway::from_str(text).map_err(|e| TrafficError::Parse {
            origin: origin.to_string(),
            message: servesim_core::suggest::with_suggestion(&e.to_string()),
        })
    }

    /// The files the workload reads, each with the field that names it (as written,
    /// relative to the scenario's folder): trace replays and `sizes_from` tables. A command
    /// that writes files checks against them, so that none is written over.
    pub fn input_files(&self) -> Vec<(String, &Path)> {
        let mut out = Vec::new();
        for (i, s) in self.streams.iter().enumerate() {
            if let Some(t) = &s.trace {
                out.push((format!("traffic.streams[{i}].trace.path"), t.path.as_path()));
            }
            if let Some(t) = s.open.as_ref().and_then(|o| o.sizes_from.as_ref()) {
                out.push((
                    format!("traffic.streams[{i}].open.sizes_from.path"),
                    t.path.as_path(),
                ));
            }
        }
        out
    }

    /// All streams, the preset's first.
    pub fn expanded_streams(&self) -> Vec<StreamConfig> {
        let mut out = Vec::new();
        if self.preset == Some(Preset::Airline) {
            out.extend(self.airline.clone().unwrap_or_default().streams());
        }
        out.extend(self.streams.iter().cloned());
        out
    }

    /// Multiplies the workload's load by `factor` (a positive number): every open-loop
    /// stream's arrival rates, every trace's replay speed, the airline preset's passenger rate
    /// (its default written out when not given). Closed-loop users are left as they are.
    /// Returns how many streams it scaled (0: closed loops only).
    pub fn scale_rates(&mut self, factor: f64) -> usize {
        let mut scaled = 0;
        if self.preset == Some(Preset::Airline) {
            self.airline
                .get_or_insert_with(AirlineConfig::default)
                .scale_rates(factor);
            scaled += 1;
        }
        for s in &mut self.streams {
            scaled += usize::from(s.scale_rates(factor));
        }
        scaled
    }

    /// Checks every figure and builds the runtime spec. `prefix` is the path of this
    /// config in the document (`traffic`), `base_dir` the folder relative paths start from.
    /// Empirical size traces are read here; replayed traces are only opened.
    pub fn validate(&self, prefix: &str, base_dir: &Path) -> Result<WorkloadSpec> {
        if self.block_tokens == 0 {
            return Err(TrafficError::config(
                format!("{prefix}.block_tokens"),
                "must be > 0, got 0",
            ));
        }
        if self.airline.is_some() && self.preset != Some(Preset::Airline) {
            return Err(TrafficError::config(
                format!("{prefix}.airline"),
                "overrides the airline preset: add `preset: airline`",
            ));
        }
        if let (Some(Preset::Airline), Some(airline)) = (self.preset, &self.airline) {
            airline.check(&format!("{prefix}.airline"))?;
        }
        // A workload of no stream (an empty file, a forgotten `streams:`) sends nothing.
        if self.expanded_streams().is_empty() {
            return Err(TrafficError::config(
                format!("{prefix}.streams"),
                "names no stream (or give `preset: airline`)",
            ));
        }
        let mut classes: Vec<String> = Vec::new();
        let mut warmups: Vec<ClassId> = Vec::new();
        let mut names = BTreeSet::new();
        let mut streams = Vec::new();
        let n_preset = self.expanded_streams().len() - self.streams.len();
        for (i, s) in self.expanded_streams().iter().enumerate() {
            // Preset streams are reported under the preset's overrides.
            let field = if i < n_preset {
                format!("{prefix}.airline[{}]", s.name)
            } else {
                format!("{prefix}.streams[{}]", i - n_preset)
            };
            if s.name.is_empty() {
                return Err(TrafficError::config(
                    format!("{field}.name"),
                    "must not be empty",
                ));
            }
            if !names.insert(s.name.clone()) {
                return Err(TrafficError::config(
                    format!("{field}.name"),
                    format!("duplicate stream name {:?}", s.name),
                ));
            }
            let class_name = s.class.clone().unwrap_or_else(|| s.name.clone());
            let mut intern = |name: String| {
                let k = match classes.iter().position(|c| *c == name) {
                    Some(k) => k,
                    None => {
                        classes.push(name);
                        classes.len() - 1
                    }
                };
                ClassId(k as u16)
            };
            // A benchmark's warm-up requests are a class of their own, so that its measured
            // requests are the stream's class alone.
            let warmup_class = match &s.benchmark {
                Some(b) if b.warmup_requests > 0 => Some(intern(format!("{class_name}.warmup"))),
                _ => None,
            };
            warmups.extend(warmup_class);
            let class = intern(class_name);
            if classes.len() > usize::from(u16::MAX) {
                return Err(TrafficError::config(
                    field,
                    "too many classes (at most 65535)",
                ));
            }
            if streams.len() >= usize::from(u16::MAX) {
                return Err(TrafficError::config(
                    field,
                    "too many streams (at most 65535)",
                ));
            }
            let classes = (class, warmup_class.unwrap_or(class));
            streams.push(s.validate(&field, base_dir, classes, self.block_tokens)?);
        }
        let mut warmup_classes = vec![false; classes.len()];
        for c in warmups {
            warmup_classes[usize::from(c.0)] = true;
        }
        Ok(WorkloadSpec {
            preset_streams: n_preset,
            block_tokens: self.block_tokens,
            streams,
            classes,
            warmup_classes,
        })
    }
}

impl StreamConfig {
    fn validate(
        &self,
        field: &str,
        base_dir: &Path,
        (class, warmup_class): (ClassId, ClassId),
        block_tokens: u32,
    ) -> Result<StreamSpec> {
        let f = |name: &str| format!("{field}.{name}");
        let start = instant(&f("start_s"), self.start_s)?;
        let end = match self.end_s {
            None => SimTime::MAX,
            Some(end_s) => {
                let end = instant(&f("end_s"), end_s)?;
                if end <= start {
                    return Err(TrafficError::config(
                        f("end_s"),
                        format!("must be > start_s ({}), got {end_s}", self.start_s),
                    ));
                }
                end
            }
        };
        let given = [
            self.open.is_some(),
            self.closed.is_some(),
            self.trace.is_some(),
            self.benchmark.is_some(),
        ];
        if given.iter().filter(|&&g| g).count() != 1 {
            return Err(TrafficError::config(
                field,
                "give exactly one of `open`, `closed`, `trace` and `benchmark`",
            ));
        }
        if let Some(b) = &self.benchmark {
            let spec = b.validate(&f("benchmark"), class, warmup_class)?;
            return Ok(StreamSpec {
                name: self.name.clone(),
                class,
                start,
                end,
                shared_prefix: self.shared_prefix_tokens,
                kind: StreamKind::Benchmark(Arc::new(spec)),
            });
        }
        let kind = match (&self.open, &self.closed, &self.trace) {
            (Some(open), None, None) => {
                let g = |name: &str| format!("{field}.open.{name}");
                let process = open.arrival.validate(&g("arrival"))?;
                let sizes = match (&open.input, &open.output, &open.sizes_from) {
                    (Some(i), Some(o), None) => Sizes::Independent {
                        input: i.validate_tokens(&g("input"))?,
                        output: {
                            let d = o.validate_tokens(&g("output"))?;
                            o.check_at_least_one(&g("output"))?;
                            d
                        },
                    },
                    (None, None, Some(t)) => {
                        let rows = read_sizes(&base_dir.join(&t.path), t.format)?;
                        if rows.is_empty() {
                            return Err(TrafficError::config(
                                g("sizes_from"),
                                "the trace has no rows",
                            ));
                        }
                        Sizes::Empirical(rows.into())
                    }
                    _ => {
                        return Err(TrafficError::config(
                            f("open"),
                            "give either `input` and `output`, or `sizes_from`",
                        ));
                    }
                };
                StreamKind::Open { process, sizes }
            }
            (None, Some(c), None) => {
                let g = |name: &str| format!("{field}.closed.{name}");
                if c.users == 0 || c.users > MAX_USERS {
                    return Err(TrafficError::config(
                        g("users"),
                        format!("must be 1..={MAX_USERS}, got {}", c.users),
                    ));
                }
                StreamKind::Closed(Arc::new(ClosedSpec {
                    users: c.users,
                    ramp: span(&g("ramp_s"), c.ramp_s)?,
                    stagger: c.stagger,
                    first_input: c.first_input.validate_tokens(&g("first_input"))?,
                    followup_input: c.followup_input.validate_tokens(&g("followup_input"))?,
                    output: {
                        let d = c.output.validate_tokens(&g("output"))?;
                        c.output.check_at_least_one(&g("output"))?;
                        d
                    },
                    think_s: c.think_s.validate(&g("think_s"))?,
                    turns: {
                        let d = c.turns.validate(&g("turns"))?;
                        c.turns.check_at_least_one(&g("turns"))?;
                        d
                    },
                    max_input: match c.max_input_tokens {
                        Some(0) => {
                            return Err(TrafficError::config(
                                g("max_input_tokens"),
                                "must be > 0, got 0",
                            ));
                        }
                        // Every prompt starts with the shared prefix: a cap at or below it
                        // leaves no conversation a prompt to send.
                        Some(m) if m <= self.shared_prefix_tokens => {
                            return Err(TrafficError::config(
                                g("max_input_tokens"),
                                format!(
                                    "must be more than the {} tokens of shared_prefix_tokens that \
                                     every prompt starts with, got {m}",
                                    self.shared_prefix_tokens
                                ),
                            ));
                        }
                        Some(m) => m,
                        None => u32::MAX,
                    },
                }))
            }
            (None, None, Some(t)) => {
                let g = |name: &str| format!("{field}.trace.{name}");
                if self.shared_prefix_tokens != 0 {
                    return Err(TrafficError::config(
                        f("shared_prefix_tokens"),
                        "trace streams take their prefixes from the trace",
                    ));
                }
                if t.format == TraceFormat::Mooncake && block_tokens != DEFAULT_BLOCK_TOKENS {
                    return Err(TrafficError::config(
                        g("format"),
                        format!(
                            "Mooncake block ids are 512-token blocks; block_tokens is {block_tokens}"
                        ),
                    ));
                }
                let from = span(&g("from_s"), t.from_s)?;
                let to = match t.to_s {
                    None => i64::MAX,
                    Some(to_s) => {
                        let to = span(&g("to_s"), to_s)?;
                        if to <= from {
                            return Err(TrafficError::config(
                                g("to_s"),
                                format!("must be > from_s ({}), got {to_s}", t.from_s),
                            ));
                        }
                        to.as_nanos().try_into().unwrap_or(i64::MAX)
                    }
                };
                StreamKind::Trace(TraceSpec {
                    path: base_dir.join(&t.path),
                    format: t.format,
                    speed: check_pos(&g("speed"), t.speed)?,
                    from_ns: from.as_nanos().try_into().unwrap_or(i64::MAX),
                    to_ns: to,
                    random_start_ns: span(&g("random_start_s"), t.random_start_s)?.as_nanos(),
                })
            }
            _ => unreachable!("exactly one kind was checked above"),
        };
        Ok(StreamSpec {
            name: self.name.clone(),
            class,
            start,
            end,
            shared_prefix: self.shared_prefix_tokens,
            kind,
        })
    }
}
