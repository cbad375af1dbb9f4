//! The verdict of an attack from what it measured.

use super::Args;

/// What went wrong with an attack, its error rate among sent requests, and its
/// verdict (precedence as for runs: broken, then failed, then invalid).
pub(super) fn judge(
    args: &Args,
    outcomes: &crate::metrics::OutcomeCounts,
    dropped: u64,
    rps: f64,
    answered: u64,
    max_error_rate: f64,
    interrupted: bool,
) -> (Vec<String>, Option<f64>, &'static str) {
    let mut problems = Vec::new();
    if dropped > 0 {
        problems.push(format!(
            "{} requests were dropped at the in-flight cap: the target or the generator could not keep up",
            dropped
        ));
    }
    if let Some(rate) = args.rate
        && rps < 0.9 * rate
        && answered > 0
    {
        problems.push(format!(
            "achieved {rps:.0} req/s, well below the target {rate:.0} req/s"
        ));
    }
    let sent = outcomes.sent();
    // Dropped requests were never sent: they make the run invalid (5), not failed.
    let bad = sent.saturating_sub(outcomes.good());
    let error_rate = (sent > 0).then(|| bad as f64 / sent as f64);
    let kept_schedule = problems.is_empty();
    // Precedence as for runs: broken (3), then failed (1), then invalid (5).
    let verdict = if answered == 0 {
        "unreachable"
    } else if interrupted {
        "interrupted"
    } else if error_rate.is_some_and(|e| e > max_error_rate) {
        "errors"
    } else if !kept_schedule {
        "invalid"
    } else {
        "pass"
    };
    (problems, error_rate, verdict)
}
