//! Workers' lives: placing a worker on GPUs, starting it, scaling a pool to a target,
//! draining and stopping, and the GPU-time integrals that every change of GPUs held
//! brings up to date.

use servesim_core::{Scheduler, SimTime};

use super::{Cluster, ClusterEvent, ClusterOutput, PoolId, Worker, WorkerId, WorkerState};
use crate::engine::Engine;

impl Cluster {
    /// GPUs held by the pool's workers that have not stopped.
    pub(super) fn held_by(&self, pool: PoolId) -> u32 {
        self.pools[pool.0 as usize]
            .workers
            .iter()
            .filter(|w| self.workers[w.0 as usize].state != WorkerState::Stopped)
            .map(|w| self.workers[w.0 as usize].gpus.len() as u32)
            .sum()
    }

    /// Brings the GPU-time integrals up to `now` (call before any change in GPUs held).
    fn account_gpus(&mut self, now: SimTime) {
        let dt = u128::from((now - self.last_gpu_change).as_nanos());
        for p in 0..self.pools.len() {
            let held = u128::from(self.held_by(PoolId(p as u16)));
            self.pools[p].gpu_ns += held * dt;
        }
        self.last_gpu_change = now;
    }

    pub(super) fn place_worker(&mut self, pool: PoolId, now: SimTime) -> Option<WorkerId> {
        let spec = &self.pools[pool.0 as usize].spec;
        let gpus = self.gpus.take(spec.gpus_per_worker)?;
        let engine = Engine::new(spec.engine.clone());
        self.account_gpus(now);
        let id = WorkerId(self.workers.len() as u32);
        self.workers.push(Worker {
            pool,
            state: WorkerState::Starting,
            gpus,
            engine,
            slowdown: 1.0,
            ready_key: None,
            handoffs_seen: 0,
        });
        self.pools[pool.0 as usize].workers.push(id);
        Some(id)
    }

    /// Scales a pool towards `target` active workers: new workers start (as far
    /// as GPUs allow; the others are owed to the pool and start as soon as GPUs are
    /// freed, as a Kubernetes pod stays pending until its GPUs are to be had), surplus
    /// ones stop if still starting, else drain (the least loaded first). Returns how many
    /// workers were asked for or released.
    pub fn set_target<E: From<ClusterEvent>>(
        &mut self,
        pool: PoolId,
        target: u32,
        sched: &mut Scheduler<E>,
    ) -> (u32, u32) {
        let active = self.active_workers(pool);
        // The decision takes the place of workers still owed to the pool.
        let p = &mut self.pools[pool.0 as usize];
        (p.owed, p.owed_replacements) = (0, 0);
        let (mut added, mut removed) = (0, 0);
        if target > active {
            for _ in active..target {
                if self.start_worker(pool, sched).is_none() {
                    self.pools[pool.0 as usize].owed = target - active - added;
                    break;
                }
                added += 1;
            }
        } else {
            for _ in target..active {
                let Some(w) = self.pick_victim(pool) else {
                    break;
                };
                self.retire(w, sched);
                removed += 1;
            }
        }
        (added, removed)
    }

    /// Asks for a new worker of `pool`: it holds its GPUs from now and serves after
    /// the pool's start-up time. `None` when the GPUs are not to be had.
    pub(super) fn start_worker<E: From<ClusterEvent>>(
        &mut self,
        pool: PoolId,
        sched: &mut Scheduler<E>,
    ) -> Option<WorkerId> {
        let w = self.place_worker(pool, sched.now())?;
        let startup = self.pools[pool.0 as usize].spec.startup;
        let key = sched.schedule_cancellable_in(startup, ClusterEvent::WorkerReady(w).into());
        self.workers[w.0 as usize].ready_key = Some(key);
        Some(w)
    }

