//! What the dashboard knows besides the latest snapshot: the scenario and its
//! fault timeline (from the run's `Started` event), the events so far, and
//! each instance's state as the events told it (its process's lifecycle, and
//! each gateway's pool: ejected, unhealthy).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use crate::faults::timeline::{Phase, Step};
use crate::run::pools::Known;
use crate::run::watch::{Happening, HappeningKind, RunEvent};
use crate::scenario::model::Scenario;
use crate::topology::supervisor::Lifecycle;

/// Events the panel keeps (the newest).
const KEEP_EVENTS: usize = 200;

/// The dashboard's memory of the run.
#[derive(Debug, Default)]
pub(super) struct State {
    pub scenario: Option<Arc<Scenario>>,
    pub steps: Arc<Vec<Step>>,
    pub events: VecDeque<Happening>,
    /// Instance → what the last lifecycle event said.
    pub instances: BTreeMap<String, &'static str>,
    /// Instance → gateway → what its pool's events said of it.
    pub pools: BTreeMap<String, BTreeMap<String, Known>>,
    /// Set when the abort rule fired (its line).
    pub aborted: Option<String>,
    /// The generator is behind its schedule (between a `FellBehind` and a `CaughtUp`).
    pub behind: bool,
}

impl State {
    pub fn apply(&mut self, e: RunEvent) {
        match e {
            RunEvent::Started { scenario, steps } => {
                self.scenario = Some(scenario);
                self.steps = steps;
            }
            RunEvent::Pool(e) => {
                self.pools
                    .entry(e.instance)
                    .or_default()
                    .entry(e.gateway)
                    .or_default()
                    .apply(e.event);
            }
            RunEvent::Happened(h) => {
                match h.kind {
                    HappeningKind::Instance(l) => {
                        let name = h
                            .text
                            .strip_prefix("instance ")
                            .and_then(|t| t.split(' ').next())
                            .unwrap_or("?")
                            .to_owned();
                        self.instances.insert(name, lifecycle_word(l));
                    }
                    HappeningKind::Aborted => self.aborted = Some(h.line()),
                    HappeningKind::FellBehind => self.behind = true,
                    HappeningKind::CaughtUp => self.behind = false,
                    _ => {}
                }
                if self.events.len() == KEEP_EVENTS {
                    self.events.pop_front();
                }
                self.events.push_back(h);
            }
        }
    }

    /// An instance's state: its process's (killed, died…) and its pools'
    /// (ejected, unhealthy), `up` when nothing said otherwise.
    pub fn instance_word(&self, name: &str) -> String {
        let process = self.instances.get(name).copied().unwrap_or("up");
        let pools = self.pools.get(name);
        let any = |f: fn(&Known) -> bool| pools.is_some_and(|p| p.values().any(f));
        let pool = if any(|k| k.ejected) {
            Some("ejected")
        } else if any(|k| k.unhealthy) {
            Some("unhealthy")
        } else {
            None
        };
        match (process.starts_with("up"), pool) {
            (_, None) => process.to_owned(),
            (true, Some(p)) => p.to_owned(),
            (false, Some(p)) => format!("{process} · {p}"),
        }
    }

    /// The fault timeline: each fault's window, in start order.
    pub fn faults(&self) -> Vec<FaultWindow> {
        let mut out: BTreeMap<usize, FaultWindow> = BTreeMap::new();
        for s in self.steps.iter() {
            let w = out.entry(s.fault).or_insert_with(|| FaultWindow {
                fault: s.fault,
                action: s.action.name().to_owned(),
                targets: s.targets.iter().map(|t| t.name()).collect(),
                start: s.at,
                end: None,
            });
            match s.phase {
                Phase::Apply => w.start = w.start.min(s.at),
                Phase::Revert => w.end = Some(w.end.map_or(s.at, |e: Duration| e.max(s.at))),
            }
        }
        let mut v: Vec<FaultWindow> = out.into_values().collect();
        v.sort_by_key(|w| w.start);
        v
    }
}

