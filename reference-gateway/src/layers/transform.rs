//! Header transforms: the tenant header from the token (the seed's authorizer step),
//! `Authorization` stripped unless kept, `X-Request-Id` forwarded, configured request
//! header operations before the upstream and response operations after it.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::HeaderMap;
use http::HeaderValue;
use http::header::{AUTHORIZATION, CONNECTION};
use tower::{Layer, Service, ServiceExt};

use crate::body::{Request, Response};
use crate::config::HeaderOps;
use crate::context::Ctx;
use crate::error::BoxError;
use crate::layers::trace::REQUEST_ID;
use crate::layers::{ctx_of, take};

/// Adds [`Transform`].
#[derive(Clone, Default)]
pub struct TransformLayer;

impl<S> Layer<S> for TransformLayer {
    type Service = Transform<S>;
    fn layer(&self, inner: S) -> Transform<S> {
        Transform { inner }
    }
}

/// See the module doc.
#[derive(Clone)]
pub struct Transform<S> {
    inner: S,
}

/// Applies remove → rename → set.
pub fn apply(ops: &HeaderOps, h: &mut HeaderMap) {
    for name in &ops.remove {
        h.remove(name);
    }
    for (from, to) in &ops.rename {
        let values: Vec<HeaderValue> = h.get_all(from).iter().cloned().collect();
        if !values.is_empty() {
            h.remove(from);
            for v in values {
                h.append(to.clone(), v);
            }
        }
    }
    for (name, value) in &ops.set {
        h.insert(name.clone(), value.clone());
    }
}

impl<S> Service<Request> for Transform<S>
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
            request(&ctx, &mut req);
            let mut resp = inner.oneshot(req).await?;
            response(&ctx, &mut resp);
            Ok(resp)
        })
    }
}

/// The request's side: tenant header, `Authorization`, `X-Request-Id`, configured ops.
pub(crate) fn request(ctx: &Ctx, req: &mut Request) {
    let t = &ctx.snap.config.transform;
    let h = req.headers_mut();
    // The client's hop-by-hop fields go before the gateway sets its own, so that naming
    // one of those in `Connection` cannot remove it. The HTTP/1 server already left them
    // out ([`crate::server::wire`]); this covers requests that came another way.
    if h.contains_key(CONNECTION) {
        strip_client_hop_by_hop(h);
    }
    if !t.keep_authorization {
        h.remove(AUTHORIZATION);
    }
    if let Some(name) = &t.tenant_header {
        // Never trust a client-sent tenant header: it is ours to set or remove.
        let value = ctx
            .tenant_header
            .get()
            .cloned()
            .or_else(|| ctx.tenant.get().and_then(|v| HeaderValue::from_str(v).ok()));
        match value {
            Some(v) => {
                h.insert(name.clone(), v);
            }
            None => {
                h.remove(name);
            }
        }
    }
    h.insert(&REQUEST_ID, ctx.request_id.clone());
    apply(&t.request, h);
}

/// Removes the client's `Connection` field, what it names and the other hop-by-hop fields.
fn strip_client_hop_by_hop(h: &mut HeaderMap) {
    for name in ninefold_http1::connection_named(h) {
        if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
            h.remove(name);
        }
    }
    let hop: Vec<_> = h
        .keys()
        .filter(|n| ninefold_http1::is_hop_by_hop(n))
        .cloned()
        .collect();
    for name in hop {
        h.remove(name);
    }
}

/// The response's side: configured ops.
pub(crate) fn response(ctx: &Ctx, resp: &mut Response) {
    apply(&ctx.snap.config.transform.response, resp.headers_mut());
}
