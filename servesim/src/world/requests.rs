//! Requests through the world: arrivals from the workload, the frontend's hand-over to
//! the cluster, and what the cluster's notices tell of each request in flight.

use servesim_core::{Scheduler, SimDuration, SimTime};
use servesim_models::cluster::{Notice, RequestIn, WorkerId};
use servesim_models::faults::{AfterLoss, after_loss};
use servesim_models::request::RequestHandle;
use servesim_traffic::Request;

use super::planner_loop::Completion;
use super::{Event, World};
use crate::Error;
use crate::metrics::Finished;

/// A request in flight.
#[derive(Clone, Debug)]
pub(super) struct InFlight {
    pub(super) request: Request,
    /// When it reached the cluster (after the frontend, if any).
    pub(super) entered: SimTime,
    pub(super) admitted: Option<SimTime>,
    pub(super) first_token: Option<SimTime>,
    pub(super) transfer_started: Option<SimTime>,
    pub(super) transfer: SimDuration,
    pub(super) preemptions: u32,
    /// The worker that admitted it (for prefill, or for all of it when aggregated).
    pub(super) prefill_worker: Option<WorkerId>,
    /// The worker decoding it (the prefill worker until a KV transfer starts).
    pub(super) decode_worker: Option<WorkerId>,
    pub(super) retries: u32,
    /// Output tokens its client has seen of attempts a fault ended, which a migration
    /// carries on (prefilled with the prompt, not made again).
    pub(super) carried: u32,
    /// Whether the client has seen the current attempt's first token.
    pub(super) attempt_shown: bool,
    /// When the client's stream stopped, a migration of it not yet showing a token.
    pub(super) stalled_since: Option<SimTime>,
    /// The longest gap of its stream in attempts a fault ended, their stalls included (a
    /// finished request's longest gap is the larger of this and its last attempt's).
    pub(super) longest_gap: SimDuration,
}

/// What the cluster is told of the request under `handle` (at least one token each way),
/// `carried` of its output tokens already made and seen: a migration prefills them with the
/// prompt and makes the rest (Dynamo's request migration: its frontend keeps each request's
/// prompt and generated tokens and sends both to the next worker, `--migration-limit` and
/// `--migration-max-seq-len` of ai-dynamo 1.6.1's `dynamo/frontend/frontend_args.py`).
pub(super) fn request_in(handle: RequestHandle, r: &Request, carried: u32) -> RequestIn {
    let output = r.output_tokens.max(1);
    let carried = carried.min(output - 1);
    RequestIn {
        handle,
        prompt_tokens: r.input_tokens.max(1) + carried,
        output_tokens: output - carried,
        prefix_blocks: r.prefix_blocks.clone(),
        continues: carried > 0,
    }
}

impl World {
    /// Keeps exactly one arrival event, at the workload's next arrival.
    pub(super) fn schedule_arrival(&mut self, sched: &mut Scheduler<Event>) {
        let next = (self.workload.peek_time()).filter(|&t| t < self.arrivals_end);
        if next == self.arrival.map(|(t, _)| t) {
            return;
        }
        if let Some((_, key)) = self.arrival.take() {
            sched.cancel(key);
        }
        if let Some(t) = next {
            let t = t.max(sched.now());
            self.arrival = Some((t, sched.schedule_cancellable_at(t, Event::Arrival)));
        }
    }

