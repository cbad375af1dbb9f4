//! The HTTP/1.1 client on the hot path, written for it the way wrk's is: one
//! connection per connection task, owned by its worker (no pool, no lock, no
//! connection task, no channel), the request rendered into the connection's own
//! buffer and written with one `write`, the answer parsed in place with `httparse`
//! (hyper's parser). TCP_NODELAY; targets taken round-robin and skipped on connect
//! errors the way a client behind DNS round robin moves to the next address.
//!
//! hyper's client was ~6× wrk's instructions per request: a task and two channels per
//! connection, a `HeaderMap` built and dropped per answer. The worker reads three or
//! four headers of an answer; here they are found in the received bytes.
//! Heads and bodies are read by `ninefold_http1`, which the gateway's upstream
//! client reads answers with too (RFC 9112 framing).

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderValue;
use ninefold_http1::{self as h1, BodyDecoder, Decoded};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::resolve::{Resolve, Resolving};
use super::stream::Stream;
use super::tls::TlsTarget;
use crate::metrics::recording::ConnectionSetup;
use crate::metrics::{ClientFailure, Hist};

/// The largest body kept for the worker (a write's answer, parsed for its order id);
/// a longer one is read and dropped.
const MAX_KEPT_BODY: usize = 1024 * 1024;
/// Read granularity.
const READ_CHUNK: usize = 16 * 1024;

/// One address traffic can go to (a gateway instance, or its link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    /// The `Host` header sent to it.
    pub host: HeaderValue,
    /// TLS to speak over the connection (`https://`); `None`: plain TCP.
    pub tls: Option<Arc<TlsTarget>>,
    /// The hostname to resolve again on an interval (`[client] resolve_every`).
    pub resolve: Option<Arc<Resolve>>,
}

impl Target {
    /// A target whose `Host` is its own address.
    pub fn new(addr: SocketAddr) -> Self {
        let host = HeaderValue::try_from(addr.to_string())
            .unwrap_or(HeaderValue::from_static("localhost"));
        Target {
            addr,
            host,
            tls: None,
            resolve: None,
        }
    }

    /// A target reached at `addr` but named `host` (virtual hosting).
    pub fn with_host(addr: SocketAddr, host: HeaderValue) -> Self {
        Target {
            addr,
            host,
            tls: None,
            resolve: None,
        }
    }

    /// The same target, its hostname resolved again as `resolve` says.
    pub fn with_resolve(mut self, resolve: Arc<Resolve>) -> Self {
        self.resolve = Some(resolve);
        self
    }

    /// The same target, spoken to over TLS.
    pub fn with_tls(mut self, tls: Arc<TlsTarget>) -> Self {
        self.tls = Some(tls);
        self
    }
}

/// Round-robin over targets, one cursor per worker.
#[derive(Debug)]
pub struct Targets {
    /// Replaced when the hostname resolves to other addresses ([`Resolving`]).
    pub(super) list: RefCell<Vec<Target>>,
    pub(super) resolving: Option<Resolving>,
    next: std::cell::Cell<usize>,
    /// Set-up times of the connections this worker opened.
    setup: RefCell<Setup>,
}

/// Connection set-up times, µs, as [`Targets::connect`] measures them.
#[derive(Debug, Default)]
struct Setup {
    tcp: Hist,
    tls: Option<Hist>,
}

impl Targets {
    /// Start the round robin at `offset` so workers spread out.
    pub fn new(list: Vec<Target>, offset: usize) -> Self {
        let start = if list.is_empty() {
            0
        } else {
            offset % list.len()
        };
        let resolving = list
            .first()
            .and_then(|t| t.resolve.clone())
            .map(Resolving::new);
        Targets {
            list: RefCell::new(list),
            resolving,
            next: std::cell::Cell::new(start),
            setup: RefCell::default(),
        }
    }

