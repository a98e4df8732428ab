//! The profiler: from "this model, these GPUs, these SLOs, this traffic" (a Dynamo
//! DynamoGraphDeploymentRequest) to the best deployment and the profile the SLA planners read.
//!
//! - [`request`]: the request in either DGDR form, with flag overrides and the ignored fields;
//! - [`search`]: the fast search over aggregated and disaggregated deployments (TP per role,
//!   batch per worker, worker counts) with the performance model, and the Pareto frontiers;
//! - [`simulate`]: the top candidates run through the full simulator, fast vs simulated;
//! - [`output`]: `dgd.yaml`, the planner profile, `pareto.csv`, `summary.json`, `report.html`.

pub mod output;
pub mod request;
pub mod search;
pub mod simulate;

use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use servesim_models::hardware::GpuCatalog;
use servesim_planner::Profile;

pub use request::{Overrides, ProfileRequest, RequestForm};
pub use search::{Candidate, FrontierPoint, Mode, PoolShape, SloMiss};
pub use simulate::Comparison;

use crate::Error;

servesim_core::named_enum! {
    /// `fast`: the performance model alone; `simulate`: also the simulator on the top
    /// candidates. Named as the CLI (`--mode`), Python (`mode=`) and `summary.json` write it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum ProfileMode {
        /// The performance model alone.
        Fast => "fast",
        /// The performance model, then the simulator on the top candidates.
        Simulate => "simulate",
    }
}

/// Candidates simulated in `simulate` mode.
pub const SIMULATED_CANDIDATES: usize = 5;

/// Wall-clock time of each phase, s.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Timings {
    /// Loading the calibration tables and building the worker models.
    pub setup_s: f64,
    /// The search.
    pub search_s: f64,
    /// The planner profile.
    pub profile_s: f64,
    /// The simulations (simulate mode).
    pub simulate_s: f64,
}

/// What the profiler found.
pub struct Outcome {
    /// The request as resolved.
    pub request: ProfileRequest,
    /// The mode run.
    pub mode: ProfileMode,
    /// The deployment written to `dgd.yaml`: the best disaggregated one meeting the SLOs (the
    /// SLA planner scales prefill and decode pools); else the best candidate of either mode
    /// (when none meets the SLOs: the closest, see [`search::rank`]).
    pub chosen: Candidate,
    /// The best aggregated and disaggregated deployments (either may be missing).
    pub best_aggregated: Option<Candidate>,
    /// See [`Outcome::best_aggregated`].
    pub best_disaggregated: Option<Candidate>,
    /// Best deployment per (mode, TP combination), best first.
    pub candidates: Vec<Candidate>,
    /// Every sampled deployment with its frontier flag.
    pub points: Vec<FrontierPoint>,
    /// The planner profile (prefill at the chosen prefill TP, decode at the chosen decode TP).
    pub profile: Profile,
    /// TP sizes of the profile: (prefill, decode).
    pub profile_tp: (u32, u32),
    /// KV capacity of a decode worker, tokens.
    pub decode_kv_tokens: u64,
    /// TP sizes left out, with why.
    pub skipped: Vec<String>,
    /// Fast vs simulated figures (simulate mode).
    pub comparisons: Vec<Comparison>,
    /// Phase timings.
    pub timings: Timings,
}

/// Runs the profiler on a validated request.
pub fn profile(request: ProfileRequest, mode: ProfileMode) -> Result<Outcome, Error> {
    let t0 = Instant::now();
    let catalog = GpuCatalog::builtin();
    let mut gpu = catalog
        .get(&request.gpu)
        .map_err(|e| Error::Config {
            path: "spec.hardware.gpuSku".into(),
            message: e.to_string(),
        })?
        .clone();
    gpu.gpus_per_node = gpu.gpus_per_node.min(request.gpus_per_node).max(1);
    let search = search::Search::new(&request, &gpu)?;
    if search.workers.is_empty() {
        return Err(Error::Config {
            path: "spec.hardware".into(),
            message: format!(
                "no TP size up to {} serves {} on {}: {}",
                request.max_tp,
                request.model,
                request.gpu,
                search.skipped.join("; ")
            ),
        });
    }
    let t1 = Instant::now();
    let result = search.run();
    let t2 = Instant::now();
    let best_of = |m: Mode| result.candidates.iter().find(|c| c.mode == m).cloned();
    let best_aggregated = best_of(Mode::Aggregated);
    let best_disaggregated = best_of(Mode::Disaggregated);
    let chosen = best_disaggregated
        .clone()
        .filter(Candidate::meets_slo)
        .or_else(|| result.candidates.first().cloned())
        .ok_or_else(|| Error::Config {
            path: "spec.hardware.totalGpus".into(),
            message: format!(
                "{} GPUs hold no deployment of {}",
                request.total_gpus, request.model
            ),
        })?;
    // The profile describes the disaggregated workers the planner scales (for an aggregated
    // answer: its worker's TP for both roles).
    let (ptp, dtp) = match (chosen.prefill, chosen.decode, chosen.aggregated) {
        (Some(p), Some(d), _) => (p.tp, d.tp),
        (_, _, Some(a)) => (a.tp, a.tp),
        _ => unreachable!("a candidate has pools"),
    };
    let pm = search
        .pool_model(ptp, search.prefill_max_num_seqs)
        .expect("chosen TP has a worker");
    // The decode grid spans every concurrency the KV cache holds (the planner picks its own).
    let dm = search
        .pool_model(dtp, search::MAX_BATCH)
        .expect("chosen TP has a worker");
    let decode_kv_tokens = dm.max_kv_tokens;
    let profile = Profile::from_model(&pm, &dm).map_err(Error::Planner)?;
    let t3 = Instant::now();
    let comparisons = match mode {
        ProfileMode::Fast => Vec::new(),
        ProfileMode::Simulate => {
            let top: Vec<Candidate> = result
                .candidates
                .iter()
                .take(SIMULATED_CANDIDATES)
                .cloned()
                .collect();
            simulate::compare(&request, &top)?
        }
    };
    let t4 = Instant::now();
    let skipped = search.skipped.clone();
    drop(search);
    Ok(Outcome {
        request,
        mode,
        chosen,
        best_aggregated,
        best_disaggregated,
        candidates: result.candidates,
        points: result.points,
        profile,
        profile_tp: (ptp, dtp),
        decode_kv_tokens,
        skipped,
        comparisons,
        timings: Timings {
            setup_s: (t1 - t0).as_secs_f64(),
            search_s: (t2 - t1).as_secs_f64(),
            profile_s: (t3 - t2).as_secs_f64(),
            simulate_s: (t4 - t3).as_secs_f64(),
        },
    })
}

/// Reads the request, runs the profiler and writes every output into `out`.
pub fn run_file(
    request: &Path,
    overrides: &Overrides,
    mode: ProfileMode,
    out: &Path,
) -> Result<Outcome, Error> {
    let req = ProfileRequest::from_file(request, overrides)?;
    let outcome = profile(req, mode)?;
    output::write_all(&outcome, out)?;
    Ok(outcome)
}
