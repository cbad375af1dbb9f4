//! The series of one hand-made snapshot: every expected value is counted here
//! from the inputs (bucket bounds against the recorded values by hand).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::metrics::live::LivePhase;
use crate::metrics::{Layout, OutcomeCounts, PhaseLayout, TenantSecond, hist};
use crate::traffic::live::LiveNow;

fn counts(ok: u64, timeout: u64) -> OutcomeCounts {
    let mut c = OutcomeCounts::default();
    (0..ok).for_each(|_| c.add(Outcome::Ok));
    (0..timeout).for_each(|_| c.add(Outcome::Timeout));
    c
}

fn snapshot(elapsed_s: u64, finished: bool) -> LiveSnapshot {
    let layout = Arc::new(Layout {
        phases: vec![PhaseLayout {
            name: "steady".into(),
            open_loop: true,
            flow: false,
            classes: vec![
                ("GET".into(), "/items/{rand:1..9}".into()),
                ("POST".into(), "/orders".into()),
            ],
        }],
        tenants: vec!["acme".into()],
    });
    let mut latency = hist::new_histogram(hist::SECOND_SIGFIG);
    // 0.3 ms, 0.8 ms, 0.8 ms, 40 ms, 2 s: exact at 2 significant digits.
    for us in [300, 800, 800, 40_000, 2_000_000] {
        latency.record(us).unwrap();
    }
    LiveSnapshot {
        layout,
        run_start: Instant::now(),
        now: LiveNow {
            elapsed: Duration::from_secs(elapsed_s),
            total: Duration::from_secs(10),
            target_rate: 50.0,
            answered: 5,
            bad: 1,
            dropped: 0,
            in_flight: 3,
            p99_us: 0,
            // The last snapshot's interval dispatched nothing: not measured.
            dispatch_lag_us: (!finished).then_some(1_250),
        },
        seconds: Vec::new(),
        complete_through: None,
        keys: BTreeMap::from([
            ((0, None, 0), counts(3, 1)),
            ((0, Some(0), 1), counts(2, 0)),
        ]),
        phases: vec![LivePhase {
            scheduled: 6,
            dropped: 0,
        }],
        latency: vec![latency.clone()],
        service: vec![latency],
        tenants: BTreeMap::from([(
            "acme".to_owned(),
            TenantSecond {
                offered: 2,
                admitted: 1,
                model_admitted: 2,
            },
        )]),
        finished,
        lost: 0,
        over_admitted: BTreeMap::new(),
    }
}

fn labels() -> RunLabels {
    RunLabels {
        run: "r1".into(),
        scenario: "demo".into(),
        shard: None,
    }
}

fn faults() -> Vec<FaultWindow> {
    vec![FaultWindow {
        fault: "fault:0".into(),
        action: "latency".into(),
        target: "api-0".into(),
        from: Duration::from_secs(2),
        until: Duration::from_secs(4),
    }]
}

