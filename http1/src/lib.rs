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
//! - answers: framing fields on an answer without a body (to HEAD, 204, 304) are still
//!   checked (hyper ignores them);
//!   a status of 600 to 999;
//! - chunk sizes of more than 16 hex digits (leading zeros); a bare LF inside a trailer
//!   section (hyper reads it as a line end).
//!
//! hyper is stricter in one class: a `Content-Length` of 2^64 − 2 or more (values hyper
//! reserves internally), which this crate reads as a length; any body limit refuses it.

mod body;
mod fields;
mod io;
mod request;
mod response;
mod write;

pub use body::{BodyDecoder, Decoded};
pub use fields::{
    NameCache, connection_named, decimal, eq_token_lower, header_map, header_value_u64,
    is_hop_by_hop, recycle,
};
#[cfg(test)]
use fields::{SPARE_MAP_FIELDS, SPARE_MAPS, SPARE_MAPS_HERE};
pub use io::{READ_CHUNK, poll_fill, send};
pub use request::{RequestError, RequestHead, RequestLimits, parse_request_head};
pub use response::{Head, HeadFacts, parse_head, parse_head_with};
pub use write::{DateCache, put_field};

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

#[cfg(test)]
#[path = "lib_tests.rs"]
mod tests;
