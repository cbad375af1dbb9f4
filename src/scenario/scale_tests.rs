//! Time scaling: every duration of a scenario that sets them all is either
//! scaled or deliberately kept, and nothing else moves.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::scenario::human::parse_duration;
use crate::scenario::load::parse_str;
use crate::scenario::unparse::to_raw;

/// Sets every time a scenario can hold (defaults fill the rest, and
/// `to_raw` writes defaults out too, so a new duration field shows up here
/// even if nobody adds it to this file).
const EVERY_TIME: &str = r#"
name = "every-time"
duration = "60s"
seed = 1

[gateway]
instances = 1
request_timeout = "2s"
unknown_tenant = "default"
default_plan = { rate = 5, burst = 5, quota = { limit = 100, period = "20s" } }

[gateway.auth]
algorithm = "HS256"
secret = "s"
leeway = "3s"

[gateway.cache]
ttl = "5s"

[[gateway.routes]]
path = "/items"
upstream = "api"
cache = true
timeout = "1500ms"
retry = { attempts = 2, per_try_timeout = "500ms" }
plan = { rate = 50, quota = { limit = 1000, period = "30s" } }

[upstreams.api]
instances = 3
health = { interval = "1s", timeout = "250ms" }
outlier = { consecutive_failures = 5, ejection = "10s" }
restart = { after = "15s" }
latency = { median = "4ms", p99 = "25ms" }

[upstreams.fixed]
instances = 1
latency = { fixed = "3ms" }
serverless = { cold_start = "300ms", idle_after = "8s", concurrency = 4 }

[upstreams.uniform]
instances = 1
latency = { min = "1ms", max = "9ms" }

[[tenants]]
id = "acme"
plan = { rate = 100, burst = 200, quota = { limit = 3000, period = "day" } }

[[tenants]]
id = "small"
plan = { rate = 10, quota = { limit = 50, period = "10s" } }

[[traffic]]
name = "open"
start = "5s"
duration = "40s"
executor = "constant-arrival-rate"
rate = 100
timeout = "3s"
requests = [{ path = "/items/1" }]

[[traffic]]
name = "ramp"
executor = "ramping-arrival-rate"
start_rate = 10
stages = [{ duration = "10s", target = 50 }, { duration = "20s", target = 10 }]
requests = [{ path = "/items/1" }]

[[traffic]]
name = "users"
executor = "constant-vus"
vus = 2
think_time = "100ms"
requests = [{ path = "/items/1" }]

[[traffic]]
name = "ramp-users"
executor = "ramping-vus"
start_vus = 1
stages = [{ duration = "30s", target = 4 }]
think_time = "200ms"
requests = [{ path = "/items/1" }]

[[faults]]
at = "10s"
action = "kill"
target = "api[1]"

[[faults]]
at = "12s"
duration = "5s"
action = "latency"
target = "api[0]"
latency = "150ms"
jitter = "20ms"

[[faults]]
at = "20s"
duration = "2s"
action = "slow_close"
target = "api[0]"
delay = "100ms"

[[faults]]
at = "22s"
duration = "2s"
action = "timeout"
target = "api[0]"
timeout = "300ms"

[[faults]]
at = "24s"
duration = "2s"
action = "reset_peer"
target = "api[2]"
timeout = "50ms"

[[faults]]
at = "26s"
duration = "2s"
action = "slicer"
target = "api[2]"
average_size = 64
size_variation = 16
delay = "1ms"

[[faults]]
at = "30s"
duration = "20s"
action = "chaos"
target = "api"
every = "5s"
jitter = "2s"

[slo]
"latency.p99" = "< 150ms"
"failover.recovery" = "< 5s"
"#;

fn load() -> Scenario {
    match parse_str("every-time.toml", EVERY_TIME, Path::new(".")) {
        Ok(l) => l.scenario,
        Err(d) => panic!("the test scenario is invalid:\n{d}"),
    }
}

/// Every string in the scenario's raw form that reads as a duration, by path.
/// Fault entries are named by their action (`faults[latency].jitter`), since
/// the same key means a timeline time in one action and a magnitude in another.
fn durations(s: &Scenario) -> BTreeMap<String, Duration> {
    let raw = to_raw(s);
    let value = toml::Value::try_from(&raw).expect("a raw scenario serializes");
    let mut out = BTreeMap::new();
    walk(&value, String::new(), &mut out);
    out.into_iter()
        .map(|(path, d)| {
            let path = match path.strip_prefix("faults[") {
                Some(rest) => {
                    let (i, tail) = rest.split_once(']').expect("an index");
                    let i: usize = i.parse().expect("a number");
                    format!("faults[{}]{tail}", raw.faults[i].action)
                }
                None => path,
            };
            (path, d)
        })
        .collect()
}

