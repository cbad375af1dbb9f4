//! The request path, outermost step first. Read it as the list it is:
//!
//! ```text
//!   trace        request id, context; at the end metrics, JSON access log
//!   load shed    in-flight limit reached → 503 at once (never queue)
//!   timeout      overall deadline → 504 (408 while the body is still arriving)
//!   limits       431 / 413 by `Content-Length`, on the head
//!   auth         JWT → tenant in the context once; scopes → 403
//!   rate limit   usage plan (bucket + quota) → 429 at once
//!   route check  404 / 405, on the head
//!   body         read and buffered for replay only now (413 past the limit)
//!   cache        GET responses per route, X-Cache
//!   transform    tenant header, Authorization stripped, header ops
//!   route        path rewrite
//!   retry        safe retries on other instances, within the budget
//!   balance      healthy set from the checker, outlier ejection, pooled client
//!   rescue       every error → one status + JSON body
//! ```
//!
//! Each step is a module of plain functions here (one concern per file), and
//! [`Pipeline::call`] calls them in this order as one async function: one future per
//! request. This is the only request path: the HTTP/1 server ([`crate::server`]) and
//! [`crate::Gateway::service`] both run it, and the tests drive it (`tests.rs`, with an
//! in-process [`balance::Forward`] in place of the pools). As a stack of thirteen tower
//! services the request path boxed a future and cloned a service per layer and request,
//! about a fifth of the gateway's instructions per request.

pub mod api_key;
pub mod auth;
pub mod balance;
pub mod cache;
pub mod limits;
pub mod ratelimit;
pub mod rescue;
pub mod retry;
pub mod route;
pub mod timeout;
pub mod trace;
pub mod transform;

#[cfg(test)]
mod tests;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue};
use tower::Service;

use crate::body::Response;
use crate::context::RequestContext;
use crate::error::{BoxError, GatewayError, LimitInfo};
use crate::state::GatewayState;
use balance::{Forward, ToPool};
use ninefold_http1::decimal;
use rescue::{RATELIMIT_LIMIT, RATELIMIT_REMAINING, RATELIMIT_RESET};
pub use timeout::ConnTimer;
use timeout::within;
use trace::REQUEST_ID;

/// The whole request path for one gateway; `F` is its innermost step (the route's pool in
/// production).
pub struct Pipeline<F = ToPool> {
    state: Arc<GatewayState>,
    forward: F,
    in_flight: AtomicUsize,
    max_in_flight: usize,
}

/// Boxes a gateway error for the request path's error type.
pub(crate) fn fail(e: GatewayError) -> BoxError {
    Box::new(e)
}

/// The fields the gateway adds to every answer last: `X-Request-Id`, and the `RateLimit-*`
/// fields of a request a usage plan admitted. They replace an upstream's fields of the same
/// names. The HTTP/1 writer renders them straight into the head
/// ([`crate::server::wire::encode_head`]); every other caller puts them into the header map
/// ([`Answer::into_response`]). Inserted into the map, the four fields were ~2,000
/// instructions of a limited request.
pub struct Added {
    /// `X-Request-Id`: the client's, or a new one.
    pub request_id: HeaderValue,
    /// What the usage plan said when it admitted the request.
    pub limit: Option<LimitInfo>,
}

impl Added {
    /// Whether an upstream's field `name` gives way to one of these.
    pub fn replaces(&self, name: &HeaderName) -> bool {
        *name == REQUEST_ID
            || (self.limit.is_some()
                && (*name == RATELIMIT_LIMIT
                    || *name == RATELIMIT_REMAINING
                    || *name == RATELIMIT_RESET))
    }

    /// Calls `put` with each field's name and value.
    pub fn render(&self, mut put: impl FnMut(&[u8], &[u8])) {
        put(REQUEST_ID.as_str().as_bytes(), self.request_id.as_bytes());
        if let Some(info) = &self.limit {
            for (name, n) in rescue::limit_fields(info) {
                put(name.as_str().as_bytes(), decimal(n, &mut [0; 20]));
            }
        }
    }

    /// Puts the fields into `headers`.
    pub fn apply(self, headers: &mut HeaderMap) {
        if let Some(info) = &self.limit {
            rescue::insert_limit_fields(headers, info);
        }
        headers.insert(&REQUEST_ID, self.request_id);
    }
}

/// A response, and the fields still to be added to it.
pub struct Answer {
    /// The response as the request path left it.
    pub response: Response,
    /// See [`Added`].
    pub added: Added,
}

impl Answer {
    /// The response with the added fields in its header map.
    pub fn into_response(self) -> Response {
        let mut resp = self.response;
        self.added.apply(resp.headers_mut());
        resp
    }
}

/// One request counted in flight until it drops.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Pipeline {
    /// The path over `state`, sending to its pools. The in-flight limit is read from the
    /// configuration now (a reload does not resize it).
    pub fn new(state: Arc<GatewayState>) -> Self {
        Self::with_forward(state, ToPool)
    }
}

