//! Accuracy tools: predicting rows of the public kernel-table layout, and the leave-shape-out
//! check of a calibrated timer.

use std::io::Write;
use std::path::Path;

use crate::calibration::import::{PublicRowParser, PublicTable};
use crate::calibration::{TableReader, read_maybe_gz};
use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};
use crate::hardware::GpuSku;
use crate::perf::calibrated::CalibratedTimer;
use crate::perf::ops::KernelOp;

/// Counts of a [`predict_public_file`] run.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PredictSummary {
    /// Rows read.
    pub rows: usize,
    /// Rows predicted.
    pub predicted: usize,
    /// Rows with a latency, predicted: their median absolute percentage error (0 if none).
    pub median_ape: f64,
}

/// Reads `input` (a public-layout table of kind `table`, plain or gzip CSV; `latency` optional),
/// predicts every row with `timer`, and writes `output` (gzip when it ends in `.gz`): every input
/// row in order with `predicted_ms` and `reason` columns added. A row naming something the
/// models cannot handle (an unknown dtype, collective, implementation) gets an empty
/// `predicted_ms` and a reason; a malformed row is an error naming its line and column.
pub fn predict_public_file(
    timer: &CalibratedTimer,
    table: PublicTable,
    input: &Path,
    output: &Path,
) -> Result<PredictSummary> {
    let bytes = read_maybe_gz(input)?;
    let mut rdr = TableReader::new(&bytes, input);
    let head = rdr.header()?;
    let parser = PublicRowParser::new(table, &head, rdr.header_line(), input)?;
    let mut wtr = csv::Writer::from_writer(Vec::new());
    let werr = |e: csv::Error| ModelsError::Io {
        path: output.to_path_buf(),
        source: std::io::Error::other(e),
    };
    let mut out_head = head.clone();
    out_head.push_field("predicted_ms");
    out_head.push_field("reason");
    wtr.write_record(&out_head).map_err(werr)?;
    let mut summary = PredictSummary::default();
    let mut apes = Vec::new();
    let mut rec = csv::StringRecord::new();
    while let Some(line) = rdr.next_record(&mut rec)? {
        summary.rows += 1;
        let mut out = rec.clone();
        match parser.parse(&rec, line) {
            Ok((op, _)) if let Some((column, why)) = cannot_run(&op, timer.gpu()) => {
                out.push_field("");
                out.push_field(&format!("column {column}: {why}"));
            }
            Ok((op, lat)) => {
                let p = timer.time_ms(&op);
                if let Some(l) = lat {
                    apes.push(((p - l) / l).abs());
                }
                summary.predicted += 1;
                out.push_field(&format!("{p:.8}"));
                out.push_field("");
            }
            Err(ModelsError::Unsupported {
                column, message, ..
            }) => {
                out.push_field("");
                out.push_field(&format!("column {column}: {message}"));
            }
            Err(e) => return Err(e),
        }
        wtr.write_record(&out).map_err(werr)?;
    }
    let data = wtr.into_inner().map_err(|e| ModelsError::Io {
        path: output.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let io = |source| ModelsError::Io {
        path: output.to_path_buf(),
        source,
    };
    if output.extension().and_then(|e| e.to_str()) == Some("gz") {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&data).map_err(io)?;
        std::fs::write(output, enc.finish().map_err(io)?).map_err(io)?;
    } else {
        std::fs::write(output, data).map_err(io)?;
    }
    summary.median_ape = ErrorStats::from_errors(apes).median;
    Ok(summary)
}

/// Why `gpu` cannot run `op` as a row gives it, if it cannot, with the column at fault: a
/// format its tensor cores lack (NVFP4 before Blackwell, [`GpuSku::runs`]), or query heads
/// that do not share the KV heads evenly (each KV head serves a whole group of query heads
/// in grouped-query attention, so no attention kernel takes such a shape).
fn cannot_run(op: &KernelOp, gpu: &GpuSku) -> Option<(&'static str, String)> {
    let lacks = |column, d: Dtype| {
        (!gpu.runs(d)).then(|| {
            let why = format!(
                "{d} needs FP4 tensor cores, which {} does not have",
                gpu.sku
            );
            (column, why)
        })
    };
    match op {
        KernelOp::Gemm(g) => lacks("gemm_dtype", g.dtype),
        KernelOp::ContextAttention(a) | KernelOp::GenerationAttention(a) => {
            if a.num_kv_heads == 0 || a.num_heads % a.num_kv_heads != 0 {
                let why = format!(
                    "{} query heads do not share {} KV heads evenly",
                    a.num_heads, a.num_kv_heads
                );
                return Some(("num_key_value_heads", why));
            }
            lacks("attn_dtype", a.attn_dtype).or_else(|| lacks("kv_cache_dtype", a.kv_dtype))
        }
        _ => None,
    }
}

/// Median and 90th percentile of absolute relative errors.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ErrorStats {
    /// Rows evaluated.
    pub n: usize,
    /// Median absolute relative error (0.03 = 3 %).
    pub median: f64,
    /// 90th-percentile absolute relative error.
    pub p90: f64,
}

