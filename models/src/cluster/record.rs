//! What the cluster reports of its own activity when asked to (a timeline export): one
//! record per engine iteration and per KV transfer, in the order they happen. Off unless
//! the world hands the cluster a buffer ([`ClusterOutput::records`]): an untraced run pays
//! one branch per iteration and per transfer, and allocates nothing for it.

use servesim_core::{SimDuration, SimTime};

use super::{ClusterOutput, PoolId, WorkerId};
use crate::engine::BatchSummary;
use crate::request::RequestHandle;

/// One thing the cluster did, with its times.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClusterRecord {
    /// A worker started an iteration (its duration is known when it starts).
    Iteration {
        /// The worker.
        worker: WorkerId,
        /// Its pool.
        pool: PoolId,
        /// When it started.
        start: SimTime,
        /// How long it runs (a straggler's slowdown included).
        duration: SimDuration,
        /// What it runs.
        batch: BatchSummary,
        /// Sequences left waiting for admission when it started.
        waiting: u64,
        /// The worker's KV blocks in use / total when it started.
        kv_utilisation: f64,
    },
    /// A KV transfer ended (landed, failed or cancelled).
    Transfer {
        /// The request whose KV moved.
        request: RequestHandle,
        /// The prefill worker.
        from: WorkerId,
        /// The decode worker.
        to: WorkerId,
        /// KV bytes.
        bytes: u64,
        /// When it started.
        start: SimTime,
        /// When it ended.
        end: SimTime,
        /// How it ended.
        outcome: TransferOutcome,
    },
}

/// How a KV transfer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferOutcome {
    /// The KV reached the decode worker.
    Landed,
    /// A fault failed it; the KV is sent again (or given up).
    Failed,
    /// A worker at either end died.
    Cancelled,
}

impl TransferOutcome {
    /// Its name in words.
    pub fn name(self) -> &'static str {
        match self {
            TransferOutcome::Landed => "landed",
            TransferOutcome::Failed => "failed",
            TransferOutcome::Cancelled => "cancelled",
        }
    }
}

impl ClusterOutput {
    /// Records what `make` builds, only when records are asked for.
    #[inline]
    pub(super) fn record(&mut self, make: impl FnOnce() -> ClusterRecord) {
        if let Some(records) = &mut self.records {
            records.push(make());
        }
    }
}
