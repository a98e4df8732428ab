//! `lookahead`: ours. A start-up-aware planner that sizes pools for the demand it expects
//! once new workers are up, counts starting workers as capacity already bought, and scales
//! down only after the need has stayed lower for a while (the cluster drains the least loaded
//! worker, and cancels a still-starting one first).
//!
//! It decides every `lookahead.interval_s` (default: the planner interval, at most 15 s): a
//! fast loop, since reacting one interval earlier buys back a whole interval of a storm.
//! Each time:
//! 1. **Prefill demand**, prompt tokens/s: what was served (`requests × ISL / interval`) plus
//!    the growth of the queued prefill tokens, so the demand piling up in the queue counts.
//! 2. **Forecast** it with the load predictor (Holt by default) `startup / interval` steps
//!    ahead — when a worker asked for now would serve — capped at `forecast_cap` × the current
//!    demand; plan for the larger of now and then.
//! 3. **Capacity of a worker**, prompt tokens per busy second, *measured*: the prompt tokens
//!    the pool's iterations computed since the last observation over their busy time. Prefix-cache hits and batching are in it, whatever the mix of requests;
//!    the profile's prefill throughput stands in until it is measured.
//! 4. **Workers that keep TTFT within the target for `attainment` of the prompts**: with
//!    service time `s = ISL / capacity` and target `T = slo_margin × TTFT SLO`, the fewest
//!    workers `n` at which at most `1 − attainment` of the prompts wait longer than `T − s`
//!    at a worker of utilisation `ρ = D / (n × capacity)` fed round-robin (Kingman's
//!    approximation, see `prefill_queue`). An SLO is met or missed per request, so the pool
//!    is sized for the share of requests within it, not for the mean TTFT.
//!    `target_utilisation`, when set, sizes for `D / ρ` instead.
//! 5. **Backlog**: the queue projected to when new workers are up (bounded by the largest
//!    backlog recently seen, since closed-loop users stop sending while they wait) must drain
//!    within `drain_s`: at least `ceil((D + B_ready / drain_s) / capacity)` workers.
//! 6. **Decode** (reactive: ITL degrades gracefully, so it plans for the next interval, not the
//!    start-up horizon): the larger of the rate need (`requests × OSL` over the best decode
//!    throughput per GPU whose ITL meets the target corrected by how much slower than the
//!    profile the pool's recent decode steps ran, each against the profile's ITL of its own
//!    batch) and the KV need (KV in use at 90 % of capacity); one more when the mean
//!    ITL is over `slo_margin` × the target and nothing is starting.
//! 7. **Pending capacity and hysteresis**: targets count starting workers, so a worker asked
//!    for is never asked for again while it boots; the target of a pool is the largest need of
//!    the last `max(hold_s, start-up)` seconds, so scale-up is immediate and scale-down waits
//!    for a sustained lower need (the deployment the run starts with counting as the need of
//!    its first interval), and prefill never shrinks while its queue alone breaks the
//!    TTFT target or the last interval's TTFT p90 is over it. Holding at least a start-up is
//!    the ski-rental rule (Karlin, Manasse, McGeoch & Owicki, "Competitive randomized
//!    algorithms for nonuniform problems", Algorithmica 11, 1994): keep an idle worker for as
//!    long as getting one back would hold a GPU while it starts, which never spends more than
//!    twice the GPU time of the best choice made in hindsight. A worker let go sooner is missed for a whole start-up when
//!    the need returns (Dynamo's planner study saw SLO attainment fall off a cliff past
//!    ~100–120 s start-ups, DOMAIN §1). The
//!    cluster drains the least loaded worker (a still-starting one is cancelled first). Empty
//!    intervals read as zero demand: it returns to the minimum when traffic stops.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::error::PlannerError;
use crate::observation::{Decision, IterationSample, Observation, finite};
use crate::planner::Planner;
use crate::policies::progress::{Progress, Step};
use crate::policies::{Basis, Common, prefill_queue, workers};
use crate::policy_kind::PolicyKind;
use crate::predict::{LoadPredictor, PredictorConfig};
use crate::profile::Profile;

