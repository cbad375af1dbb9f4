//! Lost, duplicated and mismatched writes found through the user's own API, on
//! a system ninefold did not start: `ninefold run` against an in-test orders
//! service as an external target (`[gateway] url`), whose writes the scenario
//! declares `integrity` for. The service acknowledges every write; the lying
//! one drops every 100th new order (1%), stores every 200th twice (0.5%) and
//! changes the quantity of every 250th, and logs which keys it did that to.
//! The log is the expected answer: ninefold must report exactly those keys.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::credentials::{header, serve};
use super::support::{dir, ninefold, read_json, run_code, run_in};

/// How the service behaves.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Honest,
    /// Acknowledges all, drops 1 %, stores 0.5 % twice, alters 0.4 %.
    Lying,
    /// Writes honestly; every read-back answers 500.
    ReadsFail,
    /// Lies as `Lying` does, and answers each kept record's first read by id
    /// only after longer than the read-back's timeout.
    LyingSlowFirstRead,
}

#[derive(Default)]
struct Orders {
    /// New orders so far (replays of a key are not new).
    created: u64,
    /// (id, idempotency key, body as stored).
    records: Vec<(String, String, Value)>,
    /// The first answer per key, replayed for a retry.
    answers: BTreeMap<String, Value>,
    /// What the service did wrong, by key: the log the test checks against.
    dropped: BTreeMap<String, String>,
    doubled: BTreeSet<String>,
    altered: BTreeMap<String, (Value, Value)>,
    /// Ids of kept records read by id at least once.
    read_once: BTreeSet<String>,
}

type Shared = Arc<(Mode, Mutex<Orders>)>;

async fn post_order(State(s): State<Shared>, h: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(r) = refused(&h) {
        return r;
    }
    let key = header(&h, "idempotency-key").unwrap_or_default();
    let mut o = s.1.lock().unwrap();
    if let Some(first) = o.answers.get(&key) {
        return (StatusCode::CREATED, Json(first.clone())).into_response();
    }
    o.created += 1;
    let n = o.created;
    let id = format!("ord-{n}");
    let answer = json!({"id": id, "status": "created"});
    o.answers.insert(key.clone(), answer.clone());
    let lying = matches!(s.0, Mode::Lying | Mode::LyingSlowFirstRead);
    if lying && n % 100 == 50 {
        o.dropped.insert(key, id);
    } else if lying && n % 200 == 7 {
        o.records.push((id.clone(), key.clone(), body.clone()));
        o.records.push((format!("{id}-again"), key.clone(), body));
        o.doubled.insert(key);
    } else if lying && n % 250 == 3 {
        let sent = body["qty"].clone();
        let stored = json!(sent.as_u64().unwrap_or(0) + 100);
        let mut changed = body;
        changed["qty"] = stored.clone();
        o.records.push((id, key.clone(), changed));
        o.altered.insert(key, (sent, stored));
    } else {
        o.records.push((id, key, body));
    }
    (StatusCode::CREATED, Json(answer)).into_response()
}

fn record(id: &str, key: &str, body: &Value) -> Value {
    json!({"id": id, "idempotency_key": key, "order": body})
}

/// The tenant's key, which every request must carry (reads too).
const KEY: &str = "k-acme-7";

fn refused(h: &HeaderMap) -> Option<Response> {
    (header(h, "x-api-key").as_deref() != Some(KEY))
        .then(|| (StatusCode::UNAUTHORIZED, "no key").into_response())
}

