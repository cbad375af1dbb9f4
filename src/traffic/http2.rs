//! HTTP/2 for the load engine (`protocol = "h2"`, `attack --h2`), on the h2 crate's
//! client: a phase's `connections` are HTTP/2 connections, each carrying up to
//! `max_streams` requests at once, never more than the server's
//! SETTINGS_MAX_CONCURRENT_STREAMS.
//!
//! The worker does not change for it: a phase speaking HTTP/2 gets `max_streams`
//! connection tasks per connection, each holding a [`H2Stream`] on its connection's
//! [`Slot`] behind the same `Link` the HTTP/1 tasks send with. A task takes a job,
//! [`H2Stream::ready`] opens the connection when it is down (one task opens it, the
//! others wait for it) and waits for a free stream, and only then the worker reads
//! its send instant: latency runs from the job's intended instant, service time from
//! the stream's opening, exactly as for HTTP/1.
//!
//! The request is the one rendered for HTTP/1 (same seed, same bytes), read back into
//! an `http::Request` (`Host` becomes `:authority`); the answer's head is rendered as
//! text for [`Answer`], whose header lookups the recorder uses.
//!
//! What the server says on the connection:
//! - RST_STREAM on a request's stream: [`ClientFailure::H2Reset`] with its error code
//!   (REFUSED_STREAM included: not retried, counted).
//! - GOAWAY: streams above its last stream id were not processed by the server:
//!   [`ClientFailure::H2Goaway`]; the connection is opened again for the next request.
//!   A request that could not even be opened on a connection that is going away was
//!   never sent: it goes out on a new connection.
//!
//! Plaintext targets speak h2c with prior knowledge (the client preface at once, as
//! `h2load` and `curl --http2-prior-knowledge` do). `https://` targets speak HTTP/2
//! over TLS with ALPN offering `h2` alone: a server that does not select it is
//! refused (a `tls_error`, its reason said once on stderr), never spoken to in
//! HTTP/2; `:scheme` is then `https`. [`handshake`] takes any byte stream, so both
//! go through the same code.
//!
//! Why the h2 crate and not hyper's `client::conn::http2` (on the same h2 inside):
//! measured on loopback against nghttpd (4 connections × 25 streams, one thread), the
//! same request loop made ~68 000 requests/s on h2 and ~47 000 through hyper, whose
//! dispatch channel and connection task sit between the caller and h2; h2 also tells
//! the server's stream limit (`current_max_send_streams`), which hyper does not.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::str::FromStr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use http::uri::Scheme;
use http::{HeaderValue, Request};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;

use super::client::{Answer, Targets};
use super::stream::Stream;
use crate::metrics::ClientFailure;

/// The largest body kept for the worker, as the HTTP/1 client keeps.
const MAX_KEPT_BODY: usize = 1024 * 1024;
/// Request headers a rendered request may have (it has a handful).
const MAX_REQUEST_HEADERS: usize = 64;
/// Flow-control windows we grant the server: answers never wait for a
/// WINDOW_UPDATE on loopback-sized bodies (h2load grants 2^30 - 1).
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = 1 << 24;

/// One HTTP/2 connection of a worker's phase, shared by its stream tasks.
pub(crate) struct Slot {
    state: RefCell<State>,
    /// The connection came up or went down, or a stream was freed.
    changed: Notify,
    /// `max_streams`: streams open at once at most (before the server's own limit).
    cap: usize,
    /// Counts connections opened, so that a stale handle cannot touch a new one.
    generation: Cell<u64>,
    /// Why the last connect failed (what its waiters fail with).
    failed: Cell<ClientFailure>,
}

enum State {
    Down,
    Connecting,
    Up(Live),
}

struct Live {
    send: SendRequest<Bytes>,
    host: HeaderValue,
    scheme: Scheme,
    generation: u64,
    /// Streams open (reserved by a task) now.
    open: usize,
}

/// A worker's HTTP/2 connections of one phase; stream tasks are dealt to them in turn.
pub(crate) struct H2Phase {
    slots: Vec<Rc<Slot>>,
    next: Cell<usize>,
}

impl H2Phase {
    /// `connections` HTTP/2 connections of up to `max_streams` streams each.
    pub fn new(connections: usize, max_streams: usize) -> Self {
        H2Phase {
            slots: (0..connections.max(1))
                .map(|_| {
                    Rc::new(Slot {
                        state: RefCell::new(State::Down),
                        changed: Notify::new(),
                        cap: max_streams.max(1),
                        generation: Cell::new(0),
                        failed: Cell::new(ClientFailure::Connect),
                    })
                })
                .collect(),
            next: Cell::new(0),
        }
    }

