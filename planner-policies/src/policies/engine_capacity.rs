//! How many requests per second one engine serves within the SLO, as Dynamo 1.6's SLA planner
//! sizes its pools (`find_engine_capacity_rps` in `dynamo/planner/core/perf_model/
//! engine_query.py` of ai-dynamo 1.6.1): every batch size the engine's limits allow is tried
//! (at most 128 of them, spread evenly), a batch's latency is timed from the profile, and
//! the batch serving the most requests per second whose latency meets the target wins (the
//! fastest of those that miss it when none meets it, as its `_select_capacity` does with
//! its default target, throughput).
//!
//! - **Prefill**: `b` prompts of `isl` tokens in one forward pass, `b` at most
//!   `min(max_num_seqs, max_batched_tokens / isl)` (1 for a prompt longer than the token
//!   budget), chunked by the token budget; its time is the profile's TTFT of that many
//!   tokens; `b / time` requests per second, within the TTFT target.
//! - **Decode**: `b` sequences at the context `isl + osl / 2`, `b` at most `min(max_num_seqs,
//!   max_kv_tokens / context)`; its step is the profile's ITL at that KV usage; `b / (osl ×
//!   itl)` requests per second, within the ITL target.
//!
//! Dynamo times a batch with a regression fitted to the engines' forward passes; here the
//! profile (Dynamo's own files, or one computed from the performance model) stands in for it.

use crate::profile::Profile;

/// Batch sizes Dynamo tries at most (`MAX_CAPACITY_SEARCH_CANDIDATES`).
const MAX_CANDIDATES: u64 = 128;

/// One engine's limits, as its configuration sets them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct EngineLimits {
    /// Most sequences running at once.
    pub max_num_seqs: u32,
    /// Token budget of one iteration.
    pub max_batched_tokens: u32,
    /// KV capacity, tokens.
    pub max_kv_tokens: u64,
}

/// A batch size's requests per second, and whether its latency meets the target.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Capacity {
    rps: f64,
    eligible: bool,
}

/// The better of two: one that meets the target over one that does not, else the more
/// requests per second.
fn select(best: Option<Capacity>, c: Capacity) -> Option<Capacity> {
    match best {
        Some(b) if b.eligible && !c.eligible => Some(b),
        Some(b) if b.eligible == c.eligible && b.rps >= c.rps => Some(b),
        _ => Some(c),
    }
}

/// The batch sizes tried up to `max_batch` (`_capacity_batch_sizes`).
fn batch_sizes(max_batch: u64) -> impl Iterator<Item = u64> {
    let n = max_batch.min(MAX_CANDIDATES);
    (0..n).map(move |i| {
        if max_batch <= MAX_CANDIDATES {
            i + 1
        } else {
            1 + i * (max_batch - 1) / (MAX_CANDIDATES - 1)
        }
    })
}

/// Time of a forward pass over `tokens` prompt tokens, ms: whole chunks of the token budget
/// and the rest (`_prefill_chunk_time`).
fn prefill_ms(profile: &Profile, tokens: u64, budget: u64) -> f64 {
    let budget = budget.max(1);
    let (full, tail) = (tokens / budget, tokens % budget);
    let mut ms = full as f64 * profile.prefill_ttft_ms(budget as f64);
    if tail > 0 {
        ms += profile.prefill_ttft_ms(tail as f64);
    }
    ms
}

/// Requests per second one prefill engine serves with prompts of `isl` tokens within
/// `ttft_ms` (0 when the profile times nothing).
pub(crate) fn prefill_rps(profile: &Profile, limits: EngineLimits, isl: f64, ttft_ms: f64) -> f64 {
    let isl = isl.ceil().max(1.0) as u64;
    let budget = u64::from(limits.max_batched_tokens.max(1));
    let max_batch = if isl > budget {
        1
    } else {
        u64::from(limits.max_num_seqs.max(1)).min(budget / isl)
    };
    let mut best = None;
    for b in batch_sizes(max_batch) {
        let ms = prefill_ms(profile, isl * b, budget);
        if ms > 0.0 && ms.is_finite() {
            let c = Capacity {
                rps: b as f64 / (ms / 1e3),
                eligible: ms <= ttft_ms,
            };
            best = select(best, c);
        }
    }
    best.map_or(0.0, |c| c.rps)
}

