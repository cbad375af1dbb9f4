//! The series ninefold streams during a run, built from one live snapshot
//! ([`crate::traffic::live::LiveSnapshot`]): one list ([`SERIES`]) that the
//! Prometheus remote-write, the scrape endpoint, the Grafana dashboard's test
//! and docs/streaming.md share.
//!
//! Counters are cumulative from the run start (they never go down within a
//! run); every series carries the run's labels ([`RunLabels`]), so two runs
//! never mix.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::metrics::Outcome;
use crate::run::pools::InstanceEjected;
use crate::traffic::live::LiveSnapshot;

/// A series' Prometheus type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// Classic buckets: `NAME_bucket{le}`, `NAME_sum`, `NAME_count`.
    Histogram,
}

impl Kind {
    /// The word of the text exposition format's `# TYPE` line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One series family: its name, type, the labels beyond the run's, and help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Series {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn series(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> Series {
    Series {
        name,
        kind,
        labels,
        help,
    }
}

pub const REQUESTS: Series = series(
    "ninefold_requests_total",
    Kind::Counter,
    &["phase", "tenant", "class", "request", "outcome"],
    "Requests by outcome since the run start (dropped ones included), by phase, tenant, request class",
);
pub const SCHEDULED: Series = series(
    "ninefold_scheduled_total",
    Kind::Counter,
    &["phase"],
    "Requests the schedule asked for (open loop) or VU iterations started (closed loop)",
);
pub const LATENCY: Series = series(
    "ninefold_latency_seconds",
    Kind::Histogram,
    &["phase"],
    "Intended-time latency of answered requests since the run start (from the intended send instant)",
);
pub const SERVICE: Series = series(
    "ninefold_service_seconds",
    Kind::Histogram,
    &["phase"],
    "Service time of answered requests since the run start (from the actual send)",
);
pub const THROTTLE_OFFERED: Series = series(
    "ninefold_throttle_offered_total",
    Kind::Counter,
    &["tenant"],
    "Answered requests of a tenant with a plan",
);
pub const THROTTLE_ADMITTED: Series = series(
    "ninefold_throttle_admitted_total",
    Kind::Counter,
    &["tenant"],
    "Of those, admitted by the gateway (not throttled)",
);
pub const THROTTLE_REFUSED: Series = series(
    "ninefold_throttle_refused_total",
    Kind::Counter,
    &["tenant"],
    "Of those, refused by the gateway (throttled: 429)",
);
pub const THROTTLE_MODEL: Series = series(
    "ninefold_throttle_model_admitted_total",
    Kind::Counter,
    &["tenant"],
    "Of those, what an exact gateway (the tenant's plan replayed) would have admitted",
);
pub const IN_FLIGHT: Series = series(
    "ninefold_in_flight",
    Kind::Gauge,
    &[],
    "Requests waiting or sent, not yet answered, now",
);
pub const TARGET_RATE: Series = series(
    "ninefold_target_rate",
    Kind::Gauge,
    &[],
    "The open-loop rate the schedule asks of this process now, requests per second",
);
pub const DISPATCH_LAG: Series = series(
    "ninefold_dispatch_lag_seconds",
    Kind::Gauge,
    &[],
    "The open-loop generator's largest dispatch lag (how late it was for an intended send instant) over the live feed's last 250 ms interval; absent when nothing was dispatched in it",
);
pub const ELAPSED: Series = series(
    "ninefold_elapsed_seconds",
    Kind::Gauge,
    &[],
    "Seconds since the run clock's zero",
);
pub const FAULT_ACTIVE: Series = series(
    "ninefold_fault_active",
    Kind::Gauge,
    &["fault", "action", "target"],
    "1 while a fault of the scenario's schedule is active (at, at + duration), else 0",
);
pub const INSTANCE_EJECTED: Series = series(
    "ninefold_instance_ejected",
    Kind::Gauge,
    &["gateway", "upstream", "instance"],
    "1 while the gateway's pool has the instance ejected (its last answered poll), else 0",
);
pub const LIVE_LOST: Series = series(
    "ninefold_live_lost_seconds",
    Kind::Gauge,
    &[],
    "Worker-seconds the live feed lost: when not 0 the streamed counts undercount (results.json does not)",
);
pub const FINISHED: Series = series(
    "ninefold_finished",
    Kind::Gauge,
    &[],
    "1 once the traffic has ended and the counts are final",
);

/// Every series ninefold sends, remote-write and scrape alike.
pub const SERIES: &[Series] = &[
    REQUESTS,
    SCHEDULED,
    LATENCY,
    SERVICE,
    THROTTLE_OFFERED,
    THROTTLE_ADMITTED,
    THROTTLE_REFUSED,
    THROTTLE_MODEL,
    IN_FLIGHT,
    TARGET_RATE,
    DISPATCH_LAG,
    ELAPSED,
    FAULT_ACTIVE,
    INSTANCE_EJECTED,
    LIVE_LOST,
    FINISHED,
];

