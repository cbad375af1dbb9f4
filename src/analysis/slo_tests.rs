//! SLO evaluation and the run verdict's precedence.

use super::*;
use crate::scenario::slo::{Objective, Unit};

fn objective(text: &str, unit: Unit) -> Objective {
    Objective::parse(text, unit).unwrap()
}

fn c95() -> Confidence {
    Confidence::new(0.95).unwrap()
}

#[test]
fn point_metrics_hold_or_not() {
    let p99 = objective("< 150ms", Unit::Duration);
    let pass = evaluate_point(&p99, Some(0.120));
    assert_eq!(pass.verdict, Verdict::Pass);
    assert_eq!(pass.detail, "120ms meets < 150ms");
    let fail = evaluate_point(&p99, Some(0.150));
    assert_eq!(fail.verdict, Verdict::Fail);
    assert_eq!(fail.detail, "150ms misses < 150ms");
    assert_eq!(evaluate_point(&p99, None).verdict, Verdict::NotMeasured);
    assert_eq!(
        evaluate_point(&p99, Some(f64::NAN)).verdict,
        Verdict::NotMeasured
    );
    let lost = objective("== 0", Unit::Count);
    assert_eq!(evaluate_point(&lost, Some(0.0)).verdict, Verdict::Pass);
    let two = evaluate_point(&lost, Some(2.0));
    assert_eq!(
        (two.verdict, two.detail.as_str()),
        (Verdict::Fail, "2 misses == 0")
    );
    let accuracy = objective("within 2%", Unit::Ratio);
    assert_eq!(
        evaluate_point(&accuracy, Some(-0.015)).verdict,
        Verdict::Pass
    );
    assert_eq!(
        evaluate_point(&accuracy, Some(0.025)).verdict,
        Verdict::Fail
    );
}

#[test]
fn intervals_pass_only_when_whole_and_fail_only_when_disjoint() {
    let iv = |lower, upper| Interval { lower, upper };
    let cases = [
        (">= 50%", iv(0.6, 0.7), Verdict::Pass),
        (">= 50%", iv(0.4, 0.7), Verdict::Inconclusive),
        (">= 50%", iv(0.3, 0.49), Verdict::Fail),
        ("> 50%", iv(0.3, 0.5), Verdict::Fail),
        ("< 1%", iv(0.001, 0.009), Verdict::Pass),
        ("< 1%", iv(0.001, 0.02), Verdict::Inconclusive),
        ("< 1%", iv(0.01, 0.02), Verdict::Fail),
        ("<= 1%", iv(0.01, 0.02), Verdict::Inconclusive),
        ("== 50%", iv(0.5, 0.5), Verdict::Pass),
        ("== 50%", iv(0.4, 0.6), Verdict::Inconclusive),
        ("== 50%", iv(0.6, 0.7), Verdict::Fail),
        ("within 2%", iv(0.0, 0.01), Verdict::Pass),
        ("within 2%", iv(0.01, 0.03), Verdict::Inconclusive),
        ("within 2%", iv(0.03, 0.04), Verdict::Fail),
    ];
    for (text, interval, want) in cases {
        let got = evaluate_interval(&objective(text, Unit::Ratio), interval.lower, interval);
        assert_eq!(got.verdict, want, "{text} {interval:?}");
    }
}

#[test]
fn availability_uses_the_bounds() {
    let three_nines = objective(">= 99.9%", Unit::Ratio);
    let counts = |good, n| Counts::new(good, n).unwrap();
    let pass = evaluate_availability(&three_nines, counts(2_995, 2_995), c95());
    assert_eq!(pass.verdict, Verdict::Pass, "{}", pass.detail);
    let short = evaluate_availability(&three_nines, counts(1_000, 1_000), c95());
    assert_eq!(short.verdict, Verdict::Inconclusive);
    assert_eq!(short.more_requests, Some(1_995));
    assert!(
        short.detail.contains("1,995 more requests"),
        "{}",
        short.detail
    );
    // 99.95% observed but only 2,000 requests: the point estimate passes, the bound does not.
    let hopeful = evaluate_availability(&three_nines, counts(1_999, 2_000), c95());
    assert_eq!(hopeful.verdict, Verdict::Inconclusive);
    assert!(hopeful.measured.unwrap() > 0.999);
    let bad = evaluate_availability(&three_nines, counts(9_900, 10_000), c95());
    assert_eq!(bad.verdict, Verdict::Fail, "{}", bad.detail);
    assert_eq!(
        evaluate_availability(&three_nines, counts(0, 0), c95()).verdict,
        Verdict::NotMeasured
    );
}

