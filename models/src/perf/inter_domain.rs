//! Collectives of a worker wider than one NVLink domain (a 16-GPU worker on two HGX nodes,
//! one of 64 on eight), as NCCL runs them.
//!
//! The engines' own all-reduce kernels exchange through peer-mapped buffers of one NVLink
//! domain and hand a group that spans nodes to NCCL (vLLM's and SGLang's
//! `custom_all_reduce.py`: "Custom allreduce is disabled because this process group spans
//! across nodes", and SGLang 0.5.14 turns its v2 kernel off when `nnodes > 1`, "custom AR
//! is intra-node only"; TensorRT-LLM's custom all-reduce likewise works over IPC buffers of
//! one node, or one NVL72 rack through MNNVL). NCCL's hierarchical algorithms run the
//! NVLink part inside each domain and the rest over every GPU's own NIC (NCCL's
//! rail-matched rings and trees), so a collective over `g` GPUs in each of `n` domains costs:
//!
//! - **inside each domain**: the same NCCL collective over the domain's `g` GPUs, from the
//!   measured NCCL tables;
//! - **between domains, latency**: NCCL's own cost model (`src/graph/tuning.cc`): a
//!   network hop of the LL protocol its small messages run costs 5.0 µs on a tree and
//!   2.7 µs on a ring (`hwLat[NCCL_HW_NET]`); an all-reduce
//!   crosses `2 · log2 n` of them on NCCL's tree (`2 * log2i(nNodes) * interLat`), the
//!   fastest of its algorithms for the small messages of decode steps; an all-gather or a
//!   reduce-scatter, which run on rings only, `n − 1` on its ring (`nInterSteps`);
//! - **between domains, bandwidth**: each GPU's NIC carries its `1/g` share of what must
//!   cross: `2 (n − 1) / n` of the message for an all-reduce, `(n − 1) / n` for an
//!   all-gather or reduce-scatter, at the datasheet's NIC rate.
//!
//! Not modelled yet: a fault that degrades a node's links (`capacity_factor`) slows the KV
//! hand-off over them, not these collectives.

use crate::dtype::Dtype;
use crate::perf::ops::{KernelOp, NcclOp};

/// NCCL's latency of one network hop of the LL protocol on a tree, µs
/// (`hwLat[NCCL_HW_NET][NCCL_ALGO_TREE][NCCL_PROTO_LL]` in `src/graph/tuning.cc`).
const NET_TREE_HOP_US: f64 = 5.0;
/// The same on a ring (`hwLat[NCCL_HW_NET][NCCL_ALGO_RING][NCCL_PROTO_LL]`).
const NET_RING_HOP_US: f64 = 2.7;

/// The part of a collective that crosses between NVLink domains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AcrossDomains {
    op: NcclOp,
    bytes: f64,
    per_domain: u32,
    domains: u32,
}

impl AcrossDomains {
    /// Splits a collective (`CustomAllReduce` or `Nccl`) over more GPUs than one NVLink
    /// domain of `domain_gpus` holds into NCCL's collective over one domain's GPUs and the
    /// part between domains; `None` for one that fits a domain (or is no collective).
    pub fn split(op: &KernelOp, domain_gpus: u32) -> Option<(KernelOp, AcrossDomains)> {
        let (nccl, dtype, num_gpus, elems) = match *op {
            KernelOp::CustomAllReduce {
                dtype,
                num_gpus,
                elems,
                ..
            } => (NcclOp::AllReduce, dtype, num_gpus, elems),
            KernelOp::Nccl {
                op,
                dtype,
                num_gpus,
                elems,
            } => (op, dtype, num_gpus, elems),
            _ => return None,
        };
        let g = domain_gpus.max(1);
        if num_gpus <= g {
            return None;
        }
        let within = KernelOp::Nccl {
            op: nccl,
            dtype,
            num_gpus: g,
            elems,
        };
        Some((
            within,
            AcrossDomains {
                op: nccl,
                bytes: elems as f64 * Dtype::bytes(dtype),
                per_domain: g,
                domains: num_gpus.div_ceil(g),
            },
        ))
    }

    /// NVLink domains the collective spans.
    pub fn domains(&self) -> u32 {
        self.domains
    }

