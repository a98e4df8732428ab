//! The policies, one file each, and what they share.
//!
//! - [`static_policy`] (`static`): never changes anything;
//! - [`load_threshold`] (`load-threshold`): Dynamo's first planner;
//! - [`sla`] (`sla`): Dynamo's SLA planner, throughput form;
//! - [`sla_load`] (`sla-load`): the newer design, a fast load loop over a throughput floor;
//! - [`lookahead`] (`lookahead`): ours, start-up aware.

mod dynamo_budget;
mod engine_capacity;
pub mod load_threshold;
pub mod lookahead;
mod prefill_queue;
pub(crate) mod progress;
pub mod sla;
pub mod sla_load;
pub mod static_policy;

#[cfg(test)]
mod tests;

use crate::observation::{Decision, Observation, Observe, finite};
use crate::predict::PredictorConfig;
use crate::profile::Profile;

/// What the policies that read a profile are built from, besides their own settings.
pub(crate) struct Basis {
    /// The deployment.
    pub common: Common,
    /// The performance profile.
    pub profile: Profile,
    /// The load predictor asked for (each policy has its own default).
    pub predictor: Option<PredictorConfig>,
    /// Which requests the load is read from.
    pub observe: Observe,
}

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
    pub max_num_seqs: Vec<u32>,
    pub max_kv_tokens: Vec<u64>,
    /// Age of the metrics the planner sees, s.
    pub scrape_lag_s: f64,
}

impl Common {
    /// Whether the observation matches the deployment (else the policy changes nothing).
    pub fn matches(&self, obs: &Observation) -> bool {
        obs.pools.len() == self.n
    }

    pub fn aggregated(&self) -> bool {
        self.prefill == self.decode
    }

    /// Workers per pool: `prefill` for the prefill pool and `decode` for the decode pool, or
    /// the larger of the two for an aggregated pool (it does both).
    pub fn per_pool(&self, prefill: u32, decode: u32) -> Vec<u32> {
        let mut out = vec![0; self.n];
        if self.aggregated() {
            out[self.prefill] = prefill.max(decode);
        } else {
            out[self.prefill] = prefill;
            out[self.decode] = decode;
        }
        out
    }