/// The labels every series carries beyond its own.
pub const RUN_LABELS: &[&str] = &["run", "scenario", "shard"];

/// Every sample name a query can use: a histogram's `_bucket`, `_sum` and `_count`.
pub fn sample_names() -> Vec<String> {
    let mut out = Vec::new();
    for s in SERIES {
        if s.kind == Kind::Histogram {
            for suffix in ["_bucket", "_sum", "_count"] {
                out.push(format!("{}{suffix}", s.name));
            }
        } else {
            out.push(s.name.to_owned());
        }
    }
    out
}

/// Upper bounds of the classic latency buckets, seconds (then `+Inf`).
pub const BUCKETS_S: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// The labels of the run: on every series, so two runs never mix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLabels {
    /// The run id (`--run-id`), else the run folder's name (scenario and UTC time).
    pub run: String,
    pub scenario: String,
    /// `I/N` for a shard; `None` for a whole run (the label is then absent).
    pub shard: Option<String>,
}

/// One fault of the scenario's schedule, as the report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultWindow {
    /// `fault:N`, N its place in `[[faults]]`.
    pub fault: String,
    pub action: String,
    /// The instances it acts on, as the report names them, comma-separated.
    pub target: String,
    /// Active from (run clock).
    pub from: Duration,
    /// Active until (exclusive).
    pub until: Duration,
}

/// One sample: full name (a histogram's with its suffix), labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub name: String,
    /// The run's labels first, then the series' own; an empty value is no label.
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// One family's samples at one instant.
#[derive(Debug, Clone)]
pub struct Family {
    pub series: Series,
    pub points: Vec<Point>,
}

struct Builder {
    run: Vec<(&'static str, String)>,
    families: Vec<Family>,
}

impl Builder {
    fn family(&mut self, series: Series) -> &mut Family {
        self.families.push(Family {
            series,
            points: Vec::new(),
        });
        self.families.last_mut().expect("just pushed")
    }