/// Settings of `lookahead`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookaheadConfig {
    /// Seconds between decisions (default: the planner's `interval_s`, at most 15 s).
    #[serde(default)]
    pub interval_s: Option<f64>,
    /// Plan for this share of the TTFT and ITL targets, in (0, 1].
    #[serde(default = "margin")]
    pub slo_margin: f64,
    /// Prefill utilisation to plan for, in (0, 1] (default: derived from the TTFT target and
    /// `attainment`).
    #[serde(default)]
    pub target_utilisation: Option<f64>,
    /// Share of prompts whose TTFT the prefill pool is sized to keep within the target, in
    /// (0, 1) (default 0.9, the SLO attainment DistServe judges goodput at).
    #[serde(default = "attainment")]
    pub attainment: f64,
    /// A backlog should be cleared within this many seconds of new workers being up.
    #[serde(default = "drain")]
    pub drain_s: f64,
    /// Scale down only when the need has been lower for this many seconds (or for the pool's
    /// start-up, if longer).
    #[serde(default = "hold")]
    pub hold_s: f64,
    /// Forecasts are capped at this multiple of the current demand (≥ 1).
    #[serde(default = "cap")]
    pub forecast_cap: f64,
}

fn margin() -> f64 {
    0.85
}
fn attainment() -> f64 {
    0.9
}
fn drain() -> f64 {
    90.0
}
fn hold() -> f64 {
    60.0
}
fn cap() -> f64 {
    1.5
}

impl Default for LookaheadConfig {
    fn default() -> Self {
        LookaheadConfig {
            interval_s: None,
            slo_margin: margin(),
            target_utilisation: None,
            attainment: attainment(),
            drain_s: drain(),
            hold_s: hold(),
            forecast_cap: cap(),
        }
    }
}

/// Ours: forecast plus pending capacity, utilisation from the SLO, drain on scale-down.
#[derive(Debug)]
pub struct Lookahead {
    config: LookaheadConfig,
    /// How often it decides, in words (see `build`).
    cadence: String,
    common: Common,
    profile: Profile,
    prefill_demand: Box<dyn LoadPredictor>,
    decode_demand: Box<dyn LoadPredictor>,
    progress: Progress,
    prev_backlog: Option<f64>,
    /// Prompt tokens a prefill worker serves per busy second (measured).
    capacity: Option<f64>,
    /// Decaying sums of the prompt tokens served (completed requests × ISL) and computed (by
    /// the prefill iterations): their ratio is the share the prefix cache saves, over a span
    /// long enough for the completions' lag behind their prefills to wash out.
    served_vs_computed: (f64, f64),
    /// Observed over profiled decode ITL (smoothed).
    d_corr: f64,
    /// The iterations seen at the last observation, per pool.
    prev_iterations: Vec<Option<Vec<IterationSample>>>,
    /// `(time, backlog, need per pool)` over the hold window.
    window: VecDeque<(f64, f64, Vec<u32>)>,
}

impl LookaheadConfig {
    /// Seconds between its decisions under a planner deciding every `planner_interval_s`:
    /// its own `interval_s`, else the planner's, at most 15 s.
    pub fn cadence_s(&self, planner_interval_s: f64) -> f64 {
        self.interval_s.unwrap_or(planner_interval_s.min(15.0))
    }

    /// Checks the settings, whichever policy runs; errors name the field under
    /// `planner_path`'s `lookahead` section.
    pub(crate) fn check(&self, planner_path: &str) -> Result<(), PlannerError> {
        let path = format!("{planner_path}.lookahead");
        let c = self;
        let unit = |v: f64| v.is_finite() && v > 0.0 && v <= 1.0;
        if !unit(c.slo_margin) {
            return Err(PlannerError::invalid(
                format!("{path}.slo_margin"),
                format!("must be in (0, 1], got {}", c.slo_margin),
            ));
        }
        if let Some(u) = c.target_utilisation
            && !unit(u)
        {
            return Err(PlannerError::invalid(
                format!("{path}.target_utilisation"),
                format!("must be in (0, 1], got {u}"),
            ));
        }
        if !(c.attainment.is_finite() && c.attainment > 0.0 && c.attainment < 1.0) {
            return Err(PlannerError::invalid(
                format!("{path}.attainment"),
                format!("must be in (0, 1), got {}", c.attainment),
            ));
        }
        for (name, v) in [("drain_s", c.drain_s), ("hold_s", c.hold_s)] {
            PlannerError::check_positive_seconds(format!("{path}.{name}"), v)?;
        }
        if !(c.forecast_cap.is_finite() && c.forecast_cap >= 1.0) {
            return Err(PlannerError::invalid(
                format!("{path}.forecast_cap"),
                format!("must be a number >= 1, got {}", c.forecast_cap),
            ));
        }
        // As the world's bound on any planner interval.
        if let Some(v) = c.interval_s
            && !(v.is_finite() && v >= 1e-3)
        {
            return Err(PlannerError::invalid(
                format!("{path}.interval_s"),
                format!("must be at least 0.001 s, got {v}"),
            ));
        }
        Ok(())
    }
}

