//! Routing: the matched route (longest prefix, then method; 404 or 405 otherwise) and its
//! path rewrite (strip or replace the prefix, query kept).

use http::uri::PathAndQuery;

use crate::body::Request;
use crate::context::RequestContext;
use crate::error::{BoxError, GatewayError};
use crate::pipeline::fail;
use crate::routing::{RouteMiss, rewrite_path};

/// Resolves the route (404 / 405) and rewrites the path.
pub(crate) fn route(ctx: &RequestContext, req: &mut Request) -> Result<(), BoxError> {
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
pub(crate) fn resolve<B>(ctx: &RequestContext, req: &http::Request<B>) -> Result<usize, BoxError> {
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
