//! SIGINT and SIGTERM for the commands that drive traffic (`run`, `attack`):
//! the first stops the traffic cleanly and the verdict is withheld (exit 6).

use tokio_util::sync::CancellationToken;

/// SIGINT (Ctrl-C) and SIGTERM (what CI runners and Kubernetes send to cancel
/// a job): the first stops the traffic so the run tears down and writes what
/// it measured with its verdict withheld; a second aborts at once.
pub(crate) struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Listen from now on (inside a runtime), so no signal is missed later.
    pub(crate) fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }

    /// The first signal cancels `stop`, a second cancels `abort`.
    pub(crate) async fn watch(mut self, stop: CancellationToken, abort: CancellationToken) {
        let first = self.next().await;
        eprintln!(
            "\nninefold: interrupted ({first}): stopping traffic, tearing down, writing what was measured; the verdict is withheld (exit 6). A second signal aborts at once."
        );
        stop.cancel();
        let second = self.next().await;
        eprintln!("ninefold: {second} again: aborting now, nothing more is written");
        abort.cancel();
    }
}
