//! Unit tests of the model specs: the dense reference figures, built-in lookup, `config.json`
//! errors, KV capacity (dense), and the other architectures: MoE, MLA, sliding windows,
//! parallelism, with property tests of the size invariants.

use std::path::Path;

use proptest::prelude::*;

use super::*;
use crate::hardware::GpuCatalog;

#[test]
fn qwen3_32b_reference_figures() {
    let m = LlmSpec::lookup("Qwen/Qwen3-32B-FP8")
        .unwrap()
        .with_dtypes(Dtype::Fp8, Dtype::Fp8);
    assert_eq!(m.kv_bytes_per_token(), 131_072);
    let gb = m.weight_bytes() as f64 / 1e9;
    assert!((gb - 32.8).abs() < 0.1, "{gb}");
    assert_eq!(m.weight_dtype, Dtype::Fp8);
}

#[test]
fn trtllm_shares_the_memory_left_after_weights() {
    // Llama-3.1-70B FP8 (FP8 KV, 160 KiB per token) on one H200: TRT-LLM's
    // free_gpu_memory_fraction 0.9 of (151.4 GB − 70.6 GB weights − reserve). Measured runs
    // (1024 in, 8192 out, guaranteed no-evict) hold ~48 sequences of 9216 tokens at once,
    // i.e. ~445k tokens; the whole-GPU share would give ~388k (42 sequences).
    let cat = GpuCatalog::builtin();
    let h200 = cat.get("h200_sxm").unwrap();
    let m = LlmSpec::lookup("meta-llama/Llama-3.1-70B")
        .unwrap()
        .with_dtypes(Dtype::Fp8, Dtype::Fp8);
    let reserve = 2u64 << 30;
    let of_free = m.kv_capacity_tokens_of_free(h200, 1, 0.9, reserve).unwrap();
    let of_total = m
        .kv_capacity_tokens_with_reserve(h200, 1, 0.9, reserve)
        .unwrap();
    let want = (h200.memory_bytes - m.weight_bytes() as f64 - reserve as f64) * 0.9
        / m.kv_bytes_per_token_per_gpu(1) as f64;
    assert_eq!(of_free, want.floor() as u64);
    assert!((430_000..460_000).contains(&of_free), "{of_free}");
    assert!(of_total < 400_000, "{of_total}");
    // Same checks as the whole-GPU rule.
    assert!(m.kv_capacity_tokens_of_free(h200, 12, 0.9, 0).is_err());
    assert!(m.kv_capacity_tokens_of_free(h200, 1, 1.5, 0).is_err());
    let bf16 = m.clone().with_dtypes(Dtype::Bf16, Dtype::Bf16);
    let a100 = cat.get("a100_sxm").unwrap();
    assert!(bf16.kv_capacity_tokens_of_free(a100, 1, 0.9, 0).is_err());
}

#[test]
fn lookup_accepts_prefixes_and_suffixes() {
    for id in [
        "meta-llama/Llama-3.1-8B-Instruct",
        "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "Llama-3.1-8B",
        "nvidia/Llama-3.1-8B-Instruct-FP8",
    ] {
        assert_eq!(LlmSpec::lookup(id).unwrap().name, "Llama-3.1-8B", "{id}");
    }
    assert_eq!(
        LlmSpec::lookup("meta-llama/Llama-3.1-70B")
            .unwrap()
            .num_layers,
        80
    );
    assert_eq!(
        LlmSpec::lookup("Qwen/Qwen3-0.6B").unwrap().hidden_size,
        1024
    );
    assert!(LlmSpec::lookup("Qwen/Qwen3-8B").is_err());
}

#[test]
fn hf_config_loads_and_errors_name_the_field() {
    let p = Path::new("config.json");
    let cfg = r#"{"hidden_size":4096,"num_hidden_layers":32,"num_attention_heads":32,
        "num_key_value_heads":8,"intermediate_size":14336,"vocab_size":128256}"#;
    let m = LlmSpec::from_hf_config_str(cfg, p).unwrap();
    assert_eq!(m.head_dim, 128);
    assert_eq!(
        m.params(),
        LlmSpec::lookup("Llama-3.1-8B").unwrap().params()
    );
    let bad = r#"{"hidden_size":4096,"num_hidden_layers":"x","num_attention_heads":32,
        "intermediate_size":14336,"vocab_size":128256}"#;
    let e = LlmSpec::from_hf_config_str(bad, p).unwrap_err().to_string();
    assert!(e.contains("num_hidden_layers"), "{e}");
    let huge = cfg.replace("14336", "4294967295");
    let e = LlmSpec::from_hf_config_str(&huge, p)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("intermediate_size") && e.contains("no model is this large"),
        "{e}"
    );
    let missing = r#"{"hidden_size":4096,"num_attention_heads":32}"#;
    let e = LlmSpec::from_hf_config_str(missing, p)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("num_hidden_layers") && e.contains("missing"),
        "{e}"
    );
}

#[test]
fn kv_capacity() {
    let cat = GpuCatalog::builtin();
    let h200 = cat.get("h200_sxm").unwrap();
    let m = LlmSpec::lookup("Qwen3-32B-FP8")
        .unwrap()
        .with_dtypes(Dtype::Fp8, Dtype::Fp8);
    let cap = m.kv_capacity_tokens(h200, 2, 0.9).unwrap();
    let expect = (h200.memory_bytes * 0.9 - m.weight_bytes() as f64 / 2.0) / (131_072.0 / 2.0);
    assert_eq!(cap, expect.floor() as u64);
    // KV heads are not split below one per GPU.
    assert_eq!(m.kv_heads_per_gpu(16), 1);
    let big = LlmSpec::lookup("Llama-3.1-70B").unwrap();
    assert!(
        big.kv_capacity_tokens(cat.get("h100_sxm").unwrap(), 1, 0.9)
            .is_err()
    );
    assert!(m.kv_capacity_tokens(h200, 0, 0.9).is_err());
}

fn parse(cfg: &str) -> Result<LlmSpec> {
    LlmSpec::from_hf_config_str(cfg, Path::new("config.json"))
}

fn err(cfg: &str) -> String {
    parse(cfg).unwrap_err().to_string()
}

/// Layers whose feed-forward block is a mixture of experts.
fn moe_layers(m: &LlmSpec) -> Vec<usize> {
    (0..m.layers().len())
        .filter(|&i| m.layers()[i].ffn == Ffn::Moe)
        .collect()
}

#[test]
fn dense_builtins_are_dense_and_sized_as_before() {
    for name in &LlmSpec::builtin_names()[..4] {
        let m = LlmSpec::lookup(name).unwrap();
        assert!(m.is_dense(), "{name}");
        m.require_dense("x").unwrap();
        let emb = u64::from(m.vocab_size) * u64::from(m.hidden_size);
        let head = if m.tie_word_embeddings { 0 } else { emb };
        let params =
            u64::from(m.num_layers) * m.params_per_layer() + emb + head + u64::from(m.hidden_size);
        assert_eq!(m.params(), params, "{name}");
        assert_eq!(m.weight_bytes(), params * 2, "{name}");
        let kv = u64::from(m.num_layers) * 2 * u64::from(m.num_kv_heads) * 128 * 2;
        assert_eq!(m.kv_bytes_per_token(), kv, "{name}");
        assert_eq!(m.kv_bytes_for_sequence(1000).unwrap(), 1000 * kv);
        let par = Parallelism::tensor(2);
        assert_eq!(
            m.weight_bytes_per_gpu(&par).unwrap(),
            m.weight_bytes().div_ceil(2)
        );
    }
}

