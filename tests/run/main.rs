//! `ninefold run` end to end with real child processes on loopback: kills and
//! replacements measured, interruption, shards and their merge, limits shared
//! through Redis, the throttle oracle, the reports written from real runs, and
//! the metrics streamed during a run or an attack (Prometheus remote-write,
//! /metrics).
//! One test binary (each module was once its own); short runs, bounded in time.

mod support;

mod commands;
mod count_abort;
mod credentials;
mod e2e;
mod flows;
mod integrity_api;
mod interrupted;
mod live_events;
mod oauth2;
mod report_html;
mod series_phases;
mod shard_merge;
mod shared_limits;
mod streaming;
mod streaming_attack;
mod streaming_support;
mod throttle_oracle;
