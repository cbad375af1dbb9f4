//! Tests of the request path as production runs it ([`Pipeline`]), on paused tokio time,
//! with an in-process upstream in place of the pools (no sockets, so the paused clock
//! moves only when the test advances it).

use std::collections::BTreeMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tokio_util::sync::CancellationToken;

use super::Pipeline;
use super::balance::Forward;
use crate::body::{Body, Request, Response};
use crate::config::*;
use crate::context::RequestContext;
use crate::error::BoxError;
use crate::state::GatewayState;

const SECRET: &[u8] = b"layer-test-secret";

fn token(tenant: &str) -> String {
    // `exp` is wall-clock (jsonwebtoken reads the system time), paused tokio time does not touch it.
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({ "tenant_id": tenant, "exp": exp }),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn base_config() -> Config {
    let mut c = Config::new(
        BTreeMap::from([(
            "api".to_string(),
            UpstreamConfig::new(vec!["127.0.0.1:9".parse().unwrap()]),
        )]),
        vec![RouteConfig::new("/items", "api")],
    );
    c.access_log = false;
    c
}

/// The upstream: answers `ok` (with its `Content-Length`, so the cache may store it) and
/// counts the calls.
struct Counting(Arc<AtomicUsize>);

impl Forward for Counting {
    fn send<'a>(
        &'a self,
        _state: &'a GatewayState,
        _ctx: &'a RequestContext,
        _req: &'a Request,
    ) -> impl Future<Output = Result<Response, BoxError>> + Send + 'a {
        self.0.fetch_add(1, Ordering::SeqCst);
        async move {
            let mut r = Response::new(Body::full("ok"));
            r.headers_mut().insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from_static("2"),
            );
            Ok::<_, BoxError>(r)
        }
    }
}

/// The gateway's request path over `state`, with a counting upstream.
fn counting(state: &Arc<GatewayState>) -> (Arc<AtomicUsize>, Pipeline<Counting>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let pipeline = Pipeline::with_forward(state.clone(), Counting(calls.clone()));
    (calls, pipeline)
}

/// HS256 auth and one tenant `id` with a generous bucket (1000/s, burst 1000) and `quota`.
fn with_tenant(id: &str, quota: Option<Quota>) -> Config {
    let mut cfg = base_config();
    cfg.auth = Some(AuthConfig::hmac(Algorithm::HS256, SECRET));
    cfg.tenants.push(TenantConfig {
        id: id.into(),
        plan: Plan {
            rate: 1000.0,
            burst: NonZeroU32::new(1000).unwrap(),
            quota,
        },
    });
    cfg
}

fn get(path: &str, bearer: Option<&str>) -> http::Request<Full<Bytes>> {
    let mut b = http::Request::get(path);
    if let Some(t) = bearer {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Full::new(Bytes::new())).unwrap()
}

#[tokio::test(start_paused = true)]
async fn throttling_is_exact_over_t_at_five_times_the_rate_and_spares_compliant_tenants() {
    let mut cfg = base_config();
    cfg.auth = Some(AuthConfig::hmac(Algorithm::HS256, SECRET));
    let plan = Plan {
        rate: 20.0,
        burst: NonZeroU32::new(40).unwrap(),
        quota: None,
    };
    for id in ["flood", "calm"] {
        cfg.tenants.push(TenantConfig {
            id: id.into(),
            plan,
        });
    }
    let state = GatewayState::new(cfg, CancellationToken::new()).unwrap();
    let (calls, svc) = counting(&state);
    let (flood, calm) = (token("flood"), token("calm"));
    // Flood at 5× the rate (100/s) for T = 10 s, instants 0, 10 ms, …, 10 s inclusive;
    // the compliant tenant sends at its rate (every 50 ms) alongside.
    let (mut admitted, mut calm_throttled, mut last_429) = (0u64, 0, None);
    for tick in 0..=1000u32 {
        let r = svc.call(get("/items/1", Some(&flood))).await;
        match r.status().as_u16() {
            200 => admitted += 1,
            429 => last_429 = Some(r),
            s => panic!("unexpected status {s}"),
        }
        if tick % 5 == 0 {
            let r = svc.call(get("/items/1", Some(&calm))).await;
            if r.status() != 200 {
                calm_throttled += 1;
            }
        }
        tokio::time::advance(Duration::from_millis(10)).await;
    }
    assert_eq!(admitted, 40 + 20 * 10, "burst + rate × T");
    assert_eq!(calm_throttled, 0);
    assert_eq!(calls.load(Ordering::SeqCst) as u64, admitted + 201);
    let r = last_429.unwrap();
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.headers()["ratelimit-limit"], "40");
    assert_eq!(r.headers()["ratelimit-remaining"], "0");
}

