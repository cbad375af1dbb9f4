//! The PEM files of `[client] tls` (and `attack --ca-file/--cert/--key`), read and
//! checked as a run loads them: certificates, a private key, and whether a key goes
//! with its certificate. Here, below the load engine, so that validation checks the
//! files with the very code the engine loads them with (`traffic::tls`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::model::ClientTls;

/// Why TLS settings cannot be used. Each names the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("`{path}`: {message}")]
    File { path: PathBuf, message: String },
    #[error("a client certificate needs its key: give both `cert_file` and `key_file`")]
    HalfIdentity,
    #[error("the client certificate `{cert}` and the key `{key}` do not go together: {message}")]
    Identity {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
    #[error(
        "no certificate to trust: the system's trust store is empty or unreadable ({0}); give `ca_file` (or --ca-file)"
    )]
    NoRoots(String),
    #[error("`{0}` cannot be a TLS server name")]
    ServerName(String),
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

fn file_error(path: &Path, message: impl Into<String>) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// The provider every TLS config uses (explicit, whatever else the process links).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The PEM certificates of `path` (at least one).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| file_error(path, format!("cannot read: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, format!("is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(
            path,
            "holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
        ));
    }
    Ok(certs)
}

/// The PEM private key of `path` (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| file_error(path, format!("cannot read: {e}")))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        file_error(
            path,
            format!("holds no usable PEM private key (`-----BEGIN PRIVATE KEY-----`): {e}"),
        )
    })
}

/// Check `tls`'s files as a run would load them (validate time): each problem
/// with the key it belongs to (`ca_file`, `cert_file`, `key_file`).
pub fn check(tls: &ClientTls) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(ca) = &tls.ca_file
        && let Err(e) = load_certs(ca)
    {
        out.push(("ca_file", e.to_string()));
    }
    match (&tls.cert_file, &tls.key_file) {
        (Some(_), None) => out.push(("key_file", TlsError::HalfIdentity.to_string())),
        (None, Some(_)) => out.push(("cert_file", TlsError::HalfIdentity.to_string())),
        (Some(cert), Some(key)) => match (load_certs(cert), load_key(key)) {
            (Ok(c), Ok(k)) => {
                if let Err(e) = identity(cert, key, c, k) {
                    out.push(("key_file", e.to_string()));
                }
            }
            (c, k) => {
                if let Err(e) = c {
                    out.push(("cert_file", e.to_string()));
                }
                if let Err(e) = k {
                    out.push(("key_file", e.to_string()));
                }
            }
        },
        (None, None) => {}
    }
    out
}

fn identity(
    cert: &Path,
    key: &Path,
    chain: Vec<CertificateDer<'static>>,
    der: PrivateKeyDer<'static>,
) -> Result<(), TlsError> {
    rustls::sign::CertifiedKey::from_der(chain, der, &provider())
        .map(drop)
        .map_err(|e| TlsError::Identity {
            cert: cert.to_owned(),
            key: key.to_owned(),
            message: e.to_string(),
        })
}
