//! `servesim validate --input MEASURED.csv --output PREDICTED.csv`: simulate real serving
//! runs (see [`servesim::validate`]) and print the errors of the predictions.

use std::path::PathBuf;

use clap::Args;

use super::CliError;

/// Arguments of `servesim validate`.
#[derive(Args)]
pub struct ValidateArgs {
    /// Measured runs (the columns of `data/e2e/measured_serving.csv`).
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write every input row with `predicted_ttft_ms`, `predicted_tpot_ms`, `reason`.
    #[arg(long)]
    pub output: PathBuf,
}

/// Simulates every row, writes the predictions and prints the MAPE table.
pub fn run_cmd(args: ValidateArgs) -> Result<(), CliError> {
    let v = servesim::validate::validate_file(&args.input, &args.output)
        .map_err(|e| CliError::Message(e.to_string()))?;
    print!("{}", servesim::validate::render_mape(&v));
    Ok(())
}
