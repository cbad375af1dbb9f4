//! Flow phases (`flow = true`): per flow phase, how many flows started and
//! completed, and each step in order with its own counts and latency.
//!
//! A step's latency runs from when it could have been sent (the flow's intended
//! instant for the first step, the previous step's answer for the others) to the
//! end of its response; the steps' keys of the recording hold it per class.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::metrics::{Hist, Outcome, OutcomeCounts, Recording};
use crate::scenario::Scenario;

use super::Percentiles;

/// One flow phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FlowSummary {
    /// The phase's name.
    pub phase: String,
    /// Flows started (sent, or dropped at the in-flight cap).
    pub started: u64,
    /// Flows whose every step was sent and had a good outcome.
    pub completed: u64,
    /// The steps, in the order the flow sends them.
    pub steps: Vec<FlowStepSummary>,
}

/// One step of a flow: a request class of the phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FlowStepSummary {
    /// 1 for the first step.
    pub step: usize,
    pub method: String,
    /// The path template as written (`/orders/{order_id}`).
    pub path: String,
    /// Requests of the step that were sent.
    pub sent: u64,
    /// Of those, `ok` or an expected rejection.
    pub good: u64,
    /// Of those, `check_failed` (its check, or its `extract`, failed).
    pub check_failed: u64,
    /// Every other bad outcome of a sent request.
    pub failed: u64,
    /// Not sent: a value an earlier step should have extracted was missing.
    pub skipped: u64,
    /// Not sent: dropped at the in-flight cap.
    pub dropped: u64,
    /// Latency of the step's answers, ms; `null` when none was answered.
    pub latency_ms: Option<Percentiles>,
    /// Service time of the step's answers, ms; `null` when none was answered.
    pub service_time_ms: Option<Percentiles>,
}

/// The flow phases of a recording, in phase order (empty when there are none);
/// `s` names the steps no request of which was recorded.
pub fn flows(rec: &Recording, s: &Scenario) -> Vec<FlowSummary> {
    rec.phases
        .iter()
        .filter_map(|p| {
            let f = p.flow.as_ref()?;
            let written = s.traffic.iter().find(|t| t.name == p.name);
            let steps = (0..f.skipped.len())
                .map(|class| {
                    let label = written
                        .and_then(|t| t.requests.get(class))
                        .map(|r| (r.method.to_string(), r.path.to_string()));
                    step(rec, &p.name, class, f.skipped[class], label)
                })
                .collect();
            Some(FlowSummary {
                phase: p.name.clone(),
                started: f.started,
                completed: f.completed,
                steps,
            })
        })
        .collect()
}

fn step(
    rec: &Recording,
    phase: &str,
    class: usize,
    skipped: u64,
    written: Option<(String, String)>,
) -> FlowStepSummary {
    let mut outcomes = OutcomeCounts::default();
    let (mut latency, mut service) = (Hist::default(), Hist::default());
    let mut label = None;
    for k in rec
        .keys
        .iter()
        .filter(|k| k.phase == phase && k.class == class)
    {
        outcomes.merge(&k.outcomes);
        // Histograms of one recording share their bounds: merging cannot fail.
        let _ = latency.merge(&k.latency);
        let _ = service.merge(&k.service);
        label.get_or_insert((k.method.clone(), k.path.clone()));
    }
    // The label the recording gives (with a URL's base path), else the scenario's.
    let (method, path) = label.or(written).unwrap_or_default();
    let answered = |h: &Hist| (!h.0.is_empty()).then(|| super::build::percentiles(h));
    let check_failed = outcomes.get(Outcome::CheckFailed);
    FlowStepSummary {
        step: class + 1,
        method,
        path,
        sent: outcomes.sent(),
        good: outcomes.good(),
        check_failed,
        failed: outcomes
            .sent()
            .saturating_sub(outcomes.good())
            .saturating_sub(check_failed),
        skipped,
        dropped: outcomes.get(Outcome::Dropped),
        latency_ms: answered(&latency),
        service_time_ms: answered(&service),
    }
}
