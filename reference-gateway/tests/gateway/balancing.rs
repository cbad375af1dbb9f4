//! Balancing over the healthy set, failover with retries, health checks, outlier
//! ejection and the retry budget.

use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reference_gateway::{HealthConfig, OutlierConfig, RetryBudgetConfig, RetryConfig};

use crate::support::*;

fn retry(attempts: u32, per_try: Duration) -> Option<RetryConfig> {
    Some(RetryConfig {
        attempts: NonZeroU32::new(attempts).unwrap(),
        per_try_timeout: per_try,
    })
}

fn health(interval_ms: u64, timeout_ms: u64, after: u32) -> Option<HealthConfig> {
    Some(HealthConfig {
        path: "/health".into(),
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        unhealthy_after: NonZeroU32::new(after).unwrap(),
        healthy_after: NonZeroU32::new(after).unwrap(),
    })
}

#[tokio::test]
async fn round_robin_spreads_within_five_percent() {
    let ups = [
        spawn_upstream("a").await,
        spawn_upstream("b").await,
        spawn_upstream("c").await,
    ];
    let gw = spawn_gateway(config(&ups.iter().map(|u| u.addr).collect::<Vec<_>>())).await;
    let c = client();
    let n = 300;
    for i in 0..n {
        let r = c.get(format!("{}/items/{i}", gw.url)).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let even = n / 3;
    for u in &ups {
        let got = u.calls();
        assert!(
            got.abs_diff(even) * 20 <= even,
            "{got} calls vs {even} expected"
        );
    }
}

#[tokio::test]
async fn killed_instance_mid_traffic_causes_no_client_visible_get_errors() {
    let mut ups = [
        spawn_upstream("a").await,
        spawn_upstream("b").await,
        spawn_upstream("c").await,
    ];
    let mut cfg = config(&ups.iter().map(|u| u.addr).collect::<Vec<_>>());
    cfg.routes[0].retry = retry(3, Duration::from_millis(500));
    cfg.upstreams.get_mut("api").unwrap().outlier = Some(OutlierConfig {
        consecutive_failures: NonZeroU32::new(2).unwrap(),
        ejection: Duration::from_secs(30),
        max_ejected: 0.5,
    });
    let gw = spawn_gateway(cfg).await;
    let c = client();
    let mut errors = 0;
    for i in 0..300 {
        if i == 100 {
            ups[1].kill().await;
        }
        // Four requests in flight at a time, so some are on the instance when it dies.
        let futs = (0..4).map(|k| c.get(format!("{}/items/{i}-{k}", gw.url)).send());
        for r in futures::future::join_all(futs).await {
            match r {
                Ok(r) if r.status() == 200 => {}
                _ => errors += 1,
            }
        }
    }
    assert_eq!(errors, 0);
    assert!(
        ups[1].calls() > 0,
        "the killed instance served before it died"
    );
    assert_eq!(
        gw.gateway.available("api").unwrap().len(),
        2,
        "it is ejected"
    );
}

#[tokio::test]
async fn hung_instance_is_marked_unhealthy_within_interval_times_threshold() {
    let a = spawn_upstream("a").await;
    let hung = spawn_hung().await;
    let mut cfg = config(&[a.addr, hung.addr]);
    let (interval, timeout, after) = (100, 50, 2);
    cfg.upstreams.get_mut("api").unwrap().health = health(interval, timeout, after);
    cfg.routes[0].retry = retry(2, Duration::from_millis(200));
    let gw = spawn_gateway(cfg).await;
    let mut rx = gw.gateway.watch_health("api").unwrap();
    let start = Instant::now();
    // Budget: interval × threshold plus one probe timeout, plus slack for a busy machine.
    let bound = Duration::from_millis(interval * u64::from(after) + timeout + 1000);
    tokio::time::timeout(bound, rx.wait_for(|m| *m == 0b01))
        .await
        .expect("hung instance still healthy")
        .unwrap();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(interval * u64::from(after - 1)),
        "{took:?}: flipped too early"
    );
    let c = client();
    for i in 0..20 {
        let r = c.get(format!("{}/items/{i}", gw.url)).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(a.calls(), 20);
}

#[tokio::test]
async fn retry_budget_caps_retries_when_every_instance_fails() {
    let ups = [
        spawn_upstream("a").await,
        spawn_upstream("b").await,
        spawn_upstream("c").await,
    ];
    for u in &ups {
        u.status.store(503, Ordering::SeqCst);
    }
    let mut cfg = config(&ups.iter().map(|u| u.addr).collect::<Vec<_>>());
    cfg.routes[0].retry = retry(3, Duration::from_millis(500));
    cfg.retry_budget = RetryBudgetConfig {
        ratio: 0.2,
        min_retries_per_sec: 5,
    };
    let gw = spawn_gateway(cfg).await;
    let c = client();
    let n = 100;
    let start = Instant::now();
    for i in 0..n {
        let r = c.get(format!("{}/items/{i}", gw.url)).send().await.unwrap();
        assert_eq!(r.status(), 503);
    }
    // The floor renews each second the run spans (the first one included).
    let seconds = start.elapsed().as_secs() as usize + 2;
    let calls: usize = ups.iter().map(|u| u.calls()).sum();
    let retries = calls - n;
    // Without a budget this would be 2 × n = 200 retries.
    assert!(retries <= 5 * seconds + n / 5 + 1, "{retries} retries");
    assert!(
        retries >= 5 + n / 5 - 2,
        "{retries} retries: the budget should be used"
    );
    let m = gw.gateway.metrics_text();
    assert!(
        !m.contains("gateway_retry_budget_exhausted_total 0\n"),
        "{m}"
    );
}

#[tokio::test]
async fn no_healthy_instance_is_503_at_once() {
    let dead = closed_port().await;
    let mut cfg = config(&[dead]);
    cfg.upstreams.get_mut("api").unwrap().health = health(50, 50, 1);
    let gw = spawn_gateway(cfg).await;
    let mut rx = gw.gateway.watch_health("api").unwrap();
    tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|m| *m == 0))
        .await
        .unwrap()
        .unwrap();
    let r = client()
        .get(format!("{}/items/1", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "no_healthy_instance");
    let ready = client()
        .get(format!("{}/readyz", gw.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
}

#[tokio::test]
async fn least_request_and_hash_balance() {
    let ups = [spawn_upstream("a").await, spawn_upstream("b").await];
    let mut cfg = config(&ups.iter().map(|u| u.addr).collect::<Vec<_>>());
    cfg.upstreams.get_mut("api").unwrap().balance =
        reference_gateway::Balance::Hash(http::HeaderName::from_static("x-user"));
    let gw = spawn_gateway(cfg).await;
    let c = client();
    let mut first = None;
    for i in 0..20 {
        let r = c
            .get(format!("{}/items/{i}", gw.url))
            .header("x-user", "u-42")
            .send()
            .await
            .unwrap();
        let inst = r.headers()["x-backend-instance"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(
            first.get_or_insert(inst.clone()),
            &inst,
            "same key, same instance"
        );
    }
}
