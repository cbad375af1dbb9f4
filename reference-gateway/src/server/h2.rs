//! HTTP/2 client connections: ALPN `h2` on the TLS listener, and h2c with prior
//! knowledge on the plain one (a connection whose first bytes are the HTTP/2 preface,
//! seen by [`super::conn`] before it parses a head). The framing is hyper's HTTP/2
//! server (the `h2` crate); each stream's request goes through the same
//! [`Pipeline`] an HTTP/1 request does: the same steps, limits and refusals on the
//! head (a refused stream is answered and its unread body reset, the connection lives
//! on), and the same fields the gateway adds (`X-Request-Id`, `RateLimit-*`).
//!
//! The request is put in the shape the HTTP/1 parser gives ([`super::wire`]): an
//! origin-form target and `Host` from `:authority`, so routing, the cache key and the
//! upstream request are those of the same request over HTTP/1.1. Limits of the
//! connection: the header list at the HTTP/1 head backstop (`SETTINGS_MAX_HEADER_LIST_SIZE`),
//! [`MAX_STREAMS`] streams at once (beyond the pipeline's in-flight limit they are
//! shed with 503 as HTTP/1 requests are), an idle connection closed with `GOAWAY`
//! after [`super::conn::KEEPALIVE_TIMEOUT`], and on shutdown a `GOAWAY` that lets the
//! open streams finish.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::conn::{ConnConfig, KEEPALIVE_TIMEOUT};
use super::stream::Stream;
use crate::pipeline::Pipeline;

/// The connection preface of an HTTP/2 client (RFC 9113 §3.4), whose first line is
/// enough to tell it from an HTTP/1 request.
pub const PREFACE_LINE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// Streams one HTTP/2 connection may have open at once (hyper's default, nginx's 128).
pub const MAX_STREAMS: u32 = 200;

/// How often a connection with requests open looks again whether it went idle.
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether `buf`, the first bytes of a connection, is (or may still become) the
/// HTTP/2 preface: `Some(true)` it is, `Some(false)` not yet known, `None` it is not.
#[inline]
pub fn preface(buf: &[u8]) -> Option<bool> {
    let n = buf.len().min(PREFACE_LINE.len());
    (buf[..n] == PREFACE_LINE[..n]).then_some(n == PREFACE_LINE.len())
}

/// When the connection last started or finished a request, and how many are open.
#[derive(Default)]
struct Activity {
    open: AtomicUsize,
    /// Milliseconds since the connection began.
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self, began: Instant) {
        let ms = began.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }
}

/// Counts a request open until it is answered.
struct Open<'a>(&'a Activity, Instant);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.touch(self.1);
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves an HTTP/2 connection on `stream` (whose first bytes, already read, are
/// `read`) until the client leaves, it idles out, or a drain ends it.
pub async fn serve(
    stream: Stream,
    read: Bytes,
    pipeline: Arc<Pipeline>,
    cfg: ConnConfig,
    shutdown: &CancellationToken,
) {
    let began = Instant::now();
    let activity = Arc::new(Activity::default());
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let pipeline = Arc::clone(&pipeline);
            let activity = Arc::clone(&activity);
            async move {
                activity.open.fetch_add(1, Ordering::AcqRel);
                let _open = Open(&activity, began);
                Ok::<_, Infallible>(pipeline.call(origin_form(req)).await)
            }
        })
    };
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(u32::try_from(cfg.head.max_bytes).unwrap_or(u32::MAX));
    let io = TokioIo::new(Rewind { read, stream });
    let conn = builder.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut closing = false;
    let mut check_at = began + KEEPALIVE_TIMEOUT;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "HTTP/2 connection ended");
                }
                return;
            }
            () = shutdown.cancelled(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            () = tokio::time::sleep_until(check_at), if !closing => {
                let idle_since = began
                    + std::time::Duration::from_millis(activity.last_ms.load(Ordering::Relaxed));
                let open = activity.open.load(Ordering::Acquire);
                match idle_check(Instant::now(), idle_since, open) {
                    Some(at) => check_at = at,
                    None => {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        }
    }
}

/// At an idle check: `None` to close (no request open, none finished for
/// [`KEEPALIVE_TIMEOUT`]), else when to look again: a second on while requests are
/// open (a long one must not make a past deadline spin), else when the idle time
/// since the last answer runs out.
fn idle_check(now: Instant, idle_since: Instant, open: usize) -> Option<Instant> {
    if open > 0 {
        Some(now + IDLE_CHECK)
    } else if idle_since + KEEPALIVE_TIMEOUT <= now {
        None
    } else {
        Some(idle_since + KEEPALIVE_TIMEOUT)
    }
}

/// The request as the HTTP/1 parser gives it: `Host` from `:authority` (which wins
/// over a `host` field, as an absolute-form target's does), an origin-form target.
fn origin_form(mut req: http::Request<Incoming>) -> http::Request<Incoming> {
    let mut parts = std::mem::take(req.uri_mut()).into_parts();
    if let Some(authority) = parts.authority.take()
        && let Ok(host) = http::HeaderValue::from_str(authority.as_str())
    {
        req.headers_mut().insert(http::header::HOST, host);
    }
    parts.scheme = None;
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    *req.uri_mut() = http::Uri::from_parts(parts).unwrap_or_else(|_| http::Uri::from_static("/"));
    req
}

/// The connection with the bytes read before HTTP/2 was recognised put back in front.
struct Rewind {
    read: Bytes,
    stream: Stream,
}

impl AsyncRead for Rewind {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.read.has_remaining() {
            let n = this.read.len().min(buf.remaining());
            buf.put_slice(&this.read[..n]);
            this.read.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_check_closes_only_after_the_keepalive_timeout_with_nothing_open() {
        let t0 = Instant::now();
        let s = std::time::Duration::from_secs;
        // Idle since t0, checked at 75 s: close.
        assert_eq!(idle_check(t0 + s(75), t0, 0), None);
        // A request finished at 50 s: look again at 125 s, close then.
        assert_eq!(idle_check(t0 + s(75), t0 + s(50), 0), Some(t0 + s(125)));
        assert_eq!(idle_check(t0 + s(125), t0 + s(50), 0), None);
        // A request open past the deadline: a second on, whatever the idle time.
        assert_eq!(idle_check(t0 + s(200), t0, 1), Some(t0 + s(201)));
    }

    #[test]
    fn the_preface_is_told_from_an_http1_head_by_its_first_line() {
        assert_eq!(preface(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Some(true));
        assert_eq!(preface(b"PRI * HTTP/2.0\r\n"), Some(true));
        assert_eq!(preface(b"PRI * HT"), Some(false));
        assert_eq!(preface(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(preface(b"PRIX"), None);
    }
}
