//! The calibration format (v1): one gzip CSV per kernel family, with a `# key: value` header.
//!
//! Layout: `<root>/<gpu>/<backend>/<family>.csv.gz` (`backend`: trtllm, vllm, sglang, or nccl
//! for collectives). See `docs/calibration-format.md` for the full description. This module
//! reads and writes the format ([`CalibrationTable`]), converts the public kernel-table layout
//! ([`import`]), and holds the tables shipped inside the crate ([`shipped`]).

mod dispatch_import;
mod family;
mod fields;
mod gdn_import;
pub mod import;
mod mla_parts_import;
mod row_op;
mod rows;
pub mod shipped;

pub use family::Family;
use row_op::family_row;
pub(crate) use row_op::row_op;
pub(crate) use rows::{Columns, RowCtx, TableReader};

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{ModelsError, Result};
use crate::perf::ops::KernelOp;

/// The major version of the format this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The header of a calibration file.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Format major version (`# servesim-calibration: 1`).
    pub version: u32,
    /// Kernel family.
    pub family: Family,
    /// GPU SKU measured.
    pub gpu: String,
    /// Backend (`trtllm`, `vllm`, `sglang`, `nccl`).
    pub backend: String,
    /// Optional and unknown keys (`backend_version`, `source`, `license`, `measured_on`,
    /// `created`, ...), kept in key order.
    pub extra: BTreeMap<String, String>,
}

/// One calibration file: header and measured rows (operation, latency in ms).
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationTable {
    /// The header.
    pub header: Header,
    /// Measured rows, in file order.
    pub rows: Vec<(KernelOp, f64)>,
}

/// Reads a whole file, un-gzipping it when it starts with the gzip magic bytes.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| ModelsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    gunzip_if_needed(raw, path)
}

pub(crate) fn gunzip_if_needed(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|source| ModelsError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

impl CalibrationTable {
    /// Reads a calibration file (gzip or plain CSV).
    pub fn read(path: &Path) -> Result<Self> {
        Self::parse(&read_maybe_gz(path)?, path)
    }

    /// Parses the bytes of a calibration file (plain CSV or gzip); `path` names it in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        let owned;
        let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
            owned = gunzip_if_needed(bytes.to_vec(), path)?;
            owned.as_slice()
        } else {
            bytes
        };
        let text = std::str::from_utf8(bytes).map_err(|e| ModelsError::CalibrationHeader {
            path: path.to_path_buf(),
            message: format!("not UTF-8 text: {e}"),
        })?;
        let hdr_err = |message: String| ModelsError::CalibrationHeader {
            path: path.to_path_buf(),
            message,
        };
        let mut keys: BTreeMap<String, String> = BTreeMap::new();
        let mut body_start = 0usize;
        let mut comment_lines = 0u64;
        for line in text.split_inclusive('\n') {
            let t = line.trim();
            if let Some(rest) = t.strip_prefix('#') {
                comment_lines += 1;
                body_start += line.len();
                let Some((k, v)) = rest.split_once(':') else {
                    return Err(hdr_err(format!(
                        "line {comment_lines}: comment is not `# key: value`"
                    )));
                };
                let k = k.trim();
                if keys.insert(k.to_string(), v.trim().to_string()).is_some() {
                    return Err(hdr_err(format!(
                        "line {comment_lines}: key `{k}` is given twice"
                    )));
                }
            } else if t.is_empty() && keys.is_empty() {
                comment_lines += 1;
                body_start += line.len();
            } else {
                break;
            }
        }
        let mut take = |k: &str| {
            keys.remove(k)
                .ok_or_else(|| hdr_err(format!("missing required header key `# {k}:`")))
        };
        let version_s = take("servesim-calibration")?;
        let major = version_s.split('.').next().unwrap_or("").trim();
        let version: u32 = major.parse().map_err(|_| {
            hdr_err(format!(
                "`servesim-calibration: {version_s}` is not a version number"
            ))
        })?;
        if version > FORMAT_VERSION || version == 0 {
            return Err(hdr_err(format!(
                "calibration format version {version_s} is not supported (this build reads version {FORMAT_VERSION})"
            )));
        }
        let family = Family::parse(&take("family")?).map_err(|e| hdr_err(e.to_string()))?;
        let gpu = take("gpu")?;
        let backend = take("backend")?;
        let header = Header {
            version,
            family,
            gpu,
            backend,
            extra: keys,
        };

        let mut rdr = TableReader::untrimmed(&bytes[body_start..], path).after_lines(comment_lines);
        let cols = rdr.columns()?;
        let parse_row = family_row(family, &cols, path)?;
        let mut rows = Vec::new();
        let mut rec = csv::StringRecord::new();
        while let Some(line) = rdr.next_record(&mut rec)? {
            let ctx = RowCtx {
                path,
                line,
                rec: &rec,
                cols: &cols,
            };
            rows.push(parse_row(&ctx)?);
        }
        Ok(CalibrationTable { header, rows })
    }

    /// The CSV text (with header comments) of this table.
    pub fn to_csv_string(&self) -> String {
        let h = &self.header;
        let mut s = format!(
            "# servesim-calibration: {FORMAT_VERSION}\n# family: {}\n# gpu: {}\n# backend: {}\n",
            h.family, h.gpu, h.backend
        );
        for (k, v) in &h.extra {
            s += &format!("# {k}: {v}\n");
        }
        s += &h.family.columns().join(",");
        s.push('\n');
        for (op, lat) in &self.rows {
            let fields = fields::op_fields(op);
            s += &format!("{fields},{lat}\n");
        }
        s
    }

    /// Writes the table as gzip CSV to `path` (creating parent folders).
    pub fn write_gz(&self, path: &Path) -> Result<()> {
        let io = |source| ModelsError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(self.to_csv_string().as_bytes()).map_err(io)?;
        let bytes = enc.finish().map_err(io)?;
        std::fs::write(path, bytes).map_err(io)
    }

    /// The path of this table under a calibration root.
    pub fn path_under(&self, root: &Path) -> PathBuf {
        family_path(
            root,
            &self.header.gpu,
            &self.header.backend,
            self.header.family,
        )
    }
}

