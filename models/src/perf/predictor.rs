//! Batch → iteration time: decomposes an engine iteration into kernel operations and times
//! each with a [`KernelTimer`].
//!
//! Per layer (TP = t, T tokens in the batch): QKV, output-projection, gate+up and down GEMMs;
//! context attention for the prefill chunks (one batched call whose causal length matches the
//! chunks' query × key pairs, chunks attending to their earlier context); generation attention
//! for the decode sequences (batch = sequences, KV length = mean); two all-reduces of `T × h`
//! when t > 1; five memory-bound element-wise kernels. Once per iteration: embedding, LM head
//! (`[sequences × h] · [h × vocab/t]`, bf16) with a logits all-gather when t > 1, and the
//! backend's fixed overhead. An iteration that runs prefill lasts at least the backend's
//! eager launch floor (engines that graph only decode-only batches launch it layer by layer
//! from the host). GEMM shapes are per-(model, TP) constants computed once.

use servesim_core::SimDuration;

use crate::backend::Backend;
use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};
use crate::hardware::GpuSku;
use crate::llm::LlmSpec;
use crate::perf::kernel_timer::KernelTimer;
use crate::perf::ops::{AttnShape, GemmShape, KernelOp, NcclOp, OpKind};

/// A prefill chunk in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefillChunk {
    /// Prompt tokens computed in this iteration.
    pub tokens: u32,
    /// Tokens already in the KV cache before this chunk (earlier chunks, cached prefix).
    pub context: u32,
}

/// What one engine iteration runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchShape<'a> {
    /// Prefill chunks.
    pub prefill: &'a [PrefillChunk],
    /// Decode sequences (one token each).
    pub decode_seqs: u32,
    /// Sum of the KV lengths of the decode sequences.
    pub decode_kv_tokens: u64,
}

const N: usize = OpKind::ALL.len();

/// Predicts iteration times of one worker (a model at a TP size on a GPU SKU and backend).
#[derive(Debug, Clone)]
pub struct IterationPredictor {
    timer: KernelTimer,
    backend: Backend,
    tp: u32,
    layers: f64,
    hidden: u64,
    wdtype: Dtype,
    kv_dtype: Dtype,
    heads_pg: u32,
    kv_heads_pg: u32,
    head_dim: u32,
    n_qkv: u64,
    k_out: u64,
    n_gate_up: u64,
    k_down: u64,
    vocab_pg: u64,
    eltwise_bytes_per_token: u64,
    /// Per-GEMM time of the isolated weight-dtype path that serving fuses away, ms.
    gemm_call_overhead_ms: f64,
    /// Least time of an iteration that runs prefill (launched eagerly), ms.
    eager_floor_ms: f64,
}

impl IterationPredictor {
    /// A predictor for `llm` (with its weight and KV dtypes) at TP size `tp` on `gpu` with
    /// `backend`, timing kernels with `timer`.
    pub fn new(
        llm: &LlmSpec,
        tp: u32,
        gpu: &GpuSku,
        backend: Backend,
        timer: KernelTimer,
    ) -> Result<Self> {
        llm.require_dense("the iteration predictor")?;
        if tp == 0 || tp > gpu.gpus_per_node {
            return Err(ModelsError::Invalid {
                what: "TP size",
                message: format!("{tp} (must be 1..={} on {})", gpu.gpus_per_node, gpu.sku),
            });
        }
        if !llm.num_heads.is_multiple_of(tp) || !llm.intermediate_size.is_multiple_of(tp) {
            return Err(ModelsError::Invalid {
                what: "TP size",
                message: format!(
                    "{tp} does not divide {}'s {} heads and FFN size {}",
                    llm.name, llm.num_heads, llm.intermediate_size
                ),
            });
        }
        let hd = u64::from(llm.head_dim);
        let h = u64::from(llm.hidden_size);
        let heads_pg = llm.num_heads / tp;
        let kv_heads_pg = llm.kv_heads_per_gpu(tp);
        let ffn_pg = u64::from(llm.intermediate_size / tp);
        let qkv = (u64::from(heads_pg) + 2 * u64::from(kv_heads_pg)) * hd;
        // Two RMSNorms (r+w), two residual adds (2r+w), SiLU·mul (2r+w of ffn), RoPE (r+w q,k).
        let eltwise = 2 * (2 * h * 2)
            + 2 * (3 * h * 2)
            + 3 * ffn_pg * 2
            + 2 * (u64::from(heads_pg + kv_heads_pg) * hd * 2);
        let gemm_call_overhead_ms = timer.gemm_call_overhead_ms(llm.weight_dtype);
        Ok(IterationPredictor {
            gemm_call_overhead_ms,
            eager_floor_ms: f64::from(llm.num_layers) * backend.eager_layer_launch_ms(),
            timer,
            backend,
            tp,
            layers: f64::from(llm.num_layers),
            hidden: h,
            wdtype: llm.weight_dtype,
            kv_dtype: llm.kv_dtype,
            heads_pg,
            kv_heads_pg,
            head_dim: llm.head_dim,
            n_qkv: qkv,
            k_out: u64::from(heads_pg) * hd,
            n_gate_up: 2 * ffn_pg,
            k_down: ffn_pg,
            vocab_pg: u64::from(llm.vocab_size).div_ceil(u64::from(tp)),
            eltwise_bytes_per_token: eltwise,
        })
    }

