//! The CSV rows of a table, calibration format or public layout: columns found by name, and
//! typed fields whose errors name the file, line and column.

use std::path::Path;

use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};

/// Column positions of a CSV header, looked up by name.
pub(crate) struct Columns {
    names: Vec<String>,
    /// The header's line in its file, for errors.
    line: u64,
}

impl Columns {
    /// The columns of the header `rec`, on `line` of its file.
    pub(crate) fn new(rec: &csv::StringRecord, line: u64) -> Self {
        Columns {
            names: rec.iter().map(|s| s.trim().to_string()).collect(),
            line,
        }
    }

    /// Index of the first of `names` present.
    pub(crate) fn find(&self, names: &[&str]) -> Option<usize> {
        names
            .iter()
            .find_map(|n| self.names.iter().position(|c| c == n))
    }

    pub(crate) fn require(&self, names: &[&str], path: &Path) -> Result<usize> {
        self.find(names).ok_or_else(|| ModelsError::Csv {
            path: path.to_path_buf(),
            line: self.line,
            column: Some(names[0].to_string()),
            message: format!("missing column (header has: {})", self.names.join(",")),
        })
    }
}

/// The CSV body of a table (calibration format or public layout): fields trimmed (by the
/// reader, or as [`RowCtx`] reads them from an [`TableReader::untrimmed`] one), rows
/// shorter than the header allowed (a short row is reported by the field it lacks), longer
/// ones not, errors naming the file and line.
pub(crate) struct TableReader<'a> {
    rdr: csv::Reader<&'a [u8]>,
    bytes: &'a [u8],
    path: &'a Path,
    /// The header's width, once read.
    width: usize,
    /// The header's line in the file, once read.
    header_line: u64,
    /// The line of the file `bytes` start on (after any header comments).
    first_line: u64,
    /// A byte of `bytes` and the line of the file it is on: where lines were last counted
    /// (the reader's own count starts before the blank lines it skips, and at the start of
    /// `bytes`, after any header comments).
    counted: (usize, u64),
}

impl<'a> TableReader<'a> {
    /// A reader of the CSV `bytes` of the file at `path`.
    pub(crate) fn new(bytes: &'a [u8], path: &'a Path) -> Self {
        Self::trimming(bytes, path, csv::Trim::All)
    }

    /// A reader whose records keep their fields' spaces, for rows read only through
    /// [`RowCtx`] (which trims each field it reads): the csv crate's trimming rebuilds
    /// every record, some fifth of the time a GPU's shipped tables take to load.
    pub(crate) fn untrimmed(bytes: &'a [u8], path: &'a Path) -> Self {
        Self::trimming(bytes, path, csv::Trim::Headers)
    }

    fn trimming(bytes: &'a [u8], path: &'a Path, trim: csv::Trim) -> Self {
        let rdr = csv::ReaderBuilder::new()
            .trim(trim)
            .flexible(true)
            .from_reader(bytes);
        TableReader {
            rdr,
            bytes,
            path,
            width: usize::MAX,
            header_line: 1,
            first_line: 1,
            counted: (0, 1),
        }
    }

    /// The same reader of bytes that follow `lines` lines of the file (its header comments).
    pub(crate) fn after_lines(mut self, lines: u64) -> Self {
        self.first_line = lines + 1;
        self.counted = (0, self.first_line);
        self
    }

    /// The line of the file a record found from `byte` on starts on (past blank lines).
    fn line_of(&mut self, byte: u64) -> u64 {
        let mut start = (byte as usize).min(self.bytes.len());
        while start < self.bytes.len() && matches!(self.bytes[start], b'\n' | b'\r') {
            start += 1;
        }
        // Counted on from where the last count stopped; from the start for a byte before it.
        let (from, line) = if start >= self.counted.0 {
            self.counted
        } else {
            (0, self.first_line)
        };
        let line = line + self.lines_in(from, start);
        self.counted = (start, line);
        line
    }

