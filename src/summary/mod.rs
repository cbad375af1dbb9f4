//! The summary: everything a run's files say, as one serializable value, and
//! how it is built from the raw results.
//!
//! ```text
//!  RunResults ──► build::summarize ──► Summary ──► report/ (json, junit, md, terminal, html)
//!                   ├─ measure   (one SLO's figure, per metric family)
//!                   ├─ failover  (per-fault recovery figures)
//!                   ├─ integrity (lost and duplicated writes in the stores;
//!                   │             integrity_api: lost, duplicated, mismatched through the API)
//!                   └─ breakdown (outcomes by request class × status)
//!  two RunResults + Summaries ──► compare ──► Comparison
//! ```
//!
//! `summary.json` is [`Summary`]; `junit.xml`, `summary.md` and the terminal
//! summary are renderings of it and read nothing else. Its JSON Schema is
//! generated from these types by schemars and checked in at
//! `schemas/summary.schema.json` (a test keeps the two equal; run the tests with
//! `NINEFOLD_BLESS=1` to rewrite it after changing a type).
//!
//! Units are in the field names (`_s`, `_ms`); ratios are fractions in [0, 1].
//! JSON has no infinity, so values that can be unbounded are optional and
//! `null` when unbounded, with a flag saying why (see [`AvailabilitySummary`]).
//!
//! This module reads `results`, `metrics`, `scenario`, the statistics of
//! `analysis` and `format`; it never imports `report`, `run` or `cli`.

mod abort;
pub mod breakdown;
pub mod build;
pub mod compare;
pub mod failover;
pub mod flows;
pub mod integrity;
pub mod integrity_api;
mod measure;

pub use build::summarize;
pub use integrity_api::{ApiIntegrity, ApiWrite, DuplicatedKey, Mismatch, UnreadWrite};

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analysis::availability::{self, Confidence, Counts, Estimate};
use crate::analysis::slo::{Evaluation, RunHealth, RunVerdict, Verdict};
use crate::format::format_value;
use crate::scenario::slo::{Slo, Unit};

/// Version of this format; bumped when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// One run, as `summary.json` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Version of this format (see `schemas/summary.schema.json`).
    pub schema_version: u32,
    /// The ninefold version that produced the file.
    pub ninefold_version: String,
    /// Scenario name.
    pub scenario: String,
    /// The seed the run used (given or drawn), to replay it.
    pub seed: u64,
    /// Start of the run, RFC 3339 in UTC (`2026-11-26T06:00:00Z`).
    pub started_at: String,
    /// Length of the run on the run clock, seconds.
    pub duration_s: f64,
    /// Run-clock speed-up relative to the scenario's durations (1 = real time).
    pub time_scale: f64,
    /// CPU cores of the machine the run used.
    pub host_cores: u32,
    /// The run's verdict.
    pub verdict: RunVerdict,
    /// The process exit code that goes with the verdict.
    pub exit_code: u8,
    /// The run ended early (broken or interrupted): the numbers cover only part of it.
    pub partial: bool,
    /// Things a reader must know before trusting the numbers (drops, a
    /// generator that fell behind, a store that could not be read back).
    pub warnings: Vec<String>,
    pub requests: Requests,
    /// Count per outcome (`ok`, `rejected`, `unexpected_status`, `server_error`,
    /// `timeout`, `connect_error`, `io_error`, `dropped`).
    pub outcomes: BTreeMap<String, u64>,
    /// Where the requests went: outcomes by request class (method + path
    /// template) × status, each status that was not `ok` with an example body;
    /// classes with the most bad requests first.
    #[serde(default)]
    pub breakdown: Vec<breakdown::ClassBreakdown>,
    /// Flow phases (`flow = true`): flows started and completed, and each step in
    /// order with its counts and latency; absent when the scenario has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<flows::FlowSummary>,
    /// Latency from the intended send instant (coordinated-omission free);
    /// `null` when no response was recorded.
    pub latency_ms: Option<Percentiles>,
    /// Service time from the actual send; `null` when no response was recorded.
    pub service_time_ms: Option<Percentiles>,
    pub availability: AvailabilitySummary,
    /// Throttle accuracy per tenant.
    pub tenants: Vec<TenantSummary>,
    /// Requests served per gateway or backend instance.
    pub instances: Vec<InstanceSummary>,
    /// Failover metrics per fault event, in timeline order.
    pub faults: Vec<FaultSummary>,
    pub integrity: IntegritySummary,
    /// Requests with a hostile token (expired, forged, `alg: none`, …) that
    /// reached a backend anyway, as the backends counted them; `null` when not
    /// known exactly (no hostile traffic, no managed backend, or a backend
    /// ended during the run and took its count with it).
    #[serde(default)]
    pub hostile_backend_requests: Option<u64>,
    /// Every SLO of the scenario, in file order.
    pub slos: Vec<SloResult>,
    /// How long the load engine's connections took to set up (absent when not
    /// measured: results of older versions, `--client hyper`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_setup_ms: Option<ConnectionSetupSummary>,
    /// `true` when the servers' TLS certificates were NOT verified (`[client.tls]
    /// insecure = true`); absent when they were, or no TLS was spoken.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_insecure: bool,
    /// The run stopped early because an SLO with `abort = true` could not
    /// pass any more: which, when, and the figures (absent when it did not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<crate::results::Aborted>,
}

