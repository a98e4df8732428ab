//! Workload mixes: determinism, closed-loop conversations, the airline preset, config errors.

use std::collections::BTreeMap;
use std::path::Path;

use servesim_core::{RngStreams, SimDuration, SimTime};
use servesim_traffic::{Request, Standalone, StatsBuilder, Workload, WorkloadConfig, WorkloadSpec};

fn spec(yaml: &str) -> WorkloadSpec {
    WorkloadConfig::from_yaml_str(yaml, "test")
        .unwrap()
        .validate("traffic", Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap()
}

fn err(yaml: &str) -> String {
    match WorkloadConfig::from_yaml_str(yaml, "test")
        .and_then(|c| c.validate("traffic", Path::new(env!("CARGO_MANIFEST_DIR"))))
    {
        Ok(_) => panic!("accepted: {yaml}"),
        Err(e) => e.to_string(),
    }
}

fn secs(s: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(s).unwrap()
}

fn run(spec: &WorkloadSpec, seed: u64, until_s: u64, latency_s: u64) -> Vec<Request> {
    let mut w = Workload::new(spec, &RngStreams::new(seed)).unwrap();
    let mut out = Vec::new();
    w.run_standalone(
        secs(until_s),
        SimDuration::from_secs(latency_s).unwrap(),
        |r| out.push(r.clone()),
    )
    .unwrap();
    out
}

const CHAT: &str = "
  - name: chat
    class: status_query
    open:
      arrival: {kind: poisson, rate_per_s: 5}
      input: {kind: lognormal, mean: 300, p50: 200}
      output: {kind: normal, mean: 100, std: 30, min: 1}";

const CONV: &str = "
  - name: conv
    class: rerouting
    start_s: 10
    end_s: 500
    shared_prefix_tokens: 1024
    closed:
      users: 20
      ramp_s: 5
      first_input: {kind: uniform, min: 2000, max: 4000}
      followup_input: {kind: fixed, value: 100}
      output: {kind: fixed, value: 300}
      think_s: {kind: exponential, mean: 3}
      turns: {kind: uniform, min: 2, max: 5}";

#[test]
fn same_seed_same_requests_and_streams_do_not_disturb_each_other() {
    let alone = spec(&format!("streams:{CHAT}"));
    let mixed = spec(&format!("streams:{CONV}{CHAT}"));
    let a = run(&alone, 9, 600, 1);
    assert_eq!(a, run(&alone, 9, 600, 1));
    assert_ne!(a, run(&alone, 10, 600, 1));
    // The chat stream's draws are the same with another stream added before it.
    let from_mix: Vec<_> = run(&mixed, 9, 600, 1)
        .into_iter()
        .filter(|r| mixed.class_names()[usize::from(r.class.0)] == "status_query")
        .collect();
    assert_eq!(from_mix.len(), a.len());
    for (x, y) in a.iter().zip(&from_mix) {
        assert_eq!(
            (x.arrival, x.input_tokens, x.output_tokens, &x.prefix_blocks),
            (y.arrival, y.input_tokens, y.output_tokens, &y.prefix_blocks)
        );
    }
}

#[test]
fn conversations_extend_their_prompts_and_share_prefix_blocks() {
    let s = spec(&format!("streams:{CONV}"));
    let rs = run(&s, 4, 1000, 2);
    let mut by_session: BTreeMap<(u32, u32), Vec<&Request>> = BTreeMap::new();
    for r in &rs {
        assert!(r.arrival >= secs(10) && r.arrival < secs(500));
        let info = r.session.unwrap();
        by_session
            .entry((info.user, info.session))
            .or_default()
            .push(r);
    }
    assert!(by_session.len() > 100);
    let system = &rs[0].prefix_blocks[..2];
    for turns in by_session.values() {
        assert!(turns.len() <= 5);
        for (k, pair) in turns.windows(2).enumerate() {
            let (prev, next) = (pair[0], pair[1]);
            assert_eq!(next.session.unwrap().turn, k as u32 + 1);
            // Prompt = previous prompt + previous answer + 100 new tokens.
            assert_eq!(next.input_tokens, prev.input_tokens + 300 + 100);
            // Think time (at least the 2 s answer latency) between the turns.
            assert!(next.arrival >= prev.arrival + SimDuration::from_secs(2).unwrap());
            let full = (prev.input_tokens / 512) as usize;
            assert_eq!(prev.prefix_blocks[..full], next.prefix_blocks[..full]);
            if prev.input_tokens % 512 != 0 {
                assert_ne!(prev.prefix_blocks[full], next.prefix_blocks[full]);
            }
        }
        // Every request starts with the stream's shared 1024-token system prompt.
        assert_eq!(&turns[0].prefix_blocks[..2], system);
    }
    // Different conversations share nothing beyond the system prompt.
    let firsts: Vec<_> = by_session.values().map(|t| t[0].prefix_blocks[2]).collect();
    let mut dedup = firsts.clone();
    dedup.sort_unstable();
    dedup.dedup();
    assert_eq!(dedup.len(), firsts.len());
}

#[test]
fn failed_requests_end_the_conversation() {
    let s = spec(&format!("streams:{CONV}"));
    let mut w = Workload::new(&s, &RngStreams::new(1)).unwrap();
    let first = w.next_request().unwrap().unwrap();
    let info = first.session.unwrap();
    assert_eq!((info.session, info.turn), (0, 0));
    assert!(w.on_failed(first.id, first.arrival));
    assert!(!w.on_failed(first.id, first.arrival), "only once");
    // Pull until that user speaks again: a new conversation, turn 0.
    loop {
        let r = w.next_request().unwrap().unwrap();
        let i = r.session.unwrap();
        if i.user == info.user {
            assert_eq!((i.session, i.turn), (1, 0));
            assert!(r.arrival >= first.arrival);
            break;
        }
    }
}

#[test]
fn airline_preset_with_overrides() {
    let s = spec(
        "preset: airline
airline:
  passenger_rate_per_s: 4
  storm_start_s: 100
  storm_duration_s: 600
  storm_users: 50
  storm_turns: {kind: fixed, value: 3}
streams:
  - name: extra
    end_s: 100
    open:
      arrival: {kind: gamma, rate_per_s: 1, cv: 2}
      input: {kind: fixed, value: 10}
      output: {kind: fixed, value: 10}",
    );
    assert_eq!(s.class_names(), ["status_query", "rerouting", "extra"]);
    assert!(!s.is_unbounded());
    let rs = run(&s, 1, 4000, 5);
    let mut stats = StatsBuilder::new(s.class_names());
    rs.iter().for_each(|r| stats.record(r));
    let st = stats.finish();
    let passengers = &st.classes[0];
    assert!(
        (passengers.rate_per_s.unwrap() - 4.0).abs() < 0.2,
        "{passengers:?}"
    );
    assert!(passengers.input.mean > 1024.0 + 150.0 && passengers.input.mean < 1024.0 + 210.0);
    let storm = &st.classes[1];
    assert!(storm.first_s >= 100.0 && storm.first_s + storm.span_s < 700.0);
    // Several-thousand-token prompts, answers of a few hundred.
    assert!(storm.input.p50 > 4000, "{storm:?}");
    assert!(storm.output.mean > 250.0 && storm.output.mean < 450.0);
    assert!(storm.reusable_block_share > 0.5, "{storm:?}");
    let users: std::collections::BTreeSet<_> = rs
        .iter()
        .filter_map(|r| r.session.map(|i| i.user))
        .collect();
    assert_eq!(users.len(), 50);
    // Defaults: 200 users from 600 s for 1800 s.
    let d = spec("preset: airline");
    let rs = run(&d, 1, 3600, 5);
    let users: std::collections::BTreeSet<_> = rs
        .iter()
        .filter_map(|r| r.session.map(|i| i.user))
        .collect();
    assert_eq!(users.len(), 200);
    let storm_times: Vec<_> = rs
        .iter()
        .filter(|r| r.session.is_some())
        .map(|r| r.arrival)
        .collect();
    assert!(storm_times[0] >= secs(600) && *storm_times.last().unwrap() < secs(2400));
}

#[test]
fn empirical_sizes_keep_rows_together() {
    let s = spec(
        "streams:
  - name: e
    end_s: 2000
    open:
      arrival: {kind: poisson, rate_per_s: 2}
      sizes_from: {path: ../data/traces/azure_llm_2023_code.csv.gz, format: azure}",
    );
    let rows: std::collections::HashSet<(u32, u32)> = servesim_traffic::trace::read_sizes(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/traces/azure_llm_2023_code.csv.gz"),
        servesim_traffic::TraceFormat::Azure,
    )
    .unwrap()
    .into_iter()
    .collect();
    let rs = run(&s, 2, 2000, 1);
    assert!(rs.len() > 3000);
    assert!(
        rs.iter()
            .all(|r| rows.contains(&(r.input_tokens, r.output_tokens)))
    );
}

#[test]
fn bad_config_names_the_field() {
    let open = |arrival: &str| {
        format!(
            "streams:
  - name: a
    open: {{arrival: {{kind: poisson, rate_per_s: 1}}, input: {{kind: fixed, value: 1}}, output: {{kind: fixed, value: 1}}}}
  - name: b
    start_s: 10
    open: {{arrival: {arrival}, input: {{kind: fixed, value: 1}}, output: {{kind: fixed, value: 1}}}}"
        )
    };
    // A workload of no stream sends nothing: an empty file is not a workload.
    for empty in ["", "streams: []", "block_tokens: 64"] {
        assert_eq!(
            err(empty),
            "traffic.streams: names no stream (or give `preset: airline`)"
        );
    }
    assert_eq!(
        err(&open("{kind: poisson, rate_per_s: -2}")),
        "traffic.streams[1].open.arrival.rate_per_s: must be > 0, got -2"
    );
    assert_eq!(
        err(&open("{kind: gamma, rate_per_s: 1, cv: 0}")),
        "traffic.streams[1].open.arrival.cv: must be > 0, got 0"
    );
    assert_eq!(
        err(&open(
            "{kind: poisson, rate_per_s: 1}}\n    end_s: 5\n    x: {"
        ))
        .split(':')
        .next(),
        Some("test"),
        "unknown fields are parse errors"
    );
    let windowed =
        open("{kind: poisson, rate_per_s: 1}").replace("start_s: 10", "start_s: 10\n    end_s: 5");
    assert_eq!(
        err(&windowed),
        "traffic.streams[1].end_s: must be > start_s (10), got 5"
    );
    assert!(err("streams: [{name: a}]").starts_with("traffic.streams[0]: give exactly one of"));
    assert!(
        err(&open("{kind: poisson, rate_per_s: 1}").replace("name: b", "name: a"))
            .starts_with("traffic.streams[1].name: duplicate")
    );
    assert!(err("airline: {storm_users: 3}").starts_with("traffic.airline: overrides"));
    assert_eq!(
        err("preset: airline\nairline: {storm_users: 0}"),
        "traffic.airline.storm_users: must be 1..=1000000, got 0"
    );
    assert_eq!(
        err("preset: airline\nairline: {passenger_rate_per_s: 0}"),
        "traffic.airline.passenger_rate_per_s: must be > 0, got 0"
    );
    assert_eq!(
        err("preset: airline\nairline: {storm_duration_s: -5}"),
        "traffic.airline.storm_duration_s: must be > 0, got -5"
    );
    assert!(
        err("preset: airline\nairline: {storm_think_s: {kind: lognormal, mean: 1, p50: 2}}")
            .starts_with("traffic.airline.storm_think_s.mean")
    );
    assert!(
        err("preset: airline\nairline: {storm_user: 3}").contains("unknown field `storm_user`")
    );
    assert!(err("block_tokens: 0").starts_with("traffic.block_tokens"));
    assert!(
        err("block_tokens: 256\nstreams: [{name: m, trace: {path: ../data/traces/mooncake_synthetic.jsonl.gz, format: mooncake}}]")
            .starts_with("traffic.streams[0].trace.format")
    );
    assert!(
        err("streams: [{name: m, trace: {path: x.csv, format: azure, from_s: 10, to_s: 10}}]")
            .starts_with("traffic.streams[0].trace.to_s")
    );
    assert!(
        err("streams: [{name: m, trace: {path: x.csv, format: azure, speed: 0}}]")
            .starts_with("traffic.streams[0].trace.speed: must be > 0")
    );
}

#[test]
fn unbounded_workloads_are_flagged() {
    assert!(spec(&format!("streams:{CHAT}")).is_unbounded());
    assert!(!spec(&format!("streams:{CONV}")).is_unbounded());
}

#[test]
fn standalone_runs_need_a_limit_and_stop_at_max_requests() {
    let chat = spec(&format!("streams:{CHAT}"));
    let mut run = Standalone {
        seed: 9,
        until: None,
        response: SimDuration::from_secs(1).unwrap(),
        max_requests: None,
    };
    let e = run.run(&chat, |_| {}).unwrap_err();
    assert!(e.to_string().starts_with("until: "), "{e}");
    run.until = Some(secs(600));
    let mut all = Vec::new();
    assert_eq!(
        run.run(&chat, |r| all.push(r.clone())).unwrap(),
        all.len() as u64
    );
    assert_eq!(all, self::run(&chat, 9, 600, 1));
    // Closed-loop users: the conversation stream ends by itself; follow-ups come after
    // the assumed response and a think time.
    let conv = spec(&format!("streams:{CONV}"));
    run.until = None;
    assert_eq!(
        run.run(&conv, |_| {}).unwrap(),
        self::run(&conv, 9, 10_000, 1).len() as u64
    );
    // A closed loop with zero think and response times never advances the clock.
    let stuck = spec(
        "streams:
  - name: spin
    end_s: 10
    closed:
      users: 1
      first_input: {kind: fixed, value: 10}
      followup_input: {kind: fixed, value: 1}
      output: {kind: fixed, value: 1}
      think_s: {kind: fixed, value: 0}
      turns: {kind: fixed, value: 2}",
    );
    run.response = SimDuration::ZERO;
    run.max_requests = Some(1000);
    let mut n = 0;
    let e = run.run(&stuck, |_| n += 1).unwrap_err();
    assert!(
        e.to_string().starts_with("max_requests: more than 1000"),
        "{e}"
    );
    assert_eq!(n, 1000);
    run.max_requests = Some(all.len() as u64);
    run.until = Some(secs(600));
    assert_eq!(run.run(&chat, |_| {}).unwrap(), all.len() as u64);
}

#[test]
fn the_example_file_is_the_airline_preset_written_out() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/airline.yaml");
    let (cfg, seed) = servesim_traffic::load_workload_file(&path).unwrap();
    assert_eq!(seed, Some(42));
    assert_eq!(
        cfg.airline,
        Some(servesim_traffic::AirlineConfig::default())
    );
    let (spec, _) = servesim_traffic::load_spec(&path, None).unwrap();
    assert_eq!(
        spec.class_names(),
        ["status_query", "rerouting", "background"]
    );
    let rs = run(&spec, 42, 3600, 3);
    let background = rs.iter().filter(|r| r.class.0 == 2).count();
    // The first half hour of the code trace (5,740 rows), replayed in 15 minutes.
    assert_eq!(background, 5_740);
}

