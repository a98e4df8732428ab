//! The `servesim` command-line tool.
//!
//! Each subcommand but `version` lives in its own module under `cli/`; this file
//! parses, dispatches and prints the version. Errors print as one clear line and exit non-zero.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// Simulator of disaggregated LLM serving clusters.
#[derive(Parser)]
#[command(name = "servesim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the version of every crate.
    Version,
    /// Simulate a scenario and print its summary.
    Run(cli::run::RunArgs),
    /// The airline disruption story under every planner, with an HTML report.
    Airline(cli::airline::AirlineArgs),
    /// A scenario under each planner policy: a comparison in the terminal and an HTML report.
    Report(cli::report::ReportArgs),
    /// Compare planner policies on the same seeds, with paired confidence intervals.
    Ab(cli::ab::AbArgs),
    /// The planner benchmark suite: every policy against the best fixed deployment, per workload.
    Suite(cli::suite::SuiteArgs),
    /// Time the simulator on a large disaggregated cluster.
    Bench(cli::bench::BenchArgs),
    /// Kernel-time predictions and their accuracy.
    Perf {
        #[command(subcommand)]
        cmd: cli::perf::PerfCommand,
    },
    /// Calibration data: import kernel tables.
    Calibrate {
        #[command(subcommand)]
        cmd: cli::calibrate::CalibrateCommand,
    },
    /// Workloads: statistics and export of traces and scenarios.
    Traffic {
        #[command(subcommand)]
        cmd: cli::traffic::TrafficCommand,
    },
    /// Predict real serving runs (a measured CSV) and report the errors.
    Validate(cli::validate::ValidateArgs),
    /// What a scenario may name: models, gpus, backends, policies (and what each does), arrivals.
    List(cli::list::ListArgs),
    /// Search deployments for a DynamoGraphDeploymentRequest: DGD, planner profile, frontier.
    // A negative target (`--ttft -5`) is a value its check refuses by name, not an unknown flag.
    #[command(allow_negative_numbers = true)]
    Profile(cli::profile::ProfileArgs),
    /// The JSON Schema of scenario files, or (--markdown) the reference generated from it.
    Schema(cli::schema::SchemaArgs),
}

/// Exit status of a process that a closed pipe stopped (128 + SIGPIPE), as `head` leaves
/// its writers.
const CLOSED_PIPE_EXIT: i32 = 141;

fn main() -> ExitCode {
    // `servesim … | head`: the reader has gone, so the output ends here, quietly, as for
    // any Unix tool (Rust's `println!` panics on a closed pipe).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(CLOSED_PIPE_EXIT);
        }
        default_hook(info)
    }));
    let cli = Cli::parse();
    let result: Result<(), cli::CliError> = match cli.command {
        Command::Version => {
            println!("servesim {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Run(args) => cli::run::run_cmd(args),
        Command::Airline(args) => cli::airline::run_cmd(args),
        Command::Report(args) => cli::report::run_cmd(args),
        Command::Ab(args) => cli::ab::run_cmd(args),
        Command::Suite(args) => cli::suite::run_cmd(args),
        Command::Bench(args) => cli::bench::run_cmd(args),
        Command::Perf { cmd } => cli::perf::run(cmd),
        Command::Calibrate { cmd } => cli::calibrate::run(cmd),
        Command::Traffic { cmd } => cli::traffic::run(cmd),
        Command::Validate(args) => cli::validate::run_cmd(args),
        Command::List(args) => cli::list::run_cmd(args),
        Command::Profile(args) => cli::profile::run_cmd(args),
        Command::Schema(args) => cli::schema::run_cmd(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
