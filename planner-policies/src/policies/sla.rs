//! `sla`: Dynamo's SLA planner, throughput form (`docs/DOMAIN.md` §4).
//!
//! Every interval:
//! 1. observe request count, mean ISL and OSL, mean TTFT and ITL of the last interval (the
//!    count and ISL of the requests that *arrived*, as newer Dynamo's planner reads the
//!    frontend's `requests_started_total`; with `planner.observe: completions`, of those that
//!    *completed*, as older Dynamo's reads `requests_total` — see [`Observe`]);
//! 2. correction factors `p_corr = ttft / ttft_profile(isl)` and
//!    `d_corr = itl / itl_profile(kv_usage, isl + osl/2)` (kept from earlier intervals when
//!    the interval has no such data);
//! 3. predict next interval's request count, ISL and OSL with the load predictor;
//! 4. `n_prefill = ceil(req × isl / interval × min(1, p_corr) / thpt_prefill(isl) / gpus)`,
//!    `n_decode = ceil(req × osl / interval / best_decode_thpt(itl_target / d_corr, isl + osl/2)
//!    / gpus)`, at least the minimum each, scaled down proportionally to the GPU budget.
//!
//! That is `sla.sizing: corrected`, the default. `sla.sizing: capacity` sizes as Dynamo 1.6
//! does instead (`ThroughputScalingMixin._throughput_disagg` in `dynamo/planner/core/
//! throughput_scaling.py` of ai-dynamo 1.6.1): no correction factors; each pool gets
//! `ceil(predicted requests/s / what one engine serves within the SLO)` workers
//! (`engine_capacity.rs`), moved by at most 8 a decision
//! (`max_throughput_scaling_replicas`), at least the minimum; and while any worker starts,
//! a pool is only ever reduced, to at most its serving workers, never grown
//! (`_startup_reduction`: "never turn a scale-up recommendation into a cancellation"). Over
//! the GPU budget it keeps the direction of each pool's change as Dynamo 1.6 does
//! (`fit_directional_budget_pair` and `guard_disagg_scaling_budget`, `dynamo_budget.rs`): a
//! change is shortened, never reversed, and a pool that asks to grow at a full budget is
//! held rather than paid for by the other; `sla.min_gpu_budget` is Dynamo's floor. Its load
//! predictor is ARIMA unless `planner.predictor` says otherwise, as Dynamo 1.6's
//! (`load_predictor = "arima"`), where `corrected` keeps the last value. Behind a
//! prefix-aware router (Dynamo's KV router), a prefill engine's prompt is shortened by the
//! router's last predicted KV hit rate, at most 95 % (`_effective_prefill_isl`,
//! `perf_model/engine_query.py`). Dynamo 1.6 also tunes its engine model online with each
//! engine's forward-pass metrics (`tune_with_fpms`, whose estimator ships only compiled);
//! this does not, and sizes from the profile as measured.
//!
//! While any worker of the deployment is still starting, the decision is computed (the
//! predictors and correction factors see every interval) but not applied, as Dynamo's
//! Kubernetes connector does: `set_component_replicas` returns early, logging "Deployment … is
//! not ready, ignoring this scaling", until the DynamoGraphDeployment is ready again
//! (`components/planner/src/dynamo/planner/kubernetes_connector.py`, Dynamo 0.4 to 0.6). So a
//! decision never reverses a scale-up before its workers serve. `sla.wait_until_ready: false`
//! applies every decision at once instead.
//!
//! Unlike Dynamo it does not stall on empty intervals: an interval with no requests is
//! observed as zero requests (ISL and OSL keep their last values), so the planner scales back
//! to the minimum once traffic stops.

use serde::{Deserialize, Serialize};

use crate::error::PlannerError;
use crate::observation::{Decision, IntervalStats, Observation, Observe, PoolObservation, finite};
use crate::planner::Planner;
use crate::policies::dynamo_budget;
use crate::policies::engine_capacity::{self, EngineLimits};
use crate::policies::{Basis, Common, workers};
use crate::policy_kind::PolicyKind;
use crate::predict::{LoadPredictor, PredictorConfig};
use crate::profile::Profile;

