//! Whether a deployment's workers fit the request's nodes: a worker no wider than a node
//! lives within one (its GPUs share the node's NVLink), and a wider one takes whole nodes
//! (Dynamo's multi-node workers, `multinode.nodeCount`), as the simulator places them.

/// Nodes of `per_node` GPUs that `workers` (GPUs of a worker, how many) take, packed first
/// fit, widest first: the fewest for workers of one size, and for the searched sizes
/// (powers of two) whenever a node's GPUs are a power of two too. Nodes are grouped by the
/// GPUs they have left, so the cost does not grow with the counts.
pub fn nodes_needed(per_node: u32, workers: &[(u32, u32)]) -> u64 {
    let per_node = per_node.max(1);
    let mut widest_first = workers.to_vec();
    widest_first.sort_by_key(|w| std::cmp::Reverse(w.0));
    let mut whole = 0u64;
    // (GPUs a node has left, nodes with that many), in the order they were opened.
    let mut open: Vec<(u32, u64)> = Vec::new();
    for (gpus, count) in widest_first {
        let gpus = gpus.max(1);
        let mut left = u64::from(count);
        if gpus > per_node {
            whole += u64::from(gpus.div_ceil(per_node)) * left;
            continue;
        }
        let mut next = Vec::with_capacity(open.len() + 3);
        for (free, nodes) in open {
            let fit = u64::from(free / gpus);
            if fit == 0 || left == 0 {
                next.push((free, nodes));
                continue;
            }
            // Whole nodes of the group take `fit` workers each; then one takes the rest.
            let full = (left / fit).min(nodes);
            left -= full * fit;
            next.push((free - fit as u32 * gpus, full));
            let mut untouched = nodes - full;
            if untouched > 0 && left > 0 {
                next.push((free - left as u32 * gpus, 1));
                untouched -= 1;
                left = 0;
            }
            next.push((free, untouched));
        }
        if left > 0 {
            let fit = u64::from(per_node / gpus);
            next.push((per_node - fit as u32 * gpus, left / fit));
            if left % fit > 0 {
                next.push((per_node - (left % fit) as u32 * gpus, 1));
            }
        }
        next.retain(|g| g.1 > 0);
        open = next;
    }
    whole + open.iter().map(|g| g.1).sum::<u64>()
}

/// Most workers of `gpus` GPUs that `nodes` nodes of `per_node` GPUs hold: what
/// [`nodes_needed`] packs into them, for one worker size.
pub fn most_workers(per_node: u32, nodes: u32, gpus: u32) -> u32 {
    let (per_node, gpus) = (per_node.max(1), gpus.max(1));
    if gpus <= per_node {
        nodes.saturating_mul(per_node / gpus)
    } else {
        nodes / gpus.div_ceil(per_node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn workers_pack_into_nodes_without_straddling_them() {
        // Three TP4 workers on 6-GPU nodes: one a node.
        assert_eq!(nodes_needed(6, &[(4, 3)]), 3);
        assert_eq!(nodes_needed(8, &[(4, 3)]), 2);
        // A TP4 worker leaves room for two TP1 ones on a 6-GPU node.
        assert_eq!(nodes_needed(6, &[(1, 2), (4, 1)]), 1);
        assert_eq!(nodes_needed(6, &[(1, 3), (4, 1)]), 2);
        // Wider than a node: whole nodes.
        assert_eq!(nodes_needed(4, &[(8, 2), (2, 2)]), 5);
        assert_eq!(nodes_needed(8, &[]), 0);
        // Counts far beyond any node list cost no more.
        assert_eq!(
            nodes_needed(8, &[(2, u32::MAX)]),
            u64::from(u32::MAX).div_ceil(4)
        );
    }

    #[test]
    fn the_most_workers_of_one_size_are_what_the_packing_fits() {
        for per_node in 1..=12 {
            for nodes in 0..6 {
                for gpus in [1, 2, 4, 8, 16] {
                    let n = most_workers(per_node, nodes, gpus);
                    assert!(nodes_needed(per_node, &[(gpus, n)]) <= u64::from(nodes));
                    assert!(nodes_needed(per_node, &[(gpus, n + 1)]) > u64::from(nodes));
                }
            }
        }
    }

    /// First fit, widest first, one worker at a time: what the grouped packing must equal.
    fn one_at_a_time(per_node: u32, workers: &[(u32, u32)]) -> u64 {
        let mut sorted = workers.to_vec();
        sorted.sort_by_key(|w| std::cmp::Reverse(w.0));
        let mut whole = 0;
        let mut free: Vec<u32> = Vec::new();
        for (g, n) in sorted {
            for _ in 0..n {
                if g > per_node {
                    whole += u64::from(g.div_ceil(per_node));
                } else if let Some(f) = free.iter_mut().find(|f| **f >= g) {
                    *f -= g;
                } else {
                    free.push(per_node - g);
                }
            }
        }
        whole + free.len() as u64
    }

    proptest! {
        #[test]
        fn grouped_packing_is_first_fit(
            per_node in 1u32..=12,
            a in (0u32..5, 0u32..40),
            b in (0u32..5, 0u32..40),
        ) {
            let workers = [(1 << a.0, a.1), (1 << b.0, b.1)];
            let grouped = nodes_needed(per_node, &workers);
            let gpus: u64 = workers.iter().map(|&(g, n)| u64::from(g) * u64::from(n)).sum();
            prop_assert!(grouped * u64::from(per_node) >= gpus);
            // Same sizes on a node of a power of two: first fit packs perfectly.
            if per_node.is_power_of_two() && workers.iter().all(|&(g, _)| g <= per_node) {
                prop_assert_eq!(grouped, gpus.div_ceil(u64::from(per_node)));
            }
            prop_assert_eq!(grouped, one_at_a_time(per_node, &workers));
        }
    }
}
