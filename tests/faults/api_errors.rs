//! The error table of Toxiproxy 2.12.0 (docs/faults.md), row by row: routing errors, proxy
//! errors and toxic errors, each with its status and exact body, over real sockets.

use crate::faults_common;

use faults_common::{err, http, http_with, proxy_json, spawn_api};

#[tokio::test]
async fn routing_errors() {
    let api = spawn_api(1).await;
    let a = api.addr;
    for path in [
        "/",
        "/nope",
        "/proxies/",
        "/metrics",
        "/proxies/a/toxics/b/c",
    ] {
        let r = http(a, "GET", path, None).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (404, "404 page not found\n"),
            "{path}"
        );
    }
    for (m, path) in [
        ("PUT", "/proxies"),
        ("DELETE", "/version"),
        ("GET", "/reset"),
        ("HEAD", "/version"),
        ("HEAD", "/proxies/x"),
        ("PUT", "/proxies/x/toxics/y"),
    ] {
        let r = http(a, m, path, None).await;
        assert_eq!((r.status, r.body.as_str()), (405, ""), "{m} {path}");
    }
    let r = http_with(a, "GET", "/proxies", None, "Mozilla/5.0 (Macintosh)").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "User agent not allowed\n")
    );
}

// Long: a table of Toxiproxy's proxy error cases, one request and its expected answer each.
#[tokio::test]
async fn proxy_errors_of_the_table() {
    let api = spawn_api(1).await;
    let a = api.addr;
    let body = r#"{"name":"t","listen":"127.0.0.1:0","upstream":"127.0.0.1:6379"}"#;
    assert_eq!(http(a, "POST", "/proxies", Some(body)).await.status, 201);
    let r = http(a, "POST", "/proxies", Some(body)).await;
    assert_eq!((r.status, r.body), (409, err("proxy already exists", 409)));

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let r = http(
        a,
        "POST",
        "/proxies",
        Some(&format!(
            r#"{{"name":"u","listen":"127.0.0.1:{port}","upstream":"x:1"}}"#
        )),
    )
    .await;
    assert_eq!(
        (r.status, r.body),
        (
            500,
            err(
                &format!("listen tcp 127.0.0.1:{port}: bind: address already in use"),
                500
            )
        )
    );
    assert_eq!(
        http(a, "GET", "/proxies/u", None).await.status,
        404,
        "not added"
    );

    let cases = [
        ("", err("bad request body: EOF", 400)),
        (r#"{"name":"#, err("bad request body: unexpected EOF", 400)),
        (
            r#"{"upstream":"a:1"}"#,
            err("missing required field: name", 400),
        ),
        (
            r#"{"name":"v"}"#,
            err("missing required field: upstream", 400),
        ),
    ];
    for (body, want) in cases {
        let r = http(a, "POST", "/proxies", Some(body)).await;
        assert_eq!((r.status, r.body), (400, want), "{body}");
    }
    let r = http(a, "POST", "/proxies", Some(r#"{"name":5}"#)).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.starts_with(r#"{"error":"bad request body: "#),
        "{}",
        r.body
    );

    // Disabled at creation: not listening, listen kept as given.
    let r = http(
        a,
        "POST",
        "/proxies",
        Some(r#"{"name":"off","listen":"127.0.0.1:0","upstream":"a:1","enabled":false}"#),
    )
    .await;
    assert_eq!(
        (r.status, r.body),
        (201, proxy_json("off", "127.0.0.1:0", "a:1", false, ""))
    );

    // PATCH onto a port in use: 500, and the proxy is left as it was
    // (listening on its old address, enabled), so a later /reset works.
    let before = api.fp.proxy("t").await.unwrap();
    let r = http(
        a,
        "PATCH",
        "/proxies/t",
        Some(&format!(r#"{{"listen":"127.0.0.1:{port}"}}"#)),
    )
    .await;
    assert_eq!(r.status, 500);
    let t = api.fp.proxy("t").await.unwrap();
    assert_eq!(t, before);
    let r = http(a, "POST", "/reset", None).await;
    assert_eq!(r.status, 204);
    let r = http(a, "PATCH", "/proxies/nope", Some("{}")).await;
    assert_eq!((r.status, r.body), (404, err("proxy not found", 404)));
    let r = http(a, "POST", "/proxies/off", Some("")).await;
    assert_eq!((r.status, r.body), (400, err("bad request body: EOF", 400)));
    let r = http(a, "DELETE", "/proxies/nope", None).await;
    assert_eq!((r.status, r.body), (404, err("proxy not found", 404)));
}

// Long: a table of Toxiproxy's toxic error cases, one request and its expected answer each.
#[tokio::test]
async fn toxic_errors_of_the_table() {
    let api = spawn_api(1).await;
    let a = api.addr;
    http(
        a,
        "POST",
        "/proxies",
        Some(r#"{"name":"p","listen":"127.0.0.1:0","upstream":"127.0.0.1:1"}"#),
    )
    .await;
    let cases = [
        (r#"{"type":"nope"}"#, 400, err("invalid toxic type", 400)),
        (
            r#"{"stream":"upstream"}"#,
            400,
            err("invalid toxic type", 400),
        ),
        // The stream is checked before the type, as in the reference.
        (
            r#"{"stream":"up"}"#,
            400,
            err(
                "stream was invalid, can be either upstream or downstream",
                400,
            ),
        ),
        (
            r#"{"type":"latency","stream":"sideways"}"#,
            400,
            err(
                "stream was invalid, can be either upstream or downstream",
                400,
            ),
        ),
        (
            r#"{"type":"latency","stream":""}"#,
            400,
            err(
                "stream was invalid, can be either upstream or downstream",
                400,
            ),
        ),
        (
            r#"{"type":"lat"#,
            400,
            err("bad request body: unexpected EOF", 400),
        ),
        ("", 400, err("bad request body: EOF", 400)),
    ];
    for (body, status, want) in cases {
        let r = http(a, "POST", "/proxies/p/toxics", Some(body)).await;
        assert_eq!((r.status, r.body), (status, want), "{body}");
    }
    let r = http(
        a,
        "POST",
        "/proxies/p/toxics",
        Some(r#"{"type":"latency","attributes":{"latency":"slow"}}"#),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.starts_with(r#"{"error":"bad request body: "#),
        "{}",
        r.body
    );
    let r = http(
        a,
        "POST",
        "/proxies/nope/toxics",
        Some(r#"{"type":"latency"}"#),
    )
    .await;
    assert_eq!((r.status, r.body), (404, err("proxy not found", 404)));
    for (m, body) in [
        ("GET", None),
        ("PATCH", Some("{}")),
        ("POST", Some("{}")),
        ("DELETE", None),
    ] {
        let r = http(a, m, "/proxies/p/toxics/none", body).await;
        assert_eq!(
            (r.status, r.body),
            (404, err("toxic not found", 404)),
            "{m}"
        );
        let r = http(a, m, "/proxies/nope/toxics/none", body).await;
        assert_eq!(
            (r.status, r.body),
            (404, err("proxy not found", 404)),
            "{m}"
        );
    }
    let r = http(a, "GET", "/proxies/nope/toxics", None).await;
    assert_eq!((r.status, r.body), (404, err("proxy not found", 404)));
}

/// Issue 19: error answers carry Toxiproxy's headers (`http.Error`'s
/// `text/plain; charset=utf-8` and `nosniff`) and its JSON body.
#[tokio::test]
async fn error_answers_are_text_plain_with_nosniff() {
    let api = spawn_api(1).await;
    for (method, path, body, status) in [
        ("GET", "/proxies/nope", None, 404),
        ("POST", "/proxies", Some(r#"{"name":""}"#), 400),
        ("POST", "/proxies/nope/toxics", Some("{}"), 404),
    ] {
        let r = http(api.addr, method, path, body).await;
        assert_eq!(r.status, status, "{method} {path}");
        assert_eq!(
            r.header("content-type"),
            Some("text/plain; charset=utf-8"),
            "{method} {path}"
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["status"], status);
        assert!(v["error"].is_string());
    }
    // Successful answers keep application/json.
    let r = http(api.addr, "GET", "/proxies", None).await;
    assert_eq!(r.header("content-type"), Some("application/json"));
}

/// Issue 19: a listen update that cannot bind leaves the proxy as it was
/// (address, enabled, toxics), and `/reset` keeps working.
#[tokio::test]
async fn failed_listen_update_leaves_the_proxy_as_it_was() {
    let api = spawn_api(1).await;
    let a = api.addr;
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = taken.local_addr().unwrap().port();
    let body = r#"{"name":"p","listen":"127.0.0.1:0","upstream":"127.0.0.1:9"}"#;
    assert_eq!(http(a, "POST", "/proxies", Some(body)).await.status, 201);
    let toxic = r#"{"type":"latency","attributes":{"latency":5}}"#;
    assert_eq!(
        http(a, "POST", "/proxies/p/toxics", Some(toxic))
            .await
            .status,
        200
    );
    let before = api.fp.proxy("p").await.unwrap();
    let patch = format!(r#"{{"listen":"localhost:{port}"}}"#);
    let r = http(a, "PATCH", "/proxies/p", Some(&patch)).await;
    assert_eq!(
        (r.status, r.body),
        (
            500,
            err(
                &format!("listen tcp 127.0.0.1:{port}: bind: address already in use"),
                500
            )
        )
    );
    assert_eq!(api.fp.proxy("p").await.unwrap(), before);
    assert!(tokio::net::TcpStream::connect(&before.listen).await.is_ok());
    assert_eq!(http(a, "POST", "/reset", None).await.status, 204);
    assert_eq!(http(a, "POST", "/reset", None).await.status, 204);
}

/// Issue 19: a body over the limit is a 413 in the API's JSON error shape,
/// refused on its head (the body is never sent here).
#[tokio::test]
async fn body_over_the_limit_is_a_json_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let api = spawn_api(1).await;
    let mut sock = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    let head = format!(
        "POST /proxies HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        ninefold::faults::api::BODY_LIMIT + 1
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(faults_common::WAIT, sock.read_to_end(&mut out))
        .await
        .expect("answered on the head alone")
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(
        text.ends_with(&err("request body too large", 413)),
        "{text}"
    );
    // A body that is over the limit without announcing it (chunked) too.
    let mut sock = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    sock.write_all(b"POST /proxies HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..(ninefold::faults::api::BODY_LIMIT / chunk.len() + 2) {
        let head = format!("{:x}\r\n", chunk.len());
        if sock.write_all(head.as_bytes()).await.is_err()
            || sock.write_all(&chunk).await.is_err()
            || sock.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = sock.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(faults_common::WAIT, sock.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(
        text.ends_with(&err("request body too large", 413)),
        "{text}"
    );
}

/// Issue 19: a proxy name with a `/` could never be addressed as
/// `/proxies/{name}`; it is refused on create and on populate.
#[tokio::test]
async fn proxy_name_with_a_slash_is_refused() {
    let api = spawn_api(1).await;
    let msg = "invalid proxy name: must not contain '/'";
    let body = r#"{"name":"a/b","listen":"127.0.0.1:0","upstream":"127.0.0.1:9"}"#;
    let r = http(api.addr, "POST", "/proxies", Some(body)).await;
    assert_eq!((r.status, r.body), (400, err(msg, 400)));
    let r = http(api.addr, "POST", "/populate", Some(&format!("[{body}]"))).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        format!(r#"{{"error":"{msg}","status":400,"proxies":null}}"#)
    );
    assert!(api.fp.proxies().await.is_empty());
}

/// Deliberate difference (docs/faults.md): where Go's decoder lets the last
/// of two equal keys win, we refuse the body.
#[tokio::test]
async fn duplicate_keys_are_refused() {
    let api = spawn_api(1).await;
    let body = r#"{"name":"a","name":"b","listen":"127.0.0.1:0","upstream":"127.0.0.1:9"}"#;
    let r = http(api.addr, "POST", "/proxies", Some(body)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("duplicate field"), "{}", r.body);
    assert!(api.fp.proxies().await.is_empty());
}

/// Issue 19: keys match case-insensitively, as Go's encoding/json does:
/// `{"Enabled": false}` disables (it used to be a 200 that changed nothing).
#[tokio::test]
async fn json_keys_match_case_insensitively() {
    let api = spawn_api(1).await;
    let a = api.addr;
    let body = r#"{"Name":"p","LISTEN":"127.0.0.1:0","Upstream":"127.0.0.1:9"}"#;
    let r = http(a, "POST", "/proxies", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = http(a, "PATCH", "/proxies/p", Some(r#"{"Enabled": false}"#)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!api.fp.proxy("p").await.unwrap().enabled);
    let toxic = r#"{"Type":"latency","Stream":"upstream","Attributes":{"Latency":100,"JITTER":7}}"#;
    let r = http(a, "POST", "/proxies/p/toxics", Some(toxic)).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            200,
            r#"{"attributes":{"latency":100,"jitter":7},"name":"latency_upstream","type":"latency","stream":"upstream","toxicity":1}"#
        )
    );
    // Equal but for case: a duplicate, refused (Go would keep the last).
    let r = http(
        a,
        "PATCH",
        "/proxies/p",
        Some(r#"{"enabled":true,"Enabled":false}"#),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
}