    fn lines_in(&self, from: usize, to: usize) -> u64 {
        self.bytes[from..to].iter().filter(|&&b| b == b'\n').count() as u64
    }

    fn fault(&self, line: u64, column: Option<String>, message: String) -> ModelsError {
        ModelsError::Csv {
            path: self.path.to_path_buf(),
            line,
            column,
            message,
        }
    }

    /// A CSV error, at its line in the file.
    fn csv_fault(&mut self, e: &csv::Error) -> ModelsError {
        let mut err = crate::hardware::csv_error(self.path, e);
        if let (ModelsError::Csv { line, .. }, Some(p)) = (&mut err, e.position()) {
            *line = self.line_of(p.byte());
        }
        err
    }

    /// The header record; a column named twice is an error (which of the two a row's
    /// value is read from would be a guess).
    pub(crate) fn header(&mut self) -> Result<csv::StringRecord> {
        let header = match self.rdr.headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(self.csv_fault(&e)),
        };
        self.header_line = self.line_of(0);
        for (i, name) in header.iter().enumerate() {
            if !name.is_empty() && header.iter().take(i).any(|n| n == name) {
                let message = "named twice in the header".into();
                return Err(self.fault(self.header_line, Some(name.into()), message));
            }
        }
        self.width = header.len();
        Ok(header)
    }

    /// The header's columns ([`Self::header`]), with its line for errors.
    pub(crate) fn columns(&mut self) -> Result<Columns> {
        let header = self.header()?;
        Ok(Columns::new(&header, self.header_line))
    }

    /// The header's line in the file (1 before it is read).
    pub(crate) fn header_line(&self) -> u64 {
        self.header_line
    }

    /// Reads the next record into `rec`: its line in the file (1-based), `None` at the end.
    pub(crate) fn next_record(&mut self, rec: &mut csv::StringRecord) -> Result<Option<u64>> {
        match self.rdr.read_record(rec) {
            Ok(true) => {
                let byte = rec.position().map_or(0, |p| p.byte());
                let line = self.line_of(byte);
                if rec.len() > self.width {
                    let message =
                        format!("{} fields where the header has {}", rec.len(), self.width);
                    return Err(self.fault(line, None, message));
                }
                Ok(Some(line))
            }
            Ok(false) => Ok(None),
            Err(e) => Err(self.csv_fault(&e)),
        }
    }
}

/// A row being parsed: gives typed fields with errors naming file, line and column.
pub(crate) struct RowCtx<'a> {
    pub(crate) path: &'a Path,
    pub(crate) line: u64,
    pub(crate) rec: &'a csv::StringRecord,
    pub(crate) cols: &'a Columns,
}

