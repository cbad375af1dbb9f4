//! Gateway state: the immutable [`Snapshot`] built from one [`Config`] (compiled routes,
//! loaded keys, pools), swapped atomically on reload, and [`GatewayState`], the state that
//! outlives reloads (limiter, cache, retry budget, metrics, upstream client).
//!
//! A request loads the snapshot once (in the trace step) and keeps it to the end, so a
//! reload never changes the rules under a request in flight, and old pools (with their
//! health checkers) live exactly as long as requests still use them.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Plan, RateLimitStoreConfig};
use crate::error::Error;
use crate::jwt::Verifier;
use crate::metrics::Metrics;
use crate::ratelimit::{Limiter, LocalStore};
use crate::response_cache::ResponseCache;
use crate::retry_budget::RetryBudget;
use crate::routing::{Route, Router};
use crate::upstream::client::{self, UpstreamClient};
use crate::upstream::pool::Pool;

/// A tenant's plan with its interned id (shared by logs and metrics without copying).
pub struct TenantPlan {
    /// Tenant id.
    pub id: Arc<str>,
    /// The id as a header value (for the tenant header), made once; `None` when the id
    /// cannot be one.
    pub header: Option<http::HeaderValue>,
    /// Plan.
    pub plan: Plan,
}

/// Everything derived from one configuration.
pub struct Snapshot {
    /// The configuration.
    pub config: Arc<Config>,
    /// Compiled routes.
    pub router: Router,
    /// Token verifier (`None` without `[gateway.auth]`).
    pub verifier: Option<Verifier>,
    /// Plans by tenant id. Hashed with foldhash, not SipHash (two lookups per limited
    /// request): the keys come from the configuration and requests only look them up,
    /// so no client can collide them.
    pub plans: HashMap<Box<str>, TenantPlan, foldhash::fast::RandomState>,
    /// `[[gateway.api_keys]]`, by key.
    pub api_keys: crate::pipeline::api_key::ApiKeys,
    /// Pools by upstream name.
    pub pools: BTreeMap<String, Arc<Pool>>,
}

impl Snapshot {
    /// Validates `config`, reads key files and builds pools, reusing `old`'s pools whose
    /// configuration is unchanged (their health state and connections survive a reload).
    pub fn build(
        config: Arc<Config>,
        old: Option<&Snapshot>,
        client: &UpstreamClient,
        shutdown: &CancellationToken,
    ) -> Result<Self, Error> {
        config.validate()?;
        let verifier = config.auth.as_ref().map(Verifier::new).transpose()?;
        let mut pools = BTreeMap::new();
        for (name, u) in &config.upstreams {
            let pool = match old.and_then(|o| o.pools.get(name)) {
                Some(p) if p.config == *u => p.clone(),
                _ => Pool::new(name, u, client.clone(), shutdown),
            };
            pools.insert(name.clone(), pool);
        }
        let routes = config
            .routes
            .iter()
            .map(|r| Route {
                name: Arc::from(r.path.as_str()),
                config: r.clone(),
                allow: r
                    .methods
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                pool: pools[&r.upstream].clone(),
                plan_key: format!("\0{}", r.path),
            })
            .collect();
        let plans = config
            .tenants
            .iter()
            .map(|t| {
                (
                    t.id.clone().into_boxed_str(),
                    TenantPlan {
                        id: Arc::from(t.id.as_str()),
                        header: http::HeaderValue::from_str(&t.id).ok(),
                        plan: t.plan,
                    },
                )
            })
            .collect();
        let api_keys = crate::pipeline::api_key::ApiKeys::new(&config.api_keys);
        Ok(Self {
            config,
            router: Router::new(routes),
            verifier,
            plans,
            api_keys,
            pools,
        })
    }
}

/// A gateway's state that outlives reloads.
pub struct GatewayState {
    /// The current snapshot.
    pub current: ArcSwap<Snapshot>,
    /// Usage-plan state.
    pub limiter: Limiter,
    /// Response cache.
    pub cache: ResponseCache,
    /// Retry budget.
    pub budget: RetryBudget,
    /// Counters.
    pub metrics: Metrics,
    /// Pooled upstream client.
    pub client: UpstreamClient,
    /// The gateway's shutdown token.
    pub shutdown: CancellationToken,
    /// Set while draining: `/readyz` answers 503.
    pub draining: AtomicBool,
    // Reloads are serialized so two SIGHUPs cannot interleave pool reuse.
    reload: Mutex<()>,
}

impl GatewayState {
    /// Builds everything from `config` with the local limiter; must run inside a tokio
    /// runtime. A Redis store needs [`GatewayState::with_limiter`] (it connects asynchronously).
    pub fn new(config: Config, shutdown: CancellationToken) -> Result<Arc<Self>, Error> {
        if let RateLimitStoreConfig::Redis { url } = &config.rate_limit.store {
            return Err(Error::Unsupported(format!(
                "gateway.rate_limit.store: {url:?}: a shared store needs Gateway::start (async) and the `redis-store` feature"
            )));
        }
        Self::with_limiter(config, shutdown, Limiter::Local(LocalStore::new()))
    }

    /// Builds everything with the given limiter store.
    pub fn with_limiter(
        config: Config,
        shutdown: CancellationToken,
        limiter: Limiter,
    ) -> Result<Arc<Self>, Error> {
        let metrics = Metrics::default();
        let client = client::build(
            config.upstream_connect_timeout,
            metrics.stale_resends.clone(),
        );
        let config = Arc::new(config);
        let snap = Snapshot::build(config.clone(), None, &client, &shutdown)?;
        Ok(Arc::new(Self {
            current: ArcSwap::from_pointee(snap),
            limiter,
            cache: ResponseCache::new(&config.cache),
            budget: RetryBudget::new(&config.retry_budget),
            metrics,
            client,
            shutdown,
            draining: AtomicBool::new(false),
            reload: Mutex::new(()),
        }))
    }

    /// Swaps in a new configuration, or refuses it and keeps the old one.
    pub fn reload(&self, config: Config) -> Result<(), Error> {
        let _guard = self.reload.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.current.load_full();
        if config.rate_limit.store != old.config.rate_limit.store {
            return Err(Error::Unsupported(
                "gateway.rate_limit.store: changing the limiter store needs a restart".into(),
            ));
        }
        let snap = Snapshot::build(Arc::new(config), Some(&old), &self.client, &self.shutdown)?;
        self.budget.reconfigure(&snap.config.retry_budget);
        self.current.store(Arc::new(snap));
        tracing::info!("gateway configuration reloaded");
        Ok(())
    }
}
