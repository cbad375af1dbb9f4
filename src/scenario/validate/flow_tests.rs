use std::path::Path as FsPath;

use crate::scenario::model::{JsonExpect, Scenario};
use crate::scenario::raw::RawScenario;
use crate::scenario::template::Part;

/// A scenario of one phase (`phase` after its executor lines) and its requests.
fn text(phase: &str, requests: &str) -> String {
    format!(
        "name = \"f\"\nduration = \"1s\"\n[upstreams.api]\ninstances = 1\n\
         [[traffic]]\nexecutor = \"constant-arrival-rate\"\nrate = 1\n{phase}\nrequests = [\n{requests}\n]\n"
    )
}

fn validate(text: &str) -> Result<Scenario, Vec<String>> {
    let raw: RawScenario = toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    super::super::scenario_with_env(&raw, FsPath::new("."), &|_| None)
        .map_err(|d| d.into_iter().map(|d| d.message).collect())
}

const CRUD: &str = r#"{ method = "POST", path = "/orders", body = '{"sku": 1}', extract = { order_id = "$.id", sku = "$.lines[0].sku" }, check = { status = [201], json = { "$.id" = "exists" } } },
{ path = "/orders/{order_id}", check = { json = { "$.id" = "o-1", "$.qty" = 2 }, body_contains = "sku" }, headers = { X-Sku = "{sku}" } },
{ method = "DELETE", path = "/orders/{order_id}", body = '{"sku": {sku}}' },"#;

#[test]
fn a_flow_binds_each_variable_to_the_step_that_extracts_it() {
    let s = validate(&text("flow = true", CRUD)).unwrap();
    let phase = &s.traffic[0];
    assert!(phase.flow);
    assert_eq!(phase.flow_variables(), ["order_id", "sku"]);
    let create = &phase.requests[0];
    assert_eq!(
        create
            .extract
            .iter()
            .map(|e| (e.name.as_str(), e.slot, e.path.text.as_str()))
            .collect::<Vec<_>>(),
        [("order_id", 0, "$.id"), ("sku", 1, "$.lines[0].sku")]
    );
    let check = create.check.as_ref().unwrap();
    assert_eq!(check.status, [201]);
    assert_eq!(check.json[0].1, JsonExpect::Exists);
    let read = &phase.requests[1];
    assert!(read.path.parts().contains(&Part::FlowVar {
        name: "order_id".into(),
        slot: 0
    }));
    assert_eq!(read.headers[0].1.flow_slots().collect::<Vec<_>>(), [1]);
    let json = &read.check.as_ref().unwrap().json;
    assert_eq!(json[1].1, JsonExpect::Equals(serde_json::json!(2)));
    let delete = &phase.requests[2];
    assert_eq!(
        delete
            .body
            .as_ref()
            .unwrap()
            .flow_slots()
            .collect::<Vec<_>>(),
        [1]
    );
}

#[test]
fn a_flow_round_trips_through_the_file_it_writes_back() {
    let s = validate(&text("flow = true", CRUD)).unwrap();
    let written = toml::to_string(&crate::scenario::unparse::to_raw(&s)).unwrap();
    let again = validate(&written).unwrap_or_else(|e| panic!("{e:?}\n{written}"));
    assert_eq!(again.traffic, s.traffic);
}

