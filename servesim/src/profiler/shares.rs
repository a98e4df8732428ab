//! The fast search weighed on threads: each share of it (the disaggregated deployments of
//! one prefill worker shape, the aggregated ones of one worker shape) is weighed whole on
//! one thread, on its own copy of the search and its workers' caches (they memoise pure
//! functions, so a copy answers as the original), and the shares are put back in the order
//! one thread weighs them: the answer is the same however many threads run it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::candidate::Candidate;
use super::search::{Search, SearchResult, Worker, frontier, pick, rank};

/// A share of the search that one thread weighs whole.
#[derive(Clone, Copy)]
enum Share {
    /// The disaggregated deployments of the prefill worker of this index.
    Prefill(usize),
    /// The aggregated deployments of the worker of this index.
    Aggregated(usize),
}

/// The best deployment of some sampled, and all of them.
type Sampled = (Option<Candidate>, Vec<Candidate>);

/// A decode worker's batches, the same for every prefill worker beside it.
struct DecodePlan {
    /// Its index among the search's workers.
    worker: usize,
    /// The largest batch meeting the ITL target, if any.
    b_slo: Option<u32>,
    /// The batches sampled.
    grid: Vec<u32>,
    /// The most productive sampled batch within the target (1 where none is).
    b_best: u32,
}

