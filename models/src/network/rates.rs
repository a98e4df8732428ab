//! The rate recomputation's working state: marks by epoch, the connected component of the
//! links a change touched, and the max-min fair rates of its flows.

use servesim_core::{Key, Slab};

use super::fair_share::{Problem, Solver};
use super::flows::{Flow, FlowId, TransferSlot};

/// Buffers of the rate recomputation, kept to avoid allocating per change.
#[derive(Clone, Debug, Default)]
pub(super) struct Scratch {
    epoch: u32,
    link_mark: Vec<u32>,
    link_local: Vec<u32>,
    flow_mark: Vec<u32>,
    transfer_mark: Vec<u32>,
    comp_links: Vec<u32>,
    pub(super) comp_flows: Vec<FlowId>,
    pub(super) touched_transfers: Vec<TransferSlot>,
    pub(super) seeds: Vec<u32>,
    pub(super) rates: Vec<f64>,
    problem: ProblemBox,
    solver: SolverBox,
}

// `Problem` and `Solver` hold only scratch data: cloning a network starts them afresh.
#[derive(Debug, Default)]
struct ProblemBox(Problem);
impl Clone for ProblemBox {
    fn clone(&self) -> Self {
        ProblemBox::default()
    }
}
#[derive(Debug, Default)]
struct SolverBox(Solver);
impl Clone for SolverBox {
    fn clone(&self) -> Self {
        SolverBox::default()
    }
}

impl Scratch {
    /// Empty buffers for a topology of `links` links.
    pub(super) fn for_links(links: usize) -> Scratch {
        Scratch {
            link_mark: vec![0; links],
            link_local: vec![0; links],
            ..Scratch::default()
        }
    }

    /// Starts a recomputation in a fresh epoch, so that every earlier mark reads as unmarked.
    /// Returns the epoch.
    pub(super) fn next_epoch(&mut self) -> u32 {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            // Wrapped: clear the marks so no stale mark equals a new epoch.
            self.link_mark.fill(0);
            self.flow_mark.fill(0);
            self.transfer_mark.fill(0);
            self.epoch = 1;
        }
        self.epoch
    }

    /// The connected component of the seed links: every link and flow reachable from them
    /// through flows sharing links, into `comp_links` and `comp_flows` (breadth first, in a
    /// deterministic order).
    pub(super) fn collect_component(
        &mut self,
        link_flows: &[Vec<FlowId>],
        flows: &Slab<FlowId, Flow>,
        epoch: u32,
    ) {
        self.comp_links.clear();
        self.comp_flows.clear();
        for &l in &self.seeds {
            if self.link_mark[l as usize] != epoch {
                self.link_mark[l as usize] = epoch;
                self.comp_links.push(l);
            }
        }
        let mut head = 0;
        while head < self.comp_links.len() {
            let l = self.comp_links[head] as usize;
            head += 1;
            for &f in &link_flows[l] {
                if self.flow_mark[f.index()] == epoch {
                    continue;
                }
                self.flow_mark[f.index()] = epoch;
                self.comp_flows.push(f);
                for &m in flows[f].route.links() {
                    if self.link_mark[m.index()] != epoch {
                        self.link_mark[m.index()] = epoch;
                        self.comp_links.push(m.0);
                    }
                }
            }
        }
    }

    /// The max-min fair rates of the component's flows, into `rates` (in `comp_flows` order).
    pub(super) fn solve_rates(
        &mut self,
        link_flows: &[Vec<FlowId>],
        flows: &Slab<FlowId, Flow>,
        capacity: &[f64],
    ) {
        // Usually no link of the component carries two flows (a transfer's shards
        // run on separate links, or the flows ended): each flow's max-min rate is then
        // its smallest capacity (clamped at 0), exactly what the solver finds.
        let independent = self
            .comp_links
            .iter()
            .all(|&l| link_flows[l as usize].len() <= 1);
        if independent {
            self.rates.clear();
            for &f in &self.comp_flows {
                let rate = flows[f]
                    .route
                    .links()
                    .iter()
                    .map(|l| capacity[l.index()].max(0.0))
                    .fold(f64::INFINITY, f64::min);
                self.rates.push(rate);
            }
        }
        if !independent || cfg!(debug_assertions) {
            // The local problem (debug builds solve it anyway, to check the shortcut).
            self.build_problem(flows, capacity);
            let problem = &self.problem.0;
            if independent {
                let mut solved = Vec::new();
                self.solver.0.solve(problem, &mut solved);
                debug_assert!(
                    solved
                        .iter()
                        .zip(&self.rates)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "independent flows: {solved:?} vs {:?}",
                    self.rates
                );
            } else {
                self.solver.0.solve(problem, &mut self.rates);
            }
        }
    }

    /// The component as a fair-share problem over its own links, numbered in `comp_links`
    /// order.
    fn build_problem(&mut self, flows: &Slab<FlowId, Flow>, capacity: &[f64]) {
        let problem = &mut self.problem.0;
        problem.clear();
        for (i, &l) in self.comp_links.iter().enumerate() {
            self.link_local[l as usize] = i as u32;
            problem.capacities.push(capacity[l as usize]);
        }
        for &f in &self.comp_flows {
            for &l in flows[f].route.links() {
                problem.route_links.push(self.link_local[l.index()]);
            }
            problem.route_end.push(problem.route_links.len() as u32);
        }
    }

    /// Marks transfer slot `tr` as touched in this epoch (once).
    pub(super) fn touch_transfer(&mut self, tr: TransferSlot, epoch: u32) {
        if self.transfer_mark[tr.index()] != epoch {
            self.transfer_mark[tr.index()] = epoch;
            self.touched_transfers.push(tr);
        }
    }

    /// Sizes the flow and transfer marks for the slots made so far (new slots unmarked); slots
    /// are made only by starting a transfer, which calls this.
    pub(super) fn grow_marks(&mut self, flow_slots: usize, transfer_slots: usize) {
        if self.flow_mark.len() < flow_slots {
            self.flow_mark.resize(flow_slots, 0);
        }
        if self.transfer_mark.len() < transfer_slots {
            self.transfer_mark.resize(transfer_slots, 0);
        }
    }
}
