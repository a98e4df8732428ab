//! The fast search's estimates under a closed loop of users (`spec.workload.concurrency`,
//! `--concurrency N`): `N` users, each sending its next request when its last answer ends,
//! as `--mode simulate` runs them (ramped over one request's life, so out of step).
//!
//! A closed loop of fixed-size requests runs at its operational bounds
//! ([`servesim_models::analytic::closed_loop`]): nothing waits below the tightest stage's
//! capacity, and beyond it the users wait for that stage. So a deployment is timed at the
//! counts the users put on its workers, not at a Poisson stream's swings around them: an
//! aggregated worker always holds its share of the users, a decode worker the share the
//! users' cycle leaves decoding.

use servesim_models::analytic::closed_loop;
use servesim_models::engine::cuda_graph::CudaGraphs;

use super::disaggregated::PrefillQueue;
use super::search::{MAX_PREFILL_UTILISATION, Search, Worker};

/// Rounds of a decode worker's ITL–count fixed point at most.
const MAX_FIXED_POINT_ROUNDS: usize = 32;

/// A deployment's mean figures under the users' closed loop.
#[derive(Clone, Copy, Debug)]
pub(super) struct ClosedEstimate {
    /// Mean TTFT, ms: to the first token with text.
    pub ttft_ms: f64,
    /// Mean gap between a request's tokens, ms.
    pub itl_ms: f64,
    /// Requests answered per second.
    pub request_rate: f64,
}