    pub(super) fn arrive(&mut self, sched: &mut Scheduler<Event>) {
        self.arrival = None;
        let (now, end) = (sched.now(), self.arrivals_end);
        while (self.workload.peek_time()).is_some_and(|t| t <= now && t < end) {
            let request = match self.workload.next_request() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    self.error.get_or_insert(Error::Traffic(e));
                    return;
                }
            };
            self.arrivals += 1;
            if self.arrivals > self.max_requests {
                self.error.get_or_insert(Error::Config {
                    path: "limits.max_requests".into(),
                    message: format!(
                        "the workload generated more than {} requests; raise the limit to run it",
                        self.max_requests
                    ),
                });
                return;
            }
            if let Some(c) = &mut self.context {
                c.arrived(&request);
            }
            if (request.input_tokens == 0 || request.output_tokens == 0)
                && let Some(n) = self.emptied.get_mut(usize::from(request.stream.0))
            {
                *n += 1;
            }
            self.metrics.arrival(request.issued, request.class.0);
            if let Some(pl) = self.planner.as_mut() {
                // Dynamo's `requests_started_total`: counted at the frontend, retries not again.
                pl.arrived
                    .add(request.input_tokens, request.output_tokens.max(1));
            }
            let flight = InFlight {
                request,
                entered: sched.now(),
                admitted: None,
                first_token: None,
                transfer_started: None,
                transfer: SimDuration::ZERO,
                preemptions: 0,
                prefill_worker: None,
                decode_worker: None,
                retries: 0,
                carried: 0,
                attempt_shown: false,
                stalled_since: None,
                longest_gap: SimDuration::ZERO,
            };
            let handle = self.inflight.insert(flight);
            if let Some(frontend) = &mut self.frontend {
                let at = frontend.admit(sched.now());
                sched.schedule_at(at, Event::Ingress(handle));
                continue;
            }
            let input = request_in(handle, &self.flight(handle).request, 0);
            self.cluster.arrive(input, sched, &mut self.out);
            self.apply_notices(sched);
        }
        // Requests handed to the frontend left no notices behind to move the next arrival.
        self.schedule_arrival(sched);
    }

    /// The frontend hands the request under `handle` to the cluster.
    pub(super) fn ingress(&mut self, handle: RequestHandle, sched: &mut Scheduler<Event>) {
        let flight = self
            .inflight
            .get_mut(handle)
            .expect("a request in the frontend is in flight");
        flight.entered = sched.now();
        let input = request_in(handle, &flight.request, flight.carried);
        self.cluster.arrive(input, sched, &mut self.out);
        self.apply_notices(sched);
    }

    fn flight(&mut self, handle: RequestHandle) -> &mut InFlight {
        self.inflight
            .get_mut(handle)
            .expect("notice for a live request")
    }

    fn retire(&mut self, handle: RequestHandle) -> InFlight {
        self.inflight.remove(handle).expect("live request")
    }

    pub(super) fn apply_notices(&mut self, sched: &mut Scheduler<Event>) {
        self.drain_records();
        let now = sched.now();
        // When this step's tokens reach their users (later than `now` behind a frontend).
        let seen = match &mut self.frontend {
            Some(f) => {
                let seen = f.stream(now, self.out.tokens);
                for (gap, _) in &mut self.out.itl_gaps {
                    *gap = f.user_gap(now, seen, *gap);
                }
                seen
            }
            None => now,
        };
        self.metrics.tokens_made += self.out.tokens;
        self.out.tokens = 0;
        self.metrics.itl_gaps(now, &self.out.itl_gaps);
        self.out.itl_gaps.clear();
        // Retries arrive again within this loop and may add notices: drain until none is left.
        let mut notices = Vec::new();
        loop {
            std::mem::swap(&mut notices, &mut self.out.notices);
            if notices.is_empty() {
                break;
            }
            for notice in notices.drain(..) {
                match notice {
                    Notice::Admitted { handle, worker } => {
                        let f = self.flight(handle);
                        f.admitted.get_or_insert(now);
                        if f.prefill_worker.is_none() {
                            f.prefill_worker = Some(worker);
                            f.decode_worker = Some(worker);
                        }
                    }
                    Notice::FirstToken { handle } => {
                        let f = self
                            .inflight
                            .get_mut(handle)
                            .expect("notice for a live request");
                        f.first_token.get_or_insert(seen);
                        f.attempt_shown = true;
                        // A migration's first token is the next of a stream the client saw
                        // stop: one gap, the stall, from when the frontend delivered the last
                        // token before it (as every gap is taken behind a frontend).
                        if let Some(since) = f.stalled_since.take() {
                            let made = now.saturating_duration_since(since);
                            let stall = (self.frontend.as_ref())
                                .map_or(made, |fe| fe.user_gap(now, seen, made));
                            f.longest_gap = f.longest_gap.max(stall);
                            self.metrics.itl_gaps(now, &[(stall, 1)]);
                        }
                    }
                    Notice::TransferStarted { handle, worker } => {
                        let f = self.flight(handle);
                        f.transfer_started = Some(now);
                        f.decode_worker = Some(worker);
                    }
                    Notice::TransferDone { handle } => {
                        let f = self.flight(handle);
                        let started = f.transfer_started.take().unwrap_or(now);
                        f.transfer += now - started;
                    }
                    Notice::Preempted { handle } => {
                        self.flight(handle).preemptions += 1;
                        self.metrics.preemptions += 1;
                    }
                    Notice::Finished { handle, max_itl } => {
                        let max_itl = max_itl.max(self.flight(handle).longest_gap);
                        let f = self.retire(handle);
                        let first_token = f.first_token.unwrap_or(seen);
                        let admitted = "a request is admitted before it finishes";
                        let prefill_worker = f.prefill_worker.expect(admitted).0;
                        let decode_worker = f.decode_worker.expect(admitted).0;
                        let done = Finished {
                            issued: f.request.issued,
                            client_wait: f.request.arrival - f.request.issued,
                            queue: f.admitted.map_or(SimDuration::ZERO, |a| {
                                a.saturating_duration_since(f.entered)
                            }),
                            first_token,
                            last_token: seen,
                            input_tokens: f.request.input_tokens,
                            output_tokens: f.request.output_tokens.max(1),
                            header_tokens: self.header_tokens,
                            max_itl,
                            transfer: f.transfer,
                            preemptions: f.preemptions,
                            class: f.request.class.0,
                            id: f.request.id.0,
                            prefill_worker,
                            decode_worker,
                        };
                        self.metrics.finished(&done);
                        if let Some(pl) = self.planner.as_mut() {
                            // The tokens the client sees, as the metrics count them.
                            let shown = done.shown_tokens();
                            let itl = (shown > 1).then(|| {
                                (seen - first_token).as_millis_f64() / f64::from(shown - 1)
                            });
                            pl.window.push_back(Completion {
                                at: seen,
                                isl: f.request.input_tokens,
                                osl: done.output_tokens,
                                ttft_ms: (first_token - f.request.arrival).as_millis_f64(),
                                itl_ms: itl,
                            });
                        }
                        self.trace_request(&f, Some(first_token), seen, format_args!("completed"));
                        self.workload.on_complete(f.request.id, seen);
                    }
                    Notice::Rejected { handle, reason } => {
                        let f = self.retire(handle);
                        self.metrics
                            .rejected(f.request.issued, f.request.class.0, &reason);
                        self.trace_request(&f, None, now, format_args!("rejected: {reason}"));
                        self.workload.on_failed(f.request.id, now);
                    }
                    Notice::TransferFailed { .. } => self.metrics.transfer_failures += 1,
                    Notice::Lost {
                        handle,
                        reason,
                        made,
                        last_token_at,
                        longest_gap,
                    } => {
                        let (max, max_seq_len) = self.faults.as_ref().map_or((0, None), |f| {
                            (f.config.max_retries, f.config.migration_max_seq_len)
                        });
                        let f = self.flight(handle);
                        // What the frontend has streamed of the request, with its prompt.
                        let streamed = f.carried + if f.attempt_shown { made } else { 0 };
                        let tracked = u64::from(f.request.input_tokens) + u64::from(streamed);
                        let max_seq_len = max_seq_len.map(u64::from);
                        if after_loss(f.retries, max, tracked, max_seq_len) == AfterLoss::Retry {
                            f.retries += 1;
                            f.transfer_started = None;
                            // What the client saw of this attempt is carried on; its stream
                            // stalls from the last token it saw (an earlier stall's start
                            // stands where this attempt showed nothing).
                            if std::mem::take(&mut f.attempt_shown) && made > 0 {
                                f.carried += made;
                                f.stalled_since = Some(last_token_at);
                                f.longest_gap = f.longest_gap.max(longest_gap);
                            }
                            let again = request_in(handle, &f.request, f.carried);
                            self.metrics.retried += 1;
                            self.cluster.arrive(again, sched, &mut self.out);
                        } else {
                            let f = self.retire(handle);
                            self.metrics
                                .failed(f.request.issued, f.request.class.0, reason);
                            let outcome = format_args!("failed: {reason}");
                            self.trace_request(&f, f.first_token, now, outcome);
                            self.workload.on_failed(f.request.id, now);
                        }
                    }
                }
            }
        }
        self.out.notices = notices;
        self.schedule_arrival(sched);
    }
}
