//! The data-plane accept loop, mini-redis style: a connection permit is taken before each
//! accept (excess clients wait in the kernel backlog, bounded), each connection is served
//! by hyper's HTTP/1 server with a header-read timeout and head-size limits, and on
//! shutdown every connection is asked to finish its request and close, within
//! `drain_timeout`.

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::Error;
use crate::state::Shared;

/// hyper's default cap on request headers.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// Serves the data plane until `shutdown`, then drains.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let cfg = shared.current.load().config.server.clone();
    let pipeline = Arc::new(crate::stack::Pipeline::new(shared.clone()));
    let permits = Arc::new(Semaphore::new(cfg.max_connections.get()));
    let tracker = TaskTracker::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout)
        // hyper's own limits are a backstop set above ours, so that the stack answers
        // 431 with a JSON body and an access-log line.
        .max_buf_size((cfg.max_header_bytes.get() * 2).max(8192))
        .keep_alive(true);
    // hyper's header array is on the stack at its default size (100) and on the heap,
    // allocated and filled per request, at any other: only a configured count above
    // the default needs the larger backstop. At exactly 100, hyper itself answers a
    // request with more headers 431 (without the stack's JSON body).
    if cfg.max_headers.get() > HYPER_DEFAULT_MAX_HEADERS {
        builder.max_headers(cfg.max_headers.get() * 2);
    }
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, _peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let pipeline = pipeline.clone();
        let timer = Arc::new(crate::stack::ConnTimer::default());
        let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let (pipeline, timer) = (pipeline.clone(), timer.clone());
            async move { Ok::<_, std::convert::Infallible>(pipeline.call_on(req, &timer).await) }
        });
        let conn_shutdown = shutdown.clone();
        let builder = builder.clone();
        let drain = cfg.drain_timeout;
        tracker.spawn(async move {
            let _permit = permit;
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = conn_shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(drain, conn).await;
                }
            }
        });
    }
    drop(listener);
    tracker.close();
    if tokio::time::timeout(cfg.drain_timeout + Duration::from_secs(1), tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("drain timeout: some connections were cut");
    }
    Ok(())
}