impl Lookahead {
    /// The policy over `basis`, its settings already checked ([`LookaheadConfig::check`]).
    pub(crate) fn new(config: &LookaheadConfig, basis: Basis) -> Self {
        let Basis {
            common,
            profile,
            predictor,
            ..
        } = basis;
        let c = config;
        let mut common = common;
        let planner_interval = common.interval_s;
        common.interval_s = c.cadence_s(planner_interval);
        let predictor = predictor.unwrap_or(PredictorConfig::Holt {
            alpha: 0.5,
            beta: 0.3,
        });
        let n = common.n;
        // Said in every decision, so that a comparison at the planner's interval shows that
        // this policy decided more often.
        let cadence = match c.interval_s {
            Some(v) => format!("every {v} s (lookahead.interval_s)"),
            None if common.interval_s < planner_interval => format!(
                "every {} s, not the planner's {planner_interval} s (its default, at most 15 s; \
                 set lookahead.interval_s to change it)",
                common.interval_s
            ),
            None => format!("every {} s (the planner's interval)", common.interval_s),
        };
        Lookahead {
            cadence,
            config: config.clone(),
            prefill_demand: predictor.build(),
            decode_demand: predictor.build(),
            common,
            profile,
            progress: Progress::default(),
            prev_backlog: None,
            capacity: None,
            served_vs_computed: (0.0, 0.0),
            d_corr: 1.0,
            prev_iterations: vec![None; n],
            window: VecDeque::new(),
        }
    }

    /// Plans for the larger of `now` and the forecast `steps` ahead (capped).
    fn plan_demand(&self, predictor: &dyn LoadPredictor, now: f64, steps: usize) -> f64 {
        let f = predictor.forecast(steps).unwrap_or(now);
        let f = if f.is_finite() { f } else { now };
        now.max(f.min(now * self.config.forecast_cap)).max(0.0)
    }

    /// The decode engine's speed against the profile: its recent decode steps' time over the
    /// profile's ITL at each step's own batch (KV in use, as a share of the profile's
    /// capacity) and context; `None` without such steps. Steps and profile are compared on the
    /// same batches, so a load moving between workers (a new one taking requests, an
    /// overloaded one emptying) does not read as a slow engine, as the interval's mean ITL
    /// against the KV in use when it was scraped does.
    fn decode_speed(&self, iterations: &[IterationSample]) -> Option<f64> {
        let capacity = self.profile.max_kv_tokens().max(1) as f64;
        let (mut took, mut expected) = (0.0, 0.0);
        for it in iterations
            .iter()
            .filter(|it| it.prefill_tokens == 0 && it.decode_seqs > 0)
        {
            let kv = it.decode_kv_tokens as f64;
            took += it.duration_ms;
            expected += self
                .profile
                .decode_itl_ms(kv / capacity, kv / f64::from(it.decode_seqs));
        }
        (took > 0.0 && expected > 0.0)
            .then(|| took / expected)
            .filter(|r| r.is_finite())
    }

    /// Prefill workers for `demand` prompt tokens/s plus the drain of `backlog` tokens, at
    /// `cap` tokens/s a worker and prompts of `isl` tokens (step 4 and 5 of the module
    /// documentation), and the utilisation that gives each.
    fn prefill_workers(
        &self,
        demand: f64,
        backlog: f64,
        cap: f64,
        isl: f64,
        slo_ttft_ms: f64,
    ) -> (u32, f64) {
        let drained = workers((demand + backlog / self.config.drain_s) / cap);
        let n = match self.config.target_utilisation {
            Some(u) => drained.max(workers(demand / u / cap)),
            None => {
                let wait_s = slo_ttft_ms * self.config.slo_margin / 1e3 - isl / cap;
                let floor = drained.max(workers(demand / cap));
                if wait_s.is_nan() || wait_s <= 0.0 {
                    // A prompt alone takes the whole target: no pool size meets it, so run
                    // light rather than ask for the whole budget.
                    floor.max(workers(demand / UNREACHABLE_UTILISATION / cap))
                } else if demand > 0.0 {
                    prefill_queue::workers_for(
                        demand,
                        cap,
                        isl,
                        wait_s,
                        self.config.attainment,
                        floor,
                        MOST_PREFILL_WORKERS,
                    )
                } else {
                    floor
                }
            }
        };
        (n, demand / (f64::from(n.max(1)) * cap))
    }
}

