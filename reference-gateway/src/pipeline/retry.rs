//! Safe retries, in two kinds:
//! - **failover**: an attempt that never reached an upstream (connect refused, unreachable
//!   or timed out, reset before a byte was written) goes to another instance, any method
//!   and any route (nothing was sent), up to the pool's instance count, while an instance
//!   not tried yet is available. It adds no load upstream, so it is not charged to the
//!   budget (nginx's `proxy_next_upstream error`).
//! - **retries** (with the route's `retry`): idempotent methods (or requests with an
//!   `Idempotency-Key`) after resets, per-try timeouts and 502/503/504, each time on an
//!   instance not tried yet, within `attempts` and the retry budget.
//!
//! The budget itself is [`crate::retry_budget::RetryBudget`], in the gateway's state.

use std::sync::atomic::Ordering;

use crate::body::{Request, Response};
use crate::context::RequestContext;
use crate::error::{BoxError, GatewayError};
use crate::pipeline::balance::Forward;
use crate::state::GatewayState;
use crate::upstream::client::may_repeat;

fn idempotent(req: &Request) -> bool {
    may_repeat(req.method(), req.headers())
}

/// Whether the attempt failed before the request reached an upstream.
fn never_reached(result: &Result<Response, BoxError>) -> bool {
    matches!(
        result
            .as_ref()
            .err()
            .and_then(|e| e.downcast_ref::<GatewayError>()),
        Some(GatewayError::Upstream { connect: true, .. })
    )
}

/// Whether this outcome may be retried (charged to the budget) for a request of this kind.
fn should_retry(result: &Result<Response, BoxError>, idempotent: bool) -> bool {
    match result {
        Ok(r) => idempotent && matches!(r.status().as_u16(), 502..=504),
        Err(e) => match e.downcast_ref::<GatewayError>() {
            Some(GatewayError::Upstream { connect: true, .. }) => true,
            Some(g) => idempotent && g.retryable(),
            None => false,
        },
    }
}

