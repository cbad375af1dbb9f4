//! Process supervision for a run: children, readiness, ports.

pub mod child;
pub mod ready;
pub mod supervisor;
