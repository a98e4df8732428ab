//! Timeline export: a run written as a Chrome / Perfetto trace (the Trace Event Format),
//! to be opened in <https://ui.perfetto.dev> or `chrome://tracing`.
//!
//! What the file holds, by process (`pid`) and thread (`tid`):
//! - pid 0, `run`: the planner's decisions (instants with targets and reason, tid 1) and,
//!   if the cap was reached, a global instant saying so;
//! - pid 1 + p, one per pool: a thread per worker (tid 1 + worker id), each engine iteration
//!   a complete event named after what it runs (`prefill`, `decode`, `mixed`) with its batch
//!   in `args`; counters of the pool's workers, queue and KV use at each sample;
//! - pid 1 + pools, `KV transfers`: each transfer an async span named after its path
//!   (`prefill/w0 → decode/w1`) with its bytes and how it ended;
//! - pid 2 + pools, `requests`: each request an async span from arrival to its end, with a
//!   nested span to its first token.
//!
//! Bounded: at most `max_events` timeline events (names of tracks aside) are written, then
//! recording stops, and both the file (`otherData.truncated`, and a global instant) and
//! [`TraceOutcome`] say so; a window keeps only what starts inside it. The file is streamed,
//! so memory does not grow with the run. Deterministic: same scenario and seed, same bytes.
//!
//! - `writer.rs`: the format, the cap and the exact times;
//! - `timeline.rs`: what the world's events become (tracks, names, arguments).

mod timeline;
mod writer;

use std::fmt;
use std::path::PathBuf;

use servesim_core::{SimDuration, SimTime};

pub(crate) use timeline::{PoolDecision, RequestSpan, Tracer};

/// Timeline events written at most, by default.
pub const DEFAULT_MAX_EVENTS: u64 = 1_000_000;

/// Where and how much of a run to write as a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceConfig {
    /// The file written.
    pub path: PathBuf,
    /// Timeline events written at most (≥ 1); the last place says the cap was reached.
    pub max_events: u64,
    /// Only what starts in `[start, end)` of simulated time (`None`: the whole run).
    pub window: Option<(SimTime, SimTime)>,
}

impl TraceConfig {
    /// The whole run to `path`, under the default cap.
    pub fn new(path: impl Into<PathBuf>) -> TraceConfig {
        TraceConfig {
            path: path.into(),
            max_events: DEFAULT_MAX_EVENTS,
            window: None,
        }
    }

    /// Parses a window `START:END` in seconds of simulated time (`END` may be left out:
    /// to the end of the run).
    pub fn parse_window(text: &str) -> Result<(SimTime, SimTime), String> {
        let (start, end) = text
            .split_once(':')
            .ok_or_else(|| format!("'{text}': expected START:END in seconds, e.g. 60:120"))?;
        let secs = |s: &str, what: &str| -> Result<SimTime, String> {
            let v: f64 = s
                .trim()
                .parse()
                .map_err(|_| format!("'{text}': the {what} '{s}' is not a number of seconds"))?;
            SimDuration::from_secs_f64_round(v)
                .map(|d| SimTime::ZERO + d)
                .map_err(|e| format!("'{text}': the {what}: {e}"))
        };
        let start = secs(start, "start")?;
        let end = if end.trim().is_empty() {
            SimTime::from_nanos(u64::MAX)
        } else {
            secs(end, "end")?
        };
        if end <= start {
            return Err(format!("'{text}': the end must come after the start"));
        }
        Ok((start, end))
    }
}

/// What a trace holds, once written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceOutcome {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Timeline events written (names of tracks aside).
    pub events: u64,
    /// The cap it ran under.
    pub max_events: u64,
    /// When the cap stopped the recording (`None`: everything asked for is in the file).
    pub stopped_at: Option<SimTime>,
}

impl fmt::Display for TraceOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.stopped_at {
            None => write!(
                f,
                "trace: {} events written to {} ({:.1} MB)",
                self.events,
                self.path.display(),
                self.bytes as f64 / 1e6
            ),
            Some(t) => write!(
                f,
                "trace: {} ({:.1} MB) stops at t = {:.3} s: the cap of {} events was reached, \
                 and what happened later is not in it (raise --trace-max-events or narrow \
                 --trace-window)",
                self.path.display(),
                self.bytes as f64 / 1e6,
                t.as_secs_f64(),
                self.max_events
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_two_times_in_seconds_in_order() {
        let s = |x: f64| SimTime::ZERO + SimDuration::from_secs_f64_round(x).unwrap();
        assert_eq!(
            TraceConfig::parse_window("60:120.5"),
            Ok((s(60.0), s(120.5)))
        );
        assert_eq!(
            TraceConfig::parse_window("10:"),
            Ok((s(10.0), SimTime::from_nanos(u64::MAX)))
        );
        for bad in ["60", "a:1", "5:5", "9:3", "-1:2"] {
            assert!(TraceConfig::parse_window(bad).is_err(), "{bad}");
        }
    }
}
