//! SLO verdicts: one [`Objective`] against what a run measured, and the run's
//! verdict from all of them.
//!
//! Two evaluators:
//! - [`evaluate_point`] for metrics measured exactly (a percentile of the
//!   recorded latencies, a count of lost writes): the objective holds or not.
//! - [`evaluate_interval`] for estimates with a confidence interval: *pass* when
//!   the whole interval meets the objective, *fail* when no point of it does,
//!   *inconclusive* otherwise. [`evaluate_proportion`] builds the interval with
//!   Clopper–Pearson bounds, and [`evaluate_availability`] is that rule for
//!   `availability` (pass on the lower bound, fail on the upper) plus how many
//!   more requests would settle an inconclusive verdict.
//!
//! [`RunVerdict::decide`] applies the precedence of the exit codes of docs/architecture.md.

use crate::ExitStatus;
use crate::format::{format_percent, format_value, group_digits};
use crate::scenario::slo::{Objective, Op};

use super::availability::{self, Confidence, Counts, Estimate, Interval, Judgement};

/// The verdict on one SLO.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The objective was met (with the confidence, for estimates).
    Pass,
    /// The objective was missed (with the confidence, for estimates).
    Fail,
    /// Too little evidence either way.
    Inconclusive,
    /// Nothing to measure (no request in the window, no fault to recover
    /// from). Counts as inconclusive for the exit code: an SLO nobody could
    /// check has not been shown to hold.
    NotMeasured,
}

/// The outcome of evaluating one objective.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub verdict: Verdict,
    /// The point value, in the objective's unit (seconds, fraction, count…).
    pub measured: Option<f64>,
    /// The confidence interval, for estimates.
    pub interval: Option<Interval>,
    /// For an inconclusive estimate: more requests at the observed rate that
    /// would settle it (`None` if unknown or never).
    pub more_requests: Option<u64>,
    /// One sentence for people: measured vs objective, and why this verdict.
    pub detail: String,
    /// What to show for a value that is not a number (`not recovered (≥ 40.0s)`).
    pub shown: Option<String>,
}

/// Judge an exactly measured value; `None` means it could not be measured.
pub fn evaluate_point(objective: &Objective, measured: Option<f64>) -> Evaluation {
    let Some(value) = measured.filter(|v| !v.is_nan()) else {
        return not_measured();
    };
    let holds = objective.op.holds(value, objective.target);
    let shown = format_value(objective.unit, value);
    let (verdict, detail) = if holds {
        (Verdict::Pass, format!("{shown} meets {objective}"))
    } else {
        (Verdict::Fail, format!("{shown} misses {objective}"))
    };
    Evaluation {
        verdict,
        measured: Some(value),
        interval: None,
        more_requests: None,
        detail,
        shown: None,
    }
}

/// Judge an estimate with its interval `[lower, upper]`: pass when every value in
/// it meets the objective, fail when none does, inconclusive otherwise.
pub fn evaluate_interval(objective: &Objective, estimate: f64, interval: Interval) -> Evaluation {
    let Interval { lower, upper } = interval;
    let verdict = interval_verdict(objective, interval);
    let unit = objective.unit;
    let detail = format!(
        "{} (between {} and {}): {}",
        format_value(unit, estimate),
        format_value(unit, lower),
        format_value(unit, upper),
        match verdict {
            Verdict::Pass => format!("the whole interval meets {objective}"),
            Verdict::Fail => format!("no value in the interval meets {objective}"),
            _ => format!("the interval straddles {objective}; more evidence needed"),
        }
    );
    Evaluation {
        verdict,
        measured: Some(estimate),
        interval: Some(interval),
        more_requests: None,
        detail,
        shown: None,
    }
}

