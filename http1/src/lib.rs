//! HTTP/1.1 message code shared by ninefold's reference gateway (its server side and its
//! upstream client) and ninefold's load engine: heads parsed in place with `httparse`
//! (hyper's parser), bodies' framing decoded without copying, the write and buffer
//! helpers both sides use. Gateway policy (which fields a client may send on, `Expect`,
//! routing on a normalized target, status codes) stays in the gateway; this crate says
//! only what a message is and how its body is framed.
//!
//! Strict by default: what two readers could frame differently is refused, not guessed.
//!
//! # Requests ([`parse_request_head`])
//! - The request line: `httparse` with single spaces between its parts (RFC 9112 §3);
//!   `HTTP/1.0` or `HTTP/1.1`. Field names are tokens, values have no control bytes;
//!   obs-fold and a space before the colon are refused (RFC 9112 §5.1, §5.2).
//! - Limits: the head's bytes and field lines ([`RequestLimits`]), refused as
//!   [`RequestError::TooLarge`] (past the byte limit even before the head is complete).
//! - Exactly one `Host` on HTTP/1.1, at most one on HTTP/1.0 (RFC 9112 §3.2).
//! - Framing (RFC 9112 §6.1–6.3): `Transfer-Encoding` exactly `chunked` on one field line
//!   (anything else is [`RequestError::UnsupportedCoding`]; in HTTP/1.0 it is refused);
//!   `Content-Length` `1*DIGIT` only (no sign, list or junk; nothing past `u64`), equal
//!   duplicates read once, differing ones refused; both framings at once refused
//!   (request smuggling); neither means no body.
//! - `Connection: close` / `keep-alive` decide persistence (RFC 9112 §9.3).
//!
//! # Answers ([`parse_head`], [`parse_head_with`])
//! - The status line: `HTTP/1.0` or `HTTP/1.1`, a status in `100..=599` (RFC 9110 §15).
//! - Framing (RFC 9112 §6.3): no body for HEAD, 1xx, 204 and 304; chunked when it is the
//!   final transfer coding, else the body runs to the end of the connection;
//!   `Content-Length` as for requests; `Transfer-Encoding` with `Content-Length` is
//!   refused, not framed by either (§6.3 ¶3); `Transfer-Encoding` in an HTTP/1.0 answer
//!   is refused (§6.1: faulty framing).
//!
//! # Bodies ([`BodyDecoder`])
//! Length, chunked or close-delimited. Chunk sizes are at most 16 hex digits; a size
//! line ends in CRLF, and a bare LF inside its extension is refused (extensions are
//! otherwise ignored, RFC 9112 §7.1.1); chunk data ends in CRLF; each trailer line must
//! be a field line (token, colon, value without control bytes; §7.1.2); trailers are
//! read and dropped. [`BodyDecoder::with_limit`] refuses a chunked body whose announced
//! sizes and trailers pass a limit, on the size line, before its data. A body cut short
//! by the end of the connection is [`H1Error::Truncated`].
//!
//! # Leniencies kept
//! Only what RFC 9112 lets a recipient do: a bare LF ends a head's line (§2.2 "MAY";
//! `httparse` has no switch to refuse it, hyper accepts it too); leading and trailing
//! blanks around field values are dropped (§5.1); equal duplicate `Content-Length`
//! values are read once (RFC 9110 §8.6).
//!
//! # Checked against hyper
//! `tests/differential` feeds generated requests and answers, valid and near-valid
//! (duplicate or conflicting lengths, signs, lists, blanks, obs-fold, bare LF, codings,
//! bad token bytes, huge numbers, chunk-size lines with extensions, trailers), to this
//! crate, to `httparse` and to hyper's server and client over an in-memory duplex: the
//! same accept or refuse, and the same method, target, status, fields and body when
//! both accept. We are deliberately stricter than hyper (we refuse, hyper accepts) in
//! these classes only:
//! - `Content-Length` as a list (`5, 5`): hyper reads equal list items as one length;
//! - `Transfer-Encoding` with `Content-Length`: hyper lets the coding win;
//! - requests: `Host` other than exactly one; a transfer coding other than exactly
//!   `chunked` on one line (hyper decodes `gzip, chunked` or split lines as chunked);
//! - answers: framing fields on a 204 or 304 are still checked (hyper ignores them);
//!   a status of 600 to 999;
//! - chunk sizes of more than 16 hex digits (leading zeros); a bare LF inside a trailer
//!   section (hyper reads it as a line end).
//!
//! hyper is stricter in one class: a `Content-Length` of 2^64 − 2 or more (values hyper
//! reserves internally), which this crate reads as a length; any body limit refuses it.

