//! The per-worker recorder: what the hot path writes into.
//!
//! One per worker thread, never shared, so recording is a few array writes and
//! histogram increments with no lock. Per-key histograms are created on first
//! use; the per-second series keeps one live second, by phase (each sample is
//! recorded into its phase's second only), and encodes it when the next one
//! starts, the phases summed and broken down ([`super::second_phases`]), so
//! memory grows only by a few hundred bytes per second and phase.
//! [`Recorder::finish`] turns it into a [`Recording`]; workers merge those.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::bucket::{Admission, LimitHeaders, TenantModelStats};
use super::hist::{self, Hist};
use super::live::{LiveKey, LivePhase, LiveSecond, LiveSender};
use super::live_throttle::new_attempts;
use super::outcome::{Outcome, OutcomeCounts};
use super::recording::{
    AckedWrite, BadLive, FORMAT, FlowStats, KeyStats, PhaseStats, Recording, SecondStats,
    StatusExample, TenantSecond,
};
use super::second_phases::{self, PhaseSecondLive};

/// Names the recorder needs to label its results.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub phases: Vec<PhaseLayout>,
    /// Every declared tenant id; keys refer to tenants by index here.
    pub tenants: Vec<String>,
}

/// One phase's labels.
#[derive(Debug, Clone)]
pub struct PhaseLayout {
    pub name: String,
    pub open_loop: bool,
    /// `(method, path template)` of each request class.
    pub classes: Vec<(String, String)>,
    /// `flow = true`: the classes are the steps of one flow, in order.
    pub flow: bool,
}

/// One answered (or failed) request, as the hot path reports it.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    pub phase: usize,
    pub tenant: Option<usize>,
    pub class: usize,
    pub outcome: Outcome,
    /// The HTTP status, when an answer arrived.
    pub status: Option<u16>,
    /// When the schedule wanted it sent.
    pub intended: Instant,
    /// When it was actually written to a connection (last attempt).
    pub sent: Instant,
    /// When the answer completed (or the failure was known).
    pub done: Instant,
    /// `X-Backend-Instance` of the answer, as received (counted when it is UTF-8).
    pub instance: Option<&'a [u8]>,
    /// Client retries spent on it.
    pub retries: u32,
    /// The answer's body, when the client kept it (writes, and answers ≥ 400):
    /// one per request class × status that was not `ok` is kept as an example.
    pub body: Option<&'a [u8]>,
    /// Why the request failed its class's check (`check_failed`), kept with the example.
    pub reason: Option<&'a str>,
}

#[derive(Debug, Default)]
struct KeyLive {
    outcomes: OutcomeCounts,
    /// Counts by status: a key sees one or a few, so a short list (a map at the end).
    statuses: Vec<(u16, u64)>,
    /// Statuses that were not `ok`, with an example body each.
    bad: Vec<BadLive>,
    latency: Hist,
    service: Hist,
    retries: u64,
}

#[derive(Debug)]
struct PhaseLive {
    scheduled: u64,
    dropped: u64,
    lag: Hist,
    /// Flow phases: their flows so far (`None` for other phases).
    flow: Option<FlowStats>,
}

#[derive(Debug)]
struct SecondLive {
    second: u32,
    /// When the next second starts: an instant before it falls in this one (or, late,
    /// in an earlier one, which is over: it counts in this one).
    ends: Instant,
    /// Outcomes and latency by phase: each sample is recorded into its phase only.
    phases: Vec<PhaseSecondLive>,
    /// Every phase's outcomes together: summed at roll-over, for the live feed.
    outcomes: OutcomeCounts,
    /// Every phase's latency together: summed at roll-over (scratch space).
    latency: Histogram<u64>,
    /// The worker's in-flight maximum (every phase).
    in_flight_max: u64,
    instances: Vec<(Box<str>, u64)>,
    /// Throttle tallies of this second, by tenant index.
    tenants: Vec<TenantSecond>,
    /// Whether anything was noted in this second.
    touched: bool,
}

