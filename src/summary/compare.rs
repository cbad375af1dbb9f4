//! Baseline comparison of two runs (`ninefold compare BASE NEW`): latency
//! percentiles, availability, throttle accuracy and failover times side by
//! side, each difference judged against run-to-run noise.
//!
//! One run gives one number per percentile, which says nothing about noise;
//! but it also gives one histogram per second. So each latency percentile is
//! read out of every second of both runs, and a Mann–Whitney U test asks
//! whether the new run's seconds are drawn from the same distribution as the
//! base's (two-sided, normal approximation with tie correction). Availability
//! compares failure proportions with a pooled two-proportion z-test; throttle
//! accuracy runs Mann–Whitney over each second's relative admission error.
//! Failover times are single events per run: a difference counts only beyond
//! the 1 s resolution of the per-second series they are read from.
//!
//! A difference is a *regression* when it is significant (p < [`ALPHA`], or
//! beyond the resolution), in the bad direction, and larger than the
//! threshold (relative). `ninefold compare` exits 1 when any row is one.

use serde::Serialize;

use crate::analysis::significance::{self, mann_whitney, two_proportions};
use crate::metrics::hist;
use crate::results::RunResults;
use crate::summary::{FaultSummary, RecoveryState, Summary};

/// Significance level of every test. Strict, because a CI gate that cries
/// wolf is switched off; a dozen rows are tested at once.
pub const ALPHA: f64 = 0.01;
/// Fewest per-second samples on each side for a test.
pub const MIN_SECONDS: usize = significance::MIN_SAMPLES;
/// Resolution of failover times (they come from the per-second series).
pub const FAILOVER_RESOLUTION_S: f64 = 1.0;
/// Smallest growth of a throttle accuracy error that can gate (1 point).
pub const ACCURACY_FLOOR: f64 = 0.01;

/// One run, as compare reads it.
#[derive(Debug, Clone, Copy)]
pub struct RunView<'a> {
    pub summary: &'a Summary,
    pub results: &'a RunResults,
}

/// Which way is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Lower,
    Higher,
    /// Neither: shown, never a regression.
    Neither,
}

/// What a row's difference amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// Same value in both runs.
    Unchanged,
    /// Different, but within run-to-run noise.
    Noise,
    /// Significantly better.
    Improved,
    /// Significantly worse, but by less than the threshold.
    WorseWithinThreshold,
    /// Significantly worse by more than the threshold: fails the gate.
    Regressed,
    /// Not enough data (or no data) to test the difference.
    Untested,
}

impl Finding {
    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            Finding::Unchanged => "unchanged",
            Finding::Noise => "within noise",
            Finding::Improved => "improved",
            Finding::WorseWithinThreshold => "worse, within threshold",
            Finding::Regressed => "REGRESSION",
            Finding::Untested => "not tested",
        }
    }
}

/// One compared figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// `latency`, `service time`, `availability`, `throttle`, `failover`.
    pub group: String,
    pub metric: String,
    /// Unit of `base` and `new`: `ms`, `s`, `ratio`.
    pub unit: String,
    pub base: Option<f64>,
    pub new: Option<f64>,
    /// `(new − base) / base`; `null` when base is 0 or a side is missing.
    pub change: Option<f64>,
    pub better: Better,
    /// The test used and what it said, for people.
    pub test: String,
    /// Two-sided p-value, when a statistical test ran.
    pub p_value: Option<f64>,
    pub finding: Finding,
}

/// The comparison of two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub base: String,
    pub new: String,
    /// Relative change a significant worsening must exceed to be a regression, as a
    /// fraction (0.1 = 10%; the CLI refuses a bare `10`).
    pub threshold: f64,
    pub alpha: f64,
    pub rows: Vec<Row>,
    /// Rows that are regressions.
    pub regressions: usize,
}

/// Compare `new` against `base`; `threshold` is a fraction (0.1 = 10%).
pub fn compare(base: RunView<'_>, new: RunView<'_>, threshold: f64) -> Comparison {
    let mut rows = Vec::new();
    latency_rows(&mut rows, base, new, threshold);
    availability_row(&mut rows, base, new, threshold);
    throttle_rows(&mut rows, base, new, threshold);
    failover_rows(&mut rows, base, new, threshold);
    let label = |v: RunView<'_>| {
        format!(
            "{} (seed {}, started {})",
            v.summary.scenario, v.summary.seed, v.summary.started_at
        )
    };
    Comparison {
        base: label(base),
        new: label(new),
        threshold,
        alpha: ALPHA,
        regressions: rows
            .iter()
            .filter(|r| r.finding == Finding::Regressed)
            .count(),
        rows,
    }
}

fn relative(base: Option<f64>, new: Option<f64>) -> Option<f64> {
    match (base, new) {
        (Some(b), Some(n)) if b != 0.0 => Some((n - b) / b),
        _ => None,
    }
}

