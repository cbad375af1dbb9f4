//! The one place where errors become statuses: every [`GatewayError`] is answered with its status, a JSON body
//! `{"error": code, "message": …, "source": …}` and the headers the status calls for
//! (`WWW-Authenticate`, `Allow`, `Retry-After`, `RateLimit-*`).

use std::time::Duration;

use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue};

use crate::body::{Body, Response};
use crate::error::{BoxError, ErrorSource, GatewayError, LimitInfo};
use ninefold_http1::header_value_u64;

/// Response extension naming the error code, for the access log.
#[derive(Clone, Copy)]
pub struct ErrorCode(pub &'static str);

fn secs_ceil(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Numbers below this are header values made once, shared by every answer.
const SMALL_NUMBERS: u64 = 4096;

/// `n` as a header value: for the small numbers most answers carry (remaining tokens,
/// seconds to reset, a plan's limit), a static value cloned without allocating (three
/// fresh values per answer were ~10% of a limited request's instructions).
fn number(n: u64) -> HeaderValue {
    static TABLE: std::sync::OnceLock<Vec<HeaderValue>> = std::sync::OnceLock::new();
    if n >= SMALL_NUMBERS {
        return header_value_u64(n);
    }
    let table = TABLE.get_or_init(|| {
        (0..SMALL_NUMBERS)
            .map(|i| {
                let digits: &'static str = Box::leak(i.to_string().into_boxed_str());
                HeaderValue::from_static(digits)
            })
            .collect()
    });
    table[n as usize].clone()
}

/// The `RateLimit-*` fields of `info`: name and number.
pub fn limit_fields(info: &LimitInfo) -> [(&'static HeaderName, u64); 3] {
    [
        (&RATELIMIT_LIMIT, info.limit),
        (&RATELIMIT_REMAINING, info.remaining),
        (&RATELIMIT_RESET, secs_ceil(info.reset)),
    ]
}

/// Puts the `RateLimit-*` fields of `info` into `headers`.
pub(crate) fn insert_limit_fields(headers: &mut http::HeaderMap, info: &LimitInfo) {
    for (name, n) in limit_fields(info) {
        headers.insert(name.clone(), number(n));
    }
}

fn limit_headers(resp: &mut Response, info: &LimitInfo, with_retry_after: bool) {
    let h = resp.headers_mut();
    insert_limit_fields(h, info);
    if with_retry_after {
        h.insert(RETRY_AFTER, number(secs_ceil(info.retry_after).max(1)));
    }
}

/// `RateLimit-Limit`.
pub static RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`.
pub static RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`.
pub static RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

fn source_str(s: ErrorSource) -> &'static str {
    match s {
        ErrorSource::Client => "client",
        ErrorSource::Gateway => "gateway",
        ErrorSource::Upstream => "upstream",
        ErrorSource::Network => "network",
    }
}

/// The response for any error of the request path.
pub fn error_response(e: &BoxError) -> Response {
    match e.downcast_ref::<GatewayError>() {
        Some(g) => gateway_error_response(g),
        None => {
            tracing::error!(error = %e, "unexpected error in the gateway stack");
            json(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal gateway error",
                "gateway",
            )
        }
    }
}

/// A JSON error body `{"error", "message", "source"}` with its status.
pub(crate) fn json(
    status: http::StatusCode,
    code: &'static str,
    message: &str,
    source: &str,
) -> Response {
    let body = serde_json::json!({ "error": code, "message": message, "source": source });
    let mut resp = Response::new(Body::full(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.extensions_mut().insert(ErrorCode(code));
    resp
}

/// The response for one gateway error.
pub fn gateway_error_response(g: &GatewayError) -> Response {
    if let GatewayError::InvalidApiKey = g {
        // Byte for byte what API Gateway answers, so clients written for it read it.
        let mut resp = Response::new(Body::full(r#"{"message":"Forbidden"}"#));
        *resp.status_mut() = g.status();
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(
            http::HeaderName::from_static("x-amzn-errortype"),
            HeaderValue::from_static("ForbiddenException"),
        );
        resp.extensions_mut().insert(ErrorCode(g.code()));
        return resp;
    }
    let message = match g {
        // The reason stays in the log: telling a client why its token failed helps attackers.
        GatewayError::Unauthorized { reason } => {
            tracing::debug!(%reason, "token refused");
            "missing or invalid bearer token".to_string()
        }
        GatewayError::Throttled(_) => {
            "too many requests: the tenant's rate limit is exceeded".into()
        }
        GatewayError::QuotaExhausted(_) => {
            "quota exhausted: the tenant's quota for this period is used up".into()
        }
        other => other.to_string(),
    };
    let mut resp = json(g.status(), g.code(), &message, source_str(g.source_kind()));
    let h = resp.headers_mut();
    match g {
        GatewayError::Unauthorized { .. } => {
            h.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        GatewayError::InsufficientScope { .. } => {
            h.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
            );
        }
        GatewayError::MethodNotAllowed { allow, .. } => {
            if let Ok(v) = HeaderValue::from_str(allow) {
                h.insert(ALLOW, v);
            }
        }
        GatewayError::Throttled(info) | GatewayError::QuotaExhausted(info) => {
            limit_headers(&mut resp, info, true);
        }
        GatewayError::NoHealthyInstance { .. } | GatewayError::Overloaded => {
            h.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        _ => {}
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_their_decimal_digits_in_and_past_the_table() {
        for n in [0, 1, 9, 10, 4095, 4096, 123_456, u64::MAX] {
            assert_eq!(number(n).to_str().unwrap(), n.to_string());
        }
    }
}
