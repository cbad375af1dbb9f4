//! Case 12 of issue 18: the charts must not show effects before their cause.
//!
//! Each test renders a chart from a hand-made recording and reads the SVG
//! back: the polyline points and text labels are parsed out of the markup,
//! and the expected pixel positions come from the chart's published layout
//! (width, margins, label area), not from the drawing code.

use std::collections::BTreeMap;

use super::charts::{self, MARGIN, MARGIN_RIGHT, Scale, TimeChart, Y_LABEL_AREA, YUnit};
use super::series::{self, Tail};
use crate::faults::timeline::{FaultEvent, Phase};
use crate::metrics::recording::{FORMAT, SecondStats};
use crate::metrics::{Hist, KeyStats, Outcome, OutcomeCounts, Recording, hist};
use crate::results::RunResults;

/// Chart width (px), as [`charts`] draws every chart.
const WIDTH: f64 = 960.0;

/// Where second `t` lies on the x axis of a chart over `0..x_max`: the plot
/// area runs from the margin plus the y label area to the width minus the
/// right margin.
fn x_of(t: f64, x_max: f64) -> f64 {
    let left = f64::from(MARGIN + Y_LABEL_AREA);
    let right = WIDTH - f64::from(MARGIN_RIGHT);
    left + (right - left) * t / x_max
}

/// A recording: `per_second[s]` gives second `s`'s outcome counts.
fn results(
    duration_s: f64,
    per_second: &[Vec<(Outcome, u64)>],
    faults: &[(f64, f64)],
) -> RunResults {
    let mut seconds = Vec::new();
    let mut total = OutcomeCounts::default();
    for (s, counts) in per_second.iter().enumerate() {
        let mut h = hist::new_histogram(hist::SECOND_SIGFIG);
        let mut outcomes = OutcomeCounts::default();
        for (o, n) in counts {
            for _ in 0..*n {
                outcomes.add(*o);
                h.record(1_000).unwrap();
            }
        }
        let mut sec = SecondStats::new(s as u32, &h);
        sec.outcomes = outcomes;
        total.merge(&outcomes);
        seconds.push(sec);
    }
    let mut events = Vec::new();
    for (i, (from, to)) in faults.iter().enumerate() {
        for (phase, at) in [(Phase::Apply, *from), (Phase::Revert, *to)] {
            events.push(FaultEvent {
                fault: i,
                action: "errors".into(),
                phase,
                targets: vec!["api-0".into()],
                planned_s: at,
                at_s: at,
                error: None,
            });
        }
    }
    RunResults {
        scenario: "charts".into(),
        seed: 1,
        started_at: "2026-11-26T08:00:00Z".into(),
        partial: false,
        recording: Recording {
            format: FORMAT,
            workers: 1,
            duration_s,
            seconds,
            keys: vec![KeyStats {
                phase: "steady".into(),
                tenant: None,
                class: 0,
                method: "GET".into(),
                path: "/items".into(),
                outcomes: total,
                statuses: BTreeMap::new(),
                latency: Hist::default(),
                service: Hist::default(),
                retries: 0,
            }],
            ..Recording::default()
        },
        faults: events,
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
    }
}

/// The throughput chart of `r`, drawn as the report draws it.
fn throughput_svg(r: &RunResults) -> String {
    let named = series::throughput(r);
    let lines: Vec<_> = named.iter().map(|n| n.line.clone()).collect();
    let bands: Vec<_> = series::fault_bands(r).into_iter().map(|f| f.band).collect();
    charts::time_series(&TimeChart {
        y_desc: "requests/s",
        x_max: r.recording.duration_s,
        lines: &lines,
        bands: &bands,
        scale: Scale::Linear,
        y_unit: YUnit::Count,
    })
}

