//! `ninefold run`: plan, bring up, drive traffic and faults, tear down, write results.

pub mod plan;
