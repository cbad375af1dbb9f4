//! `throttle.over_admitted` while the run goes, for the abort rule.
//!
//! A worker's recorder sends the tenant attempts it completed since its last
//! sealed second ([`LiveThrottle`], only for the tenants an abort SLO selects);
//! [`ThrottleFeed`] keeps every worker's attempts of each tenant together and
//! judges them against the tenant's whole plan with the judge the results use
//! ([`super::throttle::over_admitted_count`]). Over a subset of the attempts
//! that count is at most the count over all of them, so what it says while the
//! run goes is a lower bound of the final figure: once over the limit, it can
//! never come back under.
//!
//! The judging is O(n log n) over the tenant's attempts so far; the caller runs
//! it off the workers' and the runtime's threads, at most about once a second,
//! and only for tenants with new attempts.

use std::collections::BTreeMap;

use super::bucket::TenantModelStats;
use super::live::LiveSender;
use super::throttle::{JudgedPlan, ThrottleEvent, over_admitted_count};

/// One worker's new attempts of one tenant, sent with a sealed second.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveThrottle {
    /// Index into the layout's tenants.
    pub tenant: usize,
    /// The tenant's whole plan (not a shard's share), as the results judge it.
    pub plan: JudgedPlan,
    pub events: Vec<ThrottleEvent>,
}

/// What the judge said of one tenant's attempts so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OverAdmittedSoFar {
    /// Admissions beyond what any placement allows, over the attempts judged.
    pub over_admitted: u64,
    /// The attempts judged (every worker's, up to its last sealed second).
    pub attempts: u64,
}

#[derive(Debug)]
struct Tenant {
    plan: JudgedPlan,
    events: Vec<ThrottleEvent>,
    judged: OverAdmittedSoFar,
}

/// Every worker's attempts by tenant, and the latest judgement of each.
#[derive(Debug, Default)]
pub struct ThrottleFeed {
    tenants: BTreeMap<usize, Tenant>,
}

impl ThrottleFeed {
    /// Keep a worker's new attempts.
    pub fn add(&mut self, batch: LiveThrottle) {
        let t = self.tenants.entry(batch.tenant).or_insert_with(|| Tenant {
            plan: batch.plan,
            events: Vec::new(),
            judged: OverAdmittedSoFar::default(),
        });
        t.events.extend(batch.events);
    }

    /// Whether any tenant has attempts its judgement does not cover yet.
    pub fn has_new(&self) -> bool {
        self.tenants
            .values()
            .any(|t| t.events.len() as u64 != t.judged.attempts)
    }

    /// Judge each tenant that has new attempts (the others keep theirs).
    pub fn judge(&mut self) {
        for t in self.tenants.values_mut() {
            let attempts = t.events.len() as u64;
            if attempts != t.judged.attempts {
                t.judged = OverAdmittedSoFar {
                    over_admitted: over_admitted_count(&t.events, &t.plan),
                    attempts,
                };
            }
        }
    }

    /// The latest judgement by tenant index.
    pub fn judged(&self) -> BTreeMap<usize, OverAdmittedSoFar> {
        self.tenants.iter().map(|(i, t)| (*i, t.judged)).collect()
    }
}

/// The attempts of the judged tenants since the previous sealed second
/// (`sent` counts, by tenant, those already sent; the kept attempts are in
/// completion order until [`Recorder::finish`] sorts them).
pub(super) fn new_attempts(
    tx: &LiveSender,
    sent: &mut [usize],
    tenants: &[TenantModelStats],
) -> Vec<LiveThrottle> {
    let mut out = Vec::new();
    for (i, (t, sent)) in tenants.iter().zip(sent).enumerate() {
        if let (true, Some(plan)) = (tx.judges(i) && t.events.len() > *sent, t.plan) {
            out.push(LiveThrottle {
                tenant: i,
                plan,
                events: t.events[*sent..].to_vec(),
            });
            *sent = t.events.len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::throttle::Gate;

    fn admitted(sent_ms: u64, done_ms: u64) -> ThrottleEvent {
        ThrottleEvent {
            sent_us: sent_ms * 1000,
            done_us: done_ms * 1000,
            gate: Gate::Admitted,
            remaining: None,
            retry_after_s: None,
        }
    }

    #[test]
    fn workers_attempts_are_judged_together_against_the_whole_plan() {
        // Rate 1/s, burst 2: each of two workers saw 2 admissions sent at 0
        // and answered by 100 ms, within what the bucket allows alone; all 4
        // together surely fell in [0, 0.1 s], where at most floor(2.1) = 2 fit.
        let plan = JudgedPlan {
            rate: 1.0,
            burst: 2.0,
            quota_limit: None,
            quota_period_s: 0.0,
            slack_s: 0.0,
        };
        let batch = |events| LiveThrottle {
            tenant: 3,
            plan,
            events,
        };
        let mut feed = ThrottleFeed::default();
        feed.add(batch(vec![admitted(0, 50), admitted(0, 60)]));
        assert!(feed.has_new());
        feed.judge();
        assert!(!feed.has_new());
        let one = OverAdmittedSoFar {
            over_admitted: 0,
            attempts: 2,
        };
        assert_eq!(feed.judged(), BTreeMap::from([(3, one)]));
        feed.add(batch(vec![admitted(0, 70), admitted(0, 100)]));
        feed.judge();
        let both = OverAdmittedSoFar {
            over_admitted: 2,
            attempts: 4,
        };
        assert_eq!(feed.judged(), BTreeMap::from([(3, both)]));
    }
}
