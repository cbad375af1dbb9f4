//! The client side of the wire: a request head parsed in place with `httparse` into an
//! `http::Request` whose URI and header values share the received bytes, and a response
//! head rendered into the connection's write buffer.
//!
//! Request framing follows RFC 9112 §6: `Transfer-Encoding` must be exactly `chunked` (any
//! other coding, list or second field line is 501), and a request carrying both it and
//! `Content-Length`, or two different lengths, is refused (request smuggling); without
//! either there is no body. An HTTP/1.1 request needs exactly one `Host`; an absolute-form
//! target's authority replaces it. The path is normalized before anything routes on it
//! ([`super::path`]). Hop-by-hop fields, those the client's `Connection` names and names
//! with an underscore never enter the request's header map.

use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
use std::ops::Range;

use crate::pipeline::Added;
use ninefold_http1::{DateCache, Framing, RequestError, RequestHead, decimal, put_field};

/// Why a request head cannot be served. Each has its status; the connection then closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// 400.
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// 431: the head is longer than the backstop, or has more headers.
    #[error("request head too large: {0}")]
    TooLarge(&'static str),
    /// 501: a transfer coding other than chunked.
    #[error("unsupported transfer coding")]
    UnsupportedCoding,
    /// 417: an `Expect` other than `100-continue`.
    #[error("unsupported expectation")]
    Expectation,
}

impl From<RequestError> for WireError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Malformed(why) => WireError::Malformed(why),
            RequestError::TooLarge(why) => WireError::TooLarge(why),
            RequestError::UnsupportedCoding => WireError::UnsupportedCoding,
        }
    }
}

impl WireError {
    /// The status that answers it.
    pub fn status(&self) -> StatusCode {
        match self {
            WireError::Malformed(_) => StatusCode::BAD_REQUEST,
            WireError::TooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            WireError::UnsupportedCoding => StatusCode::NOT_IMPLEMENTED,
            WireError::Expectation => StatusCode::EXPECTATION_FAILED,
        }
    }
}

/// Limits on a request head, above the stack's own (which answer with a JSON body).
pub type HeadLimits = ninefold_http1::RequestLimits;

/// A parsed request head.
#[derive(Debug)]
pub struct Parsed {
    /// The request, body to come.
    pub request: http::Request<()>,
    /// How its body is framed.
    pub framing: Framing,
    /// The client asked to keep the connection open (HTTP/1.1 unless `Connection: close`;
    /// HTTP/1.0 only with `Connection: keep-alive`).
    pub keep_alive: bool,
    /// `Expect: 100-continue` on a request with a body.
    pub expect_continue: bool,
}

/// Reusable per-connection scratch: header names and where their values lie, and the
/// names this connection has sent before.
#[derive(Default)]
pub struct Scratch {
    headers: Vec<(HeaderName, Range<usize>)>,
    names: ninefold_http1::NameCache,
    /// The fields the client's `Connection` header names (rarely any).
    named: Vec<HeaderName>,
    /// The head has `Expect: 100-continue`.
    expect_continue: bool,
}

/// Parses the request head at the start of `buf` and takes it off the buffer: `None`
/// while incomplete.
pub fn parse_request(
    buf: &mut BytesMut,
    limits: HeadLimits,
    scratch: &mut Scratch,
) -> Result<Option<Parsed>, WireError> {
    let Some(RequestHead {
        len,
        method,
        target,
        version,
        framing,
        keep_alive,
    }) = read_head(buf, limits, scratch)?
    else {
        return Ok(None);
    };
    let method =
        Method::from_bytes(&buf[method]).map_err(|_| WireError::Malformed("invalid method"))?;
    let head: Bytes = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(target))
        .map_err(|_| WireError::Malformed("invalid request target"))?;
    let (uri, authority) = origin_form(uri)?;
    // Room for what the stack adds (request id, tenant, configured headers) without the
    // map growing and rehashing per request.
    let mut headers = ninefold_http1::header_map(scratch.headers.len() + 6);
    for (name, value) in scratch.headers.drain(..) {
        if authority.is_some() && name == http::header::HOST {
            continue;
        }
        let value = HeaderValue::from_maybe_shared(head.slice(value))
            .map_err(|_| WireError::Malformed("invalid header value"))?;
        headers.append(name, value);
    }
    // An absolute-form target's authority wins over `Host` (RFC 9112 §3.2.2).
    if let Some(authority) = authority {
        headers.insert(http::header::HOST, authority);
    }
    let mut request = http::Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = if version == 0 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    *request.headers_mut() = headers;
    Ok(Some(Parsed {
        request,
        expect_continue: scratch.expect_continue && framing != Framing::Empty,
        framing,
        keep_alive,
    }))
}

/// Parses the head at the start of `buf` ([`ninefold_http1::parse_request_head`]) and
/// reads its fields into `scratch.headers` (names, and where their values lie), without
/// the fields the client may not send on. `scratch.expect_continue`: `Expect:
/// 100-continue` on HTTP/1.1.
fn read_head(
    buf: &[u8],
    limits: HeadLimits,
    scratch: &mut Scratch,
) -> Result<Option<RequestHead>, WireError> {
    let base = buf.as_ptr() as usize;
    scratch.headers.clear();
    scratch.named.clear();
    scratch.expect_continue = false;
    let Some(head) = ninefold_http1::parse_request_head(buf, limits, |name, value| {
        read_field(name, value, base, scratch)
    })?
    else {
        return Ok(None);
    };
    if !scratch.named.is_empty() {
        // What the client's `Connection` names is hop-by-hop too, except the fields that
        // frame and address the request.
        let named = &scratch.named;
        scratch.headers.retain(|(n, _)| {
            n == http::header::HOST || n == http::header::CONTENT_LENGTH || !named.contains(n)
        });
    }
    scratch.expect_continue &= head.version == 1;
    Ok(Some(head))
}

