//! Every output says it: tests that build a summary from recorded results
//! and read what each renderer (terminal, Markdown, HTML, JUnit) makes of it.
//! The recorded results they start from are the summary tests' fixtures.

use std::path::Path;

use crate::analysis::slo::{RunHealth, RunVerdict, Verdict};
use crate::metrics::Recording;
use crate::results::RunResults;
use crate::scenario::Scenario;
use crate::summary::breakdown::tests::{BODY, SCENARIO, recording, results};
use crate::summary::build::tests::{acked, results_with, scenario};
use crate::summary::failover::analyse;
use crate::summary::failover::tests::never_recovers;
use crate::summary::tests::example;
use crate::summary::{RecoveryState, Summary, summarize};

/// Case 13 of issue 18: every output says where the errors were.
#[test]
fn every_output_breaks_errors_down_by_request_class_and_status_with_an_example_body() {
    let scenario = crate::scenario::load::parse_str("b.toml", SCENARIO, Path::new("."))
        .unwrap()
        .scenario;
    let results = results(recording());
    let summary = crate::summary::summarize(&scenario, &results, 1.0, false);
    summary_json_says_where_the_errors_were(&summary);
    terminal_says_where_the_errors_were(&summary);
    markdown_says_where_the_errors_were(&summary);
    html_says_where_the_errors_were(&summary, &scenario, &results);
    junit_says_where_the_errors_were(&summary);
}

/// The body on one line, as the text outputs show it.
const FLAT_BODY: &str = "{\"error\": \"PUT is <not> implemented\"}";

/// summary.json: the class, its status, its count and the body, as data.
fn summary_json_says_where_the_errors_were(summary: &Summary) {
    let json: serde_json::Value = serde_json::from_str(&summary.to_json().unwrap()).unwrap();
    let put = &json["breakdown"][0];
    assert_eq!(
        put["method"], "PUT",
        "the class with errors comes first: {json:#}"
    );
    assert_eq!(put["path"], "/items/{id}");
    assert_eq!(put["sent"], 88);
    assert_eq!(put["bad"], 88);
    assert_eq!(put["rows"][0]["status"], 501);
    assert_eq!(put["rows"][0]["outcome"], "server_error");
    assert_eq!(put["rows"][0]["count"], 88);
    assert_eq!(put["rows"][0]["example_body"], BODY);
    let get = &json["breakdown"][1];
    assert_eq!(
        (&get["method"], &get["path"], &get["bad"]),
        (&"GET".into(), &"/items/{rand:1..100}".into(), &0.into())
    );
    assert_eq!(get["rows"][0]["status"], 200);
    assert_eq!(get["rows"][0]["outcome"], "ok");
    assert_eq!(get["rows"][0]["count"], 100);
    assert!(
        get["rows"][0]["example_body"].is_null(),
        "ok bodies are not kept"
    );
}

fn terminal_says_where_the_errors_were(summary: &Summary) {
    let terminal = super::terminal::render(summary, super::terminal::Style::Plain);
    let line = terminal
        .lines()
        .find(|l| l.contains("501"))
        .unwrap_or_else(|| panic!("a 501 line:\n{terminal}"));
    assert!(
        terminal.contains("PUT /items/{id}  88 sent, 88 bad"),
        "{terminal}"
    );
    assert!(
        line.contains("server_error") && line.contains("88"),
        "{line}"
    );
    assert!(line.contains(&format!("body: {FLAT_BODY}")), "{line}");
    assert!(
        terminal.contains("GET /items/{rand:1..100}  100 sent, 0 bad: 200 ok ×100"),
        "{terminal}"
    );
}

fn markdown_says_where_the_errors_were(summary: &Summary) {
    let md = super::markdown::render(summary);
    let row = md
        .lines()
        .find(|l| l.contains("| 501 |"))
        .unwrap_or_else(|| panic!("a 501 row:\n{md}"));
    assert!(
        row.starts_with("| PUT /items/{id} | 88 | 88 | 501 | server\\_error | 88 |"),
        "{row}"
    );
    assert!(
        row.contains("{&quot;error&quot;: &quot;PUT is &lt;not&gt; implemented&quot;}"),
        "the body, escaped for Markdown: {row}"
    );
}

fn html_says_where_the_errors_were(summary: &Summary, scenario: &Scenario, results: &RunResults) {
    let html = super::html::render(summary, scenario, SCENARIO, results);
    let doc = scraper::Html::parse_document(&html);
    let sel = scraper::Selector::parse("section#classes tbody tr").unwrap();
    let rows: Vec<String> = doc
        .select(&sel)
        .map(|r| r.text().collect::<Vec<_>>().join("|"))
        .collect();
    assert_eq!(
        rows[0],
        format!("PUT /items/{{id}}|88|88|501|server_error|88|{BODY}"),
        "{rows:?}"
    );
    assert!(
        html.contains("PUT is &lt;not&gt; implemented"),
        "the body goes through the one escaping path"
    );
    assert!(!html.contains("<not>"));
}

