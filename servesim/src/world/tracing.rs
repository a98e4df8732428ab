//! The world's side of a timeline export: it turns the trace on (the cluster then records
//! its iterations and KV transfers), hands what the cluster recorded to the trace after each
//! of its steps, writes each request once it has ended, and closes the file at the end.
//! Without a trace, none of this runs: the cluster's buffer stays `None`.

use servesim_core::SimTime;

use super::World;
use super::requests::InFlight;
use crate::Error;
use crate::trace::{RequestSpan, TraceOutcome, Tracer};

impl World {
    /// Records the rest of the run into `tracer`.
    pub(crate) fn set_tracer(&mut self, tracer: Tracer) {
        self.out.records.get_or_insert_with(Vec::new);
        self.trace = Some(Box::new(tracer));
    }

    /// What the trace of this run holds, once the run is finished (`None`: not traced).
    pub fn trace_outcome(&self) -> Option<&TraceOutcome> {
        self.trace_outcome.as_ref()
    }

    /// Hands the cluster's records of its last step to the trace.
    pub(super) fn drain_records(&mut self) {
        let (Some(trace), Some(records)) = (self.trace.as_deref_mut(), self.out.records.as_mut())
        else {
            return;
        };
        for r in records.drain(..) {
            let request = match r {
                servesim_models::cluster::ClusterRecord::Transfer { request, .. } => {
                    self.inflight.get(request).map(|f| f.request.id.0)
                }
                _ => None,
            };
            trace.cluster_record(&r, &self.cluster, request);
        }
    }

    /// A request that ended at `end` (`outcome`: `completed`, or why not).
    pub(super) fn trace_request(
        &mut self,
        f: &InFlight,
        first_token: Option<SimTime>,
        end: SimTime,
        outcome: std::fmt::Arguments<'_>,
    ) {
        let Some(trace) = self.trace.as_deref_mut() else {
            return;
        };
        let outcome = outcome.to_string();
        let class = self
            .workload
            .class_names()
            .get(usize::from(f.request.class.0))
            .map_or("", String::as_str);
        trace.request(&RequestSpan {
            id: f.request.id.0,
            class,
            input_tokens: f.request.input_tokens,
            output_tokens: f.request.output_tokens.max(1),
            arrival: f.request.arrival,
            first_token,
            end,
            outcome: &outcome,
            preemptions: f.preemptions,
            retries: f.retries,
        });
    }

    /// Closes the trace at the run's end (`end`), naming every track.
    pub(crate) fn finish_trace(&mut self, end: SimTime) -> Result<(), Error> {
        self.drain_records();
        if let Some(trace) = self.trace.take() {
            self.out.records = None;
            self.trace_outcome = Some(trace.finish(&self.cluster, end)?);
        }
        Ok(())
    }
}
