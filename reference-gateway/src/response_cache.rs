//! The response cache's store: bounded by moka, each entry with its expiry (checked
//! against tokio's clock, so tests can pause time). The gateway's state holds one for its
//! whole life; what is cached, under which key, is the cache step's
//! ([`crate::pipeline::cache`]).

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use tokio::time::Instant;

use crate::config::CacheConfig;

/// A stored response.
pub struct Cached {
    /// Its status.
    pub status: StatusCode,
    /// Its header fields.
    pub headers: HeaderMap,
    /// Its whole body.
    pub body: Bytes,
    expires: Instant,
}

/// The bounded cache.
pub struct ResponseCache {
    inner: moka::future::Cache<String, Arc<Cached>>,
}

impl ResponseCache {
    /// A cache bounded by `max_entries`.
    pub fn new(cfg: &CacheConfig) -> Self {
        Self {
            inner: moka::future::Cache::builder()
                .max_capacity(cfg.max_entries.get())
                // A wall-clock backstop so expired entries also leave memory.
                .time_to_live(cfg.ttl.max(std::time::Duration::from_secs(1)) * 2)
                .build(),
        }
    }

    /// The entry under `key` while it is fresh; an expired one is removed.
    pub async fn fresh(&self, key: &str) -> Option<Arc<Cached>> {
        let c = self.inner.get(key).await?;
        if c.expires > Instant::now() {
            return Some(c);
        }
        self.inner.invalidate(key).await;
        None
    }

    /// Stores a response under `key` for `ttl`.
    pub async fn insert(
        &self,
        key: String,
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        ttl: std::time::Duration,
    ) {
        let expires = Instant::now() + ttl;
        let entry = Cached {
            status,
            headers,
            body,
            expires,
        };
        self.inner.insert(key, Arc::new(entry)).await;
    }
}