impl<'a> Search<'a> {
    /// [`Search::run`] on at most `threads` threads (at least one), with the same answer
    /// however many: each share of the search (the disaggregated deployments of one prefill
    /// worker shape, the aggregated ones of one worker shape) is weighed whole on one
    /// thread, on its own copy of the search, and the shares are put back in the order a
    /// single thread weighs them.
    pub fn run_on(&self, threads: usize) -> SearchResult {
        let decode = self.decode_plans();
        let mut shares: Vec<Share> = self
            .role(self.req.pins.prefill)
            .map(|(i, _)| Share::Prefill(i))
            .collect();
        shares.extend(
            self.role(self.req.pins.aggregated)
                .map(|(i, _)| Share::Aggregated(i)),
        );
        let next = AtomicUsize::new(0);
        let mut weighed: Vec<(usize, Vec<Sampled>)> = std::thread::scope(|scope| {
            // A thread the system refuses is no loss: the others take its shares.
            let helpers: Vec<_> = (1..threads.clamp(1, shares.len().max(1)))
                .filter_map(|_| {
                    let copy = self.clone();
                    let (shares, decode, next) = (&shares, &decode, &next);
                    std::thread::Builder::new()
                        .spawn_scoped(scope, move || copy.weigh_shares(shares, decode, next))
                        .ok()
                })
                .collect();
            let mut weighed = self.weigh_shares(&shares, &decode, &next);
            for helper in helpers {
                match helper.join() {
                    Ok(theirs) => weighed.extend(theirs),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            weighed
        });
        weighed.sort_by_key(|(i, _)| *i);
        // Back in a single thread's order: per decode worker, each prefill worker's
        // deployments (the prefill shares come first); then the aggregated workers'.
        let prefill_shares = shares
            .iter()
            .filter(|s| matches!(s, Share::Prefill(_)))
            .count();
        let mut weighed = weighed.into_iter().map(|(_, sampled)| sampled.into_iter());
        let mut by_prefill: Vec<_> = weighed.by_ref().take(prefill_shares).collect();
        let (mut best, mut points) = (Vec::new(), Vec::new());
        let mut keep = |(top, sampled): Sampled| {
            points.extend(sampled);
            best.extend(top);
        };
        for _ in &decode {
            for per_decode in &mut by_prefill {
                keep(per_decode.next().expect("a result per decode worker"));
            }
        }
        weighed.flatten().for_each(keep);
        best.sort_by(rank);
        // Batches of a grid that size the same deployment give the same point: one each.
        let mut unique: Vec<Candidate> = Vec::with_capacity(points.len());
        for c in points {
            if !unique.contains(&c) {
                unique.push(c);
            }
        }
        let frontier = frontier(unique);
        SearchResult {
            candidates: best,
            points: frontier,
        }
    }

    /// The decode workers' batches: the largest meeting the ITL target, the grid sampled
    /// up to the KV's cap, and the most productive of the grid within the target.
    fn decode_plans(&self) -> Vec<DecodePlan> {
        self.role(self.req.pins.decode)
            .map(|(worker, d)| {
                let cap = self.batch_cap(d);
                let b_slo = Self::largest(cap, |b| self.decode_itl_ms(d, b) <= self.req.itl_ms);
                let grid = Self::grid(cap, b_slo);
                // Iteration times step with GEMM tiles, so the largest batch meeting the ITL
                // is not always the most productive: the best of the sampled batches up to it.
                let b_best = grid
                    .iter()
                    .copied()
                    .filter(|&b| b_slo.is_some_and(|bs| b <= bs))
                    .max_by(|&a, &b| {
                        let r = |b: u32| f64::from(b) / self.decode_itl_ms(d, b);
                        r(a).total_cmp(&r(b)).then(b.cmp(&a))
                    })
                    .unwrap_or(1);
                DecodePlan {
                    worker,
                    b_slo,
                    grid,
                    b_best,
                }
            })
            .collect()
    }

    /// Weighs the shares not yet taken (`next` counts those taken, by any thread), each
    /// with its index in `shares`.
    fn weigh_shares(
        &self,
        shares: &[Share],
        decode: &[DecodePlan],
        next: &AtomicUsize,
    ) -> Vec<(usize, Vec<Sampled>)> {
        let mut weighed = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(share) = shares.get(i) else {
                return weighed;
            };
            weighed.push((
                i,
                match *share {
                    Share::Prefill(p) => self.weigh_disaggregated(p, decode),
                    Share::Aggregated(w) => vec![self.weigh_aggregated(&self.workers[w])],
                },
            ));
        }
    }

    /// Prefill worker `p` beside each decode worker of `decode`: per decode worker, the
    /// best deployment and every one sampled.
    fn weigh_disaggregated(&self, p: usize, decode: &[DecodePlan]) -> Vec<Sampled> {
        let prefill = &self.workers[p];
        let queue = self.prefill_queue(prefill);
        decode
            .iter()
            .map(|plan| {
                let d = &self.workers[plan.worker];
                // The deployment: decode workers capped at that batch (or 1), unless a
                // smaller batch within the ITL target ranks better as a whole deployment
                // (it waits less for a slot and for its first token, and changes the
                // prefill:decode ratio). Where no batch meets the target, every one sampled
                // competes as the closest ([`rank`]).
                let top = self.disagg(prefill, &queue, d, plan.b_best);
                sample(plan.grid.iter().copied(), plan.b_slo, top, |b| {
                    self.disagg(prefill, &queue, d, b)
                })
            })
            .collect()
    }

    /// Aggregated workers of `w`: the best deployment and every one sampled.
    fn weigh_aggregated(&self, w: &Worker) -> Sampled {
        let (itl_t, ttft_t) = (self.req.itl_ms, self.req.ttft_ms);
        let cap = self.batch_cap(w).min(
            self.worker_token_budget(w.split, "aggregated")
                .saturating_sub(1),
        );
        // The bisection and the grid weigh some batches twice; each is estimated once.
        let mut weighed: BTreeMap<u32, Option<Candidate>> = BTreeMap::new();
        let mut agg = |b: u32| weighed.entry(b).or_insert_with(|| self.agg(w, b)).clone();
        let b_slo = Self::largest(cap, |b| {
            agg(b).is_some_and(|c| c.itl_ms <= itl_t && c.ttft_ms <= ttft_t)
        });
        // The batches within both targets compete; where none is, every one sampled
        // competes as the closest ([`rank`]).
        sample(Self::grid(cap, b_slo), b_slo, None, agg)
    }
}

/// The deployments `weigh` gives `batches` (those it gives), and the best of `top` and
/// those within `b_slo` (all of them where no batch meets the targets).
fn sample(
    batches: impl IntoIterator<Item = u32>,
    b_slo: Option<u32>,
    mut top: Option<Candidate>,
    mut weigh: impl FnMut(u32) -> Option<Candidate>,
) -> Sampled {
    let mut sampled = Vec::new();
    for b in batches {
        let Some(c) = weigh(b) else { continue };
        if b_slo.is_none_or(|bs| b <= bs) {
            top = pick(top, c.clone());
        }
        sampled.push(c);
    }
    (top, sampled)
}

#[cfg(test)]
mod tests {
    use crate::profiler::search::Search;
    use crate::profiler::search::tests::request;

    /// The same answer on one thread as on several, disaggregated and aggregated, under
    /// a GPU budget and under a closed loop of users.
    #[test]
    fn threads_do_not_change_the_answer() {
        let catalog = servesim_models::hardware::GpuCatalog::builtin();
        for (model, gpu, load) in [
            ("deepseek-ai/DeepSeek-R1", "b200_sxm", ""),
            ("Qwen/Qwen3-32B-FP8", "h200_sxm", ""),
            ("Qwen/Qwen3-32B-FP8", "h200_sxm", "concurrency: 48, "),
        ] {
            let req = request(model, gpu, load);
            let search = Search::new(&req, catalog.get(&req.gpu).unwrap()).unwrap();
            let one = search.run_on(1);
            assert!(!one.candidates.is_empty() && !one.points.is_empty());
            for threads in [0, 2, 3, 64] {
                let many = search.run_on(threads);
                assert!(one.candidates == many.candidates, "{model} {load}{threads}");
                assert!(one.points == many.points, "{model} {load}{threads}");
            }
        }
    }
}
