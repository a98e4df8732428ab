//! Simulate mode: the top candidates run through the full simulator under the requested
//! workload (fixed ISL/OSL; Poisson at the requested rate, or closed-loop users at the
//! requested concurrency, or, with neither, Poisson at the rate the fast estimate plans each
//! candidate for, the arrivals the fast model assumes), in parallel; the fast and simulated TTFT, ITL and
//! throughput per GPU side by side, differences over 10 % flagged.

use serde::Serialize;
use servesim_models::cluster::router::RouterKind;
use servesim_models::hardware::GpuCatalog;

use super::candidate::{Candidate, Split};
use super::engine_settings::{
    GeneratorRules, deployed_batch_sizes, deployed_token_budget, mixes_chunks, scheduled_tokens,
    stops_overlap,
};
use super::placement::nodes_needed;
use super::request::ProfileRequest;
use super::search::{served_llm, slo_misses};
use crate::experiment::parallel;
use crate::progress::Observer;
use crate::report::Summary;
use crate::scenario::{ClusterConfig, PoolConfig, Scenario, ScenarioConfig, SloConfig};
use crate::{Error, run};
use servesim_traffic::{
    ArrivalConfig, ClosedConfig, DistConfig, OpenConfig, StreamConfig, WorkloadConfig,
};

/// Relative difference above which fast and simulated figures are said to disagree.
pub const DISAGREEMENT: f64 = 0.1;

/// Completions the measured window of one simulated run is sized for.
const MEASURED_REQUESTS: f64 = 20_000.0;
/// Runs per candidate, on seeds 1, 2, …: near the TTFT target the prefill queue runs at
/// 85–95 % utilisation, where one run's mean TTFT over 20,000 requests still wanders by
/// ±5–10 % from seed to seed; the mean of four settles within a few percent.
pub const SEEDS: u64 = 4;
/// Longest measured window, s (a candidate planned at a trickle of requests).
const MAX_WINDOW_S: f64 = 7_200.0;

/// A fast estimate against the simulation of the same deployment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// The deployment.
    pub label: String,
    /// The workload simulated.
    pub workload: String,
    /// Simulated seconds (warm-up included).
    pub duration_s: f64,
    /// Fast TTFT, ms.
    pub fast_ttft_ms: f64,
    /// Simulated mean TTFT, ms.
    pub sim_ttft_ms: Option<f64>,
    /// Fast ITL, ms.
    pub fast_itl_ms: f64,
    /// Simulated mean of the per-request mean ITL, ms.
    pub sim_itl_ms: Option<f64>,
    /// Fast output tokens/s per GPU.
    pub fast_tokens_per_s_per_gpu: f64,
    /// Simulated output tokens/s per GPU.
    pub sim_tokens_per_s_per_gpu: f64,
    /// Simulated share of requests meeting both SLOs.
    pub sim_slo_attainment: Option<f64>,
    /// The lowest and highest of the seeds' own mean TTFTs, ms (`None` where fewer than two
    /// seeds completed a request): how closely the simulation itself pins the figure. Near
    /// a worker's slot limit rare saturation episodes set the mean, and seeds differ by tens
    /// of percent.
    pub sim_ttft_ms_seeds: Option<[f64; 2]>,
    /// The same for the ITL.
    pub sim_itl_ms_seeds: Option<[f64; 2]>,
    /// Figures differing by more than [`DISAGREEMENT`]: `ttft`, `itl`, `throughput`.
    pub disagreements: Vec<String>,
    /// Of those, the ones whose fast figure lies within the seeds' own spread: the
    /// simulation does not pin them closer than the fast model is off.
    pub within_seed_spread: Vec<String>,
}

impl Comparison {
    /// The disagreeing figures in words, those within the seeds' own spread named
    /// (empty where none disagrees).
    pub fn disagreement_text(&self) -> String {
        if self.within_seed_spread.is_empty() {
            self.disagreements.join(", ")
        } else {
            format!(
                "{} ({} within the seeds' own spread)",
                self.disagreements.join(", "),
                self.within_seed_spread.join(", ")
            )
        }
    }

    /// The latency targets of `req` the simulation misses, as the re-ranking judges them
    /// ([`as_simulated`]), in words: "misses ITL in simulation", or empty.
    pub fn sim_miss_text(&self, req: &ProfileRequest) -> String {
        let ttft = self.sim_ttft_ms.unwrap_or(f64::NAN);
        let itl = self.sim_itl_ms.unwrap_or(f64::NAN);
        let missed: Vec<String> = slo_misses(req, ttft, itl)
            .iter()
            .map(|m| m.slo.to_uppercase())
            .collect();
        if missed.is_empty() {
            String::new()
        } else {
            format!("misses {} in simulation", missed.join(" and "))
        }
    }
}

