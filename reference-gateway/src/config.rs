//! The gateway's validated domain configuration.
//!
//! This crate does not parse TOML itself: [`raw`] is the configuration as written (serde,
//! `deny_unknown_fields`), [`from_raw`] checks it into the types below, reporting every
//! problem at its path through [`check::Check`], and [`to_raw`] writes them back. The
//! `ninefold` crate embeds the raw tree in its scenario and gateway-file formats and
//! calls these checks for the gateway's keys. Every
//! duration is a [`Duration`], every count that must be positive a `NonZero*`, every
//! address a [`std::net::SocketAddr`]; what the types cannot express (a rate is positive and finite,
//! a route names a known upstream…) is checked by [`Config::validate`], which collects
//! every problem with its path, as `routes[1].upstream: unknown upstream "apii"`.

use std::collections::BTreeMap;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

pub use jsonwebtoken::Algorithm;

mod api_keys;
pub mod check;
pub mod from_raw;
pub mod human;
pub mod raw;
pub mod to_raw;
mod upstream;
pub use api_keys::ApiKeyConfig;
pub use upstream::*;

/// The whole gateway configuration (`[gateway]` plus `[upstreams]` and `[[tenants]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[gateway] request_timeout`: overall deadline of a request, retries included → 504.
    pub request_timeout: Duration,
    /// Connection-level hardening; read once when the listener starts (not reloaded).
    pub server: ServerLimits,
    /// `[gateway.auth]`; `None` lets every request through without a tenant.
    pub auth: Option<AuthConfig>,
    /// `[gateway.cache]`: the response cache shared by routes with `cache = true`.
    pub cache: CacheConfig,
    /// `[gateway.rate_limit]`.
    pub rate_limit: RateLimitConfig,
    /// `[[gateway.routes]]`, matched by longest path prefix, then method.
    pub routes: Vec<RouteConfig>,
    /// `[upstreams.NAME]`, keyed by NAME.
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    /// `[[tenants]]`: usage plans keyed by tenant id (the usage key).
    pub tenants: Vec<TenantConfig>,
    /// `[[gateway.api_keys]]`: `x-api-key` values and their tenants (empty: no key asked).
    pub api_keys: Vec<ApiKeyConfig>,
    /// Header transforms applied to every proxied request and response.
    pub transform: TransformConfig,
    /// Share of requests that may be retried (finagle/linkerd style budget).
    pub retry_budget: RetryBudgetConfig,
    /// Connect timeout towards upstream instances.
    pub upstream_connect_timeout: Duration,
    /// Emit one JSON access-log line per request (tracing target `access`).
    pub access_log: bool,
}

impl Config {
    /// A configuration with the given upstreams and routes and defaults for everything else:
    /// no auth, local limiter, 2 s request timeout.
    pub fn new(upstreams: BTreeMap<String, UpstreamConfig>, routes: Vec<RouteConfig>) -> Self {
        Self {
            request_timeout: Duration::from_secs(2),
            server: ServerLimits::default(),
            auth: None,
            cache: CacheConfig::default(),
            rate_limit: RateLimitConfig::default(),
            routes,
            upstreams,
            tenants: Vec::new(),
            api_keys: Vec::new(),
            transform: TransformConfig::default(),
            retry_budget: RetryBudgetConfig::default(),
            upstream_connect_timeout: Duration::from_secs(1),
            access_log: true,
        }
    }

    /// Checks everything the types cannot; returns all problems at once, each with its path.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut p = Problems::default();
        p.check(
            !self.request_timeout.is_zero(),
            "gateway.request_timeout",
            "must be > 0",
        );
        if let Some(auth) = &self.auth {
            auth.check(&mut p);
        }
        p.check(
            !self.cache.ttl.is_zero(),
            "gateway.cache.ttl",
            "must be > 0",
        );
        if let UnknownTenant::Plan(plan) = &self.rate_limit.unknown_tenant {
            plan.check("gateway.rate_limit.unknown_tenant", &mut p);
        }
        for (i, r) in self.routes.iter().enumerate() {
            r.check(&format!("gateway.routes[{i}]"), &self.upstreams, &mut p);
        }
        for (name, u) in &self.upstreams {
            u.check(&format!("upstreams.{name}"), &mut p);
        }
        let mut seen = std::collections::HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            let at = format!("tenants[{i}]");
            p.check(
                seen.insert(t.id.as_str()),
                format!("{at}.id"),
                format!("duplicate tenant {:?}", t.id),
            );
            t.plan.check(&format!("{at}.plan"), &mut p);
        }
        api_keys::check(&self.api_keys, &self.tenants, &mut p);
        p.check(
            (0.0..=10.0).contains(&self.retry_budget.ratio),
            "gateway.retry_budget.ratio",
            format!("must be in 0..=10, got {}", self.retry_budget.ratio),
        );
        if p.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems: p.0 })
        }
    }
}

/// `path: message` lines collected by [`Config::validate`].
#[derive(Default)]
pub(crate) struct Problems(Vec<String>);

