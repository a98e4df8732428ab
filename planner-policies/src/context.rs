//! What the world tells a planner up front.

use std::path::PathBuf;

use servesim_models::perf::IterationPredictor;

use crate::observation::PoolRole;
use crate::profile::PoolModel;

/// One pool of the deployment, as the planner is told before the run.
#[derive(Clone, Debug)]
pub struct PoolContext {
    /// Pool name (the keys of `min_replicas` / `max_replicas`).
    pub name: String,
    /// What its workers do.
    pub role: PoolRole,
    /// GPUs per worker (TP size).
    pub gpus_per_worker: u32,
    /// Workers at time zero.
    pub initial_workers: u32,
    /// Start-up time of a new worker, s.
    pub startup_s: f64,
    /// KV capacity of one worker, tokens.
    pub max_kv_tokens: u64,
    /// Most sequences running at once on a worker.
    pub max_num_seqs: u32,
    /// Token budget of one iteration.
    pub max_batched_tokens: u32,
    /// Iteration-time predictor of one worker (for a profile computed in-process); `None`
    /// when the world has none, in which case a profile directory must be given.
    pub predictor: Option<IterationPredictor>,
}

impl PoolContext {
    /// The pool's performance model, when it has a predictor.
    pub fn model(&self) -> Option<PoolModel> {
        self.predictor.as_ref().map(|p| PoolModel {
            predictor: p.clone(),
            tp: self.gpus_per_worker,
            max_kv_tokens: self.max_kv_tokens,
            max_num_seqs: self.max_num_seqs,
            max_batched_tokens: self.max_batched_tokens,
        })
    }
}

/// The deployment a planner plans for.
#[derive(Clone, Debug)]
pub struct PlannerContext {
    /// The pools, in the order observations and decisions use.
    pub pools: Vec<PoolContext>,
    /// TTFT target, ms.
    pub slo_ttft_ms: f64,
    /// Mean ITL target, ms.
    pub slo_itl_ms: f64,
    /// Most GPUs held at once.
    pub gpu_budget: u32,
    /// Directory that a relative `profile_dir` is resolved against (the scenario's).
    pub base_dir: PathBuf,
}
