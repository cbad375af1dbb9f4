//! The steps of each flow phase (`summary.flows`), in order: the terminal's
//! `flows:` lines, `summary.md`'s *Flows* table and `report.html`'s *Flows*
//! section. Nothing is written for a run without flow phases.

use std::fmt::Write;

use crate::format::group_digits;
use crate::summary::Percentiles;
use crate::summary::flows::{FlowStepSummary, FlowSummary};

/// `p50 / p99` of a step's latency in ms, or `—` when none was answered.
fn latency(p: Option<&Percentiles>) -> String {
    p.map_or_else(|| "—".into(), |p| format!("{:.2} / {:.2}", p.p50, p.p99))
}

/// `1. POST /orders`.
fn label(st: &FlowStepSummary) -> String {
    format!("{}. {} {}", st.step, st.method, st.path)
}

/// The flows, a line per step (`run`'s end-of-run summary).
pub fn terminal(out: &mut String, flows: &[FlowSummary], clean: impl Fn(&str) -> String) {
    for f in flows {
        let _ = writeln!(
            out,
            "  flow {}: {} started, {} completed",
            clean(&f.phase),
            group_digits(f.started),
            group_digits(f.completed)
        );
        for st in &f.steps {
            let mut line = format!(
                "    {}  {} sent, {} good",
                clean(&label(st)),
                group_digits(st.sent),
                group_digits(st.good)
            );
            for (n, what) in [
                (st.check_failed, "check_failed"),
                (st.failed, "failed"),
                (st.skipped, "skipped"),
                (st.dropped, "dropped"),
            ] {
                if n > 0 {
                    let _ = write!(line, ", {} {what}", group_digits(n));
                }
            }
            let _ = write!(line, "  p50/p99 {} ms", latency(st.latency_ms.as_ref()));
            let _ = writeln!(out, "{line}");
        }
    }
}

/// The *Flows* table of `summary.md`; `text` escapes a cell.
pub fn markdown(md: &mut String, flows: &[FlowSummary], text: impl Fn(&str) -> String) {
    if flows.is_empty() {
        return;
    }
    md.push_str("### Flows\n\n| flow | step | sent | good | check failed | failed | skipped | dropped | latency p50 / p99 (ms) |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for f in flows {
        for (i, st) in f.steps.iter().enumerate() {
            let flow = if i == 0 {
                text(&format!(
                    "{} ({} started, {} completed)",
                    f.phase,
                    group_digits(f.started),
                    group_digits(f.completed)
                ))
            } else {
                String::new()
            };
            let _ = writeln!(
                md,
                "| {flow} | {} | {} | {} | {} | {} | {} | {} | {} |",
                text(&label(st)),
                group_digits(st.sent),
                group_digits(st.good),
                group_digits(st.check_failed),
                group_digits(st.failed),
                group_digits(st.skipped),
                group_digits(st.dropped),
                latency(st.latency_ms.as_ref()),
            );
        }
    }
    md.push('\n');
}

/// The *Flows* section of `report.html`; `e` escapes HTML.
pub fn html(html: &mut String, flows: &[FlowSummary], e: impl Fn(&str) -> String) {
    if flows.is_empty() {
        return;
    }
    html.push_str("<section id=\"flows\"><h2>Flows</h2>");
    html.push_str("<p class=\"note\">Each flow phase's steps in the order a flow sends them. A step's latency runs from when it could have been sent: the flow's intended instant for the first step, the previous step's answer for the others. A step whose value an earlier step should have extracted was missing is not sent (skipped).</p>");
    html.push_str("<table class=\"classes\"><thead><tr><th>flow</th><th>step</th><th>sent</th><th>good</th><th>check failed</th><th>failed</th><th>skipped</th><th>dropped</th><th>latency p50 / p99 (ms)</th></tr></thead><tbody>");
    for f in flows {
        let span = f.steps.len().max(1);
        let _ = write!(
            html,
            "<tr><td rowspan=\"{span}\"><code>{}</code><br>{} started, {} completed</td>",
            e(&f.phase),
            group_digits(f.started),
            group_digits(f.completed)
        );
        if f.steps.is_empty() {
            html.push_str("<td colspan=\"8\">–</td></tr>");
        }
        for (i, st) in f.steps.iter().enumerate() {
            if i > 0 {
                html.push_str("<tr>");
            }
            let _ = write!(
                html,
                "<td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                e(&label(st)),
                group_digits(st.sent),
                group_digits(st.good),
                group_digits(st.check_failed),
                group_digits(st.failed),
                group_digits(st.skipped),
                group_digits(st.dropped),
                latency(st.latency_ms.as_ref()).replace('—', "–"),
            );
        }
    }
    html.push_str("</tbody></table></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flows() -> Vec<FlowSummary> {
        let step = |step, method: &str, sent, skipped, answered: bool| FlowStepSummary {
            step,
            method: method.into(),
            path: "/orders/{order_id}".into(),
            sent,
            good: sent - 1,
            check_failed: 1,
            failed: 0,
            skipped,
            dropped: 0,
            latency_ms: answered.then_some(Percentiles {
                count: sent,
                p50: 1.5,
                p90: 2.0,
                p99: 3.25,
                p999: 4.0,
                max: 5.0,
            }),
            service_time_ms: None,
        };
        vec![FlowSummary {
            phase: "crud<x>".into(),
            started: 10,
            completed: 8,
            steps: vec![step(1, "POST", 10, 0, true), step(2, "GET", 9, 1, false)],
        }]
    }

    #[test]
    fn steps_in_order_with_what_is_not_measured_as_a_dash() {
        let mut out = String::new();
        terminal(&mut out, &flows(), str::to_owned);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "  flow crud<x>: 10 started, 8 completed");
        assert_eq!(
            lines[1],
            "    1. POST /orders/{order_id}  10 sent, 9 good, 1 check_failed  p50/p99 1.50 / 3.25 ms"
        );
        assert!(
            lines[2].starts_with("    2. GET") && lines[2].ends_with(", 1 skipped  p50/p99 — ms")
        );
        let mut md = String::new();
        markdown(&mut md, &flows(), crate::report::markdown::text);
        assert!(md.starts_with("### Flows\n"), "{md}");
        let rows: Vec<&str> = md.lines().skip(4).filter(|l| !l.is_empty()).collect();
        assert_eq!(rows.len(), 2, "{md}");
        assert!(
            rows[0].contains("(10 started, 8 completed)") && rows[0].ends_with("| 1.50 / 3.25 |"),
            "{md}"
        );
        assert!(
            rows[1].starts_with("|  | 2") && rows[1].ends_with("| 9 | 8 | 1 | 0 | 1 | 0 | — |"),
            "{md}"
        );
        let mut html_out = String::new();
        html(&mut html_out, &flows(), crate::report::html::escape::escape);
        assert!(
            html_out.contains("<code>crud&lt;x&gt;</code>"),
            "{html_out}"
        );
        // One row per step: the flow's cell spans them.
        assert_eq!(html_out.matches("</tr>").count(), 3, "head and two steps");
        assert!(html_out.contains("<td rowspan=\"2\">"), "{html_out}");
        let mut none = String::new();
        markdown(&mut none, &[], str::to_owned);
        html(&mut none, &[], str::to_owned);
        terminal(&mut none, &[], str::to_owned);
        assert!(none.is_empty());
    }
}
