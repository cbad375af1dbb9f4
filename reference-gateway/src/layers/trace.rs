//! Outermost layer: creates the request context (snapshot, request id), and when the
//! response is ready records metrics and writes one JSON access-log line (tracing target
//! `access`; the subscriber formats it as JSON).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{HeaderName, HeaderValue};
use tower::{Layer, Service};

use crate::body::Response;
use crate::context::{CacheOutcome, Ctx, LimitOutcome};
use crate::layers::rescue::ErrorCode;
use crate::state::Shared;

/// `x-request-id`.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Adds [`Trace`].
#[derive(Clone)]
pub struct TraceLayer(pub Arc<Shared>);

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;
    fn layer(&self, inner: S) -> Trace<S> {
        Trace {
            inner,
            shared: self.0.clone(),
        }
    }
}

/// See the module doc.
#[derive(Clone)]
pub struct Trace<S> {
    inner: S,
    shared: Arc<Shared>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn new_request_id() -> HeaderValue {
    // A per-process random prefix and a counter: unique, and cheaper than a UUID.
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let p = *PREFIX.get_or_init(rand::random);
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    HeaderValue::try_from(format!("{p:08x}-{n:012x}")).unwrap_or(HeaderValue::from_static("0"))
}

fn cache_str(c: CacheOutcome) -> &'static str {
    match c {
        CacheOutcome::None => "-",
        CacheOutcome::Hit => "HIT",
        CacheOutcome::Miss => "MISS",
    }
}

fn limit_str(l: LimitOutcome) -> &'static str {
    match l {
        LimitOutcome::None => "-",
        LimitOutcome::Allowed => "allowed",
        LimitOutcome::Throttled => "throttled",
        LimitOutcome::QuotaExhausted => "quota_exhausted",
    }
}

impl<S, B> Service<http::Request<B>> for Trace<S>
where
    S: Service<http::Request<B>, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let snap = self.shared.current.load_full();
        let request_id = req
            .headers()
            .get(&REQUEST_ID)
            .filter(|v| !v.is_empty() && v.len() <= 128)
            .cloned()
            .unwrap_or_else(new_request_id);
        let ctx = Arc::new(Ctx::new(snap, request_id));
        req.extensions_mut().insert(ctx.clone());
        let method = req.method().clone();
        let uri = req.uri().clone();
        let fut = self.inner.call(req);
        let shared = self.shared.clone();
        Box::pin(async move {
            let Ok(mut resp) = fut.await;
            let latency = ctx.start.elapsed();
            let m = &shared.metrics;
            let route = ctx
                .resolved_route()
                .map(|i| &ctx.snap.router.routes[i].name)
                .unwrap_or(&m.none);
            let tenant = ctx.tenant.get().unwrap_or(&m.none);
            let status = resp.status().as_u16();
            m.record(route, status, tenant, latency);
            if ctx.snap.config.access_log {
                tracing::info!(
                    target: "access",
                    request_id = ctx.request_id.to_str().unwrap_or("-"),
                    tenant = &**tenant,
                    route = &**route,
                    method = method.as_str(),
                    path = uri.path(),
                    status,
                    latency_us = latency.as_micros() as u64,
                    upstream = ctx.upstream().map(|a| a.to_string()).unwrap_or_default(),
                    attempts = ctx.attempts(),
                    cache = cache_str(ctx.cache()),
                    limiter = limit_str(ctx.limit()),
                    error = resp.extensions().get::<ErrorCode>().map_or("", |e| e.0),
                );
            }
            resp.headers_mut()
                .insert(&REQUEST_ID, ctx.request_id.clone());
            Ok(resp)
        })
    }
}
