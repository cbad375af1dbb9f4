//! TLS for every connection ninefold opens to a URL it is given (`https://` in
//! `[gateway] url` and `ninefold attack`): rustls with the aws-lc-rs provider.
//!
//! - Trust: the system's roots (`rustls-native-certs`: the distribution's store, or
//!   `SSL_CERT_FILE` / `SSL_CERT_DIR`, as curl, wrk and OpenSSL read it, so a
//!   company CA installed on the machine is trusted as it is by every other tool),
//!   plus the scenario's `ca_file`.
//! - A client certificate and key for mutual TLS.
//! - `insecure`: no verification of the server's certificate (its handshake
//!   signatures are still checked); every output says so.
//! - SNI is the URL's host (none for an IP address, as RFC 6066 asks); ALPN offers
//!   what the connection will speak, and only that: `http/1.1` for the HTTP/1 client,
//!   `h2` for HTTP/2 ([`TlsTarget::handshake_h2`]), so that a server is never spoken
//!   to in a protocol it did not agree to.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;

use crate::scenario::{ClientTls, HttpProtocol};

pub use crate::scenario::tls_files::{TlsError, check, load_certs, load_key};

/// The ALPN protocols offered for `protocol`, most preferred first.
pub fn alpn(protocol: HttpProtocol) -> Vec<Vec<u8>> {
    match protocol {
        HttpProtocol::H1 => vec![b"http/1.1".to_vec()],
        HttpProtocol::H2 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    }
}

/// The rustls client configuration for `tls`, offering `alpn`.
pub fn client_config(tls: &ClientTls, alpn: Vec<Vec<u8>>) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = crate::scenario::tls_files::provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?;
    let builder = if tls.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(Arc::clone(&provider))))
    } else {
        builder.with_root_certificates(roots(tls.ca_file.as_deref())?)
    };
    let mut config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(load_certs(cert)?, load_key(key)?)
            .map_err(|e| TlsError::Identity {
                cert: cert.clone(),
                key: key.clone(),
                message: e.to_string(),
            })?,
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(TlsError::HalfIdentity),
    };
    config.alpn_protocols = alpn;
    Ok(Arc::new(config))
}

/// The system's roots and `ca_file`'s certificates.
fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    store.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        for cert in load_certs(path)? {
            store.add(cert).map_err(|e| TlsError::File {
                path: path.to_owned(),
                message: format!("holds a certificate rustls refuses: {e}"),
            })?;
        }
    }
    if store.is_empty() {
        let why = native
            .errors
            .first()
            .map_or_else(|| "no certificate found".to_owned(), ToString::to_string);
        return Err(TlsError::NoRoots(why));
    }
    Ok(store)
}

/// A connector and the name the server is asked for, shared by every connection
/// to one URL.
#[derive(Clone)]
pub struct TlsTarget {
    /// Offers ALPN `http/1.1` only.
    pub connector: tokio_rustls::TlsConnector,
    /// Offers ALPN `h2` only.
    h2: tokio_rustls::TlsConnector,
    pub server_name: ServerName<'static>,
    /// The server's certificate is not verified.
    pub insecure: bool,
}

impl TlsTarget {
    /// TLS to `host` (the URL's host: a DNS name, or an IP address) with `config`
    /// (built from settings that were `insecure` or not); its ALPN list is replaced
    /// by each connector's own (`http/1.1`, `h2`).
    pub fn new(config: Arc<ClientConfig>, host: &str, insecure: bool) -> Result<Self, TlsError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let server_name =
            ServerName::try_from(host.to_owned()).map_err(|_| TlsError::ServerName(host.into()))?;
        let offering = |protocol| {
            let mut config = (*config).clone();
            config.alpn_protocols = alpn(protocol).into_iter().take(1).collect();
            tokio_rustls::TlsConnector::from(Arc::new(config))
        };
        Ok(TlsTarget {
            connector: offering(HttpProtocol::H1),
            h2: offering(HttpProtocol::H2),
            server_name,
            insecure,
        })
    }

    /// The handshake over `tcp` for HTTP/2: ALPN offers `h2` alone, and a server that
    /// does not select it (one without ALPN, or speaking HTTP/1.1 only) is refused
    /// with [`NotH2`], never spoken to in HTTP/2.
    pub async fn handshake_h2(
        &self,
        tcp: TcpStream,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let stream = self.h2.connect(self.server_name.clone(), tcp).await?;
        match stream.get_ref().1.alpn_protocol() {
            Some(b"h2") => Ok(stream),
            other => Err(std::io::Error::other(NotH2(
                other.map(|p| String::from_utf8_lossy(p).into_owned()),
            ))),
        }
    }

    /// The handshake over `tcp`.
    pub async fn handshake(
        &self,
        tcp: TcpStream,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        self.connector.connect(self.server_name.clone(), tcp).await
    }
}

impl std::fmt::Debug for TlsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTarget")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TlsTarget {
    fn eq(&self, other: &Self) -> bool {
        self.server_name == other.server_name
    }
}

impl Eq for TlsTarget {}

/// A TLS server that did not agree to HTTP/2 (ALPN `h2`).
#[derive(Debug, thiserror::Error)]
#[error(
    "the server did not agree to HTTP/2 over TLS (ALPN `h2`; it selected {}): refused rather than spoken to in HTTP/2; use `protocol = \"h1\"` (or drop --h2) for this server",
    .0.as_deref().map_or_else(|| "none".to_owned(), |p| format!("`{p}`"))
)]
pub struct NotH2(pub Option<String>);

/// `insecure = true`: every certificate is accepted; the handshake's signatures
/// are still verified with the provider's algorithms (the peer holds the key of
/// the certificate it sent, whoever signed that).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Whether an I/O error of a TLS stream came from TLS itself.
pub fn is_tls_error(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>())
}

/// Say on stderr, once per process, why a TLS handshake failed (the outcome counts
/// say how often): the first failure names the cause and what to do.
pub fn note_failure(e: &std::io::Error) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!(
            "ninefold: TLS handshake failed (counted as tls_error): {}",
            describe(e)
        );
    } else {
        tracing::debug!(error = %describe(e), "TLS handshake failed");
    }
}

/// The message of a failed handshake, for a log line and the run's warnings.
pub fn describe(e: &std::io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(c)) => {
            format!(
                "the server's certificate was refused: {c:?} (trust its CA with `[client] tls = {{ ca_file = \"ca.pem\" }}` or --ca-file)"
            )
        }
        Some(rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)) => {
            "the server refused every protocol offered by ALPN (an HTTP/2 run offers `h2` alone: this server does not speak HTTP/2 over TLS; use `protocol = \"h1\"` or drop --h2)".to_owned()
        }
        Some(other) => other.to_string(),
        None => e.to_string(),
    }
}
