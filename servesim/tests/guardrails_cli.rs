//! What the command line says of bad input before it works: errors pointing into the user's
//! own file, output paths checked first, a warning before a long run; and what it writes
//! besides (a trace per policy of a report, distilled models by their names).

mod common;

use common::servesim;
use std::path::{Path, PathBuf};

const BASE: &str = "name: t
seed: 1
duration_s: 20
model: meta-llama/Llama-3.1-8B-Instruct
gpu: h100_sxm
backend: vllm
slo: {ttft_ms: 1000, itl_ms: 30}
cluster:
  nodes: 1
  pools:
    - {name: agg, role: aggregated, tp: 1, workers: 1, startup_s: 0}
traffic:
  streams:
    - name: s
      open:
        arrival: {kind: poisson, rate_per_s: 2}
        input: {kind: fixed, value: 200}
        output: {kind: fixed, value: 20}
";

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("servesim-guard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The path of the shipped scenario `name` (relative to `scenarios/`).
fn shipped(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name);
    path.to_str().unwrap().to_string()
}

/// BASE with `from` replaced by `to`, written to `d/name.yaml`.
fn variant(d: &Path, name: &str, from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from}");
    let path = d.join(format!("{name}.yaml"));
    std::fs::write(&path, BASE.replace(from, to)).unwrap();
    path.to_str().unwrap().to_string()
}

/// The error `servesim run FILE extra…` prints (it must fail).
fn error_of(file: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", file];
    args.extend_from_slice(extra);
    let (ok, _, stderr) = servesim(&args);
    assert!(!ok, "{file} {extra:?} should fail");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr.trim().to_string()
}

#[test]
fn errors_point_into_the_users_file_in_words() {
    let d = dir("errors");
    let cases = [
        // (name, from, to, what the error says, line, column)
        (
            "unknown",
            "workers: 1",
            "worker: 1",
            "did you mean `workers`?",
            11,
            44,
        ),
        (
            "type",
            "tp: 1,",
            "tp: three,",
            "expected a whole number from 0 to 4294967295",
            11,
            41,
        ),
        (
            "range",
            "tp: 1,",
            "tp: 3,",
            "3 is not a power of two",
            11,
            41,
        ),
        (
            "variant",
            "role: aggregated",
            "role: agregated",
            "did you mean 'aggregated'?",
            11,
            25,
        ),
        (
            "duration",
            "duration_s: 20",
            "duration_s: -5",
            "must be a positive number of seconds",
            3,
            13,
        ),
        (
            "rate",
            "rate_per_s: 2",
            "rate_per_s: fast",
            "expected a number",
            16,
            9,
        ),
        (
            "model",
            "model: meta",
            "model: not-a-model #",
            "unknown model",
            4,
            8,
        ),
        (
            "seed",
            "seed: 1",
            "seed: -1",
            "expected a whole number",
            2,
            7,
        ),
    ];
    for (name, from, to, says, line, column) in cases {
        let file = variant(&d, name, from, to);
        for extra in [&[][..], &["--set", "name=other"][..]] {
            // With overrides the file is read again after they are set: the same line, the
            // column of the value (a parse error of the file alone may point at its key).
            // A value checked (not parsed) is said of the file with its overrides, one of
            // which may be what it is checked against.
            let at = if extra.is_empty() {
                format!("at line {line} column {column}")
            } else {
                format!("at line {line} column ")
            };
            let e = error_of(&file, extra);
            let checked = format!("error: {file} with --set name=other: ");
            assert!(
                e.starts_with(&format!("error: {file}: "))
                    || (!extra.is_empty() && e.starts_with(&checked)),
                "{e}"
            );
            assert!(e.contains(says) && e.contains(&at), "{name} {extra:?}: {e}");
            for rust in ["u32", "u64", "f64", "struct ", "enum "] {
                assert!(!e.contains(rust), "{e}");
            }
        }
    }
    // Pools over a budget an override set: the pools' line, and the override beside it.
    let two = variant(&d, "two", "workers: 1,", "workers: 2,");
    let e = error_of(&two, &["--set", "cluster.gpu_budget=1"]);
    assert!(
        e.starts_with(&format!(
            "error: {two} with --set cluster.gpu_budget=1: cluster.pools:"
        )) && e.contains("over the budget of 1 at line 11"),
        "{e}"
    );
    // A field path is said once, and a syntax error has none to say.
    let e = error_of(&variant(&d, "range2", "tp: 1,", "tp: 3,"), &[]);
    assert_eq!(e.matches("cluster.pools[0].tp").count(), 1, "{e}");
    let syntax = d.join("syntax.yaml");
    std::fs::write(&syntax, "name: t\n  bad: [\n").unwrap();
    let e = error_of(syntax.to_str().unwrap(), &[]);
    assert!(!e.contains('?') && e.contains("at line 2"), "{e}");
    // A bad value an override sets is the override's.
    let base = variant(&d, "base", "name: t", "name: t");
    let e = error_of(&base, &["--set", "cluster.pools[0].tp=x"]);
    assert!(
        e.starts_with("error: --set cluster.pools[0].tp=x: invalid type")
            && e.matches("cluster.pools[0].tp").count() == 1,
        "{e}"
    );
    // Of two overrides of one field, the last is the one in effect, and the one blamed.
    let e = error_of(&base, &["--set", "seed=5", "--set", "seed=abc"]);
    assert!(e.starts_with("error: --set seed=abc: invalid type"), "{e}");
    // An error about a whole value that an override set a field inside names the file with
    // that override, and the value's path, not a line of the file.
    for (set, path) in [
        (
            "traffic.streams[0].open.arrival.rate_per_s=nan",
            "traffic.streams[0].open.arrival",
        ),
        ("cluster.pools[0].workers=100000", "cluster.pools"),
    ] {
        let e = error_of(&base, &["--set", set]);
        assert!(
            e.starts_with(&format!("error: {base} with --set {set}: {path}"))
                && !e.contains("at line"),
            "{e}"
        );
    }
    // `traffic stats` of a scenario names the field and its line too.
    let rate = variant(&d, "rate", "rate_per_s: 2", "rate_per_s: fast");
    let (ok, _, e) = servesim(&["traffic", "stats", &rate]);
    assert!(
        !ok && e.contains("traffic.streams[0].open.arrival")
            && e.contains("expected a number")
            && e.contains("line 16"),
        "{e}"
    );
}

