//! `servesim list`: every name a scenario may use, each listed once with what it is.

use std::process::Command;

use servesim::planner::POLICIES;
use servesim::traffic::arrival::ARRIVAL_KINDS;

fn list(what: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_servesim"))
        .args(["list", what])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The first word of each line.
fn names(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

#[test]
fn every_policy_is_listed_with_what_it_does() {
    let text = list("policies");
    assert_eq!(names(&text), POLICIES);
    for line in text.lines() {
        assert!(
            line.split_whitespace().count() > 4,
            "no description: {line}"
        );
    }
}

#[test]
fn every_arrival_kind_gpu_backend_and_model_is_listed() {
    let kinds: Vec<&str> = ARRIVAL_KINDS.iter().map(|(k, _)| *k).collect();
    assert_eq!(names(&list("arrivals")), kinds);
    assert!(names(&list("gpus")).contains(&"h100_sxm"));
    assert_eq!(names(&list("backends")), ["trtllm", "vllm", "sglang"]);
    assert!(list("models").contains("Llama-3.1-70B"));
}

#[test]
fn an_unknown_list_names_the_ones_there_are() {
    let out = Command::new(env!("CARGO_BIN_EXE_servesim"))
        .args(["list", "engines"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("models") && err.contains("policies"), "{err}");
}

#[test]
fn gpus_and_models_show_the_names_users_type() {
    let gpus = list("gpus");
    let h100 = gpus.lines().find(|l| l.starts_with("h100_sxm")).unwrap();
    assert!(h100.ends_with("also: H100, H100-SXM"), "{h100}");
    let models = list("models");
    let kimi = models.lines().find(|l| l.starts_with("Kimi-K2-")).unwrap();
    assert!(kimi.ends_with("also: kimi-k2"), "{kimi}");
    // `Kimi` alone fits Kimi-K2 and Kimi-K2.5, so neither shows it.
    assert!(!models.contains(", Kimi\n"), "{models}");
    let minimax = models.lines().find(|l| l.starts_with("MiniMax")).unwrap();
    assert!(minimax.ends_with("also: MiniMax"), "{minimax}");
}
