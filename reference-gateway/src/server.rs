//! The data-plane accept loop, mini-redis style. Each client connection is served by the
//! gateway's own HTTP/1.1 connection loop ([`conn`]) in a task of its own, holding one of
//! `max_connections` permits; a connection that speaks HTTP/2 (ALPN `h2` over TLS, or
//! the preface on a plain one) by hyper's HTTP/2 server in the same task ([`h2`]). A client beyond the limit is not left waiting: it gets 503
//! at once and a closed connection (nginx's `limit_conn`), and the shed is counted. On
//! shutdown, idle connections close at once, busy ones after their response; the loop
//! waits for them at most `drain_timeout`.

pub mod conn;
pub mod h2;
pub mod stream;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::{Error, GatewayError};
use crate::state::GatewayState;
use stream::Stream;

/// Most connections being turned away at the same time; beyond it a refused client's
/// connection is closed without an answer.
const MAX_SHEDDING: usize = 256;

/// Serves the data plane until `shutdown`, then drains.
pub async fn serve(
    listener: TcpListener,
    state: Arc<GatewayState>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let cfg = state.current.load().config.server.clone();
    let conn_cfg = conn::ConnConfig {
        // The stack answers 431 with a JSON body and an access-log line up to its limits;
        // the connection's own are a backstop above them, for heads it cannot take at all.
        head: wire::HeadLimits {
            max_bytes: (cfg.max_header_bytes.get() * 2).max(8192),
            max_headers: (cfg.max_headers.get() * 2).max(100),
        },
        header_read_timeout: cfg.header_read_timeout,
    };
    let tls = match &cfg.tls {
        Some(t) => Some(tokio_rustls::TlsAcceptor::from(crate::tls::server_config(
            t,
        )?)),
        None => None,
    };
    let handshake_timeout = cfg.header_read_timeout;
    let pipeline = Arc::new(crate::pipeline::Pipeline::new(state.clone()));
    let permits = Arc::new(Semaphore::new(cfg.max_connections.get()));
    let shedding = Arc::new(Semaphore::new(MAX_SHEDDING));
    let tracker = TaskTracker::new();
    loop {
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
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            state.metrics.shed.fetch_add(1, Ordering::Relaxed);
            if let Ok(slot) = shedding.clone().try_acquire_owned() {
                let tls = tls.clone();
                tracker.spawn(async move {
                    let _slot = slot;
                    if let Some(stream) = handshake(stream, tls.as_ref(), handshake_timeout).await {
                        turn_away(stream).await;
                    }
                });
            }
            continue;
        };
        let pipeline = pipeline.clone();
        let shutdown = shutdown.clone();
        let tls = tls.clone();
        tracker.spawn(async move {
            let _permit = permit;
            if let Some(stream) = handshake(stream, tls.as_ref(), handshake_timeout).await {
                serve_conn(stream, pipeline, conn_cfg, &shutdown).await;
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

/// The connection as the HTTP code reads it: plain at once, or after a TLS handshake
/// that must end within `timeout` (the header timeout: a client that stalls its
/// handshake is a slowloris too). `None` when the handshake failed or stalled.
#[inline]
async fn handshake(
    stream: TcpStream,
    tls: Option<&tokio_rustls::TlsAcceptor>,
    timeout: Duration,
) -> Option<Stream> {
    let Some(acceptor) = tls else {
        return Some(Stream::Plain(stream));
    };
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(Stream::Tls(Box::new(s))),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake not finished within the header timeout");
            None
        }
    }
}

/// One client connection: HTTP/1.1 ([`conn`]), or HTTP/2 ([`h2`]) when TLS agreed on
/// it or the plain connection opened with its preface.
async fn serve_conn(
    stream: Stream,
    pipeline: Arc<crate::pipeline::Pipeline>,
    cfg: conn::ConnConfig,
    shutdown: &CancellationToken,
) {
    let h2 = if is_h2(&stream) {
        Some((stream, bytes::Bytes::new()))
    } else {
        conn::serve(stream, &pipeline, cfg, shutdown).await
    };
    if let Some((stream, read)) = h2 {
        h2::serve(stream, read, pipeline, cfg, shutdown).await;
    }
}

/// Whether TLS agreed on HTTP/2 (ALPN `h2`).
fn is_h2(stream: &Stream) -> bool {
    matches!(stream, Stream::Tls(s) if s.get_ref().1.alpn_protocol() == Some(b"h2"))
}

/// 503 to a client over the connection limit, then a lingering close (an HTTP/2 client
/// is closed on: an HTTP/1 answer is not one it could read).
async fn turn_away(mut stream: Stream) {
    if is_h2(&stream) {
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
        return;
    }
    let resp = crate::pipeline::rescue::gateway_error_response(&GatewayError::Overloaded);
    let mut out = Vec::with_capacity(512);
    let mut date = ninefold_http1::DateCache::default();
    let _ = conn::write_response(&mut stream, resp, None, false, true, &mut date, &mut out).await;
    conn::linger(stream).await;
}