#[test]
fn output_paths_are_checked_before_any_work() {
    let d = dir("paths");
    let scenario = variant(&d, "ok", "name: t", "name: t");
    let file = d.join("a-file");
    std::fs::write(&file, "").unwrap();
    let file = file.to_str().unwrap();
    let missing = d.join("no/such/folder/out.json");
    let missing = missing.to_str().unwrap();
    let in_file = format!("{file}/sub");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["run", &scenario, "--trace", missing], "--trace"),
        (
            vec!["run", &scenario, "--trace", d.to_str().unwrap()],
            "is a folder",
        ),
        (vec!["report", &scenario, "--out", file], "--out"),
        (vec!["report", &scenario, "--out", &in_file], "--out"),
        (
            vec!["report", &scenario, "--trace-dir", file],
            "--trace-dir",
        ),
        (vec!["airline", "--out", file], "--out"),
        (
            vec!["suite", "../scenarios/planner-suite", "--out", file],
            "--out",
        ),
        (
            vec!["traffic", "export", &scenario, "--out", missing],
            "--out",
        ),
        (
            vec![
                "profile",
                "../scenarios/profile-qwen3-32b-h200.yaml",
                "--out",
                file,
            ],
            "--out",
        ),
        (
            vec![
                "validate",
                "--input",
                "../data/e2e/measured_serving.csv",
                "--output",
                missing,
            ],
            "--output",
        ),
        (vec!["calibrate", "import", ".", "--out", file], "--out"),
    ];
    for (args, flag) in cases {
        let (ok, stdout, stderr) = servesim(&args);
        assert!(
            !ok && stderr.starts_with("error: ") && stderr.contains(flag),
            "{args:?}: {stderr}"
        );
        assert!(
            stdout.is_empty(),
            "{args:?} worked before failing: {stdout}"
        );
    }
}

