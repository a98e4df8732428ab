//! Policies on synthetic observation sequences (no world needed).

use std::path::PathBuf;

use crate::builder::{build, build_with_profile};
use crate::config::PlannerConfig;
use crate::context::{PlannerContext, PoolContext};
use crate::observation::{
    Decision, IntervalStats, IterationSample, Observation, PoolObservation, PoolRole,
};
use crate::planner::Planner;
use crate::policy_kind::POLICIES;
use crate::predict::PredictorConfig;
use crate::profile::tests::toy;

pub(crate) fn pool_ctx(name: &str, role: PoolRole) -> PoolContext {
    PoolContext {
        name: name.into(),
        role,
        gpus_per_worker: 2,
        initial_workers: 1,
        startup_s: 180.0,
        max_kv_tokens: 400_000,
        max_num_seqs: 256,
        max_batched_tokens: 8192,
        predictor: None,
    }
}

pub(crate) fn ctx(budget: u32) -> PlannerContext {
    PlannerContext {
        pools: vec![
            pool_ctx("prefill", PoolRole::Prefill),
            pool_ctx("decode", PoolRole::Decode),
        ],
        slo_ttft_ms: 500.0,
        slo_itl_ms: 30.0,
        gpu_budget: budget,
        base_dir: PathBuf::from("."),
    }
}

/// The live state of a toy cluster that follows decisions (workers start after `startup`).
pub(crate) struct Toy {
    pub now: f64,
    pub dt: f64,
    pub startup: f64,
    /// Per pool: ready workers, and start times of starting ones.
    pub ready: [u32; 2],
    pub starting: [Vec<f64>; 2],
    pub budget: u32,
    pub step: u32,
}

impl Toy {
    pub fn new(dt: f64, startup: f64, budget: u32) -> Self {
        Toy {
            now: 0.0,
            dt,
            startup,
            ready: [1, 1],
            starting: [Vec::new(), Vec::new()],
            budget,
            step: 0,
        }
    }

    /// An observation of the toy state with the given load.
    pub fn observe(&self, load: &Load) -> Observation {
        let pool = |i: usize, name: &str, role| PoolObservation {
            name: name.into(),
            role,
            gpus_per_worker: 2,
            ready: self.ready[i],
            starting: self.starting[i].len() as u32,
            draining: 0,
            queue_depth: if i == 0 { load.queue } else { 0 },
            queued_prefill_tokens: if i == 0 { load.queued_tokens } else { 0 },
            kv_utilisation: if i == 1 {
                vec![load.kv; self.ready[1] as usize]
            } else {
                vec![0.0; self.ready[0] as usize]
            },
            max_kv_tokens: 400_000,
            iterations: match load.busy {
                // 100 ms iterations worth `busy` worker-seconds per second, new each step,
                // after the last one of the step before (the lists overlap by one); each
                // computes 1,500 prompt tokens (15 k per busy second) and is told apart by
                // its KV marker.
                Some(b) if i == 0 => {
                    let n = (b * self.dt / 0.1).round() as u32;
                    let sample = |step: u32, j: u32| IterationSample {
                        prefill_tokens: 1500,
                        decode_kv_tokens: u64::from(step) * 100_000 + u64::from(j),
                        duration_ms: 100.0,
                        ..Default::default()
                    };
                    let mut v: Vec<IterationSample> = Vec::new();
                    if self.step > 0 && n > 0 {
                        v.push(sample(self.step - 1, n - 1));
                    }
                    v.extend((0..n).map(|j| sample(self.step, j)));
                    v
                }
                _ => Vec::new(),
            },
            kv_hit_rate: if i == 0 { load.kv_hit_rate } else { None },
        };
        let gpus = 2 * (self.ready[0] + self.ready[1]) as usize
            + 2 * (self.starting[0].len() + self.starting[1].len());
        Observation {
            now_s: self.now,
            interval_s: self.dt,
            pools: vec![
                pool(0, "prefill", PoolRole::Prefill),
                pool(1, "decode", PoolRole::Decode),
            ],
            interval: load.stats(self.dt),
            gpu_budget: self.budget,
            gpus_in_use: gpus as u32,
            slo_ttft_ms: 500.0,
            slo_itl_ms: 30.0,
            startup_s: vec![self.startup, self.startup],
        }
    }

    /// Applies a decision and advances one interval.
    pub fn apply(&mut self, d: &Decision) {
        for i in 0..2 {
            if let Some(t) = d.targets[i].filter(|_| !d.held) {
                let active = self.ready[i] + self.starting[i].len() as u32;
                if t > active {
                    for _ in active..t {
                        self.starting[i].push(self.now);
                    }
                } else {
                    for _ in t..active {
                        if self.starting[i].pop().is_none() {
                            self.ready[i] -= 1;
                        }
                    }
                }
            }
        }
        self.now += self.dt;
        self.step += 1;
        for i in 0..2 {
            let (startup, now) = (self.startup, self.now);
            let done = self.starting[i]
                .iter()
                .filter(|&&t| t + startup <= now)
                .count() as u32;
            self.starting[i].retain(|&t| t + startup > now);
            self.ready[i] += done;
        }
    }

    pub fn active(&self, i: usize) -> u32 {
        self.ready[i] + self.starting[i].len() as u32
    }
}

/// Synthetic load of one interval.
#[derive(Clone, Debug)]
pub(crate) struct Load {
    pub rate: f64,
    pub isl: f64,
    pub osl: f64,
    pub ttft: f64,
    pub itl: f64,
    pub queue: u64,
    pub queued_tokens: u64,
    pub kv: f64,
    /// Busy worker-seconds per second of the prefill pool (iteration samples), if any.
    pub busy: Option<f64>,
    /// Requests completed per second, when fewer than arrive (a saturated pool).
    pub served: Option<f64>,
    /// The prefill router's predicted KV hit rate, if it reports one.
    pub kv_hit_rate: Option<f64>,
}

impl Load {
    pub fn steady(rate: f64) -> Self {
        Load {
            rate,
            isl: 2000.0,
            osl: 200.0,
            ttft: 150.0,
            itl: 15.0,
            queue: 0,
            queued_tokens: 0,
            kv: 0.1,
            busy: None,
            served: None,
            kv_hit_rate: None,
        }
    }

    pub fn none() -> Self {
        Load {
            rate: 0.0,
            kv: 0.0,
            ..Load::steady(0.0)
        }
    }

    fn stats(&self, dt: f64) -> IntervalStats {
        let arrived = (self.rate * dt).round() as u64;
        let n = (self.served.unwrap_or(self.rate) * dt).round() as u64;
        let arrivals = IntervalStats {
            arrived,
            arrived_mean_isl: Some(self.isl),
            arrived_mean_osl: Some(self.osl),
            ..Default::default()
        };
        if n == 0 {
            return if arrived == 0 {
                IntervalStats::default()
            } else {
                arrivals
            };
        }
        IntervalStats {
            requests: n,
            mean_isl: Some(self.isl),
            mean_osl: Some(self.osl),
            ttft_mean_ms: Some(self.ttft),
            ttft_p90_ms: Some(self.ttft * 1.5),
            itl_mean_ms: Some(self.itl),
            itl_p90_ms: Some(self.itl * 1.2),
            ..arrivals
        }
    }
}

/// A profile folder that is not there fails the build of exactly the policies that read one.
#[test]
fn the_policies_said_to_read_a_profile_are_those_that_load_one() {
    for name in POLICIES {
        let kind = crate::PolicyKind::parse_at(name, "planner.policy").unwrap();
        let mut config = PlannerConfig::new(name, 30.0);
        config.profile_dir = Some("no-such-profile".into());
        let built = build(&config, &ctx(32), "planner");
        assert_eq!(built.is_err(), kind.reads_profile(), "{name}");
    }
}

