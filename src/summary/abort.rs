//! A run that stopped on an SLO's `abort = true`: the aborting SLO's
//! evaluation (from the counts the rule fired on, kept in the results) and
//! the sentence every report carries.

use crate::analysis::availability::{Confidence, Counts, Estimate, Interval};
use crate::analysis::slo::{Evaluation, Verdict};
use crate::format::{format_percent, group_digits};
use crate::results::Aborted;
use crate::scenario::slo::Slo;

/// The aborting SLO judged on the evidence the rule fired on: FAIL, because
/// the upper bound of what was measured then misses the target. Recomputed
/// from the recorded counts and confidence, so `ninefold report` re-renders
/// it identically; `None` if the record is unusable (then the SLO is judged
/// as any other).
pub(super) fn evaluation(slo: &Slo, a: &Aborted) -> Option<Evaluation> {
    let counts = Counts::new(a.good, a.eligible).ok()?;
    let est = Estimate::new(counts, Confidence::new(a.confidence).ok()?)?;
    Some(Evaluation {
        verdict: Verdict::Fail,
        measured: Some(est.ratio),
        interval: Some(Interval {
            lower: est.lower,
            upper: est.upper,
        }),
        more_requests: None,
        detail: format!(
            "aborted at {}: {} of {} good = {}, {} upper bound {} misses {}, so it could not pass any more",
            at(a),
            group_digits(a.good),
            group_digits(a.eligible),
            format_percent(est.ratio),
            percent(a.confidence),
            format_percent(est.upper),
            slo.objective,
        ),
        shown: None,
    })
}

/// The warning every report shows for an aborted run.
pub(super) fn warning(a: &Aborted) -> String {
    format!(
        "the run was aborted at {} (second {}) because `{}` could not pass any more ({} of {} good, {} upper bound {} < target {}): it is judged FAIL on that evidence; every other SLO is judged on the traffic measured until the stop",
        at(a),
        a.second,
        a.slo,
        group_digits(a.good),
        group_digits(a.eligible),
        percent(a.confidence),
        format_percent(a.upper_bound),
        format_percent(a.target),
    )
}

fn at(a: &Aborted) -> String {
    format!("{:.3}s", a.at_ms as f64 / 1000.0)
}

fn percent(c: f64) -> String {
    format!("{}%", (c * 1000.0).round() / 10.0)
}
