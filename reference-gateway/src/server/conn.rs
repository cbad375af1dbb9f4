//! One client connection, HTTP/1.1 keep-alive, served in its own task the way nginx's
//! HTTP module serves it: a socket, a read buffer and a write buffer. Each request head is
//! parsed in place ([`super::wire`]); its body is read from the same buffer by the stack,
//! through [`ReqBody`], only when the stack asks for it; the response head and a body that
//! is already complete go out in one `write`. hyper's server connection, which this
//! replaces, was a third of the gateway's instructions per request.
//!
//! Timers: a client must send a whole request head within `header_read_timeout` (counted
//! from the accept for the first request, from its first byte for later ones, against
//! slowloris); an idle keep-alive connection closes after [`KEEPALIVE_TIMEOUT`]; a client
//! that does not read its response for [`SEND_TIMEOUT`] is cut off. The connection's one
//! `Sleep` is moved on only when it fires early, not reset per request.
//!
//! A request whose body was not read (refused before it: 413 by `Content-Length`, 401,
//! 503…) ends the connection after its response, with a lingering close so that the
//! unread body does not turn the close into a reset that loses the response.

use std::future::Future;
use std::io::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use super::stream::Stream;
use super::wire::{self, BodyOut, HeadLimits, Parsed, Scratch, WireError};
use crate::body::Response;
use crate::pipeline::{Added, ConnTimer, Pipeline};
use ninefold_http1::{BodyDecoder, DateCache, Decoded, Framing};

/// An idle keep-alive connection closes after this long (nginx's `keepalive_timeout`).
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(75);
/// A client that accepts none of its response for this long is cut off (nginx's
/// `send_timeout`).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a closing connection reads and discards what the client still sends.
const LINGER_TIMEOUT: Duration = Duration::from_secs(2);
/// The most a lingering close discards.
const LINGER_BYTES: usize = 1 << 20;
/// Body data up to this size is copied behind the head into one `write`.
const COALESCE: usize = 16 * 1024;

/// What a connection needs to know of the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConnConfig {
    /// The backstop on request heads.
    pub head: HeadLimits,
    /// Time allowed for a whole request head.
    pub header_read_timeout: Duration,
}

/// The read side: the socket, what was read and not consumed, the current body's framing.
struct Io {
    stream: Stream,
    read: BytesMut,
    body: BodyDecoder,
    /// Bytes of `100 Continue` still to send before the body is read.
    continue_left: usize,
    /// A plain connection none of whose bytes were taken for HTTP/1 yet: it may
    /// still turn out to be h2c.
    fresh: bool,
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl Io {
    /// A connection's read side, before its first request.
    #[inline]
    fn new(stream: Stream) -> Self {
        Io {
            fresh: matches!(stream, Stream::Plain(_)),
            stream,
            read: BytesMut::with_capacity(ninefold_http1::READ_CHUNK),
            body: BodyDecoder::new(Framing::Empty),
            continue_left: 0,
        }
    }

    /// Ready to read the body of a request with `framing` (chunked bodies are held to
    /// the pipeline's body limit), answering `Expect: 100-continue` when the body is read.
    #[inline]
    fn expect_body(&mut self, framing: Framing, expect_continue: bool, pipeline: &Pipeline) {
        let body = BodyDecoder::new(framing);
        self.body = if framing == Framing::Chunked {
            // A chunk announced past the body limit is refused (413) on its size line.
            body.with_limit(pipeline.max_body_bytes())
        } else {
            body
        };
        self.continue_left = if expect_continue { CONTINUE.len() } else { 0 };
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        ninefold_http1::poll_fill(&mut self.stream, &mut self.read, cx)
    }
}

/// A request's body, read from its connection when the stack polls it (`Expect:
/// 100-continue` is answered then).
pub struct ReqBody<'a>(&'a mut Io);

