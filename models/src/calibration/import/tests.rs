use super::*;
use crate::perf::{AllReduceImpl, ExpertRouting, MoeKernel, MoeQuant};

#[test]
fn sglang_all_reduce_rows_import_as_graph_and_eager() {
    let base = std::env::temp_dir().join(format!("servesim-import-ar-{}", std::process::id()));
    let src = base.join("in/h200_sxm/sglang");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("custom_allreduce_perf.csv"),
        "op_name,kernel_source,allreduce_dtype,num_gpus,message_size,latency,backend\n\
         all_reduce,SGLang_CustomAllReduce_graph,bfloat16,2,128,0.0026,sglang_graph\n\
         all_reduce,SGLang_CustomAllReduce_eager,bfloat16,2,128,0.0308,sglang_eager\n",
    )
    .unwrap();
    let out = base.join("out");
    import_dir(&base.join("in"), &out, &BTreeMap::new()).unwrap();
    let all = super::super::load_dir(&out).unwrap();
    let impls: Vec<_> = all[0]
        .rows
        .iter()
        .map(|(op, _)| match op {
            KernelOp::CustomAllReduce { implementation, .. } => *implementation,
            _ => panic!("{op:?}"),
        })
        .collect();
    assert_eq!(impls, [AllReduceImpl::Sglang, AllReduceImpl::SglangEager]);
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn folders_nothing_reads_and_tables_of_no_row_are_refused() {
    let base = std::env::temp_dir().join(format!("servesim-import-bad-{}", std::process::id()));
    let gemm = "version,kernel_source,gemm_dtype,m,n,k,latency\n";
    let cases = [
        (
            "H100/vllm",
            "1.0,x,bfloat16,8,1024,4096,0.01\n",
            "this is h100_sxm; name the folder h100_sxm",
        ),
        (
            "h100_sxm/TRTLLM",
            "1.0,x,bfloat16,8,1024,4096,0.01\n",
            "this is trtllm; name the folder trtllm",
        ),
        (
            "h100_sxm/tgi",
            "1.0,x,bfloat16,8,1024,4096,0.01\n",
            "not a backend (trtllm, vllm, sglang, or nccl)",
        ),
        (
            "h100_sxm/vllm",
            "",
            "gemm_perf.csv: no row to import (it holds none)",
        ),
    ];
    for (folder, rows, said) in cases {
        let _ = std::fs::remove_dir_all(&base);
        let src = base.join("in").join(folder);
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("gemm_perf.csv"), format!("{gemm}{rows}")).unwrap();
        let e = import_dir(&base.join("in"), &base.join("out"), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains(said), "{folder}: {e}");
        assert!(!base.join("out").exists(), "{folder}: nothing written");
    }
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn a_column_named_twice_or_a_row_too_long_is_named_on_its_line() {
    let base = std::env::temp_dir().join(format!("servesim-import-wide-{}", std::process::id()));
    let row = "1.0,x,bfloat16,8,1024,4096,0.01";
    let cases = [
        (
            format!("version,kernel_source,gemm_dtype,m,n,k,latency,latency\n{row},0.02\n"),
            "gemm_perf.csv:1: column `latency`: named twice in the header",
        ),
        (
            format!("version,kernel_source,gemm_dtype,m,n,k,latency\n{row}\n{row},9\n"),
            "gemm_perf.csv:3: 8 fields where the header has 7",
        ),
        // A MoE row whose token picks more experts than there are, or whose experts
        // are split over more ranks than experts.
        (
            "op_name,kernel_source,moe_dtype,num_tokens,hidden_size,inter_size,topk,\
             num_experts,moe_tp_size,moe_ep_size,distribution,latency\n\
             moe,x,fp8_block,8,7168,2048,8,128,1,256,balanced,0.1\n"
                .to_string(),
            "moe_perf.csv:2: column `moe_ep_size`: 256 is more than the row's 128 experts",
        ),
        // Lines ending in CRLF are counted as lines all the same.
        (
            format!("version,kernel_source,gemm_dtype,m,n,k,latency\r\n{row}\r\n{row},9\r\n"),
            "gemm_perf.csv:3: 8 fields where the header has 7",
        ),
    ];
    for (text, said) in cases {
        let _ = std::fs::remove_dir_all(&base);
        let src = base.join("in/h100_sxm/vllm");
        std::fs::create_dir_all(&src).unwrap();
        let table = if text.starts_with("op_name") {
            "moe_perf.csv"
        } else {
            "gemm_perf.csv"
        };
        std::fs::write(src.join(table), &text).unwrap();
        let e = import_dir(&base.join("in"), &base.join("out"), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.ends_with(said), "{text:?}: {e}");
    }
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn import_converts_and_round_trips() {
    let base = std::env::temp_dir().join(format!("servesim-import-{}", std::process::id()));
    let src = base.join("in/h100_sxm/vllm");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("custom_allreduce_perf.csv"),
        "version,kernel_source,allreduce_dtype,num_gpus,message_size,latency,backend\n0.24.0,x,bfloat16,2,128,0.004,vllm_graph\n",
    )
    .unwrap();
    std::fs::write(
        src.join("generation_attention_perf.csv"),
        "version,kernel_source,batch_size,isl,num_heads,num_key_value_heads,head_dim,attn_dtype,kv_cache_dtype,step,window_size,latency\n0.24.0,fa3,32,1,64,8,128,bfloat16,fp8,7,0,0.011\n",
    )
    .unwrap();
    let out = base.join("out");
    let files = import_dir(&base.join("in"), &out, &BTreeMap::new()).unwrap();
    assert_eq!(files.len(), 2);
    let all = super::super::load_dir(&out).unwrap();
    let gen_t = all
        .iter()
        .find(|t| t.header.family == Family::GenerationAttention)
        .unwrap();
    let KernelOp::GenerationAttention(a) = gen_t.rows[0].0 else {
        panic!()
    };
    assert_eq!(a.len, 8);
    assert_eq!(gen_t.header.extra.get("backend_version").unwrap(), "0.24.0");
    // Files already in the calibration format (what the harness writes) import as they are.
    let again = import_dir(&out, &base.join("out2"), &BTreeMap::new()).unwrap();
    assert_eq!(again.len(), 2);
    let copied = super::super::load_dir(&base.join("out2")).unwrap();
    assert_eq!(copied.len(), all.len());
    for (a, b) in copied.iter().zip(&all) {
        assert_eq!(a.to_csv_string(), b.to_csv_string());
    }
    // A malformed row names the line and column.
    std::fs::write(
        src.join("custom_allreduce_perf.csv"),
        "version,kernel_source,allreduce_dtype,num_gpus,message_size,latency,backend\n0.24.0,x,bfloat16,2,128,0.004,vllm_graph\n0.24.0,x,bfloat16,zero,128,0.004,vllm_graph\n",
    )
    .unwrap();
    let e = import_dir(&base.join("in"), &out, &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains(":3") && e.contains("num_gpus"), "{e}");
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn unknown_table_names_and_two_inputs_of_one_table_are_errors() {
    let base = std::env::temp_dir().join(format!("servesim-import-bad-{}", std::process::id()));
    let src = base.join("in/h100_sxm/vllm");
    std::fs::create_dir_all(&src).unwrap();
    let allreduce = "version,kernel_source,allreduce_dtype,num_gpus,message_size,latency,backend\n0.24.0,x,bfloat16,2,128,0.004,vllm_graph\n";
    std::fs::write(src.join("custom_allreduce_perf.csv"), allreduce).unwrap();
    std::fs::write(src.join("README.md"), "not a table").unwrap();
    let import = || import_dir(&base.join("in"), &base.join("out"), &BTreeMap::new());
    assert_eq!(import().unwrap().len(), 1, "other files are left alone");
    std::fs::write(src.join("custom_allreduce_pref.csv"), allreduce).unwrap();
    let e = import().unwrap_err().to_string();
    assert!(
        e.contains("custom_allreduce_pref.csv: not a known table name"),
        "{e}"
    );
    std::fs::remove_file(src.join("custom_allreduce_pref.csv")).unwrap();
    std::fs::write(src.join("custom_allreduce_perf.csv.gz"), gz(allreduce)).unwrap();
    let e = import().unwrap_err().to_string();
    assert!(e.contains("are the same table"), "{e}");
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn moe_rows_import_their_routing_and_modelled_only() {
    let base = std::env::temp_dir().join(format!("servesim-import-moe-{}", std::process::id()));
    let src = base.join("in/h200_sxm/trtllm");
    std::fs::create_dir_all(&src).unwrap();
    let head = "op_name,kernel_source,moe_dtype,num_tokens,hidden_size,inter_size,topk,num_experts,moe_tp_size,moe_ep_size,distribution,latency\n";
    let rows = [
        "moe,k,fp8_block,16,4096,1536,8,128,1,4,balanced,0.05",
        "moe,k,fp8_block,16,4096,1536,8,128,1,4,power_law_1.2,0.07",
        "moe,k,fp8_block,16,4096,1536,8,128,1,4,power_law_2.0,0.09",
        "moe,k,w4a8_mxfp4_mxfp8,16,4096,1536,8,128,1,4,balanced,0.04",
        "moe,k,w4a16_mxfp4,8,2880,2880,4,128,2,1,balanced,0.03",
    ];
    std::fs::write(
        src.join("moe_perf.csv"),
        format!("{head}{}\n", rows.join("\n")),
    )
    .unwrap();
    let out = base.join("out");
    import_dir(&base.join("in"), &out, &BTreeMap::new()).unwrap();
    let t = &super::super::load_dir(&out).unwrap()[0];
    assert_eq!(t.header.family, Family::Moe);
    assert_eq!(t.rows.len(), 3);
    // An unmeasured power law and an unmodelled dtype.
    assert!(t.header.extra["rows_skipped"].starts_with("2 "));
    let routing = |i: usize| match t.rows[i].0 {
        KernelOp::Moe(m) => m.routing,
        _ => panic!(),
    };
    assert_eq!(routing(0), ExpertRouting::Balanced);
    assert_eq!(routing(1), ExpertRouting::PowerLaw12);
    let KernelOp::Moe(m) = t.rows[2].0 else {
        panic!()
    };
    assert_eq!((m.tokens, m.inter, m.moe_tp, m.moe_ep), (8, 2880, 2, 1));
    assert_eq!(m.kernel, MoeKernel::Default);
    // Written with its routing, read back the same; a file without the column (written
    // before it existed) reads as balanced.
    let text = t.to_csv_string();
    assert!(text.contains("moe_ep,routing,latency_ms"), "{text}");
    let old = text
        .replace(",routing,", ",")
        .replace(",balanced,", ",")
        .replace(",power_law_1.2,", ",");
    let plain = base.join("old.csv");
    std::fs::write(&plain, old).unwrap();
    let back = CalibrationTable::read(&plain).unwrap();
    assert!(
        back.rows
            .iter()
            .all(|(op, _)| matches!(op, KernelOp::Moe(m) if m.routing == ExpertRouting::Balanced))
    );
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn min_latency_rows_import_as_their_own_kernel() {
    let base = std::env::temp_dir().join(format!("servesim-import-ml-{}", std::process::id()));
    let src = base.join("in/b200_sxm/trtllm");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("moe_min_latency_perf.csv"),
        "op_name,kernel_source,moe_dtype,num_tokens,hidden_size,inter_size,topk,num_experts,moe_tp_size,moe_ep_size,distribution,latency\n\
         moe,moe_torch_flow_min_latency,nvfp4,8,7168,2048,8,256,4,1,balanced,0.052\n",
    )
    .unwrap();
    let out = base.join("out");
    import_dir(&base.join("in"), &out, &BTreeMap::new()).unwrap();
    let t = &super::super::load_dir(&out).unwrap()[0];
    assert_eq!(t.header.family, Family::MoeMinLatency);
    let KernelOp::Moe(m) = t.rows[0].0 else {
        panic!()
    };
    assert_eq!(
        (m.quant, m.tokens, m.kernel),
        (MoeQuant::Nvfp4, 8, MoeKernel::MinLatency)
    );
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn dispatch_tables_import_as_stages_into_one_file() {
    let base = std::env::temp_dir().join(format!("servesim-import-ep-{}", std::process::id()));
    let sg = base.join("in/h200_sxm/sglang");
    let tr = base.join("in/gb200/trtllm");
    std::fs::create_dir_all(&sg).unwrap();
    std::fs::create_dir_all(&tr).unwrap();
    std::fs::write(
        sg.join("wideep_deepep_ll_perf.csv"),
        "op_name,kernel_source,node_num,hidden_size,num_token,num_topk,num_experts,combine_avg_t_us,combine_bandwidth_gbps,dispatch_avg_t_us,dispatch_bandwidth_gbps\nll,deepep,1,7168,8,8,256,15.0,61.0,12.5,38.5\n",
    )
    .unwrap();
    std::fs::write(
        sg.join("wideep_deepep_normal_perf.csv"),
        "op_name,kernel_source,node_num,hidden_size,num_token,num_topk,num_experts,dispatch_sms,dispatch_transmit_us,dispatch_notify_us,combine_sms,combine_transmit_us,combine_notify_us\nnormal,deepep,1,7168,512,8,256,20,99.5,0.5,20,188,0\nnormal,deepep,1,7168,512,8,256,4,150,0,4,250,0\n",
    )
    .unwrap();
    std::fs::write(
        tr.join("trtllm_alltoall_perf.csv"),
        "op_name,kernel_source,moe_dtype,num_tokens,hidden_size,topk,num_experts,moe_ep_size,distribution,latency\nalltoall_dispatch,NVLinkTwoSided,fp8,64,7168,8,256,16,balanced,0.02\nalltoall_combine,NVLinkTwoSided,fp8,64,7168,8,256,16,power_law_1.2,0.03\n",
    )
    .unwrap();
    let out = base.join("out");
    let files = import_dir(&base.join("in"), &out, &BTreeMap::new()).unwrap();
    assert_eq!(files.len(), 2, "{files:?}");
    let all = super::super::load_dir(&out).unwrap();
    let trt = &all[0];
    assert_eq!((trt.header.backend.as_str(), trt.rows.len()), ("trtllm", 1));
    assert!(trt.header.extra["rows_skipped"].starts_with("1 "));
    let sgl = &all[1];
    assert_eq!(sgl.header.family, Family::MoeDispatch);
    let got: Vec<(String, u64, u32, f64)> = sgl
        .rows
        .iter()
        .map(|(op, ms)| {
            let KernelOp::MoeDispatch(d) = op else {
                panic!("{op:?}")
            };
            (
                format!("{}/{}", d.kernel.name(), d.stage.name()),
                d.tokens,
                d.moe_ep,
                *ms,
            )
        })
        .collect();
    // Low-latency dispatch and combine, then the 20-SM normal row (transmit + notify);
    // the 4-SM row is skipped. One node of H200 is eight ranks.
    assert_eq!(got.len(), 4);
    assert_eq!(got[0].0, "deepep_ll/dispatch");
    assert!((got[0].3 - 0.0125).abs() < 1e-12 && got[0].2 == 8);
    assert_eq!(got[3].0, "deepep_normal/combine");
    assert!((got[2].3 - 0.1).abs() < 1e-12 && got[2].1 == 512);
    assert!(sgl.header.extra["rows_skipped"].starts_with("1 "));
    let sources = &sgl.header.extra["source"];
    assert!(
        sources.contains("ll_perf") && sources.contains("normal_perf"),
        "{sources}"
    );
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn sglang_deepep_moe_tables_import_as_their_kernels() {
    let base = std::env::temp_dir().join(format!("servesim-import-wep-{}", std::process::id()));
    let sg = base.join("in/gb200/sglang");
    std::fs::create_dir_all(&sg).unwrap();
    let head = "op_name,kernel_source,moe_dtype,num_tokens,hidden_size,inter_size,topk,num_experts,moe_tp_size,moe_ep_size,distribution,latency\n";
    std::fs::write(
        sg.join("wideep_generation_moe_perf.csv"),
        format!(
            "{head}moe_generation,deepepmoe,fp8_block,64,7168,2048,8,256,1,32,uniform,0.082\n\
             moe_generation,deepepmoe,fp8_block,64,7168,2048,8,256,1,32,power_law_0.8,0.078\n"
        ),
    )
    .unwrap();
    std::fs::write(
        sg.join("wideep_context_moe_perf.csv"),
        format!(
            "{head}moe_context,deepepmoe,fp8_block,4096,7168,2048,8,256,1,8,power_law_1.01,0.9\n"
        ),
    )
    .unwrap();
    let out = base.join("out");
    let files = import_dir(&base.join("in"), &out, &BTreeMap::new()).unwrap();
    assert_eq!(files.len(), 2, "{files:?}");
    let all = super::super::load_dir(&out).unwrap();
    let got: Vec<(Family, MoeKernel, ExpertRouting, u64)> = all
        .iter()
        .flat_map(|t| {
            t.rows.iter().map(|(op, _)| {
                let KernelOp::Moe(m) = op else {
                    panic!("{op:?}")
                };
                (t.header.family, m.kernel, m.routing, m.tokens)
            })
        })
        .collect();
    // `uniform` is the balanced routing; the 0.8 power law is not modelled (skipped).
    assert_eq!(
        got,
        [
            (
                Family::MoeDeepepLowLatency,
                MoeKernel::DeepepLowLatency,
                ExpertRouting::Balanced,
                64
            ),
            (
                Family::MoeDeepepNormal,
                MoeKernel::DeepepNormal,
                ExpertRouting::PowerLaw101,
                4096
            ),
        ]
    );
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn sglang_mla_kernel_tables_import_as_parts_into_one_file() {
    let base = std::env::temp_dir().join(format!("servesim-import-mla-{}", std::process::id()));
    let sg = base.join("in/h200_sxm/sglang");
    std::fs::create_dir_all(&sg).unwrap();
    let head = "op_name,kernel_source,mla_dtype,kv_cache_dtype,num_heads,batch_size,isl,tp_size,step,latency\n";
    std::fs::write(
        sg.join("context_mla_perf.csv"),
        format!(
            "{head}mla_context,flash_attention,bfloat16,fp8,16,2,4096,4,0,0.9\n\
             mla_context,flash_attention,bfloat16,fp8,16,2,4096,4,1024,1.1\n"
        ),
    )
    .unwrap();
    std::fs::write(
        sg.join("generation_mla_perf.csv"),
        format!("{head}mla_generation,flash_attention,bfloat16,bfloat16,16,4,1,4,1023,0.0168\n"),
    )
    .unwrap();
    std::fs::write(
        sg.join("mla_bmm_perf.csv"),
        "op_name,kernel_source,bmm_dtype,num_tokens,num_heads,latency\n\
         mla_gen_pre,sglang_sgl_kernel_bmm_fp8,fp8,4,16,0.0076\n\
         mla_gen_post,sglang_torch_bmm,bfloat16,4,16,0.0043\n",
    )
    .unwrap();
    let out = base.join("out");
    let files = import_dir(&base.join("in"), &out, &BTreeMap::new()).unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    let all = super::super::load_dir(&out).unwrap();
    let t = &all[0];
    assert_eq!(t.header.family, Family::MlaParts);
    let got: Vec<String> = t
        .rows
        .iter()
        .map(|(op, ms)| {
            let KernelOp::MlaPart(p) = op else {
                panic!("{op:?}")
            };
            format!(
                "{} {}x{} h{} {} {ms}",
                p.part.name(),
                p.batch,
                p.len,
                p.heads,
                p.dtype
            )
        })
        .collect();
    // The prompt after a cached prefix is skipped; a generation step reads step + 1
    // tokens; every row is DeepSeek-V3's latent (512 + 64).
    assert_eq!(
        got,
        [
            "context_attention 2x4096 h16 fp8 0.9",
            "generation_attention 4x1024 h16 bf16 0.0168",
            "absorb_query 4x1 h16 fp8 0.0076",
            "absorb_output 4x1 h16 bf16 0.0043",
        ]
    );
    assert!(t.rows.iter().all(|(op, _)| matches!(op,
        KernelOp::MlaPart(p) if p.dims.kv_lora_rank == 512 && p.dims.qk_rope_head_dim == 64)));
    assert!(t.header.extra["rows_skipped"].starts_with("1 "));
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn gated_deltanet_kernels_import_with_their_parts_and_heads() {
    let base = std::env::temp_dir().join(format!("servesim-import-gdn-{}", std::process::id()));
    let head = "op_name,kernel_source,phase,batch_size,seq_len,num_tokens,d_model,d_conv,num_k_heads,head_k_dim,num_v_heads,head_v_dim,model_name,latency\n";
    for (backend, decode) in [
        ("sglang", "fused_recurrent_gated_delta_rule_packed_decode"),
        ("trtllm", "fused_recurrent_gated_delta_rule"),
    ] {
        let dir = base.join(format!("in/h200_sxm/{backend}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("gdn_perf.csv"),
            format!(
                "{head}gdn,causal_conv1d_fn,context,2,4096,8192,5120,4,16,128,48,128,Qwen/Qwen3.5-27B,0.05\n\
                 gdn,chunk_gated_delta_rule,context,2,4096,8192,5120,4,16,128,48,128,Qwen/Qwen3.5-27B,0.4\n\
                 gdn,causal_conv1d_update,generation,64,1,64,5120,4,8,128,24,128,Qwen/Qwen3.5-27B,0.006\n\
                 gdn,{decode},generation,64,1,64,5120,4,8,128,24,128,Qwen/Qwen3.5-27B,0.02\n"
            ),
        )
        .unwrap();
    }
    let out = base.join("out");
    let files = import_dir(&base.join("in"), &out, &BTreeMap::new()).unwrap();
    assert_eq!(files.len(), 2, "{files:?}");
    for t in super::super::load_dir(&out).unwrap() {
        assert_eq!(t.header.family, Family::Gdn);
        let got: Vec<String> = t
            .rows
            .iter()
            .map(|(op, ms)| {
                let KernelOp::Gdn(g) = op else {
                    panic!("{op:?}")
                };
                let shape = (
                    g.k_heads,
                    g.v_heads,
                    g.head_k_dim,
                    g.head_v_dim,
                    g.conv_kernel,
                );
                assert_eq!(shape.2, 128, "{g:?}");
                format!(
                    "{} {}x{} {}/{} {ms}",
                    g.part.name(),
                    g.batch,
                    g.len,
                    shape.0,
                    shape.1
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                "context_conv 2x4096 16/48 0.05",
                "context_rule 2x4096 16/48 0.4",
                "generation_conv 64x1 8/24 0.006",
                "generation_rule 64x1 8/24 0.02",
            ],
            "{}",
            t.header.backend
        );
    }
    // A kernel named in a phase it does not run in is refused, naming the column.
    let bad = base.join("bad/h200_sxm/sglang");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("gdn_perf.csv"),
        format!("{head}gdn,causal_conv1d_fn,generation,2,1,2,5120,4,16,128,48,128,m,0.01\n"),
    )
    .unwrap();
    let e = import_dir(&base.join("bad"), &base.join("out2"), &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("column `phase`") && e.contains("gdn_perf.csv:2"),
        "{e}"
    );
    std::fs::remove_dir_all(&base).unwrap();
}

fn gz(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    w.write_all(text.as_bytes()).unwrap();
    w.finish().unwrap()
}