    /// The next stream task's handle (round robin over the connections).
    pub fn stream(&self) -> H2Stream {
        let i = self.next.get();
        self.next.set(i.wrapping_add(1));
        H2Stream {
            slot: Rc::clone(&self.slots[i % self.slots.len()]),
            held: None,
            host: HeaderValue::from_static("localhost"),
            scheme: Scheme::HTTP,
            request: Vec::with_capacity(512),
        }
    }
}

/// A stream task's handle on its connection.
pub(crate) struct H2Stream {
    slot: Rc<Slot>,
    /// The stream reserved on a live connection (its generation and sender).
    held: Option<(u64, SendRequest<Bytes>)>,
    host: HeaderValue,
    /// `https` over TLS, `http` for h2c.
    scheme: Scheme,
    request: Vec<u8>,
}

impl Slot {
    fn down(&self, generation: u64) {
        let mut state = self.state.borrow_mut();
        if matches!(&*state, State::Up(l) if l.generation == generation) {
            *state = State::Down;
            drop(state);
            self.changed.notify_waiters();
        }
    }

    fn free(&self, generation: u64) {
        if let State::Up(l) = &mut *self.state.borrow_mut()
            && l.generation == generation
        {
            l.open = l.open.saturating_sub(1);
        }
        self.changed.notify_waiters();
    }
}

/// Puts a slot left connecting back to down (see [`H2Stream::ready`]).
struct ConnectGuard<'a>(&'a Slot);

impl Drop for ConnectGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.borrow_mut();
        if matches!(&*state, State::Connecting) {
            *state = State::Down;
            drop(state);
            self.0.changed.notify_waiters();
        }
    }
}

impl H2Stream {
    /// Reserve a stream, opening the connection if it is down. The failure when it
    /// could not connect; else whether nothing was awaited.
    pub async fn ready(
        &mut self,
        targets: &Targets,
        timeout: Duration,
    ) -> Result<bool, ClientFailure> {
        if self.held.is_some() {
            return Ok(true);
        }
        let mut awaited = false;
        let mut waited_for_connect = false;
        loop {
            let changed = self.slot.changed.notified();
            let connect = {
                let mut state = self.slot.state.borrow_mut();
                match &mut *state {
                    State::Up(live) => {
                        let limit = self.slot.cap.min(live.send.current_max_send_streams());
                        if live.open < limit {
                            live.open += 1;
                            self.held = Some((live.generation, live.send.clone()));
                            self.host = live.host.clone();
                            self.scheme = live.scheme.clone();
                            return Ok(!awaited);
                        }
                        false
                    }
                    State::Connecting => {
                        waited_for_connect = true;
                        false
                    }
                    // The connect this task waited for failed: so did its request
                    // (another try would queue behind every other waiting task's).
                    State::Down if waited_for_connect => return Err(self.slot.failed.get()),
                    State::Down => {
                        *state = State::Connecting;
                        true
                    }
                }
            };
            awaited = true;
            if !connect {
                changed.await;
                continue;
            }
            let generation = self.slot.generation.get() + 1;
            self.slot.generation.set(generation);
            // Should this future be dropped mid-connect (a request timeout), the slot
            // goes back to down rather than stay connecting for ever.
            let _guard = ConnectGuard(&self.slot);
            let opened = open(targets, timeout, Rc::downgrade(&self.slot), generation).await;
            *self.slot.state.borrow_mut() = match opened {
                Ok((send, host, scheme)) => State::Up(Live {
                    send,
                    host,
                    scheme,
                    generation,
                    open: 0,
                }),
                Err(failure) => {
                    self.slot.failed.set(failure);
                    State::Down
                }
            };
            self.slot.changed.notify_waiters();
            if self.slot_is_down() {
                return Err(self.slot.failed.get());
            }
        }
    }

    fn slot_is_down(&self) -> bool {
        matches!(&*self.slot.state.borrow(), State::Down)
    }

    /// The buffer the request is rendered into and the `Host` (`:authority`) it goes to.
    pub fn request_buf(&mut self) -> (&mut Vec<u8>, &HeaderValue) {
        (&mut self.request, &self.host)
    }

    /// The task waits for something else: a stream it reserved and did not use is freed.
    pub fn idle(&mut self) {
        if let Some((generation, _)) = self.held.take() {
            self.slot.free(generation);
        }
    }

