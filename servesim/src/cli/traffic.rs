//! `servesim traffic`: statistics and export of a workload (a trace file or a scenario).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use clap::Subcommand;
use servesim::text::counted;
use servesim_core::{NotOneOf, SimDuration, SimTime};
use servesim_traffic::{
    MooncakeWriter, Standalone, StatsBuilder, TraceFormat, TrafficError, WorkloadSpec,
    file_duration_s, load_spec,
};

use super::CliError;

/// `servesim traffic` subcommands.
#[derive(Subcommand)]
pub enum TrafficCommand {
    /// Count, span, rate, input/output mean and p50/p99, share of reusable prefix blocks,
    /// per class, of a trace (.csv, .jsonl, optionally .gz) or of a scenario's `traffic:`.
    Stats {
        /// A trace file or a scenario (YAML).
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write the requests of a trace or scenario as Mooncake JSONL: the workload as the
    /// simulator sends it, times in ms from the run's start (a trace replayed starts at its
    /// first request, where its stream's `start_s` puts it) and each stream's block ids
    /// in a namespace of its own (a trace's ids hashed into it, ids made up for rows with
    /// none), so that streams never share a block by chance.
    Export {
        /// A trace file or a scenario (YAML).
        file: PathBuf,
        /// Output file, Mooncake JSONL (gzip when it ends in `.gz`; not `.csv`, which would
        /// read back as another format); written in full before it replaces anything of
        /// that name, so it may even be the input where that is a Mooncake trace (whose
        /// times and block ids it then replaces with the export's).
        #[arg(long)]
        out: PathBuf,
        /// Renumber block ids 0, 1, 2... (for tools that read JSON numbers as doubles).
        #[arg(long)]
        dense_ids: bool,
        #[command(flatten)]
        run: RunArgs,
    },
}

/// Whether `path` ends in `ext` (`.jsonl`, `.csv`), optionally followed by `.gz`.
fn named_as(path: &Path, ext: &str) -> bool {
    let name = path.to_string_lossy();
    name.strip_suffix(".gz").unwrap_or(&name).ends_with(ext)
}

/// How to run a workload without a cluster.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Trace format (azure, mooncake, burstgpt); guessed from the name or header if absent.
    #[arg(long, value_parser = parse_format)]
    format: Option<TraceFormat>,
    /// Run seed (default: the scenario's `seed:`, else 0).
    #[arg(long)]
    seed: Option<u64>,
    /// Stop at this simulated time (default: a scenario's `duration_s`; needed for a trace or
    /// workload file whose stream never ends).
    #[arg(long)]
    until_s: Option<f64>,
    /// Closed-loop requests are answered this long after they arrive (no cluster here).
    #[arg(long, default_value_t = 0.0)]
    response_s: f64,
    /// Stop with an error after this many requests (a closed loop with zero think and
    /// response times never advances the clock).
    #[arg(long, default_value_t = DEFAULT_MAX_REQUESTS)]
    max_requests: u64,
}

/// Default of `--max-requests`.
pub const DEFAULT_MAX_REQUESTS: u64 = 100_000_000;

fn parse_format(s: &str) -> Result<TraceFormat, String> {
    s.parse()
        .map_err(|e: NotOneOf| format!("unknown trace format {s:?} ({})", e.known))
}

fn m(e: impl std::fmt::Display) -> CliError {
    CliError::Message(e.to_string())
}

/// Loads the workload; a bad field is reported with the file it is in.
/// A workload to run alone: its spec, the scenario's seed and `duration_s` (none for a
/// trace file, or where the file does not say).
struct Loaded {
    spec: WorkloadSpec,
    seed: Option<u64>,
    duration_s: Option<f64>,
}

fn load(file: &Path, format: Option<TraceFormat>) -> Result<Loaded, CliError> {
    let (spec, seed) = load_spec(file, format).map_err(|e| match e {
        TrafficError::Config { .. } => m(format!("{}: {e}", file.display())),
        e => m(e),
    })?;
    // A scenario's run lasts its `duration_s`: a run of its workload alone lasts as long
    // (the workload was readable, so the file is).
    let duration_s = format.is_none().then(|| file_duration_s(file)).flatten();
    Ok(Loaded {
        spec,
        seed,
        duration_s,
    })
}

