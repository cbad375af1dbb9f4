//! The overall deadline (the route's `timeout`, else `request_timeout`; read from the
//! request's snapshot so that a reload changes it): retries included, the pipeline answers
//! 504 when it passes (408 while the client's body is still arriving).

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::Poll;

use tokio::time::{Instant, Sleep};

/// The overall deadline's timer of one client connection. An HTTP/1 connection's
/// requests are served one after another, so each request borrows the connection's timer
/// and gives it back; the timer is re-armed only when it fires before the current request's
/// deadline (about once per `request_timeout`), where `tokio::time::timeout` would register
/// and remove a timer entry for every request.
#[derive(Default)]
pub struct ConnTimer(Mutex<Option<Pin<Box<Sleep>>>>);

impl ConnTimer {
    fn take(&self) -> Option<Pin<Box<Sleep>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn put(&self, sleep: Pin<Box<Sleep>>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(sleep);
    }
}

/// Runs `fut` until `deadline` on `timer` (`None` when the deadline passed first). The
/// future is borrowed pinned, not moved in: the request path's future is large, and moving
/// it cost more instructions than the timer saved.
pub(crate) async fn within<F: Future>(
    timer: &ConnTimer,
    deadline: Instant,
    mut fut: Pin<&mut F>,
) -> Option<F::Output> {
    let mut sleep = match timer.take() {
        // A reload may have shortened the timeout: never fire later than this deadline.
        Some(mut s) if s.deadline() > deadline => {
            s.as_mut().reset(deadline);
            s
        }
        Some(s) => s,
        None => Box::pin(tokio::time::sleep_until(deadline)),
    };
    let out = std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        // The timer is armed at or before this deadline: when it fires early (an earlier
        // request's deadline), move it on; when it fires at this one, time is up.
        while sleep.as_mut().poll(cx).is_ready() {
            if Instant::now() >= deadline {
                return Poll::Ready(None);
            }
            sleep.as_mut().reset(deadline);
        }
        Poll::Pending
    })
    .await;
    timer.put(sleep);
    out
}

#[cfg(test)]
mod tests {
    use std::future::pending;
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_timer_fires_at_each_requests_own_deadline() {
        let timer = ConnTimer::default();
        let s = Duration::from_secs;
        let t0 = Instant::now();
        assert_eq!(
            within(&timer, t0 + s(10), std::pin::pin!(async { 1 })).await,
            Some(1)
        );
        tokio::time::advance(s(5)).await;
        // The timer armed for the first request's deadline (t0 + 10 s) moves on to this one's.
        assert_eq!(
            within(&timer, t0 + s(15), std::pin::pin!(pending::<()>())).await,
            None
        );
        assert_eq!(Instant::now(), t0 + s(15));
        // A deadline earlier than the armed timer (a reload shortened the timeout) still holds.
        let t1 = Instant::now();
        let slow = std::pin::pin!(tokio::time::sleep(s(2)));
        assert_eq!(within(&timer, t1 + s(30), slow).await, Some(()));
        assert_eq!(
            within(&timer, t1 + s(3), std::pin::pin!(pending::<()>())).await,
            None
        );
        assert_eq!(Instant::now(), t1 + s(3));
    }
}
