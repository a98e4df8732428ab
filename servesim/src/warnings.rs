//! Guardrails: what a finished run says about itself that a user might not see in its
//! figures (a pool that never had capacity, a queue that grew without bound, requests
//! longer than the model's context), as plain sentences in the summary, the HTML report
//! and Python.

use crate::scenario::Scenario;
use crate::world::World;

/// Fewest requests still in flight at the end before an unbounded queue is suspected.
const QUEUE_FLOOR: u64 = 100;
/// Requests in flight at the end, as a share of those completed, above which the queue is
/// taken to grow with the run rather than to hold a steady state.
const QUEUE_SHARE: f64 = 0.25;

/// The warnings of a run of `s` that ended in `w`: `completed` requests completed and
/// `in_flight` still in flight at the end.
pub fn run_warnings(s: &Scenario, w: &World, completed: u64, in_flight: u64) -> Vec<String> {
    let mut out = Vec::new();
    if w.planner_name().is_none() {
        for p in s.pools().iter().filter(|p| p.workers == 0) {
            out.push(format!(
                "pool {} starts with no workers and no planner starts any: the requests it \
                 would serve wait until the end of the run",
                p.name
            ));
        }
    }
    if in_flight >= QUEUE_FLOOR && in_flight as f64 > QUEUE_SHARE * completed as f64 {
        out.push(format!(
            "{in_flight} requests are still in flight at the end against {completed} \
             completed: the cluster does not keep up with the traffic and its queue grows with \
             the run (memory too); the figures describe a transient, not a steady state"
        ));
    }
    if let Some(check) = w.context_check() {
        for (name, o) in w.workload.stream_names().iter().zip(&check.streams) {
            if o.over > 0 {
                let pct = 100.0 * o.over as f64 / o.arrived as f64;
                let share = if pct < 0.1 {
                    "under 0.1 %".to_string()
                } else {
                    format!("{pct:.1} %")
                };
                out.push(format!(
                    "stream {name}: {} of {} requests ({share}) are longer than the context of \
                     {} ({} tokens), up to {} tokens (prompt and output): a server would \
                     refuse them, the simulation served them",
                    o.over,
                    o.arrived,
                    s.llm().name,
                    check.context,
                    o.longest
                ));
            }
        }
    }
    out
}