/// Requests per second one decode engine serves with prompts of `isl` and answers of `osl`
/// tokens within `itl_ms` (0 when it holds no sequence of that context).
pub(crate) fn decode_rps(
    profile: &Profile,
    limits: EngineLimits,
    isl: f64,
    osl: f64,
    itl_ms: f64,
) -> f64 {
    let osl = osl.ceil().max(1.0) as u64;
    let context = (isl.ceil().max(1.0) as u64 + osl / 2).max(1);
    let max_batch = u64::from(limits.max_num_seqs).min(limits.max_kv_tokens / context);
    let profile_kv = profile.max_kv_tokens().max(1) as f64;
    let mut best = None;
    for b in batch_sizes(max_batch) {
        let usage = (b * context) as f64 / profile_kv;
        let ms = profile.decode_itl_ms(usage, context as f64);
        if ms > 0.0 && ms.is_finite() {
            let c = Capacity {
                rps: b as f64 / (osl as f64 * ms / 1e3),
                eligible: ms <= itl_ms,
            };
            best = select(best, c);
        }
    }
    best.map_or(0.0, |c| c.rps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{DecodeRaw, MaxKvTokens, PrefillRaw};

    /// A prefill worker taking 10 ms plus 20 µs a token, and a decode worker whose step takes
    /// 5 ms plus 10 ms per full KV cache of 100,000 tokens, flat in context.
    fn profile() -> Profile {
        let isl = [100.0, 1_000.0, 10_000.0, 100_000.0];
        let prefill = PrefillRaw {
            prefill_isl: isl.to_vec(),
            prefill_ttft: isl.iter().map(|n| 10.0 + 0.02 * n).collect(),
            prefill_thpt_per_gpu: isl.iter().map(|n| n / (10.0 + 0.02 * n) * 1e3).collect(),
            tp: Some(1),
        };
        let kv = [0.0, 0.5, 1.0];
        let mut decode = DecodeRaw {
            x_kv_usage: Vec::new(),
            y_context_length: Vec::new(),
            z_itl: Vec::new(),
            z_thpt_per_gpu: Vec::new(),
            max_kv_tokens: MaxKvTokens::One(100_000.0),
            tp: Some(1),
        };
        for ctx in [1_000.0, 10_000.0] {
            for u in kv {
                decode.x_kv_usage.push(u);
                decode.y_context_length.push(ctx);
                decode.z_itl.push(5.0 + 10.0 * u);
                decode.z_thpt_per_gpu.push(1.0);
            }
        }
        Profile::new(prefill, decode).unwrap()
    }

    const LIMITS: EngineLimits = EngineLimits {
        max_num_seqs: 256,
        max_batched_tokens: 8_192,
        max_kv_tokens: 100_000,
    };

    #[test]
    fn prefill_batches_as_many_prompts_as_the_budget_holds_within_the_target() {
        let p = profile();
        // 3,000-token prompts: at most 2 a pass (8,192 tokens). One takes 70 ms (14.3/s), two
        // 130 ms (15.4/s): two win.
        let rps = prefill_rps(&p, LIMITS, 3_000.0, 200.0);
        assert!((rps - 2.0 / 0.130).abs() < 1e-9, "{rps}");
        // A target of 100 ms leaves only one.
        let rps = prefill_rps(&p, LIMITS, 3_000.0, 100.0);
        assert!((rps - 1.0 / 0.070).abs() < 1e-9, "{rps}");
        // A prompt longer than the budget runs alone, in chunks: 8,192 + 1,808 tokens, 173.84
        // + 46.16 ms.
        let rps = prefill_rps(&p, LIMITS, 10_000.0, 1e9);
        assert!((rps - 1.0 / 0.220).abs() < 1e-9, "{rps}");
    }

    #[test]
    fn with_no_batch_within_the_target_the_fastest_counts() {
        // Every prefill of 3,000 tokens takes at least 70 ms: the most requests per second
        // of all (two at a time) is kept, as Dynamo keeps it (and warns).
        let rps = prefill_rps(&profile(), LIMITS, 3_000.0, 10.0);
        assert!((rps - 2.0 / 0.130).abs() < 1e-9, "{rps}");
    }

    #[test]
    fn decode_fills_the_batch_up_to_the_itl_target() {
        let p = profile();
        // Context 3,000 + 150 = 3,150 tokens; 31 sequences fit in 100,000. ITL 5 ms + 10 ms ×
        // usage: within 8 ms up to 30% usage, 9 sequences (28.35%): 9 / (300 × 7.835 ms).
        let rps = decode_rps(&p, LIMITS, 3_000.0, 300.0, 8.0);
        let want = 9.0 / (300.0 * (5.0 + 10.0 * 9.0 * 3_150.0 / 100_000.0) / 1e3);
        assert!((rps - want).abs() < 1e-9, "{rps} against {want}");
        // A target every batch meets: the fullest batch.
        let rps = decode_rps(&p, LIMITS, 3_000.0, 300.0, 100.0);
        let want = 31.0 / (300.0 * (5.0 + 10.0 * 31.0 * 3_150.0 / 100_000.0) / 1e3);
        assert!((rps - want).abs() < 1e-9, "{rps} against {want}");
    }

    #[test]
    fn the_batch_sizes_tried_are_at_most_128_and_span_the_limit() {
        assert_eq!(batch_sizes(3).collect::<Vec<_>>(), vec![1, 2, 3]);
        let many: Vec<u64> = batch_sizes(1_000).collect();
        assert_eq!(many.len(), 128);
        assert_eq!((many[0], many[127]), (1, 1_000));
        assert!(batch_sizes(0).next().is_none());
    }
}