#[test]
fn deepseek_v3_mla_and_experts() {
    let m = LlmSpec::lookup("deepseek-ai/DeepSeek-V3").unwrap();
    assert_eq!(m.name, "DeepSeek-V3");
    assert_eq!(m.weight_dtype, Dtype::Fp8Block);
    let Attention::Mla(d) = m.attention() else {
        panic!("{:?}", m.attention())
    };
    assert_eq!((d.kv_lora_rank, d.qk_rope_head_dim), (512, 64));
    // DeepSeek-V2 §2.1.4, Table 1: (d_c + d_h^R) elements per token per layer, bf16 here.
    assert_eq!(m.kv_bytes_per_token(), 61 * (512 + 64) * 2);
    let fp8 = m.clone().with_dtypes(Dtype::Fp8Block, Dtype::Fp8);
    assert_eq!(fp8.kv_bytes_per_token(), 61 * 576);
    // One latent "head": every TP rank keeps all of it.
    for tp in [1, 2, 8] {
        assert_eq!(m.kv_bytes_per_token_per_gpu(tp), m.kv_bytes_per_token());
    }
    // DeepSeek-V3 §4.2: first three layers dense, 256 routed experts, 8 active, one shared.
    assert_eq!(moe_layers(&m), (3..61).collect::<Vec<_>>());
    let moe = m.moe().unwrap();
    assert_eq!((moe.num_experts, moe.top_k), (256, 8));
    assert_eq!(moe.shared_intermediate_size, 2048);
    assert_eq!(moe.routing, ExpertRouting::PowerLaw101);
    // 671B total, 37B activated (the paper's figures; the activated count there includes
    // the embedding, 0.9B, which this count leaves out).
    let total = m.params() as f64 / 1e9;
    assert!((total - 671.0).abs() < 0.5, "{total}");
    let active = m.active_params_per_token() as f64 / 1e9;
    assert!((36.0..37.5).contains(&active), "{active}");
    assert_eq!(
        LlmSpec::lookup("DeepSeek-R1-0528").unwrap().params(),
        m.params()
    );
}

#[test]
fn weights_per_gpu_under_expert_parallelism() {
    let m = LlmSpec::lookup("DeepSeek-V3").unwrap();
    let total = m.weight_bytes();
    let experts = 58 * 256 * 3 * 7168 * 2048; // one byte each (FP8)
    let router = 58 * 7168 * 256;
    let other = total - experts;
    // Wide EP with attention DP: attention and dense parts whole on every GPU, 32 experts
    // per GPU per MoE layer.
    let wide = Parallelism {
        tp: 1,
        attention_dp: 8,
        moe_tp: 1,
        moe_ep: 8,
    };
    assert_eq!(m.weight_bytes_per_gpu(&wide).unwrap(), other + experts / 8);
    // Plain TP 8: dense parts split 8 ways, routers whole, every expert split 8 ways.
    let tp8 = Parallelism::tensor(8);
    assert_eq!(
        m.weight_bytes_per_gpu(&tp8).unwrap(),
        (other - router).div_ceil(8) + router + experts / 8
    );
    // TP 8 attention with EP 8 experts: the same memory as plain TP here.
    let ep = Parallelism {
        tp: 8,
        attention_dp: 1,
        moe_tp: 1,
        moe_ep: 8,
    };
    assert_eq!(
        m.weight_bytes_per_gpu(&ep).unwrap(),
        m.weight_bytes_per_gpu(&tp8).unwrap()
    );
    // Bad splits are named.
    let e = m
        .weight_bytes_per_gpu(&Parallelism { moe_ep: 4, ..wide })
        .unwrap_err()
        .to_string();
    assert!(e.contains("MoE TP size") && e.contains("must equal"), "{e}");
    let e = m
        .weight_bytes_per_gpu(&Parallelism {
            tp: 3,
            attention_dp: 1,
            moe_tp: 1,
            moe_ep: 3,
        })
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("MoE EP size") && e.contains("256 experts"),
        "{e}"
    );
    let dense = LlmSpec::lookup("Qwen3-32B").unwrap();
    let e = dense
        .weight_bytes_per_gpu(&Parallelism {
            tp: 2,
            attention_dp: 1,
            moe_tp: 1,
            moe_ep: 2,
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("has no experts"), "{e}");
    assert!(m.weight_bytes_per_gpu(&Parallelism::tensor(0)).is_err());
}

#[test]
fn kv_budget_after_the_weights() {
    // DeepSeek-V3 in FP8 (671 GB) fits one node of 8 H200 (141 GiB each), not of 8 H100.
    let cat = GpuCatalog::builtin();
    let m = LlmSpec::lookup("DeepSeek-V3").unwrap();
    let tp8 = Parallelism::tensor(8);
    let h200 = cat.get("h200_sxm").unwrap();
    let budget = m
        .kv_budget_bytes_per_gpu(h200, &tp8, 0.9, RESERVED_BYTES_PER_GPU)
        .unwrap();
    let want = h200.memory_bytes * 0.9
        - m.weight_bytes_per_gpu(&tp8).unwrap() as f64
        - RESERVED_BYTES_PER_GPU as f64;
    assert_eq!(budget, want.floor() as u64);
    let e = m
        .kv_budget_bytes_per_gpu(cat.get("h100_sxm").unwrap(), &tp8, 0.9, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("do not fit in h100_sxm"), "{e}");
    assert!(m.kv_budget_bytes_per_gpu(h200, &tp8, 0.0, 0).is_err());
    // Wide EP over 64 GB200 (4 experts per GPU): the dense parts whole on every GPU.
    let gb200 = cat.get("gb200").unwrap();
    let wide = Parallelism {
        tp: 1,
        attention_dp: 64,
        moe_tp: 1,
        moe_ep: 64,
    };
    let wide_budget = m.kv_budget_bytes_per_gpu(gb200, &wide, 0.9, 0).unwrap();
    assert!(
        wide_budget as f64 > 0.7 * gb200.memory_bytes,
        "{wide_budget}"
    );
}

#[test]
fn only_gpt_oss_answers_behind_a_response_header() {
    for name in ["openai/gpt-oss-120b", "openai/gpt-oss-20b"] {
        let m = LlmSpec::lookup(name).unwrap();
        assert_eq!(m.response_header_tokens, HARMONY_HEADER_TOKENS, "{name}");
    }
    assert_eq!(HARMONY_HEADER_TOKENS, 3);
    for name in [
        "llama-3.1-8b",
        "Qwen/Qwen3-235B-A22B",
        "deepseek-ai/DeepSeek-V3",
    ] {
        let m = LlmSpec::lookup(name).unwrap();
        assert_eq!(m.response_header_tokens, 0, "{name}");
    }
}

#[test]
fn gpt_oss_sliding_layers_are_capped_by_the_window() {
    let m = LlmSpec::lookup("openai/gpt-oss-120b").unwrap();
    assert_eq!(m.moe().unwrap().routing, ExpertRouting::PowerLaw12);
    assert_eq!(
        m.clone()
            .with_expert_routing(ExpertRouting::Balanced)
            .moe()
            .unwrap()
            .routing,
        ExpertRouting::Balanced
    );
    let layers = m.layers();
    assert_eq!(layers.len(), 36);
    for (i, l) in layers.iter().enumerate() {
        let want = if i % 2 == 0 {
            Mixer::SlidingAttention { window: 128 }
        } else {
            Mixer::FullAttention
        };
        assert_eq!(l.mixer, want, "layer {i}");
        assert_eq!(l.ffn, Ffn::Moe);
    }
    let per_layer = 2 * 8 * 64 * 2; // K and V, 8 KV heads of 64, bf16
    assert_eq!(m.kv_bytes_per_token(), 36 * per_layer);
    assert_eq!(m.kv_bytes_for_sequence(100).unwrap(), 100 * 36 * per_layer);
    assert_eq!(
        m.kv_bytes_for_sequence(10_000).unwrap(),
        (18 * 10_000 + 18 * 128) * per_layer
    );
    // Per GPU at TP 8: one KV head each.
    let par = Parallelism::tensor(8);
    assert_eq!(
        m.kv_bytes_for_sequence_per_gpu(10_000, &par).unwrap(),
        (18 * 10_000 + 18 * 128) * 2 * 64 * 2
    );
    // 116.8B parameters, 5.1B active (OpenAI's model card); MXFP4 experts: about 65 GB.
    assert!(m.attention_sinks() && m.attention_bias());
    let total = m.params() as f64 / 1e9;
    assert!((total - 116.83).abs() < 0.01, "{total}");
    let active = m.active_params_per_token() as f64 / 1e9;
    assert!((active - 5.13).abs() < 0.01, "{active}");
    let gb = m.weight_bytes() as f64 / 1e9;
    assert!((64.0..66.0).contains(&gb), "{gb}");
    let bf16 = m.clone().with_expert_format(ExpertFormat::WeightDtype);
    assert_eq!(bf16.weight_bytes(), bf16.params() * 2);
    let small = LlmSpec::lookup("gpt-oss-20b").unwrap();
    assert!((small.params() as f64 / 1e9 - 20.91).abs() < 0.01);
    m.require_dense("the iteration predictor").unwrap_err();
}

