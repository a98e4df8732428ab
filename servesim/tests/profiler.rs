//! The profiler end to end: request → `servesim profile` → outputs → a scenario whose `sla`
//! planner reads the written profile and scales.

use std::path::{Path, PathBuf};
use std::process::Command;

use servesim::Scenario;
use servesim::profiler::{Mode, Overrides, Prefer, ProfileMode, ProfileRequest, TpPins, profile};
use servesim::progress::Quiet;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_servesim"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `servesim profile REQUEST --out OUT`, which must succeed; its standard output.
fn profile_ok(request: &Path, out: &Path) -> String {
    profile_ok_with(request, out, &[])
}

/// `servesim profile REQUEST --out OUT ARGS…`, which must succeed; its standard output.
fn profile_ok_with(request: &Path, out: &Path, args: &[&str]) -> String {
    let o = bin()
        .args(["profile"])
        .arg(request)
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("servesim-profiler-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    d
}

const OLDER: &str = "
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeploymentRequest
metadata: {name: old-form}
spec:
  model: Qwen/Qwen3-32B-FP8
  backend: vllm
  profilingConfig:
    profilerImage: nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.6.0
    config:
      sla: {isl: 4000, osl: 500, ttft: 500.0, itl: 30.0}
      sweep: {use_ai_configurator: true, aic_system: h200_sxm}
      hardware: {num_gpus_per_node: 8}
  deploymentOverrides: {workersImage: x}
";

#[test]
fn shipped_request_profiles_and_the_sla_planner_scales_with_the_profile() {
    let out = tmp("shipped");
    let request = root().join("scenarios/profile-qwen3-32b-h200.yaml");
    // Disaggregated, for its Planner and profile (the shipped case's best by goodput per
    // GPU may be aggregated).
    let stdout = profile_ok_with(&request, &out, &["--prefer", "disagg"]);
    assert!(stdout.contains("ignored: spec.autoApply"), "{stdout}");
    for f in [
        "dgd.yaml",
        "prefill_raw_data.json",
        "decode_raw_data.json",
        "pareto.csv",
        "summary.json",
        "report.html",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }

    // The DGD: Frontend, Planner, prefill and decode workers with replicas, GPU limits, TP.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let chosen = &summary["chosen"];
    assert_eq!(chosen["mode"], "disaggregated");
    assert_eq!(summary["meets_slo"], true);
    let dgd: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(out.join("dgd.yaml")).unwrap()).unwrap();
    assert_eq!(dgd["kind"].as_str(), Some("DynamoGraphDeployment"));
    let services = &dgd["spec"]["services"];
    assert!(services["Frontend"].is_mapping());
    // The router the fast model and --mode simulate assume is written out.
    let frontend_args: Vec<&str> = services["Frontend"]["extraPodSpec"]["mainContainer"]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(
        frontend_args
            .windows(2)
            .any(|w| w == ["--router-mode", "round-robin"]),
        "{frontend_args:?}"
    );
    // The Planner runs as Dynamo 1.6.1 starts it, `python3 -m dynamo.planner --config
    // JSON`, and reads its profile at a path inside its container, never this machine's.
    let planner = &services["Planner"]["extraPodSpec"]["mainContainer"];
    let command: Vec<&str> = planner["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert_eq!(command, ["python3", "-m", "dynamo.planner"]);
    let planner_args = planner["args"].as_sequence().unwrap();
    assert_eq!(planner_args[0].as_str(), Some("--config"));
    let config: serde_json::Value =
        serde_json::from_str(planner_args[1].as_str().unwrap()).unwrap();
    assert_eq!(config["profile_results_dir"], "/data/profiling_results");
    assert_eq!(config["optimization_target"], "sla");
    assert_eq!(config["mode"], "disagg");
    assert_eq!(config["max_gpu_budget"], 8);
    assert_eq!(config["ttft_ms"], summary["request"]["ttft_ms"]);
    let dgd_text = std::fs::read_to_string(out.join("dgd.yaml")).unwrap();
    assert!(!dgd_text.contains(&out.display().to_string()), "{dgd_text}");
    // The rule is said, and summary.json agrees with what was chosen.
    assert!(
        stdout.contains("why: the best disaggregated deployment meeting both SLOs"),
        "{stdout}"
    );
    assert_eq!(summary["choice"]["prefer"], "disagg");
    assert!(summary["better_mode"].is_string(), "{summary}");
    for (svc, role) in [
        ("VllmPrefillWorker", "prefill"),
        ("VllmDecodeWorker", "decode"),
    ] {
        let s = &services[svc];
        assert_eq!(s["subComponentType"].as_str(), Some(role));
        let tp = chosen[role]["tp"].as_u64().unwrap();
        assert_eq!(s["replicas"].as_u64(), chosen[role]["workers"].as_u64());
        assert_eq!(
            s["resources"]["limits"]["gpu"].as_str(),
            Some(tp.to_string().as_str())
        );
        let args: Vec<&str> = s["extraPodSpec"]["mainContainer"]["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        let i = args
            .iter()
            .position(|a| *a == "--tensor-parallel-size")
            .unwrap();
        assert_eq!(args[i + 1], tp.to_string());
        // Its role as Dynamo 1.x takes it, and vLLM's KV connector between the roles.
        assert!(
            args.windows(2)
                .any(|w| w == ["--disaggregation-mode", role]),
            "{args:?}"
        );
        assert!(
            args.windows(2)
                .any(|w| w[0] == "--kv-transfer-config" && w[1].contains("NixlConnector")),
            "{args:?}"
        );
    }
    // The frontier file has both modes and frontier points.
    let csv = std::fs::read_to_string(out.join("pareto.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let frontier = header.iter().position(|h| *h == "on_frontier").unwrap();
    let on_frontier = |mode: &str| {
        csv.lines().skip(1).any(|l| {
            let cols: Vec<&str> = l.split(',').collect();
            cols[0] == mode && cols[frontier] == "true"
        })
    };
    assert!(on_frontier("agg"));
    assert!(on_frontier("disagg"));
    // The frontier holds only deployments meeting the SLOs; the rest are drawn apart.
    let meets = header.iter().position(|h| *h == "meets_slo").unwrap();
    for l in csv.lines().skip(1) {
        let cols: Vec<&str> = l.split(',').collect();
        if cols[frontier] == "true" {
            assert_eq!(cols[meets], "true", "{l}");
        }
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("chosen"));
    assert!(html.contains("misses an SLO") && html.contains("stroke-dasharray=\"3 3\""));
    assert!(html.contains("--prefer disagg"));
    // Nothing assumed: no empty heading for it.
    assert!(!html.contains("Assumed"), "{html}");

    // A scenario that points its sla planner at the written profile, unchanged, and scales.
    let (ptp, dtp) = (
        chosen["prefill"]["tp"].as_u64().unwrap(),
        chosen["decode"]["tp"].as_u64().unwrap(),
    );
    let scenario = format!(
        "name: profiled
seed: 3
duration_s: 200
model: Qwen/Qwen3-32B-FP8
kv_dtype: fp8
gpu: h200_sxm
backend: vllm
slo: {{ttft_ms: 500, itl_ms: 30}}
cluster:
  nodes: 2
  pools:
    - {{name: prefill, role: prefill, tp: {ptp}, workers: 3, startup_s: 20}}
    - {{name: decode, role: decode, tp: {dtp}, workers: 3, startup_s: 20}}
traffic:
  streams:
    - name: chat
      open:
        arrival: {{kind: poisson, rate_per_s: 1}}
        input: {{kind: fixed, value: 4000}}
        output: {{kind: fixed, value: 100}}
planner: {{policy: sla, interval_s: 60, profile_dir: {}}}
",
        out.display()
    );
    let s = Scenario::from_yaml_str(&scenario, "profiled.yaml", Path::new(".")).unwrap();
    let (summary, world) = servesim::run(&s).unwrap();
    assert_eq!(summary.planner.as_deref(), Some("sla"));
    // Over-provisioned for one request a second: the profile says one worker each suffices.
    let ready: Vec<u32> = summary.pools.iter().map(|p| p.ready_at_end).collect();
    assert!(
        summary.scaling_decisions > 0 && ready.iter().all(|&r| r < 3),
        "decisions {}, ready at the end {ready:?}: {:?}",
        summary.scaling_decisions,
        world.scaling_events()
    );
    // A profile made for other worker sizes is refused, naming both.
    let other = if dtp == 1 { 2 } else { 1 };
    let wrong = scenario.replace(
        &format!("role: decode, tp: {dtp}"),
        &format!("role: decode, tp: {other}"),
    );
    let s = Scenario::from_yaml_str(&wrong, "profiled.yaml", Path::new(".")).unwrap();
    let e = servesim::run(&s).err().expect("TP mismatch is an error");
    let e = e.to_string();
    assert!(
        e.contains("planner.profile_dir: ")
            && !e.contains("performance model")
            && e.contains(&format!("TP{dtp} workers"))
            && e.contains(&format!("pool `decode` has TP{other}")),
        "{e}"
    );
    // The planner read the written files: without them the scenario does not build.
    let missing = scenario.replace(&out.display().to_string(), "/nonexistent/profile");
    let s = Scenario::from_yaml_str(&missing, "profiled.yaml", Path::new(".")).unwrap();
    let e = servesim::run(&s)
        .err()
        .expect("missing profile is an error");
    let e = e.to_string();
    assert!(
        e.starts_with("planner.profile_dir: ") && e.contains("prefill_raw_data.json"),
        "{e}"
    );
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn older_form_and_flag_overrides_through_the_cli() {
    let dir = tmp("older");
    std::fs::create_dir_all(&dir).unwrap();
    let req = dir.join("req.yaml");
    std::fs::write(&req, OLDER).unwrap();
    let out = dir.join("out");
    // A reused folder: what this run does not write does not survive from an earlier one.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("dgd-agg.yaml"), "stale").unwrap();
    let o = bin()
        .arg("profile")
        .arg(&req)
        .arg("--out")
        .arg(&out)
        .args(["--total-gpus", "4", "--itl", "40"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("ignored: spec.profilingConfig.profilerImage"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ignored: spec.deploymentOverrides"),
        "{stdout}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["request"]["form"], "older");
    assert_eq!(summary["request"]["total_gpus"], 4);
    assert_eq!(summary["request"]["itl_ms"], 40.0);
    assert!(summary["chosen"]["gpus"].as_u64().unwrap() <= 4);
    let agg = std::fs::read_to_string(out.join("dgd-agg.yaml")).unwrap_or_default();
    assert_ne!(agg, "stale");

    // Bad input: an error naming the field, no panic.
    std::fs::write(&req, OLDER.replace("itl: 30.0", "itl: soon")).unwrap();
    let o = bin()
        .arg("profile")
        .arg(&req)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("spec.profilingConfig.config.sla.itl"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    std::fs::write(&req, "spec: {model: Qwen/Qwen3-32B-FP8, backend: vllm}").unwrap();
    let o = bin()
        .arg("profile")
        .arg(&req)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("spec.hardware.gpuSku: missing"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

fn request(ttft: f64, itl: f64) -> ProfileRequest {
    let text =
        std::fs::read_to_string(root().join("scenarios/profile-qwen3-32b-h200.yaml")).unwrap();
    ProfileRequest::from_yaml_str(
        &text,
        "req",
        &Overrides {
            ttft_ms: Some(ttft),
            itl_ms: Some(itl),
            ..Overrides::default()
        },
    )
    .unwrap()
}

#[test]
fn unreachable_slos_give_the_closest_configuration_and_the_miss() {
    // No GPU prefills 4000 tokens in 5 ms.
    let o = profile(request(5.0, 30.0), ProfileMode::Fast, &Quiet).unwrap();
    assert!(!o.chosen.meets_slo());
    let m = &o.chosen.misses;
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].slo, "ttft");
    assert!(m[0].estimate > 5.0 && m[0].over > 1.0, "{m:?}");
    // The closest is at least as close as every other candidate.
    assert!(
        o.candidates
            .iter()
            .all(|c| servesim::profiler::search::rank(&o.chosen, c).is_le())
    );
    // Nor decodes a step in 1 ms.
    let o = profile(request(500.0, 1.0), ProfileMode::Fast, &Quiet).unwrap();
    assert!(
        o.chosen
            .misses
            .iter()
            .any(|m| m.slo == "itl" && m.over > 1.0)
    );
    assert!(o.candidates.iter().all(|c| !c.meets_slo()));
    // Outputs still written.
    let out = tmp("unreachable");
    servesim::profiler::output::write_all(&o, &out).unwrap();
    let s = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(s.contains("no deployment meets both SLOs"), "{s}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn requested_rate_sizes_the_deployment_and_both_modes_are_searched() {
    let mut r = request(500.0, 30.0);
    r.request_rate = Some(2.0);
    let o = profile(r, ProfileMode::Fast, &Quiet).unwrap();
    assert!(o.chosen.meets_slo());
    assert!(o.chosen.gpus < 8, "{:?}", o.chosen);
    assert!((o.chosen.request_rate - 2.0).abs() < 1e-9);
    assert!(o.candidates.iter().any(|c| c.mode == Mode::Aggregated));
    assert!(o.candidates.iter().any(|c| c.mode == Mode::Disaggregated));
    let mut r = request(500.0, 30.0);
    r.concurrency = Some(64);
    let o = profile(r, ProfileMode::Fast, &Quiet).unwrap();
    assert!(o.chosen.meets_slo(), "{:?}", o.chosen);
}

#[test]
fn pareto_rows_are_unique_and_a_queue_that_never_settles_reads_inf() {
    // The shipped request: deployments the batch grid sizes alike are one row each, and a
    // candidate planned at its decode capacity (its queue's mean wait beyond any run) has
    // an infinite TTFT and concurrency, never a figure of 10¹⁷ ms.
    let o = profile(request(500.0, 30.0), ProfileMode::Fast, &Quiet).unwrap();
    let csv = servesim::profiler::output::pareto_csv(&o);
    let mut lines: Vec<&str> = csv.lines().skip(1).collect();
    let n = lines.len();
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(lines.len(), n, "repeated rows");
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (ttft, conc, meets) = (col("ttft_ms"), col("concurrency"), col("meets_slo"));
    let mut unbounded = 0;
    for l in &lines {
        let f: Vec<&str> = l.split(',').collect();
        if f[ttft] == "inf" {
            unbounded += 1;
            assert_eq!((f[conc], f[meets]), ("inf", "false"), "{l}");
        } else if let Ok(v) = f[ttft].parse::<f64>() {
            assert!(v < 1e9, "{l}");
        }
    }
    assert!(
        unbounded > 0,
        "the shipped request has candidates at their capacity"
    );
    assert!(
        o.points
            .iter()
            .all(|p| p.candidate.ttft_ms.is_finite() || !p.candidate.meets_slo())
    );
}

#[test]
fn a_load_beyond_the_budget_is_carried_and_misses_the_budget_alone() {
    // 5,000 users on 8 GPUs: a disaggregated candidate carries every user (Little's law over
    // their cycle), its prefill pool sized for them as its decode pool is, so the closest
    // deployment misses the GPU budget alone and says how many GPUs the users need.
    let only_gpus = |c: &servesim::profiler::Candidate| {
        c.misses.len() == 1 && c.misses[0].slo == "gpus" && c.gpus > 8
    };
    let mut r = request(500.0, 30.0);
    r.concurrency = Some(5_000);
    let o = profile(r, ProfileMode::Fast, &Quiet).unwrap();
    let disagg: Vec<_> = o
        .candidates
        .iter()
        .filter(|c| c.mode == Mode::Disaggregated && c.request_rate > 0.0)
        .collect();
    assert!(!disagg.is_empty());
    for c in &disagg {
        assert!(c.concurrency >= 5_000.0 * (1.0 - 1e-9), "{c:?}");
    }
    assert!(disagg.iter().any(|c| only_gpus(c)), "{disagg:?}");
    assert!(only_gpus(&o.chosen), "{:?}", o.chosen);
    // 200 requests/s likewise: the prefill workers carry the rate (no queue without end).
    let mut r = request(500.0, 30.0);
    r.request_rate = Some(200.0);
    let o = profile(r, ProfileMode::Fast, &Quiet).unwrap();
    assert!(only_gpus(&o.chosen), "{:?}", o.chosen);
    // Said as the budget it misses, not as a missed SLO.
    assert!(
        o.choice
            .reason
            .contains("within the request's GPUs and nodes")
            && o.choice
                .reason
                .contains(&format!("meets them on {} GPUs", o.chosen.gpus)),
        "{}",
        o.choice.reason
    );
    let best = o
        .candidates
        .iter()
        .find(|c| c.mode == Mode::Disaggregated)
        .unwrap();
    assert!(only_gpus(best), "{best:?}");
    assert!(best.prefill.unwrap().workers > 9, "{best:?}");
    // A TTFT target of 100 ms met on more GPUs is closer than one missed on fewer: the
    // answer to how many GPUs the load needs (and every sampled batch competed for it).
    let mut r = request(100.0, 30.0);
    r.request_rate = Some(200.0);
    let o = profile(r, ProfileMode::Fast, &Quiet).unwrap();
    assert!(only_gpus(&o.chosen), "{:?}", o.chosen);
    assert!(o.chosen.ttft_ms <= 100.0, "{:?}", o.chosen);
}

#[test]
fn a_closed_loop_of_users_is_timed_at_the_users_it_holds() {
    // 64 users, each sending again as its answer ends: every deployment holds them all
    // (Little's law over the cycle its figures give), a disaggregated one exactly (its
    // cycle is the sum of its stages), an aggregated one within its stationary estimate's
    // rounding of the prefill into its mean iteration; and a decode worker has a slot for
    // each user it is dealt, so none waits for one.
    let mut r = request(500.0, 30.0);
    r.concurrency = Some(64);
    let o = profile(r, ProfileMode::Fast, &Quiet).unwrap();
    let timed: Vec<_> = o
        .candidates
        .iter()
        .filter(|c| c.ttft_ms.is_finite() && c.request_rate > 0.0)
        .collect();
    assert!(timed.iter().any(|c| c.mode == Mode::Disaggregated));
    assert!(timed.iter().any(|c| c.mode == Mode::Aggregated));
    for c in timed {
        match &c.decode {
            Some(decode) => {
                assert!((c.concurrency - 64.0).abs() < 1e-6, "{c:?}");
                assert!(c.batch >= 64u32.div_ceil(decode.workers), "{c:?}");
            }
            None => assert!((64.0..64.0 * 1.1).contains(&c.concurrency), "{c:?}"),
        }
    }
}

#[test]
fn every_candidate_reports_the_concurrency_of_its_own_ttft_and_itl() {
    // Little's law: requests in flight = rate × life, a life being the TTFT and then every
    // decode step at the candidate's ITL; the same number of steps whatever the mode.
    let o = profile(request(500.0, 30.0), ProfileMode::Fast, &Quiet).unwrap();
    let steps: Vec<(Mode, f64)> = o
        .candidates
        .iter()
        .filter(|c| c.ttft_ms.is_finite() && c.request_rate > 0.0)
        .map(|c| {
            (
                c.mode,
                (c.concurrency / c.request_rate * 1e3 - c.ttft_ms) / c.itl_ms,
            )
        })
        .collect();
    assert!(steps.iter().any(|(m, _)| *m == Mode::Disaggregated));
    assert!(steps.iter().any(|(m, _)| *m == Mode::Aggregated));
    let first = steps[0].1;
    assert!(first > 1.0, "{steps:?}");
    for (mode, s) in &steps {
        assert!(
            (s - first).abs() < 1e-6 * first,
            "{mode:?}: {s} steps, not {first}"
        );
    }
}

#[test]
fn simulate_mode_compares_the_top_candidates_with_the_simulator() {
    // At a moderate requested rate (Poisson, as the fast model assumes), away from the
    // TTFT target's cliff.
    let mut r = request(500.0, 30.0);
    r.request_rate = Some(8.0);
    let o = profile(r, ProfileMode::Simulate, &Quiet).unwrap();
    // summary.json spells the mode as the CLI and Python take it.
    let summary = servesim::profiler::output::summary_json(&o);
    assert_eq!(summary["mode"], ProfileMode::Simulate.as_str());
    assert_eq!(o.comparisons.len(), 5);
    // The simulated figures decide: the chosen is the first of the simulated candidates
    // re-ranked by them, with them.
    assert_eq!(o.choice.judged_by, "simulation");
    let sim = o
        .comparisons
        .iter()
        .find(|c| c.label == o.chosen.label())
        .unwrap();
    assert_eq!(Some(o.chosen.itl_ms), sim.sim_itl_ms);
    assert_eq!(o.chosen.tokens_per_s_per_gpu, sim.sim_tokens_per_s_per_gpu);
    for c in &o.comparisons {
        let (ttft, itl) = (c.sim_ttft_ms.unwrap(), c.sim_itl_ms.unwrap());
        if ttft <= 500.0 && itl <= 30.0 {
            assert!(o.chosen.meets_slo());
            assert!(c.sim_tokens_per_s_per_gpu <= o.chosen.tokens_per_s_per_gpu + 1e-9);
        }
        // Each says which targets its simulation misses, as the re-ranking judged them.
        let missed = [("TTFT", ttft > 500.0), ("ITL", itl > 30.0)]
            .into_iter()
            .filter(|m| m.1)
            .map(|m| m.0)
            .collect::<Vec<_>>();
        let said = c.sim_miss_text(&o.request);
        match missed[..] {
            [] => assert_eq!(said, "", "{c:?}"),
            _ => assert_eq!(
                said,
                format!("misses {} in simulation", missed.join(" and "))
            ),
        }
    }
    // Both modes are simulated, so the simulation can re-rank them.
    for m in ["agg", "disagg"] {
        assert!(o.comparisons.iter().any(|c| c.label.starts_with(m)));
    }
    for c in &o.comparisons {
        let cand = o.candidates.iter().find(|x| x.label() == c.label).unwrap();
        assert_eq!(c.label, cand.label());
        assert!(c.workload.starts_with("Poisson 8 req/s"), "{}", c.workload);
        let (ttft, itl) = (c.sim_ttft_ms.unwrap(), c.sim_itl_ms.unwrap());
        assert!(ttft > 0.0 && itl > 0.0 && c.sim_tokens_per_s_per_gpu > 0.0);
        // Disagreements are flagged exactly when a figure is more than 10 % off.
        let off = (c.fast_itl_ms - itl).abs() / itl > servesim::profiler::simulate::DISAGREEMENT;
        assert_eq!(c.disagreements.iter().any(|d| d == "itl"), off, "{c:?}");
        // The seeds' own means bracket the pooled one; a disagreement is called within
        // their spread only where the fast figure lies inside it.
        for (mean, seeds) in [(ttft, c.sim_ttft_ms_seeds), (itl, c.sim_itl_ms_seeds)] {
            let [lo, hi] = seeds.unwrap();
            assert!(lo <= mean + 1e-9 && mean <= hi + 1e-9, "{c:?}");
        }
        for d in &c.within_seed_spread {
            assert!(c.disagreements.contains(d), "{c:?}");
            let ([lo, hi], fast) = match d.as_str() {
                "ttft" => (c.sim_ttft_ms_seeds.unwrap(), c.fast_ttft_ms),
                _ => (c.sim_itl_ms_seeds.unwrap(), c.fast_itl_ms),
            };
            assert!(lo <= fast && fast <= hi, "{c:?}");
        }
    }
    // Decode ITL is what the fast model and the simulator share most directly: within
    // 20 % everywhere (the aggregated mixed-batch estimate is the loosest, 10–15 % here).
    assert!(
        o.comparisons.iter().all(|c| {
            let itl = c.sim_itl_ms.unwrap();
            (c.fast_itl_ms - itl).abs() / itl <= 0.2
        }),
        "{:?}",
        o.comparisons
    );
    // Without a rate, each candidate is simulated at the rate the fast model planned it for.
    let o = profile(request(500.0, 30.0), ProfileMode::Simulate, &Quiet).unwrap();
    for c in &o.comparisons {
        let cand = o.candidates.iter().find(|x| x.label() == c.label).unwrap();
        let planned = format!("Poisson {} req/s", (cand.request_rate * 1e3).round() / 1e3);
        assert_eq!(c.workload, planned);
    }
    // On the shipped case the fast model agrees with the simulator within 10 % on TTFT,
    // ITL and throughput of every one of its top five.
    assert_all_agree(&o.comparisons);
}

/// Every comparison within [`servesim::profiler::simulate::DISAGREEMENT`] on every figure.
fn assert_all_agree(comparisons: &[servesim::profiler::simulate::Comparison]) {
    assert_eq!(comparisons.len(), 5, "{comparisons:?}");
    for c in comparisons {
        assert!(c.disagreements.is_empty(), "{c:?}");
    }
}

#[test]
fn on_a_second_dense_case_the_fast_model_agrees_with_the_simulation() {
    // Llama-3.1-70B on 8 × H200 under vLLM: aggregated and disaggregated candidates, TP2 to
    // TP8, both TTFT-bound and ITL-bound.
    let text =
        std::fs::read_to_string(root().join("scenarios/profile-llama3-70b-h200.yaml")).unwrap();
    let r = ProfileRequest::from_yaml_str(&text, "req", &Overrides::default()).unwrap();
    let o = profile(r, ProfileMode::Simulate, &Quiet).unwrap();
    assert_all_agree(&o.comparisons);
}

#[test]
fn the_choice_rule_is_configurable_and_said() {
    let with = |prefer: Prefer| {
        let text =
            std::fs::read_to_string(root().join("scenarios/profile-qwen3-32b-h200.yaml")).unwrap();
        let o = Overrides {
            prefer: Some(prefer),
            ..Overrides::default()
        };
        profile(
            ProfileRequest::from_yaml_str(&text, "req", &o).unwrap(),
            ProfileMode::Fast,
            &Quiet,
        )
        .unwrap()
    };
    // goodput: the first by rank, whichever mode; summary.json's better mode is its mode.
    let g = with(Prefer::Goodput);
    assert_eq!(g.chosen, g.candidates[0]);
    let summary = servesim::profiler::output::summary_json(&g);
    assert_eq!(summary["better_mode"], summary["chosen"]["mode"]);
    assert_eq!(summary["choice"]["judged_by"], "fast");
    // A preferred mode wins over more goodput of the other, and the reason says so.
    for (prefer, mode) in [
        (Prefer::Agg, Mode::Aggregated),
        (Prefer::Disagg, Mode::Disaggregated),
    ] {
        let o = with(prefer);
        assert_eq!(o.chosen.mode, mode);
        assert!(o.chosen.meets_slo());
        let best = o.candidates.iter().find(|c| c.mode == mode).unwrap();
        assert_eq!(&o.chosen, best);
        assert!(
            o.choice.reason.contains(&format!("--prefer {prefer}")),
            "{}",
            o.choice.reason
        );
        if o.chosen != g.chosen {
            assert!(
                o.choice.reason.contains("more, but not preferred"),
                "{}",
                o.choice.reason
            );
        }
    }
}

#[test]
fn nothing_meeting_the_slos_exits_non_zero_with_the_outputs_written() {
    let out = tmp("unmet");
    let o = bin()
        .arg("profile")
        .arg(root().join("scenarios/profile-qwen3-32b-h200.yaml"))
        .arg("--out")
        .arg(&out)
        .args(["--ttft", "5"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stdout.contains("NO DEPLOYMENT MEETS BOTH SLOs ("),
        "{stdout}"
    );
    assert!(
        stderr.contains("no deployment meets both SLOs")
            && stderr.contains(&out.join("dgd.yaml").display().to_string()),
        "{stderr}"
    );
    assert!(out.join("dgd.yaml").is_file() && out.join("report.html").is_file());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("No deployment meets both SLOs"));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn pinned_tp_sizes_are_the_only_ones_searched() {
    let text =
        std::fs::read_to_string(root().join("scenarios/profile-qwen3-32b-h200.yaml")).unwrap();
    let pins = TpPins {
        prefill: Some(2),
        decode: Some(4),
        aggregated: Some(8),
    };
    let o = Overrides {
        pins,
        ..Overrides::default()
    };
    let r = ProfileRequest::from_yaml_str(&text, "req", &o).unwrap();
    let o = profile(r, ProfileMode::Fast, &Quiet).unwrap();
    for c in o.points.iter().map(|p| &p.candidate).chain(&o.candidates) {
        match c.mode {
            Mode::Disaggregated => {
                assert_eq!(
                    (c.prefill.unwrap().split.tp, c.decode.unwrap().split.tp),
                    (2, 4)
                )
            }
            Mode::Aggregated => assert_eq!(c.aggregated.unwrap().split.tp, 8),
        }
    }
    assert!(o.candidates.iter().any(|c| c.mode == Mode::Aggregated));
    assert!(o.candidates.iter().any(|c| c.mode == Mode::Disaggregated));
    // Through the CLI; a size never searched is an error naming the flag.
    let out = tmp("pins");
    let run = |extra: &[&str]| {
        bin()
            .arg("profile")
            .arg(root().join("scenarios/profile-qwen3-32b-h200.yaml"))
            .arg("--out")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    let ok = run(&["--prefill-tp", "1", "--decode-tp", "2"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["request"]["pins"]["prefill"], 1);
    for c in summary["candidates"].as_array().unwrap() {
        if c["mode"] == "disaggregated" {
            assert_eq!(
                (c["prefill"]["tp"].as_u64(), c["decode"]["tp"].as_u64()),
                (Some(1), Some(2))
            );
        }
    }
    for (flag, value) in [
        ("--prefill-tp", "3"),
        ("--agg-tp", "16"),
        ("--decode-tp", "0"),
    ] {
        let bad = run(&[flag, value]);
        let err = String::from_utf8_lossy(&bad.stderr);
        assert_eq!(bad.status.code(), Some(1), "{err}");
        assert!(err.starts_with(&format!("error: {flag}")), "{err}");
    }
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn a_mixture_of_experts_is_searched_with_expert_and_attention_data_parallelism() {
    let text = std::fs::read_to_string(root().join("scenarios/profile-qwen3-32b-h200.yaml"))
        .unwrap()
        .replace("Qwen/Qwen3-32B-FP8", "openai/gpt-oss-120b");
    let r = ProfileRequest::from_yaml_str(&text, "req", &Overrides::default()).unwrap();
    let o = profile(r, ProfileMode::Fast, &Quiet).unwrap();
    // Every split is sampled: plain TP, experts spread over the TP group, attention replicas.
    let splits: std::collections::BTreeSet<String> = o
        .points
        .iter()
        .flat_map(|p| {
            [
                p.candidate.prefill,
                p.candidate.decode,
                p.candidate.aggregated,
            ]
        })
        .flatten()
        .map(|s| s.split.label())
        .collect();
    for s in ["TP4", "TP4EP4", "DP4EP4", "DP8EP8"] {
        assert!(splits.contains(s), "{s} not in {splits:?}");
    }
    // Each worker of the DGD asks for the GPUs its split holds, in vLLM's own arguments.
    for c in o.candidates.iter().take(5) {
        let dgd = servesim::profiler::dgd::dgd(&o, c, "/data/profiling_results");
        let services = dgd["spec"]["services"].as_object().unwrap();
        for (name, s) in services.iter().filter(|(n, _)| n.starts_with("Vllm")) {
            let args: Vec<&str> = s["extraPodSpec"]["mainContainer"]["args"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|a| a.as_str())
                .collect();
            let value = |flag: &str| {
                args.iter()
                    .position(|a| *a == flag)
                    .map_or(1, |i| args[i + 1].parse::<u32>().unwrap())
            };
            let gpus = value("--tensor-parallel-size") * value("--data-parallel-size");
            assert_eq!(
                s["resources"]["limits"]["gpu"].as_str(),
                Some(gpus.to_string().as_str()),
                "{name} of {}: {args:?}",
                c.label()
            );
            let pool = match name.as_str() {
                "VllmPrefillWorker" => c.prefill,
                "VllmDecodeWorker" => c.decode,
                _ => c.aggregated,
            }
            .unwrap();
            assert_eq!(pool.split.gpus(), gpus, "{name} of {}", c.label());
            assert_eq!(
                args.contains(&"--enable-expert-parallel"),
                pool.split.ep > 1,
                "{name} of {}: {args:?}",
                c.label()
            );
        }
    }
}

/// A pinned size is GPUs a worker, whatever its split: `--decode-tp 4` searches TP4, TP4EP4
/// and DP4EP4 decode workers of a mixture of experts, and nothing else.
#[test]
fn a_pinned_size_counts_the_workers_gpus() {
    let text = std::fs::read_to_string(root().join("scenarios/profile-qwen3-32b-h200.yaml"))
        .unwrap()
        .replace("Qwen/Qwen3-32B-FP8", "openai/gpt-oss-120b");
    let pins = TpPins {
        decode: Some(4),
        ..TpPins::default()
    };
    let over = Overrides {
        pins,
        ..Overrides::default()
    };
    let r = ProfileRequest::from_yaml_str(&text, "req", &over).unwrap();
    let o = profile(r, ProfileMode::Fast, &Quiet).unwrap();
    let decode: std::collections::BTreeSet<String> = (o.points.iter())
        .filter_map(|p| p.candidate.decode)
        .map(|d| d.split.label())
        .collect();
    assert_eq!(
        decode,
        ["DP4EP4", "TP4", "TP4EP4"].map(String::from).into(),
        "{decode:?}"
    );
}

/// SGLang gives each DP-attention rank `chunked_prefill_size // dp`: the DGD asks for the
/// default (8,192 on an H200) times the ranks, as the search planned each rank.
#[test]
fn sglang_dp_attention_workers_are_asked_for_a_rank_s_chunk_each() {
    let text = std::fs::read_to_string(root().join("scenarios/profile-qwen3-32b-h200.yaml"))
        .unwrap()
        .replace("Qwen/Qwen3-32B-FP8", "openai/gpt-oss-120b")
        .replace("backend: vllm", "backend: sglang");
    let r = ProfileRequest::from_yaml_str(&text, "req", &Overrides::default()).unwrap();
    let o = profile(r, ProfileMode::Fast, &Quiet).unwrap();
    let mut seen = 0;
    for c in &o.candidates {
        let dgd = servesim::profiler::dgd::dgd(&o, c, "/data/profiling_results");
        for (name, pool) in [
            ("SGLangPrefillWorker", c.prefill),
            ("SGLangWorker", c.aggregated),
        ] {
            let Some(pool) = pool else { continue };
            let args: Vec<&str> =
                dgd["spec"]["services"][name]["extraPodSpec"]["mainContainer"]["args"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|a| a.as_str())
                    .collect();
            let chunk = args
                .iter()
                .position(|a| *a == "--chunked-prefill-size")
                .map(|i| args[i + 1].parse::<u32>().unwrap());
            if pool.split.attention_dp > 1 {
                assert_eq!(chunk, Some(8192 * pool.split.attention_dp), "{args:?}");
                seen += 1;
            } else {
                assert_eq!(chunk, None, "{args:?}");
            }
        }
    }
    assert!(seen > 0, "no candidate prefills with DP attention");
}

/// Under attention DP a request lives on one rank: a worker whose ranks each hold less than
/// it is not searched, however much the worker holds in all.
#[test]
fn a_request_must_fit_one_attention_rank() {
    let text = "
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeploymentRequest
metadata: {name: mav}
spec:
  model: meta-llama/Llama-4-Maverick-17B-128E-Instruct
  backend: trtllm
  sla: {ttft: 20000, itl: 100}
  workload: {isl: 200000, osl: 1000}
  hardware: {gpuSku: h200_sxm, totalGpus: 8, numGpusPerNode: 8}
";
    let r = ProfileRequest::from_yaml_str(text, "req", &Overrides::default()).unwrap();
    let o = profile(r, ProfileMode::Fast, &Quiet).unwrap();
    let dp8 = o.skipped.iter().find(|s| s.starts_with("DP8EP8:"));
    assert!(
        dp8.is_some_and(|s| s.contains("a rank) holds no request of 201000 tokens")),
        "{:?}",
        o.skipped
    );
    // TP8 holds the whole worker's cache for one sequence: it is searched.
    assert!(
        !o.skipped.iter().any(|s| s.starts_with("TP8:")),
        "{:?}",
        o.skipped
    );
}

const WIDE_EP: &str = "
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeploymentRequest
metadata: {name: dsr1-gb200}
spec:
  model: deepseek-ai/DeepSeek-R1
  backend: trtllm
  sla: {ttft: 2000, itl: 50}
  workload: {isl: 4000, osl: 1000}
  hardware: {gpuSku: gb200, totalGpus: 72, numGpusPerNode: 4}
";

/// Writing out the default engine width of an NVL72 rack (72 GPUs) is no error.
#[test]
fn an_nvl72_engine_may_be_as_wide_as_its_rack() {
    let text = format!(
        "{WIDE_EP}  profilingConfig:\n    config:\n      hardware: {{max_num_gpus_per_engine: 72}}\n"
    );
    assert!(ProfileRequest::from_yaml_str(&text, "req", &Overrides::default()).is_ok());
    let over = text.replace(": 72}", ": 80}");
    let e = ProfileRequest::from_yaml_str(&over, "req", &Overrides::default()).unwrap_err();
    assert!(e.to_string().contains("in 1..=72, got 80"), "{e}");
}

/// On a GB200 NVL72 rack the search reaches wide-EP workers across trays, and a worker wider
/// than a tray is written as a multi-node service with its per-rank batch.
#[test]
fn wide_ep_workers_span_trays_of_an_nvl72_rack_in_the_search_and_the_dgd() {
    let out = tmp("wide-ep");
    std::fs::create_dir_all(&out).unwrap();
    let request = out.join("r1.yaml");
    std::fs::write(&request, WIDE_EP).unwrap();
    profile_ok(&request, &out.join("p"));
    let pareto = std::fs::read_to_string(out.join("p/pareto.csv")).unwrap();
    for split in ["DP16EP16", "DP32EP32", "DP64EP64"] {
        assert!(pareto.contains(split), "{split} not searched");
    }
    let dgd: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(out.join("p/dgd.yaml")).unwrap()).unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("p/summary.json")).unwrap())
            .unwrap();
    let decode = &summary["chosen"]["decode"];
    let (dp, gpus) = (
        decode["attention_dp"].as_u64().unwrap(),
        decode["tp"].as_u64().unwrap() * decode["attention_dp"].as_u64().unwrap(),
    );
    let worker = &dgd["spec"]["services"]["TRTLLMDecodeWorker"];
    let limit: u64 = worker["resources"]["limits"]["gpu"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    if gpus > 4 {
        assert_eq!(worker["multinode"]["nodeCount"].as_u64(), Some(gpus / 4));
        assert_eq!(limit, 4);
    } else {
        assert!(worker["multinode"].is_null());
        assert_eq!(limit, gpus);
    }
    let args: Vec<&str> = worker["extraPodSpec"]["mainContainer"]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let at = args.iter().position(|&a| a == "--max-batch-size").unwrap();
    let batch = summary["chosen"]["batch"].as_u64().unwrap();
    let per_rank = batch.div_ceil(dp);
    assert_eq!(args[at + 1], per_rank.to_string(), "per rank");
    // The engine's overrides: attention replicas, and CUDA graphs of a rank's batch, padded.
    let at = args
        .iter()
        .position(|&a| a == "--override-engine-args")
        .unwrap();
    let o: serde_json::Value = serde_json::from_str(args[at + 1]).unwrap();
    assert_eq!(o["enable_attention_dp"].as_bool(), (dp > 1).then_some(true));
    assert_eq!(o["cuda_graph_config"]["enable_padding"], true);
    let sizes = o["cuda_graph_config"]["batch_sizes"].as_array().unwrap();
    assert!(sizes.contains(&serde_json::json!(per_rank)), "{o}");
}

#[test]
fn under_tensorrt_llm_the_fast_model_and_the_simulation_run_the_same_cuda_graphs() {
    // TensorRT-LLM's own defaults capture 1-32, 64 and 128 unpadded; the DGD captures what
    // Dynamo's profiler does, so no decode step of the simulated workers runs eagerly where
    // the fast model assumed a graph.
    let mut r = request(500.0, 30.0);
    r.backend = servesim_models::backend::Backend::Trtllm;
    r.request_rate = Some(8.0);
    let o = profile(r, ProfileMode::Simulate, &Quiet).unwrap();
    for c in &o.comparisons {
        let itl = c.sim_itl_ms.unwrap();
        assert!(
            (c.fast_itl_ms - itl).abs() / itl <= servesim::profiler::simulate::DISAGREEMENT,
            "{c:?}"
        );
    }
}

#[test]
fn the_choice_says_which_kernels_its_figures_lean_on() {
    let text =
        std::fs::read_to_string(root().join("scenarios/profile-qwen3-32b-h200.yaml")).unwrap();
    let with = |o: Overrides| {
        profile(
            ProfileRequest::from_yaml_str(&text, "req", &o).unwrap(),
            ProfileMode::Fast,
            &Quiet,
        )
        .unwrap()
    };
    // Qwen3-32B under vLLM on H200: measured throughout.
    assert_eq!(with(Overrides::default()).kernels, None);
    // gpt-oss-120b under TensorRT-LLM on H200, whose MXFP4 MoE rows are gpt-oss-20b's: its
    // MoE layers are timed from H100's rows of them.
    let o = with(Overrides {
        model: Some("openai/gpt-oss-120b".into()),
        backend: Some("trtllm".into()),
        ..Overrides::default()
    });
    let k = o.kernels.clone().unwrap_or_default();
    assert!(k.contains("MoE layers (w4a16_mxfp4, 128 experts"), "{k}");
    let out = tmp("kernels");
    servesim::profiler::output::write_all(&o, &out).unwrap();
    let s = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(
        s.contains("\"kernels\": \"timed from h100_sxm's measured rows of their kind"),
        "{s}"
    );
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn an_engine_may_span_nodes_where_the_request_allows_it() {
    // DeepSeek-V3 (671 GB of weights) fits no node of eight H100s.
    let text = "apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeploymentRequest
metadata: {name: dsv3-h100}
spec:
  model: deepseek-ai/DeepSeek-V3
  backend: trtllm
  sla: {ttft: 2000, itl: 50}
  workload: {isl: 4000, osl: 1000}
  hardware: {gpuSku: h100_sxm, totalGpus: 32, numGpusPerNode: 8}
";
    let r = ProfileRequest::from_yaml_str(text, "req", &Overrides::default()).unwrap();
    let Err(e) = profile(r, ProfileMode::Fast, &Quiet) else {
        panic!("DeepSeek-V3 served on one node of H100s")
    };
    let e = e.to_string();
    assert!(
        e.contains("no TP size up to 8 serves")
            && e.contains("spec.profilingConfig.config.hardware.max_num_gpus_per_engine"),
        "{e}"
    );
    let allowing = |gpus: u32| {
        format!(
            "{text}  profilingConfig:\n    config:\n      hardware: {{max_num_gpus_per_engine: \
             {gpus}}}\n"
        )
    };
    let e = ProfileRequest::from_yaml_str(&allowing(12), "req", &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("max_num_gpus_per_engine: 12: an engine wider than one NVLink domain"),
        "{e}"
    );
    let r = ProfileRequest::from_yaml_str(&allowing(16), "req", &Overrides::default()).unwrap();
    let o = profile(r, ProfileMode::Fast, &Quiet).unwrap();
    let c = &o.candidates[0];
    let widest = [c.prefill, c.decode, c.aggregated]
        .into_iter()
        .flatten()
        .map(|p| p.split.gpus())
        .max()
        .unwrap();
    assert_eq!(widest, 16, "{}", c.label());
    // Each 16-GPU worker of the DGD is declared on two nodes of eight.
    let dgd = servesim::profiler::dgd::dgd(&o, c, "/data/profiling_results");
    let services = dgd["spec"]["services"].as_object().unwrap();
    let wide: Vec<_> = services
        .values()
        .filter(|s| s["multinode"]["nodeCount"].as_u64() == Some(2))
        .collect();
    assert!(!wide.is_empty(), "{dgd}");
    for s in wide {
        assert_eq!(s["resources"]["limits"]["gpu"].as_str(), Some("8"));
    }
}

#[test]
fn what_the_dgd_cannot_carry_is_refused_or_said() {
    let text = |model: &str, isl: u32, extra: &str| {
        format!(
            "apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeploymentRequest
metadata: {{name: checks}}
spec:
  model: {model}
  backend: vllm
  sla: {{ttft: 2000, itl: 50}}
  workload: {{isl: {isl}, osl: 500}}
  hardware: {{gpuSku: h200_sxm, totalGpus: 12, numGpusPerNode: 6}}
{extra}"
        )
    };
    // A request longer than the model's context names both lengths.
    let e = ProfileRequest::from_yaml_str(
        &text("Qwen/Qwen3-32B-FP8", 60_000, ""),
        "req",
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("isl + osl: a request of 60000 input and 500 output tokens is longer than"),
        "{e}"
    );
    // A built-in's short name sizes the model but is no checkpoint a worker can load: said.
    let r =
        ProfileRequest::from_yaml_str(&text("qwen3-32b", 4000, ""), "req", &Overrides::default())
            .unwrap();
    assert!(
        r.assumed
            .iter()
            .any(|a| a.contains("'qwen3-32b', which is not a Hugging Face id")),
        "{:?}",
        r.assumed
    );
    let r = ProfileRequest::from_yaml_str(
        &text("Qwen/Qwen3-32B-FP8", 4000, ""),
        "req",
        &Overrides::default(),
    )
    .unwrap();
    assert!(r.assumed.is_empty(), "{:?}", r.assumed);
    // In an NVL72 rack of trays of three GPUs (as a user may declare them), engines of four
    // or eight would split unevenly over trays: not searched, and said.
    let trays = text("Qwen/Qwen3-32B-FP8", 4000, "")
        .replace("gpuSku: h200_sxm", "gpuSku: gb200")
        .replace("numGpusPerNode: 6", "numGpusPerNode: 3");
    let r = ProfileRequest::from_yaml_str(&trays, "req", &Overrides::default()).unwrap();
    let o = profile(r, ProfileMode::Fast, &Quiet).unwrap();
    assert!(
        o.candidates
            .iter()
            .all(|c| [c.prefill, c.decode, c.aggregated]
                .into_iter()
                .flatten()
                .all(|p| p.split.gpus() <= 3)),
        "a worker over part of a tray"
    );
    assert!(
        o.skipped
            .iter()
            .any(|s| s.contains("4 GPUs do not fill whole nodes of 3")),
        "{:?}",
        o.skipped
    );
}

#[test]
fn each_disaggregated_pair_is_its_best_sampled_batch_within_the_slos() {
    // Qwen3-32B under SGLang. Each pair's deployment was its decode batch most productive
    // alone, and a smaller batch of the same pair could rank better as a whole deployment
    // (2×TP2 + 3×TP1: b46 over b51).
    let text = std::fs::read_to_string(root().join("scenarios/profile-qwen3-32b-h200.yaml"))
        .unwrap()
        .replace("backend: vllm", "backend: sglang");
    let r = ProfileRequest::from_yaml_str(&text, "req", &Overrides::default()).unwrap();
    let o = profile(r, ProfileMode::Fast, &Quiet).unwrap();
    let splits =
        |c: &servesim::profiler::Candidate| (c.prefill.map(|p| p.split), c.decode.map(|d| d.split));
    let mut pairs = 0;
    for c in o
        .candidates
        .iter()
        .filter(|c| c.mode == Mode::Disaggregated)
    {
        pairs += 1;
        for p in o.points.iter().map(|p| &p.candidate) {
            if p.mode == Mode::Disaggregated && splits(p) == splits(c) && p.meets_slo() {
                assert!(
                    servesim::profiler::search::rank(c, p).is_le(),
                    "{} ranks below a sampled {}",
                    c.label(),
                    p.label()
                );
            }
        }
    }
    assert!(pairs > 1, "{pairs}");
}

#[test]
fn the_simulation_runs_on_the_requests_nodes() {
    // A TP8 worker on 4-GPU nodes spans two: the fast search times its all-reduces across
    // InfiniBand, and so must the simulation (it ran on the datasheet's 8-GPU nodes, at
    // 12.6 ms against 29.7 fast).
    let text = std::fs::read_to_string(root().join("scenarios/profile-qwen3-32b-h200.yaml"))
        .unwrap()
        .replace(
            "numGpusPerNode: 8",
            "numGpusPerNode: 4\n  profilingConfig: {config: {hardware: {max_num_gpus_per_engine: 8}}}",
        );
    let o = Overrides {
        prefer: Some(Prefer::Agg),
        pins: TpPins {
            prefill: Some(8),
            decode: Some(8),
            aggregated: Some(8),
        },
        ..Overrides::default()
    };
    let r = ProfileRequest::from_yaml_str(&text, "req", &o).unwrap();
    let o = profile(r, ProfileMode::Simulate, &Quiet).unwrap();
    let c = &o.comparisons[0];
    let sim = c.sim_itl_ms.unwrap();
    assert!((sim / c.fast_itl_ms - 1.0).abs() < 0.1, "{c:?}");
}

#[test]
fn workers_fit_the_requests_nodes() {
    // 12 GPUs in nodes of 6 hold two TP4 workers, not three: a worker never straddles two
    // nodes. Three were proposed, and `--mode simulate` failed on placing them.
    let text = std::fs::read_to_string(root().join("scenarios/profile-qwen3-32b-h200.yaml"))
        .unwrap()
        .replace("totalGpus: 8", "totalGpus: 12")
        .replace("numGpusPerNode: 8", "numGpusPerNode: 6");
    let o = Overrides {
        prefer: Some(Prefer::Agg),
        pins: TpPins {
            aggregated: Some(4),
            ..TpPins::default()
        },
        ..Overrides::default()
    };
    let r = ProfileRequest::from_yaml_str(&text, "req", &o).unwrap();
    let fast = profile(r.clone(), ProfileMode::Fast, &Quiet).unwrap();
    assert_eq!(
        fast.chosen.aggregated.unwrap().workers,
        2,
        "{}",
        fast.chosen.label()
    );
    for c in fast.points.iter().map(|p| &p.candidate) {
        if let Some(a) = c.aggregated {
            assert!(a.workers <= 2 || !c.meets_slo(), "{}", c.label());
        }
    }
    profile(r, ProfileMode::Simulate, &Quiet).unwrap();
}

#[test]
fn an_idle_aggregated_worker_keeps_no_prompt_waiting() {
    // Four-token answers at one request a second: a TP1 worker is mostly idle, and an
    // arrival waits for at most the prompts in flight. At a count's own utilisation the
    // M/D/1 wait had put the fast TTFT at 2,011 ms against 322 simulated.
    let o = Overrides {
        osl: Some(4),
        request_rate: Some(1.0),
        prefer: Some(Prefer::Agg),
        pins: TpPins {
            prefill: Some(1),
            decode: Some(1),
            aggregated: Some(1),
        },
        ..Overrides::default()
    };
    let text =
        std::fs::read_to_string(root().join("scenarios/profile-qwen3-32b-h200.yaml")).unwrap();
    let r = ProfileRequest::from_yaml_str(&text, "req", &o).unwrap();
    let out = profile(r, ProfileMode::Simulate, &Quiet).unwrap();
    let c = (out.comparisons.iter())
        .find(|c| c.label.starts_with("agg"))
        .unwrap();
    let sim = c.sim_ttft_ms.unwrap();
    assert!(c.fast_ttft_ms < 1.5 * sim, "{c:?}");
}

#[test]
fn an_overridden_load_replaces_the_requests_own() {
    // A request asking for 2 requests/s, profiled for 16 users instead: the override's load
    // replaces the request's; both overrides at once are refused, named.
    let dir = std::env::temp_dir().join(format!("servesim-load-override-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(root().join("scenarios/profile-qwen3-32b-h200.yaml"))
        .unwrap()
        .replace("    osl: 500\n", "    osl: 500\n    requestRate: 2\n");
    let file = dir.join("rate.yaml");
    std::fs::write(&file, text).unwrap();
    let users = Overrides {
        concurrency: Some(16),
        ..Overrides::default()
    };
    let r = ProfileRequest::from_file(&file, &users).unwrap();
    assert_eq!((r.request_rate, r.concurrency), (None, Some(16)));
    let both = Overrides {
        request_rate: Some(1.0),
        ..users
    };
    let e = ProfileRequest::from_file(&file, &both)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("--request-rate: given with a concurrency too"),
        "{e}"
    );
    let r = ProfileRequest::from_file(&file, &Overrides::default()).unwrap();
    assert_eq!((r.request_rate, r.concurrency), (Some(2.0), None));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The search sizes Qwen3-32B-FP8's workers with an FP8 KV cache, so the DGD asks each
/// engine for one: its default would keep 16 bits and hold half the tokens.
#[test]
fn the_dgd_asks_for_the_kv_cache_the_workers_were_sized_with() {
    for backend in ["vllm", "sglang", "trtllm"] {
        let mut r = request(500.0, 30.0);
        r.backend = servesim_models::backend::Backend::parse(backend).unwrap();
        let o = profile(r, ProfileMode::Fast, &Quiet).unwrap();
        assert_eq!(o.kv_dtype.name(), "fp8");
        let dgd = servesim::profiler::dgd::dgd(&o, &o.chosen, "/data").to_string();
        let asked = match backend {
            "vllm" => r#""--kv-cache-dtype","fp8""#,
            "sglang" => r#""--kv-cache-dtype","fp8_e4m3""#,
            _ => r#"\"kv_cache_config\":{\"dtype\":\"fp8\""#,
        };
        assert!(dgd.contains(asked), "{backend}: {dgd}");
    }
}

/// A negative target on the command line reaches the check that names the flag.
#[test]
fn a_negative_target_is_refused_by_name() {
    let o = bin()
        .arg("profile")
        .arg(root().join("scenarios/profile-qwen3-32b-h200.yaml"))
        .args(["--out", "unused", "--ttft", "-5"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains("--ttft: must be a latency target"),
        "{stderr}"
    );
}

#[test]
fn a_pin_counts_a_wide_ep_workers_gpus() {
    // A pin is a worker's GPUs, TP × attention DP, as `--help` says: `--decode-tp 16` of
    // DeepSeek-R1 on a GB200 rack pins DEP16 decode workers, which the search had proposed
    // unpinned while the pin was refused (it compared the worker's TP, 1).
    let text = "
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeploymentRequest
metadata: {name: ds}
spec:
  model: deepseek-ai/DeepSeek-R1
  backend: trtllm
  sla: {ttft: 2000, itl: 40}
  workload: {isl: 4000, osl: 1000}
  hardware: {gpuSku: gb200, totalGpus: 72, numGpusPerNode: 4}
";
    let pinned = |decode: u32| Overrides {
        pins: TpPins {
            decode: Some(decode),
            ..TpPins::default()
        },
        ..Overrides::default()
    };
    let r = ProfileRequest::from_yaml_str(text, "req", &pinned(16)).unwrap();
    let o = profile(r, ProfileMode::Fast, &Quiet).unwrap();
    let disagg: Vec<_> = o
        .candidates
        .iter()
        .filter(|c| c.mode == Mode::Disaggregated)
        .collect();
    assert!(!disagg.is_empty());
    for c in disagg {
        let d = c.decode.unwrap().split;
        assert_eq!(d.gpus(), 16, "{}", c.label());
        assert!(d.attention_dp > 1, "{}", c.label());
    }
    // A size no worker has (R1 fits no two GPUs) is refused, naming the flag and the sizes
    // there are.
    let r = ProfileRequest::from_yaml_str(text, "req", &pinned(2)).unwrap();
    let Err(e) = profile(r, ProfileMode::Fast, &Quiet) else {
        panic!("a pin of 2 GPUs was searched");
    };
    let e = e.to_string();
    assert!(
        e.contains("--decode-tp") && e.contains("no worker of 2 GPUs"),
        "{e}"
    );
    assert!(e.contains("16"), "{e}");
}
