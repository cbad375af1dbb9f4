//! series.csv rendered from recordings whose seconds are known: old ones (phase
//! `all`), one phase, and two phases broken down.

use super::*;
use crate::metrics::{Hist, OutcomeCounts, PhaseStats, SecondStats};

fn second(n: u32, answered_us: &[u64], extra: &[Outcome]) -> SecondStats {
    let mut h = hist::new_histogram(hist::SECOND_SIGFIG);
    let mut outcomes = OutcomeCounts::default();
    for v in answered_us {
        h.record(*v).unwrap();
        outcomes.add(Outcome::Ok);
    }
    for o in extra {
        outcomes.add(*o);
    }
    let mut s = SecondStats::new(n, &h);
    s.outcomes = outcomes;
    s.in_flight_max = 4;
    s
}

#[test]
fn one_row_per_recorded_second_and_no_latency_where_nothing_answered() {
    let r = Recording {
        seconds: vec![
            second(0, &[1000, 2000], &[Outcome::Timeout]),
            second(2, &[], &[Outcome::Dropped, Outcome::Dropped]),
        ],
        ..Recording::default()
    };
    let text = render(&r);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], columns().join(","));
    let row = |i: usize| -> Vec<&str> { lines[i].split(',').collect() };
    let col = |name: &str| columns().iter().position(|c| c == name).unwrap();
    let (r0, r1) = (row(1), row(2));
    assert_eq!(r0.len(), columns().len());
    assert_eq!(r1.len(), columns().len());
    assert_eq!(
        (r0[col("second")], r0[col("phase")], r0[col("requests")]),
        ("0", "all", "3")
    );
    assert_eq!((r0[col("ok")], r0[col("timeout")]), ("2", "1"));
    assert_eq!(r0[col("answered")], "2");
    // The second's histogram keeps 2 significant digits: within 1% of 2000 µs.
    let max: u64 = r0[col("max_us")].parse().unwrap();
    assert!((2000..=2020).contains(&max), "{max}");
    assert_eq!((r1[col("dropped")], r1[col("answered")]), ("2", "0"));
    assert_eq!(
        (r1[col("p50_us")], r1[col("p99_us")], r1[col("max_us")]),
        ("", "", "")
    );
    assert_eq!(r1[col("in_flight_max")], "4");
}

fn phase(name: &str) -> PhaseStats {
    PhaseStats {
        name: name.into(),
        open_loop: true,
        scheduled: 0,
        dropped: 0,
        flow: None,
        dispatch_lag: Hist::default(),
    }
}

/// One phase's part of a second: `answered_us` answered `ok`, then `extra`.
fn part(name: &str, answered_us: &[u64], extra: &[Outcome], in_flight: u64) -> PhaseSecond {
    let s = second(0, answered_us, extra);
    let mut p = PhaseSecond::new(name.into(), &hist::decode(&s.latency).unwrap());
    p.outcomes = s.outcomes;
    p.in_flight_max = in_flight;
    p
}

fn rows(text: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], columns().join(","));
    lines[1..]
        .iter()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

fn col(name: &str) -> usize {
    columns().iter().position(|c| c == name).unwrap()
}

/// Two phases: one row per (second, phase) of the breakdown, in the recording's
/// order of phases whatever the breakdown's, each with that phase's own figures.
#[test]
fn two_phases_give_one_row_per_second_and_phase() {
    let mut s0 = second(0, &[1000, 2000, 30_000], &[Outcome::Timeout]);
    // Out of the phases' order on purpose: the rows follow `recording.phases`.
    s0.phases = vec![
        part("main", &[30_000], &[], 3),
        part("warm", &[1000, 2000], &[Outcome::Timeout], 2),
    ];
    let mut s1 = second(1, &[], &[Outcome::Dropped]);
    s1.phases = vec![part("warm", &[], &[Outcome::Dropped], 1)];
    let r = Recording {
        seconds_by_phase: true,
        phases: vec![phase("warm"), phase("main")],
        seconds: vec![s0, s1],
        ..Recording::default()
    };
    let rows = rows(&render(&r));
    let key: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (&*r[col("second")], &*r[col("phase")], &*r[col("requests")]))
        .collect();
    assert_eq!(
        key,
        [("0", "warm", "3"), ("0", "main", "1"), ("1", "warm", "1")]
    );
    let (warm0, main0, warm1) = (&rows[0], &rows[1], &rows[2]);
    assert_eq!((&*warm0[col("ok")], &*warm0[col("timeout")]), ("2", "1"));
    assert_eq!(&*warm0[col("answered")], "2");
    // 2 significant digits: each figure within 1% above the value recorded.
    let us = |row: &[String], c: &str| -> u64 { row[col(c)].parse().unwrap() };
    assert!((1000..=1010).contains(&us(warm0, "p50_us")), "{warm0:?}");
    assert!((2000..=2020).contains(&us(warm0, "p99_us")), "{warm0:?}");
    assert!((2000..=2020).contains(&us(warm0, "max_us")), "{warm0:?}");
    assert!(
        (30_000..=30_300).contains(&us(main0, "max_us")),
        "{main0:?}"
    );
    assert!(
        (30_000..=30_300).contains(&us(main0, "p50_us")),
        "{main0:?}"
    );
    assert_eq!(
        (&*warm0[col("in_flight_max")], &*main0[col("in_flight_max")]),
        ("2", "3")
    );
    assert_eq!(
        (&*warm1[col("dropped")], &*warm1[col("answered")]),
        ("1", "0")
    );
    assert_eq!((&*warm1[col("p50_us")], &*warm1[col("max_us")]), ("", ""));
    assert_eq!(&*warm1[col("in_flight_max")], "1");
}

/// One phase: no breakdown is kept, and each second's row is that phase's, by name.
#[test]
fn one_phase_rows_carry_its_name() {
    let r = Recording {
        seconds_by_phase: true,
        phases: vec![phase("steady")],
        seconds: vec![second(0, &[500], &[]), second(1, &[700], &[])],
        ..Recording::default()
    };
    let rows = rows(&render(&r));
    let key: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (&*r[col("second")], &*r[col("phase")]))
        .collect();
    assert_eq!(key, [("0", "steady"), ("1", "steady")]);
    assert_eq!(&*rows[1][col("in_flight_max")], "4");
}

/// Results of older versions (no breakdown, `seconds_by_phase` absent) of a run
/// of two phases keep their `all` rows; a phase name with a comma is quoted.
#[test]
fn older_results_keep_all_rows_and_names_are_quoted() {
    let r = Recording {
        phases: vec![phase("warm"), phase("main")],
        seconds: vec![second(0, &[500], &[])],
        ..Recording::default()
    };
    let rows = rows(&render(&r));
    assert_eq!(rows.len(), 1);
    assert_eq!(&*rows[0][col("phase")], "all");
    let r = Recording {
        seconds_by_phase: true,
        phases: vec![phase("warm, then \"main\"")],
        seconds: vec![second(0, &[500], &[])],
        ..Recording::default()
    };
    let text = render(&r);
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .starts_with("0,\"warm, then \"\"main\"\"\",1,"),
        "{text}"
    );
}
