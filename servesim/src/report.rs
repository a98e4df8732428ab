//! Run summaries: what a person reads in the terminal, what a machine reads as JSON.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use servesim_core::Simulation;
use servesim_core::metrics::LatencyHistogram;
use servesim_models::cluster::PoolId;

use crate::metrics::Latencies;
use crate::scenario::Scenario;
use crate::world::{FaultOutcome, ScalingEvent, World};

/// Percentiles of one latency, in ms (`None` when nothing was recorded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Mean.
    pub mean: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
}

impl Percentiles {
    /// From a histogram.
    pub fn of(h: &LatencyHistogram) -> Self {
        let q = |x: f64| h.quantile(x).map(|d| d.as_millis_f64());
        Percentiles {
            count: h.count(),
            mean: h.mean_secs().map(|s| s * 1e3),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: h.max().map(|d| d.as_millis_f64()),
        }
    }
}

/// Latency and SLO figures of one group of requests.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupSummary {
    /// Requests completed.
    pub completed: u64,
    /// Share of the group's requests meeting both SLOs, over its completed, rejected,
    /// failed and late in-flight ones (as [`Summary::slo_attainment`] counts all).
    pub slo_met_share: Option<f64>,
    /// TTFT, ms.
    pub ttft_ms: Percentiles,
    /// Per-token ITL, ms: of all requests only (the engine counts gaps per step, not per
    /// class, so a benchmark's warm-up requests' gaps are among them; a class's per-request
    /// mean is `itl_mean_ms`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub itl_ms: Option<Percentiles>,
    /// Per-request mean ITL, ms.
    pub itl_mean_ms: Percentiles,
    /// End to end, ms.
    pub e2e_ms: Percentiles,
    /// Output tokens.
    pub output_tokens: u64,
}

impl GroupSummary {
    /// The figures of `l`, of which `late` more are in flight past the TTFT target.
    fn of(l: &Latencies, late: u64, per_token: bool) -> Self {
        let judged = l.completed + l.unserved + late;
        GroupSummary {
            completed: l.completed,
            slo_met_share: (judged > 0).then(|| l.slo_met as f64 / judged as f64),
            ttft_ms: Percentiles::of(&l.ttft),
            itl_ms: per_token.then(|| Percentiles::of(&l.itl)),
            itl_mean_ms: Percentiles::of(&l.itl_mean),
            e2e_ms: Percentiles::of(&l.e2e),
            output_tokens: l.output_tokens,
        }
    }
}

/// One pool at the end of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoolSummary {
    /// Name.
    pub name: String,
    /// GPU-hours held.
    pub gpu_hours: f64,
    /// Workers ready at the end.
    pub ready_at_end: u32,
    /// Peak workers held (starting, ready or draining), from the samples.
    pub peak_workers: u32,
}

