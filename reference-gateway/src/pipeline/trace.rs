//! The first and last step: creates the request context (snapshot, request id), and when the
//! response is ready records metrics and writes one JSON access-log line (tracing target
//! `access`; the subscriber formats it as JSON and [`crate::logging`] hands it to a
//! writer thread through a bounded queue, so a stalled log reader never blocks a request).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderName, HeaderValue};

use crate::body::Response;
use crate::context::{CacheOutcome, LimitOutcome, RequestContext};
use crate::logging::ACCESS_TARGET;
use crate::pipeline::rescue::ErrorCode;
use crate::state::GatewayState;

/// `x-request-id`.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn new_request_id() -> HeaderValue {
    // A per-process random prefix and a counter: unique, and cheaper than a UUID.
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let p = *PREFIX.get_or_init(rand::random);
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    // `{p:08x}-{n:012x}` without the formatting machinery (it showed in profiles).
    let mut buf = [0u8; 8 + 1 + 16];
    let mut len = hex(u64::from(p), 8, &mut buf);
    buf[len] = b'-';
    len += 1;
    len += hex(n, 12, &mut buf[len..]);
    HeaderValue::from_bytes(&buf[..len]).unwrap_or(HeaderValue::from_static("0"))
}

/// Writes `v` in lowercase hex, zero-padded to at least `width` digits; returns the length.
fn hex(v: u64, width: usize, out: &mut [u8]) -> usize {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = (16 - (v.leading_zeros() as usize) / 4).max(width);
    for (i, slot) in out[..digits].iter_mut().enumerate() {
        let shift = 4 * (digits - 1 - i);
        *slot = if shift < 64 {
            DIGITS[((v >> shift) & 0xf) as usize]
        } else {
            b'0'
        };
    }
    digits
}

fn cache_str(c: CacheOutcome) -> &'static str {
    match c {
        CacheOutcome::None => "-",
        CacheOutcome::Hit => "HIT",
        CacheOutcome::Miss => "MISS",
    }
}

fn limit_str(l: LimitOutcome) -> &'static str {
    match l {
        LimitOutcome::None => "-",
        LimitOutcome::Allowed => "allowed",
        LimitOutcome::Throttled => "throttled",
        LimitOutcome::QuotaExhausted => "quota_exhausted",
    }
}

/// A request as the trace step saw it arrive.
pub(crate) struct Started {
    /// Its context, lent to every later step.
    pub ctx: Arc<RequestContext>,
    /// Method and URI as received, kept only for the access log.
    logged: Option<(http::Method, http::Uri)>,
}

/// Creates the request context (snapshot, request id).
pub(crate) fn start<B>(state: &GatewayState, req: &http::Request<B>) -> Started {
    let snap = state.current.load_full();
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .cloned()
        .unwrap_or_else(new_request_id);
    let logged = snap
        .config
        .access_log
        .then(|| (req.method().clone(), req.uri().clone()));
    Started {
        ctx: Arc::new(RequestContext::new(snap, request_id)),
        logged,
    }
}

/// Records metrics and writes the access-log line. `X-Request-Id` is the caller's to add
/// (see [`crate::pipeline::Added`]).
pub(crate) fn finish(state: &GatewayState, started: Started, resp: Response) -> Response {
    let ctx = &started.ctx;
    let latency = ctx.start.elapsed();
    let m = &state.metrics;
    let route = ctx
        .resolved_route()
        .map(|i| &ctx.snap.router.routes[i].name)
        .unwrap_or(&m.none);
    let tenant = ctx.tenant.get().unwrap_or(&m.none);
    let status = resp.status().as_u16();
    m.record(route, status, tenant, latency);
    if let Some((method, uri)) = &started.logged {
        tracing::info!(
            target: ACCESS_TARGET,
            request_id = ctx.request_id.to_str().unwrap_or("-"),
            tenant = &**tenant,
            route = &**route,
            method = method.as_str(),
            path = uri.path(),
            status,
            latency_us = latency.as_micros() as u64,
            upstream = ctx.upstream().map(|a| a.to_string()).unwrap_or_default(),
            attempts = ctx.attempts(),
            cache = cache_str(ctx.cache()),
            limiter = limit_str(ctx.limit()),
            error = resp.extensions().get::<ErrorCode>().map_or("", |e| e.0),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_hex_like_format_would_write_them() {
        for (v, w) in [
            (0u64, 8),
            (0xabc, 12),
            (u64::MAX, 12),
            (1 << 52, 12),
            (0xdead_beef, 8),
        ] {
            let mut buf = [0u8; 16];
            let n = hex(v, w, &mut buf);
            assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), format!("{v:0w$x}"));
        }
        let id = new_request_id();
        let s = id.to_str().unwrap();
        assert_eq!(s.len(), 21, "{s}");
        assert_eq!(&s[8..9], "-");
    }
}
