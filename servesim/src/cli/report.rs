//! `servesim report SCENARIO [--policies a,b]`: the scenario under each policy, told in the
//! terminal (one comparison table, a few sentences) and written as an HTML page with its
//! charts and `summary.json`. `servesim airline` is this report of the airline story.

use std::path::{Path, PathBuf};

use clap::Args;
use servesim::experiment::{run_policies, run_policies_traced};
use servesim::html::{page, run_charts, summary_table};
use servesim::scenario::Override;
use servesim::story::{PolicyRun, render};
use servesim::trace::{DEFAULT_MAX_EVENTS, TraceConfig};
use servesim::traffic::Preset;
use servesim::{Scenario, planner::POLICIES};

use super::CliError;

/// Arguments of `servesim report`.
#[derive(Args)]
pub struct ReportArgs {
    /// The scenario file (YAML or JSON).
    pub scenario: PathBuf,
    /// Where to write `report.html` and `summary.json`.
    #[arg(long, default_value = "out/report")]
    pub out: PathBuf,
    /// Set a field of the file, validated like the file (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<Override>,
    #[command(flatten)]
    pub compare: CompareArgs,
}

/// What a report is asked for beyond its scenario and folder (`report` and `airline` alike).
#[derive(Args)]
pub struct CompareArgs {
    /// Policies to compare (comma-separated; default: all).
    #[arg(long, value_delimiter = ',')]
    pub policies: Vec<String>,
    /// Override the seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Threads (default: the machine's cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Also print every policy's whole summary.
    #[arg(long)]
    pub details: bool,
    /// Also write each policy's timeline to DIR/POLICY.json as a Chrome / Perfetto trace
    /// (as `servesim run --trace`; open it in https://ui.perfetto.dev).
    #[arg(long, value_name = "DIR")]
    pub trace_dir: Option<PathBuf>,
    /// Trace events written at most per policy; past it a trace stops, and says so.
    #[arg(long, value_name = "N", requires = "trace_dir", default_value_t = DEFAULT_MAX_EVENTS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub trace_max_events: u64,
}

/// Runs the report of `args.scenario`.
pub fn run_cmd(args: ReportArgs) -> Result<(), CliError> {
    let scenario = Scenario::from_file_with(&args.scenario, &args.set)
        .map_err(|e| CliError::Message(e.to_string()))?;
    let inputs = [("scenario file", args.scenario.as_path())];
    compare(scenario, &args.set, &args.out, args.compare, &inputs)
}

