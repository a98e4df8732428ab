//! Engine throughput on a synthetic M/M/c queue: events handled per wall-second.
//!
//! Run: `cargo bench -p servesim-core --bench queueing`
//!
//! Each arrival schedules the next arrival and, if a server is free, a
//! departure; each departure starts the next queued job. Exponential draws
//! come from named streams, as in the simulator proper. Single-threaded.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Instant;

use rand_distr::{Distribution, Exp};
use servesim_core::{Model, RngStreams, Scheduler, SimDuration, SimTime, Simulation, StreamRng};

#[derive(Debug, Clone, Copy)]
enum Ev {
    Arrival,
    Departure,
}

struct MmcQueue {
    busy: u32,
    servers: u32,
    waiting: VecDeque<SimTime>,
    inter_arrival: Exp<f64>,
    service: Exp<f64>,
    arrivals_rng: StreamRng,
    service_rng: StreamRng,
    served: u64,
    total_wait_ns: u64,
}

impl MmcQueue {
    fn draw(dist: &Exp<f64>, rng: &mut StreamRng) -> SimDuration {
        SimDuration::from_secs_f64_round(dist.sample(rng)).expect("finite draw")
    }

    fn start_service(&mut self, sched: &mut Scheduler<Ev>) {
        self.busy += 1;
        let d = Self::draw(&self.service, &mut self.service_rng);
        sched.schedule_in(d, Ev::Departure);
    }
}

impl Model for MmcQueue {
    type Event = Ev;
    fn handle(&mut self, event: Ev, sched: &mut Scheduler<Ev>) {
        match event {
            Ev::Arrival => {
                let d = Self::draw(&self.inter_arrival, &mut self.arrivals_rng);
                sched.schedule_in(d, Ev::Arrival);
                if self.busy < self.servers {
                    self.start_service(sched);
                } else {
                    self.waiting.push_back(sched.now());
                }
            }
            Ev::Departure => {
                self.busy -= 1;
                self.served += 1;
                if let Some(since) = self.waiting.pop_front() {
                    self.total_wait_ns += (sched.now() - since).as_nanos();
                    self.start_service(sched);
                }
            }
        }
    }
}

fn run(servers: u32, load: f64, sim_secs: u64) -> (u64, f64, f64) {
    let streams = RngStreams::new(1);
    let service_rate = 1000.0; // jobs per second per server
    let model = MmcQueue {
        busy: 0,
        servers,
        waiting: VecDeque::new(),
        inter_arrival: Exp::new(load * servers as f64 * service_rate).unwrap(),
        service: Exp::new(service_rate).unwrap(),
        arrivals_rng: streams.stream("arrivals"),
        service_rng: streams.stream("service"),
        served: 0,
        total_wait_ns: 0,
    };
    let mut sim = Simulation::new(model);
    sim.scheduler.schedule_at(SimTime::ZERO, Ev::Arrival);
    let start = Instant::now();
    sim.run_until(SimTime::ZERO + SimDuration::from_secs(sim_secs).unwrap());
    let wall = start.elapsed().as_secs_f64();
    let events = sim.scheduler.events_handled();
    let mean_wait_ms = sim.model.total_wait_ns as f64 / sim.model.served.max(1) as f64 / 1e6;
    black_box(&sim.model.served);
    (events, wall, mean_wait_ms)
}

fn main() {
    println!("M/M/c queue through servesim-core, one thread");
    println!(
        "{:>8} {:>6} {:>12} {:>9} {:>14} {:>14}",
        "servers", "load", "events", "wall_s", "events/s", "mean_wait_ms"
    );
    for (servers, load, secs) in [(1, 0.8, 2_000), (64, 0.9, 100), (1024, 0.9, 10)] {
        let (events, wall, wait) = run(servers, load, secs);
        println!(
            "{servers:>8} {load:>6.2} {events:>12} {wall:>9.3} {:>12.2} M {wait:>14.4}",
            events as f64 / wall / 1e6
        );
    }
}
