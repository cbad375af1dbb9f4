//! `ninefold run`: plan, bring up, drive traffic and faults, tear down, write results.
//!
//! [`run`] is the whole run as one call (what `ninefold run` and in-process
//! tests use); the modules are its stages.

pub(crate) mod bringup;
pub(crate) mod commands;
pub mod count_abort;
pub mod driver;
pub mod experiment;
pub mod export;
pub mod links;
pub mod merge;
pub mod outputs;
pub mod plan;
pub mod pools;
pub mod redis;
pub mod runner;
pub(crate) mod scrape;
pub mod start;
pub mod watch;

pub use experiment::{NoOutcome, Options, RunOutcome, run, scale};