#[test]
fn moe_builtins_match_their_published_sizes() {
    // (id, total B, experts, top-k, MoE layers): the model cards' totals, the experts and
    // top-k as the MoE kernel tables' shapes name them.
    for (id, total, experts, top_k, moe) in [
        ("moonshotai/Kimi-K2-Instruct", 1026.4, 384, 8, 60),
        ("Qwen/Qwen3-235B-A22B", 235.09, 128, 8, 94),
        ("Qwen/Qwen3-30B-A3B", 30.53, 128, 8, 48),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", 46.70, 8, 2, 32),
    ] {
        let m = LlmSpec::lookup(id).unwrap();
        let b = m.params() as f64 / 1e9;
        assert!((b - total).abs() < 0.05, "{id}: {b}");
        let s = m.moe().unwrap();
        assert_eq!((s.num_experts, s.top_k), (experts, top_k), "{id}");
        assert_eq!(moe_layers(&m).len(), moe, "{id}");
        assert!(m.layers().iter().all(|l| l.mixer == Mixer::FullAttention));
    }
    let fp8 = LlmSpec::lookup("Qwen/Qwen3-235B-A22B-FP8").unwrap();
    assert_eq!(fp8.weight_dtype, Dtype::Fp8Block);
    assert_eq!(fp8.kv_dtype, Dtype::Bf16);
    // Qwen3-235B: 94 layers × 2 × 4 KV heads × 128 × bf16.
    assert_eq!(fp8.kv_bytes_per_token(), 94 * 2 * 4 * 128 * 2);
}

#[test]
fn mla_and_attention_dp_capacity_and_what_is_still_refused() {
    let cat = GpuCatalog::builtin();
    let h200 = cat.get("h200_sxm").unwrap();
    // DeepSeek-R1 FP8 with an FP8 KV cache at TP 8 on H200: every rank keeps the whole
    // 61 × 576-byte latent of each token, so the capacity is the free memory of one GPU over
    // 35 136 bytes, not over an eighth of it.
    let m = LlmSpec::lookup("DeepSeek-R1")
        .unwrap()
        .with_dtypes(Dtype::Fp8Block, Dtype::Fp8);
    let tp8 = Parallelism {
        tp: 8,
        attention_dp: 1,
        moe_tp: 1,
        moe_ep: 8,
    };
    let free = h200.memory_bytes * 0.9 - m.weight_bytes_per_gpu(&tp8).unwrap() as f64;
    let cap = m.kv_capacity_tokens_split(h200, &tp8, 0.9, 0).unwrap();
    assert_eq!(cap, (free / (61.0 * 576.0)).floor() as u64);
    // Attention DP 8 × TP 1: the same experts per GPU, the dense parts whole on every GPU;
    // each of the 8 ranks keeps its own sequences' KV, so the worker holds 8 ranks' worth.
    let dep8 = Parallelism {
        tp: 1,
        attention_dp: 8,
        ..tp8
    };
    let w = m.weight_bytes_per_gpu(&dep8).unwrap();
    assert!(w > m.weight_bytes_per_gpu(&tp8).unwrap());
    let rank = ((h200.memory_bytes * 0.9 - w as f64) / (61.0 * 576.0)).floor() as u64;
    assert_eq!(
        m.kv_capacity_tokens_split(h200, &dep8, 0.9, 0).unwrap(),
        8 * rank
    );
    assert!(8 * rank > 2 * cap, "{rank} {cap}");
    // A worker fits one NVLink domain (one node on an H200 board) or spans whole ones: two
    // nodes of eight ranks each hold twice the sequences.
    let wide = Parallelism {
        attention_dp: 16,
        moe_ep: 16,
        ..dep8
    };
    let two = m.kv_capacity_tokens_split(h200, &wide, 0.9, 0).unwrap();
    assert!(two > 2 * 8 * rank, "{two} {rank}");
    let odd = Parallelism {
        attention_dp: 12,
        moe_ep: 12,
        ..dep8
    };
    let e = m.kv_capacity_tokens_split(h200, &odd, 0.9, 0).unwrap_err();
    assert!(e.to_string().contains("must fit one NVLink domain"), "{e}");
    // Attention DP is refused for a dense model (its data parallelism is separate workers).
    let dense = LlmSpec::lookup("Qwen/Qwen3-32B").unwrap();
    let dp2 = Parallelism {
        tp: 1,
        attention_dp: 2,
        moe_tp: 2,
        moe_ep: 1,
    };
    let e = dense.require_modelled("x", &dp2).unwrap_err().to_string();
    assert!(e.contains("without a mixture of experts"), "{e}");
    // Experts, one sliding window and attention DP with experts are modelled.
    let q = LlmSpec::lookup("Qwen/Qwen3-235B-A22B-FP8").unwrap();
    let tp_ep = Parallelism {
        tp: 4,
        attention_dp: 1,
        moe_tp: 1,
        moe_ep: 4,
    };
    q.require_modelled("x", &tp_ep).unwrap();
    let dp = Parallelism {
        attention_dp: 2,
        moe_ep: 8,
        ..tp_ep
    };
    q.require_modelled("x", &dp).unwrap();
    LlmSpec::lookup("gpt-oss-20b")
        .unwrap()
        .require_modelled("x", &Parallelism::tensor(1))
        .unwrap();
    // EP spreads the experts: at TP 4, EP 4 holds a quarter of the expert bytes that EP 1
    // with MoE TP 1 would (one GPU), and the worker still fits in H100s.
    let one = q.weight_bytes_per_gpu(&Parallelism::tensor(1)).unwrap();
    let four = q.weight_bytes_per_gpu(&tp_ep).unwrap();
    assert!(four * 4 >= one && four * 3 < one, "{one} {four}");
    let cap = q
        .kv_capacity_tokens_split(cat.get("h100_sxm").unwrap(), &tp_ep, 0.9, 0)
        .unwrap();
    assert!(cap > 100_000, "{cap}");
    let e = LlmSpec::lookup("gpt-oss-20b")
        .unwrap()
        .require_dense("the iteration predictor")
        .unwrap_err()
        .to_string();
    assert!(e.contains("sliding-window attention (window 128)"), "{e}");
}

const MOE_CFG: &str = r#"{"model_type":"qwen3_moe","hidden_size":1024,"num_hidden_layers":4,
    "num_attention_heads":16,"num_key_value_heads":4,"head_dim":64,"intermediate_size":3072,
    "vocab_size":1000,"num_experts":8,"num_experts_per_tok":2,"moe_intermediate_size":256"#;

#[test]
fn moe_layer_placement_follows_each_family() {
    let m = parse(&format!("{MOE_CFG}}}")).unwrap();
    assert_eq!(moe_layers(&m), [0, 1, 2, 3]);
    let m = parse(&format!("{MOE_CFG},\"mlp_only_layers\":[0,2]}}")).unwrap();
    assert_eq!(moe_layers(&m), [1, 3]);
    let m = parse(&format!("{MOE_CFG},\"decoder_sparse_step\":2}}")).unwrap();
    assert_eq!(moe_layers(&m), [1, 3]);
    let m = parse(&format!(
        "{MOE_CFG},\"first_k_dense_replace\":1,\"moe_layer_freq\":2}}"
    ))
    .unwrap();
    assert_eq!(moe_layers(&m), [2]);
    let m = parse(&format!("{MOE_CFG},\"interleave_moe_layer_step\":2}}")).unwrap();
    assert_eq!(moe_layers(&m), [1, 3]);
    // A dense layer's MLP is `intermediate_size`, an expert `moe_intermediate_size`.
    let all = parse(&format!("{MOE_CFG}}}")).unwrap();
    let h = 1024u64;
    assert_eq!(
        m.params() - all.params(),
        2 * (3 * h * 3072) - 2 * (8 * 3 * h * 256 + h * 8)
    );
    // Qwen2-MoE's shared expert with its gate.
    let shared = parse(&format!(
        "{MOE_CFG},\"shared_expert_intermediate_size\":512}}"
    ))
    .unwrap();
    assert_eq!(shared.params() - all.params(), 4 * (3 * h * 512 + h));
    // Zero experts is a dense model.
    let dense = parse(&(MOE_CFG.replace("\"num_experts\":8", "\"num_experts\":0") + "}")).unwrap();
    assert!(dense.moe().is_none() && dense.is_dense());
}

