//! The pending-event set.
//!
//! **Tie rule.** Events are popped in order of `(time, insertion sequence)`:
//! the earliest time first, and among events at the same time the one
//! scheduled first comes out first (FIFO). The sequence number is global to
//! the queue and never reused, so the order is total and independent of the
//! event payloads, the heap layout or the platform.
//!
//! **Cancellation** is opt-in: [`EventQueue::push`] schedules an event that
//! will run, [`EventQueue::push_cancellable`] also returns a key. Only those
//! events take a liveness slot (a seq in a slab, recycled through a free list);
//! cancelling empties the slot and the heap entry is dropped when it reaches
//! the top. The common path (no key) pays one comparison per pop.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::SimTime;

/// Handle to a cancellable scheduled event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EventKey {
    slot: u32,
    seq: u64,
}

impl EventKey {
    /// The insertion sequence number: the tie-breaker among equal times.
    pub fn seq(self) -> u64 {
        self.seq
    }
}

/// Slot value of an entry that cannot be cancelled.
const NO_SLOT: u32 = u32::MAX;
/// Slab value of a slot whose event ran or was cancelled.
const FREE: u64 = u64::MAX;

struct Entry<E> {
    /// `time << 64 | seq`: one integer comparison orders by time, then sequence.
    key: u128,
    slot: u32,
    event: E,
}

impl<E> Entry<E> {
    fn new(time: SimTime, seq: u64, slot: u32, event: E) -> Self {
        let key = (u128::from(time.as_nanos()) << 64) | u128::from(seq);
        Entry { key, slot, event }
    }

    fn time(&self) -> SimTime {
        SimTime::from_nanos((self.key >> 64) as u64)
    }

    fn seq(&self) -> u64 {
        self.key as u64
    }
}

impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the smallest (time, seq) is on top.
        other.key.cmp(&self.key)
    }
}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl<E> Eq for Entry<E> {}

