//! The scenario's `faults:` schedule applied to the cluster (what a fault does to workers,
//! requests and transfers is the cluster's), and each fault's outcome: what it took, when
//! its pool recovered, and SLO attainment before, during and after.

use serde::Serialize;

use servesim_core::{Scheduler, SimDuration, SimTime, StreamRng};
use servesim_models::cluster::{Notice, PoolId, WorkerId};
use servesim_models::faults::{StrikeMiss, next_failure_in_s, struck_worker};

use super::{Event, World};
use crate::scenario::{FaultEvent, FaultsConfig};

/// What one fault did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultOutcome {
    /// The fault's kind.
    pub kind: &'static str,
    /// What it struck (pool and worker, node).
    pub target: String,
    /// When, s.
    pub at_s: f64,
    /// When it ended, s (`None`: a one-off, or lasting to the end).
    pub end_s: Option<f64>,
    /// Requests it took from the cluster (each retried or failed).
    pub requests_lost: u64,
    /// KV transfers it failed.
    pub transfers_failed: u64,
    /// When the struck pool had as many ready workers as before (worker or node
    /// loss; or as its planner has asked for since, if fewer), or when the fault ended
    /// (others), s; `None`: not within the run.
    pub recovered_at_s: Option<f64>,
    /// SLO attainment of requests finishing in the 5 minutes before.
    pub slo_attainment_before: Option<f64>,
    /// SLO attainment of requests finishing between the fault and the recovery.
    pub slo_attainment_during: Option<f64>,
    /// SLO attainment of requests finishing after the recovery.
    pub slo_attainment_after: Option<f64>,
}

impl std::fmt::Display for FaultOutcome {
    /// `node_down (node 0) at 400 s: 86 requests lost, …; SLO attainment before …`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No request finished in the window (an outage): said, not left as a dash.
        let pct = |x: Option<f64>| {
            x.map_or("none finished".to_string(), |v| {
                format!("{:.1}%", v * 100.0)
            })
        };
        // No recovery within the run: no window after it.
        let after = match self.recovered_at_s {
            Some(_) => format!(", after {}", pct(self.slo_attainment_after)),
            None => String::new(),
        };
        write!(
            f,
            "{} ({}) at {:.0} s: {} requests lost, {} transfers failed, recovered {}; SLO \
             attainment before {}, during {}{after}",
            self.kind,
            self.target,
            self.at_s,
            self.requests_lost,
            self.transfers_failed,
            self.recovered_at_s
                .map_or("not within the run".to_string(), |r| format!(
                    "at {r:.0} s ({:.0} s later)",
                    r - self.at_s
                )),
            pct(self.slo_attainment_before),
            pct(self.slo_attainment_during),
        )
    }
}

/// The faults of a run and their bookkeeping.
pub(super) struct FaultLoop {
    pub(super) config: FaultsConfig,
    /// One stream per fault, for the choices left to the seed.
    pub(super) rngs: Vec<StreamRng>,
    pub(super) outcomes: Vec<FaultOutcome>,
    /// Outcomes waiting for their pool to be back: (outcome index, pool, ready before).
    pub(super) recovering: Vec<(usize, PoolId, u32)>,
    /// Workers slowed by straggler fault `i`, to restore at its end.
    pub(super) stragglers: Vec<(usize, WorkerId)>,
}

impl FaultLoop {
    /// A planner asked for `target` workers of `pool`: a pool still recovering from a fault
    /// is back once it has that many ready, if fewer than before the fault (the planner no
    /// longer wants the rest).
    pub(super) fn lower_recovery_goal(&mut self, pool: PoolId, target: u32) {
        for (_, p, before) in &mut self.recovering {
            if *p == pool {
                *before = (*before).min(target);
            }
        }
    }
}

impl World {
    /// The live worker a fault strikes: the one named, else one drawn from the fault's
    /// stream; `Err` says why none is struck (the pool has no such live worker now).
    fn fault_worker(
        &mut self,
        i: usize,
        pool: &str,
        index: Option<u32>,
    ) -> Result<(PoolId, WorkerId), String> {
        let p = self
            .cluster
            .pool_ids()
            .find(|&p| self.cluster.pool_name(p) == pool)
            .ok_or_else(|| format!("{pool}: no such pool"))?;
        let live = self.cluster.live_workers(p);
        let Some(f) = self.faults.as_mut() else {
            return Err("faults are off".into());
        };
        match struck_worker(&live, index, &mut f.rngs[i]) {
            Ok(w) => Ok((p, w)),
            Err(StrikeMiss::NoneLive) => Err(format!("{pool}: no live worker")),
            Err(StrikeMiss::NoSuchWorker { index: k, live }) => Err(format!(
                "{pool} worker {k}: no such live worker ({live} live), nothing struck"
            )),
        }
    }

