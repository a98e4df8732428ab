//! Expert parallelism's token routing: which rank each token's copies go to on dispatch and
//! come back from on combine, counted copy by copy. The dispatch's timing
//! ([`super::dispatch`]) counts the same copies in bulk; this checks that every token sent to
//! the experts comes back.

use crate::error::{ModelsError, Result};
use crate::perf::ops::DispatchKernel;

/// The rank holding expert `e` of `experts` spread evenly over `ep` ranks in contiguous
/// blocks (rank `r` holds experts `r·E/ep .. (r+1)·E/ep`, as SGLang's and TensorRT-LLM's EP
/// place them without load balancing). `experts` must be a multiple of `ep`.
pub fn expert_rank(e: u32, experts: u32, ep: u32) -> u32 {
    e / (experts / ep).max(1)
}

/// The token copies of one exchange between `ep` ranks, row-major `ep × ep`:
/// `dispatched[s·ep + d]` copies rank `s` sent to rank `d`, `combined[d·ep + s]` copies rank
/// `d` returned to rank `s` (a rank's copies to itself included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Ranks.
    pub ep: u32,
    /// Copies sent on dispatch, `[source · ep + destination]`.
    pub dispatched: Vec<u64>,
    /// Copies returned on combine, `[holder · ep + source]`.
    pub combined: Vec<u64>,
}

