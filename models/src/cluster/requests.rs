//! Requests through the cluster: admission checks, routing to a worker, and driving each
//! worker's engine iteration by iteration, turning what it reports into notices.

use servesim_core::{Scheduler, SimDuration};

use super::router::{self, Candidate, RouterKind};
use super::{
    Cluster, ClusterEvent, ClusterOutput, ClusterRecord, Handoff, ITERATION_HISTORY,
    IterationRecord, Notice, PoolId, PoolRole, RequestIn, WorkerId, WorkerState,
};
use crate::engine::{EngineEvent, IterationOutput, SeqSpec};

impl Cluster {
    /// A request arrives at the cluster.
    pub fn arrive<E: From<ClusterEvent>>(
        &mut self,
        req: RequestIn,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        let local = self.decode.filter(|_| {
            self.local_prefill_max_tokens
                .is_some_and(|m| req.prompt_tokens <= m)
        });
        let pool = local.unwrap_or(self.front);
        // Every pool the request will use must be able to run it alone to its end: its
        // prompt, and its whole output where it decodes (`EngineConfig::never_fits`); the
        // engines refuse what they could never run rather than hold it, and everything
        // queued behind it, forever.
        let decodes_at_front = self.decode.is_none() || local.is_some();
        let mut needs = vec![(pool, decodes_at_front)];
        if let Some(d) = self.decode.filter(|_| !decodes_at_front) {
            needs.push((d, true));
        }
        for (p, decodes) in needs {
            let spec = &self.pools[p.0 as usize].spec;
            let engine = &spec.engine;
            if let Some(what) = engine.never_fits(req.prompt_tokens, req.output_tokens, decodes) {
                out.notices.push(Notice::Rejected {
                    handle: req.handle,
                    reason: format!(
                        "{what} larger than a '{}' worker's KV cache ({} tokens)",
                        spec.name,
                        engine.kv_blocks * u64::from(engine.block_tokens)
                    ),
                });
                return;
            }
        }
        self.route(pool, req, sched, out);
    }

    pub(super) fn route<E: From<ClusterEvent>>(
        &mut self,
        pool: PoolId,
        req: RequestIn,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        let Some(w) = self.pick_worker(pool, &req.prefix_blocks) else {
            self.pools[pool.0 as usize].unrouted.push_back(req);
            return;
        };
        let p = &mut self.pools[pool.0 as usize];
        if p.spec.router == RouterKind::PrefixAware && !req.prefix_blocks.is_empty() {
            // The chosen worker's cached share of the prompt, as the router saw it.
            let cached = self
                .candidates
                .iter()
                .find(|c| c.worker == w)
                .map_or(0, |c| c.cached_prefix_blocks);
            p.routed_hits.requests += 1;
            p.routed_hits.hit_rate_sum += cached as f64 / req.prefix_blocks.len() as f64;
        }
        let decode_here = self.pools[pool.0 as usize].spec.role != PoolRole::Prefill;
        let spec = SeqSpec {
            request: req.handle,
            prompt_tokens: req.prompt_tokens,
            output_tokens: req.output_tokens,
            prefix_blocks: req.prefix_blocks,
            decode_here,
            continues: req.continues,
        };
        self.workers[w.0 as usize].engine.enqueue(spec, sched.now());
        self.kick(w, sched, out);
    }

    pub(super) fn pick_worker(&mut self, pool: PoolId, prefix: &[u64]) -> Option<WorkerId> {
        let kind = self.pools[pool.0 as usize].spec.router;
        self.candidates.clear();
        for &w in &self.pools[pool.0 as usize].workers {
            let worker = &self.workers[w.0 as usize];
            if worker.state != WorkerState::Ready {
                continue;
            }
            let cached = if kind == RouterKind::PrefixAware {
                worker.engine.cached_prefix_blocks(prefix)
            } else {
                0
            };
            self.candidates.push(Candidate {
                worker: w,
                load: worker.engine.load(),
                cached_prefix_blocks: cached,
            });
        }
        let i = router::pick(kind, &self.candidates, &mut self.pools[pool.0 as usize].rr)?;
        Some(self.candidates[i].worker)
    }

