use super::attention_terms::{chunked_pairs, windowed_pairs};
use super::*;
use crate::hardware::GpuCatalog;
use crate::perf::RooflineTimer;
use crate::perf::ops::MoeKernel;

fn predictor(gpu: &str, timer: Option<KernelTimer>) -> IterationPredictor {
    let cat = GpuCatalog::builtin();
    let sku = cat.get(gpu).unwrap();
    let llm = LlmSpec::lookup("Qwen/Qwen3-32B-FP8")
        .unwrap()
        .with_dtypes(Dtype::Fp8, Dtype::Fp8);
    let timer = timer.unwrap_or_else(|| KernelTimer::shipped(&cat, gpu, Backend::Vllm).unwrap());
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
        eager: false,
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
        eager: false,
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
            eager: false,
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
            eager: false,
        })
    };
    let p4k = pf(4000, 0);
    assert!(p4k > 50.0 && p4k < 1000.0, "{p4k}");
    assert!(pf(2000, 2000) > pf(2000, 0));
    assert_eq!(
        p.predict(&BatchShape {
            prefill: &[],
            decode_seqs: 0,
            decode_kv_tokens: 0,
            eager: false,
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
        eager: false,
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
        eager: false,
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

fn moe_predictor(id: &str, gpu: &str, backend: Backend, tp: u32, ep: u32) -> IterationPredictor {
    let cat = GpuCatalog::builtin();
    let llm = LlmSpec::lookup(id).unwrap();
    let par = Parallelism {
        tp,
        attention_dp: 1,
        moe_tp: tp / ep,
        moe_ep: ep,
    };
    let timer = KernelTimer::shipped(&cat, gpu, backend).unwrap();
    IterationPredictor::with_parallelism(&llm, &par, cat.get(gpu).unwrap(), backend, timer).unwrap()
}

#[test]
fn moe_steps_are_timed_and_grow_with_the_batch() {
    let decode = |p: &IterationPredictor, n: u32| {
        p.predict_ms(&BatchShape {
            prefill: &[],
            decode_seqs: n,
            decode_kv_tokens: u64::from(n) * 2000,
            eager: false,
        })
    };
    for p in [
        moe_predictor(
            "Qwen/Qwen3-235B-A22B-FP8",
            "h100_sxm",
            Backend::Trtllm,
            4,
            4,
        ),
        moe_predictor(
            "Qwen/Qwen3-235B-A22B-FP8",
            "h100_sxm",
            Backend::Trtllm,
            8,
            8,
        ),
        moe_predictor("openai/gpt-oss-120b", "h200_sxm", Backend::Vllm, 2, 1),
        moe_predictor("openai/gpt-oss-120b", "h200_sxm", Backend::Trtllm, 4, 2),
    ] {
        let t: Vec<f64> = [1, 4, 16, 64, 256].iter().map(|&n| decode(&p, n)).collect();
        assert!(t.windows(2).all(|w| w[0] < w[1]), "{t:?}");
        // A step of one sequence reads every layer's attention and top-k experts: a few ms.
        assert!((2.0..40.0).contains(&t[0]), "{t:?}");
        let bd = p.breakdown(&BatchShape {
            prefill: &[PrefillChunk {
                tokens: 1000,
                context: 0,
            }],
            decode_seqs: 8,
            decode_kv_tokens: 8000,
            eager: false,
        });
        let moe = bd.iter().find(|(k, _)| *k == OpKind::MoeExperts).unwrap().1;
        assert!(moe > 0.0);
    }
    // Dense models book nothing as experts.
    let dense = predictor("h200_sxm", None);
    let bd = dense.breakdown(&BatchShape {
        prefill: &[],
        decode_seqs: 8,
        decode_kv_tokens: 8000,
        eager: false,
    });
    assert_eq!(bd.last().unwrap(), &(OpKind::MoeExperts, 0.0));
}

#[test]
fn sliding_window_layers_attend_to_at_most_their_window() {
    assert_eq!(windowed_pairs(100.0, 128.0), 5050.0);
    assert_eq!(
        windowed_pairs(200.0, 128.0),
        128.0 * 129.0 / 2.0 + 72.0 * 128.0
    );
    // gpt-oss: 18 of 36 layers with a 128-token window. Past the window, decode attention
    // grows only with the full-attention layers.
    let p = moe_predictor("openai/gpt-oss-120b", "h200_sxm", Backend::Vllm, 1, 1);
    let full_only = |kv| {
        p.timer()
            .time_ms(&KernelOp::GenerationAttention(p.attn(32, kv)))
    };
    let got = p.generation_attention_ms(32, 8192);
    let want = 18.0 * full_only(8192) + 18.0 * full_only(128);
    assert!((got - want).abs() < 1e-9 * want, "{got} {want}");
    assert!(got < 36.0 * full_only(8192));
}

#[test]
fn a_worker_across_two_nodes_all_reduces_through_nccl_and_the_nics() {
    let cat = GpuCatalog::builtin();
    let gpu = cat.get("h200_sxm").unwrap();
    let llm = LlmSpec::lookup("Qwen/Qwen3-32B").unwrap();
    let timer = KernelTimer::shipped(&cat, "h200_sxm", Backend::Vllm).unwrap();
    let at = |tp| {
        let p = IterationPredictor::new(&llm, tp, gpu, Backend::Vllm, timer.clone()).unwrap();
        let b = BatchShape {
            prefill: &[],
            decode_seqs: 8,
            decode_kv_tokens: 8 * 2000,
            eager: false,
        };
        let bd = p.breakdown(&b);
        let get = |k| bd.iter().find(|(o, _)| *o == k).unwrap().1;
        (p.domains(), get(OpKind::AllReduce), get(OpKind::GateUpGemm))
    };
    let (one, ar8, gemm8) = at(8);
    let (two, ar16, gemm16) = at(16);
    assert_eq!((one, two), (1, 2));
    // Across the nodes the engine's own all-reduce gives way to NCCL's over each node,
    // plus NCCL's tree between them.
    let elems = 8 * u64::from(llm.hidden_size);
    let nccl = timer.time_ms(&KernelOp::Nccl {
        op: NcclOp::AllReduce,
        dtype: Dtype::Bf16,
        num_gpus: 8,
        elems,
    });
    let (_, across) = AcrossDomains::split(
        &KernelOp::Nccl {
            op: NcclOp::AllReduce,
            dtype: Dtype::Bf16,
            num_gpus: 16,
            elems,
        },
        8,
    )
    .unwrap();
    let want =
        2.0 * f64::from(llm.num_layers) * (nccl + across.ms(gpu.nic_bytes_per_s_per_direction));
    assert!((ar16 - want).abs() < 1e-9 * want, "{ar16} {want}");
    assert!(ar16 > 2.0 * ar8, "{ar16} {ar8}");
    assert!(gemm16 < gemm8, "{gemm16} {gemm8}");
}

#[test]
fn what_is_not_modelled_is_refused() {
    let cat = GpuCatalog::builtin();
    let gpu = cat.get("h200_sxm").unwrap();
    let timer = KernelTimer::shipped(&cat, "h200_sxm", Backend::Trtllm).unwrap();
    // A worker fits one NVLink domain (one node on an H200 board) or spans whole ones.
    let r1 = LlmSpec::lookup("DeepSeek-R1").unwrap();
    let wide = Parallelism {
        tp: 1,
        attention_dp: 12,
        moe_tp: 1,
        moe_ep: 12,
    };
    let e = IterationPredictor::with_parallelism(&r1, &wide, gpu, Backend::Trtllm, timer.clone())
        .unwrap_err()
        .to_string();
    assert!(e.contains("must fit one NVLink domain"), "{e}");
    // MoE TP × EP must fill the worker.
    let q = LlmSpec::lookup("Qwen/Qwen3-235B-A22B-FP8").unwrap();
    let bad = Parallelism {
        tp: 8,
        attention_dp: 1,
        moe_tp: 2,
        moe_ep: 2,
    };
    let e = IterationPredictor::with_parallelism(&q, &bad, gpu, Backend::Trtllm, timer)
        .unwrap_err()
        .to_string();
    assert!(e.contains("MoE TP"), "{e}");
}

#[test]
fn nvfp4_runs_only_with_fp4_tensor_cores() {
    let cat = GpuCatalog::builtin();
    let llm = LlmSpec::lookup("deepseek-ai/DeepSeek-V3")
        .unwrap()
        .with_dtypes(Dtype::Nvfp4, Dtype::Bf16);
    let on = |gpu: &str| {
        let timer = KernelTimer::Roofline(RooflineTimer::new(cat.get(gpu).unwrap().clone()));
        IterationPredictor::with_parallelism(
            &llm,
            &TP8_EP8,
            cat.get(gpu).unwrap(),
            Backend::Trtllm,
            timer,
        )
    };
    let e = on("h200_sxm").unwrap_err().to_string();
    assert!(
        e.contains("weight dtype") && e.contains("FP4 tensor cores"),
        "{e}"
    );
    let p = on("b200_sxm").unwrap();
    let step = p.predict_ms(&decode(64, 2048));
    assert!(step > 0.0 && step.is_finite(), "{step}");
}

#[test]
fn trtllm_runs_small_nvfp4_moe_steps_on_its_min_latency_kernel() {
    let cat = GpuCatalog::builtin();
    let llm = LlmSpec::lookup("deepseek-ai/DeepSeek-V3")
        .unwrap()
        .with_dtypes(Dtype::Nvfp4, Dtype::Nvfp4);
    let tp4 = Parallelism {
        tp: 4,
        attention_dp: 1,
        moe_tp: 4,
        moe_ep: 1,
    };
    let experts = |backend: Backend, n: u32| {
        let timer = KernelTimer::shipped(&cat, "b200_sxm", backend).unwrap();
        let gpu = cat.get("b200_sxm").unwrap();
        let p = IterationPredictor::with_parallelism(&llm, &tp4, gpu, backend, timer).unwrap();
        let bd = p.breakdown(&decode(n, 1024));
        bd.iter().find(|(k, _)| *k == OpKind::MoeExperts).unwrap().1
    };
    // Past 128 tokens TensorRT-LLM's CUTLASS kernel takes over: the measured tables time
    // it at about four times the min-latency kernel for these shapes.
    let (small, large) = (experts(Backend::Trtllm, 128), experts(Backend::Trtllm, 129));
    assert!(large > 2.0 * small, "{small} {large}");
    // vLLM has no such kernel: its time grows smoothly with the batch.
    let (small, large) = (experts(Backend::Vllm, 128), experts(Backend::Vllm, 129));
    assert!(large < 1.1 * small, "{small} {large}");
}

fn deepseek(par: Parallelism, backend: Backend) -> IterationPredictor {
    let cat = GpuCatalog::builtin();
    let llm = LlmSpec::lookup("deepseek-ai/DeepSeek-V3-FP8")
        .unwrap()
        .with_dtypes(Dtype::Fp8Block, Dtype::Fp8);
    let timer = KernelTimer::shipped(&cat, "h200_sxm", backend).unwrap();
    IterationPredictor::with_parallelism(&llm, &par, cat.get("h200_sxm").unwrap(), backend, timer)
        .unwrap()
}

const TP8_EP8: Parallelism = Parallelism {
    tp: 8,
    attention_dp: 1,
    moe_tp: 1,
    moe_ep: 8,
};
const DEP8: Parallelism = Parallelism {
    tp: 1,
    attention_dp: 8,
    moe_tp: 1,
    moe_ep: 8,
};

/// A prefill-only step of `chunk`.
fn prefill(chunk: &[PrefillChunk]) -> BatchShape<'_> {
    BatchShape {
        prefill: chunk,
        decode_seqs: 0,
        decode_kv_tokens: 0,
        eager: false,
    }
}

fn decode(n: u32, kv: u64) -> BatchShape<'static> {
    BatchShape {
        prefill: &[],
        decode_seqs: n,
        decode_kv_tokens: u64::from(n) * kv,
        eager: false,
    }
}

#[test]
fn mla_attention_is_timed_from_the_module_tables() {
    let p = deepseek(TP8_EP8, Backend::Trtllm);
    let bd = p.breakdown(&decode(64, 4096));
    let get = |k| bd.iter().find(|(o, _)| *o == k).unwrap().1;
    // The MLA block holds the projections: no separate QKV or output GEMMs.
    assert_eq!(get(OpKind::QkvGemm), 0.0);
    assert_eq!(get(OpKind::OutProjGemm), 0.0);
    assert!(get(OpKind::GenerationAttention) > 0.0);
    // 61 layers of 16 heads per GPU; decode grows with the cached length and the batch.
    assert!(p.generation_attention_ms(64, 8192) > p.generation_attention_ms(64, 1024));
    assert!(p.generation_attention_ms(128, 4096) > p.generation_attention_ms(16, 4096));
    let step = p.predict_ms(&decode(64, 4096));
    assert!((5.0..200.0).contains(&step), "{step}");
    let chunk = [PrefillChunk {
        tokens: 4096,
        context: 0,
    }];
    let pf = p.predict_ms(&BatchShape {
        prefill: &chunk,
        decode_seqs: 0,
        decode_kv_tokens: 0,
        eager: false,
    });
    assert!(pf > step, "{pf} {step}");
}

#[test]
fn sglang_times_an_mla_block_by_its_own_kernels() {
    // SGLang ships no MLA module tables: its block is its projection GEMMs plus its own
    // attention and absorbed-GEMM kernels. H200, 16 heads a GPU, 4 sequences of 1,024
    // cached FP8 tokens: FlashAttention MLA 28 µs and two FP8 batched GEMMs of 8 µs each
    // (measured rows) and the projections, against vLLM's measured module at 113-119 µs.
    let sgl = deepseek(TP8_EP8, Backend::Sglang);
    let vllm = deepseek(TP8_EP8, Backend::Vllm);
    let per_layer = |p: &IterationPredictor| p.generation_attention_ms(4, 1024) / 61.0;
    let (s, v) = (per_layer(&sgl), per_layer(&vllm));
    assert!((0.045..0.085).contains(&s), "{s}");
    assert!(v > 1.3 * s, "{v} {s}");
    // The attention kernel reads every cached latent; the projections are booked with
    // the block, as for the module tables.
    assert!(sgl.generation_attention_ms(4, 16_384) > sgl.generation_attention_ms(4, 1024));
    let bd = sgl.breakdown(&decode(4, 1024));
    assert_eq!(
        bd.iter().find(|(o, _)| *o == OpKind::QkvGemm).unwrap().1,
        0.0
    );
    // Over prompts the KV up-projection runs on every token: a 4,096-token prompt costs
    // more than four 1,024-token ones' projections and less than their square.
    let one = sgl.context_attention_ms(1, 1024);
    let long = sgl.context_attention_ms(1, 4096);
    assert!(long > 4.0 * one * 0.9 && long < 16.0 * one, "{one} {long}");
}

#[test]
fn graphed_decode_steps_hide_the_shared_experts_behind_the_routed_ones() {
    // TensorRT-LLM and SGLang run DeepSeek's shared experts on a second stream inside the
    // decode graph; an eager step (prefill, or a batch without a graph) and vLLM run them
    // in turn.
    let shared = |p: &IterationPredictor, eager: bool| {
        let bd = p.breakdown(&BatchShape {
            eager,
            ..decode(4, 1024)
        });
        let get = |k| bd.iter().find(|(o, _)| *o == k).unwrap().1;
        get(OpKind::GateUpGemm) + get(OpKind::DownGemm)
    };
    for backend in [Backend::Trtllm, Backend::Sglang] {
        let p = deepseek(TP8_EP8, backend);
        let (graphed, eager) = (shared(&p, false), shared(&p, true));
        // What remains is the three leading dense layers' MLPs.
        assert!(graphed < 0.5 * eager, "{backend:?}: {graphed} {eager}");
        assert!(graphed > 0.0);
        let step = |eager| {
            p.predict_ms(&BatchShape {
                eager,
                ..decode(4, 1024)
            })
        };
        assert!(step(false) < step(true));
    }
    let v = deepseek(TP8_EP8, Backend::Vllm);
    assert_eq!(shared(&v, false), shared(&v, true));
}

#[test]
fn an_attention_dp_step_is_its_fullest_rank_plus_the_shared_experts() {
    let dep = deepseek(DEP8, Backend::Trtllm);
    // The fullest rank's share: ceil over the ranks.
    assert_eq!(dep.rank_share(0, 0, 64), (0, 0, 8));
    assert_eq!(dep.rank_share(0, 0, 65), (0, 0, 9));
    assert_eq!(dep.rank_share(1, 4096, 7), (1, 4096, 1));
    assert_eq!(dep.rank_share(10, 10_000, 0), (2, 2000, 0));
    let bd = dep.breakdown(&decode(64, 4096));
    let get = |k| bd.iter().find(|(o, _)| *o == k).unwrap().1;
    // Attention of 8 sequences on the fullest rank, all 128 heads.
    let rank_attn = dep.generation_attention_ms(8, 4096);
    assert!((get(OpKind::GenerationAttention) - rank_attn).abs() < 1e-12);
    // The experts see all 64 tokens; dispatch and combine run over the 8 GPUs.
    assert!(get(OpKind::AllReduce) > 0.0);
    // One more sequence on one rank costs a rank's attention step more; a balanced
    // batch of 8 × 9 does not cost more than 65.
    let t64 = dep.predict_ms(&decode(64, 4096));
    let t65 = dep.predict_ms(&decode(65, 4096));
    let t72 = dep.predict_ms(&decode(72, 4096));
    assert!(
        t65 > t64 && (t72 - t65).abs() < 0.05 * t65,
        "{t64} {t65} {t72}"
    );
    // At the same batch, attention DP reads each rank's share of the KV only once per
    // rank, where TP 8 reads every sequence's latent on every GPU: long contexts favour DP.
    let tp = deepseek(TP8_EP8, Backend::Trtllm);
    let long = decode(256, 16384);
    assert!(dep.predict_ms(&long) < tp.predict_ms(&long));
    // The cached predictor agrees with the exact one under attention DP.
    let cached = super::super::CachedPredictor::new(dep.clone());
    for b in [decode(64, 4096), decode(65, 3000), long] {
        let (a, c) = (dep.predict_ms(&b), cached.predict_ms(&b));
        assert!((a - c).abs() < 2e-3 * a, "{a} {c}");
    }
    let chunk = [PrefillChunk {
        tokens: 3000,
        context: 0,
    }];
    let mixed = BatchShape {
        prefill: &chunk,
        decode_seqs: 40,
        decode_kv_tokens: 40 * 2000,
        eager: false,
    };
    let (a, c) = (dep.predict_ms(&mixed), cached.predict_ms(&mixed));
    assert!((a - c).abs() < 2e-3 * a, "{a} {c}");
}

#[test]
fn deepep_moves_tokens_by_all_to_all_only_where_the_engine_does() {
    // TensorRT-LLM in one HGX node: EP 8 is not above DeepSeek-V3's top-k 8 and H200 has
    // no multi-node NVLink fabric, so all-gather and reduce-scatter stay.
    let trt = deepseek(DEP8, Backend::Trtllm);
    assert!(!trt.all_to_all());
    assert!(trt.clone().with_deepep().is_err());
    // SGLang: the same until DeepEP is asked for.
    let gather = deepseek(DEP8, Backend::Sglang);
    assert!(!gather.all_to_all());
    let e = deepseek(TP8_EP8, Backend::Sglang)
        .with_deepep()
        .unwrap_err();
    assert!(e.to_string().contains("attention DP"), "{e}");
    let ep = gather.clone().with_deepep().unwrap();
    assert!(ep.all_to_all());
    let slot = |p: &IterationPredictor, b: &BatchShape<'_>| {
        let bd = p.breakdown(b);
        bd.iter().find(|(o, _)| *o == OpKind::AllReduce).unwrap().1
    };
    // A decode step of 64 sequences: 8 a rank, DeepEP's low-latency kernels, measured
    // on H200 for DeepSeek-V3's shape at 8 tokens: 12.317 + 15.031 µs, in 58 MoE layers.
    let d = decode(64, 4096);
    let want = 58.0 * (0.012317 + 0.015031);
    assert!(
        (slot(&ep, &d) - want).abs() < 1e-9,
        "{} {want}",
        slot(&ep, &d)
    );
    assert!(slot(&gather, &d) > 0.0);
    // A prefill step runs the normal kernels: 4096 tokens on one rank of eight.
    let chunk = [PrefillChunk {
        tokens: 4096,
        context: 0,
    }];
    let pf = prefill(&chunk);
    let timer = ep.timer();
    let normal =
        crate::perf::dispatch::AllToAll::new(Backend::Sglang, Dtype::Fp8Block, 7168, 8, 256, 8, 1)
            .unwrap()
            .ms(4096, Phase::Prefill, |op| timer.time_ms(op));
    assert!((slot(&ep, &pf) - 58.0 * normal).abs() < 1e-9);
    assert!(normal > 0.012317 + 0.015031);
    // The cached predictor agrees.
    let cached = super::super::CachedPredictor::new(ep.clone());
    for b in [d, pf] {
        let (a, c) = (ep.predict_ms(&b), cached.predict_ms(&b));
        assert!((a - c).abs() < 2e-3 * a, "{a} {c}");
    }
}

