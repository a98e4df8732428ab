//! What a run measures: latency histograms (overall and per class), SLO
//! attainment and goodput, counts, per-pool time series, and, when asked
//! for, one columnar row per request.
//!
//! Everything streams into fixed-size summaries, so memory does not grow
//! with the number of finished requests unless per-request rows are kept.

use std::collections::BTreeMap;

use serde::Serialize;
use servesim_core::metrics::{LatencyHistogram, TimeSeries};
use servesim_core::{SimDuration, SimTime};

/// Latency distributions of one group of requests.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    /// Time to first token.
    pub ttft: LatencyHistogram,
    /// Inter-token gaps, one value per token after the first.
    pub itl: LatencyHistogram,
    /// Per-request mean inter-token latency.
    pub itl_mean: LatencyHistogram,
    /// Arrival to last token.
    pub e2e: LatencyHistogram,
    /// Requests completed.
    pub completed: u64,
    /// Requests meeting both SLOs.
    pub slo_met: u64,
    /// Output tokens of completed requests.
    pub output_tokens: u64,
    /// Output tokens of requests meeting the SLOs.
    pub good_tokens: u64,
    /// Requests rejected, or failed after their retries: judged as missing the SLOs.
    pub unserved: u64,
}

/// One finished request, as the metrics see it.
#[derive(Clone, Copy, Debug)]
pub struct Finished {
    /// When its client issued it (its arrival at the cluster, unless it waited in a
    /// benchmark client for a connection): its latencies count from here, as the client's.
    pub issued: SimTime,
    /// Waiting in a benchmark client for a connection, before reaching the cluster.
    pub client_wait: SimDuration,
    /// From reaching the cluster (past any frontend) to prefill admission.
    pub queue: SimDuration,
    /// First token.
    pub first_token: SimTime,
    /// Last token.
    pub last_token: SimTime,
    /// Prompt tokens.
    pub input_tokens: u32,
    /// Output tokens.
    pub output_tokens: u32,
    /// Leading output tokens without text (the model's response header): the client's
    /// first token is the one after them, and it counts only those with text.
    pub header_tokens: u32,
    /// Largest inter-token gap.
    pub max_itl: SimDuration,
    /// Time spent moving KV.
    pub transfer: SimDuration,
    /// Times preempted.
    pub preemptions: u32,
    /// Class index.
    pub class: u16,
    /// Request id.
    pub id: u64,
    /// Prefill worker.
    pub prefill_worker: u32,
    /// Decode worker (same as prefill when aggregated or local).
    pub decode_worker: u32,
}

/// Output tokens a client counts of an answer of `output` tokens whose first `header` carry
/// no text (the model's response header): those with text, at least one.
pub fn shown_tokens(output: u32, header: u32) -> u32 {
    output.saturating_sub(header).max(1)
}

impl Finished {
    /// Output tokens the client counts: those with text ([`shown_tokens`]).
    pub fn shown_tokens(&self) -> u32 {
        shown_tokens(self.output_tokens, self.header_tokens)
    }

    /// Mean gap between consecutive tokens the client sees, from its first to the last
    /// (zero for one-token answers): aiperf's `(e2e − ttft) / (osl − 1)`.
    pub fn itl_mean(&self) -> SimDuration {
        let gaps = u64::from(self.shown_tokens() - 1).max(1);
        SimDuration::from_nanos((self.last_token - self.first_token).as_nanos() / gaps)
    }
}

