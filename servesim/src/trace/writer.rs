//! The Trace Event Format written as it goes: `{"traceEvents":[` then one event per line,
//! then the closing metadata. Timeline events are counted against a cap; track names
//! ("M" events) are not. Times are the simulator's integer nanoseconds written as
//! microseconds with three decimals, so the text is exact and the same on every machine.

use std::io::{self, Write};

use serde::Serialize;
use servesim_core::{SimDuration, SimTime};

/// What kind of event, with what it needs beyond a name and a track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `X`: a complete event lasting this long.
    Complete(SimDuration),
    /// `i`: an instant on its thread (`s: t`).
    Instant,
    /// `i` with `s: g`: an instant across the whole timeline.
    GlobalInstant,
    /// `b`: a nestable async span opens (matched by category and id).
    Begin(u64),
    /// `e`: it closes.
    End(u64),
    /// `C`: a counter sample (one series per argument).
    Counter,
}

/// One timeline event: its name, category, track and time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event<'a> {
    pub name: &'a str,
    pub cat: &'a str,
    pub pid: u32,
    pub tid: u32,
    pub ts: SimTime,
    pub phase: Phase,
}

/// Writes events to `out` until `max_events` timeline events have been written; the last
/// place is kept for the event that says the cap was reached.
pub(crate) struct EventWriter<W: Write> {
    out: W,
    events: u64,
    max_events: u64,
    stopped_at: Option<SimTime>,
    first: bool,
    error: Option<io::Error>,
}

impl<W: Write> EventWriter<W> {
    /// Opens the event array; `max_events` must be at least 1.
    pub(crate) fn new(mut out: W, max_events: u64) -> EventWriter<W> {
        debug_assert!(max_events >= 1);
        let error = out.write_all(b"{\"traceEvents\":[\n").err();
        EventWriter {
            out,
            events: 0,
            max_events,
            stopped_at: None,
            first: true,
            error,
        }
    }

    /// Timeline events written so far.
    pub(crate) fn events(&self) -> u64 {
        self.events
    }

    /// When the cap stopped the recording, if it did.
    pub(crate) fn stopped_at(&self) -> Option<SimTime> {
        self.stopped_at
    }

    /// True if `n` more events fit under the cap. The first time they do not, recording
    /// stops for good and a global instant at `at` says so (in the place kept for it).
    pub(crate) fn room(&mut self, n: u64, at: SimTime) -> bool {
        if self.stopped_at.is_some() {
            return false;
        }
        if self.events + n < self.max_events {
            return true;
        }
        self.stopped_at = Some(at);
        let name = format!(
            "trace stopped: the cap of {} events was reached",
            self.max_events
        );
        self.event(
            &Event {
                name: &name,
                cat: "trace",
                pid: 0,
                tid: 0,
                ts: at,
                phase: Phase::GlobalInstant,
            },
            &serde_json::json!({ "max_events": self.max_events }),
        );
        false
    }

    /// Writes one timeline event (after [`EventWriter::room`] said it fits).
    pub(crate) fn event(&mut self, e: &Event<'_>, args: &impl Serialize) {
        self.events += 1;
        let result = self.write_event(e, args);
        self.keep(result);
    }

    /// Writes a metadata event (`M`: a process or thread name or sort index), not counted.
    pub(crate) fn metadata(&mut self, name: &str, pid: u32, tid: u32, args: &impl Serialize) {
        let result = (|| {
            self.separator()?;
            self.out.write_all(b"{\"name\":")?;
            serde_json::to_writer(&mut self.out, name)?;
            write!(
                self.out,
                ",\"ph\":\"M\",\"pid\":{pid},\"tid\":{tid},\"args\":"
            )?;
            serde_json::to_writer(&mut self.out, args)?;
            self.out.write_all(b"}")
        })();
        self.keep(result);
    }

