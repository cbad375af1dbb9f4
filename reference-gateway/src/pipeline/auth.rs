//! JWT bearer authentication. Exactly one `Authorization: Bearer <token>` header is
//! accepted (two headers, another scheme, an empty or oversized token, a token only in
//! the query string: all 401 with `WWW-Authenticate: Bearer error="invalid_token"`).
//! A valid token puts the tenant into the request context once; the route's required
//! scopes are checked here too (403). The upstream is never called for a refused token.

use std::sync::Arc;

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::context::RequestContext;
use crate::error::{BoxError, GatewayError};
use crate::jwt::MAX_TOKEN_BYTES;
use crate::pipeline::fail;

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

/// Verifies the bearer token (when auth is configured), puts the tenant into the context
/// and checks the route's scopes. It reads only the head: the pipeline calls it before the
/// body is read, so a refused request's body is never buffered.
pub(crate) fn authenticate<B>(
    ctx: &RequestContext,
    req: &http::Request<B>,
) -> Result<(), BoxError> {
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
