//! Faults: the timeline that plays `[[faults]]` against a run.

pub mod timeline;
