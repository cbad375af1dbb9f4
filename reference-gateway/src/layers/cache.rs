//! Response cache for GET on routes with `cache = true`: keyed by tenant + path + query
//! (+ the configured vary headers), bounded by moka, entries expire after `ttl` (checked
//! against tokio's clock, so tests can pause time). Responses carrying
//! `Cache-Control: no-store` or `private` are never stored; a request with `no-store`
//! bypasses the cache. Answers carry `X-Cache: HIT|MISS`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::header::CACHE_CONTROL;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

use crate::body::{Body, Request, Response};
use crate::config::CacheConfig;
use crate::context::{CacheOutcome, Ctx};
use crate::error::BoxError;
use crate::layers::{ctx_of, take};
use crate::state::Shared;

/// `x-cache`.
pub static X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// A stored response.
pub struct Cached {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    expires: Instant,
}

/// The bounded cache.
pub struct ResponseCache {
    inner: moka::future::Cache<String, Arc<Cached>>,
}

impl ResponseCache {
    /// A cache bounded by `max_entries`.
    pub fn new(cfg: &CacheConfig) -> Self {
        Self {
            inner: moka::future::Cache::builder()
                .max_capacity(cfg.max_entries.get())
                // A wall-clock backstop so expired entries also leave memory.
                .time_to_live(cfg.ttl.max(std::time::Duration::from_secs(1)) * 2)
                .build(),
        }
    }
}

/// Adds [`Cache`].
#[derive(Clone)]
pub struct CacheLayer(pub Arc<Shared>);

impl<S> Layer<S> for CacheLayer {
    type Service = Cache<S>;
    fn layer(&self, inner: S) -> Cache<S> {
        Cache {
            inner,
            shared: self.0.clone(),
        }
    }
}

/// See the module doc.
#[derive(Clone)]
pub struct Cache<S> {
    inner: S,
    shared: Arc<Shared>,
}

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

impl<S> Service<Request> for Cache<S>
where
    S: Service<Request, Response = Response, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let inner = take(&mut self.inner);
        let shared = self.shared.clone();
        Box::pin(async move {
            let ctx = ctx_of(&req)?;
            through(&shared, &ctx, req, |req| inner.oneshot(req)).await
        })
    }
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
pub(crate) async fn lookup(shared: &Shared, ctx: &Ctx, req: &Request) -> Lookup {
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
    let m = &shared.metrics;
    if let Some(c) = shared.cache.inner.get(&key).await {
        if c.expires > Instant::now() {
            ctx.set_cache(CacheOutcome::Hit);
            m.cache_hits.fetch_add(1, Ordering::Relaxed);
            let mut resp = Response::new(Body::full(c.body.clone()));
            *resp.status_mut() = c.status;
            *resp.headers_mut() = c.headers.clone();
            return Lookup::Hit(with_x_cache(resp, "HIT"));
        }
        shared.cache.inner.invalidate(&key).await;
    }
    ctx.set_cache(CacheOutcome::Miss);
    m.cache_misses.fetch_add(1, Ordering::Relaxed);
    Lookup::Miss(key)
}

/// Stores the answer to a missed request when it may be stored (200, small enough, no
/// `no-store` or `private`), and marks it `MISS`.
pub(crate) async fn store(
    shared: &Shared,
    ctx: &Ctx,
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
    let expires = Instant::now() + cfg.ttl;
    shared
        .cache
        .inner
        .insert(
            key,
            Arc::new(Cached {
                status: parts.status,
                headers: parts.headers.clone(),
                body: bytes.clone(),
                expires,
            }),
        )
        .await;
    Ok(with_x_cache(
        Response::from_parts(parts, Body::full(bytes)),
        "MISS",
    ))
}

/// Answers a cacheable GET from the cache, or through `inner`, storing what may be stored.
pub(crate) async fn through<F, Fut>(
    shared: &Shared,
    ctx: &Ctx,
    req: Request,
    inner: F,
) -> Result<Response, BoxError>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Response, BoxError>>,
{
    match lookup(shared, ctx, &req).await {
        Lookup::Bypass => inner(req).await,
        Lookup::Hit(resp) => Ok(resp),
        Lookup::Miss(key) => store(shared, ctx, key, inner(req).await?).await,
    }
}
