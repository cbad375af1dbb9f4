//! `summary.md`: the run in GitHub-flavoured Markdown, to append to
//! `$GITHUB_STEP_SUMMARY` (or paste into a merge request).
//!
//! Verdict line first, then the SLO table, availability with its bounds,
//! requests, latency, tenants, faults and integrity. Every piece of text that
//! comes from the scenario or the run goes through [`text`], which escapes HTML
//! (GitHub renders inline HTML), Markdown punctuation and the `|` that would
//! split a table cell.

use std::fmt::Write;

use crate::analysis::slo::{RunVerdict, Verdict};
use crate::format::{format_percent, format_value, group_digits, human_span};
use crate::scenario::slo::Unit;
use crate::summary::{Percentiles, RecoveryState, Summary};

/// Escape run-supplied text for a Markdown paragraph or table cell.
pub fn text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '|' => out.push_str("\\|"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '~' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn icon(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "✅ pass",
        Verdict::Fail => "❌ fail",
        Verdict::Inconclusive => "❔ inconclusive",
        Verdict::NotMeasured => "➖ not measured",
    }
}

fn run_icon(verdict: RunVerdict) -> &'static str {
    match verdict {
        RunVerdict::Pass => "✅",
        RunVerdict::Fail => "❌",
        RunVerdict::Inconclusive => "❔",
        RunVerdict::Invalid | RunVerdict::Broken => "⚠️",
        RunVerdict::Interrupted => "⏹️",
    }
}

fn opt<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "–".to_string(), show)
}

fn secs(s: f64) -> String {
    format_value(Unit::Duration, s)
}

/// Render `summary.md`.
pub fn render(summary: &Summary) -> String {
    let mut md = String::new();
    verdict_section(&mut md, summary);
    slo_section(&mut md, summary);
    availability_section(&mut md, summary);
    requests_and_latency(&mut md, summary);
    breakdown_section(&mut md, summary);
    super::flows::markdown(&mut md, &summary.flows, text);
    tenants_section(&mut md, summary);
    faults_section(&mut md, summary);
    integrity_section(&mut md, summary);
    md
}

fn verdict_section(md: &mut String, s: &Summary) {
    let _ = writeln!(
        md,
        "## {} {}: ninefold scenario {} (exit {})\n",
        run_icon(s.verdict),
        s.verdict.label(),
        text(&s.scenario),
        s.exit_code
    );
    let tally = |v: Verdict| s.slos.iter().filter(|x| x.verdict == v).count();
    let _ = writeln!(
        md,
        "{} SLOs: {} passed, {} failed, {} inconclusive, {} not measured. Seed {}, {:.1} s run, started {}, ninefold {}.{}\n",
        s.slos.len(),
        tally(Verdict::Pass),
        tally(Verdict::Fail),
        tally(Verdict::Inconclusive),
        tally(Verdict::NotMeasured),
        s.seed,
        s.duration_s,
        text(&s.started_at),
        text(&s.ninefold_version),
        if s.partial { " **Partial run.**" } else { "" },
    );
    if s.time_scale != 1.0 {
        let _ = writeln!(
            md,
            "> ⏱️ Scaled run: every time in the scenario was multiplied by {} (rates were not).\n",
            s.time_scale
        );
    }
    for warning in &s.warnings {
        let _ = writeln!(md, "> ⚠️ {}\n", text(warning));
    }
}

fn slo_section(md: &mut String, s: &Summary) {
    if s.slos.is_empty() {
        return;
    }
    md.push_str("### SLOs\n\n| SLO | objective | measured | verdict | detail |\n| --- | --- | --- | --- | --- |\n");
    for slo in &s.slos {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            text(&slo.name),
            text(&slo.objective),
            text(slo.measured_display.as_deref().unwrap_or("–")),
            icon(slo.verdict),
            text(&slo.detail)
        );
    }
    md.push('\n');
}

fn availability_section(md: &mut String, s: &Summary) {
    let a = &s.availability;
    let Some(ratio) = a.ratio else {
        md.push_str("### Availability\n\nNo eligible requests.\n\n");
        return;
    };
    let conf = format!("{}%", a.confidence * 100.0);
    let nines = if a.perfect {
        "∞ (no failure)".to_string()
    } else {
        opt(a.nines, |n| format!("{n:.2}"))
    };
    let _ = writeln!(
        md,
        "### Availability\n\n| | availability | nines |\n| --- | --- | --- |\n| observed ({} of {} good) | {} | {nines} |\n| lower bound ({conf}, one-sided) | {} | {} |\n| upper bound ({conf}, one-sided) | {} | |\n",
        group_digits(a.good),
        group_digits(a.eligible),
        format_percent(ratio),
        opt(a.lower_bound, format_percent),
        opt(a.lower_bound_nines, |n| format!("{n:.2}")),
        opt(a.upper_bound, format_percent),
    );
    if let Some(target) = a.target {
        let _ = writeln!(
            md,
            "Target {}: {} requests without failure demonstrate it at {conf}{}. Time-based (1 s windows meeting it): {}. Error budget consumed: {}; burn rate {}, peak over 60 s {}.\n",
            format_percent(target),
            opt(a.requests_to_demonstrate, group_digits),
            match a.more_requests_to_settle {
                Some(0) | None => String::new(),
                Some(m) => format!(
                    "; about {} more requests would settle the verdict",
                    group_digits(m)
                ),
            },
            opt(a.time_based, format_percent),
            opt(a.error_budget_consumed, |b| format!("{:.1}%", b * 100.0)),
            opt(a.burn_rate, |b| format!("{b:.2}")),
            opt(a.peak_burn_rate_60s, |b| format!("{b:.2}")),
        );
    }
    let _ = writeln!(
        md,
        "Projected downtime per year: {} observed, {} at the lower bound.\n",
        opt(a.downtime_per_year_s, human_span),
        opt(a.downtime_per_year_upper_s, human_span),
    );
}

