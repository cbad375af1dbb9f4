//! Overall request deadline (the route's `timeout`, else `request_timeout`; read from the request's snapshot so that
//! a reload changes it): retries included, it answers 504 when it passes.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tower::{Layer, Service};

use crate::body::Response;
use crate::error::{BoxError, GatewayError};
use crate::layers::{ctx_of, fail};

/// Adds [`Timeout`].
#[derive(Clone, Default)]
pub struct TimeoutLayer;

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;
    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout { inner }
    }
}

/// See the module doc.
#[derive(Clone)]
pub struct Timeout<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for Timeout<S>
where
    S: Service<http::Request<B>, Response = Response>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let limit = match ctx_of(&req) {
            Ok(c) => c.deadline_limit(req.method(), req.uri().path()),
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let fut = self.inner.call(req);
        Box::pin(async move {
            match tokio::time::timeout(limit, fut).await {
                Ok(r) => r.map_err(Into::into),
                Err(_) => Err(fail(GatewayError::Timeout(limit))),
            }
        })
    }
}
