//! Interpolation over scattered measured points in log space.
//!
//! Each point has a category (an exact-match key: dtype, head_dim, ...), `D` numeric coordinates
//! (stored as natural logs) and a value `r` (the log of measured / roofline). The table is a trie
//! per *ordering* of the coordinates; a query walks it, taking at each level the measured value
//! equal to the query's, or interpolating linearly (in log coordinates) between the two
//! bracketing values, or, past the edge, holding the nearest value (scaling the roofline from
//! the nearest measured shape). One ordering is built for each chosen coordinate as the
//! innermost (finest) level, and the answer is the median over orderings: robust where the grid has
//! holes, exact on measured points, bounded by its neighbours between them.
//!
//! Queries allocate nothing and cost `O(2^D · D · log n)` per ordering.

use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Node {
    Inner {
        vals: Vec<f64>,
        kids: Vec<Node>,
    },
    /// Innermost level: (coordinate, value) pairs sorted by coordinate.
    Leaf(Vec<(f64, f64)>),
}

/// Scattered-point interpolator with `D` log coordinates.
#[derive(Debug, Clone)]
pub struct InterpTable<const D: usize> {
    /// For each ordering: the coordinate order and the roots, one per category (same order
    /// as `cats`).
    orders: Vec<([usize; D], Vec<Node>)>,
    cats: Vec<u64>,
    len: usize,
}

/// The log coordinate of a size (sizes below one count as one).
pub fn ln(x: f64) -> f64 {
    x.max(1.0).ln()
}

fn build<const D: usize>(pts: &[([f64; D], f64)], order: &[usize; D], level: usize) -> Node {
    if level + 1 == D {
        return Node::Leaf(pts.iter().map(|p| (p.0[order[level]], p.1)).collect());
    }
    let c = order[level];
    let mut vals = Vec::new();
    let mut kids = Vec::new();
    let mut start = 0;
    while start < pts.len() {
        let v = pts[start].0[c];
        let mut end = start;
        while end < pts.len() && pts[end].0[c] == v {
            end += 1;
        }
        vals.push(v);
        kids.push(build(&pts[start..end], order, level + 1));
        start = end;
    }
    Node::Inner { vals, kids }
}

#[inline]
fn lerp(xl: f64, rl: f64, xh: f64, rh: f64, x: f64) -> f64 {
    let t = (x - xl) / (xh - xl);
    rl + t * (rh - rl)
}

fn eval<const D: usize>(
    node: &Node,
    order: &[usize; D],
    level: usize,
    q: &[f64; D],
    excl: bool,
) -> Option<f64> {
    match node {
        Node::Leaf(xs) => {
            let x = q[order[level]];
            let i = xs.partition_point(|v| v.0 < x);
            let (lo, hi) = if i < xs.len() && xs[i].0 == x {
                if !excl {
                    return Some(xs[i].1);
                }
                (i.checked_sub(1), (i + 1 < xs.len()).then_some(i + 1))
            } else {
                (i.checked_sub(1), (i < xs.len()).then_some(i))
            };
            match (lo, hi) {
                (Some(l), Some(h)) => Some(lerp(xs[l].0, xs[l].1, xs[h].0, xs[h].1, x)),
                (Some(j), None) | (None, Some(j)) => Some(xs[j].1),
                (None, None) => None,
            }
        }
        Node::Inner { vals, kids } => {
            let x = q[order[level]];
            let i = vals.partition_point(|v| *v < x);
            let (lo, hi) = if i < vals.len() && vals[i] == x {
                if let Some(r) = eval(&kids[i], order, level + 1, q, excl) {
                    return Some(r);
                }
                (i.checked_sub(1), (i + 1 < vals.len()).then_some(i + 1))
            } else {
                (i.checked_sub(1), (i < vals.len()).then_some(i))
            };
            // Neighbours never hold the excluded point (it has coordinate x here).
            let rl = lo.and_then(|j| eval(&kids[j], order, level + 1, q, false));
            let rh = hi.and_then(|j| eval(&kids[j], order, level + 1, q, false));
            match (lo.zip(rl), hi.zip(rh)) {
                (Some((l, a)), Some((h, b))) => Some(lerp(vals[l], a, vals[h], b, x)),
                (Some((_, a)), None) => Some(a),
                (None, Some((_, b))) => Some(b),
                (None, None) => None,
            }
        }
    }
}

