//! The profiler: from "this model, these GPUs, these SLOs, this traffic" (a Dynamo
//! DynamoGraphDeploymentRequest) to the best deployment and the profile the SLA planners read.
//!
//! - [`request`]: the request in either DGDR form, with flag overrides and the ignored fields;
//! - [`candidate`]: the deployments weighed: worker splits (TP, attention DP, EP), pools,
//!   candidates with their figures;
//! - [`search`]: the fast search over aggregated and disaggregated deployments (split per role,
//!   batch per worker, worker counts) with the performance model, and the Pareto frontiers;
//!   `aggregated` its aggregated deployments, `closed_loop` their figures under a closed
//!   loop of users; `shares` weighs it on threads, to the same answer;
//! - `engine_settings`: what its deployments set on each engine beyond the split (CUDA graphs,
//!   SGLang's mixed chunks, token budgets), as Dynamo's profiler writes them, and the token
//!   budgets of the deployments aiconfigurator benchmarks, which `validate` reads;
//! - [`simulate`]: the top candidates run through the full simulator, fast vs simulated;
//! - [`dgd`]: the DynamoGraphDeployment of a deployment, as Dynamo 1.6.1 runs it;
//! - [`output`]: `dgd.yaml`, the planner profile, `pareto.csv`, `summary.json`, `report.html`.

mod aggregated;
pub mod candidate;
mod closed_loop;
mod decode_side;
pub mod dgd;
mod disaggregated;
pub(crate) mod engine_settings;
pub mod output;
mod placement;
pub mod request;
pub mod search;
mod shares;
pub mod simulate;

use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use servesim_models::dtype::Dtype;
use servesim_models::hardware::GpuCatalog;
use servesim_models::perf::provenance::{KernelProvenance, Steps};
use servesim_planner::Profile;

pub use candidate::{Candidate, FrontierPoint, Mode, PoolShape, SloMiss, Split};
pub use request::{Overrides, Prefer, ProfileRequest, RequestForm, TpPins};
pub use simulate::Comparison;

use crate::Error;
use crate::progress::Observer;

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

/// Candidates simulated in `simulate` mode (the best of each mode among them).
pub const SIMULATED_CANDIDATES: usize = 5;

/// How the chosen deployment was chosen, in data and in words.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Choice {
    /// The rule (`--prefer`).
    pub prefer: Prefer,
    /// The figures the deployments were ranked on: `fast` (the performance model) or
    /// `simulation` (simulate mode: the simulated candidates, re-ranked by their simulated
    /// figures).
    pub judged_by: &'static str,
    /// Whether the chosen deployment meets both SLOs (by those figures).
    pub meets_slo: bool,
    /// The mode whose best deployment ranks first (more goodput per GPU), by those figures.
    pub better_mode: Option<Mode>,
    /// The fast model's choice, when the simulation chose another deployment.
    pub fast_choice: Option<String>,
    /// Why, in one sentence.
    pub reason: String,
}

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
    /// The deployment written to `dgd.yaml`, chosen by the request's [`Prefer`] rule among
    /// the candidates ranked by [`search::rank`] (when none meets the SLOs: the closest). In
    /// simulate mode, with its simulated figures.
    pub chosen: Candidate,
    /// How it was chosen.
    pub choice: Choice,
    /// The best aggregated and disaggregated deployments (either may be missing), by the
    /// figures the choice was judged on.
    pub best_aggregated: Option<Candidate>,
    /// See [`Outcome::best_aggregated`].
    pub best_disaggregated: Option<Candidate>,
    /// Best deployment per (mode, TP combination), best first.
    pub candidates: Vec<Candidate>,
    /// Every sampled deployment with its frontier flag.
    pub points: Vec<FrontierPoint>,
    /// The planner profile (prefill at the chosen prefill TP, decode at the chosen decode TP).
    pub profile: Profile,
    /// GPUs of a worker the profile describes, (prefill, decode): its TP size unless the
    /// worker runs attention data-parallel replicas.
    pub profile_tp: (u32, u32),
    /// KV capacity of a decode worker, tokens.
    pub decode_kv_tokens: u64,
    /// The KV cache's dtype the workers were sized with (`search::served_llm`), which the
    /// DGD asks the engines for.
    pub kv_dtype: Dtype,
    /// TP sizes left out, with why.
    pub skipped: Vec<String>,
    /// What the chosen deployment's kernel times lean on beyond measurements of their own
    /// shapes on the request's GPU (`None`: nothing).
    pub kernels: Option<String>,
    /// Fast vs simulated figures (simulate mode).
    pub comparisons: Vec<Comparison>,
    /// Phase timings.
    pub timings: Timings,
}