/// Settings of `sla`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    /// Apply the correction factors (Dynamo does).
    #[serde(default = "yes")]
    pub correction: bool,
    /// Leave the deployment alone while any of its workers is still starting, as Dynamo's
    /// Kubernetes connector does (`sizing: corrected` only; `capacity` follows Dynamo 1.6's
    /// own rule for starting workers).
    #[serde(default = "yes")]
    pub wait_until_ready: bool,
    /// How the pools are sized: as Dynamo 0.4–0.6 (`corrected`, the default) or Dynamo 1.6
    /// (`capacity`).
    #[serde(default)]
    pub sizing: SlaSizing,
    /// The fewest GPUs the two pools may hold together (`sizing: capacity` only), Dynamo
    /// 1.6's `min_gpu_budget`: no decision shrinks them below it, and with it equal to
    /// `cluster.gpu_budget` the total is pinned and workers only move between the pools.
    /// None by default (Dynamo's `-1`).
    #[serde(default)]
    pub min_gpu_budget: Option<u32>,
}

/// How `sla` sizes the pools.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SlaSizing {
    /// Dynamo 0.4–0.6: tokens/s over the profile's throughput per GPU, scaled by the
    /// observed-over-profiled TTFT and ITL.
    #[default]
    Corrected,
    /// Dynamo 1.6: requests/s over what one engine serves within the SLO, the batch sizes
    /// tried on the profile.
    Capacity,
}

fn yes() -> bool {
    true
}

impl Default for SlaConfig {
    fn default() -> Self {
        SlaConfig {
            correction: true,
            wait_until_ready: true,
            sizing: SlaSizing::Corrected,
            min_gpu_budget: None,
        }
    }
}

/// The throughput computation shared by `sla` and `sla-load`'s floor.
#[derive(Debug)]
pub(crate) struct SlaCore {
    req: Box<dyn LoadPredictor>,
    isl: Box<dyn LoadPredictor>,
    osl: Box<dyn LoadPredictor>,
    pub p_corr: f64,
    pub d_corr: f64,
    correction: bool,
    observe: Observe,
}

impl SlaCore {
    pub fn new(predictor: &PredictorConfig, correction: bool, observe: Observe) -> Self {
        SlaCore {
            observe,
            req: predictor.build(),
            isl: predictor.build(),
            osl: predictor.build(),
            p_corr: 1.0,
            d_corr: 1.0,
            correction,
        }
    }

    /// Takes one interval's statistics (`kv_usage`: the decode pool's mean KV utilisation).
    pub fn observe(&mut self, stats: &IntervalStats, kv_usage: f64, profile: &Profile) {
        let stats = &self.observe.view(stats);
        self.req.observe(stats.requests as f64);
        if stats.requests == 0 {
            return;
        }
        let isl = finite(stats.mean_isl).filter(|v| *v > 0.0);
        let osl = finite(stats.mean_osl).filter(|v| *v > 0.0);
        if let Some(v) = isl {
            self.isl.observe(v);
        }
        if let Some(v) = osl {
            self.osl.observe(v);
        }
        if let (Some(isl), Some(ttft)) = (isl, finite(stats.ttft_mean_ms)) {
            let expected = profile.prefill_ttft_ms(isl);
            if expected > 0.0 && ttft > 0.0 {
                self.p_corr = (ttft / expected).clamp(0.01, 100.0);
            }
        }
        if let (Some(isl), Some(osl), Some(itl)) = (isl, osl, finite(stats.itl_mean_ms)) {
            let expected = profile.decode_itl_ms(kv_usage, isl + osl / 2.0);
            if expected > 0.0 && itl > 0.0 {
                self.d_corr = (itl / expected).clamp(0.01, 100.0);
            }
        }
    }

    /// The predicted load and the correction factors, in a few words.
    pub fn explain(&self) -> String {
        // Dynamo sizes prefill by `min(1, p_corr)`: a TTFT over the profile's (queueing)
        // adds no prefill worker, which reads as a bug unless said.
        let capped = if self.correction && self.p_corr > 1.0 {
            " (prefill sized at 1.00, as Dynamo caps it)"
        } else {
            ""
        };
        format!(
            "{}; p_corr {:.2}{capped}, d_corr {:.2}",
            self.predicted(),
            self.p_corr,
            self.d_corr
        )
    }