fn walk(v: &toml::Value, path: String, out: &mut BTreeMap<String, Duration>) {
    match v {
        toml::Value::String(s) => {
            if let Ok(d) = parse_duration(s) {
                out.insert(path, d);
            }
        }
        toml::Value::Table(t) => {
            for (k, v) in t {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(v, p, out);
            }
        }
        toml::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                walk(v, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Durations that are magnitudes of the system under test, not timeline
/// positions: kept as written (see the module docs for why).
const KEPT: &[&str] = &[
    "gateway.request_timeout",
    "gateway.auth.leeway",
    "gateway.routes[0].timeout",
    "gateway.routes[0].retry.per_try_timeout",
    "upstreams.api.health.timeout",
    "upstreams.api.latency.median",
    "upstreams.api.latency.p99",
    "upstreams.fixed.health.timeout",
    "upstreams.fixed.latency.fixed",
    "upstreams.fixed.serverless.cold_start",
    "upstreams.uniform.health.timeout",
    "upstreams.uniform.latency.min",
    "upstreams.uniform.latency.max",
    "traffic[0].timeout",
    "traffic[1].timeout",
    "traffic[2].timeout",
    "traffic[3].timeout",
    "traffic[2].think_time",
    "traffic[3].think_time",
    "faults[latency].latency",
    "faults[latency].jitter",
    "faults[slow_close].delay",
    "faults[timeout].timeout",
    "faults[reset_peer].timeout",
    "faults[slicer].delay",
];

#[test]
fn every_duration_is_either_scaled_or_deliberately_kept() {
    let s = load();
    let f = 0.1;
    let before = durations(&s);
    let after = durations(&s.scaled(f));
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "scaling adds or removes no key"
    );
    assert!(before.len() > 40, "the walk sees the durations: {before:?}");
    for (path, d) in &before {
        let got = after[path];
        if KEPT.contains(&path.as_str()) {
            assert_eq!(got, *d, "{path} is a magnitude and stays as written");
        } else if !d.is_zero() {
            // A time nobody classified fails here: decide whether it is a
            // timeline time (scale it in scale.rs) or a magnitude (list it in KEPT).
            assert_eq!(
                got,
                scale_duration(*d, f),
                "{path} is a timeline time and scales (or belongs in KEPT)"
            );
        }
    }
    for kept in KEPT {
        assert!(
            before.contains_key(*kept),
            "{kept} is set by the test scenario"
        );
    }
}

#[test]
fn the_timeline_moves_in_proportion() {
    let s = load().scaled(0.25);
    assert_eq!(s.duration, Duration::from_secs(15));
    assert_eq!(s.traffic[0].start, Duration::from_millis(1250));
    assert_eq!(s.traffic[0].duration, Duration::from_secs(10));
    assert_eq!(s.faults[0].at, Duration::from_millis(2500));
    assert_eq!(s.faults[1].duration, Some(Duration::from_millis(1250)));
    let api = &s.upstreams["api"];
    assert_eq!(api.restart_after, Some(Duration::from_millis(3750)));
    assert_eq!(api.health.interval, Duration::from_millis(250));
    assert_eq!(
        api.outlier.as_ref().unwrap().ejection,
        Duration::from_millis(2500)
    );
    assert_eq!(
        s.gateway.cache.as_ref().unwrap().ttl,
        Duration::from_millis(1250)
    );
    match &s.faults[6].action {
        FaultAction::Chaos { every, jitter } => {
            assert_eq!(*every, Duration::from_millis(1250));
            assert_eq!(*jitter, Duration::from_millis(500));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rates_stay_and_quota_limits_follow_the_clock() {
    let s = load();
    let scaled = s.scaled(0.1);
    for (a, b) in s.tenants.iter().zip(&scaled.tenants) {
        assert_eq!(a.plan.rate, b.plan.rate);
        assert_eq!(a.plan.burst, b.plan.burst);
    }
    let acme = scaled.tenants[0].plan.quota.unwrap();
    assert_eq!(acme.limit.get(), 300);
    assert_eq!(acme.period, QuotaPeriod::Day, "calendar periods stay");
    let small = scaled.tenants[1].plan.quota.unwrap();
    assert_eq!(small.limit.get(), 5);
    assert_eq!(small.period, QuotaPeriod::Every(Duration::from_secs(1)));
    assert_eq!(s.traffic[0].executor, scaled.traffic[0].executor);
    // A tiny scale never rounds a quota down to nothing.
    let tiny = s.scaled(0.001);
    assert_eq!(tiny.tenants[1].plan.quota.unwrap().limit.get(), 1);
}

#[test]
fn scale_one_changes_nothing_and_scaled_scenarios_stay_valid() {
    let s = load();
    assert_eq!(s.scaled(1.0), s);
    for f in [0.01, 0.07, 0.333, 3.0] {
        let scaled = s.scaled(f);
        for p in &scaled.traffic {
            assert!(
                p.end() <= scaled.duration,
                "{f}: {} ends in the run",
                p.name
            );
            if let Executor::RampingArrivalRate { stages, .. }
            | Executor::RampingVus { stages, .. } = &p.executor
            {
                let total: Duration = stages.iter().map(|s| s.duration).sum();
                assert!(total <= p.duration, "{f}: stages of {} fit", p.name);
            }
        }
        // The scaled scenario, written back, validates again.
        let text = toml::to_string(&to_raw(&scaled)).unwrap();
        if let Err(d) = parse_str("scaled.toml", &text, Path::new(".")) {
            panic!("scaled by {f} no longer validates:\n{d}\n{text}");
        }
    }
}

#[test]
fn the_time_scale_is_checked() {
    assert_eq!(check_time_scale(0.1), Ok(0.1));
    assert_eq!(check_time_scale(100.0), Ok(100.0));
    for bad in [0.0, -1.0, 100.5, f64::NAN, f64::INFINITY] {
        let err = check_time_scale(bad).unwrap_err().to_string();
        assert!(err.contains("--time-scale"), "{err}");
    }
    assert_eq!(scale_duration(Duration::ZERO, 0.5), Duration::ZERO);
    assert_eq!(
        scale_duration(Duration::from_nanos(10), 0.01),
        Duration::from_micros(1)
    );
}
