//! `servesim airline`: the airline disruption story under every planner, told in the terminal
//! and written as an HTML report (`servesim report` of the built-in airline scenario).

use std::path::{Path, PathBuf};

use clap::Args;
use servesim::Scenario;

use super::CliError;
use super::report::CompareArgs;

const AIRLINE: &str = include_str!("../../../scenarios/airline-disruption.yaml");

/// Arguments of `servesim airline`.
#[derive(Args)]
pub struct AirlineArgs {
    /// A scenario to use instead of the built-in `scenarios/airline-disruption.yaml`.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Where to write `report.html` and `summary.json`.
    #[arg(long, default_value = "out/airline")]
    pub out: PathBuf,
    #[command(flatten)]
    pub compare: CompareArgs,
}

/// Runs the story and writes the report.
pub fn run_cmd(args: AirlineArgs) -> Result<(), CliError> {
    let msg = |e: &dyn std::fmt::Display| CliError::Message(e.to_string());
    let scenario = match &args.scenario {
        Some(path) => Scenario::from_file(path).map_err(|e| msg(&e))?,
        None => {
            Scenario::from_yaml_str(AIRLINE, "scenarios/airline-disruption.yaml", Path::new("."))
                .map_err(|e| msg(&e))?
        }
    };
    let inputs: Vec<super::Input> = args
        .scenario
        .iter()
        .map(|p| ("scenario file", p.as_path()))
        .collect();
    super::report::compare(scenario, &[], &args.out, args.compare, &inputs)
}
