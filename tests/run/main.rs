//! `ninefold run` end to end with real child processes on loopback: kills and
//! replacements measured, interruption, shards and their merge, limits shared
//! through Redis, the throttle oracle, and the reports written from real runs.
//! One test binary (each module was once its own); short runs, bounded in time.

mod support;

mod credentials;
mod e2e;
mod flows;
mod interrupted;
mod oauth2;
mod report_html;
mod shard_merge;
mod shared_limits;
mod throttle_oracle;