use std::ops::Range;

use bytes::{Buf, BytesMut};

mod request;
pub use request::{RequestError, RequestHead, RequestLimits, parse_request_head};

/// The largest response head accepted: a longer one is an error, not a buffer that grows.
pub const MAX_HEAD: usize = 64 * 1024;
/// Headers per answer (hyper's default).
pub const MAX_HEADERS: usize = 100;

/// Why an answer cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum H1Error {
    #[error("malformed response head: {0}")]
    Head(&'static str),
    #[error("response head longer than {MAX_HEAD} bytes")]
    HeadTooLong,
    #[error("malformed chunked body")]
    Chunk,
    #[error("connection closed before the answer was complete")]
    Truncated,
    /// The chunks announced (and trailers sent) so far exceed the decoder's limit
    /// ([`BodyDecoder::with_limit`]).
    #[error("chunked body larger than {0} bytes")]
    BodyTooLarge(u64),
}

/// How an answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    Chunked,
    /// Runs to the end of the connection.
    Eof,
}

/// A parsed response head: its facts (status, framing… read through `Deref`) and where
/// each header lies.
#[derive(Debug, Clone)]
pub struct Head {
    /// Status, version, framing, length of the head.
    pub facts: HeadFacts,
    /// Where each header's name and value lie in the buffer the head was parsed from.
    pub headers: Vec<(Range<usize>, Range<usize>)>,
}

impl std::ops::Deref for Head {
    type Target = HeadFacts;

    fn deref(&self) -> &HeadFacts {
        &self.facts
    }
}

/// What a response head says besides its header list (see [`parse_head_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadFacts {
    /// Bytes the head took, through the empty line.
    pub len: usize,
    pub status: u16,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// The body's framing for a request other than HEAD.
    pub framing: Framing,
    /// The connection closes after this answer (`Connection: close`, HTTP/1.0 without
    /// keep-alive, 101).
    pub close: bool,
}

impl HeadFacts {
    /// An interim answer (100 Continue, 103 Early Hints): the real one follows.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }

    /// The framing for an answer to a request with method HEAD or not.
    pub fn framing_for(&self, head_request: bool) -> Framing {
        if head_request {
            Framing::Empty
        } else {
            self.framing
        }
    }
}

/// Parse a response head at the start of `buf`: `None` while incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, H1Error> {
    let base = buf.as_ptr() as usize;
    let span = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    let mut headers = Vec::with_capacity(8);
    let facts = parse_head_with(buf, |name, value| headers.push((span(name), span(value))))?;
    Ok(facts.map(|facts| Head { facts, headers }))
}

