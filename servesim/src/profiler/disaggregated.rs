//! The fast search's disaggregated deployments: prefill workers batching the waiting
//! prompts ([`PrefillQueue`]) beside decode workers at a batch, the counts of each for the
//! request's load or GPUs, and what a request's first token waits for on each side.

use std::sync::{Mutex, OnceLock};

use servesim_models::analytic::{
    BatchedPrefill, decode_occupancy, fixed_service_departure_scv, slots_with_headroom,
};

use super::candidate::{Candidate, Estimate, PoolShape, Pools, Split};
use super::engine_settings::stops_overlap;
use super::search::{MAX_PREFILL_UTILISATION, Search, Worker};

/// Rounds of the decode workers' ITL–concurrency fixed point at most.
const MAX_FIXED_POINT_ROUNDS: usize = 32;

/// The prefill queue of one worker shape, with the capacity of each worker count found
/// once (each costs a bisection over the queue's simulated arrivals).
pub struct PrefillQueue<'w> {
    /// Its workers batching the waiting prompts.
    pub model: BatchedPrefill<'w>,
    /// Requests/s of `n` workers within the TTFT target (index `n - 1`), up to one beyond
    /// the GPU budget.
    capacity: Vec<OnceLock<f64>>,
    /// The fewest workers beyond the budget carrying a rate (its bits), once found.
    beyond: Mutex<Vec<(u64, u32)>>,
}

impl PrefillQueue<'_> {
    /// Requests/s that `workers` workers carry within `ttft_ms` (round-robin routing, each
    /// worker batching the prompts waiting for it: see
    /// `servesim_models::analytic::BatchedPrefill`), at most [`MAX_PREFILL_UTILISATION`] of
    /// their peak; where even an idle worker misses the target, half their peak (the
    /// closest answer). The target is the search's, the same at every call; the counts
    /// within the budget are found once, those beyond it each time they are asked for.
    fn capacity(&self, workers: u32, ttft_ms: f64) -> f64 {
        let workers = workers.max(1);
        let find = || match self
            .model
            .max_rate_per_s(ttft_ms, workers, MAX_PREFILL_UTILISATION)
        {
            0.0 => 0.5 * self.model.peak_per_s(workers),
            r => r,
        };
        match self.capacity.get(workers as usize - 1) {
            Some(cell) => *cell.get_or_init(find),
            None => find(),
        }
    }

    /// The fewest workers that carry `rate` requests/s within `ttft_ms`, beyond the budget
    /// where the rate takes more: the candidate then misses its GPU budget by what the load
    /// needs, as an aggregated one does. Found once per rate.
    fn workers_for(&self, rate: f64, ttft_ms: f64) -> u32 {
        let within = self.capacity.len() as u32;
        if let Some(x) = (1..=within).find(|&x| self.capacity(x, ttft_ms) >= rate) {
            return x;
        }
        let mut found = self.beyond.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&(_, x)) = found.iter().find(|(r, _)| *r == rate.to_bits()) {
            return x;
        }
        // A worker of a larger pool carries about as much or more (its arrivals are dealt
        // more evenly), so the budget's share per worker bounds the count from above; bisect
        // below it. Each count's capacity is an estimate over its own arrivals, so the bound
        // is checked, and stepped past where it falls short. Saturating: a rate far beyond
        // the budget asks for more workers than a u32 counts.
        let each = self.capacity(within, ttft_ms) / f64::from(within);
        let bound = (rate / each).ceil().min(f64::from(u32::MAX - 1)) as u32;
        let mut high = bound.max(within + 1);
        while high < u32::MAX && self.capacity(high, ttft_ms) < rate {
            high += 1;
        }
        let mut low = within;
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            if self.capacity(mid, ttft_ms) >= rate {
                high = mid;
            } else {
                low = mid;
            }
        }
        found.push((rate.to_bits(), high));
        high
    }
}

