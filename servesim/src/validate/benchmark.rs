//! A simulated benchmark: a scenario run until enough requests completed, and the means of
//! its steady state and of its start.

use servesim_core::{SimDuration, SimTime};

use serde::Serialize;

use crate::Error;
use crate::Run;
use crate::metrics::{RequestColumns, shown_tokens};
use crate::scenario::Scenario;

use super::MAX_SIM_S;

/// Means of a set of simulated requests, ms.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Means {
    /// Time to first token.
    pub ttft_ms: f64,
    /// Per-request mean gap between tokens, averaged over requests.
    pub tpot_ms: f64,
    /// End-to-end latency.
    pub e2e_ms: f64,
}

impl Means {
    /// Means of the requests `keep` selects (by index in completion order); NaN when it
    /// selects none.
    pub(super) fn of(cols: &RequestColumns, keep: impl Fn(usize) -> bool) -> Means {
        let (mut sum, mut n) = (Means::default(), 0.0);
        for i in (0..cols.ttft_ms.len()).filter(|&i| keep(i)) {
            sum.ttft_ms += cols.ttft_ms[i];
            sum.tpot_ms += cols.itl_mean_ms[i];
            sum.e2e_ms += cols.e2e_ms[i];
            n += 1.0;
        }
        Means {
            ttft_ms: sum.ttft_ms / n,
            tpot_ms: sum.tpot_ms / n,
            e2e_ms: sum.e2e_ms / n,
        }
    }

    /// `share` of `a` and the rest of `b`.
    pub(super) fn blend(a: Means, share: f64, b: Means) -> Means {
        let mix = |x: f64, y: f64| share * x + (1.0 - share) * y;
        Means {
            ttft_ms: mix(a.ttft_ms, b.ttft_ms),
            tpot_ms: mix(a.tpot_ms, b.tpot_ms),
            e2e_ms: mix(a.e2e_ms, b.e2e_ms),
        }
    }
}

/// What a simulated benchmark measured: its steady state and its start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BenchmarkMeans {
    /// The `take` completions after the first `skip`.
    pub steady: Means,
    /// The requests sent at the start of the run (time zero; NaN when none was).
    pub start: Means,
    /// Simulated seconds the run took to complete its `skip + take` requests (a whole
    /// number of the 20-second steps it is run in).
    pub stop_s: f64,
}

/// A benchmark reads each request: `scenario` must keep them (`metrics.keep_requests`).
fn kept_requests(scenario: &Scenario) -> Result<(), Error> {
    if scenario.config().metrics.keep_requests {
        Ok(())
    } else {
        Err(Error::Config {
            path: "metrics.keep_requests".into(),
            message: "must be true for a benchmark, which reads each request".into(),
        })
    }
}

/// Steps `run` 20 simulated seconds at a time until `count` of its kept request rows
/// reaches `need`, and says when it stopped; `Ok(Err(count))` when the run ends or
/// [`MAX_SIM_S`] passes first.
fn run_until_counted(
    run: &mut Run,
    need: usize,
    count: impl Fn(&RequestColumns) -> usize,
) -> Result<Result<SimTime, usize>, Error> {
    let cap = SimTime::ZERO + SimDuration::from_nanos(MAX_SIM_S * 1_000_000_000);
    let step = SimDuration::from_nanos(20_000_000_000);
    let mut t = SimTime::ZERO;
    loop {
        let done = run.sim.model.metrics.requests.as_ref().map_or(0, &count);
        if done >= need {
            return Ok(Ok(t));
        }
        if t >= cap.min(run.end()) {
            return Ok(Err(done));
        }
        t += step;
        run.run_until(t)?;
    }
}

/// Simulates a scenario until `skip + take` requests have completed; returns the means of
/// the steady state (the `take` after the first `skip`, in completion order) and of the
/// requests sent at time zero.
pub fn benchmark_means(
    scenario: &Scenario,
    skip: usize,
    take: usize,
) -> Result<Result<BenchmarkMeans, String>, Error> {
    kept_requests(scenario)?;
    let mut run = Run::new(scenario)?;
    let stop = match run_until_counted(&mut run, skip + take, |r| r.ttft_ms.len())? {
        Ok(t) => t,
        Err(done) => {
            return Ok(Err(format!(
                "only {done} requests completed in {MAX_SIM_S} simulated seconds"
            )));
        }
    };
    let cols = run
        .sim
        .model
        .metrics
        .requests
        .as_ref()
        .expect("requests kept");
    let steady = skip..skip + take;
    Ok(Ok(BenchmarkMeans {
        steady: Means::of(cols, |i| steady.contains(&i)),
        start: Means::of(cols, |i| cols.arrival_s[i] == 0.0),
        stop_s: stop.saturating_duration_since(SimTime::ZERO).as_secs_f64(),
    }))
}

