//! Response cache for GET on routes with `cache = true`: keyed by tenant + path + query
//! (+ the configured vary headers), entries expire after `ttl` (the store is
//! [`crate::response_cache::ResponseCache`], in the gateway's state). Responses carrying
//! `Cache-Control: no-store` or `private` are never stored; a request with `no-store`
//! bypasses the cache. Answers carry `X-Cache: HIT|MISS`.

use std::sync::atomic::Ordering;

use http::header::CACHE_CONTROL;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;

use crate::body::{Body, Request, Response};
use crate::context::{CacheOutcome, RequestContext};
use crate::error::BoxError;
use crate::state::GatewayState;

/// `x-cache`.
pub static X_CACHE: HeaderName = HeaderName::from_static("x-cache");

fn has_directive(h: &HeaderMap, names: &[&str]) -> bool {
    h.get_all(CACHE_CONTROL).iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .any(|d| names.iter().any(|n| d.trim().eq_ignore_ascii_case(n)))
        })
    })
}

fn with_x_cache(mut resp: Response, v: &'static str) -> Response {
    resp.headers_mut()
        .insert(&X_CACHE, HeaderValue::from_static(v));
    resp
}

/// What the cache has for a request.
pub(crate) enum Lookup {
    /// Not a cacheable request: send it, store nothing.
    Bypass,
    /// A fresh stored answer.
    Hit(Response),
    /// Not stored (or expired): send it, then [`store`] the answer under this key.
    Miss(String),
}

/// Looks `req` up: only GETs on cache routes without `no-store` are candidates.
pub(crate) async fn lookup(state: &GatewayState, ctx: &RequestContext, req: &Request) -> Lookup {
    let cacheable_route = req.method() == Method::GET
        && ctx
            .route(req.method(), req.uri().path())
            .is_ok_and(|i| ctx.snap.router.routes[i].config.cache);
    if !cacheable_route || has_directive(req.headers(), &["no-store"]) {
        return Lookup::Bypass;
    }
    let cfg = &ctx.snap.config.cache;
    let mut key = String::with_capacity(64);
    key.push_str(ctx.tenant.get().map_or("", |t| t));
    key.push('\n');
    key.push_str(req.uri().path_and_query().map_or("/", |p| p.as_str()));
    for h in &cfg.vary {
        key.push('\n');
        key.push_str(
            req.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
        );
    }
    let m = &state.metrics;
    if let Some(c) = state.cache.fresh(&key).await {
        ctx.set_cache(CacheOutcome::Hit);
        m.cache_hits.fetch_add(1, Ordering::Relaxed);
        let mut resp = Response::new(Body::full(c.body.clone()));
        *resp.status_mut() = c.status;
        *resp.headers_mut() = c.headers.clone();
        return Lookup::Hit(with_x_cache(resp, "HIT"));
    }
    ctx.set_cache(CacheOutcome::Miss);
    m.cache_misses.fetch_add(1, Ordering::Relaxed);
    Lookup::Miss(key)
}

/// Stores the answer to a missed request when it may be stored (200, small enough, no
/// `no-store` or `private`), and marks it `MISS`.
pub(crate) async fn store(
    state: &GatewayState,
    ctx: &RequestContext,
    key: String,
    resp: Response,
) -> Result<Response, BoxError> {
    let cfg = &ctx.snap.config.cache;
    let small = resp
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n <= cfg.max_body_bytes);
    if resp.status() != StatusCode::OK
        || !small
        || has_directive(resp.headers(), &["no-store", "private"])
    {
        return Ok(with_x_cache(resp, "MISS"));
    }
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await?.to_bytes();
    state
        .cache
        .insert(
            key,
            parts.status,
            parts.headers.clone(),
            bytes.clone(),
            cfg.ttl,
        )
        .await;
    Ok(with_x_cache(
        Response::from_parts(parts, Body::full(bytes)),
        "MISS",
    ))
}