/// Per-request rows, one vector per column.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RequestColumns {
    /// Request id.
    pub id: Vec<u64>,
    /// Class name index.
    pub class: Vec<u16>,
    /// Arrival, s: when its client issued it (a request that waited in a benchmark
    /// client for a connection reached the cluster later).
    pub arrival_s: Vec<f64>,
    /// TTFT, ms.
    pub ttft_ms: Vec<f64>,
    /// E2E, ms.
    pub e2e_ms: Vec<f64>,
    /// Mean ITL, ms.
    pub itl_mean_ms: Vec<f64>,
    /// Max ITL, ms, as the engine made the tokens (a frontend's delays not included).
    pub itl_max_ms: Vec<f64>,
    /// Time waiting in a benchmark client for a connection, before reaching the cluster, ms
    /// (in `ttft_ms`, as the client counts it).
    pub client_wait_ms: Vec<f64>,
    /// Queue time before prefill, ms.
    pub queue_ms: Vec<f64>,
    /// KV transfer time, ms.
    pub transfer_ms: Vec<f64>,
    /// Prompt tokens.
    pub input_tokens: Vec<u32>,
    /// Output tokens.
    pub output_tokens: Vec<u32>,
    /// Preemptions.
    pub preemptions: Vec<u32>,
    /// Prefill worker.
    pub prefill_worker: Vec<u32>,
    /// Decode worker.
    pub decode_worker: Vec<u32>,
    /// Whether it met both SLOs (TTFT, and the mean gap between its tokens), as the
    /// summary's attainment counts it.
    pub slo_met: Vec<bool>,
}