/// Judge a difference from its significance, direction and size.
/// `beyond_threshold` is whether the worsening exceeds the threshold.
fn judge(
    base: Option<f64>,
    new: Option<f64>,
    better: Better,
    significant: Option<bool>,
    beyond_threshold: bool,
) -> Finding {
    let (Some(b), Some(n)) = (base, new) else {
        return Finding::Untested;
    };
    if b == n {
        return Finding::Unchanged;
    }
    let Some(significant) = significant else {
        return Finding::Untested;
    };
    if !significant || better == Better::Neither {
        return Finding::Noise;
    }
    let worse = match better {
        Better::Lower => n > b,
        Better::Higher => n < b,
        Better::Neither => false,
    };
    match (worse, beyond_threshold) {
        (false, _) => Finding::Improved,
        (true, true) => Finding::Regressed,
        (true, false) => Finding::WorseWithinThreshold,
    }
}

/// A percentile (or the max, `q = None`) of every second's latency, ms.
fn per_second_quantile(r: &RunResults, q: Option<f64>) -> Vec<f64> {
    r.recording
        .seconds
        .iter()
        .filter(|s| s.max_us > 0)
        .filter_map(|s| match q {
            None => Some(s.max_us as f64 / 1000.0),
            Some(q) => hist::decode(&s.latency)
                .ok()
                .map(|h| h.value_at_quantile(q) as f64 / 1000.0),
        })
        .collect()
}

fn latency_rows(rows: &mut Vec<Row>, base: RunView<'_>, new: RunView<'_>, threshold: f64) {
    type Pick = fn(&crate::summary::Percentiles) -> f64;
    let percentiles: [(&str, Option<f64>, Pick); 5] = [
        ("p50", Some(0.5), |p| p.p50),
        ("p90", Some(0.9), |p| p.p90),
        ("p99", Some(0.99), |p| p.p99),
        ("p99.9", Some(0.999), |p| p.p999),
        ("max", None, |p| p.max),
    ];
    for (name, q, pick) in percentiles {
        let b = base
            .summary
            .latency_ms
            .filter(|p| p.count > 0)
            .map(|p| pick(&p));
        let n = new
            .summary
            .latency_ms
            .filter(|p| p.count > 0)
            .map(|p| pick(&p));
        let p = mann_whitney(
            &per_second_quantile(base.results, q),
            &per_second_quantile(new.results, q),
        );
        let change = relative(b, n);
        rows.push(Row {
            group: "latency".into(),
            metric: name.into(),
            unit: "ms".into(),
            base: b,
            new: n,
            change,
            better: Better::Lower,
            test: match p {
                Some(_) => format!("Mann–Whitney U over per-second {name}"),
                None => format!("fewer than {MIN_SECONDS} seconds with answers"),
            },
            p_value: p,
            finding: judge(
                b,
                n,
                Better::Lower,
                p.map(|p| p < ALPHA),
                change.is_none_or(|c| c > threshold),
            ),
        });
    }
    // Service time has no per-second series: shown beside, never tested.
    for (name, _, pick) in percentiles {
        let b = base
            .summary
            .service_time_ms
            .filter(|p| p.count > 0)
            .map(|p| pick(&p));
        let n = new
            .summary
            .service_time_ms
            .filter(|p| p.count > 0)
            .map(|p| pick(&p));
        rows.push(Row {
            group: "service time".into(),
            metric: name.into(),
            unit: "ms".into(),
            base: b,
            new: n,
            change: relative(b, n),
            better: Better::Lower,
            test: "no per-second service-time series: shown, not tested".into(),
            p_value: None,
            finding: judge(b, n, Better::Lower, None, false),
        });
    }
}

fn availability_row(rows: &mut Vec<Row>, base: RunView<'_>, new: RunView<'_>, threshold: f64) {
    let (ab, an) = (&base.summary.availability, &new.summary.availability);
    let bad = |a: &crate::summary::AvailabilitySummary| a.eligible - a.good.min(a.eligible);
    let p = two_proportions(bad(ab), ab.eligible, bad(an), an.eligible);
    // The threshold applies to the failure ratio: 99.9% → 99.8% doubles it.
    let failure = |a: &crate::summary::AvailabilitySummary| a.ratio.map(|r| 1.0 - r);
    let grew = match (failure(ab), failure(an)) {
        (Some(b), Some(n)) if b > 0.0 => (n - b) / b > threshold,
        (Some(_), Some(n)) => n > 0.0,
        _ => false,
    };
    rows.push(Row {
        group: "availability".into(),
        metric: "availability".into(),
        unit: "ratio".into(),
        base: ab.ratio,
        new: an.ratio,
        change: relative(ab.ratio, an.ratio),
        better: Better::Higher,
        test: match p {
            Some(_) => "two-proportion z-test on bad / sent".into(),
            None => "no requests on one side".into(),
        },
        p_value: p,
        finding: judge(
            ab.ratio,
            an.ratio,
            Better::Higher,
            p.map(|p| p < ALPHA),
            grew,
        ),
    });
}

