//! The policies by name: the one list that scenarios, the CLI, Python and error messages read.

use servesim_core::Named;

servesim_core::named_enum! {
    /// A known planner policy, by the name written in a scenario (`planner.policy`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum PolicyKind {
        /// `static`: never changes anything.
        Static => "static",
        /// `load-threshold`: Dynamo's first planner.
        LoadThreshold => "load-threshold",
        /// `sla`: Dynamo's SLA planner, throughput form.
        Sla => "sla",
        /// `sla-load`: a fast load loop over a throughput floor.
        SlaLoad => "sla-load",
        /// `lookahead`: ours, start-up aware.
        Lookahead => "lookahead",
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
