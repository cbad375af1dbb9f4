//! Failover when an instance dies (issue 20, case 2): a refused connect ejects the
//! instance at once, a request that never reached an upstream goes to another instance
//! without spending retry budget, and an idempotent request on a pooled connection the
//! upstream closed is re-sent on a fresh one.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reference_gateway::upstream::pool::UNREACHABLE_EJECTION;
use reference_gateway::{HealthConfig, RetryConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::support::*;

/// Client tasks, requests each, and the completed-request count at which one instance dies.
const TASKS: usize = 4;
const PER_TASK: usize = 150;
const KILL_AT: usize = 100;

/// One run of the kill test: two instances, `TASKS` clients sending GETs, the second
/// instance killed (listener and every connection closed) after `KILL_AT` answers.
/// Returns the failed requests (status or transport error) and the metrics text.
async fn kill_one_of_two() -> (Vec<String>, String) {
    let a = spawn_upstream("a").await;
    let mut b = spawn_upstream("b").await;
    let mut cfg = config(&[a.addr, b.addr]);
    // The setup: `retry = { attempts = 3 }`, default health checks, no `outlier`.
    cfg.routes[0].retry = Some(RetryConfig {
        attempts: NonZeroU32::new(3).unwrap(),
        per_try_timeout: Duration::from_millis(500),
    });
    cfg.upstreams.get_mut("api").unwrap().health = Some(HealthConfig {
        path: "/health".into(),
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(500),
        unhealthy_after: NonZeroU32::new(2).unwrap(),
        healthy_after: NonZeroU32::new(2).unwrap(),
    });
    let gw = spawn_gateway(cfg).await;
    let (done_tx, mut done_rx) = tokio::sync::watch::channel(0usize);
    let done_tx = Arc::new(done_tx);
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (url, done) = (gw.url.clone(), done_tx.clone());
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut failed = Vec::new();
            for i in 0..PER_TASK {
                match c.get(format!("{url}/items/{t}-{i}")).send().await {
                    Ok(r) if r.status() == 200 => {}
                    Ok(r) => {
                        let s = r.status();
                        failed.push(format!("{s} {}", r.text().await.unwrap_or_default()));
                    }
                    Err(e) => failed.push(format!("transport: {e}")),
                }
                done.send_modify(|n| *n += 1);
            }
            failed
        }));
    }
    done_rx.wait_for(|n| *n >= KILL_AT).await.unwrap();
    assert!(b.calls() > 0, "the instance served before it died");
    b.kill().await;
    let mut failed = Vec::new();
    for t in tasks {
        failed.extend(t.await.unwrap());
    }
    (failed, gw.gateway.metrics_text())
}

fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{metrics}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_of_two_instances_costs_gets_no_errors() {
    let mut per_run = Vec::new();
    let mut first = None;
    for _ in 0..5 {
        let (failed, metrics) = kill_one_of_two().await;
        per_run.push(failed.len());
        if first.is_none() {
            first = failed.first().cloned();
        }
        if failed.is_empty() {
            // The dead instance was taken out by the refused connects themselves.
            assert!(
                counter(&metrics, "gateway_connect_ejections_total") >= 1,
                "{metrics}"
            );
        }
    }
    let total: usize = per_run.iter().sum();
    assert_eq!(
        total,
        0,
        "errors per run of {} GETs: {per_run:?}; first: {first:?}",
        TASKS * PER_TASK
    );
}

/// An upstream that answers the first request on each connection (keep-alive), then
/// reads the next request on it and closes without answering: the race of an upstream's
/// keep-alive timeout with the gateway reusing the connection, made certain.
struct Closing {
    addr: SocketAddr,
    /// Requests it read (answered or not).
    seen: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Closing {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_head(s: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    true
}

/// With `read_next`, the raced close above; without, it closes right after answering.
async fn spawn_closing_with(read_next: bool) -> Closing {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let s2 = seen.clone();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut s, _)) = listener.accept().await {
            let seen = s2.clone();
            conns.spawn(async move {
                if !read_head(&mut s).await {
                    return;
                }
                seen.fetch_add(1, Ordering::SeqCst);
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                if read_next && read_head(&mut s).await {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                // Dropped: closed with the second request unanswered.
            });
        }
    });
    Closing { addr, seen, task }
}

async fn spawn_closing() -> Closing {
    spawn_closing_with(true).await
}

