//! The result of a run's traffic: what every client saw, merged across workers
//! (and across shards: [`Recording::merge`] is exact, histograms included).
//!
//! Everything here is serializable; the summary and the report read it,
//! and `histograms.hlog`-style consumers can decode each histogram on its own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::bucket::TenantModelStats;
use super::hist::{self, Hist, HistogramError};
use super::outcome::OutcomeCounts;
pub use super::second_phases::PhaseSecond;
use super::second_phases::merge_phases;

/// Version of the serialized shape.
pub const FORMAT: u32 = 1;

/// Everything the load engine recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    /// Shape version ([`FORMAT`]).
    pub format: u32,
    /// Worker threads (summed over merged shards).
    pub workers: u32,
    /// Seconds from the run start to the end of the traffic (longest shard).
    pub duration_s: f64,
    /// One entry per phase × tenant × request class that saw traffic.
    pub keys: Vec<KeyStats>,
    /// One entry per traffic phase.
    pub phases: Vec<PhaseStats>,
    /// Per-second series on the run clock, by completion time; seconds without
    /// any event are absent.
    pub seconds: Vec<SecondStats>,
    /// The seconds are kept by phase: with more than one phase each second's
    /// `phases` is its breakdown, with one phase each second is that phase's.
    /// Absent (false) in results of older versions, whose seconds are every
    /// phase together with no breakdown.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub seconds_by_phase: bool,
    /// Throttle model tallies by tenant id.
    pub tenants: BTreeMap<String, TenantModelStats>,
    /// Answers by `X-Backend-Instance`, whole run.
    pub instances: BTreeMap<String, u64>,
    /// Acknowledged writes (2xx to a request with an idempotency key, or to a
    /// POST without one: those carry an empty key).
    pub ledger: Vec<AckedWrite>,
    /// Answers that were not `ok`, by phase × request class × status, each
    /// with one example body (absent in results of older versions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<StatusExample>,
    /// The HTTP client that sent the load when it was not ninefold's own
    /// (`hyper`: `--client hyper`, a cross-check); absent for the own client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_client: Option<String>,
    /// How long the load engine's connections took to set up (absent in results of
    /// older versions, and with `--client hyper`, which connects inside requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_setup: Option<ConnectionSetup>,
    /// TLS certificates were not verified (`insecure = true`, `--insecure`); absent
    /// when they were, or no TLS was spoken.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_insecure: bool,
}

/// Connection set-up, µs, of every connection opened (failed ones excluded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectionSetup {
    /// From the start of the TCP connect to the connection established.
    pub tcp_connect: Hist,
    /// From then to the TLS handshake's end; absent without TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_handshake: Option<Hist>,
}

impl ConnectionSetup {
    /// Add `other`'s counts.
    pub fn merge(&mut self, other: &ConnectionSetup) -> Result<(), HistogramError> {
        self.tcp_connect.merge(&other.tcp_connect)?;
        match (&mut self.tls_handshake, &other.tls_handshake) {
            (Some(mine), Some(theirs)) => mine.merge(theirs)?,
            (mine @ None, Some(theirs)) => *mine = Some(theirs.clone()),
            (_, None) => {}
        }
        Ok(())
    }
}

/// Longest example body kept, bytes.
pub const EXAMPLE_BODY_BYTES: usize = 512;

/// The answers of one phase × request class with one status and one outcome
/// other than `ok`, all tenants together, with the first body seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusExample {
    pub phase: String,
    /// Index of the class in the phase's `requests`.
    pub class: usize,
    pub method: String,
    /// The path template as written.
    pub path: String,
    pub status: u16,
    pub outcome: super::Outcome,
    /// Answers with this status and outcome.
    pub count: u64,
    /// The first [`EXAMPLE_BODY_BYTES`] of one answer's body (lossy UTF-8);
    /// `None` when no body was kept (empty, HEAD, or over the client's limit).
    pub body: Option<String>,
    /// The body was longer than what is kept.
    #[serde(default)]
    pub body_truncated: bool,
    /// `check_failed`: why the first of them failed its check (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Recording {
    /// Hide `secrets` in the example bodies (an answer may echo a request's key).
    pub fn redact_examples(&mut self, secrets: &[String]) {
        if secrets.is_empty() {
            return;
        }
        for e in &mut self.examples {
            if let Some(body) = &mut e.body {
                *body = crate::scenario::redact_text(body, secrets, e.body_truncated);
            }
            if let Some(reason) = &mut e.reason {
                *reason = crate::scenario::redact_text(reason, secrets, false);
            }
        }
    }
}

