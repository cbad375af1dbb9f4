//! The reference API gateway: one request path of plain async steps ([`pipeline`]) behind
//! its own HTTP/1.1 connection handling ([`server`]; HTTP/2 clients through hyper's
//! HTTP/2 server, [`server::h2`]), one file per concern.
//!
//! ```text
//!  client ──► [data listener] server::conn ──► pipeline::Pipeline: trace ► load shed ► timeout
//!               (conn permits, header          ► head limits ► auth ► rate limit ► route check
//!                read timeout, drain)          ► body ► cache ► transform ► route ► retry
//!                                              ► balance ──► instances (pooled keep-alive)
//!                                                   ▲        errors ► rescue (status + JSON)
//!                                       health checker (per pool) ── watch
//!  ops ────► [admin listener] axum: /metrics /healthz /readyz
//! ```
//!
//! The configuration is the validated [`Config`] (this crate parses no files). A
//! [`Gateway`] owns the [`state::GatewayState`]: the configuration [`state::Snapshot`],
//! and what outlives a reload (the limiter stores of [`ratelimit`], the
//! [`response_cache`], the [`retry_budget`], [`metrics`], the upstream client). Its
//! [`ConfigHandle`] swaps a new configuration in atomically (SIGHUP) while requests in
//! flight finish under the old one. A refused request is refused on its head: its body is
//! read only after the route check. Logs go through [`logging`]'s bounded non-blocking
//! writers.

pub mod admin;
pub mod body;
pub mod config;
pub mod context;
pub mod error;
pub mod jwt;
pub mod logging;
pub mod metrics;
pub mod pipeline;
pub mod ratelimit;
pub mod response_cache;
pub mod retry_budget;
pub mod routing;
pub mod server;
pub mod state;
pub mod tls;
pub mod upstream;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower::util::BoxCloneService;

pub use body::{Body, Response};
pub use config::*;
pub use error::{BoxError, Error, ErrorSource, GatewayError};

use state::GatewayState;

/// The request path as one boxed, cloneable service (for `tower::ServiceExt::oneshot` in tests).
pub type App<B> = BoxCloneService<http::Request<B>, Response, Infallible>;

/// A running gateway's state: configuration, pools and their health checkers, limiter,
/// cache, metrics. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    state: Arc<GatewayState>,
}

/// Swaps the configuration of a running gateway (SIGHUP). Cheap to clone.
#[derive(Clone)]
pub struct ConfigHandle {
    state: Arc<GatewayState>,
}

impl ConfigHandle {
    /// Validates `config`, re-reads key files and swaps it in atomically. On error the old
    /// configuration keeps serving and the error names every problem with its path.
    /// Listener-level limits (`server`) and the cache bound apply from the next start.
    pub fn reload(&self, config: Config) -> Result<(), Error> {
        self.state.reload(config)
    }

    /// The configuration now in force.
    pub fn current(&self) -> Arc<Config> {
        self.state.current.load().config.clone()
    }
}

impl Gateway {
    /// Validates `config`, loads keys and starts the health checkers (they stop with
    /// `shutdown`). Must be called inside a tokio runtime.
    pub fn new(config: Config, shutdown: CancellationToken) -> Result<Self, Error> {
        Ok(Self {
            state: GatewayState::new(config, shutdown)?,
        })
    }

    /// Like [`Gateway::new`], and connects the shared limiter store first when
    /// `rate_limit.store` names one (`redis://…`, with the `redis-store` feature).
    pub async fn start(config: Config, shutdown: CancellationToken) -> Result<Self, Error> {
        let limiter = match &config.rate_limit.store {
            RateLimitStoreConfig::Local => ratelimit::Limiter::Local(ratelimit::LocalStore::new()),
            #[cfg(feature = "redis-store")]
            RateLimitStoreConfig::Redis { url } => {
                ratelimit::Limiter::Shared(Arc::new(ratelimit::RedisStore::connect(url).await?))
            }
            #[cfg(not(feature = "redis-store"))]
            RateLimitStoreConfig::Redis { url } => {
                return Err(Error::Unsupported(format!(
                    "gateway.rate_limit.store: {url:?}: this build has no Redis store (feature `redis-store`)"
                )));
            }
        };
        Ok(Self {
            state: GatewayState::with_limiter(config, shutdown, limiter)?,
        })
    }

    /// The reload handle.
    pub fn handle(&self) -> ConfigHandle {
        ConfigHandle {
            state: self.state.clone(),
        }
    }

    /// The request path ([`pipeline::Pipeline`]) as a service, for any request body type.
    pub fn service<B>(&self) -> App<B>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        BoxCloneService::new(pipeline::build(&self.state))
    }

    /// The admin router (`/metrics`, `/healthz`, `/readyz`).
    pub fn admin_router(&self) -> axum::Router {
        admin::router(self.state.clone())
    }

    /// The Prometheus text `/metrics` serves.
    pub fn metrics_text(&self) -> String {
        self.state.metrics.render(&self.state.current.load().pools)
    }

    /// The healthy set of an upstream (bit i = `targets[i]`), as the checker publishes it.
    pub fn watch_health(&self, upstream: &str) -> Option<watch::Receiver<u64>> {
        self.state
            .current
            .load()
            .pools
            .get(upstream)
            .map(|p| p.watch_healthy())
    }

    /// Instances of `upstream` that take traffic now (healthy and not ejected).
    pub fn available(&self, upstream: &str) -> Option<Vec<SocketAddr>> {
        let snap = self.state.current.load();
        let pool = snap.pools.get(upstream)?;
        let m = pool.available_mask();
        Some(
            pool.instances
                .iter()
                .enumerate()
                .filter(|(i, _)| m & (1 << i) != 0)
                .map(|(_, inst)| inst.addr)
                .collect(),
        )
    }

    /// Serves the data plane on `listener` and the admin API on `admin` until the
    /// shutdown token given to [`Gateway::new`] is cancelled, then drains.
    pub async fn serve(self, listener: TcpListener, admin: TcpListener) -> Result<(), Error> {
        let shutdown = self.state.shutdown.clone();
        let state = self.state.clone();
        let drain_flag = tokio::spawn({
            let shutdown = shutdown.clone();
            let state = state.clone();
            async move {
                shutdown.cancelled().await;
                state.draining.store(true, Ordering::Relaxed);
            }
        });
        let admin_app = self.admin_router();
        let admin_task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                axum::serve(admin, admin_app)
                    .with_graceful_shutdown(shutdown.cancelled_owned())
                    .await
            }
        });
        let data = server::serve(listener, state, shutdown.clone()).await;
        shutdown.cancel();
        let _ = drain_flag.await;
        let admin = admin_task.await;
        data?;
        match admin {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Io {
                context: "admin listener",
                source: e,
            }),
            Err(e) => Err(Error::Io {
                context: "admin listener task",
                source: std::io::Error::other(e),
            }),
        }
    }
}

/// The request path for in-process use (`oneshot` in tests) plus its reload handle. Health
/// checkers stop with `shutdown`.
pub fn app<B>(
    config: Arc<Config>,
    shutdown: CancellationToken,
) -> Result<(App<B>, ConfigHandle), Error>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let gw = Gateway::new(Config::clone(&config), shutdown)?;
    Ok((gw.service(), gw.handle()))
}

/// Runs a gateway on already-bound listeners until `shutdown` is cancelled, then drains.
/// Use [`Gateway::start`] + [`Gateway::handle`] + [`Gateway::serve`] to keep a reload handle.
pub async fn run(
    listener: TcpListener,
    admin: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    Gateway::start(config, shutdown)
        .await?
        .serve(listener, admin)
        .await
}
