//! `servesim airline`: the airline disruption story under every planner, with an HTML report.

use std::path::{Path, PathBuf};

use clap::Args;
use servesim::experiment::run_policies;
use servesim::html::{page, run_charts, summary_table};
use servesim::traffic::Preset;
use servesim::{Scenario, planner::POLICIES};

use super::CliError;

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
    /// Policies to compare (comma-separated; default: all).
    #[arg(long, value_delimiter = ',')]
    pub policies: Vec<String>,
    /// Override the seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Threads (default: the machine's cores).
    #[arg(long)]
    pub jobs: Option<usize>,
}

/// Runs the story and writes the report.
pub fn run_cmd(args: AirlineArgs) -> Result<(), CliError> {
    let msg = |e: &dyn std::fmt::Display| CliError::Message(e.to_string());
    let mut scenario = match &args.scenario {
        Some(path) => Scenario::from_file(path).map_err(|e| msg(&e))?,
        None => {
            Scenario::from_yaml_str(AIRLINE, "scenarios/airline-disruption.yaml", Path::new("."))
                .map_err(|e| msg(&e))?
        }
    };
    if let Some(seed) = args.seed {
        scenario = scenario.with_seed(seed).map_err(|e| msg(&e))?;
    }
    let policies: Vec<String> = if args.policies.is_empty() {
        POLICIES.iter().map(|p| p.to_string()).collect()
    } else {
        args.policies
    };
    let jobs = super::jobs(args.jobs)?;
    let runs = run_policies(&scenario, &policies, jobs).map_err(|e| msg(&e))?;

    let traffic = &scenario.config().traffic;
    let storm = (traffic.preset == Some(Preset::Airline)).then(|| {
        let a = traffic.airline.clone().unwrap_or_default();
        (a.storm_start_s, a.storm_start_s + a.storm_duration_s)
    });
    let slo_ttft = scenario.slo_ttft().as_millis_f64();
    let slo_itl = scenario.slo_itl().as_millis_f64();
    for (policy, (summary, _)) in policies.iter().zip(&runs) {
        println!("=== {policy}");
        print!("{summary}");
    }
    let rows: Vec<(String, &servesim::Summary)> = policies
        .iter()
        .cloned()
        .zip(runs.iter().map(|(s, _)| s))
        .collect();
    let mut body = summary_table(&rows);
    for (policy, (summary, world)) in policies.iter().zip(&runs) {
        body += &format!(
            "<section><h2>{}</h2><p>SLO attainment {}, {:.2} GPU-hours, {} workers started, {} stopped.</p>{}</section>",
            servesim::html::escape(policy),
            summary
                .slo_attainment
                .map_or("-".into(), |a| format!("{:.1}%", a * 100.0)),
            summary.gpu_hours,
            summary.workers_started,
            summary.workers_stopped,
            run_charts(world, slo_ttft, slo_itl, storm)
        );
    }
    let intro = format!(
        "{}: {} on {} ({}), seed {}. The storm window is shaded; dashed lines are the SLOs.",
        scenario.name(),
        scenario.llm().name,
        scenario.gpu().sku,
        scenario.backend(),
        scenario.seed()
    );
    std::fs::create_dir_all(&args.out).map_err(|e| msg(&format!("{}: {e}", args.out.display())))?;
    let html_path = args.out.join("report.html");
    std::fs::write(
        &html_path,
        page("Airline disruption: planners compared", &intro, &body),
    )
    .map_err(|e| msg(&format!("{}: {e}", html_path.display())))?;
    let json: Vec<_> = runs.iter().map(|(s, _)| s).collect();
    let json_path = args.out.join("summary.json");
    let text = serde_json::to_string_pretty(&json).map_err(|e| msg(&e))?;
    std::fs::write(&json_path, text).map_err(|e| msg(&format!("{}: {e}", json_path.display())))?;
    println!("report: {}", html_path.display());
    Ok(())
}
