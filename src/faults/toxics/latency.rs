//! `latency`: every chunk leaves at its arrival time + `latency` ± `jitter`.
//! The delay is measured from the chunk's timestamp (time spent queued counts)
//! and the timestamp is moved to the release time, so stacked latency toxics
//! add up. Jitter is uniform in whole milliseconds over [−jitter, +jitter), as
//! the reference draws it, but from the stage's seeded stream. The release
//! time is a deadline met to the microsecond ([`StageIo::sleep_until_precise`]),
//! not a timer sleep rounded up to the next millisecond.
//!
//! [`StageIo::sleep_until_precise`]: crate::faults::proxy::stage::StageIo::sleep_until_precise

use std::time::Duration;

use rand::Rng;

use crate::faults::proxy::stage::{self, PipeEnd, Recv, StageCtx, StageIo};

/// Latency attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    /// Added to every chunk.
    pub latency: Duration,
    /// Uniform ± spread around `latency`.
    pub jitter: Duration,
}

impl Latency {
    /// The delay for the next chunk (never negative). Jitter is validated at
    /// the API (at most a day); the arithmetic saturates anyway.
    fn delay(&self, rng: &mut impl Rng) -> Duration {
        let jitter_ms = i64::try_from(self.jitter.as_millis())
            .unwrap_or(i64::MAX)
            .min(i64::MAX / 2);
        if jitter_ms <= 0 {
            return self.latency;
        }
        let offset = rng.random_range(0..2 * jitter_ms) - jitter_ms;
        let offset_abs = Duration::from_millis(offset.unsigned_abs());
        if offset >= 0 {
            self.latency.saturating_add(offset_abs)
        } else {
            self.latency.saturating_sub(offset_abs)
        }
    }

    pub(crate) async fn pipe(&self, io: &mut StageIo, ctx: &mut StageCtx) -> PipeEnd {
        loop {
            let mut chunk = match io.recv().await {
                Recv::Interrupted => return PipeEnd::Interrupted,
                Recv::Eof => return PipeEnd::Closed,
                Recv::Chunk(c) => c,
            };
            // Due at arrival + delay: a deadline, finished precisely (the
            // timer alone would add its rounding, ~1.4 ms, to every chunk).
            let release = stage::deadline(chunk.received_at, self.delay(&mut ctx.rng));
            if !io.sleep_until_precise(release).await {
                // Exit fast without the latency, but keep the data.
                return io.flush_interrupted(Some(chunk)).await;
            }
            chunk.received_at = chunk.received_at.max(release);
            if !io.send(chunk).await {
                return PipeEnd::Closed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::proxy::stage::testing;
    use crate::faults::toxics::Toxic;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn delays_each_chunk_by_latency_from_arrival() {
        let toxic = Toxic::Latency(Latency {
            latency: Duration::from_millis(100),
            jitter: Duration::ZERO,
        });
        let mut h = testing::run(toxic, 1);
        let start = Instant::now();
        h.push(b"a").await;
        tokio::time::advance(Duration::from_millis(10)).await;
        h.push(b"b").await;
        let a = h.rx.recv().await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        assert_eq!(a.received_at, start + Duration::from_millis(100));
        let b = h.rx.recv().await.unwrap();
        // Pipelined: b left 100 ms after *its* arrival, not after a's release.
        assert_eq!(start.elapsed(), Duration::from_millis(110));
        assert_eq!(&b.data[..], b"b");
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_stays_within_bounds_and_varies() {
        let toxic = Toxic::Latency(Latency {
            latency: Duration::from_millis(100),
            jitter: Duration::from_millis(20),
        });
        let h = testing::run(toxic, 7);
        let mut rx = h.rx;
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let sent = Instant::now();
            h.tx.as_ref()
                .unwrap()
                .send(crate::faults::proxy::stage::Chunk::now(&b"x"[..]))
                .await
                .unwrap();
            let _ = rx.recv().await.unwrap();
            let d = sent.elapsed();
            assert!(
                d >= Duration::from_millis(80) && d < Duration::from_millis(120),
                "{d:?}"
            );
            seen.insert(d);
        }
        assert!(
            seen.len() > 20,
            "jitter should spread delays, saw {}",
            seen.len()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stacked_latencies_add_up() {
        let l = |ms| {
            Toxic::Latency(Latency {
                latency: Duration::from_millis(ms),
                jitter: Duration::ZERO,
            })
        };
        let first = testing::run(l(50), 1);
        let mut second = testing::run(l(30), 2);
        let start = Instant::now();
        first.push(b"x").await;
        let mut rx1 = first.rx;
        let c = rx1.recv().await.unwrap();
        second.tx.as_ref().unwrap().send(c).await.unwrap();
        let _ = second.rx.recv().await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(80));
    }

    #[tokio::test(start_paused = true)]
    async fn interrupt_forwards_the_held_chunk_at_once() {
        let toxic = Toxic::Latency(Latency {
            latency: Duration::from_secs(10),
            jitter: Duration::ZERO,
        });
        let mut h = testing::run(toxic, 1);
        let start = Instant::now();
        h.push(b"held").await;
        tokio::time::advance(Duration::from_millis(5)).await;
        h.interrupt.cancel();
        let c = h.rx.recv().await.unwrap();
        assert_eq!(&c.data[..], b"held");
        assert!(start.elapsed() < Duration::from_secs(1));
        let end = h.task.await.unwrap();
        assert_eq!(end, PipeEnd::Interrupted);
    }

    /// The timer rounds a sleep up to its next millisecond tick, and paused
    /// time rounds the same way: chunks arriving between ticks show it.
    #[tokio::test(start_paused = true)]
    async fn latency_toxic_adds_what_was_asked() {
        for (ms, offset_us) in [(1, 300), (10, 730), (100, 300), (1000, 999), (2, 1)] {
            let toxic = Toxic::Latency(Latency {
                latency: Duration::from_millis(ms),
                jitter: Duration::ZERO,
            });
            let mut h = testing::run(toxic, 1);
            tokio::time::advance(Duration::from_micros(offset_us)).await;
            let sent = Instant::now();
            h.push(b"x").await;
            let c = h.rx.recv().await.unwrap();
            assert_eq!(sent.elapsed(), Duration::from_millis(ms), "{ms} ms");
            assert_eq!(c.received_at, sent + Duration::from_millis(ms));
        }
    }

    #[test]
    fn huge_jitter_does_not_panic() {
        // Refused at the API (wire.rs); the domain type must not panic either.
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
        for jitter_ms in [1u64 << 62, (1 << 62) + 1, u64::MAX / 1000] {
            let l = Latency {
                latency: Duration::from_millis(u64::MAX / 1000),
                jitter: Duration::from_millis(jitter_ms),
            };
            let _ = l.delay(&mut rng);
        }
    }
}
