//! HTTP/2 for the load engine (`protocol = "h2"`, `attack --h2`), on its own client
//! (the `ninefold-http2` crate, `http2/`: framing, flow control, HPACK): a phase's `connections` are HTTP/2 connections, each carrying up to
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
//! The request is the one rendered for HTTP/1 (same seed, same bytes), read back with
//! `httparse` into the HTTP/2 request's pseudo-headers and fields (`Host` becomes
//! `:authority`; connection-specific fields are dropped by the client); the client
//! gives the answer's head as HTTP/1 text for [`Answer`], whose header lookups the
//! recorder uses.
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
//! Why a client of our own (`http2/src/lib.rs` says what it does): the h2 crate's
//! client, used here before, made 0.61× h2load's requests per second at 2.40× its
//! CPU per request on a quiet machine, most of it inside h2 (frame decoding, HPACK,
//! its stream store, its connection driver's moves; bench/h2/README.md). hyper's
//! `client::conn::http2` runs on the same h2 with a dispatch channel on top.

use std::cell::{Cell, RefCell};
use std::future::Future as _;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;
use ninefold_http2::{Client, Config, OpenError, StreamError};
use tokio::sync::Notify;
use tokio::time::Sleep;

use super::client::{Answer, Targets};
use super::stream::Stream;
use crate::metrics::ClientFailure;

/// Request headers a rendered request may have (it has a handful).
const MAX_REQUEST_HEADERS: usize = 64;

/// What the client grants and keeps: flow-control windows so that answers never wait
/// for a WINDOW_UPDATE on loopback-sized bodies (h2load grants 2^30 - 1), and the
/// largest body kept for the worker, as the HTTP/1 client keeps.
const CONFIG: Config = Config {
    stream_window: 1 << 20,
    connection_window: 1 << 24,
    max_header_list: 64 * 1024,
    max_kept_body: 1024 * 1024,
};

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
    client: Client,
    host: HeaderValue,
    scheme: &'static [u8],
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
            scheme: b"http",
            request: Vec::with_capacity(512),
            // Armed far away: the first request brings it forward to its deadline.
            timer: Box::pin(tokio::time::sleep(Duration::from_secs(365 * 86_400))),
            timer_waker: None,
        }
    }
}

