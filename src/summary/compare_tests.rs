use std::collections::BTreeMap;
use std::path::Path;

use rand::{Rng, SeedableRng};

use super::*;
use crate::metrics::{Hist, KeyStats, Outcome, OutcomeCounts, Recording, SecondStats};

#[test]
fn judging_needs_significance_direction_and_size() {
    use Better::*;
    assert_eq!(
        judge(Some(1.0), Some(1.0), Lower, None, true),
        Finding::Unchanged
    );
    assert_eq!(
        judge(Some(1.0), Some(2.0), Lower, None, true),
        Finding::Untested
    );
    assert_eq!(
        judge(Some(1.0), Some(2.0), Lower, Some(false), true),
        Finding::Noise
    );
    assert_eq!(
        judge(Some(1.0), Some(2.0), Lower, Some(true), true),
        Finding::Regressed
    );
    assert_eq!(
        judge(Some(1.0), Some(1.05), Lower, Some(true), false),
        Finding::WorseWithinThreshold
    );
    assert_eq!(
        judge(Some(2.0), Some(1.0), Lower, Some(true), false),
        Finding::Improved
    );
    assert_eq!(
        judge(Some(0.99), Some(0.9), Higher, Some(true), true),
        Finding::Regressed
    );
    assert_eq!(
        judge(Some(1.0), Some(9.0), Neither, Some(true), true),
        Finding::Noise
    );
    assert_eq!(
        judge(None, Some(9.0), Lower, Some(true), true),
        Finding::Untested
    );
}

const SCENARIO: &str = r#"
name = "compare"
duration = "30s"

[gateway]
instances = 1

[[gateway.routes]]
path = "/items"
upstream = "api"

[upstreams.api]
instances = 1

[[traffic]]
executor = "constant-arrival-rate"
rate = 100
requests = [{ path = "/items/1" }]

[slo]
availability = ">= 99%"
"#;

/// A 30 s run of 100 answers per second whose latency is `median_ms` ± 20%
/// (deterministic for `seed`), `bad` of them failing per second.
fn run(seed: u64, median_ms: f64, bad: u64) -> (Summary, RunResults) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut total = Hist::default();
    let mut outcomes = OutcomeCounts::default();
    let mut seconds = Vec::new();
    for second in 0..30 {
        let mut h = hist::new_histogram(hist::SECOND_SIGFIG);
        let mut sec_outcomes = OutcomeCounts::default();
        for i in 0..100 {
            let us = (median_ms * 1000.0 * rng.random_range(0.8..1.2)) as u64;
            h.record(us).unwrap();
            total.0.record(us).unwrap();
            let o = if i < bad {
                Outcome::ServerError
            } else {
                Outcome::Ok
            };
            sec_outcomes.add(o);
            outcomes.add(o);
        }
        let mut s = SecondStats::new(second, &h);
        s.outcomes = sec_outcomes;
        seconds.push(s);
    }
    let recording = Recording {
        format: crate::metrics::recording::FORMAT,
        workers: 1,
        duration_s: 30.0,
        keys: vec![KeyStats {
            phase: "traffic-0".into(),
            tenant: None,
            class: 0,
            method: "GET".into(),
            path: "/items/1".into(),
            outcomes,
            statuses: BTreeMap::new(),
            latency: total.clone(),
            service: total,
            retries: 0,
        }],
        seconds,
        ..Recording::default()
    };
    let results = RunResults {
        scenario: "compare".into(),
        seed,
        started_at: "2026-11-26T08:00:00Z".into(),
        partial: false,
        recording,
        faults: Vec::new(),
        lifecycle: Vec::new(),
        stores: Vec::new(),
        gateway_counters: BTreeMap::new(),
        api_readback: None,
        time_scale: 1.0,
        shard: None,
        hostile_backend_requests: None,
        host_cores: Some(2),
        aborted: None,
        pools: None,
    };
    let scenario = crate::scenario::load::parse_str("compare.toml", SCENARIO, Path::new("."))
        .unwrap()
        .scenario;
    let summary = crate::summary::summarize(&scenario, &results, 1.0, false);
    (summary, results)
}

fn view<'a>(r: &'a (Summary, RunResults)) -> RunView<'a> {
    RunView {
        summary: &r.0,
        results: &r.1,
    }
}

