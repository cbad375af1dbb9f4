//! Usage-plan limiter state: where token buckets and quotas live.
//!
//! [`LocalStore`] is exact and in-process (GCRA per key with one atomic compare-and-swap,
//! keys in a sharded map: no global lock). A shared store (Redis with an atomic Lua
//! script, issue 10) implements [`RateLimitStore`] and plugs in as [`Limiter::Shared`];
//! the local store stays a plain enum arm so the common case pays no boxed future.

mod local;
#[cfg(feature = "redis-store")]
mod redis;

use std::sync::Arc;

use futures::future::BoxFuture;

pub use local::LocalStore;
#[cfg(feature = "redis-store")]
pub use redis::{ClockUs, RedisStore};

use crate::config::Plan;
use crate::error::{GatewayError, LimitInfo};

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admitted; the numbers feed the `RateLimit-*` headers.
    Allowed(LimitInfo),
    /// The bucket is empty.
    Throttled(LimitInfo),
    /// The quota of the current period is used up.
    QuotaExhausted(LimitInfo),
}

/// A place that keeps limiter state and decides atomically.
pub trait RateLimitStore: Send + Sync + 'static {
    /// Takes one request from `key`'s bucket (and quota) under `plan`.
    fn check<'a>(
        &'a self,
        key: &'a str,
        plan: &'a Plan,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>>;
}

/// The limiter used by the rate-limit layer.
pub enum Limiter {
    /// Exact and local (default).
    Local(LocalStore),
    /// Any other store (shared among gateway instances).
    Shared(Arc<dyn RateLimitStore>),
}

impl Limiter {
    /// Takes one request from `key` under `plan`.
    pub async fn check(&self, key: &str, plan: &Plan) -> Result<Decision, GatewayError> {
        match self {
            Limiter::Local(l) => Ok(l.check_now(key, plan)),
            Limiter::Shared(s) => s.check(key, plan).await,
        }
    }
}
