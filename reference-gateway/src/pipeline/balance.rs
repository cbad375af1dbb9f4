//! The innermost step: picks an instance of the route's pool from the healthy set
//! (published by the health checker, minus ejected and already-tried instances), sends
//! the request over the pooled keep-alive client with the per-try timeout, and feeds the
//! outcome to passive ejection: a connect that failed (the request never reached the
//! instance) ejects the instance at once; other failures feed outlier detection. No
//! available instance → 503 at once.

use std::future::Future;
use std::sync::atomic::Ordering;

use http::header::{CONNECTION, TE, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName};

use crate::body::{Body, Request, Response};
use crate::config::Balance as BalanceKind;
use crate::context::RequestContext;
use crate::error::{BoxError, GatewayError};
use crate::pipeline::fail;
use crate::state::GatewayState;
use crate::upstream::pool::Pool;

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

/// The innermost step: one attempt of a request at an upstream, which [`crate::pipeline::retry`]
/// repeats as it allows. A trait rather than a closure: the future of a closure over a
/// borrowed argument is not provably `Send`. Production sends to the route's pool
/// ([`ToPool`]); the pipeline's tests answer in-process.
pub trait Forward: Sync {
    /// Sends `req` once.
    fn send<'a>(
        &'a self,
        state: &'a GatewayState,
        ctx: &'a RequestContext,
        req: &'a Request,
    ) -> impl Future<Output = Result<Response, BoxError>> + Send + 'a;
}

/// Attempts at an instance of the route's pool (what the gateway runs).
pub struct ToPool;

impl Forward for ToPool {
    fn send<'a>(
        &'a self,
        state: &'a GatewayState,
        ctx: &'a RequestContext,
        req: &'a Request,
    ) -> impl Future<Output = Result<Response, BoxError>> + Send + 'a {
        send(state, ctx, req)
    }
}

/// Picks an instance for this attempt and sends the request to it. The request is
/// borrowed: the client renders it onto the wire (origin form, no hop-by-hop fields), so
/// an attempt neither copies nor moves it.
async fn send(
    state: &GatewayState,
    ctx: &RequestContext,
    req: &Request,
) -> Result<Response, BoxError> {
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
                record(state, pool, i, false);
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
            record(state, pool, i, ok);
            let mut resp = resp.map(Body::Upstream);
            strip_hop_by_hop(resp.headers_mut());
            Ok(resp)
        }
        Err(e) => {
            if e.is_connect() && pool.eject_unreachable(i) {
                state
                    .metrics
                    .connect_ejections
                    .fetch_add(1, Ordering::Relaxed);
            }
            record(state, pool, i, false);
            Err(fail(GatewayError::Upstream {
                instance: inst.addr,
                message: e.describe(),
                connect: e.is_connect(),
            }))
        }
    }
}

/// Feeds the attempt's outcome to outlier detection, counting an ejection.
fn record(state: &GatewayState, pool: &Pool, i: usize, success: bool) {
    if pool.record(i, success) {
        state.metrics.ejections.fetch_add(1, Ordering::Relaxed);
    }
}