    fn point(&self, name: &str, own: &[(&'static str, String)], value: f64) -> Point {
        let labels = self
            .run
            .iter()
            .chain(own)
            .filter(|(_, v)| !v.is_empty())
            .cloned()
            .collect();
        Point {
            name: name.to_owned(),
            labels,
            value,
        }
    }

    fn add(&mut self, series: Series, own: Vec<(&'static str, String)>, value: f64) {
        let p = self.point(series.name, &own, value);
        self.family(series).points.push(p);
    }

    /// A series with several points: `items` are (own labels, value).
    fn add_all(&mut self, series: Series, items: Vec<(Vec<(&'static str, String)>, f64)>) {
        let points = items
            .iter()
            .map(|(own, v)| self.point(series.name, own, *v))
            .collect();
        self.family(series).points = points;
    }

    fn histograms(&mut self, series: Series, hs: &[Histogram<u64>], phases: &[String]) {
        let mut points = Vec::new();
        for (h, phase) in hs.iter().zip(phases) {
            let own = [("phase", phase.clone())];
            let (buckets, sum_us) = buckets(h);
            for (bound, n) in BUCKETS_S.iter().zip(&buckets) {
                let mut l = own.to_vec();
                l.push(("le", bound.to_string()));
                points.push(self.point(&format!("{}_bucket", series.name), &l, *n as f64));
            }
            let mut l = own.to_vec();
            l.push(("le", "+Inf".into()));
            points.push(self.point(&format!("{}_bucket", series.name), &l, h.len() as f64));
            points.push(self.point(&format!("{}_sum", series.name), &own, sum_us / 1e6));
            points.push(self.point(&format!("{}_count", series.name), &own, h.len() as f64));
        }
        self.family(series).points = points;
    }
}

/// Cumulative counts at each of [`BUCKETS_S`] (a value counts at a bound when
/// its whole HDR bucket lies at or below it, so a count never includes a value
/// above its bound) and the sum of the values, µs (HDR midpoints).
pub fn buckets(h: &Histogram<u64>) -> (Vec<u64>, f64) {
    let mut counts = vec![0u64; BUCKETS_S.len()];
    let mut sum = 0.0;
    for v in h.iter_recorded() {
        let n = v.count_at_value();
        let hi = h.highest_equivalent(v.value_iterated_to());
        sum += h.median_equivalent(v.value_iterated_to()) as f64 * n as f64;
        for (c, bound) in counts.iter_mut().zip(BUCKETS_S) {
            if hi as f64 <= bound * 1e6 {
                *c += n;
            }
        }
    }
    (counts, sum)
}

/// Every family's samples for `snapshot`.
// Long: one line per series family, in SERIES order; splitting it would scatter the list.
pub fn families(
    snapshot: &LiveSnapshot,
    run: &RunLabels,
    faults: &[FaultWindow],
    pools: &[InstanceEjected],
) -> Vec<Family> {
    let layout = &snapshot.layout;
    let mut b = Builder {
        run: vec![
            ("run", run.run.clone()),
            ("scenario", run.scenario.clone()),
            ("shard", run.shard.clone().unwrap_or_default()),
        ],
        families: Vec::new(),
    };
    let phases: Vec<String> = layout.phases.iter().map(|p| p.name.clone()).collect();
    let mut requests = Vec::new();
    for (&(phase, tenant, class), counts) in &snapshot.keys {
        let p = layout.phases.get(phase);
        let tenant = tenant.and_then(|t| layout.tenants.get(t).cloned());
        let request = p
            .and_then(|p| p.classes.get(class))
            .map(|(m, path)| format!("{m} {path}"))
            .unwrap_or_default();
        for o in Outcome::ALL {
            let n = counts.get(o);
            if !o.listed(n) {
                continue;
            }
            let own = vec![
                ("phase", p.map(|p| p.name.clone()).unwrap_or_default()),
                ("tenant", tenant.clone().unwrap_or_default()),
                ("class", class.to_string()),
                ("request", request.clone()),
                ("outcome", o.name().to_owned()),
            ];
            requests.push((own, n as f64));
        }
    }
    b.add_all(REQUESTS, requests);
    let scheduled = phases
        .iter()
        .zip(&snapshot.phases)
        .map(|(name, p)| (vec![("phase", name.clone())], p.scheduled as f64))
        .collect();
    b.add_all(SCHEDULED, scheduled);
    b.histograms(LATENCY, &snapshot.latency, &phases);
    b.histograms(SERVICE, &snapshot.service, &phases);
    let tenants = |f: fn(&crate::metrics::TenantSecond) -> u64| {
        snapshot
            .tenants
            .iter()
            .map(|(id, t)| (vec![("tenant", id.clone())], f(t) as f64))
            .collect::<Vec<_>>()
    };
    b.add_all(THROTTLE_OFFERED, tenants(|t| t.offered));
    b.add_all(THROTTLE_ADMITTED, tenants(|t| t.admitted));
    b.add_all(THROTTLE_REFUSED, tenants(|t| t.offered - t.admitted));
    b.add_all(THROTTLE_MODEL, tenants(|t| t.model_admitted));
    let now = &snapshot.now;
    b.add(IN_FLIGHT, Vec::new(), now.in_flight as f64);
    b.add(TARGET_RATE, Vec::new(), now.target_rate);
    let lag = now.dispatch_lag_us.map(|us| (Vec::new(), us as f64 / 1e6));
    b.add_all(DISPATCH_LAG, lag.into_iter().collect());
    b.add(ELAPSED, Vec::new(), now.elapsed.as_secs_f64());
    let active = faults
        .iter()
        .map(|f| {
            let on = f.from <= now.elapsed && now.elapsed < f.until;
            let own = vec![
                ("fault", f.fault.clone()),
                ("action", f.action.clone()),
                ("target", f.target.clone()),
            ];
            (own, if on { 1.0 } else { 0.0 })
        })
        .collect();
    b.add_all(FAULT_ACTIVE, active);
    let ejected = pools
        .iter()
        .map(|p| {
            let own = vec![
                ("gateway", p.gateway.clone()),
                ("upstream", p.upstream.clone()),
                ("instance", p.instance.clone()),
            ];
            (own, if p.ejected { 1.0 } else { 0.0 })
        })
        .collect();
    b.add_all(INSTANCE_EJECTED, ejected);
    b.add(LIVE_LOST, Vec::new(), snapshot.lost as f64);
    b.add(
        FINISHED,
        Vec::new(),
        if snapshot.finished { 1.0 } else { 0.0 },
    );
    b.families
}

/// The text exposition format (version 0.0.4) of `families`.
pub fn exposition(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families {
        out.push_str(&format!("# HELP {} {}\n", f.series.name, f.series.help));
        out.push_str(&format!(
            "# TYPE {} {}\n",
            f.series.name,
            f.series.kind.name()
        ));
        for p in &f.points {
            out.push_str(&p.name);
            if !p.labels.is_empty() {
                out.push('{');
                let labels: Vec<String> = p
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                    .collect();
                out.push_str(&labels.join(","));
                out.push('}');
            }
            out.push(' ');
            out.push_str(&number(p.value));
            out.push('\n');
        }
    }
    out
}

/// A sample value as the exposition format writes it.
fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
#[path = "series_tests.rs"]
mod tests;
