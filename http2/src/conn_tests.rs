//! The connection without I/O: a scripted server's frames in, the client's frames
//! out, every expected frame written here from RFC 9113 (and header blocks from
//! RFC 7541's static table by hand), not by the code under test.

use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use crate::conn::Conn;
use crate::frame::{self, code};
use crate::{Config, OpenError, StreamError};

/// A frame as the client wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct F {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

fn frames(out: &mut Vec<u8>) -> Vec<F> {
    let mut v = Vec::new();
    let mut p = &out[..];
    if p.starts_with(frame::PREFACE) {
        p = &p[frame::PREFACE.len()..];
    }
    while !p.is_empty() {
        let h = frame::Head::parse(p).expect("whole frames");
        v.push(F {
            kind: h.kind,
            flags: h.flags,
            stream: h.stream,
            payload: p[9..9 + h.len].to_vec(),
        });
        p = &p[9 + h.len..];
    }
    out.clear();
    v
}

fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    let l = payload.len();
    v.extend_from_slice(&[(l >> 16) as u8, (l >> 8) as u8, l as u8, kind, flags]);
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn feed(c: &mut Conn, bytes: &[u8]) {
    let mut buf = BytesMut::from(bytes);
    c.recv(&mut buf);
}

fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in pairs {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    raw(frame::SETTINGS, 0, 0, &p)
}

/// A connection past the handshake (the server's SETTINGS and PING answer read).
fn up(pairs: &[(u16, u32)]) -> Conn {
    let mut c = Conn::new(Config::default());
    let mut bytes = settings(pairs);
    bytes.extend(raw(frame::PING, frame::ACK, 0, b"ninefold"));
    feed(&mut c, &bytes);
    assert!(c.ready && c.closed.is_none());
    c.out.clear();
    c
}

fn get(c: &mut Conn) -> Result<u32, OpenError> {
    c.open(b"GET", b"http", b"a:1", b"/", [], Bytes::new(), false)
}

fn poll(c: &mut Conn, id: u32) -> Poll<Result<crate::Response, StreamError>> {
    c.poll(id, &mut Context::from_waker(Waker::noop()))
}

/// `:status 200` (static index 8) and `content-length: N` (literal, static name 28).
fn head_200(len: &str) -> Vec<u8> {
    let mut b = vec![0x88, 0x0f, 0x0d, len.len() as u8];
    b.extend_from_slice(len.as_bytes());
    b
}

#[test]
fn the_preface_announces_our_settings_window_and_a_ping() {
    let mut c = Conn::new(Config::default());
    assert!(c.out.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    let f = frames(&mut c.out);
    assert_eq!(f[0].kind, frame::SETTINGS);
    // ENABLE_PUSH 0, INITIAL_WINDOW_SIZE 2^20, MAX_HEADER_LIST_SIZE 65536.
    assert_eq!(
        f[0].payload,
        [0, 2, 0, 0, 0, 0, 0, 4, 0, 0x10, 0, 0, 0, 6, 0, 1, 0, 0]
    );
    assert_eq!(
        f[1],
        F {
            kind: frame::WINDOW_UPDATE,
            flags: 0,
            stream: 0,
            payload: ((1u32 << 24) - 65_535).to_be_bytes().to_vec()
        }
    );
    assert_eq!(f[2].kind, frame::PING);
    assert!(!c.ready);
}

#[test]
fn the_servers_settings_are_acknowledged_and_its_ping_answered() {
    let mut c = Conn::new(Config::default());
    c.out.clear();
    feed(&mut c, &settings(&[(frame::MAX_CONCURRENT_STREAMS, 7)]));
    feed(&mut c, &raw(frame::PING, 0, 0, b"12345678"));
    let f = frames(&mut c.out);
    assert_eq!(
        (f[0].kind, f[0].flags, f[0].payload.len()),
        (frame::SETTINGS, frame::ACK, 0)
    );
    assert_eq!((f[1].kind, f[1].flags), (frame::PING, frame::ACK));
    assert_eq!(f[1].payload, b"12345678");
    assert_eq!(c.peer.max_concurrent, 7);
}

#[test]
fn a_get_is_one_headers_frame_and_its_answer_is_rendered() {
    let mut c = up(&[]);
    let id = get(&mut c).unwrap();
    assert_eq!(id, 1);
    let f = frames(&mut c.out);
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].kind, f[0].flags, f[0].stream),
        (frame::HEADERS, frame::END_STREAM | frame::END_HEADERS, 1)
    );
    assert!(poll(&mut c, id).is_pending());
    let mut bytes = raw(frame::HEADERS, frame::END_HEADERS, 1, &head_200("5"));
    bytes.extend(raw(frame::DATA, frame::END_STREAM, 1, b"hello"));
    feed(&mut c, &bytes);
    let Poll::Ready(Ok(r)) = poll(&mut c, id) else {
        panic!("answered");
    };
    assert_eq!(r.status, 200);
    assert_eq!(r.head, b"HTTP/1.1 200 \r\ncontent-length: 5\r\n\r\n");
    assert!(r.body.is_none(), "not kept unless asked");
    assert_eq!(c.active, 0);
    // The next stream is 3.
    assert_eq!(get(&mut c).unwrap(), 3);
}

