//! The measured file: a CSV of serving runs read with the `csv` crate, each row with its line
//! number, and typed accessors whose errors name the line and column; and the output CSV.

use crate::Error;
use crate::text::counted;

use super::{ClientStats, Distribution, OUTPUT_COLUMNS, REQUIRED_COLUMNS, Validation};

/// A measured CSV file: its header and rows (fields as text), each with its line number.
#[derive(Clone, Debug)]
pub struct MeasuredFile {
    /// Column names.
    pub header: Vec<String>,
    /// Rows: (1-based line number, fields).
    pub rows: Vec<(usize, Vec<String>)>,
}

/// The most users (and sequences a rank) a row may serve: beyond any benchmark's concurrency,
/// and a bound on what one row's simulation holds (each batch size a CUDA graph).
const MAX_USERS: u32 = 1_000_000;

/// The shortest measured latency a row may give, ms: a microsecond (a CUDA kernel's launch
/// alone takes several).
pub const MIN_LATENCY_MS: f64 = 1e-3;

fn malformed(origin: &str, line: usize, column: &str, message: impl Into<String>) -> Error {
    Error::Parse {
        origin: origin.to_string(),
        path: format!("line {line}, column {column}"),
        message: message.into(),
    }
}

/// The line a record starts on: the reader reports where it began looking, before the
/// blank lines it skips.
fn start_line(text: &str, p: &csv::Position) -> usize {
    let skipped = text.as_bytes()[p.byte() as usize..]
        .iter()
        .take_while(|&&b| b == b'\n' || b == b'\r')
        .filter(|&&b| b == b'\n')
        .count();
    p.line() as usize + skipped
}

/// Reads CSV text into records with the line each starts on (RFC 4180: quoted fields may
/// hold commas, quotes and newlines; blank lines are skipped, as are lines of spaces or
/// tabs alone, which hold no field either).
fn read_records(text: &str, origin: &str) -> Result<Vec<(usize, Vec<String>)>, Error> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            malformed(origin, line, "1", e.to_string())
        })?;
        if record.len() == 1 && record[0].trim().is_empty() {
            continue;
        }
        let line = record.position().map_or(0, |p| start_line(text, p));
        records.push((line, record.iter().map(str::to_string).collect()));
    }
    Ok(records)
}

impl MeasuredFile {
    /// Parses CSV text; `origin` names it in errors. The header must have the
    /// [`REQUIRED_COLUMNS`]; a row of the wrong width is kept as it is (it is that row's
    /// fault, not the file's: see `MeasuredFile::width_fault`).
    pub fn parse(text: &str, origin: &str) -> Result<MeasuredFile, Error> {
        let mut records = read_records(text, origin)?.into_iter();
        let Some((line, header)) = records.next() else {
            return Err(malformed(origin, 1, "1", "empty file: no header"));
        };
        for c in REQUIRED_COLUMNS {
            if !header.iter().any(|h| h == c) {
                return Err(malformed(
                    origin,
                    line,
                    c,
                    format!("the header has no '{c}' column"),
                ));
            }
        }
        // Which of two columns of one name a row's value is read from would be a guess, and
        // the output appends columns of its own names.
        for (i, name) in header.iter().enumerate() {
            if !name.is_empty() && header[..i].contains(name) {
                return Err(malformed(origin, line, name, "named twice in the header"));
            }
            if super::OUTPUT_COLUMNS.contains(&name.as_str()) {
                return Err(malformed(
                    origin,
                    line,
                    name,
                    "is the name of a column validate adds to its output; rename it (or give \
                     the measured rows, not a file of predictions)",
                ));
            }
        }
        Ok(MeasuredFile {
            header,
            rows: records.collect(),
        })
    }

    /// Why a row of `fields` does not fit the header (the first column it lacks or has too
    /// many of), if it does not.
    pub(super) fn width_fault(&self, fields: &[String]) -> Option<String> {
        (fields.len() != self.header.len()).then(|| {
            let col = fields.len().min(self.header.len()) + 1;
            format!(
                "column {col}: {} where the header has {}",
                counted(fields.len() as u64, "field"),
                self.header.len()
            )
        })
    }

    fn index(&self, column: &str) -> Option<usize> {
        self.header.iter().position(|h| h == column)
    }
}