/// The lowest and highest of `values`, where there are at least two.
fn spread(values: impl Iterator<Item = f64>) -> Option<[f64; 2]> {
    let v: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    (v.len() >= 2).then(|| {
        [
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ]
    })
}

/// A simulation of one candidate.
#[derive(Clone, Debug)]
pub struct SimSetup {
    /// The scenario, as a file would say it.
    pub config: ScenarioConfig,
    /// The workload, in words.
    pub what: String,
    /// Simulated seconds.
    pub duration_s: f64,
    /// Warm-up, s.
    pub warmup_s: f64,
    /// Closed-loop users (none: Poisson arrivals).
    pub users: Option<u32>,
}

/// The scenario simulating `c` under the request's workload; `engine_budget` is the
/// backend's own token budget on the request's GPU (SGLang's chunked-prefill size, which
/// bounds a chunk under the DGD's budget too).
pub fn sim_setup(req: &ProfileRequest, c: &Candidate, engine_budget: u32) -> SimSetup {
    let gpn = req.gpus_per_node.max(1);
    // As many nodes as its workers take, each within a node or on whole ones.
    let workers: Vec<(u32, u32)> = [c.prefill, c.decode, c.aggregated]
        .into_iter()
        .flatten()
        .map(|p| (p.split.gpus(), p.workers))
        .collect();
    let nodes = u32::try_from(nodes_needed(gpn, &workers))
        .unwrap_or(u32::MAX)
        .max(1);
    let pool = |name: &str, split: Split, workers: u32, batch: Option<u32>| {
        let mut p = PoolConfig::new(name, name, split.tp, workers);
        p.attention_dp = split.attention_dp;
        p.ep = split.ep;
        if split.runs_deepep(req.backend) {
            p.moe_a2a_backend = Some("deepep".to_string());
        }
        p.startup_s = 0.0;
        // As the DGD's frontend routes (`--router-mode round-robin`, Dynamo's default).
        p.router = Some(RouterKind::RoundRobin.name().to_string());
        p.engine.max_num_seqs = batch;
        if name == "aggregated" && mixes_chunks(req.backend) {
            p.engine.mixed_batches = Some(true);
        }
        if stops_overlap(req.backend, name) {
            p.engine.overlap_schedule = Some(false);
        }
        // The graphs the DGD has the worker capture, for a rank's batch, and its token
        // budget (a rank's for each attention-DP rank).
        let per_rank = batch.map(|b| split.per_rank(b));
        if let Some(t) = deployed_token_budget(
            GeneratorRules::Default,
            req.backend,
            name,
            req.isl,
            per_rank,
        ) {
            let t = scheduled_tokens(req.backend, t, engine_budget);
            p.engine.max_batched_tokens = Some(t.saturating_mul(split.attention_dp.max(1)));
        }
        if let Some(sizes) = per_rank.and_then(|b| deployed_batch_sizes(req.backend, b)) {
            p.engine.cuda_graph_batch_sizes = Some(sizes);
            p.engine.cuda_graph_padding = Some(true);
        }
        p
    };
    let pools = match (c.prefill, c.decode, c.aggregated) {
        (Some(p), Some(d), _) => vec![
            pool("prefill", p.split, p.workers, None),
            pool("decode", d.split, d.workers, Some(c.batch)),
        ],
        (_, _, Some(a)) => vec![pool("aggregated", a.split, a.workers, Some(c.batch))],
        _ => Vec::new(),
    };
    // One request's life, s: what the warm-up and the run length are measured in.
    let life = ((c.ttft_ms.min(60_000.0) + f64::from(req.osl) * c.itl_ms) / 1e3).clamp(0.5, 600.0);
    // The fast model takes arrivals as Poisson (`servesim_models::analytic`): without a
    // rate or a concurrency in the request, the candidate is simulated under Poisson
    // arrivals at the rate the fast model planned it for, so that both judge the same load.
    let planned = (req.concurrency.is_none()).then_some(c.request_rate);
    let open_rate = req.request_rate.or(planned);
    let (stream, what, ramp, users) = if let Some(r) = open_rate {
        let fixed = |value: u32| {
            Some(DistConfig::Fixed {
                value: f64::from(value),
            })
        };
        let open = OpenConfig {
            arrival: ArrivalConfig::Poisson { rate_per_s: r },
            input: fixed(req.isl),
            output: fixed(req.osl),
            sizes_from: None,
        };
        (
            StreamConfig::open("profile", open),
            format!("Poisson {} req/s", (r * 1e3).round() / 1e3),
            0.0,
            None,
        )
    } else {
        let users = req.concurrency.unwrap_or(1);
        let closed = ClosedConfig {
            ramp_s: life,
            ..ClosedConfig::one_turn_fixed(users, req.isl, req.osl)
        };
        (
            StreamConfig::closed("profile", closed),
            format!("{users} closed-loop users"),
            life,
            Some(users),
        )
    };
    // The measured window holds at least `MEASURED_REQUESTS` completions: near a TTFT
    // target the prefill queue runs at high utilisation, where a mean over a few hundred
    // Poisson arrivals still wanders by tens of percent.
    let rate = open_rate.unwrap_or(f64::from(req.concurrency.unwrap_or(1)) / life);
    let window = (8.0 * life)
        .max(60.0)
        .max(MEASURED_REQUESTS / rate.max(1e-9))
        .min(MAX_WINDOW_S);
    let warmup = (ramp + 2.0 * life).ceil();
    let duration = (warmup + window).ceil();
    let mut cluster = ClusterConfig::new(nodes, pools);
    cluster.gpu_budget = Some(c.gpus.min(nodes.saturating_mul(gpn)));
    // The request's nodes, where they hold fewer GPUs than the datasheet's (as the fast
    // search took them: `ProfileRequest::gpu_on_its_nodes`).
    let sku_gpn = GpuCatalog::builtin().get(&req.gpu).map(|g| g.gpus_per_node);
    cluster.gpus_per_node = sku_gpn.ok().filter(|&n| n != gpn).map(|_| gpn);
    let slo = SloConfig {
        ttft_ms: req.ttft_ms,
        itl_ms: req.itl_ms,
    };
    let traffic = WorkloadConfig::of_streams(vec![stream]);
    let mut config = ScenarioConfig::new(
        &req.model,
        &req.gpu,
        req.backend.name(),
        duration,
        slo,
        cluster,
        traffic,
    );
    config.name = Some(c.label().replace(['×', '(', ')', ' ', '+'], "_"));
    // The fast model's tables time the simulation too (the scenario is read from ".").
    config.calibration = req
        .calibration
        .as_ref()
        .map(|d| d.to_string_lossy().into_owned());
    config.kv_dtype = served_llm(&req.model)
        .ok()
        .map(|l| l.kv_dtype.name().to_string());
    config.metrics.warmup_s = warmup;
    SimSetup {
        config,
        what,
        duration_s: duration,
        warmup_s: warmup,
        users,
    }
}

