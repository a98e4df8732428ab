//! Field overrides without editing files (`--set cluster.pools[0].startup_s=60`): each sets
//! one field of the file as written, and the result is parsed and validated like the file, so
//! a wrong path or value is the same error the file would give.

use std::path::Path;

use serde_norway::Value;

use crate::Error;

use super::{Scenario, ScenarioConfig};

/// One `PATH=VALUE` override: a dotted field path with `[i]` list indexes, and a YAML value.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    path: Vec<Step>,
    value: Value,
    text: String,
    /// How errors name it: `--set PATH=VALUE` as the command line takes it, or where else
    /// it was written ([`Override::written_at`]).
    label: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
}

fn bad(label: &str, message: impl Into<String>) -> Error {
    Error::Config {
        path: label.to_string(),
        message: message.into(),
    }
}

impl std::str::FromStr for Override {
    /// What is wrong with the text, in words (the command line names the flag and value).
    type Err = String;

    fn from_str(text: &str) -> Result<Override, String> {
        let Some((path, value)) = text.split_once('=') else {
            return Err("give PATH=VALUE, e.g. planner.policy=sla".into());
        };
        let mut steps = Vec::new();
        for part in path.trim().split('.') {
            let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
            if name.is_empty() {
                return Err(format!("'{path}' has an empty field name"));
            }
            steps.push(Step::Field(name.to_string()));
            while !rest.is_empty() {
                let Some((index, after)) = rest.split_once(']') else {
                    return Err(format!("'{part}': a '[' without its ']'"));
                };
                let index = index
                    .parse::<usize>()
                    .map_err(|_| format!("'{index}' is not a list index"))?;
                steps.push(Step::Index(index));
                rest = after.strip_prefix('[').unwrap_or(after);
                if !after.is_empty() && !after.starts_with('[') {
                    return Err(format!("'{part}': text after ']'"));
                }
            }
        }
        let value: Value =
            serde_norway::from_str(value).map_err(|e| format!("the value does not parse: {e}"))?;
        Ok(Override {
            path: steps,
            value,
            text: text.to_string(),
            label: format!("--set {text}"),
        })
    }
}

impl Override {
    /// The override as written, `PATH=VALUE`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// This override, named in errors as written at `at` (a suite manifest's entry), not as
    /// a `--set` flag.
    pub fn written_at(self, at: &str) -> Override {
        let label = format!("{at} ({})", self.text);
        Override { label, ..self }
    }

    /// Sets the field in `doc` (a mapping as written), creating mappings on the way; a list
    /// index must name an element that exists.
    fn apply(&self, doc: &mut Value) -> Result<(), Error> {
        let mut at = doc;
        for step in &self.path {
            at = match step {
                Step::Field(name) => {
                    if at.is_null() {
                        *at = Value::Mapping(Default::default());
                    }
                    let Value::Mapping(map) = at else {
                        return Err(bad(
                            &self.label,
                            format!("'{name}' is inside a value, not a section"),
                        ));
                    };
                    map.entry(Value::String(name.clone()))
                        .or_insert(Value::Null)
                }
                Step::Index(i) => {
                    let Value::Sequence(list) = at else {
                        return Err(bad(&self.label, format!("[{i}] is not inside a list")));
                    };
                    let len = list.len();
                    list.get_mut(*i).ok_or_else(|| {
                        bad(
                            &self.label,
                            format!("[{i}] is past the list's {len} elements"),
                        )
                    })?
                }
            };
        }
        *at = self.value.clone();
        Ok(())
    }
}

