//! Generates a 10 M-request synthetic stream through the full workload path (Poisson
//! arrivals, log-normal sizes, prefix blocks with a shared system prompt) and prints
//! requests generated per second and the peak resident memory, to show that memory
//! does not grow with the number of requests.
//!
//! `cargo bench -p servesim-traffic --bench generate [-- N]`

use std::path::Path;
use std::time::Instant;

use servesim_core::{RngStreams, SimDuration, SimTime};
use servesim_traffic::{Workload, WorkloadConfig};

const YAML: &str = "
streams:
  - name: synthetic
    class: chat
    shared_prefix_tokens: 1024
    open:
      arrival: {kind: gamma, rate_per_s: 1000, cv: 2}
      input: {kind: lognormal, mean: 2000, p50: 1200, max: 32000}
      output: {kind: lognormal, mean: 300, p50: 200, max: 4096}
  - name: users
    class: conversation
    closed:
      users: 100
      first_input: {kind: lognormal, mean: 3000, p50: 2500}
      followup_input: {kind: fixed, value: 100}
      output: {kind: fixed, value: 200}
      think_s: {kind: exponential, mean: 5}
      turns: {kind: uniform, min: 2, max: 6}
      max_input_tokens: 16000
";

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    // 1000 req/s open loop for 10,000 s, plus 100 conversing users: about 10.1 M requests.
    let secs: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let spec = WorkloadConfig::from_yaml_str(YAML, "bench")
        .and_then(|c| c.validate("traffic", Path::new(".")))
        .expect("valid bench workload");
    let mut w = Workload::new(&spec, &RngStreams::new(1)).expect("workload");
    let until = SimTime::ZERO + SimDuration::from_secs(secs).unwrap();
    let (mut tokens, mut blocks) = (0u64, 0u64);
    let mut last = SimTime::ZERO;
    let mut rss_at_tenth = None;
    let started = Instant::now();
    let count = w
        .run_standalone(until, SimDuration::from_secs(2).unwrap(), |r| {
            tokens += u64::from(r.input_tokens);
            blocks += r.prefix_blocks.len() as u64;
            assert!(r.arrival >= last, "arrivals went back in time");
            last = r.arrival;
            if rss_at_tenth.is_none() && r.arrival.as_secs_f64() >= secs as f64 / 10.0 {
                rss_at_tenth = peak_rss_kib();
            }
        })
        .expect("generation");
    let elapsed = started.elapsed().as_secs_f64();
    println!("requests generated: {count} over {secs} simulated s");
    println!("prompt tokens: {tokens}, prefix blocks: {blocks}");
    println!("wall time: {elapsed:.2} s");
    println!("requests/s generated: {:.0}", count as f64 / elapsed);
    println!(
        "peak RSS (VmHWM): {} KiB after 10% of the stream, {} KiB at the end",
        rss_at_tenth.unwrap_or(0),
        peak_rss_kib().unwrap_or(0)
    );
}