/// Pins the generated requests: if this changes, every stored result changes too.
#[test]
fn generated_requests_are_pinned() {
    let s = spec(&format!("streams:{CONV}{CHAT}"));
    let rs = run(&s, 2026, 300, 1);
    let digest = servesim_core::hash::stable_hash(
        &rs.iter()
            .map(|r| {
                (
                    r.id.0,
                    r.arrival.as_nanos(),
                    r.input_tokens,
                    r.output_tokens,
                    r.prefix_blocks.to_vec(),
                    r.class.0,
                )
            })
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        (rs.len(), digest),
        (GOLDEN_COUNT, GOLDEN_DIGEST),
        "generation changed"
    );
}

const GOLDEN_COUNT: usize = 2_865;
const GOLDEN_DIGEST: u64 = 11_939_060_546_740_094_637;

#[test]
fn users_join_evenly_or_at_random_times_within_the_ramp() {
    let users = |stagger: &str| {
        spec(&format!(
            "streams:
  - name: u
    start_s: 10
    closed:
      users: 50
      ramp_s: 20
      {stagger}
      first_input: {{kind: fixed, value: 100}}
      followup_input: {{kind: fixed, value: 1}}
      output: {{kind: fixed, value: 10}}
      think_s: {{kind: fixed, value: 0}}
      turns: {{kind: fixed, value: 1}}"
        ))
    };
    // Answers take 1000 s: the first 50 requests are the users joining.
    let joins = |s: &WorkloadSpec, seed: u64| -> Vec<SimTime> {
        run(s, seed, 1000, 1000)
            .iter()
            .take(50)
            .map(|r| r.arrival)
            .collect()
    };
    let even = joins(&users(""), 1);
    assert_eq!(even, joins(&users("stagger: even"), 1));
    let step = SimDuration::from_nanos(400_000_000);
    for (u, t) in even.iter().enumerate() {
        assert_eq!(
            *t,
            secs(10) + SimDuration::from_nanos(step.as_nanos() * u as u64)
        );
    }
    let random = users("stagger: random");
    let a = joins(&random, 1);
    assert_eq!(a, joins(&random, 1), "deterministic for a seed");
    assert_ne!(a, joins(&random, 2), "another seed, other times");
    assert!(a.iter().all(|t| *t >= secs(10) && *t < secs(30)));
    // Not the even grid: some pairs of users join closer than its 400 ms.
    assert!(
        a.windows(2)
            .any(|w| w[1] - w[0] < SimDuration::from_nanos(100_000_000))
    );
    assert!(
        err("streams:\n  - name: u\n    closed: {users: 2, ramp_s: 1, stagger: sideways, first_input: {kind: fixed, value: 1}, followup_input: {kind: fixed, value: 1}, output: {kind: fixed, value: 1}, think_s: {kind: fixed, value: 0}, turns: {kind: fixed, value: 1}}")
            .contains("unknown variant `sideways`")
    );
}

