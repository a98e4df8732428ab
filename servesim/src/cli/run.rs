//! `servesim run SCENARIO`: simulate a scenario and print its summary.

use std::path::PathBuf;

use clap::Args;
use servesim::core::SimTime;
use servesim::scenario::Override;
use servesim::trace::{DEFAULT_MAX_EVENTS, TraceConfig};
use servesim::{Run, Scenario};

use super::{CliError, check_writable};

/// Arguments of `servesim run`.
#[derive(Args)]
pub struct RunArgs {
    /// The scenario file (YAML or JSON).
    pub scenario: PathBuf,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Set a field of the file, validated like the file (repeatable), e.g.
    /// `--set cluster.pools[0].startup_s=60 --set planner.policy=sla`.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<Override>,
    /// Write the run's timeline to FILE as a Chrome / Perfetto trace (open it in
    /// https://ui.perfetto.dev): each worker's iterations, KV transfers, requests, planner
    /// decisions and pool counters.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Trace events written at most; past it the trace stops, and says so.
    #[arg(long, value_name = "N", requires = "trace", default_value_t = DEFAULT_MAX_EVENTS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub trace_max_events: u64,
    /// Trace only what starts within START:END seconds of simulated time (END may be left
    /// out), e.g. `--trace-window 600:660`.
    #[arg(long, value_name = "START:END", requires = "trace", value_parser = TraceConfig::parse_window)]
    pub trace_window: Option<(SimTime, SimTime)>,
}

/// Runs the scenario and prints the summary.
pub fn run_cmd(args: RunArgs) -> Result<(), CliError> {
    let mut scenario = Scenario::from_file_with(&args.scenario, &args.set)
        .map_err(|e| CliError::Message(e.to_string()))?;
    if let Some(seed) = args.seed {
        scenario = scenario
            .with_seed(seed)
            .map_err(|e| CliError::Message(e.to_string()))?;
    }
    let message = |e: servesim::Error| CliError::Message(e.to_string());
    if let Some(path) = &args.trace {
        check_writable("--trace", path, &[("scenario file", &args.scenario)])?;
    }
    super::warn_before(&scenario);
    let mut run = Run::new(&scenario).map_err(message)?;
    if let Some(path) = &args.trace {
        let config = TraceConfig {
            path: path.clone(),
            max_events: args.trace_max_events,
            window: args.trace_window,
        };
        run.trace_to(&config).map_err(message)?;
    }
    let bar = super::progress::Bar::new();
    let (summary, world) = run.finish_observed(&bar).map_err(message)?;
    drop(bar);
    if let Some(trace) = world.trace_outcome() {
        // On stderr, so that `--json` output stays one JSON document.
        eprintln!("{trace}");
        // An empty trace says why, where the window missed the run.
        if let Some((start, _)) = args.trace_window
            && start.as_secs_f64() >= summary.duration_s
        {
            eprintln!(
                "trace: --trace-window starts at {:.3} s, after the run's end at {:.3} s",
                start.as_secs_f64(),
                summary.duration_s
            );
        }
    }
    if args.json {
        let text =
            serde_json::to_string_pretty(&summary).map_err(|e| CliError::Message(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{summary}");
    }
    Ok(())
}