#[test]
fn sglang_runs_its_deepep_moe_kernels_under_deepep() {
    // SGLang's DeepEPMoE: DeepGEMM's masked grouped GEMM in decode steps, the contiguous
    // one in prefill steps, from their own tables; vLLM's DeepEP path keeps its kernel.
    let moe = |p: &IterationPredictor, b: &BatchShape<'_>| {
        let bd = p.breakdown(b);
        bd.iter().find(|(o, _)| *o == OpKind::MoeExperts).unwrap().1
    };
    let d = decode(64, 4096);
    let chunk = [PrefillChunk {
        tokens: 4096,
        context: 0,
    }];
    let pf = prefill(&chunk);
    let sgl = deepseek(DEP8, Backend::Sglang);
    let ep = sgl.clone().with_deepep().unwrap();
    let timer = ep.timer();
    let m = ep.moe.unwrap();
    assert_eq!(m.experts(64, false).kernel, MoeKernel::DeepepLowLatency);
    assert_eq!(m.experts(4096, true).kernel, MoeKernel::DeepepNormal);
    assert!(timer.measures_moe(&m.experts(64, false)));
    assert_ne!(moe(&ep, &d), moe(&sgl, &d));
    assert_ne!(moe(&ep, &pf), moe(&sgl, &pf));
    let router_and = |shape| {
        58.0 * (timer.time_ms(&KernelOp::Gemm(GemmShape {
            dtype: Dtype::Bf16,
            m: 8,
            n: 256,
            k: 7168,
        })) + timer.time_ms(&KernelOp::Moe(shape)))
    };
    // Eight tokens a rank in decode, the experts over all 64.
    assert!((moe(&ep, &d) - router_and(m.experts(64, false))).abs() < 1e-9);
    let vllm = deepseek(DEP8, Backend::Vllm);
    let vep = vllm.clone().with_deepep().unwrap();
    assert_eq!(moe(&vep, &d), moe(&vllm, &d));
    // The cached predictor agrees.
    let cached = super::super::CachedPredictor::new(ep.clone());
    for b in [d, pf] {
        let (a, c) = (ep.predict_ms(&b), cached.predict_ms(&b));
        assert!((a - c).abs() < 2e-3 * a, "{a} {c}");
    }
}

