use super::*;
use crate::backend::Backend;
use crate::calibration::{Family, shipped};
use crate::hardware::GpuCatalog;
use crate::llm::LlmSpec;
use crate::perf::evaluate::leave_shape_out;
use crate::perf::ops::GemmShape;
use crate::perf::ops::{ExpertRouting, MoeKernel, MoeQuant, MoeShape};
use crate::perf::{IterationPredictor, KernelTimer};

fn gemm(dtype: Dtype, m: u64, n: u64, k: u64) -> KernelOp {
    KernelOp::Gemm(GemmShape { dtype, m, n, k })
}

#[test]
fn exact_on_measured_rows_and_leave_out_close_on_a_subsample() {
    let cat = GpuCatalog::builtin();
    let t = CalibratedTimer::shipped(&cat, "h100_sxm", Backend::Trtllm).unwrap();
    let tab = shipped::load("h100_sxm", "trtllm", Family::Gemm)
        .unwrap()
        .unwrap();
    let mut errs = Vec::new();
    for (op, lat) in tab.rows.iter().step_by(97) {
        assert!(((t.time_ms(op) - lat) / lat).abs() < 1e-9);
        errs.push(((t.time_ms_leave_out(op).unwrap() - lat) / lat).abs());
    }
    let s = crate::perf::evaluate::ErrorStats::from_errors(errs);
    assert!(s.median < 0.03 && s.p90 < 0.10, "{s:?}");
}

#[test]
fn an_mla_part_is_timed_from_its_own_rows_only() {
    let cat = GpuCatalog::builtin();
    let sgl = CalibratedTimer::shipped(&cat, "h200_sxm", Backend::Sglang).unwrap();
    assert!(sgl.measures_mla_parts());
    let tab = shipped::load("h200_sxm", "sglang", Family::MlaParts)
        .unwrap()
        .unwrap();
    for (op, lat) in tab.rows.iter().step_by(41) {
        assert!(((sgl.time_ms(op) - lat) / lat).abs() < 1e-9, "{op:?}");
    }
    // Rows of the attention alone never stand for an absorbed GEMM: without the
    // `mla_bmm` rows, the GEMM falls to the roofline.
    let attention_only = CalibrationTable {
        rows: tab
            .rows
            .iter()
            .filter(|(op, _)| {
                matches!(op, KernelOp::MlaPart(p) if p.part == MlaPart::GenerationAttention)
            })
            .copied()
            .collect(),
        ..tab.clone()
    };
    let h200 = cat.get("h200_sxm").unwrap();
    let t = CalibratedTimer::from_tables([&attention_only], h200, h200);
    let (bmm, _) = tab
        .rows
        .iter()
        .find(|(op, _)| matches!(op, KernelOp::MlaPart(p) if p.part == MlaPart::AbsorbQuery))
        .unwrap();
    assert!(t.has_table_for(bmm));
    assert!(!t.is_measured(bmm));
    assert!(!t.measures_mla_parts());
    // TensorRT-LLM and vLLM time whole blocks from their module tables.
    let trt = CalibratedTimer::shipped(&cat, "h200_sxm", Backend::Trtllm).unwrap();
    assert!(!trt.measures_mla_parts());
}

#[test]
fn fp8_call_overhead_is_the_floor_excess_over_bf16() {
    let cat = GpuCatalog::builtin();
    let t = CalibratedTimer::shipped(&cat, "h200_sxm", Backend::Trtllm).unwrap();
    // TRT-LLM per-tensor FP8: fastest GEMM 11.8 µs against 2.4 µs for BF16.
    let fp8 = t.gemm_call_overhead_ms(Dtype::Fp8);
    assert!((0.008..0.011).contains(&fp8), "{fp8}");
    assert_eq!(t.gemm_call_overhead_ms(Dtype::Bf16), 0.0);
    // A dtype the tables never measured has no known overhead.
    assert_eq!(t.gemm_call_overhead_ms(Dtype::Fp32), 0.0);
    // The kernel timer itself still reproduces the isolated measurements.
    let tab = shipped::load("h200_sxm", "trtllm", Family::Gemm)
        .unwrap()
        .unwrap();
    let (op, lat) = tab
        .rows
        .iter()
        .find(|(op, _)| matches!(op, KernelOp::Gemm(g) if g.dtype == Dtype::Fp8))
        .unwrap();
    assert!(((t.time_ms(op) - lat) / lat).abs() < 1e-9);
}

