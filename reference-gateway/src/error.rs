//! Errors of the request path, pingora style: each knows its source and whether it may be
//! retried, and [`crate::rescue`] maps it to exactly one status.

use std::time::Duration;

/// The boxed error that flows between the steps of the request path ([`crate::pipeline`]).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Who caused an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    /// The client sent something we refuse.
    Client,
    /// The gateway itself (overload, policy, deadline).
    Gateway,
    /// An upstream answered badly.
    Upstream,
    /// The network between gateway and upstream (connect, reset).
    Network,
}

/// What the rate limiter refused, with the numbers for the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitInfo {
    /// `RateLimit-Limit`: the bucket size (or the quota).
    pub limit: u64,
    /// `RateLimit-Remaining`.
    pub remaining: u64,
    /// `RateLimit-Reset`: until the bucket is full again (or the quota window ends).
    pub reset: Duration,
    /// `Retry-After`: until one request would be admitted.
    pub retry_after: Duration,
}

/// Every way a request can fail inside the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// 401: missing or invalid bearer token (`reason` goes to the log, not the client).
    #[error("unauthorized: {reason}")]
    Unauthorized {
        /// Why the token was refused.
        reason: String,
    },
    /// 403: the token lacks a scope the route requires.
    #[error("forbidden: missing scope {scope:?}")]
    InsufficientScope {
        /// The first missing scope.
        scope: String,
    },
    /// 403: the tenant has no plan and unknown tenants are rejected.
    #[error("forbidden: tenant {tenant:?} has no usage plan")]
    UnknownTenant {
        /// The tenant claim's value.
        tenant: String,
    },
    /// 403: `[[gateway.api_keys]]` are configured and the request has no known
    /// `x-api-key` (AWS API Gateway's `{"message":"Forbidden"}`).
    #[error("forbidden: missing or unknown API key")]
    InvalidApiKey,
    /// 404: no route matches the path.
    #[error("no route for {path}")]
    NoRoute {
        /// The request path.
        path: String,
    },
    /// 405: the path matched a route that does not allow the method.
    #[error("method {method} not allowed on {path}")]
    MethodNotAllowed {
        /// The request method.
        method: http::Method,
        /// The request path.
        path: String,
        /// Allowed methods, for the `Allow` header.
        allow: String,
    },
    /// 413: body larger than `max_body_bytes`.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// 431: too many or too large headers.
    #[error("request headers too large: {what}")]
    HeadersTooLarge {
        /// Which limit was hit.
        what: String,
    },
    /// 400: the body could not be read.
    #[error("bad request body: {0}")]
    BadBody(String),
    /// 429: the tenant's token bucket is empty.
    #[error("throttled: retry after {:?}", .0.retry_after)]
    Throttled(LimitInfo),
    /// 429: the tenant's quota for the period is used up.
    #[error("quota exhausted: retry after {:?}", .0.retry_after)]
    QuotaExhausted(LimitInfo),
    /// 503: in-flight limit reached, shed at once.
    #[error("overloaded: request shed")]
    Overloaded,
    /// 503: no healthy instance in the upstream pool.
    #[error("no healthy instance in upstream {upstream:?}")]
    NoHealthyInstance {
        /// The pool's name.
        upstream: String,
    },
    /// 504: the overall request deadline passed.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// 504 (retryable): one attempt's deadline passed.
    #[error("upstream {instance} did not answer within {timeout:?}")]
    PerTryTimeout {
        /// The instance tried.
        instance: std::net::SocketAddr,
        /// The per-try timeout.
        timeout: Duration,
    },
    /// 502: connecting to or talking with an instance failed.
    #[error("upstream {instance}: {message}")]
    Upstream {
        /// The instance tried.
        instance: std::net::SocketAddr,
        /// The client's error text.
        message: String,
        /// Failed before the request was sent (connect refused…): always safe to retry.
        connect: bool,
    },
    /// 502: the limiter store failed (Redis down…).
    #[error("rate-limit store: {0}")]
    Store(String),
}

