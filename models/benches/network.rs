//! Benchmark of the network model (written next).
fn main() {}