/// Connection set-up, milliseconds, of every connection opened (failed ones excluded).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConnectionSetupSummary {
    /// From the start of the TCP connect to the connection established.
    pub tcp_connect: Percentiles,
    /// From then to the end of the TLS handshake; absent without TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_handshake: Option<Percentiles>,
}

/// Request counts; `sent = ok + rejected + failed`, and `dropped` were never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Requests {
    pub sent: u64,
    /// Answered as expected.
    pub ok: u64,
    /// Expected rejections (401/403/429 where the scenario expects them).
    pub rejected: u64,
    /// Every other outcome of a sent request.
    pub failed: u64,
    /// Not sent: the in-flight cap was reached (the run is invalid).
    pub dropped: u64,
}

/// Percentiles of a distribution, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// Availability of the whole run with its confidence bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AvailabilitySummary {
    /// Good requests: `ok` plus expected rejections.
    pub good: u64,
    /// Eligible requests: sent ones (dropped requests are not eligible).
    pub eligible: u64,
    /// `good / eligible`; `null` without eligible requests.
    pub ratio: Option<f64>,
    /// `−log10(1 − ratio)`; `null` when infinite (`perfect`) or without requests.
    pub nines: Option<f64>,
    /// No eligible request failed: the point estimate is 100% and its nines
    /// unbounded; `lower_bound_nines` is what the run demonstrated.
    pub perfect: bool,
    /// One-sided Clopper–Pearson lower bound at `confidence`.
    pub lower_bound: Option<f64>,
    /// One-sided Clopper–Pearson upper bound at `confidence`.
    pub upper_bound: Option<f64>,
    /// Nines of the lower bound.
    pub lower_bound_nines: Option<f64>,
    /// Confidence of each one-sided bound, e.g. 0.95.
    pub confidence: f64,
    /// The availability SLO's target, if the scenario has one.
    pub target: Option<f64>,
    /// Requests needed, all good, to demonstrate `target` at `confidence`.
    pub requests_to_demonstrate: Option<u64>,
    /// For an undecided target: more requests at the observed failure rate
    /// that would settle it (0 when already settled).
    pub more_requests_to_settle: Option<u64>,
    /// Share of 1 s windows whose own availability met `target`.
    pub time_based: Option<f64>,
    /// Bad requests over those `target` allows for this run (1 = all spent).
    pub error_budget_consumed: Option<f64>,
    /// Observed failure rate over the rate `target` allows.
    pub burn_rate: Option<f64>,
    /// Highest burn rate over any 60 s span of the run.
    pub peak_burn_rate_60s: Option<f64>,
    /// Downtime per year at the observed ratio, seconds.
    pub downtime_per_year_s: Option<f64>,
    /// Downtime per year at the lower bound (the worst plausible), seconds.
    pub downtime_per_year_upper_s: Option<f64>,
}

