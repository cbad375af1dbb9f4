//! `bandwidth`: at most `rate` KB/s (1 KB = 1000 bytes), as a token bucket
//! on bytes. A chunk leaves when the bytes sent so far are paid for: its due
//! time is computed from the schedule's start and the bytes sent since, never
//! from when a timer last woke us, so a late wake-up (tokio rounds timers up to
//! the next millisecond) is carried as credit to the next chunk instead of being
//! lost. Only idle time (an empty input) restarts the schedule: waiting for data
//! is not credit. A chunk larger than 100 ms worth of data is sent in 100 ms
//! pieces, as the reference does. Rate 0 = unlimited.

use std::time::Duration;

use tokio::sync::mpsc::error::TryRecvError;
use tokio::time::Instant;

use crate::faults::proxy::stage::{self, Chunk, PipeEnd, Recv, StageIo};

/// Bandwidth attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bandwidth {
    /// KB/s; 0 means unlimited.
    pub rate_kb_per_s: u64,
}

/// The bucket's schedule: `paid` bytes since `epoch` are due at
/// `epoch + paid / rate`.
struct Schedule {
    epoch: Instant,
    paid: u64,
    /// Bytes per millisecond (= KB/s).
    rate: u64,
}

impl Schedule {
    /// When `more` bytes after those already paid for may leave; books them.
    fn book(&mut self, more: usize) -> Instant {
        self.paid = self
            .paid
            .saturating_add(u64::try_from(more).unwrap_or(u64::MAX));
        let nanos = u128::from(self.paid) * 1_000_000 / u128::from(self.rate);
        stage::deadline(
            self.epoch,
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)),
        )
    }

    /// Restart at `now` if the bucket has run dry (everything paid is in the past).
    fn restart_if_idle(&mut self, now: Instant) {
        let due = self.book(0);
        if due < now {
            self.epoch = now;
            self.paid = 0;
        }
    }
}

impl Bandwidth {
    pub(crate) async fn pipe(&self, io: &mut StageIo) -> PipeEnd {
        let rate = self.rate_kb_per_s;
        let mut schedule = Schedule {
            epoch: Instant::now(),
            paid: 0,
            rate: rate.max(1),
        };
        loop {
            if io.interrupt.is_cancelled() {
                return PipeEnd::Interrupted;
            }
            // A chunk already queued continues the schedule (a late wake-up is
            // credit); one we had to wait for starts it afresh.
            let mut chunk = match io.input.try_recv() {
                Ok(c) => c,
                Err(TryRecvError::Disconnected) => return PipeEnd::Closed,
                Err(TryRecvError::Empty) => match io.recv().await {
                    Recv::Interrupted => return PipeEnd::Interrupted,
                    Recv::Eof => return PipeEnd::Closed,
                    Recv::Chunk(c) => {
                        schedule.restart_if_idle(Instant::now());
                        c
                    }
                },
            };
            if rate == 0 {
                if !io.send(chunk).await {
                    return PipeEnd::Closed;
                }
                continue;
            }
            let piece = usize::try_from(rate.saturating_mul(100)).unwrap_or(usize::MAX);
            while chunk.data.len() > piece {
                if !sleep_until(io, schedule.book(piece)).await {
                    return io.flush_interrupted(Some(chunk)).await;
                }
                let head = Chunk {
                    data: chunk.data.split_to(piece),
                    received_at: chunk.received_at,
                };
                if !io.send(head).await {
                    return PipeEnd::Closed;
                }
            }
            if !sleep_until(io, schedule.book(chunk.data.len())).await {
                return io.flush_interrupted(Some(chunk)).await;
            }
            if !io.send(chunk).await {
                return PipeEnd::Closed;
            }
        }
    }
}

