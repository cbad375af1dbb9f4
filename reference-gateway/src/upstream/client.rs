//! The keep-alive HTTP/1.1 client towards upstream instances, shared by every pool, every
//! reload and the health checker: one small LIFO stack of idle connections per instance
//! address ([`HostPool`]), which a pool's instance holds directly, so a request finds its
//! connections without a lookup.
//!
//! Written for the proxy's one job, as nginx's upstream module is: a connection is a
//! socket and two buffers, owned by the request that uses it (no connection task, no
//! channel, no wake-up between tasks). The request head is rendered from its `HeaderMap`
//! and written with its body in one `write`; the answer is parsed in place
//! ([`crate::h1`]) and its header values share the received bytes. A body that arrived
//! with its head (the common small answer) returns the connection to its stack at once;
//! a longer one streams from the socket and returns it at its end (a body dropped
//! half-way closes the connection instead). hyper's client connection, which this
//! replaces, was a third of the gateway's instructions per request.
//!
//! A pooled connection the instance closed while idle shows as readable; it is dropped
//! when taken, before anything is sent on it. When the close races the reuse (the
//! instance's keep-alive timeout fires as the request goes out), the request is sent
//! again once on a fresh connection if nothing of it was written, or if it is idempotent
//! and not one byte of an answer came back; counted in `gateway_stale_resends_total`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, HOST};
use http::{HeaderName, HeaderValue, Method, StatusCode, Version};
use hyper::body::{Frame, SizeHint};
use tokio::net::TcpStream;

use crate::upstream::stream::{TlsDial, UpStream};
use tokio::time::Instant;

use ninefold_http1::{self as h1, BodyDecoder, Decoded, Framing, H1Error, decimal};

/// `idempotency-key`.
pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Whether a request may be sent twice: an idempotent method, or an `Idempotency-Key`.
pub fn may_repeat(method: &Method, headers: &http::HeaderMap) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    ) || headers.contains_key(&IDEMPOTENCY_KEY)
}

/// Idle connections are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Most idle connections kept per instance.
const MAX_IDLE: usize = 1024;
/// Request bodies up to this size go out in the head's `write`.
const COALESCE_BODY: usize = 16 * 1024;

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
    Send(std::io::Error),
    /// The connection failed before any byte of the request was written.
    #[error("connection failed before the request was written: {0}")]
    Unsent(std::io::Error),
    /// The request was written, then the connection closed (or was reset) before any
    /// byte of an answer.
    #[error("{0}")]
    NoAnswer(std::io::Error),
}

impl ClientError {
    /// Whether the request never reached the instance (no connection, or nothing written).
    pub fn is_connect(&self) -> bool {
        matches!(self, ClientError::Connect { .. } | ClientError::Unsent(_))
    }

    /// The error with its cause, for logs and error bodies.
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

/// The client: a [`HostPool`] per instance address, created on first use and kept.
#[derive(Clone)]
pub struct UpstreamClient {
    hosts: Arc<Mutex<HashMap<HostKey, Arc<HostPool>>>>,
    connect_timeout: Duration,
    stale_resends: Arc<AtomicU64>,
}

/// One instance's connections are shared by every pool with its address and TLS settings.
type HostKey = (SocketAddr, Option<crate::tls::UpstreamTls>);

/// Builds the client: no Nagle delay, bounded connect time, idle connections kept 90 s;
/// requests re-sent because a pooled connection was closed count in `stale_resends`.
pub fn build(connect_timeout: Duration, stale_resends: Arc<AtomicU64>) -> UpstreamClient {
    UpstreamClient {
        hosts: Arc::default(),
        connect_timeout,
        stale_resends,
    }
}

impl UpstreamClient {
    /// The connections to `addr` (shared by every pool and reload that uses the address).
    pub fn host(&self, addr: SocketAddr) -> Arc<HostPool> {
        self.host_tls(addr, None, None)
    }

