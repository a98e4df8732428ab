//! Max-min fair sharing of link capacity among flows (progressive filling).
//!
//! The solver freezes bottlenecks one at a time: the link whose remaining capacity divided by
//! its number of unfrozen flows (its *fair share*) is smallest gives that share to each of
//! its unfrozen flows, which are then frozen and their rate taken off every link they cross.
//! A link's fair share never decreases as others are frozen (a frozen flow took at most the
//! link's own share), so a binary heap with lazily invalidated entries finds each next
//! bottleneck: `O((L + F·H) log L)` for `L` links, `F` flows of at most `H` hops. Ties are
//! broken by link index, so the result is deterministic.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::topology::LinkId;

/// Max-min fair rates of flows over links.
///
/// `capacities[i]` is the capacity of link `i` (bytes/s, ≥ 0); `routes[f]` lists the links
/// flow `f` crosses (a link listed `k` times carries the flow `k` times). Returns one rate
/// per flow; a flow crossing no link gets `f64::INFINITY`, one crossing a link of capacity 0
/// gets 0.
///
/// # Panics
/// If a route names a link with an index not below `capacities.len()`.
pub fn max_min_fair_rates(capacities: &[f64], routes: &[&[LinkId]]) -> Vec<f64> {
    let mut problem = Problem::default();
    problem.capacities.extend_from_slice(capacities);
    for route in routes {
        for &l in *route {
            assert!(
                l.index() < capacities.len(),
                "route names link {} but there are {} links",
                l.0,
                capacities.len()
            );
            problem.route_links.push(l.0);
        }
        problem.route_end.push(problem.route_links.len() as u32);
    }
    let mut solver = Solver::default();
    let mut rates = Vec::new();
    solver.solve(&problem, &mut rates);
    rates
}

/// A fair-share problem over local dense indices (reused between solves).
#[derive(Debug, Default)]
pub(crate) struct Problem {
    /// Capacity per local link.
    pub capacities: Vec<f64>,
    /// Local link indices of all routes, concatenated.
    pub route_links: Vec<u32>,
    /// End (exclusive) of each flow's route in `route_links`.
    pub route_end: Vec<u32>,
}

impl Problem {
    pub fn clear(&mut self) {
        self.capacities.clear();
        self.route_links.clear();
        self.route_end.clear();
    }

    fn route(&self, f: usize) -> &[u32] {
        let start = if f == 0 {
            0
        } else {
            self.route_end[f - 1] as usize
        };
        &self.route_links[start..self.route_end[f] as usize]
    }
}

/// Heap entry: (fair share, link, version), smallest share first, then smallest link.
#[derive(Clone, Copy, Debug)]
struct Entry {
    share: f64,
    link: u32,
    version: u32,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.share
            .total_cmp(&other.share)
            .then(self.link.cmp(&other.link))
            .then(self.version.cmp(&other.version))
    }
}

/// Scratch buffers of the water-filling solver (kept to avoid allocating per solve).
#[derive(Debug, Default)]
pub(crate) struct Solver {
    cap: Vec<f64>,
    unfrozen: Vec<u32>,
    version: Vec<u32>,
    frozen: Vec<bool>,
    link_flow_end: Vec<u32>,
    link_flows: Vec<u32>,
    touched: Vec<u32>,
    heap: BinaryHeap<Reverse<Entry>>,
}

impl Solver {
    /// Solves `problem` into `rates` (one per flow).
    pub fn solve(&mut self, problem: &Problem, rates: &mut Vec<f64>) {
        let links = problem.capacities.len();
        let flows = problem.route_end.len();
        rates.clear();
        rates.resize(flows, f64::INFINITY);
        self.cap.clear();
        self.cap.extend_from_slice(&problem.capacities);
        self.unfrozen.clear();
        self.unfrozen.resize(links, 0);
        self.version.clear();
        self.version.resize(links, 0);
        self.frozen.clear();
        self.frozen.resize(flows, false);
        // Link → flows adjacency (CSR), built by counting.
        for &l in &problem.route_links {
            self.unfrozen[l as usize] += 1;
        }
        self.link_flow_end.clear();
        let mut end = 0;
        for &n in &self.unfrozen {
            end += n;
            self.link_flow_end.push(end);
        }
        self.link_flows.clear();
        self.link_flows.resize(problem.route_links.len(), 0);
        // Fill backwards from each link's end so flows appear in increasing order.
        let mut fill = self.link_flow_end.clone();
        for f in (0..flows).rev() {
            for &l in problem.route(f).iter().rev() {
                fill[l as usize] -= 1;
                self.link_flows[fill[l as usize] as usize] = f as u32;
            }
        }
        self.heap.clear();
        for l in 0..links {
            if self.unfrozen[l] > 0 {
                self.heap.push(Reverse(Entry {
                    share: self.share(l),
                    link: l as u32,
                    version: 0,
                }));
            }
        }
        while let Some(Reverse(entry)) = self.heap.pop() {
            let l = entry.link as usize;
            if entry.version != self.version[l] || self.unfrozen[l] == 0 {
                continue;
            }
            let share = entry.share;
            let start = if l == 0 {
                0
            } else {
                self.link_flow_end[l - 1] as usize
            };
            let stop = self.link_flow_end[l] as usize;
            self.touched.clear();
            for i in start..stop {
                let f = self.link_flows[i] as usize;
                if self.frozen[f] {
                    continue;
                }
                self.frozen[f] = true;
                rates[f] = share;
                for &m in problem.route(f) {
                    let m = m as usize;
                    self.cap[m] -= share;
                    self.unfrozen[m] -= 1;
                    self.touched.push(m as u32);
                }
            }
            self.touched.sort_unstable();
            self.touched.dedup();
            for i in 0..self.touched.len() {
                let m = self.touched[i] as usize;
                if m == l || self.unfrozen[m] == 0 {
                    continue;
                }
                self.version[m] += 1;
                self.heap.push(Reverse(Entry {
                    share: self.share(m),
                    link: m as u32,
                    version: self.version[m],
                }));
            }
        }
    }

    /// Remaining capacity over unfrozen flows (capacity clamped at 0 against rounding).
    fn share(&self, l: usize) -> f64 {
        self.cap[l].max(0.0) / f64::from(self.unfrozen[l])
    }
}