fn planner(policy: &str, dt: f64, budget: u32) -> Box<dyn Planner> {
    let mut config = PlannerConfig::new(policy, dt);
    config.sla_load.load_interval_s = Some(dt);
    config.lookahead.interval_s = Some(dt);
    build_with_profile(&config, &ctx(budget), toy(), "planner").unwrap()
}

fn run(p: &mut dyn Planner, toy: &mut Toy, load: &Load, steps: usize) -> Vec<[u32; 2]> {
    let mut out = Vec::new();
    for _ in 0..steps {
        let d = p.decide(&toy.observe(load));
        assert_eq!(d.targets.len(), 2);
        toy.apply(&d);
        out.push([toy.active(0), toy.active(1)]);
    }
    out
}

fn gpus(counts: [u32; 2]) -> u32 {
    2 * (counts[0] + counts[1])
}

// ---------- build ----------

#[test]
fn unknown_policy_lists_the_known_ones() {
    let config = PlannerConfig::new("foo", 60.0);
    let e = build(&config, &ctx(16), "planner")
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        e,
        "planner.policy: unknown policy 'foo' (known: static, load-threshold, sla, sla-load, lookahead)"
    );
}

#[test]
fn bad_config_is_an_error_naming_the_field() {
    let c = ctx(16);
    let check = |config: PlannerConfig, want: &str| {
        let e = build_with_profile(&config, &c, toy(), "planner")
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with(want), "{e}");
    };
    check(PlannerConfig::new("sla", f64::NAN), "planner.interval_s");
    check(PlannerConfig::new("sla", 0.0), "planner.interval_s");
    let mut bad = PlannerConfig::new("sla", 60.0);
    bad.scrape_lag_s = -1.0;
    check(bad, "planner.scrape_lag_s");
    let mut bad = PlannerConfig::new("sla", 60.0);
    bad.min_replicas.insert("prefil".into(), 2);
    check(
        bad,
        "planner.min_replicas.prefil: unknown pool 'prefil' (pools: prefill, decode)",
    );
    let mut bad = PlannerConfig::new("sla", 60.0);
    bad.min_replicas.insert("decode".into(), 3);
    bad.max_replicas.insert("decode".into(), 2);
    check(bad, "planner.max_replicas.decode");
    let mut bad = PlannerConfig::new("sla", 60.0);
    bad.min_replicas.insert("decode".into(), 30);
    check(bad, "planner.min_replicas: the fewest workers need 62 GPUs");
    let mut bad = PlannerConfig::new("sla", 60.0);
    bad.predictor = Some(PredictorConfig::Holt {
        alpha: 2.0,
        beta: 0.1,
    });
    check(bad, "planner.predictor.alpha");
    let mut bad = PlannerConfig::new("load-threshold", 10.0);
    bad.load_threshold.kv_down = 0.95;
    check(bad, "planner.load_threshold.kv_down");
    let mut bad = PlannerConfig::new("lookahead", 30.0);
    bad.lookahead.hold_s = -1.0;
    check(bad, "planner.lookahead.hold_s");
    for share in [0.0, 1.0, f64::NAN] {
        let mut bad = PlannerConfig::new("lookahead", 30.0);
        bad.lookahead.attainment = share;
        check(bad, "planner.lookahead.attainment");
    }
    let mut bad = PlannerConfig::new("sla-load", 5.0);
    bad.sla_load.scale_down_margin = 0.0;
    check(bad, "planner.sla_load.scale_down_margin");
    let mut bad = PlannerConfig::new("sla-load", 60.0);
    bad.sla_load.load_interval_s = Some(f64::NAN);
    check(bad, "planner.sla_load.load_interval_s");
    // The fast loop slower than the throughput loop would run at the latter's pace instead.
    let mut bad = PlannerConfig::new("sla-load", 60.0);
    bad.sla_load.load_interval_s = Some(90.0);
    check(
        bad,
        "planner.sla_load.load_interval_s: 90 s is longer than planner.interval_s",
    );
    // Its default, as servesim wrote it into the planners it saved before, still loads.
    let mut saved = PlannerConfig::new("sla-load", 2.0);
    saved.sla_load.load_interval_s = Some(5.0);
    assert!(build_with_profile(&saved, &c, toy(), "planner").is_ok());
    assert_eq!(saved.sla_load.cadence_s(saved.interval_s), 2.0);
    // Unset, it is 5 s, or the planner's interval where that is shorter.
    let mut fast = PlannerConfig::new("sla-load", 2.0);
    assert_eq!(fast.sla_load.cadence_s(fast.interval_s), 2.0);
    fast.interval_s = 60.0;
    assert_eq!(fast.sla_load.cadence_s(fast.interval_s), 5.0);
    let mut bad = PlannerConfig::new("lookahead", 60.0);
    bad.lookahead.interval_s = Some(0.0);
    check(bad, "planner.lookahead.interval_s");
    // A bad setting of a policy not in use is an error too, under every policy: `ab` or
    // `--set planner.policy=…` would meet it later.
    type Spoil = fn(&mut PlannerConfig);
    let spoilt: [(Spoil, &str); 4] = [
        (
            |c| c.load_threshold.kv_up = 2.0,
            "planner.load_threshold.kv_up",
        ),
        (
            |c| c.sla.min_gpu_budget = Some(4),
            "planner.sla.min_gpu_budget",
        ),
        (
            |c| c.sla_load.scale_down_margin = 0.0,
            "planner.sla_load.scale_down_margin",
        ),
        (|c| c.lookahead.hold_s = -5.0, "planner.lookahead.hold_s"),
    ];
    for policy in ["static", "load-threshold", "sla", "sla-load", "lookahead"] {
        for (spoil, want) in spoilt {
            let mut bad = PlannerConfig::new(policy, 60.0);
            spoil(&mut bad);
            check(bad, want);
        }
    }
    // Without a profile directory or a performance model the SLA policies cannot start.
    let e = build(&PlannerConfig::new("sla", 60.0), &c, "planner")
        .err()
        .unwrap()
        .to_string();
    assert!(e.starts_with("planner.profile_dir"), "{e}");
    // Static and load-threshold need no profile.
    assert!(build(&PlannerConfig::new("static", 60.0), &c, "planner").is_ok());
    assert!(build(&PlannerConfig::new("load-threshold", 10.0), &c, "planner").is_ok());
}

