//! What the server sends, frame by frame (RFC 9113 §6), strictly: a frame that
//! breaks the protocol is a connection error of ours (GOAWAY with its code, every
//! stream failed), a malformed answer a stream error (RST_STREAM PROTOCOL_ERROR).

use bytes::{Buf as _, BytesMut};

use crate::StreamError;
use crate::conn::{Conn, HANDSHAKE_PING};
use crate::frame::{self, Head, code};
use crate::response::{Block, Phase};

/// The most header block bytes buffered across CONTINUATION frames.
const MAX_BLOCK: usize = 256 * 1024;

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// A frame's payload without its padding (RFC 9113 §6.1), `None` when the padding
/// is as long as the payload or longer.
fn unpad(h: &Head, payload: &[u8]) -> Option<(usize, usize)> {
    if h.flags & frame::PADDED == 0 {
        return Some((0, payload.len()));
    }
    let pad = *payload.first()? as usize;
    if pad >= payload.len() {
        return None;
    }
    Some((1, payload.len() - pad))
}

impl Conn {
    /// Take every complete frame at the start of `buf` (what remains is a frame's start).
    pub fn recv(&mut self, buf: &mut BytesMut) {
        let mut pos = 0;
        while self.closed.is_none() {
            let Some(h) = Head::parse(&buf[pos..]) else {
                break;
            };
            if h.len > frame::DEFAULT_MAX_FRAME as usize {
                self.fail(
                    code::FRAME_SIZE_ERROR,
                    "frame larger than SETTINGS_MAX_FRAME_SIZE",
                );
                break;
            }
            if buf.len() - pos < 9 + h.len {
                break;
            }
            self.frame(h, &buf[pos + 9..pos + 9 + h.len]);
            pos += 9 + h.len;
        }
        if self.closed.is_some() {
            buf.clear();
        } else {
            buf.advance(pos);
        }
    }

    /// A stream id the server may not speak of: one the client has not opened.
    fn idle(&self, id: u32) -> bool {
        id.is_multiple_of(2) || id >= self.next_id
    }

    // Long: one dispatch over the frame types, each rule beside its type.
    fn frame(&mut self, h: Head, p: &[u8]) {
        if let Some((stream, _)) = self.continuation
            && (h.kind != frame::CONTINUATION || h.stream != stream)
        {
            return self.fail(code::PROTOCOL_ERROR, "header block interrupted");
        }
        if !self.got_settings && (h.kind != frame::SETTINGS || h.flags & frame::ACK != 0) {
            return self.fail(code::PROTOCOL_ERROR, "the server's preface is not SETTINGS");
        }
        match h.kind {
            frame::DATA => self.data(h, p),
            frame::HEADERS => self.headers(h, p),
            frame::CONTINUATION => {
                if self.continuation.is_none() {
                    return self.fail(code::PROTOCOL_ERROR, "CONTINUATION without HEADERS");
                }
                if self.block.len() + p.len() > MAX_BLOCK {
                    return self.fail(code::ENHANCE_YOUR_CALM, "header block too large");
                }
                self.block.extend_from_slice(p);
                if h.flags & frame::END_HEADERS != 0 {
                    let (stream, end_stream) = self.continuation.take().expect("checked");
                    let block = std::mem::take(&mut self.block);
                    self.header_block(stream, end_stream, &block);
                    self.block = block;
                    self.block.clear();
                }
            }
            frame::PRIORITY => {
                if h.stream == 0 {
                    return self.fail(code::PROTOCOL_ERROR, "PRIORITY on stream 0");
                }
                if p.len() != 5 {
                    self.fail(code::FRAME_SIZE_ERROR, "PRIORITY not 5 octets");
                }
            }
            frame::RST_STREAM => {
                if h.stream == 0 || self.idle(h.stream) {
                    return self.fail(code::PROTOCOL_ERROR, "RST_STREAM on an idle stream");
                }
                if p.len() != 4 {
                    return self.fail(code::FRAME_SIZE_ERROR, "RST_STREAM not 4 octets");
                }
                self.finish(h.stream, Err(StreamError::Reset(be32(p))));
            }
            frame::SETTINGS => self.settings(h, p),
            frame::PUSH_PROMISE => self.fail(code::PROTOCOL_ERROR, "PUSH_PROMISE (push disabled)"),
            frame::PING => {
                if h.stream != 0 {
                    return self.fail(code::PROTOCOL_ERROR, "PING on a stream");
                }
                if p.len() != 8 {
                    return self.fail(code::FRAME_SIZE_ERROR, "PING not 8 octets");
                }
                if h.flags & frame::ACK != 0 {
                    if p == HANDSHAKE_PING {
                        self.ready = true;
                    }
                } else {
                    frame::put_head(&mut self.out, 8, frame::PING, frame::ACK, 0);
                    self.out.extend_from_slice(p);
                }
            }
            frame::GOAWAY => self.goaway(h, p),
            frame::WINDOW_UPDATE => self.window_update(h, p),
            // Unknown types are ignored (RFC 9113 §4.1).
            _ => {}
        }
    }

