//! SGLang's admission by estimated output (`schedule_policy.py`'s `PrefillAdder` and the
//! scheduler's `new_token_ratio`, SGLang 0.5): a request is admitted only if its prompt and
//! its whole output (clipped at [`CLIP_MAX_NEW_TOKENS`]) fit in the free and evictable KV
//! tokens left after reserving `ratio ×` the outputs still to come of the running requests.
//! The ratio starts at `0.7 × schedule_conservativeness`, falls linearly to 0.14 of that over
//! 600 decode steps, and is reset after a retraction to what the retracted batch shows:
//! `(tokens decoded + 20 × requests) / output budget` (`retract_decode` in
//! `schedule_batch.py`; the constants are `global_config.py`'s
//! `default_init_new_token_ratio`, `default_min_new_token_ratio_factor`,
//! `default_new_token_ratio_decay_steps` and `retract_decode_steps`).
//!
//! vLLM and TensorRT-LLM admit otherwise (by the prompt's blocks above a watermark; by the
//! whole output under `GUARANTEED_NO_EVICT`): they have no ratio.

/// The output tokens one request is assumed to still make at most
/// (`SGLANG_CLIP_MAX_NEW_TOKENS_ESTIMATION`, 4,096 by default).
pub const CLIP_MAX_NEW_TOKENS: u64 = 4096;

/// Decode steps a retracted batch is assumed to run before the next retraction.
const RETRACT_DECODE_STEPS: u64 = 20;

/// How the ratio moves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NewTokenRatio {
    /// Ratio when the engine starts (0.7 × `schedule_conservativeness`).
    pub init: f64,
    /// Floor the ratio decays to (0.14 × `init`).
    pub min: f64,
    /// Decode steps from `init` down to `min`.
    pub decay_steps: u32,
}

impl NewTokenRatio {
    /// SGLang's defaults for a `schedule_conservativeness` (1.0 unless set).
    pub fn sglang(schedule_conservativeness: f64) -> NewTokenRatio {
        let init = (0.7 * schedule_conservativeness).min(1.0);
        NewTokenRatio {
            init,
            min: 0.14 * init,
            decay_steps: 600,
        }
    }

    /// The ratio after one more decode step from `ratio`.
    pub fn decayed(&self, ratio: f64) -> f64 {
        let step = (self.init - self.min) / f64::from(self.decay_steps.max(1));
        (ratio - step).max(self.min)
    }

    /// The ratio after a retraction, from the requests still running: the tokens they
    /// decoded and their output budgets.
    pub fn after_retraction(decoded: u64, budget: u64, running: u64) -> f64 {
        if budget == 0 {
            return 1.0;
        }
        ((decoded + RETRACT_DECODE_STEPS * running) as f64 / budget as f64).min(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_decays_from_its_start_to_its_floor_in_600_steps() {
        let r = NewTokenRatio::sglang(1.0);
        assert!((r.init - 0.7).abs() < 1e-12 && (r.min - 0.098).abs() < 1e-12);
        let mut x = r.init;
        for _ in 0..599 {
            x = r.decayed(x);
        }
        assert!(x > r.min);
        x = r.decayed(x);
        assert!((x - r.min).abs() < 1e-9);
        assert_eq!(r.decayed(r.min), r.min);
        // A more conservative scheduler reserves more, up to the whole output.
        assert_eq!(NewTokenRatio::sglang(2.0).init, 1.0);
    }

    #[test]
    fn a_retraction_sets_the_ratio_to_what_the_batch_shows() {
        // 10 requests that decoded 500 of 1,000 tokens each: (5,000 + 200) / 10,000.
        assert!((NewTokenRatio::after_retraction(5000, 10_000, 10) - 0.52).abs() < 1e-12);
        assert_eq!(NewTokenRatio::after_retraction(9_990, 10_000, 10), 1.0);
        assert_eq!(NewTokenRatio::after_retraction(0, 0, 0), 1.0);
    }
}
