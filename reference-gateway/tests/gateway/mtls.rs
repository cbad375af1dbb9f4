//! Mutual TLS on the gateway's listener (`[gateway.tls] client_ca_file`, `client_auth`):
//! rcgen makes a server PKI and a separate client CA with a client certificate (and a
//! stranger's, from another CA); rustls clients in the test present one or none. A
//! refused client gets no HTTP answer and nothing reaches the upstream.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use reference_gateway::tls::ClientAuth;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::tls::{Pki, client_config, pki};
use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

/// A client CA (its PEM file) and a client certificate and key it signed (PEM text).
struct ClientPki {
    ca_file: std::path::PathBuf,
    chain: String,
    key: String,
}

fn client_pki(name: &str) -> ClientPki {
    let dir = std::env::temp_dir().join(format!("gw-mtls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["client.test".into()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let leaf = params.signed_by(&key, &issuer).unwrap();
    let ca_file = dir.join("client-ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    ClientPki {
        ca_file,
        chain: leaf.pem(),
        key: key.serialize_pem(),
    }
}

/// One `GET /items/1` over TLS presenting `identity`: the status, or `None` when the
/// gateway refused the client (a failed handshake, an alert or a close before an answer).
async fn try_get(
    addr: std::net::SocketAddr,
    pki: &Pki,
    identity: Option<&ClientPki>,
) -> Option<u16> {
    let config = client_config(
        &pki.ca_pem,
        &[b"http/1.1"],
        identity.map(|c| (c.chain.as_str(), c.key.as_str())),
    );
    let attempt = async {
        let tcp = TcpStream::connect(addr).await.ok()?;
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut s = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .ok()?;
        // TLS 1.3: the client's side of the handshake ends before the server has
        // judged its certificate; a refusal arrives as an alert on the first read.
        s.write_all(b"GET /items/1 HTTP/1.1\r\nHost: gw\r\n\r\n")
            .await
            .ok()?;
        let mut buf = BytesMut::new();
        loop {
            if let Some(head) = ninefold_http1::parse_head(&buf).expect("a valid answer") {
                return Some(head.status);
            }
            match s.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(WAIT, attempt)
        .await
        .expect("the gateway answered or refused in time")
}

async fn gateway(auth: ClientAuth, name: &str) -> (Upstream, Gw, Pki, ClientPki) {
    let up = spawn_upstream("a").await;
    let pki = pki(name);
    let clients = client_pki(name);
    let mut tls = pki.tls.clone();
    tls.client_ca_file = Some(clients.ca_file.clone());
    tls.client_auth = auth;
    let mut cfg = config(&[up.addr]);
    cfg.server.tls = Some(tls);
    (up, spawn_gateway(cfg).await, pki, clients)
}

#[tokio::test]
async fn required_client_auth_serves_a_client_with_a_valid_certificate_only() {
    let (up, gw, pki, clients) = gateway(ClientAuth::Required, "required").await;
    let stranger = client_pki("required-stranger");
    assert_eq!(try_get(gw.addr(), &pki, Some(&clients)).await, Some(200));
    assert_eq!(up.calls(), 1);
    assert_eq!(try_get(gw.addr(), &pki, None).await, None, "no certificate");
    assert_eq!(
        try_get(gw.addr(), &pki, Some(&stranger)).await,
        None,
        "a certificate of another CA"
    );
    assert_eq!(
        up.calls(),
        1,
        "nothing of a refused client reached the upstream"
    );
    // The gateway serves on: the client with a certificate again.
    assert_eq!(try_get(gw.addr(), &pki, Some(&clients)).await, Some(200));
}

#[tokio::test]
async fn optional_client_auth_serves_a_client_without_one_but_not_a_bad_one() {
    let (up, gw, pki, clients) = gateway(ClientAuth::Optional, "optional").await;
    let stranger = client_pki("optional-stranger");
    assert_eq!(try_get(gw.addr(), &pki, None).await, Some(200));
    assert_eq!(try_get(gw.addr(), &pki, Some(&clients)).await, Some(200));
    assert_eq!(try_get(gw.addr(), &pki, Some(&stranger)).await, None);
    assert_eq!(up.calls(), 2);
}
