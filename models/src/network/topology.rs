//! The cluster's network as a directed graph: GPUs, NVLink switches, NICs and the
//! InfiniBand fabric, with one directed link per direction (full duplex).

use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};

use crate::error::{ModelsError, Result};

/// The most GPUs a topology may have (keeps a bad configuration from allocating without bound).
pub const MAX_GPUS: u64 = 1 << 20;

/// The most links on any route (GPU→NIC→leaf→spine→leaf→NIC→GPU has six).
pub const MAX_HOPS: usize = 6;

/// A GPU of the cluster: `node × gpus_per_node + local index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GpuId(pub u32);

/// A directed link of the topology: an index into [`Topology::links`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LinkId(pub u32);

impl LinkId {
    /// The index of this link in dense per-link vectors.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// The InfiniBand fabric joining the nodes' NICs: `single_switch`, or `two_level:
/// {nodes_per_leaf: N, oversubscription: X}` (YAML's tagged `!two_level {…}` is read too).
// Read by hand, in each of those forms: `fabric_de.rs`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Fabric {
    /// Every NIC on one non-blocking switch.
    SingleSwitch,
    /// Leaf switches of `nodes_per_leaf` nodes each, joined by a spine. A leaf's uplink
    /// (each direction) carries `nodes_per_leaf × gpus_per_node × nic_bytes_per_s /
    /// oversubscription`; the spine itself is non-blocking.
    TwoLevel {
        /// Nodes under one leaf switch (the last leaf may be partly filled).
        nodes_per_leaf: u32,
        /// Ratio of the leaf's downlink bandwidth to its uplink bandwidth (1 = non-blocking).
        oversubscription: f64,
    },
}

/// What the network is built from. Bandwidths are per GPU, per direction, in bytes/s.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologySpec {
    /// Number of nodes.
    pub nodes: u32,
    /// GPUs in each node (tray): the GPUs that share a NIC rail set and a host.
    pub gpus_per_node: u32,
    /// Consecutive nodes that share one NVLink domain (1: each node is its own, as on an
    /// 8-GPU HGX board; 18 for a GB200/GB300 NVL72 rack of 4-GPU trays, whose NVLink
    /// switch trays join all 72 GPUs). The last domain may be partly filled.
    #[serde(default = "one_node")]
    pub nodes_per_nvlink_domain: u32,
    /// NVLink bandwidth of one GPU to its node's NVLink switch, per direction.
    pub nvlink_bytes_per_s: f64,
    /// Bandwidth of one GPU's NIC, per direction.
    pub nic_bytes_per_s: f64,
    /// The fabric between nodes.
    pub fabric: Fabric,
}

fn one_node() -> u32 {
    1
}

fn invalid(message: String) -> ModelsError {
    ModelsError::Invalid {
        what: "network topology",
        message,
    }
}

fn check_positive(field: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(invalid(format!(
            "`{field}` must be a finite number above 0 (got {value})"
        )))
    }
}

impl TopologySpec {
    /// Checks every field; the error names the field at fault.
    pub fn validate(&self) -> Result<()> {
        if self.nodes == 0 {
            return Err(invalid("`nodes` must be at least 1 (got 0)".into()));
        }
        if self.gpus_per_node == 0 {
            return Err(invalid("`gpus_per_node` must be at least 1 (got 0)".into()));
        }
        if self.nodes_per_nvlink_domain == 0 {
            return Err(invalid(
                "`nodes_per_nvlink_domain` must be at least 1 (got 0)".into(),
            ));
        }
        let gpus = u64::from(self.nodes) * u64::from(self.gpus_per_node);
        if gpus > MAX_GPUS {
            return Err(invalid(format!(
                "`nodes` × `gpus_per_node` = {gpus} GPUs, more than the {MAX_GPUS} supported"
            )));
        }
        check_positive("nvlink_bytes_per_s", self.nvlink_bytes_per_s)?;
        check_positive("nic_bytes_per_s", self.nic_bytes_per_s)?;
        if let Fabric::TwoLevel {
            nodes_per_leaf,
            oversubscription,
        } = self.fabric
        {
            if nodes_per_leaf == 0 {
                return Err(invalid(
                    "`fabric.nodes_per_leaf` must be at least 1 (got 0)".into(),
                ));
            }
            check_positive("fabric.oversubscription", oversubscription)?;
        }
        Ok(())
    }
}