/// Utilisation planned for when the TTFT target is shorter than a prompt's prefill.
const UNREACHABLE_UTILISATION: f64 = 0.3;

/// The most prefill workers the TTFT rule asks for (the budget bounds them further).
const MOST_PREFILL_WORKERS: u32 = 4096;

impl Planner for Lookahead {
    fn name(&self) -> &'static str {
        PolicyKind::Lookahead.as_str()
    }

    fn interval_s(&self) -> f64 {
        self.common.interval_s
    }

    fn decide(&mut self, obs: &Observation) -> Decision {
        let Some(Step { dt, now }) = self.progress.step(&self.common, obs) else {
            return Decision::unchanged(obs.pools.len());
        };
        let c = self.common.clone();
        let cfg = self.config.clone();
        let stats = &obs.interval;
        let (isl, osl) = self.progress.sizes();
        let reqs = stats.requests as f64;
        let p = &obs.pools[c.prefill];
        let d = &obs.pools[c.decode];

        // 1–2. Prefill demand, forecast to when a worker asked for now serves.
        let backlog = p.queued_prefill_tokens as f64;
        let growth = self.prev_backlog.map_or(0.0, |b| (backlog - b) / dt);
        self.prev_backlog = Some(backlog);
        let served_p = if self.progress.seen_isl() {
            reqs * isl / dt
        } else {
            0.0
        };
        let demand_p = (served_p + growth).max(0.0);
        self.prefill_demand.observe(demand_p);
        let steps_p = (c.startup(obs, c.prefill) / dt).ceil().max(1.0) as usize;
        let plan_p = self.plan_demand(self.prefill_demand.as_ref(), demand_p, steps_p);

        // 3. Capacity of a prefill worker, prompt tokens per busy second, measured.
        let gpus_p = f64::from(c.gpus[c.prefill]);
        // The prompt tokens the pool's iterations computed over their busy time: completed
        // requests would lag the prefills that served them (by their decode), and read a
        // falling load as spare capacity.
        let work = new_work(self.prev_iterations[c.prefill].as_deref(), &p.iterations);
        for (i, pool) in obs.pools.iter().enumerate() {
            self.prev_iterations[i] = Some(pool.iterations.clone());
        }
        let profile_cap = self.profile.prefill_thpt_per_gpu(isl) * gpus_p;
        // Only intervals whose work is known and busy enough count, for the savings as for the
        // capacity: a pool's list of identical iterations (requests of one size) can match
        // itself at a wrong offset when more ran than it holds, and read as almost no work
        // against a full interval of requests served.
        if let Some((busy, tokens)) = work
            && !c.aggregated()
            && busy / dt >= 0.05
            && tokens > 0.0
        {
            let (served, computed) = self.served_vs_computed;
            self.served_vs_computed = (
                SAVED_DECAY * served + served_p * dt,
                SAVED_DECAY * computed + tokens,
            );
            // Computed tokens per busy second, in the units demand is counted in (prompt
            // tokens served, cache hits included).
            let (served, computed) = self.served_vs_computed;
            let saved = (served / computed).clamp(1.0, 20.0);
            let measured = tokens / busy * saved;
            self.capacity = Some(match self.capacity {
                Some(old) => 0.5 * old + 0.5 * measured,
                None => measured,
            });
        }
        let cap = self
            .capacity
            .unwrap_or(profile_cap)
            .clamp(0.25 * profile_cap, 4.0 * profile_cap)
            .max(1e-9);

        // 4–5. Utilisation from the SLO; backlog projected to when new workers are up.
        let slo_ttft = c.slo_ttft(obs);
        let peak_backlog = self
            .window
            .iter()
            .filter(|(t, _, _)| *t >= now - cfg.hold_s)
            .map(|(_, b, _)| *b)
            .fold(backlog, f64::max);
        let ready_cap = f64::from(p.ready) * cap;
        let startup_p = c.startup(obs, c.prefill);
        let backlog_ready =
            (backlog + (plan_p - ready_cap).max(0.0) * startup_p).min(peak_backlog.max(backlog));
        let (n_p, rho) = self.prefill_workers(plan_p, backlog_ready, cap, isl, slo_ttft);

        // 6. Decode: rate need and KV need at the ITL target.
        let served_d = if self.progress.seen_osl() {
            reqs * osl / dt
        } else {
            0.0
        };
        // Decode degrades gracefully (ITL grows slowly with load, unlike a prefill queue),
        // so it follows the next interval's demand rather than the start-up horizon's.
        self.decode_demand.observe(served_d);
        let plan_d = self
            .decode_demand
            .forecast(1)
            .filter(|v| v.is_finite())
            .unwrap_or(served_d)
            .max(0.0);
        let slo_itl = c.slo_itl(obs);
        let ctx_len = isl + osl / 2.0;
        if let Some(ratio) = self.decode_speed(&d.iterations) {
            self.d_corr = 0.5 * self.d_corr + 0.5 * ratio.clamp(0.25, 4.0);
        }
        let (thpt, _) = self
            .profile
            .best_decode_thpt_per_gpu(slo_itl / self.d_corr, ctx_len);
        let n_rate = workers(plan_d / (thpt * f64::from(c.gpus[c.decode])).max(1e-9));
        let max_kv = if d.max_kv_tokens > 0 {
            d.max_kv_tokens as f64
        } else {
            c.max_kv_tokens[c.decode].max(1) as f64
        };
        let kv_in_use: f64 = d
            .kv_utilisation
            .iter()
            .filter(|u| u.is_finite())
            .map(|u| u.clamp(0.0, 1.0) * max_kv)
            .sum();
        let n_kv = workers(kv_in_use / (0.9 * max_kv));
        let mut n_d = n_rate.max(n_kv);
        if finite(stats.itl_mean_ms).is_some_and(|t| t > slo_itl * cfg.slo_margin)
            && d.starting == 0
        {
            n_d = n_d.max(d.active() + 1);
        }

        let mut need = c.per_pool(n_p, n_d);
        // What this interval needs beyond the budget, which the fit cuts.
        let asked = c.fit_to_budget(&mut need, obs);

        // 7. Hold the largest need of the last `hold_s` seconds, or of the pool's start-up if
        // longer (ski rental, above).
        let holds: Vec<f64> = (0..c.n)
            .map(|i| cfg.hold_s.max(c.startup(obs, i)))
            .collect();
        let longest = holds.iter().copied().fold(cfg.hold_s, f64::max);
        if self.window.is_empty() {
            // The deployment the run starts with is the need of its first interval: its
            // workers are up or starting, so letting one go before the hold costs a start-up
            // if the need returns, as for any other worker (the ski-rental rule).
            let deployed = obs.pools.iter().map(|pool| pool.active()).collect();
            self.window.push_back((now - dt, backlog, deployed));
        }
        self.window.push_back((now, backlog, need));
        while self
            .window
            .front()
            .is_some_and(|(t, _, _)| *t < now - longest)
        {
            self.window.pop_front();
        }
        let mut wanted: Vec<u32> = (0..c.n)
            .map(|i| {
                self.window
                    .iter()
                    .filter(|(t, _, _)| *t >= now - holds[i])
                    .map(|(_, _, n)| n[i])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        // Never shrink prefill while its queue alone breaks the TTFT target: the measured
        // demand of a saturated closed loop understates the real one.
        // Nor while the last interval's TTFT p90 is over the target.
        let queue_ms = (backlog + isl) / ready_cap.max(1e-9) * 1e3;
        let ttft_over = finite(stats.ttft_p90_ms).is_some_and(|t| t > slo_ttft);
        let held = (backlog > 0.0 && queue_ms > slo_ttft * cfg.slo_margin) || ttft_over;
        if held {
            wanted[c.prefill] = wanted[c.prefill].max(p.active());
        }
        // Before anything has completed, the demand reads zero for want of sizes, not for
        // want of requests: while requests arrive or wait, no pool shrinks on it (as `sla`
        // holds then, after Dynamo 1.6), though a growing backlog still adds workers.
        let waiting = stats.arrived > 0 || backlog > 0.0 || p.queue_depth > 0;
        let no_sizes = waiting && !(self.progress.seen_isl() && self.progress.seen_osl());
        if no_sizes {
            for (i, w) in wanted.iter_mut().enumerate() {
                *w = (*w).max(obs.pools[i].active());
            }
        }
        let reason = format!(
            "{cadence}: prefill demand {demand_p:.0} tok/s, planned {plan_p:.0} ({steps_p} steps ahead), \
             backlog {backlog:.0} tok; worker capacity {cap:.0} tok/s{measured}, utilisation \
             {rho:.2} for the TTFT of {share:.0} % of prompts -> {n_p} prefill; decode {plan_d:.0} tok/s, KV {n_kv} -> {n_d} \
             decode; held for {hold}{kept}",
            measured = if self.capacity.is_some() {
                " measured"
            } else {
                " from the profile"
            },
            cadence = self.cadence,
            share = cfg.attainment * 100.0,
            // The hold each pool got (ski rental lengthens it past `hold_s`).
            hold = if holds[c.prefill] == holds[c.decode] {
                format!("{:.0} s", holds[c.prefill])
            } else {
                format!(
                    "{:.0} s (prefill), {:.0} s (decode)",
                    holds[c.prefill], holds[c.decode]
                )
            },
            kept = match (held, no_sizes) {
                (_, true) => "; nothing shrunk: no request has completed to size the demand",
                (true, false) => "; prefill not shrunk: its queue or TTFT is over the target",
                (false, false) => "",
            },
        );
        // Nor does the GPU budget shrink it then: the other pool gives way.
        let mut keep = vec![0; c.n];
        if held {
            keep[c.prefill] = p.active();
        }
        c.decide_keeping(wanted, obs, &keep)
            .because(reason)
            .asking(asked)
    }
}

/// Busy seconds of the iterations in `cur` that were not in `prev` (the pool's bounded list of
/// recent iterations, oldest first, at the previous and at this observation): the longest
/// suffix of `prev` that starts `cur` is the overlap. `None` without a previous list, or when
/// the lists do not overlap (more ran than the list holds: the busy time is unknown).
/// Weight of the past in the served-over-computed sums, per observation.
const SAVED_DECAY: f64 = 0.97;

/// The iterations of `cur` not already in `prev` (the pool's bounded list of recent
/// iterations, oldest first): their busy seconds and the prompt tokens they computed.
/// `None` when unknown (no earlier list, or more iterations ran than the list holds).
pub(crate) fn new_work(
    prev: Option<&[IterationSample]>,
    cur: &[IterationSample],
) -> Option<(f64, f64)> {
    let prev = prev?;
    let most = prev.len().min(cur.len());
    let overlap = (0..=most)
        .rev()
        .find(|&k| prev[prev.len() - k..] == cur[..k])
        .unwrap_or(0);
    if overlap == 0 && !prev.is_empty() && !cur.is_empty() {
        // More iterations than the list holds ran since the last observation: unknown.
        return None;
    }
    let new = cur[overlap..]
        .iter()
        .filter(|s| s.duration_ms.is_finite() && s.duration_ms > 0.0);
    let (ms, tokens) = new.fold((0.0, 0.0), |(ms, tok), s| {
        (ms + s.duration_ms, tok + f64::from(s.prefill_tokens))
    });
    Some((ms / 1e3, tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn it(ms: f64) -> IterationSample {
        IterationSample {
            prefill_tokens: ms as u32,
            duration_ms: ms,
            ..Default::default()
        }
    }

    #[test]
    fn work_counts_only_new_iterations() {
        let a = vec![it(10.0), it(20.0), it(30.0)];
        assert_eq!(new_work(None, &a), None);
        assert_eq!(new_work(Some(&a), &a), Some((0.0, 0.0)));
        // Two new ones, the oldest dropped out of the bounded list.
        let b = vec![it(20.0), it(30.0), it(40.0), it(50.0)];
        assert_eq!(new_work(Some(&a), &b), Some((0.09, 90.0)));
        // No overlap at all: the list overflowed, the work is unknown.
        let c = vec![it(1000.0), it(f64::NAN)];
        assert_eq!(new_work(Some(&a), &c), None);
        // From an empty list, everything is new (a sample without a duration is skipped).
        assert_eq!(new_work(Some(&[]), &c), Some((1.0, 1000.0)));
    }
}
