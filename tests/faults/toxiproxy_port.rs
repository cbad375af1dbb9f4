//! Every case of Toxiproxy's `api_test.go` (v2.12 line), ported: the same
//! requests (the bodies its Go client sends) and the same expectations,
//! against our server over real sockets. Its toxic endpoint cases are in
//! `toxiproxy_port_api_toxics.rs`, the toxics cases in
//! `toxiproxy_port_toxics.rs` and `toxiproxy_port_stages.rs`.
//!
//! Deviations from the original, all forced by the test rules: the original
//! binds fixed ports (`localhost:3310`, `localhost:7070`, …); here each such
//! port is a free one found by binding `127.0.0.1:0` and released at once,
//! still spelled `localhost:<port>` so the resolution the cases check is
//! exercised. Upstreams are never dialled except by the "is it up" probe.
//! The Go client's error text `op: HTTP <status>: <error>` is checked as the
//! status and the `error` member it is made of.

use crate::faults_common;

use faults_common::toxiproxy_api::*;
use faults_common::{http, http_with, spawn_api};
use serde_json::{Value, json};

#[tokio::test]
async fn test_request_id() {
    let api = spawn_api(1).await;
    let r = http_with(api.addr, "GET", "/version", None, "curl").await;
    assert!(
        r.header("x-toxiproxy-request-id").is_some(),
        "{:?}",
        r.headers
    );
}