#[test]
fn blackwell_skus_without_tables_borrow_the_nearest_blackwell() {
    // B200 and GB200 are measured; B300 and GB300 (no tables) borrow the Blackwell of
    // the same HBM bandwidth and BF16 peak through their datasheet rooflines.
    let cat = GpuCatalog::builtin();
    for (gpu, source) in [
        ("b200_sxm", "b200_sxm"),
        ("gb200", "gb200"),
        ("b300_sxm", "b200_sxm"),
        ("gb300", "gb200"),
        ("a100_sxm", "h100_sxm"),
    ] {
        let sku = cat.get(gpu).unwrap();
        assert_eq!(
            crate::perf::sources::shipped_source(&cat, sku).unwrap(),
            source,
            "{gpu}"
        );
    }
    // Blackwell's own tables time NVFP4 GEMMs and MoE layers from measurements.
    let b200 = CalibratedTimer::shipped(&cat, "b200_sxm", Backend::Trtllm).unwrap();
    let fp4 = gemm(Dtype::Nvfp4, 4096, 7168, 2048);
    assert!(b200.has_table_for(&fp4));
    let tab = shipped::load("b200_sxm", "trtllm", Family::Gemm)
        .unwrap()
        .unwrap();
    let (op, lat) = tab
        .rows
        .iter()
        .find(|(op, _)| matches!(op, KernelOp::Gemm(g) if g.dtype == Dtype::Nvfp4))
        .unwrap();
    assert!(((b200.time_ms(op) - lat) / lat).abs() < 1e-9);
}

#[test]
fn unmeasured_dtype_gpu_and_family_are_still_predicted() {
    let cat = GpuCatalog::builtin();
    let h100 = CalibratedTimer::shipped(&cat, "h100_sxm", Backend::Trtllm).unwrap();
    let b200 = CalibratedTimer::shipped(&cat, "b200_sxm", Backend::Trtllm).unwrap();
    assert_eq!(b200.source_gpu().sku, "b200_sxm");
    let big = gemm(Dtype::Bf16, 8192, 8192, 8192);
    assert!(b200.time_ms(&big) < h100.time_ms(&big));
    // fp16 was never measured: scaled from bf16.
    let f16 = h100.time_ms(&gemm(Dtype::Fp16, 4096, 5120, 5120));
    let b16 = h100.time_ms(&gemm(Dtype::Bf16, 4096, 5120, 5120));
    assert!((f16 / b16 - 1.0).abs() < 0.05, "{f16} {b16}");
    // No p2p table: roofline.
    assert!(!h100.has_table_for(&KernelOp::P2pCopy {
        src_gpu: 0,
        dst_gpu: 1,
        bytes: 1 << 20
    }));
    assert!(
        h100.time_ms(&KernelOp::P2pCopy {
            src_gpu: 0,
            dst_gpu: 1,
            bytes: 1 << 20
        }) > 0.0
    );
    // Monotone in m between measured shapes.
    let mut last = 0.0;
    for m in [1000u64, 2000, 3000, 4000, 6000, 8000] {
        let v = h100.time_ms(&gemm(Dtype::Fp8, m, 10240, 5120));
        assert!(v > last);
        last = v;
    }
}

#[test]
fn decode_attention_grows_with_the_batch_across_grid_holes() {
    // Llama-3.1-70B FP8 KV on one H200 (TRT-LLM): the table has batches 32 and 64 but no
    // (32, 2048) point. Batches 40 and 48 used to come out at 1.7× batch 64 (neighbours
    // taken from other head configurations), which slowed every 70B decode step of 33–63
    // sequences.
    let cat = GpuCatalog::builtin();
    let llm = LlmSpec::lookup("meta-llama/Llama-3.1-70B")
        .unwrap()
        .with_dtypes(Dtype::Fp8, Dtype::Fp8);
    let timer = KernelTimer::shipped(&cat, "h200_sxm", Backend::Trtllm).unwrap();
    let p = IterationPredictor::new(
        &llm,
        1,
        cat.get("h200_sxm").unwrap(),
        Backend::Trtllm,
        timer,
    )
    .unwrap();
    for kv in [1024, 3000, 4096] {
        let t: Vec<f64> = [32, 40, 48, 56, 64]
            .iter()
            .map(|&b| p.generation_attention_ms(b, kv))
            .collect();
        assert!(t.windows(2).all(|w| w[0] < w[1]), "kv {kv}: {t:?}");
    }
}

