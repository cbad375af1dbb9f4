//! `junit.xml`: one test case per SLO, for CI test-report views.
//!
//! The shape is the common subset GitHub (test-reporter / dorny), GitLab
//! (`artifacts:reports:junit`) and Jenkins (JUnit plugin) all read: a
//! `<testsuites>` root carrying totals, one `<testsuite>` with `tests`,
//! `failures`, `errors`, `skipped`, `time` and `timestamp`, and a `<testcase>`
//! per SLO with `name`, `classname` and `time`. A failed SLO carries a
//! `<failure>` whose message is measured vs objective; an inconclusive or
//! unmeasured one a `<skipped>` with the reason, since CI has no "unknown".
//! An invalid or broken run adds one `run` test case with an `<error>`, so a
//! report that only shows test results still says the numbers are not to be
//! trusted. Every text goes through [`escape`], the one escaping path.

use std::fmt::Write;

use crate::analysis::slo::{RunVerdict, Verdict};
use crate::summary::{SloResult, Summary};

/// Escape text for XML attribute values and character data. Characters XML 1.0
/// cannot carry at all (most C0 controls) become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Kept as references so attribute values keep their line breaks.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Render the JUnit XML of a run.
pub fn render(summary: &Summary) -> String {
    let run_error = run_error(summary);
    let tests = summary.slos.len() + usize::from(run_error.is_some());
    let failures = count(summary, |v| v == Verdict::Fail);
    let skipped = count(summary, |v| {
        matches!(v, Verdict::Inconclusive | Verdict::NotMeasured)
    });
    let errors = usize::from(run_error.is_some());
    let time = format!("{:.3}", summary.duration_s.max(0.0));
    let suite = escape(&format!("ninefold.{}", summary.scenario));
    let stamp = escape(&summary.started_at);

    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"ninefold\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time}\" timestamp=\"{stamp}\">"
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{suite}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time}\" timestamp=\"{stamp}\" hostname=\"localhost\" id=\"0\">"
    );
    xml.push_str("    <properties>\n");
    let properties = [
        ("scenario", summary.scenario.clone()),
        ("seed", summary.seed.to_string()),
        ("verdict", summary.verdict.label().to_lowercase()),
        ("exit_code", summary.exit_code.to_string()),
        ("ninefold_version", summary.ninefold_version.clone()),
    ];
    for (name, value) in properties {
        let _ = writeln!(
            xml,
            "      <property name=\"{}\" value=\"{}\"/>",
            escape(name),
            escape(&value)
        );
    }
    if let Some(api) = &summary.integrity.through_api {
        // Only when declared, so the files of other runs keep their bytes.
        let _ = writeln!(
            xml,
            "      <property name=\"integrity_through_api\" value=\"{}\"/>",
            escape(&super::integrity::headline(api))
        );
    }
    if summary.tls_insecure {
        // Only when true, so the files of verified runs keep their bytes.
        xml.push_str("      <property name=\"tls_insecure\" value=\"true\"/>\n");
    }
    xml.push_str("    </properties>\n");
    let where_bad = where_bad(summary);
    let api_examples = api_examples(summary);
    for slo in &summary.slos {
        let context = if slo.name.starts_with("integrity.") {
            format!("{where_bad}{api_examples}")
        } else {
            where_bad.clone()
        };
        testcase(&mut xml, &suite, slo, &context);
    }
    if let Some((kind, message, body)) = run_error {
        let _ = writeln!(
            xml,
            "    <testcase name=\"run\" classname=\"{suite}\" time=\"{time}\">\n      <error message=\"{}\" type=\"{kind}\">{}</error>\n    </testcase>",
            escape(&message),
            escape(&body)
        );
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// The through-API examples (lost keys and ids, duplicated keys, mismatches), for
/// the failure text of an integrity SLO.
fn api_examples(summary: &Summary) -> String {
    let Some(api) = &summary.integrity.through_api else {
        return String::new();
    };
    let mut out = String::new();
    for (label, items) in super::integrity::examples(api, 20) {
        let _ = write!(out, "\n{label}: {}", items.join("; "));
    }
    out
}

fn count(summary: &Summary, pred: impl Fn(Verdict) -> bool) -> usize {
    summary.slos.iter().filter(|s| pred(s.verdict)).count()
}

/// Longest example body in a failure message, characters.
const BODY_CHARS: usize = 200;

/// The bad requests by request class × status, one line each with an
/// example body, for the text of a failure; empty when nothing was bad.
fn where_bad(summary: &Summary) -> String {
    let mut lines = Vec::new();
    for c in &summary.breakdown {
        for r in c.rows.iter().filter(|r| r.is_bad()) {
            let mut line = format!(
                "{} {} → {} {} × {}",
                c.method,
                c.path,
                r.status_text(),
                r.outcome.as_deref().unwrap_or("unknown"),
                r.count
            );
            if let Some(reason) = &r.reason {
                line.push_str("; why: ");
                line.push_str(reason);
            }
            if let Some(body) = &r.example_body {
                line.push_str("; example body: ");
                line.push_str(&crate::format::one_line(
                    body,
                    r.example_truncated,
                    BODY_CHARS,
                ));
            }
            lines.push(line);
        }
    }
    if lines.is_empty() {
        String::new()
    } else {
        format!("\n\nBad requests by request class:\n{}", lines.join("\n"))
    }
}

fn testcase(xml: &mut String, suite: &str, slo: &SloResult, where_bad: &str) {
    let _ = write!(
        xml,
        "    <testcase name=\"{}\" classname=\"{suite}\" time=\"0\"",
        escape(&slo.name)
    );
    let measured = slo.measured_display.as_deref().unwrap_or("not measured");
    let versus = format!("measured {measured} vs objective {}", slo.objective);
    match slo.verdict {
        Verdict::Pass => xml.push_str("/>\n"),
        Verdict::Fail => {
            let _ = writeln!(
                xml,
                ">\n      <failure message=\"{}\" type=\"SloFailed\">{}</failure>\n    </testcase>",
                escape(&versus),
                escape(&format!("{}{where_bad}", slo.detail))
            );
        }
        Verdict::Inconclusive | Verdict::NotMeasured => {
            let message = if slo.verdict == Verdict::Inconclusive {
                format!("inconclusive: {versus}; {}", slo.detail)
            } else {
                format!("not measured (objective {}): {}", slo.objective, slo.detail)
            };
            let _ = writeln!(
                xml,
                ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                escape(&message)
            );
        }
    }
}

/// The `run` test case's error for an invalid or broken run: type, message, body.
fn run_error(summary: &Summary) -> Option<(&'static str, String, String)> {
    let (kind, message) = match summary.verdict {
        RunVerdict::Invalid => (
            "RunInvalid",
            "the run is invalid: the load generator dropped requests or fell behind",
        ),
        RunVerdict::Broken => ("RunBroken", "the run broke before it completed"),
        RunVerdict::Interrupted => (
            "RunInterrupted",
            "verdict withheld: the run was interrupted before it completed",
        ),
        _ => return None,
    };
    Some((
        kind,
        message.to_string(),
        format!("{}{}", summary.warnings.join("\n"), where_bad(summary)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::slo::RunVerdict;
    use crate::summary::tests::example;

    fn parse(xml: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}\n{xml}"))
    }

    #[test]
    fn one_testcase_per_slo_with_counts() {
        let summary = example();
        let xml = render(&summary);
        let doc = parse(&xml);
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        let suites: Vec<_> = root
            .children()
            .filter(|n| n.has_tag_name("testsuite"))
            .collect();
        assert_eq!(suites.len(), 1);
        let suite = suites[0];
        assert_eq!(
            suite.attribute("name"),
            Some(format!("ninefold.{}", summary.scenario).as_str())
        );
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let names: Vec<&str> = cases.iter().filter_map(|c| c.attribute("name")).collect();
        let expected: Vec<&str> = summary.slos.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, expected);
        for node in [root, suite] {
            assert_eq!(node.attribute("tests"), Some("4"));
            assert_eq!(node.attribute("failures"), Some("1"));
            assert_eq!(node.attribute("skipped"), Some("2"));
            assert_eq!(node.attribute("errors"), Some("0"));
            assert_eq!(node.attribute("time"), Some("60.000"));
        }
        let failure = cases[2]
            .children()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert_eq!(
            failure.attribute("message"),
            Some("measured 2 vs objective == 0")
        );
        let skipped = cases[0]
            .children()
            .find(|n| n.has_tag_name("skipped"))
            .unwrap();
        assert!(
            skipped
                .attribute("message")
                .unwrap()
                .starts_with("inconclusive: measured 99.917% vs objective >= 99.9%")
        );
        assert!(
            cases[1].children().all(|n| !n.is_element()),
            "a pass has no children"
        );
        let seed = suite
            .descendants()
            .find(|n| n.has_tag_name("property") && n.attribute("name") == Some("seed"))
            .unwrap();
        assert_eq!(seed.attribute("value"), Some("7"));
    }

    #[test]
    fn an_invalid_run_adds_an_error_case() {
        let mut summary = example();
        summary.verdict = RunVerdict::Invalid;
        summary.warnings = vec!["1,204 requests dropped <in-flight cap>".into()];
        let xml = render(&summary);
        let doc = parse(&xml);
        let root = doc.root_element();
        assert_eq!(root.attribute("tests"), Some("5"));
        assert_eq!(root.attribute("errors"), Some("1"));
        let error = root
            .descendants()
            .find(|n| n.has_tag_name("error"))
            .unwrap();
        assert_eq!(error.attribute("type"), Some("RunInvalid"));
        assert!(
            error
                .text()
                .unwrap()
                .starts_with("1,204 requests dropped <in-flight cap>"),
            "{xml}"
        );
    }

    #[test]
    fn escaping_survives_hostile_text() {
        let hostile = "a<b>&\"c\" 'd'\n\u{1}]]>";
        let mut summary = example();
        summary.scenario = hostile.to_string();
        summary.slos[2].detail = hostile.to_string();
        summary.slos[2].name = hostile.to_string();
        let xml = render(&summary);
        let doc = parse(&xml);
        let case = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .and_then(|n| n.parent())
            .unwrap();
        assert_eq!(case.attribute("name"), Some("a<b>&\"c\" 'd'\n\u{FFFD}]]>"));
        assert_eq!(escape("x & y"), "x &amp; y");
    }
}
