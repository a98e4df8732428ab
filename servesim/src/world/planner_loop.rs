//! The planner in the loop: metrics scraped `scrape_lag` before each decision, decisions
//! applied to the cluster or, in advisory mode, only recorded. In a stepped world
//! ([`crate::Stepper`]) the decisions come from outside the event loop: each observation
//! waits for one, and the stepper stops the simulation until it is given.

use std::collections::VecDeque;

use serde::Serialize;

use servesim_core::{Scheduler, SimDuration, SimTime};
use servesim_models::cluster::RoutedHits;
use servesim_planner::{
    Decision, IntervalStats, IterationSample, Observation, Planner, PoolObservation,
};

use super::{Event, World};
use crate::Error;
use crate::scenario::Scenario;
use crate::trace::PoolDecision;

/// A planner decision for one pool: applied, or only recorded (advisory mode, or held back by
/// the policy).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScalingEvent {
    /// When the decision was taken, s.
    pub time_s: f64,
    /// The pool.
    pub pool: String,
    /// Workers starting or ready before.
    pub active_before: u32,
    /// Workers the planner asked for.
    pub target: u32,
    /// Workers asked for from the cluster that found GPUs at once.
    pub started: u32,
    /// Workers asked for that found no GPUs under the budget: owed to the pool, they start
    /// as soon as GPUs are freed (a draining worker stops, a node comes back), as a
    /// Kubernetes pod stays pending until its GPUs are to be had; a later decision for the
    /// pool takes their place.
    pub pending: u32,
    /// Workers stopped or set draining.
    pub stopped: u32,
    /// False in advisory mode and where the policy held the target back.
    pub applied: bool,
    /// Requests completed in the interval the decision read.
    pub observed_completed: u64,
    /// Requests arrived (started at the frontend) in that interval.
    pub observed_arrived: u64,
    /// Why, in the policy's words (empty where it gives none).
    pub reason: String,
}

/// A finished request as the planner's metrics see it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Completion {
    pub(super) at: SimTime,
    pub(super) isl: u32,
    pub(super) osl: u32,
    pub(super) ttft_ms: f64,
    pub(super) itl_ms: Option<f64>,
}

/// Requests that arrived since the last scrape, summed as they arrive (the scrape only reads
/// the sums: the cost per arrival is a few additions, whatever the interval).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Arrived {
    pub(super) count: u64,
    pub(super) isl: u64,
    pub(super) osl: u64,
}

impl Arrived {
    pub(super) fn add(&mut self, isl: u32, osl: u32) {
        self.count += 1;
        self.isl += u64::from(isl);
        self.osl += u64::from(osl);
    }

    fn mean(&self, sum: u64) -> Option<f64> {
        (self.count > 0).then(|| sum as f64 / self.count as f64)
    }
}

/// The planner in the loop.
pub(super) struct PlannerLoop {
    pub(super) planner: Box<dyn Planner>,
    pub(super) advisory: bool,
    pub(super) interval: SimDuration,
    pub(super) scrape_lag: SimDuration,
    pub(super) startup_s: Vec<f64>,
    pub(super) max_kv_tokens: Vec<u64>,
    /// Each pool's router predictions at the last scrape (counters: the interval's are the
    /// difference).
    pub(super) routed_hits: Vec<RoutedHits>,
    /// Observations scraped and not yet decided on.
    pub(super) pending: VecDeque<Observation>,
    /// Requests finished in the current scrape window, oldest first.
    pub(super) window: VecDeque<Completion>,
    /// Requests arrived since the last scrape (scrapes are one interval apart, so this is the
    /// scrape window).
    pub(super) arrived: Arrived,
    pub(super) events: Vec<ScalingEvent>,
    /// Decisions taken, those changing nothing included.
    pub(super) decisions: u64,
    /// Decisions whose counts the GPU budget cut, and the most GPUs one of them asked for.
    pub(super) budget_cut: (u64, Option<u32>),
    /// Decisions come from outside the event loop (a stepped world): the observation of a
    /// decision time waits in `awaiting` instead of going to `planner`.
    pub(super) outside: bool,
    /// The observation waiting for a decision from outside.
    pub(super) awaiting: Option<Observation>,
}

/// The planner of a stepped world, whose decisions come from outside the event loop: it
/// only says how often they are due, and is never asked for one.
pub(super) struct Outside {
    pub(super) interval_s: f64,
}

impl Planner for Outside {
    fn name(&self) -> &'static str {
        "external"
    }
    fn interval_s(&self) -> f64 {
        self.interval_s
    }
    fn decide(&mut self, obs: &Observation) -> Decision {
        Decision::unchanged(obs.pools.len())
    }
}