impl GatewayError {
    /// Who caused it.
    pub fn source_kind(&self) -> ErrorSource {
        use GatewayError::*;
        match self {
            Unauthorized { .. }
            | InsufficientScope { .. }
            | UnknownTenant { .. }
            | InvalidApiKey
            | NoRoute { .. }
            | MethodNotAllowed { .. }
            | PayloadTooLarge { .. }
            | HeadersTooLarge { .. }
            | BadBody(_)
            | Throttled(_)
            | QuotaExhausted(_) => ErrorSource::Client,
            Overloaded | NoHealthyInstance { .. } | Timeout(_) | Store(_) => ErrorSource::Gateway,
            PerTryTimeout { .. } => ErrorSource::Upstream,
            Upstream { .. } => ErrorSource::Network,
        }
    }

    /// Whether another attempt on another instance may succeed (the request's own
    /// idempotency is checked separately by the retry layer).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            GatewayError::Upstream { .. } | GatewayError::PerTryTimeout { .. }
        )
    }

    /// The status the client sees.
    pub fn status(&self) -> http::StatusCode {
        use GatewayError::*;
        use http::StatusCode as S;
        match self {
            Unauthorized { .. } => S::UNAUTHORIZED,
            InsufficientScope { .. } | UnknownTenant { .. } | InvalidApiKey => S::FORBIDDEN,
            NoRoute { .. } => S::NOT_FOUND,
            MethodNotAllowed { .. } => S::METHOD_NOT_ALLOWED,
            PayloadTooLarge { .. } => S::PAYLOAD_TOO_LARGE,
            HeadersTooLarge { .. } => S::REQUEST_HEADER_FIELDS_TOO_LARGE,
            BadBody(_) => S::BAD_REQUEST,
            Throttled(_) | QuotaExhausted(_) => S::TOO_MANY_REQUESTS,
            Overloaded | NoHealthyInstance { .. } => S::SERVICE_UNAVAILABLE,
            Timeout(_) | PerTryTimeout { .. } => S::GATEWAY_TIMEOUT,
            Upstream { .. } | Store(_) => S::BAD_GATEWAY,
        }
    }

    /// A stable machine-readable code for the JSON body.
    pub fn code(&self) -> &'static str {
        use GatewayError::*;
        match self {
            Unauthorized { .. } => "invalid_token",
            InsufficientScope { .. } => "insufficient_scope",
            UnknownTenant { .. } => "unknown_tenant",
            InvalidApiKey => "invalid_api_key",
            NoRoute { .. } => "no_route",
            MethodNotAllowed { .. } => "method_not_allowed",
            PayloadTooLarge { .. } => "payload_too_large",
            HeadersTooLarge { .. } => "headers_too_large",
            BadBody(_) => "bad_body",
            Throttled(_) => "throttled",
            QuotaExhausted(_) => "quota_exhausted",
            Overloaded => "overloaded",
            NoHealthyInstance { .. } => "no_healthy_instance",
            Timeout(_) => "timeout",
            PerTryTimeout { .. } => "upstream_timeout",
            Upstream { .. } => "bad_gateway",
            Store(_) => "limiter_unavailable",
        }
    }
}

/// Errors of starting, serving or reloading the gateway.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration was refused; the old one (if any) keeps serving.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A key file could not be read or parsed.
    #[error("gateway.auth: {path}: {message}")]
    Key {
        /// The file (or `secret`).
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A TLS certificate or key file could not be used.
    #[error("gateway.tls.{key}: {source}", key = .source.key)]
    Tls {
        /// The file and what is wrong.
        #[from]
        source: crate::tls::TlsFileError,
    },
    /// A feature the config asks for is not available in this build.
    #[error("{0}")]
    Unsupported(String),
    /// Accepting or serving failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: &'static str,
        /// The error.
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_upstream_failures_are_retryable() {
        let addr = "127.0.0.1:1".parse().unwrap();
        assert!(
            GatewayError::Upstream {
                instance: addr,
                message: "reset".into(),
                connect: false
            }
            .retryable()
        );
        assert!(!GatewayError::Timeout(Duration::from_secs(1)).retryable());
        assert_eq!(GatewayError::Overloaded.status(), 503);
        assert_eq!(
            GatewayError::Unauthorized { reason: "x".into() }.source_kind(),
            ErrorSource::Client
        );
    }
}
