//! `slicer`: cut each chunk into pieces of about `average_size` bytes by
//! recursive bisection (midpoint ± a random `size_variation`), with `delay`
//! between pieces. Unlike the reference, a midpoint is kept strictly inside
//! the range, so sizes of 0 or 1 cannot recurse forever. With `delay = 0`
//! there is no timer at all (a zero sleep still costs a timer tick, ~1 ms per
//! piece); otherwise piece k of a chunk is due k × `delay` after the first,
//! met precisely as the latency toxic meets its deadlines.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::faults::proxy::stage::{self, Chunk, PipeEnd, Recv, StageCtx, StageIo};

/// Slicer attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Slicer {
    /// Target piece size in bytes.
    pub average_size: usize,
    /// Random ± variation of the cut points in bytes.
    pub size_variation: usize,
    /// Pause between pieces.
    pub delay: Duration,
}

impl Slicer {
    /// The cut points of a `len`-byte chunk: piece `i` is `cuts[i]..cuts[i+1]`.
    pub fn cuts(&self, len: usize, rng: &mut impl Rng) -> Vec<usize> {
        let mut cuts = vec![0];
        // Explicit stack instead of recursion: the right half is done after the left.
        let mut stack = vec![(0usize, len)];
        while let Some((start, end)) = stack.pop() {
            let size = end - start;
            if size <= self.average_size + self.size_variation || size < 2 {
                cuts.push(end);
                continue;
            }
            let mut mid = start + size / 2;
            if self.size_variation > 0 {
                let v = i64::try_from(self.size_variation).unwrap_or(i64::MAX / 2);
                let offset = rng.random_range(0..2 * v) - v;
                mid = mid.saturating_add_signed(isize::try_from(offset).unwrap_or(0));
            }
            let mid = mid.clamp(start + 1, end - 1);
            stack.push((mid, end));
            stack.push((start, mid));
        }
        cuts
    }

    pub(crate) async fn pipe(&self, io: &mut StageIo, ctx: &mut StageCtx) -> PipeEnd {
        loop {
            let chunk = match io.recv().await {
                Recv::Interrupted => return PipeEnd::Interrupted,
                Recv::Eof => return PipeEnd::Closed,
                Recv::Chunk(c) => c,
            };
            let cuts = self.cuts(chunk.data.len(), &mut ctx.rng);
            // Piece k is due `k × delay` after the first: a schedule, so the
            // timer's rounding is not added once per piece.
            let first = Instant::now();
            for (k, pair) in cuts.windows(2).enumerate() {
                if k > 0 && !self.delay.is_zero() {
                    let steps = u32::try_from(k).unwrap_or(u32::MAX);
                    let due = stage::deadline(first, self.delay.saturating_mul(steps));
                    if !io.sleep_until_precise(due).await {
                        let rest = Chunk {
                            data: chunk.data.slice(pair[0]..),
                            received_at: chunk.received_at,
                        };
                        return io.flush_interrupted(Some(rest)).await;
                    }
                }
                let piece = Chunk {
                    data: chunk.data.slice(pair[0]..pair[1]),
                    received_at: chunk.received_at,
                };
                if !io.send(piece).await {
                    return PipeEnd::Closed;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::proxy::stage::testing;
    use crate::faults::toxics::Toxic;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    proptest! {
        #[test]
        fn cuts_cover_the_chunk_exactly(len in 0usize..20_000, avg in 0usize..2_000, var in 0usize..500, seed: u64) {
            let s = Slicer { average_size: avg, size_variation: var, delay: Duration::ZERO };
            let cuts = s.cuts(len, &mut StdRng::seed_from_u64(seed));
            prop_assert_eq!(cuts[0], 0);
            prop_assert_eq!(*cuts.last().unwrap(), len);
            for w in cuts.windows(2) {
                prop_assert!(w[0] < w[1] || len == 0);
                prop_assert!(w[1] - w[0] <= (avg + var).max(1) || len == 0);
            }
        }

        #[test]
        fn reassembles_exactly(data in proptest::collection::vec(any::<u8>(), 1..5_000), avg in 1usize..300, var in 0usize..50, seed: u64) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
            let out = rt.block_on(async {
                let toxic = Toxic::Slicer(Slicer { average_size: avg, size_variation: var, delay: Duration::from_micros(10) });
                let mut h = testing::run(toxic, seed);
                h.tx.as_ref().unwrap().send(Chunk::now(data.clone())).await.unwrap();
                h.close_input();
                let mut out = Vec::new();
                while let Some(c) = h.rx.recv().await {
                    prop_assert!(c.data.len() <= avg + var);
                    out.extend_from_slice(&c.data);
                }
                Ok(out)
            })?;
            prop_assert_eq!(out, data);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn delay_between_pieces() {
        let toxic = Toxic::Slicer(Slicer {
            average_size: 10,
            size_variation: 0,
            delay: Duration::from_millis(5),
        });
        let mut h = testing::run(toxic, 3);
        let start = Instant::now();
        h.tx.as_ref()
            .unwrap()
            .send(Chunk::now(vec![1u8; 40]))
            .await
            .unwrap();
        let mut n = 0;
        let mut got = 0;
        while got < 40 {
            got += h.rx.recv().await.unwrap().data.len();
            n += 1;
        }
        assert_eq!(n, 4);
        assert_eq!(start.elapsed(), Duration::from_millis(15));
    }

    async fn slice_time(delay: Duration, len: usize) -> (usize, Duration) {
        let toxic = Toxic::Slicer(Slicer {
            average_size: 1024,
            size_variation: 0,
            delay,
        });
        let mut h = testing::run(toxic, 3);
        // Off the timer's millisecond grid, where a sleep of any length rounds up.
        tokio::time::advance(Duration::from_micros(300)).await;
        let start = Instant::now();
        h.tx.as_ref()
            .unwrap()
            .send(Chunk::now(vec![1u8; len]))
            .await
            .unwrap();
        let (mut n, mut got) = (0, 0);
        while got < len {
            got += h.rx.recv().await.unwrap().data.len();
            n += 1;
        }
        (n, start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn slicer_with_zero_delay_does_not_sleep() {
        // 64 KiB in 1 KiB pieces: 64 pieces, no time at all.
        let (n, took) = slice_time(Duration::ZERO, 65_536).await;
        assert_eq!(n, 64);
        assert_eq!(took, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn slicer_delay_is_a_schedule_not_a_sum_of_rounded_sleeps() {
        // 64 pieces, 63 gaps of 300 µs: 18.9 ms, not 63 timer ticks.
        let (n, took) = slice_time(Duration::from_micros(300), 65_536).await;
        assert_eq!(n, 64);
        assert_eq!(took, Duration::from_micros(63 * 300));
    }
}