#[test]
fn the_least_tokens_of_a_request_are_known_per_stream_before_it_runs() {
    let w = spec(
        "streams:
  - name: open
    shared_prefix_tokens: 50
    open:
      arrival: {kind: poisson, rate_per_s: 1}
      input: {kind: uniform, min: 100.2, max: 300}
      output: {kind: lognormal, p50: 200, sigma: 1, min: 10}
  - name: users
    closed:
      users: 2
      first_input: {kind: fixed, value: 0}
      followup_input: {kind: fixed, value: 5000}
      output: {kind: fixed, value: 7}
      think_s: {kind: fixed, value: 1}
      turns: {kind: fixed, value: 3}
",
    );
    // 50 shared + 101 (whole numbers from 100.2) + 10; a closed stream's first turn, its
    // empty first prompt counted as one token.
    assert_eq!(
        w.least_request_tokens(),
        [("open", Some(161)), ("users", Some(8))]
    );
}

#[test]
fn a_benchmarks_prompts_follow_the_streams_shared_prefix() {
    // As an open stream's: the benchmark's `isl` is on top of the shared prefix, whose
    // blocks are common to every prompt and the rest each prompt's own.
    let w = spec(
        "block_tokens: 64
streams:
  - name: bench
    shared_prefix_tokens: 1024
    benchmark: {concurrency: 2, warmup_requests: 0, requests: 6, isl: 160, osl: 4}
",
    );
    assert_eq!(w.least_request_tokens(), [("bench", Some(1024 + 160 + 4))]);
    let reqs = run(&w, 1, 60, 1);
    assert_eq!(reqs.len(), 6);
    let block = w.block_tokens() as usize;
    assert!(1024 % block == 0 && block < 160, "{block}");
    for r in &reqs {
        assert_eq!(r.input_tokens, 1024 + 160);
        assert_eq!(r.prefix_blocks.len(), (1024 + 160usize).div_ceil(block));
    }
    let shared = 1024 / block;
    let (a, b) = (&reqs[0].prefix_blocks, &reqs[1].prefix_blocks);
    assert_eq!(a[..shared], b[..shared]);
    assert!(a[shared..].iter().all(|x| !b.contains(x)));
}