/// Each second's relative admission error of one tenant: (admitted − model) / offered.
fn tenant_seconds(r: &RunResults, id: &str) -> Vec<f64> {
    r.recording
        .seconds
        .iter()
        .filter_map(|s| s.tenants.get(id))
        .filter(|t| t.offered > 0)
        .map(|t| (t.admitted as f64 - t.model_admitted as f64) / t.offered as f64)
        .collect()
}

fn throttle_rows(rows: &mut Vec<Row>, base: RunView<'_>, new: RunView<'_>, threshold: f64) {
    for tb in &base.summary.tenants {
        let Some(tn) = new.summary.tenants.iter().find(|t| t.id == tb.id) else {
            continue;
        };
        let b = tb.accuracy_error.map(f64::abs);
        let n = tn.accuracy_error.map(f64::abs);
        let p = mann_whitney(
            &tenant_seconds(base.results, &tb.id),
            &tenant_seconds(new.results, &tb.id),
        );
        let grew = match (b, n) {
            (Some(b), Some(n)) => n - b > (threshold * b).max(ACCURACY_FLOOR),
            _ => false,
        };
        rows.push(Row {
            group: "throttle".into(),
            metric: format!("accuracy error, tenant {}", tb.id),
            unit: "ratio".into(),
            base: b,
            new: n,
            change: relative(b, n),
            better: Better::Lower,
            test: match p {
                Some(_) => "Mann–Whitney U over per-second admission error".into(),
                None => format!("fewer than {MIN_SECONDS} seconds of tenant data"),
            },
            p_value: p,
            finding: judge(b, n, Better::Lower, p.map(|p| p < ALPHA), grew),
        });
    }
}

/// A fault's recovery as a number to compare: 0 when no error followed (nothing
/// to recover from), the time it has been failing when it never recovered (a
/// lower bound: recovery took at least that long), `None` when not measured.
fn recovery_value(f: &FaultSummary) -> Option<f64> {
    match f.recovery {
        RecoveryState::Recovered => f.recovery_s,
        RecoveryState::NoErrors => Some(0.0),
        RecoveryState::NotRecovered => f.not_recovered_for_s,
        RecoveryState::NoTraffic | RecoveryState::NoEffect => None,
    }
}

/// Whether a fault's figures were measured and attributed to it at all.
fn measured(f: &FaultSummary) -> bool {
    !matches!(
        f.recovery,
        RecoveryState::NoTraffic | RecoveryState::NoEffect
    )
}

fn failover_rows(rows: &mut Vec<Row>, base: RunView<'_>, new: RunView<'_>, threshold: f64) {
    type Pick = fn(&FaultSummary) -> Option<f64>;
    let metrics: [(&str, Better, Pick); 4] = [
        ("time to first error", Better::Neither, |f| {
            f.time_to_first_error_s
        }),
        ("error burst", Better::Lower, |f| f.error_burst_s),
        ("recovery", Better::Lower, recovery_value),
        ("restarted instance serving after", Better::Lower, |f| {
            f.reintegration_s
        }),
    ];
    for fb in &base.summary.faults {
        let Some(fnew) = new.summary.faults.iter().find(|f| f.index == fb.index) else {
            continue;
        };
        let unmeasured = !measured(fb) || !measured(fnew);
        let neither_recovered = fb.recovery == RecoveryState::NotRecovered
            && fnew.recovery == RecoveryState::NotRecovered;
        if unmeasured || neither_recovered {
            // 0 or a lower bound against a lower bound would be a made-up comparison.
            rows.push(Row {
                group: "failover".into(),
                metric: format!("F{} {} {}: recovery", fb.index + 1, fb.action, fb.target),
                unit: "s".into(),
                base: None,
                new: None,
                change: None,
                better: Better::Lower,
                test: if unmeasured {
                    "not measured in one of the runs (no traffic after the fault, or none through its target)".into()
                } else {
                    "neither run recovered: no recovery time to compare".into()
                },
                p_value: None,
                finding: Finding::Untested,
            });
            if unmeasured {
                continue;
            }
        }
        for (name, better, pick) in metrics {
            let (b, n) = (pick(fb), pick(fnew));
            if (b.is_none() && n.is_none()) || (name == "recovery" && neither_recovered) {
                continue;
            }
            // No error after the fault in one run: the other's burst is all difference.
            let (bv, nv) = (b.unwrap_or(0.0), n.unwrap_or(0.0));
            let significant = (nv - bv).abs() > FAILOVER_RESOLUTION_S;
            let beyond = if bv > 0.0 {
                (nv - bv) / bv > threshold
            } else {
                true
            };
            rows.push(Row {
                group: "failover".into(),
                metric: format!("F{} {} {}: {name}", fb.index + 1, fb.action, fb.target),
                unit: "s".into(),
                base: Some(bv),
                new: Some(nv),
                change: relative(Some(bv), Some(nv)),
                better,
                test: format!("one event per run: differences under {FAILOVER_RESOLUTION_S} s are within resolution"),
                p_value: None,
                finding: judge(Some(bv), Some(nv), better, Some(significant), beyond),
            });
        }
    }
}

#[cfg(test)]
#[path = "compare_tests.rs"]
mod tests;
