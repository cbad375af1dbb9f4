//! The summary printed when a run ends: the verdict first, then each SLO with
//! measured vs objective, then the availability line and where the files are.
//!
//! Plain text; colour only when asked for ([`Style::detect`] turns it on for a
//! terminal without `NO_COLOR`), so logs and CI output carry no escape codes.

use std::fmt::Write;
use std::io::IsTerminal;

use crate::analysis::slo::{RunVerdict, Verdict};
use crate::format::one_line;
use crate::format::{format_percent, group_digits};
use crate::summary::breakdown::ClassBreakdown;
use crate::summary::{RecoveryState, Summary};

/// Whether to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Color,
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset (no-color.org).
    pub fn detect() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if std::io::stdout().is_terminal() && !no_color {
            Style::Color
        } else {
            Style::Plain
        }
    }

    fn paint(self, text: &str, code: &str) -> String {
        match self {
            Style::Plain => text.to_string(),
            Style::Color => format!("\x1b[{code}m{text}\x1b[0m"),
        }
    }
}

fn verdict_color(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "32",
        Verdict::Fail => "1;31",
        Verdict::Inconclusive | Verdict::NotMeasured => "33",
    }
}

fn run_color(v: RunVerdict) -> &'static str {
    match v {
        RunVerdict::Pass => "1;32",
        RunVerdict::Fail | RunVerdict::Broken => "1;31",
        RunVerdict::Inconclusive | RunVerdict::Invalid | RunVerdict::Interrupted => "1;33",
    }
}

/// Render the end-of-run summary. Control characters in run-supplied text are
/// replaced so a scenario name cannot move the cursor.
pub fn render(summary: &Summary, style: Style) -> String {
    let mut out = String::new();
    headline(&mut out, summary, style);
    slos(&mut out, summary, style);
    faults(&mut out, summary);
    integrity_and_availability(&mut out, summary);
    tenants(&mut out, summary);
    breakdown(&mut out, &summary.breakdown);
    super::flows::terminal(&mut out, &summary.flows, clean);
    out
}

/// The run's verdict and exit code, then what changes how to read it: the
/// time scale and the warnings.
fn headline(out: &mut String, summary: &Summary, style: Style) {
    let _ = writeln!(
        out,
        "{}  {} (exit {}){}",
        style.paint(summary.verdict.label(), run_color(summary.verdict)),
        clean(&summary.scenario),
        summary.exit_code,
        match (summary.partial, summary.verdict) {
            (_, RunVerdict::Interrupted) => ", partial run: verdict withheld",
            (true, _) => ", partial run",
            _ => "",
        }
    );
    if summary.time_scale != 1.0 {
        let _ = writeln!(
            out,
            "  time scale {}: every time in the scenario was multiplied by it (rates were not)",
            summary.time_scale
        );
    }
    for warning in &summary.warnings {
        let _ = writeln!(
            out,
            "  {} {}",
            style.paint("warning:", "33"),
            clean(warning)
        );
    }
}

/// One line per SLO, with the reason under it unless it passed.
fn slos(out: &mut String, summary: &Summary, style: Style) {
    let width = summary
        .slos
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0);
    let label_width = Verdict::NotMeasured.label().len();
    for slo in &summary.slos {
        let label = format!("{:<label_width$}", slo.verdict.label());
        let _ = writeln!(
            out,
            "  {}  {:<width$}  measured {} vs objective {}",
            style.paint(&label, verdict_color(slo.verdict)),
            clean(&slo.name),
            clean(slo.measured_display.as_deref().unwrap_or("nothing")),
            clean(&slo.objective),
        );
        if slo.verdict != Verdict::Pass {
            let _ = writeln!(out, "  {:label_width$}  {}", "", clean(&slo.detail));
        }
    }
}

/// The faults that need a word: not recovered, or not the cause of the errors.
fn faults(out: &mut String, summary: &Summary) {
    for f in &summary.faults {
        let what = match (f.recovery, &f.not_attributed) {
            (_, Some(why)) => why.clone(),
            (RecoveryState::NotRecovered, _) => RecoveryState::describe(f),
            _ => continue,
        };
        let _ = writeln!(
            out,
            "  fault {} ({} {} at {:.1}s): {}",
            f.index,
            clean(&f.action),
            clean(&f.target),
            f.at_s,
            clean(&what)
        );
    }
}

/// Writes whose fate nobody checked, and the availability with its bound.
fn integrity_and_availability(out: &mut String, summary: &Summary) {
    let i = &summary.integrity;
    if let Some(why) = i
        .not_measured
        .as_deref()
        .filter(|_| i.acknowledged_writes > 0 && i.through_api.is_none())
    {
        let _ = writeln!(
            out,
            "  integrity: {} acknowledged writes; lost and duplicated writes not measured: {}",
            group_digits(i.acknowledged_writes),
            clean(why)
        );
    }
    if let Some(api) = &i.through_api {
        let _ = writeln!(
            out,
            "  integrity through the API: {}",
            clean(&super::integrity::headline(api))
        );
        for (label, items) in super::integrity::examples(api, 5) {
            let _ = writeln!(out, "    {}: {}", clean(&label), clean(&items.join("; ")));
        }
    }
    let a = &summary.availability;
    if let (Some(ratio), Some(lower)) = (a.ratio, a.lower_bound) {
        let _ = writeln!(
            out,
            "  availability {} of {} requests, at least {} ({:.2} nines) at {}% confidence",
            format_percent(ratio),
            group_digits(a.eligible),
            format_percent(lower),
            a.lower_bound_nines.unwrap_or(0.0),
            a.confidence * 100.0
        );
    }
}

