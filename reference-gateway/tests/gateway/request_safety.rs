//! Request safety over the wire (issue 20, cases 1, 5 and 6): what the gateway sets
//! reaches the upstream whatever the client's `Connection` names, paths are normalized
//! before they are routed and forwarded, and the request side is strict (`Host`,
//! `Transfer-Encoding`, chunk sizes and trailers against the body limit, a stalled body).

use std::time::Duration;

use bytes::BytesMut;
use jsonwebtoken::Algorithm;
use ninefold_http1::{self as h1, BodyDecoder, Decoded};
use reference_gateway::{AuthConfig, RouteConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// Generous bound on every wait: the machine may be busy.
const WAIT: Duration = Duration::from_secs(20);

/// Sends `bytes` on a new connection (kept open) and reads one answer: status and body.
async fn exchange(gw: &Gw, bytes: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(gw.addr()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    tokio::time::timeout(WAIT, read_answer(&mut stream))
        .await
        .expect("no answer in time")
}

async fn read_answer(stream: &mut TcpStream) -> (u16, String) {
    let mut buf = BytesMut::new();
    let head = loop {
        if let Some(head) = h1::parse_head(&buf).expect("a valid answer") {
            break head;
        }
        assert!(
            stream.read_buf(&mut buf).await.unwrap_or(0) > 0,
            "closed before an answer"
        );
    };
    let _ = buf.split_to(head.len);
    let mut decoder = BodyDecoder::new(head.framing);
    let mut body = Vec::new();
    loop {
        match decoder.decode(&mut buf).expect("a valid body") {
            Decoded::Data(n) => body.extend_from_slice(&buf.split_to(n)),
            Decoded::Done => break,
            Decoded::NeedMore => {
                if stream.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                    break;
                }
            }
        }
    }
    (head.status, String::from_utf8_lossy(&body).into_owned())
}

fn get(target: &str, extra: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: gw\r\n{extra}\r\n").into_bytes()
}

#[tokio::test]
async fn client_cannot_strip_the_gateways_own_headers() {
    let up = spawn_upstream("a").await;
    let mut cfg = config(&[up.addr]);
    cfg.auth = Some(AuthConfig::hmac(Algorithm::HS256, SECRET));
    cfg.rate_limit.unknown_tenant = reference_gateway::UnknownTenant::Unlimited;
    let gw = spawn_gateway(cfg).await;
    let token = tenant_token("acme");
    let extra = format!(
        "Authorization: Bearer {token}\r\n\
         Connection: keep-alive, X-Tenant-Id, X-Request-Id, Host\r\n\
         X_Tenant_Id: globex\r\nX-Request-Id: client-id\r\nX-Kept: yes\r\n"
    );
    let (status, _) = exchange(&gw, &get("/items/1", &extra)).await;
    assert_eq!(status, 200);
    let seen = up.last();
    let h = |n: &str| seen.headers.get(n).map(|v| v.to_str().unwrap().to_string());
    // What the gateway sets reaches the upstream: the verified tenant, a request id, Host.
    assert_eq!(h("x-tenant-id").as_deref(), Some("acme"), "{seen:?}");
    let id = h("x-request-id").expect("the gateway's request id");
    assert_ne!(id, "client-id", "the client named its own id hop-by-hop");
    assert_eq!(h("host").as_deref(), Some("gw"));
    // The underscored spelling (read as X-Tenant-Id by CGI-style backends) is dropped,
    // and neither `Connection` nor what it named is forwarded.
    assert!(
        seen.headers.keys().all(|n| !n.as_str().contains('_')),
        "{seen:?}"
    );
    assert_eq!(h("connection"), None);
    assert_eq!(h("x-kept").as_deref(), Some("yes"));

    // A client naming its own header in `Connection` loses that header, not the
    // gateway's, and a hop-by-hop list the gateway never forwards.
    let extra = format!(
        "Authorization: Bearer {token}\r\nConnection: X-Secret\r\nX-Secret: 1\r\n\
         Keep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: x\r\n"
    );
    let (status, _) = exchange(&gw, &get("/items/2", &extra)).await;
    assert_eq!(status, 200);
    let seen = up.last();
    for name in [
        "x-secret",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-connection",
        "connection",
    ] {
        assert!(
            seen.headers.get(name).is_none(),
            "{name} forwarded: {seen:?}"
        );
    }
    assert_eq!(seen.headers["x-tenant-id"], "acme");
}

/// The cross-tenant read of issue 20 with the bundled mock backend, whose orders are
/// visible to the tenant that made them or to a caller naming no tenant: globex, naming
/// `X-Tenant-Id` in `Connection`, must not read acme's order.
#[tokio::test]
async fn tenant_globex_cannot_read_acmes_order_by_naming_the_tenant_header_hop_by_hop() {
    let dir = std::env::temp_dir().join(format!("nf-gw-tenant-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = mock_backends::StoreSpec::Sqlite(dir.join("store.db"));
    let backend = mock_backends::Backend::open(mock_backends::Config::new("m1", store))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend_addr = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    tokio::spawn(backend.serve(listener, None, stop));
    let mut cfg = config(&[backend_addr]);
    cfg.routes = vec![RouteConfig::new("/orders", "api")];
    cfg.auth = Some(AuthConfig::hmac(Algorithm::HS256, SECRET));
    cfg.rate_limit.unknown_tenant = reference_gateway::UnknownTenant::Unlimited;
    let gw = spawn_gateway(cfg).await;
    let c = client();
    let made = c
        .post(format!("{}/orders", gw.url))
        .bearer_auth(tenant_token("acme"))
        .header("idempotency-key", "k1")
        .body(r#"{"sku":"secret"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let made: serde_json::Value = made.json().await.unwrap();
    assert_eq!(made["tenant"], "acme");
    let id = made["id"].as_str().unwrap();
    let path = format!("/orders/{id}");
    let globex = format!("Authorization: Bearer {}\r\n", tenant_token("globex"));
    let (status, _) = exchange(&gw, &get(&path, &globex)).await;
    assert_eq!(status, 404, "globex reads acme's order the plain way");
    for trick in [
        "Connection: keep-alive, X-Tenant-Id\r\n",
        "Connection: X-Tenant-Id\r\nX_Tenant_Id: acme\r\n",
    ] {
        let (status, body) = exchange(&gw, &get(&path, &format!("{globex}{trick}"))).await;
        assert_eq!(status, 404, "{trick:?}: globex read {body}");
    }
    let acme = format!("Authorization: Bearer {}\r\n", tenant_token("acme"));
    assert_eq!(exchange(&gw, &get(&path, &acme)).await.0, 200);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One upstream, `/items` open to `items:read` and `/admin` requiring `admin`.
async fn scoped_gateway(up: &Upstream) -> Gw {
    let mut cfg = config(&[up.addr]);
    let mut admin = RouteConfig::new("/admin", "api");
    admin.scopes = vec!["admin".into()];
    cfg.routes.push(admin);
    cfg.auth = Some(AuthConfig::hmac(Algorithm::HS256, SECRET));
    cfg.rate_limit.unknown_tenant = reference_gateway::UnknownTenant::Unlimited;
    spawn_gateway(cfg).await
}

#[tokio::test]
async fn paths_are_normalized_before_routing() {
    let up = spawn_upstream("a").await;
    let gw = scoped_gateway(&up).await;
    let auth = format!("Authorization: Bearer {}\r\n", tenant_token("acme"));
    // Each climbs from /items into /admin: routed on the normalized path, the admin
    // scope check refuses them (nginx: 403), and the upstream never sees them.
    for target in [
        "/items/../admin/secret",
        "/items/%2e%2e/admin/secret",
        "/items/%2E%2E/admin/secret",
        "/items/.%2e/admin/secret",
        "/items/./../admin/secret",
        "/items/1/../../admin/secret?x=1",
    ] {
        let (status, body) = exchange(&gw, &get(target, &auth)).await;
        assert_eq!(status, 403, "{target}: {body}");
    }
    assert_eq!(up.calls(), 0);
    // Refused outright: an encoded slash or backslash, and a climb above the root.
    for target in [
        "/items/..%2fadmin/secret",
        "/items/%2F..%2Fadmin",
        "/items/..%5cadmin",
        "/../admin/secret",
        "/items/../../admin",
    ] {
        let (status, body) = exchange(&gw, &get(target, &auth)).await;
        assert_eq!(status, 400, "{target}: {body}");
    }
    assert_eq!(up.calls(), 0);
}

#[tokio::test]
async fn the_forwarded_path_is_the_normalized_one_the_route_matched() {
    let up = spawn_upstream("a").await;
    let gw = scoped_gateway(&up).await;
    let auth = format!("Authorization: Bearer {}\r\n", tenant_token("acme"));
    for (target, forwarded) in [
        ("/items/./1", "/items/1"),
        ("/items/x/../1?q=a/../b", "/items/1?q=a/../b"),
        ("/items/%2e/2", "/items/2"),
        ("/admin/../items/3", "/items/3"),
        ("/items/4/.", "/items/4/"),
        ("/items/.well-known", "/items/.well-known"),
    ] {
        let (status, body) = exchange(&gw, &get(target, &auth)).await;
        assert_eq!(status, 200, "{target}: {body}");
        assert_eq!(up.last().path, forwarded, "{target}");
        assert_eq!(body, format!("a {forwarded}"));
    }
}

#[tokio::test]
async fn host_headers_are_strict_and_absolute_form_authority_wins() {
    let up = spawn_upstream("a").await;
    let gw = spawn_gateway(config(&[up.addr])).await;
    let two = b"GET /items/1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    assert_eq!(exchange(&gw, two).await.0, 400);
    let none = b"GET /items/1 HTTP/1.1\r\n\r\n";
    assert_eq!(exchange(&gw, none).await.0, 400);
    assert_eq!(up.calls(), 0);
    // HTTP/1.0 needs no Host.
    let old = b"GET /items/1 HTTP/1.0\r\n\r\n";
    assert_eq!(exchange(&gw, old).await.0, 200);
    let absolute = b"GET http://real.example:8443/items/2 HTTP/1.1\r\nHost: spoofed\r\n\r\n";
    let (status, body) = exchange(&gw, absolute).await;
    assert_eq!((status, body.as_str()), (200, "a /items/2"));
    let seen = up.last();
    assert_eq!(seen.path, "/items/2");
    assert_eq!(seen.headers["host"], "real.example:8443");
}

#[tokio::test]
async fn transfer_codings_other_than_exactly_chunked_get_501() {
    let up = spawn_upstream("a").await;
    let gw = spawn_gateway(config(&[up.addr])).await;
    for te in [
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: identity, chunked\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked, chunked\r\n",
    ] {
        let wire = format!("POST /items HTTP/1.1\r\nHost: gw\r\n{te}\r\n3\r\nabc\r\n0\r\n\r\n");
        let (status, body) = exchange(&gw, wire.as_bytes()).await;
        assert_eq!(status, 501, "{te:?}: {body}");
    }
    assert_eq!(up.calls(), 0);
    let wire = b"POST /items HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    assert_eq!(exchange(&gw, wire).await.0, 200);
    assert_eq!(up.last().body, b"abc");
}

#[tokio::test]
async fn a_chunk_larger_than_the_body_limit_gets_413_before_its_data() {
    let up = spawn_upstream("a").await;
    let mut cfg = config(&[up.addr]);
    cfg.server.max_body_bytes = std::num::NonZeroUsize::new(1024).unwrap();
    // Longer than WAIT: an answer in time is the chunk's size line refused, not a timeout.
    cfg.request_timeout = Duration::from_secs(60);
    let gw = spawn_gateway(cfg).await;
    // The size line only; its gigabyte never comes.
    let wire =
        b"POST /items HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n40000000\r\n";
    let (status, body) = exchange(&gw, wire).await;
    assert_eq!(status, 413, "{body}");
    // Chunks that add up past the limit, each under it.
    let wire = b"POST /items HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n300\r\n";
    let mut wire = wire.to_vec();
    wire.extend_from_slice(&[b'x'; 0x300]);
    wire.extend_from_slice(b"\r\n300\r\n");
    assert_eq!(exchange(&gw, &wire).await.0, 413);
    assert_eq!(up.calls(), 0);
}

#[tokio::test]
async fn trailers_count_toward_the_body_limit() {
    let up = spawn_upstream("a").await;
    let mut cfg = config(&[up.addr]);
    cfg.server.max_body_bytes = std::num::NonZeroUsize::new(1024).unwrap();
    let gw = spawn_gateway(cfg).await;
    let mut wire =
        b"POST /items HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n"
            .to_vec();
    // 40 trailer lines of 50 bytes: 2,000 bytes against a 1,024-byte limit.
    for i in 0..40 {
        wire.extend_from_slice(format!("x-trailer-{i:02}: {}\r\n", "t".repeat(34)).as_bytes());
    }
    wire.extend_from_slice(b"\r\n");
    let (status, body) = exchange(&gw, &wire).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(up.calls(), 0);
    // A small trailer is fine.
    let wire = b"POST /items HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-t: 1\r\n\r\n";
    assert_eq!(exchange(&gw, wire).await.0, 200);
}

#[tokio::test]
async fn a_client_that_stalls_its_body_gets_408_not_504() {
    let up = spawn_upstream("a").await;
    let mut cfg = config(&[up.addr]);
    cfg.request_timeout = Duration::from_millis(300);
    let gw = spawn_gateway(cfg).await;
    // Ten bytes announced, three sent, then nothing.
    let wire = b"POST /items HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\nabc";
    let (status, body) = exchange(&gw, wire).await;
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("\"source\":\"client\""), "{body}");
    assert_eq!(up.calls(), 0);
}

/// The same guarantee for a request that reaches the request path without the HTTP/1 server
/// (the gateway as a tower service): the transform step drops the client's hop-by-hop
/// fields before it sets the gateway's.
#[tokio::test]
async fn client_cannot_strip_the_gateways_own_headers_through_the_service_either() {
    use tower::ServiceExt;
    let up = spawn_upstream("a").await;
    let mut cfg = config(&[up.addr]);
    cfg.auth = Some(AuthConfig::hmac(Algorithm::HS256, SECRET));
    cfg.rate_limit.unknown_tenant = reference_gateway::UnknownTenant::Unlimited;
    let gw = spawn_gateway(cfg).await;
    let req = http::Request::builder()
        .uri("/items/1")
        .header("host", "gw")
        .header("authorization", format!("Bearer {}", tenant_token("acme")))
        .header(
            "connection",
            "keep-alive, X-Tenant-Id, X-Request-Id, Host, X-Named",
        )
        .header("x-named", "1")
        .header("keep-alive", "timeout=5")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = gw.gateway.service().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let seen = up.last();
    assert_eq!(seen.headers["x-tenant-id"], "acme", "{seen:?}");
    assert!(seen.headers.contains_key("x-request-id"), "{seen:?}");
    assert_eq!(seen.headers["host"], "gw");
    for name in ["x-named", "keep-alive", "connection"] {
        assert!(!seen.headers.contains_key(name), "{name}: {seen:?}");
    }
}

/// Through the tower service (no HTTP/1 server to normalize it), a path that is not
/// normal is never forwarded.
#[tokio::test]
async fn paths_are_normalized_before_routing_or_refused_through_the_service() {
    use tower::ServiceExt;
    let up = spawn_upstream("a").await;
    let gw = spawn_gateway(config(&[up.addr])).await;
    for target in ["/items/../admin", "/items/%2e%2e/admin", "/items/a%2fb"] {
        let req = http::Request::builder()
            .uri(target)
            .header("host", "gw")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = gw.gateway.service().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 404, "{target}");
    }
    assert_eq!(up.calls(), 0);
}

/// Found by ninefold-http1's differential test against hyper: a bare LF inside a chunk
/// extension, or a trailer line that is not a field line, was read as if valid.
#[tokio::test]
async fn a_chunk_extension_with_a_bare_lf_or_a_trailer_that_is_no_field_gets_400() {
    let up = spawn_upstream("a").await;
    let gw = spawn_gateway(config(&[up.addr])).await;
    let head = "POST /items HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n";
    for body in [
        "3;a\nb\r\nabc\r\n0\r\n\r\n",
        "3\r\nabc\r\n0\r\nBad Trailer\r\n\r\n",
        "3\r\nabc\r\n0\r\nX-T: 1\nX-U: 2\r\n\r\n",
    ] {
        let (status, answer) = exchange(&gw, format!("{head}{body}").as_bytes()).await;
        assert_eq!(status, 400, "{body:?}: {answer}");
    }
    assert_eq!(up.calls(), 0);
}