    /// Send the rendered request on the reserved stream (sent at `sent`) and read the
    /// whole answer, or give up with `Timeout` once `timeout` has passed (the stream is
    /// then cancelled). The stream is freed either way.
    pub async fn exchange_from(
        &mut self,
        targets: &Targets,
        sent: Instant,
        keep_body: bool,
        timeout: Duration,
    ) -> Result<Answer, ClientFailure> {
        let deadline = tokio::time::Instant::from_std(sent) + timeout;
        // A connection going away refuses new streams before they are sent: the
        // request goes out on a new connection instead (bounded: a server that
        // refuses every connection this way yields an `io_error`).
        for _ in 0..3 {
            let Some((generation, mut send)) = self.held.take() else {
                return Err(ClientFailure::Connect);
            };
            let Some((request, body)) = to_request(&self.request, &self.host, &self.scheme) else {
                self.slot.free(generation);
                return Err(ClientFailure::Io);
            };
            let opened = send.send_request(request, body.is_empty());
            let (response, mut body_stream) = match opened {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::debug!(error = %e, "HTTP/2 connection refuses new streams");
                    self.slot.free(generation);
                    self.slot.down(generation);
                    drop(send);
                    match tokio::time::timeout_at(deadline, self.ready(targets, timeout)).await {
                        Err(_) => return Err(ClientFailure::Timeout),
                        Ok(Err(failure)) => return Err(failure),
                        Ok(Ok(_)) => continue,
                    }
                }
            };
            let exchange = async {
                if !body.is_empty() {
                    body_stream.send_data(body, true).map_err(failure)?;
                }
                read_answer(response, keep_body).await
            };
            let result = match tokio::time::timeout_at(deadline, exchange).await {
                Ok(result) => result,
                Err(_) => Err(ClientFailure::Timeout),
            };
            self.slot.free(generation);
            if matches!(result, Err(ClientFailure::H2Goaway | ClientFailure::Io)) {
                // The connection is going away or broken: the next request opens a new one.
                self.slot.down(generation);
            }
            return result;
        }
        Err(ClientFailure::Io)
    }
}

/// Connect to the next target (TLS with ALPN `h2` for `https://`) and speak HTTP/2
/// on it; the connection's driver runs as a task of its own and marks `slot` down
/// when the connection ends.
async fn open(
    targets: &Targets,
    timeout: Duration,
    slot: Weak<Slot>,
    generation: u64,
) -> Result<(SendRequest<Bytes>, HeaderValue, Scheme), ClientFailure> {
    let (stream, host) = targets.connect_h2(timeout).await?;
    let scheme = match stream {
        Stream::Plain(_) => Scheme::HTTP,
        Stream::Tls(_) => Scheme::HTTPS,
    };
    match tokio::time::timeout(timeout, handshake(stream)).await {
        Ok(Ok((send, driver))) => {
            tokio::task::spawn_local(async move {
                if let Err(e) = driver.await {
                    tracing::debug!(error = %e, "HTTP/2 connection ended");
                }
                if let Some(slot) = slot.upgrade() {
                    slot.down(generation);
                }
            });
            Ok((send, host, scheme))
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "HTTP/2 handshake failed");
            Err(ClientFailure::Connect)
        }
        Err(_) => Err(ClientFailure::Connect),
    }
}

/// The driver of one HTTP/2 connection: poll it until the connection ends.
pub(crate) type Driver =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), h2::Error>>>>;

/// The HTTP/2 client handshake over any byte stream (TCP for h2c, TLS after ALPN
/// `h2`), then one PING round trip: the server's SETTINGS precede its PING answer,
/// so the stream limit is the server's own from the first request on.
pub(crate) async fn handshake<T>(io: T) -> Result<(SendRequest<Bytes>, Driver), h2::Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, mut connection) = h2::client::Builder::new()
        .enable_push(false)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .handshake::<_, Bytes>(io)
        .await?;
    let mut ping = connection.ping_pong();
    let mut driver: Driver = Box::pin(connection);
    if let Some(ping) = ping.as_mut() {
        let pong = ping.ping(h2::Ping::opaque());
        tokio::pin!(pong);
        // The driver must run for the answer to arrive.
        tokio::select! {
            r = &mut pong => {
                r?;
            }
            r = &mut driver => {
                r?;
                return Err(h2::Error::from(h2::Reason::CONNECT_ERROR));
            }
        }
    }
    Ok((send, driver))
}

