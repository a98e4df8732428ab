//! `load-threshold`: Dynamo's first planner.
//!
//! Every interval: the decode pool grows by one worker when the mean KV utilisation of its
//! serving workers is above `kv_up` and shrinks by one below `kv_down`; the prefill pool grows
//! by one when its queue per serving worker (requests waiting) is above `queue_up` and shrinks
//! below `queue_down`. After it adds a decode worker it does not shrink decode for
//! `grace_intervals` decisions. It counts starting workers as present but does not otherwise
//! wait for them (as the original does). An aggregated pool grows when either signal says so
//! and shrinks only when both do.

use serde::{Deserialize, Serialize};

use crate::error::PlannerError;
use crate::observation::{Decision, Observation};
use crate::planner::Planner;
use crate::policies::Common;
use crate::policy_kind::PolicyKind;

/// Settings of `load-threshold` (defaults are Dynamo's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadThresholdConfig {
    /// Mean KV utilisation above which decode grows.
    #[serde(default = "kv_up")]
    pub kv_up: f64,
    /// Mean KV utilisation below which decode shrinks.
    #[serde(default = "kv_down")]
    pub kv_down: f64,
    /// Waiting requests per prefill worker above which prefill grows.
    #[serde(default = "queue_up")]
    pub queue_up: f64,
    /// Waiting requests per prefill worker below which prefill shrinks.
    #[serde(default = "queue_down")]
    pub queue_down: f64,
    /// Decisions without decode scale-down after adding a decode worker.
    #[serde(default = "grace")]
    pub grace_intervals: u32,
}

fn kv_up() -> f64 {
    0.9
}
fn kv_down() -> f64 {
    0.5
}
fn queue_up() -> f64 {
    5.0
}
fn queue_down() -> f64 {
    0.2
}
fn grace() -> u32 {
    3
}

impl Default for LoadThresholdConfig {
    fn default() -> Self {
        LoadThresholdConfig {
            kv_up: kv_up(),
            kv_down: kv_down(),
            queue_up: queue_up(),
            queue_down: queue_down(),
            grace_intervals: grace(),
        }
    }
}

/// Dynamo's load-threshold planner.
#[derive(Clone, Debug)]
pub struct LoadThreshold {
    config: LoadThresholdConfig,
    common: Common,
    grace_left: u32,
}

impl LoadThresholdConfig {
    /// Checks the thresholds, whichever policy runs; errors name the field under
    /// `planner_path`'s `load_threshold` section.
    pub(crate) fn check(&self, planner_path: &str) -> Result<(), PlannerError> {
        let path = format!("{planner_path}.load_threshold");
        let c = self;
        let in01 = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        if !in01(c.kv_up) {
            return Err(PlannerError::invalid(
                format!("{path}.kv_up"),
                format!("must be in [0, 1], got {}", c.kv_up),
            ));
        }
        if !in01(c.kv_down) || c.kv_down >= c.kv_up {
            return Err(PlannerError::invalid(
                format!("{path}.kv_down"),
                format!("must be in [0, kv_up), got {}", c.kv_down),
            ));
        }
        if !(c.queue_up.is_finite() && c.queue_up > 0.0) {
            return Err(PlannerError::invalid(
                format!("{path}.queue_up"),
                format!("must be a positive number, got {}", c.queue_up),
            ));
        }
        if !(c.queue_down.is_finite() && c.queue_down >= 0.0 && c.queue_down < c.queue_up) {
            return Err(PlannerError::invalid(
                format!("{path}.queue_down"),
                format!("must be in [0, queue_up), got {}", c.queue_down),
            ));
        }
        Ok(())
    }
}

impl LoadThreshold {
    /// The policy of `config` (already checked: [`LoadThresholdConfig::check`]).
    pub(crate) fn new(config: &LoadThresholdConfig, common: Common) -> Self {
        LoadThreshold {
            config: config.clone(),
            common,
            grace_left: 0,
        }
    }
}

/// -1, 0 or +1.
fn step(value: f64, up: f64, down: f64) -> i32 {
    if value > up {
        1
    } else if value < down {
        -1
    } else {
        0
    }
}

impl Planner for LoadThreshold {
    fn name(&self) -> &'static str {
        PolicyKind::LoadThreshold.as_str()
    }

    fn interval_s(&self) -> f64 {
        self.common.interval_s
    }

    fn decide(&mut self, obs: &Observation) -> Decision {
        let c = &self.common;
        if !c.matches(obs) {
            return Decision::unchanged(obs.pools.len());
        }
        let cfg = &self.config;
        let p = &obs.pools[c.prefill];
        let d = &obs.pools[c.decode];
        let kv = d.mean_kv_utilisation();
        let mut kv_step = step(kv, cfg.kv_up, cfg.kv_down);
        let queue = p.queue_depth as f64 / f64::from(p.ready.max(1));
        let q_step = step(queue, cfg.queue_up, cfg.queue_down);
        if self.grace_left > 0 {
            self.grace_left -= 1;
            kv_step = kv_step.max(0);
        }
        let mut wanted: Vec<u32> = obs.pools.iter().map(|p| p.active()).collect();
        let apply = |n: u32, s: i32| -> u32 {
            if s > 0 {
                n.saturating_add(1)
            } else if s < 0 {
                n.saturating_sub(1)
            } else {
                n
            }
        };
        if c.aggregated() {
            let s = if kv_step > 0 || q_step > 0 {
                1
            } else if kv_step < 0 && q_step < 0 {
                -1
            } else {
                0
            };
            wanted[c.prefill] = apply(wanted[c.prefill], s);
            if s > 0 {
                self.grace_left = cfg.grace_intervals;
            }
        } else {
            wanted[c.prefill] = apply(wanted[c.prefill], q_step);
            wanted[c.decode] = apply(wanted[c.decode], kv_step);
            if kv_step > 0 {
                self.grace_left = cfg.grace_intervals;
            }
        }
        let word = |s: i32| match s.signum() {
            1 => "up",
            -1 => "down",
            _ => "hold",
        };
        let reason = format!(
            "decode KV {:.0}% (up > {:.0}%, down < {:.0}%): {}; prefill queue {queue:.1} per \
             worker (up > {}, down < {}): {}{}",
            kv * 100.0,
            cfg.kv_up * 100.0,
            cfg.kv_down * 100.0,
            word(kv_step),
            cfg.queue_up,
            cfg.queue_down,
            word(q_step),
            if self.grace_left > 0 {
                "; no decode scale-down during the grace after a scale-up"
            } else {
                ""
            }
        );
        c.decide(wanted, obs).because(reason)
    }
}
