//! Safe retries: only idempotent methods (or requests with an `Idempotency-Key`) are
//! retried on connect errors, resets, per-try timeouts and 502/503/504, each time on an
//! instance not tried yet; a non-idempotent request is retried only when the connection
//! failed before anything was sent. A retry budget (finagle style: each request deposits
//! `ratio` of a retry, each retry withdraws one) keeps a failing pool from multiplying load.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{HeaderName, Method};
use tower::{Layer, Service, ServiceExt};

use crate::body::{Request, Response};
use crate::config::RetryBudgetConfig;
use crate::context::Ctx;
use crate::error::{BoxError, GatewayError};
use crate::layers::{ctx_of, take};
use crate::state::Shared;

const MILLI: i64 = 1000;
/// Unused budget saved beyond `min_retries` (so a long quiet spell cannot fund a storm).
const SAVINGS_CAP: i64 = 100;

/// `idempotency-key`.
pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Lock-free retry budget, in thousandths of a retry.
pub struct RetryBudget {
    balance: AtomicI64,
    deposit: AtomicI64,
    cap: AtomicI64,
}

impl RetryBudget {
    /// Starts with `min_retries` retries available.
    pub fn new(cfg: &RetryBudgetConfig) -> Self {
        let b = Self {
            balance: AtomicI64::new(i64::from(cfg.min_retries) * MILLI),
            deposit: AtomicI64::new(0),
            cap: AtomicI64::new(0),
        };
        b.reconfigure(cfg);
        b
    }

    /// Applies a reloaded configuration, keeping the balance.
    pub fn reconfigure(&self, cfg: &RetryBudgetConfig) {
        self.deposit
            .store((cfg.ratio * MILLI as f64).round() as i64, Ordering::Relaxed);
        self.cap.store(
            (i64::from(cfg.min_retries) + SAVINGS_CAP) * MILLI,
            Ordering::Relaxed,
        );
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

    /// Takes one retry if the budget allows it.
    pub fn try_withdraw(&self) -> bool {
        self.balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                (b >= MILLI).then_some(b - MILLI)
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

fn idempotent(req: &Request) -> bool {
    matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    ) || req.headers().contains_key(&IDEMPOTENCY_KEY)
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

/// Whether this outcome may be retried for a request of this kind.
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

/// Sends `req` through `via`, again on retryable failures as the route allows and the
/// budget funds.
pub(crate) async fn with_retries<A: Attempt>(
    shared: &Shared,
    ctx: &Ctx,
    req: &Request,
    mut via: A,
) -> Result<Response, BoxError> {
    let attempts = ctx
        .resolved_route()
        .and_then(|i| ctx.snap.router.routes[i].config.retry)
        .map_or(1, |r| r.attempts.get());
    shared.budget.deposit();
    if attempts <= 1 {
        return via.send(req).await;
    }
    let idem = idempotent(req);
    let mut attempt = 1;
    loop {
        let result = via.send(req).await;
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
    use super::*;

    #[test]
    fn budget_allows_min_plus_ratio_of_requests() {
        let b = RetryBudget::new(&RetryBudgetConfig {
            ratio: 0.2,
            min_retries: 3,
        });
        for _ in 0..100 {
            b.deposit();
        }
        let mut n = 0;
        while b.try_withdraw() {
            n += 1;
        }
        assert_eq!(n, 3 + 20);
    }
}
