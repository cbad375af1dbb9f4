//! The shared store behind a pool of instances: items and orders.
//!
//! Two implementations with one contract:
//! - [`sqlite`]: one SQLite file in WAL mode, shared by processes on one host.
//! - [`redis`]: a Redis server, shared across hosts.
//!
//! The contract: a call that returns `Ok` for a write has committed it (SQLite:
//! in the WAL, which survives a SIGKILL of the process; Redis: acknowledged by
//! the server, durable as its persistence settings make it). Idempotency is
//! decided inside the store in one atomic step (a `UNIQUE` key with `INSERT …
//! ON CONFLICT` in SQLite, a Lua script in Redis), so two instances racing on
//! one key create one order. Every failure is a [`StoreError`], which the API
//! answers with 503 while the instance stays up.

pub mod redis;
pub mod sqlite;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::config::StoreSpec;

/// The store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused (locked past the busy timeout, I/O error, corrupt file…).
    #[error("sqlite store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// Redis refused or could not be reached.
    #[error("redis store {url}: {source}")]
    Redis {
        /// The server URL.
        url: String,
        /// What the client said.
        #[source]
        source: ::redis::RedisError,
    },
    /// Too many store operations were waiting, or one took too long.
    #[error("store busy: {0}")]
    Busy(String),
    /// The store holds something this version cannot read.
    #[error("store holds unexpected data: {0}")]
    Corrupt(String),
}

/// One change to an item, as pulled by the in-memory view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemChange {
    /// The item id.
    pub id: String,
    /// The stored body, or `None` when the item was deleted.
    pub body: Option<Bytes>,
    /// The store-wide sequence number of this write.
    pub seq: i64,
}

/// A stored item as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredItem {
    /// Never written: the synthetic item stands.
    Untouched,
    /// Deleted.
    Deleted,
    /// Overwritten with this body.
    Body(Bytes),
}

/// An order to create, with its response already built (the response names
/// the order id, and a replay must return exactly these bytes).
#[derive(Debug, Clone)]
pub struct NewOrder {
    /// The new order's id.
    pub order_id: String,
    /// `X-Tenant-Id` of the request, if any; idempotency keys are scoped per tenant.
    pub tenant: Option<String>,
    /// The `Idempotency-Key`, if any.
    pub key: Option<String>,
    /// The request body, compared byte for byte on a replay.
    pub request: Bytes,
    /// The response body to store and replay.
    pub response: Bytes,
    /// The instance that creates it.
    pub instance: String,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

/// What `create_order` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderOutcome {
    /// A new order was stored.
    Created,
    /// The key was seen before with the same body: here is the first response.
    Replayed(Bytes),
    /// The key was seen before with a different body.
    KeyReused,
}

/// One stored order, for the harness's integrity check (`GET /admin/orders`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedOrder {
    /// The `Idempotency-Key` it was created with, if any.
    pub idempotency_key: Option<String>,
    /// The order id.
    pub order_id: String,
    /// The tenant that created it, if one was named.
    pub tenant: Option<String>,
    /// How many orders exist for this (tenant, key): the number of times the
    /// key's effect was applied. Anything but 1 is a duplicate effect.
    pub applied: u64,
    /// How many requests were answered by replaying this order.
    pub replays: u64,
    /// The instance that created it.
    pub instance: String,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

/// One overwritten or deleted item, for `GET /admin/items`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedItem {
    /// The item id.
    pub id: String,
    /// True when the item was deleted.
    pub deleted: bool,
    /// The write's sequence number.
    pub seq: i64,
}

/// A handle on the shared store; cheap to clone.
#[derive(Clone)]
pub enum Store {
    /// SQLite file.
    Sqlite(sqlite::SqliteStore),
    /// Redis server.
    Redis(redis::RedisStore),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::Sqlite(s) => write!(f, "Store::Sqlite({})", s.path()),
            Store::Redis(r) => write!(f, "Store::Redis({})", r.url()),
        }
    }
}

impl Store {
    /// Open (and for SQLite, create) the store; fails if it is unusable.
    pub async fn open(spec: &StoreSpec) -> Result<Self, StoreError> {
        Ok(match spec {
            StoreSpec::Sqlite(path) => Store::Sqlite(sqlite::SqliteStore::open(path).await?),
            StoreSpec::Redis(url) => Store::Redis(redis::RedisStore::open(url).await?),
        })
    }

    /// Is the store reachable and answering?
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.ping().await,
            Store::Redis(r) => r.ping().await,
        }
    }

    /// The item as stored.
    pub async fn get_item(&self, id: &str) -> Result<StoredItem, StoreError> {
        match self {
            Store::Sqlite(s) => s.get_item(id).await,
            Store::Redis(r) => r.get_item(id).await,
        }
    }

    /// Store `body` for item `id` (`None` deletes it); returns the write's sequence number.
    pub async fn write_item(&self, id: &str, body: Option<Bytes>) -> Result<i64, StoreError> {
        match self {
            Store::Sqlite(s) => s.write_item(id, body).await,
            Store::Redis(r) => r.write_item(id, body).await,
        }
    }

    /// Every item write with a sequence number above `after`, oldest first.
    pub async fn item_changes(&self, after: i64) -> Result<Vec<ItemChange>, StoreError> {
        match self {
            Store::Sqlite(s) => s.item_changes(after).await,
            Store::Redis(r) => r.item_changes(after).await,
        }
    }

    /// Create an order, or replay / refuse it when its key was seen.
    pub async fn create_order(&self, order: NewOrder) -> Result<OrderOutcome, StoreError> {
        match self {
            Store::Sqlite(s) => s.create_order(order).await,
            Store::Redis(r) => r.create_order(order).await,
        }
    }

    /// An order's tenant and response body.
    pub async fn get_order(
        &self,
        order_id: &str,
    ) -> Result<Option<(Option<String>, Bytes)>, StoreError> {
        match self {
            Store::Sqlite(s) => s.get_order(order_id).await,
            Store::Redis(r) => r.get_order(order_id).await,
        }
    }

    /// Every stored order, oldest first.
    pub async fn export_orders(&self) -> Result<Vec<ExportedOrder>, StoreError> {
        match self {
            Store::Sqlite(s) => s.export_orders().await,
            Store::Redis(r) => r.export_orders().await,
        }
    }

    /// Every overwritten or deleted item.
    pub async fn export_items(&self) -> Result<Vec<ExportedItem>, StoreError> {
        Ok(self
            .item_changes(0)
            .await?
            .into_iter()
            .map(|c| ExportedItem {
                id: c.id,
                deleted: c.body.is_none(),
                seq: c.seq,
            })
            .collect())
    }
}

/// Read every stored order straight from a store, without a running instance
/// (the harness's integrity check after a run).
pub async fn export_orders(spec: &StoreSpec) -> Result<Vec<ExportedOrder>, StoreError> {
    Store::open(spec).await?.export_orders().await
}

/// Count orders per (tenant, key) and fill in `applied`; keyless orders count once.
fn fill_applied(orders: &mut [ExportedOrder]) {
    use std::collections::HashMap;
    let mut counts: HashMap<(Option<String>, String), u64> = HashMap::new();
    for o in orders.iter() {
        if let Some(k) = &o.idempotency_key {
            *counts.entry((o.tenant.clone(), k.clone())).or_default() += 1;
        }
    }
    for o in orders.iter_mut() {
        o.applied = match &o.idempotency_key {
            Some(k) => counts[&(o.tenant.clone(), k.clone())],
            None => 1,
        };
    }
}