impl Search<'_> {
    /// The prefill queue of workers of `w`: their iterations batch the waiting prompts.
    pub fn prefill_queue<'w>(&self, w: &'w Worker) -> PrefillQueue<'w> {
        let most_workers = self.req.total_gpus / w.split.gpus().max(1) + 1;
        let model = self
            .load_of(w.split, "prefill")
            .batched_prefill(&w.cached, most_workers);
        // Prefill workers run the backend's overlap schedule unless the DGD stops it.
        let overlap = self.overlap_schedule && !stops_overlap(self.req.backend, "prefill");
        PrefillQueue {
            model: if overlap {
                model.with_overlap_schedule()
            } else {
                model
            },
            capacity: (0..most_workers).map(|_| OnceLock::new()).collect(),
            beyond: Mutex::default(),
        }
    }

    /// The TTFT a disaggregated deployment's prefill pool is planned for: the target less
    /// the decode side's wait and one GPU each way (the slowest transfer). The wait is
    /// taken at the slowest step any decode worker runs within the ITL target (at its
    /// largest batch within it): its most for a candidate meeting that target. Taken at
    /// the target itself, a loose ITL target left the prefill pool no time, and the search
    /// gave worse answers for it than for a tight one. One figure per search, so that each
    /// worker count's capacity is found once (a figure per decode worker, tried, cost half
    /// as much again).
    pub(super) fn prefill_ttft_target_ms(&self) -> f64 {
        let itl_t = self.req.itl_ms;
        let slowest = self
            .role(self.req.pins.decode)
            .map(|(_, d)| {
                let ok = |b: u32| self.decode_itl_ms(d, b) <= itl_t;
                Self::largest(self.batch_cap(d), ok).map_or(itl_t, |b| self.decode_itl_ms(d, b))
            })
            .fold(f64::NAN, f64::max);
        let itl = if slowest.is_nan() {
            itl_t
        } else {
            slowest.min(itl_t)
        };
        let one = Split::tensor(1);
        let wait = self.decode_side.ms(self.req.isl, &one, &one, itl);
        (self.req.ttft_ms - wait).max(0.0)
    }

    /// The disaggregated deployment of prefill worker `p` and decode worker `d` at batch `b`.
    pub fn disagg(
        &self,
        p: &Worker,
        queue: &PrefillQueue<'_>,
        d: &Worker,
        b: u32,
    ) -> Option<Candidate> {
        if let Some(users) = self.req.concurrency {
            // Decode workers of `b` slots each at most, for the users' requests.
            let y = users.div_ceil(b).max(1);
            return Some(self.disagg_of_users(p, queue, d, b, y, users));
        }
        let budget = self.req.total_gpus;
        let itl = self.decode_itl_ms(d, b);
        // Requests/s that `x` prefill workers carry within the TTFT target less the decode
        // side's wait (round-robin routing, each worker batching the prompts waiting for it:
        // see `servesim_models::analytic::BatchedPrefill`).
        let p_cap = |x: u32| queue.capacity(x, self.prefill_ttft_ms);
        let d_cap_at = |bb: f64| bb / (itl / 1e3) / self.load().decode_steps();
        let (x, y, rate) = if let Some(r) = self.req.request_rate {
            let y = (r / d_cap_at(f64::from(b))).ceil().max(1.0) as u32;
            // The fewest prefill workers carrying the rate, as many decode workers: beyond
            // the budget, the candidate misses it, as an aggregated one does.
            (queue.workers_for(r, self.prefill_ttft_ms), y, r)
        } else {
            let dcap = d_cap_at(f64::from(b));
            let mut best: Option<(f64, f64, u32, u32)> = None;
            let (pg, dg) = (p.split.gpus(), d.split.gpus());
            let max_y = budget.saturating_sub(pg) / dg;
            // The rate grows with `y`, so the fewest prefill workers carrying it do too: no
            // count below the last one found carried the smaller rate, nor carries this one.
            // Scanning on from there finds what `workers_for` would, in time linear in the
            // budget instead of its square.
            let most = budget / pg.max(1) + 1;
            let mut from = 1;
            for y in 1..=max_y {
                let left = budget - y * dg;
                let rate_y = f64::from(y) * dcap;
                let want = (from..=most).find(|&x| p_cap(x) >= rate_y).unwrap_or(most);
                from = want;
                for x in [want.saturating_sub(1).max(1), want] {
                    let x = x.min(left / pg);
                    if x == 0 || !self.fits_nodes(&[(pg, x), (dg, y)]) {
                        continue;
                    }
                    let thr = p_cap(x).min(f64::from(y) * dcap);
                    let g = f64::from(x * pg + y * dg);
                    // The most throughput the budget gives; ties: fewer GPUs.
                    let better = match best {
                        None => true,
                        Some((bg, bt, _, _)) => {
                            thr > bt * (1.0 + 1e-9) || (thr >= bt * (1.0 - 1e-9) && g < bg)
                        }
                    };
                    if better {
                        best = Some((g, thr, x, y));
                    }
                }
            }
            let (_, thr, x, y) = best?;
            (x, y, thr)
        };
        // The decode workers run at the concurrency the rate gives them (Little's law), at
        // most `b`: ITL at that concurrency (two fixed-point steps).
        // ITL grows with the batch, so iterating from `b` down converges on the largest
        // fixed point; the step times are cached, so a few more rounds cost little.
        let mut itl = itl;
        let mut conc = f64::from(b);
        for _ in 0..MAX_FIXED_POINT_ROUNDS {
            conc = (rate / f64::from(y) * self.load().decode_steps() * itl / 1e3).min(f64::from(b));
            let b_eff = (conc.ceil() as u32).clamp(1, b);
            let next = self.decode_itl_ms(d, b_eff);
            let settled = next == itl;
            itl = next;
            if settled {
                break;
            }
        }
        // The decode workers' `max_num_seqs`: headroom over the mean, so that Poisson
        // bursts rarely wait for a slot.
        let slots = slots_with_headroom(conc, 1.0, self.batch_cap(d).max(b));
        // The count in flight swings around that mean, every step at its own batch's time:
        // the ITL and the wait for a slot (before the first token shows) are the stationary
        // chain's ([`decode_occupancy`]). Where a step time jumps with the batch (a kernel's
        // tile, a graph's padding) the count can settle above the mean's fixed point. If even
        // a full worker serves fewer requests than arrive, those waiting for a slot pile up
        // without bound. A decode worker's arrivals are the prefill workers' departures,
        // spaced by their busy queue, dealt round-robin: every `y`-th of them.
        let prefill_busy = rate * queue.model.alone_ms() / 1e3 / f64::from(x);
        let arrival_scv = fixed_service_departure_scv(prefill_busy, x) / f64::from(y);
        // Each step as the deployed worker runs it, its graphs captured for `slots`.
        let steps = self.load().decode_steps();
        let graphs = self.deployed_graphs(d, slots);
        let step_ms = |n: u32| self.load().decode_step_ms(&d.cached, &graphs, n);
        let occupancy = decode_occupancy(rate, steps, y, slots, arrival_scv, step_ms);
        let (itl, slot_wait) = match occupancy {
            Some(o) => (o.itl_ms, o.wait_ms),
            None => (step_ms(slots), f64::INFINITY),
        };
        let ttft = queue.model.response_ms(rate, x)
            + self.decode_side.ms(self.req.isl, &p.split, &d.split, itl)
            + slot_wait;
        Some(self.disagg_candidate((p, x), (d, y), slots, (ttft, itl, rate)))
    }

    /// The disaggregated deployment of prefill worker `p` and decode worker `d` at batch `b`
    /// serving a closed loop of `users` users with `y` decode workers (see `closed_loop`):
    /// as many prefill workers as keep the users from waiting for one, and slots for each
    /// decode worker's share of the users, which the loop never exceeds.
    fn disagg_of_users(
        &self,
        p: &Worker,
        queue: &PrefillQueue<'_>,
        d: &Worker,
        b: u32,
        y: u32,
        users: u32,
    ) -> Candidate {
        let x = self.closed_prefill_workers(p, queue, d, y, users);
        let slots = users.div_ceil(y).min(self.batch_cap(d).max(b)).max(1);
        let graphs = self.deployed_graphs(d, slots);
        let step_ms = |n: u32| self.load().decode_step_ms(&d.cached, &graphs, n);
        let c = self.disagg_closed((p, queue, x), (d, y, slots), users, step_ms);
        self.disagg_candidate((p, x), (d, y), slots, (c.ttft_ms, c.itl_ms, c.request_rate))
    }

    /// The candidate of `x` prefill workers of `p` and `y` decode workers of `d` with
    /// `slots` slots each, at its mean TTFT, ITL and requests/s.
    fn disagg_candidate(
        &self,
        (p, x): (&Worker, u32),
        (d, y): (&Worker, u32),
        slots: u32,
        (ttft, itl, rate): (f64, f64, f64),
    ) -> Candidate {
        // Saturating: a rate far beyond the budget asks for more workers than a u32 counts.
        let gpus =
            (x.saturating_mul(p.split.gpus())).saturating_add(y.saturating_mul(d.split.gpus()));
        let steps = self.load().decode_steps();
        let estimate = Estimate {
            ttft_ms: ttft,
            itl_ms: itl,
            request_rate: rate,
            // Little's law over a request's life at the settled ITL, as an aggregated
            // candidate's (the response header's steps are in both the TTFT and the decode
            // steps).
            concurrency: rate * ((ttft - self.header_ms(itl)).min(1e9) + steps * itl) / 1e3,
        };
        let pools = Pools::Disaggregated {
            prefill: PoolShape {
                split: p.split,
                workers: x,
            },
            decode: PoolShape {
                split: d.split,
                workers: y,
            },
        };
        let misses =
            self.misses_within(ttft, itl, gpus, &[(p.split.gpus(), x), (d.split.gpus(), y)]);
        Candidate::estimated(pools, slots, gpus, estimate, self.req.osl, misses)
    }
}