fn qwen35(gpu: &str, backend: Backend, tp: u32) -> Result<IterationPredictor> {
    let cat = GpuCatalog::builtin();
    let llm = LlmSpec::lookup("Qwen/Qwen3.5-27B").unwrap();
    let timer = KernelTimer::shipped(&cat, gpu, backend).unwrap();
    IterationPredictor::new(&llm, tp, cat.get(gpu).unwrap(), backend, timer)
}

#[test]
fn gated_deltanet_layers_are_timed_by_their_new_tokens_and_sequences() {
    for backend in Backend::ALL {
        let p = qwen35("h200_sxm", backend, 2).unwrap();
        let decode = |seqs: u32, kv: u64| {
            p.predict_ms(&BatchShape {
                prefill: &[],
                decode_seqs: seqs,
                decode_kv_tokens: u64::from(seqs) * kv,
                eager: false,
            })
        };
        // The linear layers' decode kernels read a fixed state: the same at any length,
        // and the step grows with the length only through the 16 attention layers.
        let linear = p.linear_decode_ms(64);
        assert!(linear > 0.0 && linear < decode(64, 1000), "{backend:?}");
        let attn = |kv| p.generation_attention_ms(64, kv) - linear;
        let grew = decode(64, 16_000) - decode(64, 1000);
        assert!(
            (grew - (attn(16_000) - attn(1000))).abs() < 1e-6 * grew,
            "{backend:?}"
        );
        // A chunk after 8,000 tokens of context costs the linear layers what the same
        // chunk costs alone: their state holds the context.
        let chunk = |context| {
            p.breakdown(&BatchShape {
                prefill: &[PrefillChunk {
                    tokens: 2000,
                    context,
                }],
                decode_seqs: 0,
                decode_kv_tokens: 0,
                eager: true,
            })
        };
        let ctx = |bd: &[(OpKind, f64)]| bd[4].1;
        let (alone, after) = (ctx(&chunk(0)), ctx(&chunk(8000)));
        let linear_ctx = p.linear_context_ms(1, 2000);
        assert!(linear_ctx > 0.0 && after > alone, "{backend:?}");
        // Attention's pairs: 10,000² − 8,000², a causal call of 6,000.
        let want = p.context_attention_ms(1, 6000) + linear_ctx;
        assert!(
            (after - want).abs() < 1e-9 * after,
            "{backend:?}: {after} {want}"
        );
    }
}

