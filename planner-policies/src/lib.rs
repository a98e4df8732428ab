//! `servesim-planner`: planner policies. Observations in, target replicas out.
//!
//! Every adjustment interval of simulated time the world shows a [`Planner`] an
//! [`Observation`] (per pool: workers ready / starting / draining, queues, KV utilisation,
//! recent iteration timings; over the last interval: requests, mean ISL and OSL, TTFT and ITL),
//! and the planner answers a [`Decision`]: target workers per pool. The world applies it, or
//! only records it in advisory mode. The crate knows nothing of the event loop.
//!
//! - [`planner`]: the trait;
//! - [`policy_kind`]: the known policy names, one list;
//! - [`builder`]: [`build`], the policy a config names;
//! - [`policies`]: one file per policy;
//! - [`predict`]: load predictors (constant, moving average, Holt, ARIMA, Kalman);
//! - [`profile`]: the performance profile the SLA policies read (Dynamo's files) or compute
//!   from the performance model.
//!
//! Architecture invariant: no wall clock, no randomness, no hash-map iteration; a policy's
//! state depends only on the observations it is shown.

pub mod builder;
pub mod config;
pub mod context;
pub mod error;
pub mod observation;
pub mod planner;
pub mod policies;
pub mod policy_kind;
pub mod predict;
pub mod profile;

pub use builder::{build, build_with_profile};
pub use config::PlannerConfig;
pub use context::{PlannerContext, PoolContext};
pub use error::PlannerError;
pub use observation::{
    Decision, IntervalStats, IterationSample, Observation, Observe, PoolObservation, PoolRole,
};
pub use planner::Planner;
pub use policy_kind::{POLICIES, PolicyKind};
pub use predict::{LoadPredictor, PredictorConfig};
pub use profile::{PoolModel, Profile};