#[tokio::test]
async fn get_on_a_pooled_connection_the_upstream_closed_is_resent_not_502() {
    let up = spawn_closing().await;
    let gw = spawn_gateway(config(&[up.addr])).await;
    let c = client();
    let first = c.get(format!("{}/items/1", gw.url)).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.text().await.unwrap(), "ok");
    // Goes out on the pooled connection, which the upstream closes unanswered.
    let second = c.get(format!("{}/items/2", gw.url)).send().await.unwrap();
    assert_eq!(second.status(), 200, "{:?}", second.text().await);
    assert_eq!(
        up.seen.load(Ordering::SeqCst),
        3,
        "sent twice, then once more"
    );
    let m = gw.gateway.metrics_text();
    assert_eq!(counter(&m, "gateway_stale_resends_total"), 1, "{m}");
}

#[tokio::test]
async fn post_without_key_on_a_closed_pooled_connection_is_not_resent() {
    let up = spawn_closing().await;
    let gw = spawn_gateway(config(&[up.addr])).await;
    let c = client();
    let first = c.get(format!("{}/items/1", gw.url)).send().await.unwrap();
    assert_eq!(first.status(), 200);
    // The upstream read it: it may have acted on it, so it is not sent again.
    let post = c
        .post(format!("{}/items", gw.url))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 502);
    assert_eq!(up.seen.load(Ordering::SeqCst), 2);
    // With an `Idempotency-Key` the same POST may be repeated.
    let again = c.get(format!("{}/items/2", gw.url)).send().await.unwrap();
    assert_eq!(again.status(), 200, "a fresh connection, pooled again");
    let keyed = c
        .post(format!("{}/items", gw.url))
        .header("idempotency-key", "k-1")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), 200);
    assert_eq!(up.seen.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn gets_after_the_upstream_closes_each_kept_alive_connection_are_200() {
    // It closes each connection right after its answer (keep-alive was not refused):
    // whether the close shows before the reuse or races it, every GET is answered.
    let up = spawn_closing_with(false).await;
    let gw = spawn_gateway(config(&[up.addr])).await;
    let c = client();
    for i in 0..50 {
        let r = c.get(format!("{}/items/{i}", gw.url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "GET {i}: {:?}", r.text().await);
    }
}

/// The value of a per-instance gauge of pool `api` in the metrics text.
fn instance_gauge(metrics: &str, name: &str, addr: SocketAddr) -> Option<u8> {
    let key = format!("{name}{{upstream=\"api\",instance=\"{addr}\",zone=\"\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(key.as_str())?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ejected_gauge_is_1_while_a_connect_ejection_is_in_force_then_0() {
    let up = spawn_upstream("a").await;
    let dead = closed_port().await;
    let gw = spawn_gateway(config(&[up.addr, dead])).await;
    let m = gw.gateway.metrics_text();
    assert_eq!(
        instance_gauge(&m, "gateway_upstream_ejected", dead),
        Some(0),
        "{m}"
    );
    assert_eq!(
        instance_gauge(&m, "gateway_upstream_healthy", dead),
        Some(1),
        "{m}"
    );
    // Round robin reaches the dead instance within two requests: its refused connect
    // ejects it (the request itself goes on to the live instance, outside the budget).
    let c = client();
    for i in 0..4 {
        let r = c.get(format!("{}/items/{i}", gw.url)).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let m = gw.gateway.metrics_text();
    assert_eq!(
        instance_gauge(&m, "gateway_upstream_ejected", dead),
        Some(1),
        "{m}"
    );
    assert_eq!(
        instance_gauge(&m, "gateway_upstream_healthy", dead),
        Some(0),
        "{m}"
    );
    assert_eq!(
        instance_gauge(&m, "gateway_upstream_ejected", up.addr),
        Some(0),
        "{m}"
    );
    assert!(counter(&m, "gateway_connect_ejections_total") >= 1, "{m}");
    // The first ejection lasts UNREACHABLE_EJECTION (1 s) from the refused connect, which
    // came before the reads above; the pool readmits lazily, on the first read after it
    // ran out (no health checks here, so it counts as healthy again). So one wait of that
    // length, the thing under test, is enough: tokio's sleep never returns early.
    tokio::time::sleep(UNREACHABLE_EJECTION).await;
    let m = gw.gateway.metrics_text();
    assert_eq!(
        instance_gauge(&m, "gateway_upstream_ejected", dead),
        Some(0),
        "never readmitted:\n{m}"
    );
    assert_eq!(
        instance_gauge(&m, "gateway_upstream_healthy", dead),
        Some(1),
        "{m}"
    );
}