    fn outcome(&self, kind: &'static str, target: String, at: SimTime, lost: u64) -> FaultOutcome {
        FaultOutcome {
            kind,
            target,
            at_s: at.as_secs_f64(),
            end_s: None,
            requests_lost: lost,
            transfers_failed: 0,
            recovered_at_s: None,
            slo_attainment_before: None,
            slo_attainment_during: None,
            slo_attainment_after: None,
        }
    }

    /// The outcome of a fault that struck nothing: nothing lost, nothing to recover from.
    fn missed(&self, kind: &'static str, why: String, at: SimTime) -> FaultOutcome {
        let mut o = self.outcome(kind, why, at, 0);
        o.recovered_at_s = Some(at.as_secs_f64());
        o
    }

    /// Kills the worker a fault strikes (see [`World::fault_worker`]) and tells the outcome.
    fn strike(
        &mut self,
        i: usize,
        pool: &str,
        index: Option<u32>,
        replace: bool,
        sched: &mut Scheduler<Event>,
        recovering: &mut Vec<(PoolId, u32)>,
    ) -> FaultOutcome {
        let kind = self.faults.as_ref().expect("faults").config.events[i].kind();
        let now = sched.now();
        match self.fault_worker(i, pool, index) {
            Err(missed) => self.missed(kind, missed, now),
            Ok((p, w)) => {
                self.kill(p, w, replace, sched, recovering);
                let lost = self.lost_notices();
                self.outcome(kind, format!("{pool} worker {}", w.0), now, lost)
            }
        }
    }

    /// Kills a worker for a fault; its pool is then watched for recovery.
    fn kill(
        &mut self,
        pool: PoolId,
        w: WorkerId,
        replace: bool,
        sched: &mut Scheduler<Event>,
        recovering: &mut Vec<(PoolId, u32)>,
    ) {
        let before = self.cluster.pool_stats(pool).ready;
        self.cluster.kill_worker(w, replace, sched, &mut self.out);
        recovering.push((pool, before));
    }

    fn lost_notices(&self) -> u64 {
        self.out
            .notices
            .iter()
            .filter(|n| matches!(n, Notice::Lost { .. }))
            .count() as u64
    }

    pub(super) fn fault(&mut self, i: usize, sched: &mut Scheduler<Event>) {
        let Some(faults) = &self.faults else { return };
        let event = faults.config.events[i].clone();
        let replace = faults.config.replace_dead_workers;
        let now = sched.now();
        let end_in = |secs: f64| SimDuration::from_secs_f64_round(secs).unwrap_or(SimDuration::MAX);
        let mut recovering = Vec::new();
        let outcome = match &event {
            // A miss (no such live worker) is recorded, and random failures go on.
            FaultEvent::WorkerDown {
                pool,
                worker: index,
                ..
            } => self.strike(i, pool, *index, replace, sched, &mut recovering),
            FaultEvent::RandomWorkerFailures { pool, .. } => {
                self.strike(i, pool, None, replace, sched, &mut recovering)
            }
            FaultEvent::NodeDown {
                node, duration_s, ..
            } => {
                let before: Vec<(PoolId, u32)> = self
                    .cluster
                    .pool_ids()
                    .map(|p| (p, self.cluster.pool_stats(p).ready))
                    .collect();
                self.cluster
                    .set_node_down(*node, true, replace, sched, &mut self.out);
                recovering.extend(
                    before
                        .into_iter()
                        .filter(|&(p, r)| self.cluster.pool_stats(p).ready < r),
                );
                if let Some(d) = duration_s {
                    sched.schedule_in(end_in(*d), Event::FaultEnd(i as u16));
                }
                let lost = self.lost_notices();
                let mut o = self.outcome(event.kind(), format!("node {node}"), now, lost);
                o.end_s = duration_s.map(|d| now.as_secs_f64() + d);
                o
            }
            FaultEvent::Straggler {
                pool,
                worker,
                duration_s,
                slowdown,
                ..
            } => {
                let w = match self.fault_worker(i, pool, *worker) {
                    Ok((_, w)) => w,
                    Err(missed) => {
                        let outcome = self.missed(event.kind(), missed, now);
                        self.faults.as_mut().expect("faults").outcomes.push(outcome);
                        return;
                    }
                };
                self.cluster.set_slowdown(w, *slowdown);
                sched.schedule_in(end_in(*duration_s), Event::FaultEnd(i as u16));
                let mut o = self.outcome(
                    event.kind(),
                    format!("{pool} worker {} ×{slowdown}", w.0),
                    now,
                    0,
                );
                o.end_s = Some(now.as_secs_f64() + duration_s);
                // Remember which worker, for the end of the fault.
                self.faults
                    .as_mut()
                    .expect("faults")
                    .stragglers
                    .push((i, w));
                o
            }
            FaultEvent::LinkDegraded {
                node,
                duration_s,
                capacity_factor,
                ..
            } => {
                self.cluster.set_node_links(*node, *capacity_factor, sched);
                sched.schedule_in(end_in(*duration_s), Event::FaultEnd(i as u16));
                let mut o = self.outcome(
                    event.kind(),
                    format!("node {node} links ×{capacity_factor}"),
                    now,
                    0,
                );
                o.end_s = Some(now.as_secs_f64() + duration_s);
                o
            }
            FaultEvent::TransferFailure { .. } => {
                let failed = self.cluster.fail_transfers(sched, &mut self.out);
                let lost = self.lost_notices();
                let mut o = self.outcome(event.kind(), "transfers in flight".into(), now, lost);
                o.transfers_failed = u64::from(failed);
                o.recovered_at_s = Some(now.as_secs_f64());
                o
            }
        };
        let faults = self.faults.as_mut().expect("faults");
        let index = faults.outcomes.len();
        faults.outcomes.push(outcome);
        faults
            .recovering
            .extend(recovering.into_iter().map(|(p, r)| (index, p, r)));
        if let FaultEvent::RandomWorkerFailures { mtbf_s, end_s, .. } = event {
            let gap = next_failure_in_s(mtbf_s, &mut faults.rngs[i]);
            let next = now.as_secs_f64() + gap;
            if next < end_s.unwrap_or(f64::INFINITY) && gap.is_finite() {
                sched.schedule_in(end_in(gap), Event::Fault(i as u16));
            }
        }
        self.apply_notices(sched);
    }

