//! Request heads: parsed in place with `httparse` (hyper's parser, strict request-line
//! delimiters), framed by RFC 9112 §6 with nothing guessed.

use std::ops::Range;

use crate::Framing;
use crate::response::length_digits;

/// Why a request head is refused. Each maps to one status (the server's to choose:
/// 400, 431, 501); the connection then closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not a well-formed or unambiguously framed HTTP/1 request (400).
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// The head is longer than [`RequestLimits::max_bytes`] or has more fields than
    /// [`RequestLimits::max_headers`] (431).
    #[error("request head too large: {0}")]
    TooLarge(&'static str),
    /// A transfer coding other than exactly `chunked` (501).
    #[error("unsupported transfer coding")]
    UnsupportedCoding,
}

/// Limits on a request head.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Bytes through the empty line.
    pub max_bytes: usize,
    /// Header lines.
    pub max_headers: usize,
}

/// What a request head says besides its fields (which [`parse_request_head`] hands to
/// its callback). Ranges point into the buffer the head was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Bytes the head took, through the empty line.
    pub len: usize,
    /// The method's bytes (a token, checked by `httparse`).
    pub method: Range<usize>,
    /// The request target's bytes, as sent.
    pub target: Range<usize>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// How its body is framed.
    pub framing: Framing,
    /// The client asked to keep the connection open (HTTP/1.1 unless `Connection: close`;
    /// HTTP/1.0 only with `Connection: keep-alive`).
    pub keep_alive: bool,
}

/// Parses the request head at the start of `buf`: `None` while incomplete (nothing is
/// consumed; the caller takes `len` bytes off once it has what it needs).
///
/// `on_field(name, value)` sees every field line of a complete head in order (slices of
/// `buf`), after the framing fields among them were checked; its error ends the parse.
/// On an error it may already have seen some fields: discard what it kept.
pub fn parse_request_head<'b, E, F>(
    buf: &'b [u8],
    limits: RequestLimits,
    mut on_field: F,
) -> Result<Option<RequestHead>, E>
where
    E: From<RequestError>,
    F: FnMut(&'b [u8], &'b [u8]) -> Result<(), E>,
{
    // Twice the default limit fits on the stack (8 KiB of slots, uninitialised): only a
    // configured limit above that needs the heap, per request.
    const STACK_HEADERS: usize = 256;
    let mut stack =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    let mut heap = Vec::new();
    let slots = if limits.max_headers <= STACK_HEADERS {
        &mut stack[..limits.max_headers]
    } else {
        heap.resize_with(limits.max_headers, std::mem::MaybeUninit::uninit);
        &mut heap[..]
    };
    let mut req = httparse::Request::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .allow_multiple_spaces_in_request_line_delimiters(false)
        .parse_request_with_uninit_headers(&mut req, buf, slots);
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) if len > limits.max_bytes => {
            return Err(RequestError::TooLarge("head longer than the limit").into());
        }
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > limits.max_bytes => {
            return Err(RequestError::TooLarge("head longer than the limit").into());
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(RequestError::TooLarge("too many headers").into());
        }
        Err(httparse::Error::Version) => return Err(RequestError::Malformed("not HTTP/1").into()),
        Err(_) => return Err(RequestError::Malformed("invalid request head").into()),
    };
    let base = buf.as_ptr() as usize;
    let span = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    let method = span(req.method.unwrap_or_default().as_bytes());
    let target = span(req.path.unwrap_or_default().as_bytes());
    let version = req.version.unwrap_or(1);
    let (framing, keep_alive) = read_fields(req.headers, version, &mut on_field)?;
    Ok(Some(RequestHead {
        len,
        method,
        target,
        version,
        framing,
        keep_alive,
    }))
}

/// Checks the fields framing and addressing depend on, handing each to `on_field`.
fn read_fields<'b, E, F>(
    fields: &[httparse::Header<'b>],
    version: u8,
    on_field: &mut F,
) -> Result<(Framing, bool), E>
where
    E: From<RequestError>,
    F: FnMut(&'b [u8], &'b [u8]) -> Result<(), E>,
{
    let mut length: Option<u64> = None;
    // Transfer-Encoding field lines, and whether the one there is is exactly `chunked`.
    let mut codings = 0usize;
    let mut chunked = false;
    let mut hosts = 0usize;
    let mut keep_alive = version == 1;
    for h in fields {
        let name = h.name.as_bytes();
        // The names framing depends on differ in length: most fields are passed over on
        // their length alone.
        match name.len() {
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                let n = length_digits(h.value)
                    .ok_or(RequestError::Malformed("invalid content-length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(RequestError::Malformed("conflicting content-length").into());
                }
                length = Some(n);
            }
            4 if name.eq_ignore_ascii_case(b"host") => {
                // RFC 9112 §3.2: more than one Host is a 400.
                hosts += 1;
                if hosts > 1 {
                    return Err(RequestError::Malformed("more than one host header").into());
                }
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                // Only exactly `chunked`, on one field line, is served.
                codings += 1;
                chunked = h.value.trim_ascii().eq_ignore_ascii_case(b"chunked");
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in h.value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        keep_alive = false;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive |= version == 0;
                    }
                }
            }
            _ => {}
        }
        on_field(name, h.value)?;
    }
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400.
    if hosts == 0 && version == 1 {
        return Err(RequestError::Malformed("no host header").into());
    }
    let transfer_coding = (codings > 0).then_some(codings == 1 && chunked);
    let framing = request_framing(transfer_coding, length, version)?;
    Ok((framing, keep_alive))
}

/// A request body's framing from `Transfer-Encoding` (`Some(true)`: exactly `chunked`)
/// and `Content-Length` (RFC 9112 §6.3).
fn request_framing(
    transfer_coding: Option<bool>,
    length: Option<u64>,
    version: u8,
) -> Result<Framing, RequestError> {
    Ok(match (transfer_coding, length) {
        (Some(_), Some(_)) => {
            return Err(RequestError::Malformed(
                "both transfer-encoding and content-length",
            ));
        }
        (Some(_), None) if version == 0 => {
            return Err(RequestError::Malformed("transfer-encoding in HTTP/1.0"));
        }
        (Some(true), None) => Framing::Chunked,
        (Some(false), None) => return Err(RequestError::UnsupportedCoding),
        (None, Some(0) | None) => Framing::Empty,
        (None, Some(n)) => Framing::Length(n),
    })
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
