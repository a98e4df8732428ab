//! The fast search: every TP size per role, batch per worker up to the KV capacity, worker
//! counts within the GPU budget, timed with the performance model alone.
//!
//! Per worker (TP `t`, one node at most), from [`servesim_models::analytic`]:
//! - **prefill** (disaggregated, `disaggregated.rs`): each of `x` workers behind Dynamo's round-robin router
//!   takes every `x`-th request and fills each iteration with the waiting prompts up to its
//!   token budget ([`servesim_models::analytic::BatchedPrefill`]; a prompt at least the
//!   budget long is prefilled alone, service `S`, and the `x` workers wait as one M/D/x
//!   queue); the largest rate keeping the mean TTFT within the target (at most
//!   [`MAX_PREFILL_UTILISATION`] of their peak) is their capacity.
//! - **decode**: ITL at `b` sequences = one decode step of `b` sequences at the mean context
//!   ISL + OSL/2; throughput per GPU `b / ITL / t`. `b` is bounded by the KV capacity (each
//!   sequence may hold ISL + OSL tokens: no preemption) and 1024. The largest `b` meeting the
//!   ITL target is found by doubling then bisection (ITL grows with `b`).
//! - **aggregated** (`aggregated.rs`): the stationary mixed-batch estimate at `b` sequences.
//! - **slots**: `b` is the mean number of sequences per worker; the `max_num_seqs` written
//!   to the DGD (the candidate's `batch`) leaves headroom over it for Poisson bursts at each
//!   worker ([`servesim_models::analytic::slots_with_headroom`]).
//! - **swings**: at the planned rate the count in flight swings around its mean, every step
//!   at its own count's time; the candidate's ITL and its wait for a slot are those of the
//!   count's stationary chain ([`servesim_models::analytic::decode_occupancy`]; for an
//!   aggregated worker its flow-equivalent server, and the TTFT an arrival meets at each
//!   count), each step replaying the CUDA graphs the DGD captures for the candidate's
//!   slots (`Search::deployed_graphs`).
//! - **routing**: the DGD's frontend runs Dynamo's default router (`--router-mode
//!   round-robin`, written out in it), and `--mode simulate` routes the same way.
//!
//! Deployments: disaggregated `x` prefill + `y` decode workers serve
//! `min(x · prefill capacity, y · decode capacity)` requests/s; aggregated `n` workers each
//! serve theirs. Without a requested load the counts maximise output tokens/s per GPU within
//! the budget (ties: more throughput); with a request rate or concurrency they are the fewest
//! that carry it (rate matching), however many GPUs that takes: a deployment beyond the
//! budget misses it by what the load needs. A disaggregated request's TTFT also holds what
//! its first token waits for on the decode side, whose stream the client reads
//! ([`DecodeSideWait`]). Under a concurrency the users form a closed loop, and the figures
//! are the loop's (`closed_loop.rs`), not a Poisson stream's at its rate.

use servesim_models::analytic::SteadyLoad;

use servesim_models::dtype::Dtype;
use servesim_models::engine::cuda_graph::CudaGraphs;
use servesim_models::engine::{EngineConfig, kv_capacity_tokens_split};
use servesim_models::hardware::GpuSku;
use servesim_models::llm::{DEFAULT_MEM_FRACTION, LlmSpec};
use servesim_models::perf::{CachedPredictor, IterationPredictor, KernelTimer};
use servesim_planner::profile::PoolModel;

use super::candidate::{Candidate, FrontierPoint, Mode, SloMiss, Split, splits};
pub use super::decode_side::DecodeSideWait;
use super::engine_settings::{
    GeneratorRules, deployed_batch_sizes, deployed_token_budget, fast_model_graphs,
    scheduled_tokens,
};
use super::placement::nodes_taken;
use super::request::ProfileRequest;
use crate::Error;
use crate::scenario::measured_timer;

/// Most sequences a worker (each attention-DP rank of one) is given: the scheduler's
/// ceiling in this search.
pub const MAX_BATCH: u32 = 1024;
/// Highest prefill utilisation a deployment is planned at.
pub const MAX_PREFILL_UTILISATION: f64 = 0.95;