#[test]
fn a_body_is_kept_when_asked_or_for_errors() {
    let mut c = up(&[]);
    let id = c
        .open(b"GET", b"http", b"a", b"/", [], Bytes::new(), true)
        .unwrap();
    let mut bytes = raw(frame::HEADERS, frame::END_HEADERS, id, &head_200("5"));
    bytes.extend(raw(frame::DATA, 0, id, b"hel"));
    bytes.extend(raw(frame::DATA, frame::END_STREAM, id, b"lo"));
    feed(&mut c, &bytes);
    let Poll::Ready(Ok(r)) = poll(&mut c, id) else {
        panic!()
    };
    assert_eq!(r.body.as_deref(), Some(&b"hello"[..]));
    // 404 (static index 13), no content-length, kept though not asked.
    let id = get(&mut c).unwrap();
    let mut bytes = raw(frame::HEADERS, frame::END_HEADERS, id, &[0x8d]);
    bytes.extend(raw(frame::DATA, frame::END_STREAM, id, b"nope"));
    feed(&mut c, &bytes);
    let Poll::Ready(Ok(r)) = poll(&mut c, id) else {
        panic!()
    };
    assert_eq!((r.status, r.body.as_deref()), (404, Some(&b"nope"[..])));
}

#[test]
fn the_servers_stream_limit_holds_streams_back_until_one_closes() {
    let mut c = up(&[(frame::MAX_CONCURRENT_STREAMS, 1)]);
    let a = get(&mut c).unwrap();
    let b = get(&mut c).unwrap();
    let f = frames(&mut c.out);
    assert_eq!(f.len(), 1, "only the first goes out");
    assert_eq!(f[0].stream, a);
    feed(
        &mut c,
        &raw(
            frame::HEADERS,
            frame::END_HEADERS | frame::END_STREAM,
            a,
            &[0x88],
        ),
    );
    let f = frames(&mut c.out);
    assert_eq!((f.len(), f[0].kind, f[0].stream), (1, frame::HEADERS, b));
    assert!(matches!(poll(&mut c, a), Poll::Ready(Ok(_))));
    assert_eq!(c.active, 1);
}

#[test]
fn rst_stream_and_goaway_end_their_streams() {
    let mut c = up(&[]);
    let (a, b, d) = (
        get(&mut c).unwrap(),
        get(&mut c).unwrap(),
        get(&mut c).unwrap(),
    );
    feed(
        &mut c,
        &raw(frame::RST_STREAM, 0, b, &code::REFUSED_STREAM.to_be_bytes()),
    );
    assert!(matches!(
        poll(&mut c, b),
        Poll::Ready(Err(StreamError::Reset(7)))
    ));
    // GOAWAY with last stream id `a`: `d` was not processed, `a` still answers.
    let mut p = a.to_be_bytes().to_vec();
    p.extend_from_slice(&code::NO_ERROR.to_be_bytes());
    feed(&mut c, &raw(frame::GOAWAY, 0, 0, &p));
    assert!(matches!(
        poll(&mut c, d),
        Poll::Ready(Err(StreamError::GoAway(0)))
    ));
    assert_eq!(get(&mut c), Err(OpenError::GoingAway));
    feed(
        &mut c,
        &raw(
            frame::HEADERS,
            frame::END_HEADERS | frame::END_STREAM,
            a,
            &[0x88],
        ),
    );
    assert!(matches!(poll(&mut c, a), Poll::Ready(Ok(_))));
}

fn goaway_code(f: &[F]) -> Option<u32> {
    f.iter()
        .find(|f| f.kind == frame::GOAWAY)
        .map(|f| u32::from_be_bytes(f.payload[4..8].try_into().unwrap()))
}

