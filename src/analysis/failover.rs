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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::timeline::FaultEvent;
    use crate::metrics::{Outcome, SecondStats};
    use crate::topology::supervisor::LifecycleEvent;

    fn scenario() -> Scenario {
        let text = "name = \"f\"\nduration = \"20s\"\n[upstreams.api]\ninstances = 2\nrestart = { after = \"5s\" }\n\
                    [[traffic]]\nexecutor = \"constant-arrival-rate\"\nrate = 100\nrequests = [{ path = \"/\" }]\n\
                    [[faults]]\nat = \"9500ms\"\naction = \"kill\"\ntarget = \"api[1]\"\n";
        crate::scenario::load::parse_str("f.toml", text, std::path::Path::new("."))
            .unwrap()
            .scenario
    }

    /// 100 requests a second; seconds 10–12 carry 30, 5 and 1 bad; api-1 is
    /// gone from 10 s and serves again from 16 s; its replacement was ready at 15.2 s.
    fn results() -> RunResults {
        let mut rec = Recording::default();
        for t in 0..20u32 {
            let mut sec = SecondStats::new(t, &crate::metrics::hist::new_histogram(2));
            let bad = match t {
                10 => 30,
                11 => 5,
                12 => 1,
                _ => 0,
            };
            for i in 0..100 {
                sec.outcomes.add(if i < bad {
                    Outcome::ServerError
                } else {
                    Outcome::Ok
                });
            }
            sec.instances.insert("api-0".into(), 50);
            if !(10..16).contains(&t) {
                sec.instances.insert("api-1".into(), 50);
            }
            rec.seconds.push(sec);
        }
        let event = |phase, at_s| FaultEvent {
            fault: 0,
            action: "kill".into(),
            phase,
            targets: vec!["api-1".into()],
            planned_s: 9.5,
            at_s,
            error: None,
        };
        RunResults {
            scenario: "f".into(),
            seed: 1,
            started_at: String::new(),
            partial: false,
            recording: rec,
            faults: vec![event(Phase::Apply, 9.5)],
            lifecycle: vec![LifecycleEvent {
                instance: "api-1".into(),
                event: Lifecycle::Replaced,
                at_s: 15.2,
                detail: String::new(),
            }],
            stores: Vec::new(),
            gateway_counters: Default::default(),
            hostile_backend_requests: None,
            host_cores: Some(2),
            time_scale: 1.0,
            shard: None,
        }
    }

    #[test]
    fn hand_computed_failover_figures() {
        let f = &analyse(&scenario(), &results(), Some(0.999))[0];
        assert_eq!(
            (f.index, f.action.as_str(), f.target.as_str()),
            (0, "kill", "api-1")
        );
        assert_eq!(f.time_to_first_error_s, Some(0.5));
        assert_eq!(f.error_burst_s, Some(3.0));
        assert_eq!(f.bad_requests, 36);
        // 1 bad of 100 in second 12 is above a 0.1% allowance; second 13 is clean.
        assert_eq!(f.recovery_s, Some(3.5));
        let reintegration = f.reintegration_s.unwrap();
        assert!((reintegration - 0.8).abs() < 1e-9, "{reintegration}");
    }

    #[test]
    fn a_looser_allowance_recovers_sooner_and_no_errors_means_none() {
        let f = &analyse(&scenario(), &results(), Some(0.98))[0];
        // 5 bad of 100 (second 11) is above 2%; 1 of 100 (second 12) is within it.
        assert_eq!(f.recovery_s, Some(2.5));
        let mut clean = results();
        for sec in &mut clean.recording.seconds {
            sec.outcomes = Default::default();
            for _ in 0..100 {
                sec.outcomes.add(Outcome::Ok);
            }
        }
        let f = &analyse(&scenario(), &clean, Some(0.999))[0];
        assert_eq!(
            (f.time_to_first_error_s, f.recovery_s, f.bad_requests),
            (None, None, 0)
        );
    }
}
