//! Workload files on disk: a scenario's `traffic:` (or a workload file of its own), or a trace
//! replayed as one stream, told apart by name and first line.

use std::path::Path;

use serde::Deserialize;

use crate::config::{DEFAULT_BLOCK_TOKENS, WorkloadConfig, WorkloadSpec};
use crate::error::{Result, TrafficError};
use crate::stream::{StreamConfig, TraceConfig};
use crate::trace::TraceFormat;

/// Reads the workload of a scenario file: the `traffic:` key of a YAML document (and its
/// top-level `seed:`, if any), or the whole document when it has no `traffic:` key.
pub fn load_workload_file(path: &Path) -> Result<(WorkloadConfig, Option<u64>)> {
    let text = std::fs::read_to_string(path).map_err(|source| TrafficError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let origin = path.display().to_string();
    let parse_err = |e: serde_norway::Error| TrafficError::Parse {
        origin: origin.clone(),
        message: servesim_core::suggest::with_suggestion(&e.to_string()),
    };
    let doc: serde_norway::Value = serde_norway::from_str(&text).map_err(parse_err)?;
    if !doc.is_mapping() {
        // A text, say: quoting it back would quote the whole file.
        return Err(TrafficError::Parse {
            origin,
            message: "is not a scenario or workload file: its YAML is not a mapping of fields"
                .into(),
        });
    }
    if doc.get("traffic").is_none() {
        return Ok((WorkloadConfig::from_yaml_str(&text, &origin)?, None));
    }
    // Read from the text, not from the parsed value, so that an error has its field path
    // and its line in the file.
    #[derive(Deserialize)]
    struct Doc {
        traffic: WorkloadConfig,
    }
    let de = serde_norway::Deserializer::from_str(&text);
    let config = serde_path_to_error::deserialize::<_, Doc>(de)
        .map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            // serde repeats the path in front of some messages; say it once.
            let message = match message.split_once(": ") {
                Some((lead, rest)) if path.starts_with(lead) && !lead.contains(' ') => rest,
                _ => &message,
            };
            TrafficError::Parse {
                origin: origin.clone(),
                message: format!(
                    "{path}: {}",
                    servesim_core::suggest::with_suggestion(message)
                ),
            }
        })?
        .traffic;
    let seed = match doc.get("seed") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| TrafficError::config("seed", "must be a non-negative integer"))?,
        ),
    };
    Ok((config, seed))
}

/// Whether `path` names a trace file (`.csv`, `.jsonl`, `.json`, optionally `.gz`)
/// rather than a scenario.
pub fn is_trace_path(path: &Path) -> bool {
    let name = path.to_string_lossy();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".csv", ".jsonl", ".json"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Whether the file at `path` is read as a trace (by its name, a `.json` one by its first
/// line) rather than as a workload or scenario file.
pub fn reads_as_trace(path: &Path) -> bool {
    is_trace_path(path) && !is_json_document(path)
}

/// The `duration_s` of a scenario file read as a workload (`None` for a trace, a workload
/// file, or a scenario that does not say): a run of its workload alone lasts as long as the
/// scenario's, as `servesim traffic stats` and Python's `servesim.traffic` run it.
pub fn file_duration_s(path: &Path) -> Option<f64> {
    if reads_as_trace(path) {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let doc: serde_norway::Value = serde_norway::from_str(&text).ok()?;
    doc.get("duration_s")?.as_f64()
}

/// A plain `.json` file whose first line is not a trace record (a Mooncake line has a
/// `timestamp`): a scenario or workload written as JSON, not a trace.
fn is_json_document(path: &Path) -> bool {
    use std::io::{BufRead, Read};
    if path.extension().is_none_or(|e| e != "json") {
        return false;
    }
    let Ok(file) = std::fs::File::open(path) else {
        return false; // the trace reader names the file and the error
    };
    // The first line with a record: blank lines before it hold none (the trace reader
    // skips them too).
    let mut first = String::new();
    let mut reader = std::io::BufReader::new(file.take(1 << 20));
    while first.trim_start_matches('\u{feff}').trim().is_empty() {
        first.clear();
        match reader.read_line(&mut first) {
            // No record at all: read as a document, whose reader says it is empty.
            Ok(0) => return true,
            Err(_) => return false,
            Ok(_) => {}
        }
    }
    // A byte-order mark is not part of the first record.
    !matches!(
        serde_json::from_str::<serde_json::Value>(first.trim_start_matches('\u{feff}')),
        Ok(serde_json::Value::Object(m)) if m.contains_key("timestamp")
    )
}

/// The workload of a trace file (one stream, replayed as is; the format is detected when
/// not given) or of a scenario file (see [`load_workload_file`]), with the scenario's seed.
pub fn load_spec(path: &Path, format: Option<TraceFormat>) -> Result<(WorkloadSpec, Option<u64>)> {
    if format.is_some() || reads_as_trace(path) {
        let format = match format {
            Some(f) => f,
            None => TraceFormat::detect(path)?,
        };
        let name = path
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .split('.')
                    .next()
                    .unwrap_or("trace")
                    .to_string()
            })
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "trace".to_string());
        let config = WorkloadConfig {
            block_tokens: DEFAULT_BLOCK_TOKENS,
            preset: None,
            airline: None,
            streams: vec![StreamConfig::trace(
                &name,
                TraceConfig {
                    path: path.to_path_buf(),
                    format,
                    speed: 1.0,
                    from_s: 0.0,
                    to_s: None,
                    random_start_s: 0.0,
                },
            )],
        };
        return Ok((config.validate("traffic", Path::new(""))?, None));
    }
    let (config, seed) = load_workload_file(path).map_err(|e| read_as_scenario(path, e))?;
    let base = path.parent().unwrap_or(Path::new(""));
    Ok((config.validate("traffic", base)?, seed))
}

/// `e`, of reading `path` as a scenario or workload file, with a word on why it was read
/// so where its name is not a scenario's (`.yaml`, `.yml`, `.json`): a trace named otherwise
/// (`trace.txt`, `trace.JSONL`) is told apart by its name, or by a format given.
fn read_as_scenario(path: &Path, e: TrafficError) -> TrafficError {
    let scenario_name = path
        .extension()
        .is_some_and(|x| ["yaml", "yml", "json"].contains(&&*x.to_string_lossy()));
    match e {
        TrafficError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => e,
        _ if scenario_name => e,
        TrafficError::Parse { origin, message } => TrafficError::Parse {
            origin,
            message: format!("{message} ({})", not_a_trace_name()),
        },
        TrafficError::Io { path, source } => TrafficError::Parse {
            origin: path.display().to_string(),
            message: format!("{source} ({})", not_a_trace_name()),
        },
        other => other,
    }
}

/// Why a file was read as a scenario, and what reads it as a trace.
fn not_a_trace_name() -> &'static str {
    "read as a scenario or workload file: a trace's name ends in .csv, .jsonl or .json, \
     optionally .gz, in lower case; a trace named otherwise needs its format given \
     (`--format`, `format=` in Python)"
}
