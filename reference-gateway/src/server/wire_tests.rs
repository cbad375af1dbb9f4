use proptest::prelude::*;

use super::*;

const LIMITS: HeadLimits = HeadLimits {
    max_bytes: 8192,
    max_headers: 100,
};

fn parse(bytes: &[u8]) -> (Result<Option<Parsed>, WireError>, BytesMut) {
    let mut buf = BytesMut::from(bytes);
    let r = parse_request(&mut buf, LIMITS, &mut Scratch::default());
    (r, buf)
}

fn ok(bytes: &[u8]) -> Parsed {
    parse(bytes).0.expect("valid").expect("complete")
}

fn err(bytes: &[u8]) -> WireError {
    parse(bytes).0.expect_err("refused")
}

#[test]
fn a_request_head_becomes_a_request_and_leaves_what_follows() {
    let wire = b"GET /items/1?x=2 HTTP/1.1\r\nHost: gw\r\nX-A: 1\r\nx-a: 2\r\n\r\nGET /next";
    let (r, rest) = parse(wire);
    let p = r.unwrap().unwrap();
    assert_eq!(p.request.method(), Method::GET);
    assert_eq!(p.request.uri().path(), "/items/1");
    assert_eq!(p.request.uri().query(), Some("x=2"));
    assert_eq!(p.request.version(), Version::HTTP_11);
    assert_eq!(p.request.headers()["host"], "gw");
    let all: Vec<_> = p.request.headers().get_all("x-a").iter().collect();
    assert_eq!(all, ["1", "2"]);
    assert_eq!(p.framing, Framing::Empty);
    assert!(p.keep_alive);
    assert!(!p.expect_continue);
    assert_eq!(
        &rest[..],
        b"GET /next",
        "the pipelined request stays buffered"
    );
}

#[test]
fn an_incomplete_head_waits_and_consumes_nothing() {
    let wire = b"GET / HTTP/1.1\r\nHost: gw\r\n";
    let (r, rest) = parse(wire);
    assert_eq!(r.unwrap().map(|_| ()), None);
    assert_eq!(&rest[..], wire);
}

// Long: a table of heads and the framing or refusal each must get.
#[test]
fn framing_follows_rfc_9112() {
    assert_eq!(
        ok(b"POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\n").framing,
        Framing::Length(5)
    );
    assert_eq!(
        ok(b"POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n")
            .framing,
        Framing::Length(5)
    );
    assert_eq!(
        ok(b"POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n\r\n").framing,
        Framing::Empty
    );
    assert_eq!(
        ok(b"POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: Chunked \r\n\r\n").framing,
        Framing::Chunked
    );
    for (wire, want) in [
        (
            &b"POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"[..],
            WireError::Malformed("conflicting content-length"),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            WireError::Malformed("both transfer-encoding and content-length"),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: +5\r\n\r\n",
            WireError::Malformed("invalid content-length"),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            WireError::Malformed("invalid content-length"),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 1, 1\r\n\r\n",
            WireError::Malformed("invalid content-length"),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            WireError::UnsupportedCoding,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            WireError::UnsupportedCoding,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: identity, chunked\r\n\r\n",
            WireError::UnsupportedCoding,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
            WireError::UnsupportedCoding,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
            WireError::Malformed("more than one host header"),
        ),
        (
            b"GET / HTTP/1.1\r\n\r\n",
            WireError::Malformed("no host header"),
        ),
        (
            b"GET /a/%2fb HTTP/1.1\r\nHost: gw\r\n\r\n",
            WireError::Malformed("encoded slash in the path"),
        ),
        (
            b"GET /../a HTTP/1.1\r\nHost: gw\r\n\r\n",
            WireError::Malformed("path climbs above the root"),
        ),
        (
            b"GET a/b HTTP/1.1\r\nHost: gw\r\n\r\n",
            WireError::Malformed("invalid request target"),
        ),
        (
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            WireError::Malformed("transfer-encoding in HTTP/1.0"),
        ),
    ] {
        assert_eq!(err(wire), want, "{}", String::from_utf8_lossy(wire));
    }
    assert_eq!(WireError::UnsupportedCoding.status(), 501);
}

