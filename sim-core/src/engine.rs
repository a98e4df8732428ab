//! The run loop: a model handles one event at a time and schedules more.
//!
//! The loop is generic over the model's event type, so events are stored
//! inline in the queue (no boxing, no dynamic dispatch per event).

use crate::queue::{EventKey, EventQueue};
use crate::{SimDuration, SimTime};

/// A simulated world: it reacts to its own events.
pub trait Model {
    /// The world's event type (usually an enum).
    type Event;

    /// Handles `event` at `sched.now()`; may schedule or cancel further events.
    fn handle(&mut self, event: Self::Event, sched: &mut Scheduler<Self::Event>);
}

/// The clock and the pending events, as a model sees them while handling one.
pub struct Scheduler<E> {
    now: SimTime,
    queue: EventQueue<E>,
    handled: u64,
}

impl<E> Default for Scheduler<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Scheduler<E> {
    /// A scheduler at time zero with nothing pending.
    pub fn new() -> Self {
        Scheduler {
            now: SimTime::ZERO,
            queue: EventQueue::new(),
            handled: 0,
        }
    }

    /// The current simulated time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Events handled so far.
    pub fn events_handled(&self) -> u64 {
        self.handled
    }

    /// Events scheduled and not yet handled or cancelled.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Schedules `event` at `time`.
    ///
    /// # Panics
    /// If `time` is before [`now`](Self::now): time never goes backwards, and a
    /// model that asks for it has a bug.
    pub fn schedule_at(&mut self, time: SimTime, event: E) {
        self.check_not_past(time);
        self.queue.push(time, event);
    }

    /// Schedules `event` after `delay`.
    pub fn schedule_in(&mut self, delay: SimDuration, event: E) {
        self.queue.push(self.now + delay, event);
    }

    /// Schedules `event` at `time` and returns a key to [`cancel`](Self::cancel) it.
    ///
    /// # Panics
    /// As [`schedule_at`](Self::schedule_at).
    pub fn schedule_cancellable_at(&mut self, time: SimTime, event: E) -> EventKey {
        self.check_not_past(time);
        self.queue.push_cancellable(time, event)
    }

    /// Schedules `event` after `delay` and returns a key to cancel it.
    pub fn schedule_cancellable_in(&mut self, delay: SimDuration, event: E) -> EventKey {
        self.queue.push_cancellable(self.now + delay, event)
    }

    fn check_not_past(&self, time: SimTime) {
        assert!(
            time >= self.now,
            "event scheduled in the past: at {time} while the clock is at {}",
            self.now
        );
    }

    /// Cancels a pending event; `false` if it already ran or was cancelled.
    pub fn cancel(&mut self, key: EventKey) -> bool {
        self.queue.cancel(key)
    }

    /// The time of the next pending event.
    pub fn next_event_time(&mut self) -> Option<SimTime> {
        self.queue.peek_time()
    }
}

/// How a call to [`Simulation::run_until`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Events remain after the end time.
    ReachedEnd,
    /// No event is pending.
    Exhausted,
}

/// A model and its scheduler: the whole state of one run.
pub struct Simulation<M: Model> {
    /// The simulated world.
    pub model: M,
    /// Its clock and pending events.
    pub scheduler: Scheduler<M::Event>,
}

impl<M: Model> Simulation<M> {
    /// A run of `model` at time zero with nothing scheduled.
    pub fn new(model: M) -> Self {
        Simulation {
            model,
            scheduler: Scheduler::new(),
        }
    }

    /// The current simulated time.
    pub fn now(&self) -> SimTime {
        self.scheduler.now
    }

    /// Handles the next event, if any, and returns its time.
    pub fn step(&mut self) -> Option<SimTime> {
        let (time, event) = self.scheduler.queue.pop()?;
        self.dispatch(time, event);
        Some(time)
    }

    /// Handles every event up to and including `end`, then sets the clock to `end`.
    pub fn run_until(&mut self, end: SimTime) -> RunOutcome {
        self.run_until_observed(end, |_, _| {})
    }

    /// Handles events until none is pending.
    pub fn run_to_completion(&mut self) {
        while self.step().is_some() {}
    }

    /// As [`run_until`](Self::run_until), showing each event to `observe` before it is handled.
    pub fn run_until_observed(
        &mut self,
        end: SimTime,
        mut observe: impl FnMut(SimTime, &M::Event),
    ) -> RunOutcome {
        while let Some((time, event)) = self.scheduler.queue.pop_due(end) {
            observe(time, &event);
            self.dispatch(time, event);
        }
        let outcome = if self.scheduler.queue.is_empty() {
            RunOutcome::Exhausted
        } else {
            RunOutcome::ReachedEnd
        };
        if self.scheduler.now < end {
            self.scheduler.now = end;
        }
        outcome
    }

    fn dispatch(&mut self, time: SimTime, event: M::Event) {
        debug_assert!(time >= self.scheduler.now, "time went backwards");
        self.scheduler.now = time;
        self.scheduler.handled += 1;
        self.model.handle(event, &mut self.scheduler);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts down: each tick schedules the next one a second later.
    struct Countdown {
        ticks: Vec<SimTime>,
        cancel_next: Option<EventKey>,
    }

    enum Ev {
        Tick(u32),
        Never,
    }

    impl Model for Countdown {
        type Event = Ev;
        fn handle(&mut self, event: Ev, sched: &mut Scheduler<Ev>) {
            match event {
                Ev::Tick(n) => {
                    self.ticks.push(sched.now());
                    if n > 0 {
                        sched.schedule_in(SimDuration::from_secs(1).unwrap(), Ev::Tick(n - 1));
                    }
                    if let Some(key) = self.cancel_next.take() {
                        assert!(sched.cancel(key));
                    }
                }
                Ev::Never => panic!("cancelled event ran"),
            }
        }
    }

    #[test]
    fn runs_until_a_time_then_to_completion() {
        let mut sim = Simulation::new(Countdown {
            ticks: vec![],
            cancel_next: None,
        });
        sim.scheduler.schedule_at(SimTime::ZERO, Ev::Tick(5));
        let never = sim
            .scheduler
            .schedule_cancellable_at(SimTime::from_nanos(10), Ev::Never);
        sim.model.cancel_next = Some(never);
        let half = SimTime::ZERO + SimDuration::from_millis(2500).unwrap();
        assert_eq!(sim.run_until(half), RunOutcome::ReachedEnd);
        assert_eq!(sim.model.ticks.len(), 3);
        assert_eq!(sim.now(), half);
        sim.run_to_completion();
        assert_eq!(sim.model.ticks.len(), 6);
        assert_eq!(
            sim.now(),
            SimTime::ZERO + SimDuration::from_secs(5).unwrap()
        );
        assert_eq!(sim.scheduler.events_handled(), 6);
        assert_eq!(sim.run_until(SimTime::MAX), RunOutcome::Exhausted);
    }

    #[test]
    #[should_panic(expected = "event scheduled in the past")]
    fn scheduling_in_the_past_is_a_bug() {
        let mut sched: Scheduler<()> = Scheduler::new();
        sched.now = SimTime::from_nanos(10);
        sched.schedule_at(SimTime::from_nanos(9), ());
    }
}