#[tokio::test(start_paused = true)]
async fn quota_boundary_is_exact_through_the_layer() {
    let cfg = with_tenant(
        "q",
        Some(Quota {
            limit: std::num::NonZeroU64::new(50).unwrap(),
            period: QuotaPeriod::Every(Duration::from_secs(10)),
        }),
    );
    let state = GatewayState::new(cfg, CancellationToken::new()).unwrap();
    let (_, svc) = counting(&state);
    let t = token("q");
    let mut statuses = Vec::new();
    for _ in 0..51 {
        statuses.push(svc.call(get("/items/1", Some(&t))).await.status().as_u16());
    }
    assert!(statuses[..50].iter().all(|s| *s == 200));
    assert_eq!(statuses[50], 429, "limit + 1 is refused");
    tokio::time::advance(Duration::from_secs(10)).await;
    let r = svc.call(get("/items/1", Some(&t))).await;
    assert_eq!(r.status(), 200, "a new period restores the quota");
}

#[tokio::test(start_paused = true)]
async fn cache_entries_expire_after_ttl() {
    let mut cfg = base_config();
    cfg.routes[0].cache = true;
    cfg.cache.ttl = Duration::from_secs(5);
    let state = GatewayState::new(cfg, CancellationToken::new()).unwrap();
    let (calls, svc) = counting(&state);
    let x = |r: &Response| r.headers()["x-cache"].to_str().unwrap().to_string();
    assert_eq!(x(&svc.call(get("/items/1", None)).await), "MISS");
    tokio::time::advance(Duration::from_millis(4999)).await;
    assert_eq!(x(&svc.call(get("/items/1", None)).await), "HIT");
    tokio::time::advance(Duration::from_millis(2)).await;
    assert_eq!(x(&svc.call(get("/items/1", None)).await), "MISS");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// `Authorization` values a string header cannot carry (bytes past ASCII, a tab), and a
/// token with junk after it: the token's bytes are left to the verifier, which refuses
/// every one, and the upstream is never called. A valid token with extra spaces around it
/// and the scheme in another case is admitted, from the verifier's cache the second time.
#[tokio::test]
async fn the_verifier_refuses_what_the_bearer_split_lets_through() {
    let cfg = with_tenant("acme", None);
    let state = GatewayState::new(cfg, CancellationToken::new()).unwrap();
    let (calls, svc) = counting(&state);
    let good = token("acme");
    let send = |value: Vec<u8>| {
        let mut req = get("/items/1", None);
        req.headers_mut().insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_bytes(&value).unwrap(),
        );
        svc.call(req)
    };
    let refused: [Vec<u8>; 6] = [
        [b"Bearer ", good.as_bytes(), b"\xff".as_slice()].concat(),
        [b"Bearer \xc3\xa9", good.as_bytes()].concat(),
        [b"Bearer ", good.as_bytes(), b" junk".as_slice()].concat(),
        [b"Bearer ", good.as_bytes(), b" ", good.as_bytes()].concat(),
        [b"Bearer\t", good.as_bytes()].concat(),
        [
            b"Bearer ",
            &good.as_bytes()[..good.len() / 2],
            b" ",
            &good.as_bytes()[good.len() / 2..],
        ]
        .concat(),
    ];
    for value in refused {
        for _ in 0..2 {
            let r = send(value.clone()).await;
            assert_eq!(r.status(), 401, "{}", String::from_utf8_lossy(&value));
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    for _ in 0..2 {
        let r = send([b"bEaReR   ", good.as_bytes(), b"  "].concat()).await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