/// Puts `planner` in the loop of a run of `s`, with the scenario's `advisory` and
/// `scrape_lag_s` settings (none and zero without a `planner:` section).
pub(super) fn planner_loop(s: &Scenario, planner: Box<dyn Planner>) -> Result<PlannerLoop, Error> {
    let bad = |field: &str, message: String| Error::Config {
        path: format!("planner.{field}"),
        message,
    };
    // The same bound as a scenario's `planner.interval_s`, for planners from elsewhere (a
    // lookahead policy's own interval, a Python planner's `interval_s`).
    let interval_s = planner.interval_s();
    if !(interval_s.is_finite() && interval_s >= crate::scenario::MIN_INTERVAL_S) {
        return Err(bad(
            "interval_s",
            format!(
                "the planner's interval must be at least {} s, got {interval_s}",
                crate::scenario::MIN_INTERVAL_S
            ),
        ));
    }
    let interval = SimDuration::from_secs_f64_round(interval_s)
        .map_err(|e| bad("interval_s", e.to_string()))?;
    let cfg = s.planner();
    let lag = cfg.map_or(0.0, |c| c.scrape_lag_s);
    let scrape_lag =
        SimDuration::from_secs_f64_round(lag).map_err(|e| bad("scrape_lag_s", e.to_string()))?;
    Ok(PlannerLoop {
        planner,
        advisory: cfg.is_some_and(|c| c.advisory),
        interval,
        scrape_lag,
        startup_s: s.pools().iter().map(|p| p.startup.as_secs_f64()).collect(),
        max_kv_tokens: s
            .pools()
            .iter()
            .map(|p| p.engine.kv_blocks * u64::from(p.engine.block_tokens))
            .collect(),
        routed_hits: vec![RoutedHits::default(); s.pools().len()],
        pending: VecDeque::new(),
        window: VecDeque::new(),
        arrived: Arrived::default(),
        events: Vec::new(),
        decisions: 0,
        budget_cut: (0, None),
        outside: false,
        awaiting: None,
    })
}

impl World {
    pub(super) fn scrape(&mut self, now: SimTime) {
        let Some(pl) = self.planner.as_mut() else {
            return;
        };
        let start = now.checked_sub(pl.interval).unwrap_or(SimTime::ZERO);
        while pl.window.front().is_some_and(|c| c.at <= start) {
            pl.window.pop_front();
        }
        let done: Vec<Completion> = pl.window.iter().copied().filter(|c| c.at <= now).collect();
        let mean = |f: &dyn Fn(&Completion) -> Option<f64>| {
            let v: Vec<f64> = done.iter().filter_map(f).collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        };
        let p90 = |f: &dyn Fn(&Completion) -> Option<f64>| {
            let mut v: Vec<f64> = done.iter().filter_map(f).collect();
            v.sort_by(f64::total_cmp);
            (!v.is_empty())
                .then(|| v[((v.len() as f64 * 0.9).ceil() as usize).clamp(1, v.len()) - 1])
        };
        let interval = IntervalStats {
            requests: done.len() as u64,
            mean_isl: mean(&|c| Some(f64::from(c.isl))),
            mean_osl: mean(&|c| Some(f64::from(c.osl))),
            ttft_mean_ms: mean(&|c| Some(c.ttft_ms)),
            ttft_p90_ms: p90(&|c| Some(c.ttft_ms)),
            itl_mean_ms: mean(&|c| c.itl_ms),
            itl_p90_ms: p90(&|c| c.itl_ms),
            arrived: pl.arrived.count,
            arrived_mean_isl: pl.arrived.mean(pl.arrived.isl),
            arrived_mean_osl: pl.arrived.mean(pl.arrived.osl),
        };
        pl.arrived = Arrived::default();
        let pools = self
            .cluster
            .pool_ids()
            .map(|p| {
                let s = self.cluster.pool_stats(p);
                let (now_hits, last) = (s.routed_hits, pl.routed_hits[p.0 as usize]);
                pl.routed_hits[p.0 as usize] = now_hits;
                let routed = now_hits.requests.saturating_sub(last.requests);
                let kv_hit_rate = (routed > 0)
                    .then(|| (now_hits.hit_rate_sum - last.hit_rate_sum) / routed as f64);
                PoolObservation {
                    name: self.cluster.pool_name(p).to_string(),
                    role: self.cluster.pool_role(p),
                    gpus_per_worker: self.cluster.gpus_per_worker(p),
                    ready: s.ready,
                    starting: s.starting + self.cluster.pending_workers(p),
                    draining: s.draining,
                    queue_depth: s.waiting(),
                    queued_prefill_tokens: s.queued_prefill_tokens,
                    kv_utilisation: self
                        .cluster
                        .ready_worker_loads(p)
                        .iter()
                        .map(|(_, l)| l.kv_utilisation)
                        .collect(),
                    max_kv_tokens: pl.max_kv_tokens[p.0 as usize],
                    iterations: self
                        .cluster
                        .recent_iterations(p)
                        .iter()
                        .map(|r| IterationSample {
                            prefill_tokens: r.batch.prefill_tokens,
                            decode_seqs: r.batch.decode_seqs,
                            decode_kv_tokens: r.batch.decode_kv_tokens,
                            duration_ms: r.duration.as_millis_f64(),
                        })
                        .collect(),
                    kv_hit_rate,
                }
            })
            .collect();
        pl.pending.push_back(Observation {
            now_s: now.as_secs_f64(),
            interval_s: pl.interval.as_secs_f64(),
            pools,
            interval,
            gpu_budget: self.cluster.gpu_budget(),
            gpus_in_use: self.cluster.gpus_in_use(),
            slo_ttft_ms: self.slo_ttft_ms,
            slo_itl_ms: self.slo_itl_ms,
            startup_s: pl.startup_s.clone(),
        });
    }