/// Routes tokens through `kernel`'s dispatch and back through its combine: each token, on
/// its rank, goes to the ranks of its experts (DeepEP's low-latency kernels: one copy per
/// token-expert pair; the others one per rank holding any of its experts); each rank then
/// returns one combined output for every copy in its receive buffer, to the copy's source.
/// `tokens` holds (source rank, the token's experts) pairs; ranks and experts out of range
/// are errors.
pub fn exchange(
    kernel: DispatchKernel,
    tokens: &[(u32, Vec<u32>)],
    experts: u32,
    ep: u32,
) -> Result<Exchange> {
    let bad = |message: String| ModelsError::Invalid {
        what: "routing",
        message,
    };
    if ep == 0 || !experts.is_multiple_of(ep) {
        return Err(bad(format!("{ep} ranks do not split {experts} experts")));
    }
    let n = ep as usize;
    // Each rank's receive buffer: the source rank of every copy it holds.
    let mut received: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut dispatched = vec![0u64; n * n];
    for (src, chosen) in tokens {
        if *src >= ep {
            return Err(bad(format!("source rank {src} of {ep}")));
        }
        let mut ranks: Vec<u32> = Vec::with_capacity(chosen.len());
        for &e in chosen {
            if e >= experts {
                return Err(bad(format!("expert {e} of {experts}")));
            }
            ranks.push(expert_rank(e, experts, ep));
        }
        if kernel != DispatchKernel::DeepepLowLatency {
            ranks.sort_unstable();
            ranks.dedup();
        }
        for d in ranks {
            dispatched[*src as usize * n + d as usize] += 1;
            received[d as usize].push(*src);
        }
    }
    let mut combined = vec![0u64; n * n];
    for (holder, buffer) in received.iter().enumerate() {
        for &src in buffer {
            combined[holder * n + src as usize] += 1;
        }
    }
    Ok(Exchange {
        ep,
        dispatched,
        combined,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::Dtype;
    use crate::perf::dispatch::{remote_copies, token_bytes};
    use crate::perf::ops::{DispatchShape, DispatchStage};

    fn kernels() -> [DispatchKernel; 4] {
        use DispatchKernel::*;
        [
            DeepepLowLatency,
            DeepepNormal,
            NvlinkTwoSided,
            NvlinkOneSided,
        ]
    }

    /// Tokens on `ep` ranks, `per_rank` each, each choosing `topk` distinct experts of
    /// `experts` from `picks` (a router's top-k: any experts, so any imbalance, balanced
    /// routing included).
    fn routing(
        ep: u32,
        per_rank: u32,
        experts: u32,
        topk: u32,
        picks: &[u32],
    ) -> Vec<(u32, Vec<u32>)> {
        let mut it = picks.iter().cycle();
        let mut out = Vec::new();
        for src in 0..ep {
            for _ in 0..per_rank {
                let mut chosen: Vec<u32> = Vec::new();
                while (chosen.len() as u32) < topk {
                    // The picked expert, or the next one not yet chosen.
                    let mut e = it.next().copied().unwrap_or(0) % experts;
                    while chosen.contains(&e) {
                        e = (e + 1) % experts;
                    }
                    chosen.push(e);
                }
                out.push((src, chosen));
            }
        }
        out
    }

    proptest::proptest! {
        /// Every token sent to experts comes back: for every EP size, token count, top-k and
        /// routing, the copies rank s dispatches to rank d are the copies d combines back to
        /// s; every token leaves as many copies as the ranks (low latency: the pairs) its
        /// experts are on, and the bytes each way are those copies at each stage's token size.
        #[test]
        fn every_token_sent_to_experts_comes_back(
            ep_log in 0u32..7,
            per_expert_rank in 1u32..5,
            per_rank in 0u32..40,
            topk in 1u32..9,
            picks in proptest::collection::vec(0u32..4096, 1..64),
        ) {
            let ep = 1u32 << ep_log;
            let experts = ep * per_expert_rank * 4;
            let topk = topk.min(experts);
            let toks = routing(ep, per_rank, experts, topk, &picks);
            let n = ep as usize;
            for kernel in kernels() {
                let x = exchange(kernel, &toks, experts, ep).unwrap();
                for s in 0..n {
                    for d in 0..n {
                        proptest::prop_assert_eq!(x.dispatched[s * n + d], x.combined[d * n + s]);
                    }
                }
                let want: u64 = toks
                    .iter()
                    .map(|(_, c)| {
                        let mut r: Vec<u32> = c.iter().map(|&e| expert_rank(e, experts, ep)).collect();
                        if kernel != DispatchKernel::DeepepLowLatency {
                            r.sort_unstable();
                            r.dedup();
                        }
                        r.len() as u64
                    })
                    .sum();
                proptest::prop_assert_eq!(x.dispatched.iter().sum::<u64>(), want);
                proptest::prop_assert_eq!(x.combined.iter().sum::<u64>(), want);
                // Bytes: the same copies, at the dispatch and combine token sizes.
                let shape = |stage| DispatchShape {
                    kernel,
                    stage,
                    dtype: Dtype::Fp8,
                    tokens: 1,
                    hidden: 7168,
                    topk,
                    experts,
                    moe_ep: ep,
                    nodes: 1,
                };
                let (bd, bc) = (
                    token_bytes(&shape(DispatchStage::Dispatch)),
                    token_bytes(&shape(DispatchStage::Combine)),
                );
                let sent: f64 = x.dispatched.iter().map(|&c| c as f64 * bd).sum();
                let back: f64 = x.combined.iter().map(|&c| c as f64 * bc).sum();
                proptest::prop_assert!((sent / bd - back / bc).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn balanced_routing_matches_the_network_models_copies() {
        // Round-robin over the experts (the tables' balanced distribution): DeepEP's
        // low-latency kernels send topk × (ep − 1)/ep remote copies a token, as the network
        // model counts them.
        for ep in [2u32, 4, 8] {
            let (experts, topk) = (256u32, 8u32);
            let toks: Vec<(u32, Vec<u32>)> = (0..ep * 64)
                .map(|i| {
                    (
                        i % ep,
                        (0..topk).map(|j| (i * 37 + j * 32) % experts).collect(),
                    )
                })
                .collect();
            let x = exchange(DispatchKernel::DeepepLowLatency, &toks, experts, ep).unwrap();
            let n = ep as usize;
            let remote: u64 = (0..n)
                .flat_map(|s| (0..n).filter(move |d| *d != s).map(move |d| (s, d)))
                .map(|(s, d)| x.dispatched[s * n + d])
                .sum();
            // DeepSeek-V3's hidden size.
            let model = remote_copies(&DispatchShape {
                stage: DispatchStage::Dispatch,
                dtype: Dtype::Fp8,
                kernel: DispatchKernel::DeepepLowLatency,
                tokens: 1,
                hidden: 7168,
                topk,
                experts,
                moe_ep: ep,
                nodes: 1,
            });
            let per_token = remote as f64 / toks.len() as f64;
            assert!(
                (per_token - model).abs() < 0.05 * model,
                "ep {ep}: {per_token} {model}"
            );
        }
        let e = exchange(DispatchKernel::DeepepNormal, &[(0, vec![300])], 256, 8).unwrap_err();
        assert!(e.to_string().contains("expert 300"), "{e}");
        assert!(exchange(DispatchKernel::DeepepNormal, &[], 256, 7).is_err());
    }
}
