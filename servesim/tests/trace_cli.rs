//! `servesim run --trace`: the timeline of a run as a Chrome / Perfetto trace, checked as a
//! viewer would read it (valid JSON, named tracks, iterations that never overlap on a worker),
//! its cap stated when reached, and the same bytes on every run.

mod common;

use common::servesim;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

fn scenario() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/disagg-small.yaml")
}

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("servesim-trace-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the small scenario (shortened, with a planner so that decisions are traced) with
/// `--trace` and `extra` flags; returns the file's text and the terminal's stderr.
fn traced(path: &Path, extra: &[&str]) -> (String, String) {
    let scenario = scenario();
    let mut args = vec![
        "run",
        scenario.to_str().unwrap(),
        "--set",
        "duration_s=120",
        "--set",
        "planner.policy=load-threshold",
        "--set",
        "planner.interval_s=30",
        "--trace",
        path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (ok, _, stderr) = servesim(&args);
    assert!(ok, "{stderr}");
    (std::fs::read_to_string(path).unwrap(), stderr)
}

fn ns(v: &Value) -> u64 {
    // "ts" and "dur" are written with exactly three decimals of microseconds.
    (v.as_f64().unwrap() * 1000.0).round() as u64
}

#[test]
fn a_trace_names_every_worker_and_its_iterations_never_overlap() {
    let dir = out_dir("full");
    let (text, stderr) = traced(&dir.join("a.json"), &[]);
    assert!(stderr.contains("events written to"), "{stderr}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["displayTimeUnit"], "ms");
    assert_eq!(v["otherData"]["truncated"], false);
    let events = v["traceEvents"].as_array().unwrap();

    let mut named_threads = BTreeSet::new();
    let mut named_processes = BTreeMap::new();
    let mut iterations: BTreeMap<(u64, u64), Vec<(u64, u64)>> = BTreeMap::new();
    let mut phases = BTreeMap::new();
    let mut async_open: BTreeMap<(String, u64), i64> = BTreeMap::new();
    for e in events {
        let ph = e["ph"].as_str().unwrap();
        *phases.entry(ph.to_string()).or_insert(0u64) += 1;
        let (pid, tid) = (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
        assert!(e["name"].is_string(), "{e}");
        match ph {
            "M" => match e["name"].as_str().unwrap() {
                "thread_name" => {
                    named_threads.insert((pid, tid));
                }
                "process_name" => {
                    named_processes.insert(pid, e["args"]["name"].as_str().unwrap().to_string());
                }
                _ => {}
            },
            "X" => {
                assert_eq!(e["cat"], "iteration");
                assert!(e["args"]["prefill_tokens"].is_u64() && e["args"]["decode_seqs"].is_u64());
                iterations
                    .entry((pid, tid))
                    .or_default()
                    .push((ns(&e["ts"]), ns(&e["dur"])));
            }
            "b" | "e" => {
                let key = (
                    e["cat"].as_str().unwrap().to_string(),
                    e["id"].as_u64().unwrap(),
                );
                *async_open.entry(key).or_default() += if ph == "b" { 1 } else { -1 };
                assert!(e["ts"].is_number());
            }
            "i" | "C" => assert!(e["ts"].is_number()),
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    // Every worker track is named, under a named pool process; every iteration is on one.
    assert_eq!(
        named_processes.get(&1).map(String::as_str),
        Some("prefill (prefill, 2 GPUs a worker)")
    );
    assert_eq!(
        named_processes.get(&2).map(String::as_str),
        Some("decode (decode, 2 GPUs a worker)")
    );
    assert!(named_processes.values().any(|n| n == "KV transfers"));
    assert!(named_threads.len() >= 2, "{named_threads:?}");
    for track in iterations.keys() {
        assert!(
            named_threads.contains(track),
            "iterations on an unnamed track {track:?}"
        );
    }
    // One worker runs one iteration at a time.
    for (track, its) in &iterations {
        for pair in its.windows(2) {
            let ((a, da), (b, _)) = (pair[0], pair[1]);
            assert!(a + da <= b, "{track:?}: [{a} +{da}] overlaps {b}");
        }
    }
    // KV transfers, requests and planner decisions are there, and every async span closes.
    assert!(phases["X"] > 1000, "{phases:?}");
    assert!(
        phases["b"] > 100 && phases["b"] == phases["e"],
        "{phases:?}"
    );
    assert!(async_open.values().all(|&n| n == 0));
    assert!(phases["i"] >= 3, "a decision every 30 s: {phases:?}");
    assert!(phases["C"] > 0, "{phases:?}");
    let decision = events.iter().find(|e| e["cat"] == "planner").unwrap();
    assert_eq!(
        decision["args"]["pools"][0]["pool"], "prefill",
        "{decision}"
    );
    assert!(
        decision["args"]["pools"][1]["before"].is_u64(),
        "{decision}"
    );
    assert!(decision["args"]["reason"].is_string(), "{decision}");
    let transfer = events.iter().find(|e| e["cat"] == "kv").unwrap();
    assert!(
        transfer["args"]["bytes"].as_u64().unwrap() > 0,
        "{transfer}"
    );
    assert_eq!(transfer["name"], "prefill/w0 → decode/w1");

    // The same scenario and seed write the same bytes.
    let (again, _) = traced(&dir.join("b.json"), &[]);
    assert!(again == text, "two runs wrote different traces");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_cap_stops_the_trace_and_says_so_in_the_file_and_the_terminal() {
    let dir = out_dir("cap");
    let (text, stderr) = traced(&dir.join("t.json"), &["--trace-max-events", "500"]);
    assert!(
        stderr.contains("the cap of 500 events was reached"),
        "{stderr}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    let timeline: Vec<&Value> = events.iter().filter(|e| e["ph"] != "M").collect();
    assert!(
        timeline.len() <= 500 && timeline.len() > 400,
        "{}",
        timeline.len()
    );
    assert_eq!(v["otherData"]["truncated"], true);
    assert_eq!(v["otherData"]["events"], timeline.len() as u64);
    assert!(v["otherData"]["truncated_at_s"].as_f64().unwrap() > 0.0);
    let last = timeline.last().unwrap();
    assert_eq!(
        (&last["ph"], &last["s"]),
        (&Value::from("i"), &Value::from("g"))
    );
    // Track names are still all there.
    assert!(events.iter().any(|e| e["name"] == "thread_name"));

    // A window keeps what starts inside it only.
    let (text, stderr) = traced(&dir.join("w.json"), &["--trace-window", "60:90"]);
    assert!(!stderr.contains("was reached"), "{stderr}");
    let v: Value = serde_json::from_str(&text).unwrap();
    for e in v["traceEvents"].as_array().unwrap() {
        if e["ph"] == "X" || e["ph"] == "C" || e["ph"] == "i" {
            let ts = ns(&e["ts"]);
            assert!((60_000_000_000..90_000_000_000).contains(&ts), "{e}");
        }
    }
    assert_eq!(v["otherData"]["window_s"], serde_json::json!([60.0, 90.0]));
    assert!(!stderr.contains("after the run's end"), "{stderr}");
    // A window after the run's end holds nothing, and says why.
    let (_, stderr) = traced(&dir.join("late.json"), &["--trace-window", "600:660"]);
    assert!(
        stderr.contains("--trace-window starts at 600.000 s, after the run's end at 120.000 s"),
        "{stderr}"
    );

    // The flags ask for a trace, and a bad window is an error naming it.
    let scenario = scenario();
    let (ok, _, stderr) = servesim(&["run", scenario.to_str().unwrap(), "--trace-max-events", "5"]);
    assert!(!ok && stderr.contains("--trace"), "{stderr}");
    let path = dir.join("x.json");
    let (ok, _, stderr) = servesim(&[
        "run",
        scenario.to_str().unwrap(),
        "--trace",
        path.to_str().unwrap(),
        "--trace-window",
        "90:60",
    ]);
    assert!(
        !ok && stderr.contains("the end must come after the start"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_decision_held_while_workers_start_is_labelled_held_not_advisory() {
    // The airline story's sla planner holds its decisions while the workers it started come
    // up (a start-up of 180 s); advisory mode records every decision without applying it.
    let airline =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/airline-disruption.yaml");
    let dir = out_dir("held");
    let names = |extra: &[&str]| -> Vec<String> {
        let path = dir.join("t.json");
        let mut args = vec![
            "run",
            airline.to_str().unwrap(),
            "--set",
            "duration_s=900",
            "--trace",
            path.to_str().unwrap(),
            "--trace-window",
            "600:900",
        ];
        args.extend_from_slice(extra);
        let (ok, _, stderr) = servesim(&args);
        assert!(ok, "{stderr}");
        let trace: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        (trace["traceEvents"].as_array().unwrap().iter())
            .filter(|e| e["cat"] == "planner")
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    };
    let held = names(&[]);
    assert!(held.iter().any(|n| n.ends_with(" (held)")), "{held:?}");
    assert!(!held.iter().any(|n| n.contains("advisory")), "{held:?}");
    let advice = names(&["--set", "planner.advisory=true"]);
    assert!(
        advice.iter().any(|n| n.ends_with(" (advisory)")),
        "{advice:?}"
    );
    assert!(!advice.iter().any(|n| n.contains("(held)")), "{advice:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
