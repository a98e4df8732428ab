//! The policies, one file each, and what they share.
//!
//! - [`static_policy`] (`static`): never changes anything;
//! - [`load_threshold`] (`load-threshold`): Dynamo's first planner;
//! - [`sla`] (`sla`): Dynamo's SLA planner, throughput form;
//! - [`sla_load`] (`sla-load`): the newer design, a fast load loop over a throughput floor;
//! - [`lookahead`] (`lookahead`): ours, start-up aware.

pub mod load_threshold;
pub mod lookahead;
pub mod sla;
pub mod sla_load;
pub mod static_policy;

#[cfg(test)]
mod tests;

use crate::config::PlannerConfig;
use crate::context::PlannerContext;
use crate::error::PlannerError;
use crate::observation::{Decision, Observation, PoolRole, finite};
use crate::profile::Profile;

/// What every policy needs of the deployment: pool layout, limits, targets.
#[derive(Clone, Debug)]
pub(crate) struct Common {
    pub n: usize,
    pub gpus: Vec<u32>,
    pub min: Vec<u32>,
    pub max: Vec<u32>,
    pub budget: u32,
    pub interval_s: f64,
    /// The pool that prefills (prefill or aggregated).
    pub prefill: usize,
    /// The pool that decodes (decode or aggregated).
    pub decode: usize,
    pub slo_ttft_ms: f64,
    pub slo_itl_ms: f64,
    pub startup_s: Vec<f64>,
    pub max_batched_tokens: Vec<u32>,
    pub max_kv_tokens: Vec<u64>,
    /// Age of the metrics the planner sees, s.
    pub scrape_lag_s: f64,
}

impl Common {
    pub fn new(
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
            max_kv_tokens: ctx.pools.iter().map(|p| p.max_kv_tokens).collect(),
            scrape_lag_s: if config.scrape_lag_s.is_finite() {
                config.scrape_lag_s.max(0.0)
            } else {
                0.0
            },
        })
    }

    /// Whether the observation matches the deployment (else the policy changes nothing).
    pub fn matches(&self, obs: &Observation) -> bool {
        obs.pools.len() == self.n
    }

    pub fn aggregated(&self) -> bool {
        self.prefill == self.decode
    }

    /// The observation's interval length, or the configured one when it is unusable.
    pub fn dt(&self, obs: &Observation) -> f64 {
        finite(Some(obs.interval_s))
            .filter(|v| *v > 0.0)
            .unwrap_or(self.interval_s)
    }

    /// Moves a policy's clock to the observation's time, or on by the interval when that
    /// time is unusable or behind; returns the new time.
    pub fn advance_clock(&self, clock: &mut f64, obs: &Observation) -> f64 {
        *clock = match finite(Some(obs.now_s)) {
            Some(t) if t >= *clock => t,
            _ => *clock + self.dt(obs),
        };
        *clock
    }

    /// Keeps the last usable mean ISL and OSL seen (intervals without requests keep them).
    pub fn remember_sizes(isl: &mut Option<f64>, osl: &mut Option<f64>, obs: &Observation) {
        let stats = &obs.interval;
        if stats.requests > 0 {
            if let Some(v) = finite(stats.mean_isl).filter(|v| *v > 0.0) {
                *isl = Some(v);
            }
            if let Some(v) = finite(stats.mean_osl).filter(|v| *v > 0.0) {
                *osl = Some(v);
            }
        }
    }

    /// The TTFT target: the observation's when usable, else the context's.
    pub fn slo_ttft(&self, obs: &Observation) -> f64 {
        finite(Some(obs.slo_ttft_ms))
            .filter(|v| *v > 0.0)
            .unwrap_or(self.slo_ttft_ms)
    }

    /// The ITL target: the observation's when usable, else the context's.
    pub fn slo_itl(&self, obs: &Observation) -> f64 {
        finite(Some(obs.slo_itl_ms))
            .filter(|v| *v > 0.0)
            .unwrap_or(self.slo_itl_ms)
    }

    /// Start-up time of a pool: the observation's when usable, else the context's.
    pub fn startup(&self, obs: &Observation, pool: usize) -> f64 {
        obs.startup_s
            .get(pool)
            .copied()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .unwrap_or(self.startup_s[pool])
    }

    /// The budget: the observation's when given, else the context's.
    pub fn budget(&self, obs: &Observation) -> u32 {
        if obs.gpu_budget > 0 {
            obs.gpu_budget
        } else {
            self.budget
        }
    }

    /// Clamps wanted counts to the limits and the GPU budget (scaled down proportionally,
    /// then trimmed from the largest pool, never below the minimum).
    pub fn fit(&self, wanted: &mut [u32], budget: u32) {
        for (i, w) in wanted.iter_mut().enumerate() {
            *w = (*w).clamp(self.min[i], self.max[i]);
        }
        let gpus = |w: &[u32]| -> u64 {
            w.iter()
                .zip(&self.gpus)
                .map(|(a, g)| u64::from(*a) * u64::from(*g))
                .sum()
        };
        let total = gpus(wanted);
        if total <= u64::from(budget) {
            return;
        }
        let scale = f64::from(budget) / total as f64;
        for (i, w) in wanted.iter_mut().enumerate() {
            *w = ((f64::from(*w) * scale).floor() as u32).max(self.min[i]);
        }
        while gpus(wanted) > u64::from(budget) {
            // Trim the pool with the most GPUs above its minimum (lowest index on ties).
            let pick = (0..self.n)
                .filter(|&i| wanted[i] > self.min[i])
                .max_by_key(|&i| {
                    (
                        u64::from(wanted[i] - self.min[i]) * u64::from(self.gpus[i]),
                        std::cmp::Reverse(i),
                    )
                });
            match pick {
                Some(i) => wanted[i] -= 1,
                None => break,
            }
        }
    }

    /// A decision setting every pool to `wanted` after [`Common::fit`]; a pool whose target
    /// equals its observed active workers is left alone (`None`), so that a decision taken on
    /// lagged metrics never undoes a change the metrics do not show yet.
    pub fn decide(&self, mut wanted: Vec<u32>, obs: &Observation) -> Decision {
        self.fit(&mut wanted, self.budget(obs));
        Decision {
            targets: wanted
                .into_iter()
                .zip(&obs.pools)
                .map(|(w, p)| (w != p.active()).then_some(w))
                .collect(),
        }
    }
}

/// Loads the profile from `config.profile_dir` (relative to the context's base directory),
/// or computes it from the pools' performance models.
pub(crate) fn load_profile(
    config: &PlannerConfig,
    ctx: &PlannerContext,
    common: &Common,
    path: &str,
) -> Result<Profile, PlannerError> {
    if let Some(dir) = &config.profile_dir {
        let dir = ctx.base_dir.join(dir);
        return Profile::read_dir(&dir);
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

/// Ceiling of a non-negative demand ratio as a worker count (non-finite → 0).
pub(crate) fn workers(x: f64) -> u32 {
    if x.is_finite() && x > 0.0 {
        x.ceil().min(1e6) as u32
    } else {
        0
    }
}
