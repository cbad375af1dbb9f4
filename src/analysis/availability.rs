//! Availability statistics: how many nines a run showed, and how many it proved.
//!
//! A run sees `eligible` requests of which `good` were good (docs/architecture.md: `ok` plus
//! expected rejections; dropped requests are not eligible). From those counts:
//!
//! - the ratio `A = good / eligible` and its nines `−log10(1 − A)`;
//! - one-sided Clopper–Pearson bounds at a confidence `c`: the lower bound is the
//!   smallest availability that is still consistent with what was seen, at
//!   confidence `c` (each bound is one-sided at `c`, so `[lower, upper]` together
//!   is a `2c − 1` two-sided interval);
//! - the requests needed to demonstrate a target at all, with zero failures:
//!   `n ≥ ln(1 − c) / ln(A_target)` (2,995 for 99.9% at 95%);
//! - time-based availability (the share of 1 s windows that met the target),
//!   error budget consumed, burn rate and projected downtime per year;
//! - the verdict rule: pass when the lower bound meets the target, fail when the
//!   upper bound misses it, inconclusive in between, with how many more requests
//!   at the observed failure rate would settle it.
//!
//! Bounds are computed on the *failure* proportion and converted, because a
//! failure rate of 3e-5 keeps its full relative precision where `1 − 3e-5` would
//! not, and nines are read from it directly.
//!
//! **Nines of a perfect run.** With zero failures the point estimate is `A = 1`
//! and its nines are infinite; [`nines`] returns `f64::INFINITY` and the report
//! model writes `null` with `perfect: true` (JSON has no infinity). The lower
//! bound's nines are always finite once a request was seen, and they are the
//! honest figure for a perfect run.

/// Seconds in a Julian year (365.25 days), for projected downtime.
pub const SECONDS_PER_YEAR: f64 = 365.25 * 86_400.0;

/// Beyond this many requests we stop searching for a settling sample size: no
/// run will send a quadrillion requests, and the answer would be "never".
const MAX_SETTLE_REQUESTS: u64 = 1_000_000_000_000_000;

/// Bad input to the statistics (the scenario layer validates these already;
/// these functions are public and must not panic on anything).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("confidence must be strictly between 0 and 1, got {0}")]
    Confidence(f64),
    #[error("good requests ({good}) cannot exceed eligible requests ({eligible})")]
    GoodExceedsEligible { good: u64, eligible: u64 },
}

/// A confidence level in (0, 1), e.g. 0.95.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Confidence(f64);

impl Confidence {
    /// Accept `c` if `0 < c < 1`.
    pub fn new(c: f64) -> Result<Self, StatsError> {
        if c > 0.0 && c < 1.0 {
            Ok(Confidence(c))
        } else {
            Err(StatsError::Confidence(c))
        }
    }

    /// The level as a fraction.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// Good and eligible request counts (of a run, a window, a tenant…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    good: u64,
    eligible: u64,
}

impl Counts {
    /// Counts where `good ≤ eligible`.
    pub fn new(good: u64, eligible: u64) -> Result<Self, StatsError> {
        if good <= eligible {
            Ok(Counts { good, eligible })
        } else {
            Err(StatsError::GoodExceedsEligible { good, eligible })
        }
    }

    /// Counts from good and bad requests (cannot be inconsistent).
    pub fn from_good_bad(good: u64, bad: u64) -> Self {
        Counts {
            good,
            eligible: good.saturating_add(bad),
        }
    }

    pub fn good(self) -> u64 {
        self.good
    }

    pub fn eligible(self) -> u64 {
        self.eligible
    }

    /// Eligible requests that were not good.
    pub fn bad(self) -> u64 {
        self.eligible - self.good
    }

    /// `good / eligible`, `None` without eligible requests.
    pub fn ratio(self) -> Option<f64> {
        ratio(self.good, self.eligible)
    }

    /// `bad / eligible`, `None` without eligible requests.
    pub fn failure_ratio(self) -> Option<f64> {
        ratio(self.bad(), self.eligible)
    }
}

impl std::ops::Add for Counts {
    type Output = Counts;

    fn add(self, other: Counts) -> Counts {
        Counts::from_good_bad(
            self.good.saturating_add(other.good),
            self.bad().saturating_add(other.bad()),
        )
    }
}

impl std::iter::Sum for Counts {
    fn sum<I: Iterator<Item = Counts>>(iter: I) -> Counts {
        iter.fold(Counts::default(), |a, b| a + b)
    }
}

/// `part / whole`, `None` when `whole` is 0.
pub fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Nines of an availability: `−log10(1 − A)`; `f64::INFINITY` at `A = 1`.
pub fn nines(availability: f64) -> f64 {
    nines_of_failure(1.0 - availability)
}