/// `c` with its simulated figures in place of the fast ones (mean TTFT and ITL against the
/// targets, output tokens/s per GPU), for re-ranking by [`super::search::rank`]. A missed GPU
/// budget stays missed; a figure the simulation lacks (no completions) counts as a miss.
pub fn as_simulated(req: &ProfileRequest, c: &Candidate, cmp: &Comparison) -> Candidate {
    let ttft = cmp.sim_ttft_ms.unwrap_or(f64::NAN);
    let itl = cmp.sim_itl_ms.unwrap_or(f64::NAN);
    let mut misses = slo_misses(req, ttft, itl);
    misses.extend(
        (c.misses.iter())
            .filter(|m| m.slo == "gpus" || m.slo == "nodes")
            .cloned(),
    );
    let per_gpu = cmp.sim_tokens_per_s_per_gpu;
    Candidate {
        ttft_ms: ttft,
        itl_ms: itl,
        tokens_per_s: per_gpu * f64::from(c.gpus),
        tokens_per_s_per_gpu: per_gpu,
        tokens_per_s_per_user: 1e3 / itl,
        goodput_per_gpu: if misses.is_empty() { per_gpu } else { 0.0 },
        misses,
        ..c.clone()
    }
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-9)
}

/// Simulates each candidate (in parallel, each told to `progress` as its run ends) and
/// compares it with its fast estimate; `engine_budget` as [`sim_setup`] takes it.
pub fn compare(
    req: &ProfileRequest,
    top: &[Candidate],
    engine_budget: u32,
    progress: &dyn Observer,
) -> Result<Vec<Comparison>, Error> {
    let setups: Vec<SimSetup> = top
        .iter()
        .map(|c| sim_setup(req, c, engine_budget))
        .collect();
    let mut jobs = Vec::new();
    for (i, setup) in setups.iter().enumerate() {
        for seed in 1..=SEEDS {
            let mut config = setup.config.clone();
            config.seed = seed;
            let s = Scenario::validate(config, std::path::Path::new("."))?;
            jobs.push((i, s));
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    progress.phase("simulated candidates", jobs.len() as u64);
    let results: Vec<Result<(usize, Summary), Error>> =
        parallel(jobs, threads, progress, |(i, s)| {
            run(&s).map(|(summary, _)| (i, summary))
        });
    let mut runs: Vec<Vec<Summary>> = vec![Vec::new(); top.len()];
    for r in results {
        let (i, s) = r?;
        runs[i].push(s);
    }
    let mut out = Vec::new();
    for ((c, setup), runs) in top.iter().zip(setups).zip(runs) {
        let pooled = Pooled::of(&runs, &setup, f64::from(req.osl));
        let sim_thpt = if pooled.tokens_per_s.is_finite() {
            pooled.tokens_per_s / f64::from(c.gpus)
        } else {
            0.0
        };
        let (sim_ttft, sim_itl) = (pooled.ttft_ms, pooled.itl_ms);
        let ttft_seeds = spread(runs.iter().filter_map(|s| s.all.ttft_ms.mean));
        let itl_seeds = spread(runs.iter().filter_map(|s| s.all.itl_mean_ms.mean));
        let inside = |x: f64, r: Option<[f64; 2]>| r.is_some_and(|[lo, hi]| lo <= x && x <= hi);
        let mut dis = Vec::new();
        let mut within = Vec::new();
        if sim_ttft.is_none_or(|v| rel(c.ttft_ms, v) > DISAGREEMENT) {
            dis.push("ttft".to_string());
            if inside(c.ttft_ms, ttft_seeds) {
                within.push("ttft".to_string());
            }
        }
        if sim_itl.is_none_or(|v| rel(c.itl_ms, v) > DISAGREEMENT) {
            dis.push("itl".to_string());
            if inside(c.itl_ms, itl_seeds) {
                within.push("itl".to_string());
            }
        }
        if rel(c.tokens_per_s_per_gpu, sim_thpt) > DISAGREEMENT {
            dis.push("throughput".to_string());
        }
        out.push(Comparison {
            label: c.label(),
            workload: setup.what,
            duration_s: setup.duration_s,
            fast_ttft_ms: c.ttft_ms,
            sim_ttft_ms: sim_ttft,
            fast_itl_ms: c.itl_ms,
            sim_itl_ms: sim_itl,
            fast_tokens_per_s_per_gpu: c.tokens_per_s_per_gpu,
            sim_tokens_per_s_per_gpu: sim_thpt,
            sim_slo_attainment: pooled.slo_attainment,
            sim_ttft_ms_seeds: ttft_seeds,
            sim_itl_ms_seeds: itl_seeds,
            disagreements: dis,
            within_seed_spread: within,
        });
    }
    Ok(out)
}

/// A candidate's runs pooled: each mean over every measured request of every seed.
struct Pooled {
    ttft_ms: Option<f64>,
    itl_ms: Option<f64>,
    tokens_per_s: f64,
    slo_attainment: Option<f64>,
}

impl Pooled {
    fn of(runs: &[Summary], setup: &SimSetup, osl: f64) -> Pooled {
        // Means weighted by each run's completions (every request counts once).
        let weighted = |f: &dyn Fn(&Summary) -> Option<f64>| {
            let (mut sum, mut n) = (0.0, 0.0);
            for s in runs {
                if let Some(v) = f(s) {
                    let w = s.all.completed as f64;
                    sum += v * w;
                    n += w;
                }
            }
            (n > 0.0).then(|| sum / n)
        };
        // Throughput from the completions' latencies, not from the tokens counted in the
        // window: requests still in flight at the end would bias that low by about one
        // request's life over the window. Closed loop: Little's law, users / mean E2E; open
        // loop: the completions over the window less one mean life.
        let e2e_s = weighted(&|s| s.all.e2e_ms.mean).unwrap_or(f64::NAN) / 1e3;
        let measured = setup.duration_s - setup.warmup_s;
        let completed = runs.iter().map(|s| s.all.completed as f64).sum::<f64>();
        let tokens_per_s = match setup.users {
            Some(users) => f64::from(users) * osl / e2e_s,
            None => completed / runs.len().max(1) as f64 * osl / (measured - e2e_s).max(1.0),
        };
        Pooled {
            ttft_ms: weighted(&|s| s.all.ttft_ms.mean),
            itl_ms: weighted(&|s| s.all.itl_mean_ms.mean),
            tokens_per_s,
            slo_attainment: weighted(&|s| s.slo_attainment),
        }
    }
}

/// A simulated mean with the range of the seeds' own means, as `314 [189–463]`.
pub fn with_seeds(mean: Option<f64>, seeds: Option<[f64; 2]>, decimals: usize) -> String {
    match (mean, seeds) {
        (Some(v), Some([lo, hi])) => format!("{v:.decimals$} [{lo:.decimals$}–{hi:.decimals$}]"),
        (Some(v), None) => format!("{v:.decimals$}"),
        (None, _) => "-".into(),
    }
}
