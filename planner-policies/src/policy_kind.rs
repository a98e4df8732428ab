//! The policies by name: the one list that scenarios, the CLI, Python and error messages read.

use std::fmt;
use std::str::FromStr;

/// A known planner policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// `static`: never changes anything.
    Static,
    /// `load-threshold`: Dynamo's first planner.
    LoadThreshold,
    /// `sla`: Dynamo's SLA planner, throughput form.
    Sla,
    /// `sla-load`: a fast load loop over a throughput floor.
    SlaLoad,
    /// `lookahead`: ours, start-up aware.
    Lookahead,
}

impl PolicyKind {
    /// Every policy, in the order they are listed to users.
    pub const ALL: [PolicyKind; 5] = [
        PolicyKind::Static,
        PolicyKind::LoadThreshold,
        PolicyKind::Sla,
        PolicyKind::SlaLoad,
        PolicyKind::Lookahead,
    ];

    /// The name written in a scenario (`planner.policy`).
    pub const fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Static => "static",
            PolicyKind::LoadThreshold => "load-threshold",
            PolicyKind::Sla => "sla",
            PolicyKind::SlaLoad => "sla-load",
            PolicyKind::Lookahead => "lookahead",
        }
    }
}

/// The known policy names, as [`PolicyKind::ALL`] lists them.
pub const POLICIES: [&str; PolicyKind::ALL.len()] = {
    let mut names = [""; PolicyKind::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = PolicyKind::ALL[i].as_str();
        i += 1;
    }
    names
};

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`POLICIES`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownPolicy(pub String);

impl fmt::Display for UnknownPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown policy '{}' (known: {})",
            self.0,
            POLICIES.join(", ")
        )
    }
}

impl std::error::Error for UnknownPolicy {}

impl FromStr for PolicyKind {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownPolicy(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_kind() {
        for kind in PolicyKind::ALL {
            assert_eq!(kind.as_str().parse::<PolicyKind>(), Ok(kind));
        }
        assert_eq!(
            POLICIES,
            ["static", "load-threshold", "sla", "sla-load", "lookahead"]
        );
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let e = "slow".parse::<PolicyKind>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown policy 'slow' (known: static, load-threshold, sla, sla-load, lookahead)"
        );
    }
}