/// Runs a `servesim traffic` subcommand.
pub fn run(cmd: TrafficCommand) -> Result<(), CliError> {
    match cmd {
        TrafficCommand::Stats { file, run, json } => {
            let w = load(&file, run.format)?;
            let mut stats = StatsBuilder::new(w.spec.class_names());
            drive(&w, &run, "counted", |r| stats.record(r))?;
            let stats = stats.finish();
            if json {
                println!("{}", stats.to_json());
            } else {
                print!("{stats}");
                if w.spec.waits_for_answers() {
                    let when = if run.response_s == 0.0 {
                        "at once".to_string()
                    } else {
                        format!("{} s after they ask", run.response_s)
                    };
                    println!(
                        "closed-loop users and benchmark clients are answered {when} (--response-s, \
                         no cluster here): their requests and rates are what such answers give, \
                         not what a run's would"
                    );
                }
            }
            Ok(())
        }
        TrafficCommand::Export {
            file,
            out,
            dense_ids,
            run,
        } => {
            // Only a Mooncake JSONL input may be exported over itself: any other (a
            // scenario, a CSV trace) would be lost.
            let inputs: &[super::Input] = if named_as(&file, ".jsonl") {
                &[]
            } else {
                &[("input file", &file)]
            };
            super::check_writable("--out", &out, inputs)?;
            if named_as(&out, ".csv") {
                return Err(m(format!(
                    "--out {}: the export is Mooncake JSONL, which a .csv name would read \
                     back as a CSV trace; name it .jsonl (or .jsonl.gz)",
                    out.display()
                )));
            }
            let w = load(&file, run.format)?;
            // Into a file beside the output, renamed over it once complete.
            let mut partial = out.clone().into_os_string();
            partial.push(format!(".partial-{}", std::process::id()));
            let partial = PathBuf::from(partial);
            let at = |e: std::io::Error| m(format!("{}: {e}", out.display()));
            let f = BufWriter::new(File::create(&partial).map_err(at)?);
            let gzip = out.extension().is_some_and(|e| e == "gz");
            let written = if gzip {
                let gz = GzEncoder::new(f, Compression::default());
                export(&w, &run, dense_ids, gz, &out).and_then(|(n, gz)| {
                    gz.finish().map_err(at)?.flush().map_err(at)?;
                    Ok(n)
                })
            } else {
                export(&w, &run, dense_ids, f, &out)
                    .and_then(|(n, mut f)| f.flush().map(|()| n).map_err(at))
            };
            let n = written
                .and_then(|n| std::fs::rename(&partial, &out).map(|()| n).map_err(at))
                .inspect_err(|_| {
                    let _ = std::fs::remove_file(&partial);
                })?;
            eprintln!("wrote {} to {}", counted(n, "request"), out.display());
            Ok(())
        }
    }
}

/// Writes the workload's requests as Mooncake JSONL into `sink`; returns how many, and
/// the sink to finish.
fn export<W: Write>(
    workload: &Loaded,
    run: &RunArgs,
    dense_ids: bool,
    sink: W,
    out: &Path,
) -> Result<(u64, W), CliError> {
    let mut w = if dense_ids {
        MooncakeWriter::with_dense_ids(sink)
    } else {
        MooncakeWriter::new(sink)
    };
    let mut failed = None;
    let n = drive(workload, run, "exported", |r| {
        if failed.is_none() {
            failed = w.write(r).err();
        }
    })?;
    let at = |e: std::io::Error| m(format!("{}: {e}", out.display()));
    match failed {
        Some(e) => Err(at(e)),
        None => Ok((n, w.finish().map_err(at)?)),
    }
}

/// Runs the workload alone, calling `f` on each request; returns how many there were, and
/// says on stderr which traces a scenario's `duration_s` cut short (`counted`: what became
/// of their rows; an `--until-s` cuts where the user asked).
fn drive(
    workload: &Loaded,
    args: &RunArgs,
    counted: &str,
    f: impl FnMut(&servesim_traffic::Request),
) -> Result<u64, CliError> {
    let (until, by_duration) = match (args.until_s, workload.duration_s) {
        (Some(s), _) => (Some(SimTime::ZERO + secs("--until-s", s)?), false),
        (None, Some(s)) if s > 0.0 => (Some(SimTime::ZERO + secs("duration_s", s)?), true),
        (None, Some(s)) => {
            return Err(m(format!(
                "duration_s: must be a positive number of seconds, got {s}"
            )));
        }
        (None, None) => (None, false),
    };
    let run = Standalone {
        seed: args.seed.or(workload.seed).unwrap_or(0),
        until,
        response: secs("--response-s", args.response_s)?,
        max_requests: Some(args.max_requests),
    };
    let driven = run.drive(&workload.spec, f).map_err(|e| match e {
        TrafficError::Config { field, message } if field == "until" => {
            m(format!("{message}: pass --until-s"))
        }
        TrafficError::Config { field, message } if field == "max_requests" => {
            m(format!("{message} (--until-s, --max-requests)"))
        }
        e => m(e),
    })?;
    let end = until.map_or(0.0, SimTime::as_secs_f64);
    for (stream, next) in driven.traces_cut.iter().filter(|_| by_duration) {
        let cut = servesim::warnings::trace_cut(stream, end, *next, counted);
        eprintln!("warning: {cut}");
    }
    Ok(driven.requests)
}

fn secs(flag: &str, s: f64) -> Result<SimDuration, CliError> {
    SimDuration::from_secs_f64_round(s).map_err(|e| m(format!("{flag}: {e}")))
}
