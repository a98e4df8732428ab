//! The benchmark client stream: its phases, its concurrency and its sizes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;

use proptest::prelude::*;
use servesim_core::{RngStreams, SimDuration, SimTime};
use servesim_traffic::{
    BenchmarkConfig, BetweenPhases, RateArrival, Request, Stagger, Standalone, StreamConfig,
    Workload, WorkloadConfig,
};

/// What a driven benchmark did: every request in arrival order with its answer time, and
/// the most requests in flight at once.
struct Driven {
    requests: Vec<(Request, SimTime)>,
    peak_in_flight: usize,
}

/// Runs the workload of `bench` against a server whose latency is `latency(i)` for the
/// `i`-th request (ns).
fn drive(bench: BenchmarkConfig, seed: u64, latency: impl Fn(usize) -> u64) -> Driven {
    let spec = WorkloadConfig::of_streams(vec![StreamConfig::benchmark("bench", bench)])
        .validate("traffic", Path::new("."))
        .unwrap();
    let mut w = Workload::new(&spec, &RngStreams::new(seed)).unwrap();
    let mut answers: BinaryHeap<Reverse<(SimTime, u64, usize)>> = BinaryHeap::new();
    let mut requests: Vec<(Request, SimTime)> = Vec::new();
    let mut peak = 0;
    loop {
        let arrival = w.peek_time();
        let answer = answers.peek().map(|Reverse((t, ..))| *t);
        match (arrival, answer) {
            (None, None) => break,
            (Some(a), Some(d)) if a < d => {}
            (_, Some(_)) => {
                let Reverse((t, id, _)) = answers.pop().unwrap();
                assert!(w.on_complete(servesim_traffic::RequestId(id), t));
                continue;
            }
            (Some(_), None) => {}
        }
        // Nothing reaches the server while what was due waits for a connection.
        let Some(r) = w.next_request().unwrap() else {
            continue;
        };
        let done = r
            .arrival
            .saturating_add(SimDuration::from_nanos(latency(requests.len())));
        answers.push(Reverse((done, r.id.0, requests.len())));
        peak = peak.max(answers.len());
        requests.push((r, done));
    }
    assert_eq!(w.waiting(), 0);
    Driven {
        requests,
        peak_in_flight: peak,
    }
}

fn classes(d: &Driven) -> (usize, usize) {
    let measured = d.requests.iter().filter(|(r, _)| r.class.0 == 1).count();
    (d.requests.len() - measured, measured)
}

#[test]
fn concurrency_mode_sends_every_user_at_once_and_keeps_them_in_flight() {
    let d = drive(
        BenchmarkConfig::concurrency(8, 16, 160, 1000, 100),
        1,
        |_| 1_000_000_000,
    );
    assert_eq!(classes(&d), (16, 160));
    assert_eq!(d.peak_in_flight, 8);
    let at_zero = d
        .requests
        .iter()
        .filter(|(r, _)| r.arrival == SimTime::ZERO)
        .count();
    assert_eq!(at_zero, 8);
    // Fixed sizes: every prompt 1000 tokens, every answer 100.
    assert!(
        d.requests
            .iter()
            .all(|(r, _)| (r.input_tokens, r.output_tokens) == (1000, 100))
    );
    // Every prompt is fresh: no two share their first block.
    let mut firsts: Vec<u64> = d.requests.iter().map(|(r, _)| r.prefix_blocks[0]).collect();
    firsts.sort_unstable();
    firsts.dedup();
    assert_eq!(firsts.len(), d.requests.len());
}

#[test]
fn the_warmup_is_a_class_of_its_own_named_after_the_streams() {
    let spec = WorkloadConfig::of_streams(vec![StreamConfig::benchmark(
        "bench",
        BenchmarkConfig::concurrency(2, 4, 10, 10, 10),
    )])
    .validate("traffic", Path::new("."))
    .unwrap();
    assert_eq!(spec.class_names(), ["bench.warmup", "bench"]);
    let no_warmup = WorkloadConfig::of_streams(vec![StreamConfig::benchmark(
        "bench",
        BenchmarkConfig::concurrency(2, 0, 10, 10, 10),
    )])
    .validate("traffic", Path::new("."))
    .unwrap();
    assert_eq!(no_warmup.class_names(), ["bench"]);
}