fn requests_and_latency(md: &mut String, s: &Summary) {
    let r = &s.requests;
    let _ = writeln!(
        md,
        "### Requests\n\n| sent | ok | rejected (expected) | failed | dropped |\n| --- | --- | --- | --- | --- |\n| {} | {} | {} | {} | {} |\n",
        group_digits(r.sent),
        group_digits(r.ok),
        group_digits(r.rejected),
        group_digits(r.failed),
        group_digits(r.dropped)
    );
    md.push_str("### Latency (ms)\n\n| | p50 | p90 | p99 | p99.9 | max |\n| --- | --- | --- | --- | --- | --- |\n");
    let row = |md: &mut String, name: &str, p: Option<Percentiles>| {
        let _ = match p {
            Some(p) => writeln!(
                md,
                "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                p.p50, p.p90, p.p99, p.p999, p.max
            ),
            None => writeln!(md, "| {name} | – | – | – | – | – |"),
        };
    };
    row(md, "latency (from intended send)", s.latency_ms);
    row(md, "service time (from actual send)", s.service_time_ms);
    if let Some(c) = &s.connection_setup_ms {
        row(md, "connection set-up: TCP connect", Some(c.tcp_connect));
        if let Some(tls) = c.tls_handshake {
            row(md, "connection set-up: TLS handshake", Some(tls));
        }
    }
    md.push('\n');
}

/// Outcomes by request class × status, with an example body of each status
/// that was not `ok`.
fn breakdown_section(md: &mut String, s: &Summary) {
    if s.breakdown.is_empty() {
        return;
    }
    md.push_str("### Requests by class\n\n| class | sent | bad | status | outcome | count | example body |\n| --- | --- | --- | --- | --- | --- | --- |\n");
    for c in &s.breakdown {
        for (i, r) in c.rows.iter().enumerate() {
            let (class, sent, bad) = if i == 0 {
                (
                    text(&format!("{} {}", c.method, c.path)),
                    group_digits(c.sent),
                    group_digits(c.bad),
                )
            } else {
                (String::new(), String::new(), String::new())
            };
            let _ = writeln!(
                md,
                "| {class} | {sent} | {bad} | {} | {} | {} | {} |",
                text(&r.status_text()),
                text(r.outcome.as_deref().unwrap_or("–")),
                group_digits(r.count),
                example_cell(r),
            );
        }
    }
    md.push('\n');
}

/// A row's example body, after the reason its check failed when it has one.
fn example_cell(r: &crate::summary::breakdown::BreakdownRow) -> String {
    let body = r.example_body.as_deref().map_or_else(
        || "–".to_string(),
        |b| text(&crate::format::one_line(b, r.example_truncated, 200)),
    );
    match &r.reason {
        Some(reason) => format!("{}: {body}", text(reason)),
        None => body,
    }
}

fn tenants_section(md: &mut String, s: &Summary) {
    if s.tenants.is_empty() {
        return;
    }
    md.push_str("### Throttling\n\n| tenant | offered | admitted | model admitted | accuracy error | wrongful 429s | over-admitted | Retry-After off by > 1 s | RateLimit-Remaining off by > 1 |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    let header_check = |c: crate::summary::HeaderCheck| {
        format!(
            "{} of {}",
            group_digits(c.off_by_more_than_one),
            group_digits(c.checked)
        )
    };
    for t in &s.tenants {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            text(&t.id),
            group_digits(t.offered),
            group_digits(t.admitted),
            group_digits(t.model_admitted),
            opt(t.accuracy_error, |e| format!("{:+.2}%", e * 100.0)),
            group_digits(t.wrongful_throttles),
            group_digits(t.over_admitted),
            opt(t.retry_after, header_check),
            opt(t.ratelimit_remaining, header_check)
        );
    }
    md.push('\n');
}

