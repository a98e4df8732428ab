//! `sla-load`: the newer Dynamo design — a fast load loop over a throughput floor.
//!
//! The world calls it every `sla_load.load_interval_s` (default 5 s): the fast load loop.
//! Each call:
//! - refits, per pool, an online least-squares regression of iteration time on the batch
//!   (`ms ≈ a + b·prefill_tokens + c·decode_seqs + d·decode_kv_tokens`) from the recent
//!   iteration samples (the profile stands in until enough samples are seen);
//! - estimates the TTFT a prefill worker's share of the queued prefill tokens implies, and
//!   each decode worker's ITL from its KV load;
//! - **+1** worker when every estimate exceeds the SLO; **−1** only when, with one worker
//!   fewer, every estimate would stay under `scale_down_margin` × SLO (no 2↔1 oscillation);
//! - does nothing while a previous scaling action is pending: workers starting or draining,
//!   or its own last action younger than the scrape lag plus one interval (the metrics do not
//!   show it yet). The queued prefill tokens are averaged over the last three observations
//!   (a snapshot of a queue is noisy at a 5 s cadence).
//!
//! Every planner `interval_s` (every k-th call) the throughput loop (the `sla` computation
//! over the statistics accumulated since its last run) sets a floor under the targets.

use serde::{Deserialize, Serialize};

use nalgebra::{DMatrix, DVector};

use crate::error::PlannerError;
use crate::observation::{Decision, IntervalStats, IterationSample, Observation, finite};
use crate::planner::Planner;
use crate::policies::progress::{Progress, Step};
use crate::policies::sla::SlaCore;
use crate::policies::{Basis, Common};
use crate::policy_kind::PolicyKind;
use crate::predict::PredictorConfig;
use crate::profile::Profile;

/// Settings of `sla-load`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaLoadConfig {
    /// Seconds between runs of the fast load loop (default 5, or the planner's
    /// `interval_s` where that is shorter; at most `interval_s`): the throughput loop runs
    /// every planner `interval_s`, rounded to a multiple of this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_interval_s: Option<f64>,
    /// Scale down only if every estimate stays under this share of the SLO, in (0, 1].
    #[serde(default = "down_margin")]
    pub scale_down_margin: f64,
    /// Iteration samples needed before the regression replaces the profile.
    #[serde(default = "min_samples")]
    pub min_samples: usize,
}

/// The fast loop's default cadence, s.
const LOAD_INTERVAL_S: f64 = 5.0;
fn down_margin() -> f64 {
    0.8
}
fn min_samples() -> usize {
    16
}

impl Default for SlaLoadConfig {
    fn default() -> Self {
        SlaLoadConfig {
            load_interval_s: None,
            scale_down_margin: down_margin(),
            min_samples: min_samples(),
        }
    }
}

/// Request statistics summed over several fast intervals.
#[derive(Clone, Debug, Default)]
struct Accumulated {
    seconds: f64,
    requests: u64,
    isl: (f64, f64),
    osl: (f64, f64),
    ttft: (f64, f64),
    itl: (f64, f64),
    arrived: u64,
    arrived_isl: (f64, f64),
    arrived_osl: (f64, f64),
}

impl Accumulated {
    fn add(&mut self, s: &IntervalStats, dt: f64) {
        self.seconds += dt;
        self.requests += s.requests;
        let w = s.requests as f64;
        let put = |acc: &mut (f64, f64), v: Option<f64>| {
            if let Some(v) = finite(v)
                && w > 0.0
            {
                acc.0 += v * w;
                acc.1 += w;
            }
        };
        put(&mut self.isl, s.mean_isl);
        put(&mut self.osl, s.mean_osl);
        put(&mut self.ttft, s.ttft_mean_ms);
        put(&mut self.itl, s.itl_mean_ms);
        self.arrived += s.arrived;
        let w = s.arrived as f64;
        for (acc, v) in [
            (&mut self.arrived_isl, s.arrived_mean_isl),
            (&mut self.arrived_osl, s.arrived_mean_osl),
        ] {
            if let Some(v) = finite(v)
                && w > 0.0
            {
                acc.0 += v * w;
                acc.1 += w;
            }
        }
    }