    /// The kernel timer.
    pub fn timer(&self) -> &KernelTimer {
        &self.timer
    }

    /// A GEMM as it runs inside a serving step: the isolated kernel's time less the per-call
    /// overhead of its dtype's path that the engine fuses away (never below half the kernel).
    fn gemm(&self, m: u64, n: u64, k: u64, dtype: Dtype) -> f64 {
        let ms = self
            .timer
            .time_ms(&KernelOp::Gemm(GemmShape { dtype, m, n, k }));
        if dtype == self.wdtype && self.gemm_call_overhead_ms > 0.0 {
            (ms - self.gemm_call_overhead_ms).max(0.5 * ms)
        } else {
            ms
        }
    }

    fn attn(&self, batch: u32, len: u32) -> AttnShape {
        AttnShape {
            batch,
            len,
            num_heads: self.heads_pg,
            num_kv_heads: self.kv_heads_pg,
            head_dim: self.head_dim,
            window: 0,
            attn_dtype: Dtype::Bf16,
            kv_dtype: self.kv_dtype,
        }
    }

    /// Milliseconds per [`OpKind`] (in [`OpKind::ALL`] order), all layers included.
    fn times(&self, b: &BatchShape<'_>) -> [f64; N] {
        let mut t = [0.0; N];
        let mut prefill_tokens: u64 = 0;
        let mut pairs = 0.0f64;
        for c in b.prefill {
            prefill_tokens += u64::from(c.tokens);
            let (ctx, tok) = (f64::from(c.context), f64::from(c.tokens));
            pairs += (ctx + tok) * (ctx + tok) - ctx * ctx;
        }
        let tokens = prefill_tokens + u64::from(b.decode_seqs);
        if tokens == 0 {
            return t;
        }
        self.token_terms(tokens, &mut t);
        let chunks = b.prefill.iter().filter(|c| c.tokens > 0).count() as u32;
        if chunks > 0 {
            // One batched causal call with the same query × key pairs as the chunks.
            let len = (pairs / f64::from(chunks)).sqrt().round().max(1.0) as u32;
            t[4] = self.context_attention_ms(chunks, len);
        }
        if b.decode_seqs > 0 {
            let kv = b
                .decode_kv_tokens
                .div_ceil(u64::from(b.decode_seqs))
                .clamp(1, u64::from(u32::MAX)) as u32;
            t[5] = self.generation_attention_ms(b.decode_seqs, kv);
        }
        t[9] = self.head_ms(u64::from(chunks) + u64::from(b.decode_seqs));
        t[10] = self.backend.iteration_overhead_ms();
        let sum: f64 = t.iter().sum();
        t[10] += self.launch_bound_ms(sum, chunks) - sum;
        t
    }

    /// The terms that depend only on the batch's token count (GEMMs, all-reduce,
    /// element-wise), written into their [`OpKind`] slots.
    fn token_terms(&self, tokens: u64, t: &mut [f64; N]) {
        let l = self.layers;
        let w = self.wdtype;
        t[0] = l * self.gemm(tokens, self.n_qkv, self.hidden, w);
        t[1] = l * self.gemm(tokens, self.hidden, self.k_out, w);
        t[2] = l * self.gemm(tokens, self.n_gate_up, self.hidden, w);
        t[3] = l * self.gemm(tokens, self.hidden, self.k_down, w);
        if self.tp > 1 {
            let op = KernelOp::CustomAllReduce {
                dtype: Dtype::Bf16,
                num_gpus: self.tp,
                elems: tokens * self.hidden,
                implementation: self.backend.allreduce_impl(),
            };
            t[6] = 2.0 * l * self.timer.time_ms(&op);
        }
        let per_kernel = tokens * self.eltwise_bytes_per_token / 5;
        t[7] = 5.0
            * l
            * self.timer.time_ms(&KernelOp::ElementWise {
                bytes: per_kernel.max(1),
            });
        t[8] = self.timer.time_ms(&KernelOp::ElementWise {
            bytes: (tokens * self.hidden * 2 * 2).max(1),
        }) * 2.0;
    }