/// Sends `req` through `via`: on another instance while attempts never reached one
/// (free), and again on retryable failures as the route allows and the budget funds.
pub(crate) async fn with_retries<F: Forward>(
    state: &GatewayState,
    ctx: &RequestContext,
    req: &Request,
    via: &F,
) -> Result<Response, BoxError> {
    let route = ctx.resolved_route().map(|i| &ctx.snap.router.routes[i]);
    let attempts = route
        .and_then(|r| r.config.retry)
        .map_or(1, |r| r.attempts.get());
    state.budget.deposit();
    let Some(pool) = route.map(|r| &r.pool) else {
        return via.send(state, ctx, req).await;
    };
    if attempts <= 1 && pool.instances.len() <= 1 {
        return via.send(state, ctx, req).await;
    }
    let idem = idempotent(req);
    let mut attempt = 1;
    let mut unsent = 0;
    loop {
        let result = via.send(state, ctx, req).await;
        // Never sent: another instance, free, while one not tried yet is available.
        if never_reached(&result)
            && unsent + 1 < pool.instances.len()
            && pool.available_mask() & !ctx.tried() != 0
        {
            unsent += 1;
            state.metrics.unsent_retries.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if attempt >= attempts || !should_retry(&result, idem) {
            return result;
        }
        if !state.budget.try_withdraw() {
            state
                .metrics
                .retry_budget_exhausted
                .fetch_add(1, Ordering::Relaxed);
            return result;
        }
        state.metrics.retries.fetch_add(1, Ordering::Relaxed);
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::future::Future;
    use std::net::SocketAddr;
    use std::num::NonZeroU32;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use http::Method;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::body::Body;
    use crate::config::{Config, RetryBudgetConfig, RetryConfig, RouteConfig, UpstreamConfig};
    use crate::pipeline::fail;

    /// A gateway over three instances (nothing listens there: the attempts are scripted).
    fn state(retry: Option<u32>) -> (Arc<GatewayState>, RequestContext) {
        let targets: Vec<SocketAddr> = (0..3)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], 9 + i)))
            .collect();
        let mut route = RouteConfig::new("/items", "api");
        route.retry = retry.map(|n| RetryConfig {
            attempts: NonZeroU32::new(n).unwrap(),
            per_try_timeout: Duration::from_secs(1),
        });
        let mut cfg = Config::new(
            BTreeMap::from([("api".to_string(), UpstreamConfig::new(targets))]),
            vec![route],
        );
        cfg.access_log = false;
        // Nothing to spend: any retry the budget paid for would be refused.
        cfg.retry_budget = RetryBudgetConfig {
            ratio: 0.0,
            min_retries_per_sec: 0,
        };
        let state = GatewayState::new(cfg, CancellationToken::new()).unwrap();
        let ctx = RequestContext::new(
            state.current.load_full(),
            http::HeaderValue::from_static("t"),
        );
        ctx.route(&Method::GET, "/items/1").unwrap();
        (state, ctx)
    }

    /// Scripted attempts: each picks an instance as the balancer does and fails as told
    /// (`Some(connect)`), or answers 200 (`None`).
    struct Script {
        outcomes: Mutex<Vec<Option<bool>>>,
    }

    fn script(outcomes: Vec<Option<bool>>) -> Script {
        Script {
            outcomes: Mutex::new(outcomes),
        }
    }

    impl Forward for Script {
        fn send<'a>(
            &'a self,
            _state: &'a GatewayState,
            ctx: &'a RequestContext,
            _req: &'a Request,
        ) -> impl Future<Output = Result<Response, BoxError>> + Send + 'a {
            let pool = &ctx.snap.pools["api"];
            let i = pool.pick(ctx.tried(), None).unwrap();
            ctx.set_upstream(i, pool.instances[i].addr);
            let outcome = self.outcomes.lock().unwrap().remove(0);
            async move {
                match outcome {
                    None => Ok(Response::new(Body::full("ok"))),
                    Some(connect) => Err(fail(GatewayError::Upstream {
                        instance: pool.instances[i].addr,
                        message: "scripted".into(),
                        connect,
                    })),
                }
            }
        }
    }

    fn get() -> Request {
        http::Request::get("/items/1")
            .body(bytes::Bytes::new())
            .unwrap()
    }

    #[tokio::test]
    async fn never_reached_attempts_fail_over_without_spending_budget() {
        // No `retry` on the route, an empty budget: refused twice, served by the third.
        let (state, ctx) = state(None);
        let script = script(vec![Some(true), Some(true), None]);
        let r = with_retries(&state, &ctx, &get(), &script).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(ctx.tried(), 0b111, "each attempt on another instance");
        let m = &state.metrics;
        assert_eq!(m.unsent_retries.load(Ordering::Relaxed), 2);
        assert_eq!(m.retries.load(Ordering::Relaxed), 0);
        assert_eq!(m.retry_budget_exhausted.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn never_reached_failover_stops_at_the_instance_count() {
        let (state, ctx) = state(None);
        let script = script(vec![Some(true), Some(true), Some(true), None]);
        let r = with_retries(&state, &ctx, &get(), &script).await;
        assert!(
            r.is_err(),
            "three instances, three refusals: the last one answers"
        );
        assert_eq!(ctx.attempts(), 3);
    }

    #[tokio::test]
    async fn a_reached_failure_is_retried_only_as_the_budget_funds() {
        let (state, ctx) = state(Some(3));
        let script = script(vec![Some(false), None]);
        let r = with_retries(&state, &ctx, &get(), &script).await;
        assert!(r.is_err(), "an empty budget refuses the retry");
        assert_eq!(ctx.attempts(), 1);
        let m = &state.metrics;
        assert_eq!(m.retry_budget_exhausted.load(Ordering::Relaxed), 1);
        assert_eq!(m.unsent_retries.load(Ordering::Relaxed), 0);
    }
}
