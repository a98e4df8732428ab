//! `servesim traffic stats` and `servesim traffic export`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_servesim"))
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = bin().args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn stats_of_the_azure_conversation_trace() {
    let trace = repo("data/traces/azure_llm_2023_conv.csv.gz");
    let (ok, out, err) = run(&["traffic", "stats", trace.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    assert!(out.contains("\"count\": 19366"), "{out}");
    assert!(out.contains("\"span_s\": 3501.72"), "{out}");
}

#[test]
fn stats_of_closed_loops_say_what_they_assume() {
    // The benchmark client's users, answered at once: every request at time zero, which has
    // no rate, and the table says what it assumed.
    let scenario = repo("scenarios/aiperf-concurrency.yaml");
    let (ok, out, err) = run(&["traffic", "stats", scenario.to_str().unwrap()]);
    assert!(ok, "{err}");
    let total = out.lines().find(|l| l.starts_with('*')).unwrap();
    assert_eq!(total.split_whitespace().nth(3), Some("-"), "{out}");
    assert!(out.contains("are answered at once (--response-s"), "{out}");
    let (ok, out, err) = run(&[
        "traffic",
        "stats",
        scenario.to_str().unwrap(),
        "--response-s",
        "2",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("are answered 2 s after they ask"), "{out}");
    let (ok, out, err) = run(&["traffic", "stats", scenario.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    assert!(out.contains("\"rate_per_s\": null"), "{out}");
    // A trace assumes nothing.
    let trace = repo("data/traces/azure_llm_2023_conv.csv.gz");
    let (ok, out, err) = run(&["traffic", "stats", trace.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(!out.contains("answered"), "{out}");
}

#[test]
fn stats_and_export_of_a_scenario() {
    let scenario = repo("traffic/examples/airline.yaml");
    let (ok, out, err) = run(&["traffic", "stats", scenario.to_str().unwrap()]);
    assert!(ok, "{err}");
    for class in ["status_query", "rerouting", "background"] {
        assert!(out.contains(class), "{out}");
    }
    let dir = std::env::temp_dir().join(format!("servesim-traffic-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jsonl = dir.join("airline.jsonl");
    let (ok, _, err) = run(&[
        "traffic",
        "export",
        scenario.to_str().unwrap(),
        "--out",
        jsonl.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("wrote 34526 requests"), "{err}");
    let (ok, out, _) = run(&["traffic", "stats", jsonl.to_str().unwrap(), "--json"]);
    assert!(ok && out.contains("\"count\": 34526"), "{out}");
    // A `.gz` output is gzip; an export over its own input keeps every request.
    let gz = dir.join("airline.jsonl.gz");
    for (input, output) in [(&jsonl, &gz), (&gz, &gz)] {
        let (ok, _, err) = run(&[
            "traffic",
            "export",
            input.to_str().unwrap(),
            "--out",
            output.to_str().unwrap(),
        ]);
        assert!(ok && err.contains("wrote 34526 requests"), "{err}");
        let (ok, out, err) = run(&["traffic", "stats", gz.to_str().unwrap(), "--json"]);
        assert!(ok && out.contains("\"count\": 34526"), "{out}{err}");
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        2,
        "no partial files left"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_json_workload_is_read_as_a_workload_not_a_trace() {
    let dir = std::env::temp_dir().join(format!("servesim-traffic-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("workload.json");
    std::fs::write(
        &json,
        "{\n  \"streams\": [{\"name\": \"a\", \"end_s\": 10, \"open\": {\"arrival\": {\"kind\": \"schedule\", \"segments\": [{\"duration_s\": 10, \"rate_per_s\": 5}]}, \"input\": {\"kind\": \"fixed\", \"value\": 1}, \"output\": {\"kind\": \"fixed\", \"value\": 1}}}]\n}\n",
    )
    .unwrap();
    let (ok, out, err) = run(&["traffic", "stats", json.to_str().unwrap(), "--json"]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(ok, "{err}");
    assert!(
        out.contains("\"count\": ") && out.contains("\"class\": \"a\""),
        "{out}"
    );
}

#[test]
fn bad_input_is_one_clear_error() {
    let dir = std::env::temp_dir().join(format!("servesim-traffic-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "traffic: {streams: [{name: a, open: {arrival: {kind: gamma, rate_per_s: 1, cv: -1}, input: {kind: fixed, value: 1}, output: {kind: fixed, value: 1}}}]}",
    )
    .unwrap();
    let (ok, _, err) = run(&["traffic", "stats", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.trim_end()
            .ends_with("bad.yaml: traffic.streams[0].open.arrival.cv: must be > 0, got -1"),
        "{err}"
    );
    let unbounded = dir.join("unbounded.yaml");
    std::fs::write(
        &unbounded,
        "streams: [{name: a, open: {arrival: {kind: poisson, rate_per_s: 1}, input: {kind: fixed, value: 1}, output: {kind: fixed, value: 1}}}]",
    )
    .unwrap();
    let (ok, _, err) = run(&["traffic", "stats", unbounded.to_str().unwrap()]);
    assert!(!ok && err.contains("--until-s"), "{err}");
    let (ok, out, err) = run(&[
        "traffic",
        "stats",
        unbounded.to_str().unwrap(),
        "--until-s",
        "100",
    ]);
    assert!(ok, "{err}");
    assert!(out.lines().nth(1).unwrap().starts_with("a "), "{out}");
    // A scenario's workload runs for the scenario's duration_s, unless --until-s says.
    let scenario = dir.join("scenario.yaml");
    std::fs::write(
        &scenario,
        "duration_s: 50\ntraffic: {streams: [{name: a, open: {arrival: {kind: poisson, rate_per_s: 2}, input: {kind: fixed, value: 1}, output: {kind: fixed, value: 1}}}]}",
    )
    .unwrap();
    let span = |out: &str| -> f64 {
        out.lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .nth(2)
            .unwrap()
            .parse()
            .unwrap()
    };
    let (ok, out, err) = run(&["traffic", "stats", scenario.to_str().unwrap()]);
    assert!(ok && span(&out) > 40.0 && span(&out) < 50.0, "{out}{err}");
    let (ok, out, _) = run(&[
        "traffic",
        "stats",
        scenario.to_str().unwrap(),
        "--until-s",
        "10",
    ]);
    assert!(ok && span(&out) < 10.0, "{out}");
    let csv = dir.join("rows.csv");
    std::fs::write(
        &csv,
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,1,x\n",
    )
    .unwrap();
    let (ok, _, err) = run(&["traffic", "stats", csv.to_str().unwrap()]);
    assert!(
        !ok && err.contains("rows.csv:2:3: GeneratedTokens"),
        "{err}"
    );
    // A benchmark's sizes are held to the token limit of every other stream's.
    let isl = dir.join("isl.yaml");
    std::fs::write(
        &isl,
        "streams: [{name: b, benchmark: {concurrency: 2, requests: 4, isl: 5e9, osl: 10}}]",
    )
    .unwrap();
    let (ok, _, err) = run(&["traffic", "stats", isl.to_str().unwrap()]);
    assert!(
        !ok && err.contains("traffic.streams[0].benchmark.isl: 5e9 tokens is more than"),
        "{err}"
    );
    // A replay that sends nothing is named as the file numbers its streams, the preset's
    // aside.
    std::fs::write(
        dir.join("short.jsonl"),
        "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5}\n",
    )
    .unwrap();
    let late = dir.join("late.yaml");
    std::fs::write(
        &late,
        "preset: airline\nstreams: [{name: r, trace: {path: short.jsonl, format: mooncake, from_s: 100}}]",
    )
    .unwrap();
    let (ok, _, err) = run(&[
        "traffic",
        "stats",
        late.to_str().unwrap(),
        "--until-s",
        "10",
    ]);
    assert!(
        !ok && err.contains("traffic.streams[0].trace: replays no request"),
        "{err}"
    );
}

#[test]
fn a_closed_pipe_ends_the_output_without_a_panic() {
    // As `servesim … | head` when head has gone: quiet, with the status a closed pipe gives.
    let mut child = bin()
        .args(["traffic", "stats"])
        .arg(repo("data/traces/mooncake_synthetic.jsonl.gz"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
}

#[test]
fn a_run_and_traffic_stats_send_the_same_requests_up_to_the_end() {
    let dir = std::env::temp_dir().join(format!("servesim-traffic-end-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A trace row exactly at the run's end: the run covers [0, 10 s), as stats count it.
    std::fs::write(
        dir.join("edge.jsonl"),
        "{\"timestamp\": 0, \"input_length\": 100, \"output_length\": 10}\n\
         {\"timestamp\": 10000, \"input_length\": 100, \"output_length\": 10}\n",
    )
    .unwrap();
    let scenario = "seed: 1\nduration_s: 10\nmodel: Qwen/Qwen3-32B-FP8\ngpu: h100_sxm\n\
        backend: vllm\nslo: {ttft_ms: 500, itl_ms: 30}\ncluster:\n  nodes: 1\n  pools:\n    \
        - {name: agg, role: aggregated, tp: 2, workers: 1}\ntraffic:\n  streams:\n    \
        - name: t\n      trace: {path: edge.jsonl, format: mooncake}\n";
    std::fs::write(dir.join("s.yaml"), scenario).unwrap();
    let s = dir.join("s.yaml");
    let (ok, out, err) = run(&["run", s.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    assert!(out.contains("\"arrived\": 1,"), "{out}");
    let (ok, out, err) = run(&["traffic", "stats", s.to_str().unwrap(), "--json"]);
    assert!(ok && out.contains("\"count\": 1,"), "{out}{err}");
    // The same scenario written as JSON lasts its duration_s too.
    let doc: serde_json::Value = serde_norway::from_str(scenario).unwrap();
    let json = dir.join("s.json");
    std::fs::write(&json, serde_json::to_string(&doc).unwrap()).unwrap();
    let (ok, out, err) = run(&["traffic", "stats", json.to_str().unwrap(), "--json"]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(ok && out.contains("\"count\": 1,"), "{out}{err}");
}

#[test]
fn a_scenarios_trace_cut_by_its_duration_says_so() {
    // The replay of the planner suite, its 600 s cut to 300: the rows after are not the
    // run's, and stats and export say so; the whole run says nothing.
    let whole = repo("scenarios/planner-suite/azure-conv-replay.yaml");
    let text = std::fs::read_to_string(&whole).unwrap();
    let dir = std::env::temp_dir().join(format!("servesim-traffic-cut-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cut = dir.join("cut.yaml");
    let shorter = text.replace("duration_s: 600", "duration_s: 300");
    assert_ne!(shorter, text, "the suite's replay lasts 600 s");
    // The trace's path is relative to the scenario's folder.
    let shorter = shorter.replace("../../data/", &format!("{}/", repo("data").display()));
    std::fs::write(&cut, shorter).unwrap();
    let said = "warning: stream azure-conv: its trace goes on past the run's end at 300 s";
    let (ok, _, err) = run(&["traffic", "stats", cut.to_str().unwrap()]);
    assert!(
        ok && err.contains(said) && err.contains("not counted (duration_s)"),
        "{err}"
    );
    let out = dir.join("cut.jsonl");
    let (ok, _, err) = run(&[
        "traffic",
        "export",
        cut.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        ok && err.contains(said) && err.contains("not exported"),
        "{err}"
    );
    let (ok, _, err) = run(&["traffic", "stats", whole.to_str().unwrap()]);
    assert!(ok && !err.contains("warning"), "{err}");
    // An --until-s cuts where the user asked: nothing to warn of.
    let trace = repo("data/traces/azure_llm_2023_conv.csv.gz");
    let (ok, _, err) = run(&[
        "traffic",
        "stats",
        trace.to_str().unwrap(),
        "--until-s",
        "100",
    ]);
    assert!(ok && !err.contains("warning"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
