//! The deployments the profiler weighs: how a worker's GPUs are split, the pools of a
//! deployment, and one candidate with its estimated figures.

use serde::Serialize;
use servesim_models::backend::Backend;
use servesim_models::llm::{LlmSpec, Parallelism};
use servesim_models::perf::dispatch::deepep_fits;

/// Aggregated or disaggregated serving.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Every worker prefills and decodes.
    Aggregated,
    /// Prefill and decode pools.
    Disaggregated,
}

impl Mode {
    /// `agg` or `disagg`.
    pub fn short(self) -> &'static str {
        match self {
            Mode::Aggregated => "agg",
            Mode::Disaggregated => "disagg",
        }
    }
}

/// How one worker's GPUs are split: attention and the dense layers `tp` ways in each of
/// `attention_dp` data-parallel replicas, the routed experts of a mixture of experts spread
/// `ep` ways by expert (and split `tp × attention_dp / ep` ways within each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Split {
    /// Tensor parallelism of attention and the dense layers.
    pub tp: u32,
    /// Attention data-parallel replicas (1: none).
    pub attention_dp: u32,
    /// Expert parallelism of the routed experts (1: every expert split over the GPUs).
    pub ep: u32,
}

impl Split {
    /// Plain tensor parallelism over `tp` GPUs.
    pub fn tensor(tp: u32) -> Split {
        Split {
            tp,
            attention_dp: 1,
            ep: 1,
        }
    }

    /// GPUs of one worker: `tp × attention_dp`.
    pub fn gpus(&self) -> u32 {
        self.tp * self.attention_dp
    }

    /// A rank's share of `seqs` sequences of the worker: each attention-DP rank schedules
    /// its own batch.
    pub fn per_rank(&self, seqs: u32) -> u32 {
        seqs.div_ceil(self.attention_dp.max(1))
    }

    /// The models crate's view of the split.
    pub fn parallelism(&self) -> Parallelism {
        Parallelism {
            tp: self.tp,
            attention_dp: self.attention_dp,
            moe_tp: self.gpus() / self.ep.max(1),
            moe_ep: self.ep,
        }
    }

    /// Whether `backend` runs this worker's MoE tokens through DeepEP: SGLang spreads
    /// experts over more than eight GPUs with `--moe-a2a-backend deepep` (as aiconfigurator's
    /// wide-EP deployments of SGLang do, `enable_wideep` setting `moe_backend: deepep_moe` in
    /// 0.8.0, and `servesim validate` runs such rows), its attention as data-parallel
    /// replicas over every GPU.
    pub fn runs_deepep(&self, backend: Backend) -> bool {
        backend == Backend::Sglang && self.ep > 8 && deepep_fits(&self.parallelism())
    }

    /// `TP4`, `TP8EP8` (experts spread over the TP group), `DP8EP8` (eight attention
    /// replicas of one GPU each), `TP2DP4EP8`.
    pub fn label(&self) -> String {
        let mut s = String::new();
        if self.tp > 1 || self.attention_dp == 1 {
            s.push_str(&format!("TP{}", self.tp));
        }
        if self.attention_dp > 1 {
            s.push_str(&format!("DP{}", self.attention_dp));
        }
        if self.ep > 1 {
            s.push_str(&format!("EP{}", self.ep));
        }
        s
    }
}

/// The worker splits searched, up to `max_gpus` GPUs a worker: TP 1, 2, 4 and 8; for a
/// mixture of experts also, over the same GPUs, the experts spread by expert parallelism
/// with attention split by TP or run as data-parallel replicas. Those are the splits each
/// engine serves such models with: vLLM's `--enable-expert-parallel` and
/// `--data-parallel-size`, SGLang's `--ep-size` and `--enable-dp-attention`, TensorRT-LLM's
/// `moe_expert_parallel_size` and `enable_attention_dp`. Wider than 8 GPUs (an NVLink domain
/// of several nodes, an NVL72 rack), a mixture of experts is searched as wide-EP workers of
/// 16, 32 and 64 GPUs with attention DP over all of them, as TensorRT-LLM and SGLang deploy
/// DeepSeek-class models on GB200 NVL72 (attention TP beyond 8 splits no model's heads).
pub fn splits(llm: &LlmSpec, max_gpus: u32) -> Vec<Split> {
    let mut out = Vec::new();
    for g in [1u32, 2, 4, 8] {
        if g > max_gpus {
            continue;
        }
        out.push(Split::tensor(g));
        if llm.moe().is_some() && g > 1 {
            out.push(Split {
                tp: g,
                attention_dp: 1,
                ep: g,
            });
            out.push(Split {
                tp: 1,
                attention_dp: g,
                ep: g,
            });
        }
    }
    if llm.moe().is_some() {
        for g in [16u32, 32, 64].into_iter().filter(|&g| g <= max_gpus) {
            out.push(Split {
                tp: 1,
                attention_dp: g,
                ep: g,
            });
        }
    }
    out
}

