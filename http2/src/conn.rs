//! One client connection's state, without I/O: what it sends is appended to
//! [`Conn::out`], what it receives is given to [`Conn::recv`] (in `recv.rs`).
//!
//! Streams are the client's own (odd ids, opened in order); each waits in the stream
//! map for its whole answer, which its task takes with [`Conn::poll`]. A stream counts
//! against the server's SETTINGS_MAX_CONCURRENT_STREAMS from its HEADERS until it is
//! closed; one opened past the limit waits, encoded, in order, and goes out when a
//! stream closes (HPACK requires blocks to reach the server in the order they were
//! encoded).

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use foldhash::HashMap;

use crate::frame::{self, code};
use crate::hpack::{Decoder, Encoder};
use crate::response::Answer;
use crate::{Config, OpenError, Response, StreamError};

/// What the server announced (RFC 9113 §6.5.2), defaults until its SETTINGS.
#[derive(Debug)]
pub(crate) struct Peer {
    pub max_concurrent: u32,
    pub initial_window: u32,
    pub max_frame: u32,
}

#[derive(Debug)]
pub(crate) struct StreamState {
    pub send_window: i64,
    /// The request body still to send.
    pub body: Bytes,
    /// END_STREAM sent.
    pub local_closed: bool,
    /// HEADERS sent (else it waits in `queued`).
    pub opened: bool,
    pub head_request: bool,
    pub keep: bool,
    pub answer: Answer,
    pub kept: Option<BytesMut>,
    pub recv_window: i64,
    pub recv_unacked: u32,
    /// Closed: the outcome waits for its task.
    pub result: Option<Result<(), StreamError>>,
    pub waker: Option<Waker>,
}

/// HEADERS (and CONTINUATION) of a stream opened past the server's limit.
#[derive(Debug)]
struct Queued {
    id: u32,
    frames: Vec<u8>,
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub cfg: Config,
    pub peer: Peer,
    pub send_window: i64,
    pub recv_window: i64,
    pub recv_unacked: u32,
    pub next_id: u32,
    pub streams: HashMap<u32, StreamState>,
    /// Streams open (HEADERS sent, not closed).
    pub active: usize,
    queued: VecDeque<Queued>,
    /// Streams with body left to send, in order.
    sending: VecDeque<u32>,
    pub decoder: Decoder,
    pub encoder: Encoder,
    /// Bytes to write.
    pub out: Vec<u8>,
    /// GOAWAY received: its last stream id and code.
    pub goaway: Option<(u32, u32)>,
    /// The connection is over (our connection error, or its end): why.
    pub closed: Option<StreamError>,
    /// HEADERS without END_HEADERS: its stream and END_STREAM, and the block so far.
    pub continuation: Option<(u32, bool)>,
    pub block: Vec<u8>,
    pub got_settings: bool,
    /// The handshake's PING was answered.
    pub ready: bool,
    block_out: Vec<u8>,
}

/// The payload of the handshake's PING.
pub(crate) const HANDSHAKE_PING: [u8; 8] = *b"ninefold";

impl Conn {
    /// A connection whose preface, SETTINGS, connection WINDOW_UPDATE and PING are
    /// in `out`.
    pub fn new(cfg: Config) -> Self {
        let mut out = Vec::with_capacity(16 * 1024);
        out.extend_from_slice(frame::PREFACE);
        frame::put_settings(
            &mut out,
            &[
                (frame::ENABLE_PUSH, 0),
                (frame::INITIAL_WINDOW_SIZE, cfg.stream_window),
                (frame::MAX_HEADER_LIST_SIZE, cfg.max_header_list),
            ],
        );
        if cfg.connection_window > frame::DEFAULT_WINDOW {
            frame::put_u32_frame(
                &mut out,
                frame::WINDOW_UPDATE,
                0,
                cfg.connection_window - frame::DEFAULT_WINDOW,
            );
        }
        frame::put_head(&mut out, 8, frame::PING, 0, 0);
        out.extend_from_slice(&HANDSHAKE_PING);
        Conn {
            peer: Peer {
                max_concurrent: u32::MAX,
                initial_window: frame::DEFAULT_WINDOW,
                max_frame: frame::DEFAULT_MAX_FRAME,
            },
            send_window: i64::from(frame::DEFAULT_WINDOW),
            recv_window: i64::from(cfg.connection_window.max(frame::DEFAULT_WINDOW)),
            recv_unacked: 0,
            next_id: 1,
            streams: HashMap::default(),
            active: 0,
            queued: VecDeque::new(),
            sending: VecDeque::new(),
            decoder: Decoder::new(4096, cfg.max_header_list as usize),
            encoder: Encoder::new(),
            out,
            goaway: None,
            closed: None,
            continuation: None,
            block: Vec::new(),
            got_settings: false,
            ready: false,
            block_out: Vec::new(),
            cfg,
        }
    }

