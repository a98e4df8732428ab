//! What a planner sees every adjustment interval, and what it answers. Observations
//! serialize (for planners outside Rust, e.g. Python's) with every field.

use serde::{Deserialize, Serialize, Serializer};

pub use servesim_models::cluster::PoolRole;

/// One engine iteration of a worker of a pool, as timed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct IterationSample {
    /// Prompt tokens computed in the iteration (all prefill chunks).
    pub prefill_tokens: u32,
    /// Decode sequences stepped in the iteration.
    pub decode_seqs: u32,
    /// Sum of the KV lengths of those decode sequences.
    pub decode_kv_tokens: u64,
    /// Duration of the iteration, ms.
    pub duration_ms: f64,
}

/// One pool as scraped (serialized with its derived [`PoolObservation::active`] too, within
/// an [`Observation`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoolObservation {
    /// Pool name.
    pub name: String,
    /// What its workers do.
    pub role: PoolRole,
    /// GPUs per worker (its TP size).
    pub gpus_per_worker: u32,
    /// Workers serving.
    pub ready: u32,
    /// Workers starting (holding GPUs, not serving yet), and those asked for that wait for
    /// GPUs under the budget (a pending pod's replica).
    pub starting: u32,
    /// Workers draining (finishing what they hold, taking nothing new).
    pub draining: u32,
    /// Requests waiting in the pool's queues.
    pub queue_depth: u64,
    /// Prompt tokens still to prefill in the pool.
    pub queued_prefill_tokens: u64,
    /// KV-cache utilisation (0–1), one per ready worker (a draining one takes no new
    /// requests, and its emptying cache would hide the others' load).
    pub kv_utilisation: Vec<f64>,
    /// KV capacity of one worker, tokens.
    pub max_kv_tokens: u64,
    /// Recent iterations of the pool's workers (bounded, e.g. ≤ 512).
    pub iterations: Vec<IterationSample>,
    /// The share of each prompt that the pool's router predicted cached at the worker it
    /// chose, averaged over the requests it routed in the interval (Dynamo's KV router
    /// `kv_hit_rate`). `None` without a prefix-aware router, or with nothing routed.
    pub kv_hit_rate: Option<f64>,
}

impl PoolObservation {
    /// Workers that a target counts: starting plus ready.
    pub fn active(&self) -> u32 {
        self.ready.saturating_add(self.starting)
    }

    /// Whether requests wait for the pool or its ready workers hold any KV.
    pub fn holds_requests(&self) -> bool {
        self.queue_depth > 0 || self.kv_utilisation.iter().any(|&k| k > 0.0)
    }

    /// Mean KV utilisation over serving workers (0 with none; non-finite values ignored).
    pub fn mean_kv_utilisation(&self) -> f64 {
        let v: Vec<f64> = self
            .kv_utilisation
            .iter()
            .copied()
            .filter(|x| x.is_finite())
            .collect();
        if v.is_empty() {
            0.0
        } else {
            (v.iter().sum::<f64>() / v.len() as f64).clamp(0.0, 1.0)
        }
    }
}

/// Request statistics over the last interval, as scraped (with the scrape lag). `None` where
/// there is nothing to average.
///
/// Two counts, as Dynamo's frontend exports two counters: `requests` (and the latencies and
/// lengths beside it) are the requests that *completed* in the interval (its
/// `requests_total`); `arrived` (and `arrived_mean_isl` / `arrived_mean_osl`) the requests
/// that *started*, i.e. reached the frontend, in the interval (its `requests_started_total`),
/// whether or not they have finished. A saturated pool caps the first at its own capacity;
/// the second is the offered load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct IntervalStats {
    /// Requests completed.
    pub requests: u64,
    /// Mean input (prompt) length, tokens.
    pub mean_isl: Option<f64>,
    /// Mean output length, tokens.
    pub mean_osl: Option<f64>,
    /// Mean time to first token, ms.
    pub ttft_mean_ms: Option<f64>,
    /// 90th percentile time to first token, ms.
    pub ttft_p90_ms: Option<f64>,
    /// Mean inter-token latency, ms.
    pub itl_mean_ms: Option<f64>,
    /// 90th percentile inter-token latency, ms.
    pub itl_p90_ms: Option<f64>,
    /// Requests that arrived at the frontend (started).
    pub arrived: u64,
    /// Mean input length of the arrived requests, tokens.
    pub arrived_mean_isl: Option<f64>,
    /// Mean output length the arrived requests will produce, tokens: the simulator knows it
    /// at arrival, a real frontend only once the request ends (the `sla` policies do not read
    /// it; it is here for planners that want the oracle).
    pub arrived_mean_osl: Option<f64>,
}

/// Which requests the `sla` policies read the load (request count, mean ISL) from.
///
/// Dynamo's planner reads its load from the frontend's Prometheus counters. Its newer versions
/// query the requests *started* (`dynamo_frontend_requests_started_total`, `arrivals` here),
/// falling back to the requests *completed* (`dynamo_frontend_requests_total`) only where the
/// first is absent; older versions query the completed counter alone (`completions` here).
/// A saturated pool completes no more than it can serve, so a planner reading completions
/// sees its own capacity, not the load, and does not scale up out of saturation.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Observe {
    /// Requests that arrived in the interval (newer Dynamo; the default).
    #[default]
    Arrivals,
    /// Requests that completed in the interval (older Dynamo).
    Completions,
}