#[test]
fn a_conversation_keeps_its_counts_as_written() {
    let conv = |first: u32, followup: &str, cap: &str| {
        format!(
            "streams:
  - name: c
    end_s: 100
    shared_prefix_tokens: 50
    closed: {{users: 1, first_input: {{kind: fixed, value: {first}}}, followup_input: {followup}, output: {{kind: fixed, value: 10}}, think_s: {{kind: fixed, value: 1}}, turns: {{kind: fixed, value: 3}}{cap}}}"
        )
    };
    // A follow-up that adds nothing adds nothing: the prompt grows by the answer alone.
    let rs = run(&spec(&conv(100, "{kind: fixed, value: 0}", "")), 1, 6, 1);
    let sizes: Vec<u32> = rs.iter().take(3).map(|r| r.input_tokens).collect();
    assert_eq!(sizes, [150, 160, 170]);
    // A first prompt over the cap is cut to it; later ones end the conversation.
    let capped = spec(&conv(
        5000,
        "{kind: fixed, value: 0}",
        ", max_input_tokens: 4000",
    ));
    let rs = run(&capped, 1, 3, 1);
    assert_eq!(rs[0].input_tokens, 4000);
    assert!(
        err(&conv(
            100,
            "{kind: fixed, value: 0}",
            ", max_input_tokens: 50"
        ))
        .starts_with("traffic.streams[0].closed.max_input_tokens: must be more than the 50 tokens")
    );
    // Counts that must be at least one are not taken as one without a word.
    for (from, to, field) in [
        (
            "output: {kind: fixed, value: 10}",
            "output: {kind: fixed, value: 0}",
            "output.value",
        ),
        (
            "turns: {kind: fixed, value: 3}",
            "turns: {kind: uniform, min: 0, max: 0.4}",
            "turns.max",
        ),
    ] {
        let yaml = conv(100, "{kind: fixed, value: 0}", "").replace(from, to);
        let e = err(&yaml);
        assert!(
            e.starts_with(&format!(
                "traffic.streams[0].closed.{field}: must be at least 1"
            )),
            "{e}"
        );
    }
}

