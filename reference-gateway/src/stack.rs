//! The request path, outermost step first. Read it as the list it is:
//!
//! ```text
//!   trace        request id, context, metrics, JSON access log
//!   rescue       every error → one status + JSON body
//!   timeout      overall deadline → 504
//!   load shed    in-flight limit reached → 503 at once (never queue)
//!   limits       431 / 413 by `Content-Length`, on the head
//!   auth         JWT → tenant in the context once; scopes → 403
//!   rate limit   usage plan (bucket + quota) → 429 at once
//!   route check  404 / 405, on the head
//!   body         read and buffered for replay only now (413 past the limit)
//!   cache        GET responses per route, X-Cache
//!   transform    tenant header, Authorization stripped, header ops
//!   route        404 / 405, path rewrite
//!   retry        safe retries on other instances, within the budget
//!   balance      healthy set from the checker, outlier ejection, pooled client
//! ```
//!
//! Each step is a module of functions in [`crate::layers`] (one concern per file), and
//! [`Pipeline::call`] calls them in this order as one async function: one future per
//! request. The same modules also expose each step as a tower layer (`AuthLayer`, …) for
//! composing in tests. As a stack of thirteen tower services the request path boxed a
//! future and cloned a service per layer and request, about a fifth of the gateway's
//! instructions per request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::{Instant, Sleep};
use tower::Service;

use crate::body::Response;
use crate::context::Ctx;
use crate::error::{BoxError, GatewayError, LimitInfo};
use crate::layers::rescue::{RATELIMIT_LIMIT, RATELIMIT_REMAINING, RATELIMIT_RESET};
use crate::layers::trace::REQUEST_ID;
use crate::layers::{
    auth, balance, cache, limits, ratelimit, rescue, retry, route, trace, transform,
};
use crate::state::Shared;
use ninefold_http1::decimal;

/// The whole request path for one gateway.
pub struct Pipeline {
    shared: Arc<Shared>,
    in_flight: AtomicUsize,
    max_in_flight: usize,
}

/// The overall deadline's timer of one client connection. An HTTP/1 connection's
/// requests are served one after another, so each request borrows the connection's timer
/// and gives it back; the timer is re-armed only when it fires before the current request's
/// deadline (about once per `request_timeout`), where `tokio::time::timeout` would register
/// and remove a timer entry for every request.
#[derive(Default)]
pub struct ConnTimer(Mutex<Option<Pin<Box<Sleep>>>>);

impl ConnTimer {
    fn take(&self) -> Option<Pin<Box<Sleep>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn put(&self, sleep: Pin<Box<Sleep>>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(sleep);
    }
}