/// Sleep until `due` unless it has passed (then no timer at all: the credit
/// of a late wake-up is spent at once). `false` if interrupted.
async fn sleep_until(io: &StageIo, due: Instant) -> bool {
    if due <= Instant::now() {
        return !io.interrupt.is_cancelled();
    }
    io.sleep_until(due).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::proxy::stage::testing;
    use crate::faults::toxics::Toxic;

    #[tokio::test(start_paused = true)]
    async fn holds_the_rate() {
        // 10 KB/s; 50 chunks of 1000 bytes = 50 KB → 5 s.
        let h = testing::run(Toxic::Bandwidth(Bandwidth { rate_kb_per_s: 10 }), 1);
        let tx = h.tx.clone().unwrap();
        let start = Instant::now();
        tokio::spawn(async move {
            for _ in 0..50 {
                tx.send(Chunk::now(vec![0u8; 1000])).await.unwrap();
            }
        });
        let mut rx = h.rx;
        let mut total = 0;
        while total < 50_000 {
            total += rx.recv().await.unwrap().data.len();
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(4900) && took <= Duration::from_millis(5100),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn splits_big_chunks_into_100ms_pieces() {
        // 1 KB/s → pieces of 100 bytes every 100 ms.
        let mut h = testing::run(Toxic::Bandwidth(Bandwidth { rate_kb_per_s: 1 }), 1);
        h.tx.as_ref()
            .unwrap()
            .send(Chunk::now(vec![7u8; 350]))
            .await
            .unwrap();
        let mut sizes = Vec::new();
        let mut got = 0;
        while got < 350 {
            let c = h.rx.recv().await.unwrap();
            got += c.data.len();
            sizes.push(c.data.len());
        }
        assert_eq!(sizes, vec![100, 100, 100, 50]);
    }

    #[tokio::test(start_paused = true)]
    async fn zero_rate_is_unlimited() {
        let mut h = testing::run(Toxic::Bandwidth(Bandwidth { rate_kb_per_s: 0 }), 1);
        let start = Instant::now();
        h.tx.as_ref()
            .unwrap()
            .send(Chunk::now(vec![0u8; 100_000]))
            .await
            .unwrap();
        assert_eq!(h.rx.recv().await.unwrap().data.len(), 100_000);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    /// Receive `total` bytes; the time it took.
    async fn drain(rx: &mut tokio::sync::mpsc::Receiver<Chunk>, total: usize) -> Duration {
        let start = Instant::now();
        let mut got = 0;
        while got < total {
            got += rx.recv().await.unwrap().data.len();
        }
        start.elapsed()
    }

    /// 1500-byte chunks at 1000 KB/s are due every 1.5 ms, between timer
    /// ticks: each sleep wakes late, and the lateness must be carried.
    #[tokio::test(start_paused = true)]
    async fn bandwidth_holds_the_set_rate_when_timers_wake_late() {
        let mut h = testing::run(
            Toxic::Bandwidth(Bandwidth {
                rate_kb_per_s: 1000,
            }),
            1,
        );
        let tx = h.tx.clone().unwrap();
        tokio::spawn(async move {
            for _ in 0..320 {
                tx.send(Chunk::now(vec![0u8; 1500])).await.unwrap();
            }
        });
        // 480 000 bytes / 1 000 000 bytes/s = 480 ms (+ less than one tick).
        let took = drain(&mut h.rx, 480_000).await;
        assert!(
            took >= Duration::from_millis(480) && took <= Duration::from_millis(482),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_is_not_credit() {
        let mut h = testing::run(Toxic::Bandwidth(Bandwidth { rate_kb_per_s: 10 }), 1);
        h.push(&[1u8; 1000]).await;
        // 1000 bytes at 10 000 bytes/s: 100 ms.
        assert_eq!(drain(&mut h.rx, 1000).await, Duration::from_millis(100));
        tokio::time::advance(Duration::from_secs(5)).await;
        h.push(&[2u8; 1000]).await;
        h.push(&[3u8; 1000]).await;
        // The 5 s idle bought nothing: 2000 bytes still take 200 ms.
        assert_eq!(drain(&mut h.rx, 2000).await, Duration::from_millis(200));
    }
}
