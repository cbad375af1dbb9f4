//! The toxics' attribute ranges as the HTTP API answers them, over real
//! sockets (Toxiproxy's `TestBandwidthToxic` is ported, with the other
//! toxics cases, in toxiproxy_port_toxics.rs). The accuracy figures (latency error,
//! delivered/set rate) are a benchmark: bench/faults/run.sh.

use crate::faults_common;

use faults_common::{http, spawn_api};

fn error_text(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).expect("JSON error body");
    assert_eq!(v["status"], 400, "{body}");
    v["error"].as_str().expect("error text").to_owned()
}

/// Jitter ≥ 2^62 ms was accepted and then panicked once per connection
/// (`2 × jitter` overflowed). Now it, and every attribute out of its range,
/// is a 400 naming the attribute, on create and on update alike.
#[tokio::test]
async fn out_of_range_attribute_is_refused_naming_it() {
    let api = spawn_api(1).await;
    let body = r#"{"name":"p","listen":"127.0.0.1:0","upstream":"127.0.0.1:1"}"#;
    assert_eq!(
        http(api.addr, "POST", "/proxies", Some(body)).await.status,
        201
    );

    let huge =
        r#"{"name":"j","type":"latency","attributes":{"latency":1,"jitter":4611686018427387904}}"#;
    let r = http(api.addr, "POST", "/proxies/p/toxics", Some(huge)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        error_text(&r.body),
        "bad request body: latency attribute \"jitter\" out of range: 4611686018427387904 \
         (allowed -86400000 to 86400000 ms)"
    );
    // Nothing was created.
    assert_eq!(
        http(api.addr, "GET", "/proxies/p/toxics/j", None)
            .await
            .status,
        404
    );

    let ok = r#"{"name":"j","type":"latency","attributes":{"latency":1,"jitter":86400000}}"#;
    assert_eq!(
        http(api.addr, "POST", "/proxies/p/toxics", Some(ok))
            .await
            .status,
        200
    );
    let patch = r#"{"attributes":{"jitter":86400001}}"#;
    let r = http(api.addr, "PATCH", "/proxies/p/toxics/j", Some(patch)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        error_text(&r.body).contains("\"jitter\" out of range: 86400001"),
        "{}",
        r.body
    );
    // The toxic is as it was.
    let r = http(api.addr, "GET", "/proxies/p/toxics/j", None).await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["attributes"]["jitter"], 86_400_000);

    for (kind, attrs, name) in [
        ("bandwidth", r#"{"rate":100000001}"#, "rate"),
        ("slicer", r#"{"average_size":1073741825}"#, "average_size"),
        ("slicer", r#"{"delay":86400000001}"#, "delay"),
        ("timeout", r#"{"timeout":-86400001}"#, "timeout"),
        ("packet_loss", r#"{"loss_rate":1.5}"#, "loss_rate"),
    ] {
        let body = format!(r#"{{"type":"{kind}","attributes":{attrs}}}"#);
        let r = http(api.addr, "POST", "/proxies/p/toxics", Some(&body)).await;
        assert_eq!(r.status, 400, "{kind}: {}", r.body);
        let text = error_text(&r.body);
        assert!(
            text.starts_with(&format!(
                "bad request body: {kind} attribute \"{name}\" out of range"
            )),
            "{text}"
        );
    }
}