/// What an h2 error means for the request whose stream it ended.
fn failure(e: h2::Error) -> ClientFailure {
    if e.is_remote() {
        if e.is_go_away() {
            return ClientFailure::H2Goaway;
        }
        if e.is_reset() {
            let code = e.reason().map_or(0, u32::from);
            return ClientFailure::H2Reset(code);
        }
    }
    ClientFailure::Io
}

/// How an RST_STREAM shows as the example of its `h2_reset` row.
pub(crate) fn reset_text(code: u32) -> String {
    format!(
        "RST_STREAM {:?} (error code {code:#x})",
        h2::Reason::from(code)
    )
}

/// The answer to one stream, its body read to the end (kept when asked, or when the
/// status is an error, as the HTTP/1 client keeps it).
async fn read_answer(
    response: h2::client::ResponseFuture,
    keep_body: bool,
) -> Result<Answer, ClientFailure> {
    let (parts, mut body) = response.await.map_err(failure)?.into_parts();
    let mut kept = (keep_body || parts.status.as_u16() >= 400).then(BytesMut::new);
    while let Some(data) = body.data().await {
        let data = data.map_err(failure)?;
        let _ = body.flow_control().release_capacity(data.len());
        if let Some(b) = kept.as_mut() {
            if b.len() + data.len() > MAX_KEPT_BODY {
                kept = None;
            } else {
                b.extend_from_slice(&data);
            }
        }
    }
    Answer::from_head(&render_head(&parts), kept.map(BytesMut::freeze))
}

/// A rendered HTTP/1 request read back as an HTTP/2 one: `Host` becomes the
/// `:authority`, headers HTTP/2 forbids (connection-specific ones) are left out.
fn to_request(bytes: &[u8], host: &HeaderValue, scheme: &Scheme) -> Option<(Request<()>, Bytes)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_REQUEST_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(len) = req.parse(bytes).ok()? else {
        return None;
    };
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(scheme.clone());
    parts.authority = Some(http::uri::Authority::from_maybe_shared(host.clone()).ok()?);
    parts.path_and_query = Some(http::uri::PathAndQuery::from_str(req.path?).ok()?);
    let mut request = Request::new(());
    *request.method_mut() = http::Method::from_bytes(req.method?.as_bytes()).ok()?;
    *request.uri_mut() = http::Uri::from_parts(parts).ok()?;
    *request.version_mut() = http::Version::HTTP_2;
    let map = request.headers_mut();
    map.reserve(req.headers.len());
    for h in req.headers.iter() {
        let name = http::HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        if matches!(
            name.as_str(),
            "host"
                | "connection"
                | "keep-alive"
                | "proxy-connection"
                | "transfer-encoding"
                | "upgrade"
                | "te"
        ) {
            continue;
        }
        map.append(name, HeaderValue::from_bytes(h.value).ok()?);
    }
    Some((request, Bytes::copy_from_slice(&bytes[len..])))
}

/// The answer's head as HTTP/1 text, for [`Answer`]'s header lookups.
fn render_head(parts: &http::response::Parts) -> Vec<u8> {
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(parts.status.as_str().as_bytes());
    head.extend_from_slice(b" \r\n");
    for (name, value) in &parts.headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_request_reads_back_as_http2() {
        let raw = b"POST /orders?x=1 HTTP/1.1\r\nhost: a:1\r\nconnection: keep-alive\r\ncontent-length: 2\r\nx-seq: 7\r\n\r\n{}";
        let (r, body) = to_request(raw, &HeaderValue::from_static("b:2"), &Scheme::HTTP).unwrap();
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(r.uri(), "http://b:2/orders?x=1");
        assert_eq!(r.version(), http::Version::HTTP_2);
        assert!(r.headers().get("host").is_none());
        assert!(r.headers().get("connection").is_none());
        assert_eq!(r.headers()["x-seq"], "7");
        assert_eq!(body.as_ref(), b"{}");
        let (r, _) = to_request(raw, &HeaderValue::from_static("b:2"), &Scheme::HTTPS).unwrap();
        assert_eq!(r.uri(), "https://b:2/orders?x=1");
    }

    #[test]
    fn resets_and_goaways_are_their_own_failures() {
        // Errors made by h2 itself (not received from the server) are I/O errors.
        assert_eq!(
            failure(h2::Error::from(h2::Reason::REFUSED_STREAM)),
            ClientFailure::Io
        );
    }
}
