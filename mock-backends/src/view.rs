//! The in-memory view of overwritten items: what makes `GET /items/{id}` fast.
//!
//! Almost every item is synthetic (computed from its id), so a read only needs
//! to know whether the id was ever overwritten or deleted. The view holds
//! exactly those ids with the body of their latest write and its sequence
//! number. This instance's own writes enter it as soon as the store commits
//! them (read-your-writes); other instances' writes are pulled by
//! [`refresh_loop`] from the store's change feed (`seq > last seen`) every
//! `refresh`, so across instances a read is at most one refresh interval (plus
//! one query) stale. `ItemReads::Store` trades that speed for linearizable reads.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::store::{ItemChange, Store, StoreError, StoredItem};

/// Overwritten and deleted items, keyed by id.
#[derive(Debug, Default)]
pub struct ItemView {
    items: RwLock<HashMap<String, (i64, Option<Bytes>)>>,
    /// The highest sequence number pulled from the change feed.
    pulled: AtomicI64,
}

impl ItemView {
    /// What the view knows about `id`.
    pub fn get(&self, id: &str) -> StoredItem {
        let items = self.items.read().unwrap_or_else(|p| p.into_inner());
        match items.get(id) {
            None => StoredItem::Untouched,
            Some((_, None)) => StoredItem::Deleted,
            Some((_, Some(body))) => StoredItem::Body(body.clone()),
        }
    }

    /// Apply one committed write, unless a newer one for the same id is already here.
    pub fn apply(&self, change: ItemChange) {
        let mut items = self.items.write().unwrap_or_else(|p| p.into_inner());
        let entry = items.entry(change.id).or_insert((i64::MIN, None));
        if change.seq > entry.0 {
            *entry = (change.seq, change.body);
        }
    }

    /// Pull every change after the last one pulled.
    pub async fn pull(&self, store: &Store) -> Result<usize, StoreError> {
        let after = self.pulled.load(Ordering::Acquire);
        let changes = store.item_changes(after).await?;
        let n = changes.len();
        if let Some(last) = changes.last() {
            let last = last.seq;
            for c in changes {
                self.apply(c);
            }
            self.pulled.fetch_max(last, Ordering::AcqRel);
        }
        Ok(n)
    }
}

/// Pull changes every `every` until `shutdown`; a failed pull is logged and retried next tick.
pub async fn refresh_loop(
    view: std::sync::Arc<ItemView>,
    store: Store,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        // Bounded: a store that hangs must not stall shutdown or stack pulls.
        match tokio::time::timeout(every.max(Duration::from_secs(1)), view.pull(&store)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "item view refresh failed"),
            Err(_) => tracing::warn!("item view refresh timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_writes_win_and_older_ones_are_ignored() {
        let view = ItemView::default();
        assert_eq!(view.get("a"), StoredItem::Untouched);
        view.apply(ItemChange {
            id: "a".into(),
            body: Some(Bytes::from_static(b"1")),
            seq: 5,
        });
        view.apply(ItemChange {
            id: "a".into(),
            body: None,
            seq: 3,
        });
        assert_eq!(view.get("a"), StoredItem::Body(Bytes::from_static(b"1")));
        view.apply(ItemChange {
            id: "a".into(),
            body: None,
            seq: 6,
        });
        assert_eq!(view.get("a"), StoredItem::Deleted);
    }
}