/// A pool of a deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PoolShape {
    /// How each worker's GPUs are split.
    #[serde(flatten)]
    pub split: Split,
    /// Workers.
    pub workers: u32,
}

/// A deployment's pools: what a candidate's mode and pool fields follow from.
#[derive(Clone, Copy, Debug)]
pub enum Pools {
    /// Prefill and decode workers apart.
    Disaggregated {
        /// The prefill pool.
        prefill: PoolShape,
        /// The decode pool.
        decode: PoolShape,
    },
    /// Workers that prefill and decode in the same iterations.
    Aggregated(PoolShape),
}

/// What the fast model estimates of a deployment at its planned load; a candidate's other
/// figures follow from it.
#[derive(Clone, Copy, Debug)]
pub struct Estimate {
    /// Mean TTFT, ms.
    pub ttft_ms: f64,
    /// Mean ITL, ms.
    pub itl_ms: f64,
    /// Requests/s the deployment is planned for (the load offered, where its queue never
    /// settles: [`UNBOUNDED_TTFT_MS`]).
    pub request_rate: f64,
    /// Requests in flight at that load.
    pub concurrency: f64,
}

/// An SLO a configuration misses, or the request's GPU budget or nodes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SloMiss {
    /// `ttft`, `itl`, `gpus` or `nodes`.
    pub slo: &'static str,
    /// The target (at most this), in `unit`.
    pub target: f64,
    /// The estimate, in `unit`.
    pub estimate: f64,
    /// `ms` for the SLOs, `GPUs` or `nodes` for the budget.
    pub unit: &'static str,
    /// How far over, as a share of the target (0.2: 20 % over).
    pub over: f64,
}

impl SloMiss {
    /// The estimate and the target as printed, with their unit: times to one decimal, more
    /// below 1 so that a sub-millisecond target does not print as 0; GPUs and nodes whole.
    pub fn shown(&self) -> (String, String) {
        let unit = self.unit;
        let show = |x: f64| {
            let decimals = if unit != "ms" {
                0
            } else if x.is_finite() && x != 0.0 && x.abs() < 1.0 {
                ((-x.abs().log10().floor()) as usize + 2).min(9)
            } else {
                1
            };
            format!("{x:.decimals$} {unit}")
        };
        (show(self.estimate), show(self.target))
    }
}

/// A mean TTFT (ms) at or beyond which a candidate's queue is taken as unbounded: the
/// stationary wait of a queue within a hair of its capacity (a utilisation of 1 − 10⁻⁹ gives
/// some 10¹⁷ ms), which no benchmark or day of traffic settles into. Such a candidate's TTFT
/// and concurrency are infinite, and its request rate and throughput are the load offered to
/// it, more than it carries (it misses the TTFT target, so its goodput is none).
pub const UNBOUNDED_TTFT_MS: f64 = 1e9;

/// One deployment and its estimated figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    /// Aggregated or disaggregated.
    pub mode: Mode,
    /// Prefill pool (disaggregated).
    pub prefill: Option<PoolShape>,
    /// Decode pool (disaggregated).
    pub decode: Option<PoolShape>,
    /// The one pool (aggregated).
    pub aggregated: Option<PoolShape>,
    /// Sequences per decode (or aggregated) worker: its `max_num_seqs`.
    pub batch: u32,
    /// GPUs of the deployment.
    pub gpus: u32,
    /// Estimated mean TTFT at the planned load, ms (infinite where the queue does not settle:
    /// [`UNBOUNDED_TTFT_MS`]).
    pub ttft_ms: f64,
    /// Estimated mean ITL, ms.
    pub itl_ms: f64,
    /// Requests/s the deployment is planned for (the load offered, where its queue never
    /// settles: [`UNBOUNDED_TTFT_MS`]).
    pub request_rate: f64,
    /// Output tokens/s of the deployment.
    pub tokens_per_s: f64,
    /// Output tokens/s per GPU.
    pub tokens_per_s_per_gpu: f64,
    /// Output tokens/s of one request (1000 / ITL).
    pub tokens_per_s_per_user: f64,
    /// Requests in flight at that load (Little's law).
    pub concurrency: f64,
    /// Output tokens/s per GPU of requests meeting both SLOs (0 when an SLO is missed).
    pub goodput_per_gpu: f64,
    /// The SLOs it misses.
    pub misses: Vec<SloMiss>,
}

