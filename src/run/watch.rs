//! Watching a run while it goes: the events of the run as they happen (faults
//! started and ended, instances exiting, dying, replaced and ready, instances
//! ejected and readmitted by a gateway's pool, the generator dropping
//! requests or falling behind its schedule ([`lag`]), an abort) on a bounded channel that never
//! blocks the sender, and the early-abort rule over the live feed.
//!
//! Times are seconds on the run clock, the clock of `results.json`'s fault and
//! lifecycle events: a fault event's `at_s` is the very value the results
//! keep, a lifecycle event's the supervisor's, a pool event's the poll's that
//! saw it (`super::pools`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::analysis::abort::availability_refuted;
use crate::analysis::availability::{Confidence, Counts};
use crate::faults::timeline::{FaultEvent, Phase, Step};
use crate::metrics::OutcomeCounts;
use crate::results::{AbortEvidence, Aborted, PoolChange};
use crate::scenario::model::Scenario;
use crate::scenario::slo::{Metric, Slo};
use crate::topology::supervisor::{Lifecycle, Supervisor};
use crate::traffic::live::{LiveSnapshot, LiveWatch};

pub mod lag;

/// Events the channel holds before a sender drops one (counted).
pub const EVENTS_CAPACITY: usize = 1024;

/// Something a watcher of the run is told.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// The traffic is about to start: the scenario as run (scaled) and its
    /// fault timeline, for the dashboard's timeline and SLO panels.
    Started {
        scenario: Arc<Scenario>,
        steps: Arc<Vec<Step>>,
    },
    /// Something happened at `at_s` on the run clock.
    Happened(Happening),
    /// A gateway's pool changed an instance's state: the same change as the
    /// `Happened` just before it, for a watcher that keeps each pool's state.
    Pool(crate::results::PoolEvent),
}

/// One thing that happened during the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Happening {
    /// Seconds since the run clock's zero.
    pub at_s: f64,
    pub kind: HappeningKind,
    /// One line for people (`fault 0 kill started on api-0`).
    pub text: String,
}

/// What kind of thing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HappeningKind {
    FaultStarted,
    FaultEnded,
    Instance(Lifecycle),
    /// The generator dropped requests at the in-flight cap (it fell behind).
    Dropped,
    /// The open-loop generator's dispatch lag rose above its threshold ([`lag`]).
    FellBehind,
    /// … and came back under the lower one for a while.
    CaughtUp,
    Aborted,
    /// A gateway's pool changed an instance's state (seen by a poll of its
    /// admin `/metrics`, [`super::pools`]).
    Pool(PoolChange),
}

impl Happening {
    /// The plain line (stderr in plain mode): `[   4.012s] fault 0 kill started on api-0`.
    pub fn line(&self) -> String {
        format!("[{:>9.3}s] {}", self.at_s, self.text)
    }
}

/// The sending end: cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct EventSink {
    tx: mpsc::Sender<RunEvent>,
    lost: Arc<AtomicU64>,
}

