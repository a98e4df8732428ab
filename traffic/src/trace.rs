//! Trace files: streamed readers (Azure 2023/2024 CSV, Mooncake JSONL, BurstGPT CSV,
//! plain or `.gz`) and a Mooncake JSONL writer.
//!
//! Readers hold one row at a time, so memory does not depend on the file's length.
//! Every malformed row is an error naming the file, line and column.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrafficError};
use crate::request::Request;

servesim_core::named_enum! {
    /// The trace formats understood, by the name a scenario (`format:`), the CLI (`--format`)
    /// and Python (`format=`) use.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum TraceFormat {
        /// Azure LLM inference trace: `TIMESTAMP,ContextTokens,GeneratedTokens`; timestamps
        /// like `2023-11-16 18:15:46.6805900` (2023, UTC) or `2024-05-10 00:00:00.009930+00:00`.
        Azure => "azure",
        /// Mooncake JSONL: `timestamp` (ms), `input_length`, `output_length`, `hash_ids`.
        Mooncake => "mooncake",
        /// BurstGPT CSV: `Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type`
        /// (timestamp in seconds; the model and log type are not used).
        Burstgpt => "burstgpt",
    }
}

const AZURE_HEADER: [&str; 3] = ["TIMESTAMP", "ContextTokens", "GeneratedTokens"];
const BURSTGPT_HEADER: [&str; 6] = [
    "Timestamp",
    "Model",
    "Request tokens",
    "Response tokens",
    "Total tokens",
    "Log Type",
];

impl TraceFormat {
    /// Guesses the format from the name (`.jsonl` → Mooncake) or the CSV header.
    pub fn detect(path: &Path) -> Result<TraceFormat> {
        let name = path.to_string_lossy();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        if name.ends_with(".jsonl") || name.ends_with(".json") {
            return Ok(TraceFormat::Mooncake);
        }
        let mut first = String::new();
        BufReader::new(open(path)?)
            .read_line(&mut first)
            .map_err(|source| io_err(path, source))?;
        let head = first.trim_start_matches('\u{feff}');
        if head.starts_with("TIMESTAMP") {
            Ok(TraceFormat::Azure)
        } else if head.starts_with("Timestamp") {
            Ok(TraceFormat::Burstgpt)
        } else {
            Err(malformed(
                path,
                1,
                1,
                "unknown trace format: expected a .jsonl name (Mooncake) or an Azure or BurstGPT CSV header",
            ))
        }
    }
}

/// One row of a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRow {
    /// Line in the (decompressed) file, 1-based.
    pub line: u64,
    /// Timestamp in nanoseconds on the trace's own clock (Unix time for Azure).
    pub time_ns: i64,
    /// Prompt tokens.
    pub input_tokens: u32,
    /// Generated tokens.
    pub output_tokens: u32,
    /// Mooncake block ids (empty for formats without them).
    pub hash_ids: Vec<u64>,
}

type Source = Box<dyn Read + Send>;

/// Opens `path`, decompressing on the fly when it ends in `.gz`.
fn open(path: &Path) -> Result<Source> {
    let file = File::open(path).map_err(|source| io_err(path, source))?;
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(file)
    })
}