    /// The connections to `addr`, over TLS when `tls` says so (`dial`: its connector,
    /// built by the caller; shared by every pool and reload with the same settings).
    pub fn host_tls(
        &self,
        addr: SocketAddr,
        tls: Option<&crate::tls::UpstreamTls>,
        dial: Option<Result<TlsDial, String>>,
    ) -> Arc<HostPool> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts
            .entry((addr, tls.cloned()))
            .or_insert_with(|| {
                Arc::new(HostPool {
                    addr,
                    dial,
                    host: HeaderValue::try_from(addr.to_string())
                        .expect("a socket address is a valid Host"),
                    idle: Mutex::new(VecDeque::new()),
                    connect_timeout: self.connect_timeout,
                    stale_resends: self.stale_resends.clone(),
                })
            })
            .clone()
    }
}

/// Keep-alive connections to one instance.
pub struct HostPool {
    addr: SocketAddr,
    /// TLS towards the instance (`Err`: its settings could not be loaded, every
    /// connect fails with why).
    dial: Option<Result<TlsDial, String>>,
    host: HeaderValue,
    idle: Mutex<VecDeque<(Conn, Instant)>>,
    connect_timeout: Duration,
    stale_resends: Arc<AtomicU64>,
}

/// One connection: the socket, what was read and not consumed, the request being written.
struct Conn {
    stream: UpStream,
    read: BytesMut,
    write: Vec<u8>,
    names: h1::NameCache,
}

impl Conn {
    /// Whether a connection that sat idle can carry a request: an idle connection should
    /// have nothing to read, so readable means closed (or garbage). Costs a `read` only
    /// when the socket shows readable.
    fn is_usable(&mut self) -> bool {
        if !self.read.is_empty() {
            return false;
        }
        self.stream.idle_and_open(&mut self.read)
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        h1::poll_fill(&mut self.stream, &mut self.read, cx)
    }

    async fn fill(&mut self) -> std::io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }
}

fn broken(e: H1Error) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}

impl HostPool {
    /// Sends `req` (its URI's path and query are the request target; `Host` is set to the
    /// instance when absent) and returns the answer, whose body streams from the connection.
    pub async fn send(
        self: &Arc<Self>,
        req: &http::Request<Bytes>,
    ) -> Result<http::Response<UpstreamBody>, ClientError> {
        if let Some(conn) = self.checkout() {
            match self.exchange(conn, req).await {
                // The instance closed the pooled connection as it was reused: nothing of
                // the request was written (any method), or an idempotent one got no byte
                // back. Once more, on a fresh connection.
                Err(ClientError::Unsent(_)) => {}
                Err(ClientError::NoAnswer(_)) if may_repeat(req.method(), req.headers()) => {}
                other => return other,
            }
            self.stale_resends.fetch_add(1, Ordering::Relaxed);
        }
        let conn = self.connect().await?;
        self.exchange(conn, req).await
    }