/// A stream task's handle on its connection.
pub(crate) struct H2Stream {
    slot: Rc<Slot>,
    /// The stream reserved on a live connection (its generation and client).
    held: Option<(u64, Client)>,
    host: HeaderValue,
    /// `https` over TLS, `http` for h2c.
    scheme: &'static [u8],
    request: Vec<u8>,
    /// The request timeout's timer, one per stream task, re-armed only when it fires
    /// before the current request's deadline (as the HTTP/1 connection's, see
    /// `client.rs`): no timer entry registered and removed per request.
    timer: Pin<Box<Sleep>>,
    /// The waker `timer` was last polled with, while it has not been moved since.
    timer_waker: Option<Waker>,
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
    /// Reserve a stream, opening the connection if it is down (or going away). The
    /// failure when it could not connect; else whether nothing was awaited.
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
                if let State::Up(live) = &*state
                    && !live.client.is_open()
                {
                    // GOAWAY received: its streams finish on it, new ones need a new one.
                    *state = State::Down;
                }
                match &mut *state {
                    State::Up(live) => {
                        let limit = self.slot.cap.min(live.client.max_concurrent());
                        if live.open < limit {
                            live.open += 1;
                            self.held = Some((live.generation, live.client.clone()));
                            self.host = live.host.clone();
                            self.scheme = live.scheme;
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
                Ok((client, host, scheme)) => State::Up(Live {
                    client,
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
            let Some((generation, client)) = self.held.take() else {
                return Err(ClientFailure::Connect);
            };
            let sent = send(
                &client,
                &self.request,
                self.host.as_bytes(),
                self.scheme,
                keep_body,
            );
            let response = match sent {
                Ok(response) => response,
                Err(Refused::Malformed) => {
                    self.slot.free(generation);
                    return Err(ClientFailure::Io);
                }
                Err(Refused::Connection(e)) => {
                    tracing::debug!(error = %e, "HTTP/2 connection refuses new streams");
                    self.slot.free(generation);
                    self.slot.down(generation);
                    drop(client);
                    match tokio::time::timeout_at(deadline, self.ready(targets, timeout)).await {
                        Err(_) => return Err(ClientFailure::Timeout),
                        Ok(Err(failure)) => return Err(failure),
                        Ok(Ok(_)) => continue,
                    }
                }
            };
            // A timeout drops the response future: the stream is reset (CANCEL).
            let result = match self.within(deadline, response).await {
                Some(Ok(r)) => Ok(answer(r)),
                Some(Err(e)) => Err(failure(e)),
                None => Err(ClientFailure::Timeout),
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

impl H2Stream {
    /// `response`, or `None` once `deadline` has passed, on the task's one timer.
    async fn within(
        &mut self,
        deadline: tokio::time::Instant,
        response: ninefold_http2::ResponseFuture,
    ) -> Option<Result<ninefold_http2::Response, StreamError>> {
        // Armed for a later instant (a longer timeout before): bring it forward.
        if self.timer.deadline() > deadline {
            self.timer.as_mut().reset(deadline);
            self.timer_waker = None;
        }
        let (timer, timer_waker) = (&mut self.timer, &mut self.timer_waker);
        let mut response = std::pin::pin!(response);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = response.as_mut().poll(cx) {
                return Poll::Ready(Some(r));
            }
            // Registered with this waker and not fired: it will wake this task.
            if !timer.is_elapsed()
                && timer_waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
            {
                return Poll::Pending;
            }
            // The timer never runs past this request's deadline (see `client.rs`'s
            // `Conn::exchange_from`): fired early, it moves on to this deadline.
            while timer.as_mut().poll(cx).is_ready() {
                if tokio::time::Instant::now() >= deadline {
                    return Poll::Ready(None);
                }
                timer.as_mut().reset(deadline);
            }
            *timer_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

/// Why a request was not sent.
enum Refused {
    /// The rendered request does not read back (never expected: the worker renders it).
    Malformed,
    /// The connection takes no new streams.
    Connection(OpenError),
}

/// A rendered HTTP/1 request sent as an HTTP/2 one: its method, target and fields
/// (`Host` is the `:authority`, which the client then leaves out of the fields, with
/// the other connection-specific ones), the bytes after its head as the body.
fn send(
    client: &Client,
    bytes: &[u8],
    authority: &[u8],
    scheme: &'static [u8],
    keep_body: bool,
) -> Result<ninefold_http2::ResponseFuture, Refused> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_REQUEST_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(len)) = req.parse(bytes) else {
        return Err(Refused::Malformed);
    };
    let (Some(method), Some(path)) = (req.method, req.path) else {
        return Err(Refused::Malformed);
    };
    let body = Bytes::copy_from_slice(&bytes[len..]);
    let fields = req.headers.iter().map(|h| (h.name.as_bytes(), h.value));
    client
        .send(
            method.as_bytes(),
            scheme,
            authority,
            path.as_bytes(),
            fields,
            body,
            keep_body,
        )
        .map_err(Refused::Connection)
}

/// Connect to the next target (TLS with ALPN `h2` for `https://`) and speak HTTP/2
/// on it; the connection's driver runs as a task of its own and marks `slot` down
/// when the connection ends.
async fn open(
    targets: &Targets,
    timeout: Duration,
    slot: Weak<Slot>,
    generation: u64,
) -> Result<(Client, HeaderValue, &'static [u8]), ClientFailure> {
    let (stream, host) = targets.connect_h2(timeout).await?;
    let scheme: &'static [u8] = match stream {
        Stream::Plain(_) => b"http",
        Stream::Tls(_) => b"https",
    };
    match tokio::time::timeout(timeout, ninefold_http2::handshake(stream, CONFIG)).await {
        Ok(Ok((client, driver))) => {
            tokio::task::spawn_local(async move {
                if let Err(e) = driver.await {
                    tracing::debug!(error = %e, "HTTP/2 connection ended");
                }
                if let Some(slot) = slot.upgrade() {
                    slot.down(generation);
                }
            });
            Ok((client, host, scheme))
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "HTTP/2 handshake failed");
            Err(ClientFailure::Connect)
        }
        Err(_) => Err(ClientFailure::Connect),
    }
}

/// The client's answer as the worker's: its head is already checked (names
/// lowercase tokens, values without CR, LF or NUL) and rendered as HTTP/1 text, so
/// only the instance header's place is looked for.
fn answer(r: ninefold_http2::Response) -> Answer {
    let mut instance = None;
    let prefix = b"\nx-backend-instance: ";
    if let Some(at) = r.head.windows(prefix.len()).position(|w| w == prefix) {
        let start = at + prefix.len();
        let end = start
            + r.head[start..]
                .iter()
                .position(|&b| b == b'\r')
                .unwrap_or(0);
        // A head is at most the header list limit (64 KiB): offsets fit in u32.
        instance = Some((start as u32, end as u32));
    }
    Answer::from_parts(r.status, Bytes::from(r.head), instance, r.body)
}

/// What a stream's end means for the request.
fn failure(e: StreamError) -> ClientFailure {
    match e {
        StreamError::Reset(code) => ClientFailure::H2Reset(code),
        StreamError::GoAway(_) => ClientFailure::H2Goaway,
        StreamError::Malformed(why) => {
            tracing::debug!(why, "malformed HTTP/2 answer");
            ClientFailure::Io
        }
        StreamError::FlowControl | StreamError::Connection(..) | StreamError::Closed => {
            tracing::debug!(error = %e, "HTTP/2 stream failed");
            ClientFailure::Io
        }
    }
}

/// How an RST_STREAM shows as the example of its `h2_reset` row.
pub(crate) fn reset_text(code: u32) -> String {
    match ninefold_http2::frame::code_name(code) {
        Some(name) => format!("RST_STREAM {name} (error code {code:#x})"),
        None => format!("RST_STREAM Reason({code:#x}) (error code {code:#x})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ends_map_to_the_outcomes() {
        assert_eq!(failure(StreamError::Reset(7)), ClientFailure::H2Reset(7));
        assert_eq!(failure(StreamError::GoAway(0)), ClientFailure::H2Goaway);
        // Errors made or found by the client itself are I/O errors.
        assert_eq!(failure(StreamError::Malformed("x")), ClientFailure::Io);
        assert_eq!(failure(StreamError::Connection(1, "x")), ClientFailure::Io);
        assert_eq!(failure(StreamError::Closed), ClientFailure::Io);
    }

    #[test]
    fn an_answer_finds_its_instance_as_the_http1_parser_would() {
        let head = b"HTTP/1.1 200 \r\nserver: x\r\nx-backend-instance: b-2\r\nx-backend-instance: b-3\r\n\r\n";
        let a = answer(ninefold_http2::Response {
            status: 200,
            head: head.to_vec(),
            body: None,
        });
        let parsed = Answer::from_head(head, None).unwrap();
        assert_eq!(a.instance(), Some(&b"b-2"[..]));
        assert_eq!(a.instance(), parsed.instance());
        assert_eq!(a.header("server"), Some(&b"x"[..]));
        let none = answer(ninefold_http2::Response {
            status: 204,
            head: b"HTTP/1.1 204 \r\n\r\n".to_vec(),
            body: None,
        });
        assert_eq!((none.status, none.instance()), (204, None));
    }

    #[test]
    fn a_reset_reads_as_its_code() {
        assert_eq!(reset_text(7), "RST_STREAM REFUSED_STREAM (error code 0x7)");
        assert_eq!(
            reset_text(0x42),
            "RST_STREAM Reason(0x42) (error code 0x42)"
        );
    }
}
