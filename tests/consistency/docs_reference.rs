//! The documentation cannot silently fall behind the code:
//!
//! - every key of the scenario format (walked recursively through the JSON
//!   Schema that `ninefold schema` prints) is documented in
//!   `docs/scenario-reference.md`, and every key a table there documents exists;
//! - every fault action the validator accepts has its section in `docs/faults.md`;
//! - the worked numbers of `docs/availability.md` are what the code computes.

use std::collections::BTreeSet;
use std::path::Path;

use ninefold::analysis::availability::{
    self, Confidence, Counts, Estimate, Judgement, requests_to_demonstrate,
};
use serde_json::Value;

fn doc(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every key path of the schema, dotted, as the reference writes them: array
/// items add nothing (`traffic.requests.path`) and the entries of a table keyed
/// by the user (`[upstreams.NAME]`) are `NAME`.
fn schema_paths(schema: &Value) -> BTreeSet<String> {
    fn walk(node: &Value, defs: &Value, path: &str, out: &mut BTreeSet<String>, depth: usize) {
        assert!(
            depth < 32,
            "the schema nests deeper than expected at {path}"
        );
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or_default();
            let target = &defs[name];
            assert!(!target.is_null(), "unresolved $ref {r}");
            walk(target, defs, path, out, depth + 1);
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for n in node
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                walk(n, defs, path, out, depth + 1);
            }
        }
        if let Some(items) = node.get("items").filter(|i| i.is_object()) {
            walk(items, defs, path, out, depth + 1);
        }
        if let Some(extra) = node.get("additionalProperties").filter(|a| a.is_object()) {
            walk(extra, defs, &format!("{path}.NAME"), out, depth + 1);
        }
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            for (key, sub) in props {
                let p = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                out.insert(p.clone());
                walk(sub, defs, &p, out, depth + 1);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(schema, &schema["$defs"], "", &mut out, 0);
    out
}

/// Code spans (`` `x` ``) of a text.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Key paths the reference documents: code spans in the first cell of the rows
/// of its key tables (tables whose first column is headed `key`).
fn documented_paths(reference: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_key_table = false;
    for line in reference.lines() {
        let Some(row) = line.trim().strip_prefix('|') else {
            in_key_table = false;
            continue;
        };
        let first = row.split('|').next().unwrap_or_default().trim();
        if first == "key" {
            in_key_table = true;
            continue;
        }
        if in_key_table {
            out.extend(code_spans(first).into_iter().map(str::to_owned));
        }
    }
    out
}

fn scenario_schema() -> Value {
    serde_json::from_str(&ninefold::cli::schema::schema_json(false)).expect("schema is JSON")
}

#[test]
fn the_schema_walk_finds_nested_keys() {
    // If the walk missed nesting, the reference check below would prove little.
    let paths = schema_paths(&scenario_schema());
    for p in [
        "name",
        "gateway.auth.algorithm",
        "gateway.routes.retry.per_try_timeout",
        "gateway.routes.plan.quota.period",
        "upstreams.NAME.health.unhealthy_after",
        "traffic.requests.token",
        "traffic.stages.target",
        "faults.toxicity",
        "links.listen",
        "toxiproxy.url",
        "slo",
    ] {
        assert!(paths.contains(p), "{p} not found in {paths:?}");
    }
    assert!(paths.len() > 120, "only {} keys", paths.len());
}

#[test]
fn every_schema_key_is_in_the_scenario_reference() {
    let reference = doc("scenario-reference.md");
    let documented = documented_paths(&reference);
    let schema = schema_paths(&scenario_schema());
    let missing: Vec<&String> = schema.iter().filter(|p| !documented.contains(*p)).collect();
    assert!(
        missing.is_empty(),
        "docs/scenario-reference.md lacks a table row for these keys of the scenario format \
         (write each as `a.b.c` in the first column):\n{missing:#?}"
    );
}

#[test]
fn the_scenario_reference_documents_no_key_that_does_not_exist() {
    let reference = doc("scenario-reference.md");
    let schema = schema_paths(&scenario_schema());
    let stale: Vec<String> = documented_paths(&reference)
        .into_iter()
        .filter(|p| !schema.contains(p))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/scenario-reference.md documents keys the format does not have: {stale:?}"
    );
}

#[test]
fn every_fault_action_has_a_section_in_the_fault_reference() {
    let faults = doc("faults.md");
    let schema = scenario_schema();
    let description = schema["$defs"]["RawFault"]["properties"]["action"]["description"]
        .as_str()
        .expect("the action key describes its values");
    let actions: Vec<&str> = description
        .split(|c: char| c == '|' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    assert!(actions.len() >= 17, "{actions:?}");
    for action in actions {
        let heading = format!("### `{action}`");
        assert!(
            faults.lines().any(|l| l.trim() == heading),
            "docs/faults.md has no section `{heading}`"
        );
    }
}

fn confidence(c: f64) -> Confidence {
    Confidence::new(c).unwrap()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-300)
}

/// Requests needed to show N nines (the table in docs/availability.md).
#[test]
fn availability_doc_requests_needed() {
    let table = [
        (0.99, 0.95, 299),
        (0.999, 0.95, 2_995),
        (0.9999, 0.95, 29_956),
        (0.99999, 0.95, 299_572),
        (0.99, 0.99, 459),
        (0.999, 0.99, 4_603),
        (0.9999, 0.99, 46_050),
        (0.99999, 0.99, 460_515),
    ];
    for (target, c, n) in table {
        assert_eq!(
            requests_to_demonstrate(target, confidence(c)),
            Some(n),
            "{target} at {c}"
        );
    }
}

