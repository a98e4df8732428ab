//! Built-in mixes.

use serde::{Deserialize, Serialize};

use crate::arrival::ArrivalConfig;
use crate::dist::DistConfig;
use crate::error::{Result, TrafficError};
use crate::stream::{ClosedConfig, MAX_USERS, OpenConfig, StreamConfig};
use crate::validate::{check_nonneg, check_pos, span};

/// The airline preset: passengers asking short questions all along (open loop, Poisson),
/// plus, from `storm_start_s` for `storm_duration_s`, a storm of closed-loop users
/// holding long rerouting conversations. Every figure has a default and can be
/// overridden under `airline:`; the preset expands into two streams, `passengers` and
/// `storm`. Input sizes exclude the system prompts, which every request of a stream shares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AirlineConfig {
    /// Passenger questions per second (3).
    pub passenger_rate_per_s: f64,
    /// Passengers start (0 s).
    pub passenger_start_s: f64,
    /// Passengers stop (3600 s; `null`: never).
    pub passenger_end_s: Option<f64>,
    /// Question tokens (log-normal, mean 180, p50 150).
    pub passenger_input: DistConfig,
    /// Answer tokens (log-normal, mean 150, p50 120, at most 1024).
    pub passenger_output: DistConfig,
    /// System prompt shared by passenger requests (1024 tokens).
    pub passenger_system_prompt_tokens: u32,
    /// Class label of passenger requests (`status_query`).
    pub passenger_class: String,
    /// When the storm begins (600 s).
    pub storm_start_s: f64,
    /// How long users keep starting messages (1800 s).
    pub storm_duration_s: f64,
    /// Closed-loop users in the storm (200).
    pub storm_users: u32,
    /// Users join evenly over this span (60 s).
    pub storm_ramp_s: f64,
    /// First message of a rerouting conversation: itinerary, fare rules, options
    /// (log-normal, mean 4000, p50 3500, at least 1000).
    pub storm_first_input: DistConfig,
    /// Tokens each follow-up message adds (log-normal, mean 120, p50 80).
    pub storm_followup_input: DistConfig,
    /// Answer tokens (log-normal, mean 350, p50 300, at most 2048).
    pub storm_output: DistConfig,
    /// Think time between an answer and the next message, in seconds (log-normal,
    /// mean 20, p50 15).
    pub storm_think_s: DistConfig,
    /// Turns per conversation (uniform 3 to 8).
    pub storm_turns: DistConfig,
    /// System prompt shared by all rerouting requests (2048 tokens).
    pub storm_system_prompt_tokens: u32,
    /// A conversation ends early rather than exceed this prompt (32768 tokens).
    pub storm_max_input_tokens: Option<u32>,
    /// Class label of storm requests (`rerouting`).
    pub storm_class: String,
}

fn lognormal(mean: f64, p50: f64, min: Option<f64>, max: Option<f64>) -> DistConfig {
    DistConfig::Lognormal {
        mean: Some(mean),
        p50: Some(p50),
        sigma: None,
        min,
        max,
    }
}

impl Default for AirlineConfig {
    fn default() -> Self {
        AirlineConfig {
            passenger_rate_per_s: 3.0,
            passenger_start_s: 0.0,
            passenger_end_s: Some(3600.0),
            passenger_input: lognormal(180.0, 150.0, None, None),
            passenger_output: lognormal(150.0, 120.0, None, Some(1024.0)),
            passenger_system_prompt_tokens: 1024,
            passenger_class: "status_query".into(),
            storm_start_s: 600.0,
            storm_duration_s: 1800.0,
            storm_users: 200,
            storm_ramp_s: 60.0,
            storm_first_input: lognormal(4000.0, 3500.0, Some(1000.0), None),
            storm_followup_input: lognormal(120.0, 80.0, None, None),
            storm_output: lognormal(350.0, 300.0, None, Some(2048.0)),
            storm_think_s: lognormal(20.0, 15.0, None, None),
            storm_turns: DistConfig::Uniform { min: 3.0, max: 8.0 },
            storm_system_prompt_tokens: 2048,
            storm_max_input_tokens: Some(32_768),
            storm_class: "rerouting".into(),
        }
    }
}

