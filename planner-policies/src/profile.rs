//! Performance profiles: what the SLA planners know of a worker's speed.
//!
//! The layout is Dynamo's, as its profiler writes it:
//! - `prefill_raw_data.json`: `prefill_isl`, `prefill_ttft` (ms) and `prefill_thpt_per_gpu`
//!   (tokens/s/GPU), one entry per ISL point;
//! - `decode_raw_data.json`: `x_kv_usage` (0–1), `y_context_length`, `z_itl` (ms) and
//!   `z_thpt_per_gpu` (tokens/s/GPU), one entry per measured point, and `max_kv_tokens` (a number
//!   or a one-element array).
//!
//! Prefill is interpolated linearly in ISL; decode bilinearly over (KV usage, context length):
//! points are grouped into rows of equal context length, each row is interpolated linearly
//! in KV usage, and neighbouring rows are blended linearly in context length. Outside the
//! measured range values are held at the edge (prefill TTFT grows in proportion to ISL beyond
//! the last point).
//!
//! [`Profile::from_model`] computes one in-process from the iteration predictor.

use std::path::Path;

use serde::{Deserialize, Serialize};
use servesim_models::analytic::prefill_alone_ms;
use servesim_models::perf::{BatchShape, IterationPredictor};

use crate::error::PlannerError;

/// File name of the prefill part.
pub const PREFILL_FILE: &str = "prefill_raw_data.json";
/// File name of the decode part.
pub const DECODE_FILE: &str = "decode_raw_data.json";

/// `prefill_raw_data.json` as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrefillRaw {
    /// Input lengths, tokens.
    pub prefill_isl: Vec<f64>,
    /// TTFT of one prompt of that length at batch 1, ms.
    pub prefill_ttft: Vec<f64>,
    /// Prefill throughput, tokens/s per GPU.
    pub prefill_thpt_per_gpu: Vec<f64>,
    /// GPUs per prefill worker the profile was made for (servesim writes it; Dynamo's files
    /// may leave it out, and then nothing checks it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tp: Option<u32>,
}

/// `max_kv_tokens`: a number, or Dynamo's one-element array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MaxKvTokens {
    /// A number.
    One(f64),
    /// An array (the first element counts).
    Many(Vec<f64>),
}

/// `decode_raw_data.json` as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecodeRaw {
    /// KV-cache usage of each point, 0–1.
    pub x_kv_usage: Vec<f64>,
    /// Context length of each point, tokens.
    pub y_context_length: Vec<f64>,
    /// ITL of each point, ms.
    pub z_itl: Vec<f64>,
    /// Decode throughput of each point, tokens/s per GPU.
    pub z_thpt_per_gpu: Vec<f64>,
    /// KV capacity of one worker, tokens.
    pub max_kv_tokens: MaxKvTokens,
    /// GPUs per decode worker the profile was made for (as [`PrefillRaw::tp`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tp: Option<u32>,
}

#[derive(Clone, Debug, PartialEq)]
struct Row {
    context: f64,
    kv: Vec<f64>,
    itl: Vec<f64>,
    thpt: Vec<f64>,
}

/// A worker's performance profile (prefill by ISL; decode by KV usage and context length).
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    prefill: PrefillRaw,
    decode: DecodeRaw,
    max_kv_tokens: u64,
    rows: Vec<Row>,
}

/// A pool's performance model, for a profile computed in-process.
#[derive(Clone, Debug)]
pub struct PoolModel {
    /// Iteration times of one worker.
    pub predictor: IterationPredictor,
    /// GPUs per worker.
    pub tp: u32,
    /// KV capacity of one worker, tokens.
    pub max_kv_tokens: u64,
    /// Most sequences running at once.
    pub max_num_seqs: u32,
    /// Token budget of one iteration (prefill chunk size).
    pub max_batched_tokens: u32,
}