impl Candidate {
    /// The deployment of `pools`, `batch` sequences a decode (or aggregated) worker, on
    /// `gpus` GPUs, as estimated, answering `osl` tokens a request and missing `misses`:
    /// its tokens/s (per GPU and per user) and goodput follow.
    pub fn estimated(
        pools: Pools,
        batch: u32,
        gpus: u32,
        e: Estimate,
        osl: u32,
        misses: Vec<SloMiss>,
    ) -> Candidate {
        let (mode, prefill, decode, aggregated) = match pools {
            Pools::Disaggregated { prefill, decode } => {
                (Mode::Disaggregated, Some(prefill), Some(decode), None)
            }
            Pools::Aggregated(pool) => (Mode::Aggregated, None, None, Some(pool)),
        };
        let tokens = e.request_rate * f64::from(osl);
        let per_gpu = tokens / f64::from(gpus);
        // A queue that never settles: no finite TTFT, nor a count in flight.
        let unbounded = e.ttft_ms >= UNBOUNDED_TTFT_MS;
        let (ttft_ms, concurrency) = if unbounded {
            (f64::INFINITY, f64::INFINITY)
        } else {
            (e.ttft_ms, e.concurrency)
        };
        let misses = if unbounded {
            (misses.into_iter())
                .map(|m| match m.slo {
                    "ttft" => SloMiss {
                        estimate: f64::INFINITY,
                        over: f64::INFINITY,
                        ..m
                    },
                    _ => m,
                })
                .collect()
        } else {
            misses
        };
        Candidate {
            mode,
            prefill,
            decode,
            aggregated,
            batch,
            gpus,
            ttft_ms,
            itl_ms: e.itl_ms,
            request_rate: e.request_rate,
            tokens_per_s: tokens,
            tokens_per_s_per_gpu: per_gpu,
            tokens_per_s_per_user: 1e3 / e.itl_ms,
            concurrency,
            goodput_per_gpu: if misses.is_empty() { per_gpu } else { 0.0 },
            misses,
        }
    }

    /// Whether both SLOs are met.
    pub fn meets_slo(&self) -> bool {
        self.misses.is_empty()
    }

    /// Whether the deployment meets its latency targets and misses only the GPU budget
    /// (its GPUs, or the nodes they take): what the load needs, however many GPUs that is.
    pub fn misses_only_budget(&self) -> bool {
        !self.misses.is_empty()
            && self
                .misses
                .iter()
                .all(|m| matches!(m.slo, "gpus" | "nodes"))
    }

    /// How far the SLOs are missed together: the product of each missed one's estimate over
    /// its target (1 when all are met), so that a deployment needing twice the GPUs and one
    /// needing twice the TTFT are as far off, and one missing both is further than either.
    /// By the worse miss alone, a load far beyond the GPU budget hid every other: of two
    /// deployments 12 times over it, the one missing its TTFT by half ranked level with the
    /// one meeting it. A figure missing altogether (NaN: a simulation that completed no
    /// request) is missed the furthest.
    pub fn miss_factor(&self) -> f64 {
        (self.misses.iter())
            .map(|m| {
                if m.over.is_nan() {
                    f64::INFINITY
                } else {
                    1.0 + m.over
                }
            })
            .product()
    }

    /// A short label: `disagg 3×TP2 + 1×TP2 (b128)` / `agg 2×TP4 (b64)`.
    pub fn label(&self) -> String {
        match (self.prefill, self.decode, self.aggregated) {
            (Some(p), Some(d), _) => format!(
                "disagg {}×{} + {}×{} (b{})",
                p.workers,
                p.split.label(),
                d.workers,
                d.split.label(),
                self.batch
            ),
            (_, _, Some(a)) => format!("agg {}×{} (b{})", a.workers, a.split.label(), self.batch),
            _ => "none".into(),
        }
    }
}

