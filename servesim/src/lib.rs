//! The servesim facade: scenarios, the simulation world, reports and the CLI.
//!
//! Re-exports the engine so that an embedding needs one dependency.

pub use servesim_core as core;

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