#[test]
fn sliding_window_rules() {
    let base = r#"{"hidden_size":1024,"num_hidden_layers":4,"num_attention_heads":16,
        "intermediate_size":3072,"vocab_size":1000"#;
    let slide = Mixer::SlidingAttention { window: 512 };
    let full = Mixer::FullAttention;
    let mixers = |m: &LlmSpec| m.layers().iter().map(|l| l.mixer).collect::<Vec<_>>();
    // Qwen: the window only with use_sliding_window, from max_window_layers on.
    let q = parse(&format!(
        "{base},\"model_type\":\"qwen3\",\"sliding_window\":512,\"use_sliding_window\":false}}"
    ))
    .unwrap();
    assert!(q.is_dense());
    let q = parse(&format!(
        "{base},\"sliding_window\":512,\"use_sliding_window\":true,\"max_window_layers\":2}}"
    ))
    .unwrap();
    assert_eq!(mixers(&q), [full, full, slide, slide]);
    // Mistral: every layer.
    let m = parse(&format!(
        "{base},\"model_type\":\"mistral\",\"sliding_window\":512}}"
    ))
    .unwrap();
    assert_eq!(mixers(&m), [slide; 4]);
    // Another family's bare window is not guessed.
    let e = err(&format!(
        "{base},\"model_type\":\"gemma2\",\"sliding_window\":512}}"
    ));
    assert!(
        e.contains("`sliding_window`") && e.contains("gemma2"),
        "{e}"
    );
    let e = err(&format!(
        "{base},\"sliding_window_pattern\":6,\"sliding_window\":512}}"
    ));
    assert!(e.contains("`sliding_window_pattern`"), "{e}");
    // layer_types: named per layer.
    let e = err(&format!("{base},\"layer_types\":[\"full_attention\"]}}"));
    assert!(
        e.contains("`layer_types`") && e.contains("4 layer types"),
        "{e}"
    );
    let e = err(&format!(
        "{base},\"layer_types\":[\"full_attention\",\"sliding_attention\",\"full_attention\",\"full_attention\"]}}"
    ));
    assert!(
        e.contains("`sliding_window`") && e.contains("layer_types[1]"),
        "{e}"
    );
    let e = err(&format!(
        "{base},\"layer_types\":[\"linear_attention\",\"linear_attention\",\"linear_attention\",\"full_attention\"]}}"
    ));
    // Gated DeltaNet layers need their dimensions.
    assert!(
        e.contains("`linear_num_key_heads`") && e.contains("missing"),
        "{e}"
    );
    let e = err(&format!("{base},\"layer_types\":[1,2,3,4]}}"));
    assert!(e.contains("`layer_types[0]`"), "{e}");
}

#[test]
fn config_errors_name_the_field() {
    let e = err(&MOE_CFG
        .replace(",\"num_experts_per_tok\":2", "")
        .to_string()
        .replace("256", "256}"));
    assert!(
        e.contains("`num_experts_per_tok`") && e.contains("missing"),
        "{e}"
    );
    let e = err(&format!(
        "{},\"num_experts_per_tok\":9}}",
        MOE_CFG.replace(",\"num_experts_per_tok\":2", "")
    ));
    assert!(
        e.contains("`num_experts_per_tok`") && e.contains("more than the 8 experts"),
        "{e}"
    );
    let e = err(&format!("{MOE_CFG},\"mlp_only_layers\":[\"a\"]}}"));
    assert!(e.contains("`mlp_only_layers`"), "{e}");
    let e = err(&MOE_CFG
        .replace("\"num_experts\":8", "\"num_experts\":1000000")
        .replace("256", "4194304}")
        .replace("\"hidden_size\":1024", "\"hidden_size\":1048576"));
    assert!(
        e.contains("`num_experts`") && e.contains("no model is this large"),
        "{e}"
    );
    // MLA without one of its dimensions.
    let mla = r#"{"model_type":"deepseek_v2","hidden_size":1024,"num_hidden_layers":2,"num_attention_heads":8,
        "intermediate_size":2048,"vocab_size":1000,"kv_lora_rank":128,"q_lora_rank":null,
        "qk_nope_head_dim":64,"v_head_dim":64}"#;
    let e = err(mla);
    assert!(
        e.contains("`qk_rope_head_dim`") && e.contains("missing"),
        "{e}"
    );
    let m =
        parse(&mla.replace("\"v_head_dim\"", "\"qk_rope_head_dim\":32,\"v_head_dim\"")).unwrap();
    assert_eq!(m.kv_bytes_per_token(), 2 * (128 + 32) * 2);
    assert_eq!(m.head_dim, 96);
    // Multimodal and nested configs: the field named under text_config.
    let nested = format!(
        "{{\"text_config\":{},\"vision_config\":{{}}}}",
        MOE_CFG.to_string() + ",\"layer_types\":5}"
    );
    let e = err(&nested);
    assert!(e.contains("`text_config.layer_types`"), "{e}");
    let e = err(&format!(
        "{{\"text_config\":{MOE_CFG}}},\"vision_config\":{{}}}}"
    ));
    assert!(
        e.contains("`vision_config`") && e.contains("not modelled yet"),
        "{e}"
    );
    let e = err(&format!("{MOE_CFG},\"attention_chunk_size\":8192}}"));
    assert!(e.contains("`attention_chunk_size`"), "{e}");
    // Families whose experts are not read, and layers that are not sized, are refused.
    let e = err(&MOE_CFG
        .replace("qwen3_moe", "ernie4_5_moe")
        .replace("256", "256}"));
    assert!(
        e.contains("`model_type`") && e.contains("ernie4_5_moe"),
        "{e}"
    );
    let e = err(&format!("{MOE_CFG},\"index_topk\":2048}}"));
    assert!(
        e.contains("`index_topk`") && e.contains("without multi-head latent attention"),
        "{e}"
    );
    let e = err(&format!("{MOE_CFG},\"hybrid_override_pattern\":\"M*M*\"}}"));
    assert!(
        e.contains("`hybrid_override_pattern`") && e.contains("Mamba"),
        "{e}"
    );
    let e = err(&format!(
        "{MOE_CFG},\"quantization_config\":{{\"quant_method\":\"compressed-tensors\"}}}}"
    ));
    assert!(e.contains("`quantization_config.config_groups`"), "{e}");
    let dense_mxfp4 = r#"{"hidden_size":64,"num_hidden_layers":1,"num_attention_heads":1,
        "intermediate_size":64,"vocab_size":10,"quantization_config":{"quant_method":"mxfp4"}}"#;
    let e = err(dense_mxfp4);
    assert!(e.contains("`quantization_config.quant_method`"), "{e}");
}

/// A synthetic config of any of the architectures: dims, experts (0: dense), MLA or not,
/// a window on every other layer or none.
fn arb_config() -> impl Strategy<Value = String> {
    (
        (1u32..64, 1u32..24, 0u32..4, 1u32..5),
        (0u32..5, 1u32..9, any::<bool>(), prop::option::of(1u32..2048)),
        (1u32..9, any::<bool>(), 1u32..3),
    )
        .prop_map(|((h64, layers, kv_log, head64), (experts_log, topk, mla, window), (inter64, tied, dense_first))| {
            let kv = 1u32 << kv_log;
            let heads = kv * 2;
            let experts = if experts_log == 0 { 0 } else { 1u32 << (experts_log + 1) };
            let topk = topk.min(experts.max(1));
            let mut c = format!(
                "{{\"model_type\":\"deepseek_v3\",\"hidden_size\":{},\"num_hidden_layers\":{layers},\
                 \"num_attention_heads\":{heads},\"num_key_value_heads\":{kv},\"head_dim\":{},\
                 \"intermediate_size\":{},\"vocab_size\":5000,\"tie_word_embeddings\":{tied},\
                 \"n_routed_experts\":{experts},\"num_experts_per_tok\":{topk},\
                 \"first_k_dense_replace\":{dense_first},\"n_shared_experts\":1,\
                 \"moe_intermediate_size\":{}",
                h64 * 64,
                head64 * 32,
                inter64 * 128,
                inter64 * 64
            );
            if mla {
                c += ",\"kv_lora_rank\":64,\"q_lora_rank\":96,\"qk_nope_head_dim\":32,\
                      \"qk_rope_head_dim\":16,\"v_head_dim\":32";
            }
            if let Some(w) = window {
                let types: Vec<&str> = (0..layers)
                    .map(|i| if i % 2 == 0 { "\"sliding_attention\"" } else { "\"full_attention\"" })
                    .collect();
                c += &format!(",\"sliding_window\":{w},\"layer_types\":[{}]", types.join(","));
            }
            c + "}"
        })
}