/// One fault's window on the run clock.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FaultWindow {
    pub fault: usize,
    pub action: String,
    pub targets: Vec<String>,
    pub start: Duration,
    /// `None`: an instant fault (a kill without a duration).
    pub end: Option<Duration>,
}

/// Where a fault is relative to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum When {
    Past,
    Active,
    Next,
}

impl FaultWindow {
    pub fn when(&self, now: Duration) -> When {
        if now < self.start {
            When::Next
        } else if self.end.is_some_and(|e| now < e) {
            When::Active
        } else {
            When::Past
        }
    }
}

fn lifecycle_word(l: Lifecycle) -> &'static str {
    match l {
        Lifecycle::Ready => "up",
        Lifecycle::Exited => "killed",
        Lifecycle::DiedUnexpectedly => "died",
        Lifecycle::Replaced => "up (replaced)",
        Lifecycle::ReplaceFailed => "down (replace failed)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::timeline::Instance;
    use crate::scenario::model::FaultAction;

    fn step(at: u64, phase: Phase) -> Step {
        Step {
            at: Duration::from_secs(at),
            fault: 0,
            phase,
            action: FaultAction::Kill,
            targets: vec![Instance::Gateway { index: 0 }],
        }
    }

    fn pool(at_s: f64, gateway: &str, event: crate::results::PoolChange) -> RunEvent {
        RunEvent::Pool(crate::results::PoolEvent {
            at_s,
            since_s: at_s - 0.25,
            gateway: gateway.into(),
            upstream: "api".into(),
            instance: "api-1".into(),
            event,
        })
    }

    fn lifecycle(at_s: f64, event: Lifecycle) -> RunEvent {
        RunEvent::Happened(Happening {
            at_s,
            kind: HappeningKind::Instance(event),
            text: "instance api-1 whatever".into(),
        })
    }

    #[test]
    fn an_instance_shows_its_process_and_its_pools_state() {
        use crate::results::PoolChange::*;
        let mut s = State::default();
        assert_eq!(s.instance_word("api-1"), "up");
        s.apply(lifecycle(2.0, Lifecycle::Exited));
        assert_eq!(s.instance_word("api-1"), "killed");
        s.apply(pool(2.3, "gateway-0", Ejected));
        assert_eq!(s.instance_word("api-1"), "killed · ejected");
        s.apply(pool(2.3, "gateway-1", Unhealthy));
        s.apply(lifecycle(3.0, Lifecycle::Replaced));
        assert_eq!(s.instance_word("api-1"), "ejected");
        s.apply(pool(6.3, "gateway-0", Readmitted));
        assert_eq!(
            s.instance_word("api-1"),
            "unhealthy",
            "gateway-1 still fails it"
        );
        s.apply(pool(6.5, "gateway-1", Healthy));
        assert_eq!(s.instance_word("api-1"), "up (replaced)");
        assert_eq!(s.instance_word("api-0"), "up");
    }

    #[test]
    fn the_generator_is_behind_between_its_two_events() {
        let mut state = State::default();
        let happened = |kind| {
            RunEvent::Happened(Happening {
                at_s: 1.0,
                kind,
                text: String::new(),
            })
        };
        assert!(!state.behind);
        state.apply(happened(HappeningKind::FellBehind));
        assert!(state.behind);
        // Drops say nothing of the lag state.
        state.apply(happened(HappeningKind::Dropped));
        assert!(state.behind);
        state.apply(happened(HappeningKind::CaughtUp));
        assert!(!state.behind);
        assert_eq!(state.events.len(), 3);
    }

    #[test]
    fn a_fault_is_next_then_active_then_past() {
        let state = State {
            steps: Arc::new(vec![step(5, Phase::Apply), step(9, Phase::Revert)]),
            ..State::default()
        };
        let w = &state.faults()[0];
        assert_eq!(w.start, Duration::from_secs(5));
        assert_eq!(w.end, Some(Duration::from_secs(9)));
        assert_eq!(w.when(Duration::from_secs(4)), When::Next);
        assert_eq!(w.when(Duration::from_secs(5)), When::Active);
        assert_eq!(w.when(Duration::from_secs(9)), When::Past);
    }
}
