//! A run that stopped on an SLO's `abort = true`: the aborting SLO's
//! evaluation (from the evidence the rule fired on, kept in the results) and
//! the sentence every report carries.

use crate::analysis::availability::{Confidence, Counts, Estimate, Interval};
use crate::analysis::slo::{Evaluation, Verdict};
use crate::format::{format_percent, group_digits};
use crate::results::{AbortEvidence, Aborted};
use crate::scenario::slo::Slo;

/// The aborting SLO judged on the evidence the rule fired on: FAIL, because
/// the upper bound of what was measured then misses the target, or because a
/// count that can only grow was already over its limit. Recomputed from the
/// record, so `ninefold report` re-renders it identically; `None` if the
/// record is unusable (then the SLO is judged as any other).
pub(super) fn evaluation(slo: &Slo, a: &Aborted) -> Option<Evaluation> {
    let (measured, interval, detail) = match a.evidence {
        AbortEvidence::Availability {
            good,
            eligible,
            confidence,
            ..
        } => {
            let counts = Counts::new(good, eligible).ok()?;
            let est = Estimate::new(counts, Confidence::new(confidence).ok()?)?;
            let detail = format!(
                "aborted at {}: {} of {} good = {}, {} upper bound {} misses {}, so it could not pass any more",
                at(a),
                group_digits(good),
                group_digits(eligible),
                format_percent(est.ratio),
                percent(confidence),
                format_percent(est.upper),
                slo.objective,
            );
            let interval = Interval {
                lower: est.lower,
                upper: est.upper,
            };
            (est.ratio, Some(interval), detail)
        }
        AbortEvidence::Count { count } => {
            if slo.objective.op.holds(count as f64, slo.objective.target) {
                return None;
            }
            let detail = format!(
                "aborted at {}: {} counted by then (the final count can only be higher) misses {}, so it could not pass any more",
                at(a),
                group_digits(count),
                slo.objective,
            );
            (count as f64, None, detail)
        }
    };
    Some(Evaluation {
        verdict: Verdict::Fail,
        measured: Some(measured),
        interval,
        more_requests: None,
        detail,
        shown: None,
    })
}

/// The warning every report shows for an aborted run.
pub(super) fn warning(a: &Aborted) -> String {
    let why = match a.evidence {
        AbortEvidence::Availability {
            good,
            eligible,
            upper_bound,
            confidence,
        } => format!(
            "{} of {} good, {} upper bound {} < target {}",
            group_digits(good),
            group_digits(eligible),
            percent(confidence),
            format_percent(upper_bound),
            format_percent(a.target),
        ),
        AbortEvidence::Count { count } => format!(
            "{} counted by then, over the limit of `{}`; the final count can only be higher",
            group_digits(count),
            a.objective,
        ),
    };
    format!(
        "the run was aborted at {} (second {}) because `{}` could not pass any more ({why}): it is judged FAIL on that evidence; every other SLO is judged on the traffic measured until the stop",
        at(a),
        a.second,
        a.slo,
    )
}

fn at(a: &Aborted) -> String {
    format!("{:.3}s", a.at_ms as f64 / 1000.0)
}

fn percent(c: f64) -> String {
    format!("{}%", (c * 1000.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::slo::{Filters, Metric, Objective, Unit};

    fn slo(metric: Metric, objective: &str, unit: Unit) -> Slo {
        Slo {
            name: metric.to_string(),
            metric,
            filters: Filters::default(),
            objective: Objective::parse(objective, unit).unwrap(),
            abort: true,
        }
    }

    #[test]
    fn an_availability_record_of_an_older_ninefold_still_loads() {
        let old = r#"{"slo":"availability","objective":">= 99%","at_ms":4250,"second":4,
            "good":50,"eligible":60,"upper_bound":0.9,"target":0.99,"confidence":0.95}"#;
        let a: Aborted = serde_json::from_str(old).unwrap();
        assert_eq!(
            a.evidence,
            AbortEvidence::Availability {
                good: 50,
                eligible: 60,
                upper_bound: 0.9,
                confidence: 0.95
            }
        );
        let e = evaluation(&slo(Metric::Availability, ">= 99%", Unit::Ratio), &a).unwrap();
        assert_eq!(e.verdict, Verdict::Fail);
        assert_eq!(e.measured, Some(50.0 / 60.0));
    }

    #[test]
    fn a_count_record_round_trips_and_judges_fail_on_its_count() {
        let a = Aborted {
            slo: "throttle.over_admitted".into(),
            objective: "<= 4".into(),
            at_ms: 7_500,
            second: 7,
            evidence: AbortEvidence::Count { count: 5 },
            target: 4.0,
        };
        let text = serde_json::to_string(&a).unwrap();
        assert!(text.contains("\"count\":5"), "{text}");
        assert!(!text.contains("good"), "{text}");
        assert_eq!(serde_json::from_str::<Aborted>(&text).unwrap(), a);
        let s = slo(Metric::ThrottleOverAdmitted, "<= 4", Unit::Count);
        let e = evaluation(&s, &a).unwrap();
        assert_eq!(
            (e.verdict, e.measured, e.interval),
            (Verdict::Fail, Some(5.0), None)
        );
        assert!(
            e.detail.contains("aborted at 7.500s: 5 counted by then"),
            "{}",
            e.detail
        );
        assert!(warning(&a).contains("5 counted by then, over the limit of `<= 4`"));
        // A record its own objective does not refute is not trusted as a FAIL.
        let lenient = slo(Metric::ThrottleOverAdmitted, "<= 9", Unit::Count);
        assert!(evaluation(&lenient, &a).is_none());
    }
}
