//! The recorder: what clients saw, kept so that the numbers are true.
//!
//! - [`outcome`]: every request ends in an [`Outcome`], decided by one table.
//! - [`hist`]: µs HDR histograms with shared bounds, V2+deflate on the wire.
//! - [`bucket`]: the tenant's plan replayed over actual send times (throttle accuracy).
//! - [`throttle`]: each tenant answer judged over when the gateway may have seen it.
//! - [`recorder`]: the per-worker, lock-free hot-path recorder.
//! - [`recording`]: the merged, serializable result the summary is built from.
//! - [`second_phases`]: each second of the series by phase.
//! - [`live`], [`live_throttle`]: the live feed (sealed seconds merged while the run
//!   goes) and its over-admission count for the abort rule.

pub mod bucket;
pub mod hist;
pub mod live;
pub mod live_throttle;
pub mod outcome;
pub mod recorder;
pub mod recording;
pub mod second_phases;
pub mod throttle;

pub use bucket::{Admission, BucketModel, LimitHeaders, TenantModelStats};
pub use hist::{Hist, Percentiles};
pub use outcome::{ClientFailure, Outcome, OutcomeCounts, classify};
pub use recorder::{Layout, PhaseLayout, Recorder, Sample};
pub use recording::{
    AckedWrite, FlowStats, KeyStats, MergeError, PhaseSecond, PhaseStats, Recording, SecondStats,
    TenantSecond,
};
