//! The early-abort rule on counts (docs/live.md): a count SLO with a ceiling
//! (`<=`, `<`) stops the run once the count measured so far, a lower bound of
//! the final one, is already over the limit.
//!
//! - `throttle.over_admitted`: the live feed's judgement of every worker's
//!   attempts so far against each tenant's whole plan
//!   ([`crate::metrics::live_throttle`]), over the tenants the SLO selects
//!   exactly as the summary's final figure does.
//! - `auth.hostile_backend_requests`: the managed backends' own counters
//!   (`GET /admin/stats`), polled about once a second while the traffic runs.
//!   A backend process that ends keeps the count it last said (a replacement
//!   starts from 0), so the sum seen so far never exceeds what reached the
//!   backends.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::results::{AbortEvidence, Aborted};
use crate::scenario::model::Scenario;
use crate::scenario::slo::{Metric, Slo};
use crate::traffic::live::LiveSnapshot;

/// How often the backends' hostile counters are read while the traffic runs.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

/// The tenants whose over-admissions the live feed must judge: those an
/// abort SLO on `throttle.over_admitted` selects.
pub(super) fn judged_tenants(s: &Scenario) -> Vec<String> {
    let slos: Vec<&Slo> = count_slos(s, Metric::ThrottleOverAdmitted).collect();
    s.tenants
        .iter()
        .filter(|t| slos.iter().any(|slo| slo.filters.selects_tenant(&t.id)))
        .map(|t| t.id.clone())
        .collect()
}

fn count_slos(s: &Scenario, metric: Metric) -> impl Iterator<Item = &Slo> {
    s.slos.iter().filter(move |o| o.abort && o.metric == metric)
}

/// Whether the backends' counters must be polled: an abort SLO on
/// `auth.hostile_backend_requests` and traffic that sends hostile tokens
/// (without it the final figure is not measured, so nothing can fail early).
pub(super) fn polls_hostile(s: &Scenario) -> bool {
    let hostile = s
        .traffic
        .iter()
        .flat_map(|p| &p.requests)
        .any(|r| r.token.is_hostile());
    hostile
        && count_slos(s, Metric::AuthHostileBackendRequests)
            .next()
            .is_some()
}

/// The over-admission count of the SLO's tenants in the snapshot, when any
/// of them has been judged (else the figure is not measured yet).
pub fn over_admitted_so_far(slo: &Slo, snap: &LiveSnapshot) -> Option<u64> {
    let mut judged = snap
        .over_admitted
        .iter()
        .filter(|(id, v)| slo.filters.selects_tenant(id) && v.attempts > 0)
        .peekable();
    judged.peek()?;
    Some(judged.map(|(_, v)| v.over_admitted).sum())
}

/// The first count SLO of `metric` with `abort = true` that `count` (measured
/// at `at_ms`) proves cannot pass.
pub fn count_exceeded(
    s: &Scenario,
    metric: Metric,
    at_ms: u64,
    count: impl Fn(&Slo) -> Option<u64>,
) -> Option<Aborted> {
    count_slos(s, metric).find_map(|slo| {
        let n = count(slo)?;
        let o = &slo.objective;
        // A ceiling the count already misses: later traffic only adds to it.
        (matches!(
            o.op,
            crate::scenario::slo::Op::Le | crate::scenario::slo::Op::Lt
        ) && !o.op.holds(n as f64, o.target))
        .then(|| Aborted {
            slo: slo.name.clone(),
            objective: o.to_string(),
            at_ms,
            second: (at_ms / 1000) as u32,
            evidence: AbortEvidence::Count { count: n },
            target: o.target,
        })
    })
}

/// Hostile requests seen so far by backend instance.
#[derive(Debug, Default)]
pub struct HostileSeen {
    /// The last count each instance's current process said.
    last: HashMap<String, u64>,
    /// The last counts of processes that were replaced since.
    earlier: u64,
}

impl HostileSeen {
    /// An instance said `n`: fewer than before means a new process.
    pub fn saw(&mut self, instance: &str, n: u64) {
        let last = self.last.entry(instance.to_owned()).or_default();
        if n < *last {
            self.earlier += *last;
        }
        *last = n;
    }

    /// A lower bound of the hostile requests that reached the backends.
    pub fn total(&self) -> u64 {
        self.earlier + self.last.values().sum::<u64>()
    }
}

/// Read every managed backend's hostile counter once per [`POLL_EVERY`] until
/// `done`, publishing the lower bound on `out` (a backend that does not answer
/// keeps what it said last).
pub(super) async fn poll_hostile(
    http: &reqwest::Client,
    admin: &Mutex<HashMap<String, SocketAddr>>,
    out: watch::Sender<Option<u64>>,
    done: CancellationToken,
) {
    let mut seen = HostileSeen::default();
    let mut ticker = tokio::time::interval(POLL_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = done.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let admins: Vec<(String, SocketAddr)> = admin
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(n, a)| (n.clone(), *a))
            .collect();
        let mut any = false;
        for (name, addr) in admins {
            let read = async {
                let resp = http
                    .get(format!("http://{addr}/admin/stats"))
                    .send()
                    .await
                    .ok()?;
                resp.json::<mock_backends::admin::Stats>().await.ok()
            };
            let stats = tokio::select! {
                () = done.cancelled() => return,
                r = tokio::time::timeout(POLL_EVERY, read) => r.ok().flatten(),
            };
            if let Some(stats) = stats {
                seen.saw(&name, stats.hostile_requests);
                any = true;
            }
        }
        if any {
            out.send_replace(Some(seen.total()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_backend_keeps_what_its_old_process_counted() {
        let mut seen = HostileSeen::default();
        seen.saw("api-0", 2);
        seen.saw("api-1", 1);
        seen.saw("api-0", 5);
        assert_eq!(seen.total(), 6);
        // api-0 was replaced: its new process starts again from 0.
        seen.saw("api-0", 1);
        assert_eq!(seen.total(), 5 + 1 + 1);
        seen.saw("api-0", 3);
        assert_eq!(seen.total(), 5 + 3 + 1);
    }
}
