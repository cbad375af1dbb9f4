//! Header transforms: the tenant header from the token (the seed's authorizer step),
//! `Authorization` stripped unless kept, `X-Request-Id` forwarded, configured request
//! header operations before the upstream and response operations after it.

use http::HeaderMap;
use http::HeaderValue;
use http::header::{AUTHORIZATION, CONNECTION};

use crate::body::{Request, Response};
use crate::config::HeaderOps;
use crate::context::RequestContext;
use crate::pipeline::trace::REQUEST_ID;

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

/// The request's side: tenant header, `Authorization`, `X-Request-Id`, configured ops.
pub(crate) fn request(ctx: &RequestContext, req: &mut Request) {
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
pub(crate) fn response(ctx: &RequestContext, resp: &mut Response) {
    apply(&ctx.snap.config.transform.response, resp.headers_mut());
}