#[test]
fn config_parses_with_defaults_and_rejects_unknown_fields() {
    let c: PlannerConfig = serde_json::from_str(
        r#"{"policy": "lookahead", "interval_s": 30, "predictor": {"kind": "kalman"},
            "min_replicas": {"prefill": 1}, "lookahead": {"hold_s": 60}}"#,
    )
    .unwrap();
    assert_eq!(c.lookahead.hold_s, 60.0);
    assert_eq!(
        c.predictor,
        Some(PredictorConfig::Kalman {
            process_noise_level: 1.0,
            process_noise_trend: 0.1,
            measurement_noise: 10.0
        })
    );
    assert!(!c.advisory);
    let e =
        serde_json::from_str::<PlannerConfig>(r#"{"policy": "sla", "interval_s": 30, "bogus": 1}"#)
            .unwrap_err()
            .to_string();
    assert!(e.contains("bogus"), "{e}");
    let e = serde_json::from_str::<PlannerConfig>(
        r#"{"policy": "sla", "interval_s": 30, "predictor": {"kind": "holt", "gamma": 1}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("gamma"), "{e}");
    let e = serde_json::from_str::<PlannerConfig>(
        r#"{"policy": "sla", "interval_s": 30, "predictor": {"kind": "prophet"}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("prophet"), "{e}");
}

#[test]
fn pool_layout_must_be_one_aggregated_or_prefill_plus_decode() {
    let mut c = ctx(16);
    c.pools.push(pool_ctx("other", PoolRole::Decode));
    let e = build(&PlannerConfig::new("static", 60.0), &c, "planner")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("one aggregated pool"), "{e}");
}

// ---------- all policies ----------

#[test]
fn garbage_observations_never_panic() {
    for name in POLICIES {
        let mut p = planner(name, 30.0, 16);
        let toy = Toy::new(30.0, 180.0, 16);
        let mut o = toy.observe(&Load::steady(1.0));
        o.now_s = f64::NAN;
        o.interval_s = f64::INFINITY;
        o.slo_ttft_ms = f64::NAN;
        o.interval.mean_isl = Some(f64::NAN);
        o.interval.ttft_mean_ms = Some(f64::INFINITY);
        o.interval.itl_mean_ms = Some(-1.0);
        o.pools[1].kv_utilisation = vec![f64::NAN, 2.0];
        o.pools[1].iterations = vec![
            IterationSample {
                duration_ms: f64::NAN,
                ..Default::default()
            };
            40
        ];
        o.startup_s = vec![];
        for _ in 0..3 {
            let d = p.decide(&o);
            assert_eq!(d.targets.len(), 2, "{name}");
        }
        // A mismatched observation changes nothing.
        o.pools.pop();
        assert_eq!(p.decide(&o).targets, vec![None], "{name}");
    }
}

#[test]
fn every_planner_that_decides_says_why() {
    for name in POLICIES.iter().filter(|&&n| n != "static") {
        let dt = if *name == "sla-load" { 5.0 } else { 30.0 };
        let mut p = planner(name, dt, 32);
        let mut toy = Toy::new(dt, 120.0, 32);
        let mut reasons = Vec::new();
        for _ in 0..10 {
            let d = p.decide(&toy.observe(&Load::steady(3.0)));
            toy.apply(&d);
            reasons.push(d.reason);
        }
        assert!(
            reasons.iter().any(|r| !r.is_empty()),
            "{name} gives no reason"
        );
    }
}

#[test]
fn lookahead_says_when_it_decides_more_often_than_the_planner_interval() {
    let config = PlannerConfig::new("lookahead", 60.0);
    let mut p = build_with_profile(&config, &ctx(32), toy(), "planner").unwrap();
    assert_eq!(p.interval_s(), 15.0);
    let mut toy = Toy::new(15.0, 120.0, 32);
    let mut said = String::new();
    for _ in 0..4 {
        let d = p.decide(&toy.observe(&Load::steady(3.0)));
        toy.apply(&d);
        if !d.reason.is_empty() {
            said = d.reason;
        }
    }
    assert!(
        said.starts_with("every 15 s, not the planner's 60 s"),
        "{said}"
    );
}

#[test]
fn constant_load_is_stable() {
    for name in POLICIES {
        let dt = if name == "sla-load" { 5.0 } else { 30.0 };
        let mut p = planner(name, dt, 32);
        let mut toy = Toy::new(dt, 120.0, 32);
        let hist = run(p.as_mut(), &mut toy, &Load::steady(3.0), 200);
        let tail = &hist[100..];
        assert!(
            tail.iter().all(|c| *c == tail[0]),
            "{name} oscillates: {tail:?}"
        );
    }
}

#[test]
fn every_policy_returns_to_the_minimum_when_traffic_stops() {
    for name in ["load-threshold", "sla", "sla-load", "lookahead"] {
        let dt = if name == "sla-load" { 5.0 } else { 30.0 };
        let mut p = planner(name, dt, 32);
        let mut toy = Toy::new(dt, 120.0, 32);
        toy.ready = [4, 3];
        run(p.as_mut(), &mut toy, &Load::steady(1.0), 4);
        let hist = run(p.as_mut(), &mut toy, &Load::none(), 400);
        assert_eq!(*hist.last().unwrap(), [1, 1], "{name}: {:?}", &hist[..20]);
    }
    // Traffic that never came leaves `sla` nothing to size, and Dynamo 1.6 skips the
    // adjustment then: the deployment stays as it is. The others shrink it.
    for name in ["load-threshold", "sla", "sla-load", "lookahead"] {
        let dt = if name == "sla-load" { 5.0 } else { 30.0 };
        let mut p = planner(name, dt, 32);
        let mut toy = Toy::new(dt, 120.0, 32);
        toy.ready = [4, 3];
        let hist = run(p.as_mut(), &mut toy, &Load::none(), 400);
        let want = if name == "sla" { [4, 3] } else { [1, 1] };
        assert_eq!(*hist.last().unwrap(), want, "{name}: {:?}", &hist[..20]);
    }
}

/// A pool allowed to reach zero goes there only holding nothing, and comes back while
/// requests wait for it (Knative's scale to zero and activator), whatever the policy reads.
#[test]
fn every_policy_scales_a_pool_from_zero_while_requests_wait_for_it() {
    for name in ["load-threshold", "sla", "sla-load", "lookahead"] {
        let dt = if name == "sla-load" { 5.0 } else { 30.0 };
        let mut config = PlannerConfig::new(name, dt);
        config.sla_load.load_interval_s = Some(dt);
        config.lookahead.interval_s = Some(dt);
        config.min_replicas = [("prefill".into(), 0), ("decode".into(), 0)].into();
        let mut p = build_with_profile(&config, &ctx(32), toy(), "planner").unwrap();
        let mut toy = Toy::new(dt, 60.0, 32);
        toy.ready = [0, 0];
        // Nothing running and nothing waiting: nothing is started.
        let idle = run(p.as_mut(), &mut toy, &Load::none(), 3);
        assert_eq!(*idle.last().unwrap(), [0, 0], "{name}");
        // Requests wait for the prefill pool, whose workers report nothing.
        let waiting = Load {
            queue: 40,
            queued_tokens: 80_000,
            ..Load::none()
        };
        let d = p.decide(&toy.observe(&waiting));
        assert!(
            d.targets[0].is_some_and(|t| t >= 1),
            "{name}: {d:?} leaves the waiting requests stranded"
        );
        // A decode worker holding sequences is not taken to zero on its low KV alone.
        toy.ready = [1, 1];
        let held = Load {
            kv: 0.001,
            ..Load::none()
        };
        let hist = run(p.as_mut(), &mut toy, &held, 6);
        assert!(hist.iter().all(|c| c[1] >= 1), "{name}: {hist:?}");
    }
}

#[test]
fn every_policy_respects_the_budget() {
    for name in ["load-threshold", "sla", "sla-load", "lookahead"] {
        let dt = if name == "sla-load" { 5.0 } else { 30.0 };
        let mut p = planner(name, dt, 8);
        let mut toy = Toy::new(dt, 60.0, 8);
        let storm = Load {
            rate: 40.0,
            isl: 4000.0,
            osl: 400.0,
            ttft: 5000.0,
            itl: 45.0,
            queue: 400,
            queued_tokens: 1_600_000,
            kv: 0.97,
            ..Load::steady(40.0)
        };
        let mut hist = Vec::new();
        let mut asked = Vec::new();
        for _ in 0..100 {
            let d = p.decide(&toy.observe(&storm));
            asked.extend(d.asked_gpus);
            toy.apply(&d);
            hist.push([toy.active(0), toy.active(1)]);
        }
        assert!(hist.iter().all(|c| gpus(*c) <= 8), "{name}: {hist:?}");
        assert!(
            hist.iter().any(|c| gpus(*c) > 4),
            "{name} never scaled: {hist:?}"
        );
        // The storm asks for more than the budget, and each policy says by how much (those
        // that fit their counts to it before deciding too).
        assert!(!asked.is_empty(), "{name}: the budget never cut it");
        assert!(asked.iter().all(|&g| g > 8), "{name}: {asked:?}");
        // Those sizing by throughput ask for the storm's whole need (some 30 GPUs), not for
        // one worker beyond the counts they had fitted to the budget already.
        let most = asked.iter().copied().max().unwrap_or(0);
        assert!(name == "load-threshold" || most >= 20, "{name}: {asked:?}");
    }
}

// ---------- static ----------

#[test]
fn fast_loops_run_at_their_own_interval() {
    let c = ctx(16);
    let p =
        build_with_profile(&PlannerConfig::new("sla-load", 60.0), &c, toy(), "planner").unwrap();
    assert_eq!(p.interval_s(), 5.0);
    let p =
        build_with_profile(&PlannerConfig::new("lookahead", 60.0), &c, toy(), "planner").unwrap();
    assert_eq!(p.interval_s(), 15.0);
    let p =
        build_with_profile(&PlannerConfig::new("lookahead", 10.0), &c, toy(), "planner").unwrap();
    assert_eq!(p.interval_s(), 10.0);
    let p = build_with_profile(&PlannerConfig::new("sla", 60.0), &c, toy(), "planner").unwrap();
    assert_eq!(p.interval_s(), 60.0);
}

#[test]
fn static_changes_nothing() {
    let mut p = planner("static", 60.0, 16);
    let toy = Toy::new(60.0, 180.0, 16);
    assert_eq!(
        p.decide(&toy.observe(&Load::steady(50.0))).targets,
        vec![None, None]
    );
    assert_eq!(p.name(), "static");
    assert_eq!(p.interval_s(), 60.0);
}

// ---------- load-threshold ----------

#[test]
fn load_threshold_steps_by_one_and_waits_after_adding_decode() {
    let mut p = planner("load-threshold", 10.0, 32);
    let toy = Toy::new(10.0, 180.0, 32);
    let mut hot = Load::steady(5.0);
    hot.kv = 0.95;
    hot.queue = 20;
    let d = p.decide(&toy.observe(&hot));
    assert_eq!(d.targets, vec![Some(2), Some(2)]);
    // Idle right after: prefill may shrink (but not below 1), decode waits 3 intervals.
    let mut idle = toy;
    idle.ready = [2, 2];
    for _ in 0..3 {
        let d = p.decide(&idle.observe(&Load::none()));
        assert_eq!(d.targets, vec![Some(1), None]);
    }
    let d = p.decide(&idle.observe(&Load::none()));
    assert_eq!(d.targets, vec![Some(1), Some(1)]);
}

#[test]
fn load_threshold_over_corrects_while_workers_start() {
    // Known weakness reproduced: it keeps adding while the queue stays long.
    let mut p = planner("load-threshold", 10.0, 32);
    let mut toy = Toy::new(10.0, 180.0, 32);
    let mut hot = Load::steady(5.0);
    hot.queue = 50;
    let hist = run(p.as_mut(), &mut toy, &hot, 5);
    assert_eq!(hist.last().unwrap()[0], 6);
}

// ---------- sla ----------

#[test]
fn sla_scales_prefill_with_the_request_rate_and_back() {
    let mut p = planner("sla", 60.0, 64);
    let mut toy = Toy::new(60.0, 120.0, 64);
    // 10 req/s × 4000 tokens = 40k tokens/s over 20k tokens/s per TP2 worker: 2 prefill.
    let mut load = Load::steady(10.0);
    load.isl = 4000.0;
    load.ttft = 200.0; // as the profile expects at 4000 tokens
    let hist = run(p.as_mut(), &mut toy, &load, 5);
    assert_eq!(hist[0][0], 2, "{hist:?}");
    load.rate = 30.0;
    let hist = run(p.as_mut(), &mut toy, &load, 5);
    assert_eq!(hist.last().unwrap()[0], 6, "{hist:?}");
    let hist = run(p.as_mut(), &mut toy, &Load::none(), 3);
    assert_eq!(hist.last().unwrap()[0], 1, "{hist:?}");
}

#[test]
fn sla_reads_the_arrivals_of_a_saturated_pool_not_its_completions() {
    // 30 req/s arrive; the prefill pool completes 10 req/s (its capacity at 2 workers).
    let mut load = Load::steady(30.0);
    load.isl = 4000.0;
    load.ttft = 200.0;
    load.served = Some(10.0);
    for policy in ["sla", "sla-load"] {
        let dt = 60.0;
        let mut p = planner(policy, dt, 64);
        let mut toy = Toy::new(dt, 120.0, 64);
        let hist = run(p.as_mut(), &mut toy, &load, 5);
        // 30 req/s × 4000 tokens over 20k tokens/s per TP2 worker: 6 prefill workers.
        assert_eq!(hist.last().unwrap()[0], 6, "{policy}: {hist:?}");
    }
}

#[test]
fn sla_observing_completions_reads_the_capped_rate_as_before() {
    let mut load = Load::steady(30.0);
    load.isl = 4000.0;
    load.ttft = 200.0;
    load.served = Some(10.0);
    for policy in ["sla", "sla-load"] {
        let dt = 60.0;
        let mut config = PlannerConfig::new(policy, dt);
        config.sla_load.load_interval_s = Some(dt);
        config.observe = crate::observation::Observe::Completions;
        let mut p = build_with_profile(&config, &ctx(64), toy(), "planner").unwrap();
        let mut cluster = Toy::new(dt, 120.0, 64);
        let hist = run(p.as_mut(), &mut cluster, &load, 5);
        // The old reading: 10 req/s × 4000 tokens, 2 prefill workers.
        assert_eq!(hist.last().unwrap()[0], 2, "{policy}: {hist:?}");
        // And without saturation the two readings agree.
        let mut a = planner(policy, dt, 64);
        let mut b = build_with_profile(&config, &ctx(64), toy(), "planner").unwrap();
        let steady = Load {
            served: None,
            ..load.clone()
        };
        let (mut ta, mut tb) = (Toy::new(dt, 120.0, 64), Toy::new(dt, 120.0, 64));
        assert_eq!(
            run(a.as_mut(), &mut ta, &steady, 4),
            run(b.as_mut(), &mut tb, &steady, 4)
        );
    }
}

#[test]
fn sla_leaves_a_deployment_alone_while_workers_start() {
    // 10 req/s of 4000 tokens want 2 prefill workers, then the load drops to 2 req/s (1
    // worker) while the second is still in its 120 s start-up.
    let mut busy = Load::steady(10.0);
    busy.isl = 4000.0;
    busy.ttft = 200.0;
    let quiet = Load {
        rate: 2.0,
        ..busy.clone()
    };
    let trace = |wait: bool| {
        let mut config = PlannerConfig::new("sla", 60.0);
        config.sla.wait_until_ready = wait;
        let mut p = build_with_profile(&config, &ctx(64), toy(), "planner").unwrap();
        let mut toy = Toy::new(60.0, 120.0, 64);
        let mut hist = run(p.as_mut(), &mut toy, &busy, 1);
        let reason = p.decide(&toy.observe(&quiet)).reason;
        hist.extend(run(p.as_mut(), &mut toy, &quiet, 3));
        (hist, reason)
    };
    // Dynamo's Kubernetes connector: no change until the new worker serves, then down.
    let (hist, reason) = trace(true);
    assert_eq!(
        hist.iter().map(|c| c[0]).collect::<Vec<_>>(),
        [2, 2, 1, 1],
        "{hist:?}"
    );
    assert!(reason.starts_with("not ready"), "{reason}");
    // Without the wait the start-up is cancelled at once.
    let (hist, _) = trace(false);
    assert_eq!(
        hist.iter().map(|c| c[0]).collect::<Vec<_>>(),
        [2, 1, 1, 1],
        "{hist:?}"
    );
}

/// `sla` with Dynamo 1.6's sizing (`sla.sizing: capacity`), deciding every `dt` seconds.
fn sla_by_capacity(dt: f64) -> Box<dyn Planner> {
    let mut config = PlannerConfig::new("sla", dt);
    config.sla.sizing = crate::policies::sla::SlaSizing::Capacity;
    // The last value, so that each step's need follows its load alone.
    config.predictor = Some(PredictorConfig::Constant);
    build_with_profile(&config, &ctx(64), toy(), "planner").unwrap()
}

#[test]
fn sla_by_capacity_sizes_each_pool_by_what_one_engine_serves_within_the_slo() {
    use crate::policies::engine_capacity::{EngineLimits, decode_rps, prefill_rps};
    let limits = EngineLimits {
        max_num_seqs: 256,
        max_batched_tokens: 8192,
        max_kv_tokens: 400_000,
    };
    let (isl, osl) = (2000.0, 200.0);
    let per_prefill = prefill_rps(&toy(), limits, isl, 500.0);
    let per_decode = decode_rps(&toy(), limits, isl, osl, 30.0);
    assert!(per_prefill > 0.0 && per_decode > 0.0);
    let mut last = [0, 0];
    for rate in [2.0, 10.0, 60.0] {
        let mut p = sla_by_capacity(60.0);
        // A start-up shorter than the interval: every step starts from ready workers.
        let mut toy = Toy::new(60.0, 30.0, 64);
        let hist = run(p.as_mut(), &mut toy, &Load::steady(rate), 3);
        let want = [
            ((rate / per_prefill).ceil() as u32).max(1),
            ((rate / per_decode).ceil() as u32).max(1),
        ];
        assert_eq!(hist[2], want, "{rate} req/s: {hist:?}");
        assert!(want[0] >= last[0] && want[1] >= last[1]);
        last = want;
    }
    assert!(last[0] > 1 && last[1] > 1, "{last:?}");
}

#[test]
fn sla_by_capacity_grows_nothing_while_a_worker_starts_but_cuts_to_the_serving_ones() {
    // 60 req/s, then a start-up of 120 s decided every 60 s: the second decision sees the
    // first one's workers starting and holds them.
    let mut p = sla_by_capacity(60.0);
    let mut toy = Toy::new(60.0, 120.0, 64);
    let busy = Load::steady(60.0);
    let first = run(p.as_mut(), &mut toy, &busy, 1)[0];
    assert!(first[0] > 1 && first[1] > 1, "{first:?}");
    let d = p.decide(&toy.observe(&Load::steady(120.0)));
    assert!(d.targets.iter().all(Option::is_none), "{d:?}");
    assert!(d.reason.starts_with("workers starting"), "{}", d.reason);
    // The load goes away while they start: both pools are cut back to their serving worker.
    let d = p.decide(&toy.observe(&Load::steady(0.5)));
    assert_eq!(d.targets, vec![Some(1), Some(1)], "{d:?}");
    // Nothing else moves more than 8 workers a decision.
    let mut p = sla_by_capacity(60.0);
    let mut toy = Toy::new(60.0, 30.0, 64);
    let hist = run(p.as_mut(), &mut toy, &Load::steady(1_000.0), 2);
    assert_eq!(hist[0][0], 9, "{hist:?}");
    // On 8 GPUs the budget cuts the first decision; while its workers start, only
    // reductions apply, which no budget made.
    let mut p = sla_by_capacity(60.0);
    let mut toy = Toy::new(60.0, 120.0, 8);
    let d = p.decide(&toy.observe(&busy));
    assert!(d.asked_gpus.is_some_and(|g| g > 8), "{d:?}");
    toy.apply(&d);
    let d = p.decide(&toy.observe(&Load::steady(120.0)));
    assert!(
        d.reason.starts_with("workers starting") && d.asked_gpus.is_none(),
        "{d:?}"
    );
}

#[test]
fn sla_by_capacity_fits_the_budget_as_dynamo_1_6_does_without_reversing_a_pool() {
    // 10 GPUs of 2-GPU workers, both pools asking for 8 more than their one worker: Dynamo's
    // fit gives the 8 free GPUs to the pair nearest the request with the least skew between
    // the pools (2P 3D), where a proportional cut of 9P 9D would leave two GPUs idle (2P 2D).
    let mut p = sla_by_capacity(60.0);
    let mut toy = Toy::new(60.0, 30.0, 10);
    // Pools named by the user, not by their roles: the note names them so.
    let mut obs = toy.observe(&Load::steady(1_000.0));
    obs.pools[0].name = "ctx".into();
    obs.pools[1].name = "gen".into();
    let d = p.decide(&obs);
    assert_eq!(d.targets, vec![Some(2), Some(3)], "{d:?}");
    assert!(
        d.reason.contains("fitted to the GPU budget")
            && d.reason
                .ends_with("-> 100 ctx, 22 gen (given 2 ctx, 3 gen)"),
        "{}",
        d.reason
    );
    // 9P 9D of 2-GPU workers (each pool at most 8 beyond its one) asked for 36 GPUs.
    assert_eq!(d.asked_gpus, Some(36), "{d:?}");
    // At the full budget, both still asking for more: held, neither pays for the other.
    toy.ready = [2, 3];
    let d = p.decide(&toy.observe(&Load::steady(1_000.0)));
    assert!(d.targets.iter().all(Option::is_none), "{d:?}");
}

#[test]
fn sla_by_capacity_keeps_a_gpu_floor_and_refuses_one_it_cannot_follow() {
    // 2P 2D of 2-GPU workers hold 8 GPUs; a light load asks for 1P 1D.
    let light = Load::steady(0.5);
    let mut p = sla_by_capacity(60.0);
    let mut state = Toy::new(60.0, 30.0, 8);
    state.ready = [2, 2];
    let d = p.decide(&state.observe(&light));
    assert_eq!(d.targets, vec![Some(1), Some(1)], "{d:?}");
    // With the floor at the whole budget (Dynamo's min == max), nothing shrinks.
    let mut config = PlannerConfig::new("sla", 60.0);
    config.sla.sizing = crate::policies::sla::SlaSizing::Capacity;
    config.sla.min_gpu_budget = Some(8);
    config.predictor = Some(PredictorConfig::Constant);
    let mut p = build_with_profile(&config, &ctx(8), toy(), "planner").unwrap();
    let d = p.decide(&state.observe(&light));
    assert!(d.targets.iter().all(Option::is_none), "{d:?}");
    // Over the budget, or with the corrected sizing, it is refused by name.
    config.sla.min_gpu_budget = Some(9);
    let e = build_with_profile(&config, &ctx(8), toy(), "planner")
        .err()
        .unwrap();
    assert!(e.to_string().contains("planner.sla.min_gpu_budget"), "{e}");
    let mut config = PlannerConfig::new("sla", 60.0);
    config.sla.min_gpu_budget = Some(4);
    let e = build_with_profile(&config, &ctx(8), toy(), "planner")
        .err()
        .unwrap();
    assert!(e.to_string().contains("planner.sla.min_gpu_budget"), "{e}");
}

#[test]
fn sla_by_capacity_shortens_prompts_by_the_routers_predicted_cache_hits() {
    // Dynamo 1.6 sizes prefill for the prompt left after the KV router's predicted hits (at
    // most 95 % of it), decode for the whole context, and keeps the last reported rate.
    let need = |hit: Option<f64>, rate: f64| {
        let mut p = sla_by_capacity(60.0);
        let mut toy = Toy::new(60.0, 30.0, 256);
        let mut load = Load::steady(rate);
        load.kv_hit_rate = hit;
        run(p.as_mut(), &mut toy, &load, 3)[2]
    };
    let cold = need(None, 120.0);
    let half = need(Some(0.5), 120.0);
    assert!(half[0] < cold[0], "{half:?} against {cold:?}");
    assert_eq!(half[1], cold[1]);
    // 99 % is read as 95 %.
    assert_eq!(need(Some(0.99), 120.0), need(Some(0.95), 120.0));
    assert!(need(Some(0.95), 120.0)[0] < half[0]);
    // An interval without a report keeps the last one.
    let mut p = sla_by_capacity(60.0);
    let mut toy = Toy::new(60.0, 30.0, 256);
    let mut load = Load::steady(120.0);
    load.kv_hit_rate = Some(0.5);
    run(p.as_mut(), &mut toy, &load, 2);
    load.kv_hit_rate = None;
    assert_eq!(run(p.as_mut(), &mut toy, &load, 1)[0], half);
}

#[test]
fn sla_by_capacity_refuses_an_aggregated_deployment_and_unused_settings_naming_the_field() {
    let mut config = PlannerConfig::new("sla", 60.0);
    config.sla.sizing = crate::policies::sla::SlaSizing::Capacity;
    let mut c = ctx(64);
    c.pools = vec![pool_ctx("agg", PoolRole::Aggregated)];
    let e = build_with_profile(&config, &c, toy(), "planner")
        .err()
        .unwrap();
    assert!(e.to_string().contains("planner.sla.sizing"), "{e}");
    // The corrected sizing's settings are refused with it, not ignored.
    for field in ["correction", "wait_until_ready"] {
        let mut config = PlannerConfig::new("sla", 60.0);
        config.sla.sizing = crate::policies::sla::SlaSizing::Capacity;
        match field {
            "correction" => config.sla.correction = false,
            _ => config.sla.wait_until_ready = false,
        }
        let e = build_with_profile(&config, &ctx(64), toy(), "planner")
            .err()
            .unwrap();
        assert!(
            e.to_string().contains(&format!("planner.sla.{field}")),
            "{e}"
        );
    }
}

#[test]
fn sla_prefill_correction_only_lowers_the_need() {
    let mut p = planner("sla", 60.0, 64);
    let mut toy = Toy::new(60.0, 120.0, 64);
    let mut load = Load::steady(10.0);
    load.isl = 4000.0;
    load.ttft = 100.0; // half the profile's: p_corr = 0.5
    let hist = run(p.as_mut(), &mut toy, &load, 2);
    assert_eq!(hist[1][0], 1, "{hist:?}");
    load.ttft = 2000.0; // queueing: p_corr > 1 does not add workers
    let hist = run(p.as_mut(), &mut toy, &load, 2);
    assert_eq!(hist[1][0], 2, "{hist:?}");
}

#[test]
fn sla_decode_follows_the_itl_correction() {
    let mut p = planner("sla", 60.0, 64);
    let mut toy = Toy::new(60.0, 120.0, 64);
    let mut load = Load::steady(40.0);
    load.isl = 3000.0;
    load.osl = 2000.0;
    let calm = run(p.as_mut(), &mut toy, &load, 3);
    load.itl = 60.0; // much slower than the profile says: d_corr > 1 → more decode
    let slow = run(p.as_mut(), &mut toy, &load, 3);
    assert!(slow[2][1] > calm[2][1], "{calm:?} {slow:?}");
}

// ---------- sla-load ----------

#[test]
fn iteration_regression_recovers_known_coefficients() {
    use crate::policies::sla_load::IterationFit;
    let samples: Vec<IterationSample> = (0..200u32)
        .map(|i| {
            let pt = (i * 37) % 8192;
            let seqs = (i * 13) % 128;
            let kv = u64::from(seqs) * u64::from(1000 + (i * 7) % 3000);
            IterationSample {
                prefill_tokens: pt,
                decode_seqs: seqs,
                decode_kv_tokens: kv,
                duration_ms: 5.0 + 0.04 * f64::from(pt) + 0.02 * f64::from(seqs) + 2e-5 * kv as f64,
            }
        })
        .collect();
    let f = IterationFit::fit(&samples, 16).unwrap();
    let want = [5.0, 40.0, 2.0, 2.0];
    for (b, w) in f.beta.iter().zip(want) {
        assert!((b - w).abs() < 1e-6, "{:?}", f.beta);
    }
    assert!(IterationFit::fit(&samples[..3], 16).is_none());
}

#[test]
fn sla_load_adds_on_a_long_queue_and_waits_while_pending() {
    let mut p = planner("sla-load", 5.0, 32);
    let mut toy = Toy::new(5.0, 60.0, 32);
    let mut load = Load::steady(2.0);
    load.queued_tokens = 200_000; // 200k tokens at 20k tokens/s: ~10 s of queue
    let hist = run(p.as_mut(), &mut toy, &load, 6);
    // +1 once, then nothing while it starts.
    assert!(hist.iter().all(|c| c[0] == 2), "{hist:?}");
    // Once up (60 s), the estimate with 2 workers is still over: +1 again.
    let hist = run(p.as_mut(), &mut toy, &load, 10);
    assert_eq!(hist.last().unwrap()[0], 3, "{hist:?}");
}

// ---------- lookahead ----------

fn storm(queued: u64) -> Load {
    Load {
        rate: 5.0,
        isl: 4000.0,
        osl: 300.0,
        ttft: 3000.0,
        itl: 20.0,
        queue: queued / 4000,
        queued_tokens: queued,
        kv: 0.3,
        ..Load::steady(5.0)
    }
}

#[test]
fn lookahead_sizes_for_the_backlog_once_and_does_not_re_add_while_starting() {
    let mut p = planner("lookahead", 30.0, 32);
    let mut toy = Toy::new(30.0, 180.0, 32);
    run(p.as_mut(), &mut toy, &Load::steady(0.5), 5);
    assert_eq!([toy.active(0), toy.active(1)], [1, 1]);
    // A storm: the served rate is capped at one worker (20k tokens/s) while 600k tokens
    // queue up in the first interval.
    let hist = run(p.as_mut(), &mut toy, &storm(600_000), 1);
    let first = hist[0][0];
    assert!(first >= 3, "{hist:?}");
    // The queue stays put (closed loop) while they start: no more workers are added.
    let hist = run(p.as_mut(), &mut toy, &storm(600_000), 5);
    assert!(hist.iter().all(|c| c[0] == first), "{hist:?}");
}

/// Lookahead deciding every 30 s on a toy cluster of workers taking `startup_s` to start,
/// after 300 s of 15 req/s × 4000 tokens (60k tokens/s, no queue) on 4 ready prefill
/// workers: the planner, the cluster and the prefill workers it then wants.
fn lookahead_after_a_busy_spell(startup_s: f64) -> (Box<dyn Planner>, Toy, u32) {
    let mut p = planner("lookahead", 30.0, 32);
    let mut toy = Toy::new(30.0, startup_s, 32);
    toy.ready = [4, 1];
    let mut busy = Load::steady(15.0);
    busy.isl = 4000.0;
    busy.ttft = 200.0; // as profiled: no prefix-cache hits
    let hist = run(p.as_mut(), &mut toy, &busy, 10);
    let busy_n = hist.last().unwrap()[0];
    assert!(busy_n >= 4, "{hist:?}");
    (p, toy, busy_n)
}

/// `lookahead`'s decode target after four decisions at 150 req/s whose interval ITL is
/// `itl` ms and whose decode pool's recent steps take `speed` × the profile's ITL of their
/// batch.
fn lookahead_decode_after(itl: f64, speed: f64) -> u32 {
    let profile = toy();
    let (seqs, context) = (64u32, 2_100u64);
    let kv = u64::from(seqs) * context;
    let step_ms =
        speed * profile.decode_itl_ms(kv as f64 / profile.max_kv_tokens() as f64, context as f64);
    let mut p = planner("lookahead", 15.0, 64);
    let toy = Toy::new(15.0, 60.0, 64);
    let mut load = Load::steady(150.0);
    load.itl = itl;
    let mut target = toy.active(1);
    for _ in 0..4 {
        let mut obs = toy.observe(&load);
        obs.pools[1].iterations = (0..64)
            .map(|_| IterationSample {
                prefill_tokens: 0,
                decode_seqs: seqs,
                decode_kv_tokens: kv,
                duration_ms: step_ms,
            })
            .collect();
        if let Some(t) = p.decide(&obs).targets[1] {
            target = t;
        }
    }
    target
}

#[test]
fn lookahead_reads_the_decode_engines_speed_from_its_steps_not_from_the_intervals_mean_itl() {
    // The steps run at the profile's speed: an interval's mean ITL of twice the profile's
    // (requests that waited on a worker since relieved) changes nothing.
    let at_profile = lookahead_decode_after(11.0, 1.0);
    assert_eq!(lookahead_decode_after(22.0, 1.0), at_profile);
    // Steps twice as slow as the profile's: more decode workers for the same ITL target.
    assert!(
        lookahead_decode_after(11.0, 2.0) > at_profile,
        "{at_profile}"
    );
}

#[test]
fn lookahead_holds_then_scales_down_after_sustained_low_load() {
    let (mut p, mut toy, busy_n) = lookahead_after_a_busy_spell(60.0);
    // Load drops: nothing changes for the hold time (60 s = 2 intervals), then down.
    let hist = run(p.as_mut(), &mut toy, &Load::steady(0.5), 8);
    assert_eq!(hist[0][0], busy_n, "{hist:?}");
    assert_eq!(hist[1][0], busy_n, "{hist:?}");
    assert_eq!(hist[7][0], 1, "{hist:?}");
}

#[test]
fn lookahead_holds_an_idle_worker_for_a_start_up() {
    // Ski rental: with workers taking 180 s to start, a worker no longer needed is kept for
    // 180 s (6 intervals), not the 60 s hold, since getting one back would take that long.
    let (mut p, mut toy, busy_n) = lookahead_after_a_busy_spell(180.0);
    let hist = run(p.as_mut(), &mut toy, &Load::steady(0.5), 10);
    assert!(hist[..6].iter().all(|c| c[0] == busy_n), "{hist:?}");
    assert_eq!(hist[9][0], 1, "{hist:?}");
}

#[test]
fn lookahead_holds_the_deployment_it_starts_with_like_any_need() {
    // Four prefill workers up at the start and next to no load: the hold (60 s, two 30 s
    // intervals; start-ups of 60 s) keeps them from the first interval on, then they go.
    let mut p = planner("lookahead", 30.0, 32);
    let mut toy = Toy::new(30.0, 60.0, 32);
    toy.ready = [4, 1];
    let hist = run(p.as_mut(), &mut toy, &Load::steady(0.5), 6);
    assert!(hist[..2].iter().all(|c| c[0] == 4), "{hist:?}");
    assert_eq!(hist[5][0], 1, "{hist:?}");
}

#[test]
fn lookahead_anticipates_a_ramp() {
    // With a rising rate, lookahead asks for the capacity needed a start-up time ahead,
    // sla only for the last interval.
    let mut la = planner("lookahead", 30.0, 64);
    let mut sla = planner("sla", 30.0, 64);
    let mut t1 = Toy::new(30.0, 180.0, 64);
    let mut t2 = Toy::new(30.0, 180.0, 64);
    let (mut a, mut b) = (0, 0);
    for i in 0..10 {
        let mut l = Load::steady(1.0 + i as f64);
        l.isl = 4000.0;
        l.ttft = 200.0;
        a = run(la.as_mut(), &mut t1, &l, 1)[0][0];
        b = run(sla.as_mut(), &mut t2, &l, 1)[0][0];
    }
    assert!(a > b, "lookahead {a} vs sla {b}");
}

#[test]
fn lookahead_measures_capacity_from_busy_time() {
    // Same nominal load (60k prompt tokens/s on 4 workers); when the workers compute only a
    // fifth of those tokens (prefix-cache hits) and are busy a fifth of the time as much,
    // fewer workers are needed.
    let need = |busy: f64| {
        let mut p = planner("lookahead", 30.0, 64);
        let mut toy = Toy::new(30.0, 60.0, 64);
        toy.ready = [4, 1];
        let mut l = Load::steady(15.0);
        l.isl = 4000.0;
        l.ttft = 200.0;
        l.busy = Some(busy);
        run(p.as_mut(), &mut toy, &l, 20).last().unwrap()[0]
    };
    let (cold, warm) = (need(3.2), need(0.8));
    assert!(cold >= 4 && warm < cold && warm >= 1, "{cold} {warm}");
}

#[test]
fn no_change_is_none_so_lagged_metrics_never_undo_a_decision() {
    // Under steady load every policy leaves the pools alone (None), rather than restating
    // the observed count, which the world would apply against a newer state.
    for name in ["load-threshold", "sla", "sla-load", "lookahead"] {
        let dt = if name == "sla-load" { 5.0 } else { 30.0 };
        let mut p = planner(name, dt, 32);
        let mut toy = Toy::new(dt, 120.0, 32);
        run(p.as_mut(), &mut toy, &Load::steady(3.0), 50);
        let d = p.decide(&toy.observe(&Load::steady(3.0)));
        assert_eq!(d.targets, vec![None, None], "{name}");
    }
}

#[test]
fn sla_load_waits_for_its_own_action_to_show_in_lagged_metrics() {
    let mut config = PlannerConfig::new("sla-load", 60.0);
    config.scrape_lag_s = 10.0;
    let mut p = build_with_profile(&config, &ctx(32), toy(), "planner").unwrap();
    let toy = Toy::new(5.0, 60.0, 32);
    let mut load = Load::steady(2.0);
    load.queued_tokens = 200_000;
    // The metrics keep showing one worker and a long queue: +1 once, then nothing for
    // lag + interval = 15 s, then +1 again from the same (stale) view: the same target.
    let mut o = toy.observe(&load);
    let mut targets = Vec::new();
    for i in 0..5 {
        o.now_s = 5.0 * f64::from(i);
        targets.push(p.decide(&o).targets[0]);
    }
    assert_eq!(targets, vec![Some(2), None, None, Some(2), None]);
}

#[test]
fn advisory_runs_decide_from_observations_only() {
    // Same observations ⇒ same decisions, whether or not earlier ones were applied.
    for name in POLICIES {
        let mut p1 = planner(name, 30.0, 32);
        let mut p2 = planner(name, 30.0, 32);
        let toy = Toy::new(30.0, 180.0, 32);
        for l in [
            Load::steady(2.0),
            storm(300_000),
            storm(500_000),
            Load::none(),
        ] {
            let o = toy.observe(&l);
            assert_eq!(p1.decide(&o), p2.decide(&o), "{name}");
        }
    }
}

#[test]
fn before_anything_completes_no_pool_is_shrunk_for_want_of_sizes() {
    // Three workers a pool, 80 requests arrived and none completed: no mean OSL is known
    // yet. Dynamo 1.6 skips the adjustment then; `sla` had sized for nothing and gone to
    // one worker a pool, `lookahead` too.
    for policy in ["sla", "lookahead"] {
        let mut p = planner(policy, 10.0, 64);
        let mut toy = Toy::new(10.0, 60.0, 64);
        toy.ready = [3, 3];
        let mut obs = toy.observe(&Load::steady(8.0));
        obs.interval = IntervalStats {
            arrived: 80,
            arrived_mean_isl: Some(2000.0),
            ..IntervalStats::default()
        };
        let d = p.decide(&obs);
        for (i, t) in d.targets.iter().enumerate() {
            assert!(
                t.is_none_or(|t| t >= 3),
                "{policy}: pool {i} to {t:?}: {}",
                d.reason
            );
        }
    }
}

#[test]
fn a_budget_cut_spends_what_the_floors_leave() {
    let common = |gpus: Vec<u32>, min: Vec<u32>| super::Common {
        n: gpus.len(),
        max: vec![u32::MAX; gpus.len()],
        min,
        gpus,
        budget: 8,
        interval_s: 60.0,
        prefill: 0,
        decode: 1,
        slo_ttft_ms: 500.0,
        slo_itl_ms: 30.0,
        startup_s: vec![0.0; 2],
        max_batched_tokens: vec![8192; 2],
        max_num_seqs: vec![256; 2],
        max_kv_tokens: vec![400_000; 2],
        scrape_lag_s: 0.0,
    };
    let fit = |c: &super::Common, mut w: Vec<u32>, budget| {
        c.fit(&mut w, budget);
        w
    };
    let one = common(vec![1, 1], vec![1, 1]);
    // 2P9D on 8 GPUs: shares 1.45 and 6.55; the floors' 1P6D leave a GPU, which goes to
    // the larger remainder.
    assert_eq!(fit(&one, vec![2, 9], 8), [1, 7]);
    assert_eq!(fit(&one, vec![4, 4], 8), [4, 4]);
    assert_eq!(fit(&one, vec![3, 3], 5), [3, 2]);
    // Wider workers take what fits: 3 × 2 + 5 × 1 on 8 GPUs.
    let wide = common(vec![2, 1], vec![1, 1]);
    let w = fit(&wide, vec![3, 5], 8);
    assert!(w[0] * 2 + w[1] <= 8 && w[0] * 2 + w[1] >= 7, "{w:?}");
    // Never below the minimum, never over the budget unless the minimums are.
    let floors = common(vec![1, 1], vec![3, 3]);
    assert_eq!(fit(&floors, vec![9, 9], 8), [4, 4]);
    // A pool allowed none but holding requests keeps a worker through the cut: 4P1D of
    // TP2 workers on 8 GPUs is 3P1D, not the 4P0D the shares 3.5 and 0.5 round to.
    let zero = common(vec![2, 2], vec![0, 0]);
    let mut toy = Toy::new(60.0, 60.0, 8);
    toy.ready = [3, 1];
    let held = Load {
        kv: 0.001,
        ..Load::none()
    };
    let d = zero.decide(vec![4, 1], &toy.observe(&held));
    assert_eq!(d.targets, [None, None], "3P1D as it is");
    let d = zero.decide(vec![4, 0], &toy.observe(&held));
    assert_eq!(d.targets, [None, None], "decode holds requests: kept");
}

#[test]
fn a_decision_the_budget_or_the_limits_cut_says_what_they_gave() {
    use super::Common;
    let obs = Toy::new(30.0, 60.0, 6).observe(&Load::steady(1.0));
    let config = PlannerConfig::new("load-threshold", 30.0);
    let c = Common::new(&config, &ctx(6), "planner").unwrap();
    // 3 prefill and 1 decode workers of 2 GPUs need 8: the budget of 6 gives 2 and 1, and
    // the policy's reason comes first.
    let d = c.decide(vec![3, 1], &obs).because("sized".into());
    assert_eq!(d.targets, vec![Some(2), None]);
    assert_eq!(
        d.reason,
        "sized; the GPU budget of 6 gives 2 prefill, 1 decode (3 prefill, 1 decode asked for: 8 GPUs)"
    );
    assert_eq!(d.asked_gpus, Some(8), "the budget cut it");
    // A pool kept at its workers keeps them under the budget; the other gives way.
    let mut obs = obs;
    obs.pools[0].ready = 2;
    let d = c.decide_keeping(vec![2, 2], &obs, &[2, 0]);
    assert_eq!(d.targets, vec![None, None]);
    assert!(
        d.reason
            .starts_with("the GPU budget of 6 gives 2 prefill, 1 decode"),
        "{}",
        d.reason
    );
    // Within the budget, nothing to say.
    let d = c.decide(vec![1, 2], &obs).because("sized".into());
    assert_eq!(
        (d.targets, d.reason.as_str()),
        (vec![Some(1), Some(2)], "sized")
    );
    // A pool's own limit is named as such.
    let mut limited = config.clone();
    limited.max_replicas = [("decode".into(), 1)].into();
    let c = Common::new(&limited, &ctx(6), "planner").unwrap();
    let d = c.decide(vec![2, 3], &obs);
    assert_eq!(
        d.reason,
        "the pools' limits give 2 prefill, 1 decode (2 prefill, 3 decode asked for)"
    );
    assert_eq!(d.asked_gpus, None, "the limits cut it, not the budget");
    let d = c.decide(vec![3, 3], &obs);
    assert_eq!(
        d.reason,
        "the pools' limits and the GPU budget of 6 give 2 prefill, 1 decode \
         (3 prefill, 3 decode asked for: 8 GPUs)"
    );
    // Workers a policy keeps are its own floor, not one of the pools' limits, and named
    // only where they changed what the fit gave.
    let d = c.decide_keeping(vec![1, 1], &obs, &[2, 0]);
    assert_eq!(
        d.reason,
        "the workers the policy keeps give 2 prefill, 1 decode (1 prefill, 1 decode asked for)"
    );
    let d = c.decide_keeping(vec![2, 3], &obs, &[2, 0]);
    assert_eq!(
        d.reason,
        "the pools' limits give 2 prefill, 1 decode (2 prefill, 3 decode asked for)"
    );
    // Under the budget: kept at 2 prefill, where the budget alone would have given 1 and 2.
    let c = Common::new(&config, &ctx(6), "planner").unwrap();
    let d = c.decide_keeping(vec![2, 3], &obs, &[2, 0]);
    assert_eq!(d.targets, vec![None, None]);
    assert_eq!(
        d.reason,
        "the workers the policy keeps and the GPU budget of 6 give 2 prefill, 1 decode \
         (2 prefill, 3 decode asked for: 10 GPUs)"
    );
}