    /// The set-up times recorded so far (`None` when no connection was opened).
    pub fn take_setup(&self) -> Option<ConnectionSetup> {
        let Setup { tcp, tls } = self.setup.take();
        (!tcp.0.is_empty()).then_some(ConnectionSetup {
            tcp_connect: tcp,
            tls_handshake: tls,
        })
    }

    /// Open a connection to the next target, moving on past connect errors;
    /// `ConnectError` only when every target refused (or timed out), `Tls` when
    /// one at least accepted the connection and its TLS handshake failed.
    pub async fn connect(&self, timeout: Duration) -> Result<Conn, ClientFailure> {
        let (stream, host) = self.connect_stream(timeout, false).await?;
        Ok(Conn::new(stream, host, timeout))
    }

    /// [`Targets::connect`]'s round robin for HTTP/2: the connected stream (TLS with
    /// ALPN `h2` agreed for `https://`, see [`TlsTarget::handshake_h2`]) and the
    /// `Host` of its target; its set-up times are recorded the same way.
    pub(crate) async fn connect_h2(
        &self,
        timeout: Duration,
    ) -> Result<(Stream, HeaderValue), ClientFailure> {
        self.connect_stream(timeout, true).await
    }

    async fn connect_stream(
        &self,
        timeout: Duration,
        h2: bool,
    ) -> Result<(Stream, HeaderValue), ClientFailure> {
        // The shared cursor moves once per connect (round robin over connections), and
        // this connect tries every target once from where it started: re-reading the
        // cursor after each failure let two concurrent connects both land on the same
        // dead target twice and give up with a live one untried.
        self.refresh().await;
        let n = self.list.borrow().len();
        let start = self.next.get();
        self.next.set((start + 1) % n.max(1));
        let mut failure = ClientFailure::Connect;
        for k in 0..n {
            // Another connect may have replaced the list while this one waited.
            let target = {
                let list = self.list.borrow();
                list[(start + k) % list.len()].clone()
            };
            let target = &target;
            let began = std::time::Instant::now();
            let deadline = Instant::from_std(began) + timeout;
            let tcp = match tokio::time::timeout_at(deadline, open(target.addr)).await {
                Ok(Ok(tcp)) => tcp,
                Ok(Err(e)) => {
                    tracing::debug!(target = %target.addr, error = %e, "connect failed");
                    continue;
                }
                Err(_) => {
                    tracing::debug!(target = %target.addr, "connect timed out");
                    continue;
                }
            };
            let connected = std::time::Instant::now();
            record_us(&mut self.setup.borrow_mut().tcp, connected - began);
            let Some(tls) = &target.tls else {
                return Ok((Stream::Plain(tcp), target.host.clone()));
            };
            let handshake = async {
                if h2 {
                    tls.handshake_h2(tcp).await
                } else {
                    tls.handshake(tcp).await
                }
            };
            match tokio::time::timeout_at(deadline, handshake).await {
                Ok(Ok(stream)) => {
                    record_us(
                        self.setup.borrow_mut().tls.get_or_insert_default(),
                        connected.elapsed(),
                    );
                    return Ok((Stream::Tls(Box::new(stream)), target.host.clone()));
                }
                Ok(Err(e)) => super::tls::note_failure(&e),
                Err(_) => tracing::debug!(target = %target.addr, "TLS handshake timed out"),
            }
            failure = ClientFailure::Tls;
        }
        Err(failure)
    }
}

/// A read or write error: `Tls` when the TLS layer failed (an alert from the
/// server, as a TLS 1.3 server refusing a client certificate sends after the
/// client's side of the handshake is done), `Io` otherwise.
#[cold]
fn failure_of(e: &std::io::Error) -> ClientFailure {
    if super::tls::is_tls_error(e) {
        super::tls::note_failure(e);
        ClientFailure::Tls
    } else {
        ClientFailure::Io
    }
}

fn record_us(h: &mut Hist, d: Duration) {
    // Values past the bounds saturate at the highest (as every histogram here does).
    let us = (d.as_micros() as u64).clamp(
        crate::metrics::hist::LOWEST_US,
        crate::metrics::hist::HIGHEST_US,
    );
    h.0.saturating_record(us);
}