proptest! {
    #[test]
    fn kv_bytes_are_monotone_and_bounded(cfg in arb_config(), a in 0u64..100_000, b in 0u64..100_000) {
        let m = parse(&cfg).unwrap();
        let (lo, hi) = (a.min(b), a.max(b));
        let kv_lo = m.kv_bytes_for_sequence(lo).unwrap();
        let kv_hi = m.kv_bytes_for_sequence(hi).unwrap();
        prop_assert!(kv_lo <= kv_hi);
        // Never more than every layer keeping every token (the dense-equivalent bound).
        prop_assert!(kv_hi <= hi * m.kv_bytes_per_token());
        if m.layers().iter().all(|l| l.mixer == Mixer::FullAttention) {
            prop_assert_eq!(kv_hi, hi * m.kv_bytes_per_token());
        }
        for tp in [1u32, 2, 4] {
            let par = Parallelism::tensor(tp);
            if m.check_parallelism(&par).is_ok() {
                let per_gpu = m.kv_bytes_for_sequence_per_gpu(hi, &par).unwrap();
                prop_assert!(per_gpu <= kv_hi && per_gpu * u64::from(tp) >= kv_hi);
            }
        }
    }

    #[test]
    fn weights_per_gpu_cover_the_model(
        cfg in arb_config(),
        tp_log in 0u32..3,
        dp_log in 0u32..4,
        ep_log in 0u32..6,
    ) {
        let m = parse(&cfg).unwrap();
        let (tp, dp) = (1u32 << tp_log, 1u32 << dp_log);
        let gpus = tp * dp;
        let experts = m.moe().map_or(1, |s| s.num_experts);
        let ep = (1u32 << ep_log).min(gpus).min(experts);
        let par = Parallelism { tp, attention_dp: dp, moe_tp: gpus / ep, moe_ep: ep };
        let par = if m.moe().is_some() { par } else { Parallelism { moe_tp: gpus, moe_ep: 1, ..par } };
        let per_gpu = m.weight_bytes_per_gpu(&par).unwrap();
        prop_assert!(per_gpu * u64::from(gpus) >= m.weight_bytes());
        prop_assert!(per_gpu <= m.weight_bytes());
        prop_assert!(m.active_params_per_token() <= m.params());
    }
}

#[test]
fn short_model_names_resolve_where_one_built_in_fits() {
    for (typed, name) in [
        ("llama-8b", "Llama-3.1-8B"),
        ("Llama 3.1 70B", "Llama-3.1-70B"),
        ("meta-llama/llama3.1-8b-instruct", "Llama-3.1-8B"),
        ("minimax", "MiniMax-M2.5"),
        ("kimi-k2", "Kimi-K2-Instruct"),
        ("mixtral", "Mixtral-8x7B"),
        ("Qwen3-235B", "Qwen3-235B-A22B"),
        ("deepseek-r1", "DeepSeek-R1"),
    ] {
        assert_eq!(LlmSpec::lookup(typed).unwrap().name, name, "{typed}");
    }
    // The FP8 suffix carries over to the model a short form stands for.
    assert_eq!(
        LlmSpec::lookup("llama-8b-fp8").unwrap().weight_dtype,
        Dtype::Fp8
    );
    for (typed, candidates) in [
        (
            "llama",
            "Llama-3.1-8B, Llama-3.1-70B, Llama-4-Scout-17B-16E, Llama-4-Maverick-17B-128E",
        ),
        ("llama-3.1", "Llama-3.1-8B, Llama-3.1-70B"),
        ("deepseek", "DeepSeek-V3, DeepSeek-R1, DeepSeek-V3.2"),
        ("gpt-oss", "gpt-oss-120b, gpt-oss-20b"),
        ("kimi", "Kimi-K2-Instruct, Kimi-K2.5"),
    ] {
        let e = LlmSpec::lookup(typed).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("model `{typed}` is ambiguous: it could be {candidates}")
        );
    }
    // Other models of a known family are not taken for the built-in.
    for other in ["Llama-3-8B", "Qwen/Qwen3-8B", "DeepSeek-V3.1", "8b"] {
        let e = LlmSpec::lookup(other).unwrap_err().to_string();
        assert!(e.starts_with(&format!("unknown model `{other}`")), "{e}");
    }
    assert!(
        LlmSpec::lookup("Lama-3.1-8B")
            .unwrap_err()
            .to_string()
            .contains("did you mean `Llama-3.1-8B`?")
    );
    assert_eq!(LlmSpec::builtin_aliases("Qwen3-235B-A22B"), ["Qwen3-235B"]);
    assert_eq!(
        LlmSpec::builtin_aliases("DeepSeek-V3"),
        ["deepseek-v3-0324"]
    );
    assert_eq!(
        LlmSpec::builtin_aliases("Llama-3.1-8B"),
        ["DeepSeek-R1-Distill-Llama-8B"]
    );
}

#[test]
fn distilled_models_resolve_to_their_architecture_or_say_why_not() {
    for (id, arch) in [
        ("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "Llama-3.1-8B"),
        ("DeepSeek-R1-Distill-Llama-70B", "Llama-3.1-70B"),
        ("deepseek-r1-distill-llama-70b", "Llama-3.1-70B"),
    ] {
        let spec = LlmSpec::lookup(id).unwrap();
        assert_eq!(spec, LlmSpec::lookup(arch).unwrap(), "{id}");
    }
    assert_eq!(
        LlmSpec::lookup("DeepSeek-R1-Distill-Llama-8B-FP8")
            .unwrap()
            .weight_dtype,
        Dtype::Fp8
    );
    let e = LlmSpec::lookup("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("DeepSeek-R1-Distill-Qwen-32B is Qwen2.5-32B distilled from DeepSeek-R1")
            && e.contains("config.json"),
        "{e}"
    );
}

#[test]
fn every_built_in_knows_its_context_and_a_config_gives_it() {
    for name in LlmSpec::builtin_names() {
        let m = LlmSpec::lookup(name).unwrap();
        assert!(m.max_position_embeddings.is_some(), "{name}");
    }
    assert_eq!(
        LlmSpec::lookup("Llama-3.1-8B")
            .unwrap()
            .max_position_embeddings,
        Some(131_072)
    );
    assert_eq!(
        LlmSpec::lookup("DeepSeek-R1")
            .unwrap()
            .max_position_embeddings,
        Some(163_840)
    );
    let cfg = r#"{"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 128, "vocab_size": 100}"#;
    let m = LlmSpec::from_hf_config_str(cfg, Path::new("c.json")).unwrap();
    assert_eq!(m.max_position_embeddings, None, "optional");
    // A sequence exceeds a known context only: up to it fits, one token more does not.
    assert_eq!(m.context_exceeded_by(u64::MAX), None);
    let llama = LlmSpec::lookup("Llama-3.1-8B").unwrap();
    assert_eq!(llama.context_exceeded_by(131_072), None);
    assert_eq!(llama.context_exceeded_by(131_073), Some(131_072));
}

#[test]
fn nvfp4_weights_take_nine_bytes_per_sixteen() {
    // DeepSeek-V3 in NVFP4 (every weight 4.5 bits, scales included): 671 B × 9/16 ≈ 377 GB,
    // which fits four B200 (180 GiB each) at TP 4 where FP8 (671 GB) does not.
    let mut m = LlmSpec::lookup("DeepSeek-V3").unwrap();
    let fp8 = m.weight_bytes();
    m.weight_dtype = Dtype::Nvfp4;
    let total = m.weight_bytes();
    assert_eq!(total, Dtype::Nvfp4.bytes_of(m.params()));
    assert!(
        (total as f64 / fp8 as f64 - 0.5625).abs() < 1e-3,
        "{total} {fp8}"
    );
    let tp4 = Parallelism {
        tp: 4,
        attention_dp: 1,
        moe_tp: 1,
        moe_ep: 4,
    };
    let per_gpu = m.weight_bytes_per_gpu(&tp4).unwrap();
    assert!(per_gpu * 4 >= total);
    let b200 = GpuCatalog::builtin().get("b200_sxm").unwrap().clone();
    assert!(m.kv_budget_bytes_per_gpu(&b200, &tp4, 0.9, 0).is_ok());
}

/// Qwen3.5-27B's language model: `text_config` of its `config.json` (aiconfigurator-core
/// 0.12.0's `Qwen--Qwen3.5-27B_config.json`), the fields read.
pub(crate) const QWEN35_27B: &str = r#"{"text_config":{"model_type":"qwen3_5_text","hidden_size":5120,
"num_hidden_layers":64,"num_attention_heads":24,"num_key_value_heads":4,"head_dim":256,
"intermediate_size":17408,"vocab_size":248320,"attn_output_gate":true,
"full_attention_interval":4,"linear_num_key_heads":16,"linear_num_value_heads":48,
"linear_key_head_dim":128,"linear_value_head_dim":128,"linear_conv_kernel_dim":4,
"mtp_num_hidden_layers":1,"max_position_embeddings":262144,"mamba_ssm_dtype":"float32"},
"tie_word_embeddings":false}"#;

