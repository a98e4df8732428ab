//! The servesim facade: scenarios, the simulation world, reports and the CLI.
//!
//! - [`scenario`]: scenario files → validated [`Scenario`];
//! - [`world`]: the simulation world wiring traffic → cluster → metrics into the engine;
//!   [`Run`] steps a scenario's world, [`run`] runs it to its end;
//! - [`step`]: a run stepped from one planner decision to the next, the decisions given
//!   from outside (a learning agent's);
//! - [`metrics`] and [`report`]: what a run measures and its [`Summary`];
//! - [`experiment`]: policies compared on common random numbers, in parallel;
//! - [`html`]: self-contained HTML reports with SVG charts;
//! - [`suite`]: the planner benchmark suite, every policy against the best fixed deployment;
//! - [`profiler`]: deployment search from a Dynamo request, and the planner profile;
//! - [`validate`]: predictions of real serving runs and their errors;
//! - [`trace`]: a run's timeline as a Chrome / Perfetto trace;
//! - [`progress`]: long work observed as it completes (the command line's progress bars);
//! - [`text`]: small pieces of English the command line and the reports share.
//!
//! Re-exports the crates underneath so that an embedding needs one dependency.

mod error;
pub mod experiment;
pub mod html;
pub mod iteration;
pub mod metrics;
pub mod profiler;
pub mod progress;
pub mod report;
mod run;
pub mod scenario;
pub mod step;
pub mod story;
pub mod suite;
pub mod text;
pub mod trace;
pub mod validate;
pub mod warnings;
pub mod world;

pub use error::Error;
pub use report::Summary;
pub use run::{Run, run};
pub use scenario::Scenario;
pub use servesim_core as core;
pub use servesim_models as models;
pub use servesim_planner as planner;
pub use servesim_traffic as traffic;
pub use step::{Progress, Stepper};
pub use world::{ScalingEvent, World};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