#[test]
fn from_calibration_picks_gpu_backend_and_falls_back() {
    let cat = GpuCatalog::builtin();
    let mut gemm = shipped::load("h100_sxm", "vllm", Family::Gemm)
        .unwrap()
        .unwrap();
    gemm.rows.truncate(2000);
    let set = vec![gemm];
    let t = CalibratedTimer::from_calibration(&set, &cat, "a100_sxm", Backend::Sglang).unwrap();
    assert_eq!(t.source_gpu().sku, "h100_sxm");
    let (op, _) = set[0].rows[0];
    assert!(t.has_table_for(&op));
    // Attention has no table here: roofline.
    let attn = KernelOp::GenerationAttention(AttnShape {
        batch: 8,
        len: 1000,
        num_heads: 8,
        num_kv_heads: 1,
        head_dim: 128,
        window: 0,
        attn_dtype: Dtype::Bf16,
        kv_dtype: Dtype::Bf16,
    });
    assert!(!t.has_table_for(&attn) && t.time_ms(&attn) > 0.0);
    // trtllm asks for trtllm tables: none here.
    let t2 = CalibratedTimer::from_calibration(&set, &cat, "h100_sxm", Backend::Trtllm).unwrap();
    assert!(!t2.has_table_for(&op));
    assert!(CalibratedTimer::from_calibration(&[], &cat, "h100_sxm", Backend::Vllm).is_err());
}

#[test]
fn moe_layers_are_exact_on_measured_shapes_and_close_when_left_out() {
    let cat = GpuCatalog::builtin();
    for (gpu, backend, dir) in [
        ("h100_sxm", Backend::Trtllm, "trtllm"),
        ("h200_sxm", Backend::Trtllm, "trtllm"),
        ("h100_sxm", Backend::Vllm, "vllm"),
        ("h200_sxm", Backend::Vllm, "vllm"),
    ] {
        let t = CalibratedTimer::shipped(&cat, gpu, backend).unwrap();
        let tab = shipped::load(gpu, dir, Family::Moe).unwrap().unwrap();
        // Shapes measured once (vLLM measures some twice, by two kernels: averaged).
        let once = |op: &KernelOp| tab.rows.iter().filter(|(o, _)| o == op).count() == 1;
        for (op, lat) in tab.rows.iter().step_by(41).filter(|(op, _)| once(op)) {
            assert!(t.has_table_for(op));
            assert!(((t.time_ms(op) - lat) / lat).abs() < 1e-9, "{op:?}");
        }
        let s = leave_shape_out(&t, &tab.rows);
        assert!(s.median < 0.05 && s.p90 < 0.15, "{gpu}/{dir}: {s:?}");
    }
}

#[test]
fn a_split_never_measured_keeps_a_calls_fixed_cost_apart() {
    // H100's gpt-oss-120b rows under TensorRT-LLM without EP 2: carried from EP 4 by the
    // roofline, a call's fixed cost would double with its work (median error 38 %).
    let cat = GpuCatalog::builtin();
    let h100 = cat.get("h100_sxm").unwrap();
    let gpt_oss = |op: &KernelOp, ep| {
        matches!(op, KernelOp::Moe(m) if m.experts == 128 && m.hidden == 2880
            && m.routing == ExpertRouting::PowerLaw12 && m.moe_tp == 1 && m.moe_ep == ep)
    };
    let mut tab = shipped::load("h100_sxm", "trtllm", Family::Moe)
        .unwrap()
        .unwrap();
    let ep2: Vec<(KernelOp, f64)> = tab
        .rows
        .iter()
        .filter(|(op, _)| gpt_oss(op, 2))
        .copied()
        .collect();
    assert!(ep2.len() > 20);
    tab.rows.retain(|(op, _)| !gpt_oss(op, 2));
    let t = CalibratedTimer::from_tables([&tab], h100, h100);
    let mut e: Vec<f64> = ep2
        .iter()
        .map(|(op, lat)| ((t.time_ms(op) - lat) / lat).abs())
        .collect();
    e.sort_by(f64::total_cmp);
    assert!(e[e.len() / 2] < 0.2, "{e:?}");
}

