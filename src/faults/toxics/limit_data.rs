//! `limit_data`: forward at most `bytes` bytes on this chain, then close it.
//! The count lives in the stage state, so it survives updates of the toxic
//! (as the reference's stateful toxic does).

use std::sync::atomic::Ordering;

use crate::faults::proxy::stage::{PipeEnd, Recv, StageCtx, StageIo};

/// Limit-data attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitData {
    /// Bytes let through before the chain closes.
    pub bytes: u64,
}

impl LimitData {
    pub(crate) async fn pipe(&self, io: &mut StageIo, ctx: &mut StageCtx) -> PipeEnd {
        let sent = &ctx.state.bytes_sent;
        loop {
            let mut chunk = match io.recv().await {
                Recv::Interrupted => return PipeEnd::Interrupted,
                Recv::Eof => return PipeEnd::Closed,
                Recv::Chunk(c) => c,
            };
            let remaining = self.bytes.saturating_sub(sent.load(Ordering::Relaxed));
            let allowed = usize::try_from(remaining).unwrap_or(usize::MAX);
            chunk.data.truncate(allowed.min(chunk.data.len()));
            let len = chunk.data.len() as u64;
            if len > 0 {
                if !io.send(chunk).await {
                    return PipeEnd::Closed;
                }
                sent.fetch_add(len, Ordering::Relaxed);
            }
            if sent.load(Ordering::Relaxed) >= self.bytes {
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

    #[tokio::test(start_paused = true)]
    async fn closes_after_exactly_n_bytes() {
        let mut h = testing::run(Toxic::LimitData(LimitData { bytes: 10 }), 1);
        let tx = h.tx.clone().unwrap();
        tx.send(Chunk::now(&b"12345"[..])).await.unwrap();
        tx.send(Chunk::now(&b"67890abc"[..])).await.unwrap();
        let mut out = Vec::new();
        while let Some(c) = h.rx.recv().await {
            out.extend_from_slice(&c.data);
        }
        assert_eq!(out, b"1234567890");
        assert_eq!(h.task.await.unwrap(), PipeEnd::Closed);
    }
}
