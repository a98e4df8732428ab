use std::sync::Arc;

use servesim_core::{Model, Simulation};

use super::*;
use crate::network::{Fabric, Topology, TopologySpec};

use crate::engine::test_support::LinearTimer;

fn engine() -> EngineConfig {
    EngineConfig {
        max_num_seqs: 64,
        max_batched_tokens: 4096,
        block_tokens: 16,
        kv_blocks: 20_000,
        state_blocks: 0,
        watermark_blocks: 10,
        chunked_prefill: true,
        mixed_batches: true,
        prefix_caching: true,
        prefix_block_tokens: 512,
        reserve_output: false,
        overlap_schedule: false,
        cuda_graphs: crate::engine::cuda_graph::CudaGraphs::none(),
        new_token_ratio: None,
        handed_first_token: crate::engine::HandedFirstToken::Recomputed,
        header_tokens: 0,
    }
}

fn pool(name: &str, role: PoolRole, tp: u32, workers: u32) -> PoolSpec {
    PoolSpec {
        name: name.into(),
        role,
        gpus_per_worker: tp,
        attention_dp: 1,
        // 128 KiB a token over the worker's GPUs, heads split evenly.
        kv_bytes_per_token_per_gpu: 131_072 / u64::from(tp),
        engine: engine(),
        initial_workers: workers,
        startup: SimDuration::from_secs(60).unwrap(),
        router: RouterKind::LeastOutstandingTokens,
        timer: Box::new(LinearTimer),
    }
}

fn network(nodes: u32) -> Network {
    network_of(nodes, 8, 1)
}

/// `pools` on one 8-GPU node, all of it theirs.
fn on_one_node(pools: Vec<PoolSpec>) -> Result<Cluster, ClusterError> {
    Cluster::new(ClusterSpec {
        pools,
        network: network(1),
        gpus_per_node: 8,
        nodes: 1,
        gpu_budget: 8,
        local_prefill_max_tokens: None,
    })
}

/// `nodes` nodes of `gpus_per_node` GPUs, NVLink domains of `nodes_per_nvlink_domain` of them.
fn network_of(nodes: u32, gpus_per_node: u32, nodes_per_nvlink_domain: u32) -> Network {
    let spec = TopologySpec {
        nodes,
        gpus_per_node,
        nvlink_bytes_per_s: 450e9,
        nic_bytes_per_s: 50e9,
        fabric: Fabric::SingleSwitch,
        nodes_per_nvlink_domain,
    };
    Network::new(
        Topology::new(spec).unwrap(),
        SimDuration::from_micros(10).unwrap(),
    )
}

fn disagg(prefill: u32, decode: u32, budget: u32) -> Cluster {
    Cluster::new(ClusterSpec {
        pools: vec![
            pool("prefill", PoolRole::Prefill, 2, prefill),
            pool("decode", PoolRole::Decode, 2, decode),
        ],
        network: network(2),
        gpus_per_node: 8,
        nodes: 2,
        gpu_budget: budget,
        local_prefill_max_tokens: None,
    })
    .unwrap()
}

