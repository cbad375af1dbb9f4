//! Same seed, same requests (issue 18, case 5): the load engine is driven several
//! times against a tiny logging HTTP server on 127.0.0.1:0, with different worker
//! counts and once split over two shards, and the logs must be byte-identical.
//!
//! The log keys each request by (phase, sequence number) — both come from the
//! request itself (a static `x-phase` header and an `x-seq: {seq}` header) — and
//! records its method, path, every header but `host`, and its body. Nothing in
//! these requests is time-dependent: the tenants use static bearer tokens. (Minted
//! JWTs carry `iat`/`nbf`/`exp`, which depend on the clock by design; they are the
//! one part of a request that is not a function of the seed.)

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use ninefold::metrics::Outcome;
use ninefold::scenario::template::Template;
use ninefold::scenario::{Arrivals, Executor, Plan, RequestTemplate, Tenant, TrafficPhase};
use ninefold::traffic::{Shard, Target, TrafficOptions, TrafficPlan};

use crate::support;

/// (phase, seq) → the request as the server saw it, minus `host`.
type Log = Arc<Mutex<BTreeMap<(String, u64), String>>>;

struct LoggingServer {
    addr: SocketAddr,
    log: Log,
    _server: support::Server,
}

async fn describe(req: Request<Incoming>) -> ((String, u64), String) {
    let (parts, body) = req.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let key = (
        header("x-phase"),
        header("x-seq").parse().unwrap_or(u64::MAX),
    );
    let mut text = format!("{} {}\n", parts.method, parts.uri);
    for (name, value) in &parts.headers {
        if name != "host" {
            text.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("?")));
        }
    }
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(&body));
    (key, text)
}

async fn logging_server() -> LoggingServer {
    let log: Log = Arc::default();
    let l = Arc::clone(&log);
    let server = support::serve(move |req| {
        let log = Arc::clone(&l);
        async move {
            let (key, text) = describe(req).await;
            // A retry repeats its request: keep the first.
            log.lock().unwrap().entry(key).or_insert(text);
            Response::new(Full::new(Bytes::from_static(b"ok")))
        }
    })
    .await;
    LoggingServer {
        addr: server.addr,
        log,
        _server: server,
    }
}

fn template(text: &str) -> Template {
    Template::parse(text).unwrap()
}

fn class(method: Method, path: &str, body: Option<&str>, weight: u32) -> RequestTemplate {
    RequestTemplate {
        check: None,
        extract: Vec::new(),
        headers: vec![
            (HeaderName::from_static("x-seq"), template("{seq}")),
            (HeaderName::from_static("x-trace"), template("{uuid}")),
            (
                HeaderName::from_static("x-shard-key"),
                template("{tenant}-{rand:0..999999}"),
            ),
        ],
        body: body.map(template),
        idempotency_key: body.is_some(),
        weight: NonZeroU32::new(weight).unwrap(),
        ..support::request(method, path)
    }
}

fn phase(name: &str, rate: f64, requests: Vec<RequestTemplate>) -> TrafficPhase {
    let mut requests = requests;
    for r in &mut requests {
        r.headers
            .push((HeaderName::from_static("x-phase"), template(name)));
    }
    TrafficPhase {
        flow: false,
        name: name.into(),
        start: Duration::ZERO,
        duration: Duration::from_millis(600),
        executor: Executor::ConstantArrivalRate {
            rate,
            arrivals: Arrivals::Uniform,
        },
        tenants: vec![
            ("acme".into(), 3.0),
            ("globex".into(), 1.0),
            ("initech".into(), 1.0),
        ],
        requests,
        expect: Vec::new(),
        timeout: Duration::from_secs(5),
        connections: NonZeroU32::new(6).unwrap(),
        max_in_flight: NonZeroU32::new(10_000).unwrap(),
        client_retries: 0,
        protocol: None,
        max_streams: None,
    }
}