    /// Sum of the token-count terms of a batch of `tokens` tokens, in ms.
    pub fn token_terms_ms(&self, tokens: u64) -> f64 {
        let mut t = [0.0; N];
        self.token_terms(tokens, &mut t);
        t.iter().sum()
    }

    /// Context attention of `chunks` prompts of equivalent length `len`, all layers, in ms.
    pub fn context_attention_ms(&self, chunks: u32, len: u32) -> f64 {
        self.layers
            * self
                .timer
                .time_ms(&KernelOp::ContextAttention(self.attn(chunks, len)))
    }

    /// Generation attention of `seqs` sequences of mean KV length `kv`, all layers, in ms.
    pub fn generation_attention_ms(&self, seqs: u32, kv: u32) -> f64 {
        self.layers
            * self
                .timer
                .time_ms(&KernelOp::GenerationAttention(self.attn(seqs, kv)))
    }

    /// LM head (and its gather across TP) for `seqs` sequences, in ms.
    pub fn head_ms(&self, seqs: u64) -> f64 {
        let seqs = seqs.max(1);
        let mut ms = self.gemm(seqs, self.vocab_pg, self.hidden, Dtype::Bf16);
        if self.tp > 1 {
            let op = KernelOp::Nccl {
                op: NcclOp::AllGather,
                dtype: Dtype::Bf16,
                num_gpus: self.tp,
                elems: seqs * self.vocab_pg * u64::from(self.tp),
            };
            ms += self.timer.time_ms(&op);
        }
        ms
    }

    /// The framework's per-iteration overhead, in ms.
    pub fn overhead_ms(&self) -> f64 {
        self.backend.iteration_overhead_ms()
    }

    /// Least time of an iteration that runs prefill, in ms: the host time to launch every
    /// layer eagerly ([`Backend::eager_layer_launch_ms`]; zero where such steps are graphed).
    pub fn eager_floor_ms(&self) -> f64 {
        self.eager_floor_ms
    }

    /// An iteration of `ms` on the GPU with `prefill_chunks` chunks, as long as the host's
    /// eager launches make it (unchanged for decode-only iterations, which are graphed).
    pub fn launch_bound_ms(&self, ms: f64, prefill_chunks: u32) -> f64 {
        if prefill_chunks > 0 {
            ms.max(self.eager_floor_ms)
        } else {
            ms
        }
    }

    /// Time of one iteration running `batch` (zero for an empty batch). Allocation-free.
    pub fn predict(&self, batch: &BatchShape<'_>) -> SimDuration {
        let ms: f64 = self.times(batch).iter().sum();
        if ms <= 0.0 {
            return SimDuration::ZERO;
        }
        SimDuration::from_secs_f64_round(ms / 1e3).unwrap_or(SimDuration::MAX)
    }

    /// Time of one iteration in ms, as a float.
    pub fn predict_ms(&self, batch: &BatchShape<'_>) -> f64 {
        self.times(batch).iter().sum()
    }