    fn stats(&self) -> IntervalStats {
        let mean = |a: (f64, f64)| (a.1 > 0.0).then(|| a.0 / a.1);
        IntervalStats {
            requests: self.requests,
            mean_isl: mean(self.isl),
            mean_osl: mean(self.osl),
            ttft_mean_ms: mean(self.ttft),
            ttft_p90_ms: None,
            itl_mean_ms: mean(self.itl),
            itl_p90_ms: None,
            arrived: self.arrived,
            arrived_mean_isl: mean(self.arrived_isl),
            arrived_mean_osl: mean(self.arrived_osl),
        }
    }
}

/// Iteration time regression: `ms = β · [1, prefill/1e3, seqs/1e2, kv/1e5]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IterationFit {
    /// Coefficients in the order above.
    pub beta: [f64; 4],
}

impl IterationFit {
    fn x(prefill: f64, seqs: f64, kv: f64) -> [f64; 4] {
        [1.0, prefill / 1e3, seqs / 1e2, kv / 1e5]
    }

    /// Least-squares fit; `None` with too few usable samples or a non-finite solution.
    pub fn fit(samples: &[IterationSample], min_samples: usize) -> Option<IterationFit> {
        let ok: Vec<&IterationSample> = samples
            .iter()
            .filter(|s| s.duration_ms.is_finite() && s.duration_ms > 0.0)
            .collect();
        if ok.len() < min_samples.max(4) {
            return None;
        }
        let x = DMatrix::from_fn(ok.len(), 4, |r, c| {
            let s = ok[r];
            Self::x(
                f64::from(s.prefill_tokens),
                f64::from(s.decode_seqs),
                s.decode_kv_tokens as f64,
            )[c]
        });
        let y = DVector::from_fn(ok.len(), |r, _| ok[r].duration_ms);
        let beta = x.svd(true, true).solve(&y, 1e-9).ok()?;
        let beta = [beta[0], beta[1], beta[2], beta[3]];
        beta.iter()
            .all(|b| b.is_finite())
            .then_some(IterationFit { beta })
    }

    /// Predicted iteration time, ms (never below 0).
    pub fn predict(&self, prefill: f64, seqs: f64, kv: f64) -> f64 {
        let x = Self::x(prefill, seqs, kv);
        x.iter()
            .zip(&self.beta)
            .map(|(a, b)| a * b)
            .sum::<f64>()
            .max(0.0)
    }
}

/// The load loop over a throughput floor.
#[derive(Debug)]
pub struct SlaLoad {
    config: SlaLoadConfig,
    common: Common,
    profile: Profile,
    core: SlaCore,
    every: u64,
    calls: u64,
    acc: Accumulated,
    floor: Vec<u32>,
    /// The GPUs the throughput floor needed where the budget cut it.
    floor_asked: Option<u32>,
    fits: Vec<Option<IterationFit>>,
    progress: Progress,
    last_action: Option<f64>,
    backlogs: std::collections::VecDeque<f64>,
}

impl SlaLoadConfig {
    /// Seconds between its calls under a planner deciding every `planner_interval_s`: it
    /// reads the load every `load_interval_s` (5 s unless set) where that is shorter.
    pub fn cadence_s(&self, planner_interval_s: f64) -> f64 {
        (self.load_interval_s)
            .unwrap_or(LOAD_INTERVAL_S)
            .min(planner_interval_s)
    }

    /// Checks the settings, whichever policy runs, under a planner deciding every
    /// `planner_interval_s`; errors name the field under `planner_path`'s `sla_load` section.
    pub(crate) fn check(
        &self,
        planner_path: &str,
        planner_interval_s: f64,
    ) -> Result<(), PlannerError> {
        let path = format!("{planner_path}.sla_load");
        let c = self;
        if let Some(every) = c.load_interval_s {
            let field = format!("{path}.load_interval_s");
            PlannerError::check_positive_seconds(field.clone(), every)?;
            // Its default, which servesim wrote into every planner it saved before the
            // field was optional, is taken as unset (the planner's interval where shorter).
            if every > planner_interval_s && every != LOAD_INTERVAL_S {
                return Err(PlannerError::invalid(
                    field,
                    format!(
                        "{every} s is longer than {planner_path}.interval_s ({planner_interval_s} \
                         s): the fast load loop runs at least as often as the throughput loop"
                    ),
                ));
            }
        }
        if !(c.scale_down_margin.is_finite()
            && c.scale_down_margin > 0.0
            && c.scale_down_margin <= 1.0)
        {
            return Err(PlannerError::invalid(
                format!("{path}.scale_down_margin"),
                format!("must be in (0, 1], got {}", c.scale_down_margin),
            ));
        }
        Ok(())
    }
}

