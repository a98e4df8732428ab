//! The scenario file's JSON Schema and its Markdown reference, both generated from the config
//! types themselves (`schemars` reads their serde attributes and doc comments), so neither can
//! drift from what the parser accepts: `servesim schema` prints them, and tests check the
//! committed `docs/scenario.schema.json` and `docs/scenario-reference.md` against them.

use std::fmt::Write as _;

use serde_json::Value;

use super::ScenarioConfig;

/// The JSON Schema (draft 2020-12) of a scenario file.
pub fn json_schema() -> Value {
    schemars::schema_for!(ScenarioConfig).to_value()
}

/// The schema as a Markdown reference: the top-level fields, then every type a field names,
/// each with its fields (type, default, description) or its allowed values.
pub fn reference_markdown() -> String {
    let schema = json_schema();
    let mut s = String::from(
        "# Scenario file reference\n\n\
         Generated from the config types by `servesim schema --markdown`; do not edit by hand \
         (the JSON Schema for editors: `servesim schema > scenario.schema.json`, committed as \
         `docs/scenario.schema.json`). Durations are seconds, latencies milliseconds, sizes \
         tokens, unless a field's name or description says otherwise.\n\n",
    );
    section(&mut s, "Scenario (the file)", &schema);
    if let Some(Value::Object(defs)) = schema.get("$defs") {
        for (name, def) in defs {
            section(&mut s, name, def);
        }
    }
    s
}

/// One type's section.
fn section(s: &mut String, name: &str, def: &Value) {
    let _ = writeln!(s, "## {name}\n");
    if let Some(d) = def.get("description").and_then(Value::as_str) {
        let _ = writeln!(s, "{}\n", one_line(d));
    }
    if let Some(Value::Object(props)) = def.get("properties") {
        fields(s, def, props);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(variants)) = def.get(key) {
            let _ = writeln!(s, "One of:\n");
            for v in variants {
                let _ = writeln!(s, "- {}", variant(v));
            }
            s.push('\n');
        }
    }
    if let Some(Value::Array(values)) = def.get("enum") {
        let names: Vec<String> = values.iter().map(|v| format!("`{}`", plain(v))).collect();
        let _ = writeln!(s, "One of {}.\n", names.join(", "));
    }
}

/// The table of an object's fields.
fn fields(s: &mut String, def: &Value, props: &serde_json::Map<String, Value>) {
    let required: Vec<&str> = def
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "| field | type | default | description |\n|---|---|---|---|"
    );
    for (field, p) in props {
        let default = match p.get("default") {
            Some(d) => format!("`{}`", plain(d)),
            None if required.contains(&field.as_str()) => "required".to_string(),
            None => "none".to_string(),
        };
        let _ = writeln!(
            s,
            "| `{field}` | {} | {default} | {} |",
            type_of(p),
            p.get("description")
                .and_then(Value::as_str)
                .map(one_line)
                .unwrap_or_default()
                .replace('|', "\\|")
        );
    }
    s.push('\n');
}

/// A variant of an enum: its constant or its tagged fields, with its description.
fn variant(v: &Value) -> String {
    let what = if let Some(c) = v.get("const") {
        format!("`{}`", plain(c))
    } else if let Some(Value::Array(e)) = v.get("enum") {
        e.iter()
            .map(|x| format!("`{}`", plain(x)))
            .collect::<Vec<_>>()
            .join(", ")
    } else if let Some(Value::Object(props)) = v.get("properties") {
        let tag = props
            .iter()
            .find_map(|(k, p)| p.get("const").map(|c| format!("`{k}: {}`", plain(c))));
        let required: Vec<&str> = v
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        // A field the variant may leave out says so, and what leaving it out means.
        let rest: Vec<String> = props
            .iter()
            .filter(|(_, p)| p.get("const").is_none())
            .map(
                |(k, p)| match p.get("description").and_then(Value::as_str) {
                    _ if required.contains(&k.as_str()) => format!("`{k}` ({})", type_of(p)),
                    Some(d) => format!("`{k}` ({}, optional: {})", type_of(p), one_line(d)),
                    None => format!("`{k}` ({}, optional)", type_of(p)),
                },
            )
            .collect();
        match tag {
            Some(t) if rest.is_empty() => t,
            Some(t) => format!("{t} with {}", rest.join(", ")),
            None => rest.join(", "),
        }
    } else {
        type_of(v)
    };
    match v.get("description").and_then(Value::as_str) {
        Some(d) => format!("{what}: {}", one_line(d)),
        None => what,
    }
}

/// A field's type in words: a link to its type's section, a JSON type, or several.
fn type_of(p: &Value) -> String {
    if let Some(r) = p.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("[{name}](#{})", name.to_lowercase());
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(vs)) = p.get(key) {
            let parts: Vec<String> = vs
                .iter()
                .filter(|v| v.get("type").and_then(Value::as_str) != Some("null"))
                .map(type_of)
                .collect();
            return parts.join(" or ");
        }
    }
    if let Some(Value::Array(e)) = p.get("enum") {
        return e
            .iter()
            .map(|x| format!("`{}`", plain(x)))
            .collect::<Vec<_>>()
            .join(", ");
    }
    match p.get("type") {
        Some(Value::String(t)) if t == "array" => match p.get("items") {
            Some(items) => format!("list of {}", type_of(items)),
            None => "list".into(),
        },
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".into(),
    }
}

/// A JSON value as a user would write it in YAML.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Doc-comment text on one line (a table cell).
fn one_line(d: &str) -> String {
    d.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_names_every_top_level_field_and_requires_the_essentials() {
        let s = json_schema();
        let props = s["properties"].as_object().unwrap();
        for field in [
            "seed",
            "duration_s",
            "model",
            "gpu",
            "backend",
            "cluster",
            "traffic",
        ] {
            assert!(props.contains_key(field), "{field}");
        }
        let required: Vec<&str> = s["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(required.contains(&"model") && required.contains(&"cluster"));
        // A pool's fields, with their doc comments as descriptions.
        let pool = &s["$defs"]["PoolConfig"];
        assert!(pool["properties"]["workers"]["description"].is_string());
        assert_eq!(pool["additionalProperties"], Value::Bool(false));
    }

    #[test]
    fn the_reference_has_a_section_per_type() {
        let md = reference_markdown();
        assert!(md.starts_with("# Scenario file reference"));
        assert!(md.contains("## PoolConfig") && md.contains("| `workers` |"));
        assert!(md.contains("## BenchmarkConfig"));
    }
}
