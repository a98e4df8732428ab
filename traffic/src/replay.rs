//! A trace stream of a running workload: its rows read one at a time, each placed in
//! simulated time by the stream's window, speed and start.

use std::sync::Arc;

use servesim_core::{SimDuration, SimTime};

use crate::config::TraceSpec;
use crate::error::{Result, TrafficError};
use crate::request::{prompt_blocks, trace_blocks};
use crate::trace::{TraceReader, malformed};
use crate::validate::gap;

#[derive(Debug)]
pub(crate) struct Replay {
    pub(crate) reader: TraceReader,
    /// The window replayed: the trace's, moved by `shift_ns`.
    pub(crate) spec: TraceSpec,
    /// How far this seed's draw of `random_start_s` moved the window.
    pub(crate) shift_ns: i64,
    pub(crate) start: SimTime,
    pub(crate) end: SimTime,
    pub(crate) t0: Option<i64>,
    pub(crate) prev: i64,
    pub(crate) seq: u64,
    pub(crate) next: Option<(SimTime, u32, u32, Arc<[u64]>)>,
    pub(crate) error: Option<crate::TrafficError>,
}

impl Replay {
    /// Why the `i`-th stream, a trace, replays no request (its first `advance` found none).
    pub(crate) fn replays_nothing(&self, i: usize) -> TrafficError {
        let path = self.reader.path().display();
        let why = match self.t0 {
            None => format!("{path} has no rows"),
            Some(_) if self.prev < self.spec.from_ns => {
                let secs = |ns: i64| ns as f64 / 1e9;
                let start = if self.shift_ns > 0 {
                    format!(
                        "the window's start ({:.3} s: from_s {:.3} s and {:.3} s this seed \
                         drew of random_start_s)",
                        secs(self.spec.from_ns),
                        secs(self.spec.from_ns - self.shift_ns),
                        secs(self.shift_ns)
                    )
                } else {
                    format!("from_s ({:.3} s)", secs(self.spec.from_ns))
                };
                format!(
                    "{path} ends {:.3} s after its first row, before {start}",
                    secs(self.prev)
                )
            }
            Some(_) => {
                format!("no row of {path} from from_s falls before to_s or the stream's end_s")
            }
        };
        TrafficError::config(
            format!("traffic.streams[{i}].trace"),
            format!("replays no request: {why}"),
        )
    }

    /// Reads rows until one falls in the window; returns its simulated time.
    pub(crate) fn advance(&mut self, namespace: u64, block_tokens: u32) -> Result<Option<SimTime>> {
        loop {
            let Some(row) = self.reader.next_row()? else {
                return Ok(None);
            };
            let t0 = *self.t0.get_or_insert(row.time_ns);
            let rel = row.time_ns.saturating_sub(t0);
            if rel < self.prev {
                return Err(malformed(
                    self.reader.path(),
                    row.line,
                    1,
                    format!(
                        "timestamp goes back in time ({:.6} s after the first row, previous {:.6} s)",
                        rel as f64 / 1e9,
                        self.prev as f64 / 1e9
                    ),
                ));
            }
            self.prev = rel;
            if rel < self.spec.from_ns {
                continue; // before the requested window
            }
            if rel >= self.spec.to_ns {
                return Ok(None);
            }
            let offset = (rel - self.spec.from_ns) as u64;
            let offset = if self.spec.speed == 1.0 {
                SimDuration::from_nanos(offset)
            } else {
                gap(offset as f64 / 1e9 / self.spec.speed)
            };
            let t = self.start.saturating_add(offset);
            if t >= self.end {
                return Ok(None);
            }
            let blocks = if row.hash_ids.is_empty() {
                prompt_blocks(namespace, block_tokens, 0, self.seq, row.input_tokens)
            } else {
                trace_blocks(namespace, &row.hash_ids)
            };
            self.seq += 1;
            self.next = Some((t, row.input_tokens, row.output_tokens, blocks));
            return Ok(Some(t));
        }
    }
}
