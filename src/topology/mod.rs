//! Process supervision for a run: children, readiness, ports.

pub mod ready;
