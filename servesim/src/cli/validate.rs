//! `servesim validate --input MEASURED.csv --output PREDICTED.csv`: simulate real serving
//! runs (see [`servesim::validate`]) and print the errors of the predictions.

use std::path::PathBuf;

use clap::Args;
use servesim::validate::{Averaged, RecipeClient};

use super::CliError;

/// Arguments of `servesim validate`.
#[derive(Args)]
pub struct ValidateArgs {
    /// Measured runs (the columns of `data/e2e/measured_serving.csv`).
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write every input row with `predicted_ttft_ms`, `predicted_tpot_ms`, `reason`,
    /// `note`, and with the recipe the client's percentiles and output throughput.
    #[arg(long)]
    pub output: PathBuf,
    /// The measured means are over the first K requests of every user from an idle server,
    /// all users sending their first at once (the start burst included), not over
    /// aiconfigurator's aiperf recipe (the default: 2·C warm-up requests, then 20·C measured).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "steady")]
    pub from_start: Option<u32>,
    /// With the recipe: the client draws its prompts from a dataset of N entries, repeating
    /// them pass after pass, as aiperf does (`--num-dataset-entries`, 100 there by
    /// default), so a server with prefix caching finds them cached; without it, every
    /// prompt is fresh.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), conflicts_with_all = ["steady", "from_start"])]
    pub dataset_entries: Option<u32>,
    /// With the recipe: the client's connection pool holds N connections, so at most N
    /// requests are at the server and the others wait in the client, their TTFT counted
    /// from when they were issued (aiohttp's and httpx's pools hold 100 by default; aiperf's
    /// 2,500 a worker process); without it, no limit.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), conflicts_with_all = ["steady", "from_start"])]
    pub client_connections: Option<u32>,
    /// With the recipe: the users stay as the client starts them, all together, with
    /// nothing to pull them apart, instead of out of step (independent phases, what client
    /// and network jitter leave a long run in).
    #[arg(long, conflicts_with_all = ["steady", "from_start"])]
    pub in_step: bool,
    /// The measured means are over the steady state of users out of step, not over
    /// aiconfigurator's aiperf recipe (the default).
    #[arg(long)]
    pub steady: bool,
    /// Also write a Markdown report of the errors by backend × model × GPU × mode ×
    /// concurrency band (MAPE and median bias), as `docs/fidelity.md` is generated.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Also write the scenario each predicted row simulated, as `DIR/line-N.yaml` (N its
    /// line in the input): the first of the draws its prediction averages, headed by which
    /// of its requests the prediction reads, a file `servesim run` reads, to trace, change
    /// or rerun. DIR is created if need be, and refused if it holds such files already.
    #[arg(long, value_name = "DIR")]
    pub scenarios: Option<PathBuf>,
    /// Kernel tables measured on your GPUs (the harness's output, or `servesim calibrate
    /// import`'s): each row whose GPU and backend read tables of the folder is timed with
    /// them in place of the shipped ones of the same GPU, backend and family (a scenario's
    /// `calibration`); the other rows with the shipped tables, their `note` saying why.
    #[arg(long, value_name = "DIR")]
    pub calibration: Option<PathBuf>,
    /// Threads, one row each at a time (default: the machine's cores); the predictions do
    /// not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
}

/// Simulates every row, writes the predictions and prints the MAPE table.
pub fn run_cmd(args: ValidateArgs) -> Result<(), CliError> {
    let client = RecipeClient {
        dataset_entries: args.dataset_entries,
        connections: args.client_connections,
        in_step: args.in_step,
    };
    let averaged =
        Averaged::from_flags(args.steady, args.from_start, client).map_err(CliError::Message)?;
    // Nothing is written over the measured rows, the calibration tables or the predictions,
    // nor where a scenario of this run would be written over it.
    let mut inputs = vec![("--input file", args.input.as_path())];
    if let Some(dir) = &args.calibration {
        inputs.push(("--calibration folder", dir.as_path()));
    }
    super::check_writable("--output", &args.output, &inputs)?;
    not_a_scenario("--output", &args.output, args.scenarios.as_deref())?;
    if let Some(report) = &args.report {
        inputs.push(("--output file", args.output.as_path()));
        super::check_writable("--report", report, &inputs)?;
        not_a_scenario("--report", report, args.scenarios.as_deref())?;
    }
    let jobs = super::jobs(args.jobs)?;
    let bar = super::progress::Bar::new();
    let v = servesim::validate::validate_file(
        &args.input,
        &args.output,
        averaged,
        jobs,
        &bar,
        args.scenarios.as_deref(),
        args.calibration.as_deref(),
    )
    .map_err(|e| match e {
        // The paths given as flags are named as the flags.
        servesim::Error::Config { path, message }
            if ["output", "scenarios", "calibration"].contains(&path.as_str()) =>
        {
            CliError::Message(format!("--{path}: {message}"))
        }
        other => CliError::Message(other.to_string()),
    })?;
    drop(bar);
    print!("{}", servesim::validate::render_mape(&v));
    if let Some(report) = &args.report {
        let command = command_line(&args);
        std::fs::write(report, servesim::validate::render_report(&v, &command))
            .map_err(|e| CliError::Message(format!("{}: {e}", report.display())))?;
        println!("report: {}", report.display());
    }
    Ok(())
}

/// The command as a user would retype it (paths as given).
fn command_line(args: &ValidateArgs) -> String {
    let mut c = format!(
        "servesim validate --input {} --output {}",
        args.input.display(),
        args.output.display()
    );
    if args.steady {
        c += " --steady";
    }
    if let Some(k) = args.from_start {
        c += &format!(" --from-start {k}");
    }
    if let Some(n) = args.dataset_entries {
        c += &format!(" --dataset-entries {n}");
    }
    if let Some(n) = args.client_connections {
        c += &format!(" --client-connections {n}");
    }
    if args.in_step {
        c += " --in-step";
    }
    if let Some(d) = &args.calibration {
        c += &format!(" --calibration {}", d.display());
    }
    if let Some(r) = &args.report {
        c += &format!(" --report {}", r.display());
    }
    c
}

/// Refuses an output that the scenarios written into `scenarios` (`line-N.yaml`) could
/// write over.
fn not_a_scenario(
    flag: &str,
    path: &std::path::Path,
    scenarios: Option<&std::path::Path>,
) -> Result<(), CliError> {
    let Some(dir) = scenarios else { return Ok(()) };
    let numbered = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(servesim::validate::is_scenario_name);
    let here = path.parent().filter(|f| !f.as_os_str().is_empty());
    if numbered && servesim::validate::same_file(here.unwrap_or(std::path::Path::new(".")), dir) {
        return Err(CliError::Message(format!(
            "{flag} {}: is named as a scenario --scenarios writes; give another name",
            path.display()
        )));
    }
    Ok(())
}