/// The summary of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Simulated seconds.
    pub duration_s: f64,
    /// Events handled.
    pub events: u64,
    /// Requests arrived (after the warm-up), those of a benchmark's warm-up left out as its
    /// client leaves them out: they have their own class row, as do their figures, which
    /// the run's totals (`all`, attainment, goodput, throughput) do not count; the rates are
    /// then over the time from the first measured request on.
    pub arrived: u64,
    /// Requests rejected, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Requests that failed after their retries, by reason (faults).
    pub failed: BTreeMap<String, u64>,
    /// Retries of requests lost to faults.
    pub retried: u64,
    /// KV transfers that failed.
    pub transfer_failures: u64,
    /// What each fault did.
    pub faults: Vec<FaultOutcome>,
    /// Requests still in flight at the end (issued after the warm-up, as `arrived`).
    pub in_flight: u64,
    /// In flight at the end and already past the TTFT target.
    pub in_flight_late: u64,
    /// Share of requests meeting both SLOs, over completed, rejected, failed and late in-flight ones.
    pub slo_attainment: Option<f64>,
    /// Requests per second meeting the SLOs.
    pub goodput_rps: f64,
    /// Output tokens per second of requests meeting the SLOs.
    pub goodput_tokens_per_s: f64,
    /// Output tokens per second.
    pub throughput_tokens_per_s: f64,
    /// Preemptions.
    pub preemptions: u64,
    /// GPU-hours held by every pool.
    pub gpu_hours: f64,
    /// All requests.
    pub all: GroupSummary,
    /// By class name.
    pub by_class: BTreeMap<String, GroupSummary>,
    /// By pool.
    pub pools: Vec<PoolSummary>,
    /// The planner in the loop, if any.
    pub planner: Option<String>,
    /// Planner decisions taken, those changing nothing included.
    pub planner_decisions: u64,
    /// Planner decisions that changed a pool's target (applied, advisory, or held back by
    /// the policy).
    pub scaling_decisions: u64,
    /// The GPU budget the planner sized within (`cluster.gpu_budget`).
    pub gpu_budget: u32,
    /// Planner decisions whose counts the GPU budget cut (applied, advisory or held back).
    pub budget_cut_decisions: u64,
    /// The most GPUs a planner decision asked for where the budget cut it: what the policy
    /// would have held, against `gpu_budget`.
    pub most_gpus_asked: Option<u32>,
    /// Workers the planner's decisions started, at once or once GPUs were freed.
    pub workers_started: u64,
    /// Workers stopped or drained by the planner.
    pub workers_stopped: u64,
    /// Seconds of the run after its warm-up (as the rates and the attainment count) whose
    /// sample interval had a TTFT p90 above the TTFT target, or no first token while a
    /// request had waited longer than it ([`seconds_over_ttft_slo`]): how long the SLO was
    /// broken, where the attainment says how many requests it broke for.
    pub ttft_over_slo_s: f64,
    /// Share of the run the frontend's host process was busy (`None`: no frontend).
    pub frontend_busy_share: Option<f64>,
    /// Every planner decision that changed a pool's target: when, which pool, the target,
    /// whether it was applied, what the decision read and the policy's reason.
    pub scaling_events: Vec<ScalingEvent>,
    /// What the run says about itself that its figures do not show (see
    /// [`crate::warnings`]).
    pub warnings: Vec<String>,
}

impl Summary {
    /// Goodput per GPU held (req/s per GPU): goodput over the mean GPUs held during the
    /// run (NaN where none were held).
    pub fn goodput_per_gpu(&self) -> f64 {
        let mean_gpus = self.gpu_hours * 3600.0 / self.duration_s;
        if mean_gpus > 0.0 {
            self.goodput_rps / mean_gpus
        } else {
            f64::NAN
        }
    }

