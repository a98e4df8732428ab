//! The `planner:` section of a scenario.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::observation::Observe;
use crate::policies::load_threshold::LoadThresholdConfig;
use crate::policies::lookahead::LookaheadConfig;
use crate::policies::sla::SlaConfig;
use crate::policies::sla_load::SlaLoadConfig;
use crate::predict::PredictorConfig;

/// The planner as written in a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannerConfig {
    /// Policy name: `static`, `load-threshold`, `sla`, `sla-load` or `lookahead`.
    pub policy: String,
    /// Seconds of simulated time between decisions (how often the world calls the planner).
    pub interval_s: f64,
    /// Record decisions without applying them.
    #[serde(default)]
    pub advisory: bool,
    /// Age of the metrics the planner sees, s (the world applies it).
    #[serde(default)]
    pub scrape_lag_s: f64,
    /// Directory holding `prefill_raw_data.json` and `decode_raw_data.json`; when absent the
    /// profile is computed in-process from the performance model.
    #[serde(default)]
    pub profile_dir: Option<String>,
    /// Which requests the `sla` and `sla-load` policies read the load from: `arrivals`
    /// (started, as newer Dynamo's planner; the default) or `completions` (as older Dynamo's).
    #[serde(default)]
    pub observe: Observe,
    /// Load predictor (default: each policy's own; `constant` for `sla`, `arima` for `sla` with
    /// `sizing: capacity`, `holt` for `lookahead`).
    #[serde(default)]
    pub predictor: Option<PredictorConfig>,
    /// Fewest workers per pool, by pool name (default 1).
    #[serde(default)]
    pub min_replicas: BTreeMap<String, u32>,
    /// Most workers per pool, by pool name (default: as many as the GPU budget allows).
    #[serde(default)]
    pub max_replicas: BTreeMap<String, u32>,
    /// Settings of `load-threshold`.
    #[serde(default)]
    pub load_threshold: LoadThresholdConfig,
    /// Settings of `sla`.
    #[serde(default)]
    pub sla: SlaConfig,
    /// Settings of `sla-load`.
    #[serde(default)]
    pub sla_load: SlaLoadConfig,
    /// Settings of `lookahead`.
    #[serde(default)]
    pub lookahead: LookaheadConfig,
}

impl PlannerConfig {
    /// A configuration of `policy` deciding every `interval_s` seconds, all else default.
    pub fn new(policy: &str, interval_s: f64) -> Self {
        PlannerConfig {
            policy: policy.to_string(),
            interval_s,
            advisory: false,
            scrape_lag_s: 0.0,
            profile_dir: None,
            observe: Observe::default(),
            predictor: None,
            min_replicas: BTreeMap::new(),
            max_replicas: BTreeMap::new(),
            load_threshold: LoadThresholdConfig::default(),
            sla: SlaConfig::default(),
            sla_load: SlaLoadConfig::default(),
            lookahead: LookaheadConfig::default(),
        }
    }
}
