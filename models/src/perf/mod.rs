//! Iteration-time prediction.
//!
//! - [`ops`]: kernel operations ([`KernelOp`]), breakdown kinds ([`OpKind`]);
//! - [`roofline`]: datasheet roofline with efficiencies ([`RooflineTimer`]); `mla.rs` the
//!   work of a multi-head latent attention block;
//! - [`table`]: log-space interpolation over measured shapes;
//! - [`calibrated`]: the [`CalibratedTimer`] over measured tables;
//! - [`dispatch`]: expert parallelism's token dispatch and combine (network model, keys);
//! - [`inter_domain`]: collectives of a worker wider than one NVLink domain (NCCL's cost
//!   between domains);
//! - [`KernelTimer`]: either of the two, whichever times the operations;
//! - [`predictor`]: [`IterationPredictor`], batch → iteration time; `moe_part.rs` its
//!   mixture-of-experts part (expert format, split, and the kernel a step runs on);
//! - [`memo`]: [`CachedPredictor`], the same with caches, for the simulator's hot loop;
//! - [`provenance`]: which of a worker's kernels are not timed from measurements of their
//!   own shape on their own GPU;
//! - [`evaluate`]: predictions for public-layout kernel rows and the leave-shape-out errors;
//! - [`check`]: a GPU's calibration checked table by table (`servesim perf check`).

pub mod calibrated;
mod call_floor;
pub mod check;
pub mod dispatch;
mod dsa;
mod dtype_code;
pub mod evaluate;
pub mod exchange;
pub mod expert_load;
mod gdn;
pub mod inter_domain;
mod kernel_timer;
pub mod measured;
pub mod memo;
mod mla;
mod mla_key;
mod mla_parts;
mod moe_key;
mod moe_part;
mod moe_quant;
pub mod ops;
pub mod predictor;
pub mod provenance;
pub mod roofline;
pub mod sources;
pub mod table;

pub use calibrated::CalibratedTimer;
pub use kernel_timer::KernelTimer;
pub use memo::CachedPredictor;
pub use moe_part::MIN_LATENCY_MOE_TOKENS;
pub use ops::{
    AllReduceImpl, AttnShape, DispatchKernel, DispatchShape, DispatchStage, ExpertRouting, GdnPart,
    GdnShape, GemmShape, KernelOp, MlaPart, MlaPartShape, MlaShape, MoeKernel, MoeQuant, MoeShape,
    NcclOp, OpKind,
};
pub use predictor::{BatchShape, IterationPredictor, PrefillChunk};
pub use roofline::{Efficiencies, RooflineTimer};