impl AvailabilitySummary {
    /// Compute every figure from the run's counts, its per-second series and
    /// the availability target (if an SLO sets one).
    pub fn compute(
        counts: Counts,
        per_second: &[Counts],
        confidence: Confidence,
        target: Option<f64>,
    ) -> Self {
        let est = Estimate::new(counts, confidence);
        let on_target = |f: &dyn Fn(f64) -> Option<f64>| target.and_then(f);
        AvailabilitySummary {
            good: counts.good(),
            eligible: counts.eligible(),
            ratio: counts.ratio(),
            nines: est.and_then(|e| availability::finite(e.nines())),
            perfect: counts.eligible() > 0 && counts.bad() == 0,
            lower_bound: est.map(|e| e.lower),
            upper_bound: est.map(|e| e.upper),
            lower_bound_nines: est.and_then(|e| availability::finite(e.lower_nines())),
            confidence: confidence.get(),
            target,
            requests_to_demonstrate: target
                .and_then(|t| availability::requests_to_demonstrate(t, confidence)),
            more_requests_to_settle: target.and_then(|t| {
                (counts.eligible() > 0)
                    .then(|| availability::requests_to_settle(counts, t, confidence))
                    .flatten()
            }),
            time_based: on_target(&|t| availability::time_based(per_second, t)),
            error_budget_consumed: on_target(&|t| availability::error_budget_consumed(counts, t)),
            burn_rate: on_target(&|t| availability::burn_rate(counts, t)),
            peak_burn_rate_60s: on_target(&|t| availability::peak_burn_rate(per_second, t, 60)),
            downtime_per_year_s: counts.ratio().map(availability::downtime_per_year_s),
            downtime_per_year_upper_s: est.map(|e| availability::downtime_per_year_s(e.lower)),
        }
    }
}

/// Throttle accuracy of one tenant against the token-bucket and quota model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TenantSummary {
    pub id: String,
    /// Requests the tenant sent.
    pub offered: u64,
    /// Requests the gateway let through.
    pub admitted: u64,
    /// Requests a perfect gateway would have let through.
    pub model_admitted: u64,
    /// `(admitted − model_admitted) / model_admitted`, signed; `null` if the
    /// model admitted nothing.
    pub accuracy_error: Option<f64>,
    /// 429s that left a whole token however the gateway saw the requests within
    /// their send-to-answer intervals (and while the quota was surely not used up).
    pub wrongful_throttles: u64,
    /// Admissions beyond `burst + rate × window` (or the quota) however the
    /// gateway saw the requests within their send-to-answer intervals.
    pub over_admitted: u64,
    /// `Retry-After` of the 429s against the possible waits; `null` if never sent.
    pub retry_after: Option<HeaderCheck>,
    /// `RateLimit-Remaining` against the possible remaining counts (the bucket's,
    /// or the lower of bucket and quota); `null` if never sent.
    pub ratelimit_remaining: Option<HeaderCheck>,
}

/// How many answers carried a header, and how many of them were off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HeaderCheck {
    /// Answers that carried the header (numeric).
    pub checked: u64,
    /// Of those, the ones more than one (token or second) outside every value
    /// the plan allows over the timing uncertainty.
    pub off_by_more_than_one: u64,
}

impl HeaderCheck {
    /// `None` when no header was seen: nothing was measured.
    pub fn of(checked: u64, off: u64) -> Option<Self> {
        (checked > 0).then_some(HeaderCheck {
            checked,
            off_by_more_than_one: off,
        })
    }
}