async fn open(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    // Small requests must leave at once, not wait for Nagle.
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// An open connection.
#[derive(Debug)]
pub struct Conn {
    stream: Stream,
    /// Received bytes not consumed yet.
    read: BytesMut,
    /// The request to send, rendered by the caller ([`Conn::request_buf`]).
    request: Vec<u8>,
    /// False once the connection cannot carry another request: the server said
    /// `Connection: close`, the body ran to the end of the connection, or an exchange failed.
    reusable: bool,
    /// The last exchange completed and its holder has not awaited anything since: the
    /// runtime's I/O driver, the only thing that updates the socket's readiness, cannot
    /// have run, so [`Conn::is_usable`] need not probe it (a closed loop sending again
    /// at once). Holders that wait between requests call [`Conn::idle`].
    fresh: bool,
    /// `Host` of the target it is connected to.
    pub host: HeaderValue,
    /// The request timeout's timer, one per connection: re-armed only when it fires
    /// before the current request's deadline (at most once per timeout), where a
    /// `tokio::time::timeout` per request would register and remove a timer entry each time.
    timer: Pin<Box<Sleep>>,
    /// The waker `timer` was last polled with, while it has not been moved since: the
    /// timer wheel holds that waker and will use it, so a task waiting again finds the
    /// timer by its state ([`Sleep::is_elapsed`]) instead of polling it per request.
    timer_waker: Option<Waker>,
}

/// The header instances name themselves in: the recorder reads it of every answer, so
/// the parser notes where it lies while it passes over it.
pub const X_BACKEND_INSTANCE: &str = "x-backend-instance";

/// An answer: its status, its head as received, and the body when it was kept.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The head, through the empty line (validated by the parser: every line after the
    /// status line is `name:value`, no folded lines).
    head: Bytes,
    /// Where the first `X-Backend-Instance` value lies in `head`.
    instance: Option<(u32, u32)>,
    pub body: Option<Bytes>,
}

impl Answer {
    /// Parse a complete response head (tests, and anything holding raw bytes).
    pub fn from_head(head: &[u8], body: Option<Bytes>) -> Result<Self, ClientFailure> {
        let mut instance = InstanceSpan::new(head);
        match h1::parse_head_with(head, |n, v| instance.see(n, v)).map_err(|_| ClientFailure::Io)? {
            Some(h) => Ok(Answer {
                status: h.status,
                head: Bytes::copy_from_slice(&head[..h.len]),
                instance: instance.span,
                body,
            }),
            None => Err(ClientFailure::Io),
        }
    }

    /// An answer whose head a client has already checked and rendered (HTTP/2), and
    /// where its first `X-Backend-Instance` value lies in it.
    pub(super) fn from_parts(
        status: u16,
        head: Bytes,
        instance: Option<(u32, u32)>,
        body: Option<Bytes>,
    ) -> Self {
        Answer {
            status,
            head,
            instance,
            body,
        }
    }