/// Runs the profiler on a validated request (in simulate mode, each simulated candidate told
/// to `progress` as its run ends).
pub fn profile(
    request: ProfileRequest,
    mode: ProfileMode,
    progress: &dyn Observer,
) -> Result<Outcome, Error> {
    let t0 = Instant::now();
    let catalog = GpuCatalog::builtin();
    let gpu = catalog.get(&request.gpu).map_err(|e| Error::Config {
        path: "spec.hardware.gpuSku".into(),
        message: e.to_string(),
    })?;
    // The search takes the GPU onto the request's nodes (`gpu_on_its_nodes`).
    let search = search::Search::new(&request, gpu)?;
    if search.workers.is_empty() {
        return Err(Error::Config {
            path: "spec.hardware".into(),
            message: format!(
                "no TP size up to {} serves {} on {}: {}{}",
                request.max_tp,
                request.model,
                request.gpu,
                search.skipped.join("; "),
                if request.max_tp < request.total_gpus {
                    " (an engine may span nodes where \
                     spec.profilingConfig.config.hardware.max_num_gpus_per_engine allows it)"
                } else {
                    ""
                }
            ),
        });
    }
    for (flag, pin) in [
        ("--prefill-tp", request.pins.prefill),
        ("--decode-tp", request.pins.decode),
        ("--agg-tp", request.pins.aggregated),
    ] {
        // A pin counts a worker's GPUs (TP × attention DP), as the search's roles do.
        if let Some(gpus) = pin
            && !search.workers.iter().any(|w| w.split.gpus() == gpus)
        {
            let mut sizes: Vec<u32> = search.workers.iter().map(|w| w.split.gpus()).collect();
            sizes.sort_unstable();
            sizes.dedup();
            let sizes: Vec<String> = sizes.iter().map(u32::to_string).collect();
            return Err(Error::Config {
                path: flag.into(),
                message: format!(
                    "no worker of {gpus} GPUs serves {} on {}: the search's workers have {} \
                     GPUs{}",
                    request.model,
                    request.gpu,
                    sizes.join(", "),
                    if search.skipped.is_empty() {
                        String::new()
                    } else {
                        format!("; not searched: {}", search.skipped.join("; "))
                    }
                ),
            });
        }
    }
    let t1 = Instant::now();
    let result = search.run();
    let t2 = Instant::now();
    let no_deployment = || Error::Config {
        path: "spec.hardware.totalGpus".into(),
        message: format!(
            "{} GPUs hold no deployment of {}",
            request.total_gpus, request.model
        ),
    };
    let fast_chosen = choose(&result.candidates, request.prefer).ok_or_else(no_deployment)?;
    let (ranked, comparisons, judged_by) = match mode {
        ProfileMode::Fast => (result.candidates.clone(), Vec::new(), "fast"),
        ProfileMode::Simulate => {
            let top = simulated_set(&result.candidates);
            let comparisons =
                simulate::compare(&request, &top, search.max_batched_tokens, progress)?;
            let mut ranked: Vec<Candidate> = top
                .iter()
                .zip(&comparisons)
                .map(|(c, cmp)| simulate::as_simulated(&request, c, cmp))
                .collect();
            ranked.sort_by(search::rank);
            (ranked, comparisons, "simulation")
        }
    };
    let t3 = Instant::now();
    let chosen = choose(&ranked, request.prefer).ok_or_else(no_deployment)?;
    let best_of = |m: Mode| ranked.iter().find(|c| c.mode == m).cloned();
    let best_aggregated = best_of(Mode::Aggregated);
    let best_disaggregated = best_of(Mode::Disaggregated);
    let choice = Choice {
        prefer: request.prefer,
        judged_by,
        meets_slo: chosen.meets_slo(),
        better_mode: ranked.first().map(|c| c.mode),
        fast_choice: (fast_chosen.label() != chosen.label()).then(|| fast_chosen.label()),
        reason: reason(
            request.prefer,
            &chosen,
            &best_aggregated,
            &best_disaggregated,
        ),
    };
    // The profile describes the disaggregated workers the planner scales (for an aggregated
    // answer: its worker's split for both roles).
    let (psplit, dsplit) = match (chosen.prefill, chosen.decode, chosen.aggregated) {
        (Some(p), Some(d), _) => (p.split, d.split),
        (_, _, Some(a)) => (a.split, a.split),
        _ => unreachable!("a candidate has pools"),
    };
    let pm = search
        .pool_model(psplit, "prefill", search.prefill_max_num_seqs)
        .expect("chosen split has a worker");
    // The decode grid spans every concurrency the KV cache holds (the planner picks its own).
    let dm = search
        .pool_model(dsplit, "decode", search::MAX_BATCH)
        .expect("chosen split has a worker");
    let (ptp, dtp) = (psplit.gpus(), dsplit.gpus());
    let decode_kv_tokens = dm.max_kv_tokens;
    let profile = Profile::from_model(&pm, &dm).map_err(Error::Planner)?;
    // An aggregated answer's worker runs both steps, as the pair of roles does.
    let mut provenance = KernelProvenance::of(&pm.predictor, Steps::Prefill);
    provenance.merge(KernelProvenance::of(&dm.predictor, Steps::Decode));
    let kernels = provenance.sentence();
    let t4 = Instant::now();
    let skipped = search.skipped.clone();
    let kv_dtype = search.kv_dtype;
    drop(search);
    Ok(Outcome {
        request,
        mode,
        chosen,
        choice,
        best_aggregated,
        best_disaggregated,
        candidates: result.candidates,
        points: result.points,
        profile,
        profile_tp: (ptp, dtp),
        decode_kv_tokens,
        kv_dtype,
        skipped,
        kernels,
        comparisons,
        timings: Timings {
            setup_s: (t1 - t0).as_secs_f64(),
            search_s: (t2 - t1).as_secs_f64(),
            profile_s: (t4 - t3).as_secs_f64(),
            simulate_s: (t3 - t2).as_secs_f64(),
        },
    })
}