/// A minimal world: requests arrive at given times; notices are recorded.
struct World {
    cluster: Cluster,
    out: ClusterOutput,
    log: Vec<(SimTime, Notice)>,
    arrivals: Vec<RequestIn>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Ev {
    Arrive(usize),
    Cluster(ClusterEvent),
}

impl From<ClusterEvent> for Ev {
    fn from(e: ClusterEvent) -> Ev {
        Ev::Cluster(e)
    }
}

impl Model for World {
    type Event = Ev;
    fn handle(&mut self, ev: Ev, sched: &mut Scheduler<Ev>) {
        match ev {
            Ev::Arrive(i) => {
                let req = self.arrivals[i].clone();
                self.cluster.arrive(req, sched, &mut self.out)
            }
            Ev::Cluster(e) => self.cluster.handle(e, sched, &mut self.out),
        }
        let now = sched.now();
        self.log
            .extend(self.out.notices.drain(..).map(|n| (now, n)));
    }
}

fn req(handle: u32, prompt: u32, output: u32) -> RequestIn {
    RequestIn {
        handle: RequestHandle(handle),
        prompt_tokens: prompt,
        output_tokens: output,
        prefix_blocks: Arc::from(vec![]),
        continues: false,
    }
}

fn run(cluster: Cluster, arrivals: Vec<(u64, RequestIn)>) -> Simulation<World> {
    let mut sim = Simulation::new(World {
        cluster,
        out: ClusterOutput::default(),
        log: vec![],
        arrivals: vec![],
    });
    for (i, (at_ms, r)) in arrivals.into_iter().enumerate() {
        sim.model.arrivals.push(r);
        sim.scheduler.schedule_at(
            SimTime::ZERO + SimDuration::from_millis(at_ms).unwrap(),
            Ev::Arrive(i),
        );
    }
    sim.run_to_completion();
    sim
}

#[test]
fn a_disaggregated_request_moves_its_kv_then_decodes() {
    let sim = run(disagg(1, 1, 16), vec![(0, req(1, 4000, 10))]);
    let kinds: Vec<_> = sim
        .model
        .log
        .iter()
        .map(|(_, n)| std::mem::discriminant(n))
        .collect();
    let names: Vec<String> = sim
        .model
        .log
        .iter()
        .map(|(_, n)| {
            format!("{n:?}")
                .split([' ', '{'])
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        [
            "Admitted",
            "TransferStarted",
            "TransferDone",
            "FirstToken",
            "Finished"
        ],
        "{:?}",
        sim.model.log
    );
    assert_eq!(kinds.len(), 5);
    // Prefill: 4000 tokens in one 4096 budget → 1 ms + 40 ms.
    assert_eq!(
        sim.model.log[1].0,
        SimTime::ZERO + SimDuration::from_millis(41).unwrap()
    );
    // 4000 × 128 KiB = 524 MB over NVLink (same node, 2 flows of 450 GB/s) ≈ 0.58 ms + 10 µs.
    let transfer = sim.model.log[2].0 - sim.model.log[1].0;
    // The decode worker shows the first token after its first step over the moved KV
    // (1 ms + 10 µs: it recomputes it, as vLLM does).
    assert_eq!(
        sim.model.log[3].0 - sim.model.log[2].0,
        SimDuration::from_micros(1010).unwrap()
    );
    assert!(
        transfer > SimDuration::from_micros(580).unwrap()
            && transfer < SimDuration::from_micros(600).unwrap(),
        "{transfer}"
    );
    assert_eq!(sim.model.out.tokens, 10);
    let c = &sim.model.cluster;
    for p in c.pool_ids() {
        assert_eq!(
            c.worker_loads(p)
                .iter()
                .map(|(_, l)| l.kv_utilisation)
                .sum::<f64>(),
            0.0
        );
    }
}

/// The time from each transfer's start to its end, in order.
fn transfer_times(sim: &Simulation<World>) -> Vec<SimDuration> {
    let log = &sim.model.log;
    let started: Vec<_> = (log.iter())
        .filter(|(_, n)| matches!(n, Notice::TransferStarted { .. }))
        .collect();
    let done: Vec<_> = (log.iter())
        .filter(|(_, n)| matches!(n, Notice::TransferDone { .. }))
        .collect();
    started.iter().zip(&done).map(|(s, d)| d.0 - s.0).collect()
}

#[test]
fn kv_moves_from_one_attention_rank_to_every_gpu_that_keeps_it_whole() {
    // An MLA-like model: every GPU keeps the whole 128 KiB a token. The prefill worker's
    // four GPUs are four attention-DP ranks; the decode worker is TP2, each GPU a copy.
    let whole = |mut p: PoolSpec, ranks| {
        p.attention_dp = ranks;
        p.kv_bytes_per_token_per_gpu = 131_072;
        p
    };
    let cluster = on_one_node(vec![
        whole(pool("prefill", PoolRole::Prefill, 4, 1), 4),
        whole(pool("decode", PoolRole::Decode, 2, 1), 1),
    ])
    .unwrap();
    let sim = run(
        cluster,
        vec![(0, req(1, 4000, 10)), (100, req(2, 4000, 10))],
    );
    // 4000 × 128 KiB = 524 MB to each of the two decode GPUs, both flows out of the one
    // GPU of the request's rank: 1.05 GB over its 450 GB/s ≈ 2.33 ms + 10 µs. Spread over
    // the four ranks' GPUs, a quarter of it each, it had taken 0.58 ms.
    let times = transfer_times(&sim);
    assert_eq!(times.len(), 2);
    for t in times {
        assert!(
            t > SimDuration::from_micros(2330).unwrap()
                && t < SimDuration::from_micros(2350).unwrap(),
            "{t}"
        );
    }
    assert_eq!(sim.model.out.tokens, 20);
}

#[test]
fn requests_wait_for_a_starting_worker_and_gpus_are_counted_from_the_request() {
    let mut sim = Simulation::new(World {
        cluster: disagg(0, 1, 16),
        out: ClusterOutput::default(),
        log: vec![],
        arrivals: vec![req(1, 100, 3)],
    });
    sim.scheduler.schedule_at(SimTime::ZERO, Ev::Arrive(0));
    sim.run_until(SimTime::ZERO + SimDuration::from_secs(1).unwrap());
    assert!(sim.model.log.is_empty(), "no prefill worker yet");
    assert_eq!(sim.model.cluster.pool_stats(PoolId(0)).unrouted, 1);
    let (added, _) = sim
        .model
        .cluster
        .set_target(PoolId(0), 1, &mut sim.scheduler);
    assert_eq!(added, 1);
    assert_eq!(sim.model.cluster.pool_stats(PoolId(0)).starting, 1);
    sim.run_to_completion();
    let first = sim
        .model
        .log
        .iter()
        .find(|(_, n)| matches!(n, Notice::FirstToken { .. }))
        .unwrap()
        .0;
    assert!(first > SimTime::ZERO + SimDuration::from_secs(61).unwrap());
    assert!(sim.model.log.iter().any(|(_, n)| matches!(
        n,
        Notice::Finished {
            handle: RequestHandle(1),
            ..
        }
    )));
    let now = sim.now();
    // The prefill worker held 2 GPUs from t = 1 s on.
    let held = sim.model.cluster.gpu_seconds(PoolId(0), now);
    assert!(
        (held - 2.0 * (now.as_secs_f64() - 1.0)).abs() < 1e-6,
        "{held}"
    );
}

#[test]
fn scale_down_drains_then_stops_and_the_budget_caps_scale_up() {
    let mut sim = Simulation::new(World {
        cluster: disagg(2, 1, 8),
        out: ClusterOutput::default(),
        log: vec![],
        arrivals: vec![],
    });
    for i in 0..20 {
        sim.model.arrivals.push(req(i, 3000, 50));
        sim.scheduler
            .schedule_at(SimTime::ZERO, Ev::Arrive(i as usize));
    }
    sim.run_until(SimTime::ZERO + SimDuration::from_millis(5).unwrap());
    let (added, _) = sim
        .model
        .cluster
        .set_target(PoolId(1), 4, &mut sim.scheduler);
    assert_eq!(added, 1, "8 GPUs: 2 prefill + 1 decode + 1 more TP2 worker");
    sim.model
        .cluster
        .set_target(PoolId(1), 1, &mut sim.scheduler);
    assert_eq!(
        sim.model.cluster.pool_stats(PoolId(1)).starting,
        0,
        "the starting worker goes first"
    );
    let (_, removed) = sim
        .model
        .cluster
        .set_target(PoolId(0), 1, &mut sim.scheduler);
    assert_eq!(removed, 1);
    let s = sim.model.cluster.pool_stats(PoolId(0));
    assert_eq!((s.ready, s.draining + (2 - s.ready - s.draining)), (1, 1));
    // A planner reads the load of the workers that take new requests: not a draining one.
    assert_eq!(s.draining, 1, "it has prompts to finish");
    let ready = sim.model.cluster.ready_worker_loads(PoolId(0));
    assert_eq!(ready.len(), 1);
    assert_eq!(sim.model.cluster.worker_loads(PoolId(0)).len(), 2);
    assert_eq!(
        sim.model.cluster.worker(ready[0].0).state,
        WorkerState::Ready
    );
    sim.run_to_completion();
    let finished = sim
        .model
        .log
        .iter()
        .filter(|(_, n)| matches!(n, Notice::Finished { .. }))
        .count();
    assert_eq!(finished, 20, "draining loses nothing");
    let s = sim.model.cluster.pool_stats(PoolId(0));
    assert_eq!((s.ready, s.draining, s.gpus_held), (1, 0, 2));
}

#[test]
fn conditional_disaggregation_prefills_short_prompts_on_decode() {
    let mut c = disagg(1, 1, 16);
    c.local_prefill_max_tokens = Some(256);
    let sim = run(c, vec![(0, req(1, 100, 5)), (0, req(2, 1000, 5))]);
    let transfers: Vec<_> = sim
        .model
        .log
        .iter()
        .filter_map(|(_, n)| match n {
            Notice::TransferStarted { handle, .. } => Some(*handle),
            _ => None,
        })
        .collect();
    assert_eq!(transfers, vec![RequestHandle(2)]);
    let admitted: Vec<_> = sim
        .model
        .log
        .iter()
        .filter_map(|(_, n)| match n {
            Notice::Admitted { handle, worker } => Some((*handle, *worker)),
            _ => None,
        })
        .collect();
    assert_eq!(
        admitted,
        vec![
            (RequestHandle(1), WorkerId(1)),
            (RequestHandle(2), WorkerId(0))
        ],
        "{:?}",
        sim.model.log
    );
}

#[test]
fn prompts_that_can_never_fit_are_rejected_with_a_reason() {
    let sim = run(disagg(1, 1, 16), vec![(0, req(1, 400_000, 5))]);
    let [(_, Notice::Rejected { handle, reason })] = &sim.model.log[..] else {
        panic!("{:?}", sim.model.log)
    };
    assert_eq!(*handle, RequestHandle(1));
    assert!(
        reason.contains("KV cache (320000 tokens)") && reason.contains("'prefill'"),
        "{reason}"
    );
}

#[test]
fn outputs_that_can_never_be_reserved_are_rejected_on_the_decode_pool() {
    // 20,000 blocks of 16 tokens: the prompt fits everywhere, prompt + output does not fit a
    // decode worker that reserves output blocks at admission (TensorRT-LLM's default).
    let mut c = disagg(1, 1, 16);
    c.pools[1].spec.engine.reserve_output = true;
    let sim = run(c, vec![(0, req(1, 1_000, 400_000))]);
    let [(_, Notice::Rejected { handle, reason })] = &sim.model.log[..] else {
        panic!("{:?}", sim.model.log)
    };
    assert_eq!(*handle, RequestHandle(1));
    assert!(
        reason.contains("prompt and output") && reason.contains("'decode'"),
        "{reason}"
    );
}

#[test]
fn pool_shapes_are_checked() {
    let bad = on_one_node(vec![pool("a", PoolRole::Decode, 1, 1)]);
    assert!(matches!(bad, Err(ClusterError::PoolShape)));
    let too_big = on_one_node(vec![pool("agg", PoolRole::Aggregated, 4, 3)]);
    assert!(matches!(too_big, Err(ClusterError::DoesNotFit { .. })));
}

/// Every request either finished or was lost; every surviving worker ends with an empty KV cache.
/// Logs, at the current time, the notices of a call the test made on the cluster itself
/// (outside an event), as the world logs those of events.
fn record_direct_notices(sim: &mut Simulation<World>) {
    let now = sim.now();
    sim.model
        .log
        .extend(sim.model.out.notices.drain(..).map(|n| (now, n)));
}

fn assert_accounted(sim: &Simulation<World>, n: u64) {
    let finished = sim
        .model
        .log
        .iter()
        .filter(|(_, x)| matches!(x, Notice::Finished { .. }))
        .count() as u64;
    let lost = sim
        .model
        .log
        .iter()
        .filter(|(_, x)| matches!(x, Notice::Lost { .. }))
        .count() as u64;
    assert_eq!(finished + lost, n, "{:?}", sim.model.log);
    let c = &sim.model.cluster;
    for p in c.pool_ids() {
        for (w, load) in c.worker_loads(p) {
            assert_eq!(load.kv_utilisation, 0.0, "worker {w:?} leaked KV blocks");
            assert!(c.worker(w).engine.is_empty());
        }
    }
}

fn busy_world(prefill: u32, decode: u32) -> Simulation<World> {
    busy_world_within(prefill, decode, 16)
}

/// [`busy_world`] within a GPU budget.
fn busy_world_within(prefill: u32, decode: u32, budget: u32) -> Simulation<World> {
    let mut sim = Simulation::new(World {
        cluster: disagg(prefill, decode, budget),
        out: ClusterOutput::default(),
        log: vec![],
        arrivals: vec![],
    });
    for i in 0..40u64 {
        sim.model.arrivals.push(req(i as u32, 2000, 200));
        sim.scheduler.schedule_at(
            SimTime::ZERO + SimDuration::from_millis(i * 20).unwrap(),
            Ev::Arrive(i as usize),
        );
    }
    sim
}

#[test]
fn a_dead_decode_worker_loses_what_it_held_and_is_replaced() {
    let mut sim = busy_world(1, 2);
    sim.run_until(SimTime::ZERO + SimDuration::from_millis(700).unwrap());
    let decode = PoolId(1);
    let victim = sim.model.cluster.live_workers(decode)[0];
    let held = sim
        .model
        .cluster
        .worker(victim)
        .engine
        .held_requests()
        .len();
    assert!(held > 0, "the victim was busy");
    sim.model
        .cluster
        .kill_worker(victim, true, &mut sim.scheduler, &mut sim.model.out);
    let lost = sim
        .model
        .out
        .notices
        .iter()
        .filter(|n| matches!(n, Notice::Lost { .. }))
        .count();
    assert_eq!(lost, held);
    let stats = sim.model.cluster.pool_stats(decode);
    assert_eq!(
        (stats.ready, stats.starting),
        (1, 1),
        "a replacement is starting"
    );
    record_direct_notices(&mut sim);
    sim.run_to_completion();
    assert_accounted(&sim, 40);
    assert_eq!(
        sim.model.cluster.pool_stats(decode).ready,
        2,
        "the replacement came up"
    );
}

/// A scale-up that finds no GPUs under the budget waits for them, as a Kubernetes pod stays
/// pending: the prefill worker asked for while a decode worker drains starts when it stops.
#[test]
fn a_worker_asked_for_at_a_full_budget_starts_when_a_draining_one_stops() {
    let mut sim = busy_world_within(2, 2, 8);
    // Both decode workers decoding.
    sim.run_until(SimTime::ZERO + SimDuration::from_millis(700).unwrap());
    let (prefill, decode) = (PoolId(0), PoolId(1));
    let (sched, m) = (&mut sim.scheduler, &mut sim.model);
    assert_eq!(m.cluster.set_target(decode, 1, sched), (0, 1));
    assert_eq!(
        m.cluster.pool_stats(decode).draining,
        1,
        "it holds requests"
    );
    assert_eq!(
        m.cluster.set_target(prefill, 3, sched),
        (0, 0),
        "all 8 GPUs held"
    );
    record_direct_notices(&mut sim);
    sim.run_to_completion();
    assert_accounted(&sim, 40);
    let s = sim.model.cluster.pool_stats(prefill);
    assert_eq!(s.ready + s.starting, 3, "the pending worker started");
}

/// What is owed is settled by the next decision for the pool, and GPUs freed by stopping a
/// worker still starting go to it at once.
#[test]
fn a_decision_settles_pending_workers_and_a_stopped_start_frees_gpus_for_them() {
    let mut sim = Simulation::new(World {
        cluster: disagg(2, 2, 10),
        out: ClusterOutput::default(),
        log: vec![],
        arrivals: vec![],
    });
    let (prefill, decode) = (PoolId(0), PoolId(1));
    let (sched, m) = (&mut sim.scheduler, &mut sim.model);
    assert_eq!(
        m.cluster.set_target(decode, 3, sched),
        (1, 0),
        "10 GPUs: one more"
    );
    assert_eq!(m.cluster.set_target(prefill, 4, sched), (0, 0));
    assert_eq!(m.cluster.pending_workers(prefill), 2);
    // Asked for 3 in all: one of the two pending is let go.
    assert_eq!(m.cluster.set_target(prefill, 3, sched), (0, 0));
    assert_eq!(m.cluster.pending_workers(prefill), 1);
    // Decode back to 2 stops its starting worker: its GPUs start prefill's at once.
    assert_eq!(m.cluster.set_target(decode, 2, sched), (0, 1));
    assert_eq!(m.cluster.pending_workers(prefill), 0);
    assert_eq!(m.cluster.pool_stats(prefill).starting, 1);
    assert_eq!(m.cluster.owed_started(), 1);
}

#[test]
fn a_worker_being_retired_is_not_replaced_and_a_decision_settles_what_is_owed() {
    let mut sim = busy_world(1, 2);
    sim.run_until(SimTime::ZERO + SimDuration::from_millis(700).unwrap());
    let decode = PoolId(1);
    // The planner retires one decode worker; it dies while draining: no replacement.
    sim.model.cluster.set_target(decode, 1, &mut sim.scheduler);
    let draining = sim
        .model
        .cluster
        .live_workers(decode)
        .into_iter()
        .find(|&w| sim.model.cluster.worker(w).state == WorkerState::Draining)
        .expect("one is draining");
    sim.model
        .cluster
        .kill_worker(draining, true, &mut sim.scheduler, &mut sim.model.out);
    assert_eq!(sim.model.cluster.pool_stats(decode).starting, 0);
    // Both nodes go down (every worker is on node 0): the replacements find no GPUs and
    // are owed. A decision for the decode pool comes first and takes the place of its
    // replacements: one worker, pending GPUs. When node 1 is back, prefill's replacement
    // and decode's decided worker start, and nothing more.
    let (sched, m) = (&mut sim.scheduler, &mut sim.model);
    m.cluster.set_node_down(1, true, true, sched, &mut m.out);
    m.cluster.set_node_down(0, true, true, sched, &mut m.out);
    assert_eq!(m.cluster.live_workers(decode).len(), 0);
    assert_eq!(
        m.cluster.set_target(decode, 1, sched),
        (0, 0),
        "no GPUs now"
    );
    m.cluster.set_node_down(1, false, true, sched, &mut m.out);
    assert_eq!(
        m.cluster.pool_stats(PoolId(0)).starting,
        1,
        "prefill replaced"
    );
    assert_eq!(
        m.cluster.pool_stats(decode).starting,
        1,
        "decode: as decided, once GPUs are back"
    );
    m.cluster.set_target(decode, 1, sched);
    assert_eq!(m.cluster.pool_stats(decode).starting, 1);
    record_direct_notices(&mut sim);
    sim.run_to_completion();
    assert_accounted(&sim, 40);
}

#[test]
fn a_dead_prefill_worker_mid_transfer_frees_the_decode_reservation() {
    let mut sim = busy_world(2, 1);
    // Run until a transfer is in flight, then kill its source.
    loop {
        sim.step().expect("transfers happen");
        if let Some(t) = sim.model.cluster.transfers.values().next() {
            let from = t.handoff.from;
            sim.model
                .cluster
                .kill_worker(from, false, &mut sim.scheduler, &mut sim.model.out);
            break;
        }
    }
    record_direct_notices(&mut sim);
    sim.run_to_completion();
    assert_accounted(&sim, 40);
    assert_eq!(sim.model.cluster.pool_stats(PoolId(0)).ready, 1);
}

#[test]
fn failed_transfers_are_sent_again_then_given_up() {
    let mut sim = busy_world(1, 1);
    sim.model.cluster.max_transfer_failures = 1;
    let mut failures = 0;
    while sim.step().is_some() {
        if !sim.model.cluster.transfers.is_empty() && failures < 3 {
            failures += sim
                .model
                .cluster
                .fail_transfers(&mut sim.scheduler, &mut sim.model.out);
            record_direct_notices(&mut sim);
        }
    }
    let failed = sim
        .model
        .log
        .iter()
        .filter(|(_, n)| matches!(n, Notice::TransferFailed { .. }))
        .count() as u32;
    assert_eq!(failed, failures);
    assert!(
        sim.model.log.iter().any(|(_, n)| matches!(
            n,
            Notice::Lost {
                reason: "KV transfer failed",
                ..
            }
        )),
        "one hand-off failed twice: {:?}",
        sim.model.log
    );
    assert_accounted(&sim, 40);
}

#[test]
fn stragglers_are_slower_and_links_can_go_down_and_up() {
    let run = |slow: f64, link: f64| {
        let mut sim = busy_world(1, 1);
        let w = sim.model.cluster.live_workers(PoolId(0))[0];
        sim.model.cluster.set_slowdown(w, slow);
        sim.model
            .cluster
            .set_node_links(0, link, &mut sim.scheduler);
        sim.run_to_completion();
        assert_accounted(&sim, 40);
        sim.now()
    };
    let normal = run(1.0, 1.0);
    assert!(run(3.0, 1.0) > normal + SimDuration::from_secs(1).unwrap());
    // Same-node transfers use NVLink: NIC links at a tenth do not matter here.
    assert_eq!(run(1.0, 0.1), normal);
}

#[test]
fn wide_workers_are_placed_first_where_pool_order_leaves_them_no_room() {
    // A rack of four 4-GPU trays and one tray more: one prefill worker of a tray, one decode
    // worker of four trays (wider than a tray: whole trays of one rack). Placed pool by pool,
    // the prefill worker takes a tray of the rack and the decode worker finds three; widest
    // first, the decode worker takes the rack and the prefill worker the tray beside it.
    let cluster = |prefill: u32| {
        Cluster::new(ClusterSpec {
            pools: vec![
                pool("prefill", PoolRole::Prefill, 4, prefill),
                pool("decode", PoolRole::Decode, 16, 1),
            ],
            network: network_of(5, 4, 4),
            gpus_per_node: 4,
            nodes: 5,
            gpu_budget: 20,
            local_prefill_max_tokens: None,
        })
    };
    let c = cluster(1).unwrap();
    let gpus = |w: u32| c.worker(WorkerId(w)).gpus.clone();
    // The widest first: the decode worker is the first placed.
    assert_eq!(c.worker(WorkerId(0)).pool, PoolId(1));
    assert_eq!(gpus(0), (0..16).collect::<Vec<_>>());
    assert_eq!(gpus(1), (16..20).collect::<Vec<_>>());
    // Two prefill workers fit in no order: the error says what does not fit.
    let Err(e) = cluster(2) else {
        panic!("22 GPUs of workers placed on 20");
    };
    assert!(e.to_string().contains("of 16 GPUs do not fit"), "{e}");
}

#[test]
fn a_layout_that_fits_pool_by_pool_is_kept() {
    // One 8-GPU node: a prefill worker of 2 GPUs, then a decode worker of 4, as the pools
    // are listed, not widest first.
    let c = on_one_node(vec![
        pool("prefill", PoolRole::Prefill, 2, 1),
        pool("decode", PoolRole::Decode, 4, 1),
    ])
    .unwrap();
    assert_eq!(c.worker(WorkerId(0)).pool, PoolId(0));
    assert_eq!(c.worker(WorkerId(0)).gpus, vec![0, 1]);
    assert_eq!(c.worker(WorkerId(1)).gpus, vec![2, 3, 4, 5]);
}