/// Requests one instance served (from `X-Backend-Instance`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InstanceSummary {
    /// `api[1]`, `gateway[0]`, …
    pub name: String,
    pub zone: Option<String>,
    pub served: u64,
}

/// What one fault event did to the clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaultSummary {
    /// Position in the scenario's `[[faults]]` (what `fault:N` filters name).
    pub index: usize,
    pub action: String,
    pub target: String,
    /// When the fault was applied, seconds from the start of the run.
    pub at_s: f64,
    /// When it was reverted; `null` if it never was.
    pub reverted_at_s: Option<f64>,
    /// From the fault to the first bad request; `null` if none followed.
    pub time_to_first_error_s: Option<f64>,
    /// Length of the burst of errors it caused.
    pub error_burst_s: Option<f64>,
    /// Bad requests during the burst (0 when no error followed); `null` when
    /// not measured (no answer after the fault) or not attributed (`not_attributed`).
    pub bad_requests: Option<u64>,
    /// Whether the service recovered, and if not why there is no `recovery_s`.
    #[serde(default)]
    pub recovery: RecoveryState,
    /// Until the 1 s error rate was back within the SLO's allowance; `null`
    /// unless `recovery` is `recovered`.
    pub recovery_s: Option<f64>,
    /// `recovery` is `not_recovered`: still above the allowance at the end of
    /// the run, this long after the fault (run end − fault time), seconds.
    /// Recovery took at least this long: it fails any `<` objective it reaches.
    #[serde(default)]
    pub not_recovered_for_s: Option<f64>,
    /// Why this fault's figures are not attributed to it ("no effect on the
    /// measured traffic: …"); `null` when they are.
    #[serde(default)]
    pub not_attributed: Option<String>,
    /// Until a restarted instance served its first request.
    pub reintegration_s: Option<f64>,
}

/// What became of the service after a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryState {
    /// Back within the allowance after `recovery_s`.
    Recovered,
    /// Still failing above the allowance when the run ended (`not_recovered_for_s`).
    NotRecovered,
    /// No error followed the fault: nothing to recover from (recovery not applicable).
    NoErrors,
    /// No request was answered after the fault: not measured.
    #[default]
    NoTraffic,
    /// The fault's target carried none of the measured traffic: nothing is
    /// attributed to it (see `not_attributed`).
    NoEffect,
}

impl RecoveryState {
    /// The recovery of `f` for people: `3.50s`, `not recovered (≥ 40.0s)`, …
    pub fn describe(f: &FaultSummary) -> String {
        match (f.recovery, f.recovery_s, f.not_recovered_for_s) {
            (RecoveryState::Recovered, Some(s), _) => format_value(Unit::Duration, s),
            (RecoveryState::NotRecovered, _, Some(n)) => {
                format!("not recovered (≥ {})", format_value(Unit::Duration, n))
            }
            (RecoveryState::NoErrors, ..) => "not applicable: no error followed".into(),
            (RecoveryState::NoEffect, ..) => {
                "not attributed: no effect on the measured traffic".into()
            }
            _ => "not measured: no answer after the fault".into(),
        }
    }
}

/// Data integrity: acknowledged writes against the store read back.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct IntegritySummary {
    /// The store was read back and compared (false: see `not_measured`).
    pub checked: bool,
    pub acknowledged_writes: u64,
    /// Acknowledged but absent from the store; `null` when not measured (the
    /// store was not read back, or no write was acknowledged).
    pub lost: Option<u64>,
    /// One idempotency key applied more than once; `null` when not measured.
    pub duplicates: Option<u64>,
    /// Orders created *without* an idempotency key that no acknowledged
    /// request accounts for: the duplicates a retried unkeyed write leaves
    /// behind (or the effect of a write whose client gave up) — what keys prevent.
    /// `null` when not measured.
    #[serde(default)]
    pub unkeyed_duplicates: Option<u64>,
    /// Why the store was not compared ("the backends are external (targets),
    /// so ninefold cannot read their store"); `null` when it was.
    #[serde(default)]
    pub not_measured: Option<String>,
    /// The writes of classes that declare `integrity`, read back through the
    /// API after the run (on any system, not only on stores ninefold started);
    /// absent when no class declares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through_api: Option<ApiIntegrity>,
}

