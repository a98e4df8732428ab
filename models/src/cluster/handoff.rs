//! The KV hand-off from prefill to decode: a decode worker reserves blocks, the KV moves
//! over the network in one flow per GPU pair, and the prefill worker frees its blocks when
//! it lands.

use servesim_core::{Scheduler, SimTime};

use super::{
    Cluster, ClusterEvent, ClusterOutput, ClusterRecord, Notice, Transfer, TransferOutcome,
    WorkerId,
};
use crate::engine::SeqSpec;
use crate::network::GpuId;

impl Cluster {
    /// Starts the KV transfer of waiting hand-offs, first come first served,
    /// while a decode worker can reserve their blocks.
    pub(super) fn retry_handoffs<E: From<ClusterEvent>>(
        &mut self,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        let Some(decode) = self.decode else { return };
        let now = sched.now();
        let mut started = false;
        while !self.handoffs.is_empty() {
            let Some(to) = self.pick_worker(decode, &[]) else {
                break;
            };
            let spec = SeqSpec {
                decode_here: true,
                ..self.handoffs[0].spec.clone()
            };
            let Some(to_slot) = self.workers[to.0 as usize]
                .engine
                .reserve_incoming(spec, now)
            else {
                break;
            };
            let h = self.handoffs.pop_front().expect("front exists");
            let (src, dst) = (self.next_rank_gpus(h.from), self.next_rank_gpus(to));
            let per_gpu = self.pools[self.workers[to.0 as usize].pool.0 as usize]
                .spec
                .kv_bytes_per_token_per_gpu;
            let bytes = u64::from(h.spec.prompt_tokens) * per_gpu * dst.len() as u64;
            let shards = shards(src, dst, bytes);
            let id = self
                .network
                .start_transfer(now, &shards)
                .expect("workers are placed on the network's own GPUs");
            out.notices.push(Notice::TransferStarted {
                handle: h.spec.request,
                worker: to,
            });
            self.transfers.insert(
                id,
                Transfer {
                    handoff: h,
                    to,
                    to_slot,
                    started: now,
                    bytes,
                },
            );
            started = true;
        }
        if started {
            self.schedule_network_check(sched);
        }
    }

    /// The GPUs of the attention rank that holds the next hand-off's KV on `w`: a request
    /// lives on one attention-DP rank, its KV in that rank's GPUs only (TensorRT-LLM's
    /// disaggregated params carry the context's `ctx_dp_rank`; SGLang's bootstrap room names
    /// one DP rank), and ranks take requests in turn (SGLang's DP controller's default
    /// `round_robin`). Every GPU of a worker without attention DP.
    fn next_rank_gpus(&mut self, w: WorkerId) -> Vec<u32> {
        let worker = &mut self.workers[w.0 as usize];
        let ranks = self.pools[worker.pool.0 as usize].spec.attention_dp.max(1);
        let per_rank = (worker.gpus.len() / ranks as usize).max(1);
        let rank = (worker.handoffs_seen % ranks) as usize;
        worker.handoffs_seen = worker.handoffs_seen.wrapping_add(1);
        worker
            .gpus
            .iter()
            .skip(rank * per_rank)
            .take(per_rank)
            .copied()
            .collect()
    }

    pub(super) fn schedule_network_check<E: From<ClusterEvent>>(
        &mut self,
        sched: &mut Scheduler<E>,
    ) {
        if let Some(key) = self.network_key.take() {
            sched.cancel(key);
        }
        if let Some(at) = self.network.next_event_time() {
            let at = at.max(sched.now());
            self.network_key =
                Some(sched.schedule_cancellable_at(at, ClusterEvent::NetworkCheck.into()));
        }
    }

    /// KV transfers may have landed: each frees the prefill side and starts decoding.
    pub(super) fn network_check<E: From<ClusterEvent>>(
        &mut self,
        sched: &mut Scheduler<E>,
        out: &mut ClusterOutput,
    ) {
        let now = sched.now();
        self.network_key = None;
        let done = self.network.poll_completed(now);
        for (_, id) in done {
            let t = self.transfers.remove(&id).expect("known transfer");
            let h = &t.handoff;
            out.notices.push(Notice::TransferDone {
                handle: h.spec.request,
            });
            out.record(|| t.record(now, TransferOutcome::Landed));
            self.workers[h.from.0 as usize].engine.release(h.from_slot);
            self.workers[t.to.0 as usize]
                .engine
                .incoming_landed(t.to_slot, now);
            let from = h.from;
            self.kick(from, sched, out);
            self.kick(t.to, sched, out);
            self.stop_if_drained(from, sched);
        }
        self.schedule_network_check(sched);
    }
}

impl Transfer {
    /// The record of this transfer ending at `end`.
    pub(super) fn record(&self, end: SimTime, outcome: TransferOutcome) -> ClusterRecord {
        ClusterRecord::Transfer {
            request: self.handoff.spec.request,
            from: self.handoff.from,
            to: self.to,
            bytes: self.bytes,
            start: self.started,
            end,
            outcome,
        }
    }
}

/// One flow per GPU pair: shard `i` goes from source GPU `i mod |src|` to destination GPU
/// `i mod |dst|`, over `max(|src|, |dst|)` flows. `bytes` is what the destination GPUs hold
/// together: where each keeps the KV whole, each receives all of it (SGLang's decode ranks
/// of an MLA model each pull the whole cache from one prefill rank).
fn shards(src: Vec<u32>, dst: Vec<u32>, bytes: u64) -> Vec<(GpuId, GpuId, u64)> {
    let n = src.len().max(dst.len());
    (0..n)
        .map(|i| {
            let share = bytes / n as u64 + u64::from((i as u64) < bytes % n as u64);
            (GpuId(src[i % src.len()]), GpuId(dst[i % dst.len()]), share)
        })
        .collect()
}