    /// The predicted load, in a few words.
    fn predicted(&self) -> String {
        let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.0}"));
        format!(
            "{} reqs, isl {}, osl {} predicted ({})",
            f(self.req.predict_next()),
            f(self.isl.predict_next()),
            f(self.osl.predict_next()),
            match self.observe {
                Observe::Arrivals => "arrivals",
                Observe::Completions => "completions",
            }
        )
    }

    /// Prefill and decode workers wanted for the next interval of `dt` seconds (zeros with
    /// no predicted requests); `None` before any ISL/OSL is known, where Dynamo 1.6 skips
    /// the adjustment ("Metrics contain None or NaN values (no active requests), skipping
    /// adjustment", `make_adjustments` in `planner_core.py`) rather than size for nothing.
    pub fn replicas(
        &self,
        profile: &Profile,
        dt: f64,
        slo_itl_ms: f64,
        gpus_prefill: u32,
        gpus_decode: u32,
    ) -> Option<(u32, u32)> {
        let req = self.req.predict_next().unwrap_or(0.0).max(0.0);
        let (isl, osl) = (self.isl.predict_next()?, self.osl.predict_next()?);
        let (isl, osl) = (isl.max(1.0), osl.max(1.0));
        let (p_corr, d_corr) = if self.correction {
            (self.p_corr, self.d_corr)
        } else {
            (1.0, 1.0)
        };
        let prefill_tok_s = req * isl / dt * p_corr.min(1.0);
        let n_p =
            workers(prefill_tok_s / profile.prefill_thpt_per_gpu(isl) / f64::from(gpus_prefill));
        let (thpt, _) = profile.best_decode_thpt_per_gpu(slo_itl_ms / d_corr, isl + osl / 2.0);
        let n_d = workers(req * osl / dt / thpt / f64::from(gpus_decode));
        Some((n_p, n_d))
    }

    /// Dynamo 1.6's sizing: workers for the predicted requests/s over what one engine of
    /// each pool serves within the SLO, `None` before any ISL/OSL is known (or while the
    /// profile times nothing, where Dynamo holds).
    fn capacity_replicas(
        &self,
        c: &Common,
        dt: f64,
        ttft_ms: f64,
        itl_ms: f64,
        kv_hit_rate: Option<f64>,
        profile: &Profile,
    ) -> Option<(u32, u32, f64, f64)> {
        let rps = self.req.predict_next().unwrap_or(0.0).max(0.0) / dt;
        let (isl, osl) = (
            self.isl.predict_next()?.max(1.0),
            self.osl.predict_next()?.max(1.0),
        );
        let limits = |pool: usize| EngineLimits {
            max_num_seqs: c.max_num_seqs[pool],
            max_batched_tokens: c.max_batched_tokens[pool],
            max_kv_tokens: c.max_kv_tokens[pool],
        };
        // The prompt a prefill engine computes, shortened by the router's predicted cache
        // hits (at most 95 %: `_effective_prefill_isl`, `MAX_KV_HIT_RATE_DISCOUNT`).
        let hit = kv_hit_rate.map_or(0.0, |h| h.clamp(0.0, MAX_KV_HIT_RATE_DISCOUNT));
        let computed = (isl.ceil() * (1.0 - hit)).ceil().max(1.0);
        let p = engine_capacity::prefill_rps(profile, limits(c.prefill), computed, ttft_ms);
        let d = engine_capacity::decode_rps(profile, limits(c.decode), isl, osl, itl_ms);
        (p > 0.0 && d > 0.0).then(|| (workers(rps / p), workers(rps / d), p, d))
    }
}

/// Dynamo 1.6's bound on one decision's change of a pool (`max_throughput_scaling_replicas`).
const MAX_STEP: u32 = 8;

/// Dynamo 1.6's largest discount of a prompt for predicted cache hits
/// (`MAX_KV_HIT_RATE_DISCOUNT`, `perf_model/engine_query.py`).
const MAX_KV_HIT_RATE_DISCOUNT: f64 = 0.95;

/// Dynamo's SLA planner.
#[derive(Debug)]
pub struct Sla {
    common: Common,
    profile: Profile,
    core: SlaCore,
    wait_until_ready: bool,
    sizing: SlaSizing,
    min_gpu_budget: Option<u32>,
    /// The prefill router's last predicted KV hit rate (Dynamo keeps the last value).
    kv_hit_rate: Option<f64>,
}

