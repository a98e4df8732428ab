//! [`build`]: the policy a [`PlannerConfig`] names, for the deployment a [`PlannerContext`]
//! describes. The one place that reads the scenario's `planner:` settings into policies.

use crate::config::PlannerConfig;
use crate::context::PlannerContext;
use crate::error::PlannerError;
use crate::observation::PoolRole;
use crate::planner::Planner;
use crate::policies::load_threshold::LoadThreshold;
use crate::policies::lookahead::Lookahead;
use crate::policies::sla::Sla;
use crate::policies::sla_load::SlaLoad;
use crate::policies::static_policy::Static;
use crate::policies::{Basis, Common};
use crate::policy_kind::PolicyKind;
use crate::profile::Profile;

/// Builds the policy named in `config` for the deployment in `ctx`. Errors name the field
/// under `path` (the config's own path in the scenario, e.g. `planner`).
pub fn build(
    config: &PlannerConfig,
    ctx: &PlannerContext,
    path: &str,
) -> Result<Box<dyn Planner>, PlannerError> {
    build_inner(config, ctx, None, path)
}

/// As [`build`], with a profile already in hand (the profiler's, in memory) instead of
/// `profile_dir` or the performance model.
pub fn build_with_profile(
    config: &PlannerConfig,
    ctx: &PlannerContext,
    profile: Profile,
    path: &str,
) -> Result<Box<dyn Planner>, PlannerError> {
    build_inner(config, ctx, Some(profile), path)
}

fn build_inner(
    config: &PlannerConfig,
    ctx: &PlannerContext,
    profile: Option<Profile>,
    path: &str,
) -> Result<Box<dyn Planner>, PlannerError> {
    let kind = PolicyKind::parse_at(&config.policy, format!("{path}.policy"))?;
    PlannerError::check_positive_seconds(format!("{path}.interval_s"), config.interval_s)?;
    if !(config.scrape_lag_s.is_finite() && config.scrape_lag_s >= 0.0) {
        return Err(PlannerError::invalid(
            format!("{path}.scrape_lag_s"),
            format!(
                "must be a number of seconds >= 0, got {}",
                config.scrape_lag_s
            ),
        ));
    }
    if let Some(p) = &config.predictor {
        p.validate(&format!("{path}.predictor"))?;
    }
    let common = Common::new(config, ctx, path)?;
    // Every policy's settings, not only those of the one that runs: a mistake in another's is
    // the user's too, and `ab` or `--set planner.policy=…` would meet it later.
    config.load_threshold.check(path)?;
    config.sla.check(path)?;
    config.sla_load.check(path, config.interval_s)?;
    config.lookahead.check(path)?;
    // Only the policies that read a profile load one.
    let basis = |common: Common| -> Result<Basis, PlannerError> {
        let profile = match profile {
            Some(p) => p,
            None => load_profile(config, ctx, &common, path)?,
        };
        Ok(Basis {
            common,
            profile,
            predictor: config.predictor.clone(),
            observe: config.observe,
        })
    };
    match kind {
        PolicyKind::Static => boxed(Ok(Static::new(config.interval_s))),
        PolicyKind::LoadThreshold => boxed(Ok(LoadThreshold::new(&config.load_threshold, common))),
        PolicyKind::Sla => boxed(Sla::new(&config.sla, basis(common)?, path)),
        PolicyKind::SlaLoad => boxed(Ok(SlaLoad::new(&config.sla_load, basis(common)?))),
        PolicyKind::Lookahead => boxed(Ok(Lookahead::new(&config.lookahead, basis(common)?))),
    }
}

/// A built policy, boxed as the world holds it.
fn boxed<P: Planner + 'static>(
    policy: Result<P, PlannerError>,
) -> Result<Box<dyn Planner>, PlannerError> {
    Ok(Box::new(policy?))
}

