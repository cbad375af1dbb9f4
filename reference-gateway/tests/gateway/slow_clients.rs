//! Clients that announce a body and never send it: a request the gateway refuses on its
//! head is answered at once, before any byte of its body, and the connection closes; its
//! body is never read into memory. Raw TCP, so that what is checked is what goes over the
//! wire.

use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use jsonwebtoken::Algorithm;
use ninefold_http1 as h1;
use reference_gateway::{AuthConfig, Plan, RouteConfig, TenantConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// Generous bound on every wait: the machine may be busy. A gateway that waits for the
/// body never answers, and fails here instead of hanging the test.
const WAIT: Duration = Duration::from_secs(20);
/// The announced body: 1 MiB, the default body limit (so it is not a 413 by length).
const BODY: usize = 1024 * 1024;

/// Sends `head` (a body announced, none sent) and returns the answer's status and
/// `Connection` field, and whether the gateway then closed the connection.
async fn refused_on_the_head(gw: &Gw, head: String) -> (u16, Option<String>, bool) {
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = BytesMut::new();
    let parsed = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(head) = h1::parse_head(&buf).expect("a valid answer") {
                break head;
            }
            let n = s.read_buf(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the answer: {buf:?}");
        }
    })
    .await
    .expect("no answer before the body: the gateway waits for a body it will refuse");
    let connection = parsed
        .headers
        .iter()
        .find(|(n, _)| buf[n.clone()].eq_ignore_ascii_case(b"connection"))
        .map(|(_, v)| String::from_utf8_lossy(&buf[v.clone()]).into_owned());
    let _ = buf.split_to(parsed.len);
    // The refusal's body, then the end of the connection (never more answers).
    let mut rest = [0u8; 4096];
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match s.read(&mut rest).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap_or(false);
    (parsed.status, connection, closed)
}

fn upload(path: &str, token: Option<&str>) -> String {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    format!("POST {path} HTTP/1.1\r\nHost: gw\r\n{auth}Content-Length: {BODY}\r\n\r\n")
}

fn gateway_config(up: std::net::SocketAddr) -> reference_gateway::Config {
    let mut cfg = config(&[up]);
    let mut reads = RouteConfig::new("/reads", "api");
    reads.methods = vec![http::Method::GET];
    cfg.routes.push(reads);
    cfg.auth = Some(AuthConfig::hmac(Algorithm::HS256, SECRET));
    cfg.tenants = ["acme", "slow"]
        .into_iter()
        .map(|id| TenantConfig {
            id: id.into(),
            plan: Plan {
                rate: if id == "slow" { 0.001 } else { 1e6 },
                burst: NonZeroU32::new(if id == "slow" { 1 } else { 1000 }).unwrap(),
                quota: None,
            },
        })
        .collect();
    cfg
}

#[tokio::test]
async fn bodies_are_not_buffered_before_the_token_is_checked() {
    let up = spawn_upstream("a").await;
    let gw = spawn_gateway(gateway_config(up.addr)).await;
    // The tenant `slow` spends its one request.
    let r = client()
        .get(format!("{}/items/1", gw.url))
        .bearer_auth(tenant_token("slow"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let acme = tenant_token("acme");
    let slow = tenant_token("slow");
    let ghost = tenant_token("ghost");
    let over = format!(
        "POST /items/1 HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {acme}\r\nContent-Length: {}\r\n\r\n",
        BODY + 1
    );
    for (what, head, status) in [
        ("no token", upload("/items/1", None), 401),
        ("a bad token", upload("/items/1", Some("not.a.token")), 401),
        (
            "a tenant over its plan",
            upload("/items/1", Some(&slow)),
            429,
        ),
        ("an unknown tenant", upload("/items/1", Some(&ghost)), 403),
        ("no route", upload("/nowhere", Some(&acme)), 404),
        (
            "a method the route refuses",
            upload("/reads/1", Some(&acme)),
            405,
        ),
        ("a declared length over the limit", over, 413),
    ] {
        let (got, connection, closed) = refused_on_the_head(&gw, head).await;
        assert_eq!(got, status, "{what}");
        assert_eq!(connection.as_deref(), Some("close"), "{what}");
        assert!(closed, "{what}: the connection stays open after a refusal");
    }
    assert_eq!(up.calls(), 1, "a refused request reached the upstream");
    // An admitted upload is still read and forwarded whole.
    let r = client()
        .post(format!("{}/items/1", gw.url))
        .bearer_auth(&acme)
        .body(vec![b'x'; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(up.last().body.len(), 1000);
}

fn buffered(gw: &Gw) -> u64 {
    let text = gw.gateway.metrics_text();
    let line = text
        .lines()
        .find(|l| l.starts_with("gateway_request_body_buffered_bytes "))
        .expect("the buffered-bytes gauge");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn stalled_unauthenticated_uploads_are_not_held_in_memory() {
    const CLIENTS: usize = 300;
    let up = spawn_upstream("a").await;
    let mut cfg = gateway_config(up.addr);
    cfg.server.max_connections = NonZeroUsize::new(2 * CLIENTS).unwrap();
    let gw = spawn_gateway(cfg).await;
    // Each client sends its head and the start of its body, then stalls. (The child
    // process test at the top level sends all of each body but one byte and reads RSS.)
    let body: std::sync::Arc<[u8]> = vec![b'x'; 64 * 1024].into();
    let answered = std::sync::Arc::new(AtomicU64::new(0));
    let mut stalled = Vec::new();
    for _ in 0..CLIENTS {
        let mut s = TcpStream::connect(gw.addr()).await.unwrap();
        s.write_all(upload("/items/1", None).as_bytes())
            .await
            .unwrap();
        stalled.push(s);
    }
    let mut tasks = Vec::new();
    for mut s in stalled {
        let body = body.clone();
        let answered = answered.clone();
        tasks.push(tokio::spawn(async move {
            let mut first = [0u8; 12];
            // The answer comes before the body; sending the body may then fail (closed).
            let read = tokio::time::timeout(WAIT, s.read_exact(&mut first)).await;
            if matches!(read, Ok(Ok(_))) && first.starts_with(b"HTTP/1.1 401") {
                answered.fetch_add(1, Ordering::Relaxed);
            }
            let _ = tokio::time::timeout(WAIT, s.write_all(&body)).await;
            s
        }));
    }
    let mut held = Vec::new();
    for t in tasks {
        held.push(t.await.unwrap());
    }
    assert_eq!(answered.load(Ordering::Relaxed), CLIENTS as u64);
    // With every client stalled short of its body, nothing of their bodies is in memory.
    assert_eq!(buffered(&gw), 0);
    assert_eq!(up.calls(), 0);
    drop(held);

    // The gauge does count what an admitted, stalled upload holds (and frees it).
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(upload("/items/1", Some(&tenant_token("acme"))).as_bytes())
        .await
        .unwrap();
    s.write_all(&body[..1000]).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while buffered(&gw) < 1000 {
        assert!(tokio::time::Instant::now() < deadline, "{}", buffered(&gw));
        tokio::task::yield_now().await;
    }
    assert_eq!(buffered(&gw), 1000);
    drop(s);
    while buffered(&gw) != 0 {
        assert!(tokio::time::Instant::now() < deadline, "{}", buffered(&gw));
        tokio::task::yield_now().await;
    }
}
