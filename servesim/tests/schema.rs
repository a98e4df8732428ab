//! The committed scenario schema and reference are what the config types generate, and the
//! shipped scenarios use only fields the schema names.

use std::path::PathBuf;

fn docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

const REGENERATE: &str = "regenerate: servesim schema > docs/scenario.schema.json && \
                          servesim schema --markdown > docs/scenario-reference.md";

#[test]
fn the_committed_schema_and_reference_are_what_the_types_generate() {
    let schema = std::fs::read_to_string(docs().join("scenario.schema.json")).unwrap();
    let generated =
        serde_json::to_string_pretty(&servesim::scenario::schema::json_schema()).unwrap() + "\n";
    assert!(
        schema == generated,
        "docs/scenario.schema.json is stale; {REGENERATE}"
    );
    let reference = std::fs::read_to_string(docs().join("scenario-reference.md")).unwrap();
    assert!(
        reference == servesim::scenario::schema::reference_markdown(),
        "docs/scenario-reference.md is stale; {REGENERATE}"
    );
}

#[test]
fn every_shipped_scenario_uses_only_fields_the_schema_names() {
    let schema = servesim::scenario::schema::json_schema();
    let known = schema["properties"].as_object().unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.extend(
        std::fs::read_dir(dir.join("planner-suite"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    let mut checked = 0;
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "yaml"))
    {
        let doc: serde_json::Value =
            serde_norway::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        // Profile requests and suite manifests are other kinds of file.
        if doc.get("kind").is_some() || doc.get("workloads").is_some() {
            continue;
        }
        for key in doc.as_object().unwrap().keys() {
            assert!(
                known.contains_key(key),
                "{}: `{key}` is not in the schema",
                f.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 8, "{checked}");
}
