//! Cache, transforms, metrics, reload.

use std::num::NonZeroU32;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use jsonwebtoken::Algorithm;
use reference_gateway::{AuthConfig, Plan, Rewrite, RouteConfig, TenantConfig};

use crate::support::*;

#[tokio::test]
async fn cache_hit_miss_no_store_private_and_per_tenant_keys() {
    let up = spawn_upstream("a").await;
    let mut cfg = config(&[up.addr]);
    cfg.routes[0].cache = true;
    cfg.cache.ttl = Duration::from_secs(60);
    cfg.auth = Some(AuthConfig::hmac(Algorithm::HS256, SECRET));
    cfg.rate_limit.unknown_tenant = reference_gateway::UnknownTenant::Unlimited;
    let gw = spawn_gateway(cfg).await;
    let c = client();
    let get = |path: &str, t: &str| {
        c.get(format!("{}{path}", gw.url))
            .bearer_auth(tenant_token(t))
            .send()
    };
    let x = |r: &reqwest::Response| r.headers()["x-cache"].to_str().unwrap().to_string();

    let r = get("/items/1?q=a", "acme").await.unwrap();
    assert_eq!(x(&r), "MISS");
    assert_eq!(r.text().await.unwrap(), "a /items/1?q=a");
    let r = get("/items/1?q=a", "acme").await.unwrap();
    assert_eq!(x(&r), "HIT");
    assert_eq!(r.text().await.unwrap(), "a /items/1?q=a");
    assert_eq!(up.calls(), 1);
    assert_eq!(
        x(&get("/items/1?q=b", "acme").await.unwrap()),
        "MISS",
        "query is in the key"
    );
    assert_eq!(
        x(&get("/items/1?q=a", "other").await.unwrap()),
        "MISS",
        "tenant is in the key"
    );
    assert_eq!(up.calls(), 3);

    for path in ["/items/nostore", "/items/private"] {
        assert_eq!(x(&get(path, "acme").await.unwrap()), "MISS");
        assert_eq!(
            x(&get(path, "acme").await.unwrap()),
            "MISS",
            "{path} must not be stored"
        );
    }
    assert_eq!(up.calls(), 7);
    let r = c
        .get(format!("{}/items/1?q=a", gw.url))
        .bearer_auth(tenant_token("acme"))
        .header("cache-control", "no-store")
        .send()
        .await
        .unwrap();
    assert!(
        !r.headers().contains_key("x-cache"),
        "a no-store request bypasses the cache"
    );
    assert_eq!(up.calls(), 8);
    let r = c
        .post(format!("{}/items/1?q=a", gw.url))
        .bearer_auth(tenant_token("acme"))
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("x-cache"), "only GET is cached");
}

#[tokio::test]
async fn transforms_are_visible_at_the_backend() {
    let up = spawn_upstream("a").await;
    let mut cfg = config(&[up.addr]);
    cfg.routes = vec![RouteConfig {
        rewrite: Rewrite::StripPrefix,
        ..RouteConfig::new("/api", "api")
    }];
    cfg.auth = Some(AuthConfig::hmac(Algorithm::HS256, SECRET));
    cfg.tenants = vec![TenantConfig {
        id: "acme".into(),
        plan: Plan {
            rate: 100.0,
            burst: NonZeroU32::new(100).unwrap(),
            quota: None,
        },
    }];
    let t = &mut cfg.transform;
    t.request.remove = vec![HeaderName::from_static("x-drop")];
    t.request.rename = vec![(
        HeaderName::from_static("x-old"),
        HeaderName::from_static("x-new"),
    )];
    t.request.set = vec![(
        HeaderName::from_static("x-gateway"),
        HeaderValue::from_static("ninefold"),
    )];
    t.response.remove = vec![HeaderName::from_static("x-internal")];
    t.response.set = vec![(
        HeaderName::from_static("x-served-by"),
        HeaderValue::from_static("rg"),
    )];
    let gw = spawn_gateway(cfg).await;
    let r = client()
        .get(format!("{}/api/items/7?x=1", gw.url))
        .bearer_auth(tenant_token("acme"))
        .header("x-tenant-id", "forged")
        .header("x-drop", "1")
        .header("x-old", "kept-value")
        .header("x-request-id", "req-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "req-123");
    assert_eq!(r.headers()["x-served-by"], "rg");
    assert!(!r.headers().contains_key("x-internal"));
    assert_eq!(r.headers()["ratelimit-limit"], "100");
    let seen = up.last();
    assert_eq!(seen.path, "/items/7?x=1", "prefix stripped, query kept");
    let h = &seen.headers;
    assert_eq!(h["x-tenant-id"], "acme", "from the token, not the client");
    assert!(!h.contains_key("authorization"));
    assert!(!h.contains_key("x-drop"));
    assert!(!h.contains_key("x-old"));
    assert_eq!(h["x-new"], "kept-value");
    assert_eq!(h["x-gateway"], "ninefold");
    assert_eq!(h["x-request-id"], "req-123");
    assert_eq!(seen.method, "GET");
}

/// Minimal Prometheus text-format check: every sample line is `name{labels} value`
/// with a valid metric name, a float value, and a `# TYPE` line for its family.
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let mut typed = std::collections::HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            typed.insert(it.next().unwrap().to_string());
            let kind = it.next().unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad name: {line}"
        );
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            assert!(
                labels.starts_with('{') && labels.ends_with('}'),
                "bad labels: {line}"
            );
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|f| typed.contains(*f))
            .unwrap_or(name);
        assert!(typed.contains(family), "no # TYPE for {name}");
        samples.push((series.to_string(), value));
    }
    samples
}

