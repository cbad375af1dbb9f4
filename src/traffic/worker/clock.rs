//! Waiting for an absolute instant to within microseconds, not milliseconds.
//!
//! Tokio's timer works in whole milliseconds: a sleeper's deadline is rounded up to
//! the wheel's next tick and the runtime's `epoll_wait` takes a timeout in whole
//! milliseconds, so a `sleep_until` wakes ~1–2 ms late. The open-loop producer sends
//! each arrival when its wait returns, and latency runs from the intended instant: a
//! plain timer put ~1 ms of the generator's own lateness into every request at low rates
//! (a 0.2 ms API read 1.4 ms at 100 req/s). So a wait sleeps on the timer only until
//! [`WAKE_EARLY`] before its deadline and finishes the last stretch by yielding on the
//! clock, the way the fault proxy's latency toxic does (docs/faults.md, "Toxic timing").
//!
//! The cost is a bounded busy-wait: at most [`WAKE_EARLY`] per wait (less by however
//! late the timer woke). At 10 req/s that is ≤ 2% of a core (measured ~1%, ~8% at
//! 100 req/s: bench/load/README.md, "Generator lateness"); from ~500 req/s per worker
//! the gaps are shorter than the margin and the producer yields continuously, as it
//! already did below 1 ms gaps. The other tasks of the worker run between the yields.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// How long before its deadline a wait stops sleeping on the timer and starts yielding:
/// more than the timer's lateness (whole milliseconds, rounded up, so up to ~2 ms), so
/// that the timer's wake-up comes before the deadline, not after it.
pub(super) const WAKE_EARLY: Duration = Duration::from_millis(2);

/// Where a wait that is at `now` sleeps on the timer until, or `None` when it is
/// within [`WAKE_EARLY`] of `deadline` (or past it) and yields instead.
pub(super) fn sleep_target(deadline: Instant, now: Instant) -> Option<Instant> {
    deadline.checked_sub(WAKE_EARLY).filter(|at| *at > now)
}

/// Wait until `deadline`: sleep to [`WAKE_EARLY`] before it, then yield until it; false
/// if stopped first.
pub(super) async fn wait_until(deadline: Instant, stop: &CancellationToken) -> bool {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        if stop.is_cancelled() {
            return false;
        }
        match sleep_target(deadline, now) {
            Some(at) => tokio::select! {
                biased;
                () = stop.cancelled() => return false,
                () = tokio::time::sleep_until(at.into()) => {}
            },
            None => tokio::task::yield_now().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_until_two_milliseconds_before_the_deadline_then_yields() {
        let now = Instant::now();
        let at = |us: u64| now + Duration::from_micros(us);
        // 10 ms away: sleep until 8 ms from now.
        assert_eq!(sleep_target(at(10_000), now), Some(at(8_000)));
        // Just over the margin away: sleep for the microsecond beyond it.
        assert_eq!(sleep_target(at(2_001), now), Some(at(1)));
        // Exactly the margin away, or less, or past: yield, no timer.
        assert_eq!(sleep_target(at(2_000), now), None);
        assert_eq!(sleep_target(at(1_999), now), None);
        assert_eq!(sleep_target(at(300), now), None);
        assert_eq!(sleep_target(now, now), None);
        assert_eq!(sleep_target(now, at(5_000)), None);
    }

    /// A wait returns at its deadline, not before, and a stop ends it early.
    #[tokio::test(flavor = "current_thread")]
    async fn returns_at_the_deadline_or_when_stopped() {
        let stop = CancellationToken::new();
        let deadline = Instant::now() + Duration::from_millis(5);
        assert!(wait_until(deadline, &stop).await);
        assert!(Instant::now() >= deadline);
        stop.cancel();
        let far = Instant::now() + Duration::from_secs(3600);
        assert!(!wait_until(far, &stop).await);
    }
}