#[test]
fn keep_alive_and_expect_continue() {
    assert!(!ok(b"GET / HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
    assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
    assert!(ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
    let p = ok(b"PUT / HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n");
    assert!(p.expect_continue);
    // Nothing to continue without a body.
    assert!(!ok(b"GET / HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\n\r\n").expect_continue);
    let e = err(b"GET / HTTP/1.1\r\nHost: gw\r\nExpect: teapot\r\n\r\n");
    assert_eq!(e.status(), 417);
}

#[test]
fn hostile_heads_are_refused_with_their_status() {
    let long = format!(
        "GET / HTTP/1.1\r\nHost: gw\r\nX-Big: {}\r\n\r\n",
        "a".repeat(9000)
    );
    assert_eq!(err(long.as_bytes()).status(), 431);
    // Past the limit before the head is even complete: refused, not buffered on.
    let endless = format!("GET / HTTP/1.1\r\nHost: gw\r\nX-Big: {}", "a".repeat(9000));
    assert_eq!(err(endless.as_bytes()).status(), 431);
    let mut many = String::from("GET / HTTP/1.1\r\nHost: gw\r\n");
    for i in 0..101 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(err(many.as_bytes()).status(), 431);
    for wire in [
        &b"GARBAGE\r\n\r\n"[..],
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: gw\r\nX-Bad: a\x01b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: gw\r\nBad Name: v\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: gw\r\n\r\n",
        b"G\xc3\xa9T / HTTP/1.1\r\nHost: gw\r\n\r\n",
        b"GET http://[::1 HTTP/1.1\r\nHost: gw\r\n\r\n",
    ] {
        assert_eq!(err(wire).status(), 400, "{}", String::from_utf8_lossy(wire));
    }
}

#[test]
fn more_headers_than_the_stack_array_are_read_when_configured() {
    let mut wire = String::from("GET / HTTP/1.1\r\nHost: gw\r\n");
    for i in 0..300 {
        wire.push_str(&format!("x-h{i}: v\r\n"));
    }
    wire.push_str("\r\n");
    let mut buf = BytesMut::from(wire.as_bytes());
    let limits = HeadLimits {
        max_bytes: 64 * 1024,
        max_headers: 400,
    };
    let p = parse_request(&mut buf, limits, &mut Scratch::default())
        .unwrap()
        .unwrap();
    assert_eq!(p.request.headers().len(), 301, "300 and Host");
}

fn parts(status: u16, headers: &[(&str, &str)]) -> http::response::Parts {
    let mut resp = http::Response::new(());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    for (n, v) in headers {
        resp.headers_mut().append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    resp.into_parts().0
}

fn head(parts: &http::response::Parts, body: BodyOut, close: bool) -> String {
    let mut out = Vec::new();
    encode_head(
        parts,
        None,
        body,
        close,
        &mut DateCache::default(),
        &mut out,
    );
    String::from_utf8(out).unwrap()
}

#[test]
fn response_heads_carry_their_own_framing_and_no_hop_by_hop_fields() {
    let p = parts(
        200,
        &[
            ("x-a", "1"),
            ("connection", "keep-alive"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("content-length", "999"),
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ],
    );
    assert_eq!(
        head(&p, BodyOut::Length(5), false),
        "HTTP/1.1 200 OK\r\nx-a: 1\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         content-length: 5\r\n\r\n"
    );
    let h = head(&parts(502, &[]), BodyOut::Chunked, true);
    assert!(h.starts_with("HTTP/1.1 502 Bad Gateway\r\ndate: "), "{h}");
    assert!(h.ends_with(" GMT\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"));
    // HEAD: the length of what GET would send passes through.
    let h = head(
        &parts(200, &[("content-length", "10")]),
        BodyOut::None,
        false,
    );
    assert!(h.contains("content-length: 10\r\n"), "{h}");
    let h = head(&parts(599, &[]), BodyOut::UntilClose, true);
    assert!(h.starts_with("HTTP/1.1 599 \r\n"), "{h}");
    assert!(!h.contains("content-length"), "{h}");
}

#[test]
fn added_fields_replace_the_upstreams_and_match_what_the_map_would_hold() {
    let p = parts(
        200,
        &[
            ("x-request-id", "from-upstream"),
            ("ratelimit-remaining", "77"),
            ("x-a", "1"),
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ],
    );
    let limit = crate::error::LimitInfo {
        limit: 100,
        remaining: 4096,
        reset: std::time::Duration::from_millis(2_500),
        retry_after: std::time::Duration::ZERO,
    };
    let added = |limit| Added {
        request_id: HeaderValue::from_static("abc-1"),
        limit,
    };
    let encode = |added: &Added| {
        let mut out = Vec::new();
        let d = &mut DateCache::default();
        encode_head(&p, Some(added), BodyOut::Length(0), false, d, &mut out);
        String::from_utf8(out).unwrap()
    };
    assert_eq!(
        encode(&added(Some(limit))),
        "HTTP/1.1 200 OK\r\nx-a: 1\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         x-request-id: abc-1\r\nratelimit-limit: 100\r\nratelimit-remaining: 4096\r\n\
         ratelimit-reset: 3\r\ncontent-length: 0\r\n\r\n"
    );
    // Without a plan's numbers, an upstream's own `RateLimit-*` passes through.
    let h = encode(&added(None));
    assert!(h.contains("ratelimit-remaining: 77\r\n"), "{h}");
    assert!(h.contains("x-request-id: abc-1\r\n"), "{h}");
    assert!(!h.contains("from-upstream"), "{h}");
    // The map form holds the same fields with the same values.
    let mut map = p.headers.clone();
    added(Some(limit)).apply(&mut map);
    for (name, value) in [
        ("x-request-id", "abc-1"),
        ("ratelimit-limit", "100"),
        ("ratelimit-remaining", "4096"),
        ("ratelimit-reset", "3"),
    ] {
        let all: Vec<_> = map.get_all(name).iter().collect();
        assert_eq!(all, [value], "{name}");
    }
}

proptest! {
    /// However the head arrives, it parses to the same request once complete.
    #[test]
    fn any_split_parses_the_same(cut in 0usize..120) {
        let wire = b"POST /a/b?c=d HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\nX-Long: abcdefghijklmnopqrstuvwxyz\r\n\r\nabc";
        let cut = cut.min(wire.len());
        let mut buf = BytesMut::from(&wire[..cut]);
        let mut scratch = Scratch::default();
        let first = parse_request(&mut buf, LIMITS, &mut scratch).unwrap();
        let p = match first {
            Some(p) => {
                buf.extend_from_slice(&wire[cut..]);
                p
            }
            None => {
                prop_assert_eq!(buf.len(), cut);
                buf.extend_from_slice(&wire[cut..]);
                parse_request(&mut buf, LIMITS, &mut scratch).unwrap().unwrap()
            }
        };
        prop_assert_eq!(p.request.uri().path(), "/a/b");
        prop_assert_eq!(p.framing, Framing::Length(3));
        prop_assert_eq!(p.request.headers().len(), 3);
        prop_assert_eq!(&buf[..], b"abc");
    }
}

#[test]
fn the_clients_hop_by_hop_and_underscored_fields_never_enter_the_request() {
    let p = ok(b"GET /a/./b/../c?q=./.. HTTP/1.1\r\nHost: gw\r\n\
        Connection: keep-alive, X-Tenant-Id, Host, X-Named\r\nX-Named: 1\r\n\
        X-Tenant-Id: globex\r\nX_Tenant_Id: globex\r\nKeep-Alive: 5\r\nTE: trailers\r\n\
        Upgrade: h2c\r\nX-Kept: 1\r\n\r\n");
    let names: Vec<_> = p.request.headers().keys().map(|n| n.as_str()).collect();
    assert_eq!(names, ["host", "x-kept"]);
    assert!(p.keep_alive);
    assert_eq!(p.request.uri().path(), "/a/c");
    assert_eq!(p.request.uri().query(), Some("q=./.."));
    // Absolute form: origin form towards the stack, its authority as Host.
    let p = ok(b"GET http://user@real:81/x/%2E%2e/y HTTP/1.1\r\nHost: spoofed\r\n\r\n");
    assert_eq!(p.request.uri().to_string(), "/y");
    let hosts: Vec<_> = p.request.headers().get_all("host").iter().collect();
    assert_eq!(hosts, ["real:81"]);
    assert_eq!(
        ok(b"OPTIONS * HTTP/1.1\r\nHost: gw\r\n\r\n").request.uri(),
        "*"
    );
}