impl EventSink {
    /// Send, or count the event lost if the reader is that far behind.
    pub fn send(&self, e: RunEvent) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(e) {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events not delivered because the channel was full.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    pub(super) fn happened(&self, at_s: f64, kind: HappeningKind, text: String) {
        self.send(RunEvent::Happened(Happening { at_s, kind, text }));
    }
}

/// A new events channel.
pub fn events_channel() -> (EventSink, mpsc::Receiver<RunEvent>) {
    let (tx, rx) = mpsc::channel(EVENTS_CAPACITY);
    (
        EventSink {
            tx,
            lost: Arc::new(AtomicU64::new(0)),
        },
        rx,
    )
}

/// The live feed of a run: the caller's, else one of its own when events
/// are watched or an SLO may abort the run; `None` when nobody needs one.
pub(super) fn live_feed(
    given: Option<&LiveWatch>,
    events: bool,
    s: &Scenario,
) -> Option<LiveWatch> {
    let needed = events || s.slos.iter().any(|o| o.abort);
    given.cloned().or_else(|| needed.then(LiveWatch::new))
}

/// Tell the watcher the traffic is about to start, with what it needs to draw.
pub(super) fn started(sink: Option<&EventSink>, s: &Scenario, steps: &[Step]) {
    if let Some(sink) = sink {
        sink.send(RunEvent::Started {
            scenario: Arc::new(s.clone()),
            steps: Arc::new(steps.to_vec()),
        });
    }
}

/// A fault step as the results record it, told as it happens.
pub(super) fn fault_happened(sink: Option<&EventSink>, e: &FaultEvent) {
    let Some(sink) = sink else { return };
    let (kind, verb) = match e.phase {
        Phase::Apply => (HappeningKind::FaultStarted, "started"),
        Phase::Revert => (HappeningKind::FaultEnded, "ended"),
    };
    let failed = e
        .error
        .as_ref()
        .map_or_else(String::new, |err| format!(" (failed: {err})"));
    sink.happened(
        e.at_s,
        kind,
        format!(
            "fault {} {} {verb} on {}{failed}",
            e.fault,
            e.action,
            e.targets.join(", ")
        ),
    );
}

/// What the watcher needs of the run.
pub(super) struct Watch<'a> {
    pub scenario: &'a Scenario,
    pub supervisor: &'a Supervisor,
    pub sink: Option<EventSink>,
    /// The live feed (present when anything watches).
    pub live: watch::Receiver<Option<Arc<LiveSnapshot>>>,
    /// Cancelled by the watcher to stop the traffic on an abort.
    pub stop_traffic: CancellationToken,
    /// Cancelled when the traffic has ended.
    pub done: CancellationToken,
    /// The harness's HTTP client and the managed backends' admin listeners,
    /// for the hostile-request count an abort SLO may watch.
    pub http: reqwest::Client,
    pub admin: &'a Mutex<HashMap<String, SocketAddr>>,
}

impl Watch<'_> {
    /// [`Watch::run`] when there is a watcher.
    pub(super) async fn run_some(w: Option<Self>) -> Option<Aborted> {
        match w {
            Some(w) => w.run().await,
            None => None,
        }
    }

    /// Tell the sink what happens and apply the abort rule until the traffic
    /// ends; the abort, if one fired.
    pub(super) async fn run(mut self) -> Option<Aborted> {
        let (hostile_tx, mut hostile) = watch::channel(None);
        let polls = super::count_abort::polls_hostile(self.scenario);
        let (http, admin, done) = (self.http.clone(), self.admin, self.done.clone());
        let poller = async move {
            if polls {
                super::count_abort::poll_hostile(&http, admin, hostile_tx, done).await;
            }
        };
        let (aborted, ()) = tokio::join!(self.watch(&mut hostile), poller);
        aborted
    }

    async fn watch(&mut self, hostile: &mut watch::Receiver<Option<u64>>) -> Option<Aborted> {
        let mut lifecycle = self.supervisor.subscribe_events();
        let mut told = self.supervisor.events().len();
        let mut generator = lag::GeneratorEvents::default();
        let mut aborted = None;
        loop {
            let found = tokio::select! {
                () = self.done.cancelled() => break,
                r = lifecycle.changed() => {
                    if r.is_err() { break }
                    told = self.lifecycle(told);
                    None
                }
                r = self.live.changed() => {
                    if r.is_err() { break }
                    let Some(snap) = self.live.borrow_and_update().clone() else { continue };
                    if let Some(sink) = &self.sink {
                        generator.observe(&snap, sink);
                    }
                    abort_check(self.scenario, &snap)
                }
                Ok(()) = hostile.changed() => {
                    let n = *hostile.borrow_and_update();
                    let at_ms = (self.supervisor.now_s().max(0.0) * 1000.0) as u64;
                    super::count_abort::count_exceeded(self.scenario, Metric::AuthHostileBackendRequests, at_ms, |_| n)
                }
            };
            if aborted.is_none()
                && let Some(a) = found
            {
                if let Some(sink) = &self.sink {
                    sink.happened(
                        a.at_ms as f64 / 1000.0,
                        HappeningKind::Aborted,
                        abort_text(&a),
                    );
                }
                self.stop_traffic.cancel();
                aborted = Some(a);
            }
        }
        self.lifecycle(told);
        aborted
    }

    /// Tell the lifecycle events after the first `told` that happened on the
    /// run clock (start-up's ready lines are said elsewhere).
    fn lifecycle(&self, told: usize) -> usize {
        let events = self.supervisor.events();
        if let Some(sink) = &self.sink {
            for e in events.iter().skip(told).filter(|e| e.at_s >= 0.0) {
                let what = match e.event {
                    Lifecycle::Ready => "ready",
                    Lifecycle::Exited => "exited (signalled by the fault)",
                    Lifecycle::DiedUnexpectedly => "died unexpectedly",
                    Lifecycle::Replaced => "replaced (a new process is ready)",
                    Lifecycle::ReplaceFailed => "could not be replaced",
                };
                let detail = if e.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", e.detail)
                };
                sink.happened(
                    e.at_s,
                    HappeningKind::Instance(e.event),
                    format!("instance {} {what}{detail}", e.instance),
                );
            }
        }
        events.len().max(told)
    }
}

