//! Engine throughput on a synthetic M/M/c queue: events handled per wall-second.
//!
//! Run: `cargo bench -p servesim-core --bench queueing`

fn main() {}