fn faults_section(md: &mut String, s: &Summary) {
    if s.faults.is_empty() {
        return;
    }
    md.push_str("### Faults\n\n| fault | action | target | at | reverted | first error after | error burst | bad requests | recovery | reintegration |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for f in &s.faults {
        let _ = writeln!(
            md,
            "| fault:{} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            f.index,
            text(&f.action),
            text(&f.target),
            secs(f.at_s),
            opt(f.reverted_at_s, secs),
            opt(f.time_to_first_error_s, secs),
            opt(f.error_burst_s, secs),
            opt(f.bad_requests, group_digits),
            text(&RecoveryState::describe(f)),
            opt(f.reintegration_s, secs)
        );
    }
    md.push('\n');
    for f in &s.faults {
        if let Some(why) = &f.not_attributed {
            let _ = writeln!(md, "Fault {}: {}.\n", f.index, text(why));
        }
    }
}

fn integrity_section(md: &mut String, s: &Summary) {
    store_integrity(md, s);
    if let Some(api) = &s.integrity.through_api {
        let _ = writeln!(
            md,
            "\n**Through the API:** {}.",
            text(&super::integrity::headline(api))
        );
        for (label, items) in super::integrity::examples(api, 20) {
            let _ = writeln!(md, "\n{}:\n", text(&label));
            for item in items {
                let _ = writeln!(md, "- {}", text(&item));
            }
        }
    }
}

fn store_integrity(md: &mut String, s: &Summary) {
    let i = &s.integrity;
    if i.checked {
        let lost = match i.lost {
            Some(n) => format!("{} lost", group_digits(n)),
            None => "none could be lost".to_string(),
        };
        let _ = writeln!(
            md,
            "### Integrity\n\n{} acknowledged writes: {lost}, {} duplicated.",
            group_digits(i.acknowledged_writes),
            opt(i.duplicates, group_digits)
        );
        if let Some(n) = i.unkeyed_duplicates.filter(|n| *n > 0) {
            let _ = writeln!(
                md,
                "\n{} orders were created without an idempotency key and acknowledged to nobody: duplicates of retried unkeyed writes.",
                group_digits(n)
            );
        }
    } else if s.integrity.through_api.is_some() {
        let _ = writeln!(
            md,
            "### Integrity\n\n{} acknowledged writes. In the stores: not measured: {}.",
            group_digits(i.acknowledged_writes),
            text(
                i.not_measured
                    .as_deref()
                    .unwrap_or("the store was not read back")
            )
        );
    } else {
        let _ = writeln!(
            md,
            "### Integrity\n\n{} acknowledged writes. Lost and duplicated writes: not measured: {}.",
            group_digits(i.acknowledged_writes),
            text(
                i.not_measured
                    .as_deref()
                    .unwrap_or("the store was not read back")
            )
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::tests::example;

    #[test]
    fn verdict_first_then_the_tables() {
        let md = render(&example());
        let first = md.lines().next().unwrap();
        assert!(
            first.starts_with("## ❌ FAIL: ninefold scenario"),
            "{first}"
        );
        assert!(first.ends_with("(exit 1)"), "{first}");
        let order = [
            "### SLOs",
            "### Availability",
            "### Latency",
            "### Faults",
            "### Integrity",
        ];
        let positions: Vec<usize> = order.iter().map(|h| md.find(h).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        assert!(
            md.contains("| integrity.lost\\_writes | == 0 | 2 | ❌ fail |"),
            "{md}"
        );
        assert!(
            md.contains("| fault:0 | kill | api\\[1\\] | 25.0s | 40.0s | 4.00ms | 1.80s |"),
            "{md}"
        );
        assert!(md.contains("2,995 requests without failure"), "{md}");
        assert!(md.contains("4,800 acknowledged writes: 2 lost, 0 duplicated."));
    }

    #[test]
    fn a_scaled_run_says_so() {
        let mut summary = example();
        assert!(!render(&summary).contains("Scaled run"));
        summary.time_scale = 0.25;
        let md = render(&summary);
        assert!(
            md.contains("Scaled run: every time in the scenario was multiplied by 0.25"),
            "{md}"
        );
    }

    #[test]
    fn cells_cannot_break_the_table_or_inject_html() {
        let mut summary = example();
        summary.slos[1].detail = "a | b <script>alert(1)</script>\nnext".into();
        let md = render(&summary);
        let row = md.lines().find(|l| l.contains("alert")).unwrap();
        assert!(
            row.contains("a \\| b &lt;script&gt;alert(1)&lt;/script&gt; next"),
            "{row}"
        );
        // Six unescaped pipes: the five cells' borders.
        let unescaped = row
            .match_indices('|')
            .filter(|(i, _)| *i == 0 || row.as_bytes()[i - 1] != b'\\')
            .count();
        assert_eq!(unescaped, 6, "{row}");
        assert!(!md.contains("<script>"));
        assert!(md.contains("failover &lt;&amp;&gt; &quot;quoted&quot; \\| piped"));
    }
}