impl hyper::body::Body for ReqBody<'_> {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let io = &mut *self.get_mut().0;
        while io.continue_left > 0 {
            let from = CONTINUE.len() - io.continue_left;
            match Pin::new(&mut io.stream).poll_write(cx, &CONTINUE[from..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Some(Err(std::io::ErrorKind::WriteZero.into())));
                }
                Poll::Ready(Ok(n)) => io.continue_left -= n,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                Poll::Pending => return Poll::Pending,
            }
        }
        loop {
            match io.body.decode(&mut io.read) {
                Ok(Decoded::Data(n)) => {
                    return Poll::Ready(Some(Ok(Frame::data(io.read.split_to(n).freeze()))));
                }
                Ok(Decoded::Done) => return Poll::Ready(None),
                Ok(Decoded::NeedMore) => match io.poll_fill(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Some(Err(std::io::ErrorKind::UnexpectedEof.into())));
                    }
                    Poll::Ready(Ok(_)) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                },
                Err(e) => {
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        e,
                    ))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.body.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        match self.0.body.remaining() {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// What waiting for a request head ended with.
// The large variant is the common one; boxing it would allocate per request.
#[allow(clippy::large_enum_variant)]
enum Next {
    Request(Parsed),
    Refused(WireError),
    /// Timed out part-way through a head: 408, then close.
    TimedOut,
    /// End of input, idle timeout, drain while idle, or a failed socket: close.
    Close,
    /// A plain connection that opened with the HTTP/2 preface (h2c, prior knowledge).
    H2,
}

/// The connection's timer and shutdown signal while it waits for a request head.
struct Waiter<'a> {
    sleep: Pin<Box<Sleep>>,
    cancelled: Pin<Box<tokio_util::sync::WaitForCancellationFuture<'a>>>,
    draining: bool,
}

enum Woke {
    Read(std::io::Result<usize>),
    TimedOut,
    Drain,
}

impl Waiter<'_> {
    /// Reads more of the head, until `deadline`; stops for a drain only when `idle`.
    async fn fill(&mut self, io: &mut Io, deadline: Instant, idle: bool) -> Woke {
        if self.sleep.deadline() > deadline {
            self.sleep.as_mut().reset(deadline);
        }
        std::future::poll_fn(|cx| {
            // Bytes first: a request that arrived before the drain is served, not dropped.
            if let Poll::Ready(r) = io.poll_fill(cx) {
                return Poll::Ready(Woke::Read(r));
            }
            if !self.draining && self.cancelled.as_mut().poll(cx).is_ready() {
                self.draining = true;
            }
            if self.draining && idle {
                return Poll::Ready(Woke::Drain);
            }
            // Armed at or before this deadline: fired early means moved on, not timed out.
            while self.sleep.as_mut().poll(cx).is_ready() {
                if Instant::now() >= deadline {
                    return Poll::Ready(Woke::TimedOut);
                }
                self.sleep.as_mut().reset(deadline);
            }
            Poll::Pending
        })
        .await
    }
}