#[test]
fn chunked_layers_attend_within_their_chunk() {
    // Two whole chunks of 4 and a part chunk of 2: 2 × 10 + 3 pairs.
    assert_eq!(chunked_pairs(10.0, 4.0), 23.0);
    assert_eq!(chunked_pairs(3.0, 4.0), 6.0);
    let cat = GpuCatalog::builtin();
    let llm = LlmSpec::lookup("Llama-4-Scout-17B-16E").unwrap();
    let backend = Backend::Vllm;
    let timer = KernelTimer::shipped(&cat, "h200_sxm", backend).unwrap();
    let p = IterationPredictor::new(&llm, 8, cat.get("h200_sxm").unwrap(), backend, timer).unwrap();
    let one = |kv| {
        p.timer()
            .time_ms(&KernelOp::GenerationAttention(p.attn(16, kv)))
    };
    // 12 global layers read everything; 36 chunked ones their current chunk, half of one
    // once past the first.
    let got = p.generation_attention_ms(16, 30_000);
    let want = 12.0 * one(30_000) + 36.0 * one(4096);
    assert!((got - want).abs() < 1e-9 * want, "{got} {want}");
    let got = p.generation_attention_ms(16, 5000);
    assert!((got - 48.0 * one(5000)).abs() < 1e-9 * got);
}