/// A vertex of the topology graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Vertex {
    /// A GPU.
    Gpu(GpuId),
    /// The NVLink switch of an NVLink domain (by domain index: one node, or an NVL72 rack).
    NvSwitch(u32),
    /// The NIC of a GPU (GPU `i` of a node uses NIC `i`: rail-aligned).
    Nic(GpuId),
    /// The single InfiniBand switch of [`Fabric::SingleSwitch`].
    Switch,
    /// A leaf switch of [`Fabric::TwoLevel`] (by leaf index).
    Leaf(u32),
    /// The spine of [`Fabric::TwoLevel`].
    Spine,
}

/// One direction of a physical link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    /// Where the bytes leave.
    pub from: Vertex,
    /// Where the bytes arrive.
    pub to: Vertex,
    /// Nominal capacity in bytes/s (the network may degrade it at run time).
    pub capacity: f64,
}

/// The links a flow crosses, in order (at most [`MAX_HOPS`]; none from a GPU to itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    links: [LinkId; MAX_HOPS],
    len: u8,
}

impl Route {
    fn new(links: &[LinkId]) -> Route {
        let mut route = Route {
            links: [LinkId(0); MAX_HOPS],
            len: links.len() as u8,
        };
        route.links[..links.len()].copy_from_slice(links);
        route
    }

    /// The links, from source to destination.
    pub fn links(&self) -> &[LinkId] {
        &self.links[..usize::from(self.len)]
    }
}

/// Per-GPU links, indexed by the `*_` constants below.
const NVL_UP: usize = 0;
const NVL_DOWN: usize = 1;
const PCIE_UP: usize = 2;
const PCIE_DOWN: usize = 3;
const NIC_UP: usize = 4;
const NIC_DOWN: usize = 5;

/// The validated network: a petgraph [`DiGraph`] whose edge weights are [`LinkId`]s, plus
/// dense per-link data and hand-computed routes.
///
/// Vertices and links are created in a fixed order from the spec, so ids are deterministic.
/// Each GPU has an NVLink pair to its NVLink domain's switch, a pair to its NIC (capacity
/// `nic_bytes_per_s`) and its NIC a pair to the fabric (capacity `nic_bytes_per_s`);
/// with [`Fabric::TwoLevel`] each leaf has a pair to the spine.
#[derive(Clone, Debug)]
pub struct Topology {
    spec: TopologySpec,
    graph: DiGraph<Vertex, LinkId>,
    links: Vec<Link>,
    gpu_links: Vec<[LinkId; 6]>,
    /// Leaf→spine and spine→leaf per leaf.
    leaf_links: Vec<[LinkId; 2]>,
}

