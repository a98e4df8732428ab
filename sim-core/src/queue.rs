//! The pending-event set.
//!
//! **Tie rule.** Events are popped in order of `(time, insertion sequence)`:
//! the earliest time first, and among events at the same time the one
//! scheduled first comes out first (FIFO). The sequence number is global to
//! the queue and never reused, so the order is total and independent of the
//! event payloads, the heap layout or the platform.
//!
//! **Cancellation** is O(1): payloads live in a slab, the heap holds only
//! `(time, seq, slot)`; cancelling empties the slot, and the stale heap entry
//! is skipped when it reaches the top.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::SimTime;

/// Handle to a scheduled event, used to cancel it.
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    time: SimTime,
    seq: u64,
    slot: u32,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the smallest (time, seq) is on top.
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

struct Slot<E> {
    seq: u64,
    event: Option<E>,
}

/// A priority queue of events ordered by `(time, insertion sequence)`.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry>,
    slots: Vec<Slot<E>>,
    free: Vec<u32>,
    next_seq: u64,
    live: usize,
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
            live: 0,
        }
    }

    /// Number of scheduled, not yet cancelled or popped, events.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when no event is pending.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Schedules `event` at `time` and returns its key.
    pub fn push(&mut self, time: SimTime, event: E) -> EventKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Slot {
                    seq,
                    event: Some(event),
                };
                slot
            }
            None => {
                let slot =
                    u32::try_from(self.slots.len()).expect("more than 2^32 events pending at once");
                self.slots.push(Slot {
                    seq,
                    event: Some(event),
                });
                slot
            }
        };
        self.heap.push(Entry { time, seq, slot });
        self.live += 1;
        EventKey { slot, seq }
    }

    /// Cancels a pending event and returns it; `None` if it already ran or was cancelled.
    pub fn cancel(&mut self, key: EventKey) -> Option<E> {
        let slot = self.slots.get_mut(key.slot as usize)?;
        if slot.seq != key.seq {
            return None;
        }
        let event = slot.event.take()?;
        self.free.push(key.slot);
        self.live -= 1;
        Some(event)
    }

    /// Removes and returns the next event (smallest time, then smallest sequence).
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        while let Some(entry) = self.heap.pop() {
            if let Some(event) = self.take_live(entry) {
                return Some((entry.time, event));
            }
        }
        None
    }

    /// The time of the next event, dropping cancelled entries on the way.
    pub fn peek_time(&mut self) -> Option<SimTime> {
        while let Some(&entry) = self.heap.peek() {
            let slot = &self.slots[entry.slot as usize];
            if slot.seq == entry.seq && slot.event.is_some() {
                return Some(entry.time);
            }
            self.heap.pop();
        }
        None
    }

    fn take_live(&mut self, entry: Entry) -> Option<E> {
        let slot = &mut self.slots[entry.slot as usize];
        if slot.seq != entry.seq {
            return None; // cancelled, slot reused since
        }
        let event = slot.event.take()?; // cancelled, slot not yet reused
        self.free.push(entry.slot);
        self.live -= 1;
        Some(event)
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
    fn cancel_is_once_only_and_survives_slot_reuse() {
        let mut q = EventQueue::new();
        let a = q.push(SimTime::from_nanos(1), "a");
        assert_eq!(q.cancel(a), Some("a"));
        assert_eq!(q.cancel(a), None);
        let b = q.push(SimTime::from_nanos(2), "b"); // reuses a's slot
        assert_eq!(
            q.cancel(a),
            None,
            "a stale key must not cancel the new event"
        );
        assert_eq!(q.len(), 1);
        assert_eq!(q.peek_time(), Some(SimTime::from_nanos(2)));
        assert_eq!(q.pop(), Some((SimTime::from_nanos(2), "b")));
        assert_eq!(q.cancel(b), None);
        assert!(q.is_empty());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(u64),
        Cancel(usize),
        Pop,
        Peek,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u64..50).prop_map(Op::Push), // few distinct times: many ties
            2 => any::<usize>().prop_map(Op::Cancel),
            3 => Just(Op::Pop),
            1 => Just(Op::Peek),
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
                    Op::Push(t) => {
                        let key = q.push(SimTime::from_nanos(t), next);
                        shadow.insert((t, key.seq()), next);
                        keys.push(key);
                        next += 1;
                    }
                    Op::Cancel(i) => {
                        if keys.is_empty() { continue; }
                        let key = keys[i % keys.len()];
                        let expected = shadow.iter()
                            .find(|((_, seq), _)| *seq == key.seq())
                            .map(|(k, v)| (*k, *v));
                        let got = q.cancel(key);
                        match expected {
                            Some((k, v)) => { shadow.remove(&k); prop_assert_eq!(got, Some(v)); }
                            None => prop_assert_eq!(got, None),
                        }
                    }
                    Op::Pop => {
                        let expected = shadow.pop_first().map(|((t, _), v)| (SimTime::from_nanos(t), v));
                        prop_assert_eq!(q.pop(), expected);
                    }
                    Op::Peek => {
                        let expected = shadow.keys().next().map(|(t, _)| SimTime::from_nanos(*t));
                        prop_assert_eq!(q.peek_time(), expected);
                    }
                }
                prop_assert_eq!(q.len(), shadow.len());
            }
        }
    }
}
