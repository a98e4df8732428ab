//! The `faults:` section as written, and its checks against the pools and nodes.

use serde::{Deserialize, Serialize};

use crate::Error;

use super::MAX_DURATION_S;
use super::PoolPlan;
use super::checks::invalid;

/// The `faults:` section: what fails when, and what becomes of the requests it touches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultsConfig {
    /// A request lost to a fault is migrated this many times, then fails with the fault as
    /// its reason: sent again with the output tokens its client has seen, which another
    /// worker prefills with the prompt before it makes the rest, the client's stream stalled
    /// in between (Dynamo's request migration, its frontend's `--migration-limit`, whose own
    /// default is 0: no migration unless the deployment turns it on).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// A request whose prompt and output tokens streamed so far exceed this many is no
    /// longer migrated: a fault fails it (Dynamo's frontend stops tracking it, its
    /// `--migration-max-seq-len`). No limit if left out, as in Dynamo.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub migration_max_seq_len: Option<u32>,
    /// A failed KV transfer is sent again this many times before the request is lost.
    #[serde(default = "default_max_retries")]
    pub max_transfer_failures: u32,
    /// Dead workers are replaced through the normal start-up path.
    #[serde(default = "default_true")]
    pub replace_dead_workers: bool,
    /// The faults.
    pub events: Vec<FaultEvent>,
}

fn default_max_retries() -> u32 {
    2
}

fn default_true() -> bool {
    true
}

/// One fault. A `worker` left out is drawn from the seed (the run's `faults/<index>` stream).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultEvent {
    /// A worker dies mid-iteration.
    WorkerDown {
        /// When, s.
        at_s: f64,
        /// Its pool.
        pool: String,
        /// Its index among the pool's live workers at that time.
        #[serde(default)]
        worker: Option<u32>,
    },
    /// A node goes down with every worker on it; nothing is placed there until it is back.
    NodeDown {
        /// When, s.
        at_s: f64,
        /// The node.
        node: u32,
        /// How long until it is back (forever if left out), s.
        #[serde(default)]
        duration_s: Option<f64>,
    },
    /// A worker's GPUs slow down.
    Straggler {
        /// When, s.
        at_s: f64,
        /// For how long, s.
        duration_s: f64,
        /// Its pool.
        pool: String,
        /// Its index among the pool's live workers.
        #[serde(default)]
        worker: Option<u32>,
        /// Iteration times are multiplied by this (> 1).
        slowdown: f64,
    },
    /// A node's network links run at a fraction of their capacity (0: down).
    LinkDegraded {
        /// When, s.
        at_s: f64,
        /// For how long, s.
        duration_s: f64,
        /// The node.
        node: u32,
        /// Share of the nominal capacity left, in [0, 1).
        capacity_factor: f64,
    },
    /// Every KV transfer in flight at that moment fails.
    TransferFailure {
        /// When, s.
        at_s: f64,
    },
    /// Workers of a pool die at random: a Poisson process from `start_s` (exponential gaps
    /// drawn from the seed, the first one gap after `start_s`).
    RandomWorkerFailures {
        /// The pool.
        pool: String,
        /// Mean time between failures in the pool, s.
        mtbf_s: f64,
        /// From, s.
        #[serde(default)]
        start_s: f64,
        /// Until (default: the end of the run), s.
        #[serde(default)]
        end_s: Option<f64>,
    },
}

impl FaultEvent {
    /// The fault's name in scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            FaultEvent::WorkerDown { .. } => "worker_down",
            FaultEvent::NodeDown { .. } => "node_down",
            FaultEvent::Straggler { .. } => "straggler",
            FaultEvent::LinkDegraded { .. } => "link_degraded",
            FaultEvent::TransferFailure { .. } => "transfer_failure",
            FaultEvent::RandomWorkerFailures { .. } => "random_worker_failures",
        }
    }

    /// When it starts, s.
    pub fn at_s(&self) -> f64 {
        match self {
            FaultEvent::WorkerDown { at_s, .. }
            | FaultEvent::NodeDown { at_s, .. }
            | FaultEvent::Straggler { at_s, .. }
            | FaultEvent::LinkDegraded { at_s, .. }
            | FaultEvent::TransferFailure { at_s } => *at_s,
            FaultEvent::RandomWorkerFailures { start_s, .. } => *start_s,
        }
    }
}

