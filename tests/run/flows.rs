//! Flows end to end through `ninefold run` on 127.0.0.1, against an orders API in
//! the test that logs every request it answers: create (POST, extract the id) →
//! read back (GET /orders/{order_id}, check its JSON) → delete. The counts per
//! step in `summary.json` are compared with the API's own log; a wrong body is
//! `check_failed` with its reason and example; a missing id means the later
//! steps are not sent, and the creating step is the one that failed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::credentials::{Server, serve, summary};
use crate::support::{self, run_code};

/// What the API did: every request in order, and the orders it created.
#[derive(Default)]
struct Log {
    /// (method, path) of every request, in the order answered.
    requests: Vec<(String, String)>,
    /// Orders created (and not deleted yet), by id.
    orders: BTreeSet<String>,
    /// Creations answered 201 without an id (every third, when misbehaving).
    created_without_id: u64,
    /// Reads answered 200 with the wrong state (odd ids, when misbehaving).
    wrong_reads: u64,
    next: u64,
}

#[derive(Clone)]
struct Api {
    log: Arc<Mutex<Log>>,
    misbehave: bool,
}

async fn create(State(api): State<Api>) -> impl IntoResponse {
    let mut log = api.log.lock().unwrap();
    log.requests.push(("POST".into(), "/orders".into()));
    log.next += 1;
    let n = log.next;
    if api.misbehave && n % 3 == 0 {
        log.created_without_id += 1;
        return (StatusCode::CREATED, r#"{"error":"no id"}"#.to_owned());
    }
    let id = format!("o-{n}");
    log.orders.insert(id.clone());
    (StatusCode::CREATED, format!(r#"{{"id":"{id}","sku":{n}}}"#))
}

async fn read(State(api): State<Api>, UrlPath(id): UrlPath<String>) -> impl IntoResponse {
    let mut log = api.log.lock().unwrap();
    log.requests.push(("GET".into(), format!("/orders/{id}")));
    if !log.orders.contains(&id) {
        return (StatusCode::NOT_FOUND, "no such order".to_owned());
    }
    let odd = id
        .trim_start_matches("o-")
        .parse::<u64>()
        .is_ok_and(|n| n % 2 == 1);
    let state = if api.misbehave && odd {
        log.wrong_reads += 1;
        "pending"
    } else {
        "created"
    };
    (
        StatusCode::OK,
        format!(r#"{{"id":"{id}","state":"{state}"}}"#),
    )
}

async fn delete(State(api): State<Api>, UrlPath(id): UrlPath<String>) -> impl IntoResponse {
    let mut log = api.log.lock().unwrap();
    log.requests
        .push(("DELETE".into(), format!("/orders/{id}")));
    if log.orders.remove(&id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

fn orders_api(misbehave: bool) -> (Server, Arc<Mutex<Log>>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let api = Api {
        log: log.clone(),
        misbehave,
    };
    let app = axum::Router::new()
        .route("/orders", post(create))
        .route("/orders/{id}", get(read).delete(delete))
        .with_state(api);
    (serve(app), log)
}

/// The create → read → delete flow, `executor` lines first.
fn scenario(api: &Server, secs: u32, executor: &str) -> String {
    format!(
        r#"
name = "flows"
duration = "{secs}s"
seed = 11

[gateway]
url = "http://{addr}"

[[traffic]]
name = "crud"
{executor}
connections = 4
flow = true
requests = [
  {{ method = "POST", path = "/orders", body = '{{"sku": {{seq}}}}', check = {{ status = [201] }}, extract = {{ order_id = "$.id" }} }},
  {{ path = "/orders/{{order_id}}", check = {{ json = {{ "$.id" = "exists", "$.state" = "created" }} }} }},
  {{ method = "DELETE", path = "/orders/{{order_id}}", expect = [204] }},
]
"#,
        addr = api.addr
    )
}

fn run(name: &str, text: &str) -> serde_json::Value {
    let (out, stderr, code) = run_code(&support::dir("flows", name), text);
    assert_eq!(code, Some(0), "{stderr}");
    summary(&out)
}

/// The API's log counted by method.
fn by_method(log: &Log) -> BTreeMap<String, u64> {
    let mut n = BTreeMap::new();
    for (m, _) in &log.requests {
        *n.entry(m.clone()).or_default() += 1;
    }
    n
}

fn step(s: &serde_json::Value, i: usize) -> &serde_json::Value {
    &s["flows"][0]["steps"][i]
}

#[test]
fn a_flow_creates_reads_back_and_deletes_each_order_in_order() {
    let (api, log) = orders_api(false);
    let secs = 3;
    let s = run(
        "flow-crud",
        &scenario(
            &api,
            secs,
            "executor = \"constant-arrival-rate\"\nrate = 20",
        ),
    );
    let log = log.lock().unwrap();
    // The schedule asks for 20 flows a second, 3 seconds: 60 flows.
    let flows = 20 * u64::from(secs);
    let n = by_method(&log);
    assert_eq!(
        (n["POST"], n["GET"], n["DELETE"]),
        (flows, flows, flows),
        "each flow sent its three steps"
    );
    // Each order was read back and deleted after it was created, by its own id:
    // the API's log, in order, shows every GET and DELETE of an id after its POST.
    let mut created = BTreeSet::new();
    let mut answers = 0u64;
    for (method, path) in &log.requests {
        match method.as_str() {
            "POST" => {
                answers += 1;
                created.insert(format!("o-{answers}"));
            }
            _ => {
                let id = path.trim_start_matches("/orders/");
                assert!(
                    created.contains(id),
                    "{method} {path} before its order existed"
                );
            }
        }
    }
    assert!(
        log.orders.is_empty(),
        "every order was deleted: {:?}",
        log.orders
    );
    let f = &s["flows"][0];
    assert_eq!(f["phase"], "crud");
    assert_eq!(
        (f["started"].as_u64(), f["completed"].as_u64()),
        (Some(flows), Some(flows))
    );
    for (i, (method, path)) in [
        ("POST", "/orders"),
        ("GET", "/orders/{order_id}"),
        ("DELETE", "/orders/{order_id}"),
    ]
    .into_iter()
    .enumerate()
    {
        let st = step(&s, i);
        assert_eq!(
            (
                st["step"].as_u64(),
                st["method"].as_str(),
                st["path"].as_str()
            ),
            (Some(i as u64 + 1), Some(method), Some(path))
        );
        assert_eq!(st["sent"], n[method], "step {i}");
        assert_eq!(st["good"], n[method], "step {i}");
        assert_eq!(
            (st["check_failed"].as_u64(), st["skipped"].as_u64()),
            (Some(0), Some(0))
        );
        assert_eq!(
            st["latency_ms"]["count"], n[method],
            "every answer has a latency"
        );
    }
    assert_eq!(s["requests"]["sent"], 3 * flows);
    assert!(
        s["outcomes"].get("check_failed").is_none(),
        "absent while never seen"
    );
}

#[test]
fn wrong_bodies_fail_their_check_and_a_missing_id_stops_the_steps_that_need_it() {
    let (api, log) = orders_api(true);
    let s = run(
        "flow-checks",
        &scenario(&api, 2, "executor = \"constant-vus\"\nvus = 2"),
    );
    let log = log.lock().unwrap();
    let n = by_method(&log);
    let (posts, without_id, wrong) = (n["POST"], log.created_without_id, log.wrong_reads);
    assert!(
        posts >= 6 && without_id >= 2 && wrong >= 1,
        "{n:?} {without_id} {wrong}"
    );
    // A creation without an id fails its step's check; the read and delete that need
    // the id are not sent: the API saw one GET and one DELETE per order with an id.
    let create = step(&s, 0);
    assert_eq!(create["sent"], posts);
    assert_eq!(create["check_failed"], without_id);
    assert_eq!(create["good"], posts - without_id);
    let read = step(&s, 1);
    assert_eq!(read["sent"], n["GET"]);
    assert_eq!(n["GET"], posts - without_id);
    assert_eq!(read["skipped"], without_id);
    // Reads answered 200 with the wrong state fail the JSON check; the delete still goes.
    assert_eq!(read["check_failed"], wrong);
    let delete = step(&s, 2);
    assert_eq!(
        (delete["sent"].as_u64(), delete["skipped"].as_u64()),
        (Some(n["DELETE"]), Some(without_id))
    );
    assert_eq!(delete["good"], n["DELETE"]);
    assert_eq!(s["flows"][0]["completed"], posts - without_id - wrong);
    assert_eq!(s["outcomes"]["check_failed"], without_id + wrong);
    // Each failure's reason and example body, per class × status, in the breakdown.
    let row = |method: &str| {
        s["breakdown"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["method"] == method)
            .and_then(|c| {
                c["rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| r["outcome"] == "check_failed")
                    .cloned()
            })
            .unwrap_or_else(|| panic!("no check_failed row for {method}: {}", s["breakdown"]))
    };
    let r = row("POST");
    assert_eq!(
        (r["status"].as_u64(), r["count"].as_u64()),
        (Some(201), Some(without_id))
    );
    assert_eq!(r["reason"], "extract `order_id`: `$.id` selects nothing");
    assert_eq!(r["example_body"], r#"{"error":"no id"}"#);
    let r = row("GET");
    assert_eq!(
        (r["status"].as_u64(), r["count"].as_u64()),
        (Some(200), Some(wrong))
    );
    assert_eq!(
        r["reason"],
        r#"`$.state` is `"pending"`, expected `"created"`"#
    );
    assert!(
        r["example_body"]
            .as_str()
            .unwrap()
            .contains(r#""state":"pending""#)
    );
    // Availability counts check failures as bad, like any other failure.
    assert_eq!(
        s["availability"]["good"].as_u64().unwrap(),
        s["requests"]["sent"].as_u64().unwrap() - without_id - wrong
    );
}
