//! `servesim suite [DIR] [--seeds N] [--out DIR] [--json]`: the planner benchmark suite.

use std::path::PathBuf;

use clap::Args;
use servesim::planner::POLICIES;
use servesim::suite::{DEFAULT_ATTAINMENT_TARGET, SuiteOptions, manifest, page, run_suite};

use super::CliError;

/// Arguments of `servesim suite`.
#[derive(Args)]
pub struct SuiteArgs {
    /// The suite folder: its `suite.yaml`, or else every scenario file in it.
    #[arg(default_value = "scenarios/planner-suite")]
    pub dir: PathBuf,
    /// Seeds per policy and workload (each workload's seed and the ones after it); 20 by
    /// default, the least issue 19 asks of a claim.
    #[arg(long, default_value_t = 20)]
    pub seeds: u64,
    /// Policies, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub policies: Vec<String>,
    /// The SLO attainment the best fixed deployment must reach (DistServe's 90 %).
    #[arg(long, default_value_t = DEFAULT_ATTAINMENT_TARGET)]
    pub attainment_target: f64,
    /// Where to write `suite.html` and `suite.json`.
    #[arg(long, default_value = "out/suite")]
    pub out: PathBuf,
    /// Threads (default: the machine's cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the suite, prints it and writes its page.
pub fn run_cmd(args: SuiteArgs) -> Result<(), CliError> {
    let msg = |e: &dyn std::fmt::Display| CliError::Message(e.to_string());
    if args.seeds == 0 {
        return Err(CliError::Message("--seeds: must be at least 1".into()));
    }
    if !(0.0..=1.0).contains(&args.attainment_target) {
        return Err(CliError::Message(format!(
            "--attainment-target: must be a share in [0, 1] (0.9 for 90 %), got {}",
            args.attainment_target
        )));
    }
    let policies = if args.policies.is_empty() {
        POLICIES.iter().map(|p| p.to_string()).collect()
    } else {
        args.policies
    };
    servesim::experiment::check_policies(&policies, "--policies").map_err(|e| msg(&e))?;
    let workloads = manifest::load(&args.dir).map_err(|e| msg(&e))?;
    let opts = SuiteOptions {
        policies,
        seeds: args.seeds,
        attainment_target: args.attainment_target,
        threads: super::jobs(args.jobs)?,
    };
    // The suite's own files are read before its outputs are written, never written over.
    let manifest = args.dir.join(servesim::suite::manifest::MANIFEST);
    let read: Vec<Vec<(String, PathBuf)>> =
        workloads.iter().map(|w| w.scenario.input_files()).collect();
    let mut inputs: Vec<super::Input> = workloads
        .iter()
        .map(|w| ("scenario file", w.file.as_path()))
        .chain(
            read.iter()
                .flatten()
                .map(|(f, p)| (f.as_str(), p.as_path())),
        )
        .collect();
    inputs.push(("suite manifest", &manifest));
    super::prepare_out_dir("--out", &args.out, &["suite.html", "suite.json"], &inputs)?;
    let bar = super::progress::Bar::new();
    let report = run_suite(&workloads, &opts, &bar).map_err(|e| msg(&e))?;
    drop(bar);
    let json = serde_json::to_string_pretty(&report).map_err(|e| msg(&e))?;
    let html_path = args.out.join("suite.html");
    std::fs::write(&html_path, page::render(&report))
        .map_err(|e| msg(&format!("{}: {e}", html_path.display())))?;
    let json_path = args.out.join("suite.json");
    std::fs::write(&json_path, &json).map_err(|e| msg(&format!("{}: {e}", json_path.display())))?;
    if args.json {
        println!("{json}");
    } else {
        print!("{report}");
        println!("report: {}", html_path.display());
    }
    Ok(())
}
