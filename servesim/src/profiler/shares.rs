//! The fast search weighed on threads: each share of it (the disaggregated deployments of
//! one prefill worker shape, the aggregated ones of one worker shape) is weighed whole on
//! one thread, on its own copy of the workers' caches (they memoise pure functions, so a
//! copy answers as the original), and the shares are put back in the order one thread
//! weighs them: the answer is the same however many threads run it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use servesim_models::perf::CachedPredictor;

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

/// What a share weighed: per decode worker, the best deployment and those sampled; or an
/// aggregated worker's best and those sampled.
enum Weighed {
    Prefill(Vec<(Option<Candidate>, Vec<Candidate>)>),
    Aggregated(Option<Candidate>, Vec<Candidate>),
}

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
    /// thread, on its own copy of the workers' caches, and the shares are put back in the
    /// order a single thread weighs them.
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
        let mut weighed: Vec<(usize, Weighed)> = std::thread::scope(|scope| {
            // A thread the system refuses is no loss: the others take its shares.
            let helpers: Vec<_> = (1..threads.clamp(1, shares.len().max(1)))
                .filter_map(|_| {
                    let copy = self.fresh_copy();
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
        let mut best = Vec::new();
        let mut points = Vec::new();
        let mut by_prefill = Vec::new();
        let mut aggregated = Vec::new();
        for (_, w) in weighed {
            match w {
                Weighed::Prefill(per_decode) => by_prefill.push(per_decode.into_iter()),
                Weighed::Aggregated(top, sampled) => aggregated.push((top, sampled)),
            }
        }
        let mut keep = |(top, sampled): (Option<Candidate>, Vec<Candidate>)| {
            points.extend(sampled);
            best.extend(top);
        };
        for _ in &decode {
            for per_decode in &mut by_prefill {
                keep(per_decode.next().expect("a result per decode worker"));
            }
        }
        aggregated.into_iter().for_each(keep);
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

    /// The same search with its workers' caches empty, for another thread.
    fn fresh_copy(&self) -> Search<'a> {
        Search {
            req: self.req,
            workers: self
                .workers
                .iter()
                .map(|w| Worker {
                    split: w.split,
                    predictor: w.predictor.clone(),
                    cached: CachedPredictor::new(w.predictor.clone()),
                    graphs: w.graphs.clone(),
                    kv_tokens: w.kv_tokens,
                    state_tokens: w.state_tokens,
                })
                .collect(),
            skipped: self.skipped.clone(),
            max_batched_tokens: self.max_batched_tokens,
            chunked_prefill: self.chunked_prefill,
            prefill_max_num_seqs: self.prefill_max_num_seqs,
            decode_side: self.decode_side.clone(),
            header_tokens: self.header_tokens,
            kv_dtype: self.kv_dtype,
            overlap_schedule: self.overlap_schedule,
            prefill_ttft_ms: self.prefill_ttft_ms,
        }
    }

    /// Weighs the shares not yet taken (`next` counts those taken, by any thread), each
    /// with its index in `shares`.
    fn weigh_shares(
        &self,
        shares: &[Share],
        decode: &[DecodePlan],
        next: &AtomicUsize,
    ) -> Vec<(usize, Weighed)> {
        let mut weighed = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(share) = shares.get(i) else {
                return weighed;
            };
            weighed.push((
                i,
                match *share {
                    Share::Prefill(p) => Weighed::Prefill(self.weigh_disaggregated(p, decode)),
                    Share::Aggregated(w) => {
                        let (top, sampled) = self.weigh_aggregated(&self.workers[w]);
                        Weighed::Aggregated(top, sampled)
                    }
                },
            ));
        }
    }

    /// Prefill worker `p` beside each decode worker of `decode`: per decode worker, the
    /// best deployment and every one sampled.
    fn weigh_disaggregated(
        &self,
        p: usize,
        decode: &[DecodePlan],
    ) -> Vec<(Option<Candidate>, Vec<Candidate>)> {
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
                let mut top = self.disagg(prefill, &queue, d, plan.b_best);
                let mut sampled = Vec::new();
                for &b in &plan.grid {
                    let Some(c) = self.disagg(prefill, &queue, d, b) else {
                        continue;
                    };
                    if plan.b_slo.is_none_or(|bs| b <= bs) {
                        top = pick(top, c.clone());
                    }
                    sampled.push(c);
                }
                (top, sampled)
            })
            .collect()
    }

    /// Aggregated workers of `w`: the best deployment and every one sampled.
    fn weigh_aggregated(&self, w: &Worker) -> (Option<Candidate>, Vec<Candidate>) {
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
        let mut top: Option<Candidate> = None;
        let mut sampled = Vec::new();
        for b in Self::grid(cap, b_slo) {
            let Some(c) = agg(b) else { continue };
            if b_slo.is_none_or(|bs| b <= bs) {
                top = pick(top, c.clone());
            }
            sampled.push(c);
        }
        (top, sampled)
    }
}

#[cfg(test)]
mod tests {
    use crate::profiler::request::ProfileRequest;
    use crate::profiler::search::Search;

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
            let text = format!(
                "
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeploymentRequest
metadata: {{name: t}}
spec:
  model: {model}
  backend: trtllm
  sla: {{ttft: 1500, itl: 40}}
  workload: {{{load}isl: 4000, osl: 1000}}
  hardware: {{gpuSku: {gpu}, totalGpus: 16, numGpusPerNode: 8}}
"
            );
            let req = ProfileRequest::from_yaml_str(&text, "t", &Default::default()).unwrap();
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