#[test]
fn no_output_is_written_over_an_input() {
    let d = dir("inputs");
    let text = BASE.to_string();
    // Scenario files named as the outputs they would be taken for.
    let write = |name: &str| {
        let path = d.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let s = write("s.yaml");
    let summary = write("r/summary.json");
    let policy = write("t/static.json");
    write("su/suite.json");
    let request = d.join("p/dgd.yaml");
    std::fs::create_dir_all(request.parent().unwrap()).unwrap();
    std::fs::copy("../scenarios/profile-qwen3-32b-h200.yaml", &request).unwrap();
    let request = request.to_str().unwrap();
    let p = |rel: &str| d.join(rel).to_str().unwrap().to_string();
    let (other, r, t, su, pd) = (p("other"), p("r"), p("t"), p("su"), p("p"));
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["run", &s, "--trace", &s],
            format!("--trace {s}: is the scenario file"),
        ),
        (
            vec!["report", &summary, "--out", &r],
            "would write summary.json over the scenario file".into(),
        ),
        (
            vec!["report", &policy, "--out", &other, "--trace-dir", &t],
            "would write static.json over the scenario file".into(),
        ),
        (
            vec!["suite", &su, "--out", &su],
            "would write suite.json over the scenario file".into(),
        ),
        (
            vec!["profile", request, "--out", &pd],
            "would write dgd.yaml over the request file".into(),
        ),
        (
            vec!["traffic", "export", &s, "--out", &s],
            format!("--out {s}: is the input file"),
        ),
    ];
    for (args, said) in cases {
        let (ok, _, stderr) = servesim(&args);
        assert!(!ok && stderr.contains(&said), "{args:?}: {stderr}");
    }
    for f in [&s, &summary, &policy, &p("su/suite.json")] {
        assert_eq!(
            std::fs::read_to_string(f).unwrap(),
            text,
            "{f} was written over"
        );
    }
    assert!(
        std::fs::read_to_string(request)
            .unwrap()
            .contains("DynamoGraphDeploymentRequest")
    );
    // An export named as a CSV trace would not read back; a JSONL trace may be re-exported
    // over itself.
    let (ok, _, stderr) = servesim(&["traffic", "export", &s, "--out", &p("x.csv")]);
    assert!(!ok && stderr.contains("name it .jsonl"), "{stderr}");
    let jsonl = p("t.jsonl");
    assert!(servesim(&["traffic", "export", &s, "--out", &jsonl]).0);
    let lines = |f: &str| std::fs::read_to_string(f).unwrap().lines().count();
    let once = lines(&jsonl);
    assert!(servesim(&["traffic", "export", &jsonl, "--out", &jsonl]).0);
    assert_eq!(lines(&jsonl), once);
}

#[test]
fn no_output_is_written_over_a_file_the_scenario_reads() {
    let d = dir("reads");
    // A trace the scenario replays, named as the outputs it would be taken for.
    let rows = "{\"timestamp\": 0, \"input_length\": 200, \"output_length\": 20}\n\
                {\"timestamp\": 500, \"input_length\": 300, \"output_length\": 10}\n";
    std::fs::create_dir_all(d.join("t")).unwrap();
    let trace = d.join("t/static.json");
    std::fs::write(&trace, rows).unwrap();
    let replay = "    - name: s\n      trace: {path: t/static.json, format: mooncake}\n";
    let from = BASE.find("    - name: s").unwrap();
    let s = d.join("s.yaml");
    std::fs::write(&s, format!("{}{replay}", &BASE[..from])).unwrap();
    let (s, t) = (s.to_str().unwrap(), trace.to_str().unwrap());
    let out = d.join("out");
    let dirs = (
        out.to_str().unwrap(),
        d.join("t").to_str().unwrap().to_string(),
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", s, "--trace", t],
            "is the scenario's traffic.streams[0].trace.path",
        ),
        (
            vec!["report", s, "--out", dirs.0, "--trace-dir", &dirs.1],
            "would write static.json over the traffic.streams[0].trace.path",
        ),
    ];
    for (args, said) in cases {
        let (ok, _, stderr) = servesim(&args);
        assert!(!ok && stderr.contains(said), "{args:?}: {stderr}");
        assert_eq!(std::fs::read_to_string(&trace).unwrap(), rows, "{args:?}");
    }
    // The replay itself runs: the check refuses only the files the scenario reads.
    let timeline = d.join("timeline.json");
    let (ok, _, stderr) = servesim(&["run", s, "--trace", timeline.to_str().unwrap()]);
    assert!(ok, "{stderr}");
}

#[test]
fn a_long_run_is_announced_before_it_starts() {
    let d = dir("long");
    // 50,000 requests/s for 100 s: five million requests; the limit stops it early.
    let text = BASE
        .replace("rate_per_s: 2}", "rate_per_s: 50000}")
        .replace("duration_s: 20", "duration_s: 100")
        + "limits: {max_requests: 1000}\n";
    let path = d.join("long.yaml");
    std::fs::write(&path, text).unwrap();
    let (ok, _, stderr) = servesim(&["run", path.to_str().unwrap()]);
    assert!(!ok, "the limit stops it");
    let warning = stderr.lines().next().unwrap();
    assert!(
        warning.starts_with("warning: this run may see up to 5.0 million requests"),
        "{stderr}"
    );
    // A short run says nothing of the kind.
    let short = variant(&d, "short", "name: t", "name: t");
    let (ok, stdout, stderr) = servesim(&["run", &short]);
    assert!(ok && !stderr.contains("warning") && !stdout.contains("million"));
}

