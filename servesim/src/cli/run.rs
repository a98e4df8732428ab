//! `servesim run SCENARIO`: simulate a scenario and print its summary.

use std::path::PathBuf;

use clap::Args;
use servesim::scenario::Override;
use servesim::{Scenario, run};

use super::CliError;

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
    let (summary, _) = run(&scenario).map_err(|e| CliError::Message(e.to_string()))?;
    if args.json {
        let text =
            serde_json::to_string_pretty(&summary).map_err(|e| CliError::Message(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{summary}");
    }
    Ok(())
}