    pub(super) fn fault_end(&mut self, i: usize, sched: &mut Scheduler<Event>) {
        let Some(faults) = &mut self.faults else {
            return;
        };
        let now = sched.now();
        match faults.config.events[i].clone() {
            FaultEvent::NodeDown { node, .. } => {
                self.cluster
                    .set_node_down(node, false, true, sched, &mut self.out)
            }
            FaultEvent::LinkDegraded { node, .. } => self.cluster.set_node_links(node, 1.0, sched),
            FaultEvent::Straggler { .. } => {
                if let Some(pos) = faults.stragglers.iter().position(|&(k, _)| k == i) {
                    let (_, w) = faults.stragglers.remove(pos);
                    self.cluster.set_slowdown(w, 1.0);
                }
            }
            _ => {}
        }
        let faults = self.faults.as_mut().expect("faults");
        let kind = faults.config.events[i].kind();
        for o in faults.outcomes.iter_mut().rev() {
            if o.kind == kind
                && o.recovered_at_s.is_none()
                && o.end_s.is_some_and(|e| e <= now.as_secs_f64() + 1e-9)
            {
                if !matches!(kind, "node_down") {
                    o.recovered_at_s = Some(now.as_secs_f64());
                }
                break;
            }
        }
        self.apply_notices(sched);
    }

    /// Marks faults whose pool is back to its ready count as recovered.
    pub(super) fn check_recovery(&mut self, now: SimTime) {
        let Some(faults) = &mut self.faults else {
            return;
        };
        let cluster = &self.cluster;
        faults.recovering.retain(|&(index, pool, before)| {
            if cluster.pool_stats(pool).ready >= before {
                let o = &mut faults.outcomes[index];
                o.recovered_at_s = Some(
                    o.recovered_at_s
                        .map_or(now.as_secs_f64(), |r| r.max(now.as_secs_f64())),
                );
                return false;
            }
            true
        });
    }

    /// The faults' outcomes, with attainment before, during and after each.
    pub fn fault_outcomes(&self) -> Vec<FaultOutcome> {
        let Some(faults) = &self.faults else {
            return Vec::new();
        };
        let step = self.sample_interval.as_secs_f64();
        let index = |t: f64| (t / step).ceil().max(0.0) as usize;
        let pending: Vec<usize> = faults.recovering.iter().map(|&(i, _, _)| i).collect();
        faults
            .outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let mut o = o.clone();
                if pending.contains(&i) {
                    o.recovered_at_s = None;
                }
                let at = index(o.at_s) + 1;
                o.slo_attainment_before = self
                    .metrics
                    .attainment_between(at.saturating_sub(index(300.0)), at);
                if let Some(r) = o.recovered_at_s {
                    let r = index(r) + 1;
                    o.slo_attainment_during = self.metrics.attainment_between(at, r.max(at + 1));
                    o.slo_attainment_after =
                        self.metrics.attainment_between(r.max(at + 1), usize::MAX);
                } else {
                    o.slo_attainment_during = self.metrics.attainment_between(at, usize::MAX);
                }
                o
            })
            .collect()
    }
}
