//! Summary statistics of a request stream (`servesim traffic stats`).
//!
//! Token counts are kept as exact value → count tables, so percentiles are exact and
//! memory is bounded by the number of distinct sizes. Counting reusable prefix blocks
//! needs the set of block ids seen, which grows with distinct blocks.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::Serialize;
use servesim_core::SimTime;

use crate::request::Request;

/// Accumulates statistics, overall and per class.
#[derive(Debug)]
pub struct StatsBuilder {
    classes: Vec<String>,
    total: Acc,
    per_class: Vec<Acc>,
    seen: HashSet<u64>,
}

#[derive(Debug, Default)]
struct Acc {
    count: u64,
    first: Option<SimTime>,
    last: SimTime,
    input: BTreeMap<u32, u64>,
    output: BTreeMap<u32, u64>,
    blocks: u64,
    reusable: u64,
}

/// Statistics of a set of requests.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stats {
    /// Everything.
    pub total: ClassStats,
    /// One entry per class that has requests, in class-table order.
    pub classes: Vec<ClassStats>,
}

/// Statistics of one class (or of everything, with class `*`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassStats {
    /// Class name.
    pub class: String,
    /// Requests.
    pub count: u64,
    /// First arrival, seconds.
    pub first_s: f64,
    /// Last arrival minus first, seconds.
    pub span_s: f64,
    /// Requests per second over the span; none with fewer than two requests or all at one
    /// instant (closed-loop users answered at once: `--response-s`).
    pub rate_per_s: Option<f64>,
    /// Prompt tokens.
    pub input: Summary,
    /// Output tokens.
    pub output: Summary,
    /// Prefix blocks in all prompts.
    pub blocks: u64,
    /// Share of those blocks already seen in an earlier prompt (of any class).
    pub reusable_block_share: f64,
}

/// Mean and percentiles of a token count.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u32,
    /// 99th percentile.
    pub p99: u32,
    /// Largest.
    pub max: u32,
}

impl StatsBuilder {
    /// A builder for a workload with these class names.
    pub fn new(classes: &[String]) -> Self {
        StatsBuilder {
            classes: classes.to_vec(),
            total: Acc::default(),
            per_class: classes.iter().map(|_| Acc::default()).collect(),
            seen: HashSet::new(),
        }
    }

    /// Counts one request (in arrival order).
    pub fn record(&mut self, r: &Request) {
        let reusable = r
            .prefix_blocks
            .iter()
            .filter(|&&b| !self.seen.insert(b))
            .count() as u64;
        for acc in [&mut self.total, &mut self.per_class[usize::from(r.class.0)]] {
            acc.count += 1;
            acc.first.get_or_insert(r.arrival);
            acc.last = r.arrival;
            *acc.input.entry(r.input_tokens).or_default() += 1;
            *acc.output.entry(r.output_tokens).or_default() += 1;
            acc.blocks += r.prefix_blocks.len() as u64;
            acc.reusable += reusable;
        }
    }

    /// The statistics so far.
    pub fn finish(&self) -> Stats {
        Stats {
            total: self.total.summary("*"),
            classes: self
                .per_class
                .iter()
                .zip(&self.classes)
                .filter(|(a, _)| a.count > 0)
                .map(|(a, name)| a.summary(name))
                .collect(),
        }
    }
}

impl Acc {
    fn summary(&self, class: &str) -> ClassStats {
        let first = self.first.unwrap_or(SimTime::ZERO);
        let span = self.last.saturating_duration_since(first).as_secs_f64();
        ClassStats {
            class: class.to_string(),
            count: self.count,
            first_s: first.as_secs_f64(),
            span_s: span,
            // Gaps between arrivals: one fewer than arrivals.
            rate_per_s: (self.count > 1 && span > 0.0).then(|| (self.count - 1) as f64 / span),
            input: summarize(&self.input, self.count),
            output: summarize(&self.output, self.count),
            blocks: self.blocks,
            reusable_block_share: if self.blocks > 0 {
                self.reusable as f64 / self.blocks as f64
            } else {
                0.0
            },
        }
    }
}

/// Exact percentiles (nearest rank) from a value → count table.
fn summarize(table: &BTreeMap<u32, u64>, n: u64) -> Summary {
    let sum: f64 = table.iter().map(|(&v, &c)| f64::from(v) * c as f64).sum();
    let rank = |q: f64| -> u32 {
        let target = ((q * n as f64).ceil() as u64).max(1);
        let mut acc = 0;
        for (&v, &c) in table {
            acc += c;
            if acc >= target {
                return v;
            }
        }
        0
    };
    Summary {
        mean: if n > 0 { sum / n as f64 } else { 0.0 },
        p50: rank(0.5),
        p99: rank(0.99),
        max: table.keys().next_back().copied().unwrap_or(0),
    }
}

impl Stats {
    /// As pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self
            .classes
            .iter()
            .map(|c| c.class.len())
            .max()
            .unwrap_or(0)
            .max(5);
        writeln!(
            f,
            "{:<w$} {:>9} {:>10} {:>9} {:>9} {:>7} {:>7} {:>9} {:>7} {:>7} {:>9}",
            "class",
            "requests",
            "span_s",
            "rate/s",
            "in_mean",
            "in_p50",
            "in_p99",
            "out_mean",
            "out_p50",
            "out_p99",
            "reusable"
        )?;
        for c in self.classes.iter().chain([&self.total]) {
            writeln!(
                f,
                "{:<w$} {:>9} {:>10.1} {:>9} {:>9.1} {:>7} {:>7} {:>9.1} {:>7} {:>7} {:>8.1}%",
                c.class,
                c.count,
                c.span_s,
                c.rate_per_s.map_or("-".into(), |r| format!("{r:.3}")),
                c.input.mean,
                c.input.p50,
                c.input.p99,
                c.output.mean,
                c.output.p50,
                c.output.p99,
                100.0 * c.reusable_block_share
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let table: BTreeMap<u32, u64> = (1..=100).map(|v| (v, 1)).collect();
        let s = summarize(&table, 100);
        assert_eq!((s.p50, s.p99, s.max), (50, 99, 100));
        assert!((s.mean - 50.5).abs() < 1e-12);
    }
}
