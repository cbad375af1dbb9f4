use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

#[test]
fn headers_are_found_case_insensitively() {
    let a = Answer::from_head(
        b"HTTP/1.1 200 OK\r\nX-Backend-Instance: b-2\r\nx-other: 1\r\nx-other: 2\r\n\r\n",
        None,
    )
    .unwrap();
    assert_eq!(a.status, 200);
    assert!(a.is_success());
    assert_eq!(a.header_str("x-backend-instance"), Some("b-2"));
    assert_eq!(a.header("X-OTHER"), Some(&b"1"[..]));
    assert_eq!(a.header("absent"), None);
}

/// Headers are found by walking the head the parser validated: the same values
/// `h1::parse_head` lists, whatever the spacing, case, line ends or header count.
#[test]
fn walking_the_head_finds_what_the_parser_lists() {
    let many: String = (0..120).map(|i| format!("h{i}: {i}\r\n")).collect();
    let heads = [
        "HTTP/1.1 200 OK\r\nx-ab: long\r\nX-A:\t short \t\r\nx-backend-instance: one\r\nX-Backend-Instance: two\r\n\r\n".to_owned(),
        "HTTP/1.1 200 OK\nx-a:1\nx-backend-instance:\n\n".to_owned(),
        "HTTP/1.0 503 Busy\r\nretry-after: 2\r\nlocation: /o/1\r\n\r\n".to_owned(),
        format!("HTTP/1.1 200 OK\r\n{}\r\n", &many[..many.len() / 2]),
    ];
    for head in &heads {
        let Ok(a) = Answer::from_head(head.as_bytes(), None) else {
            // More headers than the parser accepts: refused, not half read.
            assert!(h1::parse_head(head.as_bytes()).is_err(), "{head}");
            continue;
        };
        let parsed = h1::parse_head(head.as_bytes()).unwrap().unwrap();
        let bytes = head.as_bytes();
        let first = |name: &str| {
            parsed
                .headers
                .iter()
                .find(|(n, _)| bytes[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
                .map(|(_, v)| &bytes[v.clone()])
        };
        for name in [
            "x-a",
            "X-AB",
            "x-backend-instance",
            "retry-after",
            "location",
            "h7",
            "h70",
            "absent",
        ] {
            assert_eq!(a.header(name), first(name), "{name} in {head:?}");
        }
        assert_eq!(a.instance(), first(X_BACKEND_INSTANCE), "{head:?}");
    }
    let a = Answer::from_head(heads[0].as_bytes(), None).unwrap();
    assert_eq!(a.header("x-a"), Some(&b"short"[..]));
    assert_eq!(a.instance(), Some(&b"one"[..]));
    assert_eq!(
        Answer::from_head(heads[1].as_bytes(), None)
            .unwrap()
            .instance(),
        Some(&b""[..])
    );
    // 120 headers: more than the parser takes.
    let too_many = format!("HTTP/1.1 200 OK\r\n{many}\r\n");
    assert!(Answer::from_head(too_many.as_bytes(), None).is_err());
}

/// A server for one connection that answers each request head it reads with the next
/// scripted answer (each written in the given pieces), then closes. Returns its address
/// and a channel yielding the request heads it read.
async fn scripted(
    answers: Vec<Vec<&'static [u8]>>,
) -> (SocketAddr, tokio::sync::mpsc::Receiver<String>) {
    let (addr, heads, _) = serve_script(answers, false).await;
    (addr, heads)
}

/// [`scripted`], except that after its answers the server reads on and never answers
/// again (a hung instance); its task ends when the client closes.
async fn scripted_then_silent(
    answers: Vec<Vec<&'static [u8]>>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let (addr, _, server) = serve_script(answers, true).await;
    (addr, server)
}

async fn serve_script(
    answers: Vec<Vec<&'static [u8]>>,
    then_silent: bool,
) -> (
    SocketAddr,
    tokio::sync::mpsc::Receiver<String>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        for pieces in answers {
            let end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                let mut chunk = [0u8; 4096];
                let n = s.read(&mut chunk).await.unwrap();
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
            };
            let head: Vec<u8> = buf.drain(..end).collect();
            let _ = tx.send(String::from_utf8(head).unwrap()).await;
            for piece in pieces {
                if s.write_all(piece).await.is_err() {
                    return;
                }
                // Give the client a chance to read a partial answer.
                tokio::task::yield_now().await;
            }
        }
        if then_silent {
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink).await;
        }
    });
    (addr, rx, server)
}

async fn connect(addr: SocketAddr) -> Conn {
    Targets::new(vec![Target::new(addr)], 0)
        .connect(Duration::from_secs(10))
        .await
        .unwrap()
}

async fn send(conn: &mut Conn, method: &str, keep_body: bool) -> Result<Answer, ClientFailure> {
    let (out, host) = conn.request_buf();
    out.clear();
    out.extend_from_slice(format!("{method} /x HTTP/1.1\r\nhost: ").as_bytes());
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    conn.exchange(method == "HEAD", keep_body, Duration::from_secs(10))
        .await
}

