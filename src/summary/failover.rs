//! Failover figures per fault event, from the per-second series: time to the
//! first error, the error burst, bad requests during it, recovery (until the
//! 1 s error rate is back within the availability allowance) and, for killed
//! instances, reintegration (from the replacement's ready line to the first
//! request it serves). Resolution is the series' one second.
//!
//! Recovery is one of four things ([`RecoveryState`]): recovered after
//! `recovery_s`; not recovered by the end of the run (recovery is at least
//! `not_recovered_for_s`, which fails any `<` objective it reaches); no error
//! followed the fault (nothing to recover from); or no request was answered
//! after it (not measured). A fault whose target carried none of the measured
//! traffic (a backend that served no request of the run, or one no route
//! reaches, e.g. a mock backend behind an external `[gateway] url`) has no
//! effect on what the clients saw: its figures are not attributed to it.

use crate::faults::timeline::{FaultEvent, Phase};
use crate::metrics::Recording;
use crate::results::RunResults;
use crate::scenario::model::{FaultAction, GatewayTarget, Scenario};
use crate::summary::{FaultSummary, RecoveryState};
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
                bad_requests: None,
                recovery: RecoveryState::NoTraffic,
                recovery_s: None,
                not_recovered_for_s: None,
                not_attributed: None,
                reintegration_s: None,
            };
            if let Some(why) = no_effect(s, rec, e) {
                fs.recovery = RecoveryState::NoEffect;
                fs.not_attributed = Some(why);
                return fs;
            }
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

/// Why the fault `e` had no effect on the measured traffic, if it had none:
/// every target is a backend that no route reaches, or that served no request
/// of the run while the rest of its pool answered before the fault.
fn no_effect(s: &Scenario, rec: &Recording, e: &FaultEvent) -> Option<String> {
    if e.targets.is_empty() {
        return None;
    }
    let mut reasons = Vec::new();
    for name in &e.targets {
        let pool = s.upstreams.keys().find(|pool| {
            name.strip_prefix(pool.as_str())
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|i| i.parse::<usize>().is_ok())
        })?;
        let routed = match &s.gateway.target {
            GatewayTarget::Bundled { .. } => s.gateway.routes.iter().any(|r| &r.upstream == pool),
            GatewayTarget::External { .. } => false,
            // The user's gateway routes by its own configuration: not known to be off the path.
            GatewayTarget::Command { .. } => true,
        };
        if !routed {
            reasons.push(match &s.gateway.target {
                GatewayTarget::External { .. } => format!(
                    "{name} is not on the path of any request: the gateway is external ([gateway] url) and cannot reach the backends ninefold started"
                ),
                GatewayTarget::Bundled { .. } | GatewayTarget::Command { .. } => {
                    format!("{name} is not on the path of any request: no route sends to pool {pool}")
                }
            });
            continue;
        }
        // Its pool was answering before the fault, and never through it.
        let mate = |n: &str| {
            n != name
                && n.strip_prefix(pool.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|i| i.parse::<usize>().is_ok())
        };
        let pool_before: u64 = rec
            .seconds
            .iter()
            .filter(|sec| f64::from(sec.second) + 1.0 <= e.at_s)
            .flat_map(|sec| sec.instances.iter())
            .filter(|(n, _)| mate(n))
            .map(|(_, v)| *v)
            .sum();
        let served = rec.instances.get(name).copied().unwrap_or(0)
            + rec
                .seconds
                .iter()
                .map(|sec| sec.instances.get(name).copied().unwrap_or(0))
                .sum::<u64>();
        if pool_before > 0 && served == 0 {
            reasons.push(format!(
                "{name} served no request of the run, while its pool answered {pool_before} before the fault"
            ));
        } else {
            return None;
        }
    }
    Some(format!(
        "no effect on the measured traffic: {}",
        reasons.join("; ")
    ))
}

fn bad(rec: &Recording, i: usize) -> (u64, u64) {
    let o = &rec.seconds[i].outcomes;
    (o.sent().saturating_sub(o.good()), o.sent())
}

