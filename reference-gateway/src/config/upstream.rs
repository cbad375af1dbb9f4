//! Routes and upstream pools: `[[gateway.routes]]` (path, methods, rewrite, retries,
//! per-route plan, cache, scopes) and `[upstreams.NAME]` (instances, balancing, health
//! checks, outlier ejection). Re-exported from [`crate::config`].

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use http::{HeaderName, Method};

use std::collections::BTreeMap;

use super::{Plan, Problems};

/// One `[[gateway.routes]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    /// `path`: prefix matched on segment boundaries (`/items` matches `/items/7`, not `/itemsx`).
    pub path: String,
    /// `upstream`: a key of [`Config::upstreams`].
    pub upstream: String,
    /// `methods`; empty = any method. Another method on a matched path → 405.
    pub methods: Vec<Method>,
    /// `cache`: cache GET responses of this route.
    pub cache: bool,
    /// `retry = { attempts, per_try_timeout }`; `None` = one attempt, no per-try timeout.
    pub retry: Option<RetryConfig>,
    /// `strip_prefix = true` or `rewrite = "/v2"`.
    pub rewrite: Rewrite,
    /// `scopes`: all must be granted by the token → else 403.
    pub scopes: Vec<String>,
    /// `plan`: overrides the tenant's plan on this route, with its own bucket per tenant.
    pub plan: Option<Plan>,
    /// `timeout`: this route's overall deadline (retries included) → 504; `None` =
    /// [`Config::request_timeout`].
    pub timeout: Option<Duration>,
}

impl RouteConfig {
    /// What the types cannot say: a `/` path and rewrite, a known upstream, positive timeouts.
    pub(crate) fn check(
        &self,
        at: &str,
        upstreams: &BTreeMap<String, UpstreamConfig>,
        p: &mut Problems,
    ) {
        p.check(
            self.path.starts_with('/'),
            format!("{at}.path"),
            format!("must start with '/', got {:?}", self.path),
        );
        p.check(
            upstreams.contains_key(&self.upstream),
            format!("{at}.upstream"),
            format!(
                "unknown upstream {:?} (known: {:?})",
                self.upstream,
                upstreams.keys().collect::<Vec<_>>()
            ),
        );
        p.check(
            self.timeout.is_none_or(|t| !t.is_zero()),
            format!("{at}.timeout"),
            "must be > 0",
        );
        if let Some(retry) = &self.retry {
            p.check(
                !retry.per_try_timeout.is_zero(),
                format!("{at}.retry.per_try_timeout"),
                "must be > 0",
            );
        }
        if let Rewrite::ReplacePrefix(r) = &self.rewrite {
            p.check(
                r.starts_with('/'),
                format!("{at}.rewrite"),
                format!("must start with '/', got {r:?}"),
            );
        }
        if let Some(plan) = &self.plan {
            plan.check(&format!("{at}.plan"), p);
        }
    }

    /// A route with defaults: any method, no cache, no retry, path kept.
    pub fn new(path: impl Into<String>, upstream: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            upstream: upstream.into(),
            methods: Vec::new(),
            cache: false,
            retry: None,
            rewrite: Rewrite::Keep,
            scopes: Vec::new(),
            plan: None,
            timeout: None,
        }
    }
}

/// `retry = { attempts = 3, per_try_timeout = "500ms" }`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    /// Total attempts including the first.
    pub attempts: NonZeroU32,
    /// Deadline for each attempt's response head.
    pub per_try_timeout: Duration,
}

/// Path rewriting before the upstream.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Rewrite {
    /// Forward the path as received.
    #[default]
    Keep,
    /// Remove the route prefix (`/items/7` → `/7`).
    StripPrefix,
    /// Replace the route prefix (`/items/7` with `/v2` → `/v2/7`).
    ReplacePrefix(String),
}

/// One `[upstreams.NAME]` pool.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamConfig {
    /// `targets`: instance addresses (≤ 64).
    pub targets: Vec<SocketAddr>,
    /// `zones`: assigned round-robin to targets (reporting only).
    pub zones: Vec<String>,
    /// `balance`.
    pub balance: Balance,
    /// `health = { … }`; `None` = every instance counts as healthy.
    pub health: Option<HealthConfig>,
    /// `outlier = { … }`; `None` = no passive ejection.
    pub outlier: Option<OutlierConfig>,
    /// `tls = { … }`: the instances are spoken to over TLS.
    pub tls: Option<crate::tls::UpstreamTls>,
}

impl UpstreamConfig {
    /// What the types cannot say: 1 to 64 targets, a `/` health path, positive probe
    /// times, an ejection share in 0..=1.
    pub(crate) fn check(&self, at: &str, p: &mut Problems) {
        p.check(
            !self.targets.is_empty(),
            format!("{at}.targets"),
            "needs at least one target",
        );
        p.check(
            self.targets.len() <= 64,
            format!("{at}.targets"),
            format!(
                "at most 64 instances per upstream, got {}",
                self.targets.len()
            ),
        );
        if let Some(h) = &self.health {
            p.check(
                h.path.starts_with('/'),
                format!("{at}.health.path"),
                format!("must start with '/', got {:?}", h.path),
            );
            p.check(
                !h.interval.is_zero(),
                format!("{at}.health.interval"),
                "must be > 0",
            );
            p.check(
                !h.timeout.is_zero(),
                format!("{at}.health.timeout"),
                "must be > 0",
            );
        }
        if let Some(o) = &self.outlier {
            p.check(
                (0.0..=1.0).contains(&o.max_ejected),
                format!("{at}.outlier.max_ejected"),
                format!("must be a share in 0..=1, got {}", o.max_ejected),
            );
        }
    }

    /// Round-robin over `targets`, no health checks, no outlier ejection.
    pub fn new(targets: Vec<SocketAddr>) -> Self {
        Self {
            targets,
            zones: Vec::new(),
            balance: Balance::RoundRobin,
            health: None,
            outlier: None,
            tls: None,
        }
    }
}

/// `balance = "round-robin" | "least-request" | "random" | "hash:<header>"`.
#[derive(Debug, Clone, PartialEq)]
pub enum Balance {
    /// Each healthy instance in turn.
    RoundRobin,
    /// Power of two random choices, fewer requests in flight wins.
    LeastRequest,
    /// Uniformly random.
    Random,
    /// Consistent on a request header's value (rendezvous hashing over the healthy set).
    Hash(HeaderName),
}

/// `health = { path, interval, timeout, unhealthy_after, healthy_after }`.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    /// GET path; 2xx = pass.
    pub path: String,
    /// Time between probes.
    pub interval: Duration,
    /// A probe slower than this fails.
    pub timeout: Duration,
    /// Consecutive failures that mark an instance unhealthy.
    pub unhealthy_after: NonZeroU32,
    /// Consecutive passes that mark it healthy again.
    pub healthy_after: NonZeroU32,
}

/// `outlier = { consecutive_failures, ejection, max_ejected }`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierConfig {
    /// Consecutive failed attempts (connect error, reset, 502/503/504, per-try timeout).
    pub consecutive_failures: NonZeroU32,
    /// First ejection length; doubles on each repeat (capped at 2^5 ×).
    pub ejection: Duration,
    /// Largest share of the pool ejected at once (0..=1; default 0.5).
    pub max_ejected: f64,
}
