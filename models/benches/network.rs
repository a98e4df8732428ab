//! Network model: max-min fair-share recomputation with 64 nodes × 8 GPUs and 200 concurrent
//! flows (100 TP=2 transfers between random nodes). Run:
//! `cargo bench -p servesim-models --bench network`.

use std::hint::black_box;
use std::time::Instant;

use servesim_core::SimTime;
use servesim_models::network::{
    DEFAULT_TRANSFER_LATENCY, Fabric, GpuId, LinkId, Network, Topology, TopologySpec,
    max_min_fair_rates,
};

const NODES: u32 = 64;
const GPUS: u32 = 8;
const TRANSFERS: usize = 100;
const TP: u32 = 2;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Shards of a TP=2 → TP=2 transfer between two random distinct nodes (rail-aligned).
    fn transfer(&mut self) -> Vec<(GpuId, GpuId, u64)> {
        let src = (self.next() % u64::from(NODES)) as u32;
        let dst = (src + 1 + (self.next() % u64::from(NODES - 1)) as u32) % NODES;
        let first = (self.next() % u64::from(GPUS / TP)) as u32 * TP;
        let bytes = 100_000_000 + self.next() % 2_000_000_000;
        (0..TP)
            .map(|i| {
                (
                    GpuId(src * GPUS + first + i),
                    GpuId(dst * GPUS + first + i),
                    bytes,
                )
            })
            .collect()
    }
}

fn per_op(label: &str, ops: u64, secs: f64) {
    println!(
        "  {label}: {:.2} µs/op ({:.0} ops/s, {ops} ops)",
        secs / ops as f64 * 1e6,
        ops as f64 / secs
    );
}

fn bench(name: &str, fabric: Fabric) {
    let spec = TopologySpec {
        nodes: NODES,
        gpus_per_node: GPUS,
        nvlink_bytes_per_s: 450e9,
        nic_bytes_per_s: 50e9,
        fabric,
        nodes_per_nvlink_domain: 1,
    };
    let topology = Topology::new(spec).expect("valid spec");
    println!(
        "{name}: {NODES} nodes × {GPUS} GPUs, {} links, {} flows",
        topology.num_links(),
        TRANSFERS as u32 * TP
    );
    let mut rng = Rng(0x5eed_1234_abcd_ef01);

    // 1. A full solve of all 200 flows from scratch.
    let shards: Vec<_> = (0..TRANSFERS).flat_map(|_| rng.transfer()).collect();
    let routes: Vec<Vec<LinkId>> = shards
        .iter()
        .map(|&(s, d, _)| topology.route(s, d).expect("in range").links().to_vec())
        .collect();
    let refs: Vec<&[LinkId]> = routes.iter().map(|r| r.as_slice()).collect();
    let caps: Vec<f64> = topology.links().iter().map(|l| l.capacity).collect();
    let iters = 20_000u64;
    let t0 = Instant::now();
    for _ in 0..iters {
        black_box(max_min_fair_rates(black_box(&caps), black_box(&refs)));
    }
    per_op(
        "full solve, 200 flows (max_min_fair_rates)",
        iters,
        t0.elapsed().as_secs_f64(),
    );

    // 2. Churn: 100 transfers in flight; cancel the oldest and start a new one (each call
    //    recomputes the component it touches).
    let mut net = Network::new(topology.clone(), DEFAULT_TRANSFER_LATENCY);
    let mut live = std::collections::VecDeque::new();
    for _ in 0..TRANSFERS {
        live.push_back(
            net.start_transfer(SimTime::ZERO, &rng.transfer())
                .expect("in range"),
        );
    }
    let iters = 20_000u64;
    let t0 = Instant::now();
    for _ in 0..iters {
        let old = live.pop_front().expect("in flight");
        assert!(net.cancel_transfer(SimTime::ZERO, old));
        live.push_back(
            net.start_transfer(SimTime::ZERO, &rng.transfer())
                .expect("in range"),
        );
    }
    per_op(
        "start or cancel with 200 flows in flight (incremental)",
        2 * iters,
        t0.elapsed().as_secs_f64(),
    );

    // 3. Event loop: each completion starts a new transfer, keeping 100 in flight.
    let mut net = Network::new(topology, DEFAULT_TRANSFER_LATENCY);
    for _ in 0..TRANSFERS {
        net.start_transfer(SimTime::ZERO, &rng.transfer())
            .expect("in range");
    }
    let target = 50_000u64;
    let mut done = 0u64;
    let mut wakeups = 0u64;
    let t0 = Instant::now();
    while done < target {
        let at = net.next_event_time().expect("busy");
        wakeups += 1;
        for _ in net.poll_completed(at) {
            done += 1;
            net.start_transfer(at, &rng.transfer()).expect("in range");
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "  event loop: {done} transfers in {:.3} s wall ({:.0} transfers/s, {wakeups} wake-ups, {:.2} µs/wake-up), simulated {}",
        secs,
        done as f64 / secs,
        secs / wakeups as f64 * 1e6,
        net.now().since_start()
    );
}

fn main() {
    bench("single switch", Fabric::SingleSwitch);
    bench(
        "two-level, 4 nodes per leaf, oversubscription 2",
        Fabric::TwoLevel {
            nodes_per_leaf: 4,
            oversubscription: 2.0,
        },
    );
}
