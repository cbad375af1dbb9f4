//! Failover figures per fault event, from the per-second series: time to the
//! first error, the error burst, bad requests during it, recovery (until the
//! 1 s error rate is back within the availability allowance) and, for killed
//! instances, reintegration (from the replacement's ready line to the first
//! request it serves). Resolution is the series' one second.

use crate::faults::timeline::Phase;
use crate::metrics::Recording;
use crate::report::summary::FaultSummary;
use crate::run::runner::RunResults;
use crate::scenario::model::{FaultAction, Scenario};
use crate::topology::supervisor::Lifecycle;

/// How long after a fault its effects are still attributed to it.
const HORIZON_S: f64 = 60.0;

/// One summary per applied fault event, in time order.
pub fn analyse(
    s: &Scenario,
    r: &RunResults,
    availability_target: Option<f64>,
) -> Vec<FaultSummary> {
    let allowance = 1.0 - availability_target.unwrap_or(0.999);
    let rec = &r.recording;
    r.faults
        .iter()
        .filter(|e| e.phase == Phase::Apply)
        .map(|e| {
            let reverted_at_s = r
                .faults
                .iter()
                .find(|v| v.phase == Phase::Revert && v.fault == e.fault && v.at_s >= e.at_s)
                .map(|v| v.at_s);
            let mut fs = FaultSummary {
                index: e.fault,
                action: e.action.clone(),
                target: e.targets.join(", "),
                at_s: e.at_s,
                reverted_at_s,
                time_to_first_error_s: None,
                error_burst_s: None,
                bad_requests: 0,
                recovery_s: None,
                reintegration_s: None,
            };
            errors(rec, e.at_s, allowance, &mut fs);
            let killed = matches!(
                s.faults.get(e.fault).map(|f| &f.action),
                Some(
                    FaultAction::Kill
                        | FaultAction::Terminate
                        | FaultAction::Restart
                        | FaultAction::Chaos { .. }
                )
            );
            if killed {
                fs.reintegration_s = e
                    .targets
                    .iter()
                    .filter_map(|name| reintegration(r, name, e.at_s))
                    .reduce(f64::max);
            }
            fs
        })
        .collect()
}

fn bad(rec: &Recording, i: usize) -> (u64, u64) {
    let o = &rec.seconds[i].outcomes;
    (o.sent().saturating_sub(o.good()), o.sent())
}

fn errors(rec: &Recording, at_s: f64, allowance: f64, fs: &mut FaultSummary) {
    let secs = &rec.seconds;
    let start = secs.iter().position(|s| f64::from(s.second) + 1.0 > at_s);
    let Some(start) = start else { return };
    let first = (start..secs.len())
        .take_while(|&i| f64::from(secs[i].second) < at_s + HORIZON_S)
        .find(|&i| bad(rec, i).0 > 0);
    let Some(first) = first else { return };
    let t_first = f64::from(secs[first].second);
    fs.time_to_first_error_s = Some((t_first - at_s).max(0.0));
    let mut end = first;
    while end < secs.len() && bad(rec, end).0 > 0 {
        fs.bad_requests += bad(rec, end).0;
        end += 1;
    }
    fs.error_burst_s = Some((end - first) as f64);
    let recovered = (first..secs.len()).find(|&i| {
        let (b, n) = bad(rec, i);
        n > 0 && (b as f64) <= allowance * n as f64
    });
    fs.recovery_s = recovered.map(|i| (f64::from(secs[i].second) - at_s).max(0.0));
}

fn reintegration(r: &RunResults, instance: &str, after_s: f64) -> Option<f64> {
    let ready = r
        .lifecycle
        .iter()
        .find(|l| l.instance == instance && l.event == Lifecycle::Replaced && l.at_s >= after_s)?
        .at_s;
    let served = r.recording.seconds.iter().find(|s| {
        f64::from(s.second) + 1.0 > ready && s.instances.get(instance).is_some_and(|n| *n > 0)
    })?;
    Some((f64::from(served.second) - ready).max(0.0))
}