impl AirlineConfig {
    /// Checks every figure under its own name (`traffic.airline.storm_users`), so that
    /// errors point at the override rather than at the expanded streams.
    pub fn check(&self, field: &str) -> Result<()> {
        let f = |name: &str| format!("{field}.{name}");
        check_pos(&f("passenger_rate_per_s"), self.passenger_rate_per_s)?;
        span(&f("passenger_start_s"), self.passenger_start_s)?;
        if let Some(end) = self.passenger_end_s {
            span(&f("passenger_end_s"), end)?;
            if end <= self.passenger_start_s {
                return Err(TrafficError::config(
                    f("passenger_end_s"),
                    format!(
                        "must be > passenger_start_s ({}), got {end}",
                        self.passenger_start_s
                    ),
                ));
            }
        }
        span(&f("storm_start_s"), self.storm_start_s)?;
        check_pos(&f("storm_duration_s"), self.storm_duration_s)?;
        check_nonneg(&f("storm_ramp_s"), self.storm_ramp_s)?;
        if self.storm_users == 0 || self.storm_users > MAX_USERS {
            return Err(TrafficError::config(
                f("storm_users"),
                format!("must be 1..={}, got {}", MAX_USERS, self.storm_users),
            ));
        }
        // Checked here as the expanded streams check them, so that an error names the
        // override the user wrote rather than the stream it became.
        if let Some(m) = self.storm_max_input_tokens
            && m <= self.storm_system_prompt_tokens
        {
            return Err(TrafficError::config(
                f("storm_max_input_tokens"),
                format!(
                    "must be more than the {} tokens of storm_system_prompt_tokens that every \
                     prompt starts with, got {m}",
                    self.storm_system_prompt_tokens
                ),
            ));
        }
        for (name, d) in [
            ("passenger_input", &self.passenger_input),
            ("passenger_output", &self.passenger_output),
            ("storm_first_input", &self.storm_first_input),
            ("storm_followup_input", &self.storm_followup_input),
            ("storm_output", &self.storm_output),
        ] {
            d.validate_tokens(&f(name))?;
        }
        for (name, d) in [
            ("passenger_output", &self.passenger_output),
            ("storm_output", &self.storm_output),
            ("storm_turns", &self.storm_turns),
        ] {
            d.check_at_least_one(&f(name))?;
        }
        self.storm_think_s.validate(&f("storm_think_s"))?;
        self.storm_turns.validate(&f("storm_turns"))?;
        Ok(())
    }

    /// Multiplies the passengers' rate by `factor` (the storm is closed-loop users: left as
    /// it is).
    pub fn scale_rates(&mut self, factor: f64) {
        self.passenger_rate_per_s *= factor;
    }

    /// The two streams, `passengers` and `storm`.
    pub fn streams(&self) -> Vec<StreamConfig> {
        vec![
            StreamConfig {
                name: "passengers".into(),
                class: Some(self.passenger_class.clone()),
                start_s: self.passenger_start_s,
                end_s: self.passenger_end_s,
                shared_prefix_tokens: self.passenger_system_prompt_tokens,
                open: Some(OpenConfig {
                    arrival: ArrivalConfig::Poisson {
                        rate_per_s: self.passenger_rate_per_s,
                    },
                    input: Some(self.passenger_input.clone()),
                    output: Some(self.passenger_output.clone()),
                    sizes_from: None,
                }),
                closed: None,
                trace: None,
                benchmark: None,
            },
            StreamConfig {
                name: "storm".into(),
                class: Some(self.storm_class.clone()),
                start_s: self.storm_start_s,
                end_s: Some(self.storm_start_s + self.storm_duration_s),
                shared_prefix_tokens: self.storm_system_prompt_tokens,
                open: None,
                closed: Some(ClosedConfig {
                    users: self.storm_users,
                    ramp_s: self.storm_ramp_s,
                    stagger: Default::default(),
                    first_input: self.storm_first_input.clone(),
                    followup_input: self.storm_followup_input.clone(),
                    output: self.storm_output.clone(),
                    think_s: self.storm_think_s.clone(),
                    turns: self.storm_turns.clone(),
                    max_input_tokens: self.storm_max_input_tokens,
                }),
                trace: None,
                benchmark: None,
            },
        ]
    }
}
