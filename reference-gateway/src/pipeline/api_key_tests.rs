//! API keys through the whole request path, on paused tokio time, with an
//! in-process upstream that counts its calls.

use std::collections::BTreeMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio_util::sync::CancellationToken;

use crate::body::{Body, Request, Response};
use crate::config::*;
use crate::context::RequestContext;
use crate::error::BoxError;
use crate::pipeline::Pipeline;
use crate::pipeline::balance::Forward;
use crate::state::GatewayState;

struct Counting(Arc<AtomicUsize>);

impl Forward for Counting {
    fn send<'a>(
        &'a self,
        _state: &'a GatewayState,
        _ctx: &'a RequestContext,
        _req: &'a Request,
    ) -> impl Future<Output = Result<Response, BoxError>> + Send + 'a {
        self.0.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, BoxError>(Response::new(Body::full("ok"))) }
    }
}

/// Tenants `gold` (10/s, burst 10) and `bronze` (2/s, burst 2), one key each, and
/// a second key of `gold`.
fn config() -> Config {
    let mut c = Config::new(
        BTreeMap::from([(
            "api".to_string(),
            UpstreamConfig::new(vec!["127.0.0.1:9".parse().unwrap()]),
        )]),
        vec![RouteConfig::new("/items", "api")],
    );
    c.access_log = false;
    for (id, rate) in [("gold", 10u32), ("bronze", 2)] {
        c.tenants.push(TenantConfig {
            id: id.into(),
            plan: Plan {
                rate: f64::from(rate),
                burst: NonZeroU32::new(rate).unwrap(),
                quota: None,
            },
        });
    }
    for (key, tenant) in [
        ("k-gold", "gold"),
        ("k-bronze", "bronze"),
        ("k-gold-2", "gold"),
    ] {
        c.api_keys.push(ApiKeyConfig {
            key: key.into(),
            tenant: tenant.into(),
        });
    }
    c
}

fn get(keys: &[&str]) -> http::Request<Full<Bytes>> {
    let mut b = http::Request::get("/items/1");
    for k in keys {
        b = b.header("X-API-Key", *k);
    }
    b.body(Full::new(Bytes::new())).unwrap()
}

async fn body(r: Response) -> String {
    String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn known_keys_are_throttled_by_their_plan_and_unknown_ones_refused_as_aws_does() {
    let state = GatewayState::new(config(), CancellationToken::new()).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = Pipeline::with_forward(state.clone(), Counting(calls.clone()));
    // Refused on the head, AWS's answer byte for byte, the upstream never called.
    for keys in [&[][..], &["nope"], &["k-gold", "k-bronze"], &[""]] {
        let r = svc.call(get(keys)).await;
        assert_eq!(r.status(), 403, "{keys:?}");
        assert_eq!(r.headers()["x-amzn-errortype"], "ForbiddenException");
        assert_eq!(body(r).await, r#"{"message":"Forbidden"}"#, "{keys:?}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // Every key at 50/s for T = 5 s (instants 0, 20 ms, …, 5 s): a plan admits
    // burst + rate × T, whatever the others do; gold's two keys share gold's plan.
    let mut admitted: BTreeMap<&str, u64> = BTreeMap::new();
    for tick in 0..=250u32 {
        let key = if tick % 2 == 0 { "k-gold" } else { "k-gold-2" };
        for (tenant, key) in [("gold", key), ("bronze", "k-bronze")] {
            let r = svc.call(get(&[key])).await;
            match r.status().as_u16() {
                200 => *admitted.entry(tenant).or_default() += 1,
                429 => {}
                s => panic!("unexpected status {s}"),
            }
        }
        tokio::time::advance(Duration::from_millis(20)).await;
    }
    assert_eq!(admitted["gold"], 10 + 10 * 5);
    assert_eq!(admitted["bronze"], 2 + 2 * 5);
    assert_eq!(calls.load(Ordering::SeqCst) as u64, 60 + 12);
}

#[tokio::test]
async fn with_jwt_auth_too_the_token_is_still_checked() {
    let mut cfg = config();
    cfg.auth = Some(AuthConfig::hmac(
        jsonwebtoken::Algorithm::HS256,
        b"api-key-test-secret",
    ));
    let state = GatewayState::new(cfg, CancellationToken::new()).unwrap();
    let svc = Pipeline::with_forward(state, Counting(Arc::new(AtomicUsize::new(0))));
    assert_eq!(svc.call(get(&["k-gold"])).await.status(), 401);
    assert_eq!(svc.call(get(&["nope"])).await.status(), 403);
}

#[test]
fn keys_are_checked_and_never_shown() {
    let mut cfg = config();
    cfg.api_keys.push(ApiKeyConfig {
        key: "k-gold".into(),
        tenant: "nobody".into(),
    });
    let err = cfg.validate().unwrap_err().to_string();
    assert!(
        err.contains("gateway.api_keys[3].key: the same key is declared twice"),
        "{err}"
    );
    assert!(
        err.contains("gateway.api_keys[3].tenant: no tenant \"nobody\""),
        "{err}"
    );
    assert!(!format!("{cfg:?}").contains("k-gold"));
}