impl RowCtx<'_> {
    pub(crate) fn err(&self, idx: usize, message: String) -> ModelsError {
        ModelsError::Csv {
            path: self.path.to_path_buf(),
            line: self.line,
            column: Some(
                self.cols
                    .names
                    .get(idx)
                    .cloned()
                    .unwrap_or_else(|| format!("#{}", idx + 1)),
            ),
            message,
        }
    }

    pub(crate) fn str(&self, idx: usize) -> Result<&str> {
        self.rec
            .get(idx)
            .map(str::trim)
            .ok_or_else(|| self.err(idx, format!("row has only {} fields", self.rec.len())))
    }

    pub(crate) fn int(&self, idx: usize) -> Result<u64> {
        let s = self.str(idx)?;
        // Accept integral floats such as "256.0".
        match s.parse::<u64>() {
            Ok(v) => Ok(v),
            Err(_) => match s.parse::<f64>() {
                Ok(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => {
                    Ok(f as u64)
                }
                _ => Err(self.err(idx, format!("`{s}` is not a non-negative integer"))),
            },
        }
    }

    pub(crate) fn pos_int(&self, idx: usize) -> Result<u64> {
        let v = self.int(idx)?;
        if v == 0 {
            return Err(self.err(idx, "must be at least 1".into()));
        }
        Ok(v)
    }

    pub(crate) fn pos_u32(&self, idx: usize) -> Result<u32> {
        let v = self.pos_int(idx)?;
        u32::try_from(v).map_err(|_| self.err(idx, format!("{v} is too large")))
    }

    pub(crate) fn u32(&self, idx: usize) -> Result<u32> {
        let v = self.int(idx)?;
        u32::try_from(v).map_err(|_| self.err(idx, format!("{v} is too large")))
    }

    /// A measured kernel latency, ms: from a nanosecond to a million seconds (outside
    /// them a number is no kernel's time, and errors relative to it overflow).
    pub(crate) fn latency(&self, idx: usize) -> Result<f64> {
        let s = self.str(idx)?;
        match s.parse::<f64>() {
            Ok(v) if (1e-6..=1e9).contains(&v) => Ok(v),
            Ok(v) if v > 0.0 && v.is_finite() => Err(self.err(
                idx,
                format!("{v:e} ms is no kernel's time (from 1e-6 to 1e9 ms)"),
            )),
            _ => Err(self.err(idx, format!("`{s}` is not a positive latency in ms"))),
        }
    }

    pub(crate) fn unsupported(&self, idx: usize, message: String) -> ModelsError {
        ModelsError::Unsupported {
            path: self.path.to_path_buf(),
            line: self.line,
            column: self
                .cols
                .names
                .get(idx)
                .cloned()
                .unwrap_or_else(|| format!("#{}", idx + 1)),
            message,
        }
    }

    pub(crate) fn dtype(&self, idx: usize) -> Result<Dtype> {
        Dtype::parse(self.str(idx)?).map_err(|e| self.unsupported(idx, e.to_string()))
    }

    pub(crate) fn parse<T>(&self, idx: usize, f: impl FnOnce(&str) -> Result<T>) -> Result<T> {
        f(self.str(idx)?).map_err(|e| self.unsupported(idx, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of each record of `text` read after `before` lines, or the error's line.
    fn lines(text: &str, before: u64) -> (u64, std::result::Result<Vec<u64>, u64>) {
        let path = Path::new("t.csv");
        let mut rdr = TableReader::new(text.as_bytes(), path).after_lines(before);
        let header = rdr.header().map(|_| rdr.header_line());
        let mut rec = csv::StringRecord::new();
        let mut out = Vec::new();
        loop {
            match rdr.next_record(&mut rec) {
                Ok(Some(line)) => out.push(line),
                Ok(None) => return (header.unwrap(), Ok(out)),
                Err(ModelsError::Csv { line, .. }) => return (header.unwrap(), Err(line)),
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn a_latency_is_a_kernels_time() {
        let path = Path::new("t.csv");
        let rec = csv::StringRecord::from(vec!["0.012", "1e-320", "1e308", "-1", "x"]);
        let cols = Columns::new(&csv::StringRecord::from(vec!["a", "b", "c", "d", "e"]), 1);
        let row = RowCtx {
            path,
            line: 2,
            rec: &rec,
            cols: &cols,
        };
        assert_eq!(row.latency(0).unwrap(), 0.012);
        for i in 1..5 {
            assert!(row.latency(i).is_err(), "{}", &rec[i]);
        }
        assert!(
            row.latency(2)
                .unwrap_err()
                .to_string()
                .contains("1e308 ms is no kernel's time")
        );
    }

    #[test]
    fn records_and_errors_name_their_own_line_in_the_file() {
        // Blank lines before the header and between records, LF and CRLF alike.
        for eol in ["\n", "\r\n"] {
            let text = ["", "a,b", "1,2", "", "", "3,4", "5,6"].join(eol);
            assert_eq!(lines(&text, 0), (2, Ok(vec![3, 6, 7])), "{eol:?}");
            // After four lines of header comments.
            assert_eq!(lines(&text, 4), (6, Ok(vec![7, 10, 11])), "{eol:?}");
            // A record wider than the header, after blank lines.
            let text = ["a,b", "1,2", "", "3,4,5"].join(eol);
            assert_eq!(lines(&text, 0), (1, Err(4)), "{eol:?}");
        }
    }
}