impl StatusExample {
    /// An example body out of raw bytes: the first [`EXAMPLE_BODY_BYTES`], lossy
    /// UTF-8, and whether there was more. An empty body is no example.
    pub fn body_of(bytes: &[u8]) -> (Option<String>, bool) {
        if bytes.is_empty() {
            return (None, false);
        }
        let cut = &bytes[..bytes.len().min(EXAMPLE_BODY_BYTES)];
        (
            Some(String::from_utf8_lossy(cut).into_owned()),
            bytes.len() > EXAMPLE_BODY_BYTES,
        )
    }

    fn same(&self, o: &StatusExample) -> bool {
        self.phase == o.phase
            && self.class == o.class
            && self.status == o.status
            && self.outcome == o.outcome
    }

    /// Add `o` (the same phase, class, status and outcome) into `self`.
    fn merge(&mut self, o: StatusExample) {
        self.count += o.count;
        if self.body.is_none() {
            self.body = o.body;
            self.body_truncated = o.body_truncated;
        }
        if self.reason.is_none() {
            self.reason = o.reason;
        }
    }

    /// Merge lists of examples: same keys add up, the first body stays.
    pub fn merge_into(into: &mut Vec<StatusExample>, from: Vec<StatusExample>) {
        for e in from {
            match into.iter_mut().find(|x| x.same(&e)) {
                Some(mine) => mine.merge(e),
                None => into.push(e),
            }
        }
        into.sort_by(|a, b| {
            (&a.phase, a.class, a.status, a.outcome).cmp(&(&b.phase, b.class, b.status, b.outcome))
        });
    }
}

/// Results of one phase × tenant × request class (a "route class").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyStats {
    pub phase: String,
    /// `None` for anonymous traffic.
    pub tenant: Option<String>,
    /// Index of the class in the phase's `requests`.
    pub class: usize,
    pub method: String,
    /// The path template as written (`/items/{rand:1..1000}`).
    pub path: String,
    pub outcomes: OutcomeCounts,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// µs from the intended send instant to the end of the response (answered requests).
    pub latency: Hist,
    /// µs from the actual send to the end of the response (answered requests).
    pub service: Hist,
    /// Client retries spent (same idempotency key).
    pub retries: u64,
}

/// How well the generator kept one phase's schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseStats {
    pub name: String,
    /// Open loop: whether the phase had a schedule (arrival-rate executors).
    pub open_loop: bool,
    /// Requests the schedule asked for (open loop) or VU iterations started (closed
    /// loop); in a flow phase, every step of every flow (flows × steps).
    pub scheduled: u64,
    /// Of those, dropped at the in-flight cap (a dropped flow: each of its steps).
    pub dropped: u64,
    /// Flow phases (`flow = true`) only: their flows (absent for other phases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<FlowStats>,
    /// µs by which the generator itself missed intended instants (its own lag,
    /// not time spent waiting for a free connection).
    pub dispatch_lag: Hist,
}

/// The flows of one flow phase.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowStats {
    /// Flows started: sent, or dropped at the in-flight cap.
    pub started: u64,
    /// Flows whose every step was sent and had a good outcome.
    pub completed: u64,
    /// Per step, requests not sent: a value an earlier step should extract was missing.
    pub skipped: Vec<u64>,
}

impl FlowStats {
    /// Add another worker's or shard's counts.
    pub fn merge(&mut self, o: &FlowStats) {
        self.started += o.started;
        self.completed += o.completed;
        self.skipped
            .resize(self.skipped.len().max(o.skipped.len()), 0);
        self.skipped
            .iter_mut()
            .zip(&o.skipped)
            .for_each(|(a, b)| *a += b);
    }
}

/// One second of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecondStats {
    /// Seconds since the run start (completion time).
    pub second: u32,
    pub outcomes: OutcomeCounts,
    /// Intended-time latency of the answers completed in this second, µs,
    /// base64 V2+deflate at 2 significant digits ([`hist::decode`] reads it).
    pub latency: String,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Highest in-flight count (waiting + sent) seen in this second; merged
    /// across workers as the sum of their maxima (an upper bound).
    pub in_flight_max: u64,
    /// Answers by `X-Backend-Instance` in this second.
    pub instances: BTreeMap<String, u64>,
    /// Throttle tallies by tenant id in this second (absent in older results).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tenants: BTreeMap<String, TenantSecond>,
    /// The second by phase, each phase that saw anything in it, in the phases'
    /// order; written only when the run has more than one phase (see
    /// [`Recording::seconds_by_phase`]), absent in older results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseSecond>,
}

