//! Mock idempotent backends: the services a gateway protects, with their
//! faults built in.
//!
//! One instance serves a small but real API (items, idempotent orders, health,
//! readiness; see [`api`]) on one listener and an admin API ([`admin`]) on
//! another, over a store shared by every instance of a pool ([`store`]: SQLite
//! in WAL mode, or Redis). How it misbehaves — latency distributions, injected
//! errors and connection closes, failing health checks, slow bodies, a
//! serverless mode — is a [`Behaviour`] switchable at runtime.
//!
//! ```text
//!  client ──► API listener ──► InstanceHeaders ──► router ──► gate (serverless admission,
//!                                                              latency draw, injected error)
//!                                                                │
//!  harness ─► admin listener ─► /admin/behaviour, /admin/orders   ▼
//!                                                     items: in-memory view ◄─ refresh ─┐
//!                                                     orders: store ──────────────────── store (shared)
//! ```
//!
//! Entry points: [`run`] serves until a [`CancellationToken`] fires; [`app`]
//! builds the API router for tests without a socket; [`Backend`] splits the two
//! steps (open the store, then serve) so a caller can report a bad store before
//! it announces readiness; [`export_orders`] reads a store back after a run.

pub mod admin;
pub mod api;
pub mod config;
pub mod duration;
pub mod headers;
pub mod latency;
pub mod reply;
pub mod serve;
pub mod serverless;
pub mod store;
pub mod view;

use std::sync::Arc;

use axum::Router;
use http::HeaderValue;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{
    Behaviour, BehaviourError, Config, ErrorMode, ErrorModel, ItemReads, Serverless, SlowBody,
    StoreSpec,
};
pub use duration::Dur;
pub use latency::{LatencyModel, PercentilePoint};
pub use store::{ExportedItem, ExportedOrder, Store, StoreError, export_orders};

use crate::api::InstanceState;
use crate::headers::InstanceHeadersLayer;
use crate::view::ItemView;

/// Why a backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The initial behaviour is invalid.
    #[error(transparent)]
    Behaviour(#[from] BehaviourError),
    /// The store cannot be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The instance name cannot be sent as a header value.
    #[error("instance name {0:?} must be visible ASCII (it is sent in X-Backend-Instance)")]
    InstanceName(String),
}

/// An instance whose store is open, ready to serve.
#[derive(Clone)]
pub struct Backend {
    state: Arc<InstanceState>,
    config: Config,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("instance", &self.config.instance)
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// Validate the config, open the store and load the item view.
    pub async fn open(config: Config) -> Result<Self, Error> {
        if HeaderValue::from_str(&config.instance).is_err() || config.instance.is_empty() {
            return Err(Error::InstanceName(config.instance.clone()));
        }
        let compiled = config.behaviour.compile()?;
        let store = Store::open(&config.store).await?;
        let view = match config.item_reads {
            ItemReads::View { .. } => {
                let view = Arc::new(ItemView::default());
                view.pull(&store).await?;
                Some(view)
            }
            ItemReads::Store => None,
        };
        let state = Arc::new(InstanceState::new(&config, compiled, store, view));
        Ok(Self { state, config })
    }

    /// The API router (with the instance headers), testable with `oneshot`.
    pub fn app(&self) -> Router {
        api::router(Arc::clone(&self.state), self.config.max_body_bytes).layer(
            InstanceHeadersLayer::new(self.state.instance_header.clone())
                .counting_hostile(Arc::clone(&self.state.hostile_requests)),
        )
    }

    /// The admin router (with the instance headers).
    pub fn admin_app(&self) -> Router {
        admin::router(Arc::clone(&self.state)).layer(InstanceHeadersLayer::new(
            self.state.instance_header.clone(),
        ))
    }

    /// The open store.
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The behaviour in force.
    pub fn behaviour(&self) -> Behaviour {
        self.state.behaviour().source.clone()
    }

    /// Switch behaviour, as `PUT /admin/behaviour` does.
    pub fn set_behaviour(&self, behaviour: &Behaviour) -> Result<(), BehaviourError> {
        self.state.set_behaviour(behaviour.compile()?);
        Ok(())
    }

    /// Serve the API on `listener` and the admin API on `admin` until `shutdown`,
    /// then drain open connections (at most `drain_timeout`) and return.
    pub async fn serve(
        self,
        listener: TcpListener,
        admin: Option<TcpListener>,
        shutdown: CancellationToken,
    ) {
        let tasks = shutdown.child_token();
        let refresher = match (&self.state.view, self.config.item_reads) {
            (Some(view), ItemReads::View { refresh }) => Some(tokio::spawn(view::refresh_loop(
                Arc::clone(view),
                self.state.store.clone(),
                refresh,
                tasks.clone(),
            ))),
            _ => None,
        };
        let c = &self.config;
        let api = serve::serve(
            listener,
            self.app(),
            c.max_connections,
            c.drain_timeout,
            shutdown.clone(),
        );
        let admin_app = self.admin_app();
        let admin = async {
            if let Some(l) = admin {
                serve::serve(l, admin_app, 64, c.drain_timeout, shutdown.clone()).await;
            }
        };
        let drain = async {
            shutdown.cancelled().await;
            self.state.start_draining();
        };
        tokio::join!(api, admin, drain);
        tasks.cancel();
        if let Some(r) = refresher {
            let _ = r.await;
        }
    }
}

/// Open the store and serve until `shutdown` (see [`Backend::serve`]).
pub async fn run(
    listener: TcpListener,
    admin_listener: Option<TcpListener>,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    Backend::open(config)
        .await?
        .serve(listener, admin_listener, shutdown)
        .await;
    Ok(())
}

/// The API router of an instance, for tests without a socket (the item view is
/// not refreshed from other instances: there is no serve loop).
pub async fn app(config: Config) -> Result<Router, Error> {
    Ok(Backend::open(config).await?.app())
}
