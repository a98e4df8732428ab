//! The serving frontend: what stands between the users and the engines — the HTTP server,
//! tokenizer and detokenizer (and, in a benchmark, the client that reads the streams).
//!
//! Two costs, both on the host:
//! - a fixed **latency** per request before it reaches a worker (HTTP, tokenization, the
//!   hand-off to the engine process);
//! - a **host time per streamed output token** in one process shared by every request
//!   (detokenizing, framing and sending each token). That process serves its work in order:
//!   the tokens of an engine iteration are delivered once the work queued before them is
//!   done, and a new request is handed to the engine only after it, so a frontend that cannot
//!   keep up delays first tokens and caps the output rate of the whole deployment, however
//!   many GPUs serve it.
//!
//! The work is accounted per engine iteration (its tokens at once), never per token.

use std::collections::VecDeque;

use crate::backend::Backend;
use servesim_core::{SimDuration, SimTime};

/// The frontend's costs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrontendSpec {
    /// Fixed latency of each request before it reaches a worker.
    pub latency: SimDuration,
    /// Host time per streamed output token, in the one process every request shares.
    pub token_cost: SimDuration,
}

impl FrontendSpec {
    /// A frontend that costs nothing (the engines' view).
    pub fn is_ideal(&self) -> bool {
        self.latency == SimDuration::ZERO && self.token_cost == SimDuration::ZERO
    }

    /// The OpenAI-compatible server each engine ships, with a benchmark client reading its
    /// streams — how `servesim validate`'s measured rows were served. Read from the shared
    /// measurements (`data/e2e/`), where they show on the host rather than the GPUs:
    /// - TensorRT-LLM (`trtllm-serve` 1.0): requests that wait for nothing take 18–35 ms longer
    ///   than their prefill at every TP (Llama-3.1-70B at concurrency 4–8, TP1–TP8), and at
    ///   concurrency 128 the output rate stops at 8.0–9.2 k tokens/s on TP4 and TP8 alike
    ///   (~100–125 µs a token);
    /// - SGLang (0.5): at concurrency 512 the output rate stops at 15–20 k tokens/s on TP4 and
    ///   TP8 alike (~50–65 µs a token); the same fixed latency as TensorRT-LLM's;
    /// - vLLM (0.12): no ceiling in its rows (up to 12.5 k tokens/s) and first tokens as early as
    ///   its prefill allows: left ideal.
    pub fn engine_server(backend: Backend) -> FrontendSpec {
        let us = |n: u64| SimDuration::from_nanos(n * 1_000);
        match backend {
            Backend::Trtllm => FrontendSpec {
                latency: us(25_000),
                token_cost: us(100),
            },
            Backend::Sglang => FrontendSpec {
                latency: us(25_000),
                token_cost: us(50),
            },
            Backend::Vllm => FrontendSpec::default(),
        }
    }
}

/// How long the deliveries of past iterations are remembered, to time the gaps between a
/// user's tokens; a longer gap (a preempted sequence) is taken as the engine saw it.
const DELIVERY_MEMORY: SimDuration = SimDuration::from_nanos(60_000_000_000);
/// At most this many deliveries are remembered (1 MiB), however many workers step at once.
const MAX_DELIVERIES: usize = 1 << 16;

/// The frontend's state in a run: when its host process is next free.
#[derive(Clone, Debug)]
pub struct Frontend {
    spec: FrontendSpec,
    free_at: SimTime,
    /// Host time spent on tokens so far.
    busy: SimDuration,
    /// Recent iterations with tokens: (when the engine ended it, when its tokens reached
    /// their users), in time order.
    deliveries: VecDeque<(SimTime, SimTime)>,
}

impl Frontend {
    /// An idle frontend.
    pub fn new(spec: FrontendSpec) -> Frontend {
        Frontend {
            spec,
            free_at: SimTime::ZERO,
            busy: SimDuration::ZERO,
            deliveries: VecDeque::new(),
        }
    }

    /// A request sent by its user at `now` reaches the cluster at the returned time: after
    /// the work queued before it, and the fixed latency.
    pub fn admit(&mut self, now: SimTime) -> SimTime {
        self.free_at = self.free_at.max(now);
        self.free_at + self.spec.latency
    }

    /// An engine iteration ending at `now` streamed `tokens`: they reach their users at the
    /// returned time, once the work queued before them and their own is done.
    pub fn stream(&mut self, now: SimTime, tokens: u64) -> SimTime {
        let work = SimDuration::from_nanos(self.spec.token_cost.as_nanos().saturating_mul(tokens));
        self.free_at = self.free_at.max(now) + work;
        self.busy += work;
        if tokens > 0 {
            self.deliveries.push_back((now, self.free_at));
            let horizon = now.checked_sub(DELIVERY_MEMORY).unwrap_or(SimTime::ZERO);
            while self.deliveries.len() > MAX_DELIVERIES
                || self.deliveries.front().is_some_and(|&(t, _)| t < horizon)
            {
                self.deliveries.pop_front();
            }
        }
        self.free_at
    }

