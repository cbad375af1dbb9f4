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
//! The budget (finagle style) keeps a failing pool from multiplying load: each request
//! deposits `ratio` of a retry, each retry withdraws one; besides, `min_retries_per_sec`
//! retries are allowed in every second whatever the traffic (finagle's minimum retries per
//! second), so a quiet gateway can still retry.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{HeaderName, Method};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

use crate::body::{Request, Response};
use crate::config::RetryBudgetConfig;
use crate::context::Ctx;
use crate::error::{BoxError, GatewayError};
use crate::layers::{ctx_of, take};
use crate::state::Shared;

const MILLI: i64 = 1000;
/// Most deposited retries saved (so a long busy spell cannot fund a storm).
const SAVINGS_CAP: i64 = 100;

/// `idempotency-key`.
pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Lock-free retry budget: deposits in thousandths of a retry, plus a floor per second.
pub struct RetryBudget {
    balance: AtomicI64,
    deposit: AtomicI64,
    cap: AtomicI64,
    /// Floor: retries allowed in each second (`min_retries_per_sec`).
    floor: AtomicI64,
    /// The second (since `epoch`) and the floor retries used in it, packed `second << 32 | used`.
    floor_used: AtomicU64,
    epoch: Instant,
}

impl RetryBudget {
    /// Starts with nothing deposited; the floor is available at once.
    pub fn new(cfg: &RetryBudgetConfig) -> Self {
        let b = Self {
            balance: AtomicI64::new(0),
            deposit: AtomicI64::new(0),
            cap: AtomicI64::new(SAVINGS_CAP * MILLI),
            floor: AtomicI64::new(0),
            floor_used: AtomicU64::new(0),
            epoch: Instant::now(),
        };
        b.reconfigure(cfg);
        b
    }

    /// Applies a reloaded configuration, keeping the balance.
    pub fn reconfigure(&self, cfg: &RetryBudgetConfig) {
        self.deposit
            .store((cfg.ratio * MILLI as f64).round() as i64, Ordering::Relaxed);
        self.floor
            .store(i64::from(cfg.min_retries_per_sec), Ordering::Relaxed);
    }

    /// One request's deposit.
    pub fn deposit(&self) {
        let cap = self.cap.load(Ordering::Relaxed);
        let d = self.deposit.load(Ordering::Relaxed);
        let _ = self
            .balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                (b < cap).then(|| (b + d).min(cap))
            });
    }

    /// Takes one retry if the budget allows it: from this second's floor first (it
    /// expires anyway), else from the deposits.
    pub fn try_withdraw(&self) -> bool {
        self.try_floor()
            || self
                .balance
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                    (b >= MILLI).then_some(b - MILLI)
                })
                .is_ok()
    }

    fn try_floor(&self) -> bool {
        let floor = self.floor.load(Ordering::Relaxed).clamp(0, u32::MAX.into()) as u64;
        if floor == 0 {
            return false;
        }
        let second = self.epoch.elapsed().as_secs() & u64::from(u32::MAX);
        self.floor_used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |packed| {
                let used = if packed >> 32 == second {
                    packed & u64::from(u32::MAX)
                } else {
                    0
                };
                (used < floor).then_some(second << 32 | (used + 1))
            })
            .is_ok()
    }
}

/// Adds [`Retry`].
#[derive(Clone)]
pub struct RetryLayer(pub Arc<Shared>);

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;
    fn layer(&self, inner: S) -> Retry<S> {
        Retry {
            inner,
            shared: self.0.clone(),
        }
    }
}

/// See the module doc.
#[derive(Clone)]
pub struct Retry<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// Whether a request may be sent twice: an idempotent method, or an `Idempotency-Key`.
pub fn may_repeat(method: &Method, headers: &http::HeaderMap) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    ) || headers.contains_key(&IDEMPOTENCY_KEY)
}

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

fn copy(req: &Request) -> Request {
    let mut r = http::Request::new(req.body().clone());
    *r.method_mut() = req.method().clone();
    *r.uri_mut() = req.uri().clone();
    *r.version_mut() = req.version();
    *r.headers_mut() = req.headers().clone();
    if let Some(c) = crate::context::ctx(req) {
        r.extensions_mut().insert(c.clone());
    }
    r
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

impl<S> Service<Request> for Retry<S>
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
            with_retries(&shared, &ctx, &req, Via(inner)).await
        })
    }
}

/// One attempt at sending a borrowed request (a trait rather than a closure: the future
/// of a closure over a borrowed argument is not provably `Send`).
pub(crate) trait Attempt {
    /// Sends `req` once.
    fn send<'a>(
        &'a mut self,
        req: &'a Request,
    ) -> impl Future<Output = Result<Response, BoxError>> + Send + 'a;
}

/// Attempts through a tower service (a copy of the request each).
struct Via<S>(S);

impl<S> Attempt for Via<S>
where
    S: Service<Request, Response = Response, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    fn send<'a>(
        &'a mut self,
        req: &'a Request,
    ) -> impl Future<Output = Result<Response, BoxError>> + Send + 'a {
        self.0.clone().oneshot(copy(req))
    }
}

