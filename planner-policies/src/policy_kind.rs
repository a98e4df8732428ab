//! The policies by name: the one list that scenarios, the CLI, Python and error messages read.

use servesim_core::Named;

use crate::PlannerError;

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

impl PolicyKind {
    /// The policy named `name`, written at the field `path`; an unknown name is an error
    /// naming the field and the known policies.
    pub fn parse_at(name: &str, path: impl Into<String>) -> Result<PolicyKind, PlannerError> {
        name.parse()
            .map_err(|e: servesim_core::NotOneOf| PlannerError::UnknownPolicy {
                path: path.into(),
                name: e.name,
                known: e.known,
            })
    }

    /// Whether the policy sizes the pools from a performance profile (`planner.profile_dir`,
    /// or the pools' performance models), which the builder then loads.
    pub fn reads_profile(self) -> bool {
        matches!(
            self,
            PolicyKind::Sla | PolicyKind::SlaLoad | PolicyKind::Lookahead
        )
    }

    /// What the policy does, in a sentence a user choosing one reads (`servesim list
    /// policies`); each policy's module documentation has the whole rule.
    pub fn describe(self) -> &'static str {
        match self {
            PolicyKind::Static => "keeps the deployment as it is (the baseline)",
            PolicyKind::LoadThreshold => {
                "Dynamo's first planner: +/-1 decode worker on KV utilisation, +/-1 prefill \
                 worker on queue length per worker, each interval"
            }
            PolicyKind::Sla => {
                "Dynamo's SLA planner: each interval, predicts the next interval's requests and \
                 sizes both pools from the performance profile and the TTFT/ITL targets, \
                 corrected by the latencies it observed (Dynamo 0.4-0.6; sla.sizing: capacity \
                 sizes as Dynamo 1.6, by what one engine serves within the SLO)"
            }
            PolicyKind::SlaLoad => {
                "the newer Dynamo design: a fast load loop (+/-1 worker when every estimated \
                 TTFT or ITL is over, or would stay under, the SLO) over the SLA planner's \
                 throughput floor"
            }
            PolicyKind::Lookahead => {
                "ours: sizes the prefill pool so that 90 % of prompts meet the TTFT target at \
                 the demand forecast for when a new worker would be up (start-up aware), counts \
                 starting workers as capacity bought, keeps an idle worker for at least a \
                 start-up; decides every 15 s unless the planner interval is shorter \
                 (lookahead.interval_s sets it)"
            }
        }
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