#[test]
fn a_run_against_itself_changes_nothing() {
    let a = run(1, 5.0, 0);
    let c = compare(view(&a), view(&a), 0.1);
    assert_eq!(c.regressions, 0);
    assert!(
        c.rows.iter().all(|r| r.finding == Finding::Unchanged),
        "{:#?}",
        c.rows
    );
}

#[test]
fn two_runs_of_the_same_distribution_are_within_noise() {
    let (a, b) = (run(1, 5.0, 0), run(2, 5.0, 0));
    let c = compare(view(&a), view(&b), 0.1);
    assert_eq!(c.regressions, 0, "{:#?}", c.rows);
    let p50 = &c.rows[0];
    assert_eq!(p50.metric, "p50");
    assert!(p50.p_value.is_some_and(|p| p >= ALPHA), "{p50:#?}");
}

#[test]
fn added_latency_is_a_regression_and_less_latency_an_improvement() {
    let (a, b) = (run(1, 5.0, 0), run(2, 8.0, 0));
    let c = compare(view(&a), view(&b), 0.1);
    let p99 = c.rows.iter().find(|r| r.metric == "p99").unwrap();
    assert_eq!(p99.finding, Finding::Regressed, "{p99:#?}");
    assert!(p99.change.unwrap() > 0.4);
    assert!(c.regressions >= 4, "{:#?}", c.rows);
    // A huge threshold lets the same change through as "worse, within threshold".
    let lenient = compare(view(&a), view(&b), 10.0);
    assert_eq!(lenient.regressions, 0);
    assert!(
        lenient
            .rows
            .iter()
            .any(|r| r.finding == Finding::WorseWithinThreshold)
    );
    let back = compare(view(&b), view(&a), 0.1);
    assert_eq!(back.regressions, 0);
    assert_eq!(back.rows[0].finding, Finding::Improved);
}

#[test]
fn lost_availability_is_a_regression() {
    let (a, b) = (run(1, 5.0, 0), run(1, 5.0, 2));
    let c = compare(view(&a), view(&b), 0.1);
    let row = c.rows.iter().find(|r| r.group == "availability").unwrap();
    assert_eq!(row.finding, Finding::Regressed, "{row:#?}");
    assert!(row.p_value.unwrap() < 1e-6);
}

/// A fault summary with the given recovery, for the failover rows.
fn fault(recovery: RecoveryState, recovery_s: Option<f64>, for_s: Option<f64>) -> FaultSummary {
    FaultSummary {
        index: 0,
        action: "kill".into(),
        target: "api-1".into(),
        at_s: 10.0,
        reverted_at_s: None,
        time_to_first_error_s: Some(0.0),
        error_burst_s: Some(2.0),
        bad_requests: Some(50),
        recovery,
        recovery_s,
        not_recovered_for_s: for_s,
        not_attributed: None,
        reintegration_s: None,
    }
}

/// Issue 18, case 1 in `compare`: a fault that never recovered compared as 0 s,
/// so "recovered in 3 s" → "never recovered" read as an improvement.
#[test]
fn compare_a_service_that_never_recovers_is_a_regression_not_0s() {
    let (mut a, mut b) = (run(1, 5.0, 0), run(1, 5.0, 0));
    a.0.faults = vec![fault(RecoveryState::Recovered, Some(3.0), None)];
    b.0.faults = vec![fault(RecoveryState::NotRecovered, None, Some(20.0))];
    let recovery = |c: &Comparison| {
        c.rows
            .iter()
            .find(|r| r.metric.ends_with("recovery"))
            .cloned()
            .unwrap()
    };
    let worse = recovery(&compare(view(&a), view(&b), 0.1));
    assert_eq!(worse.finding, Finding::Regressed, "{worse:#?}");
    assert_eq!((worse.base, worse.new), (Some(3.0), Some(20.0)));
    let better = recovery(&compare(view(&b), view(&a), 0.1));
    assert_eq!(better.finding, Finding::Improved, "{better:#?}");
    // Neither recovered, or one was not measured: no number is made up.
    a.0.faults = vec![fault(RecoveryState::NotRecovered, None, Some(25.0))];
    let neither = recovery(&compare(view(&a), view(&b), 0.1));
    assert_eq!(
        (neither.base, neither.new, neither.finding),
        (None, None, Finding::Untested)
    );
    a.0.faults = vec![fault(RecoveryState::NoTraffic, None, None)];
    let unmeasured = recovery(&compare(view(&a), view(&b), 0.1));
    assert_eq!(
        (unmeasured.base, unmeasured.new, unmeasured.finding),
        (None, None, Finding::Untested)
    );
}
