//! `servesim validate`: every input row comes back in order with predictions or a reason;
//! a malformed row gets a reason naming its column, and the run goes on.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const HEADER: &str = "id,silicon_data_source,backend,backend_version,model_path,system,precision,mode,isl,osl,gemm_quant_mode,moe_quant_mode,batch_size,tp_size,pp_size,attention_dp_size,moe_tp_size,moe_ep_size,prefill_batch_size,prefill_num_workers,prefill_tp_size,prefill_pp_size,prefill_attention_dp_size,prefill_moe_tp_size,prefill_moe_ep_size,decode_batch_size,decode_num_workers,decode_tp_size,decode_pp_size,decode_attention_dp_size,decode_moe_tp_size,decode_moe_ep_size,silicon_ttft_ms,silicon_tpot_ms";

fn servesim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_servesim"))
        .args(args)
        .output()
        .expect("servesim runs")
}

/// Asserts the command succeeded, showing its stderr if not.
#[track_caller]
fn assert_succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A scratch folder of this test process: each test names its own (tests run in parallel).
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("servesim-validate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// An aggregated row: `backend, model, system, gemm, isl, osl, batch, tp, pp, concurrency`.
#[allow(clippy::too_many_arguments)]
fn agg(
    backend: &str,
    model: &str,
    system: &str,
    gemm: &str,
    isl: u32,
    osl: u32,
    tp: u32,
    pp: u32,
    c: u32,
) -> String {
    format!(
        "r{c},src=x; silicon_concurrency={c},{backend},1.0,{model},{system},{gemm},agg,{isl},{osl},{gemm},,{c}.0,{tp}.0,{pp}.0,,1.0,1.0,,,,,,,,,,,,,,,100.0,10.0"
    )
}

fn disagg(c: u32) -> String {
    format!(
        "d{c},silicon_concurrency={c},vllm,0.1,Qwen/Qwen3-32B,h100_sxm,,disagg,256,8,,,,,,,,,{c},1,2,1,,,,{c},1,2,1,,,,50.0,20.0"
    )
}

fn run(name: &str, rows: &[String]) -> (Output, PathBuf) {
    run_with(name, rows, &[])
}

/// `servesim validate` of `rows`, with `extra` arguments.
fn run_with(name: &str, rows: &[String], extra: &[&str]) -> (Output, PathBuf) {
    let d = dir(name);
    let input = d.join("measured.csv");
    let output = d.join("predicted.csv");
    std::fs::write(&input, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
    let mut args = vec![
        "validate",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    (servesim(&args), output)
}

fn read(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn every_row_in_order_with_predictions_or_a_reason() {
    let rows = vec![
        agg(
            "trtllm",
            "meta-llama/Llama-3.1-8B-Instruct",
            "h100_sxm",
            "",
            256,
            8,
            1,
            1,
            2,
        ),
        agg(
            "vllm",
            "nvidia/Llama-3.1-8B-Instruct-FP8",
            "h200_sxm",
            "fp8",
            128,
            6,
            2,
            1,
            3,
        ),
        agg(
            "sglang",
            "meta-llama/Llama-3.1-8B-Instruct",
            "h200_sxm",
            "fp8_block",
            200,
            5,
            1,
            1,
            2,
        ),
        // Unmodellable: a mixture-of-experts model, pipeline parallelism, an unknown GPU.
        agg(
            "trtllm",
            "Qwen/Qwen3-235B-A22B",
            "h200_sxm",
            "fp8",
            128,
            4,
            8,
            1,
            2,
        ),
        agg(
            "trtllm",
            "meta-llama/Llama-3.1-8B-Instruct",
            "h100_sxm",
            "",
            128,
            4,
            1,
            2,
            2,
        ),
        agg(
            "trtllm",
            "meta-llama/Llama-3.1-8B-Instruct",
            "tpu_v9",
            "",
            128,
            4,
            1,
            1,
            2,
        ),
        disagg(2),
    ];
    let (out, path) = run("ok", &rows);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_succeeded(&out);
    assert!(stdout.contains("TTFT MAPE"), "{stdout}");
    assert!(stdout.contains("overall"), "{stdout}");
    let got = read(&path);
    let header: Vec<&str> = HEADER.split(',').collect();
    assert_eq!(got[0].len(), header.len() + EXTRA);
    assert_eq!(&got[0][header.len()..], servesim::validate::OUTPUT_COLUMNS);
    assert_eq!(got.len(), rows.len() + 1);
    for (i, row) in rows.iter().enumerate() {
        let g = &got[i + 1];
        assert_eq!(g[..header.len()].join(","), *row, "row {i} kept as it was");
        let (ttft, tpot, reason) = (&g[header.len()], &g[header.len() + 1], &g[header.len() + 2]);
        if (3..6).contains(&i) {
            assert!(ttft.is_empty() && tpot.is_empty(), "row {i}: {g:?}");
            assert!(!reason.is_empty(), "row {i} has a reason");
        } else {
            let (ttft, tpot): (f64, f64) = (ttft.parse().unwrap(), tpot.parse().unwrap());
            assert!(
                ttft > 0.0 && tpot > 0.0 && tpot < ttft * 10.0,
                "row {i}: {g:?}"
            );
            assert!(reason.is_empty(), "row {i}: {reason}");
        }
    }
    assert!(
        got[5][header.len() + 2].contains("pipeline"),
        "{:?}",
        got[5]
    );
    assert!(got[6][header.len() + 2].contains("GPU"), "{:?}", got[6]);
}

/// Columns appended to each row.
const EXTRA: usize = servesim::validate::OUTPUT_COLUMNS.len();

/// The output columns of a row: (predicted TTFT, predicted TPOT, reason, note).
fn outputs(row: &[String]) -> (&str, &str, &str, &str) {
    let n = row.len() - EXTRA;
    (&row[n], &row[n + 1], &row[n + 2], &row[n + 3])
}

#[test]
fn a_malformed_row_gets_a_reason_naming_its_column_and_the_run_goes_on() {
    let good = agg(
        "trtllm",
        "meta-llama/Llama-3.1-8B-Instruct",
        "h100_sxm",
        "",
        128,
        4,
        1,
        1,
        2,
    );
    let bad = good.replace(",agg,128,", ",agg,12x8,");
    let short = "x,silicon_concurrency=2,trtllm".to_string();
    // A zero batch size is not "the default" (that is a blank).
    let zero = good.replace(",agg,128,4,,,2.0,", ",agg,128,4,,,0.0,");
    assert_ne!(zero, good);
    // A deployment too large to count.
    let huge = disagg(2).replace(
        ",disagg,256,8,,,,,,,,,2,1,2,",
        ",disagg,256,8,,,,,,,,,2,600000000,8,",
    );
    assert_ne!(huge, disagg(2));
    // A batch too large to capture a CUDA graph of each size, and a latency that is not one.
    let huge_batch = good.replace(",agg,128,4,,,2.0,", ",agg,128,4,,,1000000000.0,");
    let negative = good.replace(",100.0,10.0", ",-100.0,10.0");
    let tiny = good.replace(",100.0,10.0", ",1e-300,10.0");
    assert!(huge_batch != good && negative != good && tiny != good);
    // A deployment the scenario refuses: the reason leads with the row's column.
    let tp3 = agg(
        "trtllm",
        "meta-llama/Llama-3.1-8B-Instruct",
        "h100_sxm",
        "",
        128,
        4,
        3,
        1,
        2,
    );
    let rows = [
        bad, short, zero, huge, huge_batch, negative, tiny, tp3, good,
    ];
    let (out, path) = run("bad", &rows);
    assert_succeeded(&out);
    let got: Vec<Vec<String>> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(got.len(), rows.len() + 1, "{got:?}");
    let header = HEADER.split(',').count();
    for (i, want) in [
        "column isl",
        "column 4: 3 fields",
        "column batch_size",
        "more than can be simulated",
        "column batch_size: 1000000000 sequences is more than the 1000000",
        "column silicon_ttft_ms: -100 is not a positive latency",
        "column silicon_ttft_ms: 1e-300 ms is below a microsecond",
        "tp_size: cluster.pools[0].tp: 3 is not a power of two",
    ]
    .iter()
    .enumerate()
    {
        let g = &got[i + 1];
        assert_eq!(g.len(), header + EXTRA, "row {i} keeps the header's width");
        let (ttft, tpot, reason, _) = outputs(g);
        assert!(ttft.is_empty() && tpot.is_empty(), "row {i}: {g:?}");
        assert!(reason.contains(want), "row {i}: {reason}");
    }
    let (ttft, _, reason, note) = outputs(&got[9]);
    assert!(ttft.parse::<f64>().unwrap() > 0.0 && reason.is_empty() && note.is_empty());

    // File-level faults are still errors.
    let d = dir("noheader");
    let input = d.join("measured.csv");
    std::fs::write(&input, "id,backend\nx,vllm\n").unwrap();
    let out = servesim(&[
        "validate",
        "--input",
        input.to_str().unwrap(),
        "--output",
        d.join("p.csv").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("silicon_data_source"), "{err}");
}

#[test]
fn a_row_without_concurrency_runs_at_what_its_batch_sizes_imply() {
    let with = disagg(4);
    // 2 decode workers of batch 2: 4 users, as the row with silicon_concurrency=4.
    let with = with.replace(",4,1,2,1,,,,50.0,", ",2,2,2,1,,,,50.0,");
    let without = with.replace("silicon_concurrency=4", "nothing");
    assert_ne!(with, without);
    let dp = without.replace(",2,2,2,1,,,,50.0,", ",2,2,2,1,2,,,50.0,");
    assert_ne!(dp, without);
    let (out, path) = run("noconc", &[with, without, dp]);
    assert_succeeded(&out);
    let got = read(&path);
    let (t_with, p_with, _, note_with) = outputs(&got[1]);
    let (t_without, p_without, reason, note) = outputs(&got[2]);
    assert!(note_with.is_empty() && reason.is_empty(), "{:?}", got[2]);
    assert!(
        note.contains("decode_batch_size 2 × decode_num_workers 2 = 4"),
        "{note}"
    );
    assert_eq!(
        (t_with, p_with),
        (t_without, p_without),
        "same load, same run"
    );
    // With attention data parallelism the implied load counts each replica's batch; the row
    // itself is not modelled yet, and says why, with its note.
    let (ttft, _, reason, note) = outputs(&got[3]);
    assert!(ttft.is_empty() && reason.contains("attention data parallelism"));
    assert!(note.contains("decode_attention_dp_size 2 = 8"), "{note}");

    // Aggregated: the batch size is the concurrency; no batch size, no concurrency: a reason.
    let llama = agg(
        "vllm",
        "meta-llama/Llama-3.1-8B-Instruct",
        "h100_sxm",
        "",
        128,
        4,
        1,
        1,
        2,
    )
    .replace("silicon_concurrency=2", "nothing");
    let blank = llama.replace(",agg,128,4,,,2.0,", ",agg,128,4,,,,");
    assert_ne!(blank, llama);
    let (out, path) = run("noconc-agg", &[llama, blank]);
    assert!(out.status.success());
    let got = read(&path);
    let (ttft, _, _, note) = outputs(&got[1]);
    assert!(ttft.parse::<f64>().unwrap() > 0.0, "{:?}", got[1]);
    assert!(note.ends_with("(batch_size 2)"), "{note}");
    let (ttft, _, reason, _) = outputs(&got[2]);
    assert!(
        ttft.is_empty() && reason.contains("no batch_size"),
        "{reason}"
    );
}

/// Predicted (TTFT, TPOT) of every row of a run.
fn predictions(path: &Path) -> Vec<(f64, f64)> {
    let rows = read(path);
    let n = rows[0].len() - EXTRA;
    rows[1..]
        .iter()
        .map(|r| (r[n].parse().unwrap(), r[n + 1].parse().unwrap()))
        .collect()
}

#[test]
fn trtllm_versions_serve_with_every_slot_of_the_batch() {
    // Same row, two TensorRT-LLM versions: no version holds a slot of max_batch_size back
    // (no documented mechanism does), so both predict the same.
    let row = agg(
        "trtllm",
        "meta-llama/Llama-3.1-8B-Instruct",
        "h100_sxm",
        "",
        512,
        64,
        1,
        1,
        4,
    );
    let rc = row.replacen(",trtllm,1.0,", ",trtllm,1.0.0rc3,", 1);
    assert_ne!(rc, row);
    let (out, path) = run("slot", &[rc, row]);
    assert_succeeded(&out);
    let p = predictions(&path);
    assert_eq!(p[0], p[1]);
}

#[test]
fn vllm_rows_of_0_14_and_later_schedule_each_step_while_the_last_runs() {
    // One vLLM row under three releases: before async scheduling was its default, after,
    // and unnamed. The scenario each simulated says which.
    let row = agg(
        "vllm",
        "meta-llama/Llama-3.1-8B-Instruct",
        "h100_sxm",
        "",
        512,
        64,
        1,
        1,
        4,
    );
    let release = |v: &str| row.replacen(",vllm,1.0,", &format!(",vllm,{v},"), 1);
    let rows = [release("0.13.0"), release("0.18.0"), release("")];
    let d = dir("async");
    let folder = d.join("scenarios");
    let (out, _) = run_with(
        "async",
        &rows,
        &["--steady", "--scenarios", folder.to_str().unwrap()],
    );
    assert_succeeded(&out);
    let overlap = |line: u32| {
        let text = std::fs::read_to_string(folder.join(format!("line-{line}.yaml"))).unwrap();
        text.contains("overlap_schedule: true")
    };
    assert_eq!([overlap(2), overlap(3), overlap(4)], [false, true, false]);
}

/// 32 users of 2048-token prompts on one vLLM worker (Llama-3.1-8B, H100): started together
/// they prefill all 64 k prompt tokens in one burst.
fn burst_row() -> String {
    agg(
        "vllm",
        "meta-llama/Llama-3.1-8B-Instruct",
        "h100_sxm",
        "",
        2048,
        256,
        1,
        1,
        32,
    )
}

#[test]
fn users_run_out_of_step_like_a_long_benchmark() {
    // Started together, `burst_row`'s users would prefill in one burst (mean TTFT about half
    // of it, several hundred ms); spread over their lifetime each prompt waits for about one
    // step and its own prefill.
    let row = burst_row();
    let (out, path) = run("apart", &[row]);
    assert_succeeded(&out);
    let (ttft, tpot) = predictions(&path)[0];
    // One 2048-token prefill of an 8B model on an H100 takes about 100 ms.
    assert!(ttft < 250.0, "TTFT {ttft} ms: users stayed in step");
    assert!(ttft > 40.0 && tpot > 5.0, "{ttft} {tpot}");
}

#[test]
fn measured_from_the_start_the_start_burst_is_in_the_means() {
    // `burst_row`'s 32 users sending their first prompts at once to an idle worker queue
    // behind 64 k prompt tokens.
    let row = burst_row();
    // Predictions, and the report's line saying what they are means of.
    let predict = |name: &str, extra: &[&str], says: &str| {
        let (out, path) = run_with(name, std::slice::from_ref(&row), extra);
        assert_succeeded(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(says), "{stdout}");
        predictions(&path)[0]
    };
    let steady = predict("steady", &["--steady"], "predicted: steady-state means");
    let burst = predict("burst", &["--from-start", "1"], "first request from");
    let ten = predict("ten", &["--from-start", "10"], "first 10 requests");
    // The burst alone: mean TTFT about half the 64 k tokens' prefill, several times the
    // steady state's.
    assert!(
        burst.0 > 3.0 * steady.0,
        "burst {burst:?}, steady {steady:?}"
    );
    // Ten requests a user: one is the burst, nine the steady state (up to the CSV's
    // rounding to 4 decimals of each of the three figures).
    for (b, s, t) in [(burst.0, steady.0, ten.0), (burst.1, steady.1, ten.1)] {
        let expect = 0.1 * b + 0.9 * s;
        assert!((t - expect).abs() < 1e-4 + 1e-6 * expect, "{t} vs {expect}");
    }

    let (out, _) = run_with("zero", std::slice::from_ref(&row), &["--from-start", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--from-start"),
        "{err}"
    );
}

#[test]
fn by_default_the_client_runs_aiconfigurators_aiperf_recipe_and_reports_its_statistics() {
    let row = burst_row();
    let (out, path) = run("recipe", std::slice::from_ref(&row));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_succeeded(&out);
    assert!(stdout.contains("2·C warm-up requests"), "{stdout}");
    let got = read(&path);
    let cell = |name: &str| -> f64 {
        let k = got[0].iter().position(|c| c == name).unwrap();
        got[1][k]
            .parse()
            .unwrap_or_else(|_| panic!("{name}: {:?}", got[1][k]))
    };
    let (mean, p50, p90, p99) = (
        cell("predicted_ttft_ms"),
        cell("predicted_ttft_p50_ms"),
        cell("predicted_ttft_p90_ms"),
        cell("predicted_ttft_p99_ms"),
    );
    assert!(
        p50 <= p90 && p90 <= p99 && mean > 0.0,
        "{mean} {p50} {p90} {p99}"
    );
    assert!(cell("predicted_tpot_p50_ms") <= cell("predicted_tpot_p99_ms"));
    // 32 users of 256-token answers at a TPOT of a few ms: thousands of tokens per second.
    let tpot = cell("predicted_tpot_ms");
    let throughput = cell("predicted_output_tokens_per_s");
    assert!(
        throughput > 1000.0 && throughput < 32.0 * 1000.0 / tpot,
        "{throughput}"
    );

    let (out, _) = run_with(
        "both",
        std::slice::from_ref(&row),
        &["--steady", "--from-start", "2"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--steady"), "{err}");
}

#[test]
fn a_dataset_of_repeating_prompts_is_found_in_the_prefix_cache() {
    // aiperf's dataset: 32 users drawing from 4 prompts hit the cache after the first pass,
    // so their prefills, and with them the first tokens, are shorter than fresh prompts'.
    let row = burst_row();
    let fresh = {
        let (out, path) = run("fresh", std::slice::from_ref(&row));
        assert_succeeded(&out);
        predictions(&path)[0]
    };
    let (out, path) = run_with(
        "cached",
        std::slice::from_ref(&row),
        &["--dataset-entries", "4"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_succeeded(&out);
    assert!(stdout.contains("prompts from a dataset of 4"), "{stdout}");
    let cached = predictions(&path)[0];
    assert!(cached.0 < fresh.0, "cached {cached:?} vs fresh {fresh:?}");

    for bad in [
        &["--dataset-entries", "0"][..],
        &["--dataset-entries", "4", "--steady"],
    ] {
        let (out, _) = run_with("bad-dataset-entries", std::slice::from_ref(&row), bad);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("--dataset-entries"),
            "{err}"
        );
    }
}

#[test]
fn a_client_with_fewer_connections_than_users_holds_the_rest_back_in_its_ttft() {
    // 32 users over a pool of 8 connections: the server decodes at most 8 at a time, so
    // each token comes sooner, and every request past the first 8 waits in the client for a
    // connection, which the client counts in its TTFT.
    let row = burst_row();
    let (out, path) = run("open", std::slice::from_ref(&row));
    assert_succeeded(&out);
    let open = predictions(&path)[0];
    let (out, path) = run_with(
        "pooled",
        std::slice::from_ref(&row),
        &["--client-connections", "8"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_succeeded(&out);
    assert!(
        stdout.contains("at most 8 requests at the server"),
        "{stdout}"
    );
    let pooled = predictions(&path)[0];
    assert!(
        pooled.0 > 2.0 * open.0,
        "TTFT: pooled {pooled:?}, open {open:?}"
    );
    assert!(pooled.1 < open.1, "TPOT: pooled {pooled:?}, open {open:?}");

    for bad in [
        &["--client-connections", "0"][..],
        &["--client-connections", "8", "--steady"],
    ] {
        let (out, _) = run_with("bad-client-connections", std::slice::from_ref(&row), bad);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("--client-connections"),
            "{err}"
        );
    }
}

#[test]
fn the_report_gives_errors_by_group_and_names_a_folder_that_does_not_exist() {
    let rows = [burst_row(), disagg(8)];
    let d = dir("report");
    let report = d.join("fidelity.md");
    let (out, _) = run_with("report", &rows, &["--report", report.to_str().unwrap()]);
    assert_succeeded(&out);
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(
        text.contains("| backend | model | GPU | mode | concurrency | rows |"),
        "{text}"
    );
    // The vLLM 8B row is in the 9–32 band of its own group; the disaggregated row has no
    // measurement worth comparing (its model is known, so it is a group of its own too).
    assert!(
        text.contains("| vllm | Llama-3.1-8B-Instruct | h100_sxm | agg | 9–32 | 1 |"),
        "{text}"
    );
    assert!(text.contains("| **all** |"), "{text}");
    assert!(
        text.contains("--report"),
        "the command that made it: {text}"
    );

    let missing = d.join("no-such-folder").join("r.md");
    let (out, _) = run_with(
        "report-missing",
        &rows,
        &["--report", missing.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--report") && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn nvfp4_rows_run_on_blackwell_and_name_the_missing_fp4_tensor_cores_elsewhere() {
    // TP 8 with the experts split 8 ways within each (MoE TP 8, EP 1).
    let row = |system: &str| {
        agg(
            "trtllm",
            "deepseek-ai/DeepSeek-V3",
            system,
            "nvfp4",
            256,
            8,
            8,
            1,
            2,
        )
        .replacen(",,1.0,1.0,", ",,8.0,1.0,", 1)
    };
    let (out, path) = run("nvfp4", &[row("b200_sxm"), row("h200_sxm")]);
    assert_succeeded(&out);
    let got = read(&path);
    let (ttft, tpot, reason, _) = outputs(&got[1]);
    assert!(reason.is_empty(), "{reason}");
    assert!(ttft.parse::<f64>().unwrap() > 0.0 && tpot.parse::<f64>().unwrap() > 0.0);
    // The reason is quoted (it holds commas): read the line whole.
    let n = HEADER.split(',').count();
    assert!(got[2][n].is_empty(), "{:?}", got[2]);
    let line = got[2].join(",");
    assert!(
        line.contains("weight_dtype: nvfp4 needs FP4 tensor cores, which h200_sxm"),
        "{line}"
    );
}

#[test]
fn a_row_whose_kernels_were_never_measured_in_its_shape_says_so_in_its_note() {
    // gpt-oss-120b (128 experts) under TensorRT-LLM on H200, whose MXFP4 MoE rows are
    // gpt-oss-20b's (32 experts), timed from H100's; Llama-3.1-8B on H100, measured
    // throughout.
    let oss = agg(
        "trtllm",
        "openai/gpt-oss-120b",
        "h200_sxm",
        "nvfp4",
        256,
        8,
        1,
        1,
        2,
    )
    .replacen(",nvfp4,,", ",nvfp4,nvfp4,", 1);
    let llama = agg(
        "vllm",
        "meta-llama/Llama-3.1-8B-Instruct",
        "h100_sxm",
        "",
        256,
        8,
        1,
        1,
        2,
    );
    let (out, path) = run("kernel-note", &[oss, llama]);
    assert_succeeded(&out);
    let got = read(&path);
    // The note is quoted (it holds commas): read the columns before it, then the line whole.
    let n = HEADER.split(',').count();
    let (ttft, reason) = (&got[1][n], &got[1][n + 2]);
    assert!(
        reason.is_empty() && ttft.parse::<f64>().unwrap() > 0.0,
        "{:?}",
        got[1]
    );
    let line = got[1].join(",");
    assert!(
        line.contains("timed from h100_sxm's measured rows of their kind")
            && line.contains("MoE layers (w4a16_mxfp4, 128 experts"),
        "{line}"
    );
    let (_, _, reason, note) = outputs(&got[2]);
    assert!(reason.is_empty() && note.is_empty(), "{:?}", got[2]);
}

#[test]
fn each_predicted_row_writes_the_scenario_it_simulated_and_running_it_gives_the_prediction() {
    let rows = vec![
        burst_row(),
        // Not modelled: no scenario.
        agg(
            "trtllm",
            "meta-llama/Llama-3.1-8B",
            "h100_sxm",
            "fp8",
            128,
            64,
            1,
            2,
            4,
        ),
    ];
    let d = dir("scenarios");
    let folder = d.join("scenarios");
    let (out, path) = run_with(
        "scenarios",
        &rows,
        &["--in-step", "--scenarios", folder.to_str().unwrap()],
    );
    assert_succeeded(&out);
    let mut written: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    assert_eq!(written, ["line-2.yaml"], "one file per predicted row");
    let file = folder.join("line-2.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("# The scenario servesim validate simulated for line 2"));
    // In step, the prediction is that one run: `servesim run` of the file gives its mean
    // TTFT over the measured class (the summary's histograms hold three digits).
    let got = read(&path);
    let k = got[0]
        .iter()
        .position(|c| c == "predicted_ttft_ms")
        .unwrap();
    let predicted: f64 = got[1][k].parse().unwrap();
    let out = servesim(&["run", file.to_str().unwrap(), "--json"]);
    assert_succeeded(&out);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rerun = summary["by_class"]["bench"]["ttft_ms"]["mean"]
        .as_f64()
        .unwrap();
    assert!(
        (rerun - predicted).abs() <= 1e-3 * predicted,
        "{rerun} against {predicted}"
    );
    // The file stops once the benchmark is answered, so the rates the run prints are the
    // benchmark's (the warm-up's tokens in them too), not a horizon's.
    let k = got[0]
        .iter()
        .position(|c| c == "predicted_output_tokens_per_s")
        .unwrap();
    let client: f64 = got[1][k].parse().unwrap();
    let run = summary["throughput_tokens_per_s"].as_f64().unwrap();
    assert!(
        (run - client).abs() <= 0.2 * client,
        "{run} against {client}"
    );
    // A second run into the same folder is refused before any row is simulated: its files
    // would mix with the first run's.
    let (out, again) = run_with(
        "scenarios-again",
        &rows,
        &["--scenarios", folder.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already holds the scenarios of an earlier run (line-2.yaml)"),
        "{err}"
    );
    assert!(!again.exists(), "refused before predicting");
    // In the steady state, the file runs as long as the prediction's draw did and says
    // which of its completions the prediction reads.
    let steady = d.join("steady");
    let (out, _) = run_with(
        "scenarios-steady",
        &rows,
        &["--steady", "--scenarios", steady.to_str().unwrap()],
    );
    assert_succeeded(&out);
    let text = std::fs::read_to_string(steady.join("line-2.yaml")).unwrap();
    assert!(
        text.contains("# It runs until its ") && text.contains("in completion order."),
        "{text}"
    );
    let duration: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("duration_s: "))
        .expect("a duration")
        .parse()
        .unwrap();
    assert!(
        duration > 0.0 && duration % 20.0 == 0.0 && duration <= 600.0,
        "{duration}"
    );
}

#[test]
fn nothing_the_user_gave_is_written_over() {
    let d = dir("overwrite");
    let input = d.join("measured.csv");
    let measured = format!("{HEADER}\n{}\n", disagg(2));
    std::fs::write(&input, &measured).unwrap();
    let input = input.to_str().unwrap();
    // The input again, spelt another way.
    let again = format!(
        "{}/../{}/measured.csv",
        d.display(),
        d.file_name().unwrap().to_str().unwrap()
    );
    let output = d.join("predicted.csv");
    let output = output.to_str().unwrap();
    let a_file = d.join("a-file");
    std::fs::write(&a_file, "mine").unwrap();
    // The output spelt two ways (neither written yet); this run's scenarios folder.
    let output_dotted = format!("{}/./predicted.csv", d.display());
    let scenarios = d.join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    let in_scenarios = scenarios.join("line-2.yaml");
    // The input under a second name (a hard link).
    #[cfg(unix)]
    let linked = {
        let l = d.join("linked.csv");
        std::fs::remove_file(&l).ok();
        std::fs::hard_link(input, &l).unwrap();
        l
    };
    #[cfg(unix)]
    let linked = linked.to_str().unwrap();
    #[cfg(not(unix))]
    let linked = again.as_str();
    for (extra, says) in [
        (
            vec!["--output", output, "--report", output_dotted.as_str()],
            "is the --output file",
        ),
        (
            vec![
                "--output",
                in_scenarios.to_str().unwrap(),
                "--scenarios",
                scenarios.to_str().unwrap(),
            ],
            "is named as a scenario --scenarios writes",
        ),
        (
            vec![
                "--output",
                output,
                "--scenarios",
                scenarios.to_str().unwrap(),
                "--report",
                in_scenarios.to_str().unwrap(),
            ],
            "is named as a scenario --scenarios writes",
        ),
        (vec!["--output", linked], "is the --input file"),
        (vec!["--output", again.as_str()], "is the --input file"),
        (vec!["--output", output, "--report", input], "--report "),
        (
            vec!["--output", output, "--report", output],
            "is the --output file",
        ),
        (
            vec!["--output", output, "--scenarios", a_file.to_str().unwrap()],
            "--scenarios: ",
        ),
    ] {
        let mut args = vec!["validate", "--input", input];
        args.extend(extra.iter().copied());
        let out = servesim(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{extra:?}: {err}"
        );
    }
    assert_eq!(std::fs::read_to_string(input).unwrap(), measured);
    assert_eq!(std::fs::read_to_string(&a_file).unwrap(), "mine");
    // The predictions and the report beside this run's scenarios are no clash.
    let beside = d.join("beside");
    std::fs::create_dir_all(&beside).unwrap();
    let out = servesim(&[
        "validate",
        "--input",
        input,
        "--output",
        beside.join("predicted.csv").to_str().unwrap(),
        "--report",
        beside.join("report.md").to_str().unwrap(),
        "--scenarios",
        beside.to_str().unwrap(),
    ]);
    assert_succeeded(&out);
    assert!(beside.join("line-2.yaml").is_file() && beside.join("report.md").is_file());
}

#[test]
fn an_answer_of_one_token_with_text_has_no_tpot_in_any_reading() {
    // gpt-oss's first three tokens are its harmony header: an answer of three tokens shows
    // one with text, and a TPOT needs two. The steady reading had written 0.
    let oss = agg(
        "trtllm",
        "openai/gpt-oss-120b",
        "h200_sxm",
        "nvfp4",
        256,
        3,
        1,
        1,
        2,
    )
    .replacen(",nvfp4,,", ",nvfp4,nvfp4,", 1);
    for extra in [&[][..], &["--steady"][..], &["--from-start", "2"][..]] {
        let (out, path) = run_with("one-shown-token", std::slice::from_ref(&oss), extra);
        assert_succeeded(&out);
        let got = read(&path);
        let n = HEADER.split(',').count();
        let (ttft, tpot) = (&got[1][n], &got[1][n + 1]);
        assert!(
            ttft.parse::<f64>().unwrap() > 0.0,
            "{extra:?}: {:?}",
            got[1]
        );
        assert!(tpot.is_empty(), "{extra:?}: {:?}", got[1]);
    }
}

#[test]
fn a_row_says_what_it_took_for_a_blank_batch_and_why_it_has_no_tpot() {
    let row = agg(
        "trtllm",
        "meta-llama/Llama-3.1-8B-Instruct",
        "h100_sxm",
        "",
        256,
        16,
        1,
        1,
        4,
    );
    // The batch size blank: the backend's default, which the note says it took.
    let blank = row.replacen(",4.0,1.0,1.0,", ",,1.0,1.0,", 1);
    assert_ne!(blank, row);
    // One output token: no gap between tokens to time.
    let one = row.replacen(",256,16,", ",256,1,", 1);
    assert_ne!(one, row);
    let (out, path) = run("notes", &[row, blank, one]);
    assert_succeeded(&out);
    let rows = read(&path);
    let (_, tpot, reason, note) = outputs(&rows[1]);
    assert!(
        !tpot.is_empty() && reason.is_empty() && note.is_empty(),
        "{note}"
    );
    let (_, tpot, reason, note) = outputs(&rows[2]);
    assert!(!tpot.is_empty() && reason.is_empty());
    assert!(
        note.starts_with("batch_size blank: the backend's default"),
        "{note}"
    );
    let (ttft, tpot, reason, note) = outputs(&rows[3]);
    assert!(!ttft.is_empty() && tpot.is_empty() && reason.is_empty());
    assert_eq!(
        note,
        "no TPOT: each request shows fewer than two tokens of text"
    );
}