/// The `points` of every polyline drawn in `stroke` (`#rrggbb`, any case).
fn polylines(svg: &str, stroke: &str) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    for tag in svg.split("<polyline").skip(1) {
        let tag = &tag[..tag.find("/>").unwrap()];
        let tag_lower = tag.to_lowercase();
        // Data lines are opaque and 2 px wide (band edges share a colour but not those).
        if !tag_lower.contains(&format!("stroke=\"{}\"", stroke.to_lowercase()))
            || !tag_lower.contains("opacity=\"1\"")
            || !tag_lower.contains("stroke-width=\"2\"")
        {
            continue;
        }
        let start = tag.find("points=\"").unwrap() + 8;
        let text = &tag[start..start + tag[start..].find('"').unwrap()];
        let points = text
            .split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        out.push(points);
    }
    out
}

/// The text of every `<text>` element whose attributes contain `attr`.
fn texts(svg: &str, attr: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let (head, rest) = t.split_once('>')?;
            let end = rest.find("</text>")?;
            head.contains(attr).then(|| rest[..end].trim().to_string())
        })
        .collect()
}

/// The left edges of the shaded bands (semi-transparent red rectangles).
fn band_lefts(svg: &str) -> Vec<f64> {
    svg.split("<rect")
        .skip(1)
        .filter(|t| t[..t.find("/>").unwrap()].contains("opacity=\"0.13\""))
        .map(|t| {
            let start = t.find(" x=\"").unwrap() + 4;
            t[start..start + t[start..].find('"').unwrap()]
                .parse()
                .unwrap()
        })
        .collect()
}

#[test]
fn charts_draw_each_second_as_a_step_so_errors_never_precede_their_fault() {
    // 20 s of 40 ok/s; a fault from 10 s to 13 s makes 30/s fail in seconds 10–12.
    let per_second: Vec<_> = (0..20)
        .map(|s| {
            let mut c = vec![(Outcome::Ok, 40)];
            if (10..13).contains(&s) {
                c.push((Outcome::ServerError, 30));
            }
            c
        })
        .collect();
    let r = results(20.0, &per_second, &[(10.0, 13.0)]);
    let svg = throughput_svg(&r);
    let red = series::outcome_color(Outcome::ServerError).hex();
    let lines = polylines(&svg, &red);
    assert_eq!(lines.len(), 1, "one server_error line: {svg:.400}");
    let line = &lines[0];
    let baseline = line[0].1;
    let rise = line
        .iter()
        .find(|p| p.1 < baseline - 1.0)
        .expect("the errors rise");
    let (at_10, at_9_5) = (x_of(10.0, 20.0), x_of(9.5, 20.0));
    assert!(
        (rise.0 - at_10).abs() <= 1.5,
        "the error step of second 10 starts at x(10) = {at_10:.1}, not x(9.5) = {at_9_5:.1}: it starts at {}",
        rise.0
    );
    let fall = line
        .iter()
        .rev()
        .find(|p| p.1 < baseline - 1.0)
        .expect("the errors end");
    assert!(
        (fall.0 - x_of(13.0, 20.0)).abs() <= 1.5,
        "the step of second 12 holds to x(13), where the fault ended: {}",
        fall.0
    );
    // The fault band starts where the errors do, at 10 s.
    let bands = band_lefts(&svg);
    assert_eq!(bands.len(), 1, "{bands:?}");
    assert!((bands[0] - at_10).abs() <= 1.5, "{} vs {at_10}", bands[0]);
    assert!(rise.0 >= bands[0] - 1.0, "no error before its cause");
    // Every whole second is flat over its interval: the ok line is one flat run.
    let green = series::outcome_color(Outcome::Ok).hex();
    let ok = &polylines(&svg, &green)[0];
    assert!(ok.iter().all(|p| (p.1 - ok[0].1).abs() < 0.5), "{ok:?}");
    assert!((ok[0].0 - x_of(0.0, 20.0)).abs() <= 1.5);
    assert!((ok.last().unwrap().0 - x_of(20.0, 20.0)).abs() <= 1.5);
}