impl Problems {
    /// Records `path: msg` unless `ok`.
    pub(crate) fn check(&mut self, ok: bool, path: impl Into<String>, msg: impl Into<String>) {
        if !ok {
            self.0.push(format!("{}: {}", path.into(), msg.into()));
        }
    }
}

impl AuthConfig {
    fn check(&self, p: &mut Problems) {
        p.check(
            !self.tenant_claim.is_empty(),
            "gateway.auth.tenant_claim",
            "must not be empty",
        );
        if let KeySource::Secret(s) = &self.key {
            p.check(!s.is_empty(), "gateway.auth.secret", "must not be empty");
            p.check(
                matches!(
                    self.algorithm,
                    Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
                ),
                "gateway.auth.algorithm",
                format!(
                    "{:?} needs key_file or jwks_file, not a secret",
                    self.algorithm
                ),
            );
        }
    }
}

/// Every problem found by [`Config::validate`], each prefixed with its path.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid gateway configuration: {}", problems.join("; "))]
pub struct ConfigError {
    /// `path: message` lines.
    pub problems: Vec<String>,
}

/// Connection-level limits (hardening).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerLimits {
    /// Largest request head in bytes (request line + headers) → 431.
    pub max_header_bytes: NonZeroUsize,
    /// Most request headers → 431.
    pub max_headers: NonZeroUsize,
    /// Largest request body → 413 (bodies are buffered so that retries can replay them).
    pub max_body_bytes: NonZeroUsize,
    /// A client must send its whole request head within this time (slowloris).
    pub header_read_timeout: Duration,
    /// Open client connections; further clients wait in the kernel's accept backlog.
    pub max_connections: NonZeroUsize,
    /// Requests in flight; one more is shed with 503 at once, never queued.
    pub max_in_flight: NonZeroUsize,
    /// How long a graceful drain waits for open requests on shutdown.
    pub drain_timeout: Duration,
    /// `[gateway.tls]`: the listener speaks TLS with this certificate and key.
    pub tls: Option<crate::tls::ServerTls>,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: NonZeroUsize::new(16 * 1024).expect("non-zero"),
            max_headers: NonZeroUsize::new(100).expect("non-zero"),
            max_body_bytes: NonZeroUsize::new(1024 * 1024).expect("non-zero"),
            header_read_timeout: Duration::from_secs(10),
            max_connections: NonZeroUsize::new(10_000).expect("non-zero"),
            max_in_flight: NonZeroUsize::new(10_000).expect("non-zero"),
            drain_timeout: Duration::from_secs(10),
            tls: None,
        }
    }
}

/// `[gateway.auth]`: JWT bearer tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthConfig {
    /// `algorithm`: the one algorithm accepted (pinned; a JWKS key's own `alg` must agree).
    pub algorithm: Algorithm,
    /// `secret` / `key_file` / `jwks_file`.
    pub key: KeySource,
    /// `issuer`: required `iss` when set.
    pub issuer: Option<String>,
    /// `audience`: required `aud` when set.
    pub audience: Option<String>,
    /// `tenant_claim`: the claim naming the tenant (usage key), e.g. `tenant_id`.
    pub tenant_claim: String,
    /// Claim holding granted scopes: a space-separated string or an array of strings.
    pub scope_claim: String,
    /// Clock-skew leeway for `exp` and `nbf` (default 5 s, not jsonwebtoken's 60 s).
    pub leeway: Duration,
}

impl AuthConfig {
    /// HS* auth with a shared secret and the defaults (`tenant_id`, `scope`, 5 s leeway).
    pub fn hmac(algorithm: Algorithm, secret: impl Into<Vec<u8>>) -> Self {
        Self {
            algorithm,
            key: KeySource::Secret(secret.into()),
            issuer: None,
            audience: None,
            tenant_claim: "tenant_id".into(),
            scope_claim: "scope".into(),
            leeway: Duration::from_secs(5),
        }
    }
}

/// Where verification keys come from. Files are (re-)read on start and on every reload.
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    /// `secret = "…"`: HMAC key bytes.
    Secret(Vec<u8>),
    /// `key_file = "public.pem"`: an RSA, EC or Ed25519 public key in PEM.
    PemFile(PathBuf),
    /// `jwks_file = "jwks.json"`: a JWK set; the token's `kid` selects the key.
    JwksFile(PathBuf),
}

/// `[gateway.cache]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// `ttl`: how long a cached response is served.
    pub ttl: Duration,
    /// `max_entries`: bound of the cache (LRU-ish eviction by moka).
    pub max_entries: NonZeroU64,
    /// Request headers whose values join the cache key (besides tenant, path and query).
    pub vary: Vec<HeaderName>,
    /// Responses with larger bodies are passed through uncached.
    pub max_body_bytes: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(5),
            max_entries: NonZeroU64::new(10_000).expect("non-zero"),
            vary: Vec::new(),
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// `[gateway.rate_limit]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    /// `store`: where limiter state lives.
    pub store: RateLimitStoreConfig,
    /// What a tenant without a `[[tenants]]` entry gets.
    pub unknown_tenant: UnknownTenant,
    /// When a shared store cannot answer (Redis down or hung past its
    /// timeout): `true` admits the request unmetered (fail open, the default:
    /// availability over exact limits), `false` refuses it with a 502
    /// `limiter_unavailable` (fail closed). Either way
    /// `gateway_limiter_unavailable_total` counts it.
    pub fail_open: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            store: RateLimitStoreConfig::default(),
            unknown_tenant: UnknownTenant::default(),
            fail_open: true,
        }
    }
}

