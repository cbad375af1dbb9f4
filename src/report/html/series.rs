//! The report's time series and fault bands, read out of [`RunResults`].
//!
//! The recording keeps one entry per second that saw an event; here those
//! become dense series over the whole run (a second without answers is a
//! zero for counts and a gap for latencies).

use std::collections::BTreeMap;

use super::charts::{Band, Line, PALETTE, Rgb};
use crate::faults::timeline::Phase;
use crate::metrics::Outcome;
use crate::run::runner::RunResults;

/// Colour of each outcome in the throughput chart: good ones cool, bad ones warm.
pub fn outcome_color(o: Outcome) -> Rgb {
    match o {
        Outcome::Ok => Rgb(44, 160, 44),
        Outcome::Rejected => Rgb(31, 119, 180),
        Outcome::UnexpectedStatus => Rgb(255, 127, 14),
        Outcome::ServerError => Rgb(214, 39, 40),
        Outcome::Timeout => Rgb(148, 103, 189),
        Outcome::ConnectError => Rgb(140, 86, 75),
        Outcome::IoError => Rgb(227, 119, 194),
        Outcome::Dropped => Rgb(90, 90, 90),
    }
}

/// A line with the name a legend shows for it (escaped by the caller).
#[derive(Debug, Clone)]
pub struct Named {
    pub name: String,
    pub line: Line,
}

/// One fault as the charts and the fault legend show it.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultBand {
    pub band: Band,
    /// Index in the scenario's `[[faults]]` (`usize::MAX` for a restart).
    pub fault: usize,
    pub action: String,
    pub targets: Vec<String>,
    /// `None` while never reverted (an instant fault like `kill`, or one that
    /// lasted to the end).
    pub reverted_at_s: Option<f64>,
}

/// Every applied fault, in time order, labelled `F1`, `F2`, … by scenario position.
pub fn fault_bands(r: &RunResults) -> Vec<FaultBand> {
    let end = r.recording.duration_s;
    let mut out: Vec<FaultBand> = Vec::new();
    for e in r.faults.iter().filter(|e| e.phase == Phase::Apply) {
        let reverted = r
            .faults
            .iter()
            .filter(|x| x.phase == Phase::Revert && x.fault == e.fault && x.at_s >= e.at_s)
            .map(|x| x.at_s)
            .reduce(f64::min);
        out.push(FaultBand {
            band: Band {
                start_s: e.at_s,
                end_s: reverted.unwrap_or(e.at_s).min(end.max(e.at_s)),
                label: format!("F{}", e.fault + 1),
                restart: false,
            },
            fault: e.fault,
            action: e.action.clone(),
            targets: e.targets.clone(),
            reverted_at_s: reverted,
        });
    }
    // Replacements of killed instances, so a reader sees when they came back.
    let replaced = r
        .lifecycle
        .iter()
        .filter(|l| l.event == crate::topology::supervisor::Lifecycle::Replaced && l.at_s >= 0.0);
    for (i, l) in replaced.enumerate() {
        out.push(FaultBand {
            band: Band {
                start_s: l.at_s,
                end_s: l.at_s,
                label: format!("R{}", i + 1),
                restart: true,
            },
            fault: usize::MAX,
            action: "replaced (restarted)".into(),
            targets: vec![l.instance.clone()],
            reverted_at_s: None,
        });
    }
    out.sort_by(|a, b| a.band.start_s.total_cmp(&b.band.start_s));
    out
}

/// The whole seconds the run covers: 0 up to the last recorded second or the duration.
fn seconds(r: &RunResults) -> u32 {
    let last = r.recording.seconds.last().map_or(0, |s| s.second + 1);
    last.max(r.recording.duration_s.ceil() as u32)
}

/// A dense series: `f` of each recorded second, `missing` for seconds without
/// an entry (`None` leaves a gap: the points are split there).
fn dense(
    r: &RunResults,
    f: impl Fn(&crate::metrics::SecondStats) -> Option<f64>,
    missing: Option<f64>,
) -> Vec<(f64, f64)> {
    let by_second: BTreeMap<u32, &crate::metrics::SecondStats> =
        r.recording.seconds.iter().map(|s| (s.second, s)).collect();
    (0..seconds(r))
        .filter_map(|s| {
            let v = match by_second.get(&s) {
                Some(stats) => f(stats),
                None => missing,
            };
            // Points sit at the middle of their second.
            v.map(|v| (f64::from(s) + 0.5, v))
        })
        .collect()
}

