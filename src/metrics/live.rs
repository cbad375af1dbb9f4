//! The live feed: what the run has measured so far, while it runs.
//!
//! Off the hot path by construction: a worker's recorder sends one
//! [`LiveSecond`] when it seals a second (its cold roll-over path, about once
//! a second per worker), over an unbounded channel that never blocks the
//! sender. [`LiveHub`] merges them (exactly, as [`crate::metrics::Recording`]
//! merges workers at the end) into a [`LiveView`] that the dashboard, the
//! metrics exporters and the abort rule read.
//!
//! A worker seals second `s` when its first sample of a later second arrives,
//! or when it finishes; so a second is complete only once every worker has
//! moved past it. [`LiveView::complete_through`] says which seconds that is:
//! figures of later seconds may still grow.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;
use tokio::sync::mpsc;

use super::hist;
use super::live_throttle::LiveThrottle;
use super::outcome::OutcomeCounts;
use super::recorder::Layout;
use super::recording::TenantSecond;

/// One key's cumulative outcomes (phase × tenant × request class) in one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveKey {
    pub phase: usize,
    /// Index into [`Layout::tenants`]; `None`: no tenant.
    pub tenant: Option<usize>,
    pub class: usize,
    pub outcomes: OutcomeCounts,
}

/// One phase's cumulative schedule figures in one worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LivePhase {
    pub scheduled: u64,
    pub dropped: u64,
}

/// One worker's sealed second.
#[derive(Debug, Clone)]
pub struct LiveSecond {
    pub worker: usize,
    /// Seconds since the run start (completion time, as [`crate::metrics::SecondStats`]).
    pub second: u32,
    pub outcomes: OutcomeCounts,
    /// Intended-time latency of the answers of this second, µs, by phase.
    pub latency: Vec<Histogram<u64>>,
    /// Service time (sent → answered) of the answers of this second, µs, by phase.
    pub service: Vec<Histogram<u64>>,
    pub in_flight_max: u64,
    /// Answers by `X-Backend-Instance`.
    pub instances: Vec<(String, u64)>,
    /// Throttle tallies by tenant index.
    pub tenants: Vec<(usize, TenantSecond)>,
    /// This worker's totals since the start, every key it has seen.
    pub keys: Vec<LiveKey>,
    /// This worker's totals since the start, by phase.
    pub phases: Vec<LivePhase>,
    /// The tenant attempts completed since this worker's previous sealed
    /// second, of the tenants the feed judges live (see [`LiveSender::judging`]).
    pub throttle: Vec<LiveThrottle>,
}

/// Seconds the channel holds before a sender gives up on one: minutes of
/// backlog at a few workers, so only a hub that stopped reading fills it.
pub const CAPACITY: usize = 4096;

/// The sending end a recorder holds.
#[derive(Debug, Clone)]
pub struct LiveSender {
    worker: usize,
    tx: mpsc::Sender<LiveSecond>,
    /// Seconds not sent because the channel was full (the view says so).
    lost: Arc<AtomicU64>,
    /// By tenant index: whether its attempts go with each sealed second.
    judged: Arc<[bool]>,
}

impl LiveSender {
    /// The same channel, for worker `worker`.
    pub fn for_worker(&self, worker: usize) -> LiveSender {
        LiveSender {
            worker,
            tx: self.tx.clone(),
            lost: Arc::clone(&self.lost),
            judged: Arc::clone(&self.judged),
        }
    }

    /// Send the attempts of the tenants marked `true` (by tenant index) with
    /// each sealed second, for the live over-admission count.
    pub fn judging(mut self, tenants: Vec<bool>) -> LiveSender {
        self.judged = tenants.into();
        self
    }

    /// Whether the attempts of tenant `tenant` go with each sealed second.
    pub fn judges(&self, tenant: usize) -> bool {
        self.judged.get(tenant).copied().unwrap_or(false)
    }

