//! Usage plans: the tenant's token bucket and quota (or the route's override plan, counted
//! per tenant and route) are checked before anything is sent upstream; a refusal is a 429
//! at once (never a delay, unlike `tower::limit::RateLimit`), with a body saying whether
//! the tenant was throttled or ran out of quota, and honest `Retry-After`/`RateLimit-*`.
//! When a shared store cannot answer, `rate_limit.fail_open` decides: admit unmetered, or 502.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tower::{Layer, Service, ServiceExt};

use crate::body::{Request, Response};
use crate::config::{Plan, UnknownTenant};
use crate::context::Ctx;
use crate::context::LimitOutcome;
use crate::error::{BoxError, GatewayError, LimitInfo};
use crate::layers::rescue::add_limit_headers;
use crate::layers::{ctx_of, fail, take};
use crate::ratelimit::Decision;
use crate::state::Shared;

/// Adds [`RateLimit`].
#[derive(Clone)]
pub struct RateLimitLayer(pub Arc<Shared>);

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;
    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit {
            inner,
            shared: self.0.clone(),
        }
    }
}

/// See the module doc.
#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request> for RateLimit<S>
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
            let admitted = admit(&shared, &ctx, req.method(), req.uri().path()).await?;
            let mut resp = inner.oneshot(req).await?;
            if let Some(info) = admitted {
                add_limit_headers(&mut resp, &info);
            }
            Ok(resp)
        })
    }
}

/// Takes one request from the tenant's bucket and quota (or refuses it with 429, or 403
/// for an unknown tenant when those are rejected). `Some(info)`: a plan admitted it, and
/// its response gets the `RateLimit-*` headers; `None`: no plan applies. Only the head's
/// method and path are read: the pipeline calls it before the body is read.
pub(crate) async fn admit(
    shared: &Shared,
    ctx: &Ctx,
    method: &http::Method,
    path: &str,
) -> Result<Option<LimitInfo>, BoxError> {
    // Without a tenant (no auth configured) there is no usage key to count.
    let Some(tenant) = ctx.tenant.get() else {
        return Ok(None);
    };
    let snap = &ctx.snap;
    let route = ctx.route(method, path).ok().map(|i| &snap.router.routes[i]);
    let override_key;
    let (key, plan): (&str, &Plan) =
        match route.and_then(|r| r.config.plan.as_ref().map(|p| (r, p))) {
            Some((r, p)) => {
                override_key = format!("{tenant}{}", r.plan_key);
                (&override_key, p)
            }
            None => match snap.plans.get(&**tenant) {
                Some(tp) => (tenant, &tp.plan),
                None => match &snap.config.rate_limit.unknown_tenant {
                    UnknownTenant::Reject => {
                        return Err(fail(GatewayError::UnknownTenant {
                            tenant: tenant.to_string(),
                        }));
                    }
                    UnknownTenant::Plan(p) => (tenant, p),
                    UnknownTenant::Unlimited => return Ok(None),
                },
            },
        };
    let decision = match shared.limiter.check(key, plan).await {
        Ok(d) => d,
        Err(e @ GatewayError::Store(_)) => {
            shared
                .metrics
                .limiter_unavailable
                .fetch_add(1, Ordering::Relaxed);
            if !snap.config.rate_limit.fail_open {
                return Err(fail(e));
            }
            // Fail open: the request goes on unmetered, without `RateLimit-*`
            // headers (there is no count to report).
            return Ok(None);
        }
        Err(e) => return Err(fail(e)),
    };
    match decision {
        Decision::Allowed(info) => {
            ctx.set_limit(LimitOutcome::Allowed);
            Ok(Some(info))
        }
        Decision::Throttled(info) => {
            ctx.set_limit(LimitOutcome::Throttled);
            shared.metrics.throttled.fetch_add(1, Ordering::Relaxed);
            Err(fail(GatewayError::Throttled(info)))
        }
        Decision::QuotaExhausted(info) => {
            ctx.set_limit(LimitOutcome::QuotaExhausted);
            shared
                .metrics
                .quota_exhausted
                .fetch_add(1, Ordering::Relaxed);
            Err(fail(GatewayError::QuotaExhausted(info)))
        }
    }
}