    /// Its time between domains, ms, over NICs of `nic_bytes_per_s` each (one direction).
    pub fn ms(&self, nic_bytes_per_s: f64) -> f64 {
        let n = f64::from(self.domains);
        let hops_us = match self.op {
            // `log2i(nNodes)`: the tree's depth, rounded down as NCCL does.
            NcclOp::AllReduce => 2.0 * f64::from(self.domains.ilog2()) * NET_TREE_HOP_US,
            NcclOp::AllGather | NcclOp::ReduceScatter | NcclOp::AllToAll => {
                (n - 1.0) * NET_RING_HOP_US
            }
        };
        let share = self.op.wire_bytes(self.bytes, self.domains) / f64::from(self.per_domain);
        hops_us / 1e3 + share / nic_bytes_per_s.max(1.0) * 1e3
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::ops::AllReduceImpl;
    use proptest::prelude::*;

    proptest! {
        /// More bytes or more domains never make the part between domains faster.
        #[test]
        fn the_cost_between_domains_grows_with_bytes_and_domains(
            elems in 1u64..1 << 30,
            extra in 0u64..1 << 20,
            nodes in 2u32..16,
            op in prop::sample::select(vec![
                NcclOp::AllReduce, NcclOp::AllGather, NcclOp::ReduceScatter,
            ]),
        ) {
            let at = |elems, nodes: u32| {
                let op = KernelOp::Nccl { op, dtype: Dtype::Bf16, num_gpus: 8 * nodes, elems };
                AcrossDomains::split(&op, 8).unwrap().1.ms(50e9)
            };
            prop_assert!(at(elems + extra, nodes) >= at(elems, nodes));
            prop_assert!(at(elems, nodes + 1) >= at(elems, nodes));
            prop_assert!(at(elems, nodes) > 0.0);
        }
    }

    fn all_reduce(num_gpus: u32, elems: u64) -> KernelOp {
        KernelOp::CustomAllReduce {
            dtype: Dtype::Bf16,
            num_gpus,
            elems,
            implementation: AllReduceImpl::Trtllm,
        }
    }

    #[test]
    fn a_collective_within_one_domain_is_not_split() {
        assert!(AcrossDomains::split(&all_reduce(8, 1 << 20), 8).is_none());
        assert!(AcrossDomains::split(&all_reduce(64, 1 << 20), 72).is_none());
    }

    #[test]
    fn a_custom_all_reduce_across_nodes_runs_nccls_within_each() {
        let (within, across) = AcrossDomains::split(&all_reduce(16, 1000), 8).unwrap();
        assert_eq!(
            within,
            KernelOp::Nccl {
                op: NcclOp::AllReduce,
                dtype: Dtype::Bf16,
                num_gpus: 8,
                elems: 1000
            }
        );
        assert_eq!(across.domains(), 2);
    }

    #[test]
    fn small_all_reduces_cost_ncclss_tree_hops_and_large_ones_the_nics() {
        let nic = 50e9;
        // 4 tokens of 7168 BF16 elements over 2 and 8 nodes: two and six tree hops.
        let small = |gpus| {
            AcrossDomains::split(&all_reduce(gpus, 4 * 7168), 8)
                .unwrap()
                .1
        };
        assert!(
            (small(16).ms(nic) - 0.010).abs() < 0.001,
            "{}",
            small(16).ms(nic)
        );
        assert!(
            (small(64).ms(nic) - 0.030).abs() < 0.002,
            "{}",
            small(64).ms(nic)
        );
        // 8192 tokens over 2 nodes: 117 MB, a GPU's NIC carries 2 · 1/2 · 1/8 of it.
        let big = AcrossDomains::split(&all_reduce(16, 8192 * 7168), 8)
            .unwrap()
            .1;
        let bytes = 8192.0 * 7168.0 * 2.0;
        let want = 0.010 + bytes / 8.0 / nic * 1e3;
        assert!((big.ms(nic) - want).abs() < 1e-9, "{}", big.ms(nic));
    }

    #[test]
    fn a_gather_across_domains_crosses_a_ring_hop_per_domain_boundary() {
        let op = KernelOp::Nccl {
            op: NcclOp::AllGather,
            dtype: Dtype::Bf16,
            num_gpus: 32,
            elems: 8,
        };
        let (_, across) = AcrossDomains::split(&op, 8).unwrap();
        assert!((across.ms(1e30) - 3.0 * 2.7e-3).abs() < 1e-9);
    }
}
