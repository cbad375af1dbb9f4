//! The live feed of a run's traffic: the workers' sealed seconds (see
//! [`crate::metrics::live`]) merged by one task and published, with the
//! instant's gauges, as a [`LiveSnapshot`] a few times a second.
//!
//! A reader subscribes before the run ([`LiveWatch::new`] and
//! [`LiveWatch::subscribe`]) and gets the latest snapshot whenever it looks:
//! a slow reader skips snapshots, it never holds the run back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::metrics::live::{LiveHub, LivePhase, LiveSecondView, LiveView};
use crate::metrics::live_throttle::{OverAdmittedSoFar, ThrottleFeed};
use crate::metrics::{Layout, OutcomeCounts, TenantSecond};

use super::plan::LoadPlan;
use super::worker::LiveCounters;

/// How many of the latest seconds a snapshot carries per second.
pub const RECENT_SECONDS: usize = 120;

/// How often a snapshot is published.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// Where the run publishes its snapshots (the sending end; readers subscribe).
#[derive(Debug, Clone)]
pub struct LiveWatch {
    tx: watch::Sender<Option<Arc<LiveSnapshot>>>,
}

impl Default for LiveWatch {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveWatch {
    pub fn new() -> Self {
        LiveWatch {
            tx: watch::channel(None).0,
        }
    }

    /// A reader: `None` until the traffic has started.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<LiveSnapshot>>> {
        self.tx.subscribe()
    }

    fn publish(&self, snapshot: LiveSnapshot) {
        self.tx.send_replace(Some(Arc::new(snapshot)));
    }
}

/// One second, merged over workers, as a reader needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct SecondSummary {
    pub second: u32,
    pub outcomes: OutcomeCounts,
    /// Intended-time latency of the second's answers, µs (`None`: no answer).
    pub latency_p50_us: Option<u64>,
    pub latency_p99_us: Option<u64>,
    /// Service time (sent → answered), µs.
    pub service_p50_us: Option<u64>,
    pub service_p99_us: Option<u64>,
    pub in_flight_max: u64,
    pub instances: BTreeMap<String, u64>,
    /// By tenant id.
    pub tenants: BTreeMap<String, TenantSecond>,
}

/// The gauges of the instant the snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveNow {
    /// Since the run clock's zero.
    pub elapsed: Duration,
    /// The length of the traffic (the run's duration).
    pub total: Duration,
    /// The open-loop rate the schedule asks of this process now, req/s.
    pub target_rate: f64,
    pub answered: u64,
    pub bad: u64,
    pub dropped: u64,
    pub in_flight: u64,
    /// The live second's p99 over workers (the highest), µs.
    pub p99_us: u64,
    /// The open-loop generator's largest dispatch lag since the previous snapshot
    /// (over workers), µs: how late it was for an intended instant. `None` when it
    /// dispatched nothing in the interval (a closed loop, a pause, the end).
    pub dispatch_lag_us: Option<u64>,
}

/// What the run has measured so far.
#[derive(Debug, Clone)]
pub struct LiveSnapshot {
    pub layout: Arc<Layout>,
    pub run_start: Instant,
    pub now: LiveNow,
    /// The latest [`RECENT_SECONDS`] seconds, oldest first; the last one or two
    /// may still grow (see `complete_through`).
    pub seconds: Vec<SecondSummary>,
    /// The last second no more answers can land in, if any.
    pub complete_through: Option<u32>,
    /// Totals since the start by (phase, tenant index, class).
    pub keys: BTreeMap<(usize, Option<usize>, usize), OutcomeCounts>,
    /// Totals since the start by phase.
    pub phases: Vec<LivePhase>,
    /// Latency and service time since the start, by phase, µs.
    pub latency: Vec<Histogram<u64>>,
    pub service: Vec<Histogram<u64>>,
    /// Throttle tallies since the start, by tenant id (tenants with a plan
    /// that sent something).
    pub tenants: BTreeMap<String, TenantSecond>,
    /// Whether the traffic has ended (the last snapshot of the run).
    pub finished: bool,
    /// Worker-seconds the feed lost (a reader that fell minutes behind): when
    /// not 0, these figures undercount; the results at the end do not.
    pub lost: u64,
    /// The latest over-admission count by tenant id, of the tenants judged
    /// live (`TrafficOptions::live_judged_tenants`): a lower bound of the
    /// final figure, judged about once a second.
    pub over_admitted: BTreeMap<String, OverAdmittedSoFar>,
}

impl LiveSnapshot {
    /// Outcomes since the start over every key.
    pub fn outcomes(&self) -> OutcomeCounts {
        let mut all = OutcomeCounts::default();
        for c in self.keys.values() {
            all.merge(c);
        }
        all
    }
}

fn summary(layout: &Layout, s: &LiveSecondView) -> SecondSummary {
    let q = |h: &Histogram<u64>, at: f64| (!h.is_empty()).then(|| h.value_at_quantile(at));
    let (latency, service) = (s.latency_all(), s.service_all());
    SecondSummary {
        second: s.second,
        outcomes: s.outcomes,
        latency_p50_us: q(&latency, 0.5),
        latency_p99_us: q(&latency, 0.99),
        service_p50_us: q(&service, 0.5),
        service_p99_us: q(&service, 0.99),
        in_flight_max: s.in_flight_max,
        instances: s.instances.clone(),
        tenants: s
            .tenants
            .iter()
            .filter_map(|(t, v)| Some((layout.tenants.get(*t)?.clone(), *v)))
            .collect(),
    }
}

