//! The early-abort rule (`abort = true` on an SLO, k6's abortOnFail): a run
//! stops as soon as an SLO *cannot* pass any more, never on a point estimate.
//!
//! For an availability floor that is when the one-sided Clopper–Pearson
//! upper bound of what was measured so far, at the scenario's confidence,
//! falls below the target: the very rule by which the verdict fails an
//! availability SLO (`Judgement::Refuted` in [`super::availability`]), applied
//! to the counts measured so far. Pure functions over counts, so the
//! dashboard, the run and the tests share them.

use super::availability::{Confidence, Counts, Estimate, Judgement};
use crate::scenario::slo::{Objective, Op};

/// The estimate that refutes `objective` (an availability floor, `>=` or
/// `>`), if the counts so far refute it; `None` while it can still pass, and
/// for any other operator (validation refuses `abort` for those).
pub fn availability_refuted(
    counts: Counts,
    objective: &Objective,
    confidence: Confidence,
) -> Option<Estimate> {
    if !matches!(objective.op, Op::Ge | Op::Gt) {
        return None;
    }
    let est = Estimate::new(counts, confidence)?;
    (est.judge(objective.target) == Judgement::Refuted).then_some(est)
}

/// Over a recording's per-second counts (in order), the first second at the
/// end of which the cumulative counts refute `objective`, with the estimate.
pub fn first_refuted_second(
    seconds: &[(u32, Counts)],
    objective: &Objective,
    confidence: Confidence,
) -> Option<(u32, Estimate)> {
    let mut total = Counts::default();
    seconds.iter().find_map(|&(second, c)| {
        total = total + c;
        availability_refuted(total, objective, confidence).map(|e| (second, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::slo::Unit;

    /// P(X ≥ k) for X ~ Binomial(n, p), summed term by term (independent of
    /// the Beta machinery under test).
    fn binomial_tail(k: u64, n: u64, p: f64) -> f64 {
        let mut pmf = (1.0 - p).powf(n as f64);
        let mut below = 0.0;
        for j in 0..k {
            below += pmf;
            pmf *= (n - j) as f64 / (j + 1) as f64 * p / (1.0 - p);
        }
        1.0 - below
    }

    /// The Clopper–Pearson upper bound of availability misses `target` at
    /// confidence `c` exactly when seeing ≥ k failures in n would be less
    /// likely than 1 − c if the failure rate were 1 − target.
    fn refuted_directly(bad: u64, n: u64, target: f64, c: f64) -> bool {
        bad > 0 && binomial_tail(bad, n, 1.0 - target) < 1.0 - c
    }

    fn objective(text: &str) -> Objective {
        Objective::parse(text, Unit::Ratio).unwrap()
    }

    #[test]
    fn the_bound_crosses_the_target_at_the_second_a_direct_computation_says() {
        // 1 000 requests a second; none fail for 5 s, then 3 a second fail.
        let seconds: Vec<(u32, Counts)> = (0..30)
            .map(|s| {
                let bad = if s < 5 { 0 } else { 3 };
                (s, Counts::from_good_bad(1000 - bad, bad))
            })
            .collect();
        let (target, c) = (0.999, 0.95);
        let expected = (0..30u32)
            .find(|&s| {
                let n = 1000 * (u64::from(s) + 1);
                let bad = 3 * u64::from(s.saturating_sub(4));
                refuted_directly(bad, n, target, c)
            })
            .expect("the direct computation crosses within 30 s");
        let (second, est) = first_refuted_second(
            &seconds,
            &objective(">= 99.9%"),
            Confidence::new(c).unwrap(),
        )
        .expect("the rule crosses");
        assert_eq!(second, expected);
        assert!(est.upper < target, "{est:?}");
        // The crossing is not at the first failure: the point estimate dips
        // under 99.9% long before the bound does, and that alone never aborts.
        let point_below = (0..30u32)
            .find(|&s| {
                let n = 1000 * (u64::from(s) + 1);
                let bad = 3 * u64::from(s.saturating_sub(4));
                (n - bad) as f64 / (n as f64) < target
            })
            .unwrap();
        assert!(point_below < second, "point {point_below}, bound {second}");
    }

    #[test]
    fn five_failures_in_a_hundred_at_95_percent() {
        // Clopper–Pearson, 5 failures in 100 trials, one-sided 95 %: the failure
        // rate is at least 0.019906 (the root of P(X ≥ 5 | 100, p) = 0.05,
        // found by bisection outside this code), so availability is at most
        // 98.0094 %: a target of 98.1 % is refuted and 98.0 % is not.
        let c = Confidence::new(0.95).unwrap();
        let counts = Counts::from_good_bad(95, 5);
        assert!(availability_refuted(counts, &objective(">= 98.1%"), c).is_some());
        assert!(availability_refuted(counts, &objective(">= 98.0%"), c).is_none());
        assert!(refuted_directly(5, 100, 0.981, 0.95));
        assert!(!refuted_directly(5, 100, 0.98, 0.95));
    }

    #[test]
    fn nothing_failed_or_nothing_measured_never_aborts() {
        let c = Confidence::new(0.99).unwrap();
        let o = objective(">= 99.999%");
        assert!(availability_refuted(Counts::from_good_bad(10, 0), &o, c).is_none());
        assert!(availability_refuted(Counts::default(), &o, c).is_none());
        // Not a floor: never an abort.
        let ceiling = objective("<= 50%");
        assert!(availability_refuted(Counts::from_good_bad(0, 1000), &ceiling, c).is_none());
    }
}