impl<F: Forward> Pipeline<F> {
    /// The path over `state` with `forward` as its innermost step.
    pub(crate) fn with_forward(state: Arc<GatewayState>, forward: F) -> Self {
        let max_in_flight = state.current.load().config.server.max_in_flight.get();
        Self {
            state,
            forward,
            in_flight: AtomicUsize::new(0),
            max_in_flight,
        }
    }

    /// Answers one request; every error has become its status here.
    pub async fn call<B>(&self, req: http::Request<B>) -> Response
    where
        B: hyper::body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        self.call_on(req, &ConnTimer::default())
            .await
            .into_response()
    }

    /// [`Pipeline::call`] for a request of a client connection whose deadline timer is
    /// `timer`, with the fields the gateway adds kept apart for the writer.
    pub async fn call_on<B>(&self, req: http::Request<B>, timer: &ConnTimer) -> Answer
    where
        B: hyper::body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let state = &*self.state;
        let started = trace::start(state, &req);
        let ctx = &started.ctx;
        let limit = ctx.deadline_limit(req.method(), req.uri().path());
        let mut admitted = None;
        let resp = match self.enter() {
            None => {
                state.metrics.shed.fetch_add(1, Ordering::Relaxed);
                rescue::gateway_error_response(&GatewayError::Overloaded)
            }
            Some(_in_flight) => {
                let reading_body = AtomicBool::new(false);
                let inner = std::pin::pin!(self.inner(ctx, req, &reading_body));
                match within(timer, ctx.start + limit, inner).await {
                    Some(Ok((resp, info))) => {
                        admitted = info;
                        resp
                    }
                    Some(Err(e)) => rescue::error_response(&e),
                    // Still waiting for the client's body: the client's delay, not ours
                    // (a slow step before or after the body is the gateway's: 504).
                    None if reading_body.load(Ordering::Relaxed) => rescue::json(
                        http::StatusCode::REQUEST_TIMEOUT,
                        "request_timeout",
                        "request body not received in time",
                        "client",
                    ),
                    None => rescue::gateway_error_response(&GatewayError::Timeout(limit)),
                }
            }
        };
        let added = Added {
            request_id: ctx.request_id.clone(),
            limit: admitted,
        };
        Answer {
            response: trace::finish(state, started, resp),
            added,
        }
    }

    /// The current `max_body_bytes`, for the connection's chunked-body decoder.
    pub fn max_body_bytes(&self) -> u64 {
        self.state.current.load().config.server.max_body_bytes.get() as u64
    }

    /// Load shedding: a slot under the in-flight limit, or `None` (503 at once).
    fn enter(&self) -> Option<InFlight<'_>> {
        let n = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let guard = InFlight(&self.in_flight);
        (n < self.max_in_flight).then_some(guard)
    }

    /// The response, and what the usage plan said when it admitted the request.
    async fn inner<B>(
        &self,
        ctx: &RequestContext,
        req: http::Request<B>,
        reading_body: &AtomicBool,
    ) -> Result<(Response, Option<LimitInfo>), BoxError>
    where
        B: hyper::body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let state = &*self.state;
        // The request stays here, in this future, from now on: the steps borrow it (a
        // request moved through each step's future was copied at every step).
        // Everything that can refuse the request on its head runs before its body is read:
        // a refused request (431, 413 by `Content-Length`, 401, 403, 429, 404, 405) is
        // answered at once and its body never buffered (the connection then closes).
        limits::check_head(ctx, &req)?;
        api_key::identify(ctx, &req)?;
        auth::authenticate(ctx, &req)?;
        let admitted = ratelimit::admit(state, ctx, req.method(), req.uri().path()).await?;
        route::resolve(ctx, &req)?;
        let mut held = limits::Held::new(&state.metrics.body_buffered);
        reading_body.store(true, Ordering::Relaxed);
        let mut req = limits::read_body(ctx, req, &mut held).await?;
        reading_body.store(false, Ordering::Relaxed);
        let lookup = cache::lookup(state, ctx, &req).await;
        let resp = if let cache::Lookup::Hit(resp) = lookup {
            resp
        } else {
            transform::request(ctx, &mut req);
            route::route(ctx, &mut req)?;
            let mut resp = retry::with_retries(state, ctx, &req, &self.forward).await?;
            transform::response(ctx, &mut resp);
            match lookup {
                cache::Lookup::Miss(key) => cache::store(state, ctx, key, resp).await?,
                _ => resp,
            }
        };
        ninefold_http1::recycle(std::mem::take(req.headers_mut()));
        Ok((resp, admitted))
    }
}

/// The pipeline as a tower service (one boxed future per request), for
/// [`crate::Gateway::service`] and `oneshot` in tests.
#[derive(Clone)]
pub struct PipelineService(Arc<Pipeline>);

impl<B> Service<http::Request<B>> for PipelineService
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let pipeline = self.0.clone();
        Box::pin(async move { Ok(pipeline.call(req).await) })
    }
}

/// Builds the request path as a service (for any request body type).
pub fn build(state: &Arc<GatewayState>) -> PipelineService {
    PipelineService(Arc::new(Pipeline::new(state.clone())))
}
