//! A scenario's `calibration` folder: the user's measured kernel tables time its runs in
//! place of the shipped ones of the same GPU, backend and family.

use std::path::{Path, PathBuf};

use servesim::Scenario;

const SCENARIO: &str = "seed: 3
duration_s: 30
model: Qwen/Qwen3-32B-FP8
gpu: h100_sxm
backend: vllm
calibration: CALIBRATION
slo: {ttft_ms: 500, itl_ms: 30}
cluster:
  nodes: 1
  pools:
    - {name: prefill, role: prefill, tp: 2, workers: 1}
    - {name: decode, role: decode, tp: 2, workers: 1}
traffic:
  streams:
    - name: chat
      open:
        arrival: {kind: poisson, rate_per_s: 4}
        input: {kind: fixed, value: 2000}
        output: {kind: fixed, value: 50}
";

/// A fresh folder under the system's temporary folder.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("servesim-cal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `shipped` (`gpu/backend/family.csv.gz` of the shipped tables) copied into `root`, each row's
/// latency times `scale`.
fn put(root: &Path, shipped: &str, scale: f64) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/calibration")
        .join(shipped);
    let mut table = servesim_models::calibration::CalibrationTable::read(&src).unwrap();
    for (_, ms) in &mut table.rows {
        *ms *= scale;
    }
    let dst = root.join(shipped);
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    table.write_gz(&dst).unwrap();
}

fn scenario(folder: &str, base: &Path) -> Result<Scenario, String> {
    let text = SCENARIO.replace("CALIBRATION", folder);
    Scenario::from_yaml_str(&text, "s.yaml", base).map_err(|e| e.to_string())
}

fn without() -> Scenario {
    let text = SCENARIO.replace("calibration: CALIBRATION\n", "");
    Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap()
}