impl Topology {
    /// Builds the topology; fails (naming the field) on an invalid spec.
    pub fn new(spec: TopologySpec) -> Result<Topology> {
        spec.validate()?;
        let gpus = spec.nodes * spec.gpus_per_node;
        let mut graph = DiGraph::new();
        let mut links = Vec::new();
        let mut add = |graph: &mut DiGraph<Vertex, LinkId>,
                       a: NodeIndex,
                       b: NodeIndex,
                       capacity: f64|
         -> LinkId {
            let id = LinkId(links.len() as u32);
            links.push(Link {
                from: graph[a],
                to: graph[b],
                capacity,
            });
            graph.add_edge(a, b, id);
            id
        };
        let fabric_switches: Vec<NodeIndex>;
        let mut leaf_links = Vec::new();
        match spec.fabric {
            Fabric::SingleSwitch => {
                fabric_switches = vec![graph.add_node(Vertex::Switch)];
            }
            Fabric::TwoLevel {
                nodes_per_leaf,
                oversubscription,
            } => {
                let leaves = spec.nodes.div_ceil(nodes_per_leaf);
                let s = graph.add_node(Vertex::Spine);
                fabric_switches = (0..leaves)
                    .map(|l| graph.add_node(Vertex::Leaf(l)))
                    .collect();
                let uplink = f64::from(nodes_per_leaf)
                    * f64::from(spec.gpus_per_node)
                    * spec.nic_bytes_per_s
                    / oversubscription;
                for &leaf in &fabric_switches {
                    let up = add(&mut graph, leaf, s, uplink);
                    let down = add(&mut graph, s, leaf, uplink);
                    leaf_links.push([up, down]);
                }
            }
        }
        let mut gpu_links = Vec::with_capacity(gpus as usize);
        let per_domain = spec.nodes_per_nvlink_domain;
        let mut nvswitch = NodeIndex::end();
        for node in 0..spec.nodes {
            // A domain's switch comes just before its first node's GPUs.
            if node.is_multiple_of(per_domain) {
                nvswitch = graph.add_node(Vertex::NvSwitch(node / per_domain));
            }
            let edge = match spec.fabric {
                Fabric::SingleSwitch => fabric_switches[0],
                Fabric::TwoLevel { nodes_per_leaf, .. } => {
                    fabric_switches[(node / nodes_per_leaf) as usize]
                }
            };
            for local in 0..spec.gpus_per_node {
                let g = GpuId(node * spec.gpus_per_node + local);
                let gpu = graph.add_node(Vertex::Gpu(g));
                let nic = graph.add_node(Vertex::Nic(g));
                let nvl = spec.nvlink_bytes_per_s;
                let nicbw = spec.nic_bytes_per_s;
                gpu_links.push([
                    add(&mut graph, gpu, nvswitch, nvl),
                    add(&mut graph, nvswitch, gpu, nvl),
                    add(&mut graph, gpu, nic, nicbw),
                    add(&mut graph, nic, gpu, nicbw),
                    add(&mut graph, nic, edge, nicbw),
                    add(&mut graph, edge, nic, nicbw),
                ]);
            }
        }
        Ok(Topology {
            spec,
            graph,
            links,
            gpu_links,
            leaf_links,
        })
    }

    /// The spec this topology was built from.
    pub fn spec(&self) -> &TopologySpec {
        &self.spec
    }

    /// The graph: vertices are [`Vertex`]es, edge weights the [`LinkId`]s.
    pub fn graph(&self) -> &DiGraph<Vertex, LinkId> {
        &self.graph
    }

    /// Number of GPUs (`nodes × gpus_per_node`).
    pub fn num_gpus(&self) -> u32 {
        self.spec.nodes * self.spec.gpus_per_node
    }

    /// Number of directed links.
    pub fn num_links(&self) -> usize {
        self.links.len()
    }

    /// Number of leaf switches (0 with [`Fabric::SingleSwitch`]).
    pub fn num_leaves(&self) -> u32 {
        self.leaf_links.len() as u32
    }

    /// All links; [`LinkId`] `i` is element `i`.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// One link, or `None` if the id is out of range.
    pub fn link(&self, id: LinkId) -> Option<&Link> {
        self.links.get(id.index())
    }

    /// The GPU at `local` index of `node`, or `None` if out of range.
    pub fn gpu(&self, node: u32, local: u32) -> Option<GpuId> {
        (node < self.spec.nodes && local < self.spec.gpus_per_node)
            .then(|| GpuId(node * self.spec.gpus_per_node + local))
    }

    /// The node of a GPU.
    pub fn node_of(&self, gpu: GpuId) -> u32 {
        gpu.0 / self.spec.gpus_per_node
    }

    /// The NVLink domain of a node.
    pub fn domain_of(&self, node: u32) -> u32 {
        node / self.spec.nodes_per_nvlink_domain
    }

    /// Number of NVLink domains.
    pub fn num_domains(&self) -> u32 {
        self.spec.nodes.div_ceil(self.spec.nodes_per_nvlink_domain)
    }

    /// The leaf switch of a node ([`Fabric::TwoLevel`] only).
    pub fn leaf_of(&self, node: u32) -> Option<u32> {
        match self.spec.fabric {
            Fabric::SingleSwitch => None,
            Fabric::TwoLevel { nodes_per_leaf, .. } => Some(node / nodes_per_leaf),
        }
    }