/// One tenant's throttling in one second: what it offered, what the gateway
/// admitted and what a perfect gateway (the model) would have admitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSecond {
    pub offered: u64,
    pub admitted: u64,
    pub model_admitted: u64,
}

impl TenantSecond {
    /// Add another worker's tallies of the same second.
    pub fn merge(&mut self, o: &TenantSecond) {
        self.offered += o.offered;
        self.admitted += o.admitted;
        self.model_admitted += o.model_admitted;
    }
}

/// One acknowledged write, for the integrity check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckedWrite {
    /// The `Idempotency-Key` sent; empty for a write sent without one.
    pub key: String,
    /// The id the service returned (`id`/`order_id` in the JSON body, or the
    /// last segment of `Location`), if any.
    pub order_id: Option<String>,
    pub status: u16,
    pub phase: String,
    pub tenant: Option<String>,
    /// Completion second on the run clock.
    pub second: u32,
    /// Index of the request class in its phase, for a class that declares
    /// `integrity` (its writes are read back through the API); else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<u32>,
    /// The sent body's values at the class's `integrity.compare` paths (path as
    /// written → value; a path the body lacked is absent); absent when the class
    /// compares nothing or the body sent was not JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}

/// Answers of one key with one status and outcome other than `ok`.
#[derive(Debug)]
pub(crate) struct BadLive {
    pub(crate) status: u16,
    pub(crate) outcome: super::Outcome,
    pub(crate) count: u64,
    /// The first example body and whether it was cut.
    pub(crate) body: Option<(String, bool)>,
    /// The first reason given (a failed check's).
    pub(crate) reason: Option<String>,
}

impl BadLive {
    /// Count one answer that was not `ok`, keeping its body if its status has none yet.
    #[cold]
    pub(crate) fn note(
        bad: &mut Vec<BadLive>,
        status: u16,
        outcome: super::Outcome,
        body: Option<&[u8]>,
        reason: Option<&str>,
    ) {
        let i = match bad
            .iter()
            .position(|b| b.status == status && b.outcome == outcome)
        {
            Some(i) => i,
            None => {
                bad.push(BadLive {
                    status,
                    outcome,
                    count: 0,
                    body: None,
                    reason: None,
                });
                bad.len() - 1
            }
        };
        let b = &mut bad[i];
        b.count += 1;
        if b.body.is_none()
            && let (Some(text), cut) = StatusExample::body_of(body.unwrap_or_default())
        {
            b.body = Some((text, cut));
        }
        if b.reason.is_none() {
            b.reason = reason.map(str::to_owned);
        }
    }
}

/// Why two recordings do not merge.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("recording format {found} cannot merge with format {FORMAT}")]
    Format { found: u32 },
    #[error(transparent)]
    Histogram(#[from] HistogramError),
}

impl Recording {
    /// Add `other` (another worker or shard) into `self`, exactly.
    pub fn merge(&mut self, other: Recording) -> Result<(), MergeError> {
        let first = self.format == 0;
        if first {
            self.format = FORMAT;
        }
        if other.format != FORMAT {
            return Err(MergeError::Format {
                found: other.format,
            });
        }
        self.workers += other.workers;
        if self.http_client.is_none() {
            self.http_client = other.http_client;
        }
        self.tls_insecure |= other.tls_insecure;
        match (&mut self.connection_setup, &other.connection_setup) {
            (Some(mine), Some(theirs)) => mine.merge(theirs)?,
            (mine @ None, Some(theirs)) => *mine = Some(theirs.clone()),
            (_, None) => {}
        }
        self.duration_s = self.duration_s.max(other.duration_s);
        // An empty recording (format 0, the start of a merge) takes the other's
        // kind of series; a breakdown only one side has would not add up: dropped.
        self.seconds_by_phase = other.seconds_by_phase && (first || self.seconds_by_phase);
        for key in other.keys {
            match self
                .keys
                .iter_mut()
                .find(|k| k.phase == key.phase && k.tenant == key.tenant && k.class == key.class)
            {
                Some(mine) => mine.merge(&key)?,
                None => self.keys.push(key),
            }
        }
        self.keys
            .sort_by(|a, b| (&a.phase, &a.tenant, a.class).cmp(&(&b.phase, &b.tenant, b.class)));
        for phase in other.phases {
            match self.phases.iter_mut().find(|p| p.name == phase.name) {
                Some(mine) => {
                    mine.scheduled += phase.scheduled;
                    mine.dropped += phase.dropped;
                    match (&mut mine.flow, &phase.flow) {
                        (Some(a), Some(b)) => a.merge(b),
                        (a @ None, Some(b)) => *a = Some(b.clone()),
                        (_, None) => {}
                    }
                    mine.dispatch_lag.merge(&phase.dispatch_lag)?;
                }
                None => self.phases.push(phase),
            }
        }
        self.seconds = merge_seconds(std::mem::take(&mut self.seconds), other.seconds)?;
        if !self.seconds_by_phase {
            self.seconds.iter_mut().for_each(|s| s.phases.clear());
        }
        for (id, stats) in other.tenants {
            self.tenants.entry(id).or_default().merge(&stats);
        }
        for (name, n) in other.instances {
            *self.instances.entry(name).or_default() += n;
        }
        self.ledger.extend(other.ledger);
        StatusExample::merge_into(&mut self.examples, other.examples);
        Ok(())
    }