fn io_err(path: &Path, source: std::io::Error) -> TrafficError {
    TrafficError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn malformed(
    path: &Path,
    line: u64,
    column: u64,
    message: impl Into<String>,
) -> TrafficError {
    TrafficError::Malformed {
        path: path.to_path_buf(),
        line,
        column,
        message: message.into(),
    }
}

/// A streaming reader of one trace file.
pub struct TraceReader {
    path: PathBuf,
    format: TraceFormat,
    inner: Inner,
}

enum Inner {
    /// The reader, its record, and what to add to the lines it counts.
    Csv(csv::Reader<Source>, csv::StringRecord, u64),
    Jsonl(BufReader<Source>, String, u64),
}

impl std::fmt::Debug for TraceReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceReader")
            .field("path", &self.path)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// A Mooncake row. Unknown keys are ignored so that newer releases still read.
#[derive(Deserialize, schemars::JsonSchema)]
struct MooncakeRow {
    timestamp: u64,
    input_length: u32,
    output_length: u32,
    #[serde(default)]
    hash_ids: Vec<u64>,
}

impl TraceReader {
    /// Opens `path` and checks its header.
    pub fn open(path: &Path, format: TraceFormat) -> Result<TraceReader> {
        let source = open(path)?;
        let inner = match format {
            TraceFormat::Mooncake => Inner::Jsonl(BufReader::new(source), String::new(), 0),
            TraceFormat::Azure | TraceFormat::Burstgpt => {
                let mut rdr = csv::ReaderBuilder::new()
                    .trim(csv::Trim::All)
                    .from_reader(source);
                let expected: &[&str] = if format == TraceFormat::Azure {
                    &AZURE_HEADER
                } else {
                    &BURSTGPT_HEADER
                };
                let header = rdr.headers().map_err(|e| csv_err(path, &e, 0, 1))?.clone();
                for (i, want) in expected.iter().enumerate() {
                    let got = header.get(i).unwrap_or("").trim_start_matches('\u{feff}');
                    if got != *want {
                        return Err(malformed(
                            path,
                            1,
                            i as u64 + 1,
                            format!("expected header column {want:?}, got {got:?}"),
                        ));
                    }
                }
                if header.len() != expected.len() {
                    return Err(malformed(
                        path,
                        1,
                        expected.len() as u64 + 1,
                        format!(
                            "expected {} header columns, got {}",
                            expected.len(),
                            header.len()
                        ),
                    ));
                }
                // The reader counts a CRLF header as ending on line 1 and every line
                // after it one short (csv 1.x); the first record is on line 2.
                let line_offset = 2u64.saturating_sub(rdr.position().line());
                Inner::Csv(rdr, csv::StringRecord::new(), line_offset)
            }
        };
        Ok(TraceReader {
            path: path.to_path_buf(),
            format,
            inner,
        })
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next row, `Ok(None)` at the end of the file.
    pub fn next_row(&mut self) -> Result<Option<TraceRow>> {
        let path = &self.path;
        match &mut self.inner {
            Inner::Csv(rdr, rec, offset) => {
                let offset = *offset;
                let more = match rdr.read_record(rec) {
                    Ok(more) => more,
                    Err(e) => {
                        // An error of no record (a damaged gzip stream) is placed where the
                        // reader stopped.
                        let at = rdr.position().line() + offset;
                        return Err(csv_err(path, &e, offset, at));
                    }
                };
                if !more {
                    return Ok(None);
                }
                let line = rec.position().map_or(0, |p| p.line() + offset);
                let field = |i: usize, name: &str| -> Result<&str> {
                    rec.get(i).ok_or_else(|| {
                        malformed(path, line, i as u64 + 1, format!("missing field {name}"))
                    })
                };
                let count = |i: usize, name: &str| -> Result<u32> {
                    let s = field(i, name)?;
                    s.parse().map_err(|e| {
                        malformed(path, line, i as u64 + 1, format!("{name}: {s:?}: {e}"))
                    })
                };
                let row = match self.format {
                    TraceFormat::Azure => {
                        let s = field(0, "TIMESTAMP")?;
                        let time_ns = parse_timestamp(s).ok_or_else(|| {
                            malformed(path, line, 1, format!("TIMESTAMP: cannot read {s:?}"))
                        })?;
                        TraceRow {
                            line,
                            time_ns,
                            input_tokens: count(1, "ContextTokens")?,
                            output_tokens: count(2, "GeneratedTokens")?,
                            hash_ids: Vec::new(),
                        }
                    }
                    _ => {
                        let s = field(0, "Timestamp")?;
                        let time_ns = s
                            .parse::<f64>()
                            .ok()
                            .filter(|t| t.is_finite() && t.abs() < 9.2e9)
                            .map(|t| (t * 1e9).round() as i64)
                            .ok_or_else(|| {
                                malformed(path, line, 1, format!("Timestamp: cannot read {s:?}"))
                            })?;
                        TraceRow {
                            line,
                            time_ns,
                            input_tokens: count(2, "Request tokens")?,
                            output_tokens: count(3, "Response tokens")?,
                            hash_ids: Vec::new(),
                        }
                    }
                };
                Ok(Some(row))
            }
            Inner::Jsonl(rdr, buf, line) => loop {
                buf.clear();
                let n = rdr.read_line(buf).map_err(|source| {
                    // A line of bytes that are not UTF-8 is that line's fault.
                    if source.kind() == std::io::ErrorKind::InvalidData {
                        malformed(path, *line + 1, 1, "not UTF-8 text")
                    } else {
                        io_err(path, source)
                    }
                })?;
                if n == 0 {
                    return Ok(None);
                }
                *line += 1;
                let text = buf.trim_end_matches(['\n', '\r']);
                // A byte-order mark is not part of the first record.
                let text = if *line == 1 {
                    text.trim_start_matches('\u{feff}')
                } else {
                    text
                };
                // A blank line holds no record (a trailing one is common), as in a CSV trace.
                if text.trim().is_empty() {
                    continue;
                }
                let mut de = serde_json::Deserializer::from_str(text);
                let row: MooncakeRow = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                    // serde_json appends its own "at line 1 column N"; we say it up front,
                    // and the field at fault before the message.
                    let field = e.path().to_string();
                    let e = e.into_inner();
                    let msg = e.to_string();
                    let msg = msg
                        .rsplit_once(" at line ")
                        .map_or(msg.as_str(), |(m, _)| m);
                    let msg = servesim_core::suggest::plain_types(msg);
                    let msg = if field == "." {
                        msg
                    } else {
                        format!("{field}: {msg}")
                    };
                    malformed(path, *line, e.column() as u64, msg)
                })?;
                // One record a line: anything after it (a second record run into the line,
                // as `cat` leaves of a file without a final newline) would be lost.
                de.end().map_err(|e| {
                    let what = "more after the record (one JSON record a line)";
                    malformed(path, *line, e.column() as u64, what)
                })?;
                let time_ns = i64::try_from(row.timestamp)
                    .ok()
                    .and_then(|ms| ms.checked_mul(1_000_000))
                    .ok_or_else(|| malformed(path, *line, 1, "timestamp: too large"))?;
                return Ok(Some(TraceRow {
                    line: *line,
                    time_ns,
                    input_tokens: row.input_length,
                    output_tokens: row.output_length,
                    hash_ids: row.hash_ids,
                }));
            },
        }
    }
}