impl<const D: usize> InterpTable<D> {
    /// Builds the table from `(category, log coordinates, value)` points, with one ordering per
    /// coordinate. Points with the same category and coordinates are averaged.
    pub fn new(points: impl IntoIterator<Item = (u64, [f64; D], f64)>) -> Self {
        let all: Vec<usize> = (0..D).collect();
        Self::with_leaves(points, &all)
    }

    /// As [`InterpTable::new`], building only the orderings whose innermost coordinate is in
    /// `leaves` (the coordinates along which neighbours are trusted most; out-of-range indices
    /// are ignored, and an empty list means all).
    pub fn with_leaves(
        points: impl IntoIterator<Item = (u64, [f64; D], f64)>,
        leaves: &[usize],
    ) -> Self {
        Self::with_orderings(points, leaves, &[])
    }

    /// As [`InterpTable::with_leaves`], walking the coordinates in `outer` first (in that order)
    /// in every ordering. Coordinates that pick a kernel variant more than a size (attention's
    /// head counts) belong there: a query then looks for neighbours along the sizes within its
    /// own variant, instead of taking a bracketing size first whose subtree holds only other
    /// variants — which, where the grid has holes, interpolates between unrelated kernels.
    pub fn with_orderings(
        points: impl IntoIterator<Item = (u64, [f64; D], f64)>,
        leaves: &[usize],
        outer: &[usize],
    ) -> Self {
        let all: Vec<usize> = (0..D).collect();
        let leaves = if leaves.is_empty() { &all[..] } else { leaves };
        let mut by_cat: BTreeMap<u64, Vec<([f64; D], f64)>> = BTreeMap::new();
        for (c, x, r) in points {
            by_cat.entry(c).or_default().push((x, r));
        }
        let mut len = 0;
        // Average duplicates.
        for pts in by_cat.values_mut() {
            pts.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
            let mut out: Vec<([f64; D], f64)> = Vec::with_capacity(pts.len());
            let mut count = 0.0;
            for p in pts.drain(..) {
                match out.last_mut() {
                    Some(last) if last.0 == p.0 => {
                        count += 1.0;
                        last.1 += (p.1 - last.1) / count;
                    }
                    _ => {
                        count = 1.0;
                        out.push(p);
                    }
                }
            }
            len += out.len();
            *pts = out;
        }
        let mut orders = Vec::with_capacity(D);
        for &leaf in leaves.iter().filter(|l| **l < D) {
            let mut order = [0usize; D];
            let first = outer.iter().copied().filter(|c| *c < D && *c != leaf);
            let rest = (0..D).filter(|c| *c != leaf && !outer.contains(c));
            for (j, c) in first.chain(rest).enumerate() {
                order[j] = c;
            }
            order[D - 1] = leaf;
            let mut roots = Vec::with_capacity(by_cat.len());
            for pts in by_cat.values() {
                let mut pts = pts.clone();
                pts.sort_by(|a, b| {
                    order
                        .iter()
                        .map(|&c| a.0[c].total_cmp(&b.0[c]))
                        .find(|o| o.is_ne())
                        .unwrap_or(std::cmp::Ordering::Equal)
                });
                roots.push(build(&pts, &order, 0));
            }
            orders.push((order, roots));
        }
        InterpTable {
            orders,
            cats: by_cat.keys().copied().collect(),
            len,
        }
    }

    /// Number of distinct measured points.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table has no point.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The categories present, sorted.
    pub fn categories(&self) -> &[u64] {
        &self.cats
    }

    /// Whether a category is present.
    pub fn has_category(&self, cat: u64) -> bool {
        self.cats.binary_search(&cat).is_ok()
    }

