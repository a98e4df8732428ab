//! `servesim suite` through the library on a tiny suite folder: every policy and the best
//! fixed deployment in the report, the best within the budget, and bad folders named.

use std::path::{Path, PathBuf};

use servesim::planner::POLICIES;
use servesim::progress::Quiet;
use servesim::suite::{BEST_FIXED, SuiteOptions, Verdict, manifest, page, run_suite, search};
use servesim::{Scenario, run};

/// Dynamo's sinusoid deployment, shrunk: 60 s, a 4-GPU budget, a lighter load.
const TINY: &str = "name: tiny
seed: 3
duration_s: 60
model: meta-llama/Llama-3.1-8B-Instruct
gpu: h100_sxm
backend: vllm
slo: {ttft_ms: 200, itl_ms: 20}
cluster:
  nodes: 1
  gpu_budget: 4
  pools:
    - {name: prefill, role: prefill, tp: 1, workers: 1, startup_s: 20}
    - {name: decode, role: decode, tp: 1, workers: 1, startup_s: 20}
traffic:
  streams:
    - name: sinusoid
      open:
        arrival: {kind: diurnal, mean_rate_per_s: 4, amplitude: 0.6, period_s: 30}
        input: {kind: fixed, value: 3000}
        output: {kind: fixed, value: 150}
planner:
  policy: sla
  interval_s: 10
";

