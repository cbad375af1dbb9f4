//! The load engine against small in-test HTTP servers on 127.0.0.1:0.
//!
//! Real time is unavoidable here (the engine runs its own worker runtimes), so
//! every run is short and bounded, and tolerances are generous for a busy
//! 2-core machine. Schedule precision is proven by the property tests in
//! `traffic::schedule`; speed by `bench/load/`.

use std::future::Future;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use ninefold::metrics::{Outcome, Recording};
use ninefold::scenario::template::Template;
use ninefold::scenario::{
    Arrivals, Auth, Executor, JwtAlgorithm, KeySource, Plan, Tenant, TokenKind, TrafficPhase,
};
use ninefold::traffic::{Target, TrafficOptions, TrafficPlan};

use crate::support::{self, Reply};

/// A server that stops when dropped.
struct TestServer {
    addr: SocketAddr,
    hits: Arc<AtomicU64>,
    _server: support::Server,
}

/// Serve `handler(hit_number, request)` on 127.0.0.1:0.
async fn spawn_server<F, Fut>(handler: F) -> TestServer
where
    F: Fn(u64, Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    let hits = Arc::new(AtomicU64::new(0));
    let h = Arc::clone(&hits);
    let server = support::serve(move |req| handler(h.fetch_add(1, Ordering::SeqCst), req)).await;
    TestServer {
        addr: server.addr,
        hits,
        _server: server,
    }
}

