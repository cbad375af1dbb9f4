//! URLs as given (issue 22): the path of `[gateway] url` and of `ninefold attack URL`
//! reaches the server. A plain HTTP/1.1 server on loopback records every request
//! target it receives; the expected targets are written out here by hand.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;

use super::support::{Server, serve};

const BIN: &str = env!("CARGO_BIN_EXE_ninefold");

/// A server answering 200 to everything, noting each request's path and query.
async fn recording_server() -> (Server, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let server = serve(move |req| {
        let seen = Arc::clone(&seen2);
        async move {
            let target = req
                .uri()
                .path_and_query()
                .map_or_else(String::new, |p| p.as_str().to_owned());
            seen.lock().unwrap().push(target);
            http::Response::new(Full::new(Bytes::from_static(b"ok")))
        }
    })
    .await;
    (server, seen)
}

/// The binary, run off the test's runtime (its server must keep answering).
async fn ninefold(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || Command::new(BIN).args(&args).output().unwrap())
        .await
        .unwrap()
}

fn scenario(dir: &Path, url: &str) -> String {
    let text = format!(
        r#"name = "base-path"
duration = "1s"
seed = 7

[gateway]
url = "{url}"

[[traffic]]
name = "steady"
executor = "constant-arrival-rate"
rate = 20
requests = [{{ path = "/items/1" }}, {{ path = "/orders?limit={{seq}}" }}]
"#
    );
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join("s.toml");
    std::fs::File::create(&p)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    p.to_str().unwrap().to_owned()
}

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ninefold-urls-{name}-{}", std::process::id()))
}

/// The regression of issue 22: `http://host:port/prod/v1` (an AWS stage URL) sent
/// `/items/1`, its base path silently dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_path_in_the_gateway_url_prefixes_every_request_path() {
    let (server, seen) = recording_server().await;
    let dir = temp("base");
    let url = format!("http://127.0.0.1:{}/prod/v1/", server.addr.port());
    let s = scenario(&dir, &url);
    let out_dir = dir.join("run").to_str().unwrap().to_owned();
    let out = ninefold(vec!["run".into(), s, "--out".into(), out_dir]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let seen = seen.lock().unwrap();
    assert!(seen.len() >= 10, "{seen:?}");
    for target in seen.iter() {
        assert!(
            target == "/prod/v1/items/1" || target.starts_with("/prod/v1/orders?limit="),
            "{target} (all: {seen:?})"
        );
    }
    assert!(seen.iter().any(|t| t == "/prod/v1/items/1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_sends_the_urls_path_and_query_as_given() {
    let (server, seen) = recording_server().await;
    let url = format!(
        "http://127.0.0.1:{}/prod/v1/items?x=1&y=2",
        server.addr.port()
    );
    let args = [
        "attack",
        &url,
        "-n",
        "5",
        "-c",
        "1",
        "--workers",
        "1",
        "--json",
    ];
    let out = ninefold(args.iter().map(|s| (*s).to_owned()).collect()).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(*seen.lock().unwrap(), vec!["/prod/v1/items?x=1&y=2"; 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_in_the_gateway_url_is_refused_at_validate_time() {
    let dir = temp("query");
    let s = scenario(&dir, "http://127.0.0.1:9/prod?stage=v1");
    let out = ninefold(vec!["validate".into(), s]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("gateway.url"), "{stderr}");
    assert!(stderr.contains("a query or fragment"), "{stderr}");
}

/// `--connect-to` as curl's: the URL names a host that does not resolve, whose
/// certificate the server holds (and no other name): the connection goes to
/// loopback, and TLS verifies the URL's name, so SNI and verification stay the URL's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_aims_an_unresolvable_https_host_at_loopback_keeping_its_name() {
    use std::sync::atomic::Ordering;
    let pki = super::tls::pki_naming("connect-to", &["api.ninefold.invalid"]);
    let s = super::tls::server(&pki, false);
    let port = s.addr.port();
    let url = format!("https://api.ninefold.invalid:{port}/items/1");
    let via = format!("api.ninefold.invalid:{port}:127.0.0.1:{port}");
    let ca = pki.ca.to_str().unwrap().to_owned();
    let args = [
        "attack",
        &url,
        "-n",
        "8",
        "-c",
        "1",
        "--workers",
        "1",
        "--json",
    ];
    let mut with: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    with.extend(["--ca-file".into(), ca.clone(), "--connect-to".into(), via]);
    let out = ninefold(with).await;
    let v = super::tls::json(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["outcomes"]["ok"], 8, "{v}");
    assert_eq!(s.answered.load(Ordering::SeqCst), 8);
    // Without it the name does not resolve: refused before any traffic.
    let mut without: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    without.extend(["--ca-file".into(), ca]);
    let out = ninefold(without).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot resolve"));
    // Aimed at the server by its address instead, the name checked is the URL's
    // (127.0.0.1, which the certificate does not name): refused as tls_error.
    let url = format!("https://127.0.0.1:{port}/items/1");
    let ca = pki.ca.to_str().unwrap();
    let out = ninefold(
        [
            "attack",
            &url,
            "-n",
            "2",
            "-c",
            "1",
            "--json",
            "--ca-file",
            ca,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect(),
    )
    .await;
    let v = super::tls::json(&out);
    assert_eq!(v["outcomes"]["tls_error"], 2, "{v}");
}

#[test]
fn connect_to_entries_parse_as_curls_and_bad_ones_are_refused_where_they_are() {
    let dir = temp("connect-to-bad");
    let s = scenario(&dir, "https://api.ninefold.invalid:443");
    let text = std::fs::read_to_string(&s).unwrap()
        + "\n[client]\nconnect_to = [\"api.ninefold.invalid:443:127.0.0.1:8443\", \"a:b:c\"]\n";
    std::fs::write(&s, text).unwrap();
    let out = Command::new(BIN).args(["validate", &s]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("client.connect_to[1]"), "{stderr}");
    assert!(
        stderr.contains("HOST:PORT:CONNECT-HOST:CONNECT-PORT"),
        "{stderr}"
    );
}

/// `attack --resolve-every`: a hostname URL (`localhost`, resolved again on the
/// interval; `0s`: once) is attacked with it, and a value that is not a duration is
/// refused as bad input before any traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_takes_resolve_every_and_refuses_a_bad_one() {
    let (server, seen) = recording_server().await;
    let url = format!("http://localhost:{}/r", server.addr.port());
    let args = |every: &str, n: &str| -> Vec<String> {
        let a = [
            "attack",
            &url,
            "-n",
            n,
            "-c",
            "1",
            "--json",
            "--resolve-every",
            every,
        ];
        a.iter().map(|s| (*s).to_owned()).collect()
    };
    let out = ninefold(args("soon", "2")).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--resolve-every"), "{stderr}");
    assert!(seen.lock().unwrap().is_empty(), "nothing sent on bad input");
    let v4 = tokio::net::lookup_host(("localhost", 1))
        .await
        .is_ok_and(|mut a| a.any(|a| a.ip() == std::net::Ipv4Addr::LOCALHOST));
    if !v4 {
        eprintln!("skipped the runs: localhost does not resolve to 127.0.0.1 here");
        return;
    }
    // The server listens on 127.0.0.1 only: a ::1 record is refused and passed over.
    for every in ["0s", "20ms"] {
        let out = ninefold(args(every, "4")).await;
        let v = super::tls::json(&out);
        assert_eq!(out.status.code(), Some(0), "{every}: {v}");
        assert_eq!(v["outcomes"]["ok"], 4, "{every}: {v}");
    }
    assert_eq!(seen.lock().unwrap().len(), 8);
}
