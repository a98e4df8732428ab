//! The GB200 NVL72 story (`scenarios/deepseek-r1-gb200.yaml`): DeepSeek-R1 on two racks of
//! 4-GPU trays, prefill workers of two trays and a wide-EP decode worker of eight, placed on
//! whole trays of one rack; the planner scales the prefill pool through the day's peak and
//! burst in whole 8-GPU workers, where a fixed deployment falls behind.

use std::path::Path;

use servesim::{Scenario, run};

fn scenario(policy: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/deepseek-r1-gb200.yaml");
    let s = Scenario::from_file(&path).unwrap();
    servesim::experiment::with_policy(&s, policy, s.seed()).unwrap()
}

#[test]
fn a_wide_ep_decode_worker_on_nvl72_trays_serves_the_day_and_the_planner_scales_prefill() {
    let (fixed, _) = run(&scenario("static")).unwrap();
    let (sla, _) = run(&scenario("sla")).unwrap();
    // The DEP32 decode worker holds 32 GPUs the whole half hour.
    for s in [&fixed, &sla] {
        let decode = s.pools.iter().find(|p| p.name == "decode").unwrap();
        assert!(
            (decode.gpu_hours - 16.0).abs() < 1e-6,
            "{}",
            decode.gpu_hours
        );
    }
    // Prefill is scaled in whole DEP8 workers, within the 144 GPUs of the two racks.
    let started: u32 = sla
        .scaling_events
        .iter()
        .filter(|e| e.pool == "prefill" && e.applied)
        .map(|e| e.started)
        .sum();
    assert!(started > 0, "{:?}", sla.scaling_events);
    let prefill = sla.pools.iter().find(|p| p.name == "prefill").unwrap();
    assert!(
        prefill.peak_workers * 8 + 32 <= 144,
        "{}",
        prefill.peak_workers
    );
    // The fixed 2P1D falls behind at the peak and the burst; the planner keeps up.
    assert!(
        fixed.slo_attainment.unwrap() < 0.8 && sla.slo_attainment.unwrap() > 0.9,
        "static {:?} sla {:?}",
        fixed.slo_attainment,
        sla.slo_attainment
    );
}