/// Linear interpolation on sorted `xs`, held at the ends.
fn interp(xs: &[f64], ys: &[f64], x: f64) -> f64 {
    let n = xs.len();
    if n == 0 {
        return 0.0;
    }
    if !x.is_finite() || x <= xs[0] {
        return ys[0];
    }
    if x >= xs[n - 1] {
        return ys[n - 1];
    }
    let i = xs.partition_point(|&v| v <= x).clamp(1, n - 1);
    let (x0, x1) = (xs[i - 1], xs[i]);
    let w = if x1 > x0 { (x - x0) / (x1 - x0) } else { 0.0 };
    ys[i - 1] + w * (ys[i] - ys[i - 1])
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, PlannerError> {
    let text = std::fs::read_to_string(path).map_err(|e| PlannerError::Profile {
        file: path.display().to_string(),
        message: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| PlannerError::Profile {
        file: path.display().to_string(),
        message: e.to_string(),
    })
}

impl Profile {
    /// A profile from the two files' contents; checks lengths, finiteness and positivity.
    pub fn new(prefill: PrefillRaw, decode: DecodeRaw) -> Result<Profile, PlannerError> {
        let bad = |file: &str, message: String| PlannerError::Profile {
            file: file.to_string(),
            message,
        };
        let n = prefill.prefill_isl.len();
        if n == 0 || prefill.prefill_ttft.len() != n || prefill.prefill_thpt_per_gpu.len() != n {
            return Err(bad(
                PREFILL_FILE,
                format!(
                    "prefill_isl, prefill_ttft and prefill_thpt_per_gpu must be non-empty and of equal length (got {}, {}, {})",
                    n,
                    prefill.prefill_ttft.len(),
                    prefill.prefill_thpt_per_gpu.len()
                ),
            ));
        }
        let all_pos = |v: &[f64]| v.iter().all(|x| x.is_finite() && *x > 0.0);
        for (name, v) in [
            ("prefill_isl", &prefill.prefill_isl),
            ("prefill_ttft", &prefill.prefill_ttft),
            ("prefill_thpt_per_gpu", &prefill.prefill_thpt_per_gpu),
        ] {
            if !all_pos(v) {
                return Err(bad(
                    PREFILL_FILE,
                    format!("{name} must hold positive finite numbers"),
                ));
            }
        }
        let m = decode.x_kv_usage.len();
        if m == 0
            || decode.y_context_length.len() != m
            || decode.z_itl.len() != m
            || decode.z_thpt_per_gpu.len() != m
        {
            return Err(bad(
                DECODE_FILE,
                format!(
                    "x_kv_usage, y_context_length, z_itl and z_thpt_per_gpu must be non-empty and of equal length (got {}, {}, {}, {})",
                    m,
                    decode.y_context_length.len(),
                    decode.z_itl.len(),
                    decode.z_thpt_per_gpu.len()
                ),
            ));
        }
        // Shares of the KV cache; a profiler's sweep may overshoot 1 a little.
        if let Some((i, x)) = decode
            .x_kv_usage
            .iter()
            .enumerate()
            .find(|(_, x)| !(x.is_finite() && (0.0..=1.5).contains(*x)))
        {
            return Err(bad(
                DECODE_FILE,
                format!("x_kv_usage[{i}]: {x} is not a share of the KV cache in [0, 1.5]"),
            ));
        }
        for (name, v) in [
            ("y_context_length", &decode.y_context_length),
            ("z_itl", &decode.z_itl),
            ("z_thpt_per_gpu", &decode.z_thpt_per_gpu),
        ] {
            if !all_pos(v) {
                return Err(bad(
                    DECODE_FILE,
                    format!("{name} must hold positive finite numbers"),
                ));
            }
        }
        let max_kv = match &decode.max_kv_tokens {
            MaxKvTokens::One(v) => Some(*v),
            MaxKvTokens::Many(v) => v.first().copied(),
        };
        let max_kv_tokens = match max_kv {
            Some(v) if (1.0..1e15).contains(&v) => v as u64,
            _ => {
                return Err(bad(
                    DECODE_FILE,
                    "max_kv_tokens must be a positive number".into(),
                ));
            }
        };
        // Sort prefill by ISL.
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by(|&a, &b| prefill.prefill_isl[a].total_cmp(&prefill.prefill_isl[b]));
        let sorted = PrefillRaw {
            prefill_isl: idx.iter().map(|&i| prefill.prefill_isl[i]).collect(),
            prefill_ttft: idx.iter().map(|&i| prefill.prefill_ttft[i]).collect(),
            prefill_thpt_per_gpu: idx
                .iter()
                .map(|&i| prefill.prefill_thpt_per_gpu[i])
                .collect(),
            tp: prefill.tp,
        };
        // Group decode points into rows of equal context, each sorted by KV usage.
        let mut order: Vec<usize> = (0..m).collect();
        order.sort_by(|&a, &b| {
            decode.y_context_length[a]
                .total_cmp(&decode.y_context_length[b])
                .then(decode.x_kv_usage[a].total_cmp(&decode.x_kv_usage[b]))
        });
        let mut rows: Vec<Row> = Vec::new();
        for i in order {
            let ctx = decode.y_context_length[i];
            match rows.last_mut() {
                Some(r) if r.context == ctx => {}
                _ => rows.push(Row {
                    context: ctx,
                    kv: Vec::new(),
                    itl: Vec::new(),
                    thpt: Vec::new(),
                }),
            }
            let r = rows.last_mut().expect("just pushed");
            r.kv.push(decode.x_kv_usage[i]);
            r.itl.push(decode.z_itl[i]);
            r.thpt.push(decode.z_thpt_per_gpu[i]);
        }
        Ok(Profile {
            prefill: sorted,
            decode,
            max_kv_tokens,
            rows,
        })
    }

    /// Reads `prefill_raw_data.json` and `decode_raw_data.json` from `dir`.
    pub fn read_dir(dir: &Path) -> Result<Profile, PlannerError> {
        let prefill: PrefillRaw = read_json(&dir.join(PREFILL_FILE))?;
        let decode: DecodeRaw = read_json(&dir.join(DECODE_FILE))?;
        Profile::new(prefill, decode).map_err(|e| match e {
            PlannerError::Profile { file, message } => PlannerError::Profile {
                file: dir.join(file).display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Writes the two files into `dir` (created if missing).
    pub fn write_dir(&self, dir: &Path) -> Result<(), PlannerError> {
        let io = |p: &Path, e: std::io::Error| PlannerError::Profile {
            file: p.display().to_string(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        for (name, text) in [
            (PREFILL_FILE, serde_json::to_string_pretty(&self.prefill)),
            (DECODE_FILE, serde_json::to_string_pretty(&self.decode)),
        ] {
            let path = dir.join(name);
            let text = text.map_err(|e| PlannerError::Profile {
                file: path.display().to_string(),
                message: e.to_string(),
            })?;
            std::fs::write(&path, text).map_err(|e| io(&path, e))?;
        }
        Ok(())
    }

    /// GPUs per worker the profile was made for, (prefill, decode), where its files say.
    pub fn tp(&self) -> (Option<u32>, Option<u32>) {
        (self.prefill.tp, self.decode.tp)
    }

    /// The prefill data (sorted by ISL).
    pub fn prefill_raw(&self) -> &PrefillRaw {
        &self.prefill
    }

    /// The decode data as given.
    pub fn decode_raw(&self) -> &DecodeRaw {
        &self.decode
    }

    /// KV capacity of one decode worker, tokens.
    pub fn max_kv_tokens(&self) -> u64 {
        self.max_kv_tokens
    }

    /// TTFT of one prompt of `isl` tokens at batch 1, ms (proportional beyond the last point).
    pub fn prefill_ttft_ms(&self, isl: f64) -> f64 {
        let p = &self.prefill;
        let last = p.prefill_isl.len() - 1;
        if isl.is_finite() && isl > p.prefill_isl[last] {
            return p.prefill_ttft[last] * isl / p.prefill_isl[last];
        }
        interp(&p.prefill_isl, &p.prefill_ttft, isl)
    }

    /// Prefill throughput at `isl`, tokens/s per GPU.
    pub fn prefill_thpt_per_gpu(&self, isl: f64) -> f64 {
        let p = &self.prefill;
        interp(&p.prefill_isl, &p.prefill_thpt_per_gpu, isl)
    }

    fn blend(&self, context: f64, f: impl Fn(&Row) -> f64) -> f64 {
        let rows = &self.rows;
        if rows.len() == 1 || !context.is_finite() || context <= rows[0].context {
            return f(&rows[0]);
        }
        let last = rows.len() - 1;
        if context >= rows[last].context {
            return f(&rows[last]);
        }
        let i = rows
            .partition_point(|r| r.context <= context)
            .clamp(1, last);
        let (a, b) = (&rows[i - 1], &rows[i]);
        let w = (context - a.context) / (b.context - a.context);
        (1.0 - w) * f(a) + w * f(b)
    }

    /// Decode ITL at `kv_usage` (0–1) and `context` tokens, ms.
    pub fn decode_itl_ms(&self, kv_usage: f64, context: f64) -> f64 {
        self.blend(context, |r| interp(&r.kv, &r.itl, kv_usage))
    }

    /// Decode throughput at `kv_usage` and `context`, tokens/s per GPU.
    pub fn decode_thpt_per_gpu(&self, kv_usage: f64, context: f64) -> f64 {
        self.blend(context, |r| interp(&r.kv, &r.thpt, kv_usage))
    }

    /// The highest decode throughput per GPU whose ITL stays within `itl_ms` at `context`,
    /// with the KV usage it runs at; when no point meets the ITL, the lowest usage's.
    pub fn best_decode_thpt_per_gpu(&self, itl_ms: f64, context: f64) -> (f64, f64) {
        let (lo, hi) = self.kv_range();
        let steps = 100;
        let mut best: Option<(f64, f64)> = None;
        for s in 0..=steps {
            let u = lo + (hi - lo) * s as f64 / steps as f64;
            if self.decode_itl_ms(u, context) <= itl_ms {
                let t = self.decode_thpt_per_gpu(u, context);
                if best.is_none_or(|(bt, _)| t > bt) {
                    best = Some((t, u));
                }
            }
        }
        best.unwrap_or_else(|| (self.decode_thpt_per_gpu(lo, context), lo))
    }

    fn kv_range(&self) -> (f64, f64) {
        let lo = self
            .decode
            .x_kv_usage
            .iter()
            .copied()
            .fold(f64::MAX, f64::min);
        let hi = self.decode.x_kv_usage.iter().copied().fold(0.0, f64::max);
        (lo.min(hi), hi)
    }

    /// Computes a profile with the performance model: prefill TTFT of one prompt per ISL at
    /// batch 1 (chunked by the iteration budget); decode ITL of one step on a grid of
    /// concurrency × context length (KV usage = concurrency × context / `max_kv_tokens`).
    pub fn from_model(prefill: &PoolModel, decode: &PoolModel) -> Result<Profile, PlannerError> {
        let model_err = |m: String| PlannerError::Model {
            path: "profile".into(),
            message: m,
        };
        if prefill.tp == 0 || decode.tp == 0 {
            return Err(model_err("TP must be positive".into()));
        }
        if decode.max_kv_tokens < 16 {
            return Err(model_err(format!(
                "decode KV capacity of {} tokens is too small",
                decode.max_kv_tokens
            )));
        }
        let chunk = prefill.max_batched_tokens.max(16);
        let mut raw = PrefillRaw {
            prefill_isl: Vec::new(),
            prefill_ttft: Vec::new(),
            prefill_thpt_per_gpu: Vec::new(),
            tp: Some(prefill.tp),
        };
        const ISL: [u32; 16] = [
            64, 128, 256, 512, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576,
            32768, 65536,
        ];
        let prefill_cap = prefill.max_kv_tokens.max(64);
        for &isl in ISL.iter().filter(|&&i| u64::from(i) <= prefill_cap) {
            let ms = prefill_alone_ms(isl, chunk, |b| prefill.predictor.predict_ms(b));
            if !(ms.is_finite() && ms > 0.0) {
                return Err(model_err(format!("prefill time of ISL {isl} is {ms} ms")));
            }
            raw.prefill_isl.push(f64::from(isl));
            raw.prefill_ttft.push(ms);
            raw.prefill_thpt_per_gpu
                .push(f64::from(isl) / (ms / 1e3) / f64::from(prefill.tp));
        }
        let mut d = DecodeRaw {
            x_kv_usage: Vec::new(),
            y_context_length: Vec::new(),
            z_itl: Vec::new(),
            z_thpt_per_gpu: Vec::new(),
            max_kv_tokens: MaxKvTokens::One(decode.max_kv_tokens as f64),
            tp: Some(decode.tp),
        };
        const CTX: [u64; 9] = [256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
        const CONC: [u64; 18] = [
            1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256, 384, 512, 768, 1024,
        ];
        let max_kv = decode.max_kv_tokens;
        for &ctx in CTX.iter().filter(|&&c| c <= max_kv) {
            let most = (max_kv / ctx).min(u64::from(decode.max_num_seqs.max(1)));
            let mut concs: Vec<u64> = CONC.iter().copied().filter(|&c| c < most).collect();
            concs.push(most.max(1));
            for c in concs {
                let kv_tokens = c * ctx;
                let itl = decode.predictor.predict_ms(&BatchShape {
                    prefill: &[],
                    decode_seqs: c as u32,
                    decode_kv_tokens: kv_tokens,
                    eager: false,
                });
                if !(itl.is_finite() && itl > 0.0) {
                    return Err(model_err(format!(
                        "decode step of {c} sequences at context {ctx} is {itl} ms"
                    )));
                }
                d.x_kv_usage
                    .push((kv_tokens as f64 / max_kv as f64).min(1.0));
                d.y_context_length.push(ctx as f64);
                d.z_itl.push(itl);
                d.z_thpt_per_gpu
                    .push(c as f64 / (itl / 1e3) / f64::from(decode.tp));
            }
        }
        Profile::new(raw, d)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small hand-made profile: prefill 10k tokens/s/GPU flat, TTFT = ISL / 20 ms;
    /// decode ITL = 10 + 20 × usage ms, throughput rising with usage.
    pub(crate) fn toy() -> Profile {
        let isl = vec![500.0, 1000.0, 2000.0, 4000.0, 8000.0];
        let prefill = PrefillRaw {
            prefill_ttft: isl.iter().map(|i| i / 20.0).collect(),
            prefill_thpt_per_gpu: vec![10_000.0; 5],
            prefill_isl: isl,
            tp: None,
        };
        let mut d = DecodeRaw {
            x_kv_usage: vec![],
            y_context_length: vec![],
            z_itl: vec![],
            z_thpt_per_gpu: vec![],
            max_kv_tokens: MaxKvTokens::Many(vec![400_000.0]),
            tp: None,
        };
        for ctx in [1000.0f64, 4000.0] {
            for u in [0.0f64, 0.25, 0.5, 0.75, 1.0] {
                let itl = 10.0 + 20.0 * u * ctx / 4000.0;
                let conc = (u * 400_000.0 / ctx).max(1.0);
                d.x_kv_usage.push(u);
                d.y_context_length.push(ctx);
                d.z_itl.push(itl);
                d.z_thpt_per_gpu.push(conc / (itl / 1e3) / 2.0);
            }
        }
        Profile::new(prefill, d).unwrap()
    }

    #[test]
    fn interpolates_prefill_and_decode() {
        let p = toy();
        assert!((p.prefill_ttft_ms(1500.0) - 75.0).abs() < 1e-9);
        assert!((p.prefill_ttft_ms(16000.0) - 800.0).abs() < 1e-9);
        assert!((p.prefill_ttft_ms(100.0) - 25.0).abs() < 1e-9);
        assert_eq!(p.prefill_thpt_per_gpu(3000.0), 10_000.0);
        // Decode at context 4000: ITL = 10 + 20u.
        assert!((p.decode_itl_ms(0.5, 4000.0) - 20.0).abs() < 1e-9);
        // Between rows (1000: 10 + 5u; 4000: 10 + 20u), halfway at 2500.
        let mid = p.decode_itl_ms(1.0, 2500.0);
        assert!((mid - 22.5).abs() < 1e-9, "{mid}");
        assert_eq!(p.max_kv_tokens(), 400_000);
        // Best throughput within ITL 20 at 4000 is at usage 0.5.
        let (t, u) = p.best_decode_thpt_per_gpu(20.0, 4000.0);
        assert!((u - 0.5).abs() < 1e-9, "{u}");
        assert!((t - p.decode_thpt_per_gpu(0.5, 4000.0)).abs() < 1e-9);
        // Unmeetable ITL: the lowest usage.
        assert_eq!(p.best_decode_thpt_per_gpu(1.0, 4000.0).1, 0.0);
        assert!(p.decode_itl_ms(f64::NAN, f64::NAN).is_finite());
    }

    #[test]
    fn round_trips_through_files_and_rejects_bad_ones() {
        let p = toy();
        let dir =
            std::env::temp_dir().join(format!("servesim-planner-profile-{}", std::process::id()));
        p.write_dir(&dir).unwrap();
        let q = Profile::read_dir(&dir).unwrap();
        assert_eq!(q.prefill_raw(), p.prefill_raw());
        assert_eq!(q.max_kv_tokens(), p.max_kv_tokens());
        assert_eq!(q.decode_itl_ms(0.3, 3000.0), p.decode_itl_ms(0.3, 3000.0));
        std::fs::write(
            dir.join(PREFILL_FILE),
            r#"{"prefill_isl":[1],"prefill_ttft":[],"prefill_thpt_per_gpu":[1]}"#,
        )
        .unwrap();
        let e = Profile::read_dir(&dir).unwrap_err().to_string();
        assert!(
            e.contains("prefill_raw_data.json") && e.contains("equal length"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).ok();
        let e = Profile::read_dir(&dir).unwrap_err().to_string();
        assert!(e.contains("prefill_raw_data.json"), "{e}");
    }
}

#[cfg(test)]
mod model_tests {
    use super::*;
    use servesim_models::backend::Backend;
    use servesim_models::dtype::Dtype;
    use servesim_models::hardware::GpuCatalog;
    use servesim_models::llm::LlmSpec;
    use servesim_models::perf::KernelTimer;

    pub(crate) fn qwen_h100_tp2() -> PoolModel {
        let cat = GpuCatalog::builtin();
        let gpu = cat.get("h100_sxm").unwrap();
        let llm = LlmSpec::lookup("Qwen/Qwen3-32B-FP8")
            .unwrap()
            .with_dtypes(Dtype::Fp8, Dtype::Fp8);
        let timer = KernelTimer::shipped(&cat, "h100_sxm", Backend::Vllm).unwrap();
        let predictor = IterationPredictor::new(&llm, 2, gpu, Backend::Vllm, timer).unwrap();
        let max_kv_tokens = llm.kv_capacity_tokens(gpu, 2, 0.9).unwrap();
        PoolModel {
            predictor,
            tp: 2,
            max_kv_tokens,
            max_num_seqs: 256,
            max_batched_tokens: 8192,
        }
    }

    #[test]
    fn profile_from_the_performance_model_is_plausible() {
        let m = qwen_h100_tp2();
        let p = Profile::from_model(&m, &m).unwrap();
        let raw = p.prefill_raw();
        assert!(raw.prefill_isl.len() >= 14);
        // TTFT grows with ISL; a 4000-token prompt takes well under the 500 ms target.
        assert!(raw.prefill_ttft.windows(2).all(|w| w[1] > w[0]));
        let t4k = p.prefill_ttft_ms(4000.0);
        assert!(t4k > 50.0 && t4k < 500.0, "{t4k}");
        let thpt = p.prefill_thpt_per_gpu(4000.0);
        assert!(thpt > 2_000.0 && thpt < 50_000.0, "{thpt}");
        // Decode: ITL grows with usage at a context; a single sequence decodes in 5-20 ms.
        let one = p.decode_itl_ms(0.0, 2000.0);
        assert!(one > 3.0 && one < 20.0, "{one}");
        assert!(p.decode_itl_ms(0.5, 4000.0) > p.decode_itl_ms(0.05, 4000.0));
        let (best, usage) = p.best_decode_thpt_per_gpu(30.0, 4000.0);
        assert!(best > 100.0 && usage > 0.0, "{best} {usage}");
        assert_eq!(p.max_kv_tokens(), m.max_kv_tokens);
        eprintln!(
            "Qwen3-32B-FP8 H100 TP2: ttft(4000) {t4k:.1} ms, prefill {thpt:.0} tok/s/GPU, \
             itl(1 seq) {one:.2} ms, best decode {best:.0} tok/s/GPU at usage {usage:.3} (ITL 30 ms, ctx 4000), \
             max kv {}",
            m.max_kv_tokens
        );
        for (i, isl) in raw.prefill_isl.iter().enumerate() {
            eprintln!(
                "  isl {isl:>6}: ttft {:>8.1} ms, {:>7.0} tok/s/GPU",
                raw.prefill_ttft[i], raw.prefill_thpt_per_gpu[i]
            );
        }
    }
}
