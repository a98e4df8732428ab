//! Seeded randomness: one seed per run, one named stream per component.
//!
//! Every stream is a ChaCha12 generator keyed by the run's seed, on a ChaCha
//! *stream id* derived from the stream's name by a stable hash. Streams are
//! therefore independent of one another and of the order in which they are
//! created: adding a component (a new name) never changes the draws of the
//! others, which is what makes A/B runs see identical traffic.

use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;

use crate::hash::stable_hash;

/// The generator behind every stream: portable and reproducible on any platform.
pub type StreamRng = ChaCha12Rng;

/// The source of all randomness in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngStreams {
    seed: u64,
}

impl RngStreams {
    /// Streams derived from `seed`. There is no default seed on purpose.
    pub fn new(seed: u64) -> Self {
        RngStreams { seed }
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The stream named `name` (e.g. `"traffic/storm"`). The same name always
    /// gives the same sequence for a given seed.
    pub fn stream(&self, name: &str) -> StreamRng {
        self.make(stable_hash(name))
    }

    /// The `index`-th member of a family of streams (e.g. one per user).
    pub fn substream(&self, name: &str, index: u64) -> StreamRng {
        self.make(stable_hash(&(name, index)))
    }

    fn make(&self, stream_id: u64) -> StreamRng {
        let mut rng = ChaCha12Rng::seed_from_u64(self.seed);
        rng.set_stream(stream_id);
        rng
    }
}

#[cfg(test)]
mod tests {
    use rand::RngExt;

    use super::*;

    fn draws(mut rng: StreamRng) -> Vec<u64> {
        (0..16).map(|_| rng.random()).collect()
    }

    #[test]
    fn same_seed_and_name_same_draws() {
        let a = RngStreams::new(7);
        let b = RngStreams::new(7);
        assert_eq!(draws(a.stream("traffic")), draws(b.stream("traffic")));
        assert_ne!(
            draws(a.stream("traffic")),
            draws(RngStreams::new(8).stream("traffic"))
        );
    }

    #[test]
    fn streams_are_independent_of_each_other_and_of_creation_order() {
        let s = RngStreams::new(42);
        // Draw heavily from another stream first: "traffic" must not notice.
        let mut planner = s.stream("planner");
        for _ in 0..1000 {
            let _: u64 = planner.random();
        }
        let late = draws(s.stream("traffic"));
        let early = draws(RngStreams::new(42).stream("traffic"));
        assert_eq!(late, early);
        assert_ne!(draws(s.stream("traffic")), draws(s.stream("planner")));
        assert_ne!(draws(s.substream("user", 0)), draws(s.substream("user", 1)));
    }

    #[test]
    fn draws_are_pinned_across_platforms_and_releases() {
        // A golden value: if this changes, every stored result changes too.
        let mut rng = RngStreams::new(1).stream("golden");
        let first: u64 = rng.random();
        assert_eq!(first, GOLDEN_FIRST_DRAW, "RNG derivation changed");
    }

    const GOLDEN_FIRST_DRAW: u64 = 17_756_572_135_112_856_167;
}