/// Feed `bytes` to a connection with one open stream: the GOAWAY code it answers
/// with, and how its stream ended.
fn connection_error(bytes: &[u8]) -> (Option<u32>, Poll<Result<crate::Response, StreamError>>) {
    let mut c = up(&[]);
    let id = get(&mut c).unwrap();
    c.out.clear();
    feed(&mut c, bytes);
    let f = frames(&mut c.out);
    (goaway_code(&f), poll(&mut c, id))
}

// Long: one table of violations (a frame each, the code RFC 9113 gives it).
#[test]
fn protocol_violations_are_connection_errors_with_their_codes() {
    let cases: Vec<(Vec<u8>, u32)> = vec![
        // A broken HPACK block (index 0).
        (
            raw(frame::HEADERS, frame::END_HEADERS, 1, &[0x80]),
            code::COMPRESSION_ERROR,
        ),
        // HEADERS on a stream the client never opened, and on a server stream.
        (
            raw(frame::HEADERS, frame::END_HEADERS, 5, &[0x88]),
            code::PROTOCOL_ERROR,
        ),
        (
            raw(frame::HEADERS, frame::END_HEADERS, 2, &[0x88]),
            code::PROTOCOL_ERROR,
        ),
        // DATA on stream 0.
        (raw(frame::DATA, 0, 0, b"x"), code::PROTOCOL_ERROR),
        // A frame longer than 16 384 octets.
        (raw(frame::DATA, 0, 1, &[0; 16_385]), code::FRAME_SIZE_ERROR),
        // SETTINGS of 5 octets; SETTINGS on a stream; ENABLE_PUSH 1; a bad frame size.
        (raw(frame::SETTINGS, 0, 0, &[0; 5]), code::FRAME_SIZE_ERROR),
        (raw(frame::SETTINGS, 0, 1, &[]), code::PROTOCOL_ERROR),
        (settings(&[(frame::ENABLE_PUSH, 1)]), code::PROTOCOL_ERROR),
        (
            settings(&[(frame::MAX_FRAME_SIZE, 100)]),
            code::PROTOCOL_ERROR,
        ),
        (
            settings(&[(frame::INITIAL_WINDOW_SIZE, 1 << 31)]),
            code::FLOW_CONTROL_ERROR,
        ),
        // PING of 7 octets; PUSH_PROMISE; WINDOW_UPDATE of 0 and past 2^31-1.
        (raw(frame::PING, 0, 0, &[0; 7]), code::FRAME_SIZE_ERROR),
        (
            raw(
                frame::PUSH_PROMISE,
                frame::END_HEADERS,
                1,
                &[0, 0, 0, 2, 0x88],
            ),
            code::PROTOCOL_ERROR,
        ),
        (
            raw(frame::WINDOW_UPDATE, 0, 0, &[0; 4]),
            code::PROTOCOL_ERROR,
        ),
        (
            raw(frame::WINDOW_UPDATE, 0, 0, &0x7fff_ffffu32.to_be_bytes()),
            code::FLOW_CONTROL_ERROR,
        ),
        // RST_STREAM on stream 0, and of 3 octets.
        (raw(frame::RST_STREAM, 0, 0, &[0; 4]), code::PROTOCOL_ERROR),
        (
            raw(frame::RST_STREAM, 0, 1, &[0; 3]),
            code::FRAME_SIZE_ERROR,
        ),
        // A header block interrupted by another frame.
        (
            [
                raw(frame::HEADERS, 0, 1, &[0x88]),
                raw(frame::PING, 0, 0, &[0; 8]),
            ]
            .concat(),
            code::PROTOCOL_ERROR,
        ),
        // CONTINUATION without HEADERS; padding as long as the frame.
        (
            raw(frame::CONTINUATION, frame::END_HEADERS, 1, &[0x88]),
            code::PROTOCOL_ERROR,
        ),
        (
            raw(frame::DATA, frame::PADDED, 1, &[4, 1, 2, 3]),
            code::PROTOCOL_ERROR,
        ),
    ];
    for (i, (bytes, want)) in cases.iter().enumerate() {
        let (got, stream) = connection_error(bytes);
        assert_eq!(got, Some(*want), "case {i}");
        assert!(
            matches!(stream, Poll::Ready(Err(StreamError::Connection(c, _))) if c == *want),
            "case {i}: {stream:?}"
        );
    }
}

