//! Tests of the network model: the fair-share solver against a naive progressive-filling
//! reference (proptest), the max-min optimality certificate, the network's incremental
//! recomputation against a from-scratch solve, and end-to-end transfer times.

use proptest::prelude::*;
use servesim_core::{Key, SimDuration, SimTime};

use super::*;

// ---------------------------------------------------------------------------------------------
// The naive reference: textbook progressive filling with plain Vecs. All unfrozen flows rise
// together; each round raises them by the largest step no link can refuse, then freezes every
// flow crossing a link that is now full.
// ---------------------------------------------------------------------------------------------

fn reference_rates(caps: &[f64], routes: &[Vec<usize>]) -> Vec<f64> {
    let n = routes.len();
    let mut rate = vec![0.0; n];
    let mut frozen: Vec<bool> = routes.iter().map(|r| r.is_empty()).collect();
    for (f, r) in routes.iter().enumerate() {
        if r.is_empty() {
            rate[f] = f64::INFINITY;
        }
    }
    loop {
        if frozen.iter().all(|&x| x) {
            return rate;
        }
        // Largest equal increment every link can still take.
        let mut step = f64::INFINITY;
        for (l, &cap) in caps.iter().enumerate() {
            let mut load = 0.0;
            let mut active = 0usize;
            for (f, r) in routes.iter().enumerate() {
                for &m in r {
                    if m == l {
                        load += rate[f];
                        if !frozen[f] {
                            active += 1;
                        }
                    }
                }
            }
            if active > 0 {
                step = step.min(((cap - load) / active as f64).max(0.0));
            }
        }
        for f in 0..n {
            if !frozen[f] {
                rate[f] += step;
            }
        }
        // Freeze the flows on every saturated link.
        for (l, &cap) in caps.iter().enumerate() {
            let load: f64 = routes
                .iter()
                .enumerate()
                .map(|(f, r)| r.iter().filter(|&&m| m == l).count() as f64 * rate[f])
                .sum();
            if load >= cap - 1e-12 * cap.max(1.0) {
                for (f, r) in routes.iter().enumerate() {
                    if r.contains(&l) {
                        frozen[f] = true;
                    }
                }
            }
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) + 1e-9
}

/// Checks `rates` against the reference and the max-min optimality certificate: every link's
/// load is within its capacity, and every flow crosses a saturated link on which no flow has
/// a higher rate.
fn check_max_min(caps: &[f64], routes: &[Vec<usize>], rates: &[f64]) -> Result<(), String> {
    let reference = reference_rates(caps, routes);
    for (f, (&a, &b)) in rates.iter().zip(&reference).enumerate() {
        if !close(a, b) {
            return Err(format!("flow {f}: rate {a} but reference {b}"));
        }
    }
    let load = |l: usize| -> f64 {
        routes
            .iter()
            .enumerate()
            .map(|(f, r)| r.iter().filter(|&&m| m == l).count() as f64 * rates[f])
            .sum()
    };
    for (l, &cap) in caps.iter().enumerate() {
        let ld = load(l);
        if ld > cap * (1.0 + 1e-9) + 1e-9 {
            return Err(format!("link {l}: load {ld} over capacity {cap}"));
        }
    }
    for (f, r) in routes.iter().enumerate() {
        if r.is_empty() {
            continue;
        }
        let bottleneck = r.iter().any(|&l| {
            let saturated = load(l) >= caps[l] * (1.0 - 1e-9) - 1e-9;
            let max_rate = routes
                .iter()
                .enumerate()
                .filter(|(_, r2)| r2.contains(&l))
                .map(|(g, _)| rates[g])
                .fold(0.0, f64::max);
            saturated && rates[f] >= max_rate * (1.0 - 1e-9) - 1e-9
        });
        if !bottleneck {
            return Err(format!(
                "flow {f} (rate {}) has no bottleneck link",
                rates[f]
            ));
        }
    }
    Ok(())
}

fn solve(caps: &[f64], routes: &[Vec<usize>]) -> Vec<f64> {
    let routes: Vec<Vec<LinkId>> = routes
        .iter()
        .map(|r| r.iter().map(|&l| LinkId(l as u32)).collect())
        .collect();
    let refs: Vec<&[LinkId]> = routes.iter().map(|r| r.as_slice()).collect();
    max_min_fair_rates(caps, &refs)
}

// ---------------------------------------------------------------------------------------------
// The solver on arbitrary link sets.
// ---------------------------------------------------------------------------------------------

/// Capacities drawn from a few values (ties stress the solver) or at random, some zero.
fn capacity() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => prop::sample::select(vec![0.0, 1.0, 2.0, 5.0, 10.0, 50e9, 450e9]),
        4 => 1e-3..1e12f64,
    ]
}

