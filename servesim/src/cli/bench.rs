//! `servesim bench`: simulation speed on a large disaggregated cluster.
//!
//! Runs `scenarios/bench-16.yaml` (built into the binary) long enough for the
//! requested number of requests and prints simulated output tokens per
//! wall-second, events per second and the peak resident memory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use servesim::{Scenario, run};

use super::CliError;

const BENCH_SCENARIO: &str = include_str!("../../../scenarios/bench-16.yaml");

/// Arguments of `servesim bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// About how many requests to simulate with the built-in scenario (default 1,000,000):
    /// it runs for that many over its Poisson rate of 74 a second, rounded up to a whole
    /// second, so a count below 74 still brings some 74.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Another scenario to time instead of the built-in one (its own duration is kept).
    #[arg(long)]
    pub scenario: Option<PathBuf>,
}

/// Peak resident set size of this process in KiB (Linux), if known.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the benchmark and prints its figures.
pub fn run_cmd(args: BenchArgs) -> Result<(), CliError> {
    let err = |e: servesim::Error| CliError::Message(e.to_string());
    let scenario = match (&args.scenario, args.requests) {
        (Some(_), Some(_)) => {
            return Err(CliError::Message(
                "--requests: only for the built-in scenario (--scenario keeps its own duration)"
                    .into(),
            ));
        }
        (_, Some(0)) => return Err(CliError::Message("--requests: must be at least 1".into())),
        (Some(path), None) => Scenario::from_file(path).map_err(err)?,
        (None, requests) => {
            let s =
                Scenario::from_yaml_str(BENCH_SCENARIO, "scenarios/bench-16.yaml", Path::new("."))
                    .map_err(err)?;
            // 74 requests/s: the duration that brings the requested count, validated as a
            // scenario's (at most its longest run).
            s.edited(|c| c.duration_s = (requests.unwrap_or(1_000_000) as f64 / 74.0).ceil())
                .map_err(|e| CliError::Message(format!("--requests: {e}")))?
        }
    };
    let scenario = scenario.with_keep_requests(false).map_err(err)?;
    let start = Instant::now();
    let (summary, _) = run(&scenario).map_err(err)?;
    let wall = start.elapsed().as_secs_f64();
    // Every class's completed requests, a benchmark's warm-up's too: the simulator made them.
    let tokens: u64 = summary.by_class.values().map(|g| g.output_tokens).sum();
    let completed: u64 = summary.by_class.values().map(|g| g.completed).sum();
    println!("scenario            {}", summary.scenario);
    println!(
        "simulated           {:.0} s, {} requests completed",
        summary.duration_s, completed
    );
    println!("wall                {wall:.2} s (one thread, tables loaded included)");
    println!(
        "output tokens       {tokens} ({:.1} M simulated tokens per wall-second)",
        tokens as f64 / wall / 1e6
    );
    println!(
        "events              {} ({:.2} M events per wall-second)",
        summary.events,
        summary.events as f64 / wall / 1e6
    );
    match peak_rss_kib() {
        Some(kib) => println!("peak RSS            {:.1} MB", kib as f64 / 1024.0),
        None => println!("peak RSS            unknown (no /proc/self/status)"),
    }
    Ok(())
}