/// Serves `stream` until the client leaves, a timeout, an error, or a drain. A plain
/// connection that opens with the HTTP/2 preface is handed back with what was read
/// of it, for [`super::h2`].
// Long: the connection's one request loop: its timers, refusals and close rules in one place.
pub async fn serve(
    stream: Stream,
    pipeline: &Pipeline,
    cfg: ConnConfig,
    shutdown: &CancellationToken,
) -> Option<(Stream, Bytes)> {
    let accepted = Instant::now();
    let mut io = Io::new(stream);
    let mut waiter = Waiter {
        sleep: Box::pin(tokio::time::sleep_until(accepted + cfg.header_read_timeout)),
        cancelled: Box::pin(shutdown.cancelled()),
        draining: false,
    };
    let mut out = Vec::with_capacity(1024);
    let mut scratch = Scratch::default();
    let mut date = DateCache::default();
    let timer = ConnTimer::default();
    // When the current head began to arrive (`None` while idle between requests).
    let mut head_started = Some(accepted);
    loop {
        let next = next_request(&mut io, cfg, &mut scratch, &mut waiter, &mut head_started).await;
        let parsed = match next {
            Next::Request(p) => p,
            Next::Refused(e) => {
                tracing::debug!(error = %e, "request head refused");
                let resp = refusal(e.status(), &e.to_string());
                return refuse(io.stream, resp, &mut date, &mut out).await;
            }
            Next::TimedOut => {
                let resp = refusal(
                    StatusCode::REQUEST_TIMEOUT,
                    "request head not received in time",
                );
                return refuse(io.stream, resp, &mut date, &mut out).await;
            }
            Next::Close => return None,
            Next::H2 => return Some((io.stream, io.read.freeze())),
        };
        head_started = None;
        let Parsed {
            request,
            framing,
            keep_alive,
            expect_continue,
        } = parsed;
        let head_request = request.method() == Method::HEAD;
        let http10 = request.version() == Version::HTTP_10;
        io.expect_body(framing, expect_continue, pipeline);
        let answer = pipeline
            .call_on(request.map(|()| ReqBody(&mut io)), &timer)
            .await;
        let body_read = io.body.is_done();
        waiter.draining |= shutdown.is_cancelled();
        let close = !keep_alive || !body_read || waiter.draining;
        let res = write_response(
            &mut io.stream,
            answer.response,
            Some(&answer.added),
            head_request,
            close || http10,
            &mut date,
            &mut out,
        )
        .await;
        match res {
            Ok(true) if !close => {}
            Ok(_) if body_read && io.read.is_empty() => {
                let _ = io.stream.shutdown().await;
                return None;
            }
            Ok(_) => {
                linger(io.stream).await;
                return None;
            }
            Err(e) => {
                tracing::debug!(error = %e, "response not delivered");
                return None;
            }
        }
    }
}

/// The next request head: parsed from what is buffered, else read within the timers.
async fn next_request(
    io: &mut Io,
    cfg: ConnConfig,
    scratch: &mut Scratch,
    waiter: &mut Waiter<'_>,
    head_started: &mut Option<Instant>,
) -> Next {
    loop {
        // The first bytes of a plain connection may be HTTP/2's preface (h2c).
        let h2 = if io.fresh && !io.read.is_empty() {
            super::h2::preface(&io.read)
        } else {
            None
        };
        if h2 == Some(true) {
            return Next::H2;
        }
        if h2.is_none() && !io.read.is_empty() {
            io.fresh = false;
            match wire::parse_request(&mut io.read, cfg.head, scratch) {
                Ok(Some(p)) => return Next::Request(p),
                Ok(None) => {}
                Err(e) => return Next::Refused(e),
            }
        }
        // A pipelined request's head that came in part with the previous request is
        // already under way: it is held to the head timeout from now, not idle.
        if head_started.is_none() && !io.read.is_empty() {
            *head_started = Some(Instant::now());
        }
        let (deadline, idle) = match *head_started {
            Some(t) => (t + cfg.header_read_timeout, false),
            None => (Instant::now() + KEEPALIVE_TIMEOUT, true),
        };
        match waiter.fill(io, deadline, idle).await {
            Woke::Read(Ok(0)) | Woke::Read(Err(_)) | Woke::Drain => return Next::Close,
            Woke::Read(Ok(_)) => {
                if head_started.is_none() {
                    *head_started = Some(Instant::now());
                }
            }
            Woke::TimedOut if io.read.is_empty() => return Next::Close,
            Woke::TimedOut => return Next::TimedOut,
        }
    }
}

/// Answers a request head that was refused before the stack saw it, then closes
/// (the connection is not handed on: `None`).
async fn refuse(
    mut stream: Stream,
    resp: Response,
    date: &mut DateCache,
    out: &mut Vec<u8>,
) -> Option<(Stream, Bytes)> {
    let _ = write_response(&mut stream, resp, None, false, true, date, out).await;
    linger(stream).await;
    None
}

/// A refusal the stack never saw (the head could not be parsed), with the stack's JSON.
fn refusal(status: StatusCode, message: &str) -> Response {
    let code = match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::NOT_IMPLEMENTED => "not_implemented",
        StatusCode::EXPECTATION_FAILED => "expectation_failed",
        _ => "bad_request",
    };
    crate::pipeline::rescue::json(status, code, message, "client")
}