fn junit_says_where_the_errors_were(summary: &Summary) {
    let xml = super::junit::render(summary);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("availability 100 of 188 fails >= 99%");
    let text = failure.text().unwrap();
    assert!(
        text.contains(&format!(
            "PUT /items/{{id}} → 501 server_error × 88; example body: {FLAT_BODY}"
        )),
        "{text}"
    );
}

/// Case 6 of issue 18: against external backends nothing reads the store
/// back, so "0 lost, 0 duplicates" would be a claim nobody checked.
#[test]
fn zero_lost_is_not_claimed_when_nothing_was_checked() {
    let s = scenario(
        "targets = [\"127.0.0.1:9\"]",
        "\"integrity.lost_writes\" = \"== 0\"\n\"integrity.duplicates\" = \"== 0\"",
    );
    // 12 writes acknowledged by the external service; no store read back
    // (the runner reads only managed pools).
    let recording = Recording {
        ledger: (0..12)
            .map(|i| acked(&format!("k{i}"), &format!("o{i}")))
            .collect(),
        ..Recording::default()
    };
    let summary = summarize(&s, &results_with(recording, Vec::new()), 1.0, false);
    let i = &summary.integrity;
    assert!(!i.checked);
    assert_eq!(i.acknowledged_writes, 12);
    assert_eq!(
        (i.lost, i.duplicates, i.unkeyed_duplicates),
        (None, None, None)
    );
    let why =
        "the backends of pool api are external (targets), so ninefold cannot read their store";
    assert_eq!(i.not_measured.as_deref(), Some(why));
    // Null in summary.json, never 0.
    let json: serde_json::Value = serde_json::from_str(&summary.to_json().unwrap()).unwrap();
    for field in ["lost", "duplicates", "unkeyed_duplicates"] {
        assert!(
            json["integrity"][field].is_null(),
            "{field}: {}",
            json["integrity"]
        );
    }
    // Each SLO on it is undecided, with the true reason; so is the run.
    for slo in &summary.slos {
        assert_eq!(
            slo.verdict,
            crate::analysis::Verdict::NotMeasured,
            "{slo:?}"
        );
        assert_eq!(slo.measured, None);
        assert_eq!(slo.detail, format!("not measured: {why}"));
    }
    assert_eq!(summary.verdict, crate::analysis::RunVerdict::Inconclusive);
    assert_eq!(summary.exit_code, 4);
    let md = super::markdown::render(&summary);
    assert!(md.contains("Lost and duplicated writes: not measured: the backends of pool api are external (targets)"), "{md}");
    assert!(!md.contains("0 lost"), "{md}");
    let junit = super::junit::render(&summary);
    assert!(junit.contains("external (targets)"), "{junit}");
    let text = super::terminal::render(&summary, super::terminal::Style::Plain);
    assert!(
        text.contains(
            "lost and duplicated writes not measured: the backends of pool api are external"
        ),
        "{text}"
    );
}

/// Case 1 of issue 18: a service that never came back had "recovery 0 ms, PASS".
#[test]
fn failover_recovery_fails_when_the_service_never_recovers() {
    let (s, r) = never_recovers(
        "\"failover.recovery\" = \"< 5s\"\n\"failover.recovery{window=fault:0}\" = \"< 30s\"",
    );
    let f = &analyse(&s, &r, None)[0];
    assert_eq!(f.recovery, RecoveryState::NotRecovered);
    assert_eq!(f.recovery_s, None);
    // Run end 20 s − fault 5 s.
    assert_eq!(f.not_recovered_for_s, Some(15.0));
    assert_eq!(f.time_to_first_error_s, Some(0.0));
    assert_eq!((f.error_burst_s, f.bad_requests), (Some(15.0), Some(1_500)));
    assert_eq!(RecoveryState::describe(f), "not recovered (≥ 15.0s)");

    let summary = crate::summary::summarize(&s, &r, 1.0, false);
    let (under_5s, under_30s) = (&summary.slos[0], &summary.slos[1]);
    assert_eq!(
        under_5s.verdict,
        crate::analysis::Verdict::Fail,
        "{under_5s:?}"
    );
    assert_eq!(under_5s.measured, None);
    assert_eq!(
        under_5s.measured_display.as_deref(),
        Some("not recovered (≥ 15.0s)")
    );
    assert_eq!(under_5s.lower_bound, Some(15.0));
    assert!(
        under_5s.detail.contains("misses < 5s"),
        "{}",
        under_5s.detail
    );
    // At least 15 s says nothing about < 30 s.
    assert_eq!(
        under_30s.verdict,
        crate::analysis::Verdict::Inconclusive,
        "{under_30s:?}"
    );
    assert_eq!(summary.verdict, crate::analysis::RunVerdict::Fail);
    assert_eq!(summary.exit_code, 1);

    let json: serde_json::Value = serde_json::from_str(&summary.to_json().unwrap()).unwrap();
    let fault = &json["faults"][0];
    assert_eq!(fault["recovery"], "not_recovered");
    assert!(fault["recovery_s"].is_null(), "{fault}");
    assert_eq!(fault["not_recovered_for_s"], 15.0);
    let md = super::markdown::render(&summary);
    assert!(md.contains("| not recovered (≥ 15.0s) |"), "{md}");
    let text = super::terminal::render(&summary, super::terminal::Style::Plain);
    assert!(
        text.contains("fault 0 (kill api-0 at 5.0s): not recovered (≥ 15.0s)"),
        "{text}"
    );
    assert!(
        text.contains("measured not recovered (≥ 15.0s) vs objective < 5s"),
        "{text}"
    );
}

