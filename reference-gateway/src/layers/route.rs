//! Routing: the matched route (longest prefix, then method; 404 or 405 otherwise) and its
//! path rewrite (strip or replace the prefix, query kept).

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::uri::PathAndQuery;
use tower::{Layer, Service, ServiceExt};

use crate::body::{Request, Response};
use crate::context::Ctx;
use crate::error::{BoxError, GatewayError};
use crate::layers::{ctx_of, fail, take};
use crate::routing::{RouteMiss, rewrite_path};

/// Adds [`Route`].
#[derive(Clone, Default)]
pub struct RouteLayer;

impl<S> Layer<S> for RouteLayer {
    type Service = Route<S>;
    fn layer(&self, inner: S) -> Route<S> {
        Route { inner }
    }
}

/// See the module doc.
#[derive(Clone)]
pub struct Route<S> {
    inner: S,
}

impl<S> Service<Request> for Route<S>
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

    fn call(&mut self, mut req: Request) -> Self::Future {
        let inner = take(&mut self.inner);
        Box::pin(async move {
            let ctx = ctx_of(&req)?;
            route(&ctx, &mut req)?;
            inner.oneshot(req).await
        })
    }
}

/// Resolves the route (404 / 405) and rewrites the path.
pub(crate) fn route(ctx: &Ctx, req: &mut Request) -> Result<(), BoxError> {
    let i = resolve(ctx, req)?;
    let path = req.uri().path();
    let route = &ctx.snap.router.routes[i];
    if let Some(new_path) = rewrite_path(&route.config, path) {
        let pq = match req.uri().query() {
            Some(q) => format!("{new_path}?{q}"),
            None => new_path,
        };
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = Some(PathAndQuery::try_from(pq).map_err(|e| {
            fail(GatewayError::NoRoute {
                path: e.to_string(),
            })
        })?);
        *req.uri_mut() = http::Uri::from_parts(parts)?;
    }
    Ok(())
}

/// The route of the request's head (404 / 405 otherwise); the pipeline asks before the
/// body is read.
pub(crate) fn resolve<B>(ctx: &Ctx, req: &http::Request<B>) -> Result<usize, BoxError> {
    let path = req.uri().path();
    // The HTTP/1 server normalizes the path before anything routes on it
    // ([`crate::server::wire`]). A request that came another way with a path that is not
    // normal (dot segments, `%2e`, `%2f`) is not forwarded: no request is routed on one
    // path and forwarded on another.
    if !matches!(crate::routing::normalize_path(path), Ok(None)) {
        return Err(fail(GatewayError::NoRoute { path: path.into() }));
    }
    match ctx.route(req.method(), path) {
        Ok(i) => Ok(i),
        Err(RouteMiss::NotFound) => Err(fail(GatewayError::NoRoute { path: path.into() })),
        Err(RouteMiss::MethodNotAllowed) => {
            // Every route on this path, for the `Allow` header.
            let allow = ctx
                .snap
                .router
                .routes
                .iter()
                .filter(|r| crate::routing::prefix_matches(&r.config.path, path))
                .map(|r| r.allow.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            Err(fail(GatewayError::MethodNotAllowed {
                method: req.method().clone(),
                path: path.into(),
                allow,
            }))
        }
    }
}
