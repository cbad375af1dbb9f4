//! `reset_peer`: on the first chunk, wait `timeout` then reset the
//! connection: both sockets get `SO_LINGER = 0` and are closed, so both peers
//! see a TCP RST. The linger is set only when this toxic fires, unlike the
//! reference, which sets it whenever the toxic is on the chain even when its
//! toxicity roll said no (Toxiproxy issue #603).

use std::time::Duration;

use tokio::time::Instant;

use crate::faults::proxy::stage::{PipeEnd, Recv, StageIo};

/// Reset-peer attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResetPeer {
    /// Delay between the first data and the reset.
    pub timeout: Duration,
}

impl ResetPeer {
    pub(crate) async fn pipe(&self, io: &mut StageIo) -> PipeEnd {
        match io.recv().await {
            Recv::Interrupted => PipeEnd::Interrupted,
            Recv::Eof => PipeEnd::Closed,
            Recv::Chunk(c) => {
                if io.sleep_until(Instant::now() + self.timeout).await {
                    // The chunk dies with the connection.
                    PipeEnd::Reset
                } else {
                    io.flush_interrupted(Some(c)).await
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

    #[tokio::test(start_paused = true)]
    async fn resets_after_first_data_and_timeout() {
        let toxic = Toxic::ResetPeer(ResetPeer {
            timeout: Duration::from_millis(200),
        });
        let mut h = testing::run(toxic, 1);
        // Idle: nothing happens, however long.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(!h.task.is_finished());
        let start = Instant::now();
        h.push(b"x").await;
        assert!(h.rx.recv().await.is_none());
        assert_eq!(start.elapsed(), Duration::from_millis(200));
        assert_eq!(h.task.await.unwrap(), PipeEnd::Reset);
    }
}