/// A priority queue of events ordered by `(time, insertion sequence)`.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    /// For each liveness slot, the seq of the pending event holding it, or `FREE`.
    slots: Vec<u64>,
    free: Vec<u32>,
    next_seq: u64,
    /// Cancelled entries still sitting in the heap.
    cancelled_in_heap: usize,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
            cancelled_in_heap: 0,
        }
    }

    /// Number of scheduled, not yet cancelled or popped, events.
    pub fn len(&self) -> usize {
        self.heap.len() - self.cancelled_in_heap
    }

    /// True when no event is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Schedules `event` at `time`; it will run (it cannot be cancelled).
    pub fn push(&mut self, time: SimTime, event: E) {
        let seq = self.next_seq();
        self.heap.push(Entry::new(time, seq, NO_SLOT, event));
    }

    /// Schedules `event` at `time` and returns a key that can cancel it.
    pub fn push_cancellable(&mut self, time: SimTime, event: E) -> EventKey {
        let seq = self.next_seq();
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                let slot = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&s| s != NO_SLOT)
                    .expect("more than 2^32 - 1 cancellable events pending at once");
                self.slots.push(FREE);
                slot
            }
        };
        self.slots[slot as usize] = seq;
        self.heap.push(Entry::new(time, seq, slot, event));
        EventKey { slot, seq }
    }

    /// Cancels a pending event; `false` if it already ran or was already cancelled.
    pub fn cancel(&mut self, key: EventKey) -> bool {
        match self.slots.get_mut(key.slot as usize) {
            Some(holder) if *holder == key.seq => {
                *holder = FREE;
                self.free.push(key.slot);
                self.cancelled_in_heap += 1;
                true
            }
            _ => false,
        }
    }

    /// Removes and returns the next event (smallest time, then smallest sequence).
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.pop_due(SimTime::MAX)
    }

    /// Removes and returns the next event if it is due at or before `end`.
    pub fn pop_due(&mut self, end: SimTime) -> Option<(SimTime, E)> {
        while self.heap.peek()?.time() <= end {
            let entry = self.heap.pop().expect("peeked entry");
            if self.retire(&entry) {
                return Some((entry.time(), entry.event));
            }
        }
        None
    }

    /// The time of the next event, dropping cancelled entries on the way.
    pub fn peek_time(&mut self) -> Option<SimTime> {
        loop {
            let top = self.heap.peek()?;
            if top.slot == NO_SLOT || self.slots[top.slot as usize] == top.seq() {
                return Some(top.time());
            }
            self.heap.pop();
            self.cancelled_in_heap -= 1;
        }
    }

    /// Frees the entry's liveness slot; `false` if the entry was cancelled.
    fn retire(&mut self, entry: &Entry<E>) -> bool {
        if entry.slot == NO_SLOT {
            return true;
        }
        let holder = &mut self.slots[entry.slot as usize];
        if *holder != entry.seq() {
            self.cancelled_in_heap -= 1;
            return false;
        }
        *holder = FREE;
        self.free.push(entry.slot);
        true
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn equal_times_pop_in_insertion_order() {
        let mut q = EventQueue::new();
        let t = SimTime::from_nanos(5);
        for i in 0..10 {
            q.push(t, i);
        }
        q.push(SimTime::from_nanos(1), 99);
        assert_eq!(q.pop(), Some((SimTime::from_nanos(1), 99)));
        for i in 0..10 {
            assert_eq!(q.pop(), Some((t, i)));
        }
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn cancel_is_once_only_and_only_for_pending_events() {
        let mut q = EventQueue::new();
        let a = q.push_cancellable(SimTime::from_nanos(1), "a");
        assert!(q.cancel(a));
        assert!(!q.cancel(a));
        let b = q.push_cancellable(SimTime::from_nanos(2), "b"); // reuses a's slot
        assert!(
            !q.cancel(a),
            "a stale key must not cancel the event now in its slot"
        );
        let c = q.push_cancellable(SimTime::from_nanos(2), "c");
        assert_eq!(q.len(), 2);
        assert_eq!(q.peek_time(), Some(SimTime::from_nanos(2)));
        assert_eq!(q.pop(), Some((SimTime::from_nanos(2), "b")));
        assert!(!q.cancel(b), "an event that ran cannot be cancelled");
        assert!(
            q.cancel(c),
            "a later event at the same time is still pending"
        );
        assert!(q.is_empty());
        assert_eq!(q.pop(), None);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(u64, bool),
        Cancel(usize),
        Pop,
        Peek,
        PopDue(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            // Few distinct times, so many ties.
            4 => (0u64..50, any::<bool>()).prop_map(|(t, c)| Op::Push(t, c)),
            2 => any::<usize>().prop_map(Op::Cancel),
            3 => Just(Op::Pop),
            1 => Just(Op::Peek),
            2 => (0u64..60).prop_map(Op::PopDue),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The queue behaves exactly like a naive shadow: a BTreeMap keyed by (time, seq).
        #[test]
        fn matches_btreemap_shadow(ops in prop::collection::vec(op(), 0..300)) {
            let mut q = EventQueue::new();
            let mut shadow: BTreeMap<(u64, u64), u32> = BTreeMap::new();
            let mut keys: Vec<EventKey> = Vec::new();
            let mut next = 0u32;
            for op in ops {
                match op {
                    Op::Push(t, cancellable) => {
                        let seq = if cancellable {
                            let key = q.push_cancellable(SimTime::from_nanos(t), next);
                            keys.push(key);
                            key.seq()
                        } else {
                            q.push(SimTime::from_nanos(t), next);
                            u64::from(next) // seqs are assigned 0, 1, 2, ... like `next`
                        };
                        shadow.insert((t, seq), next);
                        next += 1;
                    }
                    Op::Cancel(i) => {
                        if keys.is_empty() { continue; }
                        let key = keys[i % keys.len()];
                        let pending = shadow.keys().find(|(_, seq)| *seq == key.seq()).copied();
                        prop_assert_eq!(q.cancel(key), pending.is_some());
                        if let Some(k) = pending { shadow.remove(&k); }
                    }
                    Op::Pop => {
                        let expected = shadow.pop_first().map(|((t, _), v)| (SimTime::from_nanos(t), v));
                        prop_assert_eq!(q.pop(), expected);
                    }
                    Op::Peek => {
                        let expected = shadow.keys().next().map(|(t, _)| SimTime::from_nanos(*t));
                        prop_assert_eq!(q.peek_time(), expected);
                    }
                    Op::PopDue(end) => {
                        let expected = match shadow.first_key_value() {
                            Some((&(t, seq), _)) if t <= end => {
                                let v = shadow.remove(&(t, seq)).unwrap();
                                Some((SimTime::from_nanos(t), v))
                            }
                            _ => None,
                        };
                        prop_assert_eq!(q.pop_due(SimTime::from_nanos(end)), expected);
                    }
                }
                prop_assert_eq!(q.len(), shadow.len());
            }
        }
    }
}
