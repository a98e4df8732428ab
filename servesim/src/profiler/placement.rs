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

/// Nodes that `workers` take of `total` GPUs in nodes of `per_node`, the last of which holds
/// what is left (`total % per_node`, when not 0): the widest workers that fit that node go
/// there first, the rest packed as [`nodes_needed`] packs them; the part node counts as
/// one. They fit when this is at most `total.div_ceil(per_node)`.
pub fn nodes_taken(per_node: u32, total: u32, workers: &[(u32, u32)]) -> u64 {
    let per_node = per_node.max(1);
    let part = total % per_node;
    if part == 0 {
        return nodes_needed(per_node, workers);
    }
    let mut rest = workers.to_vec();
    rest.sort_by_key(|w| std::cmp::Reverse(w.0));
    let mut left = part;
    for (gpus, count) in &mut rest {
        let gpus = (*gpus).max(1);
        if gpus <= left {
            let k = (*count).min(left / gpus);
            *count -= k;
            left -= k * gpus;
        }
    }
    // Packed in the whole nodes alone, where they hold them all (first fit need not do
    // better with fewer workers, though it does for sizes that are powers of two).
    let whole = nodes_needed(per_node, workers);
    if whole <= u64::from(total / per_node) {
        whole
    } else {
        nodes_needed(per_node, &rest) + 1
    }
}

/// Most workers of `gpus` GPUs that `total` GPUs in nodes of `per_node` hold (the last node
/// perhaps in part): what [`nodes_taken`] packs into them, for one worker size.
pub fn most_workers(per_node: u32, total: u32, gpus: u32) -> u32 {
    let (per_node, gpus) = (per_node.max(1), gpus.max(1));
    let (full, part) = (total / per_node, total % per_node);
    if gpus <= per_node {
        full.saturating_mul(per_node / gpus)
            .saturating_add(part / gpus)
    } else {
        full / gpus.div_ceil(per_node)
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
        for per_node in 1..=12u32 {
            for total in 0..6 * per_node {
                let nodes = u64::from(total.div_ceil(per_node));
                for gpus in [1, 2, 4, 8, 16] {
                    let n = most_workers(per_node, total, gpus);
                    assert!(nodes_taken(per_node, total, &[(gpus, n)]) <= nodes);
                    assert!(nodes_taken(per_node, total, &[(gpus, n + 1)]) > nodes);
                }
            }
        }
    }

    #[test]
    fn a_part_node_holds_only_what_fits_its_gpus() {
        // 8 GPUs in nodes of 6: a node of 6 and one of 2, so one TP4 worker, not two.
        assert_eq!(nodes_taken(6, 8, &[(4, 1)]), 1);
        assert!(nodes_taken(6, 8, &[(4, 2)]) > 2);
        assert_eq!(most_workers(6, 8, 4), 1);
        // TP1 and TP2 workers fill the part node.
        assert_eq!(nodes_taken(6, 8, &[(4, 1), (2, 2)]), 2);
        assert_eq!(nodes_taken(6, 8, &[(1, 8)]), 2);
        assert_eq!(most_workers(6, 8, 2), 4);
        // Whole nodes: as before.
        assert_eq!(nodes_taken(8, 16, &[(4, 3)]), nodes_needed(8, &[(4, 3)]));
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
