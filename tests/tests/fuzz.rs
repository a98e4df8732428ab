//! Hostile input: mutated scenario files and trace rows never panic or hang.
//!
//! Bounded for CI (a few hundred cases); run at length with
//! `PROPTEST_CASES=20000 cargo test --release -p servesim-tests --test fuzz`.

use std::io::Write;
use std::path::Path;

use proptest::prelude::*;
use servesim::traffic::{TraceFormat, TraceReader};
use servesim::{Run, Scenario};

const BASES: [&str; 4] = [
    include_str!("../../scenarios/airline-disruption.yaml"),
    include_str!("../../scenarios/airline-node-loss.yaml"),
    include_str!("../../scenarios/disagg-small.yaml"),
    include_str!("../../scenarios/bench-16.yaml"),
];

const EXTREMES: [&str; 14] = [
    "0",
    "-1",
    "1e12",
    "1e300",
    "-1e300",
    ".nan",
    ".inf",
    "18446744073709551616",
    "4294967296",
    "0.0000001",
    "1000000000",
    "\"x\"",
    "[]",
    "{}",
];

#[derive(Clone, Debug)]
enum Mutation {
    /// Replace the n-th number with an extreme value.
    Number(usize, usize),
    DeleteLine(usize),
    DuplicateLine(usize),
    InsertBytes(usize, Vec<u8>),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 0..EXTREMES.len()).prop_map(|(n, e)| Mutation::Number(n, e)),
        1 => any::<usize>().prop_map(Mutation::DeleteLine),
        1 => any::<usize>().prop_map(Mutation::DuplicateLine),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::InsertBytes(i, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    match m {
        Mutation::Number(n, e) => {
            let spans: Vec<(usize, usize)> = {
                let b = text.as_bytes();
                let mut v = Vec::new();
                let mut i = 0;
                while i < b.len() {
                    if b[i].is_ascii_digit()
                        && (i == 0 || !b[i - 1].is_ascii_alphanumeric() && b[i - 1] != b'_')
                    {
                        let start = i;
                        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                            i += 1;
                        }
                        v.push((start, i));
                    }
                    i += 1;
                }
                v
            };
            if spans.is_empty() {
                return text.to_string();
            }
            let (a, b) = spans[n % spans.len()];
            format!("{}{}{}", &text[..a], EXTREMES[*e], &text[b..])
        }
        Mutation::DeleteLine(n) | Mutation::DuplicateLine(n) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                return text.to_string();
            }
            let i = n % lines.len();
            if matches!(m, Mutation::DeleteLine(_)) {
                lines.remove(i);
            } else {
                lines.insert(i, lines[i]);
            }
            lines.join("\n")
        }
        Mutation::InsertBytes(i, bytes) => {
            let mut b = text.as_bytes().to_vec();
            let at = i % (b.len() + 1);
            b.splice(at..at, bytes.iter().copied());
            String::from_utf8_lossy(&b).into_owned()
        }
        Mutation::Truncate(i) => {
            let at = i % (text.len() + 1);
            String::from_utf8_lossy(&text.as_bytes()[..at]).into_owned()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// A mutated scenario either fails to validate with a message, or runs (a bounded
    /// number of events here) without panicking.
    #[test]
    fn mutated_scenarios_never_panic(base in 0..BASES.len(), ms in prop::collection::vec(mutation(), 1..4)) {
        let text = ms.iter().fold(BASES[base].to_string(), |t, m| apply(&t, m));
        match Scenario::from_yaml_str(&text, "fuzz.yaml", Path::new(".")) {
            Err(e) => prop_assert!(!e.to_string().is_empty()),
            Ok(s) => {
                if let Ok(mut run) = Run::new(&s) {
                    for _ in 0..10_000 {
                        if run.sim.step().is_none() { break; }
                    }
                }
            }
        }
    }

    /// Random trace rows are read or refused with a message naming the line; never a panic.
    #[test]
    fn random_trace_rows_never_panic(
        format in 0usize..3,
        rows in prop::collection::vec(prop_oneof![
            "[0-9:. -]{0,30},[0-9]{0,14},[0-9-]{0,14}",
            "\\{\"timestamp\": [0-9-]{0,14}, \"input_length\": [0-9-]{0,14}, \"output_length\": [0-9]{0,14}, \"hash_ids\": \\[[0-9, ]{0,20}\\]\\}",
            "[0-9.]{0,10},[A-Za-z]{0,6},[0-9]{0,13},[0-9]{0,13},[0-9]{0,13},[A-Za-z ]{0,8}",
            ".{0,40}",
        ], 0..20),
    ) {
        let (fmt, header, ext) = [
            (TraceFormat::Azure, "TIMESTAMP,ContextTokens,GeneratedTokens\n", "csv"),
            (TraceFormat::Mooncake, "", "jsonl"),
            (TraceFormat::Burstgpt, "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n", "csv"),
        ][format];
        let dir = std::env::temp_dir().join(format!("servesim-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("t{format}.{ext}"));
        let mut f = std::fs::File::create(&path).unwrap();
        write!(f, "{header}{}", rows.join("\n")).unwrap();
        drop(f);
        if let Ok(mut reader) = TraceReader::open(&path, fmt) {
            for _ in 0..100 {
                match reader.next_row() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        prop_assert!(e.to_string().contains(&*path.to_string_lossy()), "{}", e);
                        break;
                    }
                }
            }
        }
    }
}

