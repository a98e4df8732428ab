//! `servesim perf` and `servesim calibrate` on small inputs.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_servesim"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("servesim-perf-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn predict_keeps_rows_in_order_and_gives_reasons() {
    let input = tmp("gemm.csv");
    std::fs::write(
        &input,
        "version,kernel_source,gemm_dtype,m,n,k\n1,x,bfloat16,4096,5120,5120\n1,x,fp4,16,5120,5120\n1,x,fp8,3000,7000,5000\n1,x,nvfp4,4096,5120,5120\n",
    )
    .unwrap();
    let out = tmp("gemm_out.csv");
    for gpu in ["h100_sxm", "b200_sxm"] {
        let st = bin()
            .args([
                "perf",
                "predict",
                "--gpu",
                gpu,
                "--backend",
                "trtllm",
                "--table",
                "gemm_perf",
                "--input",
            ])
            .arg(&input)
            .arg("--output")
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(
            lines[0],
            "version,kernel_source,gemm_dtype,m,n,k,predicted_ms,reason"
        );
        assert_eq!(lines.len(), 5);
        let v: f64 = lines[1].split(',').nth(6).unwrap().parse().unwrap();
        assert!(v > 0.05 && v < 2.0, "{gpu}: {v}");
        assert!(
            lines[2].contains(",,\"column gemm_dtype: unknown dtype"),
            "{}",
            lines[2]
        );
        assert!(lines[3].starts_with("1,x,fp8,3000,7000,5000,"));
        // NVFP4 runs on Blackwell's FP4 tensor cores only.
        let fp4 = lines[4].split(',').nth(6).unwrap();
        match gpu {
            "b200_sxm" => assert!(fp4.parse::<f64>().is_ok(), "{}", lines[4]),
            _ => assert!(
                lines[4].contains(",,\"column gemm_dtype: nvfp4 needs FP4"),
                "{}",
                lines[4]
            ),
        }
    }
}