    /// A starting worker is ready: it takes the requests that waited for the pool and,
    /// in the decode pool, the hand-offs that found no room.
    pub(super) fn worker_ready<E: From<ClusterEvent>>(
        &mut self,
        w: WorkerId,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        let worker = &mut self.workers[w.0 as usize];
        if worker.state != WorkerState::Starting {
            return;
        }
        worker.state = WorkerState::Ready;
        worker.ready_key = None;
        let pool = worker.pool;
        let waiting = std::mem::take(&mut self.pools[pool.0 as usize].unrouted);
        for req in waiting {
            self.route(pool, req, sched, out);
        }
        if Some(pool) == self.decode {
            self.retry_handoffs(sched, out);
        }
    }

    /// The worker to remove: the newest starting one, else the least loaded ready one.
    fn pick_victim(&self, pool: PoolId) -> Option<WorkerId> {
        let ws = &self.pools[pool.0 as usize].workers;
        let starting = ws
            .iter()
            .rev()
            .find(|w| self.workers[w.0 as usize].state == WorkerState::Starting);
        starting.copied().or_else(|| {
            ws.iter()
                .filter(|w| self.workers[w.0 as usize].state == WorkerState::Ready)
                .min_by_key(|w| {
                    let l = self.workers[w.0 as usize].engine.load();
                    (
                        l.queued_prefill_tokens + l.decode_kv_tokens + l.running,
                        w.0,
                    )
                })
                .copied()
        })
    }

    fn retire<E: From<ClusterEvent>>(&mut self, w: WorkerId, sched: &mut Scheduler<E>) {
        let worker = &mut self.workers[w.0 as usize];
        match worker.state {
            WorkerState::Starting => {
                if let Some(key) = worker.ready_key.take() {
                    sched.cancel(key);
                }
                self.stop(w, sched.now());
                self.start_owed(sched);
            }
            WorkerState::Ready => {
                worker.state = WorkerState::Draining;
                self.stop_if_drained(w, sched);
            }
            WorkerState::Draining | WorkerState::Stopped => {}
        }
    }

    pub(super) fn stop(&mut self, w: WorkerId, now: SimTime) {
        self.account_gpus(now);
        let worker = &mut self.workers[w.0 as usize];
        worker.state = WorkerState::Stopped;
        let gpus = std::mem::take(&mut worker.gpus);
        self.gpus.give_back(&gpus);
    }

    /// Stops a draining worker that holds nothing any more; the GPUs it gives back start
    /// the workers owed to the pools.
    pub(super) fn stop_if_drained<E: From<ClusterEvent>>(
        &mut self,
        w: WorkerId,
        sched: &mut Scheduler<E>,
    ) {
        let worker = &self.workers[w.0 as usize];
        if worker.state == WorkerState::Draining
            && worker.engine.is_empty()
            && !worker.engine.is_busy()
        {
            self.stop(w, sched.now());
            self.start_owed(sched);
        }
    }

    /// Starts the workers owed to each pool where GPUs are now to be had, pool by pool: dead
    /// workers' replacements first (what the deployment had), then what decisions asked for.
    pub(super) fn start_owed<E: From<ClusterEvent>>(&mut self, sched: &mut Scheduler<E>) {
        for p in 0..self.pools.len() {
            let pool = PoolId(p as u16);
            while self.pools[p].owed_replacements > 0 && self.start_worker(pool, sched).is_some() {
                self.pools[p].owed_replacements -= 1;
            }
            while self.pools[p].owed > 0 && self.start_worker(pool, sched).is_some() {
                self.pools[p].owed -= 1;
                self.owed_started += 1;
            }
        }
    }

    /// Workers owed to a pool, waiting for GPUs (a decision's, dead workers' replacements):
    /// asked for, as a pending pod is, though not placed.
    pub fn pending_workers(&self, pool: PoolId) -> u32 {
        let p = &self.pools[pool.0 as usize];
        p.owed + p.owed_replacements
    }

    /// Workers that decisions asked for and that started later, once GPUs were freed.
    pub fn owed_started(&self) -> u64 {
        self.owed_started
    }
}
