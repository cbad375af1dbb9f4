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
//! Yielding alone is a bounded busy-wait of at most [`WAKE_EARLY`] per wait (a core
//! from ~500 req/s). So the open-loop producer, whose waits are most of a worker's
//! time, also waits on a [`PreciseTimer`]: a `timerfd` of the kernel's monotonic clock,
//! armed at the absolute instant and woken through the runtime's own epoll, which fires
//! within tens of µs of it. It takes over the last stretch, so between arrivals more
//! than [`TIMERFD_ABOVE`] apart the worker sleeps instead of spinning, and only the
//! last [`TIMERFD_EARLY`] is yielded: 2.4 % of a core at 100 req/s, 8 % at 1000
//! (bench/load/README.md, "Generator lateness").

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
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

/// How far ahead of its instant the precise timer is armed: the kernel's wake-up and
/// the runtime's turn come after the instant by a few tens of µs; the rest is yielded.
pub(super) const TIMERFD_EARLY: Duration = Duration::from_micros(50);

/// Below this much time left the wait yields rather than arm the timer: arming (a
/// syscall) and the wake-up cost more than yielding through so short a stretch.
pub(super) const TIMERFD_ABOVE: Duration = Duration::from_micros(100);

/// A one-shot timer of the kernel's monotonic clock (the clock of [`Instant`] on
/// Linux), armed at an absolute instant and read through the runtime's epoll.
#[derive(Debug)]
pub(super) struct PreciseTimer(AsyncFd<Fd>);

#[derive(Debug)]
struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

impl PreciseTimer {
    /// A timer on the current runtime; `None` where the kernel or the runtime has
    /// none to give (the wait then yields, as before).
    pub(super) fn new() -> Option<PreciseTimer> {
        let flags = TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC;
        let fd = TimerFd::new(ClockId::CLOCK_MONOTONIC, flags).ok()?;
        // The safe constructor, deprecated for types whose descriptor may change
        // under the reactor (tokio #8587): `Fd` owns its `TimerFd`, which owns its
        // descriptor for as long as it lives, so it is the same one throughout. The
        // replacement, `register_with_interest`, is `unsafe`, which this crate forbids.
        #[allow(deprecated)]
        AsyncFd::with_interest(Fd(fd), Interest::READABLE)
            .ok()
            .map(PreciseTimer)
    }

    /// Sleep until `at` (at once when it has passed).
    async fn sleep_until(&self, at: Instant) -> io::Result<()> {
        // The same clock as `Instant`, read once more: `at` as a timespec.
        let now = Instant::now();
        let mono = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)?;
        let at = mono + TimeSpec::from_duration(at.saturating_duration_since(now));
        let timer = &self.0.get_ref().0;
        timer.set(
            Expiration::OneShot(at),
            TimerSetTimeFlags::TFD_TIMER_ABSTIME,
        )?;
        loop {
            let mut ready = self.0.readable().await?;
            // Not yet expired reads EAGAIN (non-blocking): wait for the next readiness.
            if let Ok(r) = ready.try_io(|fd| fd.get_ref().0.wait().map_err(io::Error::from)) {
                return r;
            }
        }
    }
}

/// Wait until `deadline`: sleep on tokio's timer to [`WAKE_EARLY`] before it, then on
/// `precise` (when given) to [`TIMERFD_EARLY`] before it, then yield until it; false
/// if stopped first.
pub(super) async fn wait_until(
    deadline: Instant,
    stop: &CancellationToken,
    precise: Option<&PreciseTimer>,
) -> bool {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        if stop.is_cancelled() {
            return false;
        }
        match (sleep_target(deadline, now), precise) {
            (Some(at), _) => tokio::select! {
                biased;
                () = stop.cancelled() => return false,
                () = tokio::time::sleep_until(at.into()) => {}
            },
            (None, Some(timer)) if deadline - now > TIMERFD_ABOVE => tokio::select! {
                biased;
                () = stop.cancelled() => return false,
                r = timer.sleep_until(deadline - TIMERFD_EARLY) => {
                    // A timer that fails leaves the rest to yielding.
                    if r.is_err() {
                        tokio::task::yield_now().await;
                    }
                }
            },
            (None, _) => tokio::task::yield_now().await,
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
    /// The precise timer: a wait returns at its deadline, never before, for stretches
    /// above and below the yielding margin; and a stop ends a wait on it.
    #[tokio::test(flavor = "current_thread")]
    async fn the_precise_timer_returns_at_the_deadline_never_before() {
        let timer = PreciseTimer::new().expect("a timerfd on Linux");
        let stop = CancellationToken::new();
        for us in [0, 30, 150, 1_500, 2_500, 5_000] {
            let deadline = Instant::now() + Duration::from_micros(us);
            assert!(wait_until(deadline, &stop, Some(&timer)).await);
            assert!(Instant::now() >= deadline, "{us} µs");
        }
        // Armed at an instant already past: it fires at once.
        timer.sleep_until(Instant::now()).await.unwrap();
        stop.cancel();
        let far = Instant::now() + Duration::from_secs(3600);
        assert!(!wait_until(far, &stop, Some(&timer)).await);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn returns_at_the_deadline_or_when_stopped() {
        let stop = CancellationToken::new();
        let deadline = Instant::now() + Duration::from_millis(5);
        assert!(wait_until(deadline, &stop, None).await);
        assert!(Instant::now() >= deadline);
        stop.cancel();
        let far = Instant::now() + Duration::from_secs(3600);
        assert!(!wait_until(far, &stop, None).await);
    }
}
