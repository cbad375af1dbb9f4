//! A flat-out worker's thread kept awake while answers are due.
//!
//! A closed loop without think time is meant to keep its server as busy as it can. When
//! the worker has sent every request it can and waits, its runtime parks the thread in
//! `epoll_wait`; the server's next answer then has to wake it, and on the server's side
//! that wake-up (the scheduler, an inter-processor interrupt, a VM exit on a virtual
//! machine) is paid inside the `write` of the answer, on the server's core. Measured
//! against nginx over TLS (bench/tls/README.md): ninefold parked ~0.1 times per request
//! where wrk (whose thread is never idle) parked ~0.004, and nginx spent 5–10% more CPU
//! per request for ninefold's traffic, the syscalls per request being the same. So while
//! requests are in flight and one was answered less than [`AWAKE_FOR`] ago, a task of the
//! worker yields instead of letting the runtime park: the runtime then polls its I/O
//! driver without blocking and finds the answer itself. With nothing in flight, or no
//! answer for longer than that (a slow server, a stall), it parks as before, so a stalled
//! or idle run does not burn its core; the open-loop producer yields only through the
//! last few µs before each send ([`super::clock::TIMERFD_EARLY`]).

use std::cell::Cell;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How long after the last answer the thread keeps polling for the next one before it
/// parks: a few round trips of a fast server, far below any think time or timeout.
pub(super) const AWAKE_FOR: Duration = Duration::from_micros(200);

/// The keep-awake task's state, shared with the worker that reports answers.
#[derive(Debug, Default)]
pub(super) struct Awake {
    last_answer: Cell<Option<Instant>>,
    /// The task waits for an answer (it parked): the next answer wakes it.
    parked: Cell<bool>,
    wake: Notify,
}

impl Awake {
    /// An answer came at `at` (one `Cell` write, and a wake-up only after a park).
    #[inline]
    pub fn answered(&self, at: Instant) {
        self.last_answer.set(Some(at));
        if self.parked.replace(false) {
            self.wake.notify_one();
        }
    }

    /// Keep the thread awake while `in_flight` says answers are due and they come
    /// (runs until aborted).
    pub async fn run(&self, in_flight: &Cell<u64>) {
        loop {
            if keep_polling(in_flight.get(), self.last_answer.get(), Instant::now()) {
                tokio::task::yield_now().await;
            } else {
                self.parked.set(true);
                self.wake.notified().await;
            }
        }
    }
}

/// Whether to poll for the next answer rather than park: requests are in flight and the
/// last answer came less than [`AWAKE_FOR`] before `now` (none yet: park until one comes).
fn keep_polling(in_flight: u64, last_answer: Option<Instant>, now: Instant) -> bool {
    in_flight > 0 && last_answer.is_some_and(|at| now.saturating_duration_since(at) < AWAKE_FOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_only_while_answers_are_due_and_coming() {
        let t0 = Instant::now();
        let at = |us: u64| t0 + Duration::from_micros(us);
        // In flight, last answer 50 µs ago: poll.
        assert!(keep_polling(3, Some(t0), at(50)));
        // Just below and at the window's end.
        assert!(keep_polling(1, Some(t0), at(199)));
        assert!(!keep_polling(1, Some(t0), at(200)));
        // Nothing in flight: park, however recent the answer.
        assert!(!keep_polling(0, Some(t0), at(1)));
        // No answer yet (connecting, a first request): park until one comes.
        assert!(!keep_polling(5, None, at(1)));
    }

    /// A parked task is woken by the next answer, and only a parked one is notified.
    #[tokio::test(flavor = "current_thread")]
    async fn an_answer_wakes_the_parked_task() {
        let awake = std::rc::Rc::new(Awake::default());
        let in_flight = std::rc::Rc::new(Cell::new(1));
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let (a, f) = (awake.clone(), in_flight.clone());
                let task = tokio::task::spawn_local(async move { a.run(&f).await });
                // No answer yet: the task parks.
                while !awake.parked.get() {
                    tokio::task::yield_now().await;
                }
                awake.answered(Instant::now());
                assert!(!awake.parked.get(), "an answer clears the park");
                // Polling again now (the answer is fresh), then parked once it is old or
                // nothing is in flight.
                in_flight.set(0);
                let deadline = Instant::now() + Duration::from_secs(10);
                while !awake.parked.get() {
                    assert!(Instant::now() < deadline, "the task never parked again");
                    tokio::task::yield_now().await;
                }
                task.abort();
            })
            .await;
    }
}