impl Search<'_> {
    /// `users` users over `workers` aggregated workers of `w` running `graphs`: round-robin
    /// deals each worker `⌊users / workers⌋` or one more, which it always holds. At `k`
    /// sequences a worker interleaves one prompt's prefill iterations with the others'
    /// decodes (the stationary estimate at `k`, [`SteadyLoad::aggregated`], is that loop
    /// with nothing waiting). A request arrives as another leaves: with one worker, at the
    /// end of one of its iterations, when the engine has already begun the next without it
    /// (under an overlap schedule, that one's plan was drawn up before it came), so it
    /// waits out that iteration; with more, at another worker, at any point of its
    /// iteration in flight, so half of one on average, and under an overlap schedule one
    /// more, whose plan was drawn up before it came (as a Poisson arrival's); on a worker
    /// dealt one user, none (an idle engine plans at once). Then its prefill's iterations.
    /// `None` where a worker's prefill cannot keep up with its share.
    ///
    /// [`SteadyLoad::aggregated`]: servesim_models::analytic::SteadyLoad::aggregated
    pub(super) fn agg_closed(
        &self,
        w: &Worker,
        graphs: &CudaGraphs,
        workers: u32,
        users: u32,
    ) -> Option<ClosedEstimate> {
        let load = self.load_of(w.split, "aggregated");
        let (low, more) = (users / workers.max(1), users % workers.max(1));
        // Iterations a request waits for before its prefill's (see above); none on a worker
        // dealt one user, idle when its request comes.
        let before = |k: u32| match (k, workers) {
            (0..=1, _) => 0.0,
            (_, 0..=1) => 1.0,
            _ => 0.5 + self.overlap_iterations(),
        };
        let (mut rate, mut ttft, mut itl) = (0.0, 0.0, 0.0);
        for (count, k) in [(workers - more, low), (more, low + 1)] {
            if count == 0 || k == 0 {
                continue;
            }
            let point = load.aggregated(&w.cached, graphs, k)?;
            let served = f64::from(count) * point.requests_per_s;
            rate += served;
            ttft += served * (before(k) * point.itl_ms + point.prefill_ms);
            itl += served * point.itl_ms;
        }
        (rate > 0.0).then(|| ClosedEstimate {
            ttft_ms: ttft / rate + self.header_ms(itl / rate),
            itl_ms: itl / rate,
            request_rate: rate,
        })
    }

    /// The fewest prefill workers that carry `users` users cycling through `y` decode
    /// workers of `d` at their share each, at most [`MAX_PREFILL_UTILISATION`] busy: below
    /// that nothing waits for a prefill (the loop's bound), so more would only add GPUs. The
    /// users' prompts come evenly spaced, one at a time, and a worker prefills each alone
    /// (it batches only prompts that wait): its capacity here is one prompt alone at a time,
    /// not its peak over full batches. Past the budget where the users take it, as the
    /// decode workers dealt them are.
    pub(super) fn closed_prefill_workers(
        &self,
        p: &Worker,
        queue: &PrefillQueue<'_>,
        d: &Worker,
        y: u32,
        users: u32,
    ) -> u32 {
        let itl = self.decode_itl_ms(d, users.div_ceil(y.max(1)));
        let rate = f64::from(users) / (self.unbound_cycle_ms(p, queue, (d, users <= y), itl) / 1e3);
        let carried = |x: f64| MAX_PREFILL_UTILISATION * x * 1e3 / queue.model.alone_ms();
        let most = self.req.total_gpus / p.split.gpus().max(1) + 1;
        (1..=most)
            .find(|&x| carried(f64::from(x)) >= rate)
            .unwrap_or_else(|| (rate / carried(1.0)).ceil().min(f64::from(u32::MAX)) as u32)
    }

    /// `users` users through `x` prefill workers of `p` and `y` decode workers of `d` with
    /// `slots` slots each, every step of `n` sequences taking `step_ms(n)`. A request's cycle
    /// is its prefill alone, the decode side's wait for its first token with text, and the
    /// rest of its decode steps; a decode worker holds the users' share of the time spent in
    /// decode (Little's law), at that count's step time (a fixed point: the step time sets
    /// the cycle, which sets the count). The prefill workers' peak and the decode workers'
    /// full slots bound the rate.
    pub(super) fn disagg_closed(
        &self,
        (p, queue, x): (&Worker, &PrefillQueue<'_>, u32),
        (d, y, slots): (&Worker, u32, u32),
        users: u32,
        step_ms: impl Fn(u32) -> f64,
    ) -> ClosedEstimate {
        let steps = self.load().decode_steps();
        let y_f = f64::from(y.max(1));
        // The step time at a mean count between two batch sizes: the mean of the two.
        let at = |m: f64| {
            let m = m.clamp(1.0, f64::from(slots));
            let low = m.floor() as u32;
            let up = (low + 1).min(slots);
            let share = m - f64::from(low);
            step_ms(low) * (1.0 - share) + step_ms(up) * share
        };
        let decode_most = y_f * f64::from(slots) / (steps * step_ms(slots) / 1e3);
        let most = queue.model.peak_per_s(x).min(decode_most);
        let idle = users <= y;
        let settle =
            |itl: f64| closed_loop(users, self.unbound_cycle_ms(p, queue, (d, idle), itl), most);
        let mut itl = at(f64::from(users) / y_f);
        let mut settled = settle(itl);
        for _ in 0..MAX_FIXED_POINT_ROUNDS {
            let count = settled.requests_per_s / y_f * steps * itl / 1e3;
            let next = at(count);
            let done = (next - itl).abs() <= 1e-9 * itl;
            itl = next;
            settled = settle(itl);
            if done {
                break;
            }
        }
        let side = self.side_ms(p, d, idle, itl);
        ClosedEstimate {
            ttft_ms: queue.model.alone_ms() + side + settled.wait_ms,
            itl_ms: itl,
            request_rate: settled.requests_per_s,
        }
    }

    /// What a disaggregated request's first token waits for on the decode side, ms, after
    /// its prefill ([`DecodeSideWait`](super::decode_side::DecodeSideWait)); on an `idle`
    /// decode worker (dealt one user at most) no iteration is in flight when its KV lands.
    fn side_ms(&self, p: &Worker, d: &Worker, idle: bool, itl: f64) -> f64 {
        let side = self.decode_side.ms(self.req.isl, &p.split, &d.split, itl);
        if idle {
            side - self.decode_side.in_flight_ms(itl)
        } else {
            side
        }
    }

    /// A disaggregated request's cycle, ms, when nothing waits: its prefill alone, the
    /// decode side's wait for its first token with text (the response header's steps
    /// included; on an `idle` decode worker, see [`side_ms`](Self::side_ms)), and the rest
    /// of its decode steps at `itl_ms`.
    fn unbound_cycle_ms(
        &self,
        p: &Worker,
        queue: &PrefillQueue<'_>,
        (d, idle): (&Worker, bool),
        itl: f64,
    ) -> f64 {
        let side = self.side_ms(p, d, idle, itl);
        let rest = self.load().decode_steps() - f64::from(self.header_tokens);
        queue.model.alone_ms() + side + rest.max(0.0) * itl
    }
}