fn scenario_error(edit: (&str, &str)) -> String {
    let text = BASES[2].replacen(edit.0, edit.1, 1);
    assert_ne!(text, BASES[2]);
    Scenario::from_yaml_str(&text, "absurd.yaml", Path::new("."))
        .unwrap_err()
        .to_string()
}

#[test]
fn absurd_sizes_are_refused_with_a_clear_error() {
    for (edit, expected) in [
        (
            ("nodes: 1", "nodes: 1000000000"),
            "cluster.nodes: 1000000000 nodes is more than this simulator supports",
        ),
        (
            ("nodes: 1", "nodes: 1\n  gpu_budget: 1000000000"),
            "cluster.gpu_budget: must be 1..=8",
        ),
        (
            ("duration_s: 300", "duration_s: 1e12"),
            "duration_s: 1000000000000 s is more than this simulator accepts",
        ),
        (("rate_per_s: 2", "rate_per_s: 1e12"), "rate_per_s"),
        (
            ("mean: 2000", "mean: 1e300"),
            "input.mean: 1e300 tokens is more than this simulator accepts",
        ),
        (
            (
                "workers: 1, startup_s: 180}\n    - {name: decode",
                "workers: 1000000000, startup_s: 180}\n    - {name: decode",
            ),
            "workers",
        ),
    ] {
        let err = scenario_error(edit);
        assert!(
            err.contains(expected),
            "{edit:?}: `{err}` lacks `{expected}`"
        );
    }
    // A trace row of 10^12 tokens names its line.
    let dir = std::env::temp_dir().join(format!("servesim-absurd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("huge.csv");
    std::fs::write(
        &path,
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,1000000000000,10\n",
    )
    .unwrap();
    let err = TraceReader::open(&path, TraceFormat::Azure)
        .and_then(|mut r| r.next_row())
        .unwrap_err()
        .to_string();
    assert!(err.contains("huge.csv:2"), "{err}");
}

#[test]
fn a_workload_past_the_request_limit_stops_the_run_with_an_error() {
    let s = Scenario::from_yaml_str(BASES[2], "s.yaml", Path::new("."))
        .unwrap()
        .edited(|c| c.limits.max_requests = 100)
        .unwrap();
    let err = match servesim::run(&s) {
        Ok(_) => panic!("600 requests exceed the limit"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("limits.max_requests: the workload generated more than 100 requests"),
        "{err}"
    );
}

/// Found by the long fuzz run: a billion closed-loop users used to be allocated up front.
#[test]
fn a_billion_closed_loop_users_are_refused() {
    let crowd = "    - name: crowd\n      closed: {users: 1000000000, first_input: {kind: fixed, value: 10}, followup_input: {kind: fixed, value: 10}, output: {kind: fixed, value: 10}, think_s: {kind: fixed, value: 1}, turns: {kind: fixed, value: 1}}\nmetrics:";
    let err = scenario_error(("metrics:", crowd));
    assert!(
        err.contains("traffic.streams[1].closed.users: must be 1..=1000000"),
        "{err}"
    );
    let storm = BASES[0].replace("storm_users: 200", "storm_users: 1000000000");
    let err = Scenario::from_yaml_str(&storm, "s.yaml", Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(err.contains("storm_users: must be 1..=1000000"), "{err}");
}
