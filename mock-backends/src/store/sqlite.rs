//! The SQLite store: one file in WAL mode, shared by every process on the host.
//!
//! Durability: `journal_mode=WAL` with `synchronous=NORMAL`. A commit appends
//! to the WAL with `write(2)` before returning, so the data is in the OS page
//! cache and survives a SIGKILL of the process (what a fault run does); only a
//! power loss or kernel crash could lose the last commits, which NORMAL trades
//! for speed (FULL would fsync every commit).
//!
//! Concurrency: SQLite calls block, so they run on tokio's blocking pool
//! (`spawn_blocking`), never on runtime threads, with at most
//! [`MAX_CONCURRENT`] in flight (a semaphore) and connections reused from a
//! small pool. Writers take `BEGIN IMMEDIATE` so that two processes serialize
//! on the write lock (waiting up to `busy_timeout`) instead of failing on a
//! snapshot upgrade; idempotency rests on the `PRIMARY KEY (tenant, idem_key)`
//! of the `idempotency` table and `INSERT … ON CONFLICT DO NOTHING`, never on a
//! read followed by a write.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::Semaphore;

use super::{
    ExportedOrder, ItemChange, NewOrder, OrderOutcome, StoreError, StoredItem, fill_applied,
};

/// Store operations in flight at once; more wait for a permit.
const MAX_CONCURRENT: usize = 16;
/// Connections kept open for reuse.
const POOL_SIZE: usize = 8;
/// How long a writer waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an operation may wait for a permit before the store is called busy.
const PERMIT_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    id   TEXT PRIMARY KEY,
    body BLOB,                      -- NULL: deleted
    seq  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS items_seq ON items(seq);
CREATE TABLE IF NOT EXISTS orders (
    order_id   TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,       -- '' when the request named none
    idem_key   TEXT,
    response   BLOB NOT NULL,
    instance   TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_key ON orders(tenant, idem_key);
CREATE TABLE IF NOT EXISTS idempotency (
    tenant   TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    order_id TEXT NOT NULL,
    request  BLOB NOT NULL,
    replays  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, idem_key)
);
";

