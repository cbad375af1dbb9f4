//! The load engine: open- and closed-loop HTTP traffic that never lies about latency.
//!
//! - [`schedule`]: intended send instants as pure functions (no drift, seeded Poisson).
//! - [`request`]: request classes with static parts pre-rendered.
//! - [`tokens`]: JWTs minted with the gateway's key, and the hostile kinds.
//! - [`client`]: worker-owned HTTP/1.1 connections, round-robin over targets.
//! - `hyper_client`: `--client hyper`, the same requests through hyper-util's pooled
//!   client (a cross-check), behind the `Link` the worker's connection tasks send with.
//! - `http2`: `protocol = "h2"`, HTTP/2 connections of many streams each (the h2
//!   crate), behind the same `Link`.
//! - `worker`: one thread and one current-thread runtime per worker; the loop.
//! - `progress`: the live line on stderr.
//! - [`live`]: the live feed (what the run has measured so far) for the
//!   dashboard, the exporters and the abort rule.
//! - [`readback`]: after the run, the acknowledged writes read back through the API.
//! - [`shard`]: this process's share of the load when a run is split over several.
//!
//! [`run_traffic`] is the entry point: a [`TrafficPlan`] in, a merged
//! [`Recording`] out.

pub mod check;
pub mod client;
mod http2;
mod hyper_client;
pub mod live;
pub mod oauth;
mod plan;
mod progress;
pub mod readback;
pub mod request;
pub mod resolve;
pub mod schedule;
pub mod shard;
mod stream;
pub mod tls;
pub mod tokens;
pub mod url;
mod worker;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::metrics::{MergeError, Recording};

pub use client::Target;
pub use hyper_client::ClientKind;
pub use plan::{TrafficOptions, TrafficPlan};
pub use shard::{Shard, ShardError, ShardRun};
pub use tokens::TokenError;

/// Why traffic could not run.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error("no target address to send traffic to")]
    NoTargets,
    #[error("traffic phase `{0}` has no request classes")]
    NoRequests(String),
    #[error("traffic phase `{phase}` names tenant `{tenant}`, which is not declared")]
    UnknownTenant { phase: String, tenant: String },
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("cannot start load worker {index}: {source}")]
    Spawn {
        index: usize,
        source: std::io::Error,
    },
    #[error(
        "load worker {0} stopped without a result (it panicked or could not start its runtime)"
    )]
    WorkerFailed(usize),
    #[error("worker results do not merge: {0}")]
    Merge(#[from] MergeError),
    #[error("{0}")]
    Unsupported(String),
}

/// Send the plan's traffic to `targets` and record what clients saw.
///
/// Returns when every phase has ended and its answers are in (or timed out),
/// or soon after `shutdown` fires (requests then in flight are not recorded).
pub async fn run_traffic(
    plan: TrafficPlan,
    targets: Vec<Target>,
    options: TrafficOptions,
    shutdown: CancellationToken,
) -> Result<Recording, TrafficError> {
    let total = plan.end();
    let mut load_plan = plan::LoadPlan::new(plan, targets, &options)?;
    let hub = options.live.as_ref().map(|_| {
        let (tx, hub) =
            crate::metrics::live::channel(Arc::clone(&load_plan.layout), load_plan.run_start);
        let judged = load_plan.layout.tenants.iter();
        let judged = judged.map(|t| options.live_judged_tenants.contains(t));
        load_plan.live = Some(tx.judging(judged.collect()));
        hub
    });
    let load_plan = Arc::new(load_plan);
    let stop = shutdown.child_token();
    // If the caller drops this future, the worker threads stop too.
    let _stop_on_drop = stop.clone().drop_guard();
    let mut live = Vec::with_capacity(load_plan.workers);
    let mut results = Vec::with_capacity(load_plan.workers);
    for index in 0..load_plan.workers {
        let counters = Arc::new(worker::LiveCounters::default());
        match worker::spawn(
            Arc::clone(&load_plan),
            index,
            Arc::clone(&counters),
            stop.clone(),
        ) {
            Ok(rx) => results.push(rx),
            Err(source) => {
                stop.cancel();
                return Err(TrafficError::Spawn { index, source });
            }
        }
        live.push(counters);
    }
    let progress_stop = CancellationToken::new();
    let readers = spawn_readers(&load_plan, hub, &options, live, total, &progress_stop);
    let mut merged = Recording::default();
    let mut failure = None;
    for (index, rx) in results.into_iter().enumerate() {
        // Each worker ends by itself at its drain deadline, so this wait is bounded.
        match rx.await {
            Ok(recording) => merged.merge(recording)?,
            Err(_) => {
                stop.cancel();
                failure.get_or_insert(TrafficError::WorkerFailed(index));
            }
        }
    }
    // Every worker has sent its last second before its recording: the
    // publisher's final snapshot has them all.
    progress_stop.cancel();
    for task in readers {
        let _ = task.await;
    }
    merged.redact_examples(&load_plan.secrets);
    if options.client != ClientKind::Ninefold {
        merged.http_client = Some(options.client.name().to_owned());
    }
    merged.tls_insecure = insecure(&load_plan.targets);
    match failure {
        Some(e) => Err(e),
        None => Ok(merged),
    }
}

/// The tasks that read the run while it goes: the live feed's publisher and
/// the progress line. They end when `stop` fires.
fn spawn_readers(
    load_plan: &Arc<plan::LoadPlan>,
    hub: Option<crate::metrics::live::LiveHub>,
    options: &TrafficOptions,
    counters: Vec<Arc<worker::LiveCounters>>,
    total: std::time::Duration,
    stop: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    // The live feed, when it runs, takes each interval's dispatch lag; the progress
    // line then shows what it took, else it takes its own.
    let publishes = hub.is_some() && options.live.is_some();
    if let (Some(hub), Some(out)) = (hub, options.live.clone()) {
        tasks.push(tokio::spawn(live::publish(
            Arc::clone(load_plan),
            hub,
            counters.clone(),
            total,
            out,
            stop.clone(),
        )));
    }
    if options.progress {
        tasks.push(tokio::spawn(progress::report(
            Arc::clone(load_plan),
            counters,
            total,
            !publishes,
            stop.clone(),
        )));
    }
    tasks
}

/// Whether any target's TLS skips certificate verification.
fn insecure(targets: &[Target]) -> bool {
    targets
        .iter()
        .any(|t| t.tls.as_ref().is_some_and(|t| t.insecure))
}