fn problem() -> impl Strategy<Value = (Vec<f64>, Vec<Vec<usize>>)> {
    prop::collection::vec(capacity(), 1..12).prop_flat_map(|caps| {
        let links = caps.len();
        let route = prop::collection::btree_set(0..links, 1..=links.min(5))
            .prop_map(|s| s.into_iter().collect::<Vec<_>>());
        (Just(caps), prop::collection::vec(route, 0..25))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn solver_matches_reference((caps, routes) in problem()) {
        let rates = solve(&caps, &routes);
        prop_assert_eq!(rates.len(), routes.len());
        if let Err(e) = check_max_min(&caps, &routes, &rates) {
            prop_assert!(false, "{}\ncaps {:?}\nroutes {:?}\nrates {:?}", e, caps, routes, rates);
        }
    }
}

#[test]
fn solver_textbook_example() {
    // Links A (cap 10) and B (cap 4); flow 0 on A, flow 1 on A and B, flow 2 on B.
    let rates = solve(&[10.0, 4.0], &[vec![0], vec![0, 1], vec![1]]);
    assert_eq!(rates, vec![8.0, 2.0, 2.0]);
    // A flow on no link is unconstrained; one on a dead link gets nothing.
    let rates = solve(&[0.0, 3.0], &[vec![], vec![0, 1], vec![1]]);
    assert_eq!(rates, vec![f64::INFINITY, 0.0, 3.0]);
    // A link listed twice carries the flow twice.
    let rates = solve(&[10.0], &[vec![0, 0]]);
    assert_eq!(rates, vec![5.0]);
    assert!(solve(&[1.0], &[]).is_empty());
}

#[test]
#[should_panic(expected = "route names link 3")]
fn solver_rejects_unknown_link() {
    solve(&[1.0], &[vec![3]]);
}

// ---------------------------------------------------------------------------------------------
// Topologies.
// ---------------------------------------------------------------------------------------------

const NVLINK: f64 = 450e9;
const NIC: f64 = 50e9;

fn spec(nodes: u32, gpus_per_node: u32, fabric: Fabric) -> TopologySpec {
    TopologySpec {
        nodes,
        gpus_per_node,
        nvlink_bytes_per_s: NVLINK,
        nic_bytes_per_s: NIC,
        fabric,
        nodes_per_nvlink_domain: 1,
    }
}

fn network(spec: TopologySpec) -> Network {
    Network::new(Topology::new(spec).unwrap(), DEFAULT_TRANSFER_LATENCY)
}

#[test]
fn bad_specs_name_the_field() {
    let good = spec(2, 8, Fabric::SingleSwitch);
    let cases: Vec<(TopologySpec, &str)> = vec![
        (TopologySpec { nodes: 0, ..good }, "`nodes`"),
        (
            TopologySpec {
                gpus_per_node: 0,
                ..good
            },
            "`gpus_per_node`",
        ),
        (
            TopologySpec {
                nodes: u32::MAX,
                gpus_per_node: u32::MAX,
                ..good
            },
            "`gpus_per_node`",
        ),
        (
            TopologySpec {
                nvlink_bytes_per_s: 0.0,
                ..good
            },
            "`nvlink_bytes_per_s`",
        ),
        (
            TopologySpec {
                nvlink_bytes_per_s: f64::NAN,
                ..good
            },
            "`nvlink_bytes_per_s`",
        ),
        (
            TopologySpec {
                nic_bytes_per_s: -1.0,
                ..good
            },
            "`nic_bytes_per_s`",
        ),
        (
            TopologySpec {
                nic_bytes_per_s: f64::INFINITY,
                ..good
            },
            "`nic_bytes_per_s`",
        ),
        (
            TopologySpec {
                fabric: Fabric::TwoLevel {
                    nodes_per_leaf: 0,
                    oversubscription: 1.0,
                },
                ..good
            },
            "`fabric.nodes_per_leaf`",
        ),
        (
            TopologySpec {
                nodes_per_nvlink_domain: 0,
                ..good
            },
            "`nodes_per_nvlink_domain`",
        ),
        (
            TopologySpec {
                fabric: Fabric::TwoLevel {
                    nodes_per_leaf: 2,
                    oversubscription: 0.0,
                },
                ..good
            },
            "`fabric.oversubscription`",
        ),
    ];
    for (bad, field) in cases {
        let e = Topology::new(bad).unwrap_err().to_string();
        assert!(e.contains(field), "{e} should name {field}");
    }
    assert!(Topology::new(good).is_ok());
}

#[test]
fn spec_from_yaml() {
    let s: TopologySpec = serde_norway::from_str(
        "nodes: 4\ngpus_per_node: 8\nnvlink_bytes_per_s: 450e9\nnic_bytes_per_s: 50e9\n\
         fabric: !two_level { nodes_per_leaf: 2, oversubscription: 4.0 }\n",
    )
    .unwrap();
    assert_eq!(
        s.fabric,
        Fabric::TwoLevel {
            nodes_per_leaf: 2,
            oversubscription: 4.0
        }
    );
    let e = serde_norway::from_str::<TopologySpec>("nodes: 1\nbogus: 3\n").unwrap_err();
    assert!(e.to_string().contains("bogus"), "{e}");
}

#[test]
fn a_fabric_is_read_tagged_as_a_map_and_from_json() {
    let two = Fabric::TwoLevel {
        nodes_per_leaf: 2,
        oversubscription: 4.0,
    };
    let yaml = |text: &str| serde_norway::from_str::<Fabric>(text).map_err(|e| e.to_string());
    assert_eq!(
        yaml("!two_level {nodes_per_leaf: 2, oversubscription: 4}"),
        Ok(two)
    );
    assert_eq!(
        yaml("two_level: {nodes_per_leaf: 2, oversubscription: 4}"),
        Ok(two)
    );
    assert_eq!(yaml("single_switch"), Ok(Fabric::SingleSwitch));
    let json = r#"{"two_level": {"nodes_per_leaf": 2, "oversubscription": 4.0}}"#;
    assert_eq!(serde_json::from_str::<Fabric>(json).unwrap(), two);
    // What it writes, it reads back, in either format.
    let again = |f: Fabric| {
        let y: Fabric = serde_norway::from_str(&serde_norway::to_string(&f).unwrap()).unwrap();
        let j: Fabric = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        (y, j)
    };
    assert_eq!(again(two), (two, two));
    assert_eq!(
        again(Fabric::SingleSwitch),
        (Fabric::SingleSwitch, Fabric::SingleSwitch)
    );
    for (bad, said) in [
        ("two_level", "two_level needs its leaves"),
        ("three_level", "unknown variant `three_level`"),
        ("{}", "an empty map"),
        (
            "two_level: {nodes_per_leaf: 2}",
            "missing field `oversubscription`",
        ),
        (
            "two_level: {nodes_per_leaf: 2, oversubscription: 4, spines: 2}",
            "unknown field `spines`",
        ),
        (
            "{two_level: {nodes_per_leaf: 2, oversubscription: 4}, single_switch: null}",
            "one fabric only",
        ),
        ("single_switch: {}", "takes no settings"),
    ] {
        let e = yaml(bad).unwrap_err();
        assert!(e.contains(said), "{bad}: {e}");
    }
}

/// Every route is a path in the petgraph graph from the source GPU to the destination GPU,
/// and as short as petgraph's own shortest path, with NVLink domains of one node, of two
/// and of three (the last one partly filled).
#[test]
fn routes_are_shortest_paths_in_the_graph() {
    use petgraph::algo::dijkstra;
    let fabrics = [
        Fabric::SingleSwitch,
        Fabric::TwoLevel {
            nodes_per_leaf: 2,
            oversubscription: 2.0,
        },
    ];
    for (fabric, per_domain) in fabrics.into_iter().flat_map(|f| [(f, 1), (f, 2), (f, 3)]) {
        let topo = Topology::new(TopologySpec {
            nodes_per_nvlink_domain: per_domain,
            ..spec(5, 3, fabric)
        })
        .unwrap();
        assert_eq!(topo.num_domains(), 5u32.div_ceil(per_domain));
        for d in 0..topo.num_domains() {
            let gpu = Vertex::Gpu(GpuId(d * per_domain * 3));
            assert!(topo.link_between(gpu, Vertex::NvSwitch(d)).is_some());
        }
        assert_eq!(
            topo.link_between(Vertex::NvSwitch(topo.num_domains()), Vertex::Switch),
            None
        );
        let g = topo.graph();
        for s in 0..topo.num_gpus() {
            let src = g
                .node_indices()
                .find(|&i| g[i] == Vertex::Gpu(GpuId(s)))
                .unwrap();
            let dist = dijkstra(g, src, None, |_| 1usize);
            for d in 0..topo.num_gpus() {
                let route = topo.route(GpuId(s), GpuId(d)).unwrap();
                let mut at = Vertex::Gpu(GpuId(s));
                for &l in route.links() {
                    let link = topo.link(l).unwrap();
                    assert_eq!(link.from, at);
                    assert_eq!(topo.link_between(link.from, link.to), Some(l));
                    at = link.to;
                }
                assert_eq!(at, Vertex::Gpu(GpuId(d)));
                let dst = g
                    .node_indices()
                    .find(|&i| g[i] == Vertex::Gpu(GpuId(d)))
                    .unwrap();
                assert_eq!(dist[&dst], route.links().len(), "{s} → {d}");
            }
        }
    }
    let topo = Topology::new(spec(2, 2, Fabric::SingleSwitch)).unwrap();
    assert!(topo.route(GpuId(0), GpuId(4)).is_err());
    assert_eq!(topo.link_between(Vertex::Leaf(0), Vertex::Spine), None);
    assert_eq!(
        topo.link_between(Vertex::Gpu(GpuId(9)), Vertex::Switch),
        None
    );
}

#[test]
fn leaf_uplink_capacity() {
    let topo = Topology::new(spec(
        5,
        8,
        Fabric::TwoLevel {
            nodes_per_leaf: 2,
            oversubscription: 4.0,
        },
    ))
    .unwrap();
    assert_eq!(topo.num_leaves(), 3);
    for leaf in 0..3 {
        for (a, b) in [
            (Vertex::Leaf(leaf), Vertex::Spine),
            (Vertex::Spine, Vertex::Leaf(leaf)),
        ] {
            let l = topo.link_between(a, b).unwrap();
            assert_eq!(topo.link(l).unwrap().capacity, 2.0 * 8.0 * NIC / 4.0);
        }
    }
    assert_eq!(topo.leaf_of(4), Some(2));
}

// ---------------------------------------------------------------------------------------------
// End-to-end transfers.
// ---------------------------------------------------------------------------------------------

fn t(nanos: u64) -> SimTime {
    SimTime::from_nanos(nanos)
}

/// Runs the network alone, as a world would: one wake-up at `next_event_time`.
fn run_until_idle(net: &mut Network) -> Vec<(SimTime, TransferId)> {
    let mut done = Vec::new();
    let mut last = net.now();
    while let Some(at) = net.next_event_time() {
        assert!(at >= last, "event times go back: {at} < {last}");
        last = at;
        done.extend(net.poll_completed(at));
    }
    done
}

const LAT: u64 = 10_000;

#[test]
fn one_flow_over_infiniband() {
    let mut net = network(spec(2, 8, Fabric::SingleSwitch));
    let id = net
        .start_transfer(t(0), &[(GpuId(0), GpuId(8), 10_000_000_000)])
        .unwrap();
    assert_eq!(net.next_completion(), Some((t(200_000_000 + LAT), id)));
    let done = run_until_idle(&mut net);
    assert_eq!(done, vec![(t(200_000_000 + LAT), id)]);
    assert_eq!(net.active_transfers(), 0);
    assert_eq!(net.active_flows(), 0);
    assert!(!net.is_active(id));
}

#[test]
fn two_flows_sharing_a_nic_take_twice_as_long() {
    let mut net = network(spec(3, 8, Fabric::SingleSwitch));
    // GPU 0 sends to node 1 and to node 2: both leave through NIC 0.
    let a = net
        .start_transfer(t(0), &[(GpuId(0), GpuId(8), 10_000_000_000)])
        .unwrap();
    let b = net
        .start_transfer(t(0), &[(GpuId(0), GpuId(16), 10_000_000_000)])
        .unwrap();
    for f in net.flows() {
        assert_eq!(f.rate, NIC / 2.0);
    }
    let done = run_until_idle(&mut net);
    assert_eq!(
        done,
        vec![(t(400_000_000 + LAT), a), (t(400_000_000 + LAT), b)]
    );
}

#[test]
fn freed_bandwidth_goes_to_the_remaining_flow() {
    let mut net = network(spec(3, 8, Fabric::SingleSwitch));
    let a = net
        .start_transfer(t(0), &[(GpuId(0), GpuId(8), 5_000_000_000)])
        .unwrap();
    let b = net
        .start_transfer(t(0), &[(GpuId(0), GpuId(16), 10_000_000_000)])
        .unwrap();
    // Both at 25 GB/s until a ends at 0.2 s; b then has 5 GB left at 50 GB/s: 0.1 s more.
    let done = run_until_idle(&mut net);
    assert_eq!(
        done,
        vec![(t(200_000_000 + LAT), a), (t(300_000_000 + LAT), b)]
    );
}

#[test]
fn tp2_to_tp2_within_a_node_uses_nvlink() {
    let mut net = network(spec(2, 8, Fabric::SingleSwitch));
    let bytes = 9_000_000_000;
    let id = net
        .start_transfer(
            t(0),
            &[(GpuId(0), GpuId(2), bytes), (GpuId(1), GpuId(3), bytes)],
        )
        .unwrap();
    let flows: Vec<FlowView> = net.transfer_flows(id).collect();
    assert_eq!(flows.len(), 2);
    for f in &flows {
        assert_eq!(f.rate, NVLINK);
        assert_eq!(f.route.links().len(), 2);
        let first = net.topology().link(f.route.links()[0]).unwrap();
        assert_eq!(first.to, Vertex::NvSwitch(0));
    }
    assert_eq!(run_until_idle(&mut net), vec![(t(20_000_000 + LAT), id)]);
}

/// An NVL72 rack: GPUs of different 4-GPU trays in one NVLink domain talk over NVLink, the
/// next rack's over InfiniBand.
#[test]
fn trays_of_one_nvlink_domain_talk_over_nvlink() {
    let mut net = network(TopologySpec {
        nodes_per_nvlink_domain: 18,
        ..spec(36, 4, Fabric::SingleSwitch)
    });
    let bytes = 9_000_000_000;
    let rack = net
        .start_transfer(t(0), &[(GpuId(0), GpuId(71), bytes)])
        .unwrap();
    let flow = net.transfer_flows(rack).next().unwrap();
    assert_eq!((flow.rate, flow.route.links().len()), (NVLINK, 2));
    let first = net.topology().link(flow.route.links()[0]).unwrap();
    assert_eq!(first.to, Vertex::NvSwitch(0));
    let across = net
        .start_transfer(t(0), &[(GpuId(4), GpuId(72), bytes)])
        .unwrap();
    let flow = net.transfer_flows(across).next().unwrap();
    assert_eq!((flow.rate, flow.route.links().len()), (NIC, 4));
    let to = net.topology().link(flow.route.links()[3]).unwrap().to;
    assert_eq!(to, Vertex::Gpu(GpuId(72)));
    assert_eq!(
        net.topology().domain_of(net.topology().node_of(GpuId(72))),
        1
    );
}

#[test]
fn tp2_to_tp2_across_nodes_uses_two_nics_in_parallel() {
    let mut net = network(spec(2, 8, Fabric::SingleSwitch));
    let bytes = 5_000_000_000;
    let id = net
        .start_transfer(
            t(0),
            &[(GpuId(0), GpuId(8), bytes), (GpuId(1), GpuId(9), bytes)],
        )
        .unwrap();
    let nics: Vec<Vertex> = net
        .transfer_flows(id)
        .map(|f| net.topology().link(f.route.links()[1]).unwrap().from)
        .collect();
    assert_eq!(nics, vec![Vertex::Nic(GpuId(0)), Vertex::Nic(GpuId(1))]);
    for f in net.transfer_flows(id) {
        assert_eq!(f.rate, NIC);
    }
    assert_eq!(run_until_idle(&mut net), vec![(t(100_000_000 + LAT), id)]);
}

#[test]
fn oversubscribed_two_level_fabric_slows_cross_leaf_traffic() {
    // 4 nodes of 8 GPUs, 2 nodes per leaf, oversubscription 4: leaf uplink 200 GB/s.
    let fabric = Fabric::TwoLevel {
        nodes_per_leaf: 2,
        oversubscription: 4.0,
    };
    let bytes = 1_000_000_000;
    // All 8 GPUs of node 0 send to node 1 (same leaf): 50 GB/s each, 20 ms.
    let mut net = network(spec(4, 8, fabric));
    let shards: Vec<_> = (0..8).map(|i| (GpuId(i), GpuId(8 + i), bytes)).collect();
    let same_leaf = net.start_transfer(t(0), &shards).unwrap();
    assert_eq!(
        run_until_idle(&mut net),
        vec![(t(20_000_000 + LAT), same_leaf)]
    );
    // All 8 GPUs of node 0 send to node 2 (other leaf): 200/8 = 25 GB/s each, 40 ms.
    let shards: Vec<_> = (0..8).map(|i| (GpuId(i), GpuId(16 + i), bytes)).collect();
    let cross = net.start_transfer(net.now(), &shards).unwrap();
    for f in net.transfer_flows(cross) {
        assert_eq!(f.rate, 25e9);
    }
    let start = net.now();
    assert_eq!(
        run_until_idle(&mut net),
        vec![(start + SimDuration::from_nanos(40_000_000 + LAT), cross)]
    );
    // Without oversubscription the same transfer runs at NIC speed.
    let mut net = network(spec(
        4,
        8,
        Fabric::TwoLevel {
            nodes_per_leaf: 2,
            oversubscription: 1.0,
        },
    ));
    let id = net.start_transfer(t(0), &shards).unwrap();
    assert_eq!(run_until_idle(&mut net), vec![(t(20_000_000 + LAT), id)]);
}

#[test]
fn empty_local_and_zero_byte_transfers_take_the_latency() {
    let mut net = network(spec(1, 2, Fabric::SingleSwitch));
    let a = net.start_transfer(t(5), &[]).unwrap();
    let b = net
        .start_transfer(t(5), &[(GpuId(0), GpuId(0), 100), (GpuId(0), GpuId(1), 0)])
        .unwrap();
    assert_eq!(net.active_flows(), 0);
    assert_eq!(
        run_until_idle(&mut net),
        vec![(t(5 + LAT), a), (t(5 + LAT), b)]
    );
    // With no latency, it is done at once.
    let mut net = Network::new(
        Topology::new(spec(1, 2, Fabric::SingleSwitch)).unwrap(),
        SimDuration::ZERO,
    );
    let c = net.start_transfer(t(7), &[]).unwrap();
    assert_eq!(net.next_event_time(), Some(t(7)));
    assert_eq!(net.poll_completed(t(7)), vec![(t(7), c)]);
    assert_eq!(net.next_event_time(), None);
}

#[test]
fn bad_gpu_is_rejected_without_change() {
    let mut net = network(spec(1, 2, Fabric::SingleSwitch));
    let e = net
        .start_transfer(t(0), &[(GpuId(0), GpuId(1), 10), (GpuId(0), GpuId(2), 10)])
        .unwrap_err();
    assert!(e.to_string().contains("out of range"), "{e}");
    assert_eq!(net.active_transfers(), 0);
    assert_eq!(net.active_flows(), 0);
}

#[test]
fn cancel_frees_bandwidth_and_forgets_the_transfer() {
    let mut net = network(spec(3, 8, Fabric::SingleSwitch));
    let a = net
        .start_transfer(t(0), &[(GpuId(0), GpuId(8), 10_000_000_000)])
        .unwrap();
    let b = net
        .start_transfer(t(0), &[(GpuId(0), GpuId(16), 10_000_000_000)])
        .unwrap();
    // At 0.1 s, b has moved 2.5 GB; alone it moves the other 7.5 GB in 0.15 s.
    assert!(net.cancel_transfer(t(100_000_000), a));
    assert!(!net.cancel_transfer(t(100_000_000), a));
    assert!(!net.is_active(a));
    assert_eq!(run_until_idle(&mut net), vec![(t(250_000_000 + LAT), b)]);
    assert!(!net.cancel_transfer(net.now(), b));
    // A transfer completed but not yet polled can still be cancelled: never reported.
    let c = net.start_transfer(net.now(), &[]).unwrap();
    net.advance(net.now() + SimDuration::from_nanos(LAT));
    assert!(net.cancel_transfer(net.now(), c));
    assert!(net.poll_completed(net.now()).is_empty());
    // A stale id does not match the transfer reusing its slot.
    let d = net.start_transfer(net.now(), &[]).unwrap();
    assert_ne!(c, d);
    assert!(!net.cancel_transfer(net.now(), c));
    assert!(net.is_active(d));
}

#[test]
fn link_down_stalls_its_flows_and_up_resumes_them() {
    let mut net = network(spec(2, 8, Fabric::SingleSwitch));
    let a = net
        .start_transfer(t(0), &[(GpuId(0), GpuId(8), 10_000_000_000)])
        .unwrap();
    let b = net
        .start_transfer(t(0), &[(GpuId(1), GpuId(9), 10_000_000_000)])
        .unwrap();
    let topo = net.topology().clone();
    let nic0 = topo
        .link_between(Vertex::Nic(GpuId(0)), Vertex::Switch)
        .unwrap();
    // Down at 0.1 s (a has moved 5 GB).
    let stalled = net.set_link_capacity(t(100_000_000), nic0, 0.0).unwrap();
    assert_eq!(stalled, vec![a]);
    assert_eq!(net.stalled_transfers(), vec![a]);
    assert_eq!(net.next_completion(), Some((t(200_000_000 + LAT), b)));
    assert_eq!(
        net.poll_completed(t(300_000_000)),
        vec![(t(200_000_000 + LAT), b)]
    );
    assert_eq!(net.next_event_time(), None);
    // Back at half speed at 0.3 s: 5 GB at 25 GB/s = 0.2 s.
    let stalled = net
        .set_link_capacity(t(300_000_000), nic0, NIC / 2.0)
        .unwrap();
    assert!(stalled.is_empty());
    assert_eq!(net.link_load(nic0), Some(NIC / 2.0));
    assert_eq!(run_until_idle(&mut net), vec![(t(500_000_000 + LAT), a)]);
    assert!(net.set_link_capacity(t(0), LinkId(100_000), 1.0).is_err());
    assert!(net.set_link_capacity(t(0), nic0, -1.0).is_err());
    assert!(net.set_link_capacity(t(0), nic0, f64::NAN).is_err());
}

#[test]
fn time_never_goes_back() {
    let mut net = network(spec(2, 1, Fabric::SingleSwitch));
    net.advance(t(1_000));
    net.advance(t(10));
    assert_eq!(net.now(), t(1_000));
    let id = net
        .start_transfer(t(0), &[(GpuId(0), GpuId(1), 50_000)])
        .unwrap();
    // Started at the clock (1 µs): 50 kB at 50 GB/s = 1 µs.
    assert_eq!(net.next_completion(), Some((t(2_000 + LAT), id)));
}

/// Awkward sizes and rates: completions never come before the bytes could have moved, and a
/// completion event never fires with bytes left forever.
#[test]
fn rounding_is_honest() {
    let mut net = network(TopologySpec {
        nic_bytes_per_s: 3e9 / 7.0,
        ..spec(3, 1, Fabric::SingleSwitch)
    });
    let mut ids = Vec::new();
    for (i, bytes) in [1u64, 3, 7, 1_000_003, 999_999_937].into_iter().enumerate() {
        let dst = GpuId(1 + (i as u32 % 2));
        ids.push(
            net.start_transfer(t(i as u64 * 13), &[(GpuId(0), dst, bytes)])
                .unwrap(),
        );
    }
    let done = run_until_idle(&mut net);
    assert_eq!(done.len(), ids.len());
}

/// Two networks fed the same calls give bit-identical rates and completions.
#[test]
fn deterministic() {
    let run = || {
        let mut net = network(spec(
            6,
            4,
            Fabric::TwoLevel {
                nodes_per_leaf: 2,
                oversubscription: 3.0,
            },
        ));
        let mut x: u64 = 42;
        let mut out = Vec::new();
        for i in 0..200u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (s, d) = ((x >> 33) as u32 % 24, (x >> 45) as u32 % 24);
            let now = t(i * 1_000_000);
            net.start_transfer(now, &[(GpuId(s), GpuId(d), x % 1_000_000_000)])
                .unwrap();
            out.extend(
                net.flows()
                    .map(|f| (f.id.index(), f.rate.to_bits(), f.finish)),
            );
            out.extend(
                net.poll_completed(now)
                    .into_iter()
                    .map(|(at, _)| (usize::MAX, 0, Some(at))),
            );
        }
        run_until_idle(&mut net);
        (out, net.now())
    };
    assert_eq!(run(), run());
}

// ---------------------------------------------------------------------------------------------
// The network's incremental recomputation against a from-scratch solve.
// ---------------------------------------------------------------------------------------------

fn random_spec() -> impl Strategy<Value = TopologySpec> {
    (
        (1u32..6, 1u32..4),
        1u32..5,
        prop::sample::select(vec![1e6, 450e9, 900e9]),
        prop::sample::select(vec![1e6 / 3.0, 50e9, 100e9, 12.5e9]),
        prop_oneof![
            Just(Fabric::SingleSwitch),
            (1u32..4, prop::sample::select(vec![0.5, 1.0, 2.0, 4.0, 3.3])).prop_map(|(n, o)| {
                Fabric::TwoLevel {
                    nodes_per_leaf: n,
                    oversubscription: o,
                }
            }),
        ],
    )
        .prop_map(
            |((nodes, per_domain), gpus_per_node, nvlink, nic, fabric)| TopologySpec {
                nodes,
                gpus_per_node,
                nvlink_bytes_per_s: nvlink,
                nic_bytes_per_s: nic,
                fabric,
                nodes_per_nvlink_domain: per_domain,
            },
        )
}

type Shards = Vec<(GpuId, GpuId, u64)>;

#[derive(Clone, Debug)]
enum Op {
    /// Shards as (src, dst, bytes) with GPU numbers taken modulo the GPU count.
    Start(Vec<(u32, u32, u64)>),
    /// Advance by this many nanoseconds and poll.
    Advance(u64),
    /// Cancel the i-th started transfer (modulo).
    Cancel(usize),
    /// Set link (modulo) capacity to nominal × factor.
    Degrade(u32, f64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((0u32..64, 0u32..64, 0u64..2_000_000_000), 0..5)
            .prop_map(Op::Start),
        3 => (0u64..50_000_000).prop_map(Op::Advance),
        1 => (0usize..64).prop_map(Op::Cancel),
        1 => (0u32..1000, prop::sample::select(vec![0.0, 0.25, 1.0, 3.0])).prop_map(|(l, f)| Op::Degrade(l, f)),
    ]
}

/// The network's rates equal a from-scratch max-min solve over all active flows.
fn check_network(net: &Network) -> Result<(), String> {
    let links = net.topology().num_links();
    let caps: Vec<f64> = (0..links)
        .map(|l| net.link_capacity(LinkId(l as u32)).unwrap())
        .collect();
    let flows: Vec<FlowView> = net.flows().collect();
    let routes: Vec<Vec<usize>> = flows
        .iter()
        .map(|f| f.route.links().iter().map(|l| l.index()).collect())
        .collect();
    let rates: Vec<f64> = flows.iter().map(|f| f.rate).collect();
    check_max_min(&caps, &routes, &rates)?;
    for f in &flows {
        if f.finish.is_some_and(|at| at < net.now()) {
            return Err(format!(
                "flow {:?} ends at {:?}, before now {}",
                f.id,
                f.finish,
                net.now()
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn network_rates_match_reference(spec in random_spec(), ops in prop::collection::vec(op(), 1..40)) {
        let topo = Topology::new(spec).unwrap();
        let gpus = topo.num_gpus();
        let links = topo.num_links() as u32;
        let mut net = Network::new(topo, DEFAULT_TRANSFER_LATENCY);
        let mut started: Vec<(TransferId, SimTime, Shards)> = Vec::new();
        let mut cancelled = Vec::new();
        let mut completed: Vec<(SimTime, TransferId)> = Vec::new();
        let mut degraded = false;
        let mut now = SimTime::ZERO;
        for op in ops {
            match op {
                Op::Start(shards) => {
                    let shards: Vec<_> = shards
                        .into_iter()
                        .map(|(s, d, b)| (GpuId(s % gpus), GpuId(d % gpus), b))
                        .collect();
                    let id = net.start_transfer(now, &shards).unwrap();
                    started.push((id, now, shards));
                }
                Op::Advance(dt) => {
                    // Wake up at every event on the way, as the world would.
                    let until = now + SimDuration::from_nanos(dt);
                    while let Some(at) = net.next_event_time().filter(|&at| at <= until) {
                        completed.extend(net.poll_completed(at));
                        prop_assert!(net.next_event_time().is_none_or(|n| n > at));
                        check_network(&net).map_err(TestCaseError::fail)?;
                    }
                    now = until;
                    completed.extend(net.poll_completed(now));
                }
                Op::Cancel(i) => {
                    if !started.is_empty() {
                        let (id, ..) = started[i % started.len()];
                        if net.cancel_transfer(now, id) {
                            cancelled.push(id);
                        }
                    }
                }
                Op::Degrade(l, factor) => {
                    let link = LinkId(l % links);
                    let nominal = net.topology().link(link).unwrap().capacity;
                    net.set_link_capacity(now, link, nominal * factor).unwrap();
                    degraded = true;
                }
            }
            check_network(&net).map_err(TestCaseError::fail)?;
        }
        // Restore every link and drain: everything not cancelled completes exactly once.
        for l in 0..links {
            let nominal = net.topology().link(LinkId(l)).unwrap().capacity;
            net.set_link_capacity(now, LinkId(l), nominal).unwrap();
        }
        check_network(&net).map_err(TestCaseError::fail)?;
        completed.extend(run_until_idle(&mut net));
        prop_assert_eq!(net.active_transfers(), 0);
        prop_assert_eq!(net.active_flows(), 0);
        prop_assert!(completed.windows(2).all(|w| w[0].0 <= w[1].0), "completion times go back");
        let mut ids: Vec<TransferId> = completed.iter().map(|c| c.1).chain(cancelled.iter().copied()).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        prop_assert_eq!(ids.len(), n, "a transfer reported twice");
        prop_assert_eq!(n, started.len());
        // No transfer completes before its bytes could have moved at its route's full speed.
        if !degraded {
            for &(at, id) in &completed {
                let (_, start, shards) = started.iter().find(|s| s.0 == id).unwrap();
                for &(src, dst, bytes) in shards {
                    let route = net.topology().route(src, dst).unwrap();
                    let speed = route
                        .links()
                        .iter()
                        .map(|&l| net.topology().link(l).unwrap().capacity)
                        .fold(f64::INFINITY, f64::min);
                    let min = if route.links().is_empty() { 0.0 } else { bytes as f64 / speed };
                    let floor = *start
                        + SimDuration::from_secs_f64_floor(min).unwrap()
                        + DEFAULT_TRANSFER_LATENCY;
                    prop_assert!(at >= floor, "{:?} done at {} before {}", id, at, floor);
                }
            }
        }
    }
}