#[test]
fn an_mla_modules_fixed_cost_is_kept_apart() {
    // vLLM's MLA module on H200 launches some ten kernels whatever its work (0.07 ms at
    // one token): carried by the roofline whole, that cost shrank and grew with the work
    // (leave-shape-out p90 22 %).
    let cat = GpuCatalog::builtin();
    let t = CalibratedTimer::shipped(&cat, "h200_sxm", Backend::Vllm).unwrap();
    let tab = shipped::load("h200_sxm", "vllm", Family::MlaContext)
        .unwrap()
        .unwrap();
    let s = crate::perf::evaluate::leave_shape_out(&t, &tab.rows);
    assert!(s.n > 1000 && s.p90 < 0.15, "{s:?}");
}

#[test]
fn min_latency_rows_time_only_their_own_kernel() {
    let cat = GpuCatalog::builtin();
    let b200 = CalibratedTimer::shipped(&cat, "b200_sxm", Backend::Trtllm).unwrap();
    let h100 = CalibratedTimer::shipped(&cat, "h100_sxm", Backend::Trtllm).unwrap();
    let cutlass = MoeShape {
        quant: MoeQuant::Nvfp4,
        tokens: 8,
        hidden: 7168,
        inter: 2048,
        topk: 8,
        experts: 256,
        moe_tp: 4,
        moe_ep: 1,
        kernel: MoeKernel::Default,
        routing: ExpertRouting::Balanced,
    };
    let fast = MoeShape {
        kernel: MoeKernel::MinLatency,
        ..cutlass
    };
    assert!(b200.measures_moe(&fast) && b200.measures_moe(&cutlass));
    // The measured rows: 0.052 ms against CUTLASS's 0.242 ms.
    let time = |shape| b200.time_ms(&KernelOp::Moe(shape));
    assert!(time(fast) < 0.5 * time(cutlass));
    // Hopper has neither NVFP4 nor the kernel's rows.
    assert!(!h100.measures_moe(&fast));
}

#[test]
fn each_routing_is_timed_by_its_own_rows() {
    // DeepSeek-V3's block-FP8 experts at EP 8 on H200 under TensorRT-LLM, 4,096 tokens:
    // measured 0.726 ms routed evenly, 1.168 ms under the power law of exponent 1.01.
    let cat = GpuCatalog::builtin();
    let t = CalibratedTimer::shipped(&cat, "h200_sxm", Backend::Trtllm).unwrap();
    let layer = |tokens, moe_ep, routing| {
        KernelOp::Moe(MoeShape {
            quant: MoeQuant::Fp8Block,
            tokens,
            hidden: 7168,
            inter: 2048,
            topk: 8,
            experts: 256,
            moe_tp: 1,
            moe_ep,
            kernel: MoeKernel::Default,
            routing,
        })
    };
    let shape = |routing| layer(4096, 8, routing);
    let ms = |routing| t.time_ms(&shape(routing));
    assert!((ms(ExpertRouting::Balanced) - 0.725787).abs() < 1e-9);
    assert!((ms(ExpertRouting::PowerLaw101) - 1.1681).abs() < 1e-9);
    assert!((ms(ExpertRouting::PowerLaw12) - 1.30575).abs() < 1e-9);
    // A table with balanced rows only times every routing with them, carried by the load
    // of the rank the layer waits for: at EP 64 and 8,192 tokens the busiest rank under
    // the power law computes some four times the even share (the call's fixed cost
    // does not grow with it).
    let mut tab = shipped::load("h200_sxm", "trtllm", Family::Moe)
        .unwrap()
        .unwrap();
    tab.rows
        .retain(|(op, _)| matches!(op, KernelOp::Moe(m) if m.routing == ExpertRouting::Balanced));
    let h200 = cat.get("h200_sxm").unwrap();
    let only = CalibratedTimer::from_tables([&tab], h200, h200);
    let wide = |routing| only.time_ms(&layer(8192, 64, routing));
    assert!(wide(ExpertRouting::PowerLaw101) > 1.5 * wide(ExpertRouting::Balanced));
    assert!(wide(ExpertRouting::PowerLaw12) > wide(ExpertRouting::PowerLaw101));
}

