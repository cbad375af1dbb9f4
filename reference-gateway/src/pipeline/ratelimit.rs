//! Usage plans: the tenant's token bucket and quota (or the route's override plan, counted
//! per tenant and route) are checked before anything is sent upstream; a refusal is a 429
//! at once (never a delay, unlike `tower::limit::RateLimit`), with a body saying whether
//! the tenant was throttled or ran out of quota, and honest `Retry-After`/`RateLimit-*`.
//! When a shared store cannot answer, `rate_limit.fail_open` decides: admit unmetered, or 502.

use std::sync::atomic::Ordering;

use crate::config::{Plan, UnknownTenant};
use crate::context::LimitOutcome;
use crate::context::RequestContext;
use crate::error::{BoxError, GatewayError, LimitInfo};
use crate::pipeline::fail;
use crate::ratelimit::Decision;
use crate::state::GatewayState;

/// Takes one request from the tenant's bucket and quota (or refuses it with 429, or 403
/// for an unknown tenant when those are rejected). `Some(info)`: a plan admitted it, and
/// its response gets the `RateLimit-*` headers; `None`: no plan applies. Only the head's
/// method and path are read: the pipeline calls it before the body is read.
pub(crate) async fn admit(
    state: &GatewayState,
    ctx: &RequestContext,
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
    let decision = match state.limiter.check(key, plan).await {
        Ok(d) => d,
        Err(e @ GatewayError::Store(_)) => {
            state
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
            state.metrics.throttled.fetch_add(1, Ordering::Relaxed);
            Err(fail(GatewayError::Throttled(info)))
        }
        Decision::QuotaExhausted(info) => {
            ctx.set_limit(LimitOutcome::QuotaExhausted);
            state
                .metrics
                .quota_exhausted
                .fetch_add(1, Ordering::Relaxed);
            Err(fail(GatewayError::QuotaExhausted(info)))
        }
    }
}
