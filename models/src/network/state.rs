//! The network at run time: transfers made of flows, sharing links max-min fairly.

use std::collections::BTreeSet;

use servesim_core::{Key, SimDuration, SimTime, Slab};

use super::flows::{
    Flow, FlowId, FlowView, SNAP_BYTES, Transfer, TransferId, TransferSlot, snap_threshold,
};
use super::rates::Scratch;
use super::topology::{GpuId, LinkId, Topology};
use crate::error::{ModelsError, Result};

/// The fixed latency added to every transfer by default (10 µs).
pub const DEFAULT_TRANSFER_LATENCY: SimDuration = SimDuration::from_nanos(10_000);

/// Transfers of KV cache over a [`Topology`], in integer simulated time.
///
/// A transfer is a set of flows, one per shard `(src GPU, dst GPU, bytes)`, each routed on the
/// topology. Flows sharing a link share it max-min fairly; rates are recomputed (for the
/// connected component of flows and links affected only) whenever a flow starts or ends or a
/// link's capacity changes. A transfer completes when all its flows have finished, plus the
/// fixed latency.
///
/// **Time.** Every mutating call takes `now` and first brings the network up to `now`,
/// processing internal events (flows ending, at their exact times) in order. A `now` earlier
/// than the network's clock is treated as the clock. Flow end times are rounded *up* to the
/// nanosecond (a flow never ends before its bytes could have moved) and are authoritative: when
/// its end time is reached the flow is done, whatever float residue its byte count holds.
/// Byte counts and rates are `f64`: end times are exact to the nanosecond while a flow's
/// remaining duration stays below 2^53 ns (about 104 days).
///
/// **Driving it from a discrete-event world.** Keep one cancellable event at
/// [`Network::next_event_time`] (re-ask after every call that changes the network); when it
/// fires, call [`Network::poll_completed`]. [`Network::next_completion`] predicts the next
/// transfer completion at current rates, but a flow ending earlier frees bandwidth and moves
/// completions, which is why the event must be scheduled at `next_event_time`.
///
/// **Determinism.** No hash-map iteration; ties between simultaneous events are broken by flow
/// slot and by transfer creation order.
#[derive(Clone, Debug)]
pub struct Network {
    topology: Topology,
    latency: SimDuration,
    now: SimTime,
    capacity: Vec<f64>,
    link_flows: Vec<Vec<FlowId>>,
    flows: Slab<FlowId, Flow>,
    transfers: Slab<TransferSlot, Transfer>,
    /// Per transfer slot, the generation of the transfer in it (or next in it): how many
    /// transfers it held before, so that an old id never names a later transfer.
    generations: Vec<u32>,
    next_seq: u64,
    /// (end time, flow) of every flow with a positive rate.
    flow_ends: BTreeSet<(SimTime, FlowId)>,
    /// (predicted completion, seq, transfer slot) of every live, non-stalled transfer.
    predicted: BTreeSet<(SimTime, u64, TransferSlot)>,
    /// Completed, not yet polled, in completion order.
    completed: Vec<(SimTime, TransferId)>,
    scratch: Scratch,
}