    fn data(&mut self, h: Head, p: &[u8]) {
        if h.stream == 0 || self.idle(h.stream) {
            return self.fail(code::PROTOCOL_ERROR, "DATA on an idle stream");
        }
        let Some((start, end)) = unpad(&h, p) else {
            return self.fail(code::PROTOCOL_ERROR, "padding as long as the frame");
        };
        // Flow control counts the whole payload, padding included (§6.9.1).
        let len = p.len();
        if len as i64 > self.recv_window {
            return self.fail(code::FLOW_CONTROL_ERROR, "DATA past the connection window");
        }
        self.recv_window -= len as i64;
        self.recv_unacked += len as u32;
        if self.recv_unacked >= self.cfg.connection_window / 2 {
            frame::put_u32_frame(&mut self.out, frame::WINDOW_UPDATE, 0, self.recv_unacked);
            self.recv_window += i64::from(self.recv_unacked);
            self.recv_unacked = 0;
        }
        let end_stream = h.flags & frame::END_STREAM != 0;
        let half_window = self.cfg.stream_window / 2;
        let max_kept = self.cfg.max_kept_body;
        // A stream closed or cancelled: its frames still in flight are dropped.
        let Some(st) = self.streams.get_mut(&h.stream) else {
            return;
        };
        if st.result.is_some() {
            return;
        }
        if st.answer.phase != Phase::Body {
            return self.finish(
                h.stream,
                Err(StreamError::Malformed("DATA before the head")),
            );
        }
        if len as i64 > st.recv_window {
            return self.finish(h.stream, Err(StreamError::FlowControl));
        }
        st.recv_window -= len as i64;
        let data = &p[start..end];
        st.answer.received += data.len() as u64;
        if let Some(kept) = &mut st.kept {
            if kept.len() + data.len() > max_kept {
                st.kept = None;
            } else {
                kept.extend_from_slice(data);
            }
        }
        let over = st
            .answer
            .content_length
            .is_some_and(|n| st.answer.received > n && !st.head_request);
        if over {
            return self.finish(
                h.stream,
                Err(StreamError::Malformed("body past content-length")),
            );
        }
        if end_stream {
            return self.complete(h.stream);
        }
        st.recv_unacked += len as u32;
        if st.recv_unacked >= half_window && st.recv_unacked > 0 {
            frame::put_u32_frame(
                &mut self.out,
                frame::WINDOW_UPDATE,
                h.stream,
                st.recv_unacked,
            );
            st.recv_window += i64::from(st.recv_unacked);
            st.recv_unacked = 0;
        }
    }

    /// END_STREAM on a stream whose head was read.
    fn complete(&mut self, id: u32) {
        let Some(st) = self.streams.get(&id) else {
            return;
        };
        let a = &st.answer;
        let no_body = st.head_request || a.status == 204 || a.status == 304;
        if let Some(n) = a.content_length
            && n != a.received
            && !no_body
        {
            return self.finish(
                id,
                Err(StreamError::Malformed("body shorter than content-length")),
            );
        }
        self.finish(id, Ok(()));
    }

    fn headers(&mut self, h: Head, p: &[u8]) {
        if h.stream == 0 || self.idle(h.stream) {
            return self.fail(
                code::PROTOCOL_ERROR,
                "HEADERS on a stream the client did not open",
            );
        }
        let Some((mut start, end)) = unpad(&h, p) else {
            return self.fail(code::PROTOCOL_ERROR, "padding as long as the frame");
        };
        if h.flags & frame::PRIORITY_FLAG != 0 {
            if end - start < 5 {
                return self.fail(code::FRAME_SIZE_ERROR, "HEADERS too short for its priority");
            }
            start += 5;
        }
        let end_stream = h.flags & frame::END_STREAM != 0;
        if h.flags & frame::END_HEADERS != 0 {
            self.header_block(h.stream, end_stream, &p[start..end]);
        } else {
            self.continuation = Some((h.stream, end_stream));
            self.block.clear();
            self.block.extend_from_slice(&p[start..end]);
        }
    }

    /// A complete header block: decoded whatever its stream (the HPACK state is the
    /// connection's), then checked and kept for a stream waiting for it.
    fn header_block(&mut self, id: u32, end_stream: bool, block: &[u8]) {
        let max_list = self.cfg.max_header_list as usize;
        let mut check = Block::default();
        let mut st = self.streams.get_mut(&id).filter(|s| s.result.is_none());
        let decoded = self.decoder.decode(block, |name, value| {
            if let Some(st) = st.as_mut()
                && check.error.is_none()
                && let Err(e) = st.answer.field(&mut check, max_list, name, value)
            {
                check.error = Some(e);
            }
        });
        if decoded.is_err() {
            return self.fail(code::COMPRESSION_ERROR, "malformed HPACK block");
        }
        let Some(st) = st else {
            return;
        };
        let was_head = st.answer.phase == Phase::Head;
        match st.answer.end_block(&check, end_stream) {
            Err(e) => self.finish(id, Err(StreamError::Malformed(e))),
            Ok(false) => {
                if st.answer.phase == Phase::Body {
                    st.kept = (st.keep || st.answer.status >= 400).then(BytesMut::new);
                }
            }
            Ok(true) => {
                if was_head && (st.keep || st.answer.status >= 400) {
                    st.kept = Some(BytesMut::new());
                }
                self.complete(id);
            }
        }
    }

