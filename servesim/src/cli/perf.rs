//! `servesim perf`: kernel-time predictions and their accuracy.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use servesim::iteration::{Launch, iteration_breakdown};
use servesim::scenario::{Override, Scenario};
use servesim::text::counted;
use servesim_models::backend::Backend;
use servesim_models::calibration::import::PublicTable;
use servesim_models::hardware::GpuCatalog;
use servesim_models::llm::{LlmSpec, Parallelism};
use servesim_models::perf::check::{check_calibration, gpu_tables};
use servesim_models::perf::evaluate::predict_public_file;
use servesim_models::perf::provenance::{KernelProvenance, Steps};
use servesim_models::perf::{CalibratedTimer, IterationPredictor, KernelTimer, PrefillChunk};

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
    /// the calibration of a GPU and backend, beside the spread of the table's repeated
    /// measurements of one kernel call (the rows in such repeats, and the p90 of the error
    /// their call's mean makes on them): about the least error any prediction makes there.
    Check {
        /// GPU SKU with tables (shipped: h100_sxm, h200_sxm, b200_sxm, gb200).
        #[arg(long)]
        gpu: String,
        /// Serving backend: trtllm, vllm or sglang (nccl is always included).
        #[arg(long)]
        backend: String,
        /// Calibration folder to check instead of the tables shipped in the binary.
        #[arg(long)]
        calibration: Option<PathBuf>,
        /// Also write every checked row to this CSV: its table, its kernel call (as the
        /// simulator reads it), the measured and the leave-shape-out predicted time, and the
        /// relative error, so a user can see where the tables predict poorly.
        #[arg(long)]
        errors: Option<PathBuf>,
    },
    /// One iteration of a scenario's pool, kind by kind: what the simulator charges a worker
    /// for a step of `--decode` sequences at `--context` tokens and the `--prefill` chunks
    /// (the scenario's model, GPU, backend, parallelism and CUDA graphs, as `servesim run`
    /// builds them).
    Step {
        /// The scenario file (YAML or JSON); `servesim validate --scenarios` writes a row's.
        scenario: PathBuf,
        /// The pool (default: the decode pool for a step with `--decode` sequences, else the
        /// first).
        #[arg(long)]
        pool: Option<String>,
        /// Set a field of the file first, validated like the file (repeatable), as `servesim
        /// run --set`.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<Override>,
        /// Decode sequences in the step (the worker's, spread over its attention-DP ranks).
        #[arg(long, default_value_t = 0)]
        decode: u32,
        /// Tokens already in the KV cache of each decode sequence (it attends to them and to
        /// the token it makes).
        #[arg(long, default_value_t = 1024)]
        context: u32,
        /// A prompt chunk in the step: `TOKENS`, or `TOKENS@CONTEXT` after `CONTEXT` tokens
        /// already in the cache (repeatable).
        #[arg(long, value_name = "TOKENS[@CONTEXT]")]
        prefill: Vec<String>,
    },
    /// On every GPU and backend, which kernels of a model's worker have no measured rows of
    /// their own kind (format, kernel, model shape) and borrow another kind's, another GPU's
    /// tables or the roofline: where its predictions stand on what `check` vouches for.
    Coverage {
        /// Model (one of `servesim list models`).
        #[arg(long)]
        model: String,
        /// GPUs of the worker's tensor parallelism.
        #[arg(long, default_value_t = 1)]
        tp: u32,
        /// Expert parallelism within them (a mixture of experts; the experts' MoE TP is
        /// `tp / ep`).
        #[arg(long, default_value_t = 1)]
        ep: u32,
    },
}

fn m(e: impl std::fmt::Display) -> CliError {
    CliError::Message(e.to_string())
}

/// `servesim perf coverage`: one line per GPU and backend.
fn coverage(model: &str, tp: u32, ep: u32) -> Result<(), CliError> {
    let llm = LlmSpec::lookup(model).map_err(|e| CliError::Message(format!("--model: {e}")))?;
    if tp == 0 {
        return Err(CliError::Message(
            "--tp 0: a worker has at least one GPU".into(),
        ));
    }
    if ep == 0 || !tp.is_multiple_of(ep) {
        return Err(CliError::Message(format!(
            "--ep {ep} must be at least 1 and divide --tp {tp}"
        )));
    }
    let par = Parallelism {
        tp,
        attention_dp: 1,
        moe_tp: tp / ep,
        moe_ep: ep,
    };
    let cat = GpuCatalog::builtin();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} at TP {tp}{}: kernels without measured rows of their own kind",
        llm.name,
        if ep > 1 {
            format!(" × EP {ep}")
        } else {
            String::new()
        }
    )
    .map_err(m)?;
    for gpu in cat.names() {
        let sku = cat.get(gpu).map_err(m)?;
        for backend in Backend::ALL {
            let said = KernelTimer::shipped_builtin(gpu, backend)
                .and_then(|t| IterationPredictor::with_parallelism(&llm, &par, sku, backend, t))
                .map(|p| {
                    KernelProvenance::of(&p, Steps::Both)
                        .sentence()
                        .unwrap_or_else(|| "all measured".into())
                })
                .unwrap_or_else(|e| format!("not modelled: {e}"));
            writeln!(out, "{gpu:<10} {:<7} {said}", backend.name()).map_err(m)?;
        }
    }
    Ok(())
}