impl SlaLoad {
    /// The policy over `basis`, its settings already checked ([`SlaLoadConfig::check`]).
    pub(crate) fn new(config: &SlaLoadConfig, basis: Basis) -> Self {
        let Basis {
            common,
            profile,
            predictor,
            observe,
        } = basis;
        let c = config;
        let mut common = common;
        let fast = c.cadence_s(common.interval_s);
        let every = (common.interval_s / fast).round().max(1.0) as u64;
        common.interval_s = fast;
        let predictor = predictor.unwrap_or(PredictorConfig::Constant);
        SlaLoad {
            config: config.clone(),
            core: SlaCore::new(&predictor, true, observe),
            floor: common.min.clone(),
            floor_asked: None,
            fits: vec![None; common.n],
            every,
            calls: 0,
            acc: Accumulated::default(),
            common,
            profile,
            progress: Progress::default(),
            last_action: None,
            backlogs: std::collections::VecDeque::new(),
        }
    }

    /// The current throughput floor per pool.
    pub fn floor(&self) -> &[u32] {
        &self.floor
    }

    /// Prefill TTFT (ms) when `backlog` tokens are shared by `n` workers.
    fn prefill_ttft(&self, pool: usize, backlog: f64, n: u32, isl: f64) -> f64 {
        let tokens = backlog / f64::from(n.max(1)) + isl;
        let chunk = f64::from(self.common.max_batched_tokens[pool]);
        match &self.fits[pool] {
            Some(f) => {
                if tokens <= chunk {
                    f.predict(tokens, 0.0, 0.0)
                } else {
                    tokens / chunk * f.predict(chunk, 0.0, 0.0)
                }
            }
            None => self.profile.prefill_ttft_ms(isl) * tokens / isl.max(1.0),
        }
    }

    /// Decode ITL (ms) of a worker holding `kv` tokens of sequences of `ctx` tokens.
    fn decode_itl(&self, pool: usize, kv: f64, ctx: f64, max_kv: f64) -> f64 {
        let seqs = (kv / ctx.max(1.0)).max(if kv > 0.0 { 1.0 } else { 0.0 });
        match &self.fits[pool] {
            Some(f) => f.predict(0.0, seqs, kv),
            None => self
                .profile
                .decode_itl_ms((kv / max_kv.max(1.0)).clamp(0.0, 1.0), ctx),
        }
    }

    /// Refits each pool's iteration-time regression on its recent iterations (a pool keeps
    /// its last fit while too few samples are usable).
    fn refit(&mut self, obs: &Observation) {
        for (i, p) in obs.pools.iter().enumerate() {
            if let Some(f) = IterationFit::fit(&p.iterations, self.config.min_samples) {
                self.fits[i] = Some(f);
            }
        }
    }

    /// The throughput loop: every `every` calls, a floor under the targets from the
    /// statistics accumulated since its last run (the `sla` computation).
    fn throughput_loop(&mut self, obs: &Observation, dt: f64) {
        self.acc.add(&obs.interval, dt);
        self.calls += 1;
        if !self.calls.is_multiple_of(self.every) {
            return;
        }
        let c = &self.common;
        let acc = std::mem::take(&mut self.acc);
        let kv = obs.pools[c.decode].mean_kv_utilisation();
        self.core.observe(&acc.stats(), kv, &self.profile);
        // Before any ISL/OSL is known the floor stays as it was.
        let Some((n_p, n_d)) = self.core.replicas(
            &self.profile,
            acc.seconds.max(dt),
            c.slo_itl(obs),
            c.gpus[c.prefill],
            c.gpus[c.decode],
        ) else {
            return;
        };
        let mut floor = c.per_pool(n_p, n_d);
        self.floor_asked = c.fit_to_budget(&mut floor, obs);
        self.floor = floor;
    }

    /// The load loop: one worker more or fewer per pool, from the estimated TTFT and ITL.
    fn load_loop(&self, obs: &Observation, wanted: &mut [u32]) {
        let c = &self.common;
        let step_p = self.prefill_step(obs);
        let step_d = self.decode_step(obs);
        let apply = |n: u32, s: i32| match s {
            1 => n.saturating_add(1),
            -1 => n.saturating_sub(1),
            _ => n,
        };
        if c.aggregated() {
            let s = if step_p > 0 || step_d > 0 {
                1
            } else if step_p < 0 && step_d < 0 {
                -1
            } else {
                0
            };
            wanted[c.prefill] = apply(wanted[c.prefill], s);
        } else {
            wanted[c.prefill] = apply(wanted[c.prefill], step_p);
            wanted[c.decode] = apply(wanted[c.decode], step_d);
        }
    }

