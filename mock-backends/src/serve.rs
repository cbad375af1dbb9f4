//! The accept loop shared by the API and admin listeners.
//!
//! Shaped like mini-redis: a semaphore permit before each accept bounds open
//! connections, every await races the shutdown token, and on shutdown the
//! listener closes at once while open connections finish their in-flight
//! request (hyper's graceful shutdown) for at most `drain_timeout`, after
//! which the stragglers are aborted. A response marked with
//! [`AbortConnection`] makes the connection close without sending it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::reply::AbortConnection;

/// The error a service returns to make hyper drop the connection.
#[derive(Debug, thiserror::Error)]
#[error("connection closed on purpose (injected fault)")]
struct Aborted;

/// Serve `router` on `listener` until `shutdown`, then drain.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    max_connections: usize,
    drain_timeout: Duration,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // A client that never finishes its headers must not hold a permit forever.
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    let mut conns = JoinSet::new();
    loop {
        // Reap finished connection tasks so the set does not grow.
        while conns.try_join_next().is_some() {}
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                    }
                }
            },
        };
        // Latency matters more than packet count for a request/response service.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let router = router.clone();
            async move {
                let resp = match router.oneshot(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                if resp.extensions().get::<AbortConnection>().is_some() {
                    Err(Aborted)
                } else {
                    Ok(resp)
                }
            }
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), svc));
        conns.spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(drain_timeout) => {
            tracing::warn!(open = conns.len(), "drain timed out; closing the remaining connections");
        }
    }
    conns.shutdown().await;
}
