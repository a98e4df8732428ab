//! Faults: workers killed mid-iteration, nodes down and back, stragglers, degraded NIC
//! links and failed KV transfers.

use servesim_core::{Scheduler, SimDuration};

use super::{Cluster, ClusterEvent, ClusterOutput, Notice, TransferOutcome, WorkerId, WorkerState};
use crate::engine::Engine;
use crate::network::{LinkId, TransferId, Vertex};

impl Cluster {
    /// Kills a worker now, mid-iteration if it is in one: everything it holds is
    /// lost ([`Notice::Lost`]), transfers from or to it are cancelled (the other
    /// side frees its blocks), its GPUs are given back (a down node only blocks new
    /// placements). With `replace`, a worker that was starting or serving (not one
    /// being retired) is replaced through the normal start-up path: at once where GPUs
    /// allow, else when a node comes back, unless a planner decision for the pool
    /// comes first.
    pub fn kill_worker<E: From<ClusterEvent>>(
        &mut self,
        w: WorkerId,
        replace: bool,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        let now = sched.now();
        let worker = &mut self.workers[w.0 as usize];
        if worker.state == WorkerState::Stopped {
            return;
        }
        if let Some(key) = worker.ready_key.take() {
            sched.cancel(key);
        }
        let pool = worker.pool;
        let replace = replace && matches!(worker.state, WorkerState::Starting | WorkerState::Ready);
        let lost = worker.engine.held_requests();
        let config = worker.engine.config().clone();
        worker.engine = Engine::new(config); // its KV cache is gone
        let ids: Vec<TransferId> = self
            .transfers
            .iter()
            .filter(|(_, t)| t.handoff.from == w || t.to == w)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let t = self.transfers.remove(&id).expect("listed transfer");
            self.network.cancel_transfer(now, id);
            out.record(|| t.record(now, TransferOutcome::Cancelled));
            if t.handoff.from == w {
                self.workers[t.to.0 as usize].engine.release(t.to_slot);
                self.kick(t.to, sched, out);
            } else {
                let from = t.handoff.from;
                self.workers[from.0 as usize]
                    .engine
                    .release(t.handoff.from_slot);
                self.kick(from, sched, out);
                self.stop_if_drained(from, sched);
            }
        }
        self.handoffs.retain(|h| h.from != w);
        self.stop(w, now);
        for held in lost {
            out.notices.push(Notice::Lost {
                handle: held.request,
                reason: "worker lost",
                made: held.made,
                last_token_at: held.last_token_at,
                longest_gap: held.longest_gap,
            });
        }
        self.schedule_network_check(sched);
        if replace && self.start_worker(pool, sched).is_none() {
            // No other node has room now: replace it when a node comes back.
            self.pools[pool.0 as usize].owed_replacements += 1;
        }
        // Its GPUs, if not its replacement's, may start a worker owed elsewhere.
        self.start_owed(sched);
        // Hand-offs may now find room on the surviving decode workers.
        self.retry_handoffs(sched, out);
    }

    /// Takes a node down (`true`: its workers die, and with `replace` are replaced
    /// elsewhere where GPUs allow; nothing is placed there until it is back) or ends one
    /// fault holding it down (`false`; when none does, the replacements that found no
    /// GPUs start).
    pub fn set_node_down<E: From<ClusterEvent>>(
        &mut self,
        node: u32,
        down: bool,
        replace: bool,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        let still_down = self.gpus.set_node_down(node, down);
        if !down {
            if still_down {
                return;
            }
            // Workers owed while no GPUs were to be had start now, where they fit.
            self.start_owed(sched);
            return;
        }
        let victims: Vec<WorkerId> = (0..self.workers.len() as u32)
            .map(WorkerId)
            .filter(|w| {
                let worker = &self.workers[w.0 as usize];
                worker.state != WorkerState::Stopped
                    && worker.gpus.iter().any(|&g| self.gpus.node_of(g) == node)
            })
            .collect();
        for w in victims {
            self.kill_worker(w, replace, sched, out);
        }
    }

    /// Makes a worker a straggler: its iterations take `factor` times as long (1 restores it).
    pub fn set_slowdown(&mut self, w: WorkerId, factor: f64) {
        self.workers[w.0 as usize].slowdown = factor;
    }

    /// Scales the capacity of every link of a node's NICs by `factor` of nominal
    /// (0: the links are down and transfers over them stall; 1: restored).
    pub fn set_node_links<E: From<ClusterEvent>>(
        &mut self,
        node: u32,
        factor: f64,
        sched: &mut Scheduler<E>,
    ) {
        let now = sched.now();
        let on_node = |v: &Vertex| matches!(v, Vertex::Nic(g) if self.gpus.node_of(g.0) == node);
        let links: Vec<(u32, f64)> = self
            .network
            .topology()
            .links()
            .iter()
            .enumerate()
            .filter(|(_, l)| on_node(&l.from) || on_node(&l.to))
            .map(|(i, l)| (i as u32, l.capacity))
            .collect();
        for (i, nominal) in links {
            let nominal = *self.nominal_links.entry(i).or_insert(nominal);
            self.network
                .set_link_capacity(now, LinkId(i), nominal * factor.max(0.0))
                .expect("a link of the topology");
        }
        self.schedule_network_check(sched);
    }

    /// Fails every KV transfer in flight: the decode side frees its blocks and the
    /// KV is sent again from the prefill worker, up to `max_transfer_failures`
    /// times, after which the request is lost. Returns how many failed.
    pub fn fail_transfers<E: From<ClusterEvent>>(
        &mut self,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) -> u32 {
        let now = sched.now();
        let failed = std::mem::take(&mut self.transfers);
        let n = failed.len() as u32;
        let mut retry = Vec::new();
        for (id, mut t) in failed {
            self.network.cancel_transfer(now, id);
            out.record(|| t.record(now, TransferOutcome::Failed));
            self.workers[t.to.0 as usize].engine.release(t.to_slot);
            out.notices.push(Notice::TransferFailed {
                handle: t.handoff.spec.request,
            });
            t.handoff.failures += 1;
            if t.handoff.failures > self.max_transfer_failures {
                let h = t.handoff;
                self.workers[h.from.0 as usize].engine.release(h.from_slot);
                // Parked on its prefill worker: its first token was never shown.
                out.notices.push(Notice::Lost {
                    handle: h.spec.request,
                    reason: "KV transfer failed",
                    made: 0,
                    last_token_at: now,
                    longest_gap: SimDuration::ZERO,
                });
                self.kick(h.from, sched, out);
                self.stop_if_drained(h.from, sched);
            } else {
                retry.push(t.handoff);
            }
        }
        // Failed hand-offs go first (in transfer-id order: deterministic).
        for h in retry.into_iter().rev() {
            self.handoffs.push_front(h);
        }
        self.schedule_network_check(sched);
        self.retry_handoffs(sched, out);
        n
    }
}
