//! `servesim report` and `servesim airline`: one comparison table and a few sentences in the
//! terminal, the page titled after what was run.

mod common;

use common::servesim;
use std::path::{Path, PathBuf};

fn scenarios() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// `servesim report SCENARIO --policies POLICIES --out OUT` with `more` arguments.
fn report(scenario: &Path, policies: &str, out: &Path, more: &[&str]) -> (bool, String, String) {
    let mut args = vec![
        "report",
        scenario.to_str().unwrap(),
        "--policies",
        policies,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(more);
    servesim(&args)
}

#[test]
fn a_report_tells_the_comparison_and_titles_the_page_after_the_scenario() {
    let out = std::env::temp_dir().join(format!("servesim-report-{}", std::process::id()));
    let scenario = scenarios().join("disagg-small.yaml");
    let (ok, stdout, stderr) = report(&scenario, "static,sla", &out, &["--jobs", "2"]);
    assert!(ok, "{stderr}");
    // One table: a header and one row per policy, then one sentence per policy.
    let lines: Vec<&str> = stdout.lines().collect();
    let header = lines.iter().position(|l| l.starts_with("policy")).unwrap();
    assert!(lines[header + 1].starts_with("static "), "{stdout}");
    assert!(lines[header + 2].starts_with("sla "), "{stdout}");
    assert_eq!(stdout.matches("\n- ").count(), 2, "{stdout}");
    assert!(
        stdout.contains("Most requests within their SLOs:"),
        "{stdout}"
    );
    // No whole summaries unless asked for, and no storm where the scenario has none.
    assert!(
        !stdout.contains("=== ") && !stdout.contains("burst"),
        "{stdout}"
    );
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(page.contains("<title>disagg-small: planners compared</title>"));
    assert!(!page.contains("Airline") && !page.contains("shaded"));
    let summaries: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summaries.as_array().unwrap().len(), 2);
    // The seconds the table gives each policy (no burst: the whole run), in its summary too.
    for (row, summary) in lines[header + 1..=header + 2]
        .iter()
        .zip(summaries.as_array().unwrap())
    {
        let seconds = row
            .trim_end()
            .trim_end_matches(" s")
            .rsplit(' ')
            .next()
            .unwrap();
        let over = summary["ttft_over_slo_s"].as_f64().unwrap();
        assert_eq!(seconds, format!("{over:.0}"), "{row}");
    }
    assert!(stdout.contains("\"+/-\" counts the workers the planner started and stopped."));

    // --details adds every whole summary; a wrong policy is an error naming it.
    let (ok, stdout, _) = report(&scenario, "static", &out, &["--details"]);
    assert!(ok && stdout.contains("=== static") && stdout.contains("latency (ms)"));
    let (ok, _, stderr) = report(&scenario, "nope", &out, &[]);
    assert!(!ok && stderr.contains("nope"), "{stderr}");
}

#[test]
fn the_airline_story_names_its_storm() {
    let out = std::env::temp_dir().join(format!("servesim-airline-{}", std::process::id()));
    let (ok, stdout, stderr) = servesim(&[
        "airline",
        "--policies",
        "static,sla,lookahead",
        "--out",
        out.to_str().unwrap(),
        "--jobs",
        "2",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("The burst runs from 600 s to 2400 s"),
        "{stdout}"
    );
    assert!(
        stdout.contains("- lookahead: first started a prefill worker"),
        "{stdout}"
    );
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(page.contains("Airline disruption: planners compared") && page.contains("shaded"));
    // The planner's decisions are marked on its workers chart, each with its reason on hover,
    // and those `sla` held back while workers started say they were not applied.
    assert!(
        page.contains("ticks: the planner's decisions"),
        "no markers"
    );
    assert!(
        page.contains("<g><title>") && page.contains("prefill demand"),
        "no reasons"
    );
    assert!(
        page.contains("(not applied): not ready (workers starting), held"),
        "no held decisions"
    );
}

#[test]
fn the_story_names_the_first_of_equals_and_no_winner_where_nothing_was_judged() {
    let out = std::env::temp_dir().join(format!("servesim-report-tie-{}", std::process::id()));
    let scenario = scenarios().join("disagg-small.yaml");
    let story = |rate: &str| {
        let set = format!("traffic.streams[0].open.arrival.rate_per_s={rate}");
        let (ok, stdout, stderr) = report(
            &scenario,
            "static,lookahead",
            &out,
            &["--set", "duration_s=120", "--set", &set],
        );
        assert!(ok, "{stderr}");
        stdout
    };
    // Two minutes at the scenario's own rate: neither starts a worker, both equal.
    let s = story("2");
    assert!(
        s.contains("Most requests within their SLOs: static ("),
        "{s}"
    );
    let s = story("0.001");
    assert!(
        s.contains("No run had a request to judge against the SLOs; fewest GPU-hours: static"),
        "{s}"
    );
}

#[test]
fn a_report_says_what_the_scenarios_faults_did_under_each_policy() {
    let out = std::env::temp_dir().join(format!("servesim-report-fault-{}", std::process::id()));
    let scenario = scenarios().join("airline-node-loss.yaml");
    let (ok, stdout, stderr) = report(&scenario, "static", &out, &["--set", "duration_s=1500"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("  fault node_down (node 0) at 1200 s: "),
        "{stdout}"
    );
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(page.contains("fault node_down (node 0) at 1200 s"));
}

#[test]
fn a_report_lists_the_planners_decisions_with_their_reasons() {
    let out = std::env::temp_dir().join(format!("servesim-report-list-{}", std::process::id()));
    let scenario = scenarios().join("planner-suite").join("step-burst.yaml");
    let (ok, _, stderr) = report(&scenario, "static,sla", &out, &[]);
    assert!(ok, "{stderr}");
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    // static changes nothing; sla's changes are listed, each with what it read.
    assert_eq!(page.matches("<details>").count(), 1, "{page}");
    let listed = page.split("<details>").nth(1).unwrap();
    let listed = &listed[..listed.find("</details>").unwrap()];
    let items = listed.matches("<li>").count();
    assert!(
        items > 1 && listed.contains(&format!("The planner's {items} decisions")),
        "{listed}"
    );
    assert_eq!(listed.matches("p_corr").count(), items, "{listed}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn a_report_says_how_far_the_budget_held_a_planner_back() {
    let out = std::env::temp_dir().join(format!("servesim-report-budget-{}", std::process::id()));
    let scenario = scenarios().join("planner-suite").join("step-burst.yaml");
    let budget = ["--set", "cluster.gpu_budget=4"];
    let (ok, stdout, stderr) = report(&scenario, "static,lookahead", &out, &budget);
    assert!(ok, "{stderr}");
    let summaries: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let [fixed, lookahead] = summaries.as_array().unwrap().as_slice() else {
        panic!("two runs: {summaries}")
    };
    // static decides nothing; lookahead wants more than the 4 GPUs in the burst.
    assert_eq!(fixed["budget_cut_decisions"], 0);
    assert!(fixed["most_gpus_asked"].is_null());
    let cut = lookahead["budget_cut_decisions"].as_u64().unwrap();
    let most = lookahead["most_gpus_asked"].as_u64().unwrap();
    assert!(cut > 0 && most > 4, "{lookahead}");
    let said =
        format!("the GPU budget of 4 cut {cut} of its decisions (at most {most} GPUs asked for)");
    assert!(stdout.contains(&said), "{stdout}");
    std::fs::remove_dir_all(&out).unwrap();
}
