//! Which GPUs a worker holds: a worker of at most a node's GPUs stays on one node; a wider
//! one (a 32-GPU wide-EP worker on NVL72 trays of 4) takes whole nodes of one NVLink domain,
//! as its all-to-all and tensor-parallel traffic need NVLink between all its GPUs; one wider
//! than a domain (16 GPUs on 8-GPU HGX nodes) takes whole domains.

/// Free and held GPUs of the cluster, node by node.
#[derive(Clone, Debug)]
pub struct GpuInventory {
    gpus_per_node: u32,
    nodes_per_domain: u32,
    /// `held[node][local]`.
    held: Vec<Vec<bool>>,
    budget: u32,
    in_use: u32,
    /// Faults holding each node down (overlapping ones count apart): nothing is placed
    /// on a node while any holds it.
    down: Vec<u32>,
}

impl GpuInventory {
    /// `nodes` nodes of `gpus_per_node` GPUs in NVLink domains of `nodes_per_domain`
    /// consecutive nodes, at most `budget` held at once.
    pub fn new(nodes: u32, gpus_per_node: u32, nodes_per_domain: u32, budget: u32) -> Self {
        GpuInventory {
            gpus_per_node,
            nodes_per_domain: nodes_per_domain.max(1),
            held: vec![vec![false; gpus_per_node as usize]; nodes as usize],
            budget,
            in_use: 0,
            down: vec![0; nodes as usize],
        }
    }

    /// GPUs held now.
    pub fn in_use(&self) -> u32 {
        self.in_use
    }

    /// The most GPUs that may be held at once.
    pub fn budget(&self) -> u32 {
        self.budget
    }

    /// Takes `gpus` GPUs for one worker (first fit, lowest indices), as global GPU
    /// indices `node × gpus_per_node + local`: on one node, as whole free nodes of one
    /// NVLink domain when `gpus` is more than a node holds, or as whole free domains when it
    /// is more than a domain holds; `None` if the budget or the nodes cannot give them.
    pub fn take(&mut self, gpus: u32) -> Option<Vec<u32>> {
        if self.in_use + gpus > self.budget {
            return None;
        }
        if gpus > self.gpus_per_node {
            return self.take_nodes(gpus);
        }
        for (node, held) in self.held.iter_mut().enumerate() {
            if self.down[node] > 0 {
                continue;
            }
            let free: Vec<usize> = (0..held.len())
                .filter(|&i| !held[i])
                .take(gpus as usize)
                .collect();
            if free.len() == gpus as usize {
                for &i in &free {
                    held[i] = true;
                }
                self.in_use += gpus;
                return Some(
                    free.iter()
                        .map(|&i| node as u32 * self.gpus_per_node + i as u32)
                        .collect(),
                );
            }
        }
        None
    }

    /// Takes `gpus / gpus_per_node` whole free nodes within one NVLink domain, or, for a worker
    /// wider than a domain, whole free domains (its collectives cross InfiniBand between
    /// them, `servesim_models::perf::inter_domain`).
    fn take_nodes(&mut self, gpus: u32) -> Option<Vec<u32>> {
        let gpn = self.gpus_per_node;
        let per_domain = self.nodes_per_domain;
        let need = gpus / gpn;
        if !gpus.is_multiple_of(gpn) || (need > per_domain && !need.is_multiple_of(per_domain)) {
            return None;
        }
        let nodes = self.nodes();
        let free = |inv: &Self, n: u32| {
            inv.down[n as usize] == 0 && inv.held[n as usize].iter().all(|h| !h)
        };
        let mut picked = Vec::new();
        for first in (0..nodes).step_by(per_domain as usize) {
            let domain: Vec<u32> = (first..(first + per_domain).min(nodes))
                .filter(|&n| free(self, n))
                .collect();
            if need <= per_domain {
                if domain.len() >= need as usize {
                    picked = domain[..need as usize].to_vec();
                    break;
                }
            } else if domain.len() == per_domain as usize {
                picked.extend(domain);
                if picked.len() == need as usize {
                    break;
                }
            }
        }
        if picked.len() != need as usize {
            return None;
        }
        for &n in &picked {
            self.held[n as usize].fill(true);
        }
        self.in_use += gpus;
        Some(
            picked
                .iter()
                .flat_map(|&n| (0..gpn).map(move |i| n * gpn + i))
                .collect(),
        )
    }