#[test]
fn drain_starts_the_measured_phase_afresh_after_the_last_warmup_answer() {
    let mut b = BenchmarkConfig::concurrency(4, 6, 20, 100, 10);
    b.between_phases = BetweenPhases::Drain;
    // The warm-up's latencies differ, so the last warm-up answer comes well after others.
    let d = drive(b, 3, |i| 1_000_000 * (1 + i as u64 % 5));
    let last_warmup = d
        .requests
        .iter()
        .filter(|(r, _)| r.class.0 == 0)
        .map(|(_, done)| *done)
        .max()
        .unwrap();
    let measured: Vec<_> = d.requests.iter().filter(|(r, _)| r.class.0 == 1).collect();
    assert_eq!(measured.len(), 20);
    assert!(measured.iter().all(|(r, _)| r.arrival >= last_warmup));
    let together = measured
        .iter()
        .filter(|(r, _)| r.arrival == last_warmup)
        .count();
    assert_eq!(
        together, 4,
        "the measured phase starts with every user at once"
    );
}

#[test]
fn request_rate_mode_holds_a_due_request_while_the_limit_is_in_flight() {
    let mut b = BenchmarkConfig::concurrency(2, 0, 50, 100, 10);
    b.request_rate = Some(100.0);
    b.arrival = Some(RateArrival::Constant);
    // Answers take 50 ms, requests are due every 10 ms: the limit of 2 sets the pace.
    // Requests 0 and 1 go at 0 and 10 ms; each later one waits for an answer, so request
    // 2k goes at 50k ms and 2k + 1 at 50k + 10 ms.
    let d = drive(b, 1, |_| 50_000_000);
    assert_eq!(d.peak_in_flight, 2);
    assert_eq!(d.requests.len(), 50);
    let last = d.requests.last().unwrap().0.arrival;
    assert_eq!(last, SimTime::ZERO + SimDuration::from_nanos(1_210_000_000));
}

#[test]
fn a_request_waits_in_the_client_for_a_connection_and_is_timed_from_its_issue() {
    let mut b = BenchmarkConfig::concurrency(4, 0, 6, 100, 10);
    b.connections = Some(2);
    // Every answer takes 1 s. At 0 the four users issue, two are sent and two wait; at 1 s
    // the answers hand their connections to those two (issued at 0) and the two users
    // answered issue again, to wait in turn until 2 s.
    let d = drive(b, 1, |_| 1_000_000_000);
    assert_eq!(d.peak_in_flight, 2);
    let s = |n: u64| SimTime::ZERO + SimDuration::from_nanos(n * 1_000_000_000);
    let times: Vec<_> = d
        .requests
        .iter()
        .map(|(r, _)| (r.issued, r.arrival))
        .collect();
    assert_eq!(
        times,
        [
            (s(0), s(0)),
            (s(0), s(0)),
            (s(0), s(1)),
            (s(0), s(1)),
            (s(1), s(2)),
            (s(1), s(2))
        ]
    );
    // Run alone (`traffic stats`, Python's `generate`), the pool holds requests back too.
    let mut pooled = BenchmarkConfig::concurrency(4, 0, 6, 100, 10);
    pooled.connections = Some(2);
    let spec = WorkloadConfig::of_streams(vec![StreamConfig::benchmark("bench", pooled)])
        .validate("traffic", Path::new("."))
        .unwrap();
    let alone = Standalone {
        seed: 1,
        until: None,
        response: SimDuration::from_nanos(1_000_000_000),
        max_requests: None,
    };
    let mut seen = Vec::new();
    assert_eq!(
        alone
            .run(&spec, |r| seen.push((r.issued, r.arrival)))
            .unwrap(),
        6
    );
    assert_eq!(seen, times);
    // Without a pool every request is sent as it is issued.
    let d = drive(BenchmarkConfig::concurrency(4, 0, 6, 100, 10), 1, |_| {
        1_000_000_000
    });
    assert!(d.requests.iter().all(|(r, _)| r.issued == r.arrival));
    assert_eq!(d.peak_in_flight, 4);
}