    /// The first value of header `name` (ASCII case-insensitive), found by walking the
    /// head's lines: only the rare readers of other headers than the instance pay for it.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        let name = name.as_bytes();
        // The status line first; the parser refused folded lines and spaces before the
        // colon, so a header line is `name:` then the value, its surrounding blanks
        // being what the parser strips.
        self.head
            .split(|&b| b == b'\n')
            .skip(1)
            .find(|line| {
                line.len() > name.len()
                    && line[name.len()] == b':'
                    && line[..name.len()].eq_ignore_ascii_case(name)
            })
            .map(|line| line[name.len() + 1..].trim_ascii())
    }

    /// The first value of header `name` as text, when it is UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        std::str::from_utf8(self.header(name)?).ok()
    }

    /// The first `X-Backend-Instance` value (as [`Answer::header`] would find it).
    pub fn instance(&self) -> Option<&[u8]> {
        self.instance
            .map(|(start, end)| &self.head[start as usize..end as usize])
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Notes where the first `X-Backend-Instance` value lies in the head being parsed.
struct InstanceSpan {
    base: usize,
    span: Option<(u32, u32)>,
}

impl InstanceSpan {
    fn new(buf: &[u8]) -> Self {
        InstanceSpan {
            base: buf.as_ptr() as usize,
            span: None,
        }
    }

    #[inline]
    fn see(&mut self, name: &[u8], value: &[u8]) {
        if self.span.is_none() && h1::eq_token_lower(name, X_BACKEND_INSTANCE.as_bytes()) {
            // A head is at most `h1::MAX_HEAD` bytes: offsets fit in u32.
            let start = (value.as_ptr() as usize - self.base) as u32;
            self.span = Some((start, start + value.len() as u32));
        }
    }
}

impl Conn {
    fn new(stream: Stream, host: HeaderValue, timeout: Duration) -> Self {
        Conn {
            stream,
            read: BytesMut::with_capacity(READ_CHUNK),
            request: Vec::with_capacity(512),
            reusable: true,
            fresh: false,
            host,
            timer: Box::pin(tokio::time::sleep(timeout)),
            timer_waker: None,
        }
    }

    /// The buffer the next request is rendered into, whole (head and body), and the
    /// `Host` it goes to.
    pub fn request_buf(&mut self) -> (&mut Vec<u8>, &HeaderValue) {
        (&mut self.request, &self.host)
    }

    /// Whether the connection can still carry a request. An idle keep-alive
    /// connection the server has closed shows as readable: that costs one `read`,
    /// only then.
    pub fn is_usable(&mut self) -> bool {
        if !self.reusable || !self.read.is_empty() {
            return false;
        }
        if self.fresh {
            return true;
        }
        self.reusable = self.stream.probe_idle(&mut self.read);
        self.reusable
    }

    /// The holder is about to wait for something other than this connection (think
    /// time, a queue): the next [`Conn::is_usable`] probes whether the peer closed it.
    pub fn idle(&mut self) {
        self.fresh = false;
    }

    /// Send the request in [`Conn::request_buf`] and read the whole answer (the body
    /// only drained unless `keep_body` or the status is an error, 400 and above), or
    /// give up with `Timeout` once `timeout` has passed. `head_request`: the
    /// request's method is HEAD (its answer has no body).
    /// A failure leaves the connection unusable; drop it.
    pub async fn exchange(
        &mut self,
        head_request: bool,
        keep_body: bool,
        timeout: Duration,
    ) -> Result<Answer, ClientFailure> {
        self.exchange_from(std::time::Instant::now(), head_request, keep_body, timeout)
            .await
    }

    /// [`Conn::exchange`] for a request sent at `sent` (a clock reading the caller has
    /// taken already): the timeout runs from there.
    pub async fn exchange_from(
        &mut self,
        sent: std::time::Instant,
        head_request: bool,
        keep_body: bool,
        timeout: Duration,
    ) -> Result<Answer, ClientFailure> {
        let deadline = Instant::from_std(sent) + timeout;
        // Armed for a later instant (a longer timeout before): bring it forward.
        if self.timer.deadline() > deadline {
            self.timer.as_mut().reset(deadline);
            self.timer_waker = None;
        }
        let Conn {
            stream,
            read,
            request,
            reusable,
            fresh,
            timer,
            timer_waker,
            ..
        } = self;
        let mut io = Io { stream, read };
        let mut exchange = std::pin::pin!(io.exchange(request, head_request, keep_body));
        let result = std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = exchange.as_mut().poll(cx) {
                return Poll::Ready(r);
            }
            // Registered with this waker and not fired: it will wake this task.
            if !timer.is_elapsed()
                && timer_waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
            {
                return Poll::Pending;
            }
            // The timer never runs past this request's deadline: it was last armed for
            // an earlier request's deadline (or this one's), so when it fires early it
            // is moved on to this deadline, and when it fires at it, time is up.
            while timer.as_mut().poll(cx).is_ready() {
                if Instant::now() >= deadline {
                    return Poll::Ready(Err(ClientFailure::Timeout));
                }
                timer.as_mut().reset(deadline);
            }
            *timer_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        match &result {
            Ok((_, close)) => *reusable &= !close,
            Err(_) => *reusable = false,
        }
        *fresh = *reusable;
        result.map(|(answer, _)| answer)
    }
}

/// The connection's stream and read buffer, borrowed for one exchange.
struct Io<'a> {
    stream: &'a mut Stream,
    read: &'a mut BytesMut,
}