/// A point of a Pareto frontier.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrontierPoint {
    /// The deployment.
    pub candidate: Candidate,
    /// On the frontier of its mode.
    pub on_frontier: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_target_prints_as_itself() {
        let m = SloMiss {
            slo: "itl",
            target: 0.001,
            estimate: 5.5,
            unit: "ms",
            over: 5499.0,
        };
        assert_eq!(m.shown(), ("5.5 ms".to_string(), "0.00100 ms".to_string()));
        let gpus = SloMiss {
            slo: "gpus",
            target: 8.0,
            estimate: 206.0,
            unit: "GPUs",
            over: 24.75,
        };
        assert_eq!(gpus.shown(), ("206 GPUs".to_string(), "8 GPUs".to_string()));
    }

    /// A miss of `slo` by `over` (its estimate `over` beyond a target of 8).
    fn miss(slo: &'static str, over: f64) -> SloMiss {
        SloMiss {
            slo,
            target: 8.0,
            estimate: 8.0 * (1.0 + over),
            unit: if slo == "ttft" { "ms" } else { "GPUs" },
            over,
        }
    }

    /// An aggregated candidate on `gpus` GPUs with these misses (its TTFT missing, NaN).
    fn missing(gpus: u32, misses: Vec<SloMiss>) -> Candidate {
        let e = Estimate {
            ttft_ms: f64::NAN,
            itl_ms: 20.0,
            request_rate: 1.0,
            concurrency: 1.0,
        };
        let pools = Pools::Aggregated(PoolShape {
            split: Split::tensor(1),
            workers: 1,
        });
        Candidate::estimated(pools, 8, gpus, e, 100, misses)
    }

    #[test]
    fn misses_compound_and_a_missing_figure_is_the_furthest() {
        let c = |misses| missing(1, misses);
        let ttft = |over| miss("ttft", over);
        assert_eq!(c(vec![ttft(0.5)]).miss_factor(), 1.5);
        assert_eq!(c(vec![ttft(0.5), ttft(1.0)]).miss_factor(), 3.0);
        assert_eq!(
            c(vec![ttft(0.5), ttft(f64::NAN)]).miss_factor(),
            f64::INFINITY
        );
        assert_eq!(c(Vec::new()).miss_factor(), 1.0);
    }

    #[test]
    fn meeting_the_latency_targets_beyond_the_budget_is_closest() {
        // 25 times the GPUs, the targets met; 18 times and the TTFT missed by a quarter.
        let needs = missing(200, vec![miss("gpus", 24.0)]);
        let short = missing(144, vec![miss("gpus", 17.0), miss("ttft", 0.25)]);
        assert!(needs.misses_only_budget() && !short.misses_only_budget());
        assert!(short.miss_factor() < needs.miss_factor());
        assert!(crate::profiler::search::rank(&needs, &short).is_lt());
        // Among those missing the budget alone, the fewest GPUs.
        let fewer = missing(96, vec![miss("gpus", 11.0), miss("nodes", 11.0)]);
        assert!(crate::profiler::search::rank(&fewer, &needs).is_lt());
    }

    #[test]
    fn mixtures_of_experts_are_searched_with_their_experts_spread() {
        let dense = LlmSpec::lookup("meta-llama/Llama-3.1-8B-Instruct").unwrap();
        let labels = |l: &LlmSpec, g| splits(l, g).iter().map(Split::label).collect::<Vec<_>>();
        assert_eq!(labels(&dense, 8), ["TP1", "TP2", "TP4", "TP8"]);
        let moe = LlmSpec::lookup("openai/gpt-oss-120b").unwrap();
        assert_eq!(
            labels(&moe, 4),
            ["TP1", "TP2", "TP2EP2", "DP2EP2", "TP4", "TP4EP4", "DP4EP4"]
        );
        for split in splits(&moe, 8) {
            let par = split.parallelism();
            assert_eq!(u64::from(split.gpus()), par.gpus());
            assert_eq!(par.moe_tp * par.moe_ep, split.gpus(), "{}", split.label());
        }
    }
}