impl Common {
    /// The deployment as `config` limits it; errors name the field under `path`.
    pub(crate) fn new(
        config: &PlannerConfig,
        ctx: &PlannerContext,
        path: &str,
    ) -> Result<Common, PlannerError> {
        let roles: Vec<PoolRole> = ctx.pools.iter().map(|p| p.role).collect();
        let (prefill, decode) = match roles[..] {
            [PoolRole::Aggregated] => (0, 0),
            [PoolRole::Prefill, PoolRole::Decode] => (0, 1),
            [PoolRole::Decode, PoolRole::Prefill] => (1, 0),
            _ => {
                return Err(PlannerError::invalid(
                    path,
                    "a planner needs one aggregated pool, or one prefill and one decode pool",
                ));
            }
        };
        let names: Vec<&str> = ctx.pools.iter().map(|p| p.name.as_str()).collect();
        for (field, map) in [
            ("min_replicas", &config.min_replicas),
            ("max_replicas", &config.max_replicas),
        ] {
            for key in map.keys() {
                if !names.contains(&key.as_str()) {
                    return Err(PlannerError::invalid(
                        format!("{path}.{field}.{key}"),
                        format!("unknown pool '{key}' (pools: {})", names.join(", ")),
                    ));
                }
            }
        }
        let mut min = Vec::new();
        let mut max = Vec::new();
        for p in &ctx.pools {
            if p.gpus_per_worker == 0 {
                return Err(PlannerError::invalid(
                    path,
                    format!("pool '{}' has workers of 0 GPUs", p.name),
                ));
            }
            let lo = config.min_replicas.get(&p.name).copied().unwrap_or(1);
            let hi = config
                .max_replicas
                .get(&p.name)
                .copied()
                .unwrap_or(u32::MAX);
            if hi < lo {
                return Err(PlannerError::invalid(
                    format!("{path}.max_replicas.{}", p.name),
                    format!("{hi} is below min_replicas {lo}"),
                ));
            }
            if hi == 0 {
                return Err(PlannerError::invalid(
                    format!("{path}.max_replicas.{}", p.name),
                    "must be at least 1",
                ));
            }
            min.push(lo);
            max.push(hi);
        }
        let min_gpus: u64 = min
            .iter()
            .zip(&ctx.pools)
            .map(|(m, p)| u64::from(*m) * u64::from(p.gpus_per_worker))
            .sum();
        if min_gpus > u64::from(ctx.gpu_budget) {
            return Err(PlannerError::invalid(
                format!("{path}.min_replicas"),
                format!(
                    "the fewest workers need {min_gpus} GPUs, above the budget of {}",
                    ctx.gpu_budget
                ),
            ));
        }
        let pos = |v: f64, what: &str| {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(PlannerError::invalid(
                    path,
                    format!("the {what} must be a positive number, got {v}"),
                ))
            }
        };
        Ok(Common {
            n: ctx.pools.len(),
            gpus: ctx.pools.iter().map(|p| p.gpus_per_worker).collect(),
            min,
            max,
            budget: ctx.gpu_budget,
            interval_s: config.interval_s,
            prefill,
            decode,
            slo_ttft_ms: pos(ctx.slo_ttft_ms, "TTFT target")?,
            slo_itl_ms: pos(ctx.slo_itl_ms, "ITL target")?,
            startup_s: ctx
                .pools
                .iter()
                .map(|p| {
                    if p.startup_s.is_finite() && p.startup_s >= 0.0 {
                        p.startup_s
                    } else {
                        0.0
                    }
                })
                .collect(),
            max_batched_tokens: ctx
                .pools
                .iter()
                .map(|p| p.max_batched_tokens.max(1))
                .collect(),
            max_num_seqs: ctx.pools.iter().map(|p| p.max_num_seqs.max(1)).collect(),
            max_kv_tokens: ctx.pools.iter().map(|p| p.max_kv_tokens).collect(),
            scrape_lag_s: if config.scrape_lag_s.is_finite() {
                config.scrape_lag_s.max(0.0)
            } else {
                0.0
            },
        })
    }
}

/// Loads the profile from `config.profile_dir` (relative to the context's base directory),
/// or computes it from the pools' performance models.
fn load_profile(
    config: &PlannerConfig,
    ctx: &PlannerContext,
    common: &Common,
    path: &str,
) -> Result<Profile, PlannerError> {
    if let Some(dir) = &config.profile_dir {
        // A file missing or wrong is the field's fault: the error names it.
        let field = format!("{path}.profile_dir");
        let profile = Profile::read_dir(&ctx.base_dir.join(dir))
            .map_err(|e| PlannerError::invalid(&field, e.to_string()))?;
        // A profile made for other worker sizes would mis-scale the pools: refused when its
        // files say their TP (Dynamo's own files may not).
        let (ptp, dtp) = profile.tp();
        for (role, file_tp, pool) in [
            ("prefill", ptp, &ctx.pools[common.prefill]),
            ("decode", dtp, &ctx.pools[common.decode]),
        ] {
            if let Some(tp) = file_tp
                && tp != pool.gpus_per_worker
            {
                return Err(PlannerError::invalid(
                    &field,
                    format!(
                        "{dir}: the {role} profile is for TP{tp} workers, but pool `{}` has TP{}",
                        pool.name, pool.gpus_per_worker
                    ),
                ));
            }
        }
        return Ok(profile);
    }
    let p = &ctx.pools[common.prefill];
    let d = &ctx.pools[common.decode];
    match (p.model(), d.model()) {
        (Some(pm), Some(dm)) => Profile::from_model(&pm, &dm).map_err(|e| match e {
            PlannerError::Model { message, .. } => PlannerError::Model {
                path: format!("{path}.profile_dir"),
                message,
            },
            other => other,
        }),
        _ => Err(PlannerError::Model {
            path: format!("{path}.profile_dir"),
            message: "no profile directory given and no performance model for the pools".into(),
        }),
    }
}
