//! Faults: nothing is lost, nothing leaks, the same seed gives the same run.

use std::path::Path;

use proptest::prelude::*;
use servesim::experiment::with_policy;
use servesim::scenario::{FaultEvent, FaultsConfig, FrontendConfig};
use servesim::traffic::DistConfig;
use servesim::{Scenario, Summary, run};

/// The node-loss story, shortened: storm from 300 s to 1200 s, node 0 lost at 600 s.
fn node_loss() -> Scenario {
    let text = include_str!("../../scenarios/airline-node-loss.yaml")
        .replace("duration_s: 3600", "duration_s: 1800")
        .replace("storm_start_s: 600", "storm_start_s: 300")
        .replace("storm_duration_s: 1800", "storm_duration_s: 900")
        .replace("at_s: 1200, node: 0", "at_s: 600, node: 0");
    let s = Scenario::from_yaml_str(&text, "node-loss", Path::new(".")).unwrap();
    s.edited(|c| c.traffic.airline.as_mut().unwrap().passenger_end_s = Some(1800.0))
        .unwrap()
}

fn accounted(s: &Summary) {
    let rejected: u64 = s.rejected.values().sum();
    let failed: u64 = s.failed.values().sum();
    assert_eq!(
        s.arrived,
        s.all.completed + rejected + failed + s.in_flight,
        "{s}"
    );
}

#[test]
fn a_node_lost_in_the_storm_is_accounted_for_and_every_planner_recovers() {
    for policy in servesim::planner::POLICIES {
        let (s, _) = run(&with_policy(&node_loss(), policy, 7).unwrap()).unwrap();
        accounted(&s);
        let [fault] = &s.faults[..] else {
            panic!("one fault: {s}")
        };
        assert!(
            fault.requests_lost > 0,
            "{policy}: the node held requests\n{s}"
        );
        let failed: u64 = s.failed.values().sum();
        assert!(
            s.retried + failed >= fault.requests_lost,
            "{policy}: each lost request retried or failed\n{s}"
        );
        // A migrated request's stream stalls: one of its gaps, as long as its mean at least.
        let longest_gap = s.all.itl_ms.as_ref().and_then(|p| p.max).unwrap();
        let longest_mean = s.all.itl_mean_ms.max.unwrap();
        assert!(
            longest_gap >= 0.99 * longest_mean,
            "{policy}: the longest gap {longest_gap} ms is shorter than a request's mean {longest_mean} ms\n{s}"
        );
        let recovered = fault
            .recovered_at_s
            .unwrap_or_else(|| panic!("{policy} never recovered\n{s}"));
        assert!(recovered > fault.at_s);
        // No request finishing during the outage (every worker was on the node) counts as 0 %.
        let during = fault.slo_attainment_during.unwrap_or(0.0);
        let after = fault.slo_attainment_after.unwrap();
        assert!(
            after > during,
            "{policy}: attainment after recovery {after} ≤ during {during}\n{s}"
        );
    }
}

/// A small deployment whose traffic stops at 40 s, run to 120 s so that everything drains.
fn small(faults: Vec<FaultEvent>, seed: u64) -> Scenario {
    let yaml = format!(
        "seed: {seed}
duration_s: 120
model: Qwen/Qwen3-32B-FP8
kv_dtype: fp8
gpu: h100_sxm
backend: vllm
slo: {{ttft_ms: 500, itl_ms: 30}}
cluster:
  nodes: 2
  pools:
    - {{name: prefill, role: prefill, tp: 2, workers: 2, startup_s: 10}}
    - {{name: decode, role: decode, tp: 2, workers: 2, startup_s: 10}}
traffic:
  streams:
    - name: chat
      end_s: 40
      open:
        arrival: {{kind: poisson, rate_per_s: 6}}
        input: {{kind: lognormal, mean: 3000, p50: 2000}}
        output: {{kind: uniform, min: 20, max: 300}}
"
    );
    let s = Scenario::from_yaml_str(&yaml, "small", Path::new(".")).unwrap();
    s.edited(|c| {
        c.metrics.keep_requests = true;
        c.faults = Some(FaultsConfig {
            max_retries: 1,
            migration_max_seq_len: None,
            max_transfer_failures: 1,
            replace_dead_workers: true,
            events: faults,
        })
    })
    .unwrap()
}