/// [`parse_head`] without building a header list: `on_header(name, value)` sees each
/// header of a complete head (slices of `buf`, in order), and nothing while the head is
/// incomplete. For a reader that keeps one or two headers of every answer, this spares
/// the list's allocation.
///
/// On an error `on_header` may already have seen some headers: discard what it kept.
pub fn parse_head_with<F>(buf: &[u8], mut on_header: F) -> Result<Option<HeadFacts>, H1Error>
where
    F: FnMut(&[u8], &[u8]),
{
    let mut slots =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(H1Error::HeadTooLong),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(H1Error::Head("too many headers")),
        Err(_) => return Err(H1Error::Head("not an HTTP/1 response")),
    };
    if len > MAX_HEAD {
        return Err(H1Error::HeadTooLong);
    }
    let status = response.code.ok_or(H1Error::Head("no status"))?;
    // RFC 9110 §15: "All valid status codes are within the range of 100 to 599".
    if !(100..=599).contains(&status) {
        return Err(H1Error::Head("status code outside 100..=599"));
    }
    let version = response.version.unwrap_or(1);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut close = version == 0;
    for h in response.headers.iter() {
        let name = h.name.as_bytes();
        // The three names framing depends on differ in length: most headers are passed
        // over on their length alone.
        match name.len() {
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                let n = content_length(h.value)?;
                // Differing lengths are a framing attack, not an answer.
                if length.is_some_and(|l| l != n) {
                    return Err(H1Error::Head("conflicting content-length"));
                }
                length = Some(n);
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                transfer_encoding = true;
                // Chunked counts only as the final coding.
                chunked = h
                    .value
                    .rsplit(|&b| b == b',')
                    .next()
                    .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in h.value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") && version == 0 {
                        close = false;
                    }
                }
            }
            _ => {}
        }
        on_header(name, h.value);
    }
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing (hyper
    // refuses it too).
    if transfer_encoding && version == 0 {
        return Err(H1Error::Head("transfer-encoding in HTTP/1.0"));
    }
    // Both framings at once (RFC 9112 §6.3 ¶3: "ought to be handled as an error"): the
    // answer is refused, so its connection is closed and never reused.
    if transfer_encoding && length.is_some() {
        return Err(H1Error::Head("both transfer-encoding and content-length"));
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Empty
    } else if transfer_encoding {
        if chunked {
            Framing::Chunked
        } else {
            Framing::Eof
        }
    } else {
        match length {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::Eof,
        }
    };
    Ok(Some(HeadFacts {
        len,
        status,
        version,
        framing,
        close: close || status == 101,
    }))
}

/// A `Content-Length` value: `1*DIGIT` (RFC 9110 §8.6) between optional blanks, and
/// nothing else. No sign (`+5` is what hyper refused as CVE-2021-32715), no list, no
/// junk before or after the digits, nothing past `u64::MAX`: a length two parsers could
/// read differently is a framing attack, not an answer.
fn content_length(value: &[u8]) -> Result<u64, H1Error> {
    length_digits(value).ok_or(H1Error::Head("invalid content-length"))
}