/// One worker shape's performance model.
#[derive(Clone)]
pub struct Worker {
    /// How its GPUs are split.
    pub split: Split,
    /// Exact predictor (for the planner profile).
    pub predictor: IterationPredictor,
    pub(super) cached: CachedPredictor,
    /// The CUDA graphs its DGD captures at this TP (decode steps padded or eager as the engine
    /// runs them).
    pub(super) graphs: CudaGraphs,
    /// KV capacity, tokens.
    pub kv_tokens: u64,
    /// A sequence's Gated DeltaNet state in KV tokens (0 without such layers).
    pub state_tokens: u64,
}

/// Everything a search needs.
#[derive(Clone)]
pub struct Search<'a> {
    /// The request.
    pub req: &'a ProfileRequest,
    /// Workers by TP (TP sizes that fit).
    pub workers: Vec<Worker>,
    /// TP sizes skipped, with why.
    pub skipped: Vec<String>,
    /// Token budget per iteration.
    pub max_batched_tokens: u32,
    /// Whether the engine splits prompts to fill the budget (chunked prefill).
    pub chunked_prefill: bool,
    /// `max_num_seqs` of prefill workers.
    pub prefill_max_num_seqs: u32,
    /// What a disaggregated first token waits for on the decode side.
    pub decode_side: DecodeSideWait,
    /// The model's response header: decode steps between an aggregated worker's prefill
    /// and the first token with text ([`LlmSpec::response_header_tokens`]).
    pub header_tokens: u32,
    /// The KV cache's dtype the workers are sized with ([`served_llm`]).
    pub kv_dtype: Dtype,
    /// Aggregated workers plan each iteration while the previous one runs
    /// ([`EngineConfig::overlap_schedule`]).
    pub overlap_schedule: bool,
    /// The TTFT a disaggregated deployment's prefill pool is planned for (see
    /// `prefill_ttft_target_ms`).
    pub(super) prefill_ttft_ms: f64,
}

/// The model as served: FP8 weights come with an FP8 KV cache (as aiconfigurator and the
/// shipped scenarios assume).
pub fn served_llm(model: &str) -> Result<LlmSpec, Error> {
    let llm = LlmSpec::lookup(model).map_err(|e| Error::Config {
        path: "spec.model".into(),
        message: e.to_string(),
    })?;
    Ok(if llm.weight_dtype == Dtype::Fp8 {
        llm.with_dtypes(Dtype::Fp8, Dtype::Fp8)
    } else {
        llm
    })
}