impl Io<'_> {
    /// Read more bytes; the end of the connection is `Ok(0)`.
    async fn fill(&mut self) -> Result<usize, ClientFailure> {
        if self.read.capacity() - self.read.len() < READ_CHUNK / 4 {
            self.read.reserve(READ_CHUNK);
        }
        self.stream
            .read_buf(self.read)
            .await
            .map_err(|e| failure_of(&e))
    }

    /// Read more bytes where the answer is not complete yet: the end is an error.
    async fn fill_some(&mut self) -> Result<(), ClientFailure> {
        match self.fill().await? {
            0 => Err(ClientFailure::Io),
            _ => Ok(()),
        }
    }

    /// The answer, and whether the connection closes after it.
    async fn exchange(
        &mut self,
        request: &[u8],
        head_request: bool,
        keep_body: bool,
    ) -> Result<(Answer, bool), ClientFailure> {
        // At once when the socket has room (it nearly always has: no future is made
        // then); the request timer bounds a wait for room.
        let sent = self.stream.try_send(request).map_err(|e| failure_of(&e))?;
        if sent < request.len() {
            self.stream
                .send(&request[sent..])
                .await
                .map_err(|e| failure_of(&e))?;
        }
        // Nothing can have arrived before the request left: read before parsing.
        if self.read.is_empty() {
            self.fill_some().await?;
        }
        let (head, instance) = loop {
            let mut instance = InstanceSpan::new(self.read);
            match h1::parse_head_with(self.read, |n, v| instance.see(n, v)) {
                // Interim answers (100 Continue, 103 Early Hints) precede the real one.
                Ok(Some(head)) if head.is_interim() => self.read.advance(head.len),
                Ok(Some(head)) => break (head, instance.span),
                Ok(None) => self.fill_some().await?,
                Err(_) => return Err(ClientFailure::Io),
            }
        };
        let head_bytes = self.read.split_to(head.len).freeze();
        let framing = head.framing_for(head_request);
        let mut decoder = BodyDecoder::new(framing);
        // An error answer's body is kept too: the recorder keeps one per request class
        // and status as an example of what went wrong.
        let mut body = (keep_body || head.status >= 400).then(BytesMut::new);
        loop {
            match decoder.decode(self.read).map_err(|_| ClientFailure::Io)? {
                Decoded::Data(n) => {
                    keep(&mut body, &self.read[..n]);
                    self.read.advance(n);
                }
                Decoded::Done => break,
                Decoded::NeedMore => {
                    if self.fill().await? == 0 {
                        decoder.end_of_input().map_err(|_| ClientFailure::Io)?;
                        break;
                    }
                }
            }
        }
        let close = head.close || framing == h1::Framing::Eof;
        let answer = Answer {
            status: head.status,
            head: head_bytes,
            instance,
            body: body.map(BytesMut::freeze),
        };
        Ok((answer, close))
    }
}

/// Append body bytes when the body is kept (up to [`MAX_KEPT_BODY`]; past it, none is).
fn keep(body: &mut Option<BytesMut>, bytes: &[u8]) {
    if let Some(b) = body {
        if b.len() + bytes.len() > MAX_KEPT_BODY {
            *body = None;
        } else {
            b.extend_from_slice(bytes);
        }
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
