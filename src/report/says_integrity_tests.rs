//! Every output says what the read-back through the API found: the figures,
//! the lost key and id, the duplicated key, the mismatched field sent vs
//! stored, and why a write was not read (terminal, Markdown, HTML, JUnit).

use crate::summary::build::tests::{results_with, scenario};
use crate::summary::integrity_api::tests::one_of_each;
use crate::summary::summarize;

#[test]
fn every_output_names_the_writes_the_api_read_back_found_wrong() {
    let s = scenario(
        "targets = [\"127.0.0.1:9\"]",
        "\"integrity.lost_writes\" = \"== 0\"",
    );
    let mut results = results_with(Default::default(), Vec::new());
    results.api_readback = Some(one_of_each());
    let summary = summarize(&s, &results, 1.0, false);
    let headline = "6 acknowledged writes, 5 read back: 1 lost, 1 duplicated, 1 mismatched, 1 not read, 1 without a list read (their duplicates unknown)";
    let lost = "key k1 (id o-k1)";
    let dup = "key k2: 2 records (o-k2, o-k2-b)";
    let changed = "key k3 (id o-k3): $.qty sent 3, stored 9";
    let unread = "key k4 (id o-k4): GET /orders/o-k4 answered 500 (4 tries, every time)";

    let text = super::terminal::render(&summary, super::terminal::Style::Plain);
    assert!(
        text.contains(&format!("integrity through the API: {headline}")),
        "{text}"
    );
    for item in [lost, dup, changed, unread] {
        assert!(text.contains(item), "terminal lacks {item:?}:\n{text}");
    }
    // The store line does not contradict the figures the API gave.
    assert!(
        !text.contains("lost and duplicated writes not measured"),
        "{text}"
    );

    let md = super::markdown::render(&summary);
    assert!(md.contains("**Through the API:**"), "{md}");
    assert!(md.contains("- key k1 (id o-k1)"), "{md}");
    assert!(md.contains("In the stores: not measured"), "{md}");

    let html = super::html::render(&summary, &s, "", &results);
    assert!(
        html.contains("<h3>Through the API <span class=\"pill fail\">DAMAGED</span></h3>"),
        "{html}"
    );
    assert!(html.contains("<li><code>key k1 (id o-k1)</code></li>"));

    let junit = super::junit::render(&summary);
    assert!(
        junit.contains(&format!(
            "name=\"integrity_through_api\" value=\"{headline}\""
        )),
        "{junit}"
    );
    assert!(
        junit.contains("lost: key k1 (id o-k1)"),
        "the failure names the lost write: {junit}"
    );

    let json: serde_json::Value = serde_json::from_str(&summary.to_json().unwrap()).unwrap();
    assert_eq!(
        json["integrity"]["through_api"]["lost_examples"][0]["key"],
        "k1"
    );
}