/// Case 9 of issue 18 (report side): with an external gateway the mock
/// backends ninefold starts carry none of the traffic, so the errors of
/// the external service are not the kill's doing.
#[test]
fn a_fault_on_a_target_no_request_passes_through_has_no_effect_on_the_measured_traffic() {
    let (s, mut r) = never_recovers("\"failover.recovery\" = \"< 5s\"");
    let mut s = s;
    s.gateway.target = crate::scenario::model::GatewayTarget::External {
        url: "http://127.0.0.1:9/".into(),
    };
    // The external service answers, badly, whatever ninefold's backends do.
    for sec in &mut r.recording.seconds {
        sec.instances.clear();
    }
    let f = &analyse(&s, &r, None)[0];
    assert_eq!(f.recovery, RecoveryState::NoEffect);
    assert_eq!(
        (
            f.bad_requests,
            f.time_to_first_error_s,
            f.error_burst_s,
            f.not_recovered_for_s
        ),
        (None, None, None, None)
    );
    let why = f.not_attributed.as_deref().unwrap();
    assert!(
        why.starts_with(
            "no effect on the measured traffic: api-0 is not on the path of any request"
        ),
        "{why}"
    );
    let summary = crate::summary::summarize(&s, &r, 1.0, false);
    assert_eq!(
        summary.slos[0].verdict,
        crate::analysis::Verdict::NotMeasured
    );
    assert!(
        summary.slos[0]
            .detail
            .contains("no effect on the measured traffic")
    );
    let md = super::markdown::render(&summary);
    assert!(
        md.contains("Fault 0: no effect on the measured traffic"),
        "{md}"
    );

    // Behind the bundled gateway, a backend that served no request of the
    // run while its pool answered before the fault carried none either.
    let (s, mut r) = never_recovers("");
    for sec in &mut r.recording.seconds {
        sec.instances.clear();
        sec.instances.insert("api-1".into(), 100);
    }
    let f = &analyse(&s, &r, None)[0];
    assert_eq!(f.recovery, RecoveryState::NoEffect);
    let why = f.not_attributed.as_deref().unwrap();
    // Seconds 0–4 come before the fault at 5 s, 100 answers each.
    assert!(
        why.contains(
            "api-0 served no request of the run, while its pool answered 500 before the fault"
        ),
        "{why}"
    );
    // Without answers from its pool before the fault, nothing shows it carried no traffic.
    for sec in r.recording.seconds.iter_mut().take(5) {
        sec.instances.clear();
    }
    assert_eq!(analyse(&s, &r, None)[0].not_attributed, None);
}

/// Case 2 of issue 18: an interrupted run's numbers cover only part of it, so
/// whatever its SLOs say the verdict is withheld, never a pass.
#[test]
fn summary_decide_never_yields_pass_for_a_partial_run() {
    let mut summary = example();
    for slo in &mut summary.slos {
        slo.verdict = Verdict::Pass;
    }
    summary.decide(RunHealth::default());
    assert_eq!((summary.verdict, summary.exit_code), (RunVerdict::Pass, 0));
    summary.partial = true;
    for health in [
        RunHealth::default(),
        RunHealth {
            interrupted: true,
            ..RunHealth::default()
        },
        RunHealth {
            invalid: true,
            ..RunHealth::default()
        },
    ] {
        summary.decide(health);
        assert_eq!(summary.verdict, RunVerdict::Interrupted, "{health:?}");
        assert_eq!(summary.exit_code, 6, "{health:?}");
    }
    summary.decide(RunHealth {
        broken: true,
        ..RunHealth::default()
    });
    assert_eq!(
        (summary.verdict, summary.exit_code),
        (RunVerdict::Broken, 3)
    );
    summary.decide(RunHealth::default());
    let json: serde_json::Value = serde_json::from_str(&summary.to_json().unwrap()).unwrap();
    assert_eq!(
        (json["verdict"].as_str(), json["partial"].as_bool()),
        (Some("interrupted"), Some(true))
    );
    assert!(super::markdown::render(&summary).contains("INTERRUPTED"));
    assert!(super::junit::render(&summary).contains("RunInterrupted"));
}
