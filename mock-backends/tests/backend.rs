//! Integration tests of the mock backend library: real servers on
//! 127.0.0.1:0 over real stores (a temporary SQLite file, a throwaway
//! `redis-server`), and the router driven without a socket where time matters.

mod support;

use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use mock_backends::{
    Behaviour, Config, Dur, ErrorMode, ErrorModel, ExportedOrder, LatencyModel, Serverless,
    StoreSpec,
};
use serde_json::{Value, json};
use support::{RedisServer, TempDir, client, spawn};
use tower::ServiceExt;

fn config(name: &str, store: StoreSpec) -> Config {
    Config::new(name, store)
}

/// 50 concurrent POSTs with one key over two instances: one order, 49 replays.
async fn one_key_over_two_instances(store: StoreSpec) {
    let a = spawn(config("api-0", store.clone())).await;
    let b = spawn(config("api-1", store)).await;
    let http = client();
    let body = r#"{"sku":7,"qty":1}"#;
    let sends = (0..50).map(|i| {
        let url = if i % 2 == 0 {
            a.url("/orders")
        } else {
            b.url("/orders")
        };
        let req = http
            .post(url)
            .header("idempotency-key", "key-1")
            .header("x-tenant-id", "acme")
            .header("content-type", "application/json")
            .body(body);
        async move {
            let resp = req.send().await.expect("request");
            let replayed = resp.headers().get("idempotent-replayed").is_some();
            let instance = resp.headers()["x-backend-instance"]
                .to_str()
                .unwrap()
                .to_owned();
            (
                resp.status(),
                replayed,
                instance,
                resp.bytes().await.unwrap(),
            )
        }
    });
    let results = futures::future::join_all(sends).await;
    assert!(
        results.iter().all(|r| r.0 == StatusCode::CREATED),
        "{results:?}"
    );
    assert_eq!(
        results.iter().filter(|r| !r.1).count(),
        1,
        "exactly one original response"
    );
    assert_eq!(results.iter().filter(|r| r.1).count(), 49, "49 replays");
    assert!(
        results.iter().all(|r| r.3 == results[0].3),
        "every replay is the first response"
    );
    let instances: std::collections::HashSet<_> = results.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(instances.len(), 2, "both instances answered");

    let export: Value = http
        .get(a.admin_url("/admin/orders"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let orders: Vec<ExportedOrder> = serde_json::from_value(export["orders"].clone()).unwrap();
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0].idempotency_key.as_deref(), Some("key-1"));
    assert_eq!(orders[0].tenant.as_deref(), Some("acme"));
    assert_eq!(orders[0].applied, 1);
    assert_eq!(orders[0].replays, 49);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_instances_one_key_make_one_order() {
    let dir = TempDir::new("idem");
    one_key_over_two_instances(dir.sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_instances_one_key_make_one_order() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    one_key_over_two_instances(StoreSpec::Redis(redis.url.clone())).await;
}

// Long: every endpoint of the mock API once, in order, over one store.
/// Items and orders behave the same over either store.
async fn api_round_trip(store: StoreSpec) {
    let a = spawn(config("api-0", store.clone())).await;
    let http = client();

    // Items: synthetic, overwritten, deleted, restored.
    let synthetic: Value = http
        .get(a.url("/items/42"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(synthetic["id"], "42");
    let put = http
        .put(a.url("/items/42"))
        .body(r#"{"name":"mine"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let got: Value = http
        .get(a.url("/items/42"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, json!({"name":"mine"}));
    for _ in 0..2 {
        let del = http.delete(a.url("/items/42")).send().await.unwrap();
        assert_eq!(del.status(), StatusCode::NO_CONTENT, "delete is idempotent");
    }
    assert_eq!(
        http.get(a.url("/items/42")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // A second instance opened now sees the first one's writes.
    let b = spawn(config("api-1", store)).await;
    assert_eq!(
        http.get(b.url("/items/42")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    // …and one written later within its refresh interval (wait on the condition, bounded).
    http.put(a.url("/items/7"))
        .body(r#"{"v":2}"#)
        .send()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v: Value = http
            .get(b.url("/items/7"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v == json!({"v":2}) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "instance b never saw a's write"
        );
        tokio::task::yield_now().await;
    }

    // Orders: no key → a new order each time; a reused key with another body → 422.
    let post = |key: Option<&str>, body: &'static str| {
        let mut req = http.post(a.url("/orders")).body(body);
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        req.send()
    };
    let one: Value = post(None, r#"{"sku":1}"#)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let two: Value = post(None, r#"{"sku":1}"#)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(one["id"], two["id"]);
    let first = post(Some("k"), r#"{"sku":2}"#).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("location").is_some());
    let reused = post(Some("k"), r#"{"sku":3}"#).await.unwrap();
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = reused.json().await.unwrap();
    assert_eq!(err["error"]["code"], "idempotency_key_reused");

    let id = one["id"].as_str().unwrap();
    let fetched: Value = http
        .get(b.url(&format!("/orders/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, one);
    assert_eq!(
        http.get(b.url("/orders/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    let orders = b.backend.store().export_orders().await.unwrap();
    assert_eq!(orders.len(), 3);
    assert!(orders.iter().all(|o| o.applied == 1));
    let items: Value = http
        .get(a.admin_url("/admin/items"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(items["items"].as_array().unwrap().len(), 2);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_items_and_orders_round_trip() {
    let dir = TempDir::new("api");
    api_round_trip(dir.sqlite()).await;
    // The harness reads a store back without any instance running.
    let orders = mock_backends::export_orders(&dir.sqlite()).await.unwrap();
    assert_eq!(orders.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_items_and_orders_round_trip() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    api_round_trip(StoreSpec::Redis(redis.url.clone())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_is_503_and_the_instance_stays_up() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let a = spawn(config("api-0", StoreSpec::Redis(redis.url.clone()))).await;
    let http = client();
    assert_eq!(
        http.get(a.url("/ready")).send().await.unwrap().status(),
        StatusCode::OK
    );
    redis.child.kill().await.unwrap();
    let resp = http.post(a.url("/orders")).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "store_unavailable");
    assert_eq!(
        http.get(a.url("/ready")).send().await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        http.get(a.url("/health")).send().await.unwrap().status(),
        StatusCode::OK
    );
    // Reads of untouched items do not need the store.
    assert_eq!(
        http.get(a.url("/items/1")).send().await.unwrap().status(),
        StatusCode::OK
    );
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_names_the_instance_and_echoes_ids() {
    let dir = TempDir::new("headers");
    let a = spawn(config("api-3", dir.sqlite())).await;
    let http = client();
    for path in ["/items/1", "/nope", "/health"] {
        let resp = http
            .get(a.url(path))
            .header("x-request-id", "req-9")
            .header("x-tenant-id", "acme")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-backend-instance"], "api-3", "{path}");
        assert_eq!(resp.headers()["x-request-id"], "req-9", "{path}");
        assert_eq!(resp.headers()["x-tenant-id"], "acme", "{path}");
    }
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_json_errors_never_a_panic() {
    let dir = TempDir::new("bad");
    let mut cfg = config("api-0", dir.sqlite());
    cfg.max_body_bytes = 1024;
    let a = spawn(cfg).await;
    let http = client();
    let cases = [
        (
            http.post(a.url("/orders")).body("{not json"),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
        (
            http.post(a.url("/orders")).body("[1,2]"),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
        (
            http.put(a.url("/items/1")).body("nope"),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
        (
            http.post(a.url("/orders")).body(vec![b' '; 4096]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (http.get(a.url("/nope")), StatusCode::NOT_FOUND, "not_found"),
        (
            http.patch(a.url("/items/1")),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            http.get(a.url("/orders")),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            http.get(a.admin_url("/admin/nope")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            http.put(a.admin_url("/admin/behaviour")).body("{"),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
    ];
    for (req, status, code) in cases {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), status);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{v}");
    }
    assert_eq!(
        http.get(a.url("/health")).send().await.unwrap().status(),
        StatusCode::OK
    );
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_changes_take_effect_on_the_next_request() {
    let dir = TempDir::new("admin");
    let a = spawn(config("api-0", dir.sqlite())).await;
    let http = client();
    let put = |b: Value| http.put(a.admin_url("/admin/behaviour")).json(&b).send();

    assert_eq!(
        http.get(a.url("/items/1")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let resp = put(json!({"errors": {"rate": 1.0, "status": 503}, "health_failing": true}))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let shown: Behaviour = http
        .get(a.admin_url("/admin/behaviour"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown.errors, ErrorModel::status(1.0, 503));
    let resp = http.get(a.url("/items/1")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "injected"
    );
    assert_eq!(
        http.get(a.url("/health")).send().await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    // An abrupt close: no response at all.
    put(json!({"errors": {"rate": 1.0, "mode": "close"}}))
        .await
        .unwrap();
    let err = http
        .get(a.url("/items/1"))
        .send()
        .await
        .expect_err("the connection is closed");
    assert!(!err.is_timeout(), "{err}");

    // An invalid behaviour is refused with every problem, and the old one stays.
    let resp = put(json!({"errors": {"rate": 2.0, "status": 200}}))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["problems"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(a.backend.behaviour().errors.mode, ErrorMode::Close);

    put(json!({})).await.unwrap();
    assert_eq!(
        http.get(a.url("/items/1")).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        http.get(a.url("/health")).send().await.unwrap().status(),
        StatusCode::OK
    );
    a.stop().await;
}

async fn status_of(app: &axum::Router, path: &str) -> (StatusCode, Vec<u8>) {
    let resp = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    (
        status,
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

#[tokio::test(start_paused = true)]
async fn latency_and_slow_bodies_follow_the_behaviour_in_virtual_time() {
    let dir = TempDir::new("latency");
    let backend = mock_backends::Backend::open(config("api-0", dir.sqlite()))
        .await
        .unwrap();
    let app = backend.app();

    let start = tokio::time::Instant::now();
    assert_eq!(status_of(&app, "/items/1").await.0, StatusCode::OK);
    assert_eq!(start.elapsed(), Duration::ZERO);

    let mut b = Behaviour {
        latency: LatencyModel::fixed(Duration::from_millis(250)),
        ..Behaviour::default()
    };
    backend.set_behaviour(&b).unwrap();
    let start = tokio::time::Instant::now();
    assert_eq!(status_of(&app, "/items/1").await.0, StatusCode::OK);
    assert_eq!(start.elapsed(), Duration::from_millis(250));

    b.latency = LatencyModel::none();
    b.payload_bytes = 100;
    b.slow_body = Some(mock_backends::SlowBody {
        chunk_bytes: 10,
        interval: Dur::ms(20),
    });
    backend.set_behaviour(&b).unwrap();
    let start = tokio::time::Instant::now();
    let (status, body) = status_of(&app, "/items/1").await;
    assert_eq!(status, StatusCode::OK);
    let chunks = body.len().div_ceil(10) as u32;
    assert_eq!(start.elapsed(), Duration::from_millis(20) * (chunks - 1));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["payload"].as_str().unwrap().len(), 100);
}

#[tokio::test(start_paused = true)]
async fn serverless_cold_starts_and_concurrency_limit() {
    let dir = TempDir::new("serverless");
    let backend = mock_backends::Backend::open(config("fn-0", dir.sqlite()))
        .await
        .unwrap();
    backend
        .set_behaviour(&Behaviour {
            latency: LatencyModel::fixed(Duration::from_millis(100)),
            serverless: Some(Serverless {
                cold_start: LatencyModel::fixed(Duration::from_millis(300)),
                keep_warm: Dur::ms(60_000),
                concurrency: 1,
                over_limit_status: 429,
            }),
            ..Behaviour::default()
        })
        .unwrap();
    let app = backend.app();

    let start = tokio::time::Instant::now();
    let first = tokio::spawn({
        let app = app.clone();
        async move { status_of(&app, "/items/1").await.0 }
    });
    // Let the first request take the only environment and start its wait.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let (status, body) = status_of(&app, "/items/2").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(first.await.unwrap(), StatusCode::OK);
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(400),
        "cold start + latency"
    );

    let start = tokio::time::Instant::now();
    assert_eq!(status_of(&app, "/items/3").await.0, StatusCode::OK);
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(100),
        "warm: latency only"
    );
}

#[tokio::test]
async fn requests_marked_hostile_are_counted_for_the_harness() {
    let dir = TempDir::new("hostile");
    let backend = mock_backends::Backend::open(config("api-0", dir.sqlite()))
        .await
        .unwrap();
    let (app, admin) = (backend.app(), backend.admin_app());
    let stats = |admin: axum::Router| async move {
        let (status, body) = status_of(&admin, "/admin/stats").await;
        assert_eq!(status, StatusCode::OK);
        serde_json::from_slice::<mock_backends::admin::Stats>(&body).unwrap()
    };
    assert_eq!(stats(admin.clone()).await.hostile_requests, 0);
    assert_eq!(status_of(&app, "/items/1").await.0, StatusCode::OK);
    for _ in 0..3 {
        let resp = app
            .clone()
            .oneshot(
                Request::get("/items/2")
                    .header("x-ninefold-hostile", "1")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "the backend still answers");
    }
    let s = stats(admin).await;
    assert_eq!(s.hostile_requests, 3, "only marked requests count");
    assert_eq!(s.instance, "api-0");
}