    /// The link from `from` to `to`, if there is one (e.g. to degrade it).
    pub fn link_between(&self, from: Vertex, to: Vertex) -> Option<LinkId> {
        let a = self.vertex_index(from)?;
        let b = self.vertex_index(to)?;
        self.graph.find_edge(a, b).map(|e| self.graph[e])
    }

    fn vertex_index(&self, v: Vertex) -> Option<NodeIndex> {
        // Vertex order in `new`: fabric switches first, then per node [NvSwitch if the
        // node is its domain's first, (Gpu, Nic) per GPU].
        let fabric = match self.spec.fabric {
            Fabric::SingleSwitch => 1,
            Fabric::TwoLevel { .. } => 1 + self.leaf_links.len(),
        };
        let per_domain = self.spec.nodes_per_nvlink_domain as usize;
        // Where a node's vertices start: the GPUs and NICs of the nodes before it, plus one
        // switch per domain begun before it.
        let node_start = |node: usize| {
            fabric + node * 2 * self.spec.gpus_per_node as usize + node.div_ceil(per_domain)
        };
        let gpu_at = |g: GpuId, offset: usize| {
            (g.0 < self.num_gpus()).then(|| {
                let node = (g.0 / self.spec.gpus_per_node) as usize;
                let local = (g.0 % self.spec.gpus_per_node) as usize;
                let switch = usize::from(node.is_multiple_of(per_domain));
                node_start(node) + switch + 2 * local + offset
            })
        };
        let i = match (v, self.spec.fabric) {
            (Vertex::Switch, Fabric::SingleSwitch) => Some(0),
            (Vertex::Spine, Fabric::TwoLevel { .. }) => Some(0),
            (Vertex::Leaf(l), Fabric::TwoLevel { .. }) => {
                (l < self.num_leaves()).then(|| 1 + l as usize)
            }
            (Vertex::NvSwitch(d), _) => {
                (d < self.num_domains()).then(|| node_start(d as usize * per_domain))
            }
            (Vertex::Gpu(g), _) => gpu_at(g, 0),
            (Vertex::Nic(g), _) => gpu_at(g, 1),
            _ => None,
        }?;
        let index = NodeIndex::new(i);
        debug_assert_eq!(self.graph.node_weight(index), Some(&v));
        Some(index)
    }

    /// The route from `src` to `dst`: same NVLink domain → GPU→NVSwitch→GPU; other domain →
    /// GPU→NIC→(switch | leaf[→spine→leaf])→NIC→GPU; none from a GPU to itself.
    pub fn route(&self, src: GpuId, dst: GpuId) -> Result<Route> {
        let n = self.num_gpus();
        for (what, g) in [("source", src), ("destination", dst)] {
            if g.0 >= n {
                return Err(ModelsError::Invalid {
                    what: "network route",
                    message: format!("{what} GPU {} out of range ({n} GPUs)", g.0),
                });
            }
        }
        Ok(self.route_unchecked(src, dst))
    }

    /// [`Topology::route`] for GPUs known to be in range.
    pub(crate) fn route_unchecked(&self, src: GpuId, dst: GpuId) -> Route {
        if src == dst {
            return Route::new(&[]);
        }
        let s = &self.gpu_links[src.0 as usize];
        let d = &self.gpu_links[dst.0 as usize];
        let (sn, dn) = (self.node_of(src), self.node_of(dst));
        if self.domain_of(sn) == self.domain_of(dn) {
            return Route::new(&[s[NVL_UP], d[NVL_DOWN]]);
        }
        match (self.leaf_of(sn), self.leaf_of(dn)) {
            (Some(sl), Some(dl)) if sl != dl => Route::new(&[
                s[PCIE_UP],
                s[NIC_UP],
                self.leaf_links[sl as usize][0],
                self.leaf_links[dl as usize][1],
                d[NIC_DOWN],
                d[PCIE_DOWN],
            ]),
            _ => Route::new(&[s[PCIE_UP], s[NIC_UP], d[NIC_DOWN], d[PCIE_DOWN]]),
        }
    }
}