impl Network {
    /// An idle network over `topology`, adding `latency` to every transfer.
    pub fn new(topology: Topology, latency: SimDuration) -> Network {
        let links = topology.num_links();
        Network {
            capacity: topology.links().iter().map(|l| l.capacity).collect(),
            link_flows: vec![Vec::new(); links],
            topology,
            latency,
            now: SimTime::ZERO,
            flows: Slab::new(),
            transfers: Slab::new(),
            generations: Vec::new(),
            next_seq: 0,
            flow_ends: BTreeSet::new(),
            predicted: BTreeSet::new(),
            completed: Vec::new(),
            scratch: Scratch::for_links(links),
        }
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The fixed latency added to every transfer.
    pub fn latency(&self) -> SimDuration {
        self.latency
    }

    /// The network's clock: the latest `now` it was brought to.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Starts a transfer of `shards` = `(source GPU, destination GPU, bytes)`, one flow each.
    /// Shards of 0 bytes or from a GPU to itself cost nothing; a transfer without any other
    /// completes after the latency alone. Fails, changing nothing, if a GPU is out of range.
    pub fn start_transfer(
        &mut self,
        now: SimTime,
        shards: &[(GpuId, GpuId, u64)],
    ) -> Result<TransferId> {
        let gpus = self.topology.num_gpus();
        if let Some(&(src, dst, _)) = shards.iter().find(|(s, d, _)| s.0 >= gpus || d.0 >= gpus) {
            return Err(ModelsError::Invalid {
                what: "network transfer",
                message: format!(
                    "shard {} → {} names a GPU out of range ({gpus} GPUs)",
                    src.0, dst.0
                ),
            });
        }
        self.advance(now);
        let now = self.now;
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = self.transfers.insert(Transfer {
            seq,
            flows: Vec::new(),
            data_done: now,
            predicted: None,
        });
        if self.generations.len() < self.transfers.slot_count() {
            self.generations.push(0);
        }
        let id = self.transfer_id(slot);
        self.scratch.seeds.clear();
        for &(src, dst, bytes) in shards {
            if bytes == 0 || src == dst {
                continue;
            }
            let route = self.topology.route_unchecked(src, dst);
            let f = self.flows.insert(Flow {
                transfer: slot,
                src,
                dst,
                route,
                bytes,
                left: bytes as f64,
                since: now,
                rate: 0.0,
                finish: None,
            });
            self.transfers[slot].flows.push(f);
            for &l in route.links() {
                self.link_flows[l.index()].push(f);
                self.scratch.seeds.push(l.0);
            }
        }
        self.scratch
            .grow_marks(self.flows.slot_count(), self.transfers.slot_count());
        self.recompute(now, &[slot]);
        self.process_due(now);
        Ok(id)
    }

    /// Brings the network to `now`: processes every flow end and transfer completion due by
    /// then, in time order (completed transfers wait for [`Network::poll_completed`]).
    pub fn advance(&mut self, now: SimTime) {
        let now = now.max(self.now);
        self.process_due(now);
        self.now = now;
    }

    /// The next time the network needs [`Network::poll_completed`] (or any call taking `now`):
    /// the earliest flow end or transfer completion at current rates, or the clock if
    /// completed transfers wait to be polled. `None` when nothing will happen by itself.
    pub fn next_event_time(&self) -> Option<SimTime> {
        if !self.completed.is_empty() {
            return Some(self.now);
        }
        let flow = self.flow_ends.first().map(|k| k.0);
        let transfer = self.predicted.first().map(|k| k.0);
        match (flow, transfer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next transfer to complete and when, at current rates (completed but not yet
    /// polled transfers first). A prediction: flows ending earlier can bring it forward.
    pub fn next_completion(&self) -> Option<(SimTime, TransferId)> {
        if let Some(&first) = self.completed.first() {
            return Some(first);
        }
        self.predicted
            .first()
            .map(|&(t, _, slot)| (t, self.transfer_id(slot)))
    }

    /// Brings the network to `now` and returns the transfers completed by then, with their
    /// completion times, in completion order (ties: creation order). Each is returned once.
    pub fn poll_completed(&mut self, now: SimTime) -> Vec<(SimTime, TransferId)> {
        self.advance(now);
        std::mem::take(&mut self.completed)
    }

    /// Cancels a transfer: its flows stop and free their bandwidth at `now`, and it is never
    /// reported as completed (even if it completed by `now` but was not yet polled). Returns
    /// `false`, having only brought the network to `now`, if the id is unknown or the transfer
    /// was already returned by [`Network::poll_completed`] or cancelled.
    pub fn cancel_transfer(&mut self, now: SimTime, id: TransferId) -> bool {
        self.advance(now);
        if let Some(i) = self.completed.iter().position(|&(_, c)| c == id) {
            self.completed.remove(i);
            return true;
        }
        if !self.is_active(id) {
            return false;
        }
        let now = self.now;
        self.scratch.seeds.clear();
        for f in std::mem::take(&mut self.transfers[id.slot].flows) {
            self.remove_flow(f);
        }
        self.free_transfer(id.slot);
        self.recompute(now, &[]);
        self.process_due(now);
        true
    }

    /// Sets a link's capacity at `now` (bytes/s; 0 = down: its flows stall until it comes
    /// back). Returns the transfers with a flow stalled on this link afterwards, sorted.
    /// Fails on an unknown link or a negative or non-finite capacity.
    pub fn set_link_capacity(
        &mut self,
        now: SimTime,
        link: LinkId,
        bytes_per_s: f64,
    ) -> Result<Vec<TransferId>> {
        if link.index() >= self.capacity.len() {
            return Err(ModelsError::Invalid {
                what: "network link",
                message: format!(
                    "link {} out of range ({} links)",
                    link.0,
                    self.capacity.len()
                ),
            });
        }
        if !(bytes_per_s.is_finite() && bytes_per_s >= 0.0) {
            return Err(ModelsError::Invalid {
                what: "network link capacity",
                message: format!("must be a finite number ≥ 0 (got {bytes_per_s})"),
            });
        }
        self.advance(now);
        let now = self.now;
        self.capacity[link.index()] = bytes_per_s;
        self.scratch.seeds.clear();
        self.scratch.seeds.push(link.0);
        self.recompute(now, &[]);
        self.process_due(now);
        let mut stalled: Vec<TransferId> = self.link_flows[link.index()]
            .iter()
            .filter(|&&f| self.flows[f].rate == 0.0)
            .map(|&f| self.transfer_id(self.flows[f].transfer))
            .collect();
        stalled.sort_unstable();
        stalled.dedup();
        Ok(stalled)
    }

    /// A link's current capacity (bytes/s), `None` for an unknown link.
    pub fn link_capacity(&self, link: LinkId) -> Option<f64> {
        self.capacity.get(link.index()).copied()
    }

    /// The sum of the rates of the flows crossing a link (bytes/s), `None` for an unknown link.
    pub fn link_load(&self, link: LinkId) -> Option<f64> {
        self.link_flows
            .get(link.index())
            .map(|fs| fs.iter().map(|&f| self.flows[f].rate).sum())
    }

    /// Whether a transfer is in flight (started, not completed or cancelled).
    pub fn is_active(&self, id: TransferId) -> bool {
        self.transfers.contains(id.slot)
            && self.generations.get(id.slot.index()) == Some(&id.generation)
    }

    /// Number of transfers in flight.
    pub fn active_transfers(&self) -> usize {
        self.transfers.len()
    }

    /// Number of active flows.
    pub fn active_flows(&self) -> usize {
        self.flows.len()
    }

    /// The active flows, by slot.
    pub fn flows(&self) -> impl Iterator<Item = FlowView> + '_ {
        self.flows.iter().map(|(id, f)| self.view(id, f))
    }

    /// The active flows of one transfer (none if it is not in flight).
    pub fn transfer_flows(&self, id: TransferId) -> impl Iterator<Item = FlowView> + '_ {
        let flows: &[FlowId] = if self.is_active(id) {
            &self.transfers[id.slot].flows
        } else {
            &[]
        };
        flows.iter().map(|&f| self.view(f, &self.flows[f]))
    }

    /// Transfers in flight with a flow stalled (rate 0 on a link that is down, or so slow that
    /// its end is past [`SimTime::MAX`]), sorted.
    pub fn stalled_transfers(&self) -> Vec<TransferId> {
        let mut v: Vec<TransferId> = self
            .flows
            .values()
            .filter(|f| f.finish.is_none())
            .map(|f| self.transfer_id(f.transfer))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    fn view(&self, id: FlowId, f: &Flow) -> FlowView {
        let elapsed = self.now.saturating_duration_since(f.since).as_secs_f64();
        FlowView {
            id,
            transfer: self.transfer_id(f.transfer),
            src: f.src,
            dst: f.dst,
            route: f.route,
            bytes: f.bytes,
            bytes_left: (f.left - f.rate * elapsed).max(0.0),
            rate: f.rate,
            finish: f.finish,
        }
    }

    fn transfer_id(&self, slot: TransferSlot) -> TransferId {
        TransferId {
            slot,
            generation: self.generations[slot.index()],
        }
    }

    /// Processes every event due at or before `now`, in time order; flows before transfers
    /// at equal times.
    fn process_due(&mut self, now: SimTime) {
        loop {
            let flow = self.flow_ends.first().map(|k| k.0).filter(|&t| t <= now);
            let transfer = self.predicted.first().map(|k| k.0).filter(|&t| t <= now);
            match (flow, transfer) {
                (Some(tf), tt) if tt.is_none_or(|tt| tf <= tt) => {
                    self.now = self.now.max(tf);
                    self.scratch.seeds.clear();
                    self.scratch.touched_transfers.clear();
                    while let Some(&(t, f)) = self.flow_ends.first() {
                        if t != tf {
                            break;
                        }
                        self.flow_ends.pop_first();
                        let tr = self.flows[f].transfer;
                        debug_assert!({
                            let fl = &self.flows[f];
                            let left = fl.left - fl.rate * (tf - fl.since).as_secs_f64();
                            // Ends within a nanosecond's worth of bytes of the exact time.
                            left <= snap_threshold(fl.bytes) + 1e-6 * fl.left
                                && left >= -fl.rate * 1e-9 - 1e-6 * fl.left - SNAP_BYTES
                        });
                        self.remove_flow(f);
                        let t = &mut self.transfers[tr];
                        t.flows.retain(|&x| x != f);
                        t.data_done = t.data_done.max(tf);
                        self.scratch.touched_transfers.push(tr);
                    }
                    let touched = std::mem::take(&mut self.scratch.touched_transfers);
                    self.recompute(tf, &touched);
                    self.scratch.touched_transfers = touched;
                }
                (_, Some(tt)) => {
                    let (_, _, slot) = self.predicted.pop_first().expect("first exists");
                    debug_assert!(self.transfers[slot].flows.is_empty());
                    self.now = self.now.max(tt);
                    let id = self.transfer_id(slot);
                    self.transfers[slot].predicted = None;
                    self.free_transfer(slot);
                    self.completed.push((tt, id));
                }
                (None, None) => break,
                (Some(_), None) => unreachable!("matched by the first arm"),
            }
        }
    }

    /// Takes a flow off its links (pushing them to the seeds) and frees its slot; the caller
    /// updates the transfer's flow list.
    fn remove_flow(&mut self, f: FlowId) {
        let flow = self.flows.remove(f).expect("a live flow");
        if let Some(t) = flow.finish {
            self.flow_ends.remove(&(t, f));
        }
        for &l in flow.route.links() {
            let on = &mut self.link_flows[l.index()];
            if let Some(i) = on.iter().position(|&x| x == f) {
                on.swap_remove(i);
            }
            self.scratch.seeds.push(l.0);
        }
    }

    /// Frees a transfer's slot (its flows already removed), moving the slot to its next
    /// generation.
    fn free_transfer(&mut self, slot: TransferSlot) {
        let t = self.transfers.remove(slot).expect("a live transfer");
        if let Some(p) = t.predicted {
            self.predicted.remove(&(p, t.seq, slot));
        }
        let generation = &mut self.generations[slot.index()];
        *generation = generation.wrapping_add(1);
    }

    /// Recomputes the rates of the flows connected to the seed links (`scratch.seeds`) at time
    /// `now`, then the predicted completions of their transfers and of `extra` transfers.
    fn recompute(&mut self, now: SimTime, extra: &[TransferSlot]) {
        let epoch = self.scratch.next_epoch();
        self.scratch
            .collect_component(&self.link_flows, &self.flows, epoch);
        self.scratch
            .solve_rates(&self.link_flows, &self.flows, &self.capacity);
        self.apply_rates(now, epoch);
        for &tr in extra {
            self.scratch.touch_transfer(tr, epoch);
        }
        self.update_predictions();
    }

    /// Gives the component's flows their new rates from `now`: the bytes each has left then,
    /// its end time (kept in `flow_ends`), and its transfer marked as touched.
    fn apply_rates(&mut self, now: SimTime, epoch: u32) {
        self.scratch.touched_transfers.clear();
        for i in 0..self.scratch.comp_flows.len() {
            let f = self.scratch.comp_flows[i];
            let flow = &mut self.flows[f];
            let rate = self.scratch.rates[i];
            if rate == flow.rate {
                // Same rate, same end: nothing to move (most flows of a large component).
                continue;
            }
            let elapsed = (now - flow.since).as_secs_f64();
            let left = (flow.left - flow.rate * elapsed).max(0.0);
            let left = if left <= snap_threshold(flow.bytes) {
                0.0
            } else {
                left
            };
            if let Some(t) = flow.finish.take() {
                self.flow_ends.remove(&(t, f));
            }
            flow.left = left;
            flow.since = now;
            flow.rate = rate;
            flow.finish = if left == 0.0 {
                Some(now)
            } else if rate > 0.0 {
                SimDuration::from_secs_f64_ceil(left / rate)
                    .ok()
                    .and_then(|d| now.checked_add(d))
            } else {
                None
            };
            if let Some(t) = flow.finish {
                self.flow_ends.insert((t, f));
            }
            let tr = flow.transfer;
            self.scratch.touch_transfer(tr, epoch);
        }
    }

    /// Predicts when each touched transfer completes: when its last flow ends (or ended),
    /// plus the latency; no prediction while a flow is stalled.
    fn update_predictions(&mut self) {
        for &tr in &self.scratch.touched_transfers {
            let Some(t) = self.transfers.get_mut(tr) else {
                continue;
            };
            if let Some(p) = t.predicted.take() {
                self.predicted.remove(&(p, t.seq, tr));
            }
            let mut end = Some(t.data_done);
            for &f in &t.flows {
                end = match (end, self.flows[f].finish) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
            t.predicted = end.map(|e| e.saturating_add(self.latency));
            if let Some(p) = t.predicted {
                self.predicted.insert((p, t.seq, tr));
            }
        }
    }
}
