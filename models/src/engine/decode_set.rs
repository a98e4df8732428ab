//! The running decode sequences of one worker, advanced per step, not per token.
//!
//! Every decode step adds one token to every member. So instead of touching
//! each member each step, a member records the step count when it joined and
//! its KV length then; everything else is derived:
//! - its KV length now is `base_len + (step - joined)`;
//! - the sum of KV lengths is `count × step + Σ(base_len − joined)`;
//! - it finishes at step `joined + remaining` (a min-ordered set gives the
//!   members finishing at this step);
//! - it needs a new KV block at step `g` exactly when `g ≡ joined − base_len
//!   (mod block)`, so a per-phase counter gives the blocks needed this step.
//!
//! A step costs O(1) plus O(log n) per member that joins or leaves.

use std::collections::{BTreeMap, BTreeSet};

servesim_core::define_key! {
    /// A sequence's slot in its worker's engine (reused once the sequence leaves the worker).
    pub struct Slot(u32);
}

/// What the decode set remembers of one member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Decode steps completed by the worker when it joined.
    pub joined: u64,
    /// Its KV length when it joined.
    pub base_len: u64,
    /// The step after which it has produced all its tokens.
    pub finish: u64,
    /// Admission order on this worker (the newest is preempted first).
    pub admit_order: u64,
}

/// The decode members of a worker.
#[derive(Clone, Debug)]
pub struct DecodeSet {
    step: u64,
    block_tokens: u64,
    count: u64,
    /// Σ (base_len − joined), as i128 to stay exact over any run length.
    offset_sum: i128,
    /// Σ finish step of the members.
    finish_sum: u128,
    finishing: BTreeSet<(u64, Slot)>,
    /// Admission order → (slot, step joined); joined steps grow with admission order.
    by_admission: BTreeMap<u64, (Slot, u64)>,
    phase_counts: Vec<u32>,
}

impl DecodeSet {
    /// An empty set for blocks of `block_tokens` tokens.
    pub fn new(block_tokens: u32) -> Self {
        DecodeSet {
            step: 0,
            block_tokens: u64::from(block_tokens.max(1)),
            count: 0,
            offset_sum: 0,
            finish_sum: 0,
            finishing: BTreeSet::new(),
            by_admission: BTreeMap::new(),
            phase_counts: vec![0; block_tokens.max(1) as usize],
        }
    }

    /// Decode steps completed so far.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Members.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// True when no sequence is decoding.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Σ KV length of the members now.
    pub fn kv_tokens(&self) -> u64 {
        (self.count as i128 * self.step as i128 + self.offset_sum) as u64
    }

    fn phase(&self, m: &Member) -> usize {
        (m.joined as i128 - m.base_len as i128).rem_euclid(self.block_tokens as i128) as usize
    }

    /// Adds a member with KV length `kv_len` that still has `remaining ≥ 1` tokens to make.
    pub fn join(&mut self, slot: Slot, kv_len: u64, remaining: u64, admit_order: u64) -> Member {
        debug_assert!(remaining >= 1);
        let m = Member {
            joined: self.step,
            base_len: kv_len,
            finish: self.step + remaining,
            admit_order,
        };
        self.count += 1;
        self.offset_sum += kv_len as i128 - m.joined as i128;
        self.finish_sum += u128::from(m.finish);
        self.finishing.insert((m.finish, slot));
        self.by_admission.insert(admit_order, (slot, m.joined));
        let p = self.phase(&m);
        self.phase_counts[p] += 1;
        m
    }

    /// Removes a member (finished or preempted).
    pub fn leave(&mut self, slot: Slot, m: &Member) {
        self.count -= 1;
        self.offset_sum -= m.base_len as i128 - m.joined as i128;
        self.finish_sum -= u128::from(m.finish);
        self.finishing.remove(&(m.finish, slot));
        self.by_admission.remove(&m.admit_order);
        let p = self.phase(m);
        self.phase_counts[p] -= 1;
    }

    /// Σ output tokens the members have still to make.
    pub fn remaining_tokens(&self) -> u64 {
        (self.finish_sum - u128::from(self.count) * u128::from(self.step)) as u64
    }