#[test]
fn charts_scale_a_partial_last_second_to_a_rate_or_leave_a_sliver_out_and_say_which() {
    // 40 ok/s; the run ends at 8.6 s, so second 8 holds 0.6 s of traffic: 24 answers.
    let mut per_second: Vec<_> = (0..8).map(|_| vec![(Outcome::Ok, 40)]).collect();
    per_second.push(vec![(Outcome::Ok, 24)]);
    let r = results(8.6, &per_second, &[]);
    assert_eq!(
        series::tail(&r),
        Tail::Scaled {
            second: 8,
            covered_s: 8.6 - 8.0
        }
    );
    let svg = throughput_svg(&r);
    let green = series::outcome_color(Outcome::Ok).hex();
    let line = &polylines(&svg, &green)[0];
    let last = line.last().unwrap();
    assert!(
        (last.0 - x_of(8.6, 8.6)).abs() <= 1.5,
        "the last step ends where the run did"
    );
    assert!(
        (last.1 - line[0].1).abs() < 0.5,
        "24 answers in 0.6 s is 40/s, the rate of every other second (no drop to ~0): {line:?}"
    );
    let mut html = String::new();
    super::timeline::time_series(&mut html, &r, &[]);
    assert!(
        html.contains("covers only 0.60 s: its counts are scaled to a per-second rate"),
        "the caption says the last second is scaled: {html:.600}"
    );

    // The run ends at 8.1 s: 4 answers in 0.1 s are left out of the charts.
    per_second[8] = vec![(Outcome::Ok, 4)];
    let r = results(8.1, &per_second, &[]);
    assert!(matches!(series::tail(&r), Tail::Dropped { second: 8, .. }));
    let svg = throughput_svg(&r);
    let line = &polylines(&svg, &green)[0];
    let last = line.last().unwrap();
    assert!(
        (last.0 - x_of(8.0, 8.1)).abs() <= 1.5,
        "the line stops at the last whole second: {line:?}"
    );
    assert!(line.iter().all(|p| (p.1 - line[0].1).abs() < 0.5));
    let mut html = String::new();
    super::timeline::time_series(&mut html, &r, &[]);
    assert!(
        html.contains("The last 100 ms (after 8 s) is left out"),
        "the caption says the sliver is left out"
    );
}

#[test]
fn fault_bands_are_labelled_with_the_slo_filter_window_name() {
    // The SLO filter syntax names the first `[[faults]]` entry `window=fault:0`.
    assert_eq!(
        crate::scenario::slo::parse_window("fault:0"),
        Ok(crate::scenario::slo::Window::Fault(0))
    );
    let per_second: Vec<_> = (0..10).map(|_| vec![(Outcome::Ok, 10)]).collect();
    let r = results(10.0, &per_second, &[(2.0, 4.0), (6.0, 7.0)]);
    let labels: Vec<String> = series::fault_bands(&r)
        .iter()
        .map(|f| f.band.label.clone())
        .collect();
    assert_eq!(labels, ["fault:0", "fault:1"]);
    let svg = throughput_svg(&r);
    let all = texts(&svg, "");
    assert!(all.iter().any(|t| t == "fault:0"), "{all:?}");
    assert!(all.iter().any(|t| t == "fault:1"), "{all:?}");
    let mut html = String::new();
    let faults = series::fault_bands(&r);
    super::timeline::time_series(&mut html, &r, &faults);
    assert!(
        html.contains("<span class=\"band\">fault:0</span>"),
        "the fault legend uses the same name"
    );
}

