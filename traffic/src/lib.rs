//! Traffic for servesim: requests, arrival processes, closed-loop users, workload mixes
//! and trace replay. Deterministic: every stream draws from its own named random stream,
//! time is integer nanoseconds, and nothing generated depends on hash-map order.
//!
//! - [`WorkloadConfig`] (serde, the scenario file's `traffic:` key) is validated into a
//!   [`WorkloadSpec`], which [`Workload::new`] runs; see [`workload`] for the protocol a
//!   cluster simulation follows (pull requests in time order, report completions).
//! - [`trace`] reads Azure, Mooncake and BurstGPT traces as streams and writes Mooncake JSONL.
//! - [`stats`] summarises a request stream.
//!
//! ```
//! use servesim_core::{RngStreams, SimDuration, SimTime};
//! use servesim_traffic::{Workload, WorkloadConfig};
//!
//! let cfg = WorkloadConfig::from_yaml_str(
//!     "streams:
//!        - name: chat
//!          end_s: 60
//!          open:
//!            arrival: {kind: poisson, rate_per_s: 5}
//!            input: {kind: lognormal, mean: 300, p50: 200}
//!            output: {kind: uniform, min: 50, max: 150}",
//!     "example",
//! ).unwrap();
//! let spec = cfg.validate("traffic", std::path::Path::new(".")).unwrap();
//! let mut w = Workload::new(&spec, &RngStreams::new(7)).unwrap();
//! let mut n = 0;
//! while let Some(r) = w.next_request().unwrap() {
//!     assert!(r.arrival < SimTime::ZERO + SimDuration::from_secs(60).unwrap());
//!     n += 1;
//! }
//! assert!((200..400).contains(&n));
//! ```

pub mod arrival;
pub mod benchmark;
pub mod config;
pub mod dataset;
pub mod dist;
pub mod error;
pub mod files;
pub mod preset;
mod replay;
pub mod request;
pub mod stagger;
pub mod stats;
pub mod stream;
pub mod trace;
mod validate;
pub mod workload;

pub use arrival::ArrivalConfig;
pub use benchmark::{BenchmarkConfig, BetweenPhases, RateArrival};
pub use config::{DEFAULT_BLOCK_TOKENS, Preset, WorkloadConfig, WorkloadSpec};
pub use dist::DistConfig;
pub use error::{Result, TrafficError};
pub use files::{file_duration_s, is_trace_path, load_spec, load_workload_file, reads_as_trace};
pub use preset::AirlineConfig;
pub use request::{ClassId, Request, RequestId, SessionInfo, StreamId};
pub use stats::{Stats, StatsBuilder};
pub use stream::{
    ClosedConfig, MAX_USERS, OpenConfig, Stagger, StreamConfig, TraceConfig, TraceFileConfig,
};
pub use trace::{MooncakeWriter, TraceFormat, TraceReader, TraceRow};
pub use workload::{Driven, Standalone, Workload};