/// A `--prefill` chunk: `TOKENS` or `TOKENS@CONTEXT`.
fn prefill_chunk(text: &str) -> Result<PrefillChunk, CliError> {
    let (tokens, context) = text.split_once('@').unwrap_or((text, "0"));
    let count = |what: &str, v: &str| {
        v.trim().parse::<u32>().map_err(|_| {
            CliError::Message(format!(
                "--prefill {text:?}: {what} '{v}' is not a whole number of tokens \
                 (TOKENS or TOKENS@CONTEXT)"
            ))
        })
    };
    Ok(PrefillChunk {
        tokens: count("TOKENS", tokens)?,
        context: count("CONTEXT", context)?,
    })
}

/// What a step runs, in words: its decode sequences and prompt chunks.
fn step_contents(decode: u32, context: u32, chunks: &[PrefillChunk]) -> String {
    let decoding = (decode > 0).then(|| format!("{decode} decode sequences at {context} tokens"));
    let prompts = (!chunks.is_empty()).then(|| {
        let list: Vec<_> = chunks
            .iter()
            .map(|c| format!("{}@{}", c.tokens, c.context))
            .collect();
        format!("prompt chunks {}", list.join(", "))
    });
    match (decoding, prompts) {
        (Some(d), Some(p)) => format!("{d} and {p}"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => "nothing".into(),
    }
}

/// `servesim perf step`: one iteration of a scenario's pool, kind by kind.
fn step(
    scenario: &Path,
    pool: Option<&str>,
    set: &[Override],
    decode: u32,
    context: u32,
    prefill: &[String],
) -> Result<(), CliError> {
    let s = Scenario::from_file_with(scenario, set).map_err(m)?;
    let chunks = prefill
        .iter()
        .map(|c| prefill_chunk(c))
        .collect::<Result<Vec<_>, _>>()?;
    let b = iteration_breakdown(&s, pool, decode, context, &chunks).map_err(|e| match e {
        // The step's own arguments are flags here; other paths are the scenario's fields.
        servesim::Error::Config { path, message }
            if ["pool", "decode", "context", "prefill"].contains(&path.as_str()) =>
        {
            CliError::Message(format!("--{path}: {message}"))
        }
        other => m(other),
    })?;
    let plan = &s.pools()[b.pool_index];
    let par = plan.parallelism();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} on {}, {}: pool {} (TP {}{}{}{}), one step of {}",
        s.llm().name,
        s.gpu().sku,
        s.backend().name(),
        b.pool,
        par.tp,
        if par.attention_dp > 1 {
            format!(" × DP {}", par.attention_dp)
        } else {
            String::new()
        },
        if par.moe_ep > 1 {
            format!(", EP {}", par.moe_ep)
        } else {
            String::new()
        },
        if plan.deepep { ", DeepEP" } else { "" },
        step_contents(decode, context, &chunks)
    )
    .map_err(m)?;
    match b.launch {
        Launch::Graph {
            batch,
            ranks,
            sequences,
        } => {
            let padded = if sequences > decode {
                format!(", padded to {sequences} sequences")
            } else {
                String::new()
            };
            let on = if ranks > 1 {
                format!(" on each of {ranks} attention-DP ranks")
            } else {
                String::new()
            };
            writeln!(
                out,
                "decode-only: replays the CUDA graph of {batch}{on}{padded}"
            )
        }
        Launch::Eager => writeln!(
            out,
            "decode-only: no captured CUDA graph of its size: launched eagerly"
        ),
        Launch::WithPrefill => Ok(()),
    }
    .map_err(m)?;
    writeln!(out, "{:<22} {:>10} {:>7}", "kind", "ms", "share").map_err(m)?;
    let summed: f64 = b.kinds.iter().map(|(_, ms)| ms).sum();
    for (kind, ms) in &b.kinds {
        writeln!(out, "{kind:<22} {ms:>10.4} {:>6.1}%", 100.0 * ms / summed).map_err(m)?;
    }
    writeln!(out, "{:<22} {:>10.4}", "step", b.total_ms).map_err(m)?;
    Ok(())
}

