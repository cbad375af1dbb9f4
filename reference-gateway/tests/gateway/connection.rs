//! The client connection, byte by byte: keep-alive and pipelining, request framing,
//! `Expect: 100-continue`, refusals of broken heads, slow clients, the connection limit
//! and the drain. Raw TCP, so that what is checked is what goes over the wire.

use std::num::NonZeroUsize;
use std::time::Duration;

use bytes::BytesMut;
use ninefold_http1::{self as h1, BodyDecoder, Decoded};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// Generous bound on every wait: the machine may be busy.
const WAIT: Duration = Duration::from_secs(20);

/// One answer as the client saw it.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A raw client connection with its read buffer.
struct Client {
    stream: TcpStream,
    buf: BytesMut,
}

impl Client {
    async fn connect(gw: &Gw) -> Client {
        Client {
            stream: TcpStream::connect(gw.addr()).await.unwrap(),
            buf: BytesMut::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next answer (`None` when the gateway closed first), for a request with
    /// method HEAD or not.
    async fn answer_to(&mut self, head_request: bool) -> Option<Answer> {
        tokio::time::timeout(WAIT, self.read_answer(head_request))
            .await
            .expect("no answer in time")
    }

    async fn answer(&mut self) -> Option<Answer> {
        self.answer_to(false).await
    }

    async fn read_answer(&mut self, head_request: bool) -> Option<Answer> {
        let head = loop {
            if let Some(head) = h1::parse_head(&self.buf).expect("a valid answer") {
                break head;
            }
            if self.stream.read_buf(&mut self.buf).await.unwrap_or(0) == 0 {
                assert!(self.buf.is_empty(), "closed mid-answer: {:?}", self.buf);
                return None;
            }
        };
        let text =
            |r: &std::ops::Range<usize>| String::from_utf8_lossy(&self.buf[r.clone()]).into_owned();
        let headers = head
            .headers
            .iter()
            .map(|(n, v)| (text(n), text(v)))
            .collect();
        let _ = self.buf.split_to(head.len);
        let mut decoder = BodyDecoder::new(head.framing_for(head_request));
        let mut body = Vec::new();
        loop {
            match decoder.decode(&mut self.buf).expect("a valid body") {
                Decoded::Data(n) => body.extend_from_slice(&self.buf.split_to(n)),
                Decoded::Done => break,
                Decoded::NeedMore => {
                    if self.stream.read_buf(&mut self.buf).await.unwrap_or(0) == 0 {
                        decoder.end_of_input().expect("a complete body");
                        break;
                    }
                }
            }
        }
        Some(Answer {
            status: head.status,
            headers,
            body,
        })
    }

    /// Whether the gateway closes the connection (nothing more arrives before the end).
    async fn closes(&mut self) -> bool {
        let mut rest = [0u8; 64];
        matches!(
            tokio::time::timeout(WAIT, self.stream.read(&mut rest)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let up = spawn_upstream("a").await;
    let gw = spawn_gateway(config(&[up.addr])).await;
    let mut c = Client::connect(&gw).await;
    c.send(b"GET /items/1 HTTP/1.1\r\nHost: gw\r\n\r\nGET /items/2 HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await;
    for path in ["/items/1", "/items/2"] {
        let a = c.answer().await.unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(a.body, format!("a {path}").as_bytes());
        assert!(a.header("date").is_some(), "{a:?}");
        assert_eq!(a.header("connection"), None);
    }
    // HEAD: the length GET would send, no body: the next answer starts where it should.
    c.send(b"HEAD /items/3 HTTP/1.1\r\nHost: gw\r\n\r\nGET /items/4 HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await;
    let a = c.answer_to(true).await.unwrap();
    assert_eq!((a.status, a.header("content-length")), (200, Some("10")));
    assert!(a.body.is_empty());
    assert_eq!(c.answer().await.unwrap().body, b"a /items/4");
    // The client's `Connection: close` is honoured and not passed on.
    c.send(b"GET /items/5 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        .await;
    let a = c.answer().await.unwrap();
    assert_eq!(a.header("connection"), Some("close"));
    assert!(c.closes().await);
    assert_eq!(up.last().headers.get("connection"), None);
    assert_eq!(up.calls(), 5);
}

/// Header maps are reused from one message to the next (`h1::recycle`): nothing of an
/// earlier request's fields reaches the instance with a later one, nothing of an earlier
/// answer's reaches the client with a later one.
#[tokio::test]
async fn each_message_carries_its_own_fields_only() {
    let up = spawn_upstream("a").await;
    let gw = spawn_gateway(config(&[up.addr])).await;
    let mut c = Client::connect(&gw).await;
    // The instance answers the first path with `Cache-Control: no-store`, the others
    // without it.
    let requests = [
        ("/items/nostore", "x-one"),
        ("/items/1", "x-two"),
        ("/items/2", "x-three"),
    ];
    for (i, (path, field)) in requests.iter().enumerate() {
        c.send(format!("GET {path} HTTP/1.1\r\nHost: gw\r\n{field}: {i}\r\n\r\n").as_bytes())
            .await;
        let a = c.answer().await.unwrap();
        assert_eq!(a.status, 200);
        let want = (i == 0).then_some("no-store");
        assert_eq!(a.header("cache-control"), want, "answer {i}: {a:?}");
        let instance = a.headers.iter().filter(|(n, _)| n == "x-backend-instance");
        assert_eq!(instance.count(), 1, "answer {i}: {a:?}");
    }
    let seen = up.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    for (i, (_, field)) in requests.iter().enumerate() {
        let headers = &seen[i].headers;
        assert_eq!(headers.get(*field).unwrap(), &i.to_string(), "{headers:?}");
        for (_, other) in requests.iter().filter(|(_, f)| f != field) {
            assert_eq!(headers.get(*other), None, "request {i}: {headers:?}");
        }
    }
}

#[tokio::test]
async fn an_http_1_0_client_gets_its_answer_and_a_close() {
    let up = spawn_upstream("a").await;
    let gw = spawn_gateway(config(&[up.addr])).await;
    let mut c = Client::connect(&gw).await;
    c.send(b"GET /items/1 HTTP/1.0\r\n\r\n").await;
    let a = c.answer().await.unwrap();
    assert_eq!((a.status, a.body.as_slice()), (200, &b"a /items/1"[..]));
    assert!(c.closes().await);
}

#[tokio::test]
async fn a_chunked_body_reaches_the_instance_with_its_length() {
    let up = spawn_upstream("a").await;
    let gw = spawn_gateway(config(&[up.addr])).await;
    let mut c = Client::connect(&gw).await;
    c.send(
        b"POST /items HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(c.answer().await.unwrap().status, 200);
    let seen = up.last();
    assert_eq!(seen.body, b"hello world");
    assert_eq!(seen.headers["content-length"], "11");
    assert_eq!(seen.headers.get("transfer-encoding"), None);
    // The connection is still good after a body read to its end.
    c.send(b"GET /items/2 HTTP/1.1\r\nHost: gw\r\n\r\n").await;
    assert_eq!(c.answer().await.unwrap().status, 200);
}

#[tokio::test]
async fn expect_continue_is_answered_when_the_body_is_wanted_and_not_before_a_refusal() {
    let up = spawn_upstream("a").await;
    let mut cfg = config(&[up.addr]);
    cfg.server.max_body_bytes = NonZeroUsize::new(1024).unwrap();
    let gw = spawn_gateway(cfg).await;
    let mut c = Client::connect(&gw).await;
    c.send(
        b"PUT /items/1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .await;
    assert_eq!(c.answer().await.unwrap().status, 100);
    c.send(b"hello").await;
    assert_eq!(c.answer().await.unwrap().status, 200);
    assert_eq!(up.last().body, b"hello");
    assert_eq!(
        up.last().headers.get("expect"),
        Some(&"100-continue".parse().unwrap())
    );

    // Too large by its declared length: 413 at once, no 100, and the unread body ends
    // the connection.
    c.send(b"PUT /items/1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 4096\r\nExpect: 100-continue\r\n\r\n")
        .await;
    let a = c.answer().await.unwrap();
    assert_eq!(a.status, 413);
    assert_eq!(a.header("connection"), Some("close"));
    assert!(c.closes().await);
    assert_eq!(up.calls(), 1);
}

#[tokio::test]
async fn a_refused_body_does_not_cost_the_client_its_answer() {
    let up = spawn_upstream("a").await;
    let mut cfg = config(&[up.addr]);
    cfg.server.max_body_bytes = NonZeroUsize::new(1024).unwrap();
    let gw = spawn_gateway(cfg).await;
    let mut c = Client::connect(&gw).await;
    // The whole oversized body is already sent when the 413 goes out: a plain close
    // would reset the connection and lose the answer.
    let mut wire = b"PUT /items/1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 65536\r\n\r\n".to_vec();
    wire.extend(std::iter::repeat_n(b'x', 65536));
    c.send(&wire).await;
    assert_eq!(c.answer().await.unwrap().status, 413);
    assert_eq!(up.calls(), 0);
}

#[tokio::test]
async fn broken_heads_get_their_status_and_a_close() {
    let up = spawn_upstream("a").await;
    let gw = spawn_gateway(config(&[up.addr])).await;
    let huge = format!(
        "GET /items/1 HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let cases: [(&[u8], u16); 5] = [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /items/1 HTTP/1.1\r\nX-Bad: a\x01b\r\n\r\n", 400),
        (
            b"POST /items HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (
            b"POST /items HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
        ),
        (huge.as_bytes(), 431),
    ];
    for (wire, status) in cases {
        let mut c = Client::connect(&gw).await;
        c.send(wire).await;
        let a = c.answer().await.expect("an answer before the close");
        assert_eq!(a.status, status, "{}", String::from_utf8_lossy(&wire[..20]));
        assert_eq!(a.header("connection"), Some("close"));
        let body: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(body["source"], "client");
        assert!(c.closes().await);
    }
    assert_eq!(up.calls(), 0);
}

#[tokio::test]
async fn a_slow_client_is_cut_off_after_the_header_read_timeout() {
    let up = spawn_upstream("a").await;
    let mut cfg = config(&[up.addr]);
    cfg.server.header_read_timeout = Duration::from_millis(300);
    let gw = spawn_gateway(cfg).await;
    // Part of a head, then nothing: 408 and a close.
    let mut slow = Client::connect(&gw).await;
    slow.send(b"GET /items/1 HTTP/1.1\r\nHost: gw\r\n").await;
    let a = slow.answer().await.unwrap();
    assert_eq!(a.status, 408);
    assert!(slow.closes().await);
    // A connection that never sends a byte is closed without an answer.
    let mut silent = Client::connect(&gw).await;
    assert!(silent.answer().await.is_none());
    // Between requests, a keep-alive connection is not held to the head timeout.
    let mut c = Client::connect(&gw).await;
    c.send(b"GET /items/1 HTTP/1.1\r\nHost: gw\r\n\r\n").await;
    assert_eq!(c.answer().await.unwrap().status, 200);
    let mut probe = Client::connect(&gw).await;
    assert!(
        probe.answer().await.is_none(),
        "the probe outlived the head timeout"
    );
    c.send(b"GET /items/2 HTTP/1.1\r\nHost: gw\r\n\r\n").await;
    assert_eq!(c.answer().await.unwrap().status, 200);
}

#[tokio::test]
async fn a_client_over_the_connection_limit_gets_503_at_once() {
    let up = spawn_upstream("a").await;
    let mut cfg = config(&[up.addr]);
    cfg.server.max_connections = NonZeroUsize::new(1).unwrap();
    let gw = spawn_gateway(cfg).await;
    let mut held = Client::connect(&gw).await;
    held.send(b"GET /items/1 HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await;
    assert_eq!(held.answer().await.unwrap().status, 200);
    let mut extra = Client::connect(&gw).await;
    extra
        .send(b"GET /items/2 HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await;
    let a = extra.answer().await.unwrap();
    assert_eq!(a.status, 503);
    let body: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(body["error"], "overloaded");
    assert!(extra.closes().await);
    // Once the held connection ends, its slot serves the next client.
    drop(held);
    let mut served = false;
    for _ in 0..500 {
        let mut c = Client::connect(&gw).await;
        c.send(b"GET /items/3 HTTP/1.1\r\nHost: gw\r\n\r\n").await;
        if c.answer().await.is_some_and(|a| a.status == 200) {
            served = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(served, "the slot was never released");
    assert_eq!(up.calls(), 2);
}

#[tokio::test]
async fn a_drain_closes_idle_connections_and_finishes_the_request_in_flight() {
    let hung = spawn_hung().await;
    let mut cfg = config(&[hung.addr]);
    cfg.request_timeout = Duration::from_millis(500);
    let gw = spawn_gateway(cfg).await;
    let mut idle = Client::connect(&gw).await;
    idle.send(b"GET /nothing HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await;
    assert_eq!(idle.answer().await.unwrap().status, 404);
    let mut busy = Client::connect(&gw).await;
    busy.send(b"GET /nothing HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await;
    assert_eq!(busy.answer().await.unwrap().status, 404);
    busy.send(b"GET /items/1 HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await;
    // In flight once the gateway reached the instance.
    let mut accepted = hung.accepted.clone();
    tokio::time::timeout(WAIT, accepted.wait_for(|n| *n >= 1))
        .await
        .expect("the request reached the instance")
        .unwrap();
    gw.stop();
    assert!(idle.closes().await, "an idle connection closes on drain");
    let a = busy
        .answer()
        .await
        .expect("the request in flight is answered");
    assert_eq!(a.status, 504);
    assert_eq!(a.header("connection"), Some("close"));
    assert!(busy.closes().await);
}