/// `<root>/<gpu>/<backend>/<family>.csv.gz`.
pub fn family_path(root: &Path, gpu: &str, backend: &str, family: Family) -> PathBuf {
    root.join(gpu)
        .join(backend)
        .join(format!("{}.csv.gz", family.name()))
}

/// The entries of a folder, sorted by path (a listing order that does not depend on the
/// file system).
pub(crate) fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| ModelsError::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    v.sort();
    Ok(v)
}

/// All calibration tables found under a root folder (`<gpu>/<backend>/<family>.csv.gz`),
/// sorted by path. Files whose header disagrees with their place are an error.
pub fn load_dir(root: &Path) -> Result<Vec<CalibrationTable>> {
    let mut paths = Vec::new();
    for g in sorted_entries(root)?.into_iter().filter(|p| p.is_dir()) {
        for b in sorted_entries(&g)?.into_iter().filter(|p| p.is_dir()) {
            paths.extend(sorted_entries(&b)?.into_iter().filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(".csv.gz") || n.ends_with(".csv"))
            }));
        }
    }
    let mut out = Vec::new();
    for p in paths {
        let t = CalibrationTable::read(&p)?;
        let dir_backend = p
            .parent()
            .and_then(|d| d.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("");
        let dir_gpu = p
            .parent()
            .and_then(|d| d.parent())
            .and_then(|d| d.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("");
        if t.header.gpu != dir_gpu || t.header.backend != dir_backend {
            return Err(ModelsError::CalibrationHeader {
                path: p.clone(),
                message: format!(
                    "header says gpu `{}` backend `{}` but the file lies under `{dir_gpu}/{dir_backend}`",
                    t.header.gpu, t.header.backend
                ),
            });
        }
        out.push(t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "# servesim-calibration: 1\n# family: gemm\n# gpu: h100_sxm\n# backend: trtllm\n# source: test\n# weird_key: kept\ndtype,m,n,k,latency_ms\nbfloat16,1,128,128,0.01\nfp8,2,128,128,0.02\n";

    #[test]
    fn round_trip_and_dtype_normalised() {
        let t = CalibrationTable::parse(GOOD.as_bytes(), Path::new("t.csv")).unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(
            t.header.extra.get("weird_key").map(String::as_str),
            Some("kept")
        );
        let s = t.to_csv_string();
        assert!(s.contains("bf16,1,128,128,0.01"));
        let t2 = CalibrationTable::parse(s.as_bytes(), Path::new("t2.csv")).unwrap();
        assert_eq!(t, t2);
    }

    #[test]
    fn spaces_around_fields_and_names_are_not_part_of_them() {
        // A hand-edited table: its rows are read without the csv crate's trimming, each
        // field trimmed as it is read.
        let spaced = "# servesim-calibration: 1\n# family: gemm\n# gpu: h100_sxm\n# backend: trtllm\n# source: test\n# weird_key: kept\n dtype , m,n ,k,latency_ms \n bfloat16 , 1,128 ,128,\t0.01\nfp8, 2 ,128,128,0.02  \n";
        let t = CalibrationTable::parse(spaced.as_bytes(), Path::new("t.csv")).unwrap();
        let good = CalibrationTable::parse(GOOD.as_bytes(), Path::new("t.csv")).unwrap();
        assert_eq!(t, good);
        let bad = spaced.replace(" 2 ,", " x ,");
        let e = CalibrationTable::parse(bad.as_bytes(), Path::new("t.csv"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.csv:9") && e.contains("`m`") && e.contains("`x`"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let bad = GOOD.replace("fp8,2,128", "fp8,x,128");
        let e = CalibrationTable::parse(bad.as_bytes(), Path::new("t.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.csv:9") && e.contains("`m`"), "{e}");
        let newer = GOOD.replace("calibration: 1", "calibration: 2");
        let e = CalibrationTable::parse(newer.as_bytes(), Path::new("t.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.csv") && e.contains("version 2"), "{e}");
        let missing = GOOD.replace("# gpu: h100_sxm\n", "");
        let e = CalibrationTable::parse(missing.as_bytes(), Path::new("t.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`# gpu:`"), "{e}");
        let twice = GOOD.replace("# gpu: h100_sxm\n", "# gpu: h100_sxm\n# gpu: h200_sxm\n");
        let e = CalibrationTable::parse(twice.as_bytes(), Path::new("t.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 4: key `gpu` is given twice"), "{e}");
        let p2p = "# servesim-calibration: 1\n# family: p2p_copy\n# gpu: h100_sxm\n# backend: nccl\n# measured_on: cpu-dry-run\nsrc_gpu,dst_gpu,bytes,latency_ms\n0,1,1048576,0.01\n";
        assert_eq!(
            CalibrationTable::parse(p2p.as_bytes(), Path::new("p"))
                .unwrap()
                .rows
                .len(),
            1
        );
    }
}