/// `1*DIGIT` between optional blanks (spaces and tabs, RFC 9110 §5.6.3), as a `u64`.
fn length_digits(value: &[u8]) -> Option<u64> {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !ows(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    let digits = &value[start..end];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// What [`BodyDecoder::decode`] found at the start of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// The first `n` bytes of the buffer are body data: take them (`split_to`) or skip them.
    Data(usize),
    /// More bytes must be read first.
    NeedMore,
    /// The body is complete; the buffer holds what follows it.
    Done,
}

/// Decodes a body's framing from a read buffer, piece by piece, without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyDecoder {
    state: State,
    /// Most bytes of chunk data and trailers accepted, when limited.
    limit: Option<u64>,
    /// Chunk data announced and trailer bytes seen so far.
    counted: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers,
    Eof,
    Done,
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`.
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::Eof => State::Eof,
        };
        BodyDecoder {
            state,
            limit: None,
            counted: 0,
        }
    }

    /// Refuses a chunked body once the chunk sizes it announces plus its trailers add up
    /// to more than `limit` bytes: as soon as such a chunk's size line is read, before its
    /// data ([`H1Error::BodyTooLarge`]).
    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Counts `n` more bytes against the limit.
    fn count(&mut self, n: u64) -> Result<(), H1Error> {
        self.counted = self.counted.saturating_add(n);
        match self.limit {
            Some(limit) if self.counted > limit => Err(H1Error::BodyTooLarge(limit)),
            _ => Ok(()),
        }
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes still expected, when known.
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// The next piece of the body at the start of `buf`. Framing bytes (chunk sizes,
    /// their line ends, trailers) are consumed here; data is left for the caller to take.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, H1Error> {
        loop {
            match self.state {
                State::Done => return Ok(Decoded::Done),
                State::Length(left) | State::ChunkData(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let left = left - n as u64;
                    self.state = match self.state {
                        State::Length(_) if left == 0 => State::Done,
                        State::Length(_) => State::Length(left),
                        _ if left == 0 => State::ChunkEnd,
                        _ => State::ChunkData(left),
                    };
                    return Ok(Decoded::Data(n));
                }
                State::Eof => {
                    return Ok(if buf.is_empty() {
                        Decoded::NeedMore
                    } else {
                        Decoded::Data(buf.len())
                    });
                }
                State::ChunkSize => match httparse::parse_chunk_size(buf) {
                    // A bare LF inside the size line's extension: `httparse` skips
                    // it, a reader that ends lines at LF would not (hyper refuses it).
                    Ok(httparse::Status::Complete((used, _)))
                        if buf[..used - 2].contains(&b'\n') =>
                    {
                        return Err(H1Error::Chunk);
                    }
                    Ok(httparse::Status::Complete((used, size))) => {
                        self.count(size)?;
                        buf.advance(used);
                        self.state = if size == 0 {
                            State::Trailers
                        } else {
                            State::ChunkData(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => {
                        return Ok(Decoded::NeedMore);
                    }
                    _ => return Err(H1Error::Chunk),
                },
                State::ChunkEnd => {
                    if buf.len() < 2 {
                        return Ok(Decoded::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(H1Error::Chunk);
                    }
                    buf.advance(2);
                    self.state = State::ChunkSize;
                }
                // Trailer lines, then the empty line.
                State::Trailers => match buf.windows(2).position(|w| w == b"\r\n") {
                    Some(0) => {
                        buf.advance(2);
                        self.state = State::Done;
                    }
                    Some(end) => {
                        self.count(end as u64 + 2)?;
                        if !is_field_line(&buf[..end]) {
                            return Err(H1Error::Chunk);
                        }
                        buf.advance(end + 2);
                    }
                    None if self
                        .limit
                        .is_some_and(|l| self.counted + buf.len() as u64 > l) =>
                    {
                        return Err(H1Error::BodyTooLarge(self.limit.unwrap_or_default()));
                    }
                    None if buf.len() <= MAX_HEAD => return Ok(Decoded::NeedMore),
                    None => return Err(H1Error::Chunk),
                },
            }
        }
    }

    /// The connection ended: fine where the body runs to its end, else truncated.
    pub fn end_of_input(&mut self) -> Result<(), H1Error> {
        match self.state {
            State::Eof | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(H1Error::Truncated),
        }
    }
}

/// A trailer field line (RFC 9112 §7.1.2, RFC 9110 §5.5): a token, a colon, a value of
/// visible characters, blanks and obs-text; no control byte (so no bare LF, no obs-fold).
fn is_field_line(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    let tchar = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    !name.is_empty()
        && name.iter().all(tchar)
        && value
            .iter()
            .all(|&b| b == b'\t' || (b >= b' ' && b != 0x7f))
}

/// Header names one connection has received, kept as they came (in their case), so that
/// a peer sending the same fields in every message costs a comparison per field rather
/// than `HeaderName::from_bytes` (a lower-casing match, and an allocation for a name it
/// does not know): ~550 instructions per answer of three fields. Bounded: past
/// [`NameCache::CAPACITY`] names, new ones are made and not kept.
#[derive(Default)]
pub struct NameCache {
    seen: Vec<(Box<[u8]>, http::HeaderName)>,
}

impl NameCache {
    /// Names kept per connection.
    pub const CAPACITY: usize = 32;

    /// The header name `raw` (as received).
    pub fn get(&mut self, raw: &[u8]) -> Result<http::HeaderName, http::header::InvalidHeaderName> {
        if let Some((_, name)) = self.seen.iter().find(|(r, _)| **r == *raw) {
            return Ok(name.clone());
        }
        let name = http::HeaderName::from_bytes(raw)?;
        if self.seen.len() < Self::CAPACITY {
            self.seen.push((raw.into(), name.clone()));
        }
        Ok(name)
    }
}

/// `n` in decimal, in `buf` (for heads and header values, without a `String` each).
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// `n` as a header value: one allocation of its digits (`HeaderValue::from(u64)` grows a
/// buffer to write them).
pub fn header_value_u64(n: u64) -> http::HeaderValue {
    http::HeaderValue::from_bytes(decimal(n, &mut [0; 20]))
        .unwrap_or(http::HeaderValue::from_static("0"))
}

/// Spare header maps kept per thread (see [`header_map`]).
const SPARE_MAPS: usize = 64;
/// A map that grew past this many fields is dropped, not kept: one large message must
/// not pin its memory for the rest of the thread's life.
const SPARE_MAP_FIELDS: usize = 96;

thread_local! {
    static SPARE_MAPS_HERE: std::cell::RefCell<Vec<http::HeaderMap>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty header map with room for `fields`: one a finished message gave back on this
/// thread ([`recycle`]) when there is one. A new map costs two allocations (its index and
/// its entries) and two frees later; the gateway builds two per request (the request's
/// and the upstream's answer's).
pub fn header_map(fields: usize) -> http::HeaderMap {
    let spare = SPARE_MAPS_HERE.with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()));
    match spare {
        Some(mut map) => {
            if map.capacity() < fields {
                map.reserve(fields);
            }
            map
        }
        None => http::HeaderMap::with_capacity(fields),
    }
}

/// Gives a finished message's map back to [`header_map`], emptied (its values released
/// now); dropped instead when this thread keeps enough or the map grew large.
pub fn recycle(mut map: http::HeaderMap) {
    if map.capacity() > SPARE_MAP_FIELDS {
        return;
    }
    SPARE_MAPS_HERE.with(|s| {
        if let Ok(mut s) = s.try_borrow_mut()
            && s.len() < SPARE_MAPS
        {
            map.clear();
            s.push(map);
        }
    });
}

/// Read granularity of a message's buffer (client and server side alike).
pub const READ_CHUNK: usize = 16 * 1024;

/// Reads more of a message into `buf`, growing it by [`READ_CHUNK`] when less than a
/// quarter of that is free.
pub fn poll_fill<R>(
    io: &mut R,
    buf: &mut BytesMut,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<std::io::Result<usize>>
where
    R: tokio::io::AsyncRead + Unpin,
{
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    tokio_util::io::poll_read_buf(std::pin::Pin::new(io), cx, buf)
}

/// Writes all of `buf`: at once while the socket has room (one readiness check, then the
/// `write`; no future, no cooperative-budget check), else when it is writable again, each
/// wait bounded by `wait_limit` when there is one (`TimedOut` past it).
pub async fn send(
    stream: &tokio::net::TcpStream,
    mut buf: &[u8],
    wait_limit: Option<std::time::Duration>,
) -> std::io::Result<()> {
    while !buf.is_empty() {
        match stream.try_write(buf) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => match wait_limit {
                None => stream.writable().await?,
                Some(limit) => match tokio::time::timeout(limit, stream.writable()).await {
                    Ok(r) => r?,
                    Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
                },
            },
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Hop-by-hop fields (RFC 9110 §7.6.1): one connection's, never forwarded.
pub fn is_hop_by_hop(name: &http::HeaderName) -> bool {
    use http::header::{CONNECTION, TE, TRANSFER_ENCODING, UPGRADE};
    name == CONNECTION
        || name == TRANSFER_ENCODING
        || name == TE
        || name == UPGRADE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// The fields a message's `Connection` headers name, hop-by-hop too; empty (no
/// allocation) when it has no `Connection` header, the common case.
pub fn connection_named(headers: &http::HeaderMap) -> Vec<http::HeaderName> {
    use http::header::CONNECTION;
    if !headers.keys().any(|n| n == CONNECTION) {
        return Vec::new();
    }
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(','))
        .filter_map(|n| http::HeaderName::try_from(n.trim()).ok())
        .collect()
}

#[cfg(test)]
#[path = "lib_tests.rs"]
mod tests;