    /// Summarises a finished simulation.
    pub fn new(s: &Scenario, sim: &Simulation<World>) -> Summary {
        let w = &sim.model;
        let m = &w.metrics;
        let now = sim.now();
        let from = m.measured_from().as_secs_f64();
        let measured = (now.as_secs_f64() - from).max(1e-9);
        let rejected: u64 = m.rejected.values().sum::<u64>() + m.failed.values().sum::<u64>();
        let late_by_class = w.in_flight_late_by_class(now, s.slo_ttft());
        // A benchmark's warm-up requests have their own class row, not the run's totals.
        let late: u64 = (late_by_class.iter().enumerate())
            .filter(|&(class, _)| m.measures_class(class))
            .map(|(_, n)| n)
            .sum();
        let judged = m.all.completed + rejected + late;
        let (budget_cut_decisions, most_gpus_asked) = w.planner_budget_cut();
        let pools: Vec<PoolSummary> = w
            .cluster
            .pool_ids()
            .map(|p| {
                let series = &m.series[p.0 as usize];
                let peak = (0..series.ready.values().len())
                    .map(|k| {
                        series.starting.values()[k]
                            + series.ready.values()[k]
                            + series.draining.values()[k]
                    })
                    .fold(0.0, f64::max) as u32;
                PoolSummary {
                    name: w.cluster.pool_name(p).to_string(),
                    gpu_hours: w.cluster.gpu_seconds(p, now) / 3600.0,
                    ready_at_end: w.cluster.pool_stats(PoolId(p.0)).ready,
                    peak_workers: peak,
                }
            })
            .collect();
        Summary {
            scenario: s.name().to_string(),
            seed: s.seed(),
            duration_s: now.as_secs_f64(),
            events: sim.scheduler.events_handled(),
            arrived: m.arrived,
            rejected: m.rejected.clone(),
            failed: m.failed.clone(),
            retried: m.retried,
            transfer_failures: m.transfer_failures,
            faults: w.fault_outcomes(),
            in_flight: w.in_flight_measured() as u64,
            in_flight_late: late,
            slo_attainment: (judged > 0).then(|| m.all.slo_met as f64 / judged as f64),
            goodput_rps: m.all.slo_met as f64 / measured,
            goodput_tokens_per_s: m.all.good_tokens as f64 / measured,
            throughput_tokens_per_s: m.all.output_tokens as f64 / measured,
            preemptions: m.preemptions,
            gpu_hours: pools.iter().map(|p| p.gpu_hours).sum(),
            all: GroupSummary::of(&m.all, late, true),
            by_class: w
                .workload
                .class_names()
                .iter()
                .zip(&m.by_class)
                .zip(&late_by_class)
                .map(|((name, l), &late)| (name.clone(), GroupSummary::of(l, late, false)))
                .collect(),
            pools,
            planner: w.planner_name().map(str::to_string),
            planner_decisions: w.planner_decisions(),
            scaling_decisions: w.scaling_events().len() as u64,
            gpu_budget: s.gpu_budget(),
            budget_cut_decisions,
            most_gpus_asked,
            workers_started: w.workers_started(),
            workers_stopped: w
                .scaling_events()
                .iter()
                .map(|e| u64::from(e.stopped))
                .sum(),
            ttft_over_slo_s: seconds_over_ttft_slo(
                w,
                s.slo_ttft().as_millis_f64(),
                from,
                now.as_secs_f64(),
            ),
            frontend_busy_share: w.frontend_busy_share(now),
            scaling_events: w.scaling_events().to_vec(),
            warnings: crate::warnings::run_warnings(
                s,
                w,
                now,
                m.all.completed,
                w.in_flight() as u64,
            ),
        }
    }

    /// How far the GPU budget held the planner back, as the summary and the story say it
    /// (`None` where it never cut a decision).
    pub fn budget_cut(&self) -> Option<String> {
        self.most_gpus_asked.map(|most| {
            format!(
                "the GPU budget of {} cut {} of its decisions (at most {most} GPUs asked for)",
                self.gpu_budget, self.budget_cut_decisions
            )
        })
    }
}

/// Seconds of `[from, to)` in which the per-interval TTFT p90 was above `slo_ms`: the
/// sample intervals within it (entry `k` of the series is the interval that ends at
/// `k × step`). An interval in which no request finished has no p90; it counts when a
/// request had by its end waited longer than the SLO for its first token (an outage, a pool
/// with no worker).
pub fn seconds_over_ttft_slo(world: &World, slo_ms: f64, from_s: f64, to_s: f64) -> f64 {
    let m = &world.metrics;
    let step = m.sample_interval_s();
    m.ttft_p90_ms
        .iter()
        .enumerate()
        .filter(|&(k, &v)| {
            let (start, end) = ((k as f64 - 1.0) * step, k as f64 * step);
            let stalled = v.is_nan() && m.oldest_waiting_ms.get(k).is_some_and(|&w| w > slo_ms);
            start >= from_s && end <= to_s && (v > slo_ms || stalled)
        })
        .count() as f64
        * step
}

fn ms(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into())
}