#[test]
fn gated_deltanet_layers_keep_a_state_per_sequence_and_no_kv() {
    let m = parse(QWEN35_27B).unwrap();
    // Every fourth layer attends; the other 48 are Gated DeltaNet.
    assert_eq!(m.attention_layers(), 16);
    let (d, n) = m.linear_attention().unwrap();
    assert_eq!(n, 48);
    assert!(m.layers()[3].attends() && !m.layers()[0].attends());
    assert!(m.attention_output_gate() && !m.is_dense());
    // KV: 16 layers × 2 × 4 KV heads × 256 × 2 bytes.
    assert_eq!(m.kv_bytes_per_token(), 16 * 2 * 4 * 256 * 2);
    assert_eq!(
        m.kv_bytes_for_sequence(1000).unwrap(),
        1000 * m.kv_bytes_per_token()
    );
    // State: per layer, the convolution's last 3 inputs of 2·16·128 + 48·128 channels
    // (16-bit) and a 128 × 128 matrix per value head (FP32, `mamba_ssm_dtype`); at TP 4 a
    // quarter of each.
    assert_eq!(d.conv_dim(), 10_240);
    let tp1 = 48 * (10_240 * 3 * 2 + 48 * 128 * 128 * 4);
    assert_eq!(
        m.state_bytes_per_sequence_per_gpu(&Parallelism::tensor(1)),
        tp1
    );
    assert_eq!(
        m.state_bytes_per_sequence_per_gpu(&Parallelism::tensor(4)),
        tp1 / 4
    );
    // Parameters: attention with its gate (queries doubled), Gated DeltaNet projections,
    // convolution, per-head parameters and gated norm, MLPs, norms, embedding and LM head.
    let h: u64 = 5120;
    let attn = h * (2 * 6144 + 2 * 1024) + 6144 * h;
    let gdn = h * (2 * 2048 + 2 * 6144) + h * 2 * 48 + 10_240 * 4 + 2 * 48 + 128 + 6144 * h;
    let want = 16 * attn + 48 * gdn + 64 * (3 * h * 17_408 + 2 * h) + 2 * 248_320 * h + h;
    assert_eq!(m.params(), want);
    assert!((26.5e9..27.5e9).contains(&(want as f64)), "{want}");
    m.require_modelled("the iteration predictor", &Parallelism::tensor(1))
        .unwrap();
    // Without any attention layer there is no KV to count the cache in: refused.
    let all_linear = parse(&QWEN35_27B.replace(
        "\"full_attention_interval\":4",
        "\"full_attention_interval\":65",
    ))
    .unwrap();
    assert_eq!(all_linear.attention_layers(), 0);
    let e = all_linear
        .require_modelled("the KV capacity", &Parallelism::tensor(1))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no attention layer"), "{e}");
}

#[test]
fn qwen3_next_layers_follow_the_full_attention_interval() {
    let cfg = QWEN35_27B
        .replace("qwen3_5_text", "qwen3_next")
        .replace("\"attn_output_gate\":true,", "");
    let m = parse(&cfg).unwrap();
    assert_eq!(m.attention_layers(), 16);
    // Qwen3-Next gates its attention output unless told otherwise.
    assert!(m.attention_output_gate());
    let e = err(&QWEN35_27B.replace(
        "\"linear_num_value_heads\":48",
        "\"linear_num_value_heads\":40",
    ));
    assert!(e.contains("`text_config.linear_num_value_heads`"), "{e}");
}

#[test]
fn llama4_attends_within_chunks_on_its_rope_layers_and_shares_an_expert() {
    let scout = LlmSpec::lookup("meta-llama/Llama-4-Scout-17B-16E-Instruct").unwrap();
    // Three layers of four use RoPE and attend within chunks of 8,192; every fourth attends
    // to everything.
    let (chunk, n) = scout.attention_chunks().unwrap();
    assert_eq!((chunk, n), (8192, 36));
    assert!(scout.layers()[3].chunk().is_none() && scout.layers()[0].chunk() == Some(8192));
    // A sequence of 20,000 tokens keeps all of them in 12 layers and its current chunk's
    // 3,616 (20,000 − 2 × 8,192) in the other 36.
    let per_layer = scout.kv_bytes_per_token() / 48;
    assert_eq!(
        scout.kv_bytes_for_sequence(20_000).unwrap(),
        per_layer * (12 * 20_000 + 36 * 3_616)
    );
    // One shared expert of the experts' size in every MoE layer: about 109 B parameters, 17 B
    // active (Meta's model card: 109B total, 17B active, the vision encoder included).
    let moe = scout.moe().unwrap();
    assert_eq!(moe.shared_intermediate_size, moe.expert_intermediate_size);
    let total = scout.params() as f64 / 1e9;
    let active = scout.active_params_per_token() as f64 / 1e9;
    assert!((105.0..110.0).contains(&total), "{total}");
    assert!((15.0..17.5).contains(&active), "{active}");
    let maverick = LlmSpec::lookup("Llama-4-Maverick-17B-128E").unwrap();
    let total = maverick.params() as f64 / 1e9;
    assert!((395.0..402.0).contains(&total), "{total}");
    // Which layers use RoPE may be listed; a list of the wrong length, or a chunk on a family
    // whose chunked layers are not read, is refused naming the field.
    let cfg = |extra: &str| {
        format!(
            "{{\"model_type\":\"llama4_text\",\"hidden_size\":1024,\"num_hidden_layers\":4,
            \"num_attention_heads\":16,\"num_key_value_heads\":4,\"head_dim\":64,
            \"intermediate_size\":256,\"vocab_size\":1000,\"num_local_experts\":8,
            \"num_experts_per_tok\":1,\"attention_chunk_size\":512{extra}}}"
        )
    };
    let m = parse(&cfg(",\"no_rope_layers\":[1,0,1,0]")).unwrap();
    assert_eq!(m.attention_chunks(), Some((512, 2)));
    assert!(m.layers()[1].chunk().is_none());
    let e = err(&cfg(",\"no_rope_layers\":[1,0]"));
    assert!(e.contains("`no_rope_layers`"), "{e}");
    let e = err(&cfg(",\"no_rope_layers\":[1,0,2,0]"));
    assert!(e.contains("`no_rope_layers[2]`"), "{e}");
    let e = err(&cfg("")
        .replace("llama4_text", "qwen3_moe")
        .replace("num_local_experts", "num_experts"));
    assert!(e.contains("`attention_chunk_size`"), "{e}");
}

#[test]
fn minimax_m2_has_experts_on_every_layer_and_no_shared_one() {
    let m = LlmSpec::lookup("MiniMaxAI/MiniMax-M2.5").unwrap();
    // The model card: 230 B parameters in all, 10 B active (its three multi-token-prediction
    // modules, loaded only for speculative decoding, are not counted here).
    let total = m.params() as f64 / 1e9;
    assert!((total / 230.0 - 1.0).abs() < 0.01, "{total}");
    let active = m.active_params_per_token() as f64 / 1e9;
    assert!((active / 10.0 - 1.0).abs() < 0.05, "{active}");
    let s = m.moe().unwrap();
    assert_eq!(
        (s.num_experts, s.top_k, s.expert_intermediate_size),
        (256, 8, 1536)
    );
    assert_eq!(s.shared_intermediate_size, 0);
    assert_eq!(moe_layers(&m).len(), 62);
    assert!(m.layers().iter().all(|l| l.mixer == Mixer::FullAttention));
    assert_eq!(m.weight_dtype, Dtype::Fp8Block);
    // 62 layers × K and V × 8 KV heads × 128 × bf16.
    assert_eq!(m.kv_bytes_per_token(), 62 * 2 * 8 * 128 * 2);
    let cfg = include_str!("../../../data/models/minimax-m2.5.config.json");
    let e = err(&cfg.replace(
        "\"shared_intermediate_size\": 0",
        "\"shared_intermediate_size\": 512",
    ));
    assert!(e.contains("`shared_intermediate_size`"), "{e}");
}