    /// The members' slots, oldest admission first.
    pub fn slots(&self) -> impl Iterator<Item = Slot> + '_ {
        self.by_admission.values().map(|&(slot, _)| slot)
    }

    /// KV length of a member now.
    pub fn kv_len(&self, m: &Member) -> u64 {
        m.base_len + (self.step - m.joined)
    }

    /// Tokens made by a member since it joined.
    pub fn made_since_join(&self, m: &Member) -> u64 {
        self.step - m.joined
    }

    /// New blocks the next step needs (members whose KV length is a multiple of the block).
    pub fn blocks_needed_next_step(&self) -> u64 {
        u64::from(self.phase_counts[(self.step % self.block_tokens) as usize])
    }

    /// The newest member, the one to preempt first.
    pub fn newest(&self) -> Option<Slot> {
        self.by_admission
            .last_key_value()
            .map(|(_, &(slot, _))| slot)
    }

    /// The step at which the longest-running member joined.
    pub fn oldest_join(&self) -> Option<u64> {
        self.by_admission
            .first_key_value()
            .map(|(_, &(_, joined))| joined)
    }

    /// Advances one step; `done` receives the members that made their last
    /// token (in slot order among equals, which is deterministic).
    pub fn advance(&mut self, done: &mut Vec<Slot>) {
        self.step += 1;
        done.clear();
        // The caller calls `leave` for each, which removes it from `finishing`.
        done.extend(
            self.finishing
                .iter()
                .take_while(|&&(finish, _)| finish <= self.step)
                .map(|&(_, slot)| slot),
        );
    }
}

/// Maximum of the step gaps over any suffix of steps, in O(log n) per query.
///
/// A monotonic stack of `(step, gap)` with gaps strictly decreasing from the
/// bottom: a gap hides every earlier gap that is not larger, since any suffix
/// query that includes the earlier one includes it too.
#[derive(Clone, Debug, Default)]
pub struct SuffixMax {
    stack: Vec<(u64, u64)>,
}

impl SuffixMax {
    /// Records the gap of step `step` (steps must increase).
    pub fn push(&mut self, step: u64, gap: u64) {
        while self.stack.last().is_some_and(|&(_, g)| g <= gap) {
            self.stack.pop();
        }
        self.stack.push((step, gap));
    }

    /// The largest gap among steps `≥ from`, if any was recorded.
    pub fn max_since(&self, from: u64) -> Option<u64> {
        let i = self.stack.partition_point(|&(s, _)| s < from);
        self.stack.get(i).map(|&(_, g)| g)
    }

    /// Forgets steps before `from` (no member can ask about them any more).
    pub fn forget_before(&mut self, from: u64) {
        let i = self.stack.partition_point(|&(s, _)| s < from);
        self.stack.drain(..i);
    }

    /// Entries held (for memory checks).
    pub fn len(&self) -> usize {
        self.stack.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.stack.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use servesim_core::Key;

    use super::*;

    #[test]
    fn kv_sum_and_finishes_are_derived() {
        let (s0, s1) = (Slot::from_index(0), Slot::from_index(1));
        let mut d = DecodeSet::new(4);
        let a = d.join(s0, 10, 3, 0);
        d.advance(&mut vec![]);
        let b = d.join(s1, 4, 1, 1);
        assert_eq!(d.kv_tokens(), 11 + 4);
        let mut done = vec![];
        d.advance(&mut done);
        assert_eq!(done, vec![s1]);
        d.leave(s1, &b);
        d.advance(&mut done);
        assert_eq!(done, vec![s0]);
        assert_eq!(d.kv_len(&a), 13);
        d.leave(s0, &a);
        assert!(d.is_empty());
        assert_eq!(d.kv_tokens(), 0);
    }

    proptest! {
        /// The O(1) block counter equals a per-member scan.
        #[test]
        fn block_needs_match_a_naive_scan(
            joins in prop::collection::vec((1u64..40, 1u64..30, 0u64..5), 1..30),
            block in 1u32..9,
        ) {
            let mut d = DecodeSet::new(block);
            let mut members: Vec<(Slot, Member)> = vec![];
            let mut done = vec![];
            for (i, (len, remaining, wait)) in joins.into_iter().enumerate() {
                for _ in 0..wait {
                    let naive: u64 = members.iter()
                        .filter(|(_, m)| d.kv_len(m).is_multiple_of(u64::from(block))).count() as u64;
                    prop_assert_eq!(d.blocks_needed_next_step(), naive);
                    let naive_kv: u64 = members.iter().map(|(_, m)| d.kv_len(m)).sum();
                    prop_assert_eq!(d.kv_tokens(), naive_kv);
                    d.advance(&mut done);
                    for &slot in &done {
                        let pos = members.iter().position(|(s, _)| *s == slot).unwrap();
                        let (s, m) = members.swap_remove(pos);
                        prop_assert_eq!(m.finish, d.step());
                        d.leave(s, &m);
                    }
                }
                let m = d.join(Slot::from_index(i), len, remaining, i as u64);
                members.push((Slot::from_index(i), m));
            }
        }

        /// Suffix maxima equal a scan over the recorded gaps.
        #[test]
        fn suffix_max_matches_scan(gaps in prop::collection::vec(0u64..100, 1..60), q in 0u64..70) {
            let mut s = SuffixMax::default();
            for (i, &g) in gaps.iter().enumerate() {
                s.push(i as u64, g);
            }
            let naive = gaps.iter().enumerate().filter(|(i, _)| *i as u64 >= q).map(|(_, g)| *g).max();
            prop_assert_eq!(s.max_since(q), naive);
        }
    }
}
