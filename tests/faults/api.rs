//! The Toxiproxy HTTP API, checked byte for byte against the transcripts and
//! the error table of Toxiproxy 2.12.0 (docs/faults.md), over real sockets.

use crate::faults_common;

use faults_common::{err, http, http_with, proxy_json, spawn_api, spawn_echo};

#[tokio::test]
async fn documented_example_exchange() {
    let api = spawn_api(1).await;
    let a = api.addr;
    let r = http(
        a,
        "POST",
        "/proxies",
        Some(r#"{"name":"api_be1","listen":"127.0.0.1:0","upstream":"127.0.0.1:9001"}"#),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let listen = api.fp.proxy("api_be1").await.unwrap().listen;
    assert!(
        listen.starts_with("127.0.0.1:") && listen != "127.0.0.1:0",
        "{listen}"
    );
    assert_eq!(
        r.body,
        proxy_json("api_be1", &listen, "127.0.0.1:9001", true, "")
    );

    let r = http(a, "POST", "/proxies/api_be1/toxics", Some(r#"{"type":"latency","stream":"upstream","toxicity":0.5,"attributes":{"latency":200,"jitter":50}}"#)).await;
    assert_eq!(r.status, 200);
    let toxic = r#"{"attributes":{"latency":200,"jitter":50},"name":"latency_upstream","type":"latency","stream":"upstream","toxicity":0.5}"#;
    assert_eq!(r.body, toxic);

    let r = http(
        a,
        "PATCH",
        "/proxies/api_be1/toxics/latency_upstream",
        Some(r#"{"attributes":{"jitter":0}}"#),
    )
    .await;
    assert_eq!(r.status, 200);
    let toxic = r#"{"attributes":{"latency":200,"jitter":0},"name":"latency_upstream","type":"latency","stream":"upstream","toxicity":0.5}"#;
    assert_eq!(r.body, toxic);

    let r = http(
        a,
        "POST",
        "/proxies/api_be1/toxics",
        Some(r#"{"type":"latency","stream":"upstream"}"#),
    )
    .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (409, err("toxic already exists", 409).as_str())
    );

    let r = http(a, "PATCH", "/proxies/api_be1", Some(r#"{"enabled":false}"#)).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        proxy_json("api_be1", &listen, "127.0.0.1:9001", false, toxic)
    );

    let r = http(a, "POST", "/reset", None).await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    let after = api.fp.proxy("api_be1").await.unwrap();
    assert!(after.enabled && after.toxics.is_empty(), "{after:?}");

    let r = http(a, "DELETE", "/proxies/api_be1", None).await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    let r = http(a, "GET", "/proxies/nope", None).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (404, err("proxy not found", 404).as_str())
    );
}

#[tokio::test]
async fn version_is_exact() {
    let api = spawn_api(1).await;
    let r = http(api.addr, "GET", "/version", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "{\"version\": \"2.12.0\"}\n");
    assert_eq!(
        r.header("content-type"),
        Some("application/json;charset=utf-8")
    );
}

#[tokio::test]
async fn every_response_has_a_request_id() {
    let api = spawn_api(1).await;
    let mut ids = Vec::new();
    for (m, p) in [
        ("GET", "/version"),
        ("GET", "/nope"),
        ("PUT", "/proxies"),
        ("GET", "/proxies/x"),
        ("HEAD", "/proxies"),
    ] {
        let r = http(api.addr, m, p, None).await;
        let id = r
            .header("x-toxiproxy-request-id")
            .unwrap_or_else(|| panic!("{m} {p}: no id"));
        assert_eq!(id.len(), 20);
        ids.push(id.to_owned());
    }
    let r = http_with(api.addr, "GET", "/version", None, "Mozilla/5.0 (X11)").await;
    assert!(r.header("x-toxiproxy-request-id").is_some());
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
}

// Long: a sequence of API calls against one proxy, each answer checked as Toxiproxy gives it.
#[tokio::test]
async fn toxic_defaults_case_and_no_range_checks() {
    let api = spawn_api(1).await;
    let a = api.addr;
    http(
        a,
        "POST",
        "/proxies",
        Some(r#"{"name":"p","listen":"127.0.0.1:0","upstream":"127.0.0.1:1"}"#),
    )
    .await;
    let r = http(
        a,
        "POST",
        "/proxies/p/toxics",
        Some(r#"{"type":"latency"}"#),
    )
    .await;
    assert_eq!(
        r.body,
        r#"{"attributes":{"latency":0,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}"#
    );
    let r = http(a, "POST", "/proxies/p/toxics", Some(r#"{"type":"latency","stream":"UPSTREAM","toxicity":2.5,"attributes":{"latency":-5,"unknown":1}}"#)).await;
    assert_eq!(
        r.body,
        r#"{"attributes":{"latency":-5,"jitter":0},"name":"latency_UPSTREAM","type":"latency","stream":"UPSTREAM","toxicity":2.5}"#
    );
    let r = http(a, "POST", "/proxies/p/toxics", Some(r#"{"name":"cut","type":"slicer","stream":"upstream","attributes":{"average_size":64,"size_variation":8,"delay":100}}"#)).await;
    let slicer = r#"{"attributes":{"average_size":64,"size_variation":8,"delay":100},"name":"cut","type":"slicer","stream":"upstream","toxicity":1}"#;
    assert_eq!(r.body, slicer);
    // Upstream ones first (insertion order), then downstream ones.
    let r = http(a, "GET", "/proxies/p/toxics", None).await;
    let list: Vec<serde_json::Value> = serde_json::from_str(&r.body).unwrap();
    let names: Vec<&str> = list.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["latency_UPSTREAM", "cut", "latency_downstream"]);
    let r = http(a, "GET", "/proxies/p/toxics/cut", None).await;
    assert_eq!((r.status, r.body.as_str()), (200, slicer));
    // Update: merge, toxicity only when given; POST works as PATCH.
    let r = http(
        a,
        "POST",
        "/proxies/p/toxics/cut",
        Some(r#"{"toxicity":0.25}"#),
    )
    .await;
    assert_eq!(
        r.body,
        slicer.replace(r#""toxicity":1"#, r#""toxicity":0.25"#)
    );
    let every = [
        "bandwidth",
        "slow_close",
        "timeout",
        "reset_peer",
        "limit_data",
        "noop",
    ];
    for kind in every {
        let r = http(
            a,
            "POST",
            "/proxies/p/toxics",
            Some(&format!(r#"{{"type":"{kind}"}}"#)),
        )
        .await;
        assert_eq!(r.status, 200, "{kind}: {}", r.body);
    }
    let r = http(a, "GET", "/proxies/p/toxics/timeout_downstream", None).await;
    assert_eq!(
        r.body,
        r#"{"attributes":{"timeout":0},"name":"timeout_downstream","type":"timeout","stream":"downstream","toxicity":1}"#
    );
    let r = http(
        a,
        "POST",
        "/proxies/p/toxics",
        Some(r#"{"type":"packet_loss","attributes":{"loss_rate":0.5}}"#),
    )
    .await;
    assert_eq!(
        r.body,
        r#"{"attributes":{"loss_rate":0.5,"correlation":0},"name":"packet_loss_downstream","type":"packet_loss","stream":"downstream","toxicity":1}"#
    );
    let r = http(a, "DELETE", "/proxies/p/toxics/cut", None).await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
}

#[tokio::test]
async fn proxies_index_is_an_object_by_name() {
    let api = spawn_api(1).await;
    let a = api.addr;
    assert_eq!(http(a, "GET", "/proxies", None).await.body, "{}");
    for n in ["b", "a"] {
        http(
            a,
            "POST",
            "/proxies",
            Some(&format!(
                r#"{{"name":"{n}","listen":"127.0.0.1:0","upstream":"x:1","enabled":false}}"#
            )),
        )
        .await;
    }
    let r = http(a, "GET", "/proxies", None).await;
    let pa = proxy_json("a", "127.0.0.1:0", "x:1", false, "");
    let pb = proxy_json("b", "127.0.0.1:0", "x:1", false, "");
    assert_eq!(r.body, format!(r#"{{"a":{pa},"b":{pb}}}"#));
}

// Long: one /populate story told request by request (state carries from one call to the next).
#[tokio::test]
async fn populate_validates_first_and_keeps_unchanged_proxies() {
    let api = spawn_api(1).await;
    let a = api.addr;
    let r = http(a, "POST", "/populate", Some("[]")).await;
    assert_eq!((r.status, r.body.as_str()), (201, r#"{"proxies":null}"#));
    let r = http(
        a,
        "POST",
        "/populate",
        Some(r#"[{"name":"a","upstream":"x:1"},{"upstream":"x:2"}]"#),
    )
    .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            400,
            r#"{"error":"missing required field: name at proxy 2","status":400,"proxies":null}"#
        )
    );
    let r = http(
        a,
        "POST",
        "/populate",
        Some(r#"[{"name":"a","upstream":""}]"#),
    )
    .await;
    assert_eq!(
        r.body,
        r#"{"error":"missing required field: upstream at proxy 1","status":400,"proxies":null}"#
    );
    assert_eq!(
        http(a, "GET", "/proxies", None).await.body,
        "{}",
        "nothing created"
    );
    let r = http(a, "POST", "/populate", Some("{}")).await;
    assert_eq!(r.status, 400);

    let echo = spawn_echo().await;
    let list = format!(
        r#"[{{"name":"a","listen":"127.0.0.1:0","upstream":"{}"}},{{"name":"b","listen":"127.0.0.1:0","upstream":"x:1","enabled":false,"toxics":[1]}}]"#,
        echo.addr
    );
    let r = http(a, "POST", "/populate", Some(&list)).await;
    assert_eq!(r.status, 201);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["proxies"][0]["name"], "a");
    assert_eq!(body["proxies"][1]["enabled"], false);
    let listen_a = body["proxies"][0]["listen"].as_str().unwrap().to_owned();
    // Same listen+upstream → kept with its toxics.
    http(
        a,
        "POST",
        "/proxies/a/toxics",
        Some(r#"{"type":"latency"}"#),
    )
    .await;
    let again = format!(
        r#"[{{"name":"a","listen":"{listen_a}","upstream":"{}"}}]"#,
        echo.addr
    );
    let r = http(a, "POST", "/populate", Some(&again)).await;
    assert_eq!(r.status, 201);
    assert_eq!(api.fp.toxics("a").await.unwrap().len(), 1, "kept");
    // Different upstream → replaced, toxics gone.
    let changed = format!(r#"[{{"name":"a","listen":"{listen_a}","upstream":"127.0.0.1:1"}}]"#);
    http(a, "POST", "/populate", Some(&changed)).await;
    assert!(api.fp.toxics("a").await.unwrap().is_empty(), "replaced");

    // A runtime failure mid-list: its status, and what was created before it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let bad = format!(
        r#"[{{"name":"c","listen":"127.0.0.1:0","upstream":"x:1","enabled":false}},{{"name":"d","listen":"127.0.0.1:{port}","upstream":"x:1"}}]"#
    );
    let r = http(a, "POST", "/populate", Some(&bad)).await;
    let c = proxy_json("c", "127.0.0.1:0", "x:1", false, "");
    assert_eq!(r.status, 500);
    assert_eq!(
        r.body,
        format!(
            r#"{{"error":"listen tcp 127.0.0.1:{port}: bind: address already in use","status":500,"proxies":[{c}]}}"#
        )
    );
}

// Long: every call of the client once, in order, against one server.
#[tokio::test]
async fn our_async_client_round_trip_and_typed_errors() {
    use ninefold::faults::toxics::Latency;
    use ninefold::faults::wire::ProxyPatch;
    use ninefold::faults::{
        ClientError, ProxySpec, Stream, Toxic, ToxicPatch, ToxicSpec, ToxiproxyClient,
    };
    use std::time::Duration;

    let api = spawn_api(1).await;
    let echo = spawn_echo().await;
    let client = ToxiproxyClient::new(&format!("http://{}", api.addr)).unwrap();
    assert_eq!(client.version().await.unwrap(), "2.12.0");
    let p = client
        .create_proxy(&ProxySpec::new("be0", "127.0.0.1:0", echo.addr.to_string()))
        .await
        .unwrap();
    assert!(p.enabled && p.listen != "127.0.0.1:0");
    let latency = Toxic::Latency(Latency {
        latency: Duration::from_millis(150),
        jitter: Duration::from_millis(20),
    });
    let t = client
        .add_toxic(
            "be0",
            &ToxicSpec::new(latency, Stream::Downstream)
                .named("lag")
                .with_toxicity(0.5),
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_string(&t).unwrap(),
        r#"{"attributes":{"latency":150,"jitter":20},"name":"lag","type":"latency","stream":"downstream","toxicity":0.5}"#
    );
    let slower = Toxic::Latency(Latency {
        latency: Duration::from_millis(300),
        jitter: Duration::ZERO,
    });
    let t = client
        .update_toxic(
            "be0",
            "lag",
            &ToxicPatch {
                toxic: Some(slower),
                toxicity: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (t.toxicity, Toxic::from(&t.attributes)),
        (
            0.5,
            Toxic::Latency(Latency {
                latency: Duration::from_millis(300),
                jitter: Duration::ZERO
            })
        )
    );
    assert_eq!(client.toxics("be0").await.unwrap().len(), 1);
    assert!(!client.set_enabled("be0", false).await.unwrap().enabled);
    let moved = client
        .update_proxy(
            "be0",
            &ProxyPatch {
                enabled: Some(true),
                ..ProxyPatch::default()
            },
        )
        .await
        .unwrap();
    assert!(moved.enabled);
    client.remove_toxic("be0", "lag").await.unwrap();

    let e = client.proxy("nope").await.unwrap_err();
    assert!(
        matches!(&e, ClientError::Api { status: 404, message, .. } if message == "proxy not found"),
        "{e}"
    );
    let e = client
        .add_toxic("be0", &ToxicSpec::new(Toxic::Noop, Stream::Upstream))
        .await;
    assert!(e.is_ok());
    let e = client
        .add_toxic("be0", &ToxicSpec::new(Toxic::Noop, Stream::Upstream))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(409));
    let e = client
        .create_proxy(&ProxySpec::new("", "", "x:1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::Api { status: 400, message, .. } if message == "missing required field: name"),
        "{e}"
    );

    let made = client
        .populate(&[ProxySpec::new("be1", "127.0.0.1:0", "x:1")])
        .await
        .unwrap();
    assert_eq!(made.len(), 1);
    client.reset().await.unwrap();
    assert!(client.toxics("be0").await.unwrap().is_empty());
    client.delete_proxy("be1").await.unwrap();
    assert_eq!(
        client.proxies().await.unwrap().keys().collect::<Vec<_>>(),
        ["be0"]
    );
    let down = ToxiproxyClient::new("http://127.0.0.1:1").unwrap();
    assert!(matches!(
        down.version().await.unwrap_err(),
        ClientError::Http { .. }
    ));
}
