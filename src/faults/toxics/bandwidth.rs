//! `bandwidth`: at most `rate` KB/s (1 KB = 1000 bytes). Each chunk costs
//! `len / rate` ms of sleep; the debt is carried from chunk to chunk so timer
//! granularity does not accumulate. A chunk larger than 100 ms worth of data
//! is sent in 100 ms pieces, as the reference does. Rate 0 = unlimited.

use std::time::Duration;

use tokio::time::Instant;

use crate::faults::proxy::stage::{Chunk, PipeEnd, Recv, StageIo};

/// Bandwidth attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bandwidth {
    /// KB/s; 0 means unlimited.
    pub rate_kb_per_s: u64,
}

impl Bandwidth {
    pub(crate) async fn pipe(&self, io: &mut StageIo) -> PipeEnd {
        let rate = self.rate_kb_per_s; // bytes per millisecond
        // When the next byte may leave: a schedule, not a sum of sleeps.
        let mut next = Instant::now();
        loop {
            let mut chunk = match io.recv().await {
                Recv::Interrupted => return PipeEnd::Interrupted,
                Recv::Eof => return PipeEnd::Closed,
                Recv::Chunk(c) => c,
            };
            if rate == 0 {
                if !io.send(chunk).await {
                    return PipeEnd::Closed;
                }
                continue;
            }
            next = next.max(Instant::now());
            let piece = usize::try_from(rate.saturating_mul(100)).unwrap_or(usize::MAX);
            while chunk.data.len() > piece {
                next += Duration::from_millis(100);
                if !io.sleep_until(next).await {
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
            let len = u64::try_from(chunk.data.len()).unwrap_or(u64::MAX);
            next += Duration::from_nanos(len.saturating_mul(1_000_000) / rate);
            if !io.sleep_until(next).await {
                return io.flush_interrupted(Some(chunk)).await;
            }
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
}