/// Shortest mean time between random worker failures, s (a pool failing faster than its
/// workers can be replaced many times over is not a scenario, it is a loop).
pub const MIN_MTBF_S: f64 = 1.0;

pub(super) fn validate_faults(
    f: &FaultsConfig,
    pools: &[PoolPlan],
    nodes: u32,
    duration_s: f64,
) -> Result<(), Error> {
    for (field, v) in [
        ("max_retries", f.max_retries),
        ("max_transfer_failures", f.max_transfer_failures),
    ] {
        if v > 100 {
            return Err(invalid(
                format!("faults.{field}"),
                format!("{v} is more than 100"),
            ));
        }
    }
    if f.migration_max_seq_len == Some(0) {
        return Err(invalid(
            "faults.migration_max_seq_len",
            "must be at least 1 token (leave it out for no limit)",
        ));
    }
    for (i, e) in f.events.iter().enumerate() {
        let path = format!("faults.events[{i}]");
        let at = e.at_s();
        if !(at.is_finite() && (0.0..duration_s).contains(&at)) {
            let field = if matches!(e, FaultEvent::RandomWorkerFailures { .. }) {
                "start_s"
            } else {
                "at_s"
            };
            return Err(invalid(
                format!("{path}.{field}"),
                format!("must be within the run (0..{duration_s} s), got {at}"),
            ));
        }
        let pool_ok = |p: &str| -> Result<(), Error> {
            if pools.iter().any(|x| x.name == p) {
                Ok(())
            } else {
                let known: Vec<&str> = pools.iter().map(|x| x.name.as_str()).collect();
                Err(invalid(
                    format!("{path}.pool"),
                    format!("no pool '{p}' (pools: {})", known.join(", ")),
                ))
            }
        };
        let node_ok = |n: u32| -> Result<(), Error> {
            if n < nodes {
                Ok(())
            } else {
                Err(invalid(
                    format!("{path}.node"),
                    format!("{n} is not a node (0..{nodes})"),
                ))
            }
        };
        // A duration: positive, and no longer than the longest run.
        let positive = |field: &str, v: f64| -> Result<(), Error> {
            if v.is_finite() && v > 0.0 && v <= MAX_DURATION_S {
                Ok(())
            } else {
                Err(invalid(
                    format!("{path}.{field}"),
                    format!("must be in (0, {MAX_DURATION_S}] s, got {v}"),
                ))
            }
        };
        match e {
            FaultEvent::WorkerDown { pool, .. } => pool_ok(pool)?,
            FaultEvent::NodeDown {
                node, duration_s, ..
            } => {
                node_ok(*node)?;
                if let Some(d) = duration_s {
                    positive("duration_s", *d)?;
                }
            }
            FaultEvent::Straggler {
                pool,
                duration_s,
                slowdown,
                ..
            } => {
                pool_ok(pool)?;
                positive("duration_s", *duration_s)?;
                if !(slowdown.is_finite() && *slowdown >= 1.0 && *slowdown <= 1e6) {
                    return Err(invalid(
                        format!("{path}.slowdown"),
                        format!("must be in [1, 1e6], got {slowdown}"),
                    ));
                }
            }
            FaultEvent::LinkDegraded {
                node,
                duration_s,
                capacity_factor,
                ..
            } => {
                node_ok(*node)?;
                positive("duration_s", *duration_s)?;
                if !(0.0..1.0).contains(capacity_factor) {
                    return Err(invalid(
                        format!("{path}.capacity_factor"),
                        format!("must be in [0, 1), got {capacity_factor}"),
                    ));
                }
            }
            FaultEvent::TransferFailure { .. } => {}
            FaultEvent::RandomWorkerFailures {
                pool,
                mtbf_s,
                start_s,
                end_s,
            } => {
                pool_ok(pool)?;
                // One range, said the same for every value outside it.
                if !(mtbf_s.is_finite() && (MIN_MTBF_S..=MAX_DURATION_S).contains(mtbf_s)) {
                    return Err(invalid(
                        format!("{path}.mtbf_s"),
                        format!("must be in [{MIN_MTBF_S}, {MAX_DURATION_S}] s, got {mtbf_s}"),
                    ));
                }
                if let Some(end) = end_s
                    && !(end.is_finite() && end > start_s)
                {
                    return Err(invalid(
                        format!("{path}.end_s"),
                        format!("must be after start_s ({start_s}), got {end}"),
                    ));
                }
            }
        }
    }
    Ok(())
}