/// One column of numbers, borrowed in its own type (for columnar exports such as Python's).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColumnData<'a> {
    /// Unsigned 16-bit.
    U16(&'a [u16]),
    /// Unsigned 32-bit.
    U32(&'a [u32]),
    /// Unsigned 64-bit.
    U64(&'a [u64]),
    /// 64-bit floats.
    F64(&'a [f64]),
    /// Booleans.
    Bool(&'a [bool]),
}

impl RequestColumns {
    /// Every column with its name, in the order exports list them. Destructured, so a new
    /// column does not compile until it is named here.
    pub fn columns(&self) -> Vec<(&'static str, ColumnData<'_>)> {
        use ColumnData::{Bool, F64, U16, U32, U64};
        let RequestColumns {
            id,
            class,
            arrival_s,
            ttft_ms,
            e2e_ms,
            itl_mean_ms,
            itl_max_ms,
            client_wait_ms,
            queue_ms,
            transfer_ms,
            input_tokens,
            output_tokens,
            preemptions,
            prefill_worker,
            decode_worker,
            slo_met,
        } = self;
        vec![
            ("id", U64(id)),
            ("class", U16(class)),
            ("arrival_s", F64(arrival_s)),
            ("ttft_ms", F64(ttft_ms)),
            ("e2e_ms", F64(e2e_ms)),
            ("itl_mean_ms", F64(itl_mean_ms)),
            ("itl_max_ms", F64(itl_max_ms)),
            ("client_wait_ms", F64(client_wait_ms)),
            ("queue_ms", F64(queue_ms)),
            ("transfer_ms", F64(transfer_ms)),
            ("input_tokens", U32(input_tokens)),
            ("output_tokens", U32(output_tokens)),
            ("preemptions", U32(preemptions)),
            ("prefill_worker", U32(prefill_worker)),
            ("decode_worker", U32(decode_worker)),
            ("slo_met", Bool(slo_met)),
        ]
    }
}

/// Time series of one pool.
#[derive(Clone, Debug)]
pub struct PoolSeries {
    /// Workers starting.
    pub starting: TimeSeries,
    /// Workers ready.
    pub ready: TimeSeries,
    /// Workers draining.
    pub draining: TimeSeries,
    /// Requests queued (for a ready worker of the pool, or in worker queues).
    pub queue_depth: TimeSeries,
    /// Prompt tokens still to prefill.
    pub queued_prefill_tokens: TimeSeries,
    /// Mean KV utilisation.
    pub kv_utilisation: TimeSeries,
    /// Sequences running per serving worker.
    pub batch_size: TimeSeries,
    /// GPUs held.
    pub gpus: TimeSeries,
}

impl PoolSeries {
    /// Every series with its name, in the order exports list them. Destructured, so a new
    /// series does not compile until it is named here.
    pub fn named(&self) -> [(&'static str, &TimeSeries); 8] {
        let PoolSeries {
            starting,
            ready,
            draining,
            queue_depth,
            queued_prefill_tokens,
            kv_utilisation,
            batch_size,
            gpus,
        } = self;
        [
            ("starting", starting),
            ("ready", ready),
            ("draining", draining),
            ("queue_depth", queue_depth),
            ("queued_prefill_tokens", queued_prefill_tokens),
            ("kv_utilisation", kv_utilisation),
            ("batch_size", batch_size),
            ("gpus", gpus),
        ]
    }
}

/// The per-pool series in long format: one row per (pool, sample), every series a column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LongSeries {
    /// Pool index of each row.
    pub pool: Vec<u32>,
    /// Sample time of each row, s.
    pub time_s: Vec<f64>,
    /// Each series by name (as [`PoolSeries::named`]), one value per row.
    pub values: Vec<(&'static str, Vec<f64>)>,
}

/// Everything a run measures.
#[derive(Clone, Debug)]
pub struct Metrics {
    slo_ttft: SimDuration,
    slo_itl: SimDuration,
    warmup: SimTime,
    /// Classes whose requests no client measures (a benchmark's warm-up, by class index):
    /// their own rows of `by_class` count them, `all` and the run's totals do not.
    unmeasured: Vec<bool>,
    /// When the first measured request of such a run was issued (see
    /// [`Metrics::measured_from`]).
    first_measured: Option<SimTime>,
    /// All requests (those of the classes its clients measure, after the warm-up).
    pub all: Latencies,
    /// By class index.
    pub by_class: Vec<Latencies>,
    /// Requests that arrived (after the warm-up, of classes their clients measure).
    pub arrived: u64,
    /// Rejections by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Requests that failed (a fault took them more often than the retry limit), by reason.
    pub failed: BTreeMap<String, u64>,
    /// Retries of requests lost to faults.
    pub retried: u64,
    /// KV transfers that failed (and were sent again or given up).
    pub transfer_failures: u64,
    /// Requests finished in each sample interval that met both SLOs (index as `ttft_p90_ms`).
    pub met_per_interval: Vec<u64>,
    interval_met: u64,
    /// Preemptions.
    pub preemptions: u64,
    /// Output tokens made (all, warm-up included).
    pub tokens_made: u64,
    /// Rows, when kept.
    pub requests: Option<RequestColumns>,
    /// Per-pool series.
    pub series: Vec<PoolSeries>,
    /// p90 TTFT of the requests finished in the sample interval ending at `k ×
    /// sample_interval`, ms (NaN when none).
    pub ttft_p90_ms: Vec<f64>,
    /// p90 per-request mean ITL of the requests finished in each sample interval, ms.
    pub itl_p90_ms: Vec<f64>,
    /// Requests finished in each sample interval.
    pub finished_per_interval: Vec<u64>,
    /// How long the oldest request still waiting for its first token had waited at the end
    /// of each sample interval, ms (0 when none): an interval in which nothing finishes (an
    /// outage) has no TTFT of its own, but a wait.
    pub oldest_waiting_ms: Vec<f64>,
    interval_ttft: LatencyHistogram,
    interval_itl: LatencyHistogram,
}

impl Metrics {
    /// Seconds between the samples of the per-interval series (10 with no pool series).
    pub fn sample_interval_s(&self) -> f64 {
        self.series
            .first()
            .map_or(10.0, |s| s.ready.interval().as_secs_f64())
    }

    /// Empty metrics for `classes` classes and `pools` pools.
    pub fn new(
        slo_ttft: SimDuration,
        slo_itl: SimDuration,
        warmup: SimDuration,
        classes: usize,
        pools: usize,
        sample_interval: SimDuration,
        keep_requests: bool,
    ) -> Self {
        let ts = || {
            TimeSeries::new(SimTime::ZERO, sample_interval).expect("validated positive interval")
        };
        Metrics {
            slo_ttft,
            slo_itl,
            warmup: SimTime::ZERO + warmup,
            unmeasured: Vec::new(),
            first_measured: None,
            all: Latencies::default(),
            by_class: vec![Latencies::default(); classes],
            arrived: 0,
            rejected: BTreeMap::new(),
            failed: BTreeMap::new(),
            retried: 0,
            transfer_failures: 0,
            met_per_interval: vec![0],
            interval_met: 0,
            preemptions: 0,
            tokens_made: 0,
            requests: keep_requests.then(RequestColumns::default),
            series: (0..pools)
                .map(|_| PoolSeries {
                    starting: ts(),
                    ready: ts(),
                    draining: ts(),
                    queue_depth: ts(),
                    queued_prefill_tokens: ts(),
                    kv_utilisation: ts(),
                    batch_size: ts(),
                    gpus: ts(),
                })
                .collect(),
            // Index k holds the interval ending at k × sample_interval: none ends at zero.
            ttft_p90_ms: vec![f64::NAN],
            itl_p90_ms: vec![f64::NAN],
            finished_per_interval: vec![0],
            oldest_waiting_ms: vec![0.0],
            interval_ttft: LatencyHistogram::new(),
            interval_itl: LatencyHistogram::new(),
        }
    }

    /// The per-pool series in long format, each pool's rows cut to its shortest series.
    pub fn long_series(&self) -> LongSeries {
        let mut out = LongSeries::default();
        for (i, ps) in self.series.iter().enumerate() {
            let named = ps.named();
            if out.values.is_empty() {
                out.values = named.iter().map(|(n, _)| (*n, Vec::new())).collect();
            }
            let len = named
                .iter()
                .map(|(_, t)| t.values().len())
                .min()
                .unwrap_or(0);
            for k in 0..len {
                out.pool.push(i as u32);
                out.time_s.push(ps.ready.time_of(k).as_secs_f64());
            }
            for ((_, column), (_, t)) in out.values.iter_mut().zip(named) {
                column.extend_from_slice(&t.values()[..len]);
            }
        }
        out
    }

    /// Closes a sample interval: its p90 latencies join the series, and `oldest_waiting`,
    /// the wait so far of the oldest request without a first token.
    pub fn close_interval(&mut self, oldest_waiting: SimDuration) {
        self.oldest_waiting_ms.push(oldest_waiting.as_millis_f64());
        let p90 = |h: &LatencyHistogram| h.quantile(0.9).map_or(f64::NAN, |d| d.as_millis_f64());
        self.ttft_p90_ms.push(p90(&self.interval_ttft));
        self.itl_p90_ms.push(p90(&self.interval_itl));
        self.finished_per_interval.push(self.interval_ttft.count());
        self.met_per_interval.push(self.interval_met);
        self.interval_met = 0;
        self.interval_ttft.clear();
        self.interval_itl.clear();
    }

    /// The same metrics, the requests of the classes flagged here (by class index) left out
    /// of the run's totals: a benchmark's warm-up requests, which its client does not
    /// measure (aiperf's `--warmup-request-count`).
    pub fn with_unmeasured_classes(self, unmeasured: Vec<bool>) -> Metrics {
        Metrics { unmeasured, ..self }
    }

    /// Whether a request its client issued at `issued` counts (past the warm-up).
    pub fn counts(&self, issued: SimTime) -> bool {
        issued >= self.warmup
    }

    /// Whether a request of `class` its client issued at `issued` counts in the run's
    /// totals: past the warm-up, and of a class its client measures.
    pub fn measures(&self, issued: SimTime, class: u16) -> bool {
        self.counts(issued) && self.measures_class(usize::from(class))
    }

    /// Whether the requests of class `class` (its index) are measured by their client: all
    /// but a benchmark's warm-up.
    pub fn measures_class(&self, class: usize) -> bool {
        !self.unmeasured.get(class).copied().unwrap_or(false)
    }

    /// Where the run's rates are measured from: the end of the warm-up (`metrics.warmup_s`)
    /// or, in a run with a benchmark's warm-up requests, when its first measured request was
    /// issued (as aiperf times its measured phase), whichever is later.
    pub fn measured_from(&self) -> SimTime {
        match self.first_measured {
            Some(t) if self.unmeasured.contains(&true) => t.max(self.warmup),
            _ => self.warmup,
        }
    }

    /// Records one arrival, of a request of `class` issued at `issued`.
    pub fn arrival(&mut self, issued: SimTime, class: u16) {
        if self.measures(issued, class) {
            self.arrived += 1;
            self.first_measured = Some(self.first_measured.map_or(issued, |t| t.min(issued)));
        }
    }

    /// Records inter-token gaps (after the warm-up only).
    pub fn itl_gaps(&mut self, now: SimTime, gaps: &[(SimDuration, u64)]) {
        if now < self.warmup {
            return;
        }
        for &(gap, n) in gaps {
            self.all.itl.record_n(gap, n);
        }
    }

    /// Records a finished request; returns whether it met both SLOs.
    pub fn finished(&mut self, r: &Finished) -> bool {
        let ttft = r.first_token - r.issued;
        let itl_mean = r.itl_mean();
        let met = ttft <= self.slo_ttft && itl_mean <= self.slo_itl;
        self.interval_ttft.record(ttft);
        self.interval_met += u64::from(met);
        if r.shown_tokens() > 1 {
            self.interval_itl.record(itl_mean);
        }
        if !self.counts(r.issued) {
            return met;
        }
        let measured = self.measures(r.issued, r.class);
        let all = measured.then_some(&mut self.all);
        for l in std::iter::once(&mut self.by_class[r.class as usize]).chain(all) {
            l.ttft.record(ttft);
            l.e2e.record(r.last_token - r.issued);
            if r.shown_tokens() > 1 {
                l.itl_mean.record(itl_mean);
            }
            l.completed += 1;
            l.output_tokens += u64::from(r.output_tokens);
            if met {
                l.slo_met += 1;
                l.good_tokens += u64::from(r.output_tokens);
            }
        }
        if let Some(cols) = &mut self.requests {
            let ms = |d: SimDuration| d.as_millis_f64();
            cols.id.push(r.id);
            cols.class.push(r.class);
            cols.arrival_s.push(r.issued.as_secs_f64());
            cols.ttft_ms.push(ms(ttft));
            cols.e2e_ms.push(ms(r.last_token - r.issued));
            cols.itl_mean_ms.push(ms(itl_mean));
            cols.itl_max_ms.push(ms(r.max_itl));
            cols.client_wait_ms.push(ms(r.client_wait));
            cols.queue_ms.push(ms(r.queue));
            cols.transfer_ms.push(ms(r.transfer));
            cols.input_tokens.push(r.input_tokens);
            cols.output_tokens.push(r.output_tokens);
            cols.preemptions.push(r.preemptions);
            cols.prefill_worker.push(r.prefill_worker);
            cols.decode_worker.push(r.decode_worker);
            cols.slo_met.push(met);
        }
        met
    }

    /// Records a request of `class`, issued at `issued`, that failed after its retries.
    pub fn failed(&mut self, issued: SimTime, class: u16, reason: &str) {
        if self.counts(issued) {
            self.unserved(issued, class, reason, false);
        }
    }

    /// One more request of `class` not served (issued past the warm-up): of its class, and
    /// of the run's totals where its client measures it.
    fn unserved(&mut self, issued: SimTime, class: u16, reason: &str, rejected: bool) {
        if self.measures(issued, class) {
            let map = if rejected {
                &mut self.rejected
            } else {
                &mut self.failed
            };
            *map.entry(reason.to_string()).or_default() += 1;
            self.all.unserved += 1;
        }
        if let Some(l) = self.by_class.get_mut(class as usize) {
            l.unserved += 1;
        }
    }

    /// Share of requests finished in sample intervals `[from, to)` that met the SLOs.
    pub fn attainment_between(&self, from: usize, to: usize) -> Option<f64> {
        let to = to.min(self.finished_per_interval.len());
        let from = from.min(to);
        let n: u64 = self.finished_per_interval[from..to].iter().sum();
        let met: u64 = self.met_per_interval[from..to].iter().sum();
        (n > 0).then(|| met as f64 / n as f64)
    }

    /// Records the rejection of a request of `class` issued at `issued`.
    pub fn rejected(&mut self, issued: SimTime, class: u16, reason: &str) {
        if self.counts(issued) {
            self.unserved(issued, class, reason, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(s).unwrap()
    }

    #[test]
    fn long_series_has_a_row_per_pool_and_sample_cut_to_the_shortest_series() {
        let second = SimDuration::from_secs(1).unwrap();
        let mut m = Metrics::new(second, second, SimDuration::ZERO, 1, 2, second, false);
        for (i, ps) in m.series.iter_mut().enumerate() {
            ps.ready.record_until(secs(2), 1.0 + i as f64);
            ps.gpus.record_until(secs(2), 8.0);
            for t in [
                &mut ps.starting,
                &mut ps.draining,
                &mut ps.queue_depth,
                &mut ps.queued_prefill_tokens,
                &mut ps.kv_utilisation,
                &mut ps.batch_size,
            ] {
                t.record_until(secs(1 + i as u64), 0.0);
            }
        }
        let s = m.long_series();
        // Pool 0 has two samples in every series, pool 1 three.
        assert_eq!(s.pool, [0, 0, 1, 1, 1]);
        assert_eq!(s.time_s, [0.0, 1.0, 0.0, 1.0, 2.0]);
        let names: Vec<&str> = s.values.iter().map(|(n, _)| *n).collect();
        assert_eq!(names[..2], ["starting", "ready"]);
        assert_eq!(names.len(), 8);
        assert_eq!(s.values[1].1, [1.0, 1.0, 2.0, 2.0, 2.0]);
    }

    #[test]
    fn the_gap_between_tokens_counts_only_those_with_text() {
        let ms = |n: u64| SimDuration::from_millis(n).unwrap();
        let at = |n: u64| SimTime::ZERO + ms(n);
        let r = Finished {
            issued: SimTime::ZERO,
            client_wait: SimDuration::ZERO,
            queue: SimDuration::ZERO,
            first_token: at(130),
            last_token: at(1030),
            input_tokens: 100,
            output_tokens: 100,
            header_tokens: 0,
            max_itl: ms(10),
            transfer: SimDuration::ZERO,
            preemptions: 0,
            class: 0,
            id: 0,
            prefill_worker: 0,
            decode_worker: 0,
        };
        // 900 ms over the 99 gaps after the first token.
        assert_eq!(r.shown_tokens(), 100);
        assert_eq!(r.itl_mean(), SimDuration::from_nanos(900_000_000 / 99));
        // Behind a header of 3 the client sees 97 tokens from its first: 96 gaps.
        let h = Finished {
            header_tokens: 3,
            ..r
        };
        assert_eq!(h.shown_tokens(), 97);
        assert_eq!(h.itl_mean(), SimDuration::from_nanos(900_000_000 / 96));
        // A response no longer than its header shows its text with its last token.
        let short = Finished {
            output_tokens: 2,
            first_token: at(1030),
            ..h
        };
        assert_eq!(short.shown_tokens(), 1);
        assert_eq!(short.itl_mean(), SimDuration::ZERO);
    }

    #[test]
    fn request_columns_are_named_and_as_long_as_the_rows() {
        let mut cols = RequestColumns::default();
        cols.id.push(7);
        cols.class.push(1);
        let named = cols.columns();
        assert_eq!(named.len(), 16);
        assert_eq!(named[0], ("id", ColumnData::U64(&[7])));
        assert_eq!(named[1], ("class", ColumnData::U16(&[1])));
    }
}
