//! After the traffic, and after the faults have ended: every acknowledged
//! write of a class that declares `integrity` read back through the service's
//! own API, with the same client, targets, tenant headers and credentials the
//! writes went with.
//!
//! What comes back is raw evidence for `results.json` ([`ApiReadback`]): per
//! write, the lookups made (by id, by key) and the records each found (their
//! id and the compared fields), or why a lookup could not be made. The summary
//! judges lost, duplicated and mismatched writes from it; this module counts
//! nothing. A read-back that failed (transport errors, 5xx, 429 after the
//! retries) is recorded as an error, never as an empty answer, so it can never
//! read as a lost write.
//!
//! The read-back runs on a thread of its own with a current-thread runtime,
//! like a load worker (connections are worker-owned, not `Send`), `concurrency`
//! lookups at a time.

mod fetch;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::metrics::AckedWrite;

use super::client::Target;
use super::plan::TrafficPlan;

/// The API read-back of a run (`results.json` `api_readback`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiReadback {
    /// The request classes that declare `integrity`.
    pub classes: Vec<ReadbackClass>,
    /// One per acknowledged write of those classes, in ledger order.
    pub writes: Vec<WriteReadback>,
}

/// A request class whose writes are read back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReadbackClass {
    pub phase: String,
    /// `POST /orders`: the write as the scenario declares it.
    pub write: String,
    /// The per-record read path (`/orders/{id}`), if declared.
    pub read: Option<String>,
    /// The list path (`/orders?idempotency_key={key}`), if declared.
    pub list: Option<String>,
    /// The compared fields (JSONPaths as written); empty: content not compared.
    pub compare: Vec<String>,
}

/// One acknowledged write and what reading it back found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WriteReadback {
    /// Index into [`ApiReadback::classes`].
    pub class: usize,
    /// The idempotency key sent (empty: none).
    pub key: String,
    /// The id the acknowledged answer gave the record.
    pub id: Option<String>,
    pub tenant: Option<String>,
    /// The sent values of the compared fields (`None`: not compared, or the
    /// body sent was not JSON).
    pub sent: Option<BTreeMap<String, Value>>,
    /// `GET read` with the id, when the class declares `read`.
    pub read: Option<Lookup>,
    /// The list of the write's key, when the class declares `list`.
    pub list: Option<Lookup>,
}

/// One lookup: the records it found, or why it could not be made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lookup {
    /// The path requested (id and key filled in).
    pub path: String,
    /// The records found (empty: none, a 404 or an empty list); `None` when
    /// the lookup could not be made (then `error` says why).
    pub records: Option<Vec<Record>>,
    pub error: Option<String>,
    /// Requests it took (1 unless it was retried).
    pub tries: u32,
}

/// A record as read back: its id and the compared fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: Option<String>,
    /// The record's values at the compared paths (under `body_at`); a path the
    /// record does not have is absent.
    pub fields: BTreeMap<String, Value>,
}

impl ApiReadback {
    /// The read-backs of shards, one after another (each shard read back its own writes).
    pub fn merge(&mut self, other: ApiReadback) {
        let mut map = Vec::with_capacity(other.classes.len());
        for c in other.classes {
            match self.classes.iter().position(|k| *k == c) {
                Some(i) => map.push(i),
                None => {
                    map.push(self.classes.len());
                    self.classes.push(c);
                }
            }
        }
        self.writes.extend(other.writes.into_iter().map(|mut w| {
            w.class = map.get(w.class).copied().unwrap_or(w.class);
            w
        }));
    }
}

/// Read back, through the API at `targets`, every write of `ledger` whose class in
/// `plan` declares `integrity`; `None` when no class does. `base_path` prefixes
/// every lookup's path (an external gateway's URL path, as it prefixed the
/// writes). Runs on its own thread and returns when every lookup has ended
/// (each is bounded by its timeout and retries).
pub async fn read_back(
    plan: &TrafficPlan,
    base_path: &str,
    targets: Vec<Target>,
    ledger: &[AckedWrite],
) -> Option<ApiReadback> {
    let work = fetch::Work::new(plan, ledger, base_path)?;
    let no_thread = work.unread("the read-back thread could not start");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("ninefold-readback".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let out = match rt {
                Ok(rt) => rt.block_on(work.run(targets)),
                Err(e) => work.unread(&format!("cannot start the read-back's runtime: {e}")),
            };
            let _ = tx.send(out);
        });
    match spawned {
        Ok(_) => Some(rx.await.unwrap_or(no_thread)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the read-back thread");
            Some(no_thread)
        }
    }
}