    /// One request on `conn`; the answer's body streams from it.
    async fn exchange(
        self: &Arc<Self>,
        mut conn: Conn,
        req: &http::Request<Bytes>,
    ) -> Result<http::Response<UpstreamBody>, ClientError> {
        encode(req, &self.host, &mut conn.write);
        let body = req.body();
        // The first `write` tells whether anything reached the connection at all.
        let written = match conn.stream.try_write(&conn.write) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(ClientError::Unsent(e)),
        };
        // No bound of its own: the request's timeouts (per try, overall) bound the wait.
        let sent = async {
            conn.stream.send(&conn.write[written..]).await?;
            if body.len() > COALESCE_BODY {
                conn.stream.send(body).await?;
            }
            Ok(())
        };
        sent.await.map_err(|e| match written {
            0 => ClientError::Unsent(e),
            _ => ClientError::Send(e),
        })?;
        // Whether a byte of an answer (an interim one included) has come back.
        let mut answered = false;
        let head = loop {
            match h1::parse_head(&conn.read) {
                Ok(Some(head)) if head.is_interim() => {
                    let _ = conn.read.split_to(head.len);
                    answered = true;
                }
                Ok(Some(head)) => break head,
                Ok(None) => match conn.fill().await {
                    Ok(0) if !answered && conn.read.is_empty() => {
                        return Err(ClientError::NoAnswer(broken(H1Error::Truncated)));
                    }
                    Ok(0) => return Err(ClientError::Send(broken(H1Error::Truncated))),
                    Ok(_) => {}
                    Err(e) if !answered && conn.read.is_empty() => {
                        return Err(ClientError::NoAnswer(e));
                    }
                    Err(e) => return Err(ClientError::Send(e)),
                },
                Err(e) => return Err(ClientError::Send(broken(e))),
            }
        };
        let head_bytes = conn.read.split_to(head.len).freeze();
        // Room for what the stack adds (request id, RateLimit-*, X-Cache, configured
        // headers) without the map growing and rehashing per answer.
        let mut headers = h1::header_map(head.headers.len() + 8);
        for (name, value) in &head.headers {
            let name = conn.names.get(&head_bytes[name.clone()]);
            let value = HeaderValue::from_maybe_shared(head_bytes.slice(value.clone()));
            match (name, value) {
                (Ok(n), Ok(v)) => {
                    headers.append(n, v);
                }
                _ => return Err(ClientError::Send(broken(H1Error::Head("invalid header")))),
            }
        }
        let status = StatusCode::from_u16(head.status)
            .map_err(|_| ClientError::Send(broken(H1Error::Head("invalid status"))))?;
        let framing = head.framing_for(req.method() == Method::HEAD);
        let mut resp =
            http::Response::new(UpstreamBody::new(conn, framing, head.close, self.clone()));
        *resp.status_mut() = status;
        *resp.version_mut() = if head.version == 0 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        *resp.headers_mut() = headers;
        Ok(resp)
    }

    /// The most recently used idle connection that is still open.
    fn checkout(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((mut conn, _)) = idle.pop_back() {
            if conn.is_usable() {
                return Some(conn);
            }
        }
        None
    }

    fn checkin(&self, conn: Conn) {
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

    async fn connect(&self) -> Result<Conn, ClientError> {
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
        let dial = match &self.dial {
            None => None,
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => return Err(fail(format!("TLS settings: {e}"))),
        };
        let stream =
            match tokio::time::timeout(self.connect_timeout, UpStream::open(stream, dial)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(fail(format!("TLS handshake: {e}"))),
                Err(_) => {
                    return Err(fail(format!(
                        "TLS handshake timed out after {:?}",
                        self.connect_timeout
                    )));
                }
            };
        Ok(Conn {
            stream,
            read: BytesMut::with_capacity(h1::READ_CHUNK),
            write: Vec::with_capacity(1024),
            names: h1::NameCache::default(),
        })
    }
}