impl ErrorStats {
    /// Statistics of `(row, measured, predicted)` triples' absolute relative errors.
    pub fn of_predictions<T>(rows: &[(T, f64, f64)]) -> Self {
        Self::from_errors(
            rows.iter()
                .map(|(_, measured, predicted)| ((predicted - measured) / measured).abs())
                .collect(),
        )
    }

    /// Statistics of a set of absolute relative errors (nearest-rank percentiles).
    pub fn from_errors(mut e: Vec<f64>) -> Self {
        if e.is_empty() {
            return ErrorStats::default();
        }
        e.sort_by(f64::total_cmp);
        let rank = |q: f64| e[((q * e.len() as f64).ceil() as usize).clamp(1, e.len()) - 1];
        ErrorStats {
            n: e.len(),
            median: rank(0.5),
            p90: rank(0.9),
        }
    }
}

/// Leave-shape-out errors: each measured row predicted from the timer's tables with every row of
/// the same shape removed; rows with no other row in their category are skipped.
pub fn leave_shape_out(timer: &CalibratedTimer, rows: &[(KernelOp, f64)]) -> ErrorStats {
    ErrorStats::of_predictions(&leave_shape_out_predictions(timer, rows))
}

/// Each measured row with its leave-shape-out prediction, ms (see [`leave_shape_out`]), for a
/// caller that wants the rows as well as their [`ErrorStats::of_predictions`].
pub fn leave_shape_out_predictions<'a>(
    timer: &CalibratedTimer,
    rows: &'a [(KernelOp, f64)],
) -> Vec<(&'a KernelOp, f64, f64)> {
    rows.iter()
        .filter_map(|(op, lat)| timer.time_ms_leave_out(op).map(|p| (op, *lat, p)))
        .collect()
}

/// The spread of a table's repeated measurements of one kernel call: for every row of a call
/// measured more than once, the error the call's mean (which the simulator reads) makes on
/// it, `|mean / row − 1|`, as a prediction's error is taken (rows measured once are not
/// counted; `n` is the rows that are). It is about the least error any one prediction of
/// such a call can make on its rows, so where it is large so is the table's leave-shape-out
/// error (a public table's rows of different models can time one call, as the simulator
/// reads it, more than once).
pub fn repeat_spread(rows: &[(KernelOp, f64)]) -> ErrorStats {
    // `KernelOp` is neither `Ord` nor `Hash`; its `Debug` form names every field, so it keys
    // one call exactly.
    let mut by_call: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for (op, ms) in rows {
        by_call.entry(format!("{op:?}")).or_default().push(*ms);
    }
    let errors = by_call
        .values()
        .filter(|ms| ms.len() > 1)
        .flat_map(|ms| {
            let mean = ms.iter().sum::<f64>() / ms.len() as f64;
            ms.iter().map(move |m| (mean / m - 1.0).abs())
        })
        .collect();
    ErrorStats::from_errors(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::Dtype;
    use crate::perf::ops::GemmShape;

    fn gemm(m: u64) -> KernelOp {
        KernelOp::Gemm(GemmShape {
            dtype: Dtype::Bf16,
            m,
            n: 4096,
            k: 4096,
        })
    }

    #[test]
    fn repeat_spread_is_the_mean_s_error_on_calls_measured_more_than_once() {
        // One call measured at 1 and 4 ms (mean 2.5: 150 % over the first, 37.5 % under the
        // second), one once.
        let rows = [(gemm(1), 1.0), (gemm(2), 5.0), (gemm(1), 4.0)];
        let s = repeat_spread(&rows);
        assert_eq!(s.n, 2);
        assert!((s.median - 0.375).abs() < 1e-12 && (s.p90 - 1.5).abs() < 1e-12);
        assert_eq!(repeat_spread(&rows[..2]), ErrorStats::default());
    }
}
