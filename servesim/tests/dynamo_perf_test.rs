//! Dynamo 1.6.1's own perf test of its SLA planner (`scenarios/planner-suite/
//! dynamo-perf-test.yaml`, `data/dynamo/`): `sla` sizing as Dynamo 1.6 does, reading the
//! profile Dynamo measured, follows the sine between one and three workers a pool.

use std::path::Path;
use std::process::Command;

fn run(set: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_servesim"));
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args([
            "run",
            "scenarios/planner-suite/dynamo-perf-test.yaml",
            "--json",
        ])
        // The first rise and fall of the sine.
        .args(["--set", "duration_s=600"]);
    for s in set {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn dynamo_16_sizing_follows_the_sine_from_one_to_three_workers_a_pool() {
    let fast = [
        "cluster.pools[0].startup_s=30",
        "cluster.pools[1].startup_s=30",
    ];
    let summary = run(&fast);
    let events = summary["scaling_events"].as_array().unwrap();
    let reasons: Vec<&str> = events
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .all(|r| r.starts_with("capacity") || r.starts_with("workers starting")),
        "{reasons:?}"
    );
    // Engines sized from Dynamo's profile: some 16–17 prefill and 15–16 decode requests/s
    // within 200 ms and 10 ms.
    assert!(
        reasons[0].contains("an engine serves 16."),
        "{}",
        reasons[0]
    );
    for pool in summary["pools"].as_array().unwrap() {
        assert_eq!(pool["peak_workers"], 3, "{pool}");
    }
    // The first decision (5–6 req/s) cuts the 2P2D start to 1P1D.
    let first: Vec<u64> = events
        .iter()
        .take_while(|e| e["time_s"] == events[0]["time_s"])
        .map(|e| e["target"].as_u64().unwrap())
        .collect();
    assert_eq!(first, [1, 1], "{events:?}");
    // It beats holding 2P2D on goodput over this rise and fall.
    let stat = run(&[&fast[..], &["planner.policy=static"]].concat());
    let (g, g_static) = (
        summary["goodput_rps"].as_f64().unwrap(),
        stat["goodput_rps"].as_f64().unwrap(),
    );
    assert!(g > g_static, "{g} against {g_static}");
}