#[tokio::test]
async fn test_browser_gets_403() {
    let api = spawn_api(1).await;
    let ua = "Mozilla/5.0 (Linux; Android 4.4.2); Nexus 5 Build/KOT49H) AppleWebKit/537.36(KHTML, like Gecko) Chrome/33.0.1750.117 Mobile Safari/537.36 OPR/20.0.1396.72047";
    let r = http_with(api.addr, "GET", "/proxies", None, ua).await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn test_non_browser_gets_200() {
    let api = spawn_api(1).await;
    let r = http_with(api.addr, "GET", "/proxies", None, "Wget/2.1").await;
    assert_ne!(r.status, 403);
}

#[tokio::test]
async fn test_index_with_no_proxies() {
    let api = spawn_api(1).await;
    assert!(proxies(&api).await.is_empty());
}

#[tokio::test]
async fn test_create_proxy_blank_name() {
    let api = spawn_api(1).await;
    let r = create(&api, "", "", "").await;
    assert_eq!(api_err(&r), (400, "missing required field: name".into()));
}

#[tokio::test]
async fn test_create_proxy_blank_upstream() {
    let api = spawn_api(1).await;
    let r = create(&api, "test", "", "").await;
    assert_eq!(
        api_err(&r),
        (400, "missing required field: upstream".into())
    );
}

#[tokio::test]
async fn test_populate_proxy() {
    let api = spawn_api(1).await;
    let r = populate(
        &api,
        &json!([
            {"name": "one", "listen": localhost(), "upstream": localhost(), "enabled": true},
            {"name": "two", "listen": localhost(), "upstream": localhost(), "enabled": true},
        ]),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let list = body(&r)["proxies"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (&list[0]["name"], &list[1]["name"]),
        (&json!("one"), &json!("two"))
    );
    for p in &list {
        assert!(is_up(p["listen"].as_str().unwrap()).await, "{p}");
    }
}

#[tokio::test]
async fn test_populate_default_enabled() {
    let api = spawn_api(1).await;
    let req = format!(
        r#"[{{"name": "test", "listen": "{}", "upstream": "{}"}}]"#,
        localhost(),
        localhost()
    );
    let r = http(api.addr, "POST", "/populate", Some(&req)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let all = proxies(&api).await;
    assert_eq!(all.len(), 1);
    assert!(is_up(all["test"]["listen"].as_str().unwrap()).await);
}

#[tokio::test]
async fn test_populate_disabled_proxy() {
    let api = spawn_api(1).await;
    let (one, two) = (localhost(), localhost());
    let r = populate(
        &api,
        &json!([
            {"name": "one", "listen": one, "upstream": localhost(), "enabled": false},
            {"name": "two", "listen": two, "upstream": localhost(), "enabled": true},
        ]),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let list = body(&r)["proxies"].as_array().unwrap().clone();
    assert_eq!(
        (&list[0]["name"], &list[1]["name"]),
        (&json!("one"), &json!("two"))
    );
    assert!(!is_up(&one).await);
    assert!(is_up(&two).await);
}

/// The case of issue 19: `localhost:<port>` is resolved before comparing, so
/// the existing proxy (and its toxic) is kept, as 2.12.0 does since #631.
#[tokio::test]
async fn test_populate_existing_proxy() {
    let api = spawn_api(1).await;
    let (p1, p3) = (free_port(), free_port());
    let up1 = localhost();
    assert_eq!(
        create(&api, "one", &format!("localhost:{p1}"), &up1)
            .await
            .status,
        201
    );
    assert_eq!(
        create(&api, "two", &localhost(), &localhost()).await.status,
        201
    );
    let r = add_toxic(&api, "one", ("", "latency", "downstream"), 1.0, Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = populate(
        &api,
        &json!([
            {"name": "one", "listen": format!("localhost:{p1}"), "upstream": up1, "enabled": true},
            {"name": "two", "listen": format!("127.0.0.1:{p3}"), "upstream": localhost(), "enabled": true},
        ]),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let list = body(&r)["proxies"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (&list[0]["name"], &list[1]["name"]),
        (&json!("one"), &json!("two"))
    );
    assert_eq!(list[0]["listen"], format!("127.0.0.1:{p1}"));
    assert_eq!(list[1]["listen"], format!("127.0.0.1:{p3}"));
    let t = toxics(&api, "one").await;
    assert!(
        t.len() == 1 && t[0]["type"] == "latency",
        "populate replaced one: {t:?}"
    );
    for p in &list {
        assert!(is_up(p["listen"].as_str().unwrap()).await, "{p}");
    }
}

#[tokio::test]
async fn test_populate_with_bad_name() {
    let api = spawn_api(1).await;
    let r = populate(
        &api,
        &json!([
            {"name": "one", "listen": localhost(), "upstream": localhost(), "enabled": true},
            {"name": "", "listen": "", "upstream": "", "enabled": true},
        ]),
    )
    .await;
    assert_eq!(
        api_err(&r),
        (400, "missing required field: name at proxy 2".into())
    );
    assert!(body(&r)["proxies"].as_array().is_none_or(Vec::is_empty));
    assert!(proxies(&api).await.is_empty());
}

#[tokio::test]
async fn test_populate_proxy_with_bad_data_should_return_error() {
    let api = spawn_api(1).await;
    let r = populate(
        &api,
        &json!([
            {"name": "one", "listen": localhost(), "upstream": localhost(), "enabled": true},
            {"name": "two", "listen": "local373", "upstream": localhost(), "enabled": true},
            {"name": "three", "listen": localhost(), "upstream": localhost(), "enabled": true},
        ]),
    )
    .await;
    assert!(
        r.status >= 400,
        "populate should fail: {} {}",
        r.status,
        r.body
    );
    let all = proxies(&api).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(all.contains_key("one"));
    assert!(is_up(all["one"]["listen"].as_str().unwrap()).await);
}

#[tokio::test]
async fn test_populate_add_toxic() {
    let api = spawn_api(1).await;
    let r = populate(
        &api,
        &json!([{"name": "one", "listen": localhost(), "upstream": localhost(), "enabled": true}]),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let list = body(&r)["proxies"].as_array().unwrap().clone();
    assert_eq!((list.len(), &list[0]["name"]), (1, &json!("one")));
    let r = add_toxic(&api, "one", ("", "latency", "downstream"), 1.0, Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn test_listing_proxies() {
    let api = spawn_api(1).await;
    let port = free_port();
    let up = localhost();
    assert_eq!(
        create(&api, "mysql_master", &format!("localhost:{port}"), &up)
            .await
            .status,
        201
    );
    let all = proxies(&api).await;
    let p = &all["mysql_master"];
    assert_eq!(p["name"], "mysql_master");
    assert_eq!(p["listen"], format!("127.0.0.1:{port}"));
    assert_eq!(p["upstream"], up.as_str());
    toxic_absent(p["toxics"].as_array().unwrap(), "latency", "");
}

#[tokio::test]
async fn test_create_and_get_proxy() {
    let api = spawn_api(1).await;
    let port = free_port();
    let up = localhost();
    assert_eq!(
        create(&api, "mysql_master", &format!("localhost:{port}"), &up)
            .await
            .status,
        201
    );
    let r = http(api.addr, "GET", "/proxies/mysql_master", None).await;
    let p = body(&r);
    assert_eq!(p["name"], "mysql_master");
    assert_eq!(p["listen"], format!("127.0.0.1:{port}"));
    assert_eq!(
        (p["upstream"].as_str(), p["enabled"].as_bool()),
        (Some(up.as_str()), Some(true))
    );
    toxic_absent(p["toxics"].as_array().unwrap(), "latency", "");
}

#[tokio::test]
async fn test_create_proxy_with_save() {
    let api = spawn_api(1).await;
    let port = free_port();
    let up = localhost();
    assert_eq!(
        save_new(&api, &format!("localhost:{port}"), &up, true)
            .await
            .status,
        201
    );
    let p = body(&http(api.addr, "GET", "/proxies/mysql_master", None).await);
    assert_eq!(p["listen"], format!("127.0.0.1:{port}"));
    assert_eq!(
        (p["upstream"].as_str(), p["enabled"].as_bool()),
        (Some(up.as_str()), Some(true))
    );
    assert!(is_up(p["listen"].as_str().unwrap()).await);
}

#[tokio::test]
async fn test_create_disabled_proxy() {
    let api = spawn_api(1).await;
    let listen = localhost();
    let up = localhost();
    assert_eq!(save_new(&api, &listen, &up, false).await.status, 201);
    let p = body(&http(api.addr, "GET", "/proxies/mysql_master", None).await);
    assert_eq!(
        (p["listen"].as_str(), p["upstream"].as_str()),
        (Some(listen.as_str()), Some(up.as_str()))
    );
    assert_eq!(p["enabled"], false);
    assert!(!is_up(&listen).await);
}

#[tokio::test]
async fn test_create_disabled_proxy_and_enable() {
    let api = spawn_api(1).await;
    let listen = localhost();
    let up = localhost();
    assert_eq!(save_new(&api, &listen, &up, false).await.status, 201);
    let mut p = body(&http(api.addr, "GET", "/proxies/mysql_master", None).await);
    assert_eq!(
        (p["listen"].as_str(), p["enabled"].as_bool()),
        (Some(listen.as_str()), Some(false))
    );

    // `Save` of an existing proxy: POST /proxies/<name> with the whole object,
    // then the answer replaces the client's copy.
    for enabled in [true, false] {
        p["enabled"] = json!(enabled);
        let r = http(
            api.addr,
            "POST",
            "/proxies/mysql_master",
            Some(&p.to_string()),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        p = body(&r);
        assert_eq!(is_up(p["listen"].as_str().unwrap()).await, enabled, "{p}");
    }
}

#[tokio::test]
async fn test_delete_proxy() {
    let api = spawn_api(1).await;
    let r = create(&api, "mysql_master", &localhost(), &localhost()).await;
    let listen = body(&r)["listen"].as_str().unwrap().to_owned();
    assert!(!proxies(&api).await.is_empty());
    assert!(is_up(&listen).await);
    let r = http(api.addr, "DELETE", "/proxies/mysql_master", None).await;
    assert_eq!(r.status, 204);
    assert!(!is_up(&listen).await);
    assert!(proxies(&api).await.is_empty());
    let r = http(api.addr, "DELETE", "/proxies/mysql_master", None).await;
    assert_eq!(api_err(&r), (404, "proxy not found".into()));
}

/// The case of issue 19: the error names the address resolved.
#[tokio::test]
async fn test_create_proxy_port_conflict() {
    let api = spawn_api(1).await;
    let port = free_port();
    let listen = format!("localhost:{port}");
    assert_eq!(
        create(&api, "mysql_master", &listen, &localhost())
            .await
            .status,
        201
    );
    let r = create(&api, "test", &listen, &localhost()).await;
    assert_eq!(
        api_err(&r),
        (
            500,
            format!("listen tcp 127.0.0.1:{port}: bind: address already in use")
        )
    );
    assert_eq!(
        http(api.addr, "DELETE", "/proxies/mysql_master", None)
            .await
            .status,
        204
    );
    assert_eq!(
        create(&api, "test", &listen, &localhost()).await.status,
        201
    );
}

#[tokio::test]
async fn test_create_proxy_name_conflict() {
    let api = spawn_api(1).await;
    create_mysql_master(&api).await;
    let other = localhost();
    let r = create(&api, "mysql_master", &other, &localhost()).await;
    assert_eq!(api_err(&r), (409, "proxy already exists".into()));
    assert_eq!(
        http(api.addr, "DELETE", "/proxies/mysql_master", None)
            .await
            .status,
        204
    );
    assert_eq!(
        create(&api, "mysql_master", &other, &localhost())
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn test_reset_state() {
    let api = spawn_api(1).await;
    create_mysql_master(&api).await;
    let attrs = json!({"latency": 100, "jitter": 10});
    let r = add_toxic(
        &api,
        "mysql_master",
        ("", "latency", "downstream"),
        1.0,
        attrs,
    )
    .await;
    let t = body(&r);
    assert_eq!(
        (
            t["attributes"]["latency"].as_f64(),
            t["attributes"]["jitter"].as_f64()
        ),
        (Some(100.0), Some(10.0))
    );
    assert_eq!(http(api.addr, "POST", "/reset", None).await.status, 204);
    let all = proxies(&api).await;
    let p = &all["mysql_master"];
    assert_eq!(p["enabled"], true);
    toxic_absent(&toxics(&api, "mysql_master").await, "latency", "");
    assert!(is_up(p["listen"].as_str().unwrap()).await);
}