/// A worker's recorder.
#[derive(Debug)]
pub struct Recorder {
    layout: Arc<Layout>,
    run_start: Instant,
    /// `keys[phase][tenant_slot * classes + class]`; slot 0 = anonymous.
    keys: Vec<Vec<Option<Box<KeyLive>>>>,
    phases: Vec<PhaseLive>,
    current: SecondLive,
    seconds: Vec<SecondStats>,
    tenants: Vec<TenantModelStats>,
    ledger: Vec<AckedWrite>,
    /// Clock slack of the throttle judgement, seconds (each send-to-answer
    /// interval is widened by it on both sides).
    tolerance_s: f64,
    /// The live feed, when someone watches the run (see [`super::live`]).
    live: Option<Box<LiveTap>>,
}

/// What the live feed needs beyond the results: the live second's service
/// time by phase (its latency by phase is the live second's own).
#[derive(Debug)]
struct LiveTap {
    tx: LiveSender,
    service: Vec<Histogram<u64>>,
    /// By tenant index: how many of its attempts went to the feed already.
    throttle_sent: Vec<usize>,
}

impl Recorder {
    /// An empty recorder for a run that started at `run_start`.
    pub fn new(layout: Arc<Layout>, run_start: Instant, tolerance_s: f64) -> Self {
        let slots = layout.tenants.len() + 1;
        let keys = layout
            .phases
            .iter()
            .map(|p| (0..slots * p.classes.len()).map(|_| None).collect())
            .collect();
        let phases = layout
            .phases
            .iter()
            .map(|p| PhaseLive {
                scheduled: 0,
                dropped: 0,
                lag: Hist::default(),
                flow: p.flow.then(|| FlowStats {
                    skipped: vec![0; p.classes.len()],
                    ..FlowStats::default()
                }),
            })
            .collect();
        let tenants = vec![TenantModelStats::default(); layout.tenants.len()];
        let second_phases = layout.phases.iter().map(|_| PhaseSecondLive::new());
        Recorder {
            current: SecondLive {
                second: 0,
                ends: run_start + Duration::from_secs(1),
                phases: second_phases.collect(),
                outcomes: OutcomeCounts::default(),
                latency: hist::new_histogram(hist::SECOND_SIGFIG),
                in_flight_max: 0,
                instances: Vec::new(),
                tenants: vec![TenantSecond::default(); slots - 1],
                touched: false,
            },
            layout,
            run_start,
            keys,
            phases,
            seconds: Vec::new(),
            tenants,
            ledger: Vec::new(),
            tolerance_s,
            live: None,
        }
    }

    /// Send each sealed second to the live feed too.
    pub fn with_live(mut self, tx: LiveSender) -> Self {
        let phases = self.layout.phases.len();
        let new = || hist::new_histogram(hist::SECOND_SIGFIG);
        self.live = Some(Box::new(LiveTap {
            tx,
            service: (0..phases).map(|_| new()).collect(),
            throttle_sent: vec![0; self.tenants.len()],
        }));
        self
    }