/// Writes `resp` with the `added` fields; `Ok(true)` when the connection can carry another
/// request. `close` asks for `Connection: close` (and forbids chunked, for an HTTP/1.0
/// client, by the caller).
pub(crate) async fn write_response(
    stream: &mut Stream,
    resp: Response,
    added: Option<&Added>,
    head_request: bool,
    close: bool,
    date: &mut DateCache,
    out: &mut Vec<u8>,
) -> std::io::Result<bool> {
    let (parts, mut body) = resp.into_parts();
    let status = parts.status;
    let mut close = close || status == StatusCode::SWITCHING_PROTOCOLS;
    let plan = body_plan(status, head_request, &body, close);
    close |= plan == BodyOut::UntilClose;
    out.clear();
    wire::encode_head(&parts, added, plan, close, date, out);
    ninefold_http1::recycle(parts.headers);
    if plan == BodyOut::None {
        drop(body);
        send(stream, out).await?;
        return Ok(!close);
    }
    send_body(stream, &mut body, plan, out).await?;
    Ok(!close)
}

/// How the body of a response with `status` goes out.
#[inline]
fn body_plan(
    status: StatusCode,
    head_request: bool,
    body: &crate::body::Body,
    close: bool,
) -> BodyOut {
    if head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        BodyOut::None
    } else if let Some(n) = hyper::body::Body::size_hint(body).exact() {
        BodyOut::Length(n)
    } else if close {
        BodyOut::UntilClose
    } else {
        BodyOut::Chunked
    }
}

/// Writes the body after the head already in `out`, framed by `plan`: small data rides
/// in the head's `write`, large data goes out on its own.
async fn send_body(
    stream: &mut Stream,
    body: &mut crate::body::Body,
    plan: BodyOut,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let mut sent: u64 = 0;
    loop {
        let data = match body.frame().await {
            None => break,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                // Trailers are not forwarded.
                Err(_) => continue,
            },
            Some(Err(e)) => {
                // The head may be out already: the client must see a cut body, not an end.
                send(stream, out).await?;
                return Err(e);
            }
        };
        if let BodyOut::Length(n) = plan
            && sent + data.len() as u64 > n
        {
            send(stream, out).await?;
            return Err(std::io::Error::other("body longer than its length"));
        }
        sent += data.len() as u64;
        if plan == BodyOut::Chunked && !data.is_empty() {
            let _ = write!(out, "{:x}\r\n", data.len());
        }
        if data.len() <= COALESCE {
            out.extend_from_slice(&data);
        } else {
            send(stream, out).await?;
            out.clear();
            send(stream, &data).await?;
        }
        if plan == BodyOut::Chunked && !data.is_empty() {
            out.extend_from_slice(b"\r\n");
        }
        if hyper::body::Body::is_end_stream(&body) {
            break;
        }
        // More is coming: what we have goes out now, not when the body ends.
        send(stream, out).await?;
        out.clear();
    }
    if plan == BodyOut::Chunked {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    send(stream, out).await?;
    if let BodyOut::Length(n) = plan
        && sent != n
    {
        return Err(std::io::Error::other("body shorter than its length"));
    }
    Ok(())
}

/// Writes all of `buf`, waiting at most [`SEND_TIMEOUT`] each time the socket is full.
#[inline]
async fn send(stream: &mut Stream, buf: &[u8]) -> std::io::Result<()> {
    stream.send(buf, SEND_TIMEOUT).await
}

/// Closes after reading and discarding what the client still sends (bounded in time and
/// bytes), so that the response already written is not lost to a reset.
pub(crate) async fn linger(mut stream: Stream) {
    let _ = stream.shutdown().await;
    let mut buf = [0u8; 4096];
    let drain = async {
        let mut total = 0;
        while total < LINGER_BYTES {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIMEOUT, drain).await;
}