/// `x` to the tenth, without a trailing `.0`.
fn tenths(x: f64) -> String {
    let s = format!("{x:.1}");
    s.strip_suffix(".0")
        .map_or_else(|| s.clone(), str::to_string)
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "-".into())
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "scenario {} (seed {}), {:.0} s simulated, {} events",
            self.scenario, self.seed, self.duration_s, self.events
        )?;
        let rejected: u64 = self.rejected.values().sum();
        let failed: u64 = self.failed.values().sum();
        writeln!(
            f,
            "requests: {} arrived, {} completed, {} rejected, {} failed, {} in flight ({} late)",
            self.arrived, self.all.completed, rejected, failed, self.in_flight, self.in_flight_late
        )?;
        writeln!(
            f,
            "SLO attainment {}   TTFT p90 over the SLO for {} s   goodput {:.2} req/s ({:.0} tok/s)   throughput {:.0} tok/s   preemptions {}",
            pct(self.slo_attainment),
            tenths(self.ttft_over_slo_s),
            self.goodput_rps,
            self.goodput_tokens_per_s,
            self.throughput_tokens_per_s,
            self.preemptions
        )?;
        writeln!(
            f,
            "{:<22} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency (ms)", "mean", "p50", "p90", "p99", "max"
        )?;
        let per_token = self.all.itl_ms.unwrap_or_default();
        for (name, p) in [
            ("TTFT", &self.all.ttft_ms),
            ("ITL per token", &per_token),
            ("ITL mean per request", &self.all.itl_mean_ms),
            ("E2E", &self.all.e2e_ms),
        ] {
            writeln!(
                f,
                "{name:<22} {:>9} {:>9} {:>9} {:>9} {:>9}",
                ms(p.mean),
                ms(p.p50),
                ms(p.p90),
                ms(p.p99),
                ms(p.max)
            )?;
        }
        if self.by_class.len() > 1 {
            writeln!(
                f,
                "{:<22} {:>9} {:>9} {:>9} {:>9}",
                "class", "completed", "SLO met", "TTFT p90", "ITL p90"
            )?;
            for (name, g) in &self.by_class {
                writeln!(
                    f,
                    "{name:<22} {:>9} {:>9} {:>9} {:>9}",
                    g.completed,
                    pct(g.slo_met_share),
                    ms(g.ttft_ms.p90),
                    ms(g.itl_mean_ms.p90)
                )?;
            }
        }
        for p in &self.pools {
            writeln!(
                f,
                "pool {:<17} {:.2} GPU-h, peak {} workers, {} ready at end",
                p.name, p.gpu_hours, p.peak_workers, p.ready_at_end
            )?;
        }
        if let Some(busy) = self.frontend_busy_share {
            writeln!(
                f,
                "frontend busy {:.1}% of the run (host time per streamed token)",
                busy * 100.0
            )?;
        }
        if let Some(planner) = &self.planner {
            // Decisions recorded but not applied (advisory mode, or held back by the policy).
            let unapplied = self.scaling_events.iter().filter(|e| !e.applied).count();
            let unapplied = if unapplied > 0 {
                format!(" ({unapplied} not applied)")
            } else {
                String::new()
            };
            writeln!(
                f,
                "planner {planner}: {} decisions, {} pool changes{unapplied}, {} workers started, {} stopped; {:.2} GPU-h in all",
                self.planner_decisions,
                self.scaling_decisions,
                self.workers_started,
                self.workers_stopped,
                self.gpu_hours
            )?;
            if let Some(cut) = self.budget_cut() {
                writeln!(f, "planner {planner}: {cut}")?;
            }
        }
        for o in &self.faults {
            writeln!(f, "fault {o}")?;
        }
        if self.retried > 0 || !self.failed.is_empty() {
            writeln!(
                f,
                "faults: {} retries, {} transfer failures",
                self.retried, self.transfer_failures
            )?;
        }
        for (reason, n) in &self.failed {
            writeln!(f, "failed {n}: {reason}")?;
        }
        for (reason, n) in &self.rejected {
            writeln!(f, "rejected {n}: {reason}")?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}