/// The unit of an SLO's `target` and `measured`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SloUnit {
    Seconds,
    /// A fraction in [0, 1].
    Ratio,
    Count,
    Number,
}

impl From<Unit> for SloUnit {
    fn from(unit: Unit) -> Self {
        match unit {
            Unit::Duration => SloUnit::Seconds,
            Unit::Ratio => SloUnit::Ratio,
            Unit::Count => SloUnit::Count,
            Unit::Number => SloUnit::Number,
        }
    }
}

impl From<SloUnit> for Unit {
    fn from(unit: SloUnit) -> Self {
        match unit {
            SloUnit::Seconds => Unit::Duration,
            SloUnit::Ratio => Unit::Ratio,
            SloUnit::Count => Unit::Count,
            SloUnit::Number => Unit::Number,
        }
    }
}

/// One SLO's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SloResult {
    /// The `[slo]` key as written, e.g. `latency.p99{tenant=acme}`.
    pub name: String,
    /// The objective as written, normalized, e.g. `>= 99.9%`.
    pub objective: String,
    pub unit: SloUnit,
    /// The objective's target in `unit`.
    pub target: f64,
    /// The measured value in `unit`; `null` if not measured.
    pub measured: Option<f64>,
    /// `measured` for people (`123ms`, `99.95%`).
    pub measured_display: Option<String>,
    /// Confidence bounds of `measured`, for estimates.
    pub lower_bound: Option<f64>,
    pub upper_bound: Option<f64>,
    /// For an inconclusive estimate: more requests that would settle it.
    pub more_requests: Option<u64>,
    pub verdict: Verdict,
    /// Why: measured vs objective, in a sentence.
    pub detail: String,
}

impl SloResult {
    /// The result of `slo` from its evaluation.
    pub fn new(slo: &Slo, eval: &Evaluation) -> Self {
        let unit = slo.objective.unit;
        SloResult {
            name: slo.name.clone(),
            objective: slo.objective.to_string(),
            unit: unit.into(),
            target: slo.objective.target,
            measured: eval.measured.filter(|v| v.is_finite()),
            measured_display: eval
                .measured
                .filter(|v| v.is_finite())
                .map(|v| format_value(unit, v))
                .or_else(|| eval.shown.clone()),
            lower_bound: eval.interval.map(|i| i.lower).filter(|v| v.is_finite()),
            upper_bound: eval.interval.map(|i| i.upper).filter(|v| v.is_finite()),
            more_requests: eval.more_requests,
            verdict: eval.verdict,
            detail: eval.detail.clone(),
        }
    }
}

impl Summary {
    /// Set `verdict` and `exit_code` from the SLO results and the run's health.
    /// A partial run is an interrupted one whatever `health` says: its verdict
    /// is withheld (or broken), never a pass.
    pub fn decide(&mut self, mut health: RunHealth) {
        health.interrupted |= self.partial;
        self.verdict = RunVerdict::decide(self.slos.iter().map(|s| s.verdict), health);
        self.exit_code = self.verdict.exit_status().code();
    }

    /// Pretty JSON, as written to `summary.json`.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }
}

/// The JSON Schema of [`Summary`], pretty-printed with a trailing newline, as
/// checked in at `schemas/summary.schema.json`.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Summary);
    let mut text = serde_json::to_string_pretty(&schema)
        .unwrap_or_else(|_| unreachable!("a schema always serializes"));
    text.push('\n');
    text
}

/// `t` as RFC 3339 in UTC, to the second (`2026-11-26T06:00:00Z`); times
/// before 1970 read as the epoch.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
pub(crate) mod tests;
