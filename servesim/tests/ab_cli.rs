//! `servesim ab` prints an interval only where the seeds give one: not over one seed, not
//! over runs that are bit-identical on every seed (a trace replay), and then one line says why.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ab(scenario: &str, seeds: &str, duration_s: &str) -> String {
    ab_with(scenario, seeds, duration_s, &[])
}

/// [`ab`] with `extra` arguments: its stdout.
fn ab_with(scenario: &str, seeds: &str, duration_s: &str, extra: &[&str]) -> String {
    let duration = format!("duration_s={duration_s}");
    let mut args = vec!["--seeds", seeds, "--set", &duration];
    args.extend_from_slice(extra);
    String::from_utf8(ab_output(scenario, &args).stdout).unwrap()
}

/// `servesim ab` of static and load-threshold on `scenario` on two threads, with `args`
/// (two seeds unless they say); it succeeds.
fn ab_output(scenario: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_servesim"))
        .current_dir(root())
        .args([
            "ab",
            scenario,
            "--policies",
            "static,load-threshold",
            "--jobs",
            "2",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// [`ab_output`] on `disagg-small.yaml` over two seeds.
fn ab_small(extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--seeds", "2"];
    args.extend_from_slice(extra);
    ab_output("scenarios/disagg-small.yaml", &args)
}

#[test]
fn one_seed_prints_no_interval_and_says_why() {
    let out = ab("scenarios/disagg-small.yaml", "1", "60");
    assert!(!out.contains('[') && !out.contains("inf"), "{out}");
    assert_eq!(out.matches("no intervals: one seed").count(), 1, "{out}");
}

#[test]
fn runs_identical_on_every_seed_print_no_interval_and_say_why() {
    // The suite's replay starts each seed at a random point of the trace; from its start
    // every seed replays the same requests.
    let replay = "scenarios/planner-suite/azure-conv-replay.yaml";
    let fixed = ["--set", "traffic.streams[0].trace.random_start_s=0"];
    let out = ab_with(replay, "2", "30", &fixed);
    assert!(!out.contains('['), "{out}");
    assert_eq!(out.matches("bit-identical").count(), 1, "{out}");
    assert!(
        out.contains("(exact: identical runs on every seed"),
        "{out}"
    );
}

#[test]
fn seeds_that_differ_print_intervals() {
    let out = ab("scenarios/disagg-small.yaml", "2", "60");
    assert!(out.contains('[') && !out.contains("no intervals"), "{out}");
    // A replay with a random start differs by seed.
    let out = ab("scenarios/planner-suite/azure-conv-replay.yaml", "2", "30");
    assert!(!out.contains("bit-identical"), "{out}");
}

/// Not on a terminal (as here, in CI and in pipes), no progress bar is drawn: stderr holds
/// only the note of the planner settings the scenario did not give, and stdout the JSON alone.
#[test]
fn no_progress_bar_off_a_terminal() {
    // Two minutes: within one, load-threshold's first decision (at 60 s) would come at the
    // run's end, and the run would warn of it on stderr.
    let out = ab_small(&["--set", "duration_s=120", "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        [
            "note: the scenario has no planner section: each policy decides every 60 s with its \
          own defaults (set planner.interval_s and the rest to choose)"
        ],
        "{err}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["seeds"], serde_json::json!([1, 2]));
}

#[test]
fn a_bad_policy_list_is_blamed_on_the_flag_before_any_run() {
    let cases = [
        (
            vec!["ab", "scenarios/disagg-small.yaml", "--policies", "bogus"],
            "--policies[0]: unknown policy 'bogus'",
        ),
        (
            vec!["ab", "scenarios/disagg-small.yaml", "--policies", "static,"],
            "--policies[1]: unknown policy ''",
        ),
        (
            vec![
                "report",
                "scenarios/disagg-small.yaml",
                "--policies",
                "static,static",
                "--out",
                "target/never",
            ],
            "--policies[1]: 'static' is named twice",
        ),
        (
            vec![
                "suite",
                "scenarios/planner-suite",
                "--policies",
                "sla,nope",
                "--out",
                "target/never",
            ],
            "--policies[1]: unknown policy 'nope'",
        ),
    ];
    for (args, said) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_servesim"))
            .current_dir(root())
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(said),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?} ran before failing");
    }
    assert!(!root().join("target/never").exists());
}

#[test]
fn a_pool_that_serves_nothing_is_over_the_ttft_slo_all_along() {
    // No decode worker: nothing finishes, so no interval has a TTFT p90, but every request
    // waits past the SLO for its first token.
    let out = Command::new(env!("CARGO_BIN_EXE_servesim"))
        .current_dir(root())
        .args([
            "report",
            "scenarios/disagg-small.yaml",
            "--set",
            "cluster.pools[1].workers=0",
            "--set",
            "duration_s=120",
            "--policies",
            "static",
            "--out",
            "target/test-report-stalled",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = stdout
        .lines()
        .find(|l| l.starts_with("static "))
        .expect("the static row");
    // Over the SLO all along from the end of its warm-up of 30 s, as its attainment counts.
    assert!(row.contains("0.0%") && row.ends_with(" 90 s"), "{row}");
    // The page says what ran: the SLOs judged and the file's overrides.
    let page =
        std::fs::read_to_string(root().join("target/test-report-stalled/report.html")).unwrap();
    assert!(
        page.contains("SLOs TTFT 500 ms, ITL 30 ms. The file as changed by --set cluster.pools[1].workers=0 --set duration_s=120."),
        "{page}"
    );
}

#[test]
fn a_warning_of_the_runs_is_told_once_with_the_runs_that_gave_it() {
    // A planner whose first decision falls after the run's end changes nothing: each of
    // load-threshold's runs says so, once on stderr for all of them; static's says nothing.
    let out = ab_small(&[
        "--set",
        "duration_s=60",
        "--set",
        "planner.policy=static",
        "--set",
        "planner.interval_s=500",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let told: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(
        told,
        [
            "warning: load-threshold (2 of 2 runs): planner.interval_s: the planner \
          (load-threshold) first decides at 500 s, not before the run's end at 60 s \
          (duration_s): it changes nothing in this run"
        ],
        "{stderr}"
    );
}