fn reply(status: u16, body: &'static str) -> Reply {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

fn phase(executor: Executor, duration_ms: u64, connections: u32, cap: u32) -> TrafficPhase {
    TrafficPhase {
        flow: false,
        name: "p".into(),
        start: Duration::ZERO,
        duration: Duration::from_millis(duration_ms),
        executor,
        tenants: Vec::new(),
        requests: vec![support::request(Method::GET, "/items/{seq}")],
        expect: Vec::new(),
        timeout: Duration::from_secs(5),
        connections: NonZeroU32::new(connections).unwrap(),
        max_in_flight: NonZeroU32::new(cap).unwrap(),
        client_retries: 0,
        protocol: None,
        max_streams: None,
    }
}

fn rate(rate: f64) -> Executor {
    Executor::ConstantArrivalRate {
        rate,
        arrivals: Arrivals::Uniform,
    }
}

async fn run(
    phases: Vec<TrafficPhase>,
    tenants: Vec<Tenant>,
    auth: Option<Auth>,
    targets: Vec<Target>,
) -> Recording {
    let plan = TrafficPlan {
        phases,
        tenants,
        auth,
        seed: 7,
        run_start: Instant::now() + Duration::from_millis(20),
    };
    let options = TrafficOptions {
        workers: NonZeroUsize::new(1),
        ..TrafficOptions::default()
    };
    support::run(plan, targets, options).await
}

fn count_above(h: &hdrhistogram::Histogram<u64>, us: u64) -> u64 {
    h.iter_recorded()
        .filter(|v| v.value_iterated_to() > us)
        .map(|v| v.count_at_value())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinated_omission_shows_in_intended_time_latency() {
    // The 100th request (t ≈ 1 s) stalls for 1 s; everything else answers at once.
    let server = spawn_server(|n, _| async move {
        if n == 100 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        reply(200, "ok")
    })
    .await;
    let r = run(
        vec![phase(rate(100.0), 3000, 1, 10_000)],
        vec![],
        None,
        vec![Target::new(server.addr)],
    )
    .await;
    let outcomes = r.outcomes();
    assert_eq!(outcomes.get(Outcome::Ok), 300, "{outcomes:?}");
    assert_eq!(r.dropped(), 0);
    let latency = r.latency().unwrap().0;
    let service = r.service().unwrap().0;
    // Requests intended during the stall waited behind it: latencies spread over
    // 0–1 s, ~50 of them above 0.5 s and ~90 above 0.1 s (more on a busy machine,
    // where the backlog after the stall takes a while to drain).
    let above_100ms = count_above(&latency, 100_000);
    let above_500ms = count_above(&latency, 500_000);
    let above_900ms = count_above(&latency, 900_000);
    eprintln!("latency > 100 ms: {above_100ms}, > 500 ms: {above_500ms}, > 900 ms: {above_900ms}");
    assert!(
        (75..=200).contains(&above_100ms),
        "{above_100ms} above 100 ms"
    );
    assert!(
        (35..=110).contains(&above_500ms),
        "{above_500ms} above 500 ms"
    );
    assert!(
        (1..=30).contains(&above_900ms),
        "{above_900ms} above 900 ms"
    );
    assert!(
        (950_000..1_600_000).contains(&latency.max()),
        "max {}",
        latency.max()
    );
    // The service time hides all of that: only the stalled request was slow to serve.
    assert_eq!(count_above(&service, 800_000), 1);
    assert!(
        count_above(&service, 100_000) <= 3,
        "service > 100 ms: {}",
        count_above(&service, 100_000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_in_flight_cap_are_dropped_and_counted() {
    let server = spawn_server(|_, _| async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        reply(200, "slow")
    })
    .await;
    // 100 req/s for 1 s on one connection that serves 5/s, with room for 5 in flight.
    let r = run(
        vec![phase(rate(100.0), 1000, 1, 5)],
        vec![],
        None,
        vec![Target::new(server.addr)],
    )
    .await;
    let o = r.outcomes();
    assert_eq!(
        o.total(),
        100,
        "every scheduled request has an outcome: {o:?}"
    );
    assert_eq!(r.phases[0].scheduled, 100);
    assert_eq!(r.dropped(), o.get(Outcome::Dropped));
    assert!(o.get(Outcome::Dropped) >= 80, "{o:?}");
    assert_eq!(o.get(Outcome::Ok) + o.get(Outcome::Dropped), 100);
    assert_eq!(server.hits.load(Ordering::SeqCst), o.get(Outcome::Ok));
    let dropped_per_second: u64 = r
        .seconds
        .iter()
        .map(|s| s.outcomes.get(Outcome::Dropped))
        .sum();
    assert_eq!(dropped_per_second, o.get(Outcome::Dropped));
}

fn tenant(id: &str, rate: f64, burst: u32) -> Tenant {
    Tenant {
        id: id.into(),
        plan: Plan {
            rate,
            burst: NonZeroU32::new(burst).unwrap(),
            quota: None,
        },
        token: None,
        credentials: Default::default(),
    }
}

fn auth() -> Auth {
    Auth {
        algorithm: JwtAlgorithm::HS256,
        key: KeySource::Secret(
            ninefold::scenario::template::Template::parse("test-secret").unwrap(),
        ),
        signing_key_file: None,
        issuer: Some("https://auth.test".into()),
        audience: Some("orders".into()),
        tenant_claim: "tenant_id".into(),
        leeway: Duration::from_secs(5),
        forward_authorization: false,
        scopes: Vec::new(),
    }
}

/// A tiny gateway stand-in: verifies the JWT, names an instance, creates orders.
async fn gateway(n: u64, req: Request<Incoming>) -> Reply {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&["https://auth.test"]);
    validation.set_audience(&["orders"]);
    validation.leeway = 5;
    let claims = token.and_then(|t| {
        jsonwebtoken::decode::<serde_json::Value>(
            t,
            &jsonwebtoken::DecodingKey::from_secret(b"test-secret"),
            &validation,
        )
        .ok()
    });
    let Some(claims) = claims else {
        return reply(401, "no");
    };
    let tenant = claims.claims["tenant_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut resp = if req.method() == Method::POST {
        let key = req
            .headers()
            .get("idempotency-key")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let body = format!(r#"{{"id": "order-{key}", "tenant": "{tenant}"}}"#);
        Response::builder()
            .status(201)
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    } else {
        reply(200, "item")
    };
    resp.headers_mut().insert(
        HeaderName::from_static("x-backend-instance"),
        if n.is_multiple_of(2) {
            "api-0"
        } else {
            "api-1"
        }
        .parse()
        .unwrap(),
    );
    resp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_tokens_instances_and_the_write_ledger() {
    let server = spawn_server(gateway).await;
    let mut post = support::request(Method::POST, "/orders");
    post.body = Some(Template::parse(r#"{"sku": {rand:1..50}}"#).unwrap());
    post.idempotency_key = true;
    let mut expired = support::request(Method::GET, "/items/1");
    expired.token = TokenKind::Expired;
    let mut missing = support::request(Method::GET, "/items/2");
    missing.token = TokenKind::Missing;
    let mut p = phase(rate(200.0), 1000, 4, 1000);
    p.requests = vec![
        support::request(Method::GET, "/items/{rand:1..9}"),
        post,
        expired,
        missing,
    ];
    p.tenants = vec![("acme".into(), 3.0), ("free".into(), 1.0)];
    let r = run(
        vec![p],
        vec![tenant("acme", 1000.0, 1000), tenant("free", 1000.0, 1000)],
        Some(auth()),
        vec![Target::new(server.addr)],
    )
    .await;
    let o = r.outcomes();
    assert_eq!(o.total(), 200);
    // Hostile classes expect 401 and get it: rejected (good), never unexpected.
    assert_eq!(o.get(Outcome::UnexpectedStatus), 0, "{o:?}");
    assert!(o.get(Outcome::Rejected) > 50, "{o:?}");
    for key in r.keys.iter().filter(|k| k.class >= 2) {
        assert_eq!(
            key.outcomes.get(Outcome::Rejected),
            key.outcomes.total(),
            "{key:?}"
        );
    }
    let acme = r
        .keys
        .iter()
        .filter(|k| k.tenant.as_deref() == Some("acme"))
        .map(|k| k.outcomes.total())
        .sum::<u64>();
    assert!(
        (110..=190).contains(&acme),
        "acme drew {acme} of 200 (weight 3:1)"
    );
    // Every answer named its instance.
    let answered = o.get(Outcome::Ok) + o.get(Outcome::Rejected);
    let named: u64 = r.instances.values().sum();
    assert_eq!(named, o.get(Outcome::Ok));
    assert!(answered >= named);
    assert_eq!(r.instances.len(), 2);
    // Acknowledged writes: key → order id from the body.
    let posts = r
        .keys
        .iter()
        .filter(|k| k.class == 1)
        .map(|k| k.outcomes.get(Outcome::Ok))
        .sum::<u64>();
    assert!(posts > 0);
    assert_eq!(r.ledger.len() as u64, posts);
    for w in &r.ledger {
        assert_eq!(
            w.order_id.as_deref(),
            Some(format!("order-{}", w.key).as_str())
        );
        assert_eq!(w.status, 201);
    }
    // The throttle model saw every valid-token answer; a generous plan admits all.
    let offered: u64 = r.tenants.values().map(|t| t.offered).sum();
    assert_eq!(offered, o.get(Outcome::Ok));
    for stats in r.tenants.values() {
        assert_eq!(stats.model_admitted, stats.offered);
        assert_eq!(stats.wrongful_throttles + stats.over_admissions, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_target_is_skipped_round_robin() {
    let server = spawn_server(|_, _| async { reply(200, "ok") }).await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let r = run(
        vec![phase(rate(100.0), 500, 4, 100)],
        vec![],
        None,
        vec![Target::new(dead), Target::new(server.addr)],
    )
    .await;
    let o = r.outcomes();
    assert_eq!(o.get(Outcome::Ok), 50, "{o:?}");
    // With no live target at all, requests end as connect errors, not hangs.
    let r = run(
        vec![phase(rate(100.0), 200, 2, 100)],
        vec![],
        None,
        vec![Target::new(dead)],
    )
    .await;
    assert_eq!(r.outcomes().get(Outcome::ConnectError), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_users_wait_for_answers_and_think() {
    let in_flight = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let (f, pk) = (Arc::clone(&in_flight), Arc::clone(&peak));
    let server = spawn_server(move |_, _| {
        let (f, pk) = (Arc::clone(&f), Arc::clone(&pk));
        async move {
            let now = f.fetch_add(1, Ordering::SeqCst) + 1;
            pk.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            f.fetch_sub(1, Ordering::SeqCst);
            reply(200, "ok")
        }
    })
    .await;
    // Four connections: each user owns one. One connection: users queue for it.
    for (connections, most) in [(4, 2), (1, 1)] {
        peak.store(0, Ordering::SeqCst);
        let vus = Executor::ConstantVus {
            vus: NonZeroU32::new(2).unwrap(),
            think_time: Duration::from_millis(45),
        };
        let target = vec![Target::new(server.addr)];
        let r = run(vec![phase(vus, 1000, connections, 1)], vec![], None, target).await;
        let ok = r.outcomes().get(Outcome::Ok);
        // Two users, ~50 ms per iteration: ~40 requests in 1 s (a busy machine makes fewer).
        assert!((10..=44).contains(&ok), "{ok}");
        assert!(
            peak.load(Ordering::SeqCst) <= most,
            "at most {most} in flight"
        );
        assert_eq!(r.dropped(), 0);
        assert!(!r.phases[0].open_loop);
    }
}

/// `attack --requests N` sends exactly N requests over all workers, closed or open loop.
#[test]
fn attack_stops_after_the_request_count() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(spawn_server(|_, _| async { reply(200, "ok") }));
    let bin = env!("CARGO_BIN_EXE_ninefold");
    let url = format!("http://{}/n", server.addr);
    for extra in [
        vec!["-n", "137", "-c", "3", "--workers", "2"],
        vec!["-n", "61", "--rate", "400", "-c", "2", "--workers", "2"],
    ] {
        let out = std::process::Command::new(bin)
            .args(["attack", &url, "--json"])
            .args(&extra)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let n: u64 = extra[1].parse().unwrap();
        assert_eq!(v["requests"], n, "{extra:?}");
        assert_eq!(v["outcomes"]["ok"], n, "{extra:?}");
    }
    drop(server);
}

// Long: a table of attack invocations against three servers, each with its exit code and JSON fields.
#[test]
fn attack_json_and_exit_codes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fast = rt.block_on(spawn_server(|_, _| async { reply(200, "ok") }));
    let slow = rt.block_on(spawn_server(|_, _| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        reply(StatusCode::OK.as_u16(), "slow")
    }));
    let bin = env!("CARGO_BIN_EXE_ninefold");
    let out = std::process::Command::new(bin)
        .args([
            "attack",
            &format!("http://{}/x", fast.addr),
            "--rate",
            "200",
            "-d",
            "1s",
            "-c",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["requests"], 200);
    assert_eq!(v["outcomes"]["ok"], 200);
    for field in ["duration_s", "rps"] {
        assert!(v[field].as_f64().unwrap() > 0.0, "{field}");
    }
    for hist in ["latency_ms", "service_time_ms"] {
        for q in ["p50", "p90", "p99", "p999", "max"] {
            assert!(v[hist][q].as_f64().is_some(), "{hist}.{q}");
        }
    }
    // A target that serves 10/s on one connection cannot take 100/s: the run says so, exit 5.
    let out = std::process::Command::new(bin)
        .args([
            "attack",
            &format!("http://{}/", slow.addr),
            "--rate",
            "100",
            "-d",
            "1s",
            "-c",
            "1",
            "--max-in-flight",
            "3",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kept_schedule"], false);
    assert!(v["outcomes"]["dropped"].as_u64().unwrap() > 50);
    // Bad input: exit 2 with a message.
    for args in [
        vec!["attack", "ftp://127.0.0.1/"],
        vec!["attack", "not a url"],
        vec!["attack", "http://127.0.0.1:1/", "--rate", "0"],
        vec!["attack", "http://127.0.0.1:1/", "-H", "no-colon"],
        vec!["attack", "http://127.0.0.1:1/", "-d", "10"],
        vec!["attack", "http://127.0.0.1:1/", "-n", "0"],
    ] {
        let out = std::process::Command::new(bin)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("error:"),
            "{args:?}"
        );
    }
    drop((fast, slow));
}
