//! A precise timer for the timing toxics: one thread that waits on a condvar
//! with a timeout (a futex with a high-resolution kernel timer: tens of
//! microseconds late), instead of tokio's timer wheel, which works in whole
//! milliseconds and rounds every deadline up (0–2 ms late).
//!
//! Sleepers register a deadline and await a oneshot; the thread fires them in
//! deadline order. The lock is held only to push or pop entries, never while
//! waking anyone. A sleeper that goes away (its toxic interrupted) leaves its
//! entry to fire into nothing.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use tokio::sync::oneshot;

struct Entry {
    at: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

struct Timer {
    queue: Mutex<Queue>,
    changed: Condvar,
}

impl Timer {
    fn run(&self) {
        let mut due = Vec::new();
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = Instant::now();
            while q.heap.peek().is_some_and(|Reverse(e)| e.at <= now) {
                if let Some(Reverse(e)) = q.heap.pop() {
                    due.push(e.wake);
                }
            }
            if !due.is_empty() {
                drop(q);
                for wake in due.drain(..) {
                    let _ = wake.send(());
                }
                q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            q = match q.heap.peek().map(|Reverse(e)| e.at) {
                None => self.changed.wait(q).unwrap_or_else(PoisonError::into_inner),
                Some(at) => {
                    self.changed
                        .wait_timeout(q, at.saturating_duration_since(now))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

/// The process's timer thread, started on first use; `None` if it could not be started.
fn timer() -> Option<&'static Timer> {
    static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();
    *TIMER.get_or_init(|| {
        let t: &'static Timer = Box::leak(Box::new(Timer {
            queue: Mutex::default(),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("toxic-timer".into())
            .spawn(move || t.run())
            .ok()
            .map(|_| t)
    })
}

/// Wait until `at` on the real clock, tens of microseconds late at most on an
/// idle machine. Falls back to tokio's timer if the thread could not start.
pub(crate) async fn sleep_until(at: Instant) {
    let Some(t) = timer() else {
        tokio::time::sleep_until(at.into()).await;
        return;
    };
    let (wake, woken) = oneshot::channel();
    {
        let mut q = t.queue.lock().unwrap_or_else(PoisonError::into_inner);
        q.seq += 1;
        let seq = q.seq;
        let first = q.heap.peek().is_none_or(|Reverse(e)| at < e.at);
        q.heap.push(Reverse(Entry { at, seq, wake }));
        if first {
            t.changed.notify_one();
        }
    }
    let _ = woken.await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn fires_in_deadline_order_and_never_early() {
        let start = Instant::now();
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for ms in [30u64, 10, 20, 0, 10] {
            let order = std::sync::Arc::clone(&order);
            tasks.push(tokio::spawn(async move {
                let at = start + Duration::from_millis(ms);
                sleep_until(at).await;
                assert!(Instant::now() >= at);
                order.lock().unwrap().push(ms);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order, vec![0, 10, 10, 20, 30]);
    }
}
