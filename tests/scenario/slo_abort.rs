//! `[slo]` values in both forms: the objective string, or a table
//! `{ objective, abort }`; `abort = true` refused, with the reason, where the
//! live feed cannot prove the SLO cannot pass; the table survives unparse.

use std::path::Path;

use ninefold::scenario::load::parse_str;
use ninefold::scenario::raw::RawSlo;
use ninefold::scenario::unparse::to_raw;

const BASE: &str = r#"name = "t"
duration = "10s"

[upstreams.api]
instances = 1

[[tenants]]
id = "acme"
plan = { rate = 10 }

[[traffic]]
name = "steady"
executor = "constant-arrival-rate"
rate = 5
requests = [{ path = "/items/1" }]

[[faults]]
at = "2s"
action = "kill"
target = "api[0]"

[slo]
"#;

fn parse(slo: &str) -> Result<ninefold::scenario::load::Loaded, String> {
    parse_str("t.toml", &format!("{BASE}{slo}"), Path::new(".")).map_err(|d| d.to_string())
}

#[test]
fn both_forms_are_accepted_and_the_table_round_trips() {
    let loaded = parse(concat!(
        "availability = { objective = \">= 99.9%\", abort = true }\n",
        "\"availability{tenant=acme,phase=steady,route=/items}\" = { objective = \">= 99%\", abort = true }\n",
        "\"latency.p99\" = \"< 150ms\"\n",
        "error_rate = { objective = \"< 5%\" }\n",
    ))
    .unwrap();
    let s = &loaded.scenario;
    let by = |n: &str| s.slos.iter().find(|o| o.name == n).unwrap();
    assert!(by("availability").abort);
    assert!(by("availability{tenant=acme,phase=steady,route=/items}").abort);
    assert!(!by("latency.p99").abort);
    assert!(!by("error_rate").abort);
    let raw = to_raw(s);
    assert_eq!(
        raw.slo["availability"],
        RawSlo::Table(ninefold::scenario::raw::RawSloTable {
            objective: ">= 99.9%".into(),
            abort: Some(true),
        })
    );
    assert_eq!(raw.slo["latency.p99"], RawSlo::Objective("< 150ms".into()));
    // The unparsed file parses back to the same SLOs.
    let text = toml::to_string(&raw).unwrap();
    let again = parse_str("again.toml", &text, Path::new(".")).unwrap();
    assert_eq!(again.scenario.slos, s.slos);
}

#[test]
fn abort_is_refused_where_it_cannot_be_honoured_with_the_reason() {
    for (slo, expected) in [
        (
            "\"latency.p99\" = { objective = \"< 150ms\", abort = true }",
            "`abort = true` is supported for `availability`, `throttle.over_admitted` and `auth.hostile_backend_requests` only: `latency.p99` is not measured exactly while the run goes",
        ),
        (
            "\"integrity.lost_writes\" = { objective = \"== 0\", abort = true }",
            "`abort = true` is not supported for `integrity.lost_writes`: it is known only from the read-back after the traffic",
        ),
        (
            "\"integrity.duplicates\" = { objective = \"<= 0\", abort = true }",
            "`abort = true` is not supported for `integrity.duplicates`: it is known only from the read-back",
        ),
        (
            "\"throttle.wrongful\" = { objective = \"<= 0\", abort = true }",
            "`abort = true` is not supported for `throttle.wrongful`: a 429 that looks wrongful over the attempts seen so far can be justified by an attempt still in flight",
        ),
        (
            "\"throttle.over_admitted\" = { objective = \">= 1\", abort = true }",
            "`abort = true` on the count `throttle.over_admitted` needs a ceiling (`<=` or `<`), not `>= 1`",
        ),
        (
            "\"auth.hostile_backend_requests\" = { objective = \"== 0\", abort = true }",
            "`abort = true` on the count `auth.hostile_backend_requests` needs a ceiling (`<=` or `<`), not `== 0`",
        ),
        (
            "\"throttle.over_admitted{phase=steady}\" = { objective = \"<= 0\", abort = true }",
            "`abort = true` on `throttle.over_admitted` with a filter: its figure is measured per tenant over the whole run: only a `tenant` filter can go with `abort`",
        ),
        (
            "\"auth.hostile_backend_requests{tenant=acme}\" = { objective = \"<= 0\", abort = true }",
            "`abort = true` on `auth.hostile_backend_requests` with a filter: its figure is measured over the whole run: no filter can go with `abort`",
        ),
        (
            "\"availability{window=fault:0}\" = { objective = \">= 99%\", abort = true }",
            "`abort = true` with window=fault:0: the live feed keeps totals by phase, tenant and route, not by fault window",
        ),
        (
            "availability = { objective = \"<= 99%\", abort = true }",
            "`abort = true` needs an availability floor (`>=` or `>`), not `<= 99%`",
        ),
    ] {
        let err = parse(&format!("{slo}\n")).expect_err(slo);
        assert!(err.contains(expected), "{slo}:\n{err}");
        assert!(err.contains("slo."), "located: {err}");
    }
}

#[test]
fn abort_is_accepted_on_the_counts_that_can_only_grow_with_a_ceiling() {
    let loaded = parse(concat!(
        "\"throttle.over_admitted\" = { objective = \"<= 0\", abort = true }\n",
        "\"throttle.over_admitted{tenant=acme}\" = { objective = \"< 3\", abort = true }\n",
        "\"auth.hostile_backend_requests\" = { objective = \"<= 0\", abort = true }\n",
    ))
    .unwrap();
    assert!(loaded.scenario.slos.iter().all(|o| o.abort));
    assert_eq!(loaded.scenario.slos.len(), 3);
}

#[test]
fn a_mistake_inside_the_table_is_named() {
    let err = parse("availability = { objectiv = \">= 99%\" }\n").unwrap_err();
    assert!(err.contains("objectiv"), "{err}");
    assert!(err.contains("objective"), "says what is accepted: {err}");
    let err = parse("availability = 99\n").unwrap_err();
    assert!(
        err.contains("an objective such as \">= 99.9%\", or a table"),
        "{err}"
    );
    let err = parse("availability = { objective = \">= 99%\", abort = \"yes\" }\n").unwrap_err();
    assert!(err.contains("abort") || err.contains("bool"), "{err}");
}