#[test]
fn an_airline_override_at_fault_is_named_as_written() {
    for (airline, said) in [
        (
            "{passenger_input: {kind: fixed, value: 5e9}}",
            "traffic.airline.passenger_input.value: 5000000000 tokens is more than",
        ),
        (
            "{storm_turns: {kind: fixed, value: 0}}",
            "traffic.airline.storm_turns.value: must be at least 1",
        ),
        (
            "{storm_max_input_tokens: 2000}",
            "traffic.airline.storm_max_input_tokens: must be more than the 2048 tokens",
        ),
    ] {
        let e = err(&format!("preset: airline\nairline: {airline}"));
        assert!(e.starts_with(said), "{e}");
    }
}

#[test]
fn a_file_read_as_a_scenario_says_why_where_its_name_is_a_traces() {
    let dir = std::env::temp_dir().join(format!("servesim-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let err = |path: &std::path::Path| {
        servesim_traffic::load_spec(path, None)
            .unwrap_err()
            .to_string()
    };
    // A Mooncake trace in upper case, and an Azure one as .txt: read as scenarios, which
    // they are not, and the error says why and what reads them as traces.
    let line = r#"{"timestamp": 0, "input_length": 10, "output_length": 2}"#;
    let jsonl = write("trace.JSONL", &format!("{line}\n{line}\n"));
    let e = err(&jsonl);
    assert!(
        e.contains("read as a scenario or workload file") && e.contains("--format"),
        "{e}"
    );
    let csv = write(
        "azure.txt",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:00.0000000,100,20\n",
    );
    let e = err(&csv);
    assert!(e.contains("its YAML is not a mapping of fields"), "{e}");
    assert!(
        !e.contains("ContextTokens"),
        "the file is not quoted back: {e}"
    );
    // Given its format, it reads.
    let (spec, _) =
        servesim_traffic::load_spec(&csv, Some(servesim_traffic::TraceFormat::Azure)).unwrap();
    assert_eq!(spec.class_names().len(), 1);
    // A Mooncake trace named .json is told from a scenario by its first record, blank lines
    // before it being none.
    let json = write("trace.json", &format!("\n{line}\n{line}\n"));
    let (spec, _) = servesim_traffic::load_spec(&json, None).unwrap();
    assert_eq!(spec.class_names().len(), 1);
    // A scenario's own name gets the parser's word alone.
    let yaml = write("bad.yaml", "streams: [1\n");
    assert!(!err(&yaml).contains("read as a scenario"));
    std::fs::remove_dir_all(&dir).ok();
}