/// Runs a `servesim perf` subcommand.
pub fn run(cmd: PerfCommand) -> Result<(), CliError> {
    match cmd {
        PerfCommand::Step {
            scenario,
            pool,
            set,
            decode,
            context,
            prefill,
        } => step(&scenario, pool.as_deref(), &set, decode, context, &prefill),
        PerfCommand::Coverage { model, tp, ep } => coverage(&model, tp, ep),
        PerfCommand::Predict {
            gpu,
            backend,
            table,
            input,
            output,
            gpu_file,
            calibration,
        } => {
            // Nor over the tables and GPUs it reads.
            let mut inputs = vec![("input table", input.as_path())];
            if let Some(dir) = &calibration {
                inputs.push(("--calibration folder", dir.as_path()));
            }
            if let Some(f) = &gpu_file {
                inputs.push(("--gpu-file", f.as_path()));
            }
            super::check_writable("--output", &output, &inputs)?;
            let mut cat = GpuCatalog::builtin();
            if let Some(f) = gpu_file {
                cat.load_file(&f).map_err(m)?;
            }
            let backend = Backend::parse(&backend).map_err(m)?;
            let table = PublicTable::parse(&table).map_err(m)?;
            let gpu = cat.get(&gpu).map_err(m)?.sku.clone();
            let set = gpu_tables(calibration.as_deref(), &cat, &gpu).map_err(m)?;
            let timer = CalibratedTimer::from_calibration(&set, &cat, &gpu, backend).map_err(m)?;
            let s = predict_public_file(&timer, table, &input, &output).map_err(m)?;
            let source = timer.source_gpu().sku.clone();
            let via = if source == gpu {
                String::new()
            } else {
                format!(" (efficiencies from {source} tables, {gpu} datasheet)")
            };
            eprintln!(
                "{}: {}, {} predicted{via}; wrote {}",
                input.display(),
                counted(s.rows as u64, "row"),
                s.predicted,
                output.display()
            );
            Ok(())
        }
        PerfCommand::Check {
            gpu,
            backend,
            calibration,
            errors,
        } => {
            let cat = GpuCatalog::builtin();
            let be = Backend::parse(&backend).map_err(m)?;
            let gpu = cat.get(&gpu).map_err(m)?.sku.clone();
            // The rows' file is opened before the check runs, so a path it cannot write is
            // said at once.
            let mut per_row = match &errors {
                Some(path) => {
                    // Not over a table the check reads (opening the file empties it).
                    if let Some(dir) = &calibration {
                        super::check_writable(
                            "--errors",
                            path,
                            &[("--calibration folder", dir.as_path())],
                        )?;
                    }
                    let w = csv::Writer::from_path(path).map_err(|e| {
                        CliError::Message(format!("--errors {}: {e}", path.display()))
                    })?;
                    Some((path, w))
                }
                None => None,
            };
            let checks = check_calibration(calibration.as_deref(), &cat, &gpu, be).map_err(m)?;
            if let Some((path, w)) = per_row.as_mut() {
                let fail = |e: &dyn std::fmt::Display| {
                    CliError::Message(format!("--errors {}: {e}", path.display()))
                };
                w.write_record(["table", "kernel", "measured_ms", "predicted_ms", "error"])
                    .map_err(|e| fail(&e))?;
                for c in &checks {
                    for (op, measured, p) in &c.rows {
                        w.write_record([
                            c.table.clone(),
                            format!("{op:?}"),
                            format!("{measured}"),
                            format!("{p}"),
                            format!("{:.6}", (p - measured) / measured),
                        ])
                        .map_err(|e| fail(&e))?;
                    }
                }
                w.flush().map_err(|e| fail(&e))?;
            }
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "leave-shape-out accuracy, {gpu} / {} (absolute percentage error)",
                be.name()
            )
            .map_err(m)?;
            writeln!(
                out,
                "{:<38} {:>8} {:>9} {:>9} {:>9} {:>9}",
                "table", "rows", "median", "p90", "repeated", "rep. p90"
            )
            .map_err(m)?;
            // A figure of no rows is a dash, not 0 %.
            let pct = |n: usize, v: f64| {
                if n == 0 {
                    "-".to_string()
                } else {
                    format!("{:.2}%", 100.0 * v)
                }
            };
            for c in &checks {
                writeln!(
                    out,
                    "{:<38} {:>8} {:>9} {:>9} {:>9} {:>9}",
                    format!("{} ({})", c.table, c.measured_under),
                    c.errors.n,
                    pct(c.errors.n, c.errors.median),
                    pct(c.errors.n, c.errors.p90),
                    c.repeats.n,
                    pct(c.repeats.n, c.repeats.p90)
                )
                .map_err(m)?;
            }
            Ok(())
        }
    }
}