#[test]
fn qwen35_moe_builtins_match_their_names() {
    // (id, total B, active B as the name rounds it (with the input embedding), experts,
    // shared expert size, attention layers): the language models of the published configs.
    for (id, total, active, experts, shared, attention) in [
        ("Qwen/Qwen3.5-35B-A3B", 35.0, 3.0, 256, 512, 10),
        ("Qwen/Qwen3.5-122B-A10B", 122.0, 10.0, 256, 1024, 12),
        ("Qwen/Qwen3.5-397B-A17B", 397.0, 17.0, 512, 1024, 15),
    ] {
        let m = LlmSpec::lookup(id).unwrap();
        let b = m.params() as f64 / 1e9;
        assert!((b / total - 1.0).abs() < 0.01, "{id}: {b}");
        let embedding = u64::from(m.vocab_size) * u64::from(m.hidden_size);
        let a = (m.active_params_per_token() + embedding) as f64 / 1e9;
        assert_eq!(a.round(), active, "{id}: {a}");
        let s = m.moe().unwrap();
        assert_eq!(
            (s.num_experts, s.shared_intermediate_size),
            (experts, shared)
        );
        assert!(
            s.shared_expert_gate,
            "{id}: Qwen2-MoE's gated shared expert"
        );
        assert_eq!(m.attention_layers(), attention, "{id}");
        assert!(m.linear_attention().is_some(), "{id}");
    }
}

#[test]
fn kimi_k25_keeps_its_routed_experts_in_int4() {
    let m = LlmSpec::lookup("moonshotai/Kimi-K2.5").unwrap();
    let s = m.moe().unwrap();
    assert_eq!(s.expert_format, ExpertFormat::Int4 { group: 32 });
    assert_eq!(
        m.weight_dtype,
        Dtype::Bf16,
        "attention, shared experts, dense MLP"
    );
    // Kimi-K2's 1,026 B parameters: its routed experts (60 layers × 384 × 3 × 2048 × 7168)
    // in 4.5 bits each, the rest in bf16: some 594 GB, as the published int4 checkpoint.
    let experts = 60u64 * 384 * 3 * 2048 * 7168;
    let rest = m.params() - experts;
    assert_eq!(m.weight_bytes(), experts / 2 + experts / 16 + 2 * rest);
    let gb = m.weight_bytes() as f64 / 1e9;
    assert!((gb - 594.0).abs() < 2.0, "{gb}");
    assert_eq!(
        m.params(),
        LlmSpec::lookup("Kimi-K2-Instruct").unwrap().params()
    );
    // What a compressed-tensors config must say to be read so.
    let cfg = include_str!("../../../data/models/kimi-k2.5.text-config.json");
    for (from, to, field) in [
        ("\"num_bits\": 4", "\"num_bits\": 8", "weights`"),
        (
            "\"strategy\": \"group\"",
            "\"strategy\": \"channel\"",
            "weights.strategy`",
        ),
        ("\"group_size\": 32", "\"group_size\": 0", "group_size`"),
        (
            "\"input_activations\": null",
            "\"input_activations\": {}",
            "input_activations`",
        ),
        ("\"re:.*self_attn.*\",", "", "quantization_config.ignore`"),
        (
            "\"re:.*shared_experts.*\",",
            "",
            "quantization_config.ignore`",
        ),
    ] {
        assert!(cfg.contains(from), "{from}");
        let e = err(&cfg.replace(from, to));
        assert!(e.contains(field), "{from}: {e}");
    }
    // A dense model's int4 weights are not read as bf16.
    let dense = r#"{"hidden_size":64,"num_hidden_layers":1,"num_attention_heads":1,
        "intermediate_size":64,"vocab_size":10,"quantization_config":{"quant_method":
        "compressed-tensors","config_groups":{"g":{"weights":{"num_bits":4,"type":"int",
        "strategy":"group","group_size":128,"symmetric":true}}}}}"#;
    let e = err(dense);
    assert!(e.contains("`quantization_config.quant_method`"), "{e}");
}

#[test]
fn sparse_attention_models_keep_an_indexer_key_beside_the_latent() {
    // GLM-5: 744 B parameters, 40 B active (its model card), without its MTP layer.
    let glm = LlmSpec::lookup("zai-org/GLM-5").unwrap();
    let total = glm.params() as f64 / 1e9;
    assert!((total / 744.0 - 1.0).abs() < 0.005, "{total}");
    let active = glm.active_params_per_token() as f64 / 1e9;
    assert!((active / 40.0 - 1.0).abs() < 0.05, "{active}");
    assert_eq!(
        LlmSpec::lookup("GLM-5-FP8").unwrap().weight_dtype,
        Dtype::Fp8Block
    );
    let v32 = LlmSpec::lookup("deepseek-ai/DeepSeek-V3.2").unwrap();
    let Attention::Mla(d) = v32.attention() else {
        panic!("MLA")
    };
    let x = d.indexer.unwrap();
    assert_eq!((x.heads, x.head_dim, x.topk), (64, 128, 2048));
    // Per token and layer: the latent in bf16 and the indexer's FP8 key with its FP32 scale
    // (vLLM 0.11.0: 128 + 4 bytes).
    assert_eq!(v32.kv_bytes_per_token(), 61 * (576 * 2 + 132));
    // The indexer's weights are on every GPU (vLLM replicates them): eight GPUs of TP 8 hold
    // seven more copies of them than the model has.
    let v3 = LlmSpec::lookup("deepseek-ai/DeepSeek-V3").unwrap();
    let indexer = 61 * x.params(7168, 1536);
    assert_eq!(v32.params() - v3.params(), indexer);
    let tp8 = Parallelism {
        tp: 8,
        attention_dp: 1,
        moe_tp: 1,
        moe_ep: 8,
    };
    let per_gpu = |m: &LlmSpec| m.weight_bytes_per_gpu(&tp8).unwrap();
    assert_eq!(
        per_gpu(&v32) - per_gpu(&v3),
        Dtype::Fp8Block.bytes_of(indexer)
    );
    // What is refused, naming the field.
    let cfg = include_str!("../../../data/models/deepseek-v3.2.config.json");
    let e = err(&cfg.replace(
        "\"index_topk\": 2048,",
        "\"index_topk\": 2048, \"indexer_types\": [\"full\", \"shared\"],",
    ));
    assert!(e.contains("`indexer_types`"), "{e}");
    let e = err(&cfg.replace("\"index_n_heads\": 64,", ""));
    assert!(e.contains("`index_n_heads`"), "{e}");
    let e = err(&cfg.replace("\"q_lora_rank\": 1536,", ""));
    assert!(e.contains("`q_lora_rank`"), "{e}");
    let all_full = cfg.replace(
        "\"index_topk\": 2048,",
        &format!(
            "\"index_topk\": 2048, \"indexer_types\": {:?},",
            vec!["full"; 61]
        ),
    );
    assert_eq!(
        parse(&all_full).unwrap().kv_bytes_per_token(),
        61 * (576 * 2 + 132)
    );
}

