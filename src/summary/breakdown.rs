//! Where the requests went: outcomes by request class (method + path
//! template) × status, with one example body per class × status that was not
//! `ok` ("server_error 88" becomes "`PUT /items/{id}` → 501 × 88, body …").
//!
//! Built from the recording's per-key status counts ([`KeyStats::statuses`],
//! [`KeyStats::outcomes`]) and its examples ([`StatusExample`]): a status with
//! no example was `ok` (every other answered outcome is noted with its
//! status); requests without an answer (timeouts, connection and I/O errors,
//! drops) get a row with no status. The same method + path in several phases
//! or for several tenants is one class: their counts add up.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::metrics::recording::StatusExample;
use crate::metrics::{KeyStats, Outcome, OutcomeCounts, Recording};

/// Outcomes of one request class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClassBreakdown {
    /// `GET`, `PUT`, …
    pub method: String,
    /// The path template as the scenario writes it (`/items/{id}`).
    pub path: String,
    /// Requests of the class that were sent (dropped ones are not).
    pub sent: u64,
    /// Of those, bad ones (neither `ok` nor an expected rejection).
    pub bad: u64,
    /// Requests not sent (dropped at the in-flight cap).
    pub dropped: u64,
    /// One row per status × outcome, and one per outcome without an answer;
    /// bad ones first, then by count, the most frequent first.
    pub rows: Vec<BreakdownRow>,
}

/// Requests of one class with one status (or none) and one outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BreakdownRow {
    /// The HTTP status; `null` for requests that got no answer (`timeout`,
    /// `connect_error`, `io_error`, `dropped`).
    pub status: Option<u16>,
    /// The outcome (`ok`, `rejected`, `server_error`, …); `null` when the
    /// results do not say (recorded by a ninefold without examples).
    pub outcome: Option<String>,
    pub count: u64,
    /// The first 512 bytes of one answer's body (lossy UTF-8); `null` for
    /// `ok` answers (not kept), requests without an answer, and empty bodies.
    pub example_body: Option<String>,
    /// The example body was longer than what is kept.
    pub example_truncated: bool,
    /// `check_failed`: why the example failed its request class's check
    /// (absent for every other outcome).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl BreakdownRow {
    /// Whether the row counts bad requests (not `ok`, not a rejection).
    pub fn is_bad(&self) -> bool {
        !matches!(self.outcome.as_deref(), Some("ok" | "rejected") | None)
    }

    /// `501`, or the outcome name for a request without an answer.
    pub fn status_text(&self) -> String {
        match self.status {
            Some(s) => s.to_string(),
            None => "no answer".into(),
        }
    }
}

/// Outcomes that come without any status.
const UNANSWERED: [Outcome; 8] = [
    Outcome::Timeout,
    Outcome::ConnectError,
    Outcome::TlsError,
    Outcome::IoError,
    Outcome::Dropped,
    Outcome::H2Reset,
    Outcome::H2Goaway,
    Outcome::AuthFetchFailed,
];

/// The breakdown of a recording: classes with bad requests first (most bad
/// first), then the rest by method and path.
pub fn breakdown(rec: &Recording) -> Vec<ClassBreakdown> {
    let mut classes: BTreeMap<(String, String), Vec<&KeyStats>> = BTreeMap::new();
    for k in &rec.keys {
        classes
            .entry((k.method.clone(), k.path.clone()))
            .or_default()
            .push(k);
    }
    let mut out: Vec<ClassBreakdown> = classes
        .into_iter()
        .map(|((method, path), keys)| {
            let examples: Vec<&StatusExample> = rec
                .examples
                .iter()
                .filter(|e| e.method == method && e.path == path)
                .collect();
            class(method, path, &keys, &examples)
        })
        .collect();
    out.sort_by(|a, b| {
        b.bad
            .cmp(&a.bad)
            .then_with(|| (&a.method, &a.path).cmp(&(&b.method, &b.path)))
    });
    out
}

fn class(
    method: String,
    path: String,
    keys: &[&KeyStats],
    examples: &[&StatusExample],
) -> ClassBreakdown {
    let mut outcomes = OutcomeCounts::default();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    for k in keys {
        outcomes.merge(&k.outcomes);
        for (s, n) in &k.statuses {
            *statuses.entry(*s).or_default() += n;
        }
    }
    let noted = noted_rows(examples);
    let mut rest = ok_rows(&statuses, &noted);
    let rest_total: u64 = rest.iter().map(|r| r.count).sum();
    if rest_total != outcomes.get(Outcome::Ok) {
        // Older results: non-ok answers carry no example, so the outcome of a
        // status is unknown here (the class's outcome counts still hold).
        for r in &mut rest {
            r.outcome = None;
        }
    }
    let mut rows: Vec<BreakdownRow> = noted.into_values().chain(rest).collect();
    for o in UNANSWERED {
        let n = outcomes.get(o);
        if n > 0 {
            let example = examples.iter().find(|e| e.status == 0 && e.outcome == o);
            rows.push(BreakdownRow {
                status: None,
                outcome: Some(o.name().to_owned()),
                count: n,
                example_body: example.and_then(|e| e.body.clone()),
                example_truncated: false,
                reason: None,
            });
        }
    }
    rows.sort_by(|a, b| {
        b.is_bad()
            .cmp(&a.is_bad())
            .then_with(|| b.count.cmp(&a.count))
            .then_with(|| a.status.cmp(&b.status))
            .then_with(|| a.outcome.cmp(&b.outcome))
    });
    ClassBreakdown {
        method,
        path,
        sent: outcomes.sent(),
        bad: outcomes.sent().saturating_sub(outcomes.good()),
        dropped: outcomes.get(Outcome::Dropped),
        rows,
    }
}

/// Non-ok answers by status × outcome, with the first example body.
fn noted_rows(examples: &[&StatusExample]) -> BTreeMap<(u16, Outcome), BreakdownRow> {
    let mut noted: BTreeMap<(u16, Outcome), BreakdownRow> = BTreeMap::new();
    // Status 0: a request without an answer that still left an example (an HTTP/2
    // reset's error code), shown on its outcome's row below.
    for e in examples.iter().filter(|e| e.status != 0) {
        let row = noted
            .entry((e.status, e.outcome))
            .or_insert_with(|| BreakdownRow {
                status: Some(e.status),
                outcome: Some(e.outcome.name().to_owned()),
                count: 0,
                example_body: None,
                example_truncated: false,
                reason: None,
            });
        row.count += e.count;
        if row.example_body.is_none() {
            row.example_body = e.body.clone();
            row.example_truncated = e.body_truncated;
        }
        if row.reason.is_none() {
            row.reason = e.reason.clone();
        }
    }
    noted
}

/// What the examples do not account for was `ok`, if the counts agree.
fn ok_rows(
    statuses: &BTreeMap<u16, u64>,
    noted: &BTreeMap<(u16, Outcome), BreakdownRow>,
) -> Vec<BreakdownRow> {
    statuses
        .iter()
        .filter_map(|(s, n)| {
            let bad: u64 = noted
                .iter()
                .filter(|((st, _), _)| st == s)
                .map(|(_, r)| r.count)
                .sum();
            let left = n.saturating_sub(bad);
            (left > 0).then(|| BreakdownRow {
                status: Some(*s),
                outcome: Some("ok".into()),
                count: left,
                example_body: None,
                example_truncated: false,
                reason: None,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "breakdown_tests.rs"]
pub(crate) mod tests;
