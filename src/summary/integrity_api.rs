//! Integrity through the API: the acknowledged writes of classes that declare
//! `integrity`, judged from what reading each back found (the raw lookups of
//! [`ApiReadback`] in the results). A write whose read-back could not be done
//! is *not read*, with why: never lost, never intact.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::results::{ApiReadback, Lookup, WriteReadback};

/// Most examples each list keeps (`summary.json`; the counts are whole).
pub const API_EXAMPLES: usize = 100;

/// Lost, duplicated and mismatched writes found by reading every acknowledged
/// write back through the service's API after the run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ApiIntegrity {
    /// Acknowledged writes of the classes that declare `integrity`.
    pub acknowledged: u64,
    /// Of those, the writes whose fate the read-back settled (found, or shown absent).
    pub read_back: u64,
    /// Acknowledged, read back, and absent (a 404, or no record for its key);
    /// `null` when no write could be read back.
    pub lost: Option<u64>,
    /// Keys with more than one record (one write applied twice); `null` when no
    /// class declares a `list`, or no list could be read.
    pub duplicated: Option<u64>,
    /// Writes whose stored record differs from what was sent in a compared
    /// field; `null` when no class compares fields, or nothing was compared.
    pub mismatched: Option<u64>,
    /// Writes whose read-back could not be done (see `not_read_examples`).
    pub not_read: u64,
    /// Writes of classes with a `list` whose list could not be read: their
    /// duplicates are unknown.
    pub not_listed: u64,
    /// Why `lost`, `duplicated` or `mismatched` is `null`, by figure.
    pub not_measured: BTreeMap<String, String>,
    /// The first lost writes.
    pub lost_examples: Vec<ApiWrite>,
    /// The first duplicated keys.
    pub duplicated_examples: Vec<DuplicatedKey>,
    /// The first mismatches (one per write and field).
    pub mismatched_examples: Vec<Mismatch>,
    /// The first writes not read, with why.
    pub not_read_examples: Vec<UnreadWrite>,
}

/// A write by its idempotency key and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApiWrite {
    /// The idempotency key sent (empty: none).
    pub key: String,
    /// The id the acknowledged answer gave.
    pub id: Option<String>,
}

/// A key that has more than one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DuplicatedKey {
    pub key: String,
    pub records: u64,
    /// The records' ids, where they have one.
    pub ids: Vec<String>,
}

/// A compared field whose stored value is not the one sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Mismatch {
    pub key: String,
    pub id: Option<String>,
    /// The JSONPath as the scenario writes it.
    pub field: String,
    /// `null` when the body sent did not have the field.
    pub sent: Option<Value>,
    /// `null` when the record read back does not have it.
    pub stored: Option<Value>,
}

/// A write whose read-back could not be done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UnreadWrite {
    pub key: String,
    pub id: Option<String>,
    pub why: String,
}

/// Counts of one pass over the writes, before they become figures.
#[derive(Default)]
struct Tally {
    lost: u64,
    duplicated: u64,
    mismatched: u64,
    /// Writes whose key's list was read.
    listed: u64,
    /// Writes whose record was compared with what was sent.
    compared: u64,
}

/// The through-API figures of `r`'s read-back.
pub(crate) fn api_integrity(r: &ApiReadback) -> ApiIntegrity {
    let mut out = ApiIntegrity {
        acknowledged: r.writes.len() as u64,
        ..ApiIntegrity::default()
    };
    let mut t = Tally::default();
    for w in &r.writes {
        let Some(exists) = exists(w) else {
            out.not_read += 1;
            push(&mut out.not_read_examples, || UnreadWrite {
                key: w.key.clone(),
                id: w.id.clone(),
                why: why_unread(w),
            });
            continue;
        };
        out.read_back += 1;
        if !exists {
            t.lost += 1;
            push(&mut out.lost_examples, || ApiWrite {
                key: w.key.clone(),
                id: w.id.clone(),
            });
        }
        match w.list.as_ref().map(|l| &l.records) {
            Some(Some(records)) => {
                t.listed += 1;
                if records.len() > 1 {
                    t.duplicated += 1;
                    push(&mut out.duplicated_examples, || DuplicatedKey {
                        key: w.key.clone(),
                        records: records.len() as u64,
                        ids: records.iter().filter_map(|r| r.id.clone()).collect(),
                    });
                }
            }
            Some(None) => out.not_listed += 1,
            None => {}
        }
        let fields = r
            .classes
            .get(w.class)
            .map_or(&[][..], |c| c.compare.as_slice());
        if let Some(differs) = compare(&mut out.mismatched_examples, w, fields) {
            t.compared += 1;
            t.mismatched += u64::from(differs);
        }
    }
    figures(&mut out, r, &t);
    out
}

