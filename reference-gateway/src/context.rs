//! Per-request context: created once by the trace step and lent to every later step of
//! the pipeline ([`crate::pipeline`]), so that the access log and metrics see what each
//! step decided even when the request ends in an error.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use http::HeaderValue;
use tokio::time::Instant;

use crate::routing::RouteMiss;
use crate::state::Snapshot;

/// What the cache did for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CacheOutcome {
    /// Not a cacheable request.
    None = 0,
    /// Served from cache.
    Hit = 1,
    /// Fetched (and stored if cacheable).
    Miss = 2,
}

/// What the limiter decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LimitOutcome {
    /// No plan applied.
    None = 0,
    /// Admitted.
    Allowed = 1,
    /// Token bucket empty.
    Throttled = 2,
    /// Quota used up.
    QuotaExhausted = 3,
}

/// What the gateway knows and decided about one request.
pub struct RequestContext {
    /// The configuration snapshot this request runs under (stable across a reload).
    pub snap: Arc<Snapshot>,
    /// `X-Request-Id`, propagated or generated.
    pub request_id: HeaderValue,
    /// When the gateway received the request.
    pub start: Instant,
    route: OnceLock<Result<usize, RouteMiss>>,
    /// Tenant, set once by auth.
    pub tenant: OnceLock<Arc<str>>,
    /// The tenant as a header value, set by auth for a known tenant (made once per
    /// configuration rather than per request).
    pub tenant_header: OnceLock<http::HeaderValue>,
    upstream: Mutex<Option<SocketAddr>>,
    attempts: AtomicU32,
    tried: AtomicU64,
    cache: AtomicU8,
    limit: AtomicU8,
}

impl RequestContext {
    pub(crate) fn new(snap: Arc<Snapshot>, request_id: HeaderValue) -> Self {
        Self {
            snap,
            request_id,
            start: Instant::now(),
            route: OnceLock::new(),
            tenant: OnceLock::new(),
            tenant_header: OnceLock::new(),
            upstream: Mutex::new(None),
            attempts: AtomicU32::new(0),
            tried: AtomicU64::new(0),
            cache: AtomicU8::new(0),
            limit: AtomicU8::new(0),
        }
    }

    /// The matched route (index into `snap.routes`), resolved once on first use: auth
    /// needs its scopes, the limiter its plan, the cache its flag, before the route step.
    pub fn route(&self, method: &http::Method, path: &str) -> Result<usize, RouteMiss> {
        *self
            .route
            .get_or_init(|| self.snap.router.resolve(method, path))
    }

    /// The overall deadline of this request: its route's `timeout`, else the
    /// gateway's `request_timeout` (also for a request that matches no route).
    pub fn deadline_limit(&self, method: &http::Method, path: &str) -> std::time::Duration {
        self.route(method, path)
            .ok()
            .and_then(|i| self.snap.router.routes[i].config.timeout)
            .unwrap_or(self.snap.config.request_timeout)
    }

    /// The route resolved earlier, if any.
    pub fn resolved_route(&self) -> Option<usize> {
        self.route.get().and_then(|r| r.ok())
    }

    /// Instances (bit i = instance i of the route's pool) already tried by this request.
    pub fn tried(&self) -> u64 {
        self.tried.load(Ordering::Relaxed)
    }

    pub(crate) fn set_upstream(&self, index: usize, addr: SocketAddr) {
        self.tried.fetch_or(1 << index, Ordering::Relaxed);
        if let Ok(mut g) = self.upstream.lock() {
            *g = Some(addr);
        }
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }

    /// Last instance tried.
    pub fn upstream(&self) -> Option<SocketAddr> {
        self.upstream.lock().ok().and_then(|g| *g)
    }

    /// Attempts sent upstream.
    pub fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::Relaxed)
    }

    pub(crate) fn set_cache(&self, c: CacheOutcome) {
        self.cache.store(c as u8, Ordering::Relaxed);
    }

    /// Cache outcome.
    pub fn cache(&self) -> CacheOutcome {
        match self.cache.load(Ordering::Relaxed) {
            1 => CacheOutcome::Hit,
            2 => CacheOutcome::Miss,
            _ => CacheOutcome::None,
        }
    }

    pub(crate) fn set_limit(&self, l: LimitOutcome) {
        self.limit.store(l as u8, Ordering::Relaxed);
    }

    /// Limiter outcome.
    pub fn limit(&self) -> LimitOutcome {
        match self.limit.load(Ordering::Relaxed) {
            1 => LimitOutcome::Allowed,
            2 => LimitOutcome::Throttled,
            3 => LimitOutcome::QuotaExhausted,
            _ => LimitOutcome::None,
        }
    }
}