fn abort_text(a: &Aborted) -> String {
    match a.evidence {
        AbortEvidence::Availability {
            good,
            eligible,
            upper_bound,
            ..
        } => format!(
            "aborting: `{}` cannot pass any more: {} of {} good, upper bound {:.4}% < {}",
            a.slo,
            good,
            eligible,
            upper_bound * 100.0,
            a.objective
        ),
        AbortEvidence::Count { count } => format!(
            "aborting: `{}` cannot pass any more: {count} counted so far (the final count can only be higher), not {}",
            a.slo, a.objective
        ),
    }
}

/// The good and eligible requests of an SLO's traffic in a snapshot: its
/// tenant, phase and route filters over the live totals (a window filter is
/// refused with `abort` at validation).
pub fn slo_counts(slo: &Slo, snap: &LiveSnapshot) -> Counts {
    let layout = &snap.layout;
    let f = &slo.filters;
    let mut all = OutcomeCounts::default();
    for (&(phase, tenant, class), c) in &snap.keys {
        let Some(p) = layout.phases.get(phase) else {
            continue;
        };
        let tenant_ok = f
            .tenant
            .as_ref()
            .is_none_or(|t| tenant.and_then(|i| layout.tenants.get(i)) == Some(t));
        let phase_ok = f.phase.as_ref().is_none_or(|n| *n == p.name);
        let route_ok = f.route.as_ref().is_none_or(|r| {
            p.classes
                .get(class)
                .is_some_and(|(_, path)| path.starts_with(r.as_str()))
        });
        if tenant_ok && phase_ok && route_ok {
            all.merge(c);
        }
    }
    let eligible = all.sent();
    Counts::from_good_bad(
        all.good().min(eligible),
        eligible - all.good().min(eligible),
    )
}

/// The first SLO with `abort = true` that the snapshot proves cannot pass:
/// an availability floor refuted by its upper bound, or an over-admission
/// count already over its ceiling.
pub fn abort_check(s: &Scenario, snap: &LiveSnapshot) -> Option<Aborted> {
    let at_ms = snap.now.elapsed.as_millis() as u64;
    let confidence = Confidence::new(s.confidence).ok()?;
    let availability = s
        .slos
        .iter()
        .filter(|o| o.abort && o.metric == Metric::Availability)
        .find_map(|slo| {
            let counts = slo_counts(slo, snap);
            let est = availability_refuted(counts, &slo.objective, confidence)?;
            Some(Aborted {
                slo: slo.name.clone(),
                objective: slo.objective.to_string(),
                at_ms,
                second: (at_ms / 1000) as u32,
                evidence: AbortEvidence::Availability {
                    good: counts.good(),
                    eligible: counts.eligible(),
                    upper_bound: est.upper,
                    confidence: s.confidence,
                },
                target: slo.objective.target,
            })
        });
    availability.or_else(|| {
        super::count_abort::count_exceeded(s, Metric::ThrottleOverAdmitted, at_ms, |slo| {
            super::count_abort::over_admitted_so_far(slo, snap)
        })
    })
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