impl Scenario {
    /// Reads a scenario file with `overrides` applied to it, parsed and validated like the file.
    pub fn from_file_with(path: &Path, overrides: &[Override]) -> Result<Scenario, Error> {
        if overrides.is_empty() {
            return Self::from_file(path);
        }
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // A byte-order mark is not part of the document (`Scenario::from_yaml_str`).
        let text = match text.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_string(),
            None => text,
        };
        let origin = path.display().to_string();
        let parse = |message: String| Error::Parse {
            origin: origin.clone(),
            path: ".".into(),
            message,
        };
        let mut doc: Value = serde_norway::from_str(&text).map_err(|e| parse(e.to_string()))?;
        for o in overrides {
            o.apply(&mut doc)?;
        }
        // An error at a field the overrides set names them; one at a field of the file
        // names its line there, as it would without overrides, and (a value checked against
        // others, after parsing) the overrides beside it. An error about a whole value
        // (an untagged choice, a pool's workers against the nodes) is the overrides' when one
        // of them set a field inside it. Of several, the last applied is the one in effect.
        let within = |outer: &str, inner: &str| {
            inner == outer
                || inner.starts_with(&format!("{outer}."))
                || inner.starts_with(&format!("{outer}["))
        };
        // What the error is said to come from: the override that set the field, else the one
        // that set a field inside the value.
        let set_by = |path: &str| {
            let inside = !matches!(path, "" | "." | "?");
            let last = |hit: &dyn Fn(&Override) -> bool| overrides.iter().rev().find(|o| hit(o));
            last(&|o| within(&o.path_text(), path))
                .map(SetBy::Field)
                .or_else(|| last(&|o| inside && within(path, &o.path_text())).map(SetBy::Inside))
        };
        // An override inside a value is named with the file that holds the rest of it.
        let with_file = |o: &Override| format!("{origin} with {}", o.label);
        let config: ScenarioConfig = serde_path_to_error::deserialize(doc).map_err(|e| {
            let path = e.path().to_string();
            let message = super::parse_message(&path, &e.into_inner().to_string());
            match set_by(&path) {
                // An override that set the field names it already; one inside the value does
                // not.
                Some(SetBy::Field(o)) => {
                    return Error::Parse {
                        origin: o.label.clone(),
                        message,
                        path: ".".into(),
                    };
                }
                Some(SetBy::Inside(o)) => {
                    return Error::Parse {
                        origin: with_file(o),
                        message,
                        path,
                    };
                }
                None => {}
            }
            // An unknown field is where its key is written; a bad value where the value is.
            let unknown = message.starts_with("unknown field");
            let at = if unknown {
                super::locate::locate_key(&text, &path)
            } else {
                super::locate::locate(&text, &path)
            };
            match at {
                Some((line, column)) => Error::Parse {
                    origin: origin.clone(),
                    message: format!("{message} at line {line} column {column}"),
                    path,
                },
                None => Error::Parse {
                    origin: format!("{origin} with --set"),
                    message,
                    path,
                },
            }
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::validate(config, base).map_err(|e| {
            let message = e.to_string();
            // At a field an override set, the error the file would give (it names the
            // field); about a value an override set a field inside, that override's too.
            match super::locate::leading_path(&message).map(set_by) {
                Some(Some(SetBy::Inside(o))) => Error::Parse {
                    origin: with_file(o),
                    path: ".".into(),
                    message,
                },
                // At a field of the file: its line there, read with every override, since
                // the value at fault may be checked against one of them (a budget set).
                Some(None) => {
                    let labels: Vec<&str> = overrides.iter().map(|o| o.label.as_str()).collect();
                    super::placed(e, &text, &format!("{origin} with {}", labels.join(", ")))
                }
                _ => e,
            }
        })
    }
}

/// The override an error at a field path is said to come from.
enum SetBy<'a> {
    /// It set that field, or a value holding it.
    Field(&'a Override),
    /// It set a field inside the value at fault.
    Inside(&'a Override),
}

impl Override {
    /// The field path it sets, as errors write paths (`cluster.pools[0].startup_s`).
    fn path_text(&self) -> String {
        let mut out = String::new();
        for step in &self.path {
            match step {
                Step::Field(name) if out.is_empty() => out.push_str(name),
                Step::Field(name) => {
                    out.push('.');
                    out.push_str(name);
                }
                Step::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario_file() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/disagg-small.yaml")
    }

    fn with(sets: &[&str]) -> Result<Scenario, Error> {
        let overrides: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
        Scenario::from_file_with(&scenario_file(), &overrides)
    }

    #[test]
    fn an_override_sets_the_field_as_the_file_would() {
        let s = with(&[
            "cluster.pools[1].startup_s=60",
            "seed=9",
            "planner.policy=sla",
            "planner.interval_s=30",
        ])
        .unwrap();
        assert_eq!(s.pools()[1].startup.as_secs_f64(), 60.0);
        assert_eq!(s.seed(), 9);
        assert_eq!(s.planner().map(|p| p.policy.as_str()), Some("sla"));
        let plain = Scenario::from_file(&scenario_file()).unwrap();
        assert_eq!(with(&[]).unwrap().config(), plain.config());
    }

    #[test]
    fn a_wrong_path_or_value_is_the_error_the_file_would_give() {
        let err = |sets: &[&str]| with(sets).unwrap_err().to_string();
        assert!(err(&["cluster.pools[0].tp=3"]).starts_with("cluster.pools[0].tp: 3"));
        // A policy no planner has is said when the scenario is read.
        let policy = err(&["planner.policy=bogus", "planner.interval_s=30"]);
        assert!(
            policy.starts_with("planner.policy: unknown policy 'bogus' (known: static"),
            "{policy}"
        );
        let unknown = err(&["cluster.pools[0].workerz=2"]);
        // The override names the field once; the error is the override's, not the file's.
        assert!(
            unknown.starts_with("--set cluster.pools[0].workerz=2: unknown field `workerz`"),
            "{unknown}"
        );
        assert!(err(&["cluster.pools[7].tp=2"]).contains("[7] is past the list's 2 elements"));
        assert!(err(&["seed.x=1"]).contains("'x' is inside a value"));
    }

    #[test]
    fn malformed_overrides_say_what_is_wrong() {
        let bad = |t: &str| t.parse::<Override>().unwrap_err();
        assert!(bad("seed").contains("PATH=VALUE"));
        assert!(bad("a..b=1").contains("empty field name"));
        assert!(bad("a[x]=1").contains("not a list index"));
        assert!(bad("a[1=1").contains("without its ']'"));
        assert!(bad("a[1]b=1").contains("text after ']'"));
        assert_eq!(
            "a[0][2].b=[1, 2]".parse::<Override>().unwrap().path,
            [
                Step::Field("a".into()),
                Step::Index(0),
                Step::Index(2),
                Step::Field("b".into())
            ]
        );
    }
}
