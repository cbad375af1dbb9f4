//! The layer stack, outermost first. Read it as the list it is:
//!
//! ```text
//!   trace        request id, context, metrics, JSON access log
//!   rescue       every error → one status + JSON body
//!   timeout      overall deadline → 504
//!   load shed    in-flight limit reached → 503 at once (never queue)
//!   concurrency  the in-flight limit itself
//!   limits       431 / 413, body buffered for replay
//!   auth         JWT → tenant in the context once; scopes → 403
//!   rate limit   usage plan (bucket + quota) → 429 at once
//!   cache        GET responses per route, X-Cache
//!   transform    tenant header, Authorization stripped, header ops
//!   route        404 / 405, path rewrite
//!   retry        safe retries on other instances, within the budget
//!   balance      healthy set from the checker, outlier ejection, pooled client
//! ```

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use tower::limit::ConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::{Service, ServiceBuilder};

use crate::body::Response;
use crate::error::BoxError;
use crate::layers::auth::AuthLayer;
use crate::layers::balance::Balance;
use crate::layers::cache::CacheLayer;
use crate::layers::limits::LimitsLayer;
use crate::layers::ratelimit::RateLimitLayer;
use crate::layers::rescue::RescueLayer;
use crate::layers::retry::RetryLayer;
use crate::layers::route::RouteLayer;
use crate::layers::timeout::TimeoutLayer;
use crate::layers::trace::TraceLayer;
use crate::layers::transform::TransformLayer;
use crate::state::Shared;

/// Builds the stack for request bodies of type `B`. The in-flight limit is read from the
/// configuration at build time (a reload does not resize it).
pub fn build<B>(
    shared: &Arc<Shared>,
) -> impl Service<http::Request<B>, Response = Response, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ 'static
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let max_in_flight = shared.current.load().config.server.max_in_flight.get();
    ServiceBuilder::new()
        .layer(TraceLayer(shared.clone()))
        .layer(RescueLayer(shared.clone()))
        .layer(TimeoutLayer)
        .layer(LoadShedLayer::new())
        .layer(ConcurrencyLimitLayer::new(max_in_flight))
        .layer(LimitsLayer)
        .layer(AuthLayer)
        .layer(RateLimitLayer(shared.clone()))
        .layer(CacheLayer(shared.clone()))
        .layer(TransformLayer)
        .layer(RouteLayer)
        .layer(RetryLayer(shared.clone()))
        .service(Balance::new(shared.clone()))
}