/// Downtime per year of N nines (the table in docs/availability.md), seconds.
#[test]
fn availability_doc_downtime() {
    for (a, s) in [
        (0.99, 315_576.0),
        (0.999, 31_557.6),
        (0.9999, 3_155.76),
        (0.99999, 315.576),
    ] {
        assert!(close(availability::downtime_per_year_s(a), s, 1e-9), "{a}");
    }
}

/// The worked examples of docs/availability.md.
#[test]
fn availability_doc_worked_examples() {
    let c95 = confidence(0.95);

    // 1. The quickstart: 4,000 requests, none failed.
    let e = Estimate::new(Counts::new(4_000, 4_000).unwrap(), c95).unwrap();
    assert!(close(e.lower, 0.999_251_35, 1e-8), "{}", e.lower);
    assert!(close(e.lower_nines(), 3.1257, 1e-4), "{}", e.lower_nines());
    assert_eq!(e.judge(0.999), Judgement::Demonstrated);
    assert_eq!(
        e.judge(0.9999),
        Judgement::Undecided {
            more_requests: Some(25_956)
        }
    );

    // 2. 10,000 requests, 5 failed, against 99.9%: inconclusive.
    let e = Estimate::new(Counts::from_good_bad(9_995, 5), c95).unwrap();
    assert!(close(e.ratio, 0.9995, 1e-12));
    assert!(close(e.lower, 0.998_949, 1e-6), "{}", e.lower);
    assert!(close(e.upper, 0.999_803, 1e-6), "{}", e.upper);
    assert_eq!(
        e.judge(0.999),
        Judgement::Undecided {
            more_requests: Some(EXAMPLE_2_MORE)
        }
    );

    // 3. 26,000 requests, 40 failed, against 99.9%: refuted.
    let counts = Counts::from_good_bad(25_960, 40);
    let e = Estimate::new(counts, c95).unwrap();
    assert!(close(e.upper, EXAMPLE_3_UPPER, 1e-6), "{}", e.upper);
    assert_eq!(e.judge(0.999), Judgement::Refuted);
    assert!(close(e.lower, 0.997_997_80, 1e-6), "{}", e.lower);
    let budget = availability::error_budget_consumed(counts, 0.999).unwrap();
    assert!(close(budget, 40.0 / 26.0, 1e-12), "{budget}");

    // 4. A failure rate exactly at the allowance never settles.
    let at_allowance = Counts::from_good_bad(29_970, 30);
    let e = Estimate::new(at_allowance, c95).unwrap();
    assert_eq!(
        e.judge(0.999),
        Judgement::Undecided {
            more_requests: None
        }
    );
    let e = Estimate::new(Counts::from_good_bad(29_990, 10), c95).unwrap();
    assert!(close(e.lower, 0.999_434_66, 1e-6), "{}", e.lower);
    assert_eq!(e.judge(0.999), Judgement::Demonstrated);
}

/// More requests example 2 needs (printed in docs/availability.md).
const EXAMPLE_2_MORE: u64 = 1_529;
/// Upper bound of example 3 (printed in docs/availability.md).
const EXAMPLE_3_UPPER: f64 = 0.998_838_43;

/// The coordinated-omission example of docs/metrics.md: 100 req/s for 100 s
/// against a service that answers in 1 ms and stalls for 3 s at 50 s, seen by
/// a paced closed-loop tester and by intended-time latency, recorded in the
/// histograms ninefold keeps (µs, 3 significant digits).
#[test]
fn coordinated_omission_example() {
    use ninefold::metrics::hist::{SIGFIG, new_histogram};
    const MS: u64 = 1_000;
    // Closed loop: one sample per request it actually sent.
    let mut closed = new_histogram(SIGFIG);
    closed.record_n(MS, 5_000).unwrap(); // 0 .. 49.99 s
    closed.record(3_001 * MS).unwrap(); // sent at 50.000, answered at 53.001
    closed.record_n(MS, 4_700).unwrap(); // 53.00 .. 99.99 s
    // Intended time: every scheduled request; the 300 due in the stall wait for it.
    let mut intended = new_histogram(SIGFIG);
    intended.record_n(MS, 9_700).unwrap();
    for k in 0..300u64 {
        // due at 50.000 + k × 10 ms, answered at 53.001 s
        intended.record((3_001 - 10 * k) * MS).unwrap();
    }
    let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1e3;
    let near = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
    assert_eq!(closed.len(), 9_701);
    for (q, want) in [
        (0.5, 1.0),
        (0.9, 1.0),
        (0.99, 1.0),
        (0.999, 1.0),
        (0.9999, 3_001.0),
    ] {
        assert!(
            near(ms(&closed, q), want),
            "closed p{q}: {}",
            ms(&closed, q)
        );
    }
    assert!(near(closed.max() as f64 / 1e3, 3_001.0));
    assert_eq!(intended.len(), 10_000);
    for (q, want) in [(0.5, 1.0), (0.9, 1.0), (0.99, 2_001.0), (0.999, 2_901.0)] {
        assert!(
            near(ms(&intended, q), want),
            "intended p{q}: {}",
            ms(&intended, q)
        );
    }
    assert!(near(intended.max() as f64 / 1e3, 3_001.0));
}
