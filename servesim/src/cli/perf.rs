//! `servesim perf`: kernel-time predictions and their accuracy.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use servesim_models::backend::Backend;
use servesim_models::calibration::{self, CalibrationTable, Family, import::PublicTable, shipped};
use servesim_models::hardware::GpuCatalog;
use servesim_models::perf::CalibratedTimer;
use servesim_models::perf::calibrated::family_dir;
use servesim_models::perf::evaluate::{leave_shape_out, predict_public_file};

use super::CliError;

/// `servesim perf` subcommands.
#[derive(Subcommand)]
pub enum PerfCommand {
    /// Predict the latency of every row of a kernel table (public layout columns; `latency`
    /// may be missing); writes the rows with `predicted_ms` and `reason` columns added.
    Predict {
        /// GPU SKU (one of `servesim list gpus`, or one from --gpu-file).
        #[arg(long)]
        gpu: String,
        /// Serving backend: trtllm, vllm or sglang.
        #[arg(long)]
        backend: String,
        /// Table kind: gemm_perf, context_attention_perf, generation_attention_perf,
        /// custom_allreduce_perf, nccl_perf.
        #[arg(long)]
        table: String,
        /// Input rows (CSV, optionally gzip).
        #[arg(long)]
        input: PathBuf,
        /// Output CSV (gzip when it ends in .gz).
        #[arg(long)]
        output: PathBuf,
        /// Extra GPU SKUs (CSV with the columns of data/hardware/gpus.csv, or YAML).
        #[arg(long)]
        gpu_file: Option<PathBuf>,
        /// Calibration folder (`<gpu>/<backend>/<family>.csv.gz`) to use instead of the
        /// tables shipped in the binary.
        #[arg(long)]
        calibration: Option<PathBuf>,
    },
    /// Print leave-shape-out accuracy (median and p90 absolute percentage error) per table of
    /// the calibration of a GPU and backend.
    Check {
        /// GPU SKU with tables (shipped: h100_sxm, h200_sxm, b200_sxm, gb200).
        #[arg(long)]
        gpu: String,
        /// Serving backend: trtllm or vllm (nccl is always included).
        #[arg(long)]
        backend: String,
        /// Calibration folder to check instead of the tables shipped in the binary.
        #[arg(long)]
        calibration: Option<PathBuf>,
    },
}

fn m(e: impl std::fmt::Display) -> CliError {
    CliError::Message(e.to_string())
}

const FAMILIES: [Family; 8] = [
    Family::Gemm,
    Family::ContextAttention,
    Family::GenerationAttention,
    Family::CustomAllreduce,
    Family::Nccl,
    Family::Moe,
    Family::MlaContext,
    Family::MlaGeneration,
];

/// The tables of a calibration folder, or the shipped tables of `gpu` (all backends).
fn tables(
    calibration: Option<&Path>,
    cat: &GpuCatalog,
    gpu: &str,
) -> Result<Vec<CalibrationTable>, CliError> {
    if let Some(dir) = calibration {
        return calibration::load_dir(dir).map_err(m);
    }
    let sku = cat.get(gpu).map_err(m)?;
    let source = servesim_models::perf::calibrated::shipped_source(cat, sku).map_err(m)?;
    let mut out = Vec::new();
    for (g, b, f, _) in shipped::SHIPPED {
        if g == source {
            out.extend(shipped::load(g, b, Family::parse(f).map_err(m)?).map_err(m)?);
        }
    }
    Ok(out)
}

/// Runs a `servesim perf` subcommand.
pub fn run(cmd: PerfCommand) -> Result<(), CliError> {
    match cmd {
        PerfCommand::Predict {
            gpu,
            backend,
            table,
            input,
            output,
            gpu_file,
            calibration,
        } => {
            super::check_writable("--output", &output)?;
            let mut cat = GpuCatalog::builtin();
            if let Some(f) = gpu_file {
                cat.load_file(&f).map_err(m)?;
            }
            let backend = Backend::parse(&backend).map_err(m)?;
            let table = PublicTable::parse(&table).map_err(m)?;
            let gpu = cat.get(&gpu).map_err(m)?.sku.clone();
            let set = tables(calibration.as_deref(), &cat, &gpu)?;
            let timer = CalibratedTimer::from_calibration(&set, &cat, &gpu, backend).map_err(m)?;
            let s = predict_public_file(&timer, table, &input, &output).map_err(m)?;
            let source = timer.source_gpu().sku.clone();
            let via = if source == gpu {
                String::new()
            } else {
                format!(" (efficiencies from {source} tables, {gpu} datasheet)")
            };
            eprintln!(
                "{}: {} rows, {} predicted{via}; wrote {}",
                input.display(),
                s.rows,
                s.predicted,
                output.display()
            );
            Ok(())
        }
        PerfCommand::Check {
            gpu,
            backend,
            calibration,
        } => {
            let cat = GpuCatalog::builtin();
            let be = Backend::parse(&backend).map_err(m)?;
            let gpu = cat.get(&gpu).map_err(m)?.sku.clone();
            let set = tables(calibration.as_deref(), &cat, &gpu)?;
            if !set.iter().any(|t| t.header.gpu == gpu) {
                let place = calibration
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| {
                        format!("the shipped tables ({})", shipped::gpus().join(", "))
                    });
                return Err(CliError::Message(format!(
                    "no tables for {gpu} in {place}; the check needs measurements of that GPU"
                )));
            }
            let timer = CalibratedTimer::from_calibration(&set, &cat, &gpu, be).map_err(m)?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "leave-shape-out accuracy, {gpu} / {} (absolute percentage error)",
                be.name()
            )
            .map_err(m)?;
            writeln!(
                out,
                "{:<38} {:>8} {:>9} {:>9}",
                "table", "rows", "median", "p90"
            )
            .map_err(m)?;
            for fam in FAMILIES {
                let bdir = family_dir(be, fam, |d| {
                    set.iter().any(|t| {
                        t.header.gpu == gpu && t.header.family == fam && t.header.backend == d
                    })
                });
                let rows: Vec<_> = set
                    .iter()
                    .filter(|t| {
                        t.header.gpu == gpu && t.header.backend == bdir && t.header.family == fam
                    })
                    .flat_map(|t| t.rows.iter().copied())
                    .collect();
                if rows.is_empty() {
                    continue;
                }
                let s = leave_shape_out(&timer, &rows);
                let stem = if fam == Family::Nccl {
                    "nccl"
                } else {
                    fam.name()
                };
                let name = format!("{stem}_perf ({bdir})");
                writeln!(
                    out,
                    "{:<38} {:>8} {:>8.2}% {:>8.2}%",
                    name,
                    s.n,
                    100.0 * s.median,
                    100.0 * s.p90
                )
                .map_err(m)?;
            }
            Ok(())
        }
    }
}