/// The deployment the rule `prefer` picks from `ranked` (best first by [`search::rank`]):
/// the first of the preferred mode meeting both SLOs, else the first.
fn choose(ranked: &[Candidate], prefer: Prefer) -> Option<Candidate> {
    let mode = match prefer {
        Prefer::Goodput => None,
        Prefer::Disagg => Some(Mode::Disaggregated),
        Prefer::Agg => Some(Mode::Aggregated),
    };
    mode.and_then(|m| ranked.iter().find(|c| c.mode == m && c.meets_slo()))
        .or_else(|| ranked.first())
        .cloned()
}

/// The candidates simulate mode runs: the top [`SIMULATED_CANDIDATES`], with the best of
/// each mode among them (the last replaced when a mode is missing), so that the simulation
/// can re-rank the two modes.
fn simulated_set(ranked: &[Candidate]) -> Vec<Candidate> {
    let mut top: Vec<Candidate> = ranked.iter().take(SIMULATED_CANDIDATES).cloned().collect();
    for m in [Mode::Aggregated, Mode::Disaggregated] {
        if top.len() >= 2
            && !top.iter().any(|c| c.mode == m)
            && let Some(best) = ranked.iter().find(|c| c.mode == m)
        {
            // Replace the last of the mode that has more than one.
            if let Some(i) = top.iter().rposition(|c| c.mode != m) {
                top[i] = best.clone();
            }
        }
    }
    top
}

fn words(m: Mode) -> &'static str {
    match m {
        Mode::Aggregated => "aggregated",
        Mode::Disaggregated => "disaggregated",
    }
}

/// Why `chosen` was chosen, with the best of the other mode beside it.
fn reason(
    prefer: Prefer,
    chosen: &Candidate,
    best_agg: &Option<Candidate>,
    best_disagg: &Option<Candidate>,
) -> String {
    if chosen.misses_only_budget() {
        let on = if chosen.misses.iter().any(|m| m.slo == "gpus") {
            format!("on {} GPUs", chosen.gpus)
        } else {
            "on more nodes than the request's".to_string()
        };
        return format!(
            "no deployment meets both SLOs within the request's GPUs and nodes; the closest, \
             {}, meets them {on}",
            chosen.label()
        );
    }
    if !chosen.meets_slo() {
        return format!(
            "no deployment meets both SLOs; the closest is {}",
            chosen.label()
        );
    }
    let why = match (prefer, chosen.mode) {
        (Prefer::Goodput, _) => "the most goodput per GPU meeting both SLOs".to_string(),
        (Prefer::Disagg, Mode::Disaggregated) | (Prefer::Agg, Mode::Aggregated) => {
            format!(
                "the best {} deployment meeting both SLOs",
                words(chosen.mode)
            )
        }
        (_, m) => format!(
            "no {} deployment meets both SLOs; the most goodput per GPU of any",
            words(if m == Mode::Aggregated {
                Mode::Disaggregated
            } else {
                Mode::Aggregated
            })
        ),
    };
    if !matches!(
        (prefer, chosen.mode),
        (Prefer::Goodput, _)
            | (Prefer::Disagg, Mode::Disaggregated)
            | (Prefer::Agg, Mode::Aggregated)
    ) {
        return format!(
            "{why} (--prefer {prefer}): {}, {:.0} tokens/s/GPU",
            chosen.label(),
            chosen.goodput_per_gpu
        );
    }
    let other = match chosen.mode {
        Mode::Aggregated => best_disagg,
        Mode::Disaggregated => best_agg,
    };
    let beside = match other {
        Some(o) if o.meets_slo() => format!(
            "; the best {}, {}, gives {:.0} tokens/s/GPU{}",
            words(o.mode),
            o.label(),
            o.goodput_per_gpu,
            if o.goodput_per_gpu > chosen.goodput_per_gpu {
                " (more, but not preferred)"
            } else {
                ""
            }
        ),
        Some(o) => format!("; no {} deployment meets both SLOs", words(o.mode)),
        None => String::new(),
    };
    format!(
        "{} (--prefer {prefer}): {}, {:.0} tokens/s/GPU{beside}",
        why,
        chosen.label(),
        chosen.goodput_per_gpu
    )
}