async fn get_order(
    State(s): State<Shared>,
    h: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Response {
    if let Some(r) = refused(&h) {
        return r;
    }
    if s.0 == Mode::ReadsFail {
        return (StatusCode::INTERNAL_SERVER_ERROR, "store down").into_response();
    }
    let first = {
        let mut o = s.1.lock().unwrap();
        o.records.iter().any(|(i, _, _)| *i == id) && o.read_once.insert(id.clone())
    };
    if s.0 == Mode::LyingSlowFirstRead && first {
        // The case under test: an answer slower than the read-back's timeout.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    }
    let o = s.1.lock().unwrap();
    match o.records.iter().find(|(i, _, _)| *i == id) {
        Some((i, k, b)) => Json(record(i, k, b)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such order"})),
        )
            .into_response(),
    }
}

async fn list_orders(
    State(s): State<Shared>,
    h: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(r) = refused(&h) {
        return r;
    }
    if s.0 == Mode::ReadsFail {
        return (StatusCode::INTERNAL_SERVER_ERROR, "store down").into_response();
    }
    let o = s.1.lock().unwrap();
    let Some(key) = q.get("idempotency_key") else {
        // No key asked for: every record, wrapped.
        let all: Vec<Value> = o.records.iter().map(|(i, k, b)| record(i, k, b)).collect();
        return Json(json!({ "items": all })).into_response();
    };
    let found: Vec<Value> = o
        .records
        .iter()
        .filter(|(_, k, _)| k == key)
        .map(|(i, k, b)| record(i, k, b))
        .collect();
    Json(Value::Array(found)).into_response()
}

fn orders_api(mode: Mode) -> (axum::Router, Shared) {
    let shared: Shared = Arc::new((mode, Mutex::default()));
    let app = axum::Router::new()
        .route("/orders", axum::routing::post(post_order).get(list_orders))
        .route("/orders/{id}", axum::routing::get(get_order))
        .with_state(Arc::clone(&shared));
    (app, shared)
}

/// A run of `rate` writes a second for `secs` to the API at `addr` as tenant
/// `acme`, read back by id and by key (`readback` adds keys to `integrity`).
fn scenario(addr: std::net::SocketAddr, rate: u32, secs: u32, readback: &str) -> String {
    let integrity = format!(
        r#"id = "$.id", read = "/orders/{{id}}", list = "/orders?idempotency_key={{key}}", compare = ["$.sku", "$.qty"], body_at = "$.order"{readback}"#
    );
    scenario_with(addr, rate, secs, &integrity)
}

/// [`scenario`] with the whole `integrity = { … }` declaration given.
fn scenario_with(addr: std::net::SocketAddr, rate: u32, secs: u32, integrity: &str) -> String {
    format!(
        r#"
name = "integrity-api"
duration = "{secs}s"
seed = 23

[gateway]
url = "http://{addr}"

# The key goes in a class header rendered per tenant: the read-back sends it too.
[[tenants]]
id = "acme"
plan = {{ rate = 1000 }}
api_key = "{KEY}"

[[traffic]]
executor = "constant-arrival-rate"
rate = {rate}
connections = 8
requests = [{{ method = "POST", path = "/orders", headers = {{ "x-api-key" = "{{tenant.api_key}}" }}, body = '{{"sku": "sku-{{seq}}", "qty": {{rand:1..9}}}}', idempotency_key = true, integrity = {{ {integrity} }} }}]

[slo]
"integrity.lost_writes" = "== 0"
"integrity.duplicates" = "== 0"
"integrity.mismatched" = "== 0"
"#
    )
}

fn verdicts(summary: &Value) -> BTreeMap<String, String> {
    summary["slos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn keys(list: &Value, field: &str) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v[field].as_str().unwrap().to_owned())
        .collect()
}

/// `ninefold report` re-renders the folder from `results.json` byte for byte.
fn rerenders_the_same(out: &Path) {
    let files = ["summary.json", "summary.md", "junit.xml", "report.html"];
    let before: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(out.join(f)).unwrap())
        .collect();
    let o = ninefold(&["report", out.to_str().unwrap()], Duration::from_secs(60));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (f, was) in files.iter().zip(before) {
        assert_eq!(
            std::fs::read_to_string(out.join(f)).unwrap(),
            was,
            "{f} re-rendered differently"
        );
    }
}

/// `text` run into a fresh `d/run`, which must end inconclusive (exit 4).
fn run_inconclusive(d: &Path, text: &str) -> std::path::PathBuf {
    let (out, stderr, code) = run_code(d, text);
    assert_eq!(code, Some(4), "{stderr}");
    out
}

#[test]
fn a_lying_service_is_caught_write_for_write() {
    let (app, shared) = orders_api(Mode::Lying);
    let server = serve(app);
    let d = dir("integrity-api", "lying");
    let (out, stderr) = run_in(&d, &scenario(server.addr, 200, 5, ""));
    let o = shared.1.lock().unwrap();
    // The service's own log: 1% dropped, 0.5% doubled, every 250th altered.
    assert!(o.created >= 500, "too few writes: {}", o.created);
    assert_eq!(o.dropped.len() as u64, (o.created + 50) / 100);
    assert_eq!(o.doubled.len() as u64, (o.created + 193) / 200);
    reports_exactly_what_the_service_did(&out, &o, &stderr, true);
    let summary = read_json(&out.join("summary.json"));
    let v = verdicts(&summary);
    assert_eq!(v["integrity.lost_writes"], "fail");
    assert_eq!(v["integrity.duplicates"], "fail");
    assert_eq!(v["integrity.mismatched"], "fail");
    assert_eq!(summary["exit_code"], 1);
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let first_lost = o.dropped.keys().next().unwrap();
    assert!(md.contains("**Through the API:**"), "{md}");
    assert!(md.contains(first_lost), "the lost key is named: {md}");
    drop(o);
    rerenders_the_same(&out);
}

/// The run in `out` read every write back and names exactly the writes the
/// service's log says it dropped, doubled and (when `compared`) altered.
fn reports_exactly_what_the_service_did(out: &Path, o: &Orders, stderr: &str, compared: bool) {
    let api = &read_json(&out.join("summary.json"))["integrity"]["through_api"];
    assert_eq!(api["acknowledged"], o.created, "{stderr}");
    assert_eq!(api["read_back"], o.created, "{api}");
    assert_eq!(api["not_read"], 0);
    assert_eq!(api["lost"], o.dropped.len() as u64);
    assert_eq!(
        keys(&api["lost_examples"], "key"),
        o.dropped.keys().cloned().collect()
    );
    for w in api["lost_examples"].as_array().unwrap() {
        // Without a read by id the id is still the acknowledged one.
        assert_eq!(w["id"], o.dropped[w["key"].as_str().unwrap()]);
    }
    assert_eq!(api["duplicated"], o.doubled.len() as u64);
    assert_eq!(keys(&api["duplicated_examples"], "key"), o.doubled);
    assert!(
        api["duplicated_examples"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["records"] == 2)
    );
    if !compared {
        return;
    }
    assert_eq!(api["mismatched"], o.altered.len() as u64);
    let mismatches = api["mismatched_examples"].as_array().unwrap();
    assert_eq!(mismatches.len(), o.altered.len(), "one field per write");
    for m in mismatches {
        let (sent, stored) = &o.altered[m["key"].as_str().unwrap()];
        assert_eq!(m["field"], "$.qty");
        assert_eq!((&m["sent"], &m["stored"]), (sent, stored));
    }
}

#[test]
fn one_list_of_every_record_finds_the_lost_and_the_doubled_by_key() {
    let (app, shared) = orders_api(Mode::Lying);
    let server = serve(app);
    let d = dir("integrity-api", "list-all");
    let integrity = r#"list = "/orders", records = "$.items[*]", key_at = "$.idempotency_key""#;
    // A failed SLO outweighs `integrity.mismatched`, which cannot be judged
    // without `compare`: the run fails (exit 1).
    let (out, stderr) = run_in(&d, &scenario_with(server.addr, 100, 3, integrity));
    let o = shared.1.lock().unwrap();
    assert!(o.created >= 200, "too few writes: {}", o.created);
    reports_exactly_what_the_service_did(&out, &o, &stderr, false);
    let v = verdicts(&read_json(&out.join("summary.json")));
    assert_eq!(v["integrity.lost_writes"], "fail");
    assert_eq!(v["integrity.duplicates"], "fail");
    assert_eq!(v["integrity.mismatched"], "not_measured");
    let api = &read_json(&out.join("summary.json"))["integrity"]["through_api"];
    assert!(api["mismatched"].is_null(), "nothing compared: {api}");
    assert_eq!(
        api["not_measured"]["mismatched"],
        "no class declares `compare`"
    );
}

#[test]
fn a_read_back_slower_than_its_timeout_is_tried_again_not_lost() {
    let (app, shared) = orders_api(Mode::LyingSlowFirstRead);
    let server = serve(app);
    let d = dir("integrity-api", "slow");
    let slow = ", timeout = \"1s\", retries = 2, concurrency = 16";
    let (out, stderr) = run_in(&d, &scenario(server.addr, 20, 2, slow));
    let o = shared.1.lock().unwrap();
    assert!(o.created > 0);
    reports_exactly_what_the_service_did(&out, &o, &stderr, true);
    // Every read by id of a kept record timed out once, then answered.
    let results = read_json(&out.join("results.json"));
    let writes = results["api_readback"]["writes"].as_array().unwrap();
    assert_eq!(writes.len() as u64, o.created);
    for w in writes {
        let kept = !o.dropped.contains_key(w["key"].as_str().unwrap());
        let tries = w["read"]["tries"].as_u64().unwrap();
        assert_eq!(tries, if kept { 2 } else { 1 }, "{w}");
    }
}

#[test]
fn an_honest_service_measures_zero_lost_and_zero_duplicated() {
    let (app, shared) = orders_api(Mode::Honest);
    let server = serve(app);
    let d = dir("integrity-api", "honest");
    let (out, stderr) = run_in(&d, &scenario(server.addr, 50, 2, ""));
    let created = shared.1.lock().unwrap().created;
    let summary = read_json(&out.join("summary.json"));
    let api = &summary["integrity"]["through_api"];
    assert!(created > 0);
    assert_eq!(api["acknowledged"], created, "{stderr}");
    assert_eq!(api["read_back"], created);
    // Measured zeros, not nulls.
    assert_eq!(api["lost"], 0);
    assert_eq!(api["duplicated"], 0);
    assert_eq!(api["mismatched"], 0);
    let v = verdicts(&summary);
    assert!(v.values().all(|v| v == "pass"), "{v:?}");
    assert_eq!(summary["exit_code"], 0);
}

#[test]
fn a_read_back_that_fails_is_not_measured_never_lost() {
    let (app, shared) = orders_api(Mode::ReadsFail);
    let server = serve(app);
    let d = dir("integrity-api", "reads-fail");
    let text = scenario(server.addr, 20, 2, ", retries = 1, timeout = \"2s\"");
    // Inconclusive, not failed: nothing was shown lost.
    let out = run_inconclusive(&d, &text);
    let created = shared.1.lock().unwrap().created;
    let summary = read_json(&out.join("summary.json"));
    let api = &summary["integrity"]["through_api"];
    assert!(created > 0);
    assert_eq!(api["not_read"], created);
    assert_eq!(api["read_back"], 0);
    assert!(api["lost"].is_null(), "{api}");
    assert!(api["duplicated"].is_null());
    let why = api["not_read_examples"][0]["why"].as_str().unwrap();
    assert!(
        why.contains("answered 500") && why.contains("2 tries"),
        "the reason names what happened: {why}"
    );
    assert!(
        api["not_measured"]["lost"]
            .as_str()
            .unwrap()
            .contains("could be read back")
    );
    let v = verdicts(&summary);
    assert_eq!(v["integrity.lost_writes"], "not_measured", "{v:?}");
}

/// ninefold's own world: the reference gateway before two mock backends that
/// share a store, one killed and replaced mid-run. The read-back through the
/// gateway, after the replacement, agrees with the store read directly.
const MANAGED: &str = r#"
name = "integrity-api-managed"
duration = "4s"
seed = 29

[gateway]
instances = 1

[[gateway.routes]]
path = "/orders"
upstream = "api"

[upstreams.api]
instances = 2
restart = { after = "1s" }

[[traffic]]
executor = "constant-arrival-rate"
rate = 40
retries = 2
requests = [{ method = "POST", path = "/orders", body = '{"sku": "sku-{seq}", "qty": {rand:1..9}}', idempotency_key = true, integrity = { id = "$.id", read = "/orders/{id}", compare = ["$.sku", "$.qty"], body_at = "$.order" } }]

[[faults]]
at = "1s"
action = "kill"
target = "api[1]"

[slo]
"integrity.lost_writes" = "== 0"
"integrity.mismatched" = "== 0"
"#;

#[test]
fn through_the_gateway_after_a_kill_the_api_and_the_store_agree() {
    let d = dir("integrity-api", "managed");
    let (out, stderr) = run_in(&d, MANAGED);
    let summary = read_json(&out.join("summary.json"));
    let i = &summary["integrity"];
    let api = &i["through_api"];
    assert_eq!(i["checked"], true, "the store was read: {i}\n{stderr}");
    assert_eq!(i["lost"], 0);
    assert!(i["acknowledged_writes"].as_u64().unwrap() > 0);
    assert_eq!(api["acknowledged"], i["acknowledged_writes"]);
    assert_eq!(api["read_back"], api["acknowledged"], "{api}");
    assert_eq!((&api["lost"], &api["mismatched"]), (&json!(0), &json!(0)));
    // Read by id only: a second record of a key cannot show.
    assert!(api["duplicated"].is_null());
    assert_eq!(summary["exit_code"], 0, "{}", summary["slos"]);
}
