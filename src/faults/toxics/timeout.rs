//! `timeout`: swallow all data; close the chain once `timeout` has passed
//! without data (the reference re-arms its timer on each chunk), or hold it
//! open forever when there is no timeout. Removing the toxic closes the
//! connection (see [`super::Toxic::closes_on_removal`]).

use std::time::Duration;

use tokio::time::Instant;

use crate::faults::proxy::stage::{PipeEnd, Recv, StageIo};

/// Timeout attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timeout {
    /// Close after this long; `None` (wire value 0) holds forever.
    pub timeout: Option<Duration>,
}

impl Timeout {
    pub(crate) async fn pipe(&self, io: &mut StageIo) -> PipeEnd {
        loop {
            let deadline = self.timeout.map(|t| Instant::now() + t);
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, io.recv()).await.ok(),
                    None => Some(io.recv().await),
                }
            };
            match next.await {
                None => return PipeEnd::Closed,
                Some(Recv::Interrupted) => return PipeEnd::Interrupted,
                Some(Recv::Eof) => return PipeEnd::Closed,
                Some(Recv::Chunk(_dropped)) => {}
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
    async fn swallows_data_then_closes_after_the_timeout() {
        let toxic = Toxic::Timeout(Timeout {
            timeout: Some(Duration::from_millis(500)),
        });
        let mut h = testing::run(toxic, 1);
        let start = Instant::now();
        h.push(b"lost").await;
        assert!(h.rx.recv().await.is_none(), "closed, nothing passed");
        assert_eq!(start.elapsed(), Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_holds_forever_until_interrupted() {
        let mut h = testing::run(Toxic::Timeout(Timeout { timeout: None }), 1);
        h.push(b"lost").await;
        let waited = tokio::time::timeout(Duration::from_secs(3600), h.rx.recv()).await;
        assert!(waited.is_err(), "still open after an hour");
        h.interrupt.cancel();
        assert_eq!(h.task.await.unwrap(), PipeEnd::Interrupted);
    }
}