/// One field of a request head (its framing already checked by the parser): kept in
/// `scratch.headers` unless the client may not send it on.
fn read_field(
    raw: &[u8],
    value: &[u8],
    base: usize,
    scratch: &mut Scratch,
) -> Result<(), WireError> {
    // Underscored names are dropped, as nginx does by default: CGI-style backends
    // read `X_Tenant_Id` as `X-Tenant-Id`, a header only the gateway may set.
    if raw.contains(&b'_') {
        return Ok(());
    }
    let name = scratch
        .names
        .get(raw)
        .map_err(|_| WireError::Malformed("invalid header name"))?;
    if name == http::header::CONNECTION {
        for token in value.split(|&b| b == b',') {
            let token = token.trim_ascii();
            if token.eq_ignore_ascii_case(b"close") || token.eq_ignore_ascii_case(b"keep-alive") {
                continue;
            }
            if let Ok(named) = HeaderName::from_bytes(token) {
                scratch.named.push(named);
            }
        }
    } else if name == http::header::EXPECT {
        if !value.trim_ascii().eq_ignore_ascii_case(b"100-continue") {
            return Err(WireError::Expectation);
        }
        scratch.expect_continue = true;
    }
    // Hop-by-hop fields are this connection's: they leave the client's headers here,
    // before any step of the gateway adds its own.
    if ninefold_http1::is_hop_by_hop(&name) {
        return Ok(());
    }
    let start = value.as_ptr() as usize - base;
    scratch.headers.push((name, start..start + value.len()));
    Ok(())
}

/// The request target in origin form with its path normalized
/// ([`crate::routing::normalize_path`]), and the authority of an absolute-form target as a
/// `Host` value. `*` (for `OPTIONS`) stays as it is.
fn origin_form(uri: Uri) -> Result<(Uri, Option<HeaderValue>), WireError> {
    let authority = match uri.authority() {
        Some(a) => {
            let host = match a.port() {
                Some(port) => format!("{}:{port}", a.host()),
                None => a.host().to_owned(),
            };
            Some(
                HeaderValue::try_from(host)
                    .map_err(|_| WireError::Malformed("invalid request target"))?,
            )
        }
        None => None,
    };
    if uri.path() == "*" && authority.is_none() {
        return Ok((uri, None));
    }
    if !uri.path().starts_with('/') {
        return Err(WireError::Malformed("invalid request target"));
    }
    let normalized = crate::routing::normalize_path(uri.path()).map_err(WireError::Malformed)?;
    if normalized.is_none() && authority.is_none() {
        return Ok((uri, None));
    }
    let path = normalized.as_deref().unwrap_or(uri.path());
    let target = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let uri = Uri::try_from(target).map_err(|_| WireError::Malformed("invalid request target"))?;
    Ok((uri, authority))
}

/// How a response body goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyOut {
    /// No body (HEAD, 1xx, 204, 304); a `Content-Length` in the headers passes through.
    None,
    /// Exactly this many bytes, announced in `Content-Length`.
    Length(u64),
    /// Chunked (HTTP/1.1, length unknown).
    Chunked,
    /// Until the connection closes (HTTP/1.0, length unknown).
    UntilClose,
}

/// Hop-by-hop fields (RFC 9110 §7.6.1) and the framing fields this server writes itself.
fn is_connection_field(name: &HeaderName) -> bool {
    use http::header::{CONTENT_LENGTH, PROXY_AUTHENTICATE, TRAILER};
    ninefold_http1::is_hop_by_hop(name)
        || name == TRAILER
        || name == PROXY_AUTHENTICATE
        || name == CONTENT_LENGTH
}

/// Renders the status line and headers (ending with the empty line) into `out`.
/// `Content-Length` and `Transfer-Encoding` follow `body`; `Connection: close` is added
/// when `close`; a `Date` is added when the response has none. The `added` fields replace
/// the response's fields of the same names.
pub fn encode_head(
    parts: &http::response::Parts,
    added: Option<&Added>,
    body: BodyOut,
    close: bool,
    date: &mut DateCache,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(parts.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut has_date = false;
    for (name, value) in &parts.headers {
        if is_connection_field(name) {
            // Without a body, a `Content-Length` still tells what GET would have sent.
            if !(body == BodyOut::None && name == http::header::CONTENT_LENGTH) {
                continue;
            }
        }
        if added.is_some_and(|a| a.replaces(name)) {
            continue;
        }
        has_date |= name == http::header::DATE;
        put_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if let Some(added) = added {
        added.render(|name, value| put_field(out, name, value));
    }
    if !has_date {
        put_field(out, b"date", date.now());
    }
    match body {
        BodyOut::Length(n) => put_field(out, b"content-length", decimal(n, &mut [0; 20])),
        BodyOut::Chunked => put_field(out, b"transfer-encoding", b"chunked"),
        BodyOut::None | BodyOut::UntilClose => {}
    }
    if close {
        put_field(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