/// Compare the records of `w` with what was sent, field by field, noting each
/// difference; `None` when there is nothing to compare.
fn compare(examples: &mut Vec<Mismatch>, w: &WriteReadback, fields: &[String]) -> Option<bool> {
    let (false, Some(sent), Some(records)) = (fields.is_empty(), &w.sent, found(w)) else {
        return None;
    };
    let mut differs = false;
    for record in records {
        for f in fields {
            let (s, st) = (sent.get(f), record.fields.get(f));
            if s != st {
                differs = true;
                push(examples, || Mismatch {
                    key: w.key.clone(),
                    id: record.id.clone().or_else(|| w.id.clone()),
                    field: f.clone(),
                    sent: s.cloned(),
                    stored: st.cloned(),
                });
            }
        }
    }
    Some(differs)
}

/// The figures from the tally, each `None` with why when nothing measured it.
fn figures(out: &mut ApiIntegrity, r: &ApiReadback, t: &Tally) {
    let why = &mut out.not_measured;
    out.lost = figure(why, "lost", out.read_back > 0, t.lost, || {
        if r.writes.is_empty() {
            "no write of a class that declares integrity was acknowledged".into()
        } else {
            format!(
                "none of the {} acknowledged writes could be read back",
                r.writes.len()
            )
        }
    });
    let has_list = r.classes.iter().any(|c| c.list.is_some());
    out.duplicated = figure(why, "duplicated", t.listed > 0, t.duplicated, || {
        if has_list {
            "no list of a write's records could be read".into()
        } else {
            "no class declares `list`, and one record read by id cannot show a second".into()
        }
    });
    let compares = r.classes.iter().any(|c| !c.compare.is_empty());
    out.mismatched = figure(why, "mismatched", t.compared > 0, t.mismatched, || {
        if compares {
            "no record was read back to compare with what was sent".into()
        } else {
            "no class declares `compare`".into()
        }
    });
}

/// `value` when `measured`, else `None` and why under `name`.
fn figure(
    why: &mut BTreeMap<String, String>,
    name: &str,
    measured: bool,
    value: u64,
    reason: impl FnOnce() -> String,
) -> Option<u64> {
    if measured {
        Some(value)
    } else {
        why.insert(name.to_owned(), reason());
        None
    }
}

fn push<T>(examples: &mut Vec<T>, make: impl FnOnce() -> T) {
    if examples.len() < API_EXAMPLES {
        examples.push(make());
    }
}

/// Whether the write's record exists: by its id when it was read, else by its
/// key's list; `None` when neither lookup could be made.
fn exists(w: &WriteReadback) -> Option<bool> {
    let by = |l: &Option<Lookup>| l.as_ref()?.records.as_ref().map(|r| !r.is_empty());
    by(&w.read).or_else(|| by(&w.list))
}

/// The records to compare: the one read by id, else the key's list.
fn found(w: &WriteReadback) -> Option<&[crate::results::Record]> {
    fn by(l: &Option<Lookup>) -> Option<&[crate::results::Record]> {
        l.as_ref()?.records.as_deref().filter(|r| !r.is_empty())
    }
    by(&w.read).or_else(|| by(&w.list))
}

/// Why neither lookup of `w` settled anything.
fn why_unread(w: &WriteReadback) -> String {
    [&w.read, &w.list]
        .into_iter()
        .flatten()
        .filter_map(|l| l.error.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
#[path = "integrity_api_tests.rs"]
pub(crate) mod tests;