/// Mean and percentiles of one metric over a benchmark's measured requests, ms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Distribution {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl Distribution {
    /// Of `values` (at least one): percentiles interpolated linearly between the two
    /// nearest ranks, as aiperf's metric results compute them (NumPy's default).
    fn of(mut values: Vec<f64>) -> Distribution {
        values.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let pos = q * (values.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
        };
        Distribution {
            mean: values.iter().sum::<f64>() / values.len() as f64,
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
        }
    }
}

/// What a benchmark client reports over its measured requests: TTFT, TPOT per request
/// (`(e2e − ttft) / (osl − 1)`, requests of one output token left out) and the output
/// throughput (their output tokens over the span from the first measured request sent to
/// the last answered), where a request's output tokens are those with text, as the client
/// counts them (a response header's tokens left out:
/// [`servesim_models::llm::LlmSpec::response_header_tokens`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ClientStats {
    /// Time to first token, ms.
    pub ttft_ms: Distribution,
    /// Time per output token after the first, ms (`None` when every answer is one token).
    pub tpot_ms: Option<Distribution>,
    /// Request latency (end to end), ms.
    pub e2e_ms: Distribution,
    /// Output tokens per second over the measured phase.
    pub output_tokens_per_s: f64,
}

impl ClientStats {
    /// The field-by-field mean of `draws` (at least one).
    pub fn mean_of(draws: &[ClientStats]) -> ClientStats {
        let n = draws.len() as f64;
        let dist = |f: &dyn Fn(&ClientStats) -> Distribution| {
            let sum = |g: fn(&Distribution) -> f64| draws.iter().map(|d| g(&f(d))).sum::<f64>() / n;
            Distribution {
                mean: sum(|d| d.mean),
                p50: sum(|d| d.p50),
                p90: sum(|d| d.p90),
                p99: sum(|d| d.p99),
            }
        };
        ClientStats {
            ttft_ms: dist(&|d| d.ttft_ms),
            tpot_ms: draws[0]
                .tpot_ms
                .map(|_| dist(&|d| d.tpot_ms.unwrap_or_default())),
            e2e_ms: dist(&|d| d.e2e_ms),
            output_tokens_per_s: draws.iter().map(|d| d.output_tokens_per_s).sum::<f64>() / n,
        }
    }
}

