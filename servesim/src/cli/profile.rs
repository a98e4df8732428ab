//! `servesim profile REQUEST.yaml --out DIR [--mode fast|simulate] [--prefer RULE]`: the best
//! deployment for a DynamoGraphDeploymentRequest, and the profile the SLA planners read.
//! Exit status 2 when no deployment meets both SLOs (the outputs are still written).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use servesim::profiler::{self, Candidate, Overrides, Prefer, ProfileMode, TpPins};

use super::CliError;

/// Arguments of `servesim profile`.
#[derive(Args)]
pub struct ProfileArgs {
    /// The DynamoGraphDeploymentRequest (YAML or JSON), either form.
    pub request: PathBuf,
    /// Output folder (created): dgd.yaml, dgd-agg.yaml (the best aggregated deployment when a
    /// disaggregated one is chosen), prefill/decode_raw_data.json, pareto.csv, summary.json,
    /// report.html.
    #[arg(long)]
    pub out: PathBuf,
    /// `fast` (performance model) or `simulate` (also the simulator on the top candidates).
    #[arg(long, default_value = "fast", value_parser = str::parse::<ProfileMode>)]
    pub mode: ProfileMode,
    /// How the deployment is chosen: `goodput` (the most output tokens/s per GPU meeting both
    /// SLOs, either mode), `disagg` or `agg` (the best of that mode meeting both SLOs, else as
    /// `goodput`).
    #[arg(long, default_value = "goodput", value_parser = str::parse::<Prefer>)]
    pub prefer: Prefer,
    /// Search only prefill workers of this many GPUs (disaggregated): the TP of a dense
    /// model's worker, TP × attention DP of a mixture of experts' (as the DGD counts them).
    #[arg(long)]
    pub prefill_tp: Option<u32>,
    /// Search only decode workers of this many GPUs (disaggregated), as `--prefill-tp`.
    #[arg(long)]
    pub decode_tp: Option<u32>,
    /// Search only aggregated workers of this many GPUs, as `--prefill-tp`.
    #[arg(long)]
    pub agg_tp: Option<u32>,
    /// Print the wall time of each phase.
    #[arg(long)]
    pub timings: bool,
    /// Override `spec.model`.
    #[arg(long)]
    pub model: Option<String>,
    /// Override `spec.backend`.
    #[arg(long)]
    pub backend: Option<String>,
    /// Override `spec.hardware.gpuSku`.
    #[arg(long)]
    pub gpu: Option<String>,
    /// Override `spec.hardware.totalGpus`.
    #[arg(long)]
    pub total_gpus: Option<u32>,
    /// Override `spec.hardware.numGpusPerNode`.
    #[arg(long)]
    pub gpus_per_node: Option<u32>,
    /// Override the input length (tokens).
    #[arg(long)]
    pub isl: Option<u32>,
    /// Override the output length (tokens).
    #[arg(long)]
    pub osl: Option<u32>,
    /// Override the TTFT target (ms).
    #[arg(long)]
    pub ttft: Option<f64>,
    /// Override the ITL target (ms).
    #[arg(long)]
    pub itl: Option<f64>,
    /// Override `spec.workload.requestRate` (requests/s), in place of any concurrency the
    /// request gives.
    #[arg(long)]
    pub request_rate: Option<f64>,
    /// Override `spec.workload.concurrency` (users in a closed loop), in place of any
    /// request rate the request gives.
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Kernel tables measured on your GPUs (the harness's output, or `servesim calibrate
    /// import`'s): each times the search and its simulations in place of the shipped table of
    /// the same GPU, backend and family.
    #[arg(long, value_name = "DIR")]
    pub calibration: Option<PathBuf>,
}

/// Runs the profiler and prints what it chose.
pub fn run_cmd(args: ProfileArgs) -> Result<(), CliError> {
    let t0 = Instant::now();
    let overrides = Overrides {
        model: args.model,
        backend: args.backend,
        gpu: args.gpu,
        total_gpus: args.total_gpus,
        gpus_per_node: args.gpus_per_node,
        isl: args.isl,
        osl: args.osl,
        ttft_ms: args.ttft,
        itl_ms: args.itl,
        request_rate: args.request_rate,
        concurrency: args.concurrency,
        prefer: Some(args.prefer),
        pins: TpPins {
            prefill: args.prefill_tp,
            decode: args.decode_tp,
            aggregated: args.agg_tp,
        },
        calibration: args.calibration,
    };
    // `run_file` refuses an output over the request itself, before any work.
    super::prepare_out_dir("--out", &args.out, &profiler::output::OUTPUT_FILES, &[])?;
    let bar = super::progress::Bar::new();
    let o =
        profiler::run_file(&args.request, &overrides, args.mode, &args.out, &bar).map_err(|e| {
            match e {
                // The folder is named as the flag that gave it.
                servesim::Error::Config { path, message } if path == "out" => {
                    CliError::Message(format!("--out {message}"))
                }
                e => CliError::Message(e.to_string()),
            }
        })?;
    drop(bar);
    let total = t0.elapsed().as_secs_f64();
    // Written through a locked stdout; a closed pipe (`| head`) is not an error.
    let mut text = String::new();
    macro_rules! outln {
        ($($t:tt)*) => {{
            let _ = writeln!(text, $($t)*);
        }};
    }
    for f in &o.request.ignored {
        outln!("ignored: {f}");
    }
    for a in &o.request.assumed {
        outln!("assumed: {a}");
    }
    let c = &o.chosen;
    let judged = match o.choice.judged_by {
        "simulation" => "simulated",
        _ => "fast estimate",
    };
    if !o.choice.meets_slo {
        if o.chosen.misses_only_budget() {
            outln!(
                "NO DEPLOYMENT MEETS BOTH SLOs WITHIN THE REQUEST'S GPUS AND NODES ({judged}); the closest follows: it meets them on more than the request gives"
            );
        } else {
            outln!(
                "NO DEPLOYMENT MEETS BOTH SLOs ({judged}); the closest follows, not a working answer"
            );
        }
    }
    outln!(
        "chosen ({judged}): {} on {} GPUs: {:.0} tokens/s/GPU, {:.1} tokens/s/user, TTFT {:.0} ms, ITL {:.1} ms",
        c.label(),
        c.gpus,
        c.tokens_per_s_per_gpu,
        c.tokens_per_s_per_user,
        c.ttft_ms,
        c.itl_ms
    );
    for m in &c.misses {
        let (estimate, target) = m.shown();
        outln!(
            "misses {}: {estimate} vs target {target} ({:+.0} %)",
            m.slo,
            m.over * 100.0
        );
    }
    if c.meets_slo() {
        for (what, estimate, target) in [
            ("TTFT", c.ttft_ms, o.request.ttft_ms),
            ("ITL", c.itl_ms, o.request.itl_ms),
        ] {
            if estimate > (1.0 - NEAR_TARGET) * target {
                outln!(
                    "note: its mean {what} is within {:.0} % of the {target} ms target: the SLOs \
                     bound the means, so many requests' own {what} will exceed it ({})",
                    NEAR_TARGET * 100.0,
                    if o.comparisons.is_empty() {
                        "`--mode simulate` gives the share of requests within both"
                    } else {
                        "the simulated lines give the share of requests within both"
                    }
                );
            }
        }
    }
    outln!("why: {}", o.choice.reason);
    if let Some(f) = &o.choice.fast_choice {
        outln!("the simulation re-ranked: the fast model alone would choose {f}");
    }
    if let Some(k) = &o.kernels {
        outln!("kernels: {k}");
    }
    for (name, best) in [
        ("aggregated", &o.best_aggregated),
        ("disaggregated", &o.best_disaggregated),
    ] {
        if let Some(a) = best
            && a.label() != c.label()
        {
            outln!(
                "best {name} ({judged}): {} on {} GPUs: {:.0} tokens/s/GPU{}",
                a.label(),
                a.gpus,
                a.tokens_per_s_per_gpu,
                verdict(a)
            );
        }
    }
    for cmp in &o.comparisons {
        outln!(
            "simulated {} ({}): TTFT {:.0}/{} ms, ITL {:.1}/{} ms, {:.0}/{:.0} tokens/s/GPU (fast/sim){}{}{}",
            cmp.label,
            cmp.workload,
            cmp.fast_ttft_ms,
            servesim::profiler::simulate::with_seeds(cmp.sim_ttft_ms, cmp.sim_ttft_ms_seeds, 0),
            cmp.fast_itl_ms,
            servesim::profiler::simulate::with_seeds(cmp.sim_itl_ms, cmp.sim_itl_ms_seeds, 1),
            cmp.fast_tokens_per_s_per_gpu,
            cmp.sim_tokens_per_s_per_gpu,
            // The SLOs bound the means; the share of requests within both is what a user
            // of the deployment sees.
            cmp.sim_slo_attainment.map_or(String::new(), |a| format!(
                ", {:.0} % of requests within both SLOs",
                a * 100.0
            )),
            match cmp.sim_miss_text(&o.request) {
                m if m.is_empty() => m,
                m => format!(": {m}"),
            },
            if cmp.disagreements.is_empty() {
                String::new()
            } else {
                format!("  DISAGREE: {}", cmp.disagreement_text())
            }
        );
    }
    outln!("wrote {}", args.out.display());
    if args.timings {
        let t = &o.timings;
        outln!(
            "timings: setup {:.3} s, search {:.3} s, profile {:.3} s, simulate {:.3} s, total {total:.3} s",
            t.setup_s,
            t.search_s,
            t.profile_s,
            t.simulate_s
        );
    }
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if o.choice.meets_slo {
        Ok(())
    } else {
        let within = if o.chosen.misses_only_budget() {
            " within the request's GPUs and nodes"
        } else {
            ""
        };
        Err(CliError::SloNotMet(format!(
            "no deployment meets both SLOs{within} ({judged}); the closest is written to {}",
            args.out.join("dgd.yaml").display()
        )))
    }
}

/// How close to a target a chosen deployment's mean may come before the output notes that
/// many requests will miss it.
const NEAR_TARGET: f64 = 0.02;

/// What a deployment listed beside the chosen one misses, in words: nothing, only the GPU
/// budget (its latency targets met on more GPUs), or a latency target.
fn verdict(c: &Candidate) -> String {
    if c.meets_slo() {
        String::new()
    } else if c.misses_only_budget() {
        let budget = c
            .misses
            .iter()
            .find(|m| m.slo == "gpus")
            .map(|m| m.shown().1);
        match budget {
            Some(b) => format!(" (meets the SLOs, over the budget of {b})"),
            None => " (meets the SLOs, on more nodes than the request's)".to_string(),
        }
    } else {
        " (misses an SLO)".to_string()
    }
}