#[test]
fn a_copy_of_the_shipped_tables_runs_as_the_shipped_ones() {
    let d = scratch("copy");
    put(&d, "h100_sxm/vllm/gemm.csv.gz", 1.0);
    put(&d, "h100_sxm/vllm/context_attention.csv.gz", 1.0);
    // The folder is named relative to the scenario's own folder.
    let name = d.file_name().unwrap().to_str().unwrap();
    let with = scenario(name, d.parent().unwrap()).unwrap();
    assert!(with.unread_calibration().is_empty());
    let (a, _) = servesim::run(&without()).unwrap();
    let (b, _) = servesim::run(&with).unwrap();
    assert!(a.all.completed > 50, "{}", a.all.completed);
    assert_eq!(a, b);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn no_trace_is_written_over_a_measured_table() {
    let d = scratch("reads");
    put(&d, "h100_sxm/vllm/gemm.csv.gz", 1.0);
    let name = d.file_name().unwrap().to_str().unwrap();
    let with = scenario(name, d.parent().unwrap()).unwrap();
    let table = d.join("h100_sxm/vllm/gemm.csv.gz");
    let bytes = std::fs::read(&table).unwrap();
    assert_eq!(with.reads(&table).as_deref(), Some("calibration"));
    assert_eq!(with.reads(&d.join("h100_sxm/vllm/new.json")), None);
    let mut run = servesim::Run::new(&with).unwrap();
    let err = run
        .trace_to(&servesim::trace::TraceConfig::new(&table))
        .unwrap_err();
    assert!(
        err.to_string().contains("is the scenario's calibration"),
        "{err}"
    );
    assert_eq!(std::fs::read(&table).unwrap(), bytes);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn slower_measured_gemms_slow_the_run() {
    let d = scratch("slow");
    put(&d, "h100_sxm/vllm/gemm.csv.gz", 1.5);
    let s = scenario(d.to_str().unwrap(), Path::new(".")).unwrap();
    let (shipped, _) = servesim::run(&without()).unwrap();
    let (slow, _) = servesim::run(&s).unwrap();
    let mean = |s: &servesim::report::Summary| s.all.ttft_ms.mean.unwrap();
    assert!(
        mean(&slow) > 1.2 * mean(&shipped),
        "{} {}",
        mean(&slow),
        mean(&shipped)
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_folder_the_run_cannot_read_is_an_error_naming_the_field() {
    let d = scratch("errors");
    let at = d.to_str().unwrap();
    let e = scenario(&format!("{at}/missing"), Path::new(".")).unwrap_err();
    assert!(
        e.contains("calibration") && e.contains("no such folder"),
        "{e}"
    );
    let e = scenario(at, Path::new(".")).unwrap_err();
    assert!(
        e.contains("calibration") && e.contains("no calibration table"),
        "{e}"
    );
    // Another GPU's and another backend's tables: nothing this run reads.
    put(&d, "h200_sxm/vllm/gemm.csv.gz", 1.0);
    put(&d, "h100_sxm/trtllm/gemm.csv.gz", 1.0);
    let e = scenario(at, Path::new(".")).unwrap_err();
    assert!(
        e.contains("calibration")
            && e.contains("h100_sxm/trtllm/gemm, h200_sxm/vllm/gemm")
            && e.contains("h100_sxm under vllm"),
        "{e}"
    );
    // With one it reads, the others are named in a warning before the run.
    put(&d, "h100_sxm/vllm/gemm.csv.gz", 1.0);
    let s = scenario(at, Path::new(".")).unwrap();
    assert_eq!(
        s.unread_calibration(),
        ["h100_sxm/trtllm/gemm", "h200_sxm/vllm/gemm"]
    );
    let warnings = servesim::warnings::before_run(&s).join("\n");
    assert!(
        warnings.contains(
            "calibration: this run reads none of h100_sxm/trtllm/gemm, h200_sxm/vllm/gemm"
        ),
        "{warnings}"
    );
    // A file that is not in the calibration format names itself.
    std::fs::write(d.join("h100_sxm/vllm/gemm.csv.gz"), b"not gzip").unwrap();
    let e = scenario(at, Path::new(".")).unwrap_err();
    assert!(
        e.contains("calibration") && e.contains("gemm.csv.gz"),
        "{e}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn the_profiler_reads_measured_tables_and_names_the_ones_it_does_not() {
    use servesim::profiler::{Overrides, ProfileRequest};
    let d = scratch("profile");
    put(&d, "h200_sxm/vllm/gemm.csv.gz", 1.0);
    put(&d, "b200_sxm/vllm/gemm.csv.gz", 1.0);
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/profile-qwen3-32b-h200.yaml");
    let with = |dir: PathBuf| Overrides {
        calibration: Some(dir),
        ..Overrides::default()
    };
    let req = ProfileRequest::from_file(&file, &with(d.clone())).unwrap();
    assert_eq!(req.calibration.as_deref(), Some(d.as_path()));
    assert!(
        req.ignored
            .iter()
            .any(|i| i.starts_with("calibration table b200_sxm/vllm/gemm")),
        "{:?}",
        req.ignored
    );
    let e = ProfileRequest::from_file(&file, &with(d.join("missing")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--calibration") && e.contains("no such folder"),
        "{e}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_gpu_without_shipped_tables_warns_of_the_families_left_to_the_roofline() {
    let d = scratch("b300");
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/calibration/b200_sxm/vllm/gemm.csv.gz");
    let mut table = servesim_models::calibration::CalibrationTable::read(&src).unwrap();
    table.header.gpu = "b300_sxm".into();
    std::fs::create_dir_all(d.join("b300_sxm/vllm")).unwrap();
    table
        .write_gz(&d.join("b300_sxm/vllm/gemm.csv.gz"))
        .unwrap();
    let text = SCENARIO
        .replace("CALIBRATION", d.to_str().unwrap())
        .replace("h100_sxm", "b300_sxm");
    let s = Scenario::from_yaml_str(&text, "s.yaml", Path::new(".")).unwrap();
    assert!(s.unread_calibration().is_empty());
    let warnings = servesim::warnings::before_run(&s).join("\n");
    assert!(
        warnings.contains("calibration: b300_sxm has no shipped tables")
            && warnings.contains("context_attention")
            && warnings.contains("nccl"),
        "{warnings}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn validate_times_the_rows_whose_gpu_and_backend_read_the_folder() {
    use servesim::validate::{Averaged, RecipeClient, validate_file};
    let d = scratch("validate");
    let measured = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/e2e/measured_serving.csv"),
    )
    .unwrap();
    let mut lines = measured.lines();
    let header = lines.next().unwrap();
    // A TensorRT-LLM row on H100 and a vLLM one on H200.
    let h100 = lines
        .clone()
        .find(|l| l.contains(",trtllm,") && l.contains(",h100_sxm,"))
        .unwrap();
    let h200 = lines
        .find(|l| l.contains(",vllm,") && l.contains(",h200_sxm,"))
        .unwrap();
    let input = d.join("rows.csv");
    std::fs::write(&input, format!("{header}\n{h100}\n{h200}\n")).unwrap();
    let cal = d.join("cal");
    let averaged = Averaged::from_flags(false, None, RecipeClient::default()).unwrap();
    let run = |calibration: Option<&Path>| {
        validate_file(
            &input,
            &d.join("out.csv"),
            averaged,
            2,
            &servesim::progress::Quiet,
            None,
            calibration,
        )
        .unwrap()
        .rows
    };
    let shipped = run(None);
    put(&cal, "h100_sxm/trtllm/gemm.csv.gz", 2.0);
    let slow = run(Some(&cal));
    // The H100 row runs on the folder's slower GEMMs; the H200 one on the shipped tables,
    // and its note says so.
    let ttft = |rows: &[(servesim::validate::RowSpec, servesim::validate::Prediction)],
                i: usize| { rows[i].1.ttft_ms.unwrap() };
    assert!(ttft(&slow, 0) > 1.3 * ttft(&shipped, 0));
    assert_eq!(ttft(&slow, 1), ttft(&shipped, 1));
    let note = slow[1].1.note.as_deref().unwrap_or("");
    assert!(
        note.contains(
            "shipped kernel tables: the calibration folder has none that h200_sxm under vllm reads"
        ),
        "{note}"
    );
    let e = validate_file(
        &input,
        &d.join("out.csv"),
        averaged,
        2,
        &servesim::progress::Quiet,
        None,
        Some(&d.join("missing")),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("calibration") && e.contains("missing"), "{e}");
    std::fs::remove_dir_all(&d).unwrap();
}