fn interval_verdict(objective: &Objective, Interval { lower, upper }: Interval) -> Verdict {
    let (op, t) = (objective.op, objective.target);
    // Every allowed set is convex, so holding at both ends means holding throughout.
    if op.holds(lower, t) && op.holds(upper, t) {
        return Verdict::Pass;
    }
    let none_holds = match op {
        Op::Lt => lower >= t,
        Op::Le => lower > t,
        Op::Gt => upper <= t,
        Op::Ge => upper < t,
        Op::Eq => t < lower || t > upper,
        Op::Within => lower > t || upper < -t,
    };
    if none_holds {
        Verdict::Fail
    } else {
        Verdict::Inconclusive
    }
}

/// Judge a proportion `events / trials` (an error rate, a hit ratio…) with its
/// one-sided Clopper–Pearson bounds at `confidence`.
pub fn evaluate_proportion(
    objective: &Objective,
    events: u64,
    trials: u64,
    confidence: Confidence,
) -> Evaluation {
    match (
        availability::ratio(events, trials),
        availability::proportion_bounds(events, trials, confidence),
    ) {
        (Some(estimate), Some(interval)) => {
            let mut eval = evaluate_interval(objective, estimate, interval);
            eval.detail = format!("{} at {} confidence", eval.detail, percent(confidence));
            eval
        }
        _ => not_measured(),
    }
}

/// Judge availability: pass when the lower bound meets the target, fail when the
/// upper bound misses it, inconclusive otherwise with the requests that would
/// settle it. Objectives other than `>=`/`>` fall back to the interval rule.
pub fn evaluate_availability(
    objective: &Objective,
    counts: Counts,
    confidence: Confidence,
) -> Evaluation {
    let Some(est) = Estimate::new(counts, confidence) else {
        return not_measured();
    };
    if !matches!(objective.op, Op::Ge | Op::Gt) {
        return evaluate_proportion(objective, counts.good(), counts.eligible(), confidence);
    }
    let interval = Interval {
        lower: est.lower,
        upper: est.upper,
    };
    let bounds = format!(
        "{} of {} good = {}, {} bounds {} .. {}",
        group_digits(counts.good()),
        group_digits(counts.eligible()),
        format_percent(est.ratio),
        percent(confidence),
        format_percent(est.lower),
        format_percent(est.upper),
    );
    let judgement = if objective.op == Op::Gt && est.lower <= objective.target {
        // `>` needs the lower bound strictly above the target.
        match est.judge(objective.target) {
            Judgement::Demonstrated => Judgement::Undecided {
                more_requests: None,
            },
            other => other,
        }
    } else {
        est.judge(objective.target)
    };
    let (verdict, more_requests, why) = match judgement {
        Judgement::Demonstrated => (
            Verdict::Pass,
            None,
            format!("the lower bound meets {objective}"),
        ),
        Judgement::Refuted => (
            Verdict::Fail,
            None,
            format!("the upper bound misses {objective}"),
        ),
        Judgement::Undecided { more_requests } => {
            let settle = match more_requests {
                Some(m) => format!(
                    "about {} more requests at the same failure rate would settle it",
                    group_digits(m)
                ),
                None => "no realistic number of requests at this failure rate would settle it"
                    .to_string(),
            };
            (
                Verdict::Inconclusive,
                more_requests,
                format!("not enough evidence for {objective}: {settle}"),
            )
        }
    };
    Evaluation {
        verdict,
        measured: Some(est.ratio),
        interval: Some(interval),
        more_requests,
        detail: format!("{bounds}: {why}"),
        shown: None,
    }
}

