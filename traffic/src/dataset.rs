//! A benchmark client's dataset: the prompts it draws its requests from.
//!
//! aiperf does not send a fresh prompt per request. Before the run it generates
//! `--num-dataset-entries` synthetic entries (default 100; each a prompt of a drawn length
//! and its `max_tokens`) and hands them out through its dataset sampler, by default
//! `shuffle`: every entry once in a random order, then a new order, and so on ("similar to
//! music shuffle", `ShuffleSampler` in `aiperf/dataset/dataset_samplers.py`, v0.3.0 to
//! v0.13.0; `NUM_DATASET_ENTRIES = 100`, `DATASET_SAMPLING_STRATEGY = SHUFFLE`). A run of
//! more requests than entries repeats prompts, which a server with prefix caching (vLLM V1,
//! SGLang's radix cache and TensorRT-LLM's block reuse are all on by default) finds in its
//! cache. The warm-up and the measured phase share the one sampler.

use rand::seq::SliceRandom;
use servesim_core::StreamRng;

use crate::dist::Dist;

/// Most entries one dataset may hold (each is drawn before the run).
pub const MAX_DATASET_ENTRIES: u32 = 10_000_000;

/// aiperf's default `--num-dataset-entries`.
pub const AIPERF_DATASET_ENTRIES: u32 = 100;

/// The entries and the sampler's place in its current order.
#[derive(Debug)]
pub(crate) struct Dataset {
    /// `(prompt tokens, output tokens)` of each entry.
    entries: Vec<(u32, u32)>,
    /// The current pass's order of entries.
    order: Vec<u32>,
    /// Next position in `order`.
    next: usize,
    shuffle_rng: StreamRng,
}

/// One entry handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Its index: equal indices are equal prompts.
    pub index: u32,
    pub input: u32,
    pub output: u32,
}

impl Dataset {
    /// `n` entries (`n > 0`), their sizes drawn from `isl` and `osl` with `size_rng`.
    pub(crate) fn generate(
        n: u32,
        isl: &Dist,
        osl: &Dist,
        size_rng: &mut StreamRng,
        mut shuffle_rng: StreamRng,
    ) -> Dataset {
        let entries = (0..n)
            .map(|_| (isl.sample_count(size_rng, 1), osl.sample_count(size_rng, 1)))
            .collect();
        let mut order: Vec<u32> = (0..n).collect();
        order.shuffle(&mut shuffle_rng);
        Dataset {
            entries,
            order,
            next: 0,
            shuffle_rng,
        }
    }

    /// The next entry; a pass that has handed out every entry starts again in a new order.
    pub(crate) fn next(&mut self) -> Entry {
        if self.next == self.order.len() {
            self.order.shuffle(&mut self.shuffle_rng);
            self.next = 0;
        }
        let index = self.order[self.next];
        self.next += 1;
        let (input, output) = self.entries[index as usize];
        Entry {
            index,
            input,
            output,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::DistConfig;
    use servesim_core::RngStreams;

    fn dataset(n: u32, seed: u64) -> Dataset {
        let rng = RngStreams::new(seed);
        let isl = DistConfig::Normal {
            mean: 1000.0,
            std: 100.0,
            min: Some(1.0),
            max: None,
        }
        .validate("isl")
        .unwrap();
        let osl = DistConfig::Fixed { value: 50.0 }.validate("osl").unwrap();
        Dataset::generate(
            n,
            &isl,
            &osl,
            &mut rng.stream("sizes"),
            rng.stream("shuffle"),
        )
    }

    #[test]
    fn every_pass_hands_out_each_entry_once() {
        let mut d = dataset(7, 1);
        for _pass in 0..5 {
            let mut seen: Vec<u32> = (0..7).map(|_| d.next().index).collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..7).collect::<Vec<_>>());
        }
    }

    #[test]
    fn an_entry_keeps_its_sizes_and_passes_change_order() {
        let mut d = dataset(50, 2);
        let first: Vec<Entry> = (0..50).map(|_| d.next()).collect();
        let second: Vec<Entry> = (0..50).map(|_| d.next()).collect();
        assert_ne!(
            first.iter().map(|e| e.index).collect::<Vec<_>>(),
            second.iter().map(|e| e.index).collect::<Vec<_>>(),
            "a new pass is reshuffled"
        );
        for e in &second {
            let twin = first.iter().find(|f| f.index == e.index).unwrap();
            assert_eq!((twin.input, twin.output), (e.input, e.output));
        }
        assert!(
            first.iter().any(|e| e.input != first[0].input),
            "sizes drawn per entry"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let (mut a, mut b) = (dataset(10, 3), dataset(10, 3));
        for _ in 0..35 {
            assert_eq!(a.next(), b.next());
        }
    }
}
