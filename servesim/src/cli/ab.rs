//! `servesim ab SCENARIO --policies a,b --seeds N`: policies compared on identical traffic.
//!
//! No `--trace`: `ab` is a statistic over many runs (policies × seeds), and a timeline is
//! one run's; `servesim report --trace-dir` writes one per policy on one seed, and `servesim
//! run --set planner.policy=P --seed S --trace` any single run of an experiment.

use std::path::PathBuf;

use clap::Args;
use servesim::Scenario;
use servesim::experiment::ab;
use servesim::scenario::Override;

use super::CliError;

/// Arguments of `servesim ab`. For the timeline of one of its runs, `servesim report
/// --trace-dir` (each policy, one seed) or `servesim run --set planner.policy=P --seed S
/// --trace FILE`.
#[derive(Args)]
pub struct AbArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Policies, comma-separated; the first is the baseline of the paired differences.
    #[arg(long, value_delimiter = ',', required = true)]
    pub policies: Vec<String>,
    /// Seeds per policy (the scenario's seed and the ones after it).
    #[arg(long, default_value_t = 20)]
    pub seeds: u64,
    /// Threads (default: the machine's cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Set a field of the file, validated like the file (repeatable), e.g.
    /// `--set cluster.pools[0].startup_s=60`.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<Override>,
}

/// Runs the experiment and prints it.
pub fn run_cmd(args: AbArgs) -> Result<(), CliError> {
    let msg = |e: &dyn std::fmt::Display| CliError::Message(e.to_string());
    if args.seeds == 0 {
        return Err(CliError::Message("--seeds: must be at least 1".into()));
    }
    servesim::experiment::check_policies(&args.policies, "--policies").map_err(|e| msg(&e))?;
    let scenario = Scenario::from_file_with(&args.scenario, &args.set).map_err(|e| msg(&e))?;
    let jobs = super::jobs(args.jobs)?;
    super::warn_before(&scenario);
    super::note_default_planner(&scenario);
    let bar = super::progress::Bar::new();
    let report = ab(
        &scenario,
        &args.policies,
        scenario.seed(),
        args.seeds,
        jobs,
        &bar,
    )
    .map_err(|e| msg(&e))?;
    drop(bar);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| msg(&e))?
        );
    } else {
        print!("{report}");
    }
    let runs = (report.runs.iter()).map(|r| (r.policy.as_str(), &r.summary));
    super::warn_after(&scenario, runs);
    Ok(())
}