fn value(fs: &[Family], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    fs.iter()
        .flat_map(|f| &f.points)
        .find(|p| {
            p.name == name
                && want
                    .iter()
                    .all(|(k, v)| p.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|p| p.value)
}

#[test]
fn counters_histograms_and_gauges_of_a_snapshot() {
    let fs = families(&snapshot(3, false), &labels(), &faults(), &[]);
    let total: f64 = fs
        .iter()
        .filter(|f| f.series == REQUESTS)
        .flat_map(|f| &f.points)
        .map(|p| p.value)
        .sum();
    assert_eq!(total, 6.0);
    let get = |name, l: &[(&str, &str)]| value(&fs, name, l);
    assert_eq!(
        get(
            "ninefold_requests_total",
            &[("class", "0"), ("outcome", "timeout")]
        ),
        Some(1.0)
    );
    assert_eq!(
        get(
            "ninefold_requests_total",
            &[
                ("tenant", "acme"),
                ("request", "POST /orders"),
                ("outcome", "ok")
            ]
        ),
        Some(2.0)
    );
    // Every series carries the run's labels; no empty label is sent.
    for p in fs.iter().flat_map(|f| &f.points) {
        assert!(
            p.labels.iter().any(|(k, v)| *k == "run" && v == "r1"),
            "{p:?}"
        );
        assert!(p.labels.iter().all(|(_, v)| !v.is_empty()), "{p:?}");
    }
    // Buckets by hand: ≤0.5 ms: 300 → 1; ≤1 ms: +800+800 → 3; ≤50 ms: +40 ms → 4;
    // ≤2.5 s: +2 s → 5.
    let b = |le: &str| get("ninefold_latency_seconds_bucket", &[("le", le)]);
    assert_eq!(b("0.0005"), Some(1.0));
    assert_eq!(b("0.001"), Some(3.0));
    assert_eq!(b("0.025"), Some(3.0));
    assert_eq!(b("0.05"), Some(4.0));
    assert_eq!(b("1"), Some(4.0));
    assert_eq!(b("2.5"), Some(5.0));
    assert_eq!(b("+Inf"), Some(5.0));
    assert_eq!(get("ninefold_latency_seconds_count", &[]), Some(5.0));
    let sum = get("ninefold_latency_seconds_sum", &[]).unwrap();
    let exact = (300.0 + 800.0 * 2.0 + 40_000.0 + 2_000_000.0) / 1e6;
    assert!((sum - exact).abs() / exact < 0.01, "{sum} vs {exact}");
    assert_eq!(get("ninefold_throttle_refused_total", &[]), Some(1.0));
    assert_eq!(
        get("ninefold_throttle_model_admitted_total", &[]),
        Some(2.0)
    );
    assert_eq!(
        get("ninefold_scheduled_total", &[("phase", "steady")]),
        Some(6.0)
    );
    assert_eq!(get("ninefold_in_flight", &[]), Some(3.0));
    assert_eq!(get("ninefold_finished", &[]), Some(0.0));
    // The fault is active in [2 s, 4 s).
    let active = |at| {
        value(
            &families(&snapshot(at, false), &labels(), &faults(), &[]),
            "ninefold_fault_active",
            &[
                ("fault", "fault:0"),
                ("action", "latency"),
                ("target", "api-0"),
            ],
        )
    };
    assert_eq!(
        [active(1), active(2), active(3), active(4)],
        [Some(0.0), Some(1.0), Some(1.0), Some(0.0)]
    );
}

#[test]
fn the_dispatch_lag_is_the_intervals_maximum_in_seconds_and_absent_when_not_measured() {
    let fs = families(&snapshot(3, false), &labels(), &faults(), &[]);
    // 1 250 µs, in seconds.
    assert_eq!(
        value(&fs, "ninefold_dispatch_lag_seconds", &[]),
        Some(0.00125)
    );
    // No dispatch in the interval: no sample, never a 0.
    let last = families(&snapshot(3, true), &labels(), &faults(), &[]);
    assert_eq!(value(&last, "ninefold_dispatch_lag_seconds", &[]), None);
}

#[test]
fn every_sample_is_a_listed_series_and_the_text_format_parses_back() {
    let fs = families(&snapshot(3, true), &labels(), &faults(), &[]);
    let names = sample_names();
    let text = exposition(&fs);
    let mut lines = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(
                SERIES
                    .iter()
                    .any(|s| s.name == name && s.kind.name() == kind)
            );
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        lines += 1;
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(names.iter().any(|n| n == name), "{name} is not listed");
        let value = line.rsplit(' ').next().unwrap();
        assert!(value == "+Inf" || value.parse::<f64>().is_ok(), "{line}");
    }
    assert_eq!(lines, fs.iter().map(|f| f.points.len()).sum::<usize>());
    assert!(text.contains(
        "ninefold_requests_total{run=\"r1\",scenario=\"demo\",phase=\"steady\",class=\"0\",request=\"GET /items/{rand:1..9}\",outcome=\"ok\"} 3\n"
    ), "{text}");
    assert!(text.contains("ninefold_finished{run=\"r1\",scenario=\"demo\"} 1\n"));
    assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

#[test]
fn each_polled_instance_is_a_0_or_1_ejected_gauge() {
    use crate::run::pools::InstanceEjected;
    let pool = |instance: &str, ejected| InstanceEjected {
        gateway: "gateway-0".into(),
        upstream: "api".into(),
        instance: instance.into(),
        ejected,
    };
    let pools = [pool("api-0", false), pool("api-1", true)];
    let fs = families(&snapshot(3, false), &labels(), &faults(), &pools);
    let get = |i| {
        value(
            &fs,
            "ninefold_instance_ejected",
            &[("instance", i), ("upstream", "api")],
        )
    };
    assert_eq!(
        (get("api-0"), get("api-1"), get("api-2")),
        (Some(0.0), Some(1.0), None)
    );
    let text = exposition(&fs);
    assert!(text.contains(
        "ninefold_instance_ejected{run=\"r1\",scenario=\"demo\",gateway=\"gateway-0\",upstream=\"api\",instance=\"api-1\"} 1\n"
    ), "{text}");
    // Nothing polled (attack, or before the first poll): no sample, not a 0.
    let none = families(&snapshot(3, false), &labels(), &faults(), &[]);
    assert_eq!(value(&none, "ninefold_instance_ejected", &[]), None);
}
