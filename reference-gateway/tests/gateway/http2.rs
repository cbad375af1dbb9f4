//! HTTP/2 on the gateway's listeners: ALPN `h2` on the TLS one and h2c (prior
//! knowledge) on the plain one, spoken by hyper's HTTP/2 client (the `h2` crate) in the
//! test, through the gateway to an HTTP/1.1 upstream. The streams run the same request
//! path as HTTP/1.1 requests: routed by the origin-form path, `Host` from `:authority`,
//! the gateway's `X-Request-Id` on the answer, a refusal on the head (404) answered on
//! its stream while the connection carries on.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::tls::{connector_offering, pki};
use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

/// An HTTP/2 connection over `io`, driven by its own task.
async fn h2<I>(io: I) -> SendRequest<Full<Bytes>>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(TokioIo::new(io))
        .await
        .expect("the gateway speaks HTTP/2");
    tokio::spawn(conn);
    send
}

/// `GET uri` on the connection: status, `x-request-id`, body.
async fn get(send: &mut SendRequest<Full<Bytes>>, uri: &str) -> (u16, Option<String>, String) {
    let req = http::Request::get(uri)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = tokio::time::timeout(WAIT, send.send_request(req))
        .await
        .expect("an answer in time")
        .expect("an HTTP/2 answer");
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let status = resp.status().as_u16();
    let id = resp
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, id, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn http2_over_tls_goes_through_the_same_request_path() {
    let up = spawn_upstream("a").await;
    let pki = pki("h2-alpn");
    let mut cfg = config(&[up.addr]);
    cfg.server.tls = Some(pki.tls.clone());
    let gw = spawn_gateway(cfg).await;
    let tcp = TcpStream::connect(gw.addr()).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = connector_offering(&pki.ca_pem, &[b"h2", b"http/1.1"])
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut send = h2(tls).await;
    let authority = gw.addr().to_string();
    // Three streams at once on the one connection.
    let mut streams = Vec::new();
    for i in 0..3 {
        let mut s = send.clone();
        let uri = format!("https://{authority}/items/{i}?q=1");
        streams.push(tokio::spawn(async move { get(&mut s, &uri).await }));
    }
    for (i, s) in streams.into_iter().enumerate() {
        let (status, id, body) = s.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, format!("a /items/{i}?q=1"));
        assert!(
            id.is_some_and(|id| !id.is_empty()),
            "the gateway's request id"
        );
    }
    assert_eq!(up.calls(), 3);
    // The upstream got the HTTP/1.1 request an HTTP/1.1 client would have caused.
    let seen = up.last();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.headers["host"], authority.as_str());
    // Refused on the head (no route): answered on its stream, the connection goes on.
    let (status, id, body) = get(&mut send, &format!("https://{authority}/nope")).await;
    assert_eq!(status, 404, "{body}");
    assert!(id.is_some());
    assert!(body.contains("\"no_route\""), "{body}");
    let (status, _, body) = get(&mut send, &format!("https://{authority}/items/9")).await;
    assert_eq!((status, body.as_str()), (200, "a /items/9"));
    assert_eq!(up.calls(), 4);
}

#[tokio::test]
async fn h2c_with_prior_knowledge_is_served_on_the_plain_listener() {
    let up = spawn_upstream("a").await;
    let gw = spawn_gateway(config(&[up.addr])).await;
    let tcp = TcpStream::connect(gw.addr()).await.unwrap();
    let mut send = h2(tcp).await;
    let authority = gw.addr().to_string();
    for i in 0..2 {
        let (status, id, body) = get(&mut send, &format!("http://{authority}/items/{i}")).await;
        assert_eq!(status, 200);
        assert_eq!(body, format!("a /items/{i}"));
        assert!(id.is_some());
    }
    assert_eq!(up.last().headers["host"], authority.as_str());
    // HTTP/1.1 on the same listener is untouched.
    let r = client()
        .get(format!("{}/items/7", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), http::Version::HTTP_11);
    assert_eq!(r.text().await.unwrap(), "a /items/7");
    assert_eq!(up.calls(), 3);
}

/// The HTTP/1 limits hold on HTTP/2 streams: a declared body past `max_body_bytes` is
/// refused on its head (413, nothing sent upstream) and a head past `max_header_bytes`
/// gets the limits step's 431; each on its stream, the connection serving on.
#[tokio::test]
async fn http2_streams_are_held_to_the_same_limits() {
    let up = spawn_upstream("a").await;
    let mut cfg = config(&[up.addr]);
    cfg.server.max_body_bytes = std::num::NonZeroUsize::new(1000).unwrap();
    let gw = spawn_gateway(cfg).await;
    let mut send = h2(TcpStream::connect(gw.addr()).await.unwrap()).await;
    let uri = format!("http://{}/items/1", gw.addr());
    let big = http::Request::post(&uri)
        .header("content-length", "5000")
        .body(Full::new(Bytes::from(vec![b'x'; 5000])))
        .unwrap();
    let resp = tokio::time::timeout(WAIT, send.send_request(big))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(
        body.starts_with(b"{\"error\":\"payload_too_large\""),
        "{body:?}"
    );
    // 20 KiB of one header: past the 16 KiB head limit, within the connection's 32 KiB.
    let long = http::Request::get(&uri)
        .header("x-long", "v".repeat(20 * 1024))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = tokio::time::timeout(WAIT, send.send_request(long))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 431);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(
        body.starts_with(b"{\"error\":\"headers_too_large\""),
        "{body:?}"
    );
    assert_eq!(up.calls(), 0, "nothing refused reached the upstream");
    let (status, _, body) = get(&mut send, &uri).await;
    assert_eq!((status, body.as_str()), (200, "a /items/1"));
}

/// An idle HTTP/2 connection is closed with `GOAWAY` after the keep-alive timeout
/// (75 s), as an idle HTTP/1.1 one is; not before. Paused time: the wait is the case.
#[tokio::test(start_paused = true)]
async fn an_idle_http2_connection_is_closed_after_the_keepalive_timeout() {
    let up = spawn_upstream("a").await;
    let gw = spawn_gateway(config(&[up.addr])).await;
    let tcp = TcpStream::connect(gw.addr()).await.unwrap();
    let began = tokio::time::Instant::now();
    let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake::<_, Full<Bytes>>(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(300), conn)
        .await
        .expect("the idle connection was closed")
        .expect("closed cleanly (GOAWAY), not cut");
    let idle = began.elapsed();
    assert!(
        (Duration::from_secs(75)..Duration::from_secs(80)).contains(&idle),
        "{idle:?}"
    );
    drop(send);
}

/// On drain (SIGTERM's path) an HTTP/2 connection gets `GOAWAY` and closes; a request
/// answered before it was answered whole.
#[tokio::test]
async fn a_drain_closes_an_http2_connection_with_goaway() {
    let up = spawn_upstream("a").await;
    let gw = spawn_gateway(config(&[up.addr])).await;
    let tcp = TcpStream::connect(gw.addr()).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake::<_, Full<Bytes>>(TokioIo::new(tcp))
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let (status, _, _) = get(&mut send, &format!("http://{}/items/1", gw.addr())).await;
    assert_eq!(status, 200);
    gw.stop();
    tokio::time::timeout(WAIT, conn)
        .await
        .expect("the connection was closed on drain")
        .unwrap()
        .expect("closed cleanly (GOAWAY), not cut");
}
