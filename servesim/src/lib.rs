//! The servesim facade: scenarios, the simulation world, reports and the CLI.
//!
//! - [`scenario`]: scenario files → validated [`Scenario`];
//! - [`world`]: the simulation world wiring traffic → cluster → metrics into the engine;
//!   [`run`] runs a scenario to its end;
//! - [`metrics`] and [`report`]: what a run measures and its [`Summary`];
//! - [`experiment`]: policies compared on common random numbers, in parallel;
//! - [`html`]: self-contained HTML reports with SVG charts;
//! - [`profiler`]: deployment search from a Dynamo request, and the planner profile;
//! - [`validate`]: predictions of real serving runs and their errors.
//!
//! Re-exports the crates underneath so that an embedding needs one dependency.

pub mod experiment;
pub mod html;
pub mod metrics;
pub mod profiler;
pub mod report;
pub mod scenario;
pub mod validate;
pub mod world;

pub use report::Summary;
pub use scenario::Scenario;
pub use servesim_core as core;
pub use servesim_models as models;
pub use servesim_planner as planner;
pub use servesim_traffic as traffic;
pub use world::{Run, ScalingEvent, World, run};

use std::path::PathBuf;

/// Every error of the facade; each names the file, line or field at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A scenario file does not parse (syntax, type or unknown field).
    #[error("{origin}: {path}: {message}")]
    Parse {
        /// The file.
        origin: String,
        /// The field path (`cluster.pools[1].tp`), `.` for the root.
        path: String,
        /// What is wrong, with the line and column.
        message: String,
    },
    /// A field has an invalid value.
    #[error("{path}: {message}")]
    Config {
        /// The field path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// From the traffic crate (workload config or a trace row).
    #[error(transparent)]
    Traffic(servesim_traffic::TrafficError),
    /// From the models crate (catalogs, calibration data).
    #[error(transparent)]
    Models(servesim_models::ModelsError),
    /// From the planner crate (unknown policy, bad planner settings, unreadable profile).
    #[error(transparent)]
    Planner(servesim_planner::PlannerError),
}

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
