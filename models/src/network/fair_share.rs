//! Max-min fair sharing of link capacity among flows (progressive filling).
//!
//! The solver freezes bottlenecks one at a time: the link whose remaining capacity divided by
//! its number of unfrozen flows (its *fair share*) is smallest gives that share to each of
//! its unfrozen flows, which are then frozen and their rate taken off every link they cross.
//!
//! A link's fair share never decreases as others are frozen (a frozen flow took at most the
//! link's own share). So each link keeps one heap entry whose key may lag below its current
//! share: an entry reaching the top with a stale key is pushed back with the current share,
//! and one whose key is current is the true minimum. A link crossed by a single flow gets no
//! entry: the flow gets one at the smallest capacity of such links (it saturates them exactly
//! when the fill level reaches that capacity). Cost `O((L + F·H) log(L + F))` for `L` links and
//! `F` flows of at most `H` hops. Ties are broken by index, so the result is deterministic.

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

/// Heap entry: a link (index below the link count) or a flow's private cap (link count +
/// flow index), with its key; smallest key first, then smallest index.
#[derive(Clone, Copy, Debug)]
struct Entry {
    share: f64,
    id: u32,
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
            .then(self.id.cmp(&other.id))
    }
}

/// Scratch buffers of the water-filling solver (kept to avoid allocating per solve).
#[derive(Debug, Default)]
pub(crate) struct Solver {
    cap: Vec<f64>,
    unfrozen: Vec<u32>,
    frozen: Vec<bool>,
    link_flow_end: Vec<u32>,
    link_flows: Vec<u32>,
    fill: Vec<u32>,
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
        self.fill.clear();
        self.fill.extend_from_slice(&self.link_flow_end);
        for f in (0..flows).rev() {
            for &l in problem.route(f).iter().rev() {
                self.fill[l as usize] -= 1;
                self.link_flows[self.fill[l as usize] as usize] = f as u32;
            }
        }
        // One entry per shared link, one per flow with private links.
        let mut entries = std::mem::take(&mut self.heap).into_vec();
        entries.clear();
        for l in 0..links {
            if self.unfrozen[l] > 1 {
                entries.push(Reverse(Entry {
                    share: self.share(l),
                    id: l as u32,
                }));
            }
        }
        for f in 0..flows {
            let private = problem
                .route(f)
                .iter()
                .filter(|&&l| self.unfrozen[l as usize] == 1)
                .map(|&l| self.cap[l as usize].max(0.0))
                .fold(f64::INFINITY, f64::min);
            if private.is_finite() {
                entries.push(Reverse(Entry {
                    share: private,
                    id: (links + f) as u32,
                }));
            }
        }
        let mut heap = BinaryHeap::from(entries);
        while let Some(Reverse(entry)) = heap.pop() {
            let id = entry.id as usize;
            if id >= links {
                // A flow reaching the capacity of one of its private links.
                let f = id - links;
                if !self.frozen[f] {
                    self.freeze(problem, f, entry.share, rates);
                }
                continue;
            }
            let l = id;
            if self.unfrozen[l] == 0 {
                continue;
            }
            let share = self.share(l);
            if share > entry.share {
                // Stale key (flows crossing it were frozen below its share): requeue.
                heap.push(Reverse(Entry {
                    share,
                    id: entry.id,
                }));
                continue;
            }
            let start = if l == 0 {
                0
            } else {
                self.link_flow_end[l - 1] as usize
            };
            for i in start..self.link_flow_end[l] as usize {
                let f = self.link_flows[i] as usize;
                if !self.frozen[f] {
                    self.freeze(problem, f, share, rates);
                }
            }
        }
        self.heap = heap;
    }

    /// Freezes flow `f` at `rate`, taking it off its links.
    fn freeze(&mut self, problem: &Problem, f: usize, rate: f64, rates: &mut [f64]) {
        self.frozen[f] = true;
        rates[f] = rate;
        for &m in problem.route(f) {
            let m = m as usize;
            self.cap[m] -= rate;
            self.unfrozen[m] -= 1;
        }
    }

    /// Remaining capacity over unfrozen flows (capacity clamped at 0 against rounding).
    fn share(&self, l: usize) -> f64 {
        self.cap[l].max(0.0) / f64::from(self.unfrozen[l])
    }
}