    pub(super) fn decide(&mut self, sched: &mut Scheduler<Event>) {
        let Some(pl) = self.planner.as_mut() else {
            return;
        };
        let Some(mut obs) = pl.pending.pop_front() else {
            return;
        };
        obs.now_s = sched.now().as_secs_f64();
        if pl.outside {
            pl.awaiting = Some(obs);
            return;
        }
        let decision = pl.planner.decide(&obs);
        self.apply(&obs, &decision, sched);
    }

    /// The observation waiting for a decision from outside (a stepped world).
    pub fn awaiting_decision(&self) -> Option<&Observation> {
        self.planner.as_ref().and_then(|p| p.awaiting.as_ref())
    }

    /// Applies `decision` to the observation waiting for one; false when none waits.
    pub(crate) fn decide_awaiting(
        &mut self,
        decision: &Decision,
        sched: &mut Scheduler<Event>,
    ) -> bool {
        let Some(obs) = self.planner.as_mut().and_then(|p| p.awaiting.take()) else {
            return false;
        };
        self.apply(&obs, decision, sched);
        true
    }

    /// What the planner would be shown at `now` (a stepped world's last observation, at
    /// its end): the observation waiting for a decision, else one scraped now.
    pub(crate) fn observe_now(&mut self, now: SimTime) -> Option<Observation> {
        if let Some(obs) = self.planner.as_mut().and_then(|p| p.awaiting.take()) {
            return Some(obs);
        }
        self.scrape(now);
        self.planner.as_mut().and_then(|p| p.pending.pop_back())
    }

    fn apply(&mut self, obs: &Observation, decision: &Decision, sched: &mut Scheduler<Event>) {
        let Some(pl) = self.planner.as_mut() else {
            return;
        };
        pl.decisions += 1;
        if let Some(gpus) = decision.asked_gpus {
            pl.budget_cut = (pl.budget_cut.0 + 1, pl.budget_cut.1.max(Some(gpus)));
        }
        let mut traced = Vec::new();
        if self.trace.is_some() {
            for pool in self.cluster.pool_ids() {
                traced.push(PoolDecision {
                    pool: self.cluster.pool_name(pool).to_string(),
                    before: self.cluster.active_workers(pool),
                    target: decision.targets.get(usize::from(pool.0)).copied().flatten(),
                });
            }
        }
        // Why the targets are only recorded, if they are: advisory mode, or held back.
        let unapplied = match (pl.advisory, decision.held) {
            (true, _) => Some("advisory"),
            (false, true) => Some("held"),
            (false, false) => None,
        };
        let applied = unapplied.is_none();
        for (i, target) in decision.targets.iter().enumerate() {
            let (Some(target), Some(pool)) = (*target, self.cluster.pool_ids().nth(i)) else {
                continue;
            };
            // Workers waiting for GPUs count as asked for, as the observation has them.
            let before = self.cluster.active_workers(pool) + self.cluster.pending_workers(pool);
            if target == before {
                continue;
            }
            let (started, stopped) = if applied {
                if let Some(faults) = self.faults.as_mut() {
                    faults.lower_recovery_goal(pool, target);
                }
                self.cluster.set_target(pool, target, sched)
            } else {
                (0, 0)
            };
            pl.events.push(ScalingEvent {
                time_s: sched.now().as_secs_f64(),
                pool: self.cluster.pool_name(pool).to_string(),
                active_before: before,
                target,
                started,
                pending: if applied {
                    self.cluster.pending_workers(pool)
                } else {
                    0
                },
                stopped,
                applied,
                observed_completed: obs.interval.requests,
                observed_arrived: obs.interval.arrived,
                reason: decision.reason.clone(),
            });
        }
        if let Some(trace) = self.trace.as_deref_mut() {
            trace.decision(sched.now(), &traced, unapplied, &decision.reason);
        }
    }
}

