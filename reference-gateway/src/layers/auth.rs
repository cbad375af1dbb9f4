//! JWT bearer authentication. Exactly one `Authorization: Bearer <token>` header is
//! accepted (two headers, another scheme, an empty or oversized token, a token only in
//! the query string: all 401 with `WWW-Authenticate: Bearer error="invalid_token"`).
//! A valid token puts the tenant into the request context once; the route's required
//! scopes are checked here too (403). The upstream is never called for a refused token.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use tower::{Layer, Service, ServiceExt};

use crate::body::{Request, Response};
use crate::context::Ctx;
use crate::error::{BoxError, GatewayError};
use crate::jwt::MAX_TOKEN_BYTES;
use crate::layers::{ctx_of, fail, take};

/// Adds [`Auth`].
#[derive(Clone, Default)]
pub struct AuthLayer;

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Auth<S> {
        Auth { inner }
    }
}

/// See the module doc.
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
}

fn unauthorized(reason: impl Into<String>) -> BoxError {
    fail(GatewayError::Unauthorized {
        reason: reason.into(),
    })
}

/// The bearer token of the only `Authorization` header, as bytes. Only the scheme and the
/// ends are looked at here: a byte a token may not hold (a space inside, non-ASCII) is
/// refused by the verifier, which reads the token anyway (a cached token by its hash, a new
/// one by its base64 decoding), so a valid token's bytes are not walked an extra time.
pub fn bearer(headers: &HeaderMap) -> Result<&[u8], BoxError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values
        .next()
        .ok_or_else(|| unauthorized("no Authorization header"))?;
    if values.next().is_some() {
        return Err(unauthorized("several Authorization headers"));
    }
    if value.len() > MAX_TOKEN_BYTES + 7 {
        return Err(unauthorized("oversized Authorization header"));
    }
    let value = value.as_bytes();
    let (scheme, token) = match value.iter().position(|&b| b == b' ') {
        Some(i) => (&value[..i], &value[i + 1..]),
        None => return Err(unauthorized("Authorization has no scheme")),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        let scheme = String::from_utf8_lossy(scheme);
        return Err(unauthorized(format!("scheme {scheme:?} is not Bearer")));
    }
    let token = token.trim_ascii();
    if token.is_empty() {
        return Err(unauthorized("empty bearer token"));
    }
    Ok(token)
}

impl<S> Service<Request> for Auth<S>
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

    fn call(&mut self, req: Request) -> Self::Future {
        let inner = take(&mut self.inner);
        Box::pin(async move {
            let ctx = ctx_of(&req)?;
            authenticate(&ctx, &req)?;
            inner.oneshot(req).await
        })
    }
}

/// Verifies the bearer token (when auth is configured), puts the tenant into the context
/// and checks the route's scopes. It reads only the head: the pipeline calls it before the
/// body is read, so a refused request's body is never buffered.
pub(crate) fn authenticate<B>(ctx: &Ctx, req: &http::Request<B>) -> Result<(), BoxError> {
    let Some(verifier) = &ctx.snap.verifier else {
        return Ok(());
    };
    let token = bearer(req.headers())?;
    let verified = verifier.verify(token).map_err(unauthorized)?;
    // Interned ids of known tenants are shared with logs and metrics.
    let tenant = match ctx.snap.plans.get(verified.tenant.as_str()) {
        Some(p) => {
            if let Some(h) = &p.header {
                let _ = ctx.tenant_header.set(h.clone());
            }
            p.id.clone()
        }
        None => Arc::from(verified.tenant.as_str()),
    };
    let _ = ctx.tenant.set(tenant);
    if let Ok(i) = ctx.route(req.method(), req.uri().path()) {
        let scopes = &ctx.snap.router.routes[i].config.scopes;
        if !scopes.is_empty()
            && let Some(missing) = verifier.missing_scope(&verified.claims, scopes)
        {
            return Err(fail(GatewayError::InsufficientScope {
                scope: missing.to_string(),
            }));
        }
    }
    Ok(())
}
