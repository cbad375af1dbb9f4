//! `series.csv`: the recording's per-second series, one row per second, for a
//! spreadsheet or a plotting script. The recorder keeps its seconds over all
//! phases together, so every row's phase is `all` (docs/streaming.md lists
//! the columns). A second in which nothing completed has no row, as in
//! `results.json`; the latency cells of a second without an answer are empty
//! (not measured), never 0.

use std::fmt::Write;

use crate::metrics::{Outcome, Recording, hist};

/// The file name in the run folder.
pub const SERIES_CSV: &str = "series.csv";

/// The header's columns, in order: `second`, `phase`, `requests`, one column
/// per outcome ([`Outcome::ALL`]), `answered`, the latency percentiles and the
/// in-flight maximum.
pub fn columns() -> Vec<String> {
    let mut c: Vec<String> = ["second", "phase", "requests"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    c.extend(Outcome::ALL.iter().map(|o| o.name().to_owned()));
    c.extend(
        ["answered", "p50_us", "p99_us", "max_us", "in_flight_max"]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    c
}

/// The file's text.
pub fn render(recording: &Recording) -> String {
    let mut out = columns().join(",");
    out.push('\n');
    for s in &recording.seconds {
        let _ = write!(out, "{},all,{}", s.second, s.outcomes.total());
        for o in Outcome::ALL {
            let _ = write!(out, ",{}", s.outcomes.get(o));
        }
        // The second's histogram says how many answers its percentiles describe.
        match hist::decode(&s.latency).map(|h| h.len()) {
            Ok(0) => out.push_str(",0,,,"),
            Ok(n) => {
                let _ = write!(out, ",{n},{},{},{}", s.p50_us, s.p99_us, s.max_us);
            }
            Err(_) => out.push_str(",,,,"),
        }
        let _ = writeln!(out, ",{}", s.in_flight_max);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{OutcomeCounts, SecondStats};

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
}