/// Most request classes the terminal lists (`summary.json` has them all).
const CLASSES_SHOWN: usize = 8;
/// Most rows of one class the terminal lists.
const ROWS_SHOWN: usize = 6;
/// Longest example body on a terminal line, characters.
const BODY_CHARS: usize = 100;

/// Where the requests went: each class, and for one with anything but `ok`
/// answers its statuses × outcomes with an example body (`run` and `attack`).
pub fn breakdown(out: &mut String, classes: &[ClassBreakdown]) {
    if classes.is_empty() {
        return;
    }
    let _ = writeln!(out, "  by request class:");
    for c in classes.iter().take(CLASSES_SHOWN) {
        let head = format!(
            "    {} {}  {} sent, {} bad{}",
            clean(&c.method),
            clean(&c.path),
            group_digits(c.sent),
            group_digits(c.bad),
            if c.dropped > 0 {
                format!(", {} dropped", group_digits(c.dropped))
            } else {
                String::new()
            }
        );
        let all_ok = c.rows.iter().all(|r| r.outcome.as_deref() == Some("ok"));
        if all_ok {
            let statuses: Vec<String> = c
                .rows
                .iter()
                .map(|r| format!("{} ok ×{}", r.status_text(), group_digits(r.count)))
                .collect();
            let _ = writeln!(out, "{head}: {}", statuses.join(", "));
            continue;
        }
        let _ = writeln!(out, "{head}");
        for r in c.rows.iter().take(ROWS_SHOWN) {
            let mut line = format!(
                "      {:>9}  {:<17} {:>9}",
                r.status_text(),
                r.outcome.as_deref().unwrap_or("—"),
                group_digits(r.count)
            );
            if let Some(reason) = &r.reason {
                line.push_str("  why: ");
                line.push_str(&one_line(reason, false, BODY_CHARS));
            }
            if let Some(body) = &r.example_body {
                line.push_str("  body: ");
                line.push_str(&one_line(body, r.example_truncated, BODY_CHARS));
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        if c.rows.len() > ROWS_SHOWN {
            let _ = writeln!(
                out,
                "      … {} more in summary.json",
                c.rows.len() - ROWS_SHOWN
            );
        }
    }
    if classes.len() > CLASSES_SHOWN {
        let _ = writeln!(
            out,
            "    … {} more request classes in summary.json",
            classes.len() - CLASSES_SHOWN
        );
    }
}

/// One line per tenant: what the plan let through, and what was judged wrong.
fn tenants(out: &mut String, summary: &Summary) {
    let header = |c: Option<crate::summary::HeaderCheck>| match c {
        Some(c) => format!(
            "{} of {} off by > 1",
            group_digits(c.off_by_more_than_one),
            group_digits(c.checked)
        ),
        None => "not sent".to_owned(),
    };
    for t in &summary.tenants {
        let _ = writeln!(
            out,
            "  tenant {}: {} of {} admitted (model {}), {} wrongful 429s, {} over-admitted; RateLimit-Remaining {}, Retry-After {}",
            clean(&t.id),
            group_digits(t.admitted),
            group_digits(t.offered),
            group_digits(t.model_admitted),
            group_digits(t.wrongful_throttles),
            group_digits(t.over_admitted),
            header(t.ratelimit_remaining),
            header(t.retry_after),
        );
    }
}

fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::tests::example;

    #[test]
    fn verdict_first_then_each_slo() {
        let summary = example();
        let text = render(&summary, Style::Plain);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("FAIL  failover"), "{text}");
        assert!(lines[0].ends_with("(exit 1)"), "{text}");
        for slo in &summary.slos {
            let line = lines
                .iter()
                .find(|l| l.contains(&slo.name) && l.contains("vs objective"))
                .unwrap_or_else(|| panic!("{} missing:\n{text}", slo.name));
            assert!(line.contains(slo.verdict.label()), "{line}");
            assert!(line.ends_with(&slo.objective), "{line}");
        }
        assert!(text.contains("measured 2 vs objective == 0"), "{text}");
        assert!(!text.contains('\x1b'), "plain text has no escape codes");
    }

    #[test]
    fn colour_only_when_asked_and_no_control_characters_from_input() {
        let mut summary = example();
        summary.scenario = "evil\x1b[2Jname".into();
        let coloured = render(&summary, Style::Color);
        assert!(
            coloured.starts_with("\x1b[1;31mFAIL\x1b[0m"),
            "{coloured:?}"
        );
        assert!(coloured.contains("evil\u{FFFD}[2Jname"));
        let plain = render(&summary, Style::Plain);
        assert!(!plain.contains('\x1b'));
    }

    #[test]
    fn a_scaled_run_says_so() {
        let mut summary = example();
        assert!(!render(&summary, Style::Plain).contains("time scale"));
        summary.time_scale = 0.1;
        let text = render(&summary, Style::Plain);
        assert!(
            text.lines().nth(1).unwrap().contains("time scale 0.1"),
            "{text}"
        );
    }

    /// Case 4 of issue 18: header checks are counts ("N of M off by more than one")
    /// everywhere, and "not sent" / "—" when no header was seen, never a bare yes/no.
    #[test]
    fn ratelimit_headers_are_counted_not_a_bare_yes_or_no() {
        let summary = example();
        let text = render(&summary, Style::Plain);
        assert!(
            text.contains("RateLimit-Remaining not sent, Retry-After 0 of 30 off by > 1"),
            "{text}"
        );
        let md = crate::report::markdown::render(&summary);
        assert!(md.contains("| Retry-After off by > 1 s | RateLimit-Remaining off by > 1 |"));
        assert!(md.contains("| 0 of 30 | – |"), "{md}");
    }
}