/// `name: value\r\n`.
fn put_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Render the request head (and a small body) into `out`: origin-form target, no
/// hop-by-hop fields. The body is buffered, so its length
/// is known: `Content-Length` is always the body's own.
fn encode(req: &http::Request<Bytes>, host: &HeaderValue, out: &mut Vec<u8>) {
    let headers = req.headers();
    let body = req.body();
    out.clear();
    out.extend_from_slice(req.method().as_str().as_bytes());
    out.push(b' ');
    let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !headers.contains_key(HOST) {
        put_header(out, b"host", host.as_bytes());
    }
    // The client's hop-by-hop fields, and those its `Connection` named, were removed
    // from its headers before any step added the gateway's ([`crate::server::wire`],
    // [`crate::pipeline::transform`]): what is left here is what the gateway forwards, and
    // nothing in it may be dropped on a client's word.
    let mut had_length = false;
    for (name, value) in headers {
        if name == CONTENT_LENGTH {
            had_length = true;
            continue;
        }
        if h1::is_hop_by_hop(name) {
            continue;
        }
        put_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    let carries_body = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    if had_length || carries_body || !body.is_empty() {
        let mut digits = [0u8; 20];
        put_header(
            out,
            b"content-length",
            decimal(body.len() as u64, &mut digits),
        );
    }
    out.extend_from_slice(b"\r\n");
    if body.len() <= COALESCE_BODY {
        out.extend_from_slice(body);
    }
}

/// An upstream answer's body; its connection returns to the pool when it has been read
/// to the end.
pub struct UpstreamBody {
    state: BodyState,
    addr: SocketAddr,
}

enum BodyState {
    /// Read whole with the head (the connection already went back), or sent.
    Complete(Option<Bytes>),
    /// Still arriving on its connection (boxed: the common answer is complete, and a
    /// small body type keeps every move of the response cheap).
    Streaming(Box<Streaming>),
    /// Failed; the connection was dropped.
    Failed,
}

struct Streaming {
    conn: Conn,
    decoder: BodyDecoder,
    /// Data decoded with the head, not yet handed out.
    pending: Option<Bytes>,
    /// The connection closes after this answer.
    close: bool,
    pool: Arc<HostPool>,
}

impl UpstreamBody {
    fn new(mut conn: Conn, framing: Framing, close: bool, pool: Arc<HostPool>) -> Self {
        let addr = pool.addr;
        // A body that runs to the end of the connection ends the connection too.
        let close = close || framing == Framing::Eof;
        let mut decoder = BodyDecoder::new(framing);
        let mut pending = None;
        match decoder.decode(&mut conn.read) {
            // The common case: the whole body came with the head.
            Ok(Decoded::Done) => return Self::complete(None, conn, close, pool),
            Ok(Decoded::Data(n)) => {
                let data = conn.read.split_to(n).freeze();
                if decoder.is_done() {
                    return Self::complete(Some(data), conn, close, pool);
                }
                pending = Some(data);
            }
            // More to read; or broken, which the first poll finds again and reports.
            Ok(Decoded::NeedMore) | Err(_) => {}
        }
        UpstreamBody {
            state: BodyState::Streaming(Box::new(Streaming {
                conn,
                decoder,
                pending,
                close,
                pool,
            })),
            addr,
        }
    }

    /// A body read whole: the connection goes back to its stack now.
    fn complete(bytes: Option<Bytes>, conn: Conn, close: bool, pool: Arc<HostPool>) -> Self {
        let addr = pool.addr;
        if !close && conn.read.is_empty() {
            pool.checkin(conn);
        }
        UpstreamBody {
            state: BodyState::Complete(bytes.filter(|b| !b.is_empty())),
            addr,
        }
    }
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody")
            .field("instance", &self.addr)
            .finish_non_exhaustive()
    }
}

impl hyper::body::Body for UpstreamBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        let BodyState::Streaming(streaming) = &mut this.state else {
            return match &mut this.state {
                BodyState::Complete(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
                _ => Poll::Ready(None),
            };
        };
        let Streaming {
            conn,
            decoder,
            pending,
            ..
        } = &mut **streaming;
        if let Some(data) = pending.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        let frame = loop {
            match decoder.decode(&mut conn.read) {
                Ok(Decoded::Data(n)) => break Some(Ok(conn.read.split_to(n).freeze())),
                Ok(Decoded::Done) => break None,
                Ok(Decoded::NeedMore) => match conn.poll_fill(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(0)) => match decoder.end_of_input() {
                        Ok(()) => break None,
                        Err(e) => break Some(Err(broken(e))),
                    },
                    Poll::Ready(Ok(_)) => {}
                    Poll::Ready(Err(e)) => break Some(Err(e)),
                },
                Err(e) => break Some(Err(broken(e))),
            }
        };
        let finished = match &frame {
            Some(Ok(_)) => decoder.is_done(),
            Some(Err(_)) => {
                this.state = BodyState::Failed;
                return Poll::Ready(frame.map(|r| r.map(Frame::data)));
            }
            None => true,
        };
        if finished {
            let state = std::mem::replace(&mut this.state, BodyState::Complete(None));
            if let BodyState::Streaming(s) = state
                && !s.close
                && s.conn.read.is_empty()
            {
                s.pool.checkin(s.conn);
            }
        }
        Poll::Ready(frame.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        match &self.state {
            BodyState::Complete(b) => b.is_none(),
            BodyState::Streaming(s) => s.pending.is_none() && s.decoder.is_done(),
            BodyState::Failed => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            BodyState::Complete(Some(b)) => SizeHint::with_exact(b.len() as u64),
            BodyState::Complete(None) | BodyState::Failed => SizeHint::with_exact(0),
            BodyState::Streaming(s) => match s.decoder.remaining() {
                Some(n) => {
                    SizeHint::with_exact(n + s.pending.as_ref().map_or(0, |p| p.len() as u64))
                }
                None => SizeHint::default(),
            },
        }
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