// Long: the table of mistakes and the message each must give where it is written.
#[test]
fn every_mistake_is_named_where_it_is_written() {
    let cases: [(&str, &str, &str); 12] = [
        (
            "flow = true",
            r#"{ method = "POST", path = "/orders", extract = { order_id = "$.id" } },
               { path = "/orders/{order_ld}" },"#,
            "traffic[0].requests[1].path: no earlier step of the flow extracts `order_ld`; did you mean `order_id`?",
        ),
        (
            "flow = true",
            r#"{ path = "/orders/{order_id}" },
               { method = "POST", path = "/orders", extract = { order_id = "$.id" } },"#,
            "traffic[0].requests[0].path: `{order_id}` is extracted by requests[1], which is not before this step",
        ),
        (
            "",
            r#"{ method = "POST", path = "/orders", extract = { order_id = "$.id" } },"#,
            "traffic[0].requests[0].extract: values pass only between the steps of a flow: set `flow = true`",
        ),
        (
            "",
            r#"{ path = "/orders/{order_id}" },"#,
            "traffic[0].requests[0].path: unknown variable `{order_id}`; known: {seq}, {rand:A..B}",
        ),
        (
            "",
            r#"{ path = "/orders/{uuidd}" },"#,
            "traffic[0].requests[0].path: unknown variable `{uuidd}`; did you mean `uuid`?",
        ),
        (
            "flow = true",
            r#"{ path = "/o", extract = { id = "$.id[" } },"#,
            "traffic[0].requests[0].extract.id: `$.id[` is not a JSONPath expression (RFC 9535",
        ),
        (
            "",
            r#"{ path = "/o", check = { json = { "id" = "exists" } } },"#,
            "traffic[0].requests[0].check.json.id: `id` is not a JSONPath expression",
        ),
        (
            "flow = true",
            r#"{ path = "/o", extract = { seq = "$.id" } },"#,
            "traffic[0].requests[0].extract.seq: `{seq}` is a built-in variable",
        ),
        (
            "flow = true",
            r#"{ path = "/o", extract = { Order = "$.id" } },"#,
            "traffic[0].requests[0].extract.Order: `Order` is not a variable name",
        ),
        (
            "flow = true",
            r#"{ path = "/o", extract = { id = "$.id" } }, { path = "/p", extract = { id = "$.id" } },"#,
            "traffic[0].requests[1].extract.id: `id` is already extracted by requests[0]",
        ),
        (
            "flow = true",
            r#"{ path = "/o", weight = 3 },"#,
            "traffic[0].requests[0].weight: a flow sends every step in order: `weight` does not apply",
        ),
        (
            "",
            r#"{ path = "/o", check = { status = [], json = { "$.tags" = ["a"] } } },"#,
            "traffic[0].requests[0].check.status: lists no status",
        ),
    ];
    for (phase, requests, want) in cases {
        let got = validate(&text(phase, requests)).err().unwrap_or_default();
        assert!(
            got.iter().any(|p| p.starts_with(want)),
            "{requests}\nwant {want}\ngot {got:#?}"
        );
    }
    // Each problem of one file at once: the array value and the empty check.
    let got = validate(&text(
        "",
        r#"{ path = "/o", check = { json = { "$.tags" = ["a"] } } }, { path = "/p", check = {} },"#,
    ))
    .unwrap_err();
    assert!(
        got.iter().any(|p| p.starts_with(
            "traffic[0].requests[0].check.json.\"$.tags\": `[\"a\"]`: accepted \"exists\", a string"
        )),
        "{got:#?}"
    );
    assert!(
        got.iter()
            .any(|p| p.starts_with("traffic[0].requests[1].check: checks nothing")),
        "{got:#?}"
    );
}

#[test]
fn builtins_still_parse_and_tenant_headers_take_no_flow_variable() {
    assert!(
        validate(&text(
            "flow = true",
            r#"{ path = "/i/{seq}/{rand:1..9}/{uuid}" },"#
        ))
        .is_ok()
    );
    let tenant =
        "[[tenants]]\nid = \"acme\"\nplan = { rate = 10 }\nheaders = { X-Id = \"{order_id}\" }\n";
    let t = text(
        "flow = true",
        r#"{ path = "/o", extract = { order_id = "$.id" } },"#,
    );
    let got = validate(&t.replacen("[[traffic]]", &format!("{tenant}[[traffic]]"), 1)).unwrap_err();
    assert!(
        got.iter()
            .any(|p| p.starts_with("tenants[0].headers.X-Id: unknown variable `{order_id}`")),
        "{got:#?}"
    );
}