/// Runs `scenario` (its file as `sets` change it) under each policy, prints the story and
/// writes the page (over none of `inputs`, the files the scenario was read from).
pub fn compare(
    mut scenario: Scenario,
    sets: &[Override],
    out: &Path,
    o: CompareArgs,
    inputs: &[super::Input],
) -> Result<(), CliError> {
    let msg = |e: &dyn std::fmt::Display| CliError::Message(e.to_string());
    if let Some(seed) = o.seed {
        scenario = scenario.with_seed(seed).map_err(|e| msg(&e))?;
    }
    let policies: Vec<String> = if o.policies.is_empty() {
        POLICIES.iter().map(|p| p.to_string()).collect()
    } else {
        o.policies
    };
    servesim::experiment::check_policies(&policies, "--policies").map_err(|e| msg(&e))?;
    // The files the scenario reads (a trace it replays, say) are inputs too.
    let read = scenario.input_files();
    let inputs: Vec<super::Input> = (inputs.iter().copied())
        .chain(read.iter().map(|(field, p)| (field.as_str(), p.as_path())))
        .collect();
    super::prepare_out_dir("--out", out, &["report.html", "summary.json"], &inputs)?;
    if let Some(dir) = &o.trace_dir {
        let files: Vec<String> = policies.iter().map(|p| format!("{p}.json")).collect();
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        super::prepare_out_dir("--trace-dir", dir, &files, &inputs)?;
    }
    let jobs = super::jobs(o.jobs)?;
    super::warn_before(&scenario);
    super::note_default_planner(&scenario);
    let bar = super::progress::Bar::new();
    let runs = match &o.trace_dir {
        None => run_policies(&scenario, &policies, jobs, &bar),
        Some(dir) => {
            let trace = |policy: &str| TraceConfig {
                path: dir.join(format!("{policy}.json")),
                max_events: o.trace_max_events,
                window: None,
            };
            run_policies_traced(&scenario, &policies, jobs, &bar, &trace)
        }
    }
    .map_err(|e| msg(&e))?;
    drop(bar);
    for (policy, (_, world)) in policies.iter().zip(&runs) {
        if let Some(trace) = world.trace_outcome() {
            eprintln!("{policy}: {trace}");
        }
    }
    let summaries = (policies.iter().zip(&runs)).map(|(p, (summary, _))| (p.as_str(), summary));
    super::warn_after(&scenario, summaries);

    // The airline preset's storm is the burst to shade and to tell; other scenarios have none.
    let traffic = &scenario.config().traffic;
    let airline = traffic.preset == Some(Preset::Airline);
    let storm = airline.then(|| {
        let a = traffic.airline.clone().unwrap_or_default();
        (a.storm_start_s, a.storm_start_s + a.storm_duration_s)
    });
    if o.details {
        for (policy, (summary, _)) in policies.iter().zip(&runs) {
            println!("=== {policy}");
            print!("{summary}");
        }
        println!();
    }
    let told: Vec<PolicyRun<'_>> = policies
        .iter()
        .zip(&runs)
        .map(|(policy, (summary, world))| PolicyRun {
            policy,
            summary,
            world,
        })
        .collect();
    print!("{}", render(&scenario, &told, storm));

    let slo_ttft = scenario.slo_ttft().as_millis_f64();
    let slo_itl = scenario.slo_itl().as_millis_f64();
    let rows: Vec<(String, &servesim::Summary)> = policies
        .iter()
        .cloned()
        .zip(runs.iter().map(|(s, _)| s))
        .collect();
    let mut body = summary_table(&rows);
    for (policy, (summary, world)) in policies.iter().zip(&runs) {
        // What the scenario's faults did under this policy.
        let faults: String = (summary.faults.iter())
            .map(|o| format!("<p>fault {}</p>", servesim::html::escape(&o.to_string())))
            .collect();
        body += &format!(
            "<section><h2>{}</h2><p>SLO attainment {}, {:.2} GPU-hours, {} workers started, {} stopped.</p>{faults}{}</section>",
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
    let shading = if storm.is_some() {
        " The storm window is shaded; dashed lines are the SLOs."
    } else {
        " Dashed lines are the SLOs."
    };
    // What ran, so that two pages of one file under different settings tell themselves
    // apart: the SLOs judged, and the `--set` overrides over the file.
    let changed = if sets.is_empty() {
        String::new()
    } else {
        let sets: Vec<String> = sets.iter().map(|s| format!("--set {}", s.text())).collect();
        format!(" The file as changed by {}.", sets.join(" "))
    };
    let intro = format!(
        "{}: {} on {} ({}), seed {}; SLOs TTFT {slo_ttft} ms, ITL {slo_itl} ms.{changed}{shading}",
        scenario.name(),
        scenario.llm().name,
        scenario.gpu().sku,
        scenario.backend(),
        scenario.seed()
    );
    let title = if airline {
        "Airline disruption: planners compared".to_string()
    } else {
        format!("{}: planners compared", scenario.name())
    };
    let html_path = out.join("report.html");
    std::fs::write(&html_path, page(&title, &intro, &body))
        .map_err(|e| msg(&format!("{}: {e}", html_path.display())))?;
    let json: Vec<_> = runs.iter().map(|(s, _)| s).collect();
    let json_path = out.join("summary.json");
    let text = serde_json::to_string_pretty(&json).map_err(|e| msg(&e))?;
    std::fs::write(&json_path, text).map_err(|e| msg(&format!("{}: {e}", json_path.display())))?;
    println!("report: {}", html_path.display());
    Ok(())
}
