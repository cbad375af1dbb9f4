//! `compare.md`: a [`Comparison`] of two runs as GitHub-flavoured Markdown,
//! printed by `ninefold compare` and written beside the new run.

use std::fmt::Write;

use super::markdown::text;
use crate::format::format_percent;
use crate::summary::compare::{Comparison, Finding, Row};

/// Render the comparison.
pub fn markdown(c: &Comparison) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## {} ninefold compare: {}\n",
        if c.regressions > 0 { "❌" } else { "✅" },
        if c.regressions > 0 {
            format!(
                "{} significant regression(s) beyond {}",
                c.regressions,
                pct(c.threshold)
            )
        } else {
            format!("no significant regression beyond {}", pct(c.threshold))
        }
    );
    let _ = writeln!(
        md,
        "Base: {}  \nNew: {}  \nA difference is significant at p < {} (or, for failover times, beyond the 1 s resolution); a regression is a significant worsening larger than the threshold.\n",
        text(&c.base),
        text(&c.new),
        c.alpha
    );
    let mut group = "";
    for row in &c.rows {
        if row.group != group {
            group = &row.group;
            let _ = writeln!(
                md,
                "\n### {}\n\n| metric | base | new | change | test | p | finding |\n| --- | --- | --- | --- | --- | --- | --- |",
                text(group)
            );
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            text(&row.metric),
            value(row, row.base),
            value(row, row.new),
            row.change
                .map_or("–".into(), |c| format!("{:+.1}%", c * 100.0)),
            text(&row.test),
            row.p_value.map_or("–".into(), p_value),
            finding(row.finding),
        );
    }
    md.push('\n');
    md
}

fn p_value(p: f64) -> String {
    if p >= 0.001 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

fn pct(f: f64) -> String {
    let t = format!("{:.2}", f * 100.0);
    format!("{}%", t.trim_end_matches('0').trim_end_matches('.'))
}

fn value(row: &Row, v: Option<f64>) -> String {
    let Some(v) = v else { return "–".into() };
    match row.unit.as_str() {
        "ms" => format!("{v:.2} ms"),
        "s" => format!("{v:.2} s"),
        _ if row.group == "availability" => format_percent(v),
        _ => format!("{:.2}%", v * 100.0),
    }
}

fn finding(f: Finding) -> String {
    match f {
        Finding::Regressed => format!("❌ **{}**", f.label()),
        Finding::Improved => format!("✅ {}", f.label()),
        Finding::WorseWithinThreshold => format!("⚠️ {}", f.label()),
        _ => f.label().to_string(),
    }
}
