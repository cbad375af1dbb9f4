//! TLS of the gateway: its listener (`[gateway.tls] cert_file/key_file`, PEM; client
//! certificates with `client_ca_file`; ALPN `h2` and `http/1.1`) and its upstream
//! connections (`[upstreams.NAME] tls`: a CA file, the system's trust store, or none). rustls with aws-lc-rs, as the load
//! engine uses, so one crypto library serves the whole tool. Files are read with the
//! same code at validate time ([`crate::config::from_raw::server_tls`]) and at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The listener's certificate chain and key files, and the clients' CA (mTLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// `client_ca_file`: clients present a certificate signed by one of these (PEM);
    /// `None`: no client certificate is asked for.
    pub client_ca_file: Option<PathBuf>,
    /// With `client_ca_file`: whether a client without a certificate is refused.
    pub client_auth: ClientAuth,
}

impl ServerTls {
    /// A listener with this certificate and key, asking no client certificate.
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        ServerTls {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            client_ca_file: None,
            client_auth: ClientAuth::Required,
        }
    }
}

/// `client_auth`: what the listener does with a client that sends no certificate
/// (one that sends a certificate not signed by `client_ca_file` is always refused).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// Refused at the handshake (the default).
    #[default]
    Required,
    /// Served without one.
    Optional,
}

impl ClientAuth {
    /// The key's value as written.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::Required => "required",
            ClientAuth::Optional => "optional",
        }
    }
}

/// The ALPN protocols the listener offers, in its order of preference: HTTP/2 first
/// (served by hyper's HTTP/2 server, [`crate::server::h2`]), then HTTP/1.1.
pub const SERVER_ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why a TLS file cannot be used: the key it belongs to and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}`: {message}")]
pub struct TlsFileError {
    /// `cert_file`, `key_file` or `ca_file`.
    pub key: &'static str,
    pub path: String,
    pub message: String,
}

fn file_error(key: &'static str, path: &Path, message: impl Into<String>) -> TlsFileError {
    TlsFileError {
        key,
        path: path.display().to_string(),
        message: message.into(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The PEM certificates of `path` (at least one).
pub fn load_certs(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let bytes =
        std::fs::read(path).map_err(|e| file_error(key, path, format!("cannot read: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(key, path, format!("is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(
            key,
            path,
            "holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
        ));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    let bytes = std::fs::read(path)
        .map_err(|e| file_error("key_file", path, format!("cannot read: {e}")))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        file_error(
            "key_file",
            path,
            format!("holds no usable PEM private key (`-----BEGIN PRIVATE KEY-----`): {e}"),
        )
    })
}

/// The listener's rustls configuration (ALPN [`SERVER_ALPN`]; with `client_ca_file`,
/// client certificates verified against it).
pub fn server_config(tls: &ServerTls) -> Result<Arc<rustls::ServerConfig>, TlsFileError> {
    let certs = load_certs("cert_file", &tls.cert_file);
    let key = load_key(&tls.key_file);
    let (certs, key) = (certs?, key?);
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| file_error("cert_file", &tls.cert_file, e.to_string()))?;
    let builder = match &tls.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(path) => builder.with_client_cert_verifier(client_verifier(path, tls.client_auth)?),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        file_error(
            "key_file",
            &tls.key_file,
            format!("does not go with `{}`: {e}", tls.cert_file.display()),
        )
    })?;
    config.alpn_protocols = SERVER_ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Client certificates verified against the CAs of `path`.
fn client_verifier(
    path: &Path,
    auth: ClientAuth,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsFileError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in load_certs("client_ca_file", path)? {
        roots
            .add(cert)
            .map_err(|e| file_error("client_ca_file", path, e.to_string()))?;
    }
    let builder =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
    let builder = match auth {
        ClientAuth::Required => builder,
        ClientAuth::Optional => builder.allow_unauthenticated(),
    };
    builder
        .build()
        .map_err(|e| file_error("client_ca_file", path, e.to_string()))
}

/// `[upstreams.NAME] tls`: the gateway speaks TLS to the pool's instances.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UpstreamTls {
    /// How certificates are verified.
    pub verify: UpstreamVerify,
    /// The name sent as SNI and verified; `None`: the instance's IP address (no SNI,
    /// checked against the certificate's IP names).
    pub server_name: Option<String>,
}

/// How the gateway verifies an upstream's certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UpstreamVerify {
    /// Trust the certificates of this PEM file.
    CaFile(PathBuf),
    /// Trust the system's store (neither `ca_file` nor `insecure`): `SSL_CERT_FILE` /
    /// `SSL_CERT_DIR`, else the platform's certificates (`/etc/ssl/certs`…).
    System,
    /// Verify nothing (a test upstream with a throwaway certificate).
    Insecure,
}

/// The rustls client configuration for an upstream pool (ALPN `http/1.1`).
pub fn client_config(tls: &UpstreamVerify) -> Result<Arc<rustls::ClientConfig>, TlsFileError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsFileError {
            key: "tls",
            path: String::new(),
            message: e.to_string(),
        })?;
    let mut config = match tls {
        UpstreamVerify::CaFile(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in load_certs("ca_file", path)? {
                roots
                    .add(cert)
                    .map_err(|e| file_error("ca_file", path, e.to_string()))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        UpstreamVerify::System => builder
            .with_root_certificates(system_roots()?)
            .with_no_client_auth(),
        UpstreamVerify::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The system's trust store, read once per process (as curl reads it per run); an
/// error when it holds no certificate a handshake could be verified with.
pub fn system_roots() -> Result<Arc<rustls::RootCertStore>, TlsFileError> {
    static ROOTS: std::sync::OnceLock<Result<Arc<rustls::RootCertStore>, String>> =
        std::sync::OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = rustls::RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added > 0 {
                return Ok(Arc::new(roots));
            }
            let why = match found.errors.first() {
                Some(e) => format!(": {e}"),
                None => String::new(),
            };
            Err(format!(
                "holds no usable certificate{why}: give `ca_file` (or `insecure = true` for a test upstream)"
            ))
        })
        .clone()
        .map_err(|message| TlsFileError {
            key: "ca_file",
            path: "the system's trust store (SSL_CERT_FILE, SSL_CERT_DIR, /etc/ssl/certs)".into(),
            message,
        })
}

/// `insecure = true`: every certificate is taken (signatures are still checked).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
