//! The fast search's aggregated deployments: workers that prefill and decode in the same
//! iterations, timed by the stationary estimate of [`servesim_models::analytic`] at a mean
//! count, with the count's swings around it from its flow-equivalent server.

use servesim_models::analytic::{
    AggregatedPoint, DecodeOccupancy, SteadyLoad, decode_occupancy, mdk_response_ms,
    slots_with_headroom,
};

use super::candidate::{Candidate, Estimate, PoolShape, Pools};
use super::placement::most_workers;
use super::search::{Search, Worker};

/// Arrivals the packing of an aggregated worker's prompts is estimated over: within 3 ms
/// of the 50,000 of a prefill pool's queue on the agreement requests
/// (`scripts/profile-agreement`), at a fifth of the cost, for one queue per batch weighed.
const AGGREGATED_ARRIVALS: usize = 10_000;

impl Search<'_> {
    /// Aggregated workers of `w` at `b` sequences: (one worker's steady state, workers,
    /// requests/s they serve), or `None` when a worker cannot keep up with the prefill work
    /// of `b` sequences or the budget holds none.
    pub fn agg_point(&self, w: &Worker, b: u32) -> Option<(AggregatedPoint, u32, f64)> {
        let p = self
            .load_of(w.split, "aggregated")
            .aggregated(&w.cached, &w.graphs, b)?;
        let (n, rate) = self.agg_workers(w, b, p.requests_per_s)?;
        Some((p, n, rate))
    }

    /// Aggregated workers of `w` at `b` sequences each serving `per_worker` requests/s, and
    /// the requests/s they serve: the fewest carrying the requested rate or concurrency, else
    /// as many as the budget holds (`None` when it holds none).
    fn agg_workers(&self, w: &Worker, b: u32, per_worker: f64) -> Option<(u32, f64)> {
        if let Some(r) = self.req.request_rate {
            Some(((r / per_worker).ceil().max(1.0) as u32, r))
        } else if let Some(c) = self.req.concurrency {
            let n = c.div_ceil(b).max(1);
            Some((
                n,
                f64::from(n) * per_worker * (f64::from(c) / f64::from(n * b)),
            ))
        } else {
            // As many as the GPUs hold, each within a node or on whole ones.
            let g = w.split.gpus();
            let placed = most_workers(self.req.gpus_per_node, self.req.total_gpus, g);
            let n = (self.req.total_gpus / g).min(placed);
            (n > 0).then(|| (n, f64::from(n) * per_worker))
        }
    }

    /// The aggregated deployment of worker `w` at `b` sequences per worker.
    pub fn agg(&self, w: &Worker, b: u32) -> Option<Candidate> {
        let (point, n, rate) = self.agg_point(w, b)?;
        // Saturating: a rate far beyond the budget asks for more workers than a u32 counts.
        let gpus = n.saturating_mul(w.split.gpus());
        // `b` is the mean in flight per worker; `max_num_seqs` leaves headroom over it for
        // the wider swings of an aggregated worker's count in flight. The ITL, the TTFT and
        // the wait for a slot are those of the count's stationary chain. A closed loop of
        // users never swings: a slot for each user a worker is dealt.
        let cap = self.batch_cap(w).max(b);
        let slots = match self.req.concurrency {
            Some(users) => users.div_ceil(n.max(1)).clamp(1, cap),
            None => slots_with_headroom(f64::from(b), point.in_flight_peakedness(), cap),
        };
        let (itl, ttft, rate) = match self.req.concurrency {
            // A closed loop of users: each worker holds its share of them.
            Some(users) => match self.agg_closed(w, &self.deployed_graphs(w, slots), n, users) {
                Some(c) => (c.itl_ms, c.ttft_ms, c.request_rate),
                None => (point.itl_ms, f64::INFINITY, rate),
            },
            None => match self.agg_occupancy(w, b, &point, (n, rate), slots) {
                Some((occupancy, ttft)) => {
                    let itl = occupancy.itl_ms;
                    (itl, ttft + occupancy.wait_ms + self.header_ms(itl), rate)
                }
                None => (point.itl_ms, f64::INFINITY, rate),
            },
        };
        let header_ms = self.header_ms(itl);
        let estimate = Estimate {
            ttft_ms: ttft,
            itl_ms: itl,
            request_rate: rate,
            concurrency: rate * (ttft - header_ms + self.load().decode_steps() * itl) / 1e3,
        };
        let pools = Pools::Aggregated(PoolShape {
            split: w.split,
            workers: n,
        });
        let misses = self.misses_within(ttft, itl, gpus, &[(w.split.gpus(), n)]);
        Some(Candidate::estimated(
            pools,
            slots,
            gpus,
            estimate,
            self.req.osl,
            misses,
        ))
    }

    /// The count in flight of `workers` aggregated workers of `w` with `slots` slots each,
    /// fed `rate` requests/s, and the mean TTFT before any slot wait of a request arriving
    /// at one; `None` when they cannot keep up. Each worker is taken as its flow-equivalent
    /// server: a processor-sharing server whose requests/s at `k` sequences are the
    /// stationary estimate's at `k` ([`decode_occupancy`]; Chandy, Herzog and Woo,
    /// "Parametric analysis of queuing networks", IBM J. Res. Dev. 19(1), 1975), fewer where
    /// a step jumps with the batch (a kernel's tile, a graph's size), and the most a worker
    /// serves below where that estimate stops keeping up beyond it. Near the most requests its
    /// prefills leave a worker, the count swings far above the mean `b` the point was
    /// planned at, and every iteration with it; an arrival finds the worker at each count
    /// as often as the worker is there, and waits as that count's steady state says (at
    /// counts where the prefills do not keep up, as at the largest where they do).
    fn agg_occupancy(
        &self,
        w: &Worker,
        b: u32,
        point: &AggregatedPoint,
        (workers, rate): (u32, f64),
        slots: u32,
    ) -> Option<(DecodeOccupancy, f64)> {
        let load = self.load_of(w.split, "aggregated");
        // Each iteration as the deployed worker runs it, its graphs captured for `slots`.
        let graphs = self.deployed_graphs(w, slots);
        let at = |k: u32| load.aggregated(&w.cached, &graphs, k.max(1));
        // A request's iterations (its prefill chunks and decode steps): `b` sequences start
        // `requests/s × iteration` requests an iteration.
        let iterations = f64::from(b) / (point.requests_per_s * point.itl_ms / 1e3);
        // A worker takes every `workers`-th Poisson arrival: Erlang gaps.
        let arrival_scv = 1.0 / f64::from(workers);
        let mut most_per_ms = 0.0f64;
        let occupancy = decode_occupancy(rate, iterations, workers, slots, arrival_scv, |k| {
            let per_ms = match at(k) {
                Some(p) => {
                    most_per_ms = most_per_ms.max(p.requests_per_s / 1e3);
                    p.requests_per_s / 1e3
                }
                None => most_per_ms,
            };
            f64::from(k) / (iterations * per_ms)
        })?;
        // Half the iteration in flight, then the prefill slot's response (`ttft_ms`, its
        // wait scaled by what batching the waiting prompts does to it), and under an
        // overlap schedule the iteration planned before the prompt came too. An arrival
        // finding `k` in flight waits for at most their prompts before its own: where
        // short answers keep the slot busy even at a small count, the count's utilisation
        // puts the M/D/n wait far beyond that (an idle worker's first arrival had waited
        // 1.5 s for a 340 ms prompt).
        let packing = agg_packing(&load, w, b, point, workers);
        let slot_ms = |p: &AggregatedPoint, k: u32| {
            let at_most = 0.5 * p.itl_ms + f64::from(k + 1) * p.prefill_ms;
            p.ttft_ms(workers, packing).min(at_most) + self.overlap_iterations() * p.itl_ms
        };
        let mut last = *point;
        let ttft = occupancy.seen_by_arrivals(|k| {
            if let Some(p) = at(k) {
                last = p;
            }
            slot_ms(&last, k)
        });
        Some((occupancy, ttft))
    }
}