    /// Starts the worker's next iteration if it is idle and has work. What the
    /// start itself does (admissions, preemptions) is reported at once.
    pub(super) fn kick<E: From<ClusterEvent>>(
        &mut self,
        w: WorkerId,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        let worker = &mut self.workers[w.0 as usize];
        if worker.engine.is_busy()
            || !matches!(worker.state, WorkerState::Ready | WorkerState::Draining)
        {
            return;
        }
        let timer = &self.pools[worker.pool.0 as usize].spec.timer;
        if let Some(d) =
            worker
                .engine
                .start_iteration(sched.now(), timer.as_ref(), &mut self.scratch)
        {
            let d = if worker.slowdown == 1.0 {
                d
            } else {
                SimDuration::from_secs_f64_round(d.as_secs_f64() * worker.slowdown)
                    .unwrap_or(SimDuration::MAX)
            };
            sched.schedule_in(d, ClusterEvent::IterationDone(w).into());
            let pool = &mut self.pools[worker.pool.0 as usize];
            let batch = worker.engine.last_batch();
            if batch.prefill_seqs == 0 {
                pool.decode_only_steps += 1;
                pool.eager_steps += u64::from(batch.eager);
            }
            let history = &mut pool.iterations;
            if history.len() == ITERATION_HISTORY {
                history.pop_front();
            }
            history.push_back(IterationRecord { batch, duration: d });
            out.record(|| ClusterRecord::Iteration {
                worker: w,
                pool: worker.pool,
                start: sched.now(),
                duration: d,
                batch,
                waiting: worker.engine.load().waiting,
                kv_utilisation: worker.engine.kv().utilisation(),
            });
        }
        if !self.scratch.events.is_empty() {
            let mut scratch = std::mem::take(&mut self.scratch);
            self.apply_engine_output(w, &mut scratch, sched, out);
            self.scratch = scratch;
        }
    }

    /// A worker's iteration ended: records what it made and starts its next one.
    pub(super) fn iteration_done<E: From<ClusterEvent>>(
        &mut self,
        w: WorkerId,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        let now = sched.now();
        if self.workers[w.0 as usize].state == WorkerState::Stopped {
            return; // it died mid-iteration: the iteration never ends
        }
        self.workers[w.0 as usize]
            .engine
            .complete_iteration(now, &mut self.scratch);
        let mut scratch = std::mem::take(&mut self.scratch);
        self.apply_engine_output(w, &mut scratch, sched, out);
        self.scratch = scratch;
        self.kick(w, sched, out);
        if Some(self.workers[w.0 as usize].pool) == self.decode {
            self.retry_handoffs(sched, out);
        }
        self.stop_if_drained(w, sched);
    }

    fn apply_engine_output<E: From<ClusterEvent>>(
        &mut self,
        w: WorkerId,
        scratch: &mut IterationOutput,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        out.tokens += scratch.tokens;
        out.itl_gaps.append(&mut scratch.itl_gaps);
        scratch.tokens = 0;
        for event in scratch.events.drain(..) {
            match event {
                EngineEvent::Admitted { request } => out.notices.push(Notice::Admitted {
                    handle: request,
                    worker: w,
                }),
                EngineEvent::FirstToken { request } => {
                    out.notices.push(Notice::FirstToken { handle: request })
                }
                EngineEvent::Preempted { request } => {
                    out.notices.push(Notice::Preempted { handle: request })
                }
                EngineEvent::Finished { request, max_itl } => out.notices.push(Notice::Finished {
                    handle: request,
                    max_itl,
                }),
                EngineEvent::PrefillDone { request, slot } => {
                    let spec = self.workers[w.0 as usize].engine.parked_spec(slot);
                    let handoff = Handoff {
                        spec,
                        from: w,
                        from_slot: slot,
                        failures: 0,
                    };
                    debug_assert_eq!(handoff.spec.request, request);
                    self.handoffs.push_back(handoff);
                }
            }
        }
        if !self.handoffs.is_empty() {
            self.retry_handoffs(sched, out);
        }
    }
}