impl Iterator for TraceReader {
    type Item = Result<TraceRow>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_row().transpose()
    }
}

/// A CSV reader's error, its line moved by `line_offset` (see `Inner::Csv`); `at` where
/// the error has no position of its own.
fn csv_err(path: &Path, e: &csv::Error, line_offset: u64, at: u64) -> TrafficError {
    let line = e.position().map_or(at, |p| p.line() + line_offset);
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => malformed(
            path,
            line,
            (*len).min(*expected_len) + 1,
            format!("expected {expected_len} fields, got {len}"),
        ),
        // csv counts a record's fields from 0: the column is the next.
        csv::ErrorKind::Utf8 { err, .. } => malformed(
            path,
            line,
            err.field() as u64 + 1,
            "not UTF-8 text".to_string(),
        ),
        _ => malformed(path, line, 1, e.to_string()),
    }
}

/// Reads every `(input, output)` pair of a trace (for empirical size distributions).
pub fn read_sizes(path: &Path, format: TraceFormat) -> Result<Vec<(u32, u32)>> {
    TraceReader::open(path, format)?
        .map(|row| row.map(|r| (r.input_tokens, r.output_tokens)))
        .collect()
}

/// Days in `month` (1–12) of `year` (Gregorian).
fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS[.fraction][Z|±HH:MM]` (also with a `T`) into nanoseconds
/// of Unix time. Fractions past nanoseconds are cut; no offset means UTC.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter().all(u8::is_ascii_digit).then(|| {
            part.iter()
                .fold(0i64, |acc, &d| acc * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b' ' | b'T'))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
        || !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 9 {
                nanos = nanos * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..9 {
            nanos *= 10;
        }
    }
    let offset_s = match b.get(i) {
        None => 0,
        Some(b'Z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let h = num(i + 1, 2)?;
            let (m, len) = if b.get(i + 3) == Some(&b':') {
                (num(i + 4, 2)?, 6)
            } else {
                (num(i + 3, 2)?, 5)
            };
            if i + len != b.len() || h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            if sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Writes requests as Mooncake JSONL (timestamp in whole milliseconds, rounded), so a
/// generated workload can be replayed by other tools.
///
/// Block ids are 64-bit hashes; tools that read JSON numbers as doubles lose ids above
/// 2^53. [`MooncakeWriter::with_dense_ids`] renumbers them 0, 1, 2... in order of first
/// appearance, as Mooncake's own traces are, at the cost of memory per distinct block.
#[derive(Debug)]
pub struct MooncakeWriter<W: Write> {
    out: W,
    /// First-seen renumbering (lookups only, never iterated).
    dense: Option<HashMap<u64, u64>>,
    ids: Vec<u64>,
}

#[derive(Serialize)]
struct MooncakeOut<'a> {
    timestamp: u64,
    input_length: u32,
    output_length: u32,
    hash_ids: &'a [u64],
}

impl<W: Write> MooncakeWriter<W> {
    /// A writer into `out` that keeps block ids as they are (wrap files in a `BufWriter`).
    pub fn new(out: W) -> Self {
        MooncakeWriter {
            out,
            dense: None,
            ids: Vec::new(),
        }
    }

    /// A writer that renumbers block ids densely from 0.
    pub fn with_dense_ids(out: W) -> Self {
        MooncakeWriter {
            dense: Some(HashMap::new()),
            ..MooncakeWriter::new(out)
        }
    }

    /// Writes one request as one line.
    pub fn write(&mut self, r: &Request) -> std::io::Result<()> {
        let hash_ids: &[u64] = match &mut self.dense {
            None => &r.prefix_blocks,
            Some(map) => {
                self.ids.clear();
                for b in r.prefix_blocks.iter() {
                    let next = map.len() as u64;
                    self.ids.push(*map.entry(*b).or_insert(next));
                }
                &self.ids
            }
        };
        let row = MooncakeOut {
            timestamp: r.arrival.as_nanos().saturating_add(500_000) / 1_000_000,
            input_length: r.input_tokens,
            output_length: r.output_tokens,
            hash_ids,
        };
        serde_json::to_writer(&mut self.out, &row)?;
        self.out.write_all(b"\n")
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use servesim_core::Named;

    #[test]
    fn format_names_are_the_scenario_spelling() {
        let names: Vec<&str> = TraceFormat::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(
            serde_json::to_value(TraceFormat::ALL).unwrap(),
            json!(names)
        );
    }

    #[test]
    fn timestamps_in_both_azure_forms() {
        let t23 = parse_timestamp("2023-11-16 18:15:46.6805900").unwrap();
        assert_eq!(t23, 1_700_158_546_680_590_000);
        let t24 = parse_timestamp("2024-05-10 00:00:00.009930+00:00").unwrap();
        assert_eq!(t24, 1_715_299_200_009_930_000);
        assert_eq!(
            parse_timestamp("2024-05-10 02:00:00.009930+02:00"),
            Some(t24)
        );
        assert_eq!(
            parse_timestamp("2024-05-10T00:00:00Z"),
            Some(1_715_299_200_000_000_000)
        );
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Some(0));
        assert!(
            parse_timestamp("2024-02-29 00:00:00").is_some(),
            "a leap day"
        );
        for bad in [
            "",
            "2023-13-01 00:00:00",
            "2023-02-30 00:00:00",
            "2023-02-29 00:00:00",
            "2023-04-31 12:00:00",
            "2023-11-16",
            "2023-11-16 18:15:46.",
            "2023-11-16 18:15:46+0",
            "2023-11-16 18:15:46 junk",
            "2023/11/16 18:15:46",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }
}
