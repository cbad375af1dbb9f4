//! A URL ninefold is given (`[gateway] url`, `ninefold attack URL`) → the targets
//! its connections go to: the scheme decides plain TCP or TLS (`https://`), the
//! host is resolved, the authority is the `Host` header and the TLS server name.
//!
//! A scheme is accepted only where it is really spoken: anything but `http://` and
//! `https://` is refused, never sent as something else.
//!
//! The URL's path is kept: `ninefold attack URL` sends the URL's path and query as
//! they are; a base path in `[gateway] url` (`https://host/prod/v1`, an AWS stage
//! URL) prefixes every request path of the scenario ([`with_base_path`]). A query
//! in `[gateway] url` is refused at validate time (each request's `path` takes its
//! own query).

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Uri};

use super::client::Target;
use super::resolve::Resolve;
use super::tls::{self, TlsError, TlsTarget};
use crate::scenario::TrafficPhase;
use crate::scenario::{ClientTls, ConnectTo, HttpProtocol};

/// Why a URL gives no target.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("`{url}` is not a URL: {message}")]
    NotUrl { url: String, message: String },
    #[error("`{url}` needs a scheme: http://host:port/path or https://host:port/path")]
    NoScheme { url: String },
    #[error("`{url}`: scheme `{scheme}` is not supported; ninefold speaks http:// and https://")]
    Scheme { url: String, scheme: String },
    #[error("`{url}` has no host")]
    NoHost { url: String },
    #[error("cannot resolve `{host}`: {message}")]
    Resolve { host: String, message: String },
    #[error("`{url}`: {source}")]
    Tls { url: String, source: TlsError },
}

/// Whether TLS is spoken to a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// The scheme and authority of `url`, checked.
pub fn parse(url: &str) -> Result<(Scheme, http::uri::Authority, Uri), UrlError> {
    let uri: Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| UrlError::NotUrl {
            url: url.into(),
            message: e.to_string(),
        })?;
    let scheme = match uri.scheme_str() {
        Some("http") => Scheme::Http,
        Some("https") => Scheme::Https,
        Some(other) => {
            return Err(UrlError::Scheme {
                url: url.into(),
                scheme: other.into(),
            });
        }
        None => return Err(UrlError::NoScheme { url: url.into() }),
    };
    let authority = uri
        .authority()
        .filter(|a| !a.host().is_empty())
        .ok_or_else(|| UrlError::NoHost { url: url.into() })?
        .clone();
    Ok((scheme, authority, uri))
}

/// Every address `url`'s host resolves to, as targets (TLS ones for `https://`,
/// built from `settings`, offering the ALPN of `protocol`).
pub async fn targets(
    url: &str,
    settings: &ClientTls,
    protocol: HttpProtocol,
) -> Result<Vec<Target>, UrlError> {
    targets_via(url, settings, protocol, &[], Duration::ZERO).await
}

