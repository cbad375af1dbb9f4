//! The raw results of a run: the serde model of `results.json`.
//!
//! [`RunResults`] is what `run/` leaves in the run folder (the merged
//! recording, the fault and lifecycle events, the pool events seen during
//! the run, the store read-back, the read-back through the API, the scraped
//! gateway counters) and what `ninefold report`, `merge` and `compare`
//! read back. It sits above `metrics` (the recording), `faults` (the fault
//! events) and `topology` (the lifecycle events), and below the summary that
//! is built from it; it imports nothing from the stages that consume it.

use serde::{Deserialize, Serialize};

use crate::faults::timeline::FaultEvent;
use crate::metrics::Recording;
use crate::topology::supervisor::LifecycleEvent;
/// The read-back through the API, as the load engine's read-back records it.
pub use crate::traffic::readback::{ApiReadback, Lookup, ReadbackClass, Record, WriteReadback};

/// A store read back after the run, for the integrity check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreReadback {
    pub pool: String,
    /// `None` when the store could not be read (then integrity is unknown).
    pub orders: Option<Vec<mock_backends::ExportedOrder>>,
    pub error: Option<String>,
}

/// Everything a run measured: the input to the summary and the reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResults {
    pub scenario: String,
    pub seed: u64,
    pub started_at: String,
    /// Stopped early (Ctrl-C): what was measured, marked partial.
    pub partial: bool,
    pub recording: Recording,
    pub faults: Vec<FaultEvent>,
    pub lifecycle: Vec<LifecycleEvent>,
    pub stores: Vec<StoreReadback>,
    /// The acknowledged writes of classes that declare `integrity`, read back
    /// through the API after the traffic and the faults; `None` when no class
    /// declares it (or the run stopped before the read-back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_readback: Option<ApiReadback>,
    /// Counters scraped from every gateway instance's `/metrics` at the end
    /// (summed over instances), e.g. `gateway_cache_hits_total`.
    #[serde(default)]
    pub gateway_counters: std::collections::BTreeMap<String, f64>,
    /// `--time-scale`: every time in the scenario was multiplied by this
    /// (1.0 = as written). Reports say when a run was scaled.
    #[serde(default = "one")]
    pub time_scale: f64,
    /// Which share of the load this process generated (`--shard I/N`), with
    /// its run id and the instant its schedule began; `None` for a whole run
    /// and for a merge of shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::traffic::ShardRun>,
    /// Requests with a hostile token that reached a managed backend anyway
    /// (counted by the backends themselves); `None` when that cannot be known
    /// exactly (a backend ended during the run, or did not answer).
    #[serde(default)]
    pub hostile_backend_requests: Option<u64>,
    /// CPU cores of the machine that ran the load (`None` in results written
    /// before this was recorded: then the re-rendering machine's count).
    #[serde(default)]
    pub host_cores: Option<u32>,
    /// The run stopped early because an SLO with `abort = true` could not
    /// pass any more (`None`: it ran its course, or was interrupted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<Aborted>,
    /// The gateways' pools watched during the run (instances ejected,
    /// readmitted, failing or passing their health checks); `None` when
    /// nothing watched them (no live feed, or no gateway of ninefold's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pools: Option<PoolWatch>,
}

/// What polling the gateways' admin `/metrics` during the run saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolWatch {
    /// The interval between polls, ms.
    pub interval_ms: u64,
    /// Polls answered (over all gateways).
    pub polls: u64,
    /// Polls that failed (no answer, or not the metrics text): skipped, and
    /// the next answered poll's interval reaches back over them.
    pub failed_polls: u64,
    /// Every change seen, in the order seen.
    pub events: Vec<PoolEvent>,
}

/// A change of one instance's state in one gateway's pool. It happened in
/// the interval (`since_s`, `at_s`] between two answered polls (docs/live.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolEvent {
    /// When the poll that saw the change was answered (run clock, s).
    pub at_s: f64,
    /// When the gateway's previous answered poll was sent (run clock, s; 0
    /// for its first poll: every instance counts as up before it).
    pub since_s: f64,
    /// The gateway instance that told it (`gateway-0`).
    pub gateway: String,
    /// The pool (`[upstreams.NAME]`).
    pub upstream: String,
    /// The instance (`api-1`), or the address the gateway dials when ninefold
    /// does not know it.
    pub instance: String,
    pub event: PoolChange,
}

/// How an instance's state in a pool changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolChange {
    /// A passive ejection (a failed connect, or `outlier`) took it out.
    Ejected,
    /// Its passive ejection ended (expired, or a passing probe readmitted it).
    Readmitted,
    /// Not ejected, and failed by the active health checks.
    Unhealthy,
    /// Passing the health checks again.
    Healthy,
}

impl PoolChange {
    /// The word people read (`ejected`).
    pub fn word(self) -> &'static str {
        match self {
            PoolChange::Ejected => "ejected",
            PoolChange::Readmitted => "readmitted",
            PoolChange::Unhealthy => "unhealthy",
            PoolChange::Healthy => "healthy",
        }
    }
}

/// Why and when a run stopped early on an SLO's `abort = true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Aborted {
    /// The SLO's name as written in `[slo]`.
    pub slo: String,
    /// The objective it could no longer meet (`>= 99.9%`, `<= 0`).
    pub objective: String,
    /// When the rule fired, ms since the run clock's zero (the clock of the
    /// fault and lifecycle events).
    pub at_ms: u64,
    /// The run second it fired in (`at_ms / 1000`).
    pub second: u32,
    /// What the rule fired on: availability counts and their bound, or a
    /// count over its limit (older results have only the former).
    #[serde(flatten)]
    pub evidence: AbortEvidence,
    /// The objective's target: a fraction for availability, the limit for a count.
    pub target: f64,
}

/// The evidence an abort fired on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum AbortEvidence {
    /// An availability floor refuted by its upper confidence bound.
    Availability {
        /// Good and eligible requests of the SLO's traffic measured by then.
        good: u64,
        eligible: u64,
        /// The one-sided upper confidence bound of availability on those counts.
        upper_bound: f64,
        /// The scenario's confidence level.
        confidence: f64,
    },
    /// A count whose value by then (a lower bound of its final value) is
    /// already over the objective's limit.
    Count { count: u64 },
}

fn one() -> f64 {
    1.0
}