fn snapshot(
    view: &LiveView,
    now: LiveNow,
    workers: usize,
    finished: bool,
    judged: &Judging,
) -> LiveSnapshot {
    let skip = view.seconds.len().saturating_sub(RECENT_SECONDS);
    LiveSnapshot {
        layout: Arc::clone(&view.layout),
        run_start: view.run_start,
        now,
        seconds: view
            .seconds
            .values()
            .skip(skip)
            .map(|s| summary(&view.layout, s))
            .collect(),
        complete_through: if finished {
            view.seconds.keys().next_back().copied()
        } else {
            view.complete_through(workers)
        },
        keys: view.keys.clone(),
        phases: view.phases.clone(),
        latency: view.latency.clone(),
        service: view.service.clone(),
        tenants: view
            .tenants
            .iter()
            .filter_map(|(t, v)| Some((view.layout.tenants.get(*t)?.clone(), *v)))
            .collect(),
        finished,
        lost: view.lost,
        over_admitted: judged
            .latest
            .iter()
            .filter_map(|(t, v)| Some((view.layout.tenants.get(*t)?.clone(), *v)))
            .collect(),
    }
}

fn gauges(plan: &LoadPlan, counters: &[Arc<LiveCounters>], total: Duration) -> LiveNow {
    let sum = |f: fn(&LiveCounters) -> u64| counters.iter().map(|l| f(l)).sum::<u64>();
    LiveNow {
        elapsed: Instant::now().saturating_duration_since(plan.run_start),
        total,
        target_rate: super::progress::target_rate(
            plan,
            Instant::now().saturating_duration_since(plan.run_start),
        ),
        answered: sum(|l| l.answered.load(Ordering::Relaxed)),
        bad: sum(|l| l.bad.load(Ordering::Relaxed)),
        dropped: sum(|l| l.dropped.load(Ordering::Relaxed)),
        in_flight: sum(|l| l.in_flight.load(Ordering::Relaxed)),
        p99_us: counters
            .iter()
            .map(|l| l.p99_us.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0),
        // Every worker's interval is taken (and restarted), whichever is the largest.
        dispatch_lag_us: counters.iter().filter_map(|l| l.take_dispatch_lag()).max(),
    }
}

/// The live over-admission judge: the feed is judged on the blocking pool
/// (O(n log n) over each tenant's attempts so far: never on a runtime
/// thread), one job at a time, at most once per [`JUDGE_EVERY`] and never
/// busier than a third of one core (the wait after a job is twice its length).
struct Judging {
    /// The feed, when no job holds it.
    home: Option<ThrottleFeed>,
    job: Option<tokio::task::JoinHandle<ThrottleFeed>>,
    /// Attempts that arrived while a job held the feed.
    waiting: Vec<crate::metrics::live_throttle::LiveThrottle>,
    latest: BTreeMap<usize, OverAdmittedSoFar>,
    next: tokio::time::Instant,
    started: tokio::time::Instant,
}

/// How often the live over-admission count is judged at most.
pub const JUDGE_EVERY: Duration = Duration::from_secs(1);

impl Judging {
    fn new() -> Self {
        let now = tokio::time::Instant::now();
        Judging {
            home: Some(ThrottleFeed::default()),
            job: None,
            waiting: Vec::new(),
            latest: BTreeMap::new(),
            next: now,
            started: now,
        }
    }

    /// Take the hub's new attempts, and start a job when one is due.
    fn tick(&mut self, hub: &mut LiveHub) {
        self.waiting.extend(hub.take_throttle());
        let Some(feed) = self.home.as_mut() else {
            return;
        };
        self.waiting.drain(..).for_each(|b| feed.add(b));
        let now = tokio::time::Instant::now();
        if now >= self.next && feed.has_new() {
            let mut feed = self.home.take().unwrap_or_default();
            self.started = now;
            self.job = Some(tokio::task::spawn_blocking(move || {
                feed.judge();
                feed
            }));
        }
    }

    /// A job ended: keep its judgement (a job that panicked ends the judging).
    fn done(&mut self, r: Result<ThrottleFeed, tokio::task::JoinError>) {
        self.job = None;
        if let Ok(feed) = r {
            self.latest = feed.judged();
            let took = self.started.elapsed();
            self.next =
                tokio::time::Instant::now() + JUDGE_EVERY.saturating_sub(took).max(took * 2);
            self.home = Some(feed);
        }
    }
}

/// The end of the running judge job (pending forever when there is none).
async fn job_done(
    job: &mut Option<tokio::task::JoinHandle<ThrottleFeed>>,
) -> Result<ThrottleFeed, tokio::task::JoinError> {
    match job {
        Some(j) => j.await,
        None => std::future::pending().await,
    }
}

/// Merge and publish until `stop` (the traffic ended: every worker has sent
/// its last second), then publish the final snapshot, marked finished.
pub(crate) async fn publish(
    plan: Arc<LoadPlan>,
    mut hub: LiveHub,
    counters: Vec<Arc<LiveCounters>>,
    total: Duration,
    out: LiveWatch,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(PUBLISH_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut judging = Judging::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            // Merge as seconds arrive, so a snapshot's work stays small.
            got = hub.next() => if got.is_none() { break },
            r = job_done(&mut judging.job) => judging.done(r),
            _ = ticker.tick() => {
                judging.tick(&mut hub);
                let view = hub.drain();
                out.publish(snapshot(view, gauges(&plan, &counters, total), plan.workers, false, &judging));
            }
        }
    }
    let view = hub.drain();
    out.publish(snapshot(
        view,
        gauges(&plan, &counters, total),
        plan.workers,
        true,
        &judging,
    ));
}