#[test]
fn pool_events_are_marks_at_the_poll_that_saw_them_not_bands() {
    use crate::results::{PoolChange, PoolEvent, PoolWatch};
    let per_second: Vec<_> = (0..10).map(|_| vec![(Outcome::Ok, 10)]).collect();
    let mut r = results(10.0, &per_second, &[(2.0, 4.0)]);
    let event = |at_s: f64, event| PoolEvent {
        at_s,
        since_s: at_s - 0.25,
        gateway: "gateway-0".into(),
        upstream: "api".into(),
        instance: "api-1".into(),
        event,
    };
    r.pools = Some(PoolWatch {
        interval_ms: 250,
        polls: 40,
        failed_polls: 0,
        events: vec![
            event(2.5, PoolChange::Ejected),
            event(7.5, PoolChange::Readmitted),
        ],
    });
    let labels: Vec<String> = series::fault_bands(&r)
        .iter()
        .map(|f| f.band.label.clone())
        .collect();
    assert_eq!(labels, ["fault:0", "E1", "A1"]);
    let svg = throughput_svg(&r);
    // One shaded band (the fault), and a vertical line at each pool event.
    assert_eq!(band_lefts(&svg).len(), 1);
    for (stroke, at) in [("#e66e00", 2.5), ("#1f77b4", 7.5)] {
        let marks = polylines(&svg, stroke);
        let x = x_of(at, 10.0);
        assert!(
            marks
                .iter()
                .any(|p| p.len() == 2 && p.iter().all(|(px, _)| (px - x).abs() <= 1.5)),
            "no mark at x={x} in {stroke}: {marks:?}"
        );
    }
    let all = texts(&svg, "");
    assert!(
        all.iter().any(|t| t == "E1") && all.iter().any(|t| t == "A1"),
        "{all:?}"
    );
    let mut html = String::new();
    super::timeline::time_series(&mut html, &r, &series::fault_bands(&r));
    assert!(
        html.contains("ejected by gateway-0 (pool api), between 2.250 s and 2.500 s"),
        "{html}"
    );
    assert!(html.contains("<code>api-1</code>"), "{html}");
}

#[test]
fn y_axis_tick_labels_never_repeat() {
    let y_labels = |svg: &str| texts(svg, "text-anchor=\"end\"");
    for (unit, scale, peaks) in [
        (
            YUnit::Count,
            Scale::Linear,
            &[1.0, 1.08, 2.0, 3.0, 0.4, 7.0, 13.0, 999.0][..],
        ),
        (
            YUnit::Percent,
            Scale::Linear,
            &[0.05, 0.3, 1.0, 2.5, 100.0][..],
        ),
        (YUnit::Ms, Scale::Log, &[0.5, 3.0, 40.0, 2_500.0][..]),
    ] {
        for peak in peaks {
            let lines = [charts::Line {
                color: charts::PALETTE[0],
                points: vec![
                    (0.0, peak / 3.0),
                    (1.0, peak / 3.0),
                    (1.0, *peak),
                    (2.0, *peak),
                ],
            }];
            let svg = charts::time_series(&TimeChart {
                y_desc: "y",
                x_max: 2.0,
                lines: &lines,
                bands: &[],
                scale,
                y_unit: unit,
            });
            let labels = y_labels(&svg);
            assert!(labels.len() >= 2, "{unit:?} {peak}: {labels:?}");
            let mut unique = labels.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), labels.len(), "{unit:?} {peak}: {labels:?}");
            if unit == YUnit::Count {
                assert!(
                    labels.iter().all(|l| l.parse::<u64>().is_ok()),
                    "whole numbers for counts: {labels:?}"
                );
            }
        }
    }
    // The x axis too: a 3 s run has whole-second labels, each once.
    let svg = charts::time_series(&TimeChart {
        y_desc: "y",
        x_max: 3.0,
        lines: &[],
        bands: &[],
        scale: Scale::Linear,
        y_unit: YUnit::Count,
    });
    let x_labels: Vec<String> = texts(&svg, "")
        .into_iter()
        .filter(|t| t.ends_with('s') && t[..t.len() - 1].parse::<u32>().is_ok())
        .collect();
    assert_eq!(x_labels, ["0s", "1s", "2s", "3s"]);
}

#[test]
fn nice_ticks_step_by_one_two_or_five() {
    assert_eq!(charts::linear_ticks(1.08, true), (vec![0.0, 1.0, 2.0], 0));
    let (ticks, decimals) = charts::linear_ticks(0.5, false);
    assert_eq!(
        (ticks.len(), decimals),
        (6, 1),
        "0 to 0.5 by 0.1: {ticks:?}"
    );
    assert_eq!(
        charts::linear_ticks(100.0, false).0,
        [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    );
}
