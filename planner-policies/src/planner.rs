//! The [`Planner`] trait and [`build`], which picks a policy by name.

use crate::config::PlannerConfig;
use crate::context::PlannerContext;
use crate::error::PlannerError;
use crate::observation::{Decision, Observation};
use crate::policies::load_threshold::LoadThreshold;
use crate::policies::lookahead::Lookahead;
use crate::policies::sla::Sla;
use crate::policies::sla_load::SlaLoad;
use crate::policies::static_policy::Static;
use crate::policies::{Common, load_profile};
use crate::profile::Profile;

/// A planner policy: shown an [`Observation`] every [`Planner::interval_s`] seconds of
/// simulated time, it answers target workers per pool.
///
/// A policy's state depends only on the observations it is shown (never on whether its
/// decisions were applied), so that advisory runs record what it would have done.
pub trait Planner: Send {
    /// The policy's name, as written in a scenario.
    fn name(&self) -> &'static str;
    /// How often the world calls [`Planner::decide`], s of simulated time.
    fn interval_s(&self) -> f64;
    /// One decision.
    fn decide(&mut self, obs: &Observation) -> Decision;
}

/// The known policy names.
pub const POLICIES: [&str; 5] = ["static", "load-threshold", "sla", "sla-load", "lookahead"];

/// Builds the policy named in `config` for the deployment in `ctx`. Errors name the field
/// under `path` (the config's own path in the scenario, e.g. `planner`).
pub fn build(
    config: &PlannerConfig,
    ctx: &PlannerContext,
    path: &str,
) -> Result<Box<dyn Planner>, PlannerError> {
    build_inner(config, ctx, None, path)
}

/// As [`build`], with a profile already in hand (the profiler's, in memory) instead of
/// `profile_dir` or the performance model.
pub fn build_with_profile(
    config: &PlannerConfig,
    ctx: &PlannerContext,
    profile: Profile,
    path: &str,
) -> Result<Box<dyn Planner>, PlannerError> {
    build_inner(config, ctx, Some(profile), path)
}

fn build_inner(
    config: &PlannerConfig,
    ctx: &PlannerContext,
    profile: Option<Profile>,
    path: &str,
) -> Result<Box<dyn Planner>, PlannerError> {
    if !POLICIES.contains(&config.policy.as_str()) {
        return Err(PlannerError::UnknownPolicy {
            path: format!("{path}.policy"),
            name: config.policy.clone(),
            known: POLICIES.join(", "),
        });
    }
    if !(config.interval_s.is_finite() && config.interval_s > 0.0) {
        return Err(PlannerError::invalid(
            format!("{path}.interval_s"),
            format!(
                "must be a positive number of seconds, got {}",
                config.interval_s
            ),
        ));
    }
    if !(config.scrape_lag_s.is_finite() && config.scrape_lag_s >= 0.0) {
        return Err(PlannerError::invalid(
            format!("{path}.scrape_lag_s"),
            format!(
                "must be a number of seconds >= 0, got {}",
                config.scrape_lag_s
            ),
        ));
    }
    if let Some(p) = &config.predictor {
        p.validate(&format!("{path}.predictor"))?;
    }
    let common = Common::new(config, ctx, path)?;
    let mut profile = profile;
    let mut profile = |common: &Common| match profile.take() {
        Some(p) => Ok(p),
        None => load_profile(config, ctx, common, path),
    };
    Ok(match config.policy.as_str() {
        "static" => Box::new(Static::new(config.interval_s)),
        "load-threshold" => Box::new(LoadThreshold::new(
            &config.load_threshold,
            common,
            &format!("{path}.load_threshold"),
        )?),
        "sla" => {
            let profile = profile(&common)?;
            Box::new(Sla::new(
                &config.sla,
                config.predictor.as_ref(),
                common,
                profile,
                &format!("{path}.sla"),
            )?)
        }
        "sla-load" => {
            let profile = profile(&common)?;
            Box::new(SlaLoad::new(
                &config.sla_load,
                config.predictor.as_ref(),
                common,
                profile,
                &format!("{path}.sla_load"),
            )?)
        }
        "lookahead" => {
            let profile = profile(&common)?;
            Box::new(Lookahead::new(
                &config.lookahead,
                config.predictor.as_ref(),
                common,
                profile,
                &format!("{path}.lookahead"),
            )?)
        }
        other => unreachable!("policy '{other}' is listed in POLICIES but not built"),
    })
}