    /// Interpolated value at log coordinates `q` in category `cat`; with `exclude`, the point
    /// at exactly `q` is ignored (leave-shape-out). `None` when the category has no (other) point.
    pub fn query(&self, cat: u64, q: &[f64; D], exclude: bool) -> Option<f64> {
        let idx = self.cats.binary_search(&cat).ok()?;
        let mut vals = [0.0f64; D];
        let mut n = 0;
        for (order, roots) in &self.orders {
            if let Some(r) = eval(&roots[idx], order, 0, q, exclude) {
                vals[n] = r;
                n += 1;
            }
        }
        if n == 0 {
            return None;
        }
        let v = &mut vals[..n];
        v.sort_unstable_by(f64::total_cmp);
        Some(if n % 2 == 1 {
            v[n / 2]
        } else {
            0.5 * (v[n / 2 - 1] + v[n / 2])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn grid() -> InterpTable<2> {
        let mut pts = Vec::new();
        for a in [1.0f64, 2.0, 4.0, 8.0] {
            for b in [1.0f64, 3.0, 9.0] {
                pts.push((7, [a.ln(), b.ln()], a.ln() * 0.5 + b.ln() * 0.25));
            }
        }
        InterpTable::new(pts)
    }

    #[test]
    fn exact_on_points_and_linear_between() {
        let t = grid();
        assert_eq!(t.len(), 12);
        let q = [4f64.ln(), 3f64.ln()];
        assert!((t.query(7, &q, false).unwrap() - (q[0] * 0.5 + q[1] * 0.25)).abs() < 1e-12);
        // Leave-shape-out on a plane is exact too (linear in log space).
        assert!((t.query(7, &q, true).unwrap() - (q[0] * 0.5 + q[1] * 0.25)).abs() < 1e-12);
        assert!(t.query(8, &q, false).is_none());
        let mid = [3f64.ln(), 5f64.ln()];
        assert!((t.query(7, &mid, false).unwrap() - (mid[0] * 0.5 + mid[1] * 0.25)).abs() < 1e-12);
    }

    #[test]
    fn outer_coordinates_keep_a_query_within_its_variant() {
        // Coordinates: size, length, variant. Variant 0 costs 0 everywhere and has sizes 1 and
        // 4 (a hole at 2 and 3); variant 1 costs 5 and has size 3 only.
        let mut pts = Vec::new();
        for len in [1.0f64, 2.0] {
            for size in [1.0f64, 4.0] {
                pts.push((0, [size.ln(), len.ln(), 0.0], 0.0));
            }
            pts.push((0, [3f64.ln(), len.ln(), 1.0], 5.0));
        }
        let q = [2f64.ln(), 1.5f64.ln(), 0.0];
        // Size first: the bracketing size 3 holds only variant 1, whose value leaks in.
        let plain = InterpTable::with_leaves(pts.clone(), &[1]);
        assert!(plain.query(0, &q, false).unwrap() > 1.0);
        // Variant first: sizes are bracketed within variant 0 alone.
        let outer = InterpTable::with_orderings(pts, &[1], &[2]);
        assert_eq!(outer.query(0, &q, false).unwrap(), 0.0);
    }

    proptest! {
        #[test]
        fn bounded_by_measured_values(vals in proptest::collection::vec(-3.0f64..3.0, 9), qa in 0.0f64..3.0, qb in 0.0f64..3.0) {
            let mut pts = Vec::new();
            for (i, v) in vals.iter().enumerate() {
                pts.push((0, [(i / 3) as f64, (i % 3) as f64], *v));
            }
            let t = InterpTable::new(pts);
            let r = t.query(0, &[qa, qb], false).unwrap();
            let lo = vals.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(r >= lo - 1e-9 && r <= hi + 1e-9);
            // Exact on measured points.
            for (i, v) in vals.iter().enumerate() {
                let q = [(i / 3) as f64, (i % 3) as f64];
                prop_assert!((t.query(0, &q, false).unwrap() - v).abs() < 1e-12);
            }
        }

        #[test]
        fn monotone_along_a_monotone_line(mut ys in proptest::collection::vec(-5.0f64..5.0, 5), a in 0.0f64..4.0, b in 0.0f64..4.0) {
            ys.sort_by(f64::total_cmp);
            let t = InterpTable::new(ys.iter().enumerate().map(|(i, y)| (0, [i as f64], *y)));
            let (a, b) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(t.query(0, &[a], false).unwrap() <= t.query(0, &[b], false).unwrap() + 1e-12);
        }
    }
}
