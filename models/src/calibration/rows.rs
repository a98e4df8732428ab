//! The CSV rows of a table, calibration format or public layout: columns found by name, and
//! typed fields whose errors name the file, line and column.

use std::path::Path;

use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};

/// Column positions of a CSV header, looked up by name.
pub(crate) struct Columns {
    names: Vec<String>,
}

impl Columns {
    pub(crate) fn new(rec: &csv::StringRecord) -> Self {
        Columns {
            names: rec.iter().map(|s| s.trim().to_string()).collect(),
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
            line: 1,
            column: Some(names[0].to_string()),
            message: format!("missing column (header has: {})", self.names.join(",")),
        })
    }
}

/// The CSV body of a table (calibration format or public layout): fields trimmed, rows
/// shorter than the header allowed (a short row is reported by the field it lacks), longer
/// ones not, errors naming the file and line.
pub(crate) struct TableReader<'a> {
    rdr: csv::Reader<&'a [u8]>,
    path: &'a Path,
    /// The header's width, once read.
    width: usize,
    /// What to add to the lines the reader counts: it counts a CRLF header as ending on
    /// line 1 and every line after it one short (csv 1.x), as the trace reader finds too.
    line_offset: u64,
}

impl<'a> TableReader<'a> {
    /// A reader of the CSV `bytes` of the file at `path`.
    pub(crate) fn new(bytes: &'a [u8], path: &'a Path) -> Self {
        let rdr = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(true)
            .from_reader(bytes);
        TableReader {
            rdr,
            path,
            width: usize::MAX,
            line_offset: 0,
        }
    }

    fn fault(&self, line: u64, column: Option<String>, message: String) -> ModelsError {
        ModelsError::Csv {
            path: self.path.to_path_buf(),
            line,
            column,
            message,
        }
    }

    /// The header record; a column named twice is an error (which of the two a row's
    /// value is read from would be a guess).
    pub(crate) fn header(&mut self) -> Result<csv::StringRecord> {
        let header = self
            .rdr
            .headers()
            .cloned()
            .map_err(|e| crate::hardware::csv_error(self.path, &e))?;
        for (i, name) in header.iter().enumerate() {
            if !name.is_empty() && header.iter().take(i).any(|n| n == name) {
                return Err(self.fault(1, Some(name.into()), "named twice in the header".into()));
            }
        }
        self.width = header.len();
        // The first record is on line 2.
        self.line_offset = 2u64.saturating_sub(self.rdr.position().line());
        Ok(header)
    }

    /// Reads the next record into `rec`: its line in the CSV (1-based), `None` at the end.
    pub(crate) fn next_record(&mut self, rec: &mut csv::StringRecord) -> Result<Option<u64>> {
        match self.rdr.read_record(rec) {
            Ok(true) => {
                let line = rec.position().map_or(0, |p| p.line() + self.line_offset);
                if rec.len() > self.width {
                    let message =
                        format!("{} fields where the header has {}", rec.len(), self.width);
                    return Err(self.fault(line, None, message));
                }
                Ok(Some(line))
            }
            Ok(false) => Ok(None),
            Err(e) => Err(crate::hardware::csv_error(self.path, &e)),
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

    pub(crate) fn latency(&self, idx: usize) -> Result<f64> {
        let s = self.str(idx)?;
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
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