/// What the recording yields for one SLO, by the kind of evidence it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Measured {
    /// No data (no request in the window, no fault to recover from).
    Nothing,
    /// Not measured, and why (a clause: "the backends are external (targets),
    /// so ninefold cannot read their store").
    Absent(String),
    /// A duration that had not ended when the run did: the service had not
    /// recovered, and recovery is at least this many seconds. It fails an
    /// objective it already misses and is inconclusive otherwise.
    NotRecovered(f64),
    /// No error followed the fault: the service never left its allowance, so
    /// there was nothing to recover from; judged as a recovery of 0 s.
    NothingToRecover,
    /// An exact value in the objective's unit (a percentile, a count, seconds).
    Value(f64),
    /// A proportion `events / trials` judged with its confidence interval
    /// (`error_rate`: bad of eligible; `cache.hit_ratio`: hits of lookups).
    Proportion { events: u64, trials: u64 },
    /// Good and eligible requests, judged by the availability rule.
    Availability(Counts),
    /// A count known to lie in `[lower, upper]`: some of what it counts could not
    /// be checked (`why`: "3 writes could not be read back"). Judged by the
    /// interval rule: it passes only when every value in the range would.
    Bounded { lower: f64, upper: f64, why: String },
}

/// Evaluate an objective against what was measured, with the evaluator the
/// kind of evidence calls for.
pub fn evaluate(objective: &Objective, measured: Measured, confidence: Confidence) -> Evaluation {
    match measured {
        Measured::Nothing => not_measured(),
        Measured::Absent(why) => Evaluation {
            detail: format!("not measured: {why}"),
            ..not_measured()
        },
        Measured::NotRecovered(at_least) => evaluate_not_recovered(objective, at_least),
        Measured::NothingToRecover => {
            let eval = evaluate_point(objective, Some(0.0));
            Evaluation {
                detail: format!(
                    "no error followed the fault, so there was nothing to recover from (0 s): {}",
                    eval.detail
                        .split_once(' ')
                        .map_or(eval.detail.as_str(), |(_, rest)| rest)
                ),
                shown: Some("not applicable: no error followed".into()),
                measured: None,
                ..eval
            }
        }
        Measured::Value(v) => evaluate_point(objective, Some(v)),
        Measured::Proportion { events, trials } => {
            evaluate_proportion(objective, events, trials, confidence)
        }
        Measured::Availability(counts) => evaluate_availability(objective, counts, confidence),
        Measured::Bounded { lower, upper, why } => evaluate_bounded(objective, lower, upper, &why),
    }
}

/// Judge a count that lies in `[lower, upper]` because part of it went unchecked.
fn evaluate_bounded(objective: &Objective, lower: f64, upper: f64, why: &str) -> Evaluation {
    if lower >= upper {
        return evaluate_point(objective, Some(lower));
    }
    let interval = Interval { lower, upper };
    let verdict = interval_verdict(objective, interval);
    let shown = format!(
        "{}–{}",
        format_value(objective.unit, lower),
        format_value(objective.unit, upper)
    );
    let then = match verdict {
        Verdict::Fail => format!("misses {objective} whatever the rest holds"),
        Verdict::Pass => format!("meets {objective} whatever the rest holds"),
        _ => format!("cannot say whether it meets {objective}"),
    };
    Evaluation {
        verdict,
        measured: None,
        interval: Some(interval),
        more_requests: None,
        detail: format!("between {shown} ({why}): {then}"),
        shown: Some(shown),
    }
}

fn not_measured() -> Evaluation {
    Evaluation {
        verdict: Verdict::NotMeasured,
        measured: None,
        interval: None,
        more_requests: None,
        detail: "not measured: the run produced no data for this metric".to_string(),
        shown: None,
    }
}

/// Judge a recovery that had not happened when the run ended: its value lies
/// in `[at_least, ∞)`, so the interval rule decides (a `<` objective at or
/// below `at_least` fails; one above it cannot be settled).
fn evaluate_not_recovered(objective: &Objective, at_least: f64) -> Evaluation {
    let interval = Interval {
        lower: at_least,
        upper: f64::INFINITY,
    };
    let verdict = interval_verdict(objective, interval);
    let shown = format!(
        "not recovered (≥ {})",
        format_value(objective.unit, at_least)
    );
    let why = match verdict {
        Verdict::Fail => format!("misses {objective}"),
        Verdict::Pass => format!("meets {objective}"),
        _ => format!("the run ended too soon after the fault to judge {objective}"),
    };
    Evaluation {
        verdict,
        measured: None,
        interval: Some(interval),
        more_requests: None,
        detail: format!("{shown}: still failing above the allowance when the run ended, {why}"),
        shown: Some(shown),
    }
}