    /// Seconds on the run clock at `at` (0 before the start).
    pub fn run_seconds(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.run_start).as_secs_f64()
    }

    fn key(&mut self, phase: usize, tenant: Option<usize>, class: usize) -> &mut KeyLive {
        let classes = self.layout.phases[phase].classes.len();
        let slot = tenant.map_or(0, |t| t + 1);
        self.keys[phase][slot * classes + class].get_or_insert_with(Box::default)
    }

    /// Roll the live second forward to the one containing `at`, and return it.
    /// Within the live second (nearly every call) this is one comparison of instants.
    #[inline]
    fn second(&mut self, at: Instant) -> &mut SecondLive {
        if at >= self.current.ends {
            self.roll(at);
        }
        self.current.touched = true;
        &mut self.current
    }

    /// Seal the live second and start the one containing `at` (a later one).
    #[cold]
    fn roll(&mut self, at: Instant) {
        let second = at.saturating_duration_since(self.run_start).as_secs() as u32;
        if self.current.touched {
            let cur = &mut self.current;
            // The phases summed; `cur.latency` is the scratch space for their sum.
            let mut stats =
                second_phases::seal(cur.second, &cur.phases, &self.layout, &mut cur.latency);
            cur.outcomes = stats.outcomes;
            self.send_live();
            let cur = &mut self.current;
            stats.in_flight_max = cur.in_flight_max;
            stats.instances = cur
                .instances
                .drain(..)
                .map(|(k, v)| (k.into_string(), v))
                .collect();
            stats.tenants = self
                .layout
                .tenants
                .iter()
                .zip(&cur.tenants)
                .filter(|(_, t)| t.offered > 0)
                .map(|(id, t)| (id.clone(), *t))
                .collect();
            self.seconds.push(stats);
        }
        let cur = &mut self.current;
        cur.second = second;
        cur.ends = self.run_start + Duration::from_secs(u64::from(second) + 1);
        cur.phases.iter_mut().for_each(PhaseSecondLive::reset);
        cur.outcomes = OutcomeCounts::default();
        cur.in_flight_max = 0;
        cur.instances.clear();
        cur.tenants.fill(TenantSecond::default());
        cur.touched = false;
    }

    /// Send the live second to the live feed, if there is one.
    #[cold]
    fn send_live(&mut self) {
        let Some(tap) = self.live.as_deref_mut() else {
            return;
        };
        let fresh = || hist::new_histogram(hist::SECOND_SIGFIG);
        let cur = &mut self.current;
        let mut keys = Vec::new();
        for (phase, per_phase) in self.keys.iter().enumerate() {
            let classes = self.layout.phases[phase].classes.len().max(1);
            for (i, k) in per_phase.iter().enumerate() {
                if let Some(k) = k {
                    keys.push(LiveKey {
                        phase,
                        tenant: (i / classes).checked_sub(1),
                        class: i % classes,
                        outcomes: k.outcomes,
                    });
                }
            }
        }
        tap.tx.send(LiveSecond {
            worker: tap.tx.worker(),
            second: cur.second,
            outcomes: cur.outcomes,
            // The live second's own histograms, handed over (the results encoded them).
            latency: cur
                .phases
                .iter_mut()
                .map(|p| std::mem::replace(&mut p.latency, fresh()))
                .collect(),
            service: tap
                .service
                .iter_mut()
                .map(|h| std::mem::replace(h, fresh()))
                .collect(),
            in_flight_max: cur.in_flight_max,
            instances: cur
                .instances
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            tenants: cur
                .tenants
                .iter()
                .enumerate()
                .filter(|(_, t)| t.offered > 0)
                .map(|(i, t)| (i, *t))
                .collect(),
            keys,
            phases: self
                .phases
                .iter()
                .map(|p| LivePhase {
                    scheduled: p.scheduled,
                    dropped: p.dropped,
                })
                .collect(),
            throttle: new_attempts(&tap.tx, &mut tap.throttle_sent, &self.tenants),
        });
    }

    /// The live second, on the run clock (the one the last sample landed in).
    pub fn live_second(&self) -> u32 {
        self.current.second
    }

    /// The examples of every key, all tenants of a phase × class together.
    fn examples(layout: &Layout, keys: &[Vec<Option<Box<KeyLive>>>]) -> Vec<StatusExample> {
        let mut out = Vec::new();
        for (p, per_phase) in keys.iter().enumerate() {
            let phase = &layout.phases[p];
            let classes = phase.classes.len().max(1);
            let found = per_phase
                .iter()
                .enumerate()
                .filter_map(|(i, k)| Some((i % classes, k.as_ref()?)));
            let mut mine = Vec::new();
            for (class, live) in found {
                let (method, path) = phase.classes[class].clone();
                let examples = live.bad.iter().map(|b| StatusExample {
                    phase: phase.name.clone(),
                    class,
                    method: method.clone(),
                    path: path.clone(),
                    status: b.status,
                    outcome: b.outcome,
                    count: b.count,
                    body: b.body.as_ref().map(|(text, _)| text.clone()),
                    body_truncated: b.body.as_ref().is_some_and(|(_, cut)| *cut),
                    reason: b.reason.clone(),
                });
                StatusExample::merge_into(&mut mine, examples.collect());
            }
            out.extend(mine);
        }
        out
    }

    /// Record one request's fate.
    pub fn record(&mut self, s: &Sample<'_>) {
        let latency = s.done.saturating_duration_since(s.intended).as_micros() as u64;
        // A closed-loop user sending at once on an open connection sends at its intended
        // instant (one clock reading): the same span, not subtracted twice.
        let service = if s.sent == s.intended {
            latency
        } else {
            s.done.saturating_duration_since(s.sent).as_micros() as u64
        };
        let key = self.key(s.phase, s.tenant, s.class);
        key.outcomes.add(s.outcome);
        key.retries += u64::from(s.retries);
        if let Some(status) = s.status {
            match key.statuses.iter_mut().find(|(s, _)| *s == status) {
                Some((_, n)) => *n += 1,
                None => key.statuses.push((status, 1)),
            }
            key.latency.0.saturating_record(latency.max(1));
            key.service.0.saturating_record(service.max(1));
            if s.outcome != Outcome::Ok {
                BadLive::note(&mut key.bad, status, s.outcome, s.body, s.reason);
            }
        } else if s.outcome == Outcome::H2Reset {
            // No answer, but an error code: kept as the example (status 0: none).
            BadLive::note(&mut key.bad, 0, s.outcome, s.body, s.reason);
        }
        let sec = self.second(s.done);
        // Into the sample's phase only: the second's overall figures are summed at roll-over.
        let part = &mut sec.phases[s.phase];
        part.outcomes.add(s.outcome);
        if s.status.is_some() {
            part.latency.saturating_record(latency.max(1));
        }
        if let Some(name) = s.instance {
            // Names already seen are UTF-8; a new one is checked once, when it is kept.
            match sec.instances.iter_mut().find(|(n, _)| n.as_bytes() == name) {
                Some((_, n)) => *n += 1,
                None => {
                    if let Ok(name) = std::str::from_utf8(name) {
                        sec.instances.push((name.into(), 1));
                    }
                }
            }
        }
        // After the roll-over above, so the live second is this answer's.
        if let (Some(tap), true) = (self.live.as_deref_mut(), s.status.is_some()) {
            tap.service[s.phase].saturating_record(service.max(1));
        }
    }

    /// Step `step` of a flow not sent: a value an earlier step should have
    /// extracted is missing (that step's outcome says why).
    pub fn flow_step_skipped(&mut self, phase: usize, step: usize) {
        if let Some(n) = self.phases[phase]
            .flow
            .as_mut()
            .and_then(|f| f.skipped.get_mut(step))
        {
            *n += 1;
        }
    }

    /// `n` requests the schedule asked for: one, or a flow's steps (then a flow
    /// started, whether it is sent or dropped).
    #[inline]
    pub fn scheduled(&mut self, phase: usize, n: u64) {
        let p = &mut self.phases[phase];
        p.scheduled += n;
        if let Some(f) = p.flow.as_mut() {
            f.started += 1;
        }
    }

    /// A flow of `phase` whose every step was sent and answered well.
    pub fn flow_completed(&mut self, phase: usize) {
        if let Some(f) = self.phases[phase].flow.as_mut() {
            f.completed += 1;
        }
    }

    /// How late the generator itself was for one intended instant.
    #[inline]
    pub fn dispatch_lag(&mut self, phase: usize, lag_us: u64) {
        self.phases[phase].lag.0.saturating_record(lag_us.max(1));
    }

    /// A request dropped at the in-flight cap at `now`.
    pub fn dropped(&mut self, phase: usize, tenant: Option<usize>, class: usize, now: Instant) {
        self.phases[phase].dropped += 1;
        self.key(phase, tenant, class)
            .outcomes
            .add(Outcome::Dropped);
        self.second(now).phases[phase]
            .outcomes
            .add(Outcome::Dropped);
    }

    /// The in-flight counts (waiting + sent) at `now`: `of_phase` of `phase`'s
    /// requests, `n` of every phase's.
    #[inline]
    pub fn in_flight(&mut self, now: Instant, phase: usize, of_phase: u64, n: u64) {
        let sec = self.second(now);
        sec.in_flight_max = sec.in_flight_max.max(n);
        let part = &mut sec.phases[phase];
        part.in_flight_max = part.in_flight_max.max(of_phase);
    }

    /// Keep a tenant attempt for the throttle judgement (see [`TenantModelStats::observe`]).
    ///
    /// Called right after [`Recorder::record`] for the same answer, so the
    /// live second is the answer's completion second: the per-second tallies
    /// land where the answer's outcome did.
    pub fn throttle(
        &mut self,
        tenant: usize,
        admission: &Admission,
        (sent, done): (Instant, Instant),
        answer: Option<(bool, LimitHeaders)>,
        counted: bool,
    ) {
        let us = |at: Instant| at.saturating_duration_since(self.run_start).as_micros() as u64;
        let (sent_us, done_us) = (us(sent), us(done));
        let slack = self.tolerance_s;
        self.tenants[tenant].observe(admission, sent_us, done_us, answer, counted, slack);
        if let (Some((throttled, _)), true) = (answer, counted)
            && let Some(t) = self.current.tenants.get_mut(tenant)
        {
            t.offered += 1;
            t.admitted += u64::from(!throttled);
            t.model_admitted += u64::from(admission.admitted);
        }
    }

    /// Keep an acknowledged write.
    pub fn acked_write(&mut self, write: AckedWrite) {
        self.ledger.push(write);
    }

    /// The live second's p99 in µs, every phase together (for the progress line;
    /// called about once a second).
    pub fn current_p99_us(&mut self) -> u64 {
        let cur = &mut self.current;
        second_phases::latency_of(&cur.phases, &mut cur.latency).value_at_quantile(0.99)
    }

    /// Seal the recorder into a [`Recording`] covering `duration_s`.
    pub fn finish(mut self, duration_s: f64) -> Recording {
        // Roll past the last second so it is encoded too.
        let end = self.current.ends;
        self.second(end).touched = false;
        let layout = Arc::clone(&self.layout);
        let examples = Self::examples(&layout, &self.keys);
        let mut keys = Vec::new();
        for (p, per_phase) in self.keys.into_iter().enumerate() {
            let phase = &layout.phases[p];
            let classes = phase.classes.len();
            for (i, live) in per_phase.into_iter().enumerate() {
                let Some(live) = live else { continue };
                let (slot, class) = (i / classes, i % classes);
                let (method, path) = phase.classes[class].clone();
                keys.push(KeyStats {
                    phase: phase.name.clone(),
                    tenant: slot.checked_sub(1).map(|t| layout.tenants[t].clone()),
                    class,
                    method,
                    path,
                    outcomes: live.outcomes,
                    statuses: live.statuses.into_iter().collect(),
                    latency: live.latency,
                    service: live.service,
                    retries: live.retries,
                });
            }
        }
        let phases = self
            .phases
            .into_iter()
            .zip(&layout.phases)
            .map(|(live, p)| PhaseStats {
                name: p.name.clone(),
                open_loop: p.open_loop,
                scheduled: live.scheduled,
                dropped: live.dropped,
                dispatch_lag: live.lag,
                flow: live.flow,
            })
            .collect();
        let mut instances = BTreeMap::new();
        for sec in &self.seconds {
            for (name, n) in &sec.instances {
                *instances.entry(name.clone()).or_default() += n;
            }
        }
        let tenants = layout
            .tenants
            .iter()
            .cloned()
            .zip(self.tenants)
            .filter(|(_, s)| !s.events.is_empty())
            .map(|(id, mut s)| {
                s.judge();
                (id, s)
            })
            .collect();
        Recording {
            format: FORMAT,
            workers: 1,
            duration_s,
            keys,
            phases,
            seconds: self.seconds,
            seconds_by_phase: true,
            tenants,
            instances,
            ledger: self.ledger,
            examples,
            http_client: None,
            connection_setup: None,
            tls_insecure: false,
        }
    }
}

#[cfg(test)]
#[path = "recorder_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "recorder_second_tests.rs"]
mod second_tests;
