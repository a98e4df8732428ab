//! How a stream's users are spread over their ramp (closed-loop users, a benchmark's
//! users).

use serde::{Deserialize, Serialize};

/// How users are spread over their ramp.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Stagger {
    /// User `u` joins at `u · ramp_s / users`.
    #[default]
    Even,
    /// Each user joins at an independent uniform time within the ramp (drawn from the
    /// user's `traffic/<stream>/join` substream, or a benchmark's `traffic/<stream>/arrivals`
    /// stream): the phases that independent client jitter leaves
    /// a long-running closed loop in, where evenly spread users are its most regular case.
    Random,
}
