//! `loss` (ninefold extension, after Toxiproxy PR #739's `packet_loss`): drop
//! whole chunks at random with probability `loss_rate`, plus `correlation`
//! right after a drop (a simplified Gilbert–Elliott burst model). On a TCP
//! byte stream this corrupts the application's framing; it is not L3 loss.

use rand::Rng;

use crate::faults::proxy::stage::{PipeEnd, Recv, StageCtx, StageIo};

/// Loss attributes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Loss {
    /// Probability of dropping a chunk.
    pub loss_rate: f64,
    /// Extra drop probability for the chunk right after a dropped one.
    pub correlation: f64,
}

impl Loss {
    pub(crate) async fn pipe(&self, io: &mut StageIo, ctx: &mut StageCtx) -> PipeEnd {
        let mut dropped_last = false;
        loop {
            let chunk = match io.recv().await {
                Recv::Interrupted => return PipeEnd::Interrupted,
                Recv::Eof => return PipeEnd::Closed,
                Recv::Chunk(c) => c,
            };
            let p = if dropped_last {
                self.loss_rate + self.correlation
            } else {
                self.loss_rate
            };
            dropped_last = ctx.rng.random::<f64>() < p;
            if !dropped_last && !io.send(chunk).await {
                return PipeEnd::Closed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::proxy::stage::{Chunk, testing};
    use crate::faults::toxics::Toxic;

    async fn survivors(loss: Loss, seed: u64) -> Vec<u8> {
        let mut h = testing::run(Toxic::Loss(loss), seed);
        let tx = h.tx.clone().unwrap();
        h.close_input();
        tokio::spawn(async move {
            for i in 0..=255u8 {
                tx.send(Chunk::now(vec![i])).await.unwrap();
            }
        });
        let mut out = Vec::new();
        while let Some(c) = h.rx.recv().await {
            out.push(c.data[0]);
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn drops_about_the_rate_deterministically() {
        let loss = Loss {
            loss_rate: 0.25,
            correlation: 0.0,
        };
        let a = survivors(loss, 11).await;
        assert!((150..=230).contains(&a.len()), "{}", a.len());
        assert_eq!(a, survivors(loss, 11).await, "same seed, same drops");
        assert_ne!(a, survivors(loss, 12).await);
        assert_eq!(survivors(Loss::default(), 1).await.len(), 256);
        let all = Loss {
            loss_rate: 1.0,
            correlation: 0.0,
        };
        assert!(survivors(all, 1).await.is_empty());
    }
}