impl SlaConfig {
    /// Checks the settings against each other, whichever policy runs; errors name the field
    /// under `path`'s `sla` section. Those the deployment decides ([`SlaConfig::fits`]) are
    /// checked when `sla` runs.
    pub(crate) fn check(&self, path: &str) -> Result<(), PlannerError> {
        // Each sizing's settings the other has no use for are refused rather than ignored.
        let capacity = self.sizing == SlaSizing::Capacity;
        let refused = [
            (
                "correction",
                capacity && !self.correction,
                "has no effect with `sizing: capacity` (Dynamo 1.6 keeps no correction factors)",
            ),
            (
                "wait_until_ready",
                capacity && !self.wait_until_ready,
                "has no effect with `sizing: capacity` (Dynamo 1.6 has its own rule for workers still starting)",
            ),
            (
                "min_gpu_budget",
                !capacity && self.min_gpu_budget.is_some(),
                "applies to `sizing: capacity` only (Dynamo 1.6's GPU floor)",
            ),
        ];
        if let Some((field, _, why)) = refused.into_iter().find(|(_, bad, _)| *bad) {
            return Err(PlannerError::invalid(format!("{path}.sla.{field}"), why));
        }
        Ok(())
    }

    /// Checks the settings against the deployment in `common`, for `sla` to run on it.
    fn fits(&self, path: &str, common: &Common) -> Result<(), PlannerError> {
        // Dynamo 1.6 sizes an aggregated engine by a search of mixed batches
        // (`_throughput_agg`), which the capacity sizing does not follow.
        if self.sizing == SlaSizing::Capacity && common.aggregated() {
            return Err(PlannerError::invalid(
                format!("{path}.sla.sizing"),
                "`capacity` sizes disaggregated prefill and decode pools; this deployment is aggregated (use `corrected`)",
            ));
        }
        if let Some(floor) = self.min_gpu_budget {
            // As Dynamo refuses `min_gpu_budget > max_gpu_budget` at start-up.
            let budget = common.budget;
            if budget > 0 && floor > budget {
                return Err(PlannerError::invalid(
                    format!("{path}.sla.min_gpu_budget"),
                    format!("{floor} GPUs exceeds the GPU budget of {budget}"),
                ));
            }
        }
        Ok(())
    }
}

impl Sla {
    pub(crate) fn new(config: &SlaConfig, basis: Basis, path: &str) -> Result<Self, PlannerError> {
        config.fits(path, &basis.common)?;
        // Each version's default load predictor: the last value, and Dynamo 1.6's ARIMA
        // (`load_predictor = "arima"` in `dynamo/planner/config/defaults.py` of 1.6.1).
        let predictor = basis.predictor.unwrap_or(match config.sizing {
            SlaSizing::Corrected => PredictorConfig::Constant,
            SlaSizing::Capacity => PredictorConfig::default_arima(),
        });
        Ok(Sla {
            core: SlaCore::new(&predictor, config.correction, basis.observe),
            common: basis.common,
            profile: basis.profile,
            wait_until_ready: config.wait_until_ready,
            sizing: config.sizing,
            min_gpu_budget: config.min_gpu_budget,
            kv_hit_rate: None,
        })
    }

    /// The current correction factors `(p_corr, d_corr)`.
    pub fn corrections(&self) -> (f64, f64) {
        (self.core.p_corr, self.core.d_corr)
    }

