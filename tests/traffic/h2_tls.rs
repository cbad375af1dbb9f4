//! HTTP/2 over TLS (`attack --h2` to an `https://` URL): hyper's HTTP/2 server behind
//! tokio-rustls offering ALPN `h2`, with the rcgen CA of [`super::tls`]; and the
//! HTTP/1.1-only TLS server there, which an HTTP/2 run must refuse, not speak to.
//! Expected counts come from what the servers saw.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;

use super::tls::{Pki, external_scenario, json, ninefold, path, pki, pki_naming, server};

/// What the h2 server saw: requests in HTTP/2 with `:scheme` https, and others.
#[derive(Default)]
struct Seen {
    h2_https: AtomicU64,
    other: AtomicU64,
    /// Each request's `:authority`.
    authorities: std::sync::Mutex<Vec<String>>,
}

/// hyper's HTTP/2 server on 127.0.0.1:0 behind TLS with ALPN `h2` only, in its own
/// thread (it stops with the test process).
fn h2_server(pki: &Pki) -> (std::net::SocketAddr, Arc<Seen>) {
    h2_server_offering(pki, vec![b"h2".to_vec()])
}

/// [`h2_server`] with the ALPN protocols `alpn` (none: no ALPN at all).
fn h2_server_offering(pki: &Pki, alpn: Vec<Vec<u8>>) -> (std::net::SocketAddr, Arc<Seen>) {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.server_cert.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_slice(pki.server_key.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    config.alpn_protocols = alpn;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let seen2 = Arc::clone(&seen);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::from_std(std_listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, seen) = (acceptor.clone(), Arc::clone(&seen2));
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let seen = Arc::clone(&seen);
                        async move {
                            let https = req.uri().scheme_str() == Some("https");
                            let authority = req.uri().authority().map(ToString::to_string);
                            seen.authorities
                                .lock()
                                .unwrap()
                                .push(authority.unwrap_or_default());
                            if req.version() == http::Version::HTTP_2 && https {
                                seen.h2_https.fetch_add(1, Ordering::SeqCst);
                            } else {
                                seen.other.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                                Bytes::from_static(b"ok"),
                            )))
                        }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    });
    (addr, seen)
}

const N: u64 = 60;

#[test]
fn attack_h2_over_https_speaks_http2_with_alpn_and_times_the_handshake() {
    let pki = pki("h2-alpn");
    let (addr, seen) = h2_server(&pki);
    let url = format!("https://localhost:{}/items/1", addr.port());
    let out = ninefold(&[
        "attack",
        &url,
        "--h2",
        "--h2-streams",
        "4",
        "-n",
        &N.to_string(),
        "-c",
        "2",
        "--workers",
        "1",
        "--json",
        "--ca-file",
        path(&pki.ca),
    ]);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["outcomes"]["ok"], N, "{v}");
    assert_eq!(
        seen.h2_https.load(Ordering::SeqCst),
        N,
        "HTTP/2, :scheme https"
    );
    assert_eq!(seen.other.load(Ordering::SeqCst), 0);
    let setup = &v["connection_setup_ms"];
    assert!(setup["tls_handshake"]["p50"].as_f64().unwrap() > 0.0, "{v}");
}

#[test]
fn attack_h2_refuses_a_tls_server_that_speaks_only_http1() {
    let pki = pki("h2-refused");
    let s = server(&pki, false);
    let url = format!("https://localhost:{}/items/1", s.addr.port());
    let out = ninefold(&[
        "attack",
        &url,
        "--h2",
        "-n",
        "10",
        "-c",
        "1",
        "--workers",
        "1",
        "--json",
        "--ca-file",
        path(&pki.ca),
    ]);
    let v = json(&out);
    assert_ne!(out.status.code(), Some(0), "{v}");
    assert_eq!(s.answered.load(Ordering::SeqCst), 0, "never spoken to");
    assert_eq!(v["outcomes"]["ok"], 0, "{v}");
    assert_eq!(v["outcomes"]["io_error"], 0, "{v}");
    assert!(v["outcomes"]["tls_error"].as_u64().unwrap() > 0, "{v}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not speak HTTP/2 over TLS"),
        "{stderr}"
    );
}

/// A TLS server that takes no part in ALPN may or may not speak HTTP/2: without its
/// `h2`, nothing is sent to it in HTTP/2 (it would have been h2 over a guess).
#[test]
fn attack_h2_refuses_a_tls_server_without_alpn() {
    let pki = pki("h2-no-alpn");
    let (addr, seen) = h2_server_offering(&pki, Vec::new());
    let url = format!("https://localhost:{}/items/1", addr.port());
    let out = ninefold(&[
        "attack",
        &url,
        "--h2",
        "-n",
        "5",
        "-c",
        "1",
        "--workers",
        "1",
        "--json",
        "--ca-file",
        path(&pki.ca),
    ]);
    let v = json(&out);
    assert_ne!(out.status.code(), Some(0), "{v}");
    assert_eq!(seen.h2_https.load(Ordering::SeqCst), 0);
    assert_eq!(seen.other.load(Ordering::SeqCst), 0);
    assert_eq!(v["outcomes"]["tls_error"], 5, "{v}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did not agree to HTTP/2"), "{stderr}");
}

/// `[client] protocol = "h2"` with an https:// `[gateway] url` (refused at run start
/// before): every request of the run reaches the server in HTTP/2 over TLS.
#[test]
fn a_run_speaks_h2_over_https_to_an_external_gateway() {
    let pki = pki("h2-run");
    let (addr, seen) = h2_server(&pki);
    let url = format!("https://localhost:{}", addr.port());
    let client = format!(
        "[client]\nprotocol = \"h2\"\ntls = {{ ca_file = \"{}\" }}",
        path(&pki.ca)
    );
    let scenario = external_scenario(&pki.dir, &url, &client);
    let out_dir = pki.dir.join("run");
    let out = ninefold(&["run", path(&scenario), "--out", path(&out_dir)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    let sent = summary["requests"]["sent"].as_u64().unwrap();
    assert!(sent >= 50, "{summary}");
    assert_eq!(summary["requests"]["ok"], sent, "{summary}");
    assert_eq!(seen.h2_https.load(Ordering::SeqCst), sent);
    assert_eq!(seen.other.load(Ordering::SeqCst), 0);
    let setup = &summary["connection_setup_ms"];
    assert!(
        setup["tls_handshake"]["count"].as_u64().unwrap() >= 1,
        "{summary}"
    );
}

/// `--connect-to` with HTTP/2: the URL's host does not resolve and the certificate
/// names it alone; the connection goes to loopback, SNI and `:authority` stay the URL's.
#[test]
fn attack_h2_connect_to_keeps_the_urls_authority_and_server_name() {
    let pki = pki_naming("h2-connect-to", &["api.ninefold.invalid"]);
    let (addr, seen) = h2_server(&pki);
    let port = addr.port();
    let url = format!("https://api.ninefold.invalid:{port}/items/1");
    let via = format!("api.ninefold.invalid:{port}:127.0.0.1:{port}");
    let out = ninefold(&[
        "attack",
        &url,
        "--h2",
        "-n",
        "6",
        "-c",
        "1",
        "--workers",
        "1",
        "--json",
        "--ca-file",
        path(&pki.ca),
        "--connect-to",
        &via,
    ]);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["outcomes"]["ok"], 6, "{v}");
    let authority = format!("api.ninefold.invalid:{port}");
    assert_eq!(*seen.authorities.lock().unwrap(), vec![authority; 6]);
}
