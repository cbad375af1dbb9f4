//! `report.html`, `ninefold report` and `ninefold compare` on real runs: two
//! short runs (8 s, 40 requests/s on loopback, a kill and a replacement), one
//! of them with 80 ms of backend latency added, shared by every test here.
//!
//! The HTML is parsed with scraper (html5ever): every section is there, chart
//! sections hold SVG, faults are drawn as bands, nothing points outside the
//! file, and `<script>` from a scenario or an error message comes out as text.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use scraper::{Html, Selector};

const SCENARIO: &str = r#"
name = "report-e2e"
description = "Report test <script>alert('description')</script> & friends"
duration = "8s"
seed = 5

[gateway]
instances = 1

[gateway.auth]
algorithm = "HS256"
secret = "report-test-secret"
issuer = "https://auth.example"
audience = "report-api"
tenant_claim = "tenant_id"

[[gateway.routes]]
path = "/items"
upstream = "api"
methods = ["GET"]
retry = { attempts = 3, per_try_timeout = "500ms" }

[upstreams.api]
instances = 2
balance = "round-robin"
health = { interval = "200ms", timeout = "100ms", unhealthy_after = 1, healthy_after = 1 }
restart = { after = "2s" }
latency = { fixed = "LATENCY" }

[[tenants]]
id = "acme"
plan = { rate = 100, burst = 100 }

[[tenants]]
id = "small"
plan = { rate = 5, burst = 5 }

[[traffic]]
executor = "constant-arrival-rate"
rate = 40
tenants = { acme = 0.75, small = 0.25 }
expect = [200, 429]
requests = [{ path = "/items/{rand:1..100}" }]

[[faults]]
at = "2s"
action = "kill"
target = "api[1]"

[slo]
availability = ">= 90%"
"latency.p99" = "< 2s"
"#;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ninefold"))
}

fn root() -> PathBuf {
    std::env::temp_dir().join(format!("ninefold-report-{}", std::process::id()))
}

/// Run the scenario with `latency` of backend latency into `root()/name`.
fn run(name: &str, latency: &str) -> PathBuf {
    let dir = root().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("scenario.toml.in");
    std::fs::write(&file, SCENARIO.replace("LATENCY", latency)).unwrap();
    let out = dir.join("run");
    let output = bin()
        .args([
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.join("report.html").is_file(),
        "the run wrote report.html (exit {:?})\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

/// The base run (1 ms backends), shared.
fn base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| run("base", "1ms"))
}

/// The same run with 80 ms backends, shared.
fn slow() -> &'static Path {
    static SLOW: OnceLock<PathBuf> = OnceLock::new();
    SLOW.get_or_init(|| run("slow", "80ms"))
}

/// A copy of a run folder's files (not its logs or store) to modify.
fn copy(from: &Path, name: &str) -> PathBuf {
    let to = root().join(name);
    let _ = std::fs::remove_dir_all(&to);
    std::fs::create_dir_all(&to).unwrap();
    for f in [
        "results.json",
        "scenario.toml",
        "summary.json",
        "report.html",
    ] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    to
}