/// The verdict of a whole run.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RunVerdict {
    /// Every SLO was met.
    Pass,
    /// At least one SLO failed.
    Fail,
    /// At least one SLO could not be judged (inconclusive or not measured).
    Inconclusive,
    /// The generator fell behind or dropped requests: the numbers cannot be trusted.
    Invalid,
    /// The run itself broke (a child would not start, the harness failed);
    /// whatever was measured is partial.
    Broken,
    /// The run was interrupted (SIGINT, SIGTERM) before its end: what was
    /// measured is written, but the verdict is withheld (exit 6, never 0).
    Interrupted,
}

/// What happened to the run apart from its SLOs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunHealth {
    /// The generator dropped requests or fell behind its schedule.
    pub invalid: bool,
    /// The run did not complete.
    pub broken: bool,
    /// The run was stopped early by a signal: its numbers cover only part of it.
    pub interrupted: bool,
}

impl RunVerdict {
    /// Precedence (docs/architecture.md, exit codes): a broken run → broken (3), whatever it measured,
    /// since its failures may be the harness's own; else an interrupted run →
    /// interrupted (6, verdict withheld: part of a run shows neither a pass nor,
    /// being cut short by someone, a verdict anyone asked for); else any SLO failed → fail
    /// (1), because a generator that fell behind only *under*-states load, so a
    /// miss stays a miss; else invalid → 5; else any inconclusive or unmeasured
    /// SLO → 4; else pass (0).
    pub fn decide(verdicts: impl IntoIterator<Item = Verdict>, health: RunHealth) -> Self {
        if health.broken {
            return RunVerdict::Broken;
        }
        if health.interrupted {
            return RunVerdict::Interrupted;
        }
        let (mut failed, mut undecided) = (false, false);
        for v in verdicts {
            match v {
                Verdict::Fail => failed = true,
                Verdict::Inconclusive | Verdict::NotMeasured => undecided = true,
                Verdict::Pass => {}
            }
        }
        if failed {
            RunVerdict::Fail
        } else if health.invalid {
            RunVerdict::Invalid
        } else if undecided {
            RunVerdict::Inconclusive
        } else {
            RunVerdict::Pass
        }
    }

    /// The exit status this verdict maps to.
    pub fn exit_status(self) -> ExitStatus {
        match self {
            RunVerdict::Pass => ExitStatus::Pass,
            RunVerdict::Fail => ExitStatus::SloFailed,
            RunVerdict::Inconclusive => ExitStatus::Inconclusive,
            RunVerdict::Invalid => ExitStatus::Invalid,
            RunVerdict::Broken => ExitStatus::RunBroke,
            RunVerdict::Interrupted => ExitStatus::Interrupted,
        }
    }

    /// Upper-case word for people (`PASS`, `FAIL`, …).
    pub fn label(self) -> &'static str {
        match self {
            RunVerdict::Pass => "PASS",
            RunVerdict::Fail => "FAIL",
            RunVerdict::Inconclusive => "INCONCLUSIVE",
            RunVerdict::Invalid => "INVALID",
            RunVerdict::Broken => "BROKEN",
            RunVerdict::Interrupted => "INTERRUPTED",
        }
    }
}

impl Verdict {
    /// Upper-case word for people (`PASS`, `FAIL`, …).
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "INCONCLUSIVE",
            Verdict::NotMeasured => "NOT MEASURED",
        }
    }
}

fn percent(c: Confidence) -> String {
    let text = format!("{:.4}", c.get() * 100.0);
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

#[cfg(test)]
#[path = "slo_tests.rs"]
mod tests;