    /// Outcome counts over every key.
    pub fn outcomes(&self) -> OutcomeCounts {
        let mut total = OutcomeCounts::default();
        for key in &self.keys {
            total.merge(&key.outcomes);
        }
        total
    }

    /// Intended-time latency over every key.
    pub fn latency(&self) -> Result<Hist, HistogramError> {
        let mut h = Hist::default();
        for key in &self.keys {
            h.merge(&key.latency)?;
        }
        Ok(h)
    }

    /// Service time over every key.
    pub fn service(&self) -> Result<Hist, HistogramError> {
        let mut h = Hist::default();
        for key in &self.keys {
            h.merge(&key.service)?;
        }
        Ok(h)
    }

    /// Requests dropped at the in-flight cap, over every phase.
    pub fn dropped(&self) -> u64 {
        self.phases.iter().map(|p| p.dropped).sum()
    }
}

impl KeyStats {
    fn merge(&mut self, o: &KeyStats) -> Result<(), HistogramError> {
        self.outcomes.merge(&o.outcomes);
        for (status, n) in &o.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        self.latency.merge(&o.latency)?;
        self.service.merge(&o.service)?;
        self.retries += o.retries;
        Ok(())
    }
}

impl SecondStats {
    /// A second's entry from its live histogram.
    pub fn new(second: u32, latency: &hdrhistogram::Histogram<u64>) -> Self {
        SecondStats {
            second,
            outcomes: OutcomeCounts::default(),
            latency: hist::encode(latency),
            p50_us: latency.value_at_quantile(0.5),
            p99_us: latency.value_at_quantile(0.99),
            max_us: latency.max(),
            in_flight_max: 0,
            instances: BTreeMap::new(),
            tenants: BTreeMap::new(),
            phases: Vec::new(),
        }
    }

    fn merge(&mut self, o: SecondStats) -> Result<(), HistogramError> {
        let mut h = hist::decode(&self.latency)?;
        h.add(hist::decode(&o.latency)?)
            .map_err(HistogramError::Merge)?;
        let mut merged = SecondStats::new(self.second, &h);
        merged.outcomes = self.outcomes;
        merged.outcomes.merge(&o.outcomes);
        merged.in_flight_max = self.in_flight_max + o.in_flight_max;
        merged.instances = std::mem::take(&mut self.instances);
        for (name, n) in o.instances {
            *merged.instances.entry(name).or_default() += n;
        }
        merged.tenants = std::mem::take(&mut self.tenants);
        for (id, t) in o.tenants {
            merged.tenants.entry(id).or_default().merge(&t);
        }
        merged.phases = std::mem::take(&mut self.phases);
        merge_phases(&mut merged.phases, o.phases)?;
        *self = merged;
        Ok(())
    }
}

/// Merge two series sorted by second.
fn merge_seconds(
    a: Vec<SecondStats>,
    b: Vec<SecondStats>,
) -> Result<Vec<SecondStats>, HistogramError> {
    let mut out: Vec<SecondStats> = Vec::with_capacity(a.len().max(b.len()));
    let mut all: Vec<SecondStats> = a.into_iter().chain(b).collect();
    all.sort_by_key(|s| s.second);
    for s in all {
        match out.last_mut() {
            Some(last) if last.second == s.second => last.merge(s)?,
            _ => out.push(s),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "recording_tests.rs"]
mod tests;