impl Observe {
    /// The statistics as a policy reading this source sees them: with `Arrivals`, the count
    /// and mean ISL are the arrived requests'; the mean OSL, TTFT and ITL stay the completed
    /// ones' (a real frontend learns them only when a request ends).
    pub fn view(self, s: &IntervalStats) -> IntervalStats {
        match self {
            Observe::Completions => *s,
            Observe::Arrivals => IntervalStats {
                requests: s.arrived,
                mean_isl: s.arrived_mean_isl,
                ..*s
            },
        }
    }
}

/// Everything a planner is shown at one decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Observation {
    /// Simulated time of the decision, s.
    pub now_s: f64,
    /// Length of the interval the statistics cover, s.
    pub interval_s: f64,
    /// The pools, in the deployment's order.
    #[serde(serialize_with = "pools_with_active")]
    pub pools: Vec<PoolObservation>,
    /// Request statistics of the last interval.
    pub interval: IntervalStats,
    /// Most GPUs that may be held at once.
    pub gpu_budget: u32,
    /// GPUs held now (starting, ready and draining workers).
    pub gpus_in_use: u32,
    /// TTFT target, ms.
    pub slo_ttft_ms: f64,
    /// Mean ITL target, ms.
    pub slo_itl_ms: f64,
    /// Per pool: how long a new worker takes to start, s.
    pub startup_s: Vec<f64>,
}

/// Serializes each pool with its `active` count beside its fields, which readers outside
/// Rust cannot derive by calling [`PoolObservation::active`].
fn pools_with_active<S: Serializer>(pools: &[PoolObservation], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct WithActive<'a> {
        #[serde(flatten)]
        pool: &'a PoolObservation,
        active: u32,
    }
    s.collect_seq(pools.iter().map(|pool| WithActive {
        pool,
        active: pool.active(),
    }))
}

/// A planner's answer: per pool, the workers wanted (starting plus ready), or `None` to leave
/// the pool as it is; and why, in a few words (empty where the policy gives no reason).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// One entry per pool, in the observation's order.
    pub targets: Vec<Option<u32>>,
    /// What the policy read and computed, for the run's record of its decisions.
    pub reason: String,
    /// Targets recorded but not applied (the policy holds them back, as `sla` does while
    /// workers start): the run lists them as not applied, and the pools stay as they are.
    pub held: bool,
    /// The GPUs the policy's counts needed where the GPU budget cut them (`None` where it
    /// did not): how far beyond the budget the policy would have gone. The counts are the
    /// policy's after the pools' replica limits (for `sla`'s capacity sizing, Dynamo's
    /// proposal after its step of at most 8 workers, which its budget fit then cut).
    pub asked_gpus: Option<u32>,
}

impl Decision {
    /// A decision that changes nothing, for `pools` pools.
    pub fn unchanged(pools: usize) -> Self {
        Decision {
            targets: vec![None; pools],
            ..Decision::default()
        }
    }

    /// The decision with the larger of its `asked_gpus` and `gpus` (what a policy's own
    /// budget fit cut before it decided).
    pub fn asking(self, gpus: Option<u32>) -> Self {
        Decision {
            asked_gpus: self.asked_gpus.max(gpus),
            ..self
        }
    }

    /// The decision with `reason`, followed by what it said already (what the GPU budget
    /// made of its counts, `Common::decide` of the policies).
    pub fn because(self, reason: String) -> Self {
        let reason = match self.reason.as_str() {
            "" => reason,
            said => format!("{reason}; {said}"),
        };
        Decision { reason, ..self }
    }
}

/// Finite, non-negative value or `None`.
pub(crate) fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite() && *v >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_pools_carry_their_iterations_role_and_active_count() {
        let pool = PoolObservation {
            name: "prefill".into(),
            role: PoolRole::Prefill,
            gpus_per_worker: 2,
            ready: 2,
            starting: 1,
            draining: 0,
            queue_depth: 4,
            queued_prefill_tokens: 900,
            kv_utilisation: vec![0.5, 0.25],
            max_kv_tokens: 1000,
            iterations: vec![IterationSample {
                prefill_tokens: 512,
                decode_seqs: 3,
                decode_kv_tokens: 700,
                duration_ms: 12.5,
            }],
            kv_hit_rate: None,
        };
        let obs = Observation {
            now_s: 60.0,
            interval_s: 30.0,
            pools: vec![pool],
            interval: IntervalStats {
                requests: 7,
                mean_isl: Some(300.0),
                ..Default::default()
            },
            gpu_budget: 8,
            gpus_in_use: 6,
            slo_ttft_ms: 500.0,
            slo_itl_ms: 50.0,
            startup_s: vec![120.0],
        };
        let v = serde_json::to_value(&obs).unwrap();
        let p = &v["pools"][0];
        assert_eq!(p["role"], "prefill");
        assert_eq!(p["active"], 3);
        assert_eq!(p["iterations"][0]["decode_kv_tokens"], 700);
        assert_eq!(v["interval"]["mean_isl"], 300.0);
        assert!(v["interval"]["mean_osl"].is_null());
        assert_eq!(v["startup_s"][0], 120.0);
    }
}
