//! Innermost service: picks an instance of the route's pool from the healthy set
//! (published by the health checker, minus ejected and already-tried instances), sends
//! the request over the pooled keep-alive client with the per-try timeout, and feeds the
//! outcome to passive ejection: a connect that failed (the request never reached the
//! instance) ejects the instance at once; other failures feed outlier detection. No
//! available instance → 503 at once.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::header::{CONNECTION, TE, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName};
use tower::Service;

use crate::body::{Body, Request, Response};
use crate::config::Balance as BalanceKind;
use crate::context::Ctx;
use crate::error::{BoxError, GatewayError};
use crate::layers::{ctx_of, fail};
use crate::state::Shared;

/// The innermost service.
#[derive(Clone)]
pub struct Balance {
    shared: Arc<Shared>,
}

impl Balance {
    /// Sends through `shared`'s client.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Hop-by-hop headers belong to one connection and are never forwarded (RFC 9110 §7.6.1).
fn strip_hop_by_hop(h: &mut HeaderMap) {
    // One pass over the (few) names is cheaper than six hashed lookups, and requests
    // rarely carry any of them.
    if !h.keys().any(ninefold_http1::is_hop_by_hop) {
        return;
    }
    if h.contains_key(CONNECTION) {
        for n in ninefold_http1::connection_named(h) {
            h.remove(n);
        }
        h.remove(CONNECTION);
    }
    for n in [
        &KEEP_ALIVE,
        &PROXY_CONNECTION,
        &TE,
        &TRANSFER_ENCODING,
        &UPGRADE,
    ] {
        if h.contains_key(n) {
            h.remove(n);
        }
    }
}

impl Service<Request> for Balance {
    type Response = Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move {
            let ctx = ctx_of(&req)?;
            send(&shared, &ctx, &req).await
        })
    }
}

/// Attempts straight to the route's pool (the pipeline's path).
pub(crate) struct Direct<'s> {
    /// The gateway.
    pub shared: &'s Shared,
    /// The request's context.
    pub ctx: &'s Ctx,
}

impl crate::layers::retry::Attempt for Direct<'_> {
    fn send<'a>(
        &'a mut self,
        req: &'a Request,
    ) -> impl std::future::Future<Output = Result<Response, BoxError>> + Send + 'a {
        send(self.shared, self.ctx, req)
    }
}

/// Picks an instance for this attempt and sends the request to it. The request is
/// borrowed: the client renders it onto the wire (origin form, no hop-by-hop fields), so
/// an attempt neither copies nor moves it.
pub(crate) async fn send(shared: &Shared, ctx: &Ctx, req: &Request) -> Result<Response, BoxError> {
    let Some(ri) = ctx.resolved_route() else {
        return Err(fail(GatewayError::NoRoute {
            path: req.uri().path().into(),
        }));
    };
    let route = &ctx.snap.router.routes[ri];
    let pool = &route.pool;
    let hash_key = match &pool.config.balance {
        BalanceKind::Hash(h) => req.headers().get(h).map(|v| v.as_bytes()),
        _ => None,
    };
    let Some(i) = pool.pick(ctx.tried(), hash_key) else {
        return Err(fail(GatewayError::NoHealthyInstance {
            upstream: pool.name.to_string(),
        }));
    };
    let inst = &pool.instances[i];
    ctx.set_upstream(i, inst.addr);
    let _in_flight = pool.start(i);
    let fut = inst.conns.send(req);
    let result = match route.config.retry.map(|r| r.per_try_timeout) {
        Some(t) => match tokio::time::timeout(t, fut).await {
            Ok(r) => r,
            Err(_) => {
                pool.record(i, false, &shared.metrics);
                return Err(fail(GatewayError::PerTryTimeout {
                    instance: inst.addr,
                    timeout: t,
                }));
            }
        },
        None => fut.await,
    };
    match result {
        Ok(resp) => {
            let ok = !matches!(resp.status().as_u16(), 502..=504);
            pool.record(i, ok, &shared.metrics);
            let mut resp = resp.map(Body::Upstream);
            strip_hop_by_hop(resp.headers_mut());
            Ok(resp)
        }
        Err(e) => {
            if e.is_connect() {
                pool.eject_unreachable(i, &shared.metrics);
            }
            pool.record(i, false, &shared.metrics);
            Err(fail(GatewayError::Upstream {
                instance: inst.addr,
                message: e.describe(),
                connect: e.is_connect(),
            }))
        }
    }
}