/// What batching the waiting prompts does to the prefill slot's response of `workers`
/// aggregated workers of `w` at `b` sequences under `load`: the engines take the waiting
/// prompts into one iteration up to the token budget its decodes leave (vLLM V1's, SGLang's
/// and TensorRT-LLM's schedulers alike, see [`BatchedPrefill`]), which shares each
/// iteration's decode part among them, and makes the first wait for its partners' tokens.
/// The slot's response is taken from that queue, fed the requests/s the point serves,
/// against the M/D/n response of one prompt at a time at the same load; the ratio, found at
/// the planned count, scales the slot's response at every count of the chain: an
/// approximation, checked against the simulator only (`scripts/profile-agreement`). A queue
/// run for every count, tried, had not finished the nine agreement requests after nine
/// minutes (21 s without). 1 where the budget holds one prompt an iteration.
///
/// [`BatchedPrefill`]: servesim_models::analytic::BatchedPrefill
fn agg_packing(
    load: &SteadyLoad,
    w: &Worker,
    b: u32,
    point: &AggregatedPoint,
    workers: u32,
) -> f64 {
    let queue = load
        .aggregated_prefill(&w.cached, b, point.prefill_ms, workers)
        .with_arrivals(AGGREGATED_ARRIVALS);
    if !queue.batches() {
        return 1.0;
    }
    let rate = point.requests_per_s * f64::from(workers);
    queue.response_ms(rate, workers)
        / mdk_response_ms(point.prefill_ms, point.prefill_utilisation, workers)
}