/// When the first planner decision falls: the first multiple of `interval` at or past
/// `lag`, counted at once (a lag of many intervals stepped one at a time stalled the start).
pub(super) fn first_decision(interval: SimDuration, lag: SimDuration) -> SimDuration {
    let step = interval.as_nanos().max(1);
    let k = lag.as_nanos().div_ceil(step).max(1);
    SimDuration::from_nanos(k.saturating_mul(step))
}

/// One prefill and one decode worker under more prompts than the prefill worker serves (no
/// planner): the world's tests and the stepper's start from it.
#[cfg(test)]
pub(crate) const SATURATED: &str = "
name: saturated
seed: 3
duration_s: 40
model: meta-llama/Llama-3.1-8B-Instruct
gpu: h100_sxm
backend: vllm
slo: {ttft_ms: 200, itl_ms: 20}
cluster:
  nodes: 1
  pools:
    - {name: prefill, role: prefill, tp: 1, workers: 1}
    - {name: decode, role: decode, tp: 1, workers: 1}
traffic:
  streams:
    - name: s
      open:
        arrival: {kind: poisson, rate_per_s: 60}
        input: {kind: fixed, value: 3000}
        output: {kind: fixed, value: 20}
";

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use servesim_planner::{Decision, IntervalStats, Observation, Planner};

    use servesim_core::SimDuration;

    use super::{SATURATED, first_decision};
    use crate::run::Run;
    use crate::scenario::Scenario;

    /// Records what it is shown, changes nothing.
    struct Recorder(Arc<Mutex<Vec<IntervalStats>>>);

    impl Planner for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }
        fn interval_s(&self) -> f64 {
            10.0
        }
        fn decide(&mut self, obs: &Observation) -> Decision {
            self.0.lock().unwrap().push(obs.interval);
            Decision::unchanged(obs.pools.len())
        }
    }

    #[test]
    fn the_run_records_each_scaling_decision_with_what_it_read_and_why() {
        let yaml = format!("{SATURATED}planner: {{policy: sla, interval_s: 10}}\n");
        let s = Scenario::from_yaml_str(&yaml, "saturated", Path::new(".")).unwrap();
        let (summary, _) = crate::run::run(&s).unwrap();
        let prefill: Vec<_> = summary
            .scaling_events
            .iter()
            .filter(|e| e.pool == "prefill")
            .collect();
        assert!(!prefill.is_empty(), "{:?}", summary.scaling_events);
        let first = prefill[0];
        assert!(first.target > first.active_before, "{first:?}");
        assert!(
            first.observed_arrived > first.observed_completed,
            "{first:?}"
        );
        assert!(
            first.reason.starts_with("throughput: ") && first.reason.contains("(arrivals)"),
            "{first:?}"
        );
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(
            json["scaling_events"][0]["pool"],
            summary.scaling_events[0].pool
        );
        assert!(json["scaling_events"][0]["reason"].is_string());
    }

    #[test]
    fn a_saturated_pool_is_observed_at_its_arrival_rate_beside_its_completion_rate() {
        // 60 req/s of 3000-token prompts: 180k prompt tokens/s, several times what one TP1
        // prefill worker computes (~45k), so completions are capped far below the arrivals.
        let yaml = SATURATED;
        let s = Scenario::from_yaml_str(yaml, "saturated", Path::new(".")).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let run = Run::with_planner(&s, Box::new(Recorder(seen.clone()))).unwrap();
        run.finish().unwrap();
        let seen = seen.lock().unwrap();
        assert!(seen.len() >= 3, "{seen:?}");
        for st in &seen[1..] {
            let arrived = st.arrived as f64 / 10.0;
            let completed = st.requests as f64 / 10.0;
            assert!((45.0..75.0).contains(&arrived), "{st:?}");
            assert!(completed < arrived / 2.0, "{st:?}");
            assert_eq!(st.arrived_mean_isl, Some(3000.0));
            assert_eq!(st.arrived_mean_osl, Some(20.0));
        }
        // Every arrival is counted once, in one interval.
        let total: u64 = seen.iter().map(|st| st.arrived).sum();
        assert!(total > 0 && total <= 60 * 40 + 300, "{total}");
    }

    #[test]
    fn the_first_decision_is_the_first_interval_past_the_lag() {
        let s = SimDuration::from_nanos;
        // As stepping one interval at a time would find it.
        for (interval, lag) in [(10, 0), (10, 5), (10, 10), (10, 11), (3, 1_000_000_007)] {
            let mut first = interval;
            while first < lag {
                first += interval;
            }
            assert_eq!(
                first_decision(s(interval), s(lag)),
                s(first),
                "{interval} {lag}"
            );
        }
        // A lag of 10^16 intervals, at once.
        assert_eq!(first_decision(s(1), s(10_u64.pow(16))), s(10_u64.pow(16)));
    }
}