#[test]
fn requests_waiting_for_a_connection_go_before_those_issued_later() {
    // Three answers at 1 s free three connections while one request (issued at 0) waits and
    // three users issue again: the waiting one goes first, and so is still warm-up.
    let mut b = BenchmarkConfig::concurrency(4, 4, 8, 100, 10);
    b.connections = Some(3);
    b.between_phases = BetweenPhases::Continue;
    let d = drive(b, 1, |_| 1_000_000_000);
    let issued: Vec<_> = d.requests.iter().map(|(r, _)| r.issued).collect();
    assert!(issued.windows(2).all(|w| w[0] <= w[1]), "{issued:?}");
    let s = |n: u64| SimTime::ZERO + SimDuration::from_nanos(n * 1_000_000_000);
    assert_eq!(
        (d.requests[3].0.issued, d.requests[3].0.arrival),
        (s(0), s(1))
    );
    assert_eq!(classes(&d), (4, 8));
    assert!(d.requests[..4].iter().all(|(r, _)| r.issued == s(0)));
}

#[test]
fn a_failed_request_frees_its_connection_too() {
    // Two users, one connection: the second waits until the first fails, then goes.
    let mut b = BenchmarkConfig::concurrency(2, 0, 3, 100, 10);
    b.connections = Some(1);
    let spec = WorkloadConfig::of_streams(vec![StreamConfig::benchmark("bench", b)])
        .validate("traffic", Path::new("."))
        .unwrap();
    let mut w = Workload::new(&spec, &RngStreams::new(1)).unwrap();
    let first = w.next_request().unwrap().unwrap();
    assert!(w.next_request().unwrap().is_none(), "the second waits");
    let t = SimTime::ZERO + SimDuration::from_nanos(500_000_000);
    assert!(w.on_failed(first.id, t));
    let second = w.next_request().unwrap().unwrap();
    assert_eq!((second.issued, second.arrival), (SimTime::ZERO, t));
}

#[test]
fn bad_benchmarks_name_the_field() {
    let err = |b: BenchmarkConfig| {
        WorkloadConfig::of_streams(vec![StreamConfig::benchmark("b", b)])
            .validate("traffic", Path::new("."))
            .unwrap_err()
            .to_string()
    };
    let mut none = BenchmarkConfig::concurrency(1, 0, 1, 1, 1);
    none.concurrency = None;
    assert!(err(none).contains("traffic.streams[0].benchmark: give `concurrency`, `request_rate`"));
    assert!(
        err(BenchmarkConfig::concurrency(0, 0, 1, 1, 1))
            .contains("benchmark.concurrency: must be > 0")
    );
    assert!(
        err(BenchmarkConfig::concurrency(1, 0, 0, 1, 1))
            .contains("benchmark.requests: must be > 0")
    );
    let mut pool = BenchmarkConfig::concurrency(1, 0, 1, 1, 1);
    pool.connections = Some(0);
    assert!(err(pool).contains("benchmark.connections: must be > 0, got 0"));
    let mut paced = BenchmarkConfig::concurrency(1, 0, 1, 1, 1);
    paced.arrival = Some(RateArrival::Constant);
    assert!(
        err(paced).contains("benchmark.arrival: spreads the requests of request-rate mode"),
        "an arrival concurrency mode does not follow is not ignored"
    );
    let mut jittered = BenchmarkConfig::concurrency(1, 0, 1, 1, 1);
    jittered.request_rate = Some(5.0);
    jittered.stagger = servesim_traffic::Stagger::Random;
    assert!(
        err(jittered).contains("benchmark.stagger: spreads the users of concurrency mode"),
        "a stagger request-rate mode does not follow is not ignored"
    );
    let mut std = BenchmarkConfig::concurrency(1, 0, 1, 1, 1);
    std.isl_stddev = -1.0;
    assert!(err(std).contains("benchmark.isl_stddev: must be >= 0"));
    let mut both = StreamConfig::benchmark("b", BenchmarkConfig::concurrency(1, 0, 1, 1, 1));
    both.closed = Some(servesim_traffic::ClosedConfig::one_turn_fixed(1, 1, 1));
    let e = WorkloadConfig::of_streams(vec![both])
        .validate("traffic", Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("exactly one of `open`, `closed`, `trace` and `benchmark`"),
        "{e}"
    );
    let yaml = "streams:\n  - name: b\n    benchmark: {concurrency: 2, requests: 3, isl: 10, osl: 5, warmup: 1}\n";
    let e = WorkloadConfig::from_yaml_str(yaml, "f.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `warmup`"), "{e}");
}

