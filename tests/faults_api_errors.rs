//! The error table of `shared/TOXIPROXY-API.md`, row by row: routing errors, proxy
//! errors and toxic errors, each with its status and exact body, over real sockets.

mod faults_common;

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
