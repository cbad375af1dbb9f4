use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::metrics::{Layout, Outcome, PhaseLayout};
use crate::scenario::slo::{Filters, Objective, Unit};
use crate::traffic::live::LiveNow;

fn counts(ok: u64, bad: u64, dropped: u64) -> OutcomeCounts {
    let mut c = OutcomeCounts::default();
    (0..ok).for_each(|_| c.add(Outcome::Ok));
    (0..bad).for_each(|_| c.add(Outcome::ServerError));
    (0..dropped).for_each(|_| c.add(Outcome::Dropped));
    c
}

/// Two phases; phase 0 has classes /items and /orders, phase 1 only /items;
/// tenants acme (0) and beta (1).
fn snapshot(elapsed_ms: u64) -> LiveSnapshot {
    let phase = |name: &str, classes: &[&str]| PhaseLayout {
        name: name.into(),
        open_loop: true,
        flow: false,
        classes: classes
            .iter()
            .map(|p| ("GET".into(), (*p).into()))
            .collect(),
    };
    let layout = Arc::new(Layout {
        phases: vec![
            phase("warm", &["/items/1", "/orders"]),
            phase("steady", &["/items/2"]),
        ],
        tenants: vec!["acme".into(), "beta".into()],
    });
    let keys = BTreeMap::from([
        ((0, Some(0), 0), counts(100, 1, 0)),
        ((0, Some(1), 1), counts(50, 10, 3)),
        ((1, Some(0), 0), counts(200, 0, 0)),
        ((1, None, 0), counts(7, 2, 0)),
    ]);
    LiveSnapshot {
        layout,
        run_start: Instant::now(),
        now: LiveNow {
            elapsed: Duration::from_millis(elapsed_ms),
            total: Duration::from_secs(60),
            target_rate: 0.0,
            answered: 0,
            bad: 0,
            dropped: 3,
            in_flight: 0,
            p99_us: 0,
            dispatch_lag_us: None,
        },
        seconds: Vec::new(),
        complete_through: None,
        keys,
        phases: Vec::new(),
        latency: Vec::new(),
        service: Vec::new(),
        tenants: BTreeMap::new(),
        finished: false,
        lost: 0,
        over_admitted: BTreeMap::new(),
    }
}

fn slo(filters: Filters, objective: &str) -> Slo {
    Slo {
        name: "availability".into(),
        metric: Metric::Availability,
        filters,
        objective: Objective::parse(objective, Unit::Ratio).unwrap(),
        abort: true,
    }
}

#[test]
fn an_slos_counts_are_its_filters_over_the_live_totals_drops_not_eligible() {
    let s = snapshot(0);
    let all = slo_counts(&slo(Filters::default(), ">= 99%"), &s);
    // 357 ok, 13 bad; the 3 dropped are not eligible.
    assert_eq!((all.good(), all.eligible()), (357, 370));
    let f = |tenant: Option<&str>, phase: Option<&str>, route: Option<&str>| Filters {
        tenant: tenant.map(Into::into),
        phase: phase.map(Into::into),
        route: route.map(Into::into),
        ..Filters::default()
    };
    let c = |f: Filters| {
        let c = slo_counts(&slo(f, ">= 99%"), &s);
        (c.good(), c.eligible())
    };
    assert_eq!(c(f(Some("acme"), None, None)), (300, 301));
    assert_eq!(c(f(Some("beta"), None, None)), (50, 60));
    assert_eq!(c(f(None, Some("steady"), None)), (207, 209));
    assert_eq!(c(f(None, None, Some("/items"))), (307, 310));
    assert_eq!(c(f(Some("acme"), Some("warm"), Some("/items"))), (100, 101));
    assert_eq!(c(f(None, None, Some("/nothing"))), (0, 0));
}

#[test]
fn the_abort_record_carries_the_time_the_counts_and_the_bound() {
    let mut sc = crate::summary::build::tests::scenario("instances = 1", "");
    sc.confidence = 0.95;
    sc.slos = vec![Slo {
        name: "availability{tenant=beta}".into(),
        filters: Filters {
            tenant: Some("beta".into()),
            ..Filters::default()
        },
        ..slo(Filters::default(), ">= 99%")
    }];
    let a = abort_check(&sc, &snapshot(4_250)).expect("10 bad in 60 refutes 99%");
    assert_eq!((a.at_ms, a.second), (4_250, 4));
    let AbortEvidence::Availability {
        good,
        eligible,
        upper_bound,
        confidence,
    } = a.evidence
    else {
        panic!("availability evidence: {a:?}")
    };
    assert_eq!((good, eligible, confidence), (50, 60, 0.95));
    assert_eq!(a.slo, "availability{tenant=beta}");
    assert!(upper_bound < 0.99, "{a:?}");
    // Without abort = true nothing fires, whatever the counts.
    sc.slos[0].abort = false;
    assert!(abort_check(&sc, &snapshot(4_250)).is_none());
}

fn over_admitted_slo(tenant: Option<&str>, objective: &str) -> Slo {
    let name = tenant.map_or("throttle.over_admitted".to_owned(), |t| {
        format!("throttle.over_admitted{{tenant={t}}}")
    });
    Slo {
        name,
        metric: Metric::ThrottleOverAdmitted,
        filters: Filters {
            tenant: tenant.map(Into::into),
            ..Filters::default()
        },
        objective: Objective::parse(objective, Unit::Count).unwrap(),
        abort: true,
    }
}

#[test]
fn an_over_admission_count_over_its_ceiling_aborts_with_the_count() {
    use crate::metrics::live_throttle::OverAdmittedSoFar;
    let judged = |over_admitted, attempts| OverAdmittedSoFar {
        over_admitted,
        attempts,
    };
    let mut snap = snapshot(7_500);
    snap.over_admitted = BTreeMap::from([
        ("acme".to_owned(), judged(3, 100)),
        ("beta".to_owned(), judged(2, 40)),
    ]);
    let mut sc = crate::summary::build::tests::scenario("instances = 1", "");
    let fires = |sc: &mut Scenario, slo: Slo| {
        sc.slos = vec![slo];
        abort_check(sc, &snap)
    };
    // All tenants: 3 + 2 = 5 so far.
    let a = fires(&mut sc, over_admitted_slo(None, "<= 4")).expect("5 > 4");
    assert_eq!(a.evidence, AbortEvidence::Count { count: 5 });
    assert_eq!((a.at_ms, a.second, a.target), (7_500, 7, 4.0));
    assert_eq!(a.objective, "<= 4");
    assert!(fires(&mut sc, over_admitted_slo(None, "<= 5")).is_none());
    assert!(fires(&mut sc, over_admitted_slo(None, "< 5")).is_some());
    // The tenant filter selects as the final figure does.
    let a = fires(&mut sc, over_admitted_slo(Some("beta"), "< 2")).expect("2 is not < 2");
    assert_eq!(a.evidence, AbortEvidence::Count { count: 2 });
    assert!(fires(&mut sc, over_admitted_slo(Some("beta"), "<= 2")).is_none());
    // A tenant not judged yet is not measured: nothing fires, even on `< 0`.
    let mut none = over_admitted_slo(Some("gamma"), "< 0");
    none.filters.tenant = Some("gamma".into());
    assert!(fires(&mut sc, none).is_none());
    // Without abort = true nothing fires.
    let mut quiet = over_admitted_slo(None, "<= 0");
    quiet.abort = false;
    assert!(fires(&mut sc, quiet).is_none());
}
