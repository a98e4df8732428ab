//! Closed-form estimates of one worker under steady load with fixed request sizes, from its
//! iteration predictor: the profiler's fast model (`servesim profile`), where the simulator
//! would take seconds per deployment.
//!
//! - **Queueing**: arrivals taken as Poisson and a prefill worker as an M/D/1 queue, so the
//!   mean response at utilisation `ρ` of a service time `S` is `S · (1 + ρ / (2 (1 − ρ)))`
//!   (Pollaczek–Khinchine with deterministic service).
//! - **Prefill**: one prompt at batch 1, chunked by the engine's token budget.
//! - **Decode**: one step of `b` sequences at the mean context.
//! - **Aggregated** (stationary estimate): with `b` sequences per worker, each request spends
//!   `n_c` iterations in prefill chunks (ISL split by the token budget left after the `b`
//!   decode tokens) and OSL − 1 in decode, so `b / (n_c + OSL − 1)` requests start per
//!   iteration and a share `f = min(1, that × n_c)` of iterations carry a prefill chunk.
//!   The mean iteration (= the mean ITL) is `(1 − f) · decode step + f · mixed step`; TTFT is
//!   half an iteration (arrival inside one) plus the `n_c` mixed steps plus an M/D/1 wait on
//!   the prefill slot, busy `requests/s × n_c mixed steps` of the time.

use crate::perf::{BatchShape, CachedPredictor, PrefillChunk};

/// Mean M/D/1 response time, ms, of service `service_ms` at utilisation `rho` (kept below 1).
pub fn mdl_response_ms(service_ms: f64, rho: f64) -> f64 {
    let rho = rho.clamp(0.0, 0.999);
    service_ms * (1.0 + rho / (2.0 * (1.0 - rho)))
}

/// The utilisation at which the M/D/1 mean response of `service_ms` equals `target_ms`, at
/// most `cap`; 0 when even an idle worker misses the target.
pub fn mdl_max_utilisation(service_ms: f64, target_ms: f64, cap: f64) -> f64 {
    let k = target_ms / service_ms - 1.0;
    if k <= 0.0 {
        return 0.0;
    }
    (2.0 * k / (1.0 + 2.0 * k)).min(cap)
}

/// Time of one prompt of `isl` tokens prefilled alone, in chunks of at most `chunk` tokens
/// (each chunk attending to the ones before it), ms, with `predict_ms` timing each step.
pub fn prefill_alone_ms(isl: u32, chunk: u32, predict_ms: impl Fn(&BatchShape<'_>) -> f64) -> f64 {
    let mut done = 0;
    let mut ms = 0.0;
    while done < isl {
        let tokens = (isl - done).min(chunk);
        ms += predict_ms(&BatchShape {
            prefill: &[PrefillChunk {
                tokens,
                context: done,
            }],
            decode_seqs: 0,
            decode_kv_tokens: 0,
        });
        done += tokens;
    }
    ms
}

/// Fixed request sizes, and the engine's token budget per iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SteadyLoad {
    /// Prompt tokens.
    pub isl: u32,
    /// Output tokens.
    pub osl: u32,
    /// Tokens one iteration may schedule.
    pub max_batched_tokens: u32,
}

impl SteadyLoad {
    /// Mean context of a decoding sequence: the prompt and half the output.
    pub fn mean_context(&self) -> u64 {
        u64::from(self.isl) + u64::from(self.osl) / 2
    }

    /// Decode steps of a request after its first token (at least 1).
    pub fn decode_steps(&self) -> f64 {
        f64::from(self.osl.saturating_sub(1).max(1))
    }

    /// Prefill time of one prompt at batch 1, chunked by the token budget, ms.
    pub fn prefill_ms(&self, p: &CachedPredictor) -> f64 {
        prefill_alone_ms(self.isl, self.max_batched_tokens.max(16), |b| {
            p.predict_ms(b)
        })
    }

    /// Decode step time at `b` sequences of the mean context, ms.
    pub fn decode_step_ms(&self, p: &CachedPredictor, b: u32) -> f64 {
        p.predict_ms(&BatchShape {
            prefill: &[],
            decode_seqs: b,
            decode_kv_tokens: u64::from(b) * self.mean_context(),
        })
    }

    /// An aggregated worker at `b` sequences (see the module documentation), or `None` when
    /// it cannot keep up with the prefill work of `b` sequences.
    pub fn aggregated(&self, p: &CachedPredictor, b: u32) -> Option<AggregatedPoint> {
        let budget = self.max_batched_tokens;
        if b >= budget {
            return None;
        }
        let chunk = (budget - b).min(self.isl);
        let decode = self.decode_step_ms(p, b);
        let mut done = 0;
        let mut mixed = 0.0;
        let mut n_c = 0u32;
        while done < self.isl {
            let tokens = (self.isl - done).min(chunk);
            mixed += p.predict_ms(&BatchShape {
                prefill: &[PrefillChunk {
                    tokens,
                    context: done,
                }],
                decode_seqs: b.saturating_sub(1),
                decode_kv_tokens: u64::from(b.saturating_sub(1)) * self.mean_context(),
            });
            done += tokens;
            n_c += 1;
        }
        let mixed_mean = mixed / f64::from(n_c);
        let per_iter = f64::from(b) / (f64::from(n_c) + self.decode_steps());
        let f = per_iter * f64::from(n_c);
        if f >= 0.98 {
            return None;
        }
        let iter = (1.0 - f) * decode + f * mixed_mean;
        let rate = per_iter / (iter / 1e3);
        // The prefill slot is busy a share `rate × mixed` of the time (not `f`, a share of
        // iterations: mixed iterations are the long ones).
        let rho = rate * mixed / 1e3;
        if rho >= 0.98 {
            return None;
        }
        Some(AggregatedPoint {
            itl_ms: iter,
            ttft_ms: 0.5 * iter + mdl_response_ms(mixed, rho),
            requests_per_s: rate,
        })
    }
}

/// An aggregated worker's steady state at one batch size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AggregatedPoint {
    /// Mean iteration, = mean ITL, ms.
    pub itl_ms: f64,
    /// Mean TTFT, ms.
    pub ttft_ms: f64,
    /// Requests served per second.
    pub requests_per_s: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mdl_utilisation_inverts_the_response() {
        for (s, target) in [(10.0, 15.0), (40.0, 200.0), (1.0, 1.01)] {
            let rho = mdl_max_utilisation(s, target, 1.0);
            let back = mdl_response_ms(s, rho);
            assert!(
                (back - target).abs() < 1e-9 * target,
                "{s} {target}: {back}"
            );
        }
        assert_eq!(mdl_max_utilisation(10.0, 9.0, 0.95), 0.0, "unreachable");
        assert_eq!(mdl_max_utilisation(1.0, 1e6, 0.95), 0.95, "capped");
    }
}