    /// The worker this sender belongs to.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// Send a sealed second; never blocks. A full channel loses the second
    /// (counted: the view is then marked incomplete); a closed hub (nobody
    /// watching any more) is not an error of the run.
    pub fn send(&self, mut second: LiveSecond) {
        second.worker = self.worker;
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(second) {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A new live channel: the sender for the recorders, the hub for the readers.
pub fn channel(layout: Arc<Layout>, run_start: Instant) -> (LiveSender, LiveHub) {
    let (tx, rx) = mpsc::channel(CAPACITY);
    let lost = Arc::new(AtomicU64::new(0));
    (
        LiveSender {
            worker: 0,
            tx,
            lost: Arc::clone(&lost),
            judged: Arc::from(Vec::new()),
        },
        LiveHub {
            rx,
            lost,
            view: LiveView::new(layout, run_start),
        },
    )
}

/// One second merged over workers.
#[derive(Debug, Clone)]
pub struct LiveSecondView {
    pub second: u32,
    pub outcomes: OutcomeCounts,
    /// By phase, µs.
    pub latency: Vec<Histogram<u64>>,
    /// By phase, µs.
    pub service: Vec<Histogram<u64>>,
    /// Sum of the workers' maxima (an upper bound, as in the results).
    pub in_flight_max: u64,
    pub instances: BTreeMap<String, u64>,
    /// By tenant index.
    pub tenants: BTreeMap<usize, TenantSecond>,
}

impl LiveSecondView {
    fn new(second: u32, phases: usize) -> Self {
        LiveSecondView {
            second,
            outcomes: OutcomeCounts::default(),
            latency: (0..phases).map(|_| new_hist()).collect(),
            service: (0..phases).map(|_| new_hist()).collect(),
            in_flight_max: 0,
            instances: BTreeMap::new(),
            tenants: BTreeMap::new(),
        }
    }

    /// Latency of every phase together.
    pub fn latency_all(&self) -> Histogram<u64> {
        sum(&self.latency)
    }

    /// Service time of every phase together.
    pub fn service_all(&self) -> Histogram<u64> {
        sum(&self.service)
    }
}

/// What the run has measured so far, merged over workers.
#[derive(Debug, Clone)]
pub struct LiveView {
    pub layout: Arc<Layout>,
    /// The run clock's zero (second 0 starts here).
    pub run_start: Instant,
    /// Every second any worker sealed, by second.
    pub seconds: BTreeMap<u32, LiveSecondView>,
    /// Totals since the start over workers, by (phase, tenant, class).
    pub keys: BTreeMap<(usize, Option<usize>, usize), OutcomeCounts>,
    /// Totals since the start over workers, by phase.
    pub phases: Vec<LivePhase>,
    /// Latency since the start, by phase, µs.
    pub latency: Vec<Histogram<u64>>,
    /// Service time since the start, by phase, µs.
    pub service: Vec<Histogram<u64>>,
    /// Throttle tallies since the start, by tenant index (the sum of every
    /// sealed second's: each worker sends each of its seconds once).
    pub tenants: BTreeMap<usize, TenantSecond>,
    /// The last second each worker sealed.
    pub sealed: BTreeMap<usize, u32>,
    /// Worker-seconds lost because the channel was full: when not 0, the
    /// figures here undercount (the results at the end do not).
    pub lost: u64,
    /// Each worker's last totals (what `keys` and `phases` sum).
    per_worker: BTreeMap<usize, (Vec<LiveKey>, Vec<LivePhase>)>,
    /// Tenant attempts received and not yet taken ([`LiveHub::take_throttle`]).
    throttle: Vec<LiveThrottle>,
}

impl LiveView {
    fn new(layout: Arc<Layout>, run_start: Instant) -> Self {
        let phases = layout.phases.len();
        LiveView {
            layout,
            run_start,
            seconds: BTreeMap::new(),
            keys: BTreeMap::new(),
            phases: vec![LivePhase::default(); phases],
            latency: (0..phases).map(|_| new_hist()).collect(),
            service: (0..phases).map(|_| new_hist()).collect(),
            tenants: BTreeMap::new(),
            sealed: BTreeMap::new(),
            lost: 0,
            per_worker: BTreeMap::new(),
            throttle: Vec::new(),
        }
    }

    /// Merge one worker's sealed second.
    pub fn apply(&mut self, s: LiveSecond) {
        let phases = self.layout.phases.len();
        let view = self
            .seconds
            .entry(s.second)
            .or_insert_with(|| LiveSecondView::new(s.second, phases));
        view.outcomes.merge(&s.outcomes);
        for (p, (l, sv)) in s.latency.iter().zip(&s.service).enumerate().take(phases) {
            let _ = view.latency[p].add(l);
            let _ = view.service[p].add(sv);
            let _ = self.latency[p].add(l);
            let _ = self.service[p].add(sv);
        }
        view.in_flight_max += s.in_flight_max;
        for (name, n) in s.instances {
            *view.instances.entry(name).or_default() += n;
        }
        for (t, tally) in &s.tenants {
            view.tenants.entry(*t).or_default().merge(tally);
            self.tenants.entry(*t).or_default().merge(tally);
        }
        let sealed = self.sealed.entry(s.worker).or_default();
        *sealed = (*sealed).max(s.second);
        self.per_worker.insert(s.worker, (s.keys, s.phases));
        self.throttle.extend(s.throttle);
        self.retotal();
    }

    fn retotal(&mut self) {
        self.keys.clear();
        self.phases
            .iter_mut()
            .for_each(|p| *p = LivePhase::default());
        for (keys, phases) in self.per_worker.values() {
            for k in keys {
                self.keys
                    .entry((k.phase, k.tenant, k.class))
                    .or_default()
                    .merge(&k.outcomes);
            }
            for (total, p) in self.phases.iter_mut().zip(phases) {
                total.scheduled += p.scheduled;
                total.dropped += p.dropped;
            }
        }
    }

    /// Outcomes since the start over every key.
    pub fn outcomes(&self) -> OutcomeCounts {
        let mut all = OutcomeCounts::default();
        for c in self.keys.values() {
            all.merge(c);
        }
        all
    }

    /// The last second every one of `workers` workers has sealed (so no more
    /// samples can land in it or before it), if any.
    pub fn complete_through(&self, workers: usize) -> Option<u32> {
        if self.sealed.len() < workers {
            return None;
        }
        self.sealed.values().min().copied()
    }
}

/// Receives the workers' seconds and keeps the merged view.
#[derive(Debug)]
pub struct LiveHub {
    rx: mpsc::Receiver<LiveSecond>,
    lost: Arc<AtomicU64>,
    view: LiveView,
}

impl LiveHub {
    /// Merge whatever has arrived, without waiting.
    pub fn drain(&mut self) -> &LiveView {
        while let Ok(s) = self.rx.try_recv() {
            self.view.apply(s);
        }
        self.view.lost = self.lost.load(Ordering::Relaxed);
        &self.view
    }

    /// Wait for the next second from any worker and merge it with whatever else
    /// has arrived; `None` when every sender is gone (the run's traffic ended).
    pub async fn next(&mut self) -> Option<&LiveView> {
        let s = self.rx.recv().await?;
        self.view.apply(s);
        Some(self.drain())
    }

    /// The view as merged so far.
    pub fn view(&self) -> &LiveView {
        &self.view
    }

    /// The tenant attempts received since the last call (for a
    /// [`super::live_throttle::ThrottleFeed`]).
    pub fn take_throttle(&mut self) -> Vec<LiveThrottle> {
        std::mem::take(&mut self.view.throttle)
    }
}

fn new_hist() -> Histogram<u64> {
    hist::new_histogram(hist::SECOND_SIGFIG)
}

fn sum(hs: &[Histogram<u64>]) -> Histogram<u64> {
    let mut all = new_hist();
    for h in hs {
        let _ = all.add(h);
    }
    all
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