#[test]
fn sparse_attention_reads_the_picked_tokens_and_scores_them_all() {
    let cat = GpuCatalog::builtin();
    for backend in Backend::ALL {
        let predictor = |model: &str| {
            let llm = LlmSpec::lookup(model).unwrap();
            let timer = KernelTimer::shipped(&cat, "h200_sxm", backend).unwrap();
            IterationPredictor::new(&llm, 8, cat.get("h200_sxm").unwrap(), backend, timer).unwrap()
        };
        let (dense, sparse) = (predictor("DeepSeek-V3"), predictor("DeepSeek-V3.2"));
        let decode = |p: &IterationPredictor, kv| p.generation_attention_ms(32, kv);
        // Past the top-k of 2,048 a decode step reads 2,048 latents whatever the length,
        // and the indexer's 132-byte keys of them all: at 32 k tokens well under half of
        // reading every latent, and growing far slower.
        assert!(
            decode(&sparse, 32_000) < 0.5 * decode(&dense, 32_000),
            "{backend:?}"
        );
        let growth = |p: &IterationPredictor| decode(p, 32_000) - decode(p, 8_000);
        assert!(growth(&sparse) < 0.25 * growth(&dense), "{backend:?}");
        // Prompts run the absorbed form over the picked tokens, and the indexer (replicated
        // on every GPU) scores every earlier token: dearer than dense attention at 2 k
        // tokens, the gap narrowing with the prompt as the dense pairs outgrow the picked.
        let ratio = |len| sparse.context_attention_ms(1, len) / dense.context_attention_ms(1, len);
        assert!(ratio(2_000) > 1.0, "{backend:?}");
        assert!(ratio(32_000) < ratio(2_000), "{backend:?}");
    }
}

