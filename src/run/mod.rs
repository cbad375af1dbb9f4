//! `ninefold run`: plan, bring up, drive traffic and faults, tear down, write results.

pub(crate) mod bringup;
pub mod driver;
pub mod links;
pub mod merge;
pub mod outputs;
pub mod plan;
pub mod redis;
pub mod runner;
pub(crate) mod scrape;