    /// One more fault holds a node down (nothing new is placed there), or one fewer; the
    /// node is up again when none does. Returns whether it is down now. Out-of-range nodes
    /// are ignored (and never down).
    pub fn set_node_down(&mut self, node: u32, down: bool) -> bool {
        let Some(d) = self.down.get_mut(node as usize) else {
            return false;
        };
        *d = if down { *d + 1 } else { d.saturating_sub(1) };
        *d > 0
    }

    /// The node of a GPU.
    pub fn node_of(&self, gpu: u32) -> u32 {
        gpu / self.gpus_per_node
    }

    /// Nodes.
    pub fn nodes(&self) -> u32 {
        self.held.len() as u32
    }

    /// Gives GPUs back.
    pub fn give_back(&mut self, gpus: &[u32]) {
        for &g in gpus {
            let (node, local) = (
                (g / self.gpus_per_node) as usize,
                (g % self.gpus_per_node) as usize,
            );
            debug_assert!(self.held[node][local], "GPU {g} given back twice");
            self.held[node][local] = false;
        }
        self.in_use -= gpus.len() as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_stay_on_one_node_and_respect_the_budget() {
        let mut inv = GpuInventory::new(2, 8, 1, 12);
        assert_eq!(inv.take(4).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(inv.take(2).unwrap(), vec![4, 5]);
        assert_eq!(
            inv.take(4).unwrap(),
            vec![8, 9, 10, 11],
            "6 and 7 cannot hold a TP4 group"
        );
        assert!(inv.take(4).is_none(), "budget of 12 reached");
        assert_eq!(inv.take(2).unwrap(), vec![6, 7]);
        inv.give_back(&[0, 1, 2, 3]);
        assert_eq!(inv.in_use(), 8);
        assert!(inv.take(16).is_none());
        assert!(inv.set_node_down(0, true));
        assert_eq!(inv.take(2).unwrap(), vec![12, 13], "node 0 is down");
        // Two overlapping faults: the node is back when both have ended.
        assert!(inv.set_node_down(0, true));
        assert!(inv.set_node_down(0, false), "one fault still holds it");
        assert_eq!(inv.take(2).unwrap(), vec![14, 15]);
        inv.give_back(&[14, 15]);
        assert!(!inv.set_node_down(0, false));
        assert_eq!(inv.take(2).unwrap(), vec![0, 1]);
        assert!(inv.take(16).is_none(), "budget of 12");
    }

    #[test]
    fn workers_wider_than_a_domain_take_whole_domains() {
        // Five 8-GPU HGX nodes, each its own NVLink domain; the budget never binds.
        let mut inv = GpuInventory::new(5, 8, 1, 1000);
        assert_eq!(inv.take(16).unwrap(), (0..16).collect::<Vec<_>>());
        assert_eq!(inv.take(2).unwrap(), vec![16, 17]);
        assert!(inv.set_node_down(4, true));
        assert!(inv.take(16).is_none(), "node 2 is partly held, node 4 down");
        inv.give_back(&[16, 17]);
        assert_eq!(inv.take(16).unwrap(), (16..32).collect::<Vec<_>>());
        // Two NVL racks of three 4-GPU trays: a worker wider than a rack takes whole racks.
        let mut inv = GpuInventory::new(6, 4, 3, 1000);
        assert!(inv.take(16).is_none(), "four trays are not whole racks");
        assert_eq!(inv.take(24).unwrap(), (0..24).collect::<Vec<_>>());
    }

    #[test]
    fn wide_workers_take_whole_nodes_of_one_nvlink_domain() {
        // Two NVL racks of three 4-GPU trays each.
        let mut inv = GpuInventory::new(6, 4, 3, 24);
        assert_eq!(inv.take(2).unwrap(), vec![0, 1]);
        assert_eq!(inv.take(8).unwrap(), vec![4, 5, 6, 7, 8, 9, 10, 11]);
        assert!(inv.take(6).is_none(), "not a whole number of trays");
        assert!(inv.take(16).is_none(), "more than a rack");
        // Rack 0 has no free tray left, so the next 8 go to rack 1.
        assert_eq!(inv.take(8).unwrap(), (12..20).collect::<Vec<_>>());
        inv.set_node_down(5, true);
        assert!(
            inv.take(8).is_none(),
            "rack 1 has one free tray, and it is down"
        );
        assert_eq!(inv.take(2).unwrap(), vec![2, 3]);
        inv.give_back(&[4, 5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(inv.take(8).unwrap(), vec![4, 5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(inv.in_use(), 20);
    }
}