fn errors(rec: &Recording, at_s: f64, allowance: f64, fs: &mut FaultSummary) {
    let secs = &rec.seconds;
    let start = secs.iter().position(|s| f64::from(s.second) + 1.0 > at_s);
    let Some(start) = start else { return };
    let window =
        || (start..secs.len()).take_while(|&i| f64::from(secs[i].second) < at_s + HORIZON_S);
    if window().all(|i| bad(rec, i).1 == 0) {
        return; // No request answered after the fault: nothing measured.
    }
    fs.bad_requests = Some(0);
    let Some(first) = window().find(|&i| bad(rec, i).0 > 0) else {
        fs.recovery = RecoveryState::NoErrors;
        return;
    };
    let t_first = f64::from(secs[first].second);
    fs.time_to_first_error_s = Some((t_first - at_s).max(0.0));
    let mut end = first;
    let mut burst = 0;
    while end < secs.len() && bad(rec, end).0 > 0 {
        burst += bad(rec, end).0;
        end += 1;
    }
    fs.bad_requests = Some(burst);
    fs.error_burst_s = Some((end - first) as f64);
    let recovered = (first..secs.len()).find(|&i| {
        let (b, n) = bad(rec, i);
        n > 0 && (b as f64) <= allowance * n as f64
    });
    match recovered {
        Some(i) => {
            fs.recovery = RecoveryState::Recovered;
            fs.recovery_s = Some((f64::from(secs[i].second) - at_s).max(0.0));
        }
        None => {
            // Still above the allowance in the last second of the run.
            let end_s = if rec.duration_s > 0.0 {
                rec.duration_s
            } else {
                secs.last().map_or(0.0, |s| f64::from(s.second) + 1.0)
            };
            fs.recovery = RecoveryState::NotRecovered;
            fs.not_recovered_for_s = Some((end_s - at_s).max(0.0));
        }
    }
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
pub(crate) mod tests {
    use super::*;
    use crate::faults::timeline::FaultEvent;
    use crate::metrics::{Outcome, SecondStats};
    use crate::summary::RecoveryState;
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
            api_readback: None,
            hostile_backend_requests: None,
            host_cores: Some(2),
            aborted: None,
            pools: None,
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
        assert_eq!(f.bad_requests, Some(36));
        assert_eq!(f.recovery, RecoveryState::Recovered);
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
            (None, None, Some(0))
        );
        assert_eq!(f.recovery, RecoveryState::NoErrors);
        assert_eq!(f.not_recovered_for_s, None);
    }

    /// One backend `api-0`, killed at 5 s and never restarted: 100 requests
    /// a second, all good before the kill and all bad from second 5 to the
    /// end of the 20 s run.
    pub(crate) fn never_recovers(slo: &str) -> (Scenario, RunResults) {
        let text = format!(
            "name = \"n\"\nduration = \"20s\"\n[[gateway.routes]]\npath = \"/\"\nupstream = \"api\"\n\
             [upstreams.api]\ninstances = 1\n[[traffic]]\nexecutor = \"constant-arrival-rate\"\nrate = 100\n\
             requests = [{{ path = \"/\" }}]\n[[faults]]\nat = \"5s\"\naction = \"kill\"\ntarget = \"api[0]\"\n\
             [slo]\n{slo}\n"
        );
        let s = crate::scenario::load::parse_str("n.toml", &text, std::path::Path::new("."))
            .unwrap_or_else(|d| panic!("{d}"))
            .scenario;
        let mut r = results();
        r.lifecycle.clear();
        r.faults[0].targets = vec!["api-0".into()];
        r.faults[0].at_s = 5.0;
        r.recording.duration_s = 20.0;
        for sec in &mut r.recording.seconds {
            sec.outcomes = Default::default();
            sec.instances.clear();
            for _ in 0..100 {
                sec.outcomes.add(if sec.second < 5 {
                    Outcome::Ok
                } else {
                    Outcome::ConnectError
                });
            }
            if sec.second < 5 {
                sec.instances.insert("api-0".into(), 100);
            }
        }
        (s, r)
    }

    /// A fault with no error after it is "nothing to recover from", not "never
    /// recovered"; a failover SLO without any fault is not measured, and says why.
    #[test]
    fn no_error_is_not_applicable_and_no_fault_is_not_measured() {
        let (s, mut r) = never_recovers("\"failover.recovery\" = \"< 5s\"");
        for sec in &mut r.recording.seconds {
            sec.outcomes = Default::default();
            for _ in 0..100 {
                sec.outcomes.add(Outcome::Ok);
            }
            sec.instances.insert("api-0".into(), 100);
        }
        let summary = crate::summary::summarize(&s, &r, 1.0, false);
        assert_eq!(summary.faults[0].recovery, RecoveryState::NoErrors);
        assert_eq!(summary.faults[0].recovery_s, None);
        let slo = &summary.slos[0];
        assert_eq!(slo.verdict, crate::analysis::Verdict::Pass);
        assert_eq!(slo.measured, None);
        assert_eq!(
            slo.detail,
            "no error followed the fault, so there was nothing to recover from (0 s): meets < 5s"
        );
        r.faults.clear();
        let summary = crate::summary::summarize(&s, &r, 1.0, false);
        let slo = &summary.slos[0];
        assert_eq!(slo.verdict, crate::analysis::Verdict::NotMeasured);
        assert_eq!(
            slo.detail,
            "not measured: no fault was applied during the run, so there is nothing to recover from"
        );
        assert_eq!(summary.exit_code, 4);
    }
}
