//! A worker's paged KV cache with a prefix cache.
//!
//! The pool counts blocks of `block_tokens` tokens. A block is either free,
//! *private* to one sequence, or held by a *prefix-cache entry*. An entry
//! stands for one content block of the prompt (`blocks_per_entry` KV blocks,
//! e.g. 512 tokens as in Mooncake's `hash_ids`) and is keyed by the chained
//! hash of the prompt's leading content blocks, so equal keys mean equal
//! prefixes. Entries are reference-counted by the sequences using them; an
//! entry nobody references stays cached and is evicted least-recently-used
//! when blocks run short.
//!
//! The pool only counts; it never knows which sequence holds which private
//! block (the engine keeps that count per sequence).

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use servesim_core::hash::word_hash;

/// A prefix-cache key: the chained hash of the leading content blocks.
pub type PrefixKey = u64;

/// The chained keys of a prompt's content blocks: key `i` covers blocks `0..=i`.
pub fn chain_keys(block_ids: &[u64]) -> impl Iterator<Item = PrefixKey> + '_ {
    block_ids.iter().scan(0u64, |prev, &id| {
        *prev = word_hash(&[*prev, id]);
        Some(*prev)
    })
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    refs: u32,
    /// Stamp of its item in the LRU queue while unreferenced.
    lru_stamp: u64,
}

/// Block accounting of one worker.
#[derive(Clone, Debug)]
pub struct KvPool {
    total: u64,
    private: u64,
    blocks_per_entry: u64,
    prefix_caching: bool,
    /// Membership and lookup only; never iterated (order must not reach output).
    entries: FxHashMap<PrefixKey, Entry>,
    /// Unreferenced entries by release, oldest first, as `(stamp, key)` items.
    /// Deletion is lazy: an item is live only while its entry exists, is
    /// unreferenced and carries the same stamp; stale items are skipped when
    /// popped and dropped by a compaction once they outnumber the live ones.
    lru: VecDeque<(u64, PrefixKey)>,
    /// Live items in `lru`: the entries nobody references.
    evictable: usize,
    next_stamp: u64,
    hits: u64,
    lookups: u64,
}

impl KvPool {
    /// A pool of `total` blocks; a cache entry spans `blocks_per_entry` blocks.
    pub fn new(total: u64, blocks_per_entry: u64, prefix_caching: bool) -> Self {
        KvPool {
            total,
            private: 0,
            blocks_per_entry: blocks_per_entry.max(1),
            prefix_caching,
            entries: FxHashMap::default(),
            lru: VecDeque::new(),
            evictable: 0,
            next_stamp: 0,
            hits: 0,
            lookups: 0,
        }
    }

    /// Total blocks.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Blocks held by cache entries, referenced or not.
    pub fn cached(&self) -> u64 {
        self.entries.len() as u64 * self.blocks_per_entry
    }

    /// Blocks in use by sequences (private plus referenced cache entries).
    pub fn in_use(&self) -> u64 {
        self.private + (self.entries.len() - self.evictable) as u64 * self.blocks_per_entry
    }

    /// Blocks free now, not counting evictable cache entries.
    pub fn free(&self) -> u64 {
        self.total - self.private - self.cached()
    }

    /// Blocks that an allocation could get: free plus evictable.
    pub fn available(&self) -> u64 {
        self.free() + self.evictable as u64 * self.blocks_per_entry
    }