    /// Share of the time up to `now` its host process has been busy (work queued past `now`
    /// not counted): near 1, the frontend is what limits the deployment.
    pub fn busy_share(&self, now: SimTime) -> f64 {
        let elapsed = now.saturating_duration_since(SimTime::ZERO).as_nanos();
        if elapsed == 0 {
            return 0.0;
        }
        let queued = self.free_at.saturating_duration_since(now).as_nanos();
        self.busy.as_nanos().saturating_sub(queued) as f64 / elapsed as f64
    }

    /// A token the engine made `gap` after the user's previous one, in an iteration ending at
    /// `now` and delivered at `seen`: the gap its user sees. Iterations of several workers
    /// that end at the same nanosecond cannot be told apart: the previous token is taken as
    /// delivered with the last of them (workers stepping in lockstep see gaps shortened by
    /// the host time of the others' tokens; per-request means, from first and last tokens,
    /// are exact).
    pub fn user_gap(&self, now: SimTime, seen: SimTime, gap: SimDuration) -> SimDuration {
        let Some(before) = now.checked_sub(gap) else {
            return gap;
        };
        // The last iteration that ended by then is the one that made the previous token.
        let i = self.deliveries.partition_point(|&(t, _)| t <= before);
        match i.checked_sub(1).map(|i| self.deliveries[i]) {
            Some((_, delivered)) => seen.saturating_duration_since(delivered),
            None => gap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> SimDuration {
        SimDuration::from_nanos(n * 1_000_000)
    }

    /// A frontend with no latency and `token_cost` a token.
    fn costing(token_cost: SimDuration) -> Frontend {
        Frontend::new(FrontendSpec {
            latency: SimDuration::ZERO,
            token_cost,
        })
    }

    #[test]
    fn an_idle_frontend_adds_its_latency_and_the_tokens_own_cost() {
        let mut f = Frontend::new(FrontendSpec {
            latency: ms(20),
            token_cost: SimDuration::from_nanos(100_000),
        });
        let t = SimTime::ZERO + ms(1_000);
        assert_eq!(f.admit(t), t + ms(20));
        // 10 tokens × 100 µs.
        assert_eq!(f.stream(t, 10), t + ms(1));
        // Idle again 1 s later: no queue left.
        assert_eq!(f.stream(t + ms(1_000), 0), t + ms(1_000));
        // Busy 1 ms of 2 s.
        assert!((f.busy_share(t + ms(1_000)) - 0.0005).abs() < 1e-12);
    }

    #[test]
    fn work_queues_in_order_and_delays_new_requests() {
        let mut f = costing(ms(1));
        let t = SimTime::ZERO;
        assert_eq!(f.stream(t, 50), t + ms(50));
        // A second iteration 10 ms later waits for the first one's tokens.
        assert_eq!(f.stream(t + ms(10), 5), t + ms(55));
        // A request sent at 20 ms reaches the engine when the queue is done.
        assert_eq!(f.admit(t + ms(20)), t + ms(55));
    }

    #[test]
    fn gaps_between_tokens_are_timed_as_delivered() {
        let mut f = costing(ms(1));
        let t = SimTime::ZERO + ms(100);
        // Iteration 1 ends at 100 ms with 20 tokens (delivered at 120 ms), iteration 2 at
        // 105 ms with 20 more (delivered at 140 ms): 5 ms apart at the engine, 20 ms apart
        // for their users.
        let first = f.stream(t, 20);
        let second = f.stream(t + ms(5), 20);
        assert_eq!((first, second), (t + ms(20), t + ms(40)));
        assert_eq!(f.user_gap(t + ms(5), second, ms(5)), ms(20));
        // A gap from before anything remembered is the engine's.
        assert_eq!(f.user_gap(t + ms(5), second, ms(50)), ms(50));
    }

    #[test]
    fn iterations_ending_together_count_as_delivered_with_the_last() {
        let mut f = costing(ms(1));
        let t = SimTime::ZERO + ms(100);
        // Two workers end an iteration at 100 ms (10 tokens each: delivered at 110 and 120 ms).
        f.stream(t, 10);
        f.stream(t, 10);
        let seen = f.stream(t + ms(30), 10);
        assert_eq!(seen, t + ms(40));
        assert_eq!(f.user_gap(t + ms(30), seen, ms(30)), ms(20));
    }

    #[test]
    fn memory_of_deliveries_stays_bounded() {
        let mut f = costing(SimDuration::from_nanos(1));
        let n = MAX_DELIVERIES as u64 + 1_000;
        for i in 0..n {
            f.stream(SimTime::ZERO + SimDuration::from_nanos(1_000 * i), 1);
        }
        assert!(f.deliveries.len() <= MAX_DELIVERIES + 1);
        // A gap from before the oldest remembered iteration is the engine's.
        let now = SimTime::ZERO + SimDuration::from_nanos(1_000 * (n - 1));
        let gap = SimDuration::from_nanos(1_000 * (n - 10));
        assert_eq!(f.user_gap(now, now, gap), gap);
    }

    #[test]
    fn the_engine_servers_are_ideal_only_for_vllm() {
        assert!(FrontendSpec::engine_server(Backend::Vllm).is_ideal());
        assert!(!FrontendSpec::engine_server(Backend::Trtllm).is_ideal());
        assert!(!FrontendSpec::engine_server(Backend::Sglang).is_ideal());
    }
}