fn html(dir: &Path) -> (String, Html) {
    let text = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let doc = Html::parse_document(&text);
    (text, doc)
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

fn ninefold(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

/// Stderr of a finished command, which must never be a panic.
fn stderr(o: &Output) -> String {
    let text = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!text.contains("panicked"), "{text}");
    text
}

// Long: the report's sections listed and checked one by one, in page order.
#[test]
fn every_section_is_there_with_charts_and_fault_bands() {
    let (_, doc) = html(base());
    for id in [
        "verdict",
        "slos",
        "availability",
        "classes",
        "latency",
        "timeseries",
        "tenants",
        "instances",
        "failover",
        "integrity",
        "metadata",
        "scenario",
    ] {
        assert!(
            doc.select(&sel(&format!("section#{id}"))).next().is_some(),
            "section {id}"
        );
    }
    for (id, charts) in [
        ("latency", 1),
        ("timeseries", 4),
        ("tenants", 2),
        ("instances", 1),
    ] {
        let n = doc.select(&sel(&format!("section#{id} svg"))).count();
        assert!(n >= charts, "section {id} has {n} charts, wants {charts}");
    }
    let banner = doc.select(&sel("section#verdict .word")).next().unwrap();
    assert!(
        ["PASS", "FAIL", "INCONCLUSIVE", "INVALID"]
            .iter()
            .any(|w| banner.text().collect::<String>().starts_with(w)),
        "a verdict word"
    );
    let reason: String = doc
        .select(&sel("section#verdict .reason"))
        .next()
        .unwrap()
        .text()
        .collect();
    assert!(!reason.trim().is_empty(), "the verdict says why");
    // The kill at 2 s is a labelled band in every time series; the replacement a marker.
    let legend: String = doc
        .select(&sel("section#timeseries table.faults"))
        .next()
        .expect("a fault legend")
        .text()
        .collect();
    assert!(legend.contains("fault:0") && legend.contains("kill") && legend.contains("api-1"));
    assert!(legend.contains("R1"), "the replacement is marked: {legend}");
    let series = doc.select(&sel("section#timeseries svg")).next().unwrap();
    assert!(
        series
            .select(&sel("text"))
            .any(|t| t.text().collect::<String>().trim() == "fault:0"),
        "band label in the chart"
    );
    assert!(
        series.select(&sel("rect")).count() >= 2,
        "background and band"
    );
    let slo_rows = doc.select(&sel("section#slos tbody tr")).count();
    assert_eq!(slo_rows, 2);
    let failover: String = doc
        .select(&sel("section#failover"))
        .next()
        .unwrap()
        .text()
        .collect();
    assert!(failover.contains("kill"));
    let scenario: String = doc
        .select(&sel("section#scenario pre"))
        .next()
        .unwrap()
        .text()
        .collect();
    assert!(
        scenario.contains("<redacted>"),
        "the JWT secret is redacted"
    );
    assert!(!scenario.contains("report-test-secret"));
    let meta: String = doc
        .select(&sel("section#metadata"))
        .next()
        .unwrap()
        .text()
        .collect();
    assert!(meta.contains("seed") && meta.contains('5'));
    // Where the requests went: the one class, with its statuses.
    let classes: Vec<String> = doc
        .select(&sel("section#classes tbody tr"))
        .map(|r| r.text().collect::<Vec<_>>().join("|"))
        .collect();
    assert!(
        classes[0].starts_with("GET /items/{rand:1..100}|"),
        "{classes:?}"
    );
    assert!(
        classes.iter().any(|r| r.contains("|200|ok|")),
        "{classes:?}"
    );
}

#[test]
fn nothing_points_outside_the_file() {
    let (text, doc) = html(base());
    for tag in ["script", "link", "img", "iframe", "object", "embed", "use"] {
        assert_eq!(doc.select(&sel(tag)).count(), 0, "no <{tag}>");
    }
    assert_eq!(doc.select(&sel("[src]")).count(), 0, "no src attribute");
    for el in doc.select(&sel("[href]")) {
        let href = el.value().attr("href").unwrap();
        assert!(href.starts_with('#'), "href {href} leaves the page");
    }
    // URLs may appear only as displayed scenario text (the JWT issuer).
    let start = text.find("<section id=\"scenario\"").unwrap();
    let end = start + text[start..].find("</section>").unwrap();
    let outside = format!("{}{}", &text[..start], &text[end..]);
    for needle in ["http://", "https://", "url(", "@import", "//cdn"] {
        assert!(
            !outside.contains(needle),
            "{needle} outside the scenario text"
        );
    }
}

#[test]
fn script_from_a_scenario_or_an_error_is_text() {
    let dir = copy(base(), "escaped");
    // An error message as a fault step or a store read-back would report it.
    let results = std::fs::read_to_string(dir.join("results.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&results).unwrap();
    json["faults"][0]["error"] = "<script>alert('fault')</script>".into();
    json["stores"][0]["error"] = "<script>alert('store')</script>".into();
    json["stores"][0]["orders"] = serde_json::Value::Null;
    std::fs::write(dir.join("results.json"), json.to_string()).unwrap();
    let o = ninefold(&["report", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (text, doc) = html(&dir);
    assert_eq!(doc.select(&sel("script")).count(), 0, "no script element");
    assert!(!text.contains("<script"), "no raw <script anywhere");
    let all: String = doc.root_element().text().collect();
    for shown in [
        "<script>alert('description')</script> & friends",
        "<script>alert('fault')</script>",
        "<script>alert('store')</script>",
    ] {
        assert!(all.contains(shown), "{shown} shown as text");
    }
}

#[test]
fn report_re_renders_the_same_bytes() {
    let dir = copy(base(), "rerender");
    let before = std::fs::read(dir.join("report.html")).unwrap();
    let summary_before = std::fs::read(dir.join("summary.json")).unwrap();
    // The copy has no series.csv: the re-render writes the run's own again.
    let csv_before = std::fs::read(base().join("series.csv")).unwrap();
    std::fs::remove_file(dir.join("report.html")).unwrap();
    let o = ninefold(&["report", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        std::fs::read(dir.join("report.html")).unwrap() == before,
        "report.html re-rendered byte for byte"
    );
    assert_eq!(
        std::fs::read(dir.join("summary.json")).unwrap(),
        summary_before
    );
    assert_eq!(std::fs::read(dir.join("series.csv")).unwrap(), csv_before);
    for f in ["junit.xml", "summary.md", "histograms.hlog"] {
        assert!(dir.join(f).is_file(), "{f} re-rendered too");
    }
}

#[test]
fn compare_of_a_run_with_itself_finds_nothing() {
    let out = root().join("compare-self");
    let b = base().to_str().unwrap();
    let o = ninefold(&["compare", b, b, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(md.contains("no significant regression"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    assert_eq!(json["regressions"], 0);
    assert!(
        json["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["finding"] == "unchanged" || r["finding"] == "untested"),
        "{json:#}"
    );
}

#[test]
fn compare_finds_added_latency() {
    let (b, s) = (base().to_str().unwrap(), slow().to_str().unwrap());
    let o = ninefold(&["compare", b, s]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a regression gates\n{stdout}\n{}",
        stderr(&o)
    );
    assert!(stdout.contains("REGRESSION"), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(slow().join("compare.json")).unwrap())
            .unwrap();
    let p50 = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"] == "latency" && r["metric"] == "p50")
        .unwrap();
    assert_eq!(p50["finding"], "regressed", "{p50:#}");
    // The other way round it is an improvement, and does not gate.
    let out = root().join("compare-back");
    let o = ninefold(&["compare", s, b, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn bad_inputs_exit_2_with_a_clear_message() {
    let missing = root().join("no-such-run");
    let o = ninefold(&["report", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no such folder"), "{}", stderr(&o));

    let garbage = root().join("garbage");
    std::fs::create_dir_all(&garbage).unwrap();
    std::fs::write(garbage.join("results.json"), "{ not json").unwrap();
    let o = ninefold(&["report", garbage.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not the results of a ninefold run"),
        "{}",
        stderr(&o)
    );

    let empty = root().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let b = base().to_str().unwrap();
    let o = ninefold(&["compare", b, empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing"), "{}", stderr(&o));

    let o = ninefold(&["compare", garbage.to_str().unwrap(), b]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    let o = ninefold(&["compare", b, b, "--threshold", "lots"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--threshold"), "{}", stderr(&o));

    let no_scenario = copy(base(), "no-scenario");
    std::fs::write(no_scenario.join("scenario.toml"), "name = 3").unwrap();
    let o = ninefold(&["report", no_scenario.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does not load"), "{}", stderr(&o));
}