fn fault() -> impl Strategy<Value = FaultEvent> {
    let pool = prop_oneof![Just("prefill".to_string()), Just("decode".to_string())];
    prop_oneof![
        (1.0f64..40.0, pool.clone(), prop::option::of(0u32..2))
            .prop_map(|(at_s, pool, worker)| FaultEvent::WorkerDown { at_s, pool, worker }),
        (1.0f64..40.0, 0u32..2, prop::option::of(1.0f64..30.0)).prop_map(
            |(at_s, node, duration_s)| FaultEvent::NodeDown {
                at_s,
                node,
                duration_s
            }
        ),
        (1.0f64..40.0, 1.0f64..30.0, pool.clone(), 1.0f64..5.0).prop_map(
            |(at_s, duration_s, pool, slowdown)| {
                FaultEvent::Straggler {
                    at_s,
                    duration_s,
                    pool,
                    worker: None,
                    slowdown,
                }
            }
        ),
        (1.0f64..40.0, 1.0f64..30.0, 0u32..2, 0.0f64..0.9).prop_map(
            |(at_s, duration_s, node, capacity_factor)| {
                FaultEvent::LinkDegraded {
                    at_s,
                    duration_s,
                    node,
                    capacity_factor,
                }
            }
        ),
        (1.0f64..40.0).prop_map(|at_s| FaultEvent::TransferFailure { at_s }),
        (pool, 5.0f64..30.0).prop_map(|(pool, mtbf_s)| FaultEvent::RandomWorkerFailures {
            pool,
            mtbf_s,
            start_s: 0.0,
            end_s: Some(40.0)
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    /// Under any faults: every request is completed, rejected or failed (nothing is in
    /// flight once the traffic has drained), every surviving worker has returned all its
    /// KV blocks, and the same seed gives the same run.
    #[test]
    fn faults_lose_nothing_and_leak_nothing(faults in prop::collection::vec(fault(), 1..4), seed in 0u64..100) {
        let scenario = small(faults, seed);
        let (s, world) = run(&scenario).unwrap();
        accounted(&s);
        let permanent_down = scenario.faults().as_ref().unwrap().events.iter()
            .any(|e| matches!(e, FaultEvent::NodeDown { duration_s: None, .. }));
        if !permanent_down {
            // Drained: nothing in flight, and every worker has returned every KV block.
            prop_assert_eq!(s.in_flight, 0, "drained: {}", s);
            for p in world.cluster.pool_ids() {
                for (w, load) in world.cluster.worker_loads(p) {
                    prop_assert!(world.cluster.worker(w).engine.is_empty());
                    prop_assert_eq!(load.kv_utilisation, 0.0, "worker {:?} leaked KV blocks", w);
                }
            }
        }
        // Every gap a client saw belongs to a completed request's stream, a migration's
        // stall one of them and its carried tokens not made again: a stream of `n` tokens
        // has `n − 1` gaps.
        let failed: u64 = s.failed.values().sum();
        if s.in_flight == 0 && failed == 0 {
            let gaps = s.all.itl_ms.as_ref().map_or(0, |p| p.count);
            prop_assert_eq!(gaps, s.all.output_tokens - s.all.completed, "{}", s);
            // The longest gap of all is some request's longest, whichever attempt it fell in.
            let longest = s.all.itl_ms.as_ref().and_then(|p| p.max).unwrap_or(0.0);
            let cols = world.metrics.requests.as_ref().unwrap();
            let longest_of_requests = cols.itl_max_ms.iter().copied().fold(0.0, f64::max);
            prop_assert!(
                (longest / longest_of_requests - 1.0).abs() < 2e-3,
                "longest gap {} ms, longest of a request {} ms\n{}", longest, longest_of_requests, s
            );
        }
        let (again, _) = run(&scenario).unwrap();
        prop_assert_eq!(s, again);
    }
}

/// Behind a frontend each gap is the one its client sees, a migration's stall too (it had
/// been counted from when the engine made the last token before it to when the client got
/// the next, the frontend's queue added: 10.5 s here for a stall its client saw last 1.0 s),
/// so the gaps of every stream add up to its time from first token to last.
#[test]
fn a_stall_behind_a_frontend_is_the_gap_its_client_sees() {
    let faults = vec![FaultEvent::NodeDown {
        at_s: 20.0,
        node: 0,
        duration_s: Some(10.0),
    }];
    let s = small(faults, 3)
        .edited(|c| {
            c.frontend = Some(FrontendConfig {
                latency_ms: None,
                token_cost_us: Some(2500.0),
            });
            c.metrics.keep_requests = true;
        })
        .unwrap();
    let (summary, world) = run(&s).unwrap();
    let failed: u64 = summary.failed.values().sum();
    assert!(
        summary.retried > 0 && failed == 0 && summary.in_flight == 0,
        "{} {summary}",
        summary.retried
    );
    let gaps = summary.all.itl_ms.as_ref().unwrap();
    let recorded_s = gaps.mean.unwrap() * gaps.count as f64 / 1e3;
    let cols = world.metrics.requests.as_ref().unwrap();
    let streams_s: f64 = (cols.itl_mean_ms.iter().zip(&cols.output_tokens))
        .map(|(mean, &out)| mean * f64::from(out.max(1) - 1) / 1e3)
        .sum();
    assert!(
        (recorded_s / streams_s - 1.0).abs() < 2e-3,
        "gaps add up to {recorded_s} s, streams last {streams_s} s\n{summary}"
    );
}

/// Dynamo's frontend stops tracking a request whose prompt and streamed tokens exceed
/// `--migration-max-seq-len`, and a fault then fails it: with a limit below every prompt no
/// lost request is migrated, with one above every request all of them are, as without one.
#[test]
fn a_request_longer_than_the_migration_limit_fails_instead() {
    let faults = vec![FaultEvent::NodeDown {
        at_s: 20.0,
        node: 0,
        duration_s: Some(10.0),
    }];
    let with_limit = |limit: Option<u32>| {
        let s = small(faults.clone(), 3)
            .edited(|c| {
                let f = c.faults.as_mut().unwrap();
                f.migration_max_seq_len = limit;
            })
            .unwrap();
        run(&s).unwrap().0
    };
    let unlimited = with_limit(None);
    let failed = |s: &Summary| -> u64 { s.failed.values().sum() };
    assert!(
        unlimited.retried > 0 && failed(&unlimited) == 0,
        "{unlimited}"
    );
    let within = with_limit(Some(1_000_000));
    assert_eq!(
        (within.retried, failed(&within)),
        (unlimited.retried, 0),
        "{within}"
    );
    let below = with_limit(Some(1));
    accounted(&below);
    assert_eq!(below.retried, 0, "{below}");
    assert_eq!(failed(&below), unlimited.retried, "{below}");
    // Prompts of 2,000 tokens and a limit of exactly 2,000: a lost request still migrates
    // while its client has seen no token of it, and fails once it has seen one (the
    // frontend tracks the prompt and the tokens it streamed).
    let fixed = |limit: Option<u32>| {
        let s = small(faults.clone(), 3)
            .edited(|c| {
                let open = c.traffic.streams[0].open.as_mut().unwrap();
                open.input = Some(DistConfig::Fixed { value: 2000.0 });
                c.faults.as_mut().unwrap().migration_max_seq_len = limit;
            })
            .unwrap();
        run(&s).unwrap().0
    };
    let all = fixed(None);
    let at_prompt = fixed(Some(2000));
    let (migrated, lost) = (at_prompt.retried, all.retried);
    assert!(migrated > 0 && failed(&at_prompt) > 0, "{at_prompt}");
    assert_eq!(migrated + failed(&at_prompt), lost, "{at_prompt}");
    assert_eq!(fixed(Some(1999)).retried, 0);
    // No sequence is zero tokens long: a limit of 0 is refused, by name.
    let e = small(faults.clone(), 3)
        .edited(|c| c.faults.as_mut().unwrap().migration_max_seq_len = Some(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("faults.migration_max_seq_len"), "{e}");
}

/// Failures at random are a Poisson process from `start_s`: the first one an exponential
/// gap after it, not at it.
#[test]
fn random_failures_start_one_gap_after_their_start() {
    let random = |mtbf_s| FaultEvent::RandomWorkerFailures {
        pool: "decode".into(),
        mtbf_s,
        start_s: 10.0,
        end_s: None,
    };
    for seed in 1..=5 {
        // A failure a million seconds apart on average: none in a two-minute run.
        let (s, _) = run(&small(vec![random(1e6)], seed)).unwrap();
        assert!(s.faults.is_empty(), "seed {seed}: {s}");
        let (s, _) = run(&small(vec![random(20.0)], seed)).unwrap();
        let first = s.faults.first().map(|f| f.at_s);
        assert!(first.is_some_and(|t| t > 10.0), "seed {seed}: {first:?}");
        accounted(&s);
    }
}

#[test]
fn a_fault_on_a_worker_that_is_not_there_is_reported_not_dropped() {
    let missing = FaultEvent::WorkerDown {
        at_s: 5.0,
        pool: "decode".into(),
        worker: Some(7),
    };
    let (s, _) = run(&small(vec![missing], 1)).unwrap();
    let [fault] = &s.faults[..] else {
        panic!("one outcome per fault: {s}")
    };
    assert!(fault.target.contains("no such live worker"), "{s}");
    assert_eq!(fault.requests_lost, 0);
    assert_eq!(
        fault.recovered_at_s,
        Some(fault.at_s),
        "nothing to recover from"
    );
    accounted(&s);
}

/// Both nodes down for a second: the workers that died then found no GPUs for their
/// replacements, which start when the nodes come back, and the backlog drains.
#[test]
fn replacements_that_found_no_gpus_start_when_a_node_is_back() {
    let down = |at_s, node| FaultEvent::NodeDown {
        at_s,
        node,
        duration_s: Some(1.0),
    };
    let (s, world) = run(&small(vec![down(33.2, 1), down(33.0, 0)], 0)).unwrap();
    accounted(&s);
    assert_eq!(s.in_flight, 0, "{s}");
    for p in world.cluster.pool_ids() {
        assert_eq!(world.cluster.pool_stats(p).ready, 2, "{s}");
    }
}
