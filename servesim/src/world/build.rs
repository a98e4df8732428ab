//! What a scenario builds before a run: each pool's iteration predictor (over the scenario's
//! kernel timer), the cluster (network and pools) and what a planner may know up front.

use servesim_models::cluster::{Cluster, ClusterSpec, PoolSpec};
use servesim_models::network::{Network, Topology, TopologySpec};
use servesim_models::perf::{CachedPredictor, IterationPredictor, KernelTimer};
use servesim_planner::{PlannerContext, PoolContext};

use crate::Error;
use crate::scenario::Scenario;

/// The iteration-time predictor of one worker of each pool.
pub fn pool_predictors(s: &Scenario) -> Result<Vec<IterationPredictor>, Error> {
    let timer = s.kernel_timer()?;
    (0..s.pools().len())
        .map(|i| predictor_with(s, i, timer.clone()))
        .collect()
}

/// The iteration predictor of `s`'s pool `i` (its parallelism and DeepEP on the scenario's
/// GPU and backend); a parallelism the model cannot take is an error naming the pool.
pub fn pool_predictor(s: &Scenario, i: usize) -> Result<IterationPredictor, Error> {
    predictor_with(s, i, s.kernel_timer()?)
}

/// [`pool_predictor`] over `timer`.
fn predictor_with(s: &Scenario, i: usize, timer: KernelTimer) -> Result<IterationPredictor, Error> {
    let p = &s.pools()[i];
    let pred = IterationPredictor::with_parallelism(
        s.llm(),
        &p.parallelism(),
        s.gpu(),
        s.backend(),
        timer,
    )
    .map_err(|e| Error::Config {
        path: format!("cluster.pools[{i}].tp"),
        message: e.to_string(),
    })?;
    if !p.deepep {
        return Ok(pred);
    }
    pred.with_deepep().map_err(|e| Error::Config {
        path: format!("cluster.pools[{i}].moe_a2a_backend"),
        message: e.to_string(),
    })
}

/// Builds the cluster of a scenario (its predictors, network and pools).
pub fn build_cluster(s: &Scenario) -> Result<Cluster, Error> {
    let topology = Topology::new(TopologySpec {
        nodes: s.nodes(),
        gpus_per_node: s.gpu().gpus_per_node,
        nvlink_bytes_per_s: s.gpu().nvlink_bytes_per_s_per_direction,
        nic_bytes_per_s: s.gpu().nic_bytes_per_s_per_direction,
        fabric: s.fabric(),
        nodes_per_nvlink_domain: s.gpu().nodes_per_nvlink_domain(),
    })
    .map_err(|e| Error::Config {
        path: "cluster.fabric".into(),
        message: e.to_string(),
    })?;
    let mut pools = Vec::new();
    for (p, predictor) in s.pools().iter().zip(pool_predictors(s)?) {
        pools.push(PoolSpec {
            name: p.name.clone(),
            role: p.role,
            gpus_per_worker: p.gpus(),
            attention_dp: p.attention_dp.max(1),
            kv_bytes_per_token_per_gpu: s.llm().kv_bytes_per_token_per_gpu(p.tp),
            engine: p.engine.clone(),
            initial_workers: p.workers,
            startup: p.startup,
            router: p.router,
            timer: Box::new(CachedPredictor::new(predictor)),
        });
    }
    let mut cluster = Cluster::new(ClusterSpec {
        pools,
        network: Network::new(topology, s.transfer_latency()),
        gpus_per_node: s.gpu().gpus_per_node,
        nodes: s.nodes(),
        gpu_budget: s.gpu_budget(),
        local_prefill_max_tokens: s.local_prefill_max_tokens(),
    })
    .map_err(|e| Error::Config {
        path: "cluster.pools".into(),
        message: e.to_string(),
    })?;
    if let Some(f) = &s.faults() {
        cluster.max_transfer_failures = f.max_transfer_failures;
    }
    Ok(cluster)
}

/// What a planner of `s` may know up front: its pools (with their performance
/// models), SLOs and GPU budget.
pub fn planner_context(s: &Scenario) -> Result<PlannerContext, Error> {
    let mut pools = Vec::new();
    for (p, predictor) in s.pools().iter().zip(pool_predictors(s)?) {
        pools.push(PoolContext {
            name: p.name.clone(),
            role: p.role,
            gpus_per_worker: p.gpus(),
            initial_workers: p.workers,
            startup_s: p.startup.as_secs_f64(),
            max_kv_tokens: p.engine.kv_blocks * u64::from(p.engine.block_tokens),
            max_num_seqs: p.engine.max_num_seqs,
            max_batched_tokens: p.engine.max_batched_tokens,
            predictor: Some(predictor),
        });
    }
    Ok(PlannerContext {
        slo_ttft_ms: s.slo_ttft().as_millis_f64(),
        slo_itl_ms: s.slo_itl().as_millis_f64(),
        gpu_budget: s.gpu_budget(),
        base_dir: s.base_dir().to_path_buf(),
        pools,
    })
}