    /// Closes the array with `displayTimeUnit` and `otherData`, and returns the output.
    pub(crate) fn finish(mut self, other: &impl Serialize) -> io::Result<W> {
        let result = (|| {
            self.out
                .write_all(b"\n],\"displayTimeUnit\":\"ms\",\"otherData\":")?;
            serde_json::to_writer(&mut self.out, other)?;
            self.out.write_all(b"}\n")?;
            self.out.flush()
        })();
        self.keep(result);
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.out),
        }
    }

    fn write_event(&mut self, e: &Event<'_>, args: &impl Serialize) -> io::Result<()> {
        self.separator()?;
        self.out.write_all(b"{\"name\":")?;
        serde_json::to_writer(&mut self.out, e.name)?;
        self.out.write_all(b",\"cat\":")?;
        serde_json::to_writer(&mut self.out, e.cat)?;
        let ph = match e.phase {
            Phase::Complete(_) => "X",
            Phase::Instant | Phase::GlobalInstant => "i",
            Phase::Begin(_) => "b",
            Phase::End(_) => "e",
            Phase::Counter => "C",
        };
        write!(
            self.out,
            ",\"ph\":\"{ph}\",\"pid\":{},\"tid\":{},\"ts\":",
            e.pid, e.tid
        )?;
        micros(&mut self.out, e.ts.as_nanos())?;
        match e.phase {
            Phase::Complete(d) => {
                self.out.write_all(b",\"dur\":")?;
                micros(&mut self.out, d.as_nanos())?;
            }
            Phase::Instant => self.out.write_all(b",\"s\":\"t\"")?,
            Phase::GlobalInstant => self.out.write_all(b",\"s\":\"g\"")?,
            Phase::Begin(id) | Phase::End(id) => write!(self.out, ",\"id\":{id}")?,
            Phase::Counter => {}
        }
        self.out.write_all(b",\"args\":")?;
        serde_json::to_writer(&mut self.out, args)?;
        self.out.write_all(b"}")
    }

    fn separator(&mut self) -> io::Result<()> {
        if self.first {
            self.first = false;
            Ok(())
        } else {
            self.out.write_all(b",\n")
        }
    }

    /// Keeps the first error; writing goes on into the void after it (reported at the end).
    fn keep(&mut self, result: io::Result<()>) {
        if let Err(e) = result
            && self.error.is_none()
        {
            self.error = Some(e);
        }
    }
}

/// Nanoseconds as microseconds with exactly three decimals (`1234567` → `1234.567`).
fn micros(out: &mut impl Write, ns: u64) -> io::Result<()> {
    write!(out, "{}.{:03}", ns / 1000, ns % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(us: u64) -> SimTime {
        SimTime::from_nanos(us * 1000)
    }

    fn iteration(ts: SimTime) -> Event<'static> {
        Event {
            name: "decode",
            cat: "iteration",
            pid: 1,
            tid: 2,
            ts,
            phase: Phase::Complete(SimDuration::from_nanos(1_500)),
        }
    }

    #[test]
    fn events_are_valid_json_with_exact_microsecond_times() {
        let mut w = EventWriter::new(Vec::new(), 100);
        w.metadata(
            "thread_name",
            1,
            2,
            &serde_json::json!({"name": "p/w1 \"x\""}),
        );
        assert!(w.room(1, at(3)));
        w.event(
            &iteration(SimTime::from_nanos(3_000_007)),
            &serde_json::json!({"decode_seqs": 4}),
        );
        w.event(
            &Event {
                phase: Phase::Begin(7),
                cat: "request",
                name: "request",
                ..iteration(at(5))
            },
            &(),
        );
        let text = String::from_utf8(w.finish(&serde_json::json!({"k": 1})).unwrap()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let events = v["traceEvents"].as_array().unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0]["ph"], "M");
        assert_eq!(events[0]["args"]["name"], "p/w1 \"x\"");
        assert!(text.contains("\"ts\":3000.007,\"dur\":1.500,"), "{text}");
        assert_eq!(events[1]["args"]["decode_seqs"], 4);
        assert_eq!(events[2]["ph"], "b");
        assert_eq!(events[2]["id"], 7);
        assert_eq!(v["displayTimeUnit"], "ms");
        assert_eq!(v["otherData"]["k"], 1);
    }

    #[test]
    fn the_cap_stops_recording_once_and_says_so_within_it() {
        let mut w = EventWriter::new(Vec::new(), 5);
        let mut written = 0;
        for i in 0..10 {
            if w.room(2, at(i)) {
                w.event(&iteration(at(i)), &());
                w.event(&iteration(at(i)), &());
                written += 2;
            }
        }
        assert_eq!(written, 4);
        assert_eq!(w.stopped_at(), Some(at(2)));
        assert_eq!(w.events(), 5);
        assert!(!w.room(1, at(9)), "stopped for good");
        let text = String::from_utf8(w.finish(&()).unwrap()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let events = v["traceEvents"].as_array().unwrap();
        assert_eq!(events.len(), 5);
        let last = &events[4];
        assert_eq!(
            (last["ph"].as_str(), last["s"].as_str()),
            (Some("i"), Some("g"))
        );
        assert!(last["name"].as_str().unwrap().contains("cap of 5 events"));
    }

    #[test]
    fn an_empty_trace_is_still_a_valid_file() {
        let w = EventWriter::new(Vec::new(), 1);
        let text = String::from_utf8(w.finish(&()).unwrap()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(v["traceEvents"].as_array().unwrap().is_empty());
    }
}
