//! Every refusal has its status, JSON body and headers; usage plans answer 429 at once.

use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::time::Duration;

use http::Method;
use jsonwebtoken::Algorithm;
use reference_gateway::{AuthConfig, Plan, Quota, QuotaPeriod, TenantConfig};
use serde_json::Value;

use crate::support::*;

async fn json_of(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

#[tokio::test]
async fn routing_and_size_errors() {
    let up = spawn_upstream("a").await;
    let mut cfg = config(&[up.addr]);
    cfg.routes[0].methods = vec![Method::GET, Method::PUT];
    cfg.server.max_body_bytes = NonZeroUsize::new(1024).unwrap();
    cfg.server.max_headers = NonZeroUsize::new(20).unwrap();
    let gw = spawn_gateway(cfg).await;
    let c = client();

    let r = c.get(format!("{}/nothing", gw.url)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(json_of(r).await["error"], "no_route");

    let r = c.post(format!("{}/items/1", gw.url)).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, PUT");

    let r = c
        .put(format!("{}/items/1", gw.url))
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(json_of(r).await["error"], "payload_too_large");

    let mut rb = c.get(format!("{}/items/1", gw.url));
    for i in 0..30 {
        rb = rb.header(format!("x-h{i}"), "v");
    }
    let r = rb.send().await.unwrap();
    assert_eq!(r.status(), 431);
    assert_eq!(json_of(r).await["source"], "client");

    let r = c
        .put(format!("{}/items/1", gw.url))
        .body("small")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(up.calls(), 1, "only the valid request reached the upstream");
}

#[tokio::test]
async fn upstream_failures_are_502_and_504() {
    let dead = closed_port().await;
    let gw = spawn_gateway(config(&[dead])).await;
    let r = client()
        .get(format!("{}/items/1", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(json_of(r).await["source"], "network");

    let hung = spawn_hung().await;
    let mut cfg = config(&[hung.addr]);
    cfg.request_timeout = Duration::from_millis(300);
    let gw = spawn_gateway(cfg).await;
    let r = client()
        .get(format!("{}/items/1", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    assert_eq!(json_of(r).await["error"], "timeout");
}

#[tokio::test]
async fn a_routes_own_timeout_replaces_the_gateways() {
    let hung = spawn_hung().await;
    let mut cfg = config(&[hung.addr]);
    cfg.request_timeout = Duration::from_secs(60);
    cfg.routes[0].timeout = Some(Duration::from_millis(250));
    let gw = spawn_gateway(cfg).await;
    let r = client()
        .get(format!("{}/items/1", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    let body = json_of(r).await;
    assert_eq!(body["error"], "timeout");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("250ms"),
        "the route's deadline applied, not the gateway's: {body}"
    );
}

#[tokio::test]
async fn in_flight_limit_sheds_with_503_at_once() {
    let hung = spawn_hung().await;
    let mut cfg = config(&[hung.addr]);
    cfg.server.max_in_flight = NonZeroUsize::new(1).unwrap();
    cfg.request_timeout = Duration::from_secs(3);
    let gw = spawn_gateway(cfg).await;
    let c = client();
    let holder = tokio::spawn(c.get(format!("{}/items/1", gw.url)).send());
    // Wait until the first request holds the only slot: the gateway counts it in flight
    // once it reached the hung instance.
    let mut shed = None;
    for _ in 0..200 {
        let r = c.get(format!("{}/items/2", gw.url)).send().await.unwrap();
        if r.status() == 503 {
            shed = Some(r);
            break;
        }
        tokio::task::yield_now().await;
    }
    let r = shed.expect("second request was never shed");
    assert_eq!(json_of(r).await["error"], "overloaded");
    holder.abort();
}

fn plan(rate: f64, burst: u32, quota: Option<u64>) -> Plan {
    Plan {
        rate,
        burst: NonZeroU32::new(burst).unwrap(),
        quota: quota.map(|q| Quota {
            limit: NonZeroU64::new(q).unwrap(),
            period: QuotaPeriod::Every(Duration::from_secs(3600)),
        }),
    }
}

#[tokio::test]
async fn plans_throttle_and_exhaust_quota_with_honest_headers() {
    let up = spawn_upstream("a").await;
    let mut cfg = config(&[up.addr]);
    cfg.auth = Some(AuthConfig::hmac(Algorithm::HS256, SECRET));
    cfg.tenants = vec![
        TenantConfig {
            id: "slow".into(),
            plan: plan(0.01, 3, None),
        },
        TenantConfig {
            id: "metered".into(),
            plan: plan(1e6, 1000, Some(4)),
        },
    ];
    let gw = spawn_gateway(cfg).await;
    let c = client();
    let get = |t: &str| {
        c.get(format!("{}/items/1", gw.url))
            .bearer_auth(tenant_token(t))
            .send()
    };

    for _ in 0..3 {
        let r = get("slow").await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["ratelimit-limit"], "3");
    }
    let r = get("slow").await.unwrap();
    assert_eq!(r.status(), 429);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (95..=100).contains(&retry_after),
        "rate 0.01/s → ~100 s, got {retry_after}"
    );
    assert_eq!(r.headers()["ratelimit-remaining"], "0");
    assert_eq!(json_of(r).await["error"], "throttled");

    for _ in 0..4 {
        assert_eq!(get("metered").await.unwrap().status(), 200);
    }
    let r = get("metered").await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(json_of(r).await["error"], "quota_exhausted");

    let r = get("stranger").await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(json_of(r).await["error"], "unknown_tenant");
    assert_eq!(up.calls(), 3 + 4);
    let m = gw.gateway.metrics_text();
    assert!(m.contains("gateway_throttled_total 1\n"), "{m}");
    assert!(m.contains("gateway_quota_exhausted_total 1\n"), "{m}");
}

/// An upstream written byte by byte: the first request it reads (on any connection) gets
/// `first`, every later one `200` with body `ok`, keep-alive. It never closes a
/// connection itself; it counts the connections it accepted and those the gateway closed.
struct Scripted {
    addr: std::net::SocketAddr,
    accepted: tokio::sync::watch::Receiver<usize>,
    closed: tokio::sync::watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn spawn_scripted(first: &'static [u8]) -> Scripted {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (accepted_tx, accepted) = tokio::sync::watch::channel(0);
    let (closed_tx, closed) = tokio::sync::watch::channel(0);
    let closed_tx = std::sync::Arc::new(closed_tx);
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let task = tokio::spawn(async move {
        // Dropped with the task: every connection's task ends with it.
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut s, _)) = listener.accept().await {
            accepted_tx.send_modify(|n| *n += 1);
            let (closed_tx, requests) = (closed_tx.clone(), requests.clone());
            conns.spawn(async move {
                let mut buf = Vec::new();
                loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..i + 4);
                        let answer: &[u8] =
                            match requests.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                                0 => first,
                                _ => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
                            };
                        if s.write_all(answer).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    let mut chunk = [0u8; 4096];
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                closed_tx.send_modify(|n| *n += 1);
            });
        }
    });
    Scripted {
        addr,
        accepted,
        closed,
        task,
    }
}

/// The gateway's answer to a bad upstream answer `first`: 502, the upstream connection
/// closed by the gateway (the upstream keeps it open), and the next request on a new
/// connection, answered 200.
async fn a_bad_upstream_answer_is_502_on_a_connection_never_reused(first: &'static [u8]) {
    let mut up = spawn_scripted(first).await;
    let gw = spawn_gateway(config(&[up.addr])).await;
    let c = client();
    let r = c.get(format!("{}/items/1", gw.url)).send().await.unwrap();
    assert_eq!(r.status(), 502, "{}", String::from_utf8_lossy(first));
    let body = json_of(r).await;
    assert_eq!(body["error"], "bad_gateway", "{body}");
    // The gateway closed the connection that carried it.
    tokio::time::timeout(Duration::from_secs(10), up.closed.wait_for(|n| *n >= 1))
        .await
        .expect("the gateway never closed the upstream connection")
        .unwrap();
    let r = c.get(format!("{}/items/2", gw.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok");
    assert_eq!(
        *up.accepted.borrow(),
        2,
        "the next request opened a new upstream connection"
    );
}

/// CVE-2021-32715 (hyper read `Content-Length: +5` as 5): the gateway refuses it.
#[tokio::test]
async fn an_upstream_content_length_of_plus_5_is_502_and_the_connection_is_not_reused() {
    a_bad_upstream_answer_is_502_on_a_connection_never_reused(
        b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
    )
    .await;
}

#[tokio::test]
async fn an_upstream_answer_with_both_transfer_encoding_and_content_length_is_502_and_the_connection_is_not_reused()
 {
    a_bad_upstream_answer_is_502_on_a_connection_never_reused(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
}

#[tokio::test]
async fn differing_upstream_content_lengths_are_502_and_the_connection_is_not_reused() {
    a_bad_upstream_answer_is_502_on_a_connection_never_reused(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    )
    .await;
}
