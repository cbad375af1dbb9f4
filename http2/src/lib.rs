//! The HTTP/2 client of ninefold's load engine (RFC 9113, RFC 7541), written for the
//! hot path the way `ninefold-http1` is: its own framing, flow control and HPACK, many
//! streams in flight on one connection, one read and one write per turn of the
//! connection's driver for all of them. It runs over any byte stream (TCP for h2c
//! with prior knowledge, TLS after ALPN `h2`).
//!
//! Why a crate of its own (beside `http1/`): the protocol in one place, with its
//! own tests against independent implementations (the `h2` crate's server, hyper's
//! HTTP/2 server, RFC 7541's published examples), built and tested without the rest
//! of ninefold; the load engine keeps only what is its own (which connection a task
//! uses, what an outcome means).
//!
//! # What it does
//! - The preface and SETTINGS: push disabled, our stream window
//!   ([`Config::stream_window`]), our header list limit; a connection WINDOW_UPDATE up
//!   to [`Config::connection_window`]; a PING whose answer ends [`handshake`] (the
//!   server's SETTINGS come first, so its limits hold from the first request).
//! - The server's SETTINGS are acknowledged and honoured: MAX_CONCURRENT_STREAMS (a
//!   stream opened past it waits, encoded, and goes out when one closes),
//!   INITIAL_WINDOW_SIZE (applied to open streams' windows), MAX_FRAME_SIZE (DATA and
//!   header blocks split to it, HEADERS then CONTINUATION), HEADER_TABLE_SIZE (the
//!   encoder's table follows it, announced by a size update).
//! - Flow control both ways: request bodies are sent as the connection's and the
//!   stream's windows allow; received DATA is consumed at once and WINDOW_UPDATE sent
//!   for the connection and the stream when half the window is used.
//! - PING answered; RST_STREAM ends its stream ([`StreamError::Reset`]); GOAWAY fails
//!   the streams above its last stream id ([`StreamError::GoAway`]), lets the others
//!   finish and refuses new streams ([`OpenError::GoingAway`]).
//! - HPACK: a strict decoder (static and dynamic table, Huffman, integer and string
//!   limits, size updates only at a block's start and within our setting); a broken
//!   block is a COMPRESSION_ERROR connection error. The encoder indexes constant
//!   fields once and sends them as indexes after.
//!
//! # Strict
//! A frame that breaks RFC 9113 is a connection error of ours: GOAWAY with its code,
//! every stream fails with [`StreamError::Connection`], the driver ends (frames on the
//! wrong stream, bad lengths, the server's preface not being SETTINGS, an interrupted
//! header block, windows past 2^31 − 1, PUSH_PROMISE, a frame larger than 16 384
//! octets). A malformed answer (RFC 9113 §8.1.1: no or a bad `:status`, other
//! pseudo-headers, uppercase or connection-specific fields, values with CR, LF or NUL,
//! a body other than its `content-length`, DATA before the head) is reset with
//! PROTOCOL_ERROR and fails as [`StreamError::Malformed`]. Simplification: a bad
//! PRIORITY frame, which RFC 9113 calls a stream error, is a connection error here.

mod client;
mod conn;
pub mod frame;
pub mod hpack;
mod recv;
mod response;

pub use client::{Client, Driver, ResponseFuture, handshake};

use bytes::Bytes;

/// What the client grants and accepts.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// SETTINGS_INITIAL_WINDOW_SIZE we announce: what the server may send per stream
    /// before a WINDOW_UPDATE.
    pub stream_window: u32,
    /// The connection's receive window.
    pub connection_window: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE we announce and enforce (RFC 9113 §6.5.2 size).
    pub max_header_list: u32,
    /// The largest body kept for the caller (a longer one is read and dropped).
    pub max_kept_body: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stream_window: 1 << 20,
            connection_window: 1 << 24,
            max_header_list: 64 * 1024,
            max_kept_body: 1024 * 1024,
        }
    }
}

/// A complete answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// The head as HTTP/1.1 text (`HTTP/1.1 200 \r\n`, `name: value\r\n` lines, an
    /// empty line), for callers that read heads that way.
    pub head: Vec<u8>,
    /// The body, when kept (asked for, or a status of 400 or more) and not too long.
    pub body: Option<Bytes>,
}

/// Why a stream ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The server reset the stream (RST_STREAM) with this error code.
    #[error("RST_STREAM with error code {0:#x}")]
    Reset(u32),
    /// The server's GOAWAY (with this code) left the stream unprocessed: above its last
    /// stream id, or the connection closed after it before the answer came.
    #[error("GOAWAY (error code {0:#x}) before the answer")]
    GoAway(u32),
    /// The answer broke RFC 9113 §8 (we reset the stream with PROTOCOL_ERROR).
    #[error("malformed answer: {0}")]
    Malformed(&'static str),
    /// The server overran the stream's flow-control window (reset: FLOW_CONTROL_ERROR).
    #[error("flow-control error on the stream")]
    FlowControl,
    /// A connection error of ours: we sent GOAWAY with this code.
    #[error("connection error {0:#x}: {1}")]
    Connection(u32, &'static str),
    /// The connection ended (closed or failed) before the answer was complete.
    #[error("connection closed before the answer")]
    Closed,
}

/// Why a request could not be sent on this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// GOAWAY was received (or the stream ids ran out): nothing was sent; another
    /// connection may carry it.
    #[error("the connection is going away")]
    GoingAway,
    /// The connection is over.
    #[error("the connection is closed: {0}")]
    Closed(StreamError),
}

/// Fields HTTP/2 forbids in a request (RFC 9113 §8.2.2), and `host` (the
/// `:authority` carries it): `te` other than `trailers` included.
pub(crate) fn connection_specific(name: &[u8], value: &[u8]) -> bool {
    let is = |s: &[u8]| name.eq_ignore_ascii_case(s);
    is(b"host")
        || is(b"connection")
        || is(b"keep-alive")
        || is(b"proxy-connection")
        || is(b"transfer-encoding")
        || is(b"upgrade")
        || (is(b"te") && !value.eq_ignore_ascii_case(b"trailers"))
}

#[cfg(test)]
mod conn_tests;
