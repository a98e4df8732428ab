//! Metric primitives: latency histograms, fixed-interval time series, counters.
//!
//! Histograms keep a summary in constant memory however many values they see,
//! so long runs stay flat in memory.

use hdrhistogram::Histogram;

use crate::{CoreError, SimDuration, SimTime};

/// A latency distribution in nanoseconds, resolved to 1 µs with 3 significant digits.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    inner: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

const LOWEST_DISCERNIBLE_NS: u64 = 1_000;
const SIGNIFICANT_DIGITS: u8 = 3;

impl LatencyHistogram {
    /// An empty histogram that grows to any value it is given.
    pub fn new() -> Self {
        let mut inner = Histogram::new_with_bounds(
            LOWEST_DISCERNIBLE_NS,
            2 * LOWEST_DISCERNIBLE_NS,
            SIGNIFICANT_DIGITS,
        )
        .expect("valid static histogram bounds");
        inner.auto(true);
        LatencyHistogram { inner }
    }

    /// Records one value.
    pub fn record(&mut self, value: SimDuration) {
        self.record_n(value, 1);
    }

    /// Records `count` copies of one value in O(1) (e.g. every token of a decode step).
    pub fn record_n(&mut self, value: SimDuration, count: u64) {
        if count == 0 {
            return;
        }
        // Cannot fail: the histogram auto-resizes to any u64.
        self.inner
            .record_n(value.as_nanos(), count)
            .expect("auto-resizing histogram accepts any value");
    }

    /// Adds every value of `other` into `self`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        self.inner
            .add(&other.inner)
            .expect("auto-resizing histogram accepts any histogram");
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.inner.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The value at quantile `q` in `[0, 1]`, `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<SimDuration> {
        (!self.is_empty())
            .then(|| SimDuration::from_nanos(self.inner.value_at_quantile(q.clamp(0.0, 1.0))))
    }

    /// Mean in seconds, `None` when empty.
    pub fn mean_secs(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.inner.mean() / 1e9)
    }

    /// Largest value recorded (to the histogram's resolution), `None` when empty.
    pub fn max(&self) -> Option<SimDuration> {
        (!self.is_empty()).then(|| SimDuration::from_nanos(self.inner.max()))
    }

    /// Share of values `≤ limit`, `None` when empty.
    pub fn fraction_at_or_below(&self, limit: SimDuration) -> Option<f64> {
        (!self.is_empty()).then(|| {
            let below: u64 = self.inner.count_between(0, limit.as_nanos());
            below as f64 / self.inner.len() as f64
        })
    }

    /// Forgets every value, keeping the allocation.
    pub fn clear(&mut self) {
        self.inner.reset();
    }
}

/// A quantity sampled at `start + k × interval`, holding the last value between changes.
///
/// The owner calls [`record_until`](Self::record_until) with the value that held
/// *up to* `now`, just before changing it; every sample instant `≤ now` not yet
/// filled gets that value.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeSeries {
    start: SimTime,
    interval: SimDuration,
    values: Vec<f64>,
}

impl TimeSeries {
    /// An empty series; `interval` must be positive.
    pub fn new(start: SimTime, interval: SimDuration) -> Result<Self, CoreError> {
        if interval == SimDuration::ZERO {
            return Err(CoreError::ZeroInterval);
        }
        Ok(TimeSeries {
            start,
            interval,
            values: Vec::new(),
        })
    }

    /// Fills every sample instant up to and including `now` with `value`.
    pub fn record_until(&mut self, now: SimTime, value: f64) {
        let Some(elapsed) = now.checked_duration_since(self.start) else {
            return;
        };
        let wanted = elapsed.as_nanos() / self.interval.as_nanos() + 1;
        let missing = (wanted as usize).saturating_sub(self.values.len());
        self.values.extend(std::iter::repeat_n(value, missing));
    }

    /// The sampling interval.
    pub fn interval(&self) -> SimDuration {
        self.interval
    }

    /// The sampled values, the k-th at `start + k × interval`.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The instant of the k-th sample.
    pub fn time_of(&self, k: usize) -> SimTime {
        self.start
            + self
                .interval
                .checked_mul(k as u64)
                .expect("sample index in range")
    }
}

/// A monotone count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter(u64);

impl Counter {
    /// Adds one.
    pub fn incr(&mut self) {
        self.0 += 1;
    }

    /// Adds `n`.
    pub fn add(&mut self, n: u64) {
        self.0 += n;
    }

    /// The count.
    pub fn get(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: u64) -> SimDuration {
        SimDuration::from_millis(x).unwrap()
    }

    #[test]
    fn histogram_records_many_at_once_and_merges() {
        let mut a = LatencyHistogram::new();
        a.record_n(ms(10), 1_000_000_000);
        a.record(ms(500));
        assert_eq!(a.count(), 1_000_000_001);
        let p50 = a.quantile(0.5).unwrap().as_millis_f64();
        assert!((p50 - 10.0).abs() < 0.01, "{p50}");
        let mut b = LatencyHistogram::new();
        b.record_n(ms(3_600_000), 3); // an hour: auto-resize
        a.merge(&b);
        assert_eq!(a.count(), 1_000_000_004);
        assert!(a.max().unwrap() >= ms(3_599_000));
        assert!(a.fraction_at_or_below(ms(20)).unwrap() > 0.999_999);
        assert!(LatencyHistogram::new().quantile(0.5).is_none());
    }

    #[test]
    fn time_series_holds_values_between_changes() {
        let mut ts = TimeSeries::new(SimTime::ZERO, ms(100)).unwrap();
        ts.record_until(SimTime::ZERO + ms(250), 1.0); // samples at 0, 100, 200
        ts.record_until(SimTime::ZERO + ms(260), 9.0); // no new instant
        ts.record_until(SimTime::ZERO + ms(400), 2.0); // 300, 400
        assert_eq!(ts.values(), &[1.0, 1.0, 1.0, 2.0, 2.0]);
        assert_eq!(ts.time_of(4), SimTime::ZERO + ms(400));
        assert!(TimeSeries::new(SimTime::ZERO, SimDuration::ZERO).is_err());
    }

    #[test]
    fn counter_counts() {
        let mut c = Counter::default();
        c.incr();
        c.add(41);
        assert_eq!(c.get(), 42);
    }
}