fn mode() -> impl Strategy<Value = BenchmarkConfig> {
    (
        1u32..12,
        0u32..30,
        1u32..60,
        prop::option::of((0.5f64..200.0, any::<bool>())),
        any::<bool>(),
        any::<bool>(),
        0.0f64..300.0,
        prop::option::of(1u32..20),
        prop::option::of(1u32..12),
        // Concurrency mode's users spread over a ramp, evenly or at random, in half the cases.
        prop::option::of((0.001f64..5.0, any::<bool>())),
    )
        .prop_map(
            |(c, warmup, n, rate, cap, drain, std, entries, pool, ramp)| {
                let mut b = BenchmarkConfig::concurrency(c, warmup, n, 1000, 50);
                if let (Some((ramp_s, random)), None) = (ramp, rate) {
                    b.ramp_s = ramp_s;
                    b.stagger = if random {
                        Stagger::Random
                    } else {
                        Stagger::Even
                    };
                }
                if let Some((r, constant)) = rate {
                    b.request_rate = Some(r);
                    b.arrival = Some(if constant {
                        RateArrival::Constant
                    } else {
                        RateArrival::Poisson
                    });
                    if !cap {
                        b.concurrency = None;
                    }
                }
                b.between_phases = if drain {
                    BetweenPhases::Drain
                } else {
                    BetweenPhases::Continue
                };
                b.isl_stddev = std;
                b.dataset_entries = entries;
                b.connections = pool;
                b
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// In every mode (concurrency or rate, capped or not, users together or over a ramp,
    /// continuing or draining between the phases, fixed or varying sizes, fresh prompts or a
    /// dataset, with or without a connection pool), the measured requests are exactly the `requests` sent after the
    /// `warmup_requests`, no more requests are at the server than the concurrency and the
    /// pool allow, none is sent before it is issued, and a draining client sends no
    /// measured request before the warm-up is answered.
    #[test]
    fn the_measured_requests_are_exactly_the_n_after_the_warmup(
        b in mode(),
        seed in any::<u64>(),
        // Whole seconds in half the cases, so that answers often come at one instant.
        latencies in prop_oneof![
            prop::collection::vec(1u64..3_000_000_000, 1..40),
            prop::collection::vec((1u64..4).prop_map(|s| s * 1_000_000_000), 1..40),
        ],
    ) {
        let d = drive(b.clone(), seed, |i| latencies[i % latencies.len()]);
        let warmup = b.warmup_requests as usize;
        let measured_class = u16::from(warmup > 0);
        prop_assert_eq!(d.requests.len(), warmup + b.requests as usize);
        for (k, (r, _)) in d.requests.iter().enumerate() {
            prop_assert_eq!(r.class.0 == measured_class, k >= warmup, "request {}", k);
            prop_assert!(r.input_tokens >= 1 && r.output_tokens == 50);
        }
        if let Some(c) = b.concurrency {
            prop_assert!(d.peak_in_flight <= c as usize);
        }
        match b.connections {
            Some(n) => prop_assert!(d.peak_in_flight <= n as usize),
            None => prop_assert!(d.requests.iter().all(|(r, _)| r.issued == r.arrival)),
        }
        prop_assert!(d.requests.iter().all(|(r, _)| r.issued <= r.arrival));
        // Sent in the order issued: a request waiting for a connection goes first.
        prop_assert!(d.requests.windows(2).all(|w| w[0].0.issued <= w[1].0.issued));
        if let Some(k) = b.dataset_entries {
            // Each pass hands out every entry once: the first k prompts differ, and no
            // more than k distinct prompts are ever sent.
            let prompts: Vec<_> = d.requests.iter().map(|(r, _)| r.prefix_blocks.clone()).collect();
            let first: std::collections::BTreeSet<_> =
                prompts.iter().take(k as usize).collect();
            prop_assert_eq!(first.len(), prompts.len().min(k as usize));
            let all: std::collections::BTreeSet<_> = prompts.iter().collect();
            prop_assert_eq!(all.len(), first.len());
        }
        if b.between_phases == BetweenPhases::Drain && warmup > 0 {
            let last_warmup = d.requests[..warmup].iter().map(|(_, t)| *t).max().unwrap();
            prop_assert!(d.requests[warmup..].iter().all(|(r, _)| r.arrival >= last_warmup));
        }
    }
}
