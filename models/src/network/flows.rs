//! Transfers and their flows: the ids the network hands out, the records it keeps of each,
//! and the read-only view of a flow.

use servesim_core::SimTime;

use super::topology::{GpuId, Route};

servesim_core::define_key! {
    /// A flow (one shard of a transfer) while it is active. Slots are reused once a flow ends;
    /// [`servesim_core::Key::index`] gives the slot, for dense per-flow vectors.
    pub struct FlowId(u32);
}

servesim_core::define_key! {
    /// The slot of a transfer in flight (reused once it completes or is cancelled).
    pub(super) struct TransferSlot(u32);
}

/// A transfer started by [`super::Network::start_transfer`]. Ids of finished or cancelled
/// transfers are never mistaken for later ones (each slot carries a generation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransferId {
    pub(super) slot: TransferSlot,
    pub(super) generation: u32,
}

/// A read-only view of an active flow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlowView {
    /// The flow.
    pub id: FlowId,
    /// The transfer it belongs to.
    pub transfer: TransferId,
    /// Source GPU.
    pub src: GpuId,
    /// Destination GPU.
    pub dst: GpuId,
    /// Its route.
    pub route: Route,
    /// Bytes of the shard.
    pub bytes: u64,
    /// Bytes still to move at the network's current time.
    pub bytes_left: f64,
    /// Current rate in bytes/s (0 when stalled on a link that is down).
    pub rate: f64,
    /// When it ends at current rates (`None` when stalled).
    pub finish: Option<SimTime>,
}

/// An active flow: one shard of a transfer on its route, and where its bytes stand.
#[derive(Clone, Debug)]
pub(super) struct Flow {
    pub(super) transfer: TransferSlot,
    pub(super) src: GpuId,
    pub(super) dst: GpuId,
    pub(super) route: Route,
    pub(super) bytes: u64,
    /// Bytes left at `since`.
    pub(super) left: f64,
    pub(super) since: SimTime,
    pub(super) rate: f64,
    pub(super) finish: Option<SimTime>,
}

/// A transfer in flight: its flows and its predicted completion.
#[derive(Clone, Debug)]
pub(super) struct Transfer {
    /// Creation order: tie-breaker between transfers completing at the same time.
    pub(super) seq: u64,
    /// Its live flows.
    pub(super) flows: Vec<FlowId>,
    /// When its last finished flow finished (its start time until then).
    pub(super) data_done: SimTime,
    /// Predicted completion (key in `Network::predicted`), `None` when stalled.
    pub(super) predicted: Option<SimTime>,
}

/// Below this many bytes (or this fraction of the shard), a flow counts as done.
pub(super) const SNAP_BYTES: f64 = 1e-3;
const SNAP_FRACTION: f64 = 1e-12;

/// The bytes below which a shard of `bytes` counts as moved.
pub(super) fn snap_threshold(bytes: u64) -> f64 {
    SNAP_BYTES.max(bytes as f64 * SNAP_FRACTION)
}