#[test]
fn moe_layer_time_grows_with_tokens() {
    // Qwen3-235B-A22B's experts in block FP8, TP 4 × EP 4 and TP 8 × EP 1, on H100 under
    // TensorRT-LLM; and gpt-oss-120b's MXFP4 experts on H200 under vLLM.
    let cat = GpuCatalog::builtin();
    let trt = CalibratedTimer::shipped(&cat, "h100_sxm", Backend::Trtllm).unwrap();
    let vllm = CalibratedTimer::shipped(&cat, "h200_sxm", Backend::Vllm).unwrap();
    let qwen = MoeShape {
        quant: MoeQuant::Fp8Block,
        tokens: 1,
        hidden: 4096,
        inter: 1536,
        topk: 8,
        experts: 128,
        moe_tp: 1,
        moe_ep: 4,
        kernel: MoeKernel::Default,
        routing: ExpertRouting::Balanced,
    };
    let oss = MoeShape {
        quant: MoeQuant::W4a16Mxfp4,
        hidden: 2880,
        inter: 2880,
        topk: 4,
        moe_tp: 2,
        moe_ep: 1,
        ..qwen
    };
    for (t, shape) in [
        (&trt, qwen),
        (
            &trt,
            MoeShape {
                moe_tp: 8,
                moe_ep: 1,
                ..qwen
            },
        ),
        (&vllm, oss),
    ] {
        let mut last = 0.0;
        for tokens in [1u64, 3, 8, 20, 64, 100, 512, 1000, 4096, 6000, 16384] {
            let ms = t.time_ms(&KernelOp::Moe(MoeShape { tokens, ..shape }));
            assert!(
                ms >= last * 0.99,
                "{shape:?} at {tokens}: {ms} after {last}"
            );
            last = ms;
        }
    }
}

#[test]
fn a_moe_split_never_measured_is_no_faster_than_a_measured_call() {
    // TensorRT-LLM's H200 MXFP4 rows are gpt-oss-20b's (32 experts) at MoE TP 1 only;
    // gpt-oss-120b at MoE TP 8 has an eighth of an expert per GPU, whose roofline the
    // measured efficiency alone would time at a fraction of any measured call.
    let cat = GpuCatalog::builtin();
    let t = CalibratedTimer::shipped(&cat, "h200_sxm", Backend::Trtllm).unwrap();
    let tab = shipped::load("h200_sxm", "trtllm", Family::Moe)
        .unwrap()
        .unwrap();
    let fastest = tab
        .rows
        .iter()
        .filter(|(op, _)| {
            matches!(op, KernelOp::Moe(m) if m.quant == MoeQuant::W4a16Mxfp4
                && m.routing == ExpertRouting::PowerLaw12)
        })
        .map(|(_, ms)| *ms)
        .fold(f64::INFINITY, f64::min);
    let shape = MoeShape {
        quant: MoeQuant::W4a16Mxfp4,
        tokens: 4,
        hidden: 2880,
        inter: 2880,
        topk: 4,
        experts: 128,
        moe_tp: 8,
        moe_ep: 1,
        kernel: MoeKernel::Default,
        routing: ExpertRouting::PowerLaw12,
    };
    let ms = t.time_ms(&KernelOp::Moe(shape));
    assert!(
        fastest.is_finite() && ms >= fastest,
        "{ms} against {fastest}"
    );
    let ratio = t.ratio(&KernelOp::Moe(shape), false).unwrap();
    assert!(base_ms(&KernelOp::Moe(shape), &t.target) * ratio.exp() < 0.5 * fastest);
}
