//! Planner policies: built in issue 6.