    /// Dynamo 1.6's decision (`sla.sizing: capacity`, see the module documentation).
    fn decide_by_capacity(&self, obs: &Observation) -> Decision {
        let c = &self.common;
        let (ttft, itl) = (c.slo_ttft(obs), c.slo_itl(obs));
        let Some((n_p, n_d, rps_p, rps_d)) =
            self.core
                .capacity_replicas(c, c.dt(obs), ttft, itl, self.kv_hit_rate, &self.profile)
        else {
            return c.unchanged(obs).because(format!(
                "capacity: nothing to size yet: {}",
                self.core.predicted()
            ));
        };
        let starting = obs.pools.iter().any(|p| p.starting > 0);
        // At most 8 workers of change a decision, within the pool's limits.
        let step = |pool: usize, n: u32| {
            let ready = obs.pools[pool].ready;
            n.clamp(ready.saturating_sub(MAX_STEP), ready + MAX_STEP)
                .clamp(c.min[pool], c.max[pool])
        };
        let proposed = (step(c.prefill, n_p), step(c.decode, n_d));
        let band = dynamo_budget::Band {
            gpus: (c.gpus[c.prefill], c.gpus[c.decode]),
            min_gpus: self.min_gpu_budget,
            max_gpus: Some(c.budget(obs)),
            min_workers: (c.min[c.prefill], c.min[c.decode]),
        };
        // A count of each pool, as (prefill, decode).
        let pair =
            |of: fn(&PoolObservation) -> u32| (of(&obs.pools[c.prefill]), of(&obs.pools[c.decode]));
        let serving = pair(|p| p.ready);
        let ((p, d), held) = if starting {
            // Only reductions (none of a starting worker's pool unless cut to its serving
            // ones or fewer), which keep the floor.
            let (p, d) =
                dynamo_budget::startup_reductions(proposed, serving, pair(|p| p.starting), &band);
            let (keep_p, keep_d) = pair(PoolObservation::active);
            ((p.unwrap_or(keep_p), d.unwrap_or(keep_d)), false)
        } else {
            dynamo_budget::apply(serving, proposed, &band)
        };
        let wanted = c.per_pool(p, d);
        let how = match (starting, held) {
            (true, _) => "workers starting, only reductions",
            (false, true) => "capacity, fitted to the GPU budget without reversing a pool",
            (false, false) => "capacity",
        };
        let hits = self.kv_hit_rate.map_or(String::new(), |h| {
            format!(
                ", prompts {:.0} % cached by the router's prediction",
                h * 100.0
            )
        });
        // The counts by the pools' own names, as the fit's note gives them.
        let (prefill, decode) = (&obs.pools[c.prefill].name, &obs.pools[c.decode].name);
        // What the step, the limits and the budget made of the sizing, where they changed it.
        let given = if (p, d) == (n_p, n_d) {
            String::new()
        } else {
            format!(" (given {p} {prefill}, {d} {decode})")
        };
        // What the sizing asked for beyond the budget, where Dynamo's fit (not `decide`) cut
        // it; while workers start only reductions apply, which no budget made.
        let proposed_gpus = c.gpus_of(&c.per_pool(proposed.0, proposed.1));
        let cut_by_budget = !starting && held && proposed_gpus > u64::from(c.budget(obs));
        let asked = cut_by_budget.then(|| Common::clamped(proposed_gpus));
        c.decide(wanted, obs)
            .asking(asked)
        .because(format!(
            "{how}: {}{hits}; an engine serves {rps_p:.2} req/s prefilling, {rps_d:.2} decoding within the SLO -> {n_p} {prefill}, {n_d} {decode}{given}",
            self.core.predicted()
        ))
    }
}

impl Planner for Sla {
    fn name(&self) -> &'static str {
        PolicyKind::Sla.as_str()
    }

    fn interval_s(&self) -> f64 {
        self.common.interval_s
    }

    fn decide(&mut self, obs: &Observation) -> Decision {
        let c = &self.common;
        if !c.matches(obs) {
            return Decision::unchanged(obs.pools.len());
        }
        let kv = obs.pools[c.decode].mean_kv_utilisation();
        self.core.observe(&obs.interval, kv, &self.profile);
        if self.sizing == SlaSizing::Capacity {
            if let Some(h) = finite(obs.pools[c.prefill].kv_hit_rate) {
                self.kv_hit_rate = Some(h);
            }
            return self.decide_by_capacity(obs);
        }
        let Some((n_p, n_d)) = self.core.replicas(
            &self.profile,
            c.dt(obs),
            c.slo_itl(obs),
            c.gpus[c.prefill],
            c.gpus[c.decode],
        ) else {
            return c.unchanged(obs).because(format!(
                "throughput: nothing to size yet: {}",
                self.core.predicted()
            ));
        };
        let wanted = c.per_pool(n_p, n_d);
        let decision = c.decide(wanted, obs);
        if self.wait_until_ready && obs.pools.iter().any(|p| p.starting > 0) {
            return Decision {
                held: true,
                ..decision
            }
            .because(format!(
                "not ready (workers starting), held: {} -> {n_p} prefill, {n_d} decode",
                self.core.explain()
            ));
        }
        decision.because(format!(
            "throughput: {} -> {n_p} prefill, {n_d} decode",
            self.core.explain()
        ))
    }
}