#[test]
fn modelopt_nvfp4_checkpoints_quantise_what_they_say() {
    let fp8 = r#""quantization_config": {
    "quant_method": "fp8",
    "fmt": "float8_e4m3fn",
    "activation_scheme": "dynamic",
    "weight_block_size": [128, 128],
    "modules_to_not_convert": ["gate", "e_score_correction_bias", "lm_head"]
  }"#;
    let cfg = include_str!("../../../data/models/minimax-m2.5.config.json");
    assert!(cfg.contains(fp8));
    let nvfp4 = |ignore: &str, kv: &str| {
        cfg.replace(
            fp8,
            &format!(
                r#""quantization_config": {{"quant_method": "modelopt", "quant_algo": "NVFP4",
                "config_groups": {{"group_0": {{
                  "weights": {{"num_bits": 4, "type": "float", "group_size": 16}},
                  "input_activations": {{"num_bits": 4, "type": "float", "group_size": 16}}}}}},
                "kv_cache_scheme": {kv}, "ignore": [{ignore}]}}"#
            ),
        )
    };
    // nvidia/MiniMax-M2.5-NVFP4: the attention and routers left in 16 bits, the experts in
    // NVFP4 (9 bytes per 16 weights), the KV cache in FP8.
    let fp8_kv = r#"{"num_bits": 8, "type": "float"}"#;
    let m = parse(&nvfp4(
        r#""lm_head", "model.layers.0.self_attn*", "model.layers.0.block_sparse_moe.gate""#,
        fp8_kv,
    ))
    .unwrap();
    assert_eq!(m.moe().unwrap().expert_format, ExpertFormat::Nvfp4);
    assert_eq!((m.weight_dtype, m.kv_dtype), (Dtype::Bf16, Dtype::Fp8));
    let experts = 62 * 256 * 3 * 1536 * 3072u64;
    assert_eq!(
        m.weight_bytes(),
        Dtype::Nvfp4.bytes_of(experts) + 2 * (m.params() - experts)
    );
    // Attention quantised too: the whole model is NVFP4.
    let all = parse(&nvfp4(r#""lm_head""#, "null")).unwrap();
    assert_eq!(all.weight_dtype, Dtype::Nvfp4);
    assert_eq!(all.moe().unwrap().expert_format, ExpertFormat::WeightDtype);
    assert_eq!(all.kv_dtype, Dtype::Bf16);
    // What is not NVFP4 or an FP8 KV cache is refused, naming the field.
    let e = err(&nvfp4(
        r#""self_attn""#,
        r#"{"num_bits": 4, "type": "int"}"#,
    ));
    assert!(e.contains("`quantization_config.kv_cache_scheme`"), "{e}");
    let e = err(&nvfp4(r#""self_attn""#, "null").replace("\"NVFP4\"", "\"MIXED_PRECISION\""));
    assert!(e.contains("`quantization_config.quant_algo`"), "{e}");
    let e =
        err(&nvfp4(r#""self_attn""#, "null").replace("\"group_size\": 16", "\"group_size\": 32"));
    assert!(
        e.contains("`quantization_config.config_groups.group_0.weights`"),
        "{e}"
    );
    // A model with shared experts whose list leaves them quantised (nvidia/Kimi-K2.5-NVFP4
    // names the attention alone) is refused: its shared experts would be NVFP4 too.
    let kimi = include_str!("../../../data/models/kimi-k2.5.text-config.json");
    let start = kimi.find("\"quantization_config\"").unwrap();
    let end = start + kimi[start..].find("\n  },\n").unwrap() + 4;
    let kimi = format!(
        "{}\"quantization_config\": {{\"quant_method\": \"modelopt\", \"quant_algo\": \"NVFP4\", \
         \"ignore\": [\"language_model.model.layers.0.self_attn*\"]}}{}",
        &kimi[..start],
        &kimi[end..]
    );
    let e = err(&kimi);
    assert!(
        e.contains("`quantization_config.ignore`") && e.contains("shared"),
        "{e}"
    );
}

#[test]
fn shared_indexer_layers_keep_no_key_and_no_indexer() {
    // GLM-5.2's schedule (`index_topk_freq` 4 from `index_skip_topk_offset` 3: layers 0-2
    // full, then every fourth): 21 of 78 layers run an indexer of their own.
    let cfg = include_str!("../../../data/models/glm-5.config.json");
    let with = |extra: &str| {
        cfg.replace(
            "\"index_topk\": 2048,",
            &format!("\"index_topk\": 2048, {extra}"),
        )
    };
    let glm5 = parse(cfg).unwrap();
    let glm52 = parse(&with(
        "\"index_topk_freq\": 4, \"index_skip_topk_offset\": 3,",
    ))
    .unwrap();
    let indexer = |m: &LlmSpec| match m.attention() {
        Attention::Mla(d) => d.indexer.unwrap(),
        Attention::Standard => panic!("MLA"),
    };
    let x = indexer(&glm52);
    assert_eq!((x.own_layers, x.layers), (21, 78));
    assert_eq!(glm52.kv_bytes_per_token(), 78 * 576 * 2 + 21 * 132);
    assert_eq!(
        glm5.params() - glm52.params(),
        57 * x.params(6144, 2048),
        "no indexer weights in a shared layer"
    );
    // The same schedule as a list or a pattern; a first layer with nothing to share refused.
    let pattern: String = (0..78)
        .map(|i: u32| {
            if (i + 1).saturating_sub(3).is_multiple_of(4) {
                'F'
            } else {
                'S'
            }
        })
        .collect();
    let by_pattern = parse(&with(&format!("\"index_topk_pattern\": \"{pattern}\","))).unwrap();
    assert_eq!(indexer(&by_pattern), x);
    let types: Vec<&str> = pattern
        .chars()
        .map(|c| if c == 'F' { "full" } else { "shared" })
        .collect();
    let by_list = parse(&with(&format!("\"indexer_types\": {types:?},"))).unwrap();
    assert_eq!(indexer(&by_list), x);
    let e = err(&with(&format!(
        "\"index_topk_pattern\": \"S{}\",",
        &pattern[1..]
    )));
    assert!(
        e.contains("`index_topk_pattern`") && e.contains("first layer"),
        "{e}"
    );
    let e = err(&with("\"index_topk_pattern\": \"FS\","));
    assert!(e.contains("`index_topk_pattern`"), "{e}");
    // GLM-5's per-layer names (transformers 5.25): `indexed_attention` layers, and the MLP
    // of each layer, which where given says which layers have experts.
    let indexed = vec!["indexed_attention"; 78];
    let mut mlp = vec!["sparse"; 78];
    mlp[..5].fill("dense");
    let named = parse(&with(&format!(
        "\"layer_types\": {indexed:?}, \"mlp_layer_types\": {mlp:?},"
    )))
    .unwrap();
    assert!(
        named
            .layers()
            .iter()
            .all(|l| l.mixer == Mixer::FullAttention)
    );
    assert_eq!(moe_layers(&named), (5..78).collect::<Vec<_>>());
    let e = err(&with("\"mlp_layer_types\": [\"dense\"],"));
    assert!(e.contains("`mlp_layer_types[1]`"), "{e}");
    let e = err(&cfg
        .replace(
            "\"index_topk\": 2048,",
            &format!("\"layer_types\": {indexed:?},"),
        )
        .replace("\"index_n_heads\": 32,", ""));
    assert!(e.contains("`layer_types[0]`"), "{e}");
}

#[test]
fn a_worker_too_small_for_its_weights_says_so_per_gpu() {
    // DeepSeek-V3 over four GB200s as attention DP 4 × EP 4: the four GPUs hold more than
    // its 671 GB together, but each keeps the attention and dense parts whole beside its
    // quarter of the experts, which is what does not fit; the error says so per GPU.
    let cat = GpuCatalog::builtin();
    let m = LlmSpec::lookup("DeepSeek-V3").unwrap();
    let gb200 = cat.get("gb200").unwrap();
    let dep4 = Parallelism {
        tp: 1,
        attention_dp: 4,
        moe_tp: 1,
        moe_ep: 4,
    };
    assert!(4.0 * gb200.memory_bytes * 0.9 > m.weight_bytes() as f64);
    let per_gpu = m.weight_bytes_per_gpu(&dep4).unwrap() as f64;
    assert!(per_gpu > gb200.memory_bytes * 0.9);
    let e = m
        .kv_capacity_tokens_split(gb200, &dep4, 0.9, 0)
        .unwrap_err()
        .to_string();
    let figure = format!("{:.1} GB of them on the fullest GPU", per_gpu / 1e9);
    assert!(e.contains(&figure), "{e}");
    assert!(e.contains("TP 1 × attention DP 4, MoE TP 1 × EP 4"), "{e}");
    assert!(e.contains("at memory fraction 0.9"), "{e}");
    // A share of what the weights leave (TensorRT-LLM's): that worker fits, whose weights
    // take less than a whole GPU; one of two GPUs does not.
    assert!(
        m.kv_capacity_tokens_of_free_split(gb200, &dep4, 0.9, 0)
            .is_ok()
    );
    let dep2 = Parallelism {
        attention_dp: 2,
        moe_ep: 2,
        ..dep4
    };
    let e = m
        .kv_capacity_tokens_of_free_split(gb200, &dep2, 0.9, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("against a GPU's"), "{e}");
}