/// Answers per second by outcome, for outcomes seen at least once.
pub fn throughput(r: &RunResults) -> Vec<Named> {
    let total = r.recording.outcomes();
    Outcome::ALL
        .iter()
        .filter(|o| total.get(**o) > 0)
        .map(|&o| Named {
            name: o.name().to_owned(),
            line: Line {
                color: outcome_color(o),
                points: dense(r, |s| Some(s.outcomes.get(o) as f64), Some(0.0)),
            },
        })
        .collect()
}

/// p50, p99 and max of the intended-time latency per second, ms.
pub fn latency(r: &RunResults) -> Vec<Named> {
    let answered = |s: &crate::metrics::SecondStats| {
        // p50_us is 0 for a second without answers; leave a gap there.
        (s.max_us > 0).then_some(())
    };
    let series = |name: &str, color: Rgb, f: fn(&crate::metrics::SecondStats) -> u64| Named {
        name: name.to_owned(),
        line: Line {
            color,
            points: dense(r, |s| answered(s).map(|()| f(s) as f64 / 1000.0), None),
        },
    };
    vec![
        series("p50", Rgb(31, 119, 180), |s| s.p50_us),
        series("p99", Rgb(255, 127, 14), |s| s.p99_us),
        series("max", Rgb(200, 200, 200), |s| s.max_us),
    ]
}

/// Share of sent requests per second that were bad, %.
pub fn error_rate(r: &RunResults) -> Vec<Named> {
    vec![Named {
        name: "bad requests / sent".into(),
        line: Line {
            color: outcome_color(Outcome::ServerError),
            points: dense(
                r,
                |s| {
                    let sent = s.outcomes.sent();
                    Some(if sent == 0 {
                        0.0
                    } else {
                        100.0 * sent.saturating_sub(s.outcomes.good()) as f64 / sent as f64
                    })
                },
                Some(0.0),
            ),
        },
    }]
}

/// Highest in-flight count per second (waiting + sent).
pub fn in_flight(r: &RunResults) -> Vec<Named> {
    vec![Named {
        name: "in flight (max per second)".into(),
        line: Line {
            color: Rgb(148, 103, 189),
            points: dense(r, |s| Some(s.in_flight_max as f64), Some(0.0)),
        },
    }]
}

/// Whether the recording carries per-second tenant tallies (results of older
/// versions do not).
pub fn has_tenant_seconds(r: &RunResults) -> bool {
    r.recording.seconds.iter().any(|s| !s.tenants.is_empty())
}

/// Offered, admitted and model-admitted requests per second of one tenant.
pub fn tenant(r: &RunResults, id: &str) -> Vec<Named> {
    let pick = |name: &str, color: Rgb, f: fn(&crate::metrics::TenantSecond) -> u64| Named {
        name: name.to_owned(),
        line: Line {
            color,
            points: dense(
                r,
                |s| Some(s.tenants.get(id).map_or(0.0, |t| f(t) as f64)),
                Some(0.0),
            ),
        },
    };
    vec![
        pick("offered", Rgb(127, 127, 127), |t| t.offered),
        pick("admitted by the gateway", Rgb(31, 119, 180), |t| t.admitted),
        pick("admitted by the model", Rgb(255, 127, 14), |t| {
            t.model_admitted
        }),
    ]
}

/// Answers per second by serving instance (`X-Backend-Instance`).
pub fn instances(r: &RunResults) -> Vec<Named> {
    r.recording
        .instances
        .keys()
        .enumerate()
        .map(|(i, name)| Named {
            name: name.clone(),
            line: Line {
                color: PALETTE[i % PALETTE.len()],
                points: dense(
                    r,
                    |s| Some(s.instances.get(name).copied().unwrap_or(0) as f64),
                    Some(0.0),
                ),
            },
        })
        .collect()
}

/// Points of the percentile spectrum of a µs histogram: `(nines, ms)` from
/// 0% out to 99.999%, in steps of 0.05 nines.
pub fn spectrum(h: &hdrhistogram::Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    (0..=100)
        .map(|i| {
            let nines = f64::from(i) * 0.05;
            let q = 1.0 - 10f64.powf(-nines);
            (nines, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect()
}
