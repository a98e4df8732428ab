//! The network model for KV-cache transfers.
//!
//! - [`Topology`]: GPUs, an NVLink switch per NVLink domain (a node, or an NVL72 rack of
//!   trays), a NIC per GPU (rail-aligned) and an
//!   InfiniBand fabric ([`Fabric::SingleSwitch`] or [`Fabric::TwoLevel`] with an
//!   oversubscription ratio), as a petgraph graph of directed links (full duplex: one link per
//!   direction), built from a validated [`TopologySpec`]; routes are computed from the
//!   structure.
//! - [`Network`]: transfers made of flows (one per TP shard) that share each link max-min
//!   fairly ([`max_min_fair_rates`], progressive filling), recomputed when a flow starts or
//!   ends, plus a fixed latency per transfer; integer simulated time; cancellation and link
//!   degradation.

mod fabric_de;
mod fair_share;
mod flows;
mod rates;
mod state;
#[cfg(test)]
mod tests;
mod topology;

pub use fair_share::max_min_fair_rates;
pub use flows::{FlowId, FlowView, TransferId};
pub use state::{DEFAULT_TRANSFER_LATENCY, Network};
pub use topology::{
    Fabric, GpuId, Link, LinkId, MAX_GPUS, MAX_HOPS, Route, Topology, TopologySpec, Vertex,
};