#[test]
fn malformed_row_is_an_error_naming_line_and_column() {
    let input = tmp("bad.csv");
    std::fs::write(
        &input,
        "gemm_dtype,m,n,k,latency\nbfloat16,1,2,3,0.1\nbfloat16,1,x,3,0.1\n",
    )
    .unwrap();
    let o = bin()
        .args([
            "perf",
            "predict",
            "--gpu",
            "h200_sxm",
            "--backend",
            "vllm",
            "--table",
            "gemm_perf",
            "--input",
        ])
        .arg(&input)
        .arg("--output")
        .arg(tmp("bad_out.csv"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(":3") && err.contains("`n`"), "{err}");
}

#[test]
fn check_prints_every_table() {
    let o = bin()
        .args(["perf", "check", "--gpu", "h200_sxm", "--backend", "trtllm"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    for t in [
        "gemm_perf",
        "context_attention_perf",
        "generation_attention_perf",
        "custom_allreduce_perf",
        "nccl_perf",
    ] {
        assert!(s.contains(t), "{s}");
    }
}

#[test]
fn check_covers_the_dispatch_mla_part_and_gdn_tables_within_their_goal() {
    // Leave-shape-out on the shipped dispatch/combine tables, SGLang's MLA kernel tables and
    // Gated DeltaNet tables whose repeated measurements agree:
    // median at most 5 %, p90 at most 15 %, each public table on its own line.
    for (gpu, backend, tables) in [
        (
            "h200_sxm",
            "sglang",
            &[
                "wideep_deepep_ll_perf (sglang)",
                "wideep_deepep_normal_perf (sglang)",
                "context_mla_perf (sglang)",
                "generation_mla_perf (sglang)",
                "mla_bmm_perf (sglang)",
            ][..],
        ),
        (
            "b200_sxm",
            "sglang",
            &[
                "context_mla_perf (sglang)",
                "generation_mla_perf (sglang)",
                "mla_bmm_perf (sglang)",
            ][..],
        ),
        ("gb200", "trtllm", &["trtllm_alltoall_perf (trtllm)"][..]),
        // Gated DeltaNet kernels; vLLM runs SGLang's (the same flash-linear-attention ones).
        ("h100_sxm", "trtllm", &["gdn_perf (trtllm)"][..]),
        ("b200_sxm", "vllm", &["gdn_perf (sglang)"][..]),
    ] {
        let o = bin()
            .args(["perf", "check", "--gpu", gpu, "--backend", backend])
            .output()
            .unwrap();
        assert!(o.status.success());
        let s = String::from_utf8_lossy(&o.stdout);
        for t in tables {
            let line = s
                .lines()
                .find(|l| l.starts_with(t))
                .unwrap_or_else(|| panic!("{s}"));
            let pct: Vec<f64> = line
                .split_whitespace()
                .filter_map(|w| w.strip_suffix('%').and_then(|v| v.parse().ok()))
                .collect();
            // The median and p90 first; a third figure is the repeats' spread, where any.
            assert!(pct.len() >= 2 && pct[0] <= 5.0 && pct[1] <= 15.0, "{line}");
        }
        // SGLang reads its own GEMM, MoE and MLA tables, and vLLM's attention.
        if backend == "sglang" {
            assert!(s.contains("gemm_perf (sglang)"), "{s}");
            assert!(s.contains("moe_perf (sglang)"), "{s}");
            assert!(s.contains("generation_attention_perf (vllm)"), "{s}");
        }
    }
}

#[test]
fn check_prints_the_spread_of_repeated_measurements() {
    // H200's SGLang Gated DeltaNet table times one call more than once (rows of models with
    // the same heads and sizes) and its repeats disagree; B200's agree; the GEMM table
    // measures each call once.
    let line = |gpu: &str, table: &str| {
        let o = bin()
            .args(["perf", "check", "--gpu", gpu, "--backend", "sglang"])
            .output()
            .unwrap();
        assert!(o.status.success());
        let s = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(s.contains("repeated") && s.contains("rep. p90"), "{s}");
        let l = s
            .lines()
            .find(|l| l.starts_with(table))
            .unwrap()
            .to_string();
        l.split_whitespace().map(str::to_string).collect::<Vec<_>>()
    };
    let pct = |w: &str| w.strip_suffix('%').unwrap().parse::<f64>().unwrap();
    let noisy = line("h200_sxm", "gdn_perf (sglang)");
    let steady = line("b200_sxm", "gdn_perf (sglang)");
    for (cols, spread_at_least, spread_at_most) in [(&noisy, 15.0, 100.0), (&steady, 0.0, 5.0)] {
        let (rows, repeated): (u64, u64) = (cols[2].parse().unwrap(), cols[5].parse().unwrap());
        assert!(repeated > 0 && repeated <= rows, "{cols:?}");
        let spread = pct(&cols[6]);
        assert!(
            (spread_at_least..=spread_at_most).contains(&spread),
            "{cols:?}"
        );
        // Where the repeats disagree, so do the predictions: no table's p90 is under its
        // repeats' (every row of the H200 table but a fifth is a repeat).
        assert!(pct(&cols[4]) >= spread, "{cols:?}");
    }
    let gemm = line("h200_sxm", "gemm_perf (sglang)");
    assert_eq!(&gemm[5..], ["0", "-"], "{gemm:?}");
}

#[test]
fn import_then_predict_and_check_with_the_imported_folder() {
    let src = tmp("public/h100_sxm/trtllm");
    std::fs::create_dir_all(&src).unwrap();
    let mut rows = String::from("version,kernel_source,gemm_dtype,m,n,k,latency\n");
    for m in [1u64, 8, 64, 512, 4096] {
        for n in [1024u64, 4096] {
            let lat = 0.005 + (2 * m * n * 4096) as f64 / 600e12 * 1e3;
            rows += &format!("1.0,x,bfloat16,{m},{n},4096,{lat}\n");
        }
    }
    std::fs::write(src.join("gemm_perf.csv"), &rows).unwrap();
    let out = tmp("imported");
    // A provenance over two lines would break the header it is written as.
    let o = bin()
        .args(["calibrate", "import"])
        .arg(tmp("public"))
        .arg("--out")
        .arg(tmp("never"))
        .args(["--source", "abc\nfrom the vendor"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("--source: holds a line break"),
        "{stderr}"
    );
    assert!(!tmp("never").exists(), "refused before any work");
    let st = bin()
        .args(["calibrate", "import"])
        .arg(tmp("public"))
        .arg("--out")
        .arg(&out)
        .args(["--license", "test"])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(out.join("h100_sxm/trtllm/gemm.csv.gz").exists());
    let o = bin()
        .args([
            "perf",
            "check",
            "--gpu",
            "h100_sxm",
            "--backend",
            "trtllm",
            "--calibration",
        ])
        .arg(&out)
        .arg("--errors")
        .arg(tmp("errors.csv"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("gemm_perf (trtllm)") && s.contains("10"), "{s}");
    // Every checked row, with the error the summary's percentiles are taken over.
    let errors = std::fs::read_to_string(tmp("errors.csv")).unwrap();
    let mut lines = errors.lines();
    assert_eq!(
        lines.next(),
        Some("table,kernel,measured_ms,predicted_ms,error")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.rsplitn(4, ',').collect()).collect();
    assert_eq!(rows.len(), 10, "{errors}");
    for r in &rows {
        let (err, pred, meas): (f64, f64, f64) = (
            r[0].parse().unwrap(),
            r[1].parse().unwrap(),
            r[2].parse().unwrap(),
        );
        assert!(
            r[3].starts_with("gemm_perf,") && r[3].contains("m: "),
            "{r:?}"
        );
        assert!(((pred - meas) / meas - err).abs() < 1e-5, "{r:?}");
    }
    assert!(rows.iter().any(|r| r[0] != "0.000000"), "{errors}");
    let input = tmp("q.csv");
    std::fs::write(&input, "gemm_dtype,m,n,k\nbfloat16,64,4096,4096\n").unwrap();
    let st = bin()
        .args([
            "perf",
            "predict",
            "--gpu",
            "h200_sxm",
            "--backend",
            "trtllm",
            "--table",
            "gemm_perf",
            "--calibration",
        ])
        .arg(&out)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(tmp("q_out.csv"))
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn coverage_says_per_gpu_and_backend_what_a_model_borrows() {
    let out = bin()
        .args(["perf", "coverage", "--model", "gpt-oss-120b", "--tp", "2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let line = |gpu: &str, backend: &str| {
        text.lines()
            .find(|l| l.split_whitespace().take(2).eq([gpu, backend]))
            .unwrap_or_else(|| panic!("{gpu} {backend} in {text}"))
            .to_string()
    };
    // TensorRT-LLM's H200 MXFP4 rows are gpt-oss-20b's (32 experts); H100's hold 128.
    assert!(line("h200_sxm", "trtllm").contains("MoE layers (w4a16_mxfp4, 128 experts"));
    assert!(line("h100_sxm", "trtllm").ends_with("all measured"));
    assert!(line("b300_sxm", "vllm").contains("b200_sxm's measured tables"));
    // Every GPU × backend has its line.
    assert_eq!(text.lines().count(), 1 + 7 * 3, "{text}");
    // A bad split is one clear error naming the flags.
    let bad = bin()
        .args([
            "perf",
            "coverage",
            "--model",
            "gpt-oss-120b",
            "--tp",
            "2",
            "--ep",
            "3",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("--ep 3 must"),
        "{err}"
    );
    let unknown = bin()
        .args(["perf", "coverage", "--model", "no-such-model"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        !unknown.status.success() && err.contains("--model"),
        "{err}"
    );
}

#[test]
fn step_breaks_an_iteration_of_a_scenarios_pool_down_kind_by_kind() {
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/disagg-small.yaml"
    );
    let step = |args: &[&str]| {
        let out = bin()
            .args(["perf", "step", scenario])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    // The kinds' times and the step's, from the table the command prints.
    let parse = |text: &str| -> (Vec<(String, f64)>, f64) {
        let mut kinds = Vec::new();
        let mut total = None;
        for line in text.lines() {
            let cells: Vec<_> = line.split_whitespace().collect();
            match cells.as_slice() {
                ["step", ms] => total = Some(ms.parse().unwrap()),
                [kind, ms, share] if share.ends_with('%') => {
                    kinds.push((kind.to_string(), ms.parse().unwrap()))
                }
                _ => {}
            }
        }
        (kinds, total.expect("a step line"))
    };
    let (ok, text, err) = step(&["--pool", "decode", "--decode", "37", "--context", "2000"]);
    assert!(ok, "{err}");
    // vLLM captures graphs of 32 and 40, not 37: the step replays the one of 40.
    assert!(
        text.contains("replays the CUDA graph of 40, padded to 40 sequences"),
        "{text}"
    );
    let (kinds, decode) = parse(&text);
    let summed: f64 = kinds.iter().map(|(_, ms)| ms).sum();
    assert!((summed - decode).abs() < 1e-3, "{summed} against {decode}");
    assert!(kinds.iter().any(|(k, _)| k == "generation_attention"));
    assert!(!kinds.iter().any(|(k, _)| k == "context_attention"));
    // A prompt chunk beside the same decodes costs its GEMMs and its context attention.
    let (ok, text, err) = step(&[
        "--pool",
        "decode",
        "--decode",
        "37",
        "--context",
        "2000",
        "--prefill",
        "1000@3000",
    ]);
    assert!(ok, "{err}");
    let (kinds, mixed) = parse(&text);
    assert!(mixed > decode + 10.0, "{mixed} against {decode}");
    assert!(kinds.iter().any(|(k, _)| k == "context_attention"));
    // Bad input is one clear error naming what is at fault.
    let chunks: Vec<&str> = ["--prefill", "300@40000"].repeat(23);
    for (args, says) in [
        (
            &["--pool", "x", "--decode", "1"][..],
            "--pool: \"x\" is not a pool of the scenario (its pools: prefill, decode)",
        ),
        (
            &["--prefill", "12@x"][..],
            "--prefill \"12@x\": CONTEXT 'x'",
        ),
        (&["--prefill", "0"][..], "at least one token"),
        (&[][..], "an empty step"),
        // A prefill pool runs no decode step.
        (
            &["--pool", "prefill", "--decode", "8"][..],
            "--decode: pool prefill prefills only (role: prefill)",
        ),
        (&["--decode", "1", "--set", "backend=nope"][..], "backend"),
        // Steps the pool's engine never runs name the setting that bounds them.
        (
            &["--decode", "100000"][..],
            "--decode: 100000 sequences (100000 decoding, 0 prompt chunks) are more than pool \
             decode runs at once (engine.max_num_seqs",
        ),
        (
            &["--prefill", "1000000"][..],
            "--prefill: 1000000 prompt tokens are more than one iteration of pool prefill \
             schedules (engine.max_batched_tokens",
        ),
        (
            &["--decode", "1", "--context", "1000000"][..],
            "--context: a sequence of 1000000 tokens and the one it makes is longer than",
        ),
        // Within every limit but the KV cache: 200 sequences of 40,000 tokens.
        (
            &["--decode", "200", "--context", "40000"][..],
            "--context: the step's sequences hold 500200 KV blocks of 16 tokens, more than the",
        ),
        // 23 chunks of 300 tokens after 40,000 each: 2,519 blocks apiece.
        (
            &chunks[..],
            "--prefill: the step's sequences hold 57937 KV blocks",
        ),
        // A scenario's own field is named as such, not as a flag.
        (
            &["--decode", "1", "--set", "cluster.pools[0].tp=3"][..],
            "error: cluster.pools[0].tp:",
        ),
    ] {
        let (ok, _, err) = step(args);
        assert!(!ok && err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn step_under_attention_dp_replays_each_ranks_graph() {
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/deepseek-r1-gb200.yaml"
    );
    let out = bin()
        .args([
            "perf", "step", scenario, "--pool", "decode", "--decode", "100",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    // 100 sequences on 32 ranks: the fullest holds 4, and every rank pads to its graph.
    assert!(
        text.contains(
            "replays the CUDA graph of 4 on each of 32 attention-DP ranks, padded to 128 sequences"
        ),
        "{text}"
    );
}

#[test]
fn no_output_is_written_over_or_into_what_the_command_reads() {
    let cal = tmp("reads/cal");
    let table = cal.join("h100_sxm/trtllm/gemm.csv.gz");
    std::fs::create_dir_all(table.parent().unwrap()).unwrap();
    std::fs::write(&table, "measured").unwrap();
    let gpus = tmp("reads/gpus.csv");
    std::fs::create_dir_all(gpus.parent().unwrap()).unwrap();
    std::fs::write(&gpus, "mine").unwrap();
    let input = tmp("reads/shapes.csv");
    std::fs::write(&input, "m,n,k,dtype\n").unwrap();
    let predict = |output: &Path| {
        bin()
            .args([
                "perf",
                "predict",
                "--gpu",
                "h100_sxm",
                "--backend",
                "trtllm",
            ])
            .args(["--table", "gemm_perf", "--input"])
            .arg(&input)
            .arg("--output")
            .arg(output)
            .arg("--calibration")
            .arg(&cal)
            .arg("--gpu-file")
            .arg(&gpus)
            .output()
            .unwrap()
    };
    let check = bin()
        .args(["perf", "check", "--gpu", "h100_sxm", "--backend", "trtllm"])
        .arg("--calibration")
        .arg(&cal)
        .arg("--errors")
        .arg(&table)
        .output()
        .unwrap();
    for (o, says) in [
        (predict(&table), "is inside the --calibration folder"),
        (predict(&gpus), "is the --gpu-file"),
        (check, "is inside the --calibration folder"),
    ] {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(says), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&table).unwrap(), "measured");
    assert_eq!(std::fs::read_to_string(&gpus).unwrap(), "mine");
}
