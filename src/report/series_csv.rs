//! `series.csv`: the recording's per-second series, one row per second and
//! phase, for a spreadsheet or a plotting script (docs/streaming.md lists the
//! columns). A row's phase is the phase's name: from each second's breakdown
//! by phase ([`SecondStats::phases`]) when the run had several phases, the one
//! phase's name when it had one. Results of older versions kept their seconds
//! over every phase together ([`Recording::seconds_by_phase`] false): one row
//! per second, phase `all`. A (second, phase) in which nothing completed and
//! nothing was in flight has no row, as in `results.json`; the latency cells
//! of a row without an answer are empty (not measured), never 0.

use std::fmt::Write;

use crate::metrics::{Outcome, OutcomeCounts, PhaseSecond, Recording, SecondStats, hist};

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

/// The figures of one row: a second, or one phase's part of it.
struct Row<'a> {
    phase: &'a str,
    outcomes: &'a OutcomeCounts,
    /// The encoded latency histogram, and its p50, p99 and max.
    latency: (&'a str, u64, u64, u64),
    in_flight_max: u64,
}

impl<'a> Row<'a> {
    fn all(phase: &'a str, s: &'a SecondStats) -> Self {
        Row {
            phase,
            outcomes: &s.outcomes,
            latency: (&s.latency, s.p50_us, s.p99_us, s.max_us),
            in_flight_max: s.in_flight_max,
        }
    }

    fn part(p: &'a PhaseSecond) -> Self {
        Row {
            phase: &p.phase,
            outcomes: &p.outcomes,
            latency: (&p.latency, p.p50_us, p.p99_us, p.max_us),
            in_flight_max: p.in_flight_max,
        }
    }

    fn write(&self, out: &mut String, second: u32) {
        let phase = field(self.phase);
        let _ = write!(out, "{second},{phase},{}", self.outcomes.total());
        for o in Outcome::ALL {
            let _ = write!(out, ",{}", self.outcomes.get(o));
        }
        // The histogram says how many answers its percentiles describe.
        let (text, p50, p99, max) = self.latency;
        match hist::decode(text).map(|h| h.len()) {
            Ok(0) => out.push_str(",0,,,"),
            Ok(n) => {
                let _ = write!(out, ",{n},{p50},{p99},{max}");
            }
            Err(_) => out.push_str(",,,,"),
        }
        let _ = writeln!(out, ",{}", self.in_flight_max);
    }
}

/// A CSV field (RFC 4180): quoted, its quotes doubled, when it holds a comma,
/// a quote or a line break (a phase's name may).
fn field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

/// The file's text.
pub fn render(recording: &Recording) -> String {
    let mut out = columns().join(",");
    out.push('\n');
    // A second's phases in the recording's order of phases.
    let order = |p: &PhaseSecond| {
        let i = recording.phases.iter().position(|x| x.name == p.phase);
        i.unwrap_or(usize::MAX)
    };
    let one_phase = match &recording.phases[..] {
        [one] => Some(one.name.as_str()),
        _ => None,
    };
    for s in &recording.seconds {
        match (recording.seconds_by_phase, one_phase) {
            (true, _) if !s.phases.is_empty() => {
                let mut parts: Vec<&PhaseSecond> = s.phases.iter().collect();
                parts.sort_by_key(|p| order(p));
                parts
                    .iter()
                    .for_each(|p| Row::part(p).write(&mut out, s.second));
            }
            (true, Some(name)) => Row::all(name, s).write(&mut out, s.second),
            // Older results: every phase together, with no breakdown to tell them apart.
            _ => Row::all("all", s).write(&mut out, s.second),
        }
    }
    out
}

#[cfg(test)]
#[path = "series_csv_tests.rs"]
mod tests;