/// Reads the request, runs the profiler and writes every output into `out`.
pub fn run_file(
    request: &Path,
    overrides: &Overrides,
    mode: ProfileMode,
    out: &Path,
    progress: &dyn Observer,
) -> Result<Outcome, Error> {
    // The request must outlive its outputs: none of them may be written over it.
    if let Some(file) = output::OUTPUT_FILES
        .iter()
        .find(|f| crate::validate::same_file(&out.join(f), request))
    {
        return Err(Error::Config {
            path: "out".into(),
            message: format!(
                "{}: would write {file} over the request file {}; give another folder",
                out.display(),
                request.display()
            ),
        });
    }
    let req = ProfileRequest::from_file(request, overrides)?;
    let outcome = profile(req, mode, progress)?;
    output::write_all(&outcome, out)?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(mode: Mode, workers: u32, goodput: f64, meets: bool) -> Candidate {
        let pool = Some(PoolShape {
            split: Split::tensor(1),
            workers,
        });
        let disagg = mode == Mode::Disaggregated;
        Candidate {
            mode,
            prefill: pool.filter(|_| disagg),
            decode: pool.filter(|_| disagg),
            aggregated: pool.filter(|_| !disagg),
            batch: 8,
            gpus: 8,
            ttft_ms: 100.0,
            itl_ms: 10.0,
            request_rate: 1.0,
            tokens_per_s: goodput * 8.0,
            tokens_per_s_per_gpu: goodput,
            tokens_per_s_per_user: 100.0,
            concurrency: 1.0,
            goodput_per_gpu: if meets { goodput } else { 0.0 },
            misses: if meets {
                Vec::new()
            } else {
                vec![SloMiss {
                    slo: "itl",
                    target: 10.0,
                    estimate: 12.0,
                    unit: "ms",
                    over: 0.2,
                }]
            },
        }
    }

    #[test]
    fn the_rule_picks_and_the_simulated_set_holds_both_modes() {
        let mut ranked: Vec<Candidate> = (1..=6)
            .map(|w| cand(Mode::Disaggregated, w, 900.0 - f64::from(w), true))
            .chain([cand(Mode::Aggregated, 1, 800.0, true)])
            .collect();
        ranked.sort_by(search::rank);
        let label = |c: Option<Candidate>| c.map(|c| c.label());
        assert_eq!(
            label(choose(&ranked, Prefer::Goodput)),
            label(ranked.first().cloned())
        );
        assert_eq!(choose(&ranked, Prefer::Agg).unwrap().mode, Mode::Aggregated);
        let r = reason(
            Prefer::Agg,
            &ranked[6],
            &Some(ranked[6].clone()),
            &Some(ranked[0].clone()),
        );
        assert!(r.contains("more, but not preferred"), "{r}");
        // The aggregated candidate ranks 7th, yet is simulated in place of the 5th.
        let top = simulated_set(&ranked);
        assert_eq!(top.len(), SIMULATED_CANDIDATES);
        assert_eq!(top[4].mode, Mode::Aggregated);
        assert_eq!(top[..4], ranked[..4]);
        // A preferred mode meeting no SLO falls back to the best of any.
        ranked[6] = cand(Mode::Aggregated, 1, 800.0, false);
        ranked.sort_by(search::rank);
        assert_eq!(
            choose(&ranked, Prefer::Agg).unwrap().mode,
            Mode::Disaggregated
        );
    }
}
