//! `deploy/grafana/ninefold.json` is a Grafana dashboard of the series ninefold
//! streams: it parses as one (a schemaVersion, panels with targets and
//! expressions), every query names only series the exporter sends
//! (`ninefold::run::export::series`) and labels they carry, and every series
//! the exporter sends is on some panel.

use std::collections::BTreeSet;
use std::path::Path;

use ninefold::run::export::series::{Kind, RUN_LABELS, SERIES, sample_names};
use serde_json::Value;

fn dashboard() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/ninefold.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Identifiers of a PromQL expression, with the text that follows each.
fn identifiers(expr: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = expr.char_indices().peekable();
    let mut in_string = false;
    while let Some((i, c)) = chars.next() {
        if c == '"' {
            in_string = !in_string;
            continue;
        }
        if in_string || !(c.is_ascii_alphabetic() || c == '_' || c == '$') {
            continue;
        }
        let mut end = i + c.len_utf8();
        while let Some(&(j, d)) = chars.peek() {
            if d.is_ascii_alphanumeric() || d == '_' {
                end = j + 1;
                chars.next();
            } else {
                break;
            }
        }
        out.push((expr[i..end].to_owned(), expr[end..].to_owned()));
    }
    out
}

/// The metric names and the label names an expression uses.
fn names_and_labels(expr: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut metrics, mut labels) = (BTreeSet::new(), BTreeSet::new());
    let ids = identifiers(expr);
    let mut in_by = false;
    for (id, after) in &ids {
        if id.starts_with("ninefold_") {
            metrics.insert(id.clone());
        } else if id == "by" || id == "without" {
            in_by = true;
            continue;
        } else if in_by
            || ["=~", "!~", "!=", "="]
                .iter()
                .any(|op| after.trim_start().starts_with(op))
        {
            labels.insert(id.clone());
        }
        if in_by && after.trim_start().starts_with(')') {
            in_by = false;
        }
    }
    (metrics, labels)
}

fn every_expr(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        let title = p["title"].as_str().unwrap().to_owned();
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{title}: no targets"));
        assert!(!targets.is_empty(), "{title}: no targets");
        for t in targets {
            let expr = t["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{title}: a target without expr"));
            assert!(!expr.trim().is_empty(), "{title}");
            out.push((title.clone(), expr.to_owned()));
        }
    }
    for a in d["annotations"]["list"].as_array().unwrap() {
        if let Some(expr) = a["expr"].as_str() {
            out.push((format!("annotation {}", a["name"]), expr.to_owned()));
        }
    }
    out
}

#[test]
fn the_grafana_dashboard_queries_only_series_we_send() {
    let d = dashboard();
    assert!(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 30),
        "schemaVersion"
    );
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(!d["panels"].as_array().unwrap().is_empty());
    let sent: BTreeSet<String> = sample_names().into_iter().collect();
    let mut labels: BTreeSet<String> = RUN_LABELS.iter().map(|s| (*s).to_owned()).collect();
    labels.insert("le".into());
    for s in SERIES {
        labels.extend(s.labels.iter().map(|l| (*l).to_owned()));
    }
    let mut used = BTreeSet::new();
    for (title, expr) in every_expr(&d) {
        let (metrics, label_names) = names_and_labels(&expr);
        assert!(
            !metrics.is_empty(),
            "{title}: {expr} names no ninefold series"
        );
        for m in &metrics {
            assert!(
                sent.contains(m),
                "{title}: {m} is not a series ninefold sends"
            );
        }
        for l in &label_names {
            assert!(labels.contains(l), "{title}: label {l} is on no series");
        }
        // Every query keeps to one run (the run variable).
        assert!(expr.contains("run=~\"$run\""), "{title}: {expr}");
        used.extend(metrics);
    }
    for s in SERIES {
        let shown = match s.kind {
            Kind::Histogram => used.iter().any(|u| u.starts_with(s.name)),
            _ => used.contains(s.name),
        };
        assert!(shown, "{} is on no panel", s.name);
    }
}

#[test]
fn the_expression_scanner_finds_names_and_labels() {
    let (m, l) = names_and_labels(
        r#"sum by (tenant) (rate(ninefold_requests_total{run=~"$run",outcome!~"ok|x_y"}[1m]))"#,
    );
    assert_eq!(
        m.into_iter().collect::<Vec<_>>(),
        ["ninefold_requests_total"]
    );
    assert_eq!(
        l.into_iter().collect::<Vec<_>>(),
        ["outcome", "run", "tenant"]
    );
}