/// A flow phase of three steps; each step logs under a phase name of its own
/// (`flow-0`, `flow-1`, `flow-2`), since the steps of a flow share its `{seq}`.
fn flow_phase() -> TrafficPhase {
    let mut p = phase(
        "flow",
        100.0,
        vec![
            class(
                Method::POST,
                "/flow/orders",
                Some(r#"{"ref": "{uuid}"}"#),
                1,
            ),
            class(Method::GET, "/flow/{rand:1..1000000}/{uuid}", None, 1),
            class(Method::DELETE, "/flow/{rand:1..1000000}", Some("{uuid}"), 1),
        ],
    );
    p.flow = true;
    for (k, r) in p.requests.iter_mut().enumerate() {
        if let Some((_, t)) = r.headers.last_mut() {
            *t = template(&format!("flow-{k}"));
        }
    }
    p
}

fn tenant(id: &str) -> Tenant {
    Tenant {
        id: id.into(),
        plan: Plan {
            rate: 1e6,
            burst: NonZeroU32::new(1_000_000).unwrap(),
            quota: None,
        },
        token: Some(format!("static-{id}")),
        credentials: Default::default(),
    }
}

fn plan() -> TrafficPlan {
    TrafficPlan {
        phases: vec![
            phase(
                "mixed",
                400.0,
                vec![
                    class(Method::GET, "/t/{tenant}/items/{rand:1..100000}", None, 5),
                    class(
                        Method::POST,
                        "/t/{tenant}/orders",
                        Some(r#"{"sku": {rand:1..1000000}, "ref": "{uuid}", "n": {seq}}"#),
                        2,
                    ),
                    class(Method::DELETE, "/items/{rand:1..50}", None, 1),
                ],
            ),
            phase(
                "reads",
                250.0,
                vec![
                    class(Method::GET, "/search?q={rand:1..999}&t={tenant}", None, 1),
                    class(Method::PUT, "/items/{uuid}", Some("{rand:0..9}"), 1),
                ],
            ),
            flow_phase(),
        ],
        tenants: vec![tenant("acme"), tenant("globex"), tenant("initech")],
        auth: None,
        seed: 1818,
        run_start: Instant::now() + Duration::from_millis(20),
    }
}

/// Drive the whole plan (or one shard of it) against `server`, with `workers` workers.
async fn drive(server: &LoggingServer, workers: usize, shard: Shard) {
    let options = TrafficOptions {
        workers: NonZeroUsize::new(workers),
        shard,
        max_requests: NonZeroU64::new(1_000_000),
        ..TrafficOptions::default()
    };
    let recording = support::run(plan(), vec![Target::new(server.addr)], options).await;
    let outcomes = recording.outcomes();
    assert_eq!(
        outcomes.get(Outcome::Ok),
        outcomes.total(),
        "every request answered: {outcomes:?}"
    );
}

/// The log as one text, and how many requests it holds.
fn dump(server: &LoggingServer) -> (String, usize) {
    let log = server.log.lock().unwrap();
    let text = log
        .iter()
        .map(|((phase, seq), req)| format!("== {phase} #{seq}\n{req}\n"))
        .collect();
    (text, log.len())
}

/// Lines of two dumps that differ (to say how far apart two runs are).
fn differing_requests(a: &str, b: &str) -> usize {
    let split = |s: &str| -> Vec<String> { s.split("== ").map(str::to_owned).collect() };
    let (a, b) = (split(a), split(b));
    a.iter().zip(&b).filter(|(x, y)| x != y).count() + a.len().abs_diff(b.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_requests_across_runs_workers_and_shards() {
    let mut dumps = Vec::new();
    for workers in [1, 1, 3] {
        let server = logging_server().await;
        drive(&server, workers, Shard::default()).await;
        dumps.push((format!("{workers} worker(s)"), dump(&server)));
    }
    {
        // One run split over two shards (with different worker counts), logged by one server.
        let server = logging_server().await;
        drive(&server, 2, Shard::new(0, 2).unwrap()).await;
        drive(&server, 1, Shard::new(1, 2).unwrap()).await;
        dumps.push(("2 shards merged".into(), dump(&server)));
    }
    let (first_name, (first, n)) = &dumps[0];
    // 600 ms at 400/s and 250/s: 240 + 150 requests (give or take the boundary), and
    // 60 flows of three steps.
    assert!(*n >= 380 + 3 * 58, "only {n} requests logged");
    // Each step of a flow draws its own values: no two steps share a trace id.
    let log = |step: usize| {
        first
            .split("== ")
            .filter(|r| r.starts_with(&format!("flow-{step} #7\n")))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let (a, b) = (log(0), log(1));
    assert_eq!(
        (a.len(), b.len()),
        (1, 1),
        "flow 7's first two steps, once each"
    );
    let trace = |r: &str| {
        r.lines()
            .find(|l| l.starts_with("x-trace: "))
            .map(str::to_owned)
            .unwrap()
    };
    assert_ne!(trace(&a[0]), trace(&b[0]), "{a:?} {b:?}");
    assert!(
        first.contains("idempotency-key: ") && first.contains("authorization: Bearer static-"),
        "{first}"
    );
    for (name, (text, len)) in &dumps[1..] {
        assert_eq!(
            len, n,
            "{name} logged {len} requests, {first_name} logged {n}"
        );
        let differ = differing_requests(first, text);
        assert!(
            differ == 0 && text == first,
            "{differ} of {n} requests differ between {first_name} and {name}"
        );
    }
}
