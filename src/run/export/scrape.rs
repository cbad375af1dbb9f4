//! `--metrics-listen ADDR`: `GET /metrics` in the text exposition format, the
//! same series as the remote-write, rendered from the latest live snapshot
//! when asked (a scrape never waits for the run, nor the run for a scrape).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::series::{self, FaultWindow, RunLabels};
use crate::run::pools::PoolGauges;
use crate::traffic::live::LiveSnapshot;

/// What a scrape reads.
#[derive(Debug)]
struct Shared {
    live: watch::Receiver<Option<Arc<LiveSnapshot>>>,
    run: RunLabels,
    faults: Vec<FaultWindow>,
    pools: PoolGauges,
    scrapes: AtomicU64,
    /// A scrape has read the final counts (the traffic had ended).
    final_served: AtomicBool,
    final_notify: Notify,
}

/// The running endpoint.
#[derive(Debug)]
pub struct ScrapeServer {
    pub addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Serve `/metrics` on `listener` until [`ScrapeServer::stop`].
pub fn serve(
    listener: tokio::net::TcpListener,
    live: watch::Receiver<Option<Arc<LiveSnapshot>>>,
    (run, faults, pools): (RunLabels, Vec<FaultWindow>, PoolGauges),
) -> std::io::Result<ScrapeServer> {
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        live,
        run,
        faults,
        pools,
        scrapes: AtomicU64::new(0),
        final_served: AtomicBool::new(false),
        final_notify: Notify::new(),
    });
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .with_state(Arc::clone(&shared));
    let stop = CancellationToken::new();
    let until = stop.clone();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(until.cancelled_owned())
            .await;
    });
    Ok(ScrapeServer {
        addr,
        shared,
        stop,
        task,
    })
}

async fn metrics(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    // Clone the Arc out: the watch's lock is not held while rendering.
    let snapshot = s.live.borrow().clone();
    let body = match &snapshot {
        Some(snap) => {
            let pools = s.pools.read();
            series::exposition(&series::families(snap, &s.run, &s.faults, &pools))
        }
        None => "# ninefold: the traffic has not started yet\n".to_owned(),
    };
    s.scrapes.fetch_add(1, Ordering::Relaxed);
    if snapshot.is_some_and(|snap| snap.finished) {
        s.final_served.store(true, Ordering::Relaxed);
        s.final_notify.notify_waiters();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

impl ScrapeServer {
    /// Keep serving until a scrape has read the final counts, at most `linger`;
    /// then stop. Returns the number of scrapes served.
    pub async fn stop(self, linger: std::time::Duration) -> u64 {
        if !linger.is_zero() {
            let notified = self.shared.final_notify.notified();
            if !self.shared.final_served.load(Ordering::Relaxed) {
                let _ = tokio::time::timeout(linger, notified).await;
            }
        }
        self.stop.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.task).await;
        self.shared.scrapes.load(Ordering::Relaxed)
    }
}