#[test]
fn the_servers_preface_must_be_settings() {
    let mut c = Conn::new(Config::default());
    c.out.clear();
    feed(&mut c, &raw(frame::PING, 0, 0, &[0; 8]));
    assert_eq!(goaway_code(&frames(&mut c.out)), Some(code::PROTOCOL_ERROR));
    assert!(c.closed.is_some());
}

#[test]
fn malformed_answers_reset_their_stream_only() {
    let heads: [&[u8]; 4] = [
        // No :status (content-length only).
        &[0x0f, 0x0d, 0x01, b'5'],
        // content-length 5 and a 3-byte body follows (below).
        &[0x88, 0x0f, 0x0d, 0x01, b'5'],
        // An uppercase name: literal without indexing, new name "X".
        &[0x88, 0x00, 0x01, b'X', 0x01, b'y'],
        // :path in an answer (static index 4).
        &[0x88, 0x84],
    ];
    for (i, head) in heads.iter().enumerate() {
        let mut c = up(&[]);
        let id = get(&mut c).unwrap();
        c.out.clear();
        let end = if i == 1 { 0 } else { frame::END_STREAM };
        let mut bytes = raw(frame::HEADERS, frame::END_HEADERS | end, id, head);
        if i == 1 {
            bytes.extend(raw(frame::DATA, frame::END_STREAM, id, b"abc"));
        }
        feed(&mut c, &bytes);
        assert!(
            matches!(
                poll(&mut c, id),
                Poll::Ready(Err(StreamError::Malformed(_)))
            ),
            "case {i}"
        );
        assert!(c.closed.is_none(), "case {i}: the connection lives on");
        assert!(get(&mut c).is_ok());
    }
}

#[test]
fn a_header_block_in_continuation_frames_is_one_block() {
    let mut c = up(&[]);
    let id = get(&mut c).unwrap();
    let block = head_200("2");
    let mut bytes = raw(frame::HEADERS, 0, id, &block[..2]);
    bytes.extend(raw(frame::CONTINUATION, 0, id, &block[2..3]));
    bytes.extend(raw(
        frame::CONTINUATION,
        frame::END_HEADERS,
        id,
        &block[3..],
    ));
    bytes.extend(raw(frame::DATA, frame::END_STREAM, id, b"ok"));
    feed(&mut c, &bytes);
    let Poll::Ready(Ok(r)) = poll(&mut c, id) else {
        panic!()
    };
    assert_eq!(r.head, b"HTTP/1.1 200 \r\ncontent-length: 2\r\n\r\n");
}

#[test]
fn a_request_body_waits_for_the_servers_windows() {
    // The server's initial stream window: 65 535 (the default); the connection's too.
    let mut c = up(&[]);
    let body = Bytes::from(vec![7u8; 100_000]);
    let id = c
        .open(b"POST", b"http", b"a", b"/", [], body, false)
        .unwrap();
    let f = frames(&mut c.out);
    assert_eq!(
        (f[0].kind, f[0].flags),
        (frame::HEADERS, frame::END_HEADERS)
    );
    let data: Vec<_> = f.iter().filter(|f| f.kind == frame::DATA).collect();
    assert_eq!(
        data.iter().map(|f| f.payload.len()).collect::<Vec<_>>(),
        [16_384, 16_384, 16_384, 16_383],
        "65 535 octets in frames of at most 16 384"
    );
    assert!(data.iter().all(|f| f.flags & frame::END_STREAM == 0));
    // Window for the connection only: the stream's is still empty.
    feed(
        &mut c,
        &raw(frame::WINDOW_UPDATE, 0, 0, &100_000u32.to_be_bytes()),
    );
    assert!(frames(&mut c.out).is_empty());
    feed(
        &mut c,
        &raw(frame::WINDOW_UPDATE, 0, id, &100_000u32.to_be_bytes()),
    );
    let f = frames(&mut c.out);
    let sizes: Vec<_> = f.iter().map(|f| f.payload.len()).collect();
    assert_eq!(sizes, [16_384, 16_384, 1_697]);
    assert_eq!(f[2].flags, frame::END_STREAM);
}