impl<'a> Search<'a> {
    /// Builds the worker models for every split of [`splits`] within `req.max_tp` GPUs.
    pub fn new(req: &'a ProfileRequest, gpu: &GpuSku) -> Result<Search<'a>, Error> {
        let llm = served_llm(&req.model)?;
        let timer = match &req.calibration {
            Some(dir) => {
                measured_timer(dir, gpu, req.backend)
                    .map_err(|message| Error::Config {
                        path: "--calibration".into(),
                        message,
                    })?
                    .timer
            }
            None => KernelTimer::shipped_builtin(&gpu.sku, req.backend).map_err(Error::Models)?,
        };
        // Only the token budget and the slot count are read: neither depends on TP.
        let d = EngineConfig::for_backend(req.backend, gpu, 1);
        let gpu = req.gpu_on_its_nodes(gpu);
        let mut workers = Vec::new();
        let mut skipped = Vec::new();
        for split in splits(&llm, req.max_tp) {
            let par = split.parallelism();
            let name = split.label();
            // A worker wider than a node spans whole nodes (the DGD's `multinode.nodeCount`
            // with the same GPUs on each).
            let gpn = req.gpus_per_node.max(1);
            if split.gpus() > gpn && split.gpus() % gpn != 0 {
                skipped.push(format!(
                    "{name}: {} GPUs do not fill whole nodes of {gpn}",
                    split.gpus()
                ));
                continue;
            }
            // The KV capacity as the simulator's engine reads its memory knob (a share of
            // the whole GPU, or TensorRT-LLM's share of what the weights leave).
            // A Gated DeltaNet model's state per sequence, in KV tokens (0 for others).
            // Under attention DP a sequence lives on one rank, in that rank's share.
            let state_tokens = llm.state_tokens_per_sequence(&par);
            let ranks = u64::from(split.attention_dp.max(1));
            let kv =
                match kv_capacity_tokens_split(req.backend, &llm, &gpu, &par, DEFAULT_MEM_FRACTION)
                {
                    Ok(kv) if kv / ranks >= u64::from(req.isl + req.osl) + state_tokens => kv,
                    Ok(kv) => {
                        let rank = if ranks > 1 {
                            format!(" ({} a rank)", kv / ranks)
                        } else {
                            String::new()
                        };
                        skipped.push(format!(
                            "{name}: KV cache of {kv} tokens{rank} holds no request of {} tokens",
                            req.isl + req.osl
                        ));
                        continue;
                    }
                    Err(e) => {
                        skipped.push(format!("{name}: {e}"));
                        continue;
                    }
                };
            let predictor =
                IterationPredictor::with_parallelism(&llm, &par, &gpu, req.backend, timer.clone())
                    .and_then(|p| {
                        if split.runs_deepep(req.backend) {
                            p.with_deepep()
                        } else {
                            Ok(p)
                        }
                    });
            match predictor {
                Ok(p) => workers.push(Worker {
                    split,
                    cached: CachedPredictor::new(p.clone()),
                    // Captured per attention-DP rank, for the rank's own batch.
                    graphs: fast_model_graphs(req.backend, d.max_num_seqs, split.tp, MAX_BATCH)
                        .per_rank(split.attention_dp),
                    predictor: p,
                    kv_tokens: kv,
                    state_tokens,
                }),
                Err(e) => skipped.push(format!("{name}: {e}")),
            }
        }
        let mut search = Search {
            req,
            workers,
            skipped,
            max_batched_tokens: d.max_batched_tokens,
            chunked_prefill: d.chunked_prefill,
            prefill_max_num_seqs: d.max_num_seqs,
            decode_side: DecodeSideWait::new(&llm, &gpu, &d),
            header_tokens: llm.response_header_tokens,
            kv_dtype: llm.kv_dtype,
            overlap_schedule: d.overlap_schedule,
            prefill_ttft_ms: req.ttft_ms,
        };
        search.prefill_ttft_ms = search.prefill_ttft_target_ms();
        Ok(search)
    }

    /// The request's sizes and the engine's token budget.
    pub(super) fn load(&self) -> SteadyLoad {
        SteadyLoad {
            isl: self.req.isl,
            osl: self.req.osl,
            max_batched_tokens: self.max_batched_tokens,
            chunked_prefill: self.chunked_prefill,
        }
    }

    /// [`Search::load`] on a `role` worker of `split`, under the token budget the DGD gives
    /// it ([`Search::worker_token_budget`]), as the simulated engine runs it.
    pub(super) fn load_of(&self, split: Split, role: &str) -> SteadyLoad {
        SteadyLoad {
            max_batched_tokens: self.worker_token_budget(split, role),
            ..self.load()
        }
    }

    /// The token budget of a `role` worker of `split`: a rank's for each attention-DP rank
    /// (each schedules its own batch), as the DGD sets it ([`deployed_token_budget`]), the
    /// backend's default where it sets none. An aggregated worker's grows with its batch;
    /// the search's largest batch stands for it, so that a prompt fits beside any batch
    /// of decodes, as in the deployment.
    pub(super) fn worker_token_budget(&self, split: Split, role: &str) -> u32 {
        let backend = self.req.backend;
        let per_rank = deployed_token_budget(
            GeneratorRules::Default,
            backend,
            role,
            self.req.isl,
            Some(MAX_BATCH),
        )
        .map_or(self.max_batched_tokens, |t| {
            scheduled_tokens(backend, t, self.max_batched_tokens)
        });
        per_rank.saturating_mul(split.attention_dp.max(1))
    }

    /// The decode steps, at `itl_ms` each, that make a response header after the token a
    /// prefill makes: the client's first token waits for them.
    pub(super) fn header_ms(&self, itl_ms: f64) -> f64 {
        f64::from(self.header_tokens) * itl_ms
    }

    /// Iterations an arriving prompt waits for beyond the one in flight: the one planned
    /// before it came, under an overlap schedule.
    pub(super) fn overlap_iterations(&self) -> f64 {
        f64::from(u8::from(self.overlap_schedule))
    }

    /// Largest decode batch the KV cache holds without preemption.
    pub fn batch_cap(&self, w: &Worker) -> u32 {
        // A sequence's tokens and, for Gated DeltaNet layers, its fixed state.
        let per = u64::from(self.req.isl) + u64::from(self.req.osl) + w.state_tokens;
        // The engines' batch limits are per attention-DP rank, and each rank holds whole
        // sequences in its own share of the KV.
        let ranks = u64::from(w.split.attention_dp.max(1));
        let per_rank = ((w.kv_tokens / ranks) as f64 * 0.99) as u64 / per;
        (per_rank * ranks).clamp(1, u64::from(MAX_BATCH) * ranks) as u32
    }

    /// Decode step time at `b` sequences of mean context, ms.
    pub fn decode_itl_ms(&self, w: &Worker, b: u32) -> f64 {
        self.load().decode_step_ms(&w.cached, &w.graphs, b)
    }

    /// The CUDA graphs the DGD has a worker of `w` capture once its `max_num_seqs` is
    /// `slots` ([`deployed_batch_sizes`], per attention-DP rank), which `--mode simulate`
    /// runs too: the ladder, and every size within 8 of a rank's share of `slots`. A worker's
    /// own graphs (`Worker::graphs`, taken before its batch is known) pad a step just below
    /// the batch to the next size of the ladder (97 sequences a rank to 112, a step 6 %
    /// longer on DeepSeek-R1 DP8EP8), which the deployed worker does not. The backend's own
    /// where the DGD writes none (vLLM's, as the worker's).
    pub(super) fn deployed_graphs(&self, w: &Worker, slots: u32) -> CudaGraphs {
        match deployed_batch_sizes(self.req.backend, w.split.per_rank(slots)) {
            Some(sizes) => CudaGraphs::new(sizes, true).per_rank(w.split.attention_dp),
            None => w.graphs.clone(),
        }
    }

    /// Largest `b` in `1..=cap` with `ok(b)`, assuming `ok` holds up to some point and
    /// fails beyond: doubling, then bisection.
    pub fn largest(cap: u32, mut ok: impl FnMut(u32) -> bool) -> Option<u32> {
        if cap == 0 || !ok(1) {
            return None;
        }
        let mut lo = 1u32;
        loop {
            let next = lo.saturating_mul(2).min(cap);
            if next == lo {
                return Some(lo);
            }
            if ok(next) {
                lo = next;
            } else {
                let mut hi = next; // fails
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if ok(mid) {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                return Some(lo);
            }
        }
    }

    /// Batch sizes sampled for the frontier, up to `cap`, with `extra` included.
    pub(super) fn grid(cap: u32, extra: Option<u32>) -> Vec<u32> {
        let mut v: Vec<u32> = [
            1u32, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 512,
            640, 768, 1024,
        ]
        .into_iter()
        .filter(|&b| b <= cap)
        .collect();
        v.push(cap);
        v.extend(extra);
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The SLOs TTFT `ttft` and ITL `itl` miss, the GPU budget when `gpus` exceed it, and
    /// the request's nodes when `workers` (GPUs of a worker, how many) do not fit them.
    pub(super) fn misses_within(
        &self,
        ttft: f64,
        itl: f64,
        gpus: u32,
        workers: &[(u32, u32)],
    ) -> Vec<SloMiss> {
        let budget = self.req.total_gpus;
        let mut misses = slo_misses(self.req, ttft, itl);
        if gpus > budget {
            misses.push(SloMiss {
                slo: "gpus",
                target: f64::from(budget),
                estimate: f64::from(gpus),
                unit: "GPUs",
                over: f64::from(gpus) / f64::from(budget) - 1.0,
            });
        } else {
            let needed = nodes_taken(self.req.gpus_per_node, self.req.total_gpus, workers);
            let nodes = u64::from(self.nodes());
            if needed > nodes {
                misses.push(SloMiss {
                    slo: "nodes",
                    target: nodes as f64,
                    estimate: needed as f64,
                    unit: "nodes",
                    over: needed as f64 / nodes as f64 - 1.0,
                });
            }
        }
        misses
    }

    /// The request's nodes: its GPUs in nodes of its size, the last one perhaps in part.
    pub(super) fn nodes(&self) -> u32 {
        self.req.total_gpus.div_ceil(self.req.gpus_per_node.max(1))
    }

    /// Whether `workers` (GPUs of a worker, how many) fit the request's nodes.
    pub(super) fn fits_nodes(&self, workers: &[(u32, u32)]) -> bool {
        nodes_taken(self.req.gpus_per_node, self.req.total_gpus, workers) <= u64::from(self.nodes())
    }

    /// The workers searched for a role whose size (GPUs a worker: its TP, times its
    /// attention DP) the user may have fixed.
    pub(super) fn role(&self, pin: Option<u32>) -> impl Iterator<Item = (usize, &Worker)> {
        self.workers
            .iter()
            .enumerate()
            .filter(move |(_, w)| pin.is_none_or(|gpus| w.split.gpus() == gpus))
    }

    /// Runs the search: the best candidate per (mode, TP combination), and every sampled
    /// point with its frontier flag. Its shares run on as many threads as the machine has
    /// (see [`Search::run_on`]).
    pub fn run(&self) -> SearchResult {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.run_on(threads)
    }

    /// The planner's view of a `role` worker split as `split` (for
    /// [`servesim_planner::Profile::from_model`]).
    pub fn pool_model(&self, split: Split, role: &str, max_num_seqs: u32) -> Option<PoolModel> {
        let w = self.workers.iter().find(|w| w.split == split)?;
        Some(PoolModel {
            predictor: w.predictor.clone(),
            tp: split.gpus(),
            max_kv_tokens: w.kv_tokens,
            max_num_seqs,
            max_batched_tokens: self.worker_token_budget(split, role),
        })
    }
}

/// The SLOs that mean TTFT `ttft` and mean ITL `itl` miss (NaN counts as a miss).
pub fn slo_misses(req: &ProfileRequest, ttft: f64, itl: f64) -> Vec<SloMiss> {
    let mut m = Vec::new();
    for (slo, target, est) in [("ttft", req.ttft_ms, ttft), ("itl", req.itl_ms, itl)] {
        if est.is_nan() || est > target * (1.0 + 1e-9) {
            m.push(SloMiss {
                slo,
                target,
                estimate: est,
                unit: "ms",
                over: est / target - 1.0,
            });
        }
    }
    m
}

/// The better of two candidates by [`rank`].
pub(super) fn pick(a: Option<Candidate>, b: Candidate) -> Option<Candidate> {
    match a {
        Some(a) if rank(&a, &b).is_le() => Some(a),
        _ => Some(b),
    }
}

/// Order: SLO-meeting first, by goodput per GPU (more first), then total throughput, then
/// fewer GPUs; then those meeting the latency targets beyond the GPU budget, fewest GPUs
/// first (what the load needs: the answer to how many GPUs to buy); then the rest by how
/// far they miss ([`Candidate::miss_factor`], closest first).
pub fn rank(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    match (a.meets_slo(), b.meets_slo()) {
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (true, true) => b
            .goodput_per_gpu
            .total_cmp(&a.goodput_per_gpu)
            .then(b.tokens_per_s.total_cmp(&a.tokens_per_s))
            .then(a.gpus.cmp(&b.gpus))
            .then(a.label().cmp(&b.label())),
        (false, false) => match (a.misses_only_budget(), b.misses_only_budget()) {
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            (true, true) => a.gpus.cmp(&b.gpus),
            (false, false) => std::cmp::Ordering::Equal,
        }
        .then(a.miss_factor().total_cmp(&b.miss_factor()))
        .then(b.tokens_per_s_per_gpu.total_cmp(&a.tokens_per_s_per_gpu))
        .then(a.label().cmp(&b.label())),
    }
}

/// Marks the points on each mode's Pareto frontier of tokens/s/GPU against tokens/s/user
/// (points meeting both SLOs within the GPU budget; none better in both).
pub fn frontier(mut points: Vec<Candidate>) -> Vec<FrontierPoint> {
    points.sort_by(|a, b| {
        a.mode
            .cmp(&b.mode)
            .then(b.tokens_per_s_per_user.total_cmp(&a.tokens_per_s_per_user))
            .then(b.tokens_per_s_per_gpu.total_cmp(&a.tokens_per_s_per_gpu))
    });
    let mut out = Vec::with_capacity(points.len());
    let mut best_gpu: Option<(Mode, f64)> = None;
    for c in points {
        let ok = c.meets_slo();
        let cur = match best_gpu {
            Some((m, v)) if m == c.mode => v,
            _ => f64::NEG_INFINITY,
        };
        let on = ok && c.tokens_per_s_per_gpu > cur;
        if on {
            best_gpu = Some((c.mode, c.tokens_per_s_per_gpu));
        } else if best_gpu.is_none_or(|(m, _)| m != c.mode) {
            best_gpu = Some((c.mode, f64::NEG_INFINITY));
        }
        out.push(FrontierPoint {
            candidate: c,
            on_frontier: on,
        });
    }
    out
}

/// What the search found.
pub struct SearchResult {
    /// The best deployment per (mode, TP combination), best first.
    pub candidates: Vec<Candidate>,
    /// Every sampled deployment, by mode then tokens/s/user, with its frontier flag.
    pub points: Vec<FrontierPoint>,
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn largest_finds_the_edge_by_doubling_and_bisection() {
        for edge in [1u32, 2, 3, 7, 64, 100, 1000] {
            let mut calls = 0;
            let got = Search::largest(1024, |b| {
                calls += 1;
                b <= edge
            });
            assert_eq!(got, Some(edge));
            assert!(calls <= 25, "{calls}");
        }
        assert_eq!(Search::largest(1024, |_| false), None);
        assert_eq!(Search::largest(50, |_| true), Some(50));
    }

    /// A request for `model` under TensorRT-LLM on 16 `gpu`s in nodes of 8 (TTFT 1.5 s,
    /// ITL 40 ms, 4,000 / 1,000 tokens), `load` (`concurrency: 48, `, say) put before them.
    pub(in crate::profiler) fn request(model: &str, gpu: &str, load: &str) -> ProfileRequest {
        let text = format!(
            "
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeploymentRequest
metadata: {{name: t}}
spec:
  model: {model}
  backend: trtllm
  sla: {{ttft: 1500, itl: 40}}
  workload: {{{load}isl: 4000, osl: 1000}}
  hardware: {{gpuSku: {gpu}, totalGpus: 16, numGpusPerNode: 8}}
"
        );
        ProfileRequest::from_yaml_str(&text, "t", &Default::default()).unwrap()
    }

    /// DeepSeek-R1 under TensorRT-LLM on 16 B200s: disaggregated, its decode workers
    /// attention-DP ranks of their own batches.
    fn deepseek_search(run: impl FnOnce(&Search<'_>)) {
        let req = request("deepseek-ai/DeepSeek-R1", "b200_sxm", "");
        let catalog = servesim_models::hardware::GpuCatalog::builtin();
        run(&Search::new(&req, catalog.get(&req.gpu).unwrap()).unwrap());
    }

    #[test]
    fn a_deployed_worker_runs_the_steps_near_its_batch_unpadded() {
        deepseek_search(|search| {
            let w = search
                .workers
                .iter()
                .find(|w| w.split.label() == "DP8EP8")
                .unwrap();
            // 105 sequences a rank at most: 97 a rank replays its own graph once deployed,
            // where the ladder alone pads it to 112.
            let deployed = search.deployed_graphs(w, 836);
            assert_eq!(deployed.decode_batch(776, 0).0, 776);
            assert_eq!(w.graphs.decode_batch(776, 0).0, 896);
        });
    }

    #[test]
    fn a_decode_worker_is_planned_no_slower_than_its_full_deployed_step() {
        deepseek_search(|search| {
            let found = search.run();
            let mut checked = 0;
            for c in &found.candidates {
                let Some(pool) = c.decode else { continue };
                let d = search
                    .workers
                    .iter()
                    .find(|w| w.split == pool.split)
                    .unwrap();
                let full = search.load().decode_step_ms(
                    &d.cached,
                    &search.deployed_graphs(d, c.batch),
                    c.batch,
                );
                assert!(
                    c.itl_ms <= full * 1.001,
                    "{}: ITL {} ms over a full worker's step, {full} ms",
                    c.label(),
                    c.itl_ms
                );
                checked += 1;
            }
            assert!(checked > 0);
        });
    }
}