#[tokio::test]
async fn admin_metrics_parse_and_health_endpoints_answer() {
    let up = spawn_upstream("a").await;
    let gw = spawn_gateway(config(&[up.addr])).await;
    let c = client();
    for _ in 0..3 {
        c.get(format!("{}/items/1", gw.url)).send().await.unwrap();
    }
    c.get(format!("{}/missing", gw.url)).send().await.unwrap();
    assert_eq!(
        c.get(format!("{}/healthz", gw.admin))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(format!("{}/readyz", gw.admin))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let text = c
        .get(format!("{}/metrics", gw.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = parse_prometheus(&text);
    let find = |s: &str| samples.iter().find(|(k, _)| k == s).map(|(_, v)| *v);
    assert_eq!(
        find("gateway_requests_total{route=\"/items\",status=\"200\",tenant=\"none\"}"),
        Some(3.0)
    );
    assert_eq!(
        find("gateway_requests_total{route=\"none\",status=\"404\",tenant=\"none\"}"),
        Some(1.0)
    );
    assert_eq!(find("gateway_request_duration_seconds_count"), Some(4.0));
    assert_eq!(
        find(&format!(
            "gateway_upstream_healthy{{upstream=\"api\",instance=\"{}\",zone=\"\"}}",
            up.addr
        )),
        Some(1.0)
    );
}

#[tokio::test]
async fn reload_swaps_routes_without_dropping_requests_and_refuses_bad_configs() {
    let a = spawn_upstream("a").await;
    let b = spawn_upstream("b").await;
    let cfg = config(&[a.addr]);
    let gw = spawn_gateway(cfg.clone()).await;
    let c = client();
    let url = gw.url.clone();
    let traffic = tokio::spawn({
        let c = c.clone();
        async move {
            let mut bad = 0;
            for i in 0..200 {
                let r = c.get(format!("{url}/items/{i}")).send().await;
                if !matches!(r, Ok(ref r) if r.status() == 200) {
                    bad += 1;
                }
            }
            bad
        }
    });
    let mut next = cfg.clone();
    next.upstreams.get_mut("api").unwrap().targets = vec![b.addr];
    next.routes.push(RouteConfig::new("/orders", "api"));
    for i in 0..10 {
        let c = if i % 2 == 0 {
            next.clone()
        } else {
            cfg.clone()
        };
        gw.gateway.handle().reload(c).unwrap();
        tokio::task::yield_now().await;
    }
    gw.gateway.handle().reload(next.clone()).unwrap();
    assert_eq!(
        traffic.await.unwrap(),
        0,
        "no request failed across reloads"
    );
    let r = c.get(format!("{}/orders/1", gw.url)).send().await.unwrap();
    assert_eq!(r.headers()["x-backend-instance"], "b");

    let mut broken = next.clone();
    broken.routes.push(RouteConfig::new("/x", "nope"));
    let err = gw.gateway.handle().reload(broken).unwrap_err().to_string();
    assert!(
        err.contains("gateway.routes[2].upstream: unknown upstream \"nope\""),
        "{err}"
    );
    let r = c.get(format!("{}/orders/1", gw.url)).send().await.unwrap();
    assert_eq!(r.status(), 200, "the old configuration keeps serving");
}
