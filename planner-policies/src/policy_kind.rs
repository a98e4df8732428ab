//! The policies by name: the one list that scenarios, the CLI, Python and error messages read.

use std::fmt;
use std::str::FromStr;

use servesim_core::{Named, NotOneOf};

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
    /// The name written in a scenario (`planner.policy`); `const` for [`POLICIES`].
    const fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Static => "static",
            PolicyKind::LoadThreshold => "load-threshold",
            PolicyKind::Sla => "sla",
            PolicyKind::SlaLoad => "sla-load",
            PolicyKind::Lookahead => "lookahead",
        }
    }
}

impl Named for PolicyKind {
    const ALL: &'static [Self] = &[
        PolicyKind::Static,
        PolicyKind::LoadThreshold,
        PolicyKind::Sla,
        PolicyKind::SlaLoad,
        PolicyKind::Lookahead,
    ];

    fn name(self) -> &'static str {
        self.as_str()
    }
}

/// The known policy names, in [`PolicyKind`]'s order.
pub const POLICIES: [&str; <PolicyKind as Named>::ALL.len()] = {
    let mut names = [""; <PolicyKind as Named>::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = <PolicyKind as Named>::ALL[i].as_str();
        i += 1;
    }
    names
};

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PolicyKind {
    type Err = NotOneOf;

    fn from_str(s: &str) -> Result<Self, NotOneOf> {
        PolicyKind::parse_name(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_are_listed_in_order() {
        assert_eq!(
            POLICIES,
            ["static", "load-threshold", "sla", "sla-load", "lookahead"]
        );
        assert_eq!(PolicyKind::names(), POLICIES.join(", "));
    }
}