#[tokio::test]
async fn keep_alive_carries_answers_of_every_framing() {
    let (addr, mut heads) = scripted(vec![
        vec![
            b"HTTP/1.1 200 OK\r\nContent-Len",
            b"gth: 5\r\nX-Backend-Instance: b-1\r\n\r\nhe",
            b"llo",
        ],
        vec![
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"4;ext=1\r\nwiki\r\n5\r\npedia\r",
            b"\n0\r\nx-trailer: t\r\n\r\n",
        ],
        vec![b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n"],
        vec![b"HTTP/1.1 204 No Content\r\n\r\n"],
        vec![b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc"],
    ])
    .await;
    let mut conn = connect(addr).await;
    let a = send(&mut conn, "GET", true).await.unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.header_str("x-backend-instance"), Some("b-1"));
    assert_eq!(a.body.as_deref(), Some(&b"hello"[..]));
    assert!(conn.is_usable());
    let a = send(&mut conn, "POST", true).await.unwrap();
    assert_eq!(a.status, 201, "the interim 100 is skipped");
    assert_eq!(a.body.as_deref(), Some(&b"wikipedia"[..]));
    // HEAD: a length, but no body follows.
    let a = send(&mut conn, "HEAD", true).await.unwrap();
    assert_eq!((a.status, a.body.as_deref()), (200, Some(&b""[..])));
    let a = send(&mut conn, "DELETE", false).await.unwrap();
    assert_eq!((a.status, a.body), (204, None));
    // A drained body is consumed all the same: the next answer parses.
    let a = send(&mut conn, "GET", false).await.unwrap();
    assert_eq!((a.status, a.body), (200, None));
    let mut seen = Vec::new();
    while let Ok(h) = heads.try_recv() {
        seen.push(h.split(' ').next().unwrap().to_owned());
    }
    assert_eq!(
        seen,
        ["GET", "POST", "HEAD", "DELETE", "GET"],
        "one connection"
    );
}

#[tokio::test]
async fn a_body_to_the_end_or_connection_close_ends_reuse() {
    let (addr, _) = scripted(vec![vec![b"HTTP/1.1 200 OK\r\n\r\nall of it"]]).await;
    let mut conn = connect(addr).await;
    let a = send(&mut conn, "GET", true).await.unwrap();
    assert_eq!(a.body.as_deref(), Some(&b"all of it"[..]));
    assert!(!conn.is_usable());

    let (addr, _) = scripted(vec![vec![
        b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
    ]])
    .await;
    let mut conn = connect(addr).await;
    assert_eq!(send(&mut conn, "GET", false).await.unwrap().status, 200);
    assert!(!conn.is_usable());
}

#[tokio::test]
async fn broken_answers_are_io_errors() {
    for answer in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"[..],
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcX",
        b"HTTP/1.1 200 OK\r\ncontent-le",
        b"not http at all\r\n\r\n",
    ] {
        let (addr, _) = scripted(vec![vec![answer]]).await;
        let mut conn = connect(addr).await;
        let r = send(&mut conn, "GET", true).await;
        assert!(
            matches!(r, Err(ClientFailure::Io)),
            "{}: {r:?}",
            String::from_utf8_lossy(answer)
        );
        assert!(!conn.is_usable());
    }
}

/// CVE-2021-32715's `Content-Length: +5`, and an answer framed both ways: the load
/// engine counts each as an io error (not an ok answer of status 200), and the
/// connection is not reused although the server keeps it open.
#[tokio::test]
async fn a_content_length_of_plus_5_or_both_framings_is_an_io_error_not_ok() {
    for answer in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ] {
        let (addr, server) = scripted_then_silent(vec![vec![answer]]).await;
        let mut conn = connect(addr).await;
        let r = send(&mut conn, "GET", false).await;
        assert!(
            matches!(r, Err(ClientFailure::Io)),
            "{}: {r:?}",
            String::from_utf8_lossy(answer)
        );
        assert!(!conn.is_usable(), "{}", String::from_utf8_lossy(answer));
        drop(conn);
        server.await.unwrap();
    }
}

#[tokio::test]
async fn an_endless_head_is_refused() {
    static LONG: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        let mut v = b"HTTP/1.1 200 OK\r\n".to_vec();
        while v.len() <= h1::MAX_HEAD + 1024 {
            v.extend_from_slice(b"x-filler: 0123456789012345678901234567890123456789\r\n");
        }
        v
    });
    let (addr, _) = scripted(vec![vec![LONG.as_slice()]]).await;
    let mut conn = connect(addr).await;
    assert!(matches!(
        send(&mut conn, "GET", false).await,
        Err(ClientFailure::Io)
    ));
}

#[tokio::test]
async fn a_server_closing_an_idle_connection_makes_it_unusable() {
    let (addr, _) = scripted(vec![vec![b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]]).await;
    let mut conn = connect(addr).await;
    assert_eq!(send(&mut conn, "GET", false).await.unwrap().status, 200);
    // The server has answered its one request and closes: wait for the close to arrive
    // (readiness, not time), as it has by the time an idle connection is picked up again.
    // A holder that waits between requests says so first (as the worker does).
    conn.idle();
    conn.stream.readable().await.unwrap();
    assert!(!conn.is_usable(), "still usable after the server closed");
}