    fn settings(&mut self, h: Head, p: &[u8]) {
        if h.stream != 0 {
            return self.fail(code::PROTOCOL_ERROR, "SETTINGS on a stream");
        }
        if h.flags & frame::ACK != 0 {
            if !p.is_empty() {
                self.fail(code::FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
            }
            return;
        }
        if !p.len().is_multiple_of(6) {
            return self.fail(
                code::FRAME_SIZE_ERROR,
                "SETTINGS not a multiple of 6 octets",
            );
        }
        for s in p.chunks_exact(6) {
            let value = be32(&s[2..]);
            match u16::from_be_bytes([s[0], s[1]]) {
                frame::HEADER_TABLE_SIZE => self.encoder.set_peer_table_size(value),
                frame::ENABLE_PUSH if value != 0 => {
                    return self.fail(
                        code::PROTOCOL_ERROR,
                        "a server's SETTINGS_ENABLE_PUSH not 0",
                    );
                }
                frame::MAX_CONCURRENT_STREAMS => self.peer.max_concurrent = value,
                frame::INITIAL_WINDOW_SIZE => {
                    if i64::from(value) > frame::MAX_WINDOW {
                        return self
                            .fail(code::FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE past 2^31-1");
                    }
                    let delta = i64::from(value) - i64::from(self.peer.initial_window);
                    self.peer.initial_window = value;
                    for st in self.streams.values_mut() {
                        st.send_window += delta;
                        if st.send_window > frame::MAX_WINDOW {
                            return self
                                .fail(code::FLOW_CONTROL_ERROR, "a stream window past 2^31-1");
                        }
                    }
                }
                frame::MAX_FRAME_SIZE => {
                    if !(frame::DEFAULT_MAX_FRAME..=frame::LARGEST_MAX_FRAME).contains(&value) {
                        return self.fail(code::PROTOCOL_ERROR, "MAX_FRAME_SIZE out of range");
                    }
                    self.peer.max_frame = value;
                }
                // SETTINGS_MAX_HEADER_LIST_SIZE is advisory; unknown settings are ignored.
                _ => {}
            }
        }
        self.got_settings = true;
        frame::put_head(&mut self.out, 0, frame::SETTINGS, frame::ACK, 0);
        self.flush_data();
        self.open_queued();
    }

    fn goaway(&mut self, h: Head, p: &[u8]) {
        if h.stream != 0 {
            return self.fail(code::PROTOCOL_ERROR, "GOAWAY on a stream");
        }
        if p.len() < 8 {
            return self.fail(code::FRAME_SIZE_ERROR, "GOAWAY shorter than 8 octets");
        }
        let last = be32(p) & 0x7fff_ffff;
        let error = be32(&p[4..]);
        let last = self.goaway.map_or(last, |(prev, _)| prev.min(last));
        self.goaway = Some((last, error));
        let above: Vec<u32> = self
            .streams
            .iter()
            .filter(|(id, s)| **id > last && s.result.is_none())
            .map(|(&id, _)| id)
            .collect();
        for id in above {
            self.finish(id, Err(StreamError::GoAway(error)));
        }
    }

    fn window_update(&mut self, h: Head, p: &[u8]) {
        if p.len() != 4 {
            return self.fail(code::FRAME_SIZE_ERROR, "WINDOW_UPDATE not 4 octets");
        }
        let inc = i64::from(be32(p) & 0x7fff_ffff);
        if h.stream == 0 {
            if inc == 0 {
                return self.fail(code::PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
            }
            self.send_window += inc;
            if self.send_window > frame::MAX_WINDOW {
                return self.fail(code::FLOW_CONTROL_ERROR, "connection window past 2^31-1");
            }
        } else {
            if self.idle(h.stream) {
                return self.fail(code::PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
            }
            let Some(st) = self.streams.get_mut(&h.stream) else {
                return;
            };
            if st.result.is_some() {
                return;
            }
            if inc == 0 {
                return self.finish(h.stream, Err(StreamError::Malformed("WINDOW_UPDATE of 0")));
            }
            st.send_window += inc;
            if st.send_window > frame::MAX_WINDOW {
                return self.finish(h.stream, Err(StreamError::FlowControl));
            }
        }
        self.flush_data();
    }
}
