//! `servesim-core`: the deterministic discrete-event engine under servesim.
//!
//! It knows nothing of LLMs, GPUs or Python. It gives:
//! - [`SimTime`] / [`SimDuration`]: integer nanoseconds, checked arithmetic;
//! - [`EventQueue`]: events ordered by `(time, insertion sequence)`, cancellable;
//! - [`Simulation`], [`Model`], [`Scheduler`]: the run loop, generic over the event type;
//! - [`RngStreams`]: one seed, independent named streams;
//! - [`Slab`]: values in reusable slots under typed keys ([`define_key!`]), reused in a fixed
//!   order;
//! - [`metrics`]: HDR latency histograms, fixed-interval time series, counters;
//! - [`check_determinism`]: run twice, compare event traces, say where they diverged;
//! - [`Named`]: closed sets of named values, parsed and listed one way.
//!
//! ```
//! use servesim_core::{Model, Scheduler, SimDuration, SimTime, Simulation};
//!
//! struct Clock { ticks: u32 }
//! impl Model for Clock {
//!     type Event = ();
//!     fn handle(&mut self, _: (), sched: &mut Scheduler<()>) {
//!         self.ticks += 1;
//!         sched.schedule_in(SimDuration::from_secs(1).unwrap(), ());
//!     }
//! }
//!
//! let mut sim = Simulation::new(Clock { ticks: 0 });
//! sim.scheduler.schedule_at(SimTime::ZERO, ());
//! sim.run_until(SimTime::ZERO + SimDuration::from_secs(9).unwrap());
//! assert_eq!(sim.model.ticks, 10);
//! ```

pub mod determinism;
pub mod engine;
pub mod hash;
pub mod metrics;
pub mod names;
pub mod queue;
pub mod rng;
pub mod slab;
pub mod suggest;
pub mod time;

pub use determinism::{Divergence, TraceDigest, check_determinism};
pub use engine::{Model, RunOutcome, Scheduler, Simulation};
pub use names::{Named, NotOneOf};
pub use queue::{EventKey, EventQueue};
pub use rng::{RngStreams, StreamRng};
pub use slab::{Key, Slab};
pub use time::{SimDuration, SimTime};

/// Errors of the core engine.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A number of seconds that is not a finite, non-negative value.
    #[error("{0} is not a valid number of seconds (must be finite and >= 0)")]
    InvalidSeconds(f64),
    /// A time or span past the largest representable (about 584 years).
    #[error("time overflow: more than 2^64 nanoseconds (about 584 years)")]
    TimeOverflow,
    /// A sampling interval of zero.
    #[error("a sampling interval must be positive")]
    ZeroInterval,
}