/// A fresh folder under Cargo's scratch space for integration tests.
fn folder(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

#[test]
fn a_tiny_suite_reports_every_policy_and_a_best_fixed_within_the_budget() {
    let dir = folder("suite-tiny", &[("tiny.yaml", TINY)]);
    let workloads = manifest::load(&dir).unwrap();
    assert_eq!(workloads.len(), 1);
    let opts = SuiteOptions {
        policies: POLICIES.iter().map(|p| p.to_string()).collect(),
        seeds: 2,
        attainment_target: 0.9,
        threads: 2,
    };
    let report = run_suite(&workloads, &opts, &Quiet).unwrap();
    let w = &report.workloads[0];
    let names: Vec<&str> = w.rows.iter().map(|r| r.policy.as_str()).collect();
    let mut want = vec![BEST_FIXED];
    want.extend(POLICIES);
    assert_eq!(names, want);
    assert_eq!(w.seeds, [3, 4]);
    assert!(
        !w.seeds.contains(&w.search_seed),
        "searched on a held-out seed"
    );
    // 1 + 1 .. 3 + 1 workers of one GPU in 4 GPUs: 6 deployments, all within the budget.
    assert_eq!(w.candidates.len(), 6);
    assert!(w.candidates.iter().all(|c| c.gpus <= w.gpu_budget));
    let best = w
        .candidates
        .iter()
        .find(|c| c.label == w.best_fixed)
        .unwrap();
    assert!(best.gpus <= 4, "{}", w.best_fixed);
    let fixed_gpu_h = w.rows[0].gpu_hours.mean;
    assert!(
        (fixed_gpu_h - f64::from(best.gpus) * 60.0 / 3600.0).abs() < 1e-9,
        "a fixed deployment holds its GPUs all run: {fixed_gpu_h}"
    );
    for r in &w.rows {
        assert_eq!(r.runs.len(), 2, "{}", r.policy);
    }
    // Each policy's verdict stands on its paired intervals; the baseline has none.
    assert_eq!(w.rows[0].vs_best_fixed.verdict, None);
    for r in &w.rows[1..] {
        let d = &r.vs_best_fixed;
        let (g, a) = (&d.goodput_per_gpu, &d.slo_attainment);
        if g.low.is_nan() || a.low.is_nan() {
            // No interval: exact differences (identical runs) have a verdict of their sign,
            // others none.
            assert_eq!(d.verdict.is_some(), r.identical_seeds, "{}", r.policy);
            continue;
        }
        let (g_up, g_down) = (g.low > 0.0, g.high < 0.0);
        let (a_up, a_down) = (a.low > 0.0, a.high < 0.0);
        let want = match (g_up, g_down, a_up, a_down) {
            (true, _, _, false) => Verdict::Wins,
            (true, _, _, true) | (_, true, true, _) => Verdict::Trades,
            (false, false, _, false) => Verdict::Even,
            _ => Verdict::Loses,
        };
        assert_eq!(d.verdict, Some(want), "{}: {g:?} {a:?}", r.policy);
    }
    let table = report.to_string();
    for name in &want {
        assert!(
            table.lines().any(|l| l.trim_start().starts_with(name)),
            "{name} missing from:\n{table}"
        );
    }
    let html = page::render(&report);
    assert!(html.starts_with("<!doctype html>") && !html.contains("<script"));
    for name in &want {
        assert!(html.contains(&format!("<td>{name}</td>")), "{name}");
    }
}

#[test]
fn a_fixed_deployment_without_faults_runs_the_same_whatever_its_start_up() {
    // What lets the start-up sweep share its fixed runs (search::run_key).
    let dir = folder("suite-startup", &[("tiny.yaml", TINY)]);
    let base = Scenario::from_file(&dir.join("tiny.yaml")).unwrap();
    let with_startup = |s: f64| {
        let edited = base
            .edited(|c| c.cluster.pools.iter_mut().for_each(|p| p.startup_s = s))
            .unwrap();
        search::fixed(&edited, &[2, 1], 3).unwrap()
    };
    let (a, b) = (with_startup(5.0), with_startup(300.0));
    assert_eq!(search::run_key(&a), search::run_key(&b));
    let json = |s: &Scenario| serde_json::to_string(&run(s).unwrap().0).unwrap();
    assert_eq!(json(&a), json(&b));
}

#[test]
fn bad_suite_folders_are_named() {
    let err = |dir: &Path| manifest::load(dir).unwrap_err().to_string();
    let empty = folder("suite-empty", &[]);
    assert!(err(&empty).contains("no scenario files"), "{}", err(&empty));
    let bad_set = folder(
        "suite-bad-set",
        &[
            ("tiny.yaml", TINY),
            (
                "suite.yaml",
                "workloads:\n  - file: tiny.yaml\n    set: [\"seed\"]\n",
            ),
        ],
    );
    assert!(
        err(&bad_set).contains("workloads[0].set[0]"),
        "{}",
        err(&bad_set)
    );
    let missing = folder(
        "suite-missing",
        &[("suite.yaml", "workloads:\n  - file: nowhere.yaml\n")],
    );
    assert!(
        err(&missing).contains("workloads[0].file") && err(&missing).contains("nowhere.yaml"),
        "{}",
        err(&missing)
    );
    let twice = folder(
        "suite-twice",
        &[
            ("tiny.yaml", TINY),
            (
                "suite.yaml",
                "workloads:\n  - file: tiny.yaml\n  - file: tiny.yaml\n",
            ),
        ],
    );
    assert!(err(&twice).contains("'tiny' is taken"), "{}", err(&twice));
    let unknown = folder(
        "suite-unknown",
        &[(
            "suite.yaml",
            "workloads:\n  - file: tiny.yaml\n    sets: []\n",
        )],
    );
    assert!(err(&unknown).contains("sets"), "{}", err(&unknown));
    // A manifest's own mistakes are placed in it, never blamed on a flag not given.
    let manifest_says = |name: &str, manifest: &str| {
        let dir = folder(name, &[("tiny.yaml", TINY), ("suite.yaml", manifest)]);
        let e = err(&dir);
        let at = format!("{}: ", dir.join("suite.yaml").display());
        assert!(e.starts_with(&at) && !e.contains("--set"), "{e}");
        e[at.len()..].to_string()
    };
    assert_eq!(
        manifest_says("suite-none", "workloads: []\n"),
        "workloads: lists no workload: name at least one `file:`"
    );
    assert!(
        manifest_says(
            "suite-unknown-set",
            "workloads:\n  - file: tiny.yaml\n    set: [\"bogus=1\"]\n"
        )
        .starts_with("workloads[0].set[0] (bogus=1): unknown field `bogus`")
    );
    assert_eq!(
        manifest_says(
            "suite-bad-value",
            "workloads:\n  - file: tiny.yaml\n    set: [\"duration_s=-1\"]\n"
        ),
        "workloads[0].set: duration_s: must be a positive number of seconds, got -1"
    );
    assert!(
        manifest_says(
            "suite-set-text",
            "workloads:\n  - file: tiny.yaml\n    set: \"seed=2\"\n"
        )
        .starts_with("workloads[0].set: invalid type: string \"seed=2\", expected a sequence")
    );
}

#[test]
fn the_command_writes_its_page_and_says_why_one_seed_has_no_interval() {
    let dir = folder("suite-cli", &[("tiny.yaml", TINY)]);
    let out_dir = dir.join("out");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_servesim"))
        .arg("suite")
        .arg(&dir)
        .args([
            "--seeds",
            "1",
            "--policies",
            "static,sla",
            "--jobs",
            "2",
            "--out",
        ])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("no interval: one seed") && !text.contains('['),
        "{text}"
    );
    let html = std::fs::read_to_string(out_dir.join("suite.html")).unwrap();
    assert!(html.contains("tiny") && html.contains("No interval: one seed"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("suite.json")).unwrap())
            .unwrap();
    assert_eq!(json["workloads"][0]["rows"][1]["policy"], "static");
    // One seed: no interval, so no verdict either.
    assert!(json["workloads"][0]["rows"][1]["vs_best_fixed"]["verdict"].is_null());
}