    /// The observation's interval length, or the configured one when it is unusable.
    pub fn dt(&self, obs: &Observation) -> f64 {
        finite(Some(obs.interval_s))
            .filter(|v| *v > 0.0)
            .unwrap_or(self.interval_s)
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

    /// Clamps wanted counts to the limits and the GPU budget: scaled down proportionally
    /// (whole workers by the largest remainder, Hamilton's apportionment, so that GPUs a
    /// floor left idle go to the pools that lost the most of a worker), then trimmed from
    /// the largest pool, never below the minimum.
    pub fn fit(&self, wanted: &mut [u32], budget: u32) {
        self.fit_above(wanted, budget, &self.min);
    }

    /// [`Common::fit`] with each pool held to at least `floor` (at least its minimum) instead
    /// of its minimum alone.
    fn fit_above(&self, wanted: &mut [u32], budget: u32, floor: &[u32]) {
        let min: Vec<u32> = (0..self.n).map(|i| floor[i].max(self.min[i])).collect();
        for (i, w) in wanted.iter_mut().enumerate() {
            *w = (*w).clamp(min[i], self.max[i].max(min[i]));
        }
        let gpus = |w: &[u32]| self.gpus_of(w);
        let total = gpus(wanted);
        if total <= u64::from(budget) {
            return;
        }
        let scale = f64::from(budget) / total as f64;
        let asked = wanted.to_vec();
        let shares: Vec<f64> = asked.iter().map(|&w| f64::from(w) * scale).collect();
        for (i, w) in wanted.iter_mut().enumerate() {
            *w = (shares[i].floor() as u32).max(min[i]);
        }
        // The GPUs the floors left: a worker more to each pool by its share's remainder,
        // the largest first (lowest index on ties), while it fits and was asked for.
        let mut order: Vec<usize> = (0..self.n).collect();
        order.sort_by(|&a, &b| {
            let rem = |i: usize| shares[i] - shares[i].floor();
            rem(b).total_cmp(&rem(a)).then(a.cmp(&b))
        });
        for i in order {
            let more = gpus(wanted) + u64::from(self.gpus[i]);
            if wanted[i] < asked[i] && more <= u64::from(budget) {
                wanted[i] += 1;
            }
        }
        while gpus(wanted) > u64::from(budget) {
            // Trim the pool with the most GPUs above its minimum (lowest index on ties).
            let pick = (0..self.n)
                .filter(|&i| wanted[i] > min[i])
                .max_by_key(|&i| {
                    (
                        u64::from(wanted[i] - min[i]) * u64::from(self.gpus[i]),
                        std::cmp::Reverse(i),
                    )
                });
            match pick {
                Some(i) => wanted[i] -= 1,
                None => break,
            }
        }
    }

    /// The fewest workers each pool keeps whatever a policy wants: one where it holds
    /// requests. A pool allowed none (`min_replicas` 0) goes to zero only when it holds no
    /// request, and comes back from zero with one worker while requests wait for it, as
    /// Knative scales a revision to zero only once it has no traffic and its activator holds
    /// a request for a revision at zero until the autoscaler has started one (Knative
    /// Serving, "Configuring scale to zero"). A policy's own signals (a worker's KV, its
    /// measured capacity) read nothing from a pool without workers, so without this no
    /// demand could bring one back.
    fn holding(obs: &Observation) -> Vec<u32> {
        obs.pools
            .iter()
            .map(|p| u32::from(p.holds_requests()))
            .collect()
    }

    /// No change, but for a pool below what it holds ([`Common::holding`]: at zero with
    /// requests waiting), brought up to it: what a policy decides when it has nothing to
    /// size by.
    pub fn unchanged(&self, obs: &Observation) -> Decision {
        let mut d = Decision::unchanged(obs.pools.len());
        for ((t, p), keep) in d.targets.iter_mut().zip(&obs.pools).zip(Self::holding(obs)) {
            if p.active() < keep {
                *t = Some(keep);
            }
        }
        d
    }

    /// A decision setting every pool to `wanted` after [`Common::fit`], each kept to what it
    /// holds ([`Common::holding`]); a pool whose target
    /// equals its observed active workers is left alone (`None`), so that a decision taken on
    /// lagged metrics never undoes a change the metrics do not show yet.
    /// Where the fit changes the counts, the decision's reason says what it gave and why
    /// (the policy's own reason, given with [`Decision::because`], comes first).
    pub fn decide(&self, wanted: Vec<u32>, obs: &Observation) -> Decision {
        let holding = Self::holding(obs);
        self.decide_above(wanted, obs, &holding, &holding)
    }

    /// [`Common::decide`] with each pool kept to at least `keep` as well: a pool the policy
    /// will not shrink keeps its workers under the budget, and the others give way.
    pub fn decide_keeping(&self, wanted: Vec<u32>, obs: &Observation, keep: &[u32]) -> Decision {
        let holding = Self::holding(obs);
        let floor: Vec<u32> = (holding.iter().zip(keep)).map(|(a, b)| *a.max(b)).collect();
        self.decide_above(wanted, obs, &floor, &holding)
    }

    /// The decision of [`Common::decide`] above `floor`: the pools' own (`holding`), and
    /// the workers the policy keeps beyond them.
    fn decide_above(
        &self,
        wanted: Vec<u32>,
        obs: &Observation,
        floor: &[u32],
        holding: &[u32],
    ) -> Decision {
        let budget = self.budget(obs);
        let fit = |bound: u32, floor: &[u32]| {
            let mut w = wanted.clone();
            self.fit_above(&mut w, bound, floor);
            w
        };
        let given = fit(budget, floor);
        let limited = fit(u32::MAX, floor);
        let reason = if given == wanted {
            String::new()
        } else {
            // What cut the counts: the pools' own limits (replica bounds, a worker for a pool
            // holding requests), the workers the policy keeps where they changed what the
            // fit gives, and the GPU budget where the rest need more GPUs than it has.
            let by_pools = fit(u32::MAX, holding);
            let kept = floor != holding && (by_pools != limited || fit(budget, holding) != given);
            self.fit_note(
                (&wanted, &limited, &given),
                budget,
                (by_pools != wanted, kept),
                obs,
            )
        };
        let asked = self.budget_cut(&limited, &given);
        Decision {
            targets: given
                .into_iter()
                .zip(&obs.pools)
                .map(|(w, p)| (w != p.active()).then_some(w))
                .collect(),
            reason,
            asked_gpus: asked,
            ..Decision::default()
        }
    }

    /// [`Common::fit`] to the GPU budget `obs` gives, for a policy that fits its counts
    /// before it decides: what the budget cut ([`Decision::asked_gpus`]).
    pub fn fit_to_budget(&self, wanted: &mut [u32], obs: &Observation) -> Option<u32> {
        // The limits alone first: the budget's fit starts from the same clamped counts.
        self.fit(wanted, u32::MAX);
        let limited = wanted.to_vec();
        self.fit(wanted, self.budget(obs));
        self.budget_cut(&limited, wanted)
    }

    /// The GPUs of `limited` (counts within the pools' limits and floors) where the budget
    /// cut them to `given` ([`Decision::asked_gpus`]).
    fn budget_cut(&self, limited: &[u32], given: &[u32]) -> Option<u32> {
        (given != limited).then(|| Self::clamped(self.gpus_of(limited)))
    }

    /// A GPU count as a `u32` (no deployment comes near its end).
    fn clamped(gpus: u64) -> u32 {
        gpus.min(u64::from(u32::MAX)) as u32
    }

    /// The GPUs of `workers` workers per pool.
    fn gpus_of(&self, workers: &[u32]) -> u64 {
        (workers.iter().zip(&self.gpus))
            .map(|(a, g)| u64::from(*a) * u64::from(*g))
            .sum()
    }

    /// What the fit gave (`given`) for counts `asked`, and why: the pools' limits where
    /// they cut the counts (`by_pools`), the workers the policy keeps where they did
    /// (`kept`), and the GPU budget where the counts those floors and limits give
    /// (`limited`) need more GPUs than it has.
    fn fit_note(
        &self,
        (asked, limited, given): (&[u32], &[u32], &[u32]),
        budget: u32,
        (by_pools, kept): (bool, bool),
        obs: &Observation,
    ) -> String {
        let counts = |w: &[u32]| {
            (w.iter().zip(&obs.pools))
                .map(|(n, p)| format!("{n} {}", p.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let gpus = |w: &[u32]| self.gpus_of(w);
        let over = gpus(limited) > u64::from(budget);
        let mut causes = Vec::new();
        if by_pools {
            causes.push("the pools' limits".to_string());
        }
        if kept {
            causes.push("the workers the policy keeps".to_string());
        }
        let by = if causes.is_empty() {
            format!("the GPU budget of {budget} gives")
        } else {
            if over {
                causes.push(format!("the GPU budget of {budget}"));
            }
            let last = causes.pop().unwrap_or_default();
            match causes.is_empty() {
                true => format!("{last} give"),
                false => format!("{} and {last} give", causes.join(", ")),
            }
        };
        let need = if over {
            format!(": {} GPUs", gpus(limited))
        } else {
            String::new()
        };
        format!("{by} {} ({} asked for{need})", counts(given), counts(asked))
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