/// Sends `req` through `via`: on another instance while attempts never reached one
/// (free), and again on retryable failures as the route allows and the budget funds.
pub(crate) async fn with_retries<A: Attempt>(
    shared: &Shared,
    ctx: &Ctx,
    req: &Request,
    mut via: A,
) -> Result<Response, BoxError> {
    let route = ctx.resolved_route().map(|i| &ctx.snap.router.routes[i]);
    let attempts = route
        .and_then(|r| r.config.retry)
        .map_or(1, |r| r.attempts.get());
    shared.budget.deposit();
    let Some(pool) = route.map(|r| &r.pool) else {
        return via.send(req).await;
    };
    if attempts <= 1 && pool.instances.len() <= 1 {
        return via.send(req).await;
    }
    let idem = idempotent(req);
    let mut attempt = 1;
    let mut unsent = 0;
    loop {
        let result = via.send(req).await;
        // Never sent: another instance, free, while one not tried yet is available.
        if never_reached(&result)
            && unsent + 1 < pool.instances.len()
            && pool.available_mask() & !ctx.tried() != 0
        {
            unsent += 1;
            shared
                .metrics
                .unsent_retries
                .fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if attempt >= attempts || !should_retry(&result, idem) {
            return result;
        }
        if !shared.budget.try_withdraw() {
            shared
                .metrics
                .retry_budget_exhausted
                .fetch_add(1, Ordering::Relaxed);
            return result;
        }
        shared.metrics.retries.fetch_add(1, Ordering::Relaxed);
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;
    use std::num::NonZeroU32;
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::body::Body;
    use crate::config::{Config, RetryConfig, RouteConfig, UpstreamConfig};
    use crate::layers::fail;

    fn budget(ratio: f64, per_sec: u32) -> RetryBudget {
        RetryBudget::new(&RetryBudgetConfig {
            ratio,
            min_retries_per_sec: per_sec,
        })
    }

    fn drain(b: &RetryBudget) -> usize {
        let mut n = 0;
        while b.try_withdraw() {
            n += 1;
        }
        n
    }

    #[tokio::test(start_paused = true)]
    async fn budget_allows_the_floor_each_second_plus_ratio_of_requests() {
        let b = budget(0.2, 3);
        for _ in 0..100 {
            b.deposit();
        }
        assert_eq!(drain(&b), 3 + 20);
        // No traffic, no deposits: the floor alone, renewed each second.
        assert_eq!(drain(&b), 0);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(drain(&b), 3);
        tokio::time::advance(Duration::from_millis(999)).await;
        assert_eq!(drain(&b), 0, "still the same second");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(drain(&b), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn budget_floor_limits_a_storm_without_traffic_to_fund_it() {
        // Ratio 0: only the floor. Over 10 s of retries, 10 × 10 are allowed, not more.
        let b = budget(0.0, 10);
        let mut allowed = 0;
        for _ in 0..10 {
            for _ in 0..1000 {
                allowed += usize::from(b.try_withdraw());
            }
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert_eq!(allowed, 100);
    }

    /// A gateway over three instances (nothing listens there: the attempts are scripted).
    fn shared(retry: Option<u32>) -> (Arc<Shared>, Ctx) {
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
        let shared = Shared::new(cfg, CancellationToken::new()).unwrap();
        let ctx = Ctx::new(
            shared.current.load_full(),
            http::HeaderValue::from_static("t"),
        );
        ctx.route(&Method::GET, "/items/1").unwrap();
        (shared, ctx)
    }

    /// Scripted attempts: each picks an instance as the balancer does and fails as told
    /// (`Some(connect)`), or answers 200 (`None`).
    struct Script<'c> {
        ctx: &'c Ctx,
        outcomes: Vec<Option<bool>>,
    }

    impl Attempt for Script<'_> {
        fn send<'a>(
            &'a mut self,
            _req: &'a Request,
        ) -> impl Future<Output = Result<Response, BoxError>> + Send + 'a {
            let pool = &self.ctx.snap.pools["api"];
            let i = pool.pick(self.ctx.tried(), None).unwrap();
            self.ctx.set_upstream(i, pool.instances[i].addr);
            let outcome = self.outcomes.remove(0);
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
        let (shared, ctx) = shared(None);
        let script = Script {
            ctx: &ctx,
            outcomes: vec![Some(true), Some(true), None],
        };
        let r = with_retries(&shared, &ctx, &get(), script).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(ctx.tried(), 0b111, "each attempt on another instance");
        let m = &shared.metrics;
        assert_eq!(m.unsent_retries.load(Ordering::Relaxed), 2);
        assert_eq!(m.retries.load(Ordering::Relaxed), 0);
        assert_eq!(m.retry_budget_exhausted.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn never_reached_failover_stops_at_the_instance_count() {
        let (shared, ctx) = shared(None);
        let script = Script {
            ctx: &ctx,
            outcomes: vec![Some(true), Some(true), Some(true), None],
        };
        let r = with_retries(&shared, &ctx, &get(), script).await;
        assert!(
            r.is_err(),
            "three instances, three refusals: the last one answers"
        );
        assert_eq!(ctx.attempts(), 3);
    }

    #[tokio::test]
    async fn a_reached_failure_is_retried_only_as_the_budget_funds() {
        let (shared, ctx) = shared(Some(3));
        let script = Script {
            ctx: &ctx,
            outcomes: vec![Some(false), None],
        };
        let r = with_retries(&shared, &ctx, &get(), script).await;
        assert!(r.is_err(), "an empty budget refuses the retry");
        assert_eq!(ctx.attempts(), 1);
        let m = &shared.metrics;
        assert_eq!(m.retry_budget_exhausted.load(Ordering::Relaxed), 1);
        assert_eq!(m.unsent_retries.load(Ordering::Relaxed), 0);
    }
}
