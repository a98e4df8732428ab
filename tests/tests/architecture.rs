//! What `ARCHITECTURE.md` says of the code's shape, checked: no source file over 700 lines,
//! and no import cycle between the files of a crate (a file may use its parent module, as a
//! child does, but two files never use each other through any chain of imports).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use petgraph::algo::tarjan_scc;
use petgraph::graph::DiGraph;

/// The library crates, by source folder.
const CRATES: [&str; 5] = [
    "sim-core/src",
    "traffic/src",
    "models/src",
    "planner-policies/src",
    "servesim/src",
];

/// The command-line tool's own modules, a crate of their own apart from the library.
const BINARY: &[&str] = &["main", "cli"];

const MAX_LINES: usize = 700;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The module path of a file (`world/mod.rs` → `["world"]`, `lib.rs` → `[]`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// A unit-test file, or the part of a file from its test module on.
fn is_test_file(file: &Path) -> bool {
    file.file_name().is_some_and(|n| n == "tests.rs")
}

fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests")
        .map_or(text, |i| &text[..i])
}

/// Paths a file names through `crate::`, `super::` or `self::`: in `use` trees (braces
/// expanded) and in expressions.
fn named_paths(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut rest = code.as_str();
    while let Some(i) = rest.find("use ") {
        let before = &rest[..i];
        rest = &rest[i + 4..];
        if before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(end) = rest.find(';') else { break };
        expand_use(rest[..end].trim(), &mut paths);
    }
    for prefix in ["crate::", "super::", "self::"] {
        for (i, _) in code.match_indices(prefix) {
            if code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let path: String = code[i..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            paths.push(path.trim_end_matches(':').to_string());
        }
    }
    paths
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand_use(tree: &str, out: &mut Vec<String>) {
    let tree: String = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or("").trim();
        out.push(path.to_string());
        return;
    };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let (mut depth, mut start) = (0, 0);
    let mut items = Vec::new();
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    for item in items.into_iter().map(str::trim).filter(|s| !s.is_empty()) {
        if item == "self" {
            out.push(prefix.to_string());
        } else {
            expand_use(&format!("{prefix}::{item}"), out);
        }
    }
}

/// The file module a path from `module` lands in: the longest module prefix of it that is
/// a file, or `None` for other crates.
fn target(
    module: &[String],
    path: &str,
    files: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<Vec<String>> {
    let mut segs = path.split("::").peekable();
    let mut at: Vec<String> = match *segs.peek()? {
        "crate" => {
            segs.next();
            Vec::new()
        }
        "super" | "self" => module.to_vec(),
        _ => return None,
    };
    while let Some(&s) = segs.peek() {
        match s {
            "super" => {
                at.pop();
            }
            "self" => {}
            _ => break,
        }
        segs.next();
    }
    let mut best = files.contains_key(&at).then(|| at.clone());
    for s in segs {
        at.push(s.to_string());
        if files.contains_key(&at) {
            best = Some(at.clone());
        }
    }
    best
}

#[test]
fn no_source_file_is_over_700_lines() {
    let mut long = Vec::new();
    for dir in CRATES.iter().chain(&["python/src"]) {
        for file in rust_files(&workspace().join(dir)) {
            let text = fs::read_to_string(&file).unwrap();
            let lines = without_tests(&text).lines().count();
            if !is_test_file(&file) && lines > MAX_LINES {
                long.push(format!("{} ({lines} lines)", file.display()));
            }
        }
    }
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:#?}");
}

#[test]
fn no_two_files_of_a_crate_import_each_other() {
    let mut all: Vec<String> = Vec::new();
    for dir in CRATES {
        let src = workspace().join(dir);
        let files: BTreeMap<Vec<String>, PathBuf> = rust_files(&src)
            .into_iter()
            .filter(|f| !is_test_file(f))
            .map(|f| (module_of(&src, &f), f))
            .filter(|(m, _)| !m.first().is_some_and(|s| BINARY.contains(&s.as_str())))
            .collect();
        let mut graph = DiGraph::<&[String], ()>::new();
        let nodes: BTreeMap<&Vec<String>, _> = files
            .keys()
            .map(|m| (m, graph.add_node(m.as_slice())))
            .collect();
        for (module, file) in &files {
            let text = fs::read_to_string(file).unwrap();
            for path in named_paths(without_tests(&text)) {
                let Some(t) = target(module, &path, &files) else {
                    continue;
                };
                // A child naming its ancestors is how a module's parts share its types.
                if t != *module && !module.starts_with(&t) {
                    graph.update_edge(nodes[module], nodes[&t], ());
                }
            }
        }
        let cycles: Vec<Vec<String>> = tarjan_scc(&graph)
            .into_iter()
            .filter(|scc| scc.len() > 1)
            .map(|scc| {
                let mut names: Vec<String> = scc.iter().map(|&n| graph[n].join("::")).collect();
                names.sort();
                names
            })
            .collect();
        all.extend(cycles.into_iter().map(|c| format!("{dir}: {c:?}")));
    }
    assert!(all.is_empty(), "files importing each other: {all:#?}");
}

#[test]
fn use_trees_expand_to_every_path() {
    let mut out = Vec::new();
    expand_use("crate::a::{b, c::{d, e as f}, self}", &mut out);
    assert_eq!(
        out,
        [
            "crate::a::b",
            "crate::a::c::d",
            "crate::a::c::e",
            "crate::a"
        ]
    );
    let files: BTreeMap<Vec<String>, PathBuf> =
        [vec![], vec!["a".to_string()], vec!["a".into(), "c".into()]]
            .into_iter()
            .map(|m| (m, PathBuf::new()))
            .collect();
    let here = vec!["a".to_string(), "c".to_string()];
    assert_eq!(
        target(&here, "super::X", &files),
        Some(vec!["a".to_string()])
    );
    assert_eq!(
        target(&here, "crate::a::c::d::e", &files),
        Some(here.clone())
    );
    assert_eq!(target(&here, "std::fmt", &files), None);
}

/// The servesim crates each crate's `Cargo.toml` names, by folder.
fn servesim_dependencies(dir: &str) -> Vec<String> {
    let text = fs::read_to_string(workspace().join(dir).join("Cargo.toml")).unwrap();
    let mut deps: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(['.', ' ', '=']).next())
        .filter(|name| *name == "servesim" || name.starts_with("servesim-"))
        .map(str::to_string)
        .collect();
    deps.sort();
    deps.dedup();
    deps
}

#[test]
fn crates_depend_only_downward() {
    // ARCHITECTURE.md: sim-core ← traffic, models ← planner-policies ← servesim ← python;
    // traffic and models know nothing of each other.
    let expected: [(&str, &[&str]); 6] = [
        ("sim-core", &[]),
        ("traffic", &["servesim-core"]),
        ("models", &["servesim-core"]),
        ("planner-policies", &["servesim-core", "servesim-models"]),
        (
            "servesim",
            &[
                "servesim-core",
                "servesim-models",
                "servesim-planner",
                "servesim-traffic",
            ],
        ),
        ("python", &["servesim"]),
    ];
    for (dir, allowed) in expected {
        assert_eq!(servesim_dependencies(dir), allowed, "{dir}/Cargo.toml");
    }
}
