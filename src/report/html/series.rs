//! The report's time series and fault bands, read out of [`RunResults`].
//!
//! The recording keeps one entry per second that saw an event; here those
//! become dense series over the whole run (a second without answers is a
//! zero for counts and a gap for latencies).
//!
//! Each second `s` counts what completed in `[s, s+1)`, so it is drawn as a
//! step over that whole interval, from `x = s` to `x = s+1`: an error that a
//! fault at 10 s caused rises at 10 s, never before. The run's last second is
//! usually partial (the run ends at, say, 8.37 s): when it covers at least
//! half a second ([`MIN_TAIL_S`]) its counts are scaled to a rate over the
//! span it covers; a shorter tail is left out of the charts (it is in every
//! total), since a rate over a few milliseconds of draining answers means
//! nothing. [`tail`] says which, for the captions.

use std::collections::BTreeMap;

use super::charts::{Band, BandKind, Line, PALETTE, Rgb};
use crate::faults::timeline::Phase;
use crate::metrics::Outcome;
use crate::results::RunResults;

/// Colour of each outcome in the throughput chart: good ones cool, bad ones warm.
pub fn outcome_color(o: Outcome) -> Rgb {
    match o {
        Outcome::Ok => Rgb(44, 160, 44),
        Outcome::Rejected => Rgb(31, 119, 180),
        Outcome::UnexpectedStatus => Rgb(255, 127, 14),
        Outcome::CheckFailed => Rgb(255, 187, 120),
        Outcome::ServerError => Rgb(214, 39, 40),
        Outcome::Timeout => Rgb(148, 103, 189),
        Outcome::ConnectError => Rgb(140, 86, 75),
        Outcome::TlsError => Rgb(188, 189, 34),
        Outcome::IoError => Rgb(227, 119, 194),
        Outcome::Dropped => Rgb(90, 90, 90),
        Outcome::H2Reset => Rgb(219, 219, 141),
        Outcome::H2Goaway => Rgb(23, 190, 207),
        Outcome::AuthFetchFailed => Rgb(196, 156, 148),
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
    /// Index in the scenario's `[[faults]]` (`usize::MAX` for a restart or a pool event).
    pub fault: usize,
    pub action: String,
    pub targets: Vec<String>,
    /// `None` while never reverted (an instant fault like `kill`, or one that
    /// lasted to the end).
    pub reverted_at_s: Option<f64>,
}

/// The name of fault `index` (its position in `[[faults]]`) on the charts and in
/// the tables: the SLO filter's window name, `fault:0`, `fault:1`, … (see
/// [`crate::scenario::slo::Window`]), so a band and the SLO that judges it
/// read the same.
pub fn fault_label(index: usize) -> String {
    crate::scenario::slo::Window::Fault(index).to_string()
}

/// Every applied fault, in time order, labelled `fault:0`, `fault:1`, … by
/// scenario position (as SLO filters name them).
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
                label: fault_label(e.fault),
                kind: BandKind::Fault,
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
                kind: BandKind::Restart,
            },
            fault: usize::MAX,
            action: "replaced (restarted)".into(),
            targets: vec![l.instance.clone()],
            reverted_at_s: None,
        });
    }
    out.extend(pool_marks(r));
    out.sort_by(|a, b| a.band.start_s.total_cmp(&b.band.start_s));
    out
}

/// The gateways' pool events as marks at the poll that saw each (`E1` ejected,
/// `A1` readmitted, `U1` failing checks, `H1` passing again), numbered per kind.
fn pool_marks(r: &RunResults) -> Vec<FaultBand> {
    use crate::results::PoolChange;
    let mut counts = [0usize; 4];
    let events = r.pools.iter().flat_map(|p| &p.events);
    events
        .map(|e| {
            let (slot, letter, kind) = match e.event {
                PoolChange::Ejected => (0, 'E', BandKind::PoolOut),
                PoolChange::Readmitted => (1, 'A', BandKind::PoolIn),
                PoolChange::Unhealthy => (2, 'U', BandKind::PoolOut),
                PoolChange::Healthy => (3, 'H', BandKind::PoolIn),
            };
            counts[slot] += 1;
            FaultBand {
                band: Band {
                    start_s: e.at_s,
                    end_s: e.at_s,
                    label: format!("{letter}{}", counts[slot]),
                    kind,
                },
                fault: usize::MAX,
                action: format!(
                    "{} by {} (pool {}), between {:.3} s and {:.3} s",
                    e.event.word(),
                    e.gateway,
                    e.upstream,
                    e.since_s,
                    e.at_s
                ),
                targets: vec![e.instance.clone()],
                reverted_at_s: None,
            }
        })
        .collect()
}

