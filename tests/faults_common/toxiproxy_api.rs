//! Helpers of the Toxiproxy `api_test.go` port (`tests/faults/toxiproxy_port*.rs`):
//! the requests its Go client sends and its `Assert*` helpers.

use super::{Api, Raw, http};
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// A port nothing listens on right now (bound on 127.0.0.1:0, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `localhost:<free port>`, the shape of the original's fixed addresses.
pub fn localhost() -> String {
    format!("localhost:{}", free_port())
}

pub fn body(r: &Raw) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {:?}", r.body))
}

/// The status and the `error` member (what the Go client's error shows).
pub fn api_err(r: &Raw) -> (u16, String) {
    (r.status, body(r)["error"].as_str().unwrap_or("").to_owned())
}

/// AssertProxyUp: whether a TCP connection to `addr` is accepted.
pub async fn is_up(addr: &str) -> bool {
    tokio::time::timeout(super::WAIT, TcpStream::connect(addr))
        .await
        .is_ok_and(|r| r.is_ok())
}

/// The Go client's `CreateProxy(name, listen, upstream)`: enabled.
pub async fn create(api: &Api, name: &str, listen: &str, upstream: &str) -> Raw {
    let b = json!({"name": name, "listen": listen, "upstream": upstream, "enabled": true});
    http(api.addr, "POST", "/proxies", Some(&b.to_string())).await
}

/// The Go client's `AddToxic(name, type, stream, toxicity, attrs)`.
/// The proxy most of Toxiproxy's cases start from: `mysql_master` on free
/// localhost addresses, created (201).
pub async fn create_mysql_master(api: &Api) {
    let r = create(api, "mysql_master", &localhost(), &localhost()).await;
    assert_eq!(r.status, 201, "creating mysql_master: {:?}", r.body);
}

pub async fn add_toxic(
    api: &Api,
    proxy: &str,
    (name, kind, stream): (&str, &str, &str),
    toxicity: f64,
    attrs: Value,
) -> Raw {
    let toxicity = if toxicity == -1.0 { 1.0 } else { toxicity };
    let mut b = json!({"name": name, "type": kind, "toxicity": toxicity, "attributes": attrs});
    if !stream.is_empty() {
        b["stream"] = json!(stream);
    }
    let path = format!("/proxies/{proxy}/toxics");
    http(api.addr, "POST", &path, Some(&b.to_string())).await
}

pub async fn toxics(api: &Api, proxy: &str) -> Vec<Value> {
    let r = http(api.addr, "GET", &format!("/proxies/{proxy}/toxics"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    body(&r).as_array().unwrap().clone()
}

pub async fn proxies(api: &Api) -> serde_json::Map<String, Value> {
    let r = http(api.addr, "GET", "/proxies", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    body(&r).as_object().unwrap().clone()
}

/// AssertToxicExists: the toxic `name`, checked for type and stream.
pub fn toxic_exists<'a>(all: &'a [Value], name: &str, kind: &str, stream: &str) -> &'a Value {
    let t = all
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("toxic {name} missing in {all:?}"));
    assert_eq!(
        (t["type"].as_str(), t["stream"].as_str()),
        (Some(kind), Some(stream))
    );
    t
}

/// AssertToxicExists(..., false): no toxic `name` on `stream` ("" = any).
pub fn toxic_absent(all: &[Value], name: &str, stream: &str) {
    assert!(
        !all.iter()
            .any(|t| t["name"] == name && (stream.is_empty() || t["stream"] == stream)),
        "{name} should not exist on {stream:?}: {all:?}"
    );
}

pub fn attrs_are(t: &Value, toxicity: f64, latency: f64, jitter: f64) {
    assert_eq!(t["toxicity"].as_f64(), Some(toxicity), "{t}");
    assert_eq!(t["attributes"]["latency"].as_f64(), Some(latency), "{t}");
    assert_eq!(t["attributes"]["jitter"].as_f64(), Some(jitter), "{t}");
}

pub async fn populate(api: &Api, entries: &Value) -> Raw {
    http(api.addr, "POST", "/populate", Some(&entries.to_string())).await
}

/// The Go client's `Save` of a new proxy: POST /proxies with its fields.
pub async fn save_new(api: &Api, listen: &str, upstream: &str, enabled: bool) -> Raw {
    let b =
        json!({"name": "mysql_master", "listen": listen, "upstream": upstream, "enabled": enabled});
    http(api.addr, "POST", "/proxies", Some(&b.to_string())).await
}