#[tokio::test]
async fn a_silent_server_times_out() {
    // Accepts and reads, never answers.
    let (addr, server) = scripted_then_silent(vec![]).await;
    let mut conn = connect(addr).await;
    let (out, _) = conn.request_buf();
    out.extend_from_slice(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    let started = std::time::Instant::now();
    let r = conn
        .exchange(false, false, Duration::from_millis(200))
        .await;
    assert!(matches!(r, Err(ClientFailure::Timeout)), "{r:?}");
    // The connection's timer was armed for the 10 s connect timeout: this request's
    // shorter deadline still holds.
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(200)..Duration::from_secs(5)).contains(&took),
        "{took:?}"
    );
    assert!(!conn.is_usable());
    drop(conn);
    server.await.unwrap();
}

/// The request timer is polled only when it may have fired: a connection whose timer was
/// registered by an answered request still times out the next request, which the server
/// never answers (the timer fires first at the earlier request's deadline, is moved on,
/// then fires at this one's).
#[tokio::test]
async fn a_request_after_an_answered_one_still_times_out() {
    // The second request is read and never answered.
    let (addr, server) = scripted_then_silent(vec![vec![
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    ]])
    .await;
    let mut conn = connect(addr).await;
    let timeout = Duration::from_millis(300);
    let exchange = async |conn: &mut Conn| {
        let (out, _) = conn.request_buf();
        out.clear();
        out.extend_from_slice(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        conn.exchange(false, false, timeout).await
    };
    let first = exchange(&mut conn)
        .await
        .expect("the first request is answered");
    assert_eq!(first.status, 200);
    assert!(conn.is_usable());
    let started = std::time::Instant::now();
    let second = tokio::time::timeout(Duration::from_secs(30), exchange(&mut conn))
        .await
        .expect("the request timer never fired");
    assert!(matches!(second, Err(ClientFailure::Timeout)), "{second:?}");
    let took = started.elapsed();
    assert!(
        (timeout..Duration::from_secs(10)).contains(&took),
        "{took:?}"
    );
    drop(conn);
    server.await.unwrap();
}

#[tokio::test]
async fn connect_moves_past_a_refusing_target() {
    // A port nobody listens on: bound, then closed.
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let (live, _) = scripted(vec![vec![b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]]).await;
    let targets = Targets::new(vec![Target::new(dead), Target::new(live)], 0);
    let mut conn = targets.connect(Duration::from_secs(10)).await.unwrap();
    assert_eq!(conn.host, live.to_string());
    assert_eq!(send(&mut conn, "GET", false).await.unwrap().status, 200);
    let only_dead = Targets::new(vec![Target::new(dead)], 0);
    assert!(matches!(
        only_dead.connect(Duration::from_secs(10)).await,
        Err(ClientFailure::Connect)
    ));
}

/// `[client] resolve_every`: the hostname is resolved again once due, new
/// connections go to every address it has then, a failed lookup keeps the old ones.
#[tokio::test]
async fn connections_follow_the_hostname_to_its_new_addresses_once_due() {
    let a = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (a, b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let answers = std::sync::Arc::new(std::sync::Mutex::new(vec![a]));
    let mut resolve = Resolve::new("api.test".into(), a.port(), Duration::from_secs(30));
    resolve.fake = Some(std::sync::Arc::clone(&answers));
    let host = HeaderValue::from_static("api.test");
    let target = Target::with_host(a, host.clone()).with_resolve(Arc::new(resolve));
    let targets = Targets::new(vec![target], 0);
    let peer = |c: &Conn| match &c.stream {
        Stream::Plain(s) => s.peer_addr().unwrap(),
        Stream::Tls(_) => unreachable!(),
    };
    let timeout = Duration::from_secs(10);
    let first = targets.connect(timeout).await.unwrap();
    assert_eq!(peer(&first), a);
    // The records change; the lookup is not due yet: still `a`.
    *answers.lock().unwrap() = vec![b];
    assert_eq!(peer(&targets.connect(timeout).await.unwrap()), a);
    targets.expire_resolution();
    let moved = targets.connect(timeout).await.unwrap();
    assert_eq!(peer(&moved), b);
    assert_eq!(moved.host, host, "the Host stays the URL's");
    // A lookup that finds nothing keeps the addresses it had.
    answers.lock().unwrap().clear();
    targets.expire_resolution();
    assert_eq!(peer(&targets.connect(timeout).await.unwrap()), b);
    // Two records: connections go round robin over both.
    *answers.lock().unwrap() = vec![a, b];
    targets.expire_resolution();
    let mut peers = vec![
        peer(&targets.connect(timeout).await.unwrap()),
        peer(&targets.connect(timeout).await.unwrap()),
    ];
    peers.sort();
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(peers, both);
}