    /// Milliseconds per operation kind (all layers), in [`OpKind::ALL`] order.
    pub fn breakdown(&self, batch: &BatchShape<'_>) -> Vec<(OpKind, f64)> {
        OpKind::ALL.into_iter().zip(self.times(batch)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::GpuCatalog;
    use crate::perf::RooflineTimer;

    fn predictor(gpu: &str, timer: Option<KernelTimer>) -> IterationPredictor {
        let cat = GpuCatalog::builtin();
        let sku = cat.get(gpu).unwrap();
        let llm = LlmSpec::lookup("Qwen/Qwen3-32B-FP8")
            .unwrap()
            .with_dtypes(Dtype::Fp8, Dtype::Fp8);
        let timer =
            timer.unwrap_or_else(|| KernelTimer::shipped(&cat, gpu, Backend::Vllm).unwrap());
        IterationPredictor::new(&llm, 2, sku, Backend::Vllm, timer).unwrap()
    }

    #[test]
    fn fp8_decode_runs_near_the_memory_bound_without_per_call_quantisation() {
        // Llama-3.1-70B FP8 on one H200, 4 sequences: ~70 GB of weights per step, 14.6 ms at
        // the 4.8 TB/s datasheet bandwidth; measured TRT-LLM TPOT is ~20 ms at concurrency 4.
        // The isolated FP8 tables carry ~9 µs of activation quantisation per call (320 GEMMs
        // a step), which the engine fuses away.
        let cat = GpuCatalog::builtin();
        let sku = cat.get("h200_sxm").unwrap();
        let llm = LlmSpec::lookup("meta-llama/Llama-3.1-70B-FP8")
            .unwrap()
            .with_dtypes(Dtype::Fp8, Dtype::Fp8);
        let timer = KernelTimer::shipped(&cat, "h200_sxm", Backend::Trtllm).unwrap();
        let p = IterationPredictor::new(&llm, 1, sku, Backend::Trtllm, timer).unwrap();
        let ms = p.predict_ms(&BatchShape {
            prefill: &[],
            decode_seqs: 4,
            decode_kv_tokens: 4 * 2048,
        });
        assert!((16.0..22.5).contains(&ms), "{ms}");
    }

    #[test]
    fn prefill_steps_are_launch_bound_only_where_the_gpu_part_is_shorter() {
        // Llama-3.1-8B on H100 with TensorRT-LLM: a step with a 1,024-token context is
        // GPU-bound at TP1 and bound by the eager launch of 32 layers at TP8.
        let cat = GpuCatalog::builtin();
        let sku = cat.get("h100_sxm").unwrap();
        let llm = LlmSpec::lookup("meta-llama/Llama-3.1-8B-Instruct").unwrap();
        let timer = KernelTimer::shipped(&cat, "h100_sxm", Backend::Trtllm).unwrap();
        let at = |tp: u32, backend: Backend| {
            IterationPredictor::new(&llm, tp, sku, backend, timer.clone()).unwrap()
        };
        let chunk = [PrefillChunk {
            tokens: 1024,
            context: 0,
        }];
        let mixed = BatchShape {
            prefill: &chunk,
            decode_seqs: 32,
            decode_kv_tokens: 32 * 1100,
        };
        let decode = BatchShape {
            prefill: &[],
            ..mixed
        };
        let floor = 32.0 * Backend::Trtllm.eager_layer_launch_ms();
        let (tp1, tp8) = (at(1, Backend::Trtllm), at(8, Backend::Trtllm));
        assert_eq!(tp8.eager_floor_ms(), floor);
        assert!((tp8.predict_ms(&mixed) - floor).abs() < 1e-9 * floor);
        assert!(tp8.predict_ms(&decode) < 0.5 * floor);
        assert!(tp1.predict_ms(&mixed) > floor);
        // The floor is booked as framework overhead, so the breakdown still sums up.
        let parts: f64 = tp8.breakdown(&mixed).iter().map(|(_, ms)| ms).sum();
        assert!((parts - floor).abs() < 1e-9);
        // vLLM graphs mixed batches piecewise: no floor.
        let vllm = at(8, Backend::Vllm);
        assert_eq!(vllm.eager_floor_ms(), 0.0);
        assert!(vllm.predict_ms(&mixed) < floor);
    }

    #[test]
    fn decode_and_prefill_times_are_plausible_and_monotone() {
        let p = predictor("h200_sxm", None);
        let d = |n: u32, kv: u64| {
            p.predict_ms(&BatchShape {
                prefill: &[],
                decode_seqs: n,
                decode_kv_tokens: n as u64 * kv,
            })
        };
        // A TP2 FP8 32B decode step reads ~16 GB per GPU: ~4-20 ms.
        let one = d(1, 1000);
        assert!(one > 3.0 && one < 20.0, "{one}");
        assert!(d(64, 4000) > d(8, 4000));
        assert!(d(64, 8000) > d(64, 1000));
        let pf = |t: u32, c: u32| {
            p.predict_ms(&BatchShape {
                prefill: &[PrefillChunk {
                    tokens: t,
                    context: c,
                }],
                decode_seqs: 0,
                decode_kv_tokens: 0,
            })
        };
        let p4k = pf(4000, 0);
        assert!(p4k > 50.0 && p4k < 1000.0, "{p4k}");
        assert!(pf(2000, 2000) > pf(2000, 0));
        assert_eq!(
            p.predict(&BatchShape {
                prefill: &[],
                decode_seqs: 0,
                decode_kv_tokens: 0
            }),
            SimDuration::ZERO
        );
        let bd = p.breakdown(&BatchShape {
            prefill: &[PrefillChunk {
                tokens: 512,
                context: 0,
            }],
            decode_seqs: 3,
            decode_kv_tokens: 300,
        });
        assert_eq!(bd.len(), OpKind::ALL.len());
        assert!(bd.iter().all(|(_, ms)| *ms >= 0.0));
    }

    #[test]
    fn b200_is_predictable_and_faster_than_h200() {
        let b = predictor("b200_sxm", None);
        let h = predictor("h200_sxm", None);
        let batch = BatchShape {
            prefill: &[PrefillChunk {
                tokens: 2048,
                context: 0,
            }],
            decode_seqs: 32,
            decode_kv_tokens: 32 * 2000,
        };
        assert!(b.predict_ms(&batch) < h.predict_ms(&batch));
        let cat = GpuCatalog::builtin();
        let roof = predictor(
            "b200_sxm",
            Some(KernelTimer::Roofline(RooflineTimer::new(
                cat.get("b200_sxm").unwrap().clone(),
            ))),
        );
        assert!(roof.predict_ms(&batch) > 0.0);
    }
}
