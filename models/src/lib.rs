//! `servesim-models`: the physics of the simulated cluster.
//!
//! - [`backend`]: the serving frameworks modelled (TensorRT-LLM, vLLM, SGLang).
//! - [`dtype`]: numeric types of weights, activations and the KV cache.
//! - [`alias`]: names as users type them (`H100`, `llama-8b`) resolved where unambiguous.
//! - [`hardware`]: GPU SKUs (datasheet figures), nodes, links; user SKUs from a file.
//! - [`llm`]: dense LLM architectures (built in, or from a Hugging Face `config.json`),
//!   weight and KV-cache sizes, KV capacity of a worker.
//! - [`calibration`]: the versioned calibration format (one gzip CSV per kernel family),
//!   its reader and writer, the import of the public kernel-table layout, and the tables
//!   shipped inside the crate.
//! - [`perf`]: kernel operations, the [`perf::KernelTimer`] (roofline or calibrated), and the
//!   [`perf::IterationPredictor`] that turns a batch into an iteration time.
//! - [`analytic`]: closed-form steady-state estimates of one worker (M/D/1 prefill queueing,
//!   decode steps, a stationary mixed batch): the profiler's fast model.
//!
//! The simulated components:
//! - [`engine`]: one worker's iteration-level loop (continuous batching, chunked prefill,
//!   paged KV with a watermark, preemption by recompute), advanced per step, not per token;
//! - [`kv_cache`]: the paged KV pool and its prefix cache (LRU over unreferenced blocks);
//! - [`cluster`]: pools of workers, their lifecycle and GPU budget, routers, and the KV
//!   hand-off from prefill to decode over the [`network`];
//! - [`faults`]: fault processes (when random failures strike, which worker a fault
//!   strikes, whether a lost request is retried);
//! - [`request`]: the world's handle for a request, as the cluster and engines carry it;
//! - [`frontend`]: the HTTP server, tokenizer and detokenizer in front of the engines (a
//!   fixed latency per request, host time per streamed token).

pub mod alias;
pub mod analytic;
pub mod backend;
pub mod calibration;
pub mod cluster;
pub mod dtype;
pub mod engine;
pub mod error;
pub mod faults;
pub mod frontend;
pub mod hardware;
pub mod kv_cache;
pub mod llm;
pub mod network;
pub mod perf;
pub mod request;

pub use error::{ModelsError, Result};