/// Nines from a failure proportion `1 − A` (precise for tiny failure rates);
/// `f64::INFINITY` at 0, 0 at 1 (or beyond).
pub fn nines_of_failure(failure: f64) -> f64 {
    if failure <= 0.0 {
        f64::INFINITY
    } else if failure >= 1.0 {
        0.0
    } else {
        -failure.log10()
    }
}

/// `Some(x)` if `x` is finite: JSON cannot hold infinities or NaN.
pub fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// The `p`-quantile of Beta(a, b): exact for every count ([`super::beta`]).
fn beta_quantile(a: f64, b: f64, p: f64) -> f64 {
    super::beta::quantile(a, b, p)
}

/// One-sided Clopper–Pearson upper bound on a proportion, `events` of
/// `trials` (continuous in `events` so that a failure *rate* can be scaled):
/// the `p` with `P(X ≤ events | p) = 1 − c`, i.e. the `c`-quantile of
/// Beta(events + 1, trials − events); 1 when every trial was an event.
fn cp_upper(events: f64, trials: f64, c: Confidence) -> f64 {
    let rest = trials - events;
    if rest <= 0.0 {
        return 1.0;
    }
    if events <= 0.0 {
        // Closed form for zero events: 1 − (1 − c)^(1/n), via expm1 for precision.
        return -((1.0 - c.get()).ln() / trials).exp_m1();
    }
    beta_quantile(events + 1.0, rest, c.get())
}

/// One-sided Clopper–Pearson lower bound: the `(1 − c)`-quantile of
/// Beta(events, trials − events + 1); 0 with no events.
fn cp_lower(events: f64, trials: f64, c: Confidence) -> f64 {
    if events <= 0.0 {
        return 0.0;
    }
    let rest = (trials - events).max(0.0);
    beta_quantile(events, rest + 1.0, 1.0 - c.get())
}

/// One-sided bounds of a proportion at a confidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The proportion is at least this, with the confidence.
    pub lower: f64,
    /// The proportion is at most this, with the confidence.
    pub upper: f64,
}

/// Clopper–Pearson bounds of the proportion `events / trials`; `None` when
/// there are no trials or more events than trials.
pub fn proportion_bounds(events: u64, trials: u64, c: Confidence) -> Option<Interval> {
    if trials == 0 || events > trials {
        return None;
    }
    let (k, n) = (events as f64, trials as f64);
    Some(Interval {
        lower: cp_lower(k, n, c),
        upper: cp_upper(k, n, c),
    })
}

/// What a run's counts say about availability, with bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub counts: Counts,
    pub confidence: Confidence,
    /// Point estimate `good / eligible`.
    pub ratio: f64,
    /// One-sided lower bound of availability at `confidence`.
    pub lower: f64,
    /// One-sided upper bound of availability at `confidence`.
    pub upper: f64,
    /// `1 − lower`, kept for precise nines.
    failure_upper: f64,
    /// `1 − upper`.
    failure_lower: f64,
}

/// What an availability target says about an estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// The lower bound meets the target.
    Demonstrated,
    /// The upper bound misses the target.
    Refuted,
    /// The target lies inside the interval; `more_requests` (at the observed
    /// failure rate) would settle it, `None` if no realistic run would.
    Undecided { more_requests: Option<u64> },
}

impl Estimate {
    /// Estimate availability from counts; `None` without eligible requests.
    pub fn new(counts: Counts, confidence: Confidence) -> Option<Self> {
        let n = counts.eligible() as f64;
        let k = counts.bad() as f64;
        let ratio = counts.ratio()?;
        let failure_upper = cp_upper(k, n, confidence);
        let failure_lower = cp_lower(k, n, confidence);
        Some(Estimate {
            counts,
            confidence,
            ratio,
            lower: 1.0 - failure_upper,
            upper: 1.0 - failure_lower,
            failure_upper,
            failure_lower,
        })
    }

    /// Nines of the point estimate; infinite when nothing failed.
    pub fn nines(&self) -> f64 {
        nines_of_failure(self.counts.bad() as f64 / self.counts.eligible() as f64)
    }

    /// Nines of the lower bound (what the run proved); always finite.
    pub fn lower_nines(&self) -> f64 {
        nines_of_failure(self.failure_upper)
    }

    /// Nines of the upper bound; infinite when nothing failed.
    pub fn upper_nines(&self) -> f64 {
        nines_of_failure(self.failure_lower)
    }

    /// The verdict rule against an availability target in [0, 1].
    pub fn judge(&self, target: f64) -> Judgement {
        if self.lower >= target {
            Judgement::Demonstrated
        } else if self.upper < target {
            Judgement::Refuted
        } else {
            Judgement::Undecided {
                more_requests: requests_to_settle(self.counts, target, self.confidence),
            }
        }
    }
}

