//! `servesim-models`: the physics of the simulated cluster.
//!
//! - [`hardware`]: GPU SKUs (datasheet figures), nodes, links; user SKUs from a file.
//! - [`llm`]: dense LLM architectures (built in, or from a Hugging Face `config.json`),
//!   dtypes, weight and KV-cache sizes, KV capacity of a worker.
//! - [`calibration`]: the versioned calibration format (one gzip CSV per kernel family),
//!   its reader and writer, the import of the public kernel-table layout, and the tables
//!   shipped inside the crate.
//! - [`perf`]: kernel operations, the [`perf::KernelTimer`] (roofline or calibrated), and the
//!   [`perf::IterationPredictor`] that turns a batch into an iteration time.

pub mod calibration;
pub mod error;
pub mod hardware;
pub mod llm;
pub mod network;
pub mod perf;

pub use error::{ModelsError, Result};
