//! What the world, planners and reports read of the cluster: pools, workers, GPU time,
//! live figures and recent iterations. Nothing here changes the cluster.

use std::collections::VecDeque;

use servesim_core::SimTime;

use super::{Cluster, IterationRecord, PoolId, PoolRole, PoolStats, Worker, WorkerId, WorkerState};
use crate::engine::EngineLoad;

impl Cluster {
    /// The pools' ids, in order.
    pub fn pool_ids(&self) -> impl Iterator<Item = PoolId> + use<> {
        (0..self.pools.len() as u16).map(PoolId)
    }

    /// A pool's name.
    pub fn pool_name(&self, pool: PoolId) -> &str {
        &self.pools[pool.0 as usize].spec.name
    }

    /// A pool's role.
    pub fn pool_role(&self, pool: PoolId) -> PoolRole {
        self.pools[pool.0 as usize].spec.role
    }

    /// GPUs per worker of a pool.
    pub fn gpus_per_worker(&self, pool: PoolId) -> u32 {
        self.pools[pool.0 as usize].spec.gpus_per_worker
    }

    /// A worker.
    pub fn worker(&self, id: WorkerId) -> &Worker {
        &self.workers[id.0 as usize]
    }

    /// Workers ever placed, stopped ones included (their ids are `0..worker_count()`).
    pub fn worker_count(&self) -> u32 {
        self.workers.len() as u32
    }

    /// GPUs held now (starting, ready or draining workers).
    pub fn gpus_in_use(&self) -> u32 {
        self.gpus.in_use()
    }

    /// The GPU budget.
    pub fn gpu_budget(&self) -> u32 {
        self.gpus.budget()
    }

    /// GPU-seconds held by a pool up to `now`.
    pub fn gpu_seconds(&self, pool: PoolId, now: SimTime) -> f64 {
        let p = &self.pools[pool.0 as usize];
        let pending =
            u128::from(self.held_by(pool)) * u128::from((now - self.last_gpu_change).as_nanos());
        (p.gpu_ns + pending) as f64 / 1e9
    }

    /// A pool's decode-only iterations so far and how many of them ran eagerly, their
    /// batch of no captured CUDA graph size.
    pub fn eager_decode_steps(&self, pool: PoolId) -> (u64, u64) {
        let p = &self.pools[pool.0 as usize];
        (p.eager_steps, p.decode_only_steps)
    }

    /// Live figures of a pool.
    pub fn pool_stats(&self, pool: PoolId) -> PoolStats {
        let p = &self.pools[pool.0 as usize];
        let mut s = PoolStats {
            unrouted: p.unrouted.len() as u64,
            routed_hits: p.routed_hits,
            ..PoolStats::default()
        };
        if self.decode == Some(pool) {
            s.handoffs = self.handoffs.len() as u64;
        }
        // Requests waiting for a worker of a pool that prefills are prompt tokens it owes
        // too (all of them when it has no worker ready).
        if p.spec.role != PoolRole::Decode {
            s.queued_prefill_tokens = p.unrouted.iter().map(|r| u64::from(r.prompt_tokens)).sum();
        }
        let mut kv_sum = 0.0;
        let mut serving = 0;
        for w in &p.workers {
            let worker = &self.workers[w.0 as usize];
            match worker.state {
                WorkerState::Starting => s.starting += 1,
                WorkerState::Ready => s.ready += 1,
                WorkerState::Draining => s.draining += 1,
                WorkerState::Stopped => continue,
            }
            s.gpus_held += worker.gpus.len() as u32;
            if worker.state != WorkerState::Starting {
                let load = worker.engine.load();
                s.queued += load.waiting;
                s.queued_prefill_tokens += load.queued_prefill_tokens;
                s.running += load.running;
                kv_sum += load.kv_utilisation;
                serving += 1;
            }
        }
        s.kv_utilisation = if serving > 0 {
            kv_sum / f64::from(serving)
        } else {
            0.0
        };
        s
    }

    /// The pool's most recent iterations, oldest first.
    pub fn recent_iterations(&self, pool: PoolId) -> &VecDeque<IterationRecord> {
        &self.pools[pool.0 as usize].iterations
    }

    /// Live figures of each serving worker of a pool, by id.
    pub fn worker_loads(&self, pool: PoolId) -> Vec<(WorkerId, EngineLoad)> {
        self.workers_where(pool, |s| {
            matches!(s, WorkerState::Ready | WorkerState::Draining)
        })
        .map(|w| (w, self.workers[w.0 as usize].engine.load()))
        .collect()
    }

    /// Live figures of each worker of a pool that takes new requests (ready, not draining),
    /// by id: what a planner reads of the pool's load, which a worker emptying before it
    /// stops would dilute.
    pub fn ready_worker_loads(&self, pool: PoolId) -> Vec<(WorkerId, EngineLoad)> {
        self.workers_where(pool, |s| matches!(s, WorkerState::Ready))
            .map(|w| (w, self.workers[w.0 as usize].engine.load()))
            .collect()
    }

    /// Workers of a pool that are starting or ready (what a target counts).
    pub fn active_workers(&self, pool: PoolId) -> u32 {
        self.workers_where(pool, |s| {
            matches!(s, WorkerState::Starting | WorkerState::Ready)
        })
        .count() as u32
    }

    /// Workers of a pool that are not stopped, in creation order.
    pub fn live_workers(&self, pool: PoolId) -> Vec<WorkerId> {
        self.workers_where(pool, |s| s != WorkerState::Stopped)
            .collect()
    }

    /// The workers of a pool whose state passes `keep`, in creation order.
    fn workers_where<'a>(
        &'a self,
        pool: PoolId,
        keep: impl Fn(WorkerState) -> bool + 'a,
    ) -> impl Iterator<Item = WorkerId> + 'a {
        self.pools[pool.0 as usize]
            .workers
            .iter()
            .copied()
            .filter(move |w| keep(self.workers[w.0 as usize].state))
    }
}