/// Runs `scenario`, whose workload is one benchmark stream, until `requests` (at least
/// one) of its class `measured` (the stream's own class; its warm-up has a class of its
/// own) have completed, in steps of 20 simulated seconds, and returns what the client
/// reports about the requests of that class completed by then, and when the last of them
/// was answered (s). `Ok(Err(reason))` when fewer completed within 200,000 simulated
/// seconds.
pub fn client_stats(
    scenario: &Scenario,
    measured: &str,
    requests: usize,
) -> Result<Result<(ClientStats, f64), String>, Error> {
    if requests == 0 {
        return Err(Error::Config {
            path: "requests".into(),
            message: "a benchmark reports on at least one measured request".into(),
        });
    }
    kept_requests(scenario)?;
    let mut run = Run::new(scenario)?;
    let class = run
        .sim
        .model
        .workload
        .class_names()
        .iter()
        .position(|c| c == measured)
        .ok_or_else(|| Error::Config {
            path: "traffic".into(),
            message: format!("no class {measured:?} in the workload"),
        })? as u16;
    let count = |r: &RequestColumns| r.class.iter().filter(|&&c| c == class).count();
    if let Err(done) = run_until_counted(&mut run, requests, count)? {
        return Ok(Err(format!(
            "only {done} of {requests} measured requests completed in {MAX_SIM_S} simulated \
             seconds"
        )));
    }
    let cols = run
        .sim
        .model
        .metrics
        .requests
        .as_ref()
        .expect("requests kept");
    let mine: Vec<usize> = (0..cols.class.len())
        .filter(|&i| cols.class[i] == class)
        .collect();
    let header = scenario.llm().response_header_tokens;
    let shown = |i: usize| shown_tokens(cols.output_tokens[i], header);
    let ttft = Distribution::of(mine.iter().map(|&i| cols.ttft_ms[i]).collect());
    let tpots: Vec<f64> = mine
        .iter()
        .filter(|&&i| shown(i) > 1)
        .map(|&i| (cols.e2e_ms[i] - cols.ttft_ms[i]) / f64::from(shown(i) - 1))
        .collect();
    let first_sent_s = mine
        .iter()
        .map(|&i| cols.arrival_s[i])
        .fold(f64::INFINITY, f64::min);
    let last_answer_s = mine
        .iter()
        .map(|&i| cols.arrival_s[i] + cols.e2e_ms[i] / 1e3)
        .fold(f64::NEG_INFINITY, f64::max);
    let tokens: f64 = mine.iter().map(|&i| f64::from(shown(i))).sum();
    let stats = ClientStats {
        ttft_ms: ttft,
        tpot_ms: (!tpots.is_empty()).then(|| Distribution::of(tpots)),
        e2e_ms: Distribution::of(mine.iter().map(|&i| cols.e2e_ms[i]).collect()),
        output_tokens_per_s: tokens / (last_answer_s - first_sent_s).max(1e-9),
    };
    Ok(Ok((stats, last_answer_s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A benchmark of gpt-oss-120b (its first three tokens a header without text) whose
    /// answers are `osl` tokens long.
    fn gpt_oss_benchmark(osl: u32) -> Scenario {
        let yaml = format!(
            r#"
name: t
seed: 1
duration_s: 1000
model: openai/gpt-oss-120b
gpu: h200_sxm
backend: vllm
slo: {{ttft_ms: 1000, itl_ms: 50}}
cluster:
  nodes: 1
  pools:
    - {{name: agg, role: aggregated, tp: 1, workers: 1, startup_s: 0}}
traffic:
  streams:
    - name: b
      benchmark: {{concurrency: 2, warmup_requests: 2, requests: 6, isl: 100, osl: {osl}}}
metrics: {{keep_requests: true}}
"#
        );
        Scenario::from_yaml_str(&yaml, "t.yaml", std::path::Path::new(".")).unwrap()
    }

    #[test]
    fn tpot_and_throughput_count_the_tokens_with_text_as_the_client_does() {
        // Five tokens, three of them the header: two with text, one gap between them, so a
        // request's TPOT is its whole time after the first token with text.
        let (s, _) = client_stats(&gpt_oss_benchmark(5), "b", 6)
            .unwrap()
            .unwrap();
        let tpot = s.tpot_ms.expect("two tokens with text");
        assert!(
            (tpot.mean - (s.e2e_ms.mean - s.ttft_ms.mean)).abs() < 1e-9,
            "{tpot:?} against {s:?}"
        );
        // Four tokens, one with text: no TPOT at all.
        let (one, _) = client_stats(&gpt_oss_benchmark(4), "b", 6)
            .unwrap()
            .unwrap();
        assert_eq!(one.tpot_ms, None);
        // No measured request to report on, or no requests kept to read, is an error.
        assert!(client_stats(&gpt_oss_benchmark(5), "b", 0).is_err());
        let mut config = gpt_oss_benchmark(5).config().clone();
        config.metrics.keep_requests = false;
        let unkept = Scenario::validate(config, std::path::Path::new(".")).unwrap();
        let e = client_stats(&unkept, "b", 6).unwrap_err().to_string();
        assert!(e.contains("metrics.keep_requests"), "{e}");
    }

    #[test]
    fn percentiles_interpolate_between_ranks_as_numpy_does() {
        // numpy.percentile(range(1, 101), [50, 90, 99]) = [50.5, 90.1, 99.01]
        let d = Distribution::of((1..=100).rev().map(f64::from).collect());
        assert_eq!(d.mean, 50.5);
        assert!((d.p50 - 50.5).abs() < 1e-9 && (d.p90 - 90.1).abs() < 1e-9);
        assert!((d.p99 - 99.01).abs() < 1e-9, "{}", d.p99);
        let one = Distribution::of(vec![7.0]);
        assert_eq!((one.p50, one.p99), (7.0, 7.0));
    }
}