#[test]
fn nvfp4_experts_need_fp4_tensor_cores() {
    let cat = GpuCatalog::builtin();
    // MiniMax-M2.5 as nvidia/MiniMax-M2.5-NVFP4 publishes it: experts in NVFP4.
    let cfg = include_str!("../../../../data/models/minimax-m2.5.config.json");
    let start = cfg.find("\"quantization_config\"").unwrap();
    let end = start + cfg[start..].find("},").unwrap() + 1;
    let cfg = format!(
        "{}\"quantization_config\": {{\"quant_method\": \"modelopt\", \
         \"quant_algo\": \"NVFP4\", \"ignore\": [\"model.layers.0.self_attn*\"]}}{}",
        &cfg[..start],
        &cfg[end..]
    );
    let llm = LlmSpec::from_hf_config_str(&cfg, std::path::Path::new("c.json")).unwrap();
    assert_eq!(
        llm.moe().unwrap().expert_format,
        crate::llm::ExpertFormat::Nvfp4
    );
    let on = |gpu: &str| {
        let timer = KernelTimer::shipped(&cat, gpu, Backend::Trtllm).unwrap();
        IterationPredictor::new(&llm, 4, cat.get(gpu).unwrap(), Backend::Trtllm, timer)
    };
    let e = on("h200_sxm").unwrap_err().to_string();
    assert!(
        e.contains("expert weights") && e.contains("FP4 tensor cores"),
        "{e}"
    );
    assert!(on("b200_sxm").is_ok());
}