/// A view of one row with typed accessors whose errors name line and column.
pub(super) struct Row<'a> {
    pub(super) file: &'a MeasuredFile,
    pub(super) origin: &'a str,
    pub(super) line: usize,
    pub(super) fields: &'a [String],
}

impl Row<'_> {
    pub(super) fn text(&self, column: &str) -> &str {
        self.file
            .index(column)
            .and_then(|i| self.fields.get(i))
            .map_or("", |f| f.trim())
    }

    /// A number (integers may be written `8.0`); blank → `None`.
    pub(super) fn number(&self, column: &str) -> Result<Option<f64>, Error> {
        let t = self.text(column);
        if t.is_empty() {
            return Ok(None);
        }
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Some(v)),
            _ => Err(malformed(
                self.origin,
                self.line,
                column,
                format!("'{t}' is not a number"),
            )),
        }
    }

    /// A whole count ≥ 0; blank → `None`.
    pub(super) fn count(&self, column: &str) -> Result<Option<u32>, Error> {
        match self.number(column)? {
            None => Ok(None),
            Some(v) if v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) => {
                Ok(Some(v as u32))
            }
            Some(v) => Err(malformed(
                self.origin,
                self.line,
                column,
                format!("{v} is not a whole count"),
            )),
        }
    }

    /// A batch size: blank for the backend's default, else 1 to [`MAX_USERS`].
    pub(super) fn batch(&self, column: &str) -> Result<Option<u32>, Error> {
        match self.count(column)? {
            Some(0) => Err(malformed(
                self.origin,
                self.line,
                column,
                "must be > 0 (leave it blank for the backend's default)",
            )),
            Some(b) if b > MAX_USERS => Err(malformed(
                self.origin,
                self.line,
                column,
                format!("{b} sequences is more than the {MAX_USERS} a row may serve"),
            )),
            b => Ok(b),
        }
    }

    /// A measured latency, ms: blank → `None`, else at least [`MIN_LATENCY_MS`] (a smaller
    /// one is no step a GPU serves, and an error relative to it would print as a number of
    /// hundreds of digits).
    pub(super) fn latency(&self, column: &str) -> Result<Option<f64>, Error> {
        match self.number(column)? {
            Some(v) if v <= 0.0 => Err(malformed(
                self.origin,
                self.line,
                column,
                format!("{v} is not a positive latency"),
            )),
            Some(v) if v < MIN_LATENCY_MS => Err(malformed(
                self.origin,
                self.line,
                column,
                format!("{v:e} ms is below a microsecond: shorter than any kernel launch"),
            )),
            v => Ok(v),
        }
    }

    pub(super) fn required_count(&self, column: &str) -> Result<u32, Error> {
        match self.count(column)? {
            Some(v) if v > 0 => Ok(v),
            Some(_) => Err(malformed(self.origin, self.line, column, "must be > 0")),
            None => Err(malformed(self.origin, self.line, column, "is blank")),
        }
    }

    /// The value of `key=` among the `;`-separated fields of `silicon_data_source`, trimmed
    /// (a field whose key only ends in `key` is another one); given twice with two values,
    /// an error (which one the row was measured at would be a guess).
    fn source_field(&self, key: &str) -> Result<Option<&str>, Error> {
        let mut values = self
            .text("silicon_data_source")
            .split(';')
            .filter_map(|field| {
                let (k, v) = field.split_once('=')?;
                (k.trim() == key).then_some(v.trim())
            });
        let first = values.next();
        match (first, values.find(|&v| Some(v) != first)) {
            (Some(a), Some(b)) => Err(malformed(
                self.origin,
                self.line,
                "silicon_data_source",
                format!("{key} is given twice, as '{a}' and as '{b}'"),
            )),
            _ => Ok(first),
        }
    }

    /// The day the row was measured, `measured=YYYY-MM-DD…` in `silicon_data_source`, as
    /// `YYYYMMDD`; `None` when it is not there.
    pub(super) fn measured_on(&self) -> Result<Option<u32>, Error> {
        let col = "silicon_data_source";
        let Some(stamp) = self.source_field("measured")? else {
            return Ok(None);
        };
        // The day, then nothing or a time (`T…` or ` …`); a day is ASCII, and cutting
        // elsewhere than at a character's boundary would panic.
        let Some((day, time)) = stamp.split_at_checked(stamp.len().min(10)) else {
            return Err(bad_day(self, col, stamp));
        };
        let number = |s: &str, len: usize| {
            (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        let parts: Vec<&str> = day.split('-').collect();
        let date = match parts[..] {
            [y, m, d] => match (number(y, 4), number(m, 2), number(d, 2)) {
                (Some(y), Some(m @ 1..=12), Some(d)) if (1..=days_in(y, m)).contains(&d) => {
                    Some(y * 10_000 + m * 100 + d)
                }
                _ => None,
            },
            _ => None,
        };
        match date {
            Some(date) if time.is_empty() || time.starts_with(['T', ' ']) => Ok(Some(date)),
            _ => Err(bad_day(self, col, stamp)),
        }
    }

    /// The release `backend_version` names: its leading `major.minor.patch`, after an
    /// optional `v` (a missing part is 0; nothing after the first part with more than digits,
    /// `rc3` of `1.0.0rc3` or the `.post1` of `0.8.1.post1`, is read). `None` where the column
    /// is absent or blank, or does not start with a number that fits (`gpt-oss-dev`): the
    /// version is free text, and an unknown one is not an error. Most rows name their
    /// backend's release; the disaggregated TensorRT-LLM rows name Dynamo's (the module
    /// documentation), and only vLLM's is read.
    pub(super) fn release(&self) -> Option<(u32, u32, u32)> {
        let text = self.text("backend_version");
        let text = text.strip_prefix('v').unwrap_or(text);
        let mut numbers = [0u32; 3];
        for (i, part) in text.split('.').take(3).enumerate() {
            let digits = part
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(part.len());
            match part[..digits].parse::<u32>() {
                Ok(n) => numbers[i] = n,
                Err(_) if i == 0 => return None,
                Err(_) => break,
            }
            if digits < part.len() {
                break;
            }
        }
        Some((numbers[0], numbers[1], numbers[2]))
    }

    /// `silicon_concurrency=N` from `silicon_data_source`; `None` when it is not there.
    pub(super) fn concurrency(&self) -> Result<Option<u32>, Error> {
        let col = "silicon_data_source";
        let Some(n) = self.source_field("silicon_concurrency")? else {
            return Ok(None);
        };
        match n.parse::<f64>() {
            Ok(v) if v >= 1.0 && v.fract() == 0.0 && v <= f64::from(MAX_USERS) => {
                Ok(Some(v as u32))
            }
            _ => Err(malformed(
                self.origin,
                self.line,
                col,
                format!("silicon_concurrency '{n}' is not a whole number from 1 to {MAX_USERS}"),
            )),
        }
    }
}

fn bad_day(row: &Row<'_>, col: &str, stamp: &str) -> Error {
    malformed(
        row.origin,
        row.line,
        col,
        format!("measured '{stamp}' is not a date (YYYY-MM-DD)"),
    )
}

/// The client statistics' cells, in the order of [`OUTPUT_COLUMNS`] after `note`.
fn client_cells(c: Option<&ClientStats>) -> [Option<f64>; 7] {
    let Some(c) = c else { return [None; 7] };
    let tpot = |f: fn(&Distribution) -> f64| c.tpot_ms.as_ref().map(f);
    [
        Some(c.ttft_ms.p50),
        Some(c.ttft_ms.p90),
        Some(c.ttft_ms.p99),
        tpot(|d| d.p50),
        tpot(|d| d.p90),
        tpot(|d| d.p99),
        Some(c.output_tokens_per_s),
    ]
}

/// The output CSV: every input row in order, with [`OUTPUT_COLUMNS`] appended.
pub fn render_csv(file: &MeasuredFile, validation: &Validation) -> String {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let header = file
        .header
        .iter()
        .map(String::as_str)
        .chain(OUTPUT_COLUMNS.iter().copied());
    out.write_record(header).expect("writing to memory");
    for ((_, fields), (_, p)) in file.rows.iter().zip(&validation.rows) {
        let num = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_default();
        // A row of the wrong width (its reason says so) is cut or padded to the header's.
        let width = file.header.len();
        let cells = fields
            .iter()
            .cloned()
            .chain(std::iter::repeat(String::new()))
            .take(width)
            .chain([
                num(p.ttft_ms),
                num(p.tpot_ms),
                p.reason.clone().unwrap_or_default(),
                p.note.clone().unwrap_or_default(),
            ])
            .chain(client_cells(p.client.as_ref()).map(num));
        out.write_record(cells).expect("writing to memory");
    }
    String::from_utf8(out.into_inner().expect("writing to memory")).expect("UTF-8 fields")
}

/// Days of month `m` (1–12) of year `y` in the Gregorian calendar.
fn days_in(y: u32, m: u32) -> u32 {
    match m {
        2 if y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "silicon_data_source,backend,model_path,system,mode,isl,osl";

    #[test]
    fn quoted_fields_keep_commas_quotes_and_newlines_and_rows_keep_their_lines() {
        let text = format!(
            "{HEADER}\n \t\n\n\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",h100_sxm,agg,1,2\r\nx,y,z,h200_sxm,agg,3,4\n"
        );
        let file = MeasuredFile::parse(&text, "m.csv").unwrap();
        assert_eq!(file.rows.len(), 2);
        let (line, fields) = &file.rows[0];
        assert_eq!(
            *line, 4,
            "line 2 of blanks and empty line 3 are skipped, not renumbered"
        );
        assert_eq!(fields[..3], ["a,b", "say \"hi\"", "two\nlines"]);
        assert_eq!(
            file.rows[1].0, 6,
            "a record spanning two lines moves the next one"
        );
    }

    #[test]
    fn a_row_of_the_wrong_width_is_kept_and_its_fault_names_the_column() {
        let text = format!("{HEADER}\n1,2,3\n");
        let file = MeasuredFile::parse(&text, "m.csv").unwrap();
        assert_eq!(
            file.width_fault(&file.rows[0].1).as_deref(),
            Some("column 4: 3 fields where the header has 7")
        );
    }

    #[test]
    fn a_rows_measurement_day_is_read_from_its_source_and_a_bad_one_named() {
        let text = format!(
            "{HEADER}\n\"db; measured=2026-03-25T00:00:00.000Z; c\",s,m,g,agg,1,2\n\
             plain,s,m,g,agg,1,2\n\"measured=2026-13-01\",s,m,g,agg,1,2\n\
             \"unmeasured=x; measured=2026-03-251\",s,m,g,agg,1,2\n\
             \"my_silicon_concurrency=4; silicon_concurrency=8\",s,m,g,agg,1,2\n\
             \"measured=2026-03-2é\",s,m,g,agg,1,2\n\
             \"measured=2026-02-29\",s,m,g,agg,1,2\n\
             \"measured=2028-02-29\",s,m,g,agg,1,2\n\
             \"silicon_concurrency=2; silicon_concurrency=3\",s,m,g,agg,1,2\n\
             \"silicon_concurrency=2; silicon_concurrency=2\",s,m,g,agg,1,2\n"
        );
        let file = MeasuredFile::parse(&text, "m.csv").unwrap();
        let row = |i: usize| Row {
            file: &file,
            origin: "m.csv",
            line: file.rows[i].0,
            fields: &file.rows[i].1,
        };
        assert_eq!(row(0).measured_on().unwrap(), Some(20260325));
        assert_eq!(row(1).measured_on().unwrap(), None);
        let err = row(2).measured_on().unwrap_err().to_string();
        assert!(
            err.contains("silicon_data_source") && err.contains("2026-13-01"),
            "{err}"
        );
        // A key that only ends in `measured=` is not it; trailing digits are not a time.
        let err = row(3).measured_on().unwrap_err().to_string();
        assert!(err.contains("2026-03-251"), "{err}");
        // The same for the concurrency: its own field, not one whose key ends in its name.
        assert_eq!(row(4).concurrency().unwrap(), Some(8));
        assert_eq!(row(0).concurrency().unwrap(), None);
        // A character beyond ASCII where the day ends is a bad day, not a panic; so is a
        // day its month does not have.
        let err = row(5).measured_on().unwrap_err().to_string();
        assert!(err.contains("2026-03-2é"), "{err}");
        assert!(row(6).measured_on().is_err());
        assert_eq!(row(7).measured_on().unwrap(), Some(20280229));
        // Given twice: two values are an error naming both, one value twice is that value.
        let err = row(8).concurrency().unwrap_err().to_string();
        assert!(err.contains("given twice, as '2' and as '3'"), "{err}");
        assert_eq!(row(9).concurrency().unwrap(), Some(2));
    }

    #[test]
    fn a_rows_release_is_the_leading_numbers_of_its_backend_version() {
        let text = format!(
            "{HEADER},backend_version\nx,s,m,g,agg,1,2,0.18.0\nx,s,m,g,agg,1,2,1.0.0rc3\n\
             x,s,m,g,agg,1,2,0.5.1-rc0.pre3\nx,s,m,g,agg,1,2,gpt-oss-dev\nx,s,m,g,agg,1,2,\n\
             x,s,m,g,agg,1,2,2\nx,s,m,g,agg,1,2, 0.12.0 \nx,s,m,g,agg,1,2,0.8.1.post2\n\
             x,s,m,g,agg,1,2,v0.14.0\nx,s,m,g,agg,1,2,0.5rc1.3\nx,s,m,g,agg,1,2,99999999999.1\n"
        );
        let file = MeasuredFile::parse(&text, "m.csv").unwrap();
        let release = |i: usize| {
            Row {
                file: &file,
                origin: "m.csv",
                line: file.rows[i].0,
                fields: &file.rows[i].1,
            }
            .release()
        };
        let got: Vec<_> = (0..11).map(release).collect();
        assert_eq!(
            got,
            [
                Some((0, 18, 0)),
                Some((1, 0, 0)),
                Some((0, 5, 1)),
                None,
                None,
                Some((2, 0, 0)),
                Some((0, 12, 0)),
                Some((0, 8, 1)),
                Some((0, 14, 0)),
                // Nothing after a suffix is read; a major number too large is no release.
                Some((0, 5, 0)),
                None,
            ]
        );
    }

    #[test]
    fn a_file_without_a_required_column_is_an_error() {
        let err = MeasuredFile::parse("backend,mode\nvllm,agg\n", "m.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("silicon_data_source"), "{err}");
        assert!(MeasuredFile::parse("", "m.csv").is_err());
        // The header's own line, after blank ones.
        let err = MeasuredFile::parse("\n\nbackend,mode\nvllm,agg\n", "m.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn a_column_named_twice_or_a_file_of_predictions_is_an_error() {
        let err = MeasuredFile::parse(&format!("{HEADER},isl\n"), "m.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1, column isl: named twice"), "{err}");
        let err = MeasuredFile::parse(&format!("{HEADER},predicted_ttft_ms\n"), "m.csv")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column predicted_ttft_ms: is the name of a column validate adds"),
            "{err}"
        );
    }

    #[test]
    fn the_output_quotes_what_needs_quoting() {
        let text = format!("{HEADER}\n\"a,b\",vllm,m,h100_sxm,agg,1,2\n");
        let file = MeasuredFile::parse(&text, "m.csv").unwrap();
        let spec = super::super::RowSpec {
            line: 2,
            backend: "vllm".into(),
            mode: "agg".into(),
            model: "meta-llama/Llama-3.1-8B".into(),
            system: "h100_sxm".into(),
            concurrency: Some(1),
            isl: Some(1),
            osl: Some(2),
            measured_ttft_ms: None,
            measured_tpot_ms: None,
        };
        let p = super::super::Prediction {
            ttft_ms: Some(12.34567),
            tpot_ms: None,
            client: None,
            reason: Some("a \"quoted\", reason".into()),
            note: Some("n".into()),
            scenario: None,
        };
        let v = Validation {
            rows: vec![(spec, p)],
            overall: Default::default(),
            groups: Default::default(),
            averaged: Default::default(),
        };
        let out = render_csv(&file, &v);
        assert_eq!(
            out,
            format!(
                "{HEADER},{}\n\
                 \"a,b\",vllm,m,h100_sxm,agg,1,2,12.3457,,\"a \"\"quoted\"\", reason\",n,,,,,,,\n",
                OUTPUT_COLUMNS.join(",")
            )
        );
    }
}