/// `store = "local" | "redis://…"`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum RateLimitStoreConfig {
    /// Exact, in-process, lock-free per key.
    #[default]
    Local,
    /// Shared among gateway instances (feature `redis-store`; needs [`crate::Gateway::start`]).
    Redis {
        /// `redis://host:port/db`.
        url: String,
    },
}

/// Policy for tenants absent from `[[tenants]]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum UnknownTenant {
    /// 403 Forbidden.
    #[default]
    Reject,
    /// A default plan, counted per tenant.
    Plan(Plan),
    /// No limit.
    Unlimited,
}

/// A usage plan (AWS API Gateway semantics): a token bucket plus an optional quota.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// `rate`: tokens refilled per second (> 0, finite).
    pub rate: f64,
    /// `burst`: bucket size.
    pub burst: NonZeroU32,
    /// `quota`: requests per period.
    pub quota: Option<Quota>,
}

impl Plan {
    pub(crate) fn check(&self, at: &str, p: &mut Problems) {
        p.check(
            self.rate.is_finite() && self.rate > 0.0 && self.rate <= 1e9,
            format!("{at}.rate"),
            format!("must be > 0 and finite, got {}", self.rate),
        );
        if let Some(q) = &self.quota
            && let QuotaPeriod::Every(d) = q.period
        {
            p.check(!d.is_zero(), format!("{at}.quota.period"), "must be > 0");
        }
    }
}

/// `quota = { limit, period }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests admitted per period.
    pub limit: NonZeroU64,
    /// Period length; windows start when the limiter starts.
    pub period: QuotaPeriod,
}

/// `period = "day" | "week" | "month" | "<duration>"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaPeriod {
    /// 24 h.
    Day,
    /// 7 days.
    Week,
    /// 30 days.
    Month,
    /// Any duration (tests).
    Every(Duration),
}

impl QuotaPeriod {
    /// The period as a duration (a month counts 30 days).
    pub fn duration(self) -> Duration {
        match self {
            Self::Day => Duration::from_secs(86_400),
            Self::Week => Duration::from_secs(7 * 86_400),
            Self::Month => Duration::from_secs(30 * 86_400),
            Self::Every(d) => d,
        }
    }
}

/// One `[[tenants]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantConfig {
    /// `id`: the usage key; compared with the JWT's tenant claim.
    pub id: String,
    /// `plan`.
    pub plan: Plan,
}

/// Header transforms.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformConfig {
    /// Header set to the tenant id from the token (default `x-tenant-id`).
    pub tenant_header: Option<HeaderName>,
    /// Forward `Authorization` to the upstream (default: stripped).
    pub keep_authorization: bool,
    /// Operations on the request before the upstream.
    pub request: HeaderOps,
    /// Operations on the response before the client.
    pub response: HeaderOps,
}

impl Default for TransformConfig {
    fn default() -> Self {
        Self {
            tenant_header: Some(HeaderName::from_static("x-tenant-id")),
            keep_authorization: false,
            request: HeaderOps::default(),
            response: HeaderOps::default(),
        }
    }
}

/// Header operations, applied in the order remove → rename → set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HeaderOps {
    /// Headers removed.
    pub remove: Vec<HeaderName>,
    /// Headers renamed (from, to), values kept.
    pub rename: Vec<(HeaderName, HeaderName)>,
    /// Headers set (replacing any value).
    pub set: Vec<(HeaderName, HeaderValue)>,
}

/// Retry budget: retries ≤ `ratio` × requests, plus `min_retries_per_sec` in every second
/// (a floor, so a quiet gateway can still retry). Failover of attempts that never reached
/// an upstream is not charged to it.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryBudgetConfig {
    /// Retries allowed per request (default 0.2).
    pub ratio: f64,
    /// Retries always allowed in each second, whatever the traffic (default 10).
    pub min_retries_per_sec: u32,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        Self {
            ratio: 0.2,
            min_retries_per_sec: 10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_collects_every_problem_with_its_path() {
        let mut c = Config::new(BTreeMap::new(), vec![RouteConfig::new("items", "api")]);
        c.tenants.push(TenantConfig {
            id: "a".into(),
            plan: Plan {
                rate: 0.0,
                burst: NonZeroU32::MIN,
                quota: None,
            },
        });
        let err = c.validate().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("gateway.routes[0].path"), "{text}");
        assert!(
            text.contains("gateway.routes[0].upstream: unknown upstream"),
            "{text}"
        );
        assert!(text.contains("tenants[0].plan.rate"), "{text}");
        assert_eq!(err.problems.len(), 3);
    }
}
