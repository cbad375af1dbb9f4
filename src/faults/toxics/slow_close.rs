//! `slow_close`: data passes untouched; when the source closes, the close is
//! passed on only after `delay`.

use std::time::Duration;

use tokio::time::Instant;

use crate::faults::proxy::stage::{PipeEnd, Recv, StageIo};

/// Slow-close attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlowClose {
    /// How long the close is held back.
    pub delay: Duration,
}

impl SlowClose {
    pub(crate) async fn pipe(&self, io: &mut StageIo) -> PipeEnd {
        loop {
            match io.recv().await {
                Recv::Interrupted => return PipeEnd::Interrupted,
                Recv::Chunk(c) => {
                    if !io.send(c).await {
                        return PipeEnd::Closed;
                    }
                }
                Recv::Eof => {
                    // Interrupted while waiting: the restarted stage sees EOF again.
                    return if io.sleep_until(Instant::now() + self.delay).await {
                        PipeEnd::Closed
                    } else {
                        PipeEnd::Interrupted
                    };
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
    async fn delays_the_close_not_the_data() {
        let toxic = Toxic::SlowClose(SlowClose {
            delay: Duration::from_millis(300),
        });
        let mut h = testing::run(toxic, 1);
        let start = Instant::now();
        h.push(b"data").await;
        assert_eq!(&h.rx.recv().await.unwrap().data[..], b"data");
        assert_eq!(start.elapsed(), Duration::ZERO);
        h.close_input();
        assert!(h.rx.recv().await.is_none(), "then the close");
        assert_eq!(start.elapsed(), Duration::from_millis(300));
        assert_eq!(h.task.await.unwrap(), PipeEnd::Closed);
    }
}