    /// +1 when the averaged backlog breaks the TTFT target on the ready prefill workers, -1
    /// when one fewer would keep it under the margin, else 0.
    fn prefill_step(&self, obs: &Observation) -> i32 {
        let c = &self.common;
        let (isl, _) = self.progress.sizes();
        let slo_ttft = c.slo_ttft(obs);
        let margin = self.config.scale_down_margin;
        let backlog = self.backlogs.iter().sum::<f64>() / self.backlogs.len() as f64;
        let n = obs.pools[c.prefill].ready;
        if n == 0 {
            0
        } else if self.prefill_ttft(c.prefill, backlog, n, isl) > slo_ttft {
            1
        } else if n > 1 && self.prefill_ttft(c.prefill, backlog, n - 1, isl) < margin * slo_ttft {
            -1
        } else {
            0
        }
    }

    /// +1 when every serving decode worker's estimated ITL breaks the target, -1 when their
    /// KV load shared by one worker fewer would keep it under the margin, else 0.
    fn decode_step(&self, obs: &Observation) -> i32 {
        let c = &self.common;
        let (isl, osl) = self.progress.sizes();
        let slo_itl = c.slo_itl(obs);
        let margin = self.config.scale_down_margin;
        let d = &obs.pools[c.decode];
        let max_kv = if d.max_kv_tokens > 0 {
            d.max_kv_tokens as f64
        } else {
            c.max_kv_tokens[c.decode].max(1) as f64
        };
        let (seqs, kvs) = d.iterations.iter().fold((0.0, 0.0), |(s, k), it| {
            (
                s + f64::from(it.decode_seqs),
                k + it.decode_kv_tokens as f64,
            )
        });
        let ctx = if seqs > 0.0 {
            kvs / seqs
        } else {
            isl + osl / 2.0
        };
        let loads: Vec<f64> = d
            .kv_utilisation
            .iter()
            .filter(|u| u.is_finite())
            .map(|u| u.clamp(0.0, 1.0) * max_kv)
            .collect();
        if loads.is_empty() {
            return 0;
        }
        if loads
            .iter()
            .all(|&kv| self.decode_itl(c.decode, kv, ctx, max_kv) > slo_itl)
        {
            return 1;
        }
        if loads.len() > 1 {
            let total: f64 = loads.iter().sum();
            let share = total / (loads.len() - 1) as f64;
            if self.decode_itl(c.decode, share, ctx, max_kv) < margin * slo_itl {
                return -1;
            }
        }
        0
    }
}

impl Planner for SlaLoad {
    fn name(&self) -> &'static str {
        PolicyKind::SlaLoad.as_str()
    }

    fn interval_s(&self) -> f64 {
        self.common.interval_s
    }

    fn decide(&mut self, obs: &Observation) -> Decision {
        let Some(Step { dt, now }) = self.progress.step(&self.common, obs) else {
            return Decision::unchanged(obs.pools.len());
        };
        self.refit(obs);
        self.throughput_loop(obs, dt);
        self.backlogs
            .push_back(obs.pools[self.common.prefill].queued_prefill_tokens as f64);
        if self.backlogs.len() > 3 {
            self.backlogs.pop_front();
        }
        let c = &self.common;
        let pending = obs.pools.iter().any(|p| p.starting > 0 || p.draining > 0)
            || self
                .last_action
                .is_some_and(|t| now < t + c.scrape_lag_s + c.interval_s);
        let mut wanted: Vec<u32> = obs.pools.iter().map(|p| p.active()).collect();
        if !pending {
            self.load_loop(obs, &mut wanted);
        }
        for (w, f) in wanted.iter_mut().zip(&self.floor) {
            *w = (*w).max(*f);
        }
        if pending && wanted.iter().zip(&obs.pools).all(|(w, p)| *w <= p.active()) {
            return Decision::unchanged(c.n);
        }
        let d = c
            .decide(wanted, obs)
            .because(format!(
                "{}; floor {:?} (throughput: {})",
                if pending {
                    "load loop waits (action pending)"
                } else {
                    "load loop +/-1 from estimated TTFT/ITL"
                },
                self.floor,
                self.core.explain()
            ))
            // The floor was fitted to the budget when it was set: what it asked for then.
            .asking(self.floor_asked);
        if d.targets.iter().any(Option::is_some) {
            self.last_action = Some(now);
        }
        d
    }
}