#[test]
fn a_report_writes_one_trace_per_policy() {
    let d = dir("traces");
    let scenario = variant(&d, "s", "name: t", "name: t");
    let traces = d.join("traces");
    let (ok, _, stderr) = servesim(&[
        "report",
        &scenario,
        "--policies",
        "static,sla",
        "--out",
        d.join("out").to_str().unwrap(),
        "--trace-dir",
        traces.to_str().unwrap(),
        "--jobs",
        "2",
    ]);
    assert!(ok, "{stderr}");
    for policy in ["static", "sla"] {
        let text = std::fs::read_to_string(traces.join(format!("{policy}.json"))).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(!v["traceEvents"].as_array().unwrap().is_empty());
        assert!(stderr.contains(&format!("{policy}: ")), "{stderr}");
    }
}

#[test]
fn distilled_models_run_as_their_architecture_and_are_listed() {
    let d = dir("distill");
    let file = variant(
        &d,
        "distill",
        "meta-llama/Llama-3.1-8B-Instruct",
        "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
    );
    let (ok, stdout, stderr) = servesim(&["run", &file]);
    assert!(ok && stdout.contains("completed"), "{stderr}");
    let qwen = variant(
        &d,
        "qwen",
        "meta-llama/Llama-3.1-8B-Instruct",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
    );
    let e = error_of(&qwen, &[]);
    assert!(
        e.contains("Qwen2.5-32B") && e.contains("config.json"),
        "{e}"
    );
    let (ok, list, _) = servesim(&["list", "models"]);
    assert!(ok);
    let llama = list
        .lines()
        .find(|l| l.starts_with("Llama-3.1-8B "))
        .unwrap();
    assert!(
        llama.contains("also: DeepSeek-R1-Distill-Llama-8B"),
        "{llama}"
    );
}

#[test]
fn a_run_whose_traffic_ends_early_says_its_rates_include_the_idle_tail() {
    // The open stream sends until 10 s; the run lasts 100 s.
    let d = dir("idle-tail");
    let file = variant(
        &d,
        "tail",
        "    - name: s",
        "    - name: s\n      end_s: 10",
    );
    // The summary's warnings, on standard output.
    let (ok, stdout, stderr) = servesim(&["run", &file, "--set", "duration_s=100"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("duration_s: every request had finished by")
            && stdout.contains("of the run's 100 s"),
        "{stdout}"
    );
    // A third of the run idle is said too (its rates a third low).
    let (ok, stdout, stderr) = servesim(&["run", &file, "--set", "duration_s=15"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("of the run's 15 s"), "{stdout}");
    // Traffic for the whole run: nothing said.
    let (ok, stdout, _) = servesim(&["run", &variant(&d, "whole", "seed: 1", "seed: 1")]);
    assert!(ok && !stdout.contains("idle tail"), "{stdout}");
}

#[test]
fn a_run_ending_with_many_requests_unfinished_says_its_latencies_leave_them_out() {
    // The planner suite's step burst cut in its burst: a fifth of what arrived is in flight.
    let step = shipped("planner-suite/step-burst.yaml");
    let (ok, stdout, stderr) = servesim(&["run", &step, "--set", "duration_s=300"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("requests the cluster took were still waiting to be served at the end"),
        "{stdout}"
    );
    // Run to its end, the burst's requests finish: nothing said.
    let (ok, stdout, _) = servesim(&["run", &step]);
    assert!(
        ok && !stdout.contains("still waiting to be served"),
        "{stdout}"
    );
    // Long answers under way at the end are a steady state's, not a backlog: nothing said.
    let bench = shipped("bench-wide-ep-gb200.yaml");
    let (ok, stdout, _) = servesim(&["run", &bench]);
    assert!(
        ok && !stdout.contains("still waiting to be served"),
        "{stdout}"
    );
}

#[test]
fn an_advisory_planner_says_it_changes_nothing() {
    let step = shipped("planner-suite/step-burst.yaml");
    let set = ["--set", "duration_s=60", "--set", "planner.advisory=true"];
    let (ok, stdout, stderr) = servesim(&[&["run", step.as_str()][..], &set[..]].concat());
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("planner.advisory: the planner's decisions are recorded, not applied"),
        "{stdout}"
    );
    let (ok, stdout, _) = servesim(&["run", &step, "--set", "duration_s=60"]);
    assert!(ok && !stdout.contains("planner.advisory"), "{stdout}");
}
