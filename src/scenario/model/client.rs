//! The `[client]` section: how ninefold connects to every URL it is given.

use std::path::PathBuf;

/// How ninefold connects to the URLs it is given (`[gateway] url`, `attack URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub tls: ClientTls,
    /// The HTTP version spoken (a phase's own `protocol` may override it later).
    pub protocol: super::HttpProtocol,
    /// Where to connect instead for a URL's host and port (curl's `--connect-to`).
    pub connect_to: Vec<ConnectTo>,
    /// How often a hostname is resolved again (`Duration::ZERO`: resolved once).
    pub resolve_every: std::time::Duration,
}

/// `[client] resolve_every` when absent.
pub const DEFAULT_RESOLVE_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

impl Default for Client {
    fn default() -> Self {
        Client {
            tls: ClientTls::default(),
            protocol: super::HttpProtocol::default(),
            connect_to: Vec::new(),
            resolve_every: DEFAULT_RESOLVE_EVERY,
        }
    }
}

/// `HOST:PORT:CONNECT-HOST:CONNECT-PORT`, as curl's `--connect-to`: connections to a
/// URL of `host:port` go to `connect_host:connect_port`; the `Host` header and the
/// TLS server name stay the URL's. An empty `host` or `port` matches any; an empty
/// `connect_host` or `connect_port` keeps the URL's. IPv6 addresses in brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub connect_host: Option<String>,
    pub connect_port: Option<u16>,
}

impl ConnectTo {
    /// Parse `HOST:PORT:CONNECT-HOST:CONNECT-PORT`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let fields = split_fields(text);
        let [host, port, connect_host, connect_port] = fields.as_slice() else {
            return Err(format!(
                "`{text}` is not HOST:PORT:CONNECT-HOST:CONNECT-PORT (e.g. \"api.example.com:443:127.0.0.1:8443\")"
            ));
        };
        let port_of = |p: &str| -> Result<Option<u16>, String> {
            if p.is_empty() {
                return Ok(None);
            }
            p.parse::<u16>()
                .map(Some)
                .map_err(|_| format!("`{text}`: `{p}` is not a port"))
        };
        let host_of = |h: &str| {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            (!h.is_empty()).then(|| h.to_ascii_lowercase())
        };
        Ok(ConnectTo {
            host: host_of(host),
            port: port_of(port)?,
            connect_host: host_of(connect_host),
            connect_port: port_of(connect_port)?,
        })
    }

    /// Where a URL of `host:port` connects to, when this entry applies to it.
    pub fn applies(&self, host: &str, port: u16) -> Option<(String, u16)> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host_matches = self
            .host
            .as_deref()
            .is_none_or(|h| h.eq_ignore_ascii_case(host));
        (host_matches && self.port.is_none_or(|p| p == port)).then(|| {
            (
                self.connect_host.clone().unwrap_or_else(|| host.to_owned()),
                self.connect_port.unwrap_or(port),
            )
        })
    }
}

impl std::fmt::Display for ConnectTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = |h: &Option<String>| match h.as_deref() {
            Some(h) if h.contains(':') => format!("[{h}]"),
            Some(h) => h.to_owned(),
            None => String::new(),
        };
        let port = |p: Option<u16>| p.map_or_else(String::new, |p| p.to_string());
        write!(
            f,
            "{}:{}:{}:{}",
            host(&self.host),
            port(self.port),
            host(&self.connect_host),
            port(self.connect_port)
        )
    }
}

/// `text` split at the colons outside brackets.
fn split_fields(text: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let (mut depth, mut start) = (0u32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => {
                fields.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    fields.push(&text[start..]);
    fields
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

#[cfg(test)]
mod tests {
    use super::ConnectTo;

    #[test]
    fn connect_to_reads_as_curls_with_brackets_and_empty_fields() {
        let c = ConnectTo::parse("API.example.com:443:[::1]:8443").unwrap();
        assert_eq!(c.host.as_deref(), Some("api.example.com"));
        assert_eq!(
            c.applies("api.example.com", 443),
            Some(("::1".into(), 8443))
        );
        assert_eq!(c.applies("api.example.com", 80), None);
        assert_eq!(c.applies("other", 443), None);
        assert_eq!(c.to_string(), "api.example.com:443:[::1]:8443");
        let any = ConnectTo::parse("::127.0.0.1:").unwrap();
        assert_eq!(any.applies("h", 80), Some(("127.0.0.1".into(), 80)));
        assert_eq!(ConnectTo::parse(&any.to_string()).unwrap(), any);
        assert!(ConnectTo::parse("a:b:c").is_err());
        assert!(ConnectTo::parse("a:99999:c:1").is_err());
    }
}
