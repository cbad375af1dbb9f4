//! Analysis: turns what a run measured into verdicts that are statistically honest.
//!
//! - [`abort`]: the early-abort rule (an SLO that cannot pass any more).
//! - [`availability`]: ratio, nines, Clopper–Pearson bounds, requests needed,
//!   time-based availability, error budget, burn rate, downtime per year.
//! - [`beta`]: the regularized incomplete beta and its inverse, exact for
//!   every count (the Clopper–Pearson bounds rest on it).
//! - [`significance`]: Mann–Whitney U and the two-proportion z-test, for
//!   comparing two runs against run-to-run noise.
//! - [`slo`]: one objective against a measured value or an interval, and the
//!   run verdict (and exit code) from all SLO verdicts.
//!
//! Everything here is pure functions over counts and values, so it is tested
//! against hand-computed and independently computed numbers; the recorder's
//! format is the caller's business. It imports only the scenario's objective
//! types and `format`: the summary (`crate::summary`) calls it, never the
//! other way round.

pub mod abort;
pub mod availability;
pub mod beta;
pub mod significance;
pub mod slo;

pub use slo::{Evaluation, Measured, RunHealth, RunVerdict, Verdict, evaluate};