/// Requests needed, all good, to demonstrate `target` at confidence `c`:
/// the smallest `n` with `target^n ≤ 1 − c`, i.e. `n ≥ ln(1 − c) / ln(target)`.
/// `None` for a target of 1 (no finite sample proves perfection); 0 for 0.
pub fn requests_to_demonstrate(target: f64, c: Confidence) -> Option<u64> {
    if target >= 1.0 || target.is_nan() {
        return None;
    }
    if target <= 0.0 {
        return Some(0);
    }
    let n = ((1.0 - c.get()).ln() / target.ln()).ceil();
    (n <= MAX_SETTLE_REQUESTS as f64).then_some(n as u64)
}

/// How many more requests, at the observed failure rate, would make the
/// availability verdict against `target` conclusive: `Some(0)` if it already
/// is, `None` if it never would (the observed rate equals the target) or only
/// beyond 10¹⁵ requests. With zero failures this is
/// [`requests_to_demonstrate`] minus the requests already seen.
pub fn requests_to_settle(counts: Counts, target: f64, c: Confidence) -> Option<u64> {
    let n = counts.eligible();
    if counts.bad() == 0 {
        return requests_to_demonstrate(target, c).map(|need| need.saturating_sub(n));
    }
    let fail_rate = counts.bad() as f64 / n as f64;
    let allowed = 1.0 - target;
    let settled = |trials: u64| {
        let t = trials as f64;
        let events = fail_rate * t;
        if fail_rate < allowed {
            1.0 - cp_upper(events, t, c) >= target
        } else {
            1.0 - cp_lower(events, t, c) < target
        }
    };
    if fail_rate == allowed {
        return None;
    }
    additional_trials(n, settled)
}

/// The least `N ≥ n` with `settled(N)`, minus `n` (settling is monotone in `N`
/// for a fixed rate: intervals only narrow). Doubling, then bisection.
fn additional_trials(n: u64, settled: impl Fn(u64) -> bool) -> Option<u64> {
    if settled(n) {
        return Some(0);
    }
    let (mut lo, mut hi) = (n.max(1), n.max(1).saturating_mul(2));
    while !settled(hi) {
        if hi >= MAX_SETTLE_REQUESTS {
            return None;
        }
        lo = hi;
        hi = hi.saturating_mul(2).min(MAX_SETTLE_REQUESTS);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if settled(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi - n)
}

/// Time-based availability: the share of windows (1 s each, from the per-second
/// series) whose own ratio met `target`. Windows without eligible requests say
/// nothing and are left out; `None` if no window had any.
pub fn time_based(windows: &[Counts], target: f64) -> Option<f64> {
    let judged: Vec<bool> = windows
        .iter()
        .filter_map(|w| w.ratio().map(|r| r >= target))
        .collect();
    let met = judged.iter().filter(|&&m| m).count() as u64;
    ratio(met, judged.len() as u64)
}

/// Share of the error budget the counts used: bad requests over the bad
/// requests the target allows for this many eligible ones (1.0 = exactly
/// spent, above 1 = overspent). `None` without eligible requests, or when the
/// target is 100% (no budget) and something failed.
pub fn error_budget_consumed(counts: Counts, target: f64) -> Option<f64> {
    let allowed = (1.0 - target) * counts.eligible() as f64;
    if counts.eligible() == 0 {
        None
    } else if counts.bad() == 0 {
        Some(0.0)
    } else if allowed > 0.0 {
        Some(counts.bad() as f64 / allowed)
    } else {
        None
    }
}

/// Burn rate: observed failure rate over the failure rate the target allows.
/// 1 spends a budget exactly over its period, 14.4 spends a 30-day budget in
/// two days. Over a whole run it equals [`error_budget_consumed`]; it is meant
/// for windows (a fault, a minute) as well. Same `None` cases.
pub fn burn_rate(counts: Counts, target: f64) -> Option<f64> {
    let failure = counts.failure_ratio()?;
    let allowed = 1.0 - target;
    if failure == 0.0 {
        Some(0.0)
    } else if allowed > 0.0 {
        Some(failure / allowed)
    } else {
        None
    }
}

/// The highest burn rate over any `span` consecutive windows (e.g. 60 one-second
/// windows for a one-minute burn rate). `None` if no span had eligible requests
/// or the target is 100% and something failed; a series shorter than `span` is
/// judged as one span.
pub fn peak_burn_rate(windows: &[Counts], target: f64, span: usize) -> Option<f64> {
    let span = span.clamp(1, windows.len().max(1));
    let mut peak: Option<f64> = None;
    for chunk in windows.windows(span) {
        let total: Counts = chunk.iter().copied().sum();
        if total.eligible() == 0 {
            continue;
        }
        let rate = burn_rate(total, target)?;
        peak = Some(peak.map_or(rate, |p: f64| p.max(rate)));
    }
    peak
}

/// Downtime per year an availability implies: `(1 − A) × 365.25 days`, seconds.
pub fn downtime_per_year_s(availability: f64) -> f64 {
    (1.0 - availability).clamp(0.0, 1.0) * SECONDS_PER_YEAR
}

#[cfg(test)]
#[path = "availability_tests.rs"]
mod tests;
