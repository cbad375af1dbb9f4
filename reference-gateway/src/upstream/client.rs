//! The keep-alive HTTP/1 client towards upstream instances, shared by every pool, every
//! reload and the health checker: one small LIFO stack of idle
//! `hyper::client::conn::http1` connections per instance address ([`HostPool`]), which a
//! pool's instance holds directly, so a request finds its connections without a lookup.
//!
//! A connection goes back to its stack when the response body has been read to its end
//! (a body dropped half-way closes the connection instead). A request that fails on a
//! reused connection before anything was sent (the server closed it while idle) is sent
//! again on another connection, as hyper-util's pooled client does. That client cost about
//! a third of the gateway's instructions per request here: it hashed its pool key byte by
//! byte, boxed several futures and spawned a task per request to return the connection.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use http::header::HOST;
use http_body_util::Full;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Idle connections are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Most idle connections kept per instance.
const MAX_IDLE: usize = 1024;

type Sender = SendRequest<Full<Bytes>>;

/// Why an upstream exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection could be opened (refused, unreachable, timed out).
    #[error("connect to {addr}: {message}")]
    Connect {
        /// The instance.
        addr: SocketAddr,
        /// What went wrong.
        message: String,
    },
    /// The connection failed while the request was sent or the answer read.
    #[error("{0}")]
    Send(hyper::Error),
}

impl ClientError {
    /// Whether the connection failed before the request could be sent.
    pub fn is_connect(&self) -> bool {
        matches!(self, ClientError::Connect { .. })
    }

    /// The error with its cause, for logs and error bodies.
    pub fn describe(&self) -> String {
        match self {
            ClientError::Send(e) => match std::error::Error::source(e) {
                Some(s) => format!("{e}: {s}"),
                None => e.to_string(),
            },
            other => other.to_string(),
        }
    }
}

/// The client: a [`HostPool`] per instance address, created on first use and kept.
#[derive(Clone)]
pub struct UpstreamClient {
    hosts: Arc<Mutex<HashMap<SocketAddr, Arc<HostPool>>>>,
    connect_timeout: Duration,
}

/// Builds the client: no Nagle delay, bounded connect time, idle connections kept 90 s.
pub fn build(connect_timeout: Duration) -> UpstreamClient {
    UpstreamClient {
        hosts: Arc::default(),
        connect_timeout,
    }
}

impl UpstreamClient {
    /// The connections to `addr` (shared by every pool and reload that uses the address).
    pub fn host(&self, addr: SocketAddr) -> Arc<HostPool> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts
            .entry(addr)
            .or_insert_with(|| {
                Arc::new(HostPool {
                    addr,
                    host: HeaderValue::try_from(addr.to_string())
                        .expect("a socket address is a valid Host"),
                    idle: Mutex::new(VecDeque::new()),
                    connect_timeout: self.connect_timeout,
                })
            })
            .clone()
    }
}

/// Keep-alive connections to one instance.
pub struct HostPool {
    addr: SocketAddr,
    host: HeaderValue,
    idle: Mutex<VecDeque<(Sender, Instant)>>,
    connect_timeout: Duration,
}

impl HostPool {
    /// Sends `req` (origin-form URI; `Host` is set to the instance when absent) and returns
    /// the answer, whose body streams from the connection.
    pub async fn send(
        self: &Arc<Self>,
        mut req: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<UpstreamBody>, ClientError> {
        if !req.headers().contains_key(HOST) {
            req.headers_mut().insert(HOST, self.host.clone());
        }
        loop {
            let (mut conn, reused) = match self.checkout() {
                Some(c) => (c, true),
                None => (self.connect().await?, false),
            };
            if conn.ready().await.is_err() {
                if reused {
                    continue;
                }
                return Err(ClientError::Connect {
                    addr: self.addr,
                    message: "connection closed before the request was sent".into(),
                });
            }
            match conn.try_send_request(req).await {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    let mut body = UpstreamBody {
                        inner: body,
                        conn: Some(conn),
                        pool: self.clone(),
                    };
                    if hyper::body::Body::is_end_stream(&body.inner) {
                        body.release();
                    }
                    return Ok(http::Response::from_parts(parts, body));
                }
                Err(mut e) => match e.take_message() {
                    // A stale keep-alive connection: nothing was sent, try another one.
                    Some(r) if reused => req = r,
                    _ => return Err(ClientError::Send(e.into_error())),
                },
            }
        }
    }

    /// The most recently used idle connection that is still open.
    fn checkout(&self) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((conn, _)) = idle.pop_back() {
            if !conn.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    fn checkin(&self, conn: Sender) {
        if conn.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // The oldest idle connection is at the front: close it once it idled too long.
        if idle
            .front()
            .is_some_and(|(_, since)| now.duration_since(*since) > IDLE_TIMEOUT)
        {
            idle.pop_front();
        }
        if idle.len() < MAX_IDLE {
            idle.push_back((conn, now));
        }
    }

    async fn connect(&self) -> Result<Sender, ClientError> {
        let fail = |message: String| ClientError::Connect {
            addr: self.addr,
            message,
        };
        let stream =
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(self.addr)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(fail(e.to_string())),
                Err(_) => return Err(fail(format!("timed out after {:?}", self.connect_timeout))),
            };
        let _ = stream.set_nodelay(true);
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| fail(e.to_string()))?;
        // The connection's I/O runs in its own task; it ends when the `SendRequest` is
        // dropped (idle timeout, a body dropped half-way) or the instance closes it.
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(send)
    }
}

/// An upstream answer's body; its connection returns to the pool when it has been read
/// to the end.
pub struct UpstreamBody {
    inner: Incoming,
    conn: Option<Sender>,
    pool: Arc<HostPool>,
}

impl UpstreamBody {
    fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.checkin(conn);
        }
    }
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody")
            .field("instance", &self.pool.addr)
            .finish_non_exhaustive()
    }
}

impl hyper::body::Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        match &r {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.release(),
            // A failed body leaves the connection unusable: drop it.
            Poll::Ready(Some(Err(_))) => this.conn = None,
            _ => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