/// A shared SQLite store; cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    display: String,
    pool: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl SqliteStore {
    /// Open or create the database, switch it to WAL and create the schema.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let store = Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                display: path.display().to_string(),
                pool: Mutex::new(Vec::new()),
                permits: Semaphore::new(MAX_CONCURRENT),
            }),
        };
        // Several instances opening one new file at once race to switch it to
        // WAL; SQLite answers the loser "locked" without calling the busy
        // handler, so the switch is retried for as long as the busy timeout.
        let deadline = tokio::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            let init = store
                .with_conn(|conn| {
                    // journal_mode is persistent in the file; set it once, it is a no-op after.
                    let mode: String =
                        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
                    if !mode.eq_ignore_ascii_case("wal") {
                        return Err(rusqlite::Error::InvalidParameterName(format!(
                            "journal_mode is {mode}, WAL is required"
                        )));
                    }
                    conn.execute_batch(SCHEMA)
                })
                .await;
            match init {
                Err(StoreError::Sqlite { source, .. })
                    if is_locked(&source) && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => return other.map(|()| store),
            }
        }
    }

    /// The database file, for messages.
    pub fn path(&self) -> &str {
        &self.inner.display
    }

    fn connect(path: &Path) -> rusqlite::Result<Connection> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")?;
        Ok(conn)
    }

    /// Run `f` with a pooled connection on the blocking pool.
    async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let permit = tokio::time::timeout(PERMIT_TIMEOUT, self.inner.permits.acquire())
            .await
            .map_err(|_| StoreError::Busy(format!("no sqlite slot within {PERMIT_TIMEOUT:?}")))?
            .map_err(|_| StoreError::Busy("store closed".to_owned()))?;
        let inner = Arc::clone(&self.inner);
        let result = tokio::task::spawn_blocking(move || {
            let pooled = inner.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => Self::connect(&inner.path)?,
            };
            let out = f(&mut conn);
            let mut pool = inner.pool.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < POOL_SIZE {
                pool.push(conn);
            }
            out
        })
        .await;
        drop(permit);
        match result {
            Ok(r) => r.map_err(|source| StoreError::Sqlite {
                path: self.inner.display.clone(),
                source,
            }),
            Err(join) => Err(StoreError::Busy(format!("sqlite task failed: {join}"))),
        }
    }

    /// A trivial query: is the file usable?
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.with_conn(|c| c.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }

    /// The item as stored.
    pub async fn get_item(&self, id: &str) -> Result<StoredItem, StoreError> {
        let id = id.to_owned();
        self.with_conn(move |c| {
            let row: Option<Option<Vec<u8>>> = c
                .prepare_cached("SELECT body FROM items WHERE id = ?1")?
                .query_row([&id], |r| r.get(0))
                .optional()?;
            Ok(match row {
                None => StoredItem::Untouched,
                Some(None) => StoredItem::Deleted,
                Some(Some(b)) => StoredItem::Body(Bytes::from(b)),
            })
        })
        .await
    }

    /// Upsert or delete an item; the sequence number is the table's max + 1,
    /// computed under the write lock, so it is unique and increasing.
    pub async fn write_item(&self, id: &str, body: Option<Bytes>) -> Result<i64, StoreError> {
        let id = id.to_owned();
        self.with_conn(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let seq: i64 = tx
                .prepare_cached(
                    "INSERT INTO items (id, body, seq) VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM items))
                     ON CONFLICT(id) DO UPDATE SET body = excluded.body, seq = excluded.seq
                     RETURNING seq",
                )?
                .query_row(params![id, body.as_deref()], |r| r.get(0))?;
            tx.commit()?;
            Ok(seq)
        })
        .await
    }

    /// Item writes after `after`, oldest first.
    pub async fn item_changes(&self, after: i64) -> Result<Vec<ItemChange>, StoreError> {
        self.with_conn(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT id, body, seq FROM items WHERE seq > ?1 ORDER BY seq")?;
            let rows = stmt.query_map([after], |r| {
                Ok(ItemChange {
                    id: r.get(0)?,
                    body: r.get::<_, Option<Vec<u8>>>(1)?.map(Bytes::from),
                    seq: r.get(2)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    /// Create, replay or refuse an order in one `BEGIN IMMEDIATE` transaction.
    pub async fn create_order(&self, order: NewOrder) -> Result<OrderOutcome, StoreError> {
        self.with_conn(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let tenant = order.tenant.clone().unwrap_or_default();
            if let Some(key) = &order.key {
                let claimed = tx
                    .prepare_cached(
                        "INSERT INTO idempotency (tenant, idem_key, order_id, request) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (tenant, idem_key) DO NOTHING",
                    )?
                    .execute(params![tenant, key, order.order_id, order.request.as_ref()])?;
                if claimed == 0 {
                    let (first_id, first_request): (String, Vec<u8>) = tx
                        .prepare_cached("SELECT order_id, request FROM idempotency WHERE tenant = ?1 AND idem_key = ?2")?
                        .query_row(params![tenant, key], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    if first_request != order.request.as_ref() {
                        return Ok(OrderOutcome::KeyReused);
                    }
                    tx.prepare_cached("UPDATE idempotency SET replays = replays + 1 WHERE tenant = ?1 AND idem_key = ?2")?
                        .execute(params![tenant, key])?;
                    let response: Vec<u8> = tx
                        .prepare_cached("SELECT response FROM orders WHERE order_id = ?1")?
                        .query_row([&first_id], |r| r.get(0))?;
                    tx.commit()?;
                    return Ok(OrderOutcome::Replayed(Bytes::from(response)));
                }
            }
            tx.prepare_cached(
                "INSERT INTO orders (order_id, tenant, idem_key, response, instance, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                order.order_id,
                tenant,
                order.key,
                order.response.as_ref(),
                order.instance,
                order.created_ms
            ])?;
            tx.commit()?;
            Ok(OrderOutcome::Created)
        })
        .await
    }

    /// An order's tenant and response body.
    pub async fn get_order(
        &self,
        order_id: &str,
    ) -> Result<Option<(Option<String>, Bytes)>, StoreError> {
        let order_id = order_id.to_owned();
        self.with_conn(move |c| {
            c.prepare_cached("SELECT tenant, response FROM orders WHERE order_id = ?1")?
                .query_row([&order_id], |r| {
                    let tenant: String = r.get(0)?;
                    let body: Vec<u8> = r.get(1)?;
                    Ok(((!tenant.is_empty()).then_some(tenant), Bytes::from(body)))
                })
                .optional()
        })
        .await
    }

    /// Every order, oldest first, with its key's replay count.
    pub async fn export_orders(&self) -> Result<Vec<ExportedOrder>, StoreError> {
        let mut orders = self
            .with_conn(|c| {
                let mut stmt = c.prepare(
                    "SELECT o.idem_key, o.order_id, o.tenant, o.instance, o.created_ms, COALESCE(i.replays, 0)
                     FROM orders o LEFT JOIN idempotency i
                       ON o.idem_key IS NOT NULL AND i.tenant = o.tenant AND i.idem_key = o.idem_key
                     ORDER BY o.created_ms, o.rowid",
                )?;
                let rows = stmt.query_map([], |r| {
                    let tenant: String = r.get(2)?;
                    Ok(ExportedOrder {
                        idempotency_key: r.get(0)?,
                        order_id: r.get(1)?,
                        tenant: (!tenant.is_empty()).then_some(tenant),
                        applied: 0,
                        replays: r.get::<_, i64>(5)?.max(0) as u64,
                        instance: r.get(3)?,
                        created_ms: r.get(4)?,
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        fill_applied(&mut orders);
        Ok(orders)
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED: another connection holds the lock.
fn is_locked(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