/// Runs `fut` until `deadline` on `timer` (`None` when the deadline passed first). The
/// future is borrowed pinned, not moved in: the request path's future is large, and moving
/// it cost more instructions than the timer saved.
async fn within<F: Future>(
    timer: &ConnTimer,
    deadline: Instant,
    mut fut: Pin<&mut F>,
) -> Option<F::Output> {
    let mut sleep = match timer.take() {
        // A reload may have shortened the timeout: never fire later than this deadline.
        Some(mut s) if s.deadline() > deadline => {
            s.as_mut().reset(deadline);
            s
        }
        Some(s) => s,
        None => Box::pin(tokio::time::sleep_until(deadline)),
    };
    let out = std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        // The timer is armed at or before this deadline: when it fires early (an earlier
        // request's deadline), move it on; when it fires at this one, time is up.
        while sleep.as_mut().poll(cx).is_ready() {
            if Instant::now() >= deadline {
                return Poll::Ready(None);
            }
            sleep.as_mut().reset(deadline);
        }
        Poll::Pending
    })
    .await;
    timer.put(sleep);
    out
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
    /// The path over `shared`. The in-flight limit is read from the configuration now (a
    /// reload does not resize it).
    pub fn new(shared: Arc<Shared>) -> Self {
        let max_in_flight = shared.current.load().config.server.max_in_flight.get();
        Self {
            shared,
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
        let shared = &*self.shared;
        let started = trace::start(shared, &req);
        let ctx = &started.ctx;
        let limit = ctx.deadline_limit(req.method(), req.uri().path());
        let mut admitted = None;
        let resp = match self.enter() {
            None => {
                shared.metrics.shed.fetch_add(1, Ordering::Relaxed);
                rescue::gateway_error_response(&GatewayError::Overloaded)
            }
            Some(_in_flight) => {
                let reading_body = std::sync::atomic::AtomicBool::new(false);
                let inner = std::pin::pin!(self.inner(ctx, req, &reading_body));
                match within(timer, ctx.start + limit, inner).await {
                    Some(Ok((resp, info))) => {
                        admitted = info;
                        resp
                    }
                    Some(Err(e)) => rescue::error_response(&e, shared),
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
            response: trace::finish(shared, started, resp),
            added,
        }
    }

    /// The current `max_body_bytes`, for the connection's chunked-body decoder.
    pub fn max_body_bytes(&self) -> u64 {
        self.shared
            .current
            .load()
            .config
            .server
            .max_body_bytes
            .get() as u64
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
        ctx: &Ctx,
        req: http::Request<B>,
        reading_body: &std::sync::atomic::AtomicBool,
    ) -> Result<(Response, Option<LimitInfo>), BoxError>
    where
        B: hyper::body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let shared = &*self.shared;
        // The request stays here, in this future, from now on: the steps borrow it (a
        // request moved through each step's future was copied at every step).
        // Everything that can refuse the request on its head runs before its body is read:
        // a refused request (431, 413 by `Content-Length`, 401, 403, 429, 404, 405) is
        // answered at once and its body never buffered (the connection then closes).
        limits::check_head(ctx, &req)?;
        auth::authenticate(ctx, &req)?;
        let admitted = ratelimit::admit(shared, ctx, req.method(), req.uri().path()).await?;
        route::resolve(ctx, &req)?;
        let mut held = limits::Held::new(&shared.metrics.body_buffered);
        reading_body.store(true, Ordering::Relaxed);
        let mut req = limits::read_body(ctx, req, &mut held).await?;
        reading_body.store(false, Ordering::Relaxed);
        let lookup = cache::lookup(shared, ctx, &req).await;
        let resp = if let cache::Lookup::Hit(resp) = lookup {
            resp
        } else {
            transform::request(ctx, &mut req);
            route::route(ctx, &mut req)?;
            let direct = balance::Direct { shared, ctx };
            let mut resp = retry::with_retries(shared, ctx, &req, direct).await?;
            transform::response(ctx, &mut resp);
            match lookup {
                cache::Lookup::Miss(key) => cache::store(shared, ctx, key, resp).await?,
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
pub fn build(shared: &Arc<Shared>) -> PipelineService {
    PipelineService(Arc::new(Pipeline::new(shared.clone())))
}

#[cfg(test)]
mod tests {
    use std::future::pending;
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_timer_fires_at_each_requests_own_deadline() {
        let timer = ConnTimer::default();
        let s = Duration::from_secs;
        let t0 = Instant::now();
        assert_eq!(
            within(&timer, t0 + s(10), std::pin::pin!(async { 1 })).await,
            Some(1)
        );
        tokio::time::advance(s(5)).await;
        // The timer armed for the first request's deadline (t0 + 10 s) moves on to this one's.
        assert_eq!(
            within(&timer, t0 + s(15), std::pin::pin!(pending::<()>())).await,
            None
        );
        assert_eq!(Instant::now(), t0 + s(15));
        // A deadline earlier than the armed timer (a reload shortened the timeout) still holds.
        let t1 = Instant::now();
        let slow = std::pin::pin!(tokio::time::sleep(s(2)));
        assert_eq!(within(&timer, t1 + s(30), slow).await, Some(()));
        assert_eq!(
            within(&timer, t1 + s(3), std::pin::pin!(pending::<()>())).await,
            None
        );
        assert_eq!(Instant::now(), t1 + s(3));
    }
}
