//! The `[client]` section: how ninefold connects to every URL it is given.

use std::path::PathBuf;

/// How ninefold connects to the URLs it is given (`[gateway] url`, `attack URL`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client {
    pub tls: ClientTls,
    /// The HTTP version spoken (a phase's own `protocol` may override it later).
    pub protocol: super::HttpProtocol,
}

/// TLS settings for `https://` URLs. Paths are resolved against the scenario's folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// PEM certificates trusted besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// A PEM client certificate chain (mTLS); always with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Skip the server certificate's verification (noted in every output).
    pub insecure: bool,
}

impl ClientTls {
    /// Nothing set: system roots, no client certificate, verification on.
    pub fn is_default(&self) -> bool {
        *self == ClientTls::default()
    }
}
