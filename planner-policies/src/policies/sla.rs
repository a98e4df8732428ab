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

use crate::observation::{Decision, IntervalStats, Observation, Observe, finite};
use crate::planner::Planner;
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
    /// Kubernetes connector does.
    #[serde(default = "yes")]
    pub wait_until_ready: bool,
}

fn yes() -> bool {
    true
}

impl Default for SlaConfig {
    fn default() -> Self {
        SlaConfig {
            correction: true,
            wait_until_ready: true,
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
        let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.0}"));
        format!(
            "{} reqs, isl {}, osl {} predicted ({}); p_corr {:.2}, d_corr {:.2}",
            f(self.req.predict_next()),
            f(self.isl.predict_next()),
            f(self.osl.predict_next()),
            match self.observe {
                Observe::Arrivals => "arrivals",
                Observe::Completions => "completions",
            },
            self.p_corr,
            self.d_corr
        )
    }

    /// Prefill and decode workers wanted for the next interval of `dt` seconds (zeros before
    /// any ISL/OSL is known or with no predicted requests).
    pub fn replicas(
        &self,
        profile: &Profile,
        dt: f64,
        slo_itl_ms: f64,
        gpus_prefill: u32,
        gpus_decode: u32,
    ) -> (u32, u32) {
        let req = self.req.predict_next().unwrap_or(0.0).max(0.0);
        let (Some(isl), Some(osl)) = (self.isl.predict_next(), self.osl.predict_next()) else {
            return (0, 0);
        };
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
        (n_p, n_d)
    }
}

/// Dynamo's SLA planner.
#[derive(Debug)]
pub struct Sla {
    common: Common,
    profile: Profile,
    core: SlaCore,
    wait_until_ready: bool,
}

impl Sla {
    pub(crate) fn new(config: &SlaConfig, basis: Basis) -> Self {
        let predictor = basis.predictor.unwrap_or(PredictorConfig::Constant);
        Sla {
            core: SlaCore::new(&predictor, config.correction, basis.observe),
            common: basis.common,
            profile: basis.profile,
            wait_until_ready: config.wait_until_ready,
        }
    }

    /// The current correction factors `(p_corr, d_corr)`.
    pub fn corrections(&self) -> (f64, f64) {
        (self.core.p_corr, self.core.d_corr)
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
        let (n_p, n_d) = self.core.replicas(
            &self.profile,
            c.dt(obs),
            c.slo_itl(obs),
            c.gpus[c.prefill],
            c.gpus[c.decode],
        );
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