/// The whole seconds the run covers: 0 up to the last recorded second or the duration.
fn seconds(r: &RunResults) -> u32 {
    let last = r.recording.seconds.last().map_or(0, |s| s.second + 1);
    last.max(r.recording.duration_s.ceil() as u32)
}

/// Shortest partial last second that is drawn (scaled to a rate), s.
pub const MIN_TAIL_S: f64 = 0.5;

/// How the run's last, partial second is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tail {
    /// The run ends on a whole second (or nothing was recorded).
    Whole,
    /// Second `second` covers only `covered_s`: its counts are divided by it.
    Scaled { second: u32, covered_s: f64 },
    /// Second `second` covers only `covered_s` (< [`MIN_TAIL_S`]): not drawn.
    Dropped { second: u32, covered_s: f64 },
}

/// How much of second `s` the run covers, s (1 for every whole second).
fn covered(r: &RunResults, s: u32) -> f64 {
    let left = r.recording.duration_s - f64::from(s);
    // A second past the recorded duration (a shard that ran on) counts whole.
    if left <= 0.0 { 1.0 } else { left.min(1.0) }
}

/// How the last second of `r` is drawn.
pub fn tail(r: &RunResults) -> Tail {
    let n = seconds(r);
    let Some(last) = n.checked_sub(1) else {
        return Tail::Whole;
    };
    let covered_s = covered(r, last);
    if covered_s >= 1.0 - 1e-9 {
        Tail::Whole
    } else if covered_s >= MIN_TAIL_S {
        Tail::Scaled {
            second: last,
            covered_s,
        }
    } else {
        Tail::Dropped {
            second: last,
            covered_s,
        }
    }
}

/// One sentence on how the charts draw the seconds, for their captions.
pub fn tail_note(r: &RunResults) -> String {
    let each = "Each second is drawn as a step over its whole interval [s, s+1).";
    match tail(r) {
        Tail::Whole => each.to_string(),
        Tail::Scaled { second, covered_s } => format!(
            "{each} The last second ({second} s) covers only {covered_s:.2} s: its counts are scaled to a per-second rate (count ÷ {covered_s:.2} s)."
        ),
        Tail::Dropped { second, covered_s } => format!(
            "{each} The last {} (after {second} s) is left out: too short a span for a rate (its answers are in every total).",
            short_span(covered_s)
        ),
    }
}

/// A span under a second for a caption: `40 ms`, `0.35 s`.
fn short_span(s: f64) -> String {
    if s < 0.1 {
        format!("{} ms", ((s * 1000.0).round() as u64).max(1))
    } else {
        format!("{s:.2} s")
    }
}

/// Whether a series counts events (scaled to a rate over a partial second)
/// or reads a level (a percentile, a share, a maximum: drawn as it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Count,
    Level,
}

/// A dense step series: `f` of each recorded second, `missing` for seconds
/// without an entry (`None` leaves a gap: a NaN point splits the line there).
/// Second `s` is the two points `(s, v)` and `(s + covered, v)`.
fn dense(
    r: &RunResults,
    kind: Kind,
    f: impl Fn(&crate::metrics::SecondStats) -> Option<f64>,
    missing: Option<f64>,
) -> Vec<(f64, f64)> {
    let by_second: BTreeMap<u32, &crate::metrics::SecondStats> =
        r.recording.seconds.iter().map(|s| (s.second, s)).collect();
    let tail = tail(r);
    let drop_from = match tail {
        Tail::Dropped { second, .. } => second,
        _ => u32::MAX,
    };
    let mut out = Vec::new();
    for s in (0..seconds(r)).take_while(|s| *s < drop_from) {
        let v = match by_second.get(&s) {
            Some(stats) => f(stats),
            None => missing,
        };
        // Only the last second can be partial; every other one is whole.
        let covered = match tail {
            Tail::Scaled { second, covered_s } if second == s => covered_s,
            _ => 1.0,
        };
        match v {
            Some(v) => {
                let v = match kind {
                    Kind::Count => v / covered,
                    Kind::Level => v,
                };
                let x = f64::from(s);
                out.push((x, v));
                out.push((x + covered, v));
            }
            None => {
                if out.last().is_some_and(|p: &(f64, f64)| !p.1.is_nan()) {
                    out.push((f64::from(s), f64::NAN));
                }
            }
        }
    }
    out
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
                points: dense(
                    r,
                    Kind::Count,
                    |s| Some(s.outcomes.get(o) as f64),
                    Some(0.0),
                ),
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
            points: dense(
                r,
                Kind::Level,
                |s| answered(s).map(|()| f(s) as f64 / 1000.0),
                None,
            ),
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
                Kind::Level,
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
            points: dense(r, Kind::Level, |s| Some(s.in_flight_max as f64), Some(0.0)),
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
                Kind::Count,
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
                    Kind::Count,
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
