//! TLS on the gateway's listener (`[gateway.tls]`): an rcgen CA and a leaf for
//! 127.0.0.1, a rustls client in the test that checks the certificate against that CA,
//! HTTP/1.1 keep-alive over the TLS stream, and a client that stalls its handshake cut
//! off by the header timeout; and the gateway in front of a TLS upstream (axum over
//! tokio-rustls in the test), verifying it by a CA file, with SNI and connection reuse.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ninefold_http1 as h1;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use reference_gateway::tls::ServerTls;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

/// A CA (PEM) and a server leaf for 127.0.0.1 / localhost (PEM files).
pub struct Pki {
    pub ca_pem: String,
    pub ca_file: PathBuf,
    pub tls: ServerTls,
}

pub fn pki(name: &str) -> Pki {
    let dir = std::env::temp_dir().join(format!("gw-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let write = |n: &str, text: String| -> PathBuf {
        let p = dir.join(n);
        std::fs::write(&p, text).unwrap();
        p
    };
    Pki {
        ca_file: write("ca.pem", ca.pem()),
        ca_pem: ca.pem(),
        tls: ServerTls::new(
            write("leaf.pem", leaf.pem()),
            write("leaf.key", key.serialize_pem()),
        ),
    }
}

/// A rustls client trusting `ca_pem` only, offering ALPN http/1.1.
pub fn connector(ca_pem: &str) -> tokio_rustls::TlsConnector {
    connector_offering(ca_pem, &[b"http/1.1"])
}

/// A rustls client trusting `ca_pem` only, offering `alpn`.
pub fn connector_offering(ca_pem: &str, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    tokio_rustls::TlsConnector::from(Arc::new(client_config(ca_pem, alpn, None)))
}

/// A rustls client configuration trusting `ca_pem` only, offering `alpn`, presenting
/// `identity` (a certificate chain and its key, PEM) when given.
pub fn client_config(
    ca_pem: &str,
    alpn: &[&[u8]],
    identity: Option<(&str, &str)>,
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let mut config = match identity {
        None => config.with_no_client_auth(),
        Some((chain, key)) => config
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(chain.as_bytes())
                    .map(Result::unwrap)
                    .collect(),
                rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// One answer's status and body from `s` (Content-Length framing).
async fn answer<S: tokio::io::AsyncRead + Unpin>(s: &mut S, buf: &mut BytesMut) -> (u16, Vec<u8>) {
    loop {
        if let Some(head) = h1::parse_head(buf).expect("a valid answer") {
            let len: usize = head
                .headers
                .iter()
                .find(|(n, _)| buf[n.clone()].eq_ignore_ascii_case(b"content-length"))
                .map(|(_, v)| {
                    std::str::from_utf8(&buf[v.clone()])
                        .unwrap()
                        .parse()
                        .unwrap()
                })
                .unwrap_or(0);
            while buf.len() < head.len + len {
                assert!(s.read_buf(buf).await.unwrap() > 0, "closed mid-body");
            }
            let _ = buf.split_to(head.len);
            return (head.status, buf.split_to(len).to_vec());
        }
        assert!(
            s.read_buf(buf).await.unwrap() > 0,
            "closed before the answer"
        );
    }
}

#[tokio::test]
async fn the_listener_speaks_tls_and_keeps_the_connection_alive() {
    let up = spawn_upstream("a").await;
    let pki = pki("listen");
    let mut cfg = config(&[up.addr]);
    cfg.server.tls = Some(pki.tls.clone());
    let gw = spawn_gateway(cfg).await;
    let tcp = TcpStream::connect(gw.addr()).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut s = connector(&pki.ca_pem).connect(name, tcp).await.unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let mut buf = BytesMut::new();
    for i in 0..3 {
        let req = format!("GET /items/{i} HTTP/1.1\r\nHost: gw\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let (status, body) = tokio::time::timeout(WAIT, answer(&mut s, &mut buf))
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, format!("a /items/{i}").into_bytes());
    }
    // Three requests, one connection: the upstream saw them all.
    assert_eq!(up.calls(), 3);
}

#[tokio::test]
async fn a_client_that_stalls_its_handshake_is_cut_off_by_the_header_timeout() {
    let up = spawn_upstream("a").await;
    let pki = pki("slow-handshake");
    let mut cfg = config(&[up.addr]);
    cfg.server.tls = Some(pki.tls.clone());
    cfg.server.header_read_timeout = Duration::from_millis(300);
    let gw = spawn_gateway(cfg).await;
    let mut tcp = TcpStream::connect(gw.addr()).await.unwrap();
    // A ClientHello never comes: the gateway must close, not hold the connection.
    let started = Instant::now();
    let mut b = [0u8; 64];
    let n = tokio::time::timeout(WAIT, tcp.read(&mut b))
        .await
        .expect("the stalled handshake was held past the header timeout")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without a byte");
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn a_plaintext_request_to_the_tls_listener_gets_no_http_answer() {
    let up = spawn_upstream("a").await;
    let pki = pki("plain-to-tls");
    let mut cfg = config(&[up.addr]);
    cfg.server.tls = Some(pki.tls.clone());
    let gw = spawn_gateway(cfg).await;
    let mut tcp = TcpStream::connect(gw.addr()).await.unwrap();
    tcp.write_all(b"GET /items/1 HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut got)).await;
    assert!(!got.starts_with(b"HTTP/"), "{got:?}");
    assert_eq!(up.calls(), 0);
}

/// A TLS-only upstream (axum over tokio-rustls) answering `tls PATH`; counts the
/// handshakes it completed and keeps the SNI names it was sent.
struct TlsUpstream {
    addr: std::net::SocketAddr,
    handshakes: Arc<std::sync::atomic::AtomicUsize>,
    sni: Arc<std::sync::Mutex<Vec<Option<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn spawn_tls_upstream(pki: &Pki) -> TlsUpstream {
    use std::sync::atomic::Ordering;
    let config = reference_gateway::tls::server_config(&pki.tls).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handshakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sni = Arc::new(std::sync::Mutex::new(Vec::new()));
    let router = axum::Router::new()
        .fallback(|req: axum::extract::Request| async move { format!("tls {}", req.uri().path()) });
    let (h, n) = (handshakes.clone(), sni.clone());
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, router, h, n) = (acceptor.clone(), router.clone(), h.clone(), n.clone());
            tokio::spawn(async move {
                let Ok(s) = acceptor.accept(tcp).await else {
                    return;
                };
                h.fetch_add(1, Ordering::SeqCst);
                n.lock()
                    .unwrap()
                    .push(s.get_ref().1.server_name().map(str::to_owned));
                let svc = hyper_util::service::TowerToHyperService::new(router);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    TlsUpstream {
        addr,
        handshakes,
        sni,
        task,
    }
}

#[tokio::test]
async fn the_gateway_forwards_to_a_tls_upstream_with_sni_and_reuses_the_connection() {
    use reference_gateway::tls::{UpstreamTls, UpstreamVerify};
    let pki = pki("upstream");
    let up = spawn_tls_upstream(&pki).await;
    let mut cfg = config(&[up.addr]);
    for u in cfg.upstreams.values_mut() {
        u.tls = Some(UpstreamTls {
            verify: UpstreamVerify::CaFile(pki.ca_file.clone()),
            server_name: Some("localhost".into()),
        });
        u.health = None;
    }
    let gw = spawn_gateway(cfg).await;
    let c = client();
    for i in 0..5 {
        let r = c.get(format!("{}/items/{i}", gw.url)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), format!("tls /items/{i}"));
    }
    // Five requests one after another: one handshake, the connection kept.
    assert_eq!(up.handshakes.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(*up.sni.lock().unwrap(), vec![Some("localhost".to_owned())]);
}

#[tokio::test]
async fn an_upstream_whose_certificate_is_not_trusted_is_a_502_not_plaintext() {
    use reference_gateway::tls::{UpstreamTls, UpstreamVerify};
    let pki_up = pki("upstream-untrusted");
    let other = pki("upstream-other-ca");
    let up = spawn_tls_upstream(&pki_up).await;
    let mut cfg = config(&[up.addr]);
    for u in cfg.upstreams.values_mut() {
        u.tls = Some(UpstreamTls {
            verify: UpstreamVerify::CaFile(other.ca_file.clone()),
            server_name: None,
        });
        u.health = None;
    }
    let gw = spawn_gateway(cfg).await;
    let r = client()
        .get(format!("{}/items/1", gw.url))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_server_error(), "{}", r.status());
    assert_eq!(up.handshakes.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// `[upstreams.NAME] tls` with neither `ca_file` nor `insecure`: the system's trust
/// store, which does not hold the test's fresh CA, so the upstream is refused: a 502
/// that says why, at once (not a hang), and no request reaches it.
#[tokio::test]
async fn without_ca_file_the_system_roots_refuse_a_self_signed_upstream() {
    use reference_gateway::tls::{UpstreamTls, UpstreamVerify};
    let pki = pki("upstream-system-roots");
    let up = spawn_tls_upstream(&pki).await;
    let mut cfg = config(&[up.addr]);
    for u in cfg.upstreams.values_mut() {
        u.tls = Some(UpstreamTls {
            verify: UpstreamVerify::System,
            server_name: Some("localhost".into()),
        });
        u.health = None;
    }
    let gw = spawn_gateway(cfg).await;
    let r = tokio::time::timeout(WAIT, client().get(format!("{}/items/1", gw.url)).send())
        .await
        .expect("answered, not hung")
        .unwrap();
    assert_eq!(r.status(), 502);
    let body = r.text().await.unwrap();
    // rustls' verdict on a certificate no root of the system signed.
    assert!(
        body.contains("TLS handshake: invalid peer certificate: UnknownIssuer"),
        "{body}"
    );
    assert_eq!(up.handshakes.load(std::sync::atomic::Ordering::SeqCst), 0);
}
