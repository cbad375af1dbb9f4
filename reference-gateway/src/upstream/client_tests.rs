use std::time::Duration;

use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::*;

/// A request as the instance received it: which connection, the head, the body.
#[derive(Debug)]
struct Seen {
    conn: usize,
    head: String,
    body: Vec<u8>,
}

/// An instance that answers the n-th connection's requests with `scripts[n]`, in order,
/// then closes that connection.
async fn instance(scripts: Vec<Vec<Vec<u8>>>) -> (SocketAddr, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        for (conn, answers) in scripts.into_iter().enumerate() {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                for answer in answers {
                    let (head, body) = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8(buf[..i + 4].to_vec()).unwrap();
                            let len = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length: "))
                                .map_or(0, |n| n.trim().parse::<usize>().unwrap());
                            if buf.len() >= i + 4 + len {
                                let body = buf[i + 4..i + 4 + len].to_vec();
                                buf.drain(..i + 4 + len);
                                break (head, body);
                            }
                        }
                        let mut chunk = [0u8; 65536];
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let _ = tx.send(Seen { conn, head, body }).await;
                    if s.write_all(&answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, rx)
}

fn pool(addr: SocketAddr) -> Arc<HostPool> {
    build(Duration::from_secs(5), Default::default()).host(addr)
}

fn get(path: &str) -> http::Request<Bytes> {
    http::Request::get(path).body(Bytes::new()).unwrap()
}

async fn body_of(resp: http::Response<UpstreamBody>) -> Vec<u8> {
    resp.into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

fn drain(rx: &mut mpsc::Receiver<Seen>) -> Vec<Seen> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

#[tokio::test]
async fn answers_of_every_framing_keep_the_connection() {
    let big = vec![b'x'; 200_000];
    let mut big_answer =
        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", big.len()).into_bytes();
    big_answer.extend_from_slice(&big);
    let (addr, mut seen) = instance(vec![vec![
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-backend-instance: b-1\r\n\r\nhello".to_vec(),
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n".to_vec(),
        big_answer,
        b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n".to_vec(),
        b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
    ]])
    .await;
    let pool = pool(addr);
    let resp = pool.send(&get("/a?q=1")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-backend-instance"], "b-1");
    assert_eq!(body_of(resp).await, b"hello");
    let post = http::Request::post("/orders")
        .body(Bytes::from_static(b"{}"))
        .unwrap();
    let resp = pool.send(&post).await.unwrap();
    assert_eq!(resp.status(), 201, "the interim 100 is skipped");
    assert_eq!(body_of(resp).await, b"wikipedia");
    let resp = pool.send(&get("/big")).await.unwrap();
    assert_eq!(
        hyper::body::Body::size_hint(resp.body()).exact(),
        Some(200_000)
    );
    assert_eq!(body_of(resp).await, big);
    let head = http::Request::head("/h").body(Bytes::new()).unwrap();
    let resp = pool.send(&head).await.unwrap();
    assert_eq!(resp.headers()["content-length"], "9");
    assert!(
        body_of(resp).await.is_empty(),
        "an answer to HEAD has no body"
    );
    let resp = pool.send(&get("/none")).await.unwrap();
    assert_eq!(resp.status(), 204);
    assert!(body_of(resp).await.is_empty());
    let seen = drain(&mut seen);
    assert_eq!(seen.len(), 5);
    assert!(seen.iter().all(|s| s.conn == 0), "one connection: {seen:?}");
    assert!(seen[0].head.starts_with("GET /a?q=1 HTTP/1.1\r\n"));
    assert!(seen[0].head.contains(&format!("host: {addr}\r\n")));
    assert!(seen[1].head.contains("content-length: 2\r\n"));
    assert_eq!(seen[1].body, b"{}");
}

#[tokio::test]
async fn request_heads_carry_the_true_length() {
    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_vec();
    let (addr, mut seen) = instance(vec![vec![ok.clone(), ok.clone(), ok]]).await;
    let pool = pool(addr);
    // A stale length from the client is replaced by the body's own.
    let mut req = http::Request::post("/x")
        .header("content-length", "99")
        .header("host", "api.example")
        .header("x-a", "1")
        .body(Bytes::from_static(b"abc"))
        .unwrap();
    pool.send(&req).await.unwrap();
    req = http::Request::post("/empty").body(Bytes::new()).unwrap();
    pool.send(&req).await.unwrap();
    let large = Bytes::from(vec![b'z'; COALESCE_BODY * 3]);
    req = http::Request::put("/large").body(large.clone()).unwrap();
    pool.send(&req).await.unwrap();
    let seen = drain(&mut seen);
    let head = &seen[0].head;
    assert!(
        head.contains("content-length: 3\r\n") && !head.contains("99"),
        "{head}"
    );
    assert!(head.contains("host: api.example\r\n") && !head.contains(&addr.to_string()));
    assert!(head.contains("x-a: 1\r\n"));
    assert_eq!(seen[0].body, b"abc");
    assert!(seen[1].head.contains("content-length: 0\r\n"));
    assert_eq!(seen[2].body, large);
}

#[tokio::test]
async fn a_connection_that_cannot_be_reused_is_not() {
    let (addr, mut seen) = instance(vec![
        // Runs to the end of the connection.
        vec![b"HTTP/1.1 200 OK\r\n\r\nall of it".to_vec()],
        vec![b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok".to_vec()],
        vec![b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nthird!".to_vec()],
    ])
    .await;
    let pool = pool(addr);
    assert_eq!(
        body_of(pool.send(&get("/1")).await.unwrap()).await,
        b"all of it"
    );
    assert_eq!(body_of(pool.send(&get("/2")).await.unwrap()).await, b"ok");
    assert_eq!(
        body_of(pool.send(&get("/3")).await.unwrap()).await,
        b"third!"
    );
    let conns: Vec<usize> = drain(&mut seen).iter().map(|s| s.conn).collect();
    assert_eq!(conns, [0, 1, 2]);
}

#[tokio::test]
async fn a_body_dropped_half_way_closes_its_connection() {
    let mut long = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n".to_vec();
    long.extend_from_slice(b"ffff\r\n"); // a chunk that never comes
    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec();
    let (addr, mut seen) = instance(vec![vec![long, ok.clone()], vec![ok]]).await;
    let pool = pool(addr);
    let resp = pool.send(&get("/long")).await.unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "first");
    drop(body);
    assert_eq!(
        body_of(pool.send(&get("/next")).await.unwrap()).await,
        b"ok"
    );
    let conns: Vec<usize> = drain(&mut seen).iter().map(|s| s.conn).collect();
    assert_eq!(conns, [0, 1], "the half-read connection was not reused");
}

#[tokio::test]
async fn an_idle_connection_the_instance_closed_is_not_used() {
    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec();
    // The first connection answers once and closes (without saying so).
    let (addr, mut seen) = instance(vec![vec![ok.clone()], vec![ok]]).await;
    let pool = pool(addr);
    assert_eq!(body_of(pool.send(&get("/1")).await.unwrap()).await, b"ok");
    // Wait for the close to reach the idle connection (readiness, not time), as it has by
    // the time an idle connection is taken again.
    let (idle, since) = pool.idle.lock().unwrap().pop_back().unwrap();
    idle.stream.readable().await.unwrap();
    pool.idle.lock().unwrap().push_back((idle, since));
    assert_eq!(body_of(pool.send(&get("/2")).await.unwrap()).await, b"ok");
    let conns: Vec<usize> = drain(&mut seen).iter().map(|s| s.conn).collect();
    assert_eq!(conns, [0, 1]);
}

#[tokio::test]
async fn broken_answers_and_dead_instances_are_errors() {
    for answer in [
        &b"not http\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-le",
    ] {
        let (addr, _) = instance(vec![vec![answer.to_vec()]]).await;
        let err = pool(addr).send(&get("/")).await.unwrap_err();
        assert!(!err.is_connect(), "{err}");
        assert!(matches!(err, ClientError::Send(_)), "{err}");
    }
    // A body cut short is an error of the body, not a short answer.
    let (addr, _) = instance(vec![vec![
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort".to_vec(),
    ]])
    .await;
    let resp = pool(addr).send(&get("/")).await.unwrap();
    assert!(resp.into_body().collect().await.is_err());
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let err = pool(dead).send(&get("/")).await.unwrap_err();
    assert!(err.is_connect(), "{err}");
}

/// `Content-Length: +5` (CVE-2021-32715) and an answer framed both by
/// `Transfer-Encoding` and `Content-Length`: a send error, and the connection that
/// carried it is dropped (the instance would answer on it again), not pooled.
#[tokio::test]
async fn an_ambiguously_framed_answer_is_an_error_and_its_connection_is_not_reused() {
    for bad in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: +5\r\n\r\nhello"[..],
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        // Found by ninefold-http1's differential test against hyper (which refuses both).
        b"HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 099 OK\r\ncontent-length: 5\r\n\r\nhello",
    ] {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec();
        let (addr, mut seen) = instance(vec![vec![bad.to_vec(), ok.clone()], vec![ok]]).await;
        let pool = pool(addr);
        let err = pool.send(&get("/1")).await.unwrap_err();
        assert!(matches!(err, ClientError::Send(_)), "{err}");
        assert!(pool.idle.lock().unwrap().is_empty(), "nothing pooled");
        assert_eq!(body_of(pool.send(&get("/2")).await.unwrap()).await, b"ok");
        let conns: Vec<usize> = drain(&mut seen).iter().map(|s| s.conn).collect();
        assert_eq!(conns, [0, 1], "{}", String::from_utf8_lossy(bad));
    }
}