#[test]
fn received_data_is_granted_back_at_half_the_window() {
    let cfg = Config {
        stream_window: 100_000,
        connection_window: 1_000_000,
        ..Config::default()
    };
    let mut c = Conn::new(cfg);
    feed(
        &mut c,
        &[settings(&[]), raw(frame::PING, frame::ACK, 0, b"ninefold")].concat(),
    );
    c.out.clear();
    let id = get(&mut c).unwrap();
    c.out.clear();
    let mut bytes = raw(frame::HEADERS, frame::END_HEADERS, id, &[0x88]);
    for _ in 0..4 {
        bytes.extend(raw(frame::DATA, 0, id, &[0; 16_000]));
    }
    feed(&mut c, &bytes);
    // 64 000 octets: past half the stream window (50 000) once, at the fourth frame.
    let f = frames(&mut c.out);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].kind, f[0].stream), (frame::WINDOW_UPDATE, id));
    assert_eq!(f[0].payload, 64_000u32.to_be_bytes());
    // A frame past the stream's window (36 000 left + 64 000 granted = 100 000).
    c.out.clear();
    feed(&mut c, &raw(frame::DATA, 0, id, &[0; 16_384]));
    assert!(poll(&mut c, id).is_pending());
}

#[test]
fn a_cancelled_stream_is_reset_and_its_late_frames_dropped() {
    let mut c = up(&[]);
    let id = get(&mut c).unwrap();
    c.out.clear();
    c.cancel(id);
    let f = frames(&mut c.out);
    assert_eq!((f[0].kind, f[0].stream), (frame::RST_STREAM, id));
    assert_eq!(f[0].payload, code::CANCEL.to_be_bytes());
    // The answer arrives anyway: decoded (HPACK state), dropped, no error.
    let mut bytes = raw(
        frame::HEADERS,
        frame::END_HEADERS,
        id,
        &[0x40, 1, b'a', 1, b'b'],
    );
    bytes.extend(raw(frame::DATA, frame::END_STREAM, id, b"late"));
    feed(&mut c, &bytes);
    assert!(c.closed.is_none());
    assert_eq!(
        c.decoder.table_state().0,
        1,
        "the dropped block still filled the table"
    );
    assert_eq!(c.active, 0);
}

#[test]
fn the_end_of_the_connection_fails_waiting_streams() {
    let mut c = up(&[]);
    let id = get(&mut c).unwrap();
    c.ended();
    assert!(matches!(
        poll(&mut c, id),
        Poll::Ready(Err(StreamError::Closed))
    ));
    assert!(matches!(
        get(&mut c),
        Err(OpenError::Closed(StreamError::Closed))
    ));
}

#[test]
fn a_large_request_head_goes_out_in_continuation_frames() {
    let mut c = up(&[]);
    let big = vec![b'v'; 40_000];
    let fields: [(&[u8], &[u8]); 1] = [(b"x-big", &big)];
    let id = c
        .open(b"GET", b"http", b"a", b"/", fields, Bytes::new(), false)
        .unwrap();
    let f = frames(&mut c.out);
    let kinds: Vec<_> = f.iter().map(|f| (f.kind, f.flags, f.stream)).collect();
    assert_eq!(kinds[0], (frame::HEADERS, frame::END_STREAM, id));
    assert!(
        kinds[1..kinds.len() - 1]
            .iter()
            .all(|k| *k == (frame::CONTINUATION, 0, id))
    );
    assert_eq!(
        *kinds.last().unwrap(),
        (frame::CONTINUATION, frame::END_HEADERS, id)
    );
    assert!(f.iter().all(|f| f.payload.len() <= 16_384));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// Any bytes from a server after its SETTINGS: never a panic; an open stream ends
    /// or waits, the connection either lives or has said why it ended.
    #[test]
    fn arbitrary_server_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut c = up(&[]);
        let id = get(&mut c).unwrap();
        let _ = get(&mut c);
        feed(&mut c, &tail);
        let _ = poll(&mut c, id);
        prop_assert!(c.active <= 2);
    }

    /// Well-framed but arbitrary frames (any type, flags, stream 0..8, payload).
    #[test]
    fn arbitrary_frames_never_panic(
        fs in proptest::collection::vec((0u8..12, any::<u8>(), 0u32..8, proptest::collection::vec(any::<u8>(), 0..40)), 0..12)
    ) {
        let mut c = up(&[]);
        let ids = [get(&mut c).unwrap(), get(&mut c).unwrap()];
        let bytes: Vec<u8> = fs.iter().flat_map(|(k, fl, s, p)| raw(*k, *fl, *s, p)).collect();
        feed(&mut c, &bytes);
        for id in ids {
            let _ = poll(&mut c, id);
        }
        let _ = get(&mut c);
    }
}