    /// Share of blocks in use by sequences, in `[0, 1]`.
    pub fn utilisation(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.in_use() as f64 / self.total as f64
        }
    }

    /// Content blocks looked up and found, over the pool's life.
    pub fn hit_stats(&self) -> (u64, u64) {
        (self.hits, self.lookups)
    }

    /// How many leading keys are cached (no side effect).
    pub fn cached_prefix_len(&self, keys: &[PrefixKey]) -> usize {
        if !self.prefix_caching {
            return 0;
        }
        keys.iter()
            .take_while(|k| self.entries.contains_key(k))
            .count()
    }

    /// Blocks of the given cached keys that nobody references (evictable now).
    pub fn unreferenced_blocks(&self, keys: &[PrefixKey]) -> u64 {
        let n = keys
            .iter()
            .filter(|k| self.entries.get(k).is_some_and(|e| e.refs == 0))
            .count();
        n as u64 * self.blocks_per_entry
    }

    /// Takes a reference on the first `n` keys (all cached, see
    /// [`cached_prefix_len`](Self::cached_prefix_len)).
    pub fn acquire_prefix(&mut self, keys: &[PrefixKey], n: usize) {
        self.lookups += keys.len() as u64;
        self.hits += n as u64;
        for key in &keys[..n] {
            let entry = self
                .entries
                .get_mut(key)
                .expect("acquired prefix is cached");
            if entry.refs == 0 {
                // Its LRU item goes stale.
                self.evictable -= 1;
            }
            entry.refs += 1;
        }
    }

    /// Allocates `n` private blocks, evicting unreferenced entries if needed.
    /// Returns `false` (and changes nothing) if they cannot be had.
    pub fn allocate(&mut self, n: u64) -> bool {
        if n > self.available() {
            return false;
        }
        while self.free() < n {
            let (stamp, key) = self
                .lru
                .pop_front()
                .expect("available() counted evictable entries");
            if let std::collections::hash_map::Entry::Occupied(e) = self.entries.entry(key)
                && e.get().refs == 0
                && e.get().lru_stamp == stamp
            {
                e.remove();
                self.evictable -= 1;
            }
        }
        self.private += n;
        true
    }

    /// Returns `n` private blocks to the pool.
    pub fn release_private(&mut self, n: u64) {
        debug_assert!(n <= self.private, "releasing more private blocks than held");
        self.private -= n;
    }

    /// Turns a sequence's private blocks for `keys` into referenced cache
    /// entries (after its prefill). Keys already cached (inserted meanwhile by
    /// another sequence) are shared instead, and the duplicate blocks freed.
    pub fn publish(&mut self, keys: &[PrefixKey]) {
        if !self.prefix_caching {
            return;
        }
        for &key in keys {
            self.private -= self.blocks_per_entry;
            match self.entries.get_mut(&key) {
                Some(entry) => {
                    if entry.refs == 0 {
                        // Its LRU item goes stale.
                        self.evictable -= 1;
                    }
                    entry.refs += 1;
                }
                None => {
                    self.entries.insert(
                        key,
                        Entry {
                            refs: 1,
                            lru_stamp: u64::MAX,
                        },
                    );
                }
            }
        }
    }

    /// Drops a sequence's references on `keys`; unreferenced entries become
    /// evictable, the deepest first (a prefix is useless without its root).
    pub fn release_prefix(&mut self, keys: &[PrefixKey]) {
        for key in keys.iter().rev() {
            let entry = self
                .entries
                .get_mut(key)
                .expect("released prefix is cached");
            entry.refs -= 1;
            if entry.refs == 0 {
                entry.lru_stamp = self.next_stamp;
                self.lru.push_back((self.next_stamp, *key));
                self.next_stamp += 1;
                self.evictable += 1;
            }
        }
        if self.lru.len() > 2 * self.evictable + 64 {
            self.compact_lru();
        }
    }

    /// Drops the stale LRU items, keeping the order of the live ones. Called
    /// when stale items are the majority, so its cost is amortised O(1) per release.
    fn compact_lru(&mut self) {
        let entries = &self.entries;
        self.lru.retain(|&(stamp, key)| {
            entries
                .get(&key)
                .is_some_and(|e| e.refs == 0 && e.lru_stamp == stamp)
        });
        debug_assert_eq!(self.lru.len(), self.evictable);
    }

    /// Blocks one cache entry spans.
    pub fn blocks_per_entry(&self) -> u64 {
        self.blocks_per_entry
    }

    /// Whether prefix caching is on.
    pub fn prefix_caching(&self) -> bool {
        self.prefix_caching
    }

    /// Forgets everything (a worker that died loses its cache).
    pub fn clear(&mut self) {
        self.private = 0;
        self.entries.clear();
        self.lru.clear();
        self.evictable = 0;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn chain_keys_depend_on_the_whole_prefix() {
        let a: Vec<_> = chain_keys(&[1, 2, 3]).collect();
        let b: Vec<_> = chain_keys(&[1, 2, 4]).collect();
        let c: Vec<_> = chain_keys(&[9, 2, 3]).collect();
        assert_eq!(a[..2], b[..2]);
        assert_ne!(a[2], b[2]);
        assert!(a.iter().zip(&c).all(|(x, y)| x != y));
    }

    #[test]
    fn cache_hits_share_and_lru_evicts_oldest_unreferenced() {
        let mut pool = KvPool::new(100, 10, true);
        let k1: Vec<_> = chain_keys(&[1, 2]).collect();
        assert!(pool.allocate(25)); // 2 entries + 5 tail blocks
        pool.publish(&k1);
        assert_eq!((pool.private, pool.cached(), pool.free()), (5, 20, 75));
        pool.release_private(5);
        pool.release_prefix(&k1);
        assert_eq!(pool.in_use(), 0);
        assert_eq!(pool.available(), 100);
        // A second request with the same first block hits it.
        let k2: Vec<_> = chain_keys(&[1, 7]).collect();
        assert_eq!(pool.cached_prefix_len(&k2), 1);
        pool.acquire_prefix(&k2, 1);
        assert_eq!(pool.in_use(), 10);
        // Needing 90 blocks evicts the unreferenced entry [1,2] but not [1].
        assert!(pool.allocate(90));
        assert_eq!(pool.cached_prefix_len(&k1), 1);
        assert!(!pool.allocate(1), "full");
        assert_eq!(pool.hit_stats(), (1, 2));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Admit(Vec<u64>, u64),
        Finish(usize),
    }

    proptest! {
        /// Blocks in use never exceed capacity, and counts always add up.
        #[test]
        fn accounting_adds_up(ops in prop::collection::vec(
            prop_oneof![
                (prop::collection::vec(0u64..4, 0..4), 0u64..30).prop_map(|(p, t)| Op::Admit(p, t)),
                any::<usize>().prop_map(Op::Finish),
            ], 0..200)) {
            let mut pool = KvPool::new(200, 8, true);
            let mut live: Vec<(Vec<PrefixKey>, u64)> = Vec::new();
            for op in ops {
                match op {
                    Op::Admit(ids, tail) => {
                        let keys: Vec<_> = chain_keys(&ids).collect();
                        let hit = pool.cached_prefix_len(&keys);
                        let need = (keys.len() - hit) as u64 * 8 + tail;
                        // Reusing an unreferenced entry takes it out of the evictable blocks.
                        if pool.available() - pool.unreferenced_blocks(&keys[..hit]) >= need {
                            pool.acquire_prefix(&keys, hit);
                            prop_assert!(pool.allocate(need));
                            pool.publish(&keys[hit..]);
                            live.push((keys, tail));
                        } else if pool.available() < need {
                            prop_assert!(!pool.allocate(need), "allocation beyond what is available");
                        }
                    }
                    Op::Finish(i) => {
                        if live.is_empty() { continue; }
                        let (keys, tail) = live.swap_remove(i % live.len());
                        pool.release_private(tail);
                        pool.release_prefix(&keys);
                    }
                }
                prop_assert!(pool.in_use() <= pool.total());
                prop_assert!(pool.private + pool.cached() <= pool.total());
                prop_assert_eq!(pool.private, live.iter().map(|(_, t)| t).sum::<u64>());
            }
        }

        /// Eviction takes the least recently released unreferenced entry, deepest
        /// first within one release, exactly as an eager LRU list would; stale
        /// queue items never outnumber live ones by much.
        #[test]
        fn lru_evicts_like_an_eager_list(ops in prop::collection::vec(
            prop_oneof![
                (prop::collection::vec(0u64..3, 0..5), 0u64..40).prop_map(|(p, t)| Op::Admit(p, t)),
                any::<usize>().prop_map(Op::Finish),
            ], 0..400)) {
            let mut pool = KvPool::new(120, 4, true);
            let mut model = EagerLru::default();
            let mut live: Vec<(Vec<PrefixKey>, u64)> = Vec::new();
            let mut seen: Vec<PrefixKey> = Vec::new();
            for op in ops {
                match op {
                    Op::Admit(ids, tail) => {
                        let keys: Vec<_> = chain_keys(&ids).collect();
                        seen.extend(&keys);
                        let hit = pool.cached_prefix_len(&keys);
                        prop_assert_eq!(hit, model.cached_prefix_len(&keys));
                        let need = (keys.len() - hit) as u64 * 4 + tail;
                        if pool.available() - pool.unreferenced_blocks(&keys[..hit]) >= need {
                            pool.acquire_prefix(&keys, hit);
                            model.acquire(&keys[..hit]);
                            prop_assert!(pool.allocate(need));
                            model.allocate(need, pool.private, pool.total, 4);
                            pool.publish(&keys[hit..]);
                            model.publish(&keys[hit..]);
                            live.push((keys, tail));
                        }
                    }
                    Op::Finish(i) => {
                        if live.is_empty() { continue; }
                        let (keys, tail) = live.swap_remove(i % live.len());
                        pool.release_private(tail);
                        pool.release_prefix(&keys);
                        model.release(&keys);
                    }
                }
                for k in &seen {
                    prop_assert_eq!(pool.entries.contains_key(k), model.refs.contains_key(k));
                }
                prop_assert_eq!(pool.evictable, model.order.len());
                // Compaction runs on release, so stale items are bounded by the entries.
                prop_assert!(pool.lru.len() as u64 <= 2 * pool.total / 4 + 64);
            }
        }
    }

    /// The reference for the lazy LRU: refs per cached key and an explicit
    /// list of the unreferenced keys, oldest release first.
    #[derive(Default)]
    struct EagerLru {
        refs: std::collections::BTreeMap<PrefixKey, u32>,
        order: Vec<PrefixKey>,
    }

    impl EagerLru {
        fn cached_prefix_len(&self, keys: &[PrefixKey]) -> usize {
            keys.iter()
                .take_while(|k| self.refs.contains_key(k))
                .count()
        }
        fn take(&mut self, key: PrefixKey) {
            let r = self.refs.entry(key).or_insert(0);
            if *r == 0 {
                self.order.retain(|&k| k != key);
            }
            *r += 1;
        }
        fn acquire(&mut self, keys: &[PrefixKey]) {
            keys.iter().for_each(|&k| self.take(k));
        }
        fn publish(&mut self, keys: &[PrefixKey]) {
            keys.iter().for_each(|&k| self.take(k));
        }
        fn release(&mut self, keys: &[PrefixKey]) {
            for &k in keys.iter().rev() {
                let r = self.refs.get_mut(&k).unwrap();
                *r -= 1;
                if *r == 0 {
                    self.order.push(k);
                }
            }
        }
        /// Evicts oldest first until `private` (after the allocation) fits.
        fn allocate(&mut self, _need: u64, private: u64, total: u64, per_entry: u64) {
            while private + self.refs.len() as u64 * per_entry > total {
                let k = self.order.remove(0);
                self.refs.remove(&k);
            }
        }
    }

    #[test]
    fn stale_lru_items_are_compacted() {
        let mut pool = KvPool::new(10_000, 1, true);
        let keys: Vec<_> = chain_keys(&(0..50).collect::<Vec<_>>()).collect();
        pool.allocate(50);
        pool.publish(&keys);
        for _ in 0..20 {
            pool.release_prefix(&keys);
            assert!(
                pool.lru.len() <= 2 * 50 + 64,
                "{} items kept",
                pool.lru.len()
            );
            pool.acquire_prefix(&keys, keys.len());
        }
        assert_eq!(pool.evictable, 0);
        pool.release_prefix(&keys);
        assert_eq!(pool.available(), 10_000);
        // Evicts deepest first: the root stays.
        assert!(pool.allocate(9_999));
        assert_eq!(pool.cached_prefix_len(&keys), 1);
    }
}