/// [`targets`], connecting where the first of `connect_to` that applies to the URL's
/// host and port says (curl's `--connect-to`): that host is resolved instead, while
/// the `Host` header and the TLS server name stay the URL's. A hostname (not an IP
/// address) is resolved again every `resolve_every` while traffic runs
/// ([`super::resolve`]; `ZERO`: never).
pub async fn targets_via(
    url: &str,
    settings: &ClientTls,
    protocol: HttpProtocol,
    connect_to: &[ConnectTo],
    resolve_every: Duration,
) -> Result<Vec<Target>, UrlError> {
    let (scheme, authority, _) = parse(url)?;
    let default_port = match scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    };
    let host = authority.host();
    let port = authority.port_u16().unwrap_or(default_port);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let (connect_host, connect_port) = connect_to
        .iter()
        .find_map(|c| c.applies(bare, port))
        .unwrap_or_else(|| (bare.to_owned(), port));
    let addrs: Vec<_> = tokio::net::lookup_host((connect_host.as_str(), connect_port))
        .await
        .map_err(|e| UrlError::Resolve {
            host: connect_host.clone(),
            message: e.to_string(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(UrlError::Resolve {
            host: connect_host,
            message: "no address".into(),
        });
    }
    let resolve = (!resolve_every.is_zero() && connect_host.parse::<std::net::IpAddr>().is_err())
        .then(|| Arc::new(Resolve::new(connect_host, connect_port, resolve_every)));
    let header = HeaderValue::try_from(authority.as_str())
        .map_err(|_| UrlError::NoHost { url: url.into() })?;
    let tls = match scheme {
        Scheme::Http => None,
        Scheme::Https => {
            let config = tls::client_config(settings, tls::alpn(protocol)).map_err(|source| {
                UrlError::Tls {
                    url: url.into(),
                    source,
                }
            })?;
            let target = TlsTarget::new(config, host, settings.insecure).map_err(|source| {
                UrlError::Tls {
                    url: url.into(),
                    source,
                }
            })?;
            Some(Arc::new(target))
        }
    };
    Ok(addrs
        .into_iter()
        .map(|a| {
            let t = Target::with_host(a, header.clone());
            let t = match &resolve {
                Some(r) => t.with_resolve(Arc::clone(r)),
                None => t,
            };
            match &tls {
                Some(tls) => t.with_tls(Arc::clone(tls)),
                None => t,
            }
        })
        .collect())
}

/// The base path of a `[gateway] url`: its path without the trailing `/`, `None`
/// when it is empty or `/`.
pub fn base_path(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    let path = uri.path().trim_end_matches('/');
    (!path.is_empty()).then(|| path.to_owned())
}

/// `phases` with every request path prefixed by `url`'s base path (none: unchanged).
pub fn with_base_path(mut phases: Vec<TrafficPhase>, url: Option<&str>) -> Vec<TrafficPhase> {
    let Some(base) = url.and_then(base_path) else {
        return phases;
    };
    for phase in &mut phases {
        for request in &mut phase.requests {
            request.path = request.path.prefixed(&base);
        }
    }
    phases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_path_is_the_urls_path_without_its_trailing_slash() {
        assert_eq!(base_path("http://h:1/prod/v1").as_deref(), Some("/prod/v1"));
        assert_eq!(base_path("https://h/prod/v1/").as_deref(), Some("/prod/v1"));
        assert_eq!(base_path("http://h:1"), None);
        assert_eq!(base_path("http://h:1/"), None);
    }

    /// Every A/AAAA record of the host is a target (localhost: 127.0.0.1 and ::1 on
    /// most machines), each resolved again on the interval.
    #[tokio::test]
    async fn every_address_of_the_host_is_a_target() {
        let mut expected: Vec<_> = tokio::net::lookup_host(("localhost", 9))
            .await
            .unwrap()
            .collect();
        if !(expected.iter().any(|a| a.is_ipv4()) && expected.iter().any(|a| a.is_ipv6())) {
            eprintln!("skipped: localhost does not resolve to both 127.0.0.1 and ::1 here");
            return;
        }
        let tls = ClientTls::default();
        let every = Duration::from_secs(30);
        let got = targets_via("http://localhost:9/", &tls, HttpProtocol::H1, &[], every)
            .await
            .unwrap();
        let mut addrs: Vec<_> = got.iter().map(|t| t.addr).collect();
        addrs.sort();
        expected.sort();
        assert_eq!(addrs, expected);
        assert!(got.iter().all(|t| t.host == "localhost:9"));
        assert!(
            got.iter()
                .all(|t| t.resolve.as_ref().is_some_and(|r| r.every == every))
        );
        // An IP address is not resolved again.
        let ip = targets_via("http://127.0.0.1:9/", &tls, HttpProtocol::H1, &[], every)
            .await
            .unwrap();
        assert!(ip[0].resolve.is_none());
    }
}