    /// Open a stream for a request: `fields` are its regular fields (connection-specific
    /// ones are dropped here, RFC 9113 §8.2.2).
    #[allow(clippy::too_many_arguments)]
    pub fn open<'a>(
        &mut self,
        method: &[u8],
        scheme: &[u8],
        authority: &[u8],
        path: &[u8],
        fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        body: Bytes,
        keep: bool,
    ) -> Result<u32, OpenError> {
        if let Some(e) = self.closed {
            return Err(OpenError::Closed(e));
        }
        if self.goaway.is_some() || self.next_id > frame::MAX_WINDOW as u32 {
            return Err(OpenError::GoingAway);
        }
        let id = self.next_id;
        self.next_id += 2;
        let mut block = std::mem::take(&mut self.block_out);
        block.clear();
        self.encoder.begin(&mut block);
        self.encoder.field(&mut block, b":method", method);
        self.encoder.field(&mut block, b":scheme", scheme);
        self.encoder.field(&mut block, b":authority", authority);
        self.encoder.field(&mut block, b":path", path);
        for (name, value) in fields {
            if crate::connection_specific(name, value) {
                continue;
            }
            self.encoder.field(&mut block, name, value);
        }
        let end_stream = body.is_empty();
        let open_now = self.queued.is_empty() && self.active < self.peer.max_concurrent as usize;
        if open_now {
            put_headers(&mut self.out, id, &block, end_stream, self.peer.max_frame);
            self.active += 1;
        } else {
            let mut frames = Vec::with_capacity(block.len() + 9);
            put_headers(&mut frames, id, &block, end_stream, self.peer.max_frame);
            self.queued.push_back(Queued { id, frames });
        }
        self.block_out = block;
        self.streams.insert(
            id,
            StreamState {
                send_window: i64::from(self.peer.initial_window),
                body,
                local_closed: end_stream,
                opened: open_now,
                head_request: method == b"HEAD",
                keep,
                answer: Answer::new(),
                kept: None,
                recv_window: i64::from(self.cfg.stream_window),
                recv_unacked: 0,
                result: None,
                waker: None,
            },
        );
        if open_now && !end_stream {
            self.sending.push_back(id);
            self.flush_data();
        }
        Ok(id)
    }

    /// The answer of stream `id`, once it is complete (the stream is then forgotten).
    pub fn poll(&mut self, id: u32, cx: &mut Context<'_>) -> Poll<Result<Response, StreamError>> {
        let Some(st) = self.streams.get_mut(&id) else {
            return Poll::Ready(Err(StreamError::Closed));
        };
        if st.result.is_none() {
            match &st.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => st.waker = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        let mut st = self.streams.remove(&id).expect("looked up above");
        Poll::Ready(st.result.take().expect("checked above").map(|()| Response {
            status: st.answer.status,
            head: std::mem::take(&mut st.answer.head),
            body: st.kept.map(BytesMut::freeze),
        }))
    }

    /// The caller gave up on stream `id`: RST_STREAM CANCEL when it is still open.
    pub fn cancel(&mut self, id: u32) {
        let Some(st) = self.streams.remove(&id) else {
            return;
        };
        if st.result.is_some() || self.closed.is_some() {
            return;
        }
        if st.opened {
            frame::put_u32_frame(&mut self.out, frame::RST_STREAM, id, code::CANCEL);
            self.active -= 1;
            self.sending.retain(|&s| s != id);
            self.open_queued();
        }
        // A queued stream still goes out (its block is part of the HPACK sequence),
        // followed by its RST_STREAM: see `open_queued`.
    }

    /// Stream `id` is closed with `result`: its task is woken.
    pub fn finish(&mut self, id: u32, result: Result<(), StreamError>) {
        let Some(st) = self.streams.get_mut(&id) else {
            return;
        };
        if st.result.is_some() {
            return;
        }
        let reset_ours = match result {
            Ok(()) => (!st.local_closed).then_some(code::CANCEL),
            Err(StreamError::Malformed(_)) => Some(code::PROTOCOL_ERROR),
            Err(StreamError::FlowControl) => Some(code::FLOW_CONTROL_ERROR),
            Err(_) => None,
        };
        st.result = Some(result);
        st.body = Bytes::new();
        if let Some(w) = st.waker.take() {
            w.wake();
        }
        if !st.opened {
            return;
        }
        if let Some(c) = reset_ours
            && self.closed.is_none()
        {
            frame::put_u32_frame(&mut self.out, frame::RST_STREAM, id, c);
        }
        self.active -= 1;
        if !self.sending.is_empty() {
            self.sending.retain(|&s| s != id);
        }
        self.open_queued();
    }

    /// Send queued streams while the server's limit allows.
    pub(crate) fn open_queued(&mut self) {
        while self.closed.is_none()
            && self.goaway.is_none()
            && self.active < self.peer.max_concurrent as usize
        {
            let Some(q) = self.queued.pop_front() else {
                return;
            };
            self.out.extend_from_slice(&q.frames);
            match self.streams.get_mut(&q.id) {
                Some(st) if st.result.is_none() => {
                    st.opened = true;
                    self.active += 1;
                    if !st.local_closed {
                        self.sending.push_back(q.id);
                        self.flush_data();
                    }
                }
                // Cancelled while queued.
                _ => frame::put_u32_frame(&mut self.out, frame::RST_STREAM, q.id, code::CANCEL),
            }
        }
    }

    /// Send request bodies as far as the flow-control windows allow (RFC 9113 §6.9).
    pub fn flush_data(&mut self) {
        let mut i = 0;
        while i < self.sending.len() && self.send_window > 0 {
            let id = self.sending[i];
            let Some(st) = self.streams.get_mut(&id) else {
                self.sending.remove(i);
                continue;
            };
            while !st.body.is_empty() && st.send_window > 0 && self.send_window > 0 {
                let n = st
                    .body
                    .len()
                    .min(st.send_window as usize)
                    .min(self.send_window as usize)
                    .min(self.peer.max_frame as usize);
                let chunk = st.body.split_to(n);
                let last = st.body.is_empty();
                frame::put_head(
                    &mut self.out,
                    n,
                    frame::DATA,
                    if last { frame::END_STREAM } else { 0 },
                    id,
                );
                self.out.extend_from_slice(&chunk);
                st.send_window -= n as i64;
                self.send_window -= n as i64;
                if last {
                    st.local_closed = true;
                }
            }
            if st.body.is_empty() {
                self.sending.remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// A connection error of ours (RFC 9113 §5.4.1): GOAWAY with `code`, every stream
    /// fails, nothing more is read or sent.
    pub fn fail(&mut self, code: u32, why: &'static str) {
        if self.closed.is_some() {
            return;
        }
        frame::put_goaway(&mut self.out, 0, code, why.as_bytes());
        self.end(StreamError::Connection(code, why));
    }

    /// The connection is over: every stream still waiting fails with `why`.
    pub fn end(&mut self, why: StreamError) {
        if self.closed.is_none() {
            self.closed = Some(why);
        }
        self.queued.clear();
        self.sending.clear();
        let ids: Vec<u32> = self
            .streams
            .iter()
            .filter(|(_, s)| s.result.is_none())
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            self.finish(id, Err(why));
        }
        self.active = 0;
    }

    /// The byte stream ended (or failed): streams still waiting fail, as not processed
    /// when the server had sent GOAWAY, else as a closed connection.
    pub fn ended(&mut self) {
        let why = match self.goaway {
            Some((_, code)) => StreamError::GoAway(code),
            None => StreamError::Closed,
        };
        self.end(why);
    }

    /// Streams may be opened now (no GOAWAY, not closed).
    pub fn is_open(&self) -> bool {
        self.closed.is_none() && self.goaway.is_none()
    }
}

/// HEADERS, and CONTINUATION frames when the block is larger than a frame.
fn put_headers(out: &mut Vec<u8>, id: u32, block: &[u8], end_stream: bool, max_frame: u32) {
    let max = max_frame as usize;
    let end = if end_stream { frame::END_STREAM } else { 0 };
    if block.len() <= max {
        frame::put_head(
            out,
            block.len(),
            frame::HEADERS,
            end | frame::END_HEADERS,
            id,
        );
        out.extend_from_slice(block);
        return;
    }
    let mut chunks = block.chunks(max).peekable();
    let mut kind = frame::HEADERS;
    let mut flags = end;
    while let Some(chunk) = chunks.next() {
        if chunks.peek().is_none() {
            flags |= frame::END_HEADERS;
        }
        frame::put_head(out, chunk.len(), kind, flags, id);
        out.extend_from_slice(chunk);
        kind = frame::CONTINUATION;
        flags = 0;
    }
}
