//! Toxiproxy's `api_test.go`, second half: the toxic endpoint cases
//! (`TestListingToxics` … `TestInvalidStream`), ported as in
//! `toxiproxy_port.rs` (same requests, same expectations, free
//! `localhost:<port>` addresses instead of its fixed ones).

use crate::faults_common;

use faults_common::toxiproxy_api::*;
use faults_common::{http, spawn_api};
use serde_json::{Value, json};

#[tokio::test]
async fn test_listing_toxics() {
    let api = spawn_api(1).await;
    create_mysql_master(&api).await;
    toxic_absent(&toxics(&api, "mysql_master").await, "latency", "");
}

#[tokio::test]
async fn test_add_toxic() {
    let api = spawn_api(1).await;
    create_mysql_master(&api).await;
    let attrs = json!({"latency": 100, "jitter": 10});
    let r = add_toxic(
        &api,
        "mysql_master",
        ("foobar", "latency", "downstream"),
        1.0,
        attrs,
    )
    .await;
    attrs_are(&body(&r), 1.0, 100.0, 10.0);
    let all = toxics(&api, "mysql_master").await;
    attrs_are(
        toxic_exists(&all, "foobar", "latency", "downstream"),
        1.0,
        100.0,
        10.0,
    );
}

#[tokio::test]
async fn test_add_multiple_toxics() {
    let api = spawn_api(1).await;
    create_mysql_master(&api).await;
    for name in ["latency1", "latency2"] {
        let r = add_toxic(
            &api,
            "mysql_master",
            (name, "latency", "downstream"),
            1.0,
            Value::Null,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let all = toxics(&api, "mysql_master").await;
    toxic_exists(&all, "latency1", "latency", "downstream");
    attrs_are(
        toxic_exists(&all, "latency2", "latency", "downstream"),
        1.0,
        0.0,
        0.0,
    );
    toxic_absent(&all, "latency1", "upstream");
    toxic_absent(&all, "latency2", "upstream");
}

#[tokio::test]
async fn test_add_conflicting_toxic() {
    let api = spawn_api(1).await;
    create_mysql_master(&api).await;
    let r = add_toxic(
        &api,
        "mysql_master",
        ("foobar", "latency", "downstream"),
        1.0,
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 200);
    let r = add_toxic(
        &api,
        "mysql_master",
        ("foobar", "slow_close", "downstream"),
        1.0,
        Value::Null,
    )
    .await;
    assert_eq!(api_err(&r), (409, "toxic already exists".into()));
    let all = toxics(&api, "mysql_master").await;
    attrs_are(
        toxic_exists(&all, "foobar", "latency", "downstream"),
        1.0,
        0.0,
        0.0,
    );
    toxic_absent(&all, "foobar", "upstream");
}

#[tokio::test]
async fn test_add_conflicting_toxics_multistream() {
    let api = spawn_api(1).await;
    create_mysql_master(&api).await;
    let r = add_toxic(
        &api,
        "mysql_master",
        ("foobar", "latency", "upstream"),
        1.0,
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 200);
    let r = add_toxic(
        &api,
        "mysql_master",
        ("foobar", "latency", "downstream"),
        1.0,
        Value::Null,
    )
    .await;
    assert_eq!(api_err(&r), (409, "toxic already exists".into()));
    let all = toxics(&api, "mysql_master").await;
    attrs_are(
        toxic_exists(&all, "foobar", "latency", "upstream"),
        1.0,
        0.0,
        0.0,
    );
    toxic_absent(&all, "foobar", "downstream");
}

#[tokio::test]
async fn test_add_conflicting_toxics_multistream_defaults() {
    let api = spawn_api(1).await;
    create_mysql_master(&api).await;
    for stream in ["upstream", "downstream"] {
        let r = add_toxic(
            &api,
            "mysql_master",
            ("", "latency", stream),
            1.0,
            Value::Null,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let all = toxics(&api, "mysql_master").await;
    attrs_are(
        toxic_exists(&all, "latency_upstream", "latency", "upstream"),
        1.0,
        0.0,
        0.0,
    );
    attrs_are(
        toxic_exists(&all, "latency_downstream", "latency", "downstream"),
        1.0,
        0.0,
        0.0,
    );
}

#[tokio::test]
async fn test_add_toxic_with_toxicity() {
    let api = spawn_api(1).await;
    create_mysql_master(&api).await;
    let attrs = json!({"latency": 100, "jitter": 10});
    let r = add_toxic(
        &api,
        "mysql_master",
        ("", "latency", "downstream"),
        0.2,
        attrs,
    )
    .await;
    // 0.2 as float32, printed the way Go prints a float32.
    attrs_are(&body(&r), 0.2, 100.0, 10.0);
    let all = toxics(&api, "mysql_master").await;
    attrs_are(
        toxic_exists(&all, "latency_downstream", "latency", "downstream"),
        0.2,
        100.0,
        10.0,
    );
}

#[tokio::test]
async fn test_add_noop() {
    let api = spawn_api(1).await;
    create_mysql_master(&api).await;
    let r = add_toxic(
        &api,
        "mysql_master",
        ("foobar", "noop", ""),
        1.0,
        Value::Null,
    )
    .await;
    let t = body(&r);
    assert_eq!(
        (
            t["toxicity"].as_f64(),
            t["name"].as_str(),
            t["type"].as_str(),
            t["stream"].as_str()
        ),
        (Some(1.0), Some("foobar"), Some("noop"), Some("downstream"))
    );
    let all = toxics(&api, "mysql_master").await;
    assert_eq!(
        toxic_exists(&all, "foobar", "noop", "downstream")["toxicity"],
        1.0
    );
}

#[tokio::test]
async fn test_update_toxics() {
    let api = spawn_api(1).await;
    create_mysql_master(&api).await;
    let attrs = json!({"latency": 100, "jitter": 10});
    let r = add_toxic(
        &api,
        "mysql_master",
        ("", "latency", "downstream"),
        -1.0,
        attrs,
    )
    .await;
    attrs_are(&body(&r), 1.0, 100.0, 10.0);
    // The Go client's UpdateToxic: toxicity -1 is left out of the body.
    let path = "/proxies/mysql_master/toxics/latency_downstream";
    let r = http(
        api.addr,
        "PATCH",
        path,
        Some(r#"{"attributes":{"latency":1000},"toxicity":0.5}"#),
    )
    .await;
    attrs_are(&body(&r), 0.5, 1000.0, 10.0);
    let r = http(
        api.addr,
        "PATCH",
        path,
        Some(r#"{"attributes":{"latency":500}}"#),
    )
    .await;
    attrs_are(&body(&r), 0.5, 500.0, 10.0);
    let all = toxics(&api, "mysql_master").await;
    attrs_are(
        toxic_exists(&all, "latency_downstream", "latency", "downstream"),
        0.5,
        500.0,
        10.0,
    );
}

#[tokio::test]
async fn test_remove_toxic() {
    let api = spawn_api(1).await;
    create_mysql_master(&api).await;
    let r = add_toxic(
        &api,
        "mysql_master",
        ("", "latency", "downstream"),
        1.0,
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 200);
    let all = toxics(&api, "mysql_master").await;
    attrs_are(
        toxic_exists(&all, "latency_downstream", "latency", "downstream"),
        1.0,
        0.0,
        0.0,
    );
    let path = "/proxies/mysql_master/toxics/latency_downstream";
    assert_eq!(http(api.addr, "DELETE", path, None).await.status, 204);
    toxic_absent(
        &toxics(&api, "mysql_master").await,
        "latency_downstream",
        "",
    );
}

/// The original expects `{"version": "git"}` (its build without a version);
/// ours carries the version we are compatible with, in the same shape.
#[tokio::test]
async fn test_version_endpoint_returns_version() {
    let api = spawn_api(1).await;
    let r = http(api.addr, "GET", "/version", None).await;
    assert_eq!(r.body, "{\"version\": \"2.12.0\"}\n");
}

#[tokio::test]
async fn test_invalid_stream() {
    let api = spawn_api(1).await;
    create_mysql_master(&api).await;
    let r = add_toxic(
        &api,
        "mysql_master",
        ("", "latency", "walrustream"),
        1.0,
        Value::Null,
    )
    .await;
    assert_eq!(
        api_err(&r),
        (
            400,
            "stream was invalid, can be either upstream or downstream".into()
        )
    );
}