#[test]
fn proportions_get_intervals() {
    let error_rate = objective("< 1%", Unit::Ratio);
    let low = evaluate_proportion(&error_rate, 2, 10_000, c95());
    assert_eq!(low.verdict, Verdict::Pass, "{}", low.detail);
    assert!(low.detail.ends_with("at 95% confidence"), "{}", low.detail);
    assert_eq!(
        evaluate_proportion(&error_rate, 1, 50, c95()).verdict,
        Verdict::Inconclusive
    );
    assert_eq!(
        evaluate_proportion(&error_rate, 500, 10_000, c95()).verdict,
        Verdict::Fail
    );
    assert_eq!(
        evaluate_proportion(&error_rate, 0, 0, c95()).verdict,
        Verdict::NotMeasured
    );
}

#[test]
fn run_verdict_precedence() {
    use Verdict::*;
    let ok = RunHealth::default();
    let invalid = RunHealth {
        invalid: true,
        ..RunHealth::default()
    };
    let broken = RunHealth {
        broken: true,
        ..RunHealth::default()
    };
    let interrupted = RunHealth {
        interrupted: true,
        ..RunHealth::default()
    };
    let interrupted_and_broken = RunHealth {
        broken: true,
        interrupted: true,
        ..RunHealth::default()
    };
    let table: &[(&[Verdict], RunHealth, RunVerdict, u8)] = &[
        (&[Pass, Pass], ok, RunVerdict::Pass, 0),
        (&[], ok, RunVerdict::Pass, 0),
        (&[Pass, Fail, Inconclusive], ok, RunVerdict::Fail, 1),
        (&[Fail], invalid, RunVerdict::Fail, 1),
        (&[Pass, Inconclusive], invalid, RunVerdict::Invalid, 5),
        (&[Pass], invalid, RunVerdict::Invalid, 5),
        (&[Pass, Inconclusive], ok, RunVerdict::Inconclusive, 4),
        (&[NotMeasured, Pass], ok, RunVerdict::Inconclusive, 4),
        (&[Fail], broken, RunVerdict::Broken, 3),
        (&[Pass], broken, RunVerdict::Broken, 3),
        (&[Pass], interrupted, RunVerdict::Interrupted, 6),
        (&[], interrupted, RunVerdict::Interrupted, 6),
        (&[Fail], interrupted, RunVerdict::Interrupted, 6),
        (&[Pass], interrupted_and_broken, RunVerdict::Broken, 3),
    ];
    for (verdicts, health, want, code) in table {
        let got = RunVerdict::decide(verdicts.iter().copied(), *health);
        assert_eq!(got, *want, "{verdicts:?} {health:?}");
        assert_eq!(got.exit_status().code(), *code, "{verdicts:?} {health:?}");
    }
}

#[test]
fn evaluate_dispatches_on_the_kind_of_evidence() {
    let three_nines = objective(">= 99.9%", Unit::Ratio);
    let counts = Counts::new(2_995, 2_995).unwrap();
    assert_eq!(
        evaluate(&three_nines, Measured::Availability(counts), c95()),
        evaluate_availability(&three_nines, counts, c95())
    );
    let error_rate = objective("< 1%", Unit::Ratio);
    let proportion = Measured::Proportion {
        events: 1,
        trials: 50,
    };
    assert_eq!(
        evaluate(&error_rate, proportion, c95()).verdict,
        Verdict::Inconclusive
    );
    // The same 2% measured exactly is simply a miss; as 1 of 50 it proves nothing.
    assert_eq!(
        evaluate(&error_rate, Measured::Value(0.02), c95()).verdict,
        Verdict::Fail
    );
    assert_eq!(
        evaluate(&error_rate, Measured::Nothing, c95()).verdict,
        Verdict::NotMeasured
    );
}

#[test]
fn a_bounded_count_passes_only_when_its_whole_range_does() {
    let none = objective("== 0", Unit::Count);
    let bounded = |lower: f64, upper: f64| Measured::Bounded {
        lower,
        upper,
        why: "3 acknowledged writes could not be read back".into(),
    };
    // [0, 3]: the unread writes could be lost or not.
    let open = evaluate(&none, bounded(0.0, 3.0), c95());
    assert_eq!(open.verdict, Verdict::Inconclusive);
    assert_eq!(
        open.detail,
        "between 0–3 (3 acknowledged writes could not be read back): cannot say whether it meets == 0"
    );
    // [2, 5]: lost already, whatever the rest holds.
    assert_eq!(
        evaluate(&none, bounded(2.0, 5.0), c95()).verdict,
        Verdict::Fail
    );
    // [1, 4] against `<= 4`: met at both ends.
    let four = objective("<= 4", Unit::Count);
    assert_eq!(
        evaluate(&four, bounded(1.0, 4.0), c95()).verdict,
        Verdict::Pass
    );
    // An empty range is a point.
    let point = evaluate(&none, bounded(0.0, 0.0), c95());
    assert_eq!((point.verdict, point.measured), (Verdict::Pass, Some(0.0)));
}
