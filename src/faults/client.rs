//! A thin async client of the Toxiproxy HTTP API on reqwest, used by the
//! harness to drive either the built-in fault proxy or a real Toxiproxy
//! server. Unlike the `toxiproxy_rust` crate it checks status codes: any
//! non-2xx answer becomes [`ClientError::Api`] with the server's
//! `{"error","status"}` message.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::faults::handle::{ProxySpec, ToxicPatch, ToxicSpec};
use crate::faults::wire::{
    Attributes, ErrorBody, PopulateBody, ProxyInput, ProxyPatch, WireProxy, WireToxic,
};

/// Per-request timeout: the reference answers 503 after 25 s itself.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What can go wrong talking to a Toxiproxy server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status.
    #[error("toxiproxy {method} {path}: {status} {message}")]
    Api {
        /// Method of the request.
        method: String,
        /// Path of the request.
        path: String,
        /// HTTP status.
        status: u16,
        /// The server's `error` text (or the raw body if it was not the error JSON).
        message: String,
    },
    /// The request could not be made or its answer not read.
    #[error("toxiproxy {method} {path}: {source}")]
    Http {
        /// Method of the request.
        method: String,
        /// Path of the request.
        path: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// A 2xx answer whose body was not what the API promises.
    #[error("toxiproxy {method} {path}: unexpected body: {source}")]
    Decode {
        /// Method of the request.
        method: String,
        /// Path of the request.
        path: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// The base URL given to [`ToxiproxyClient::new`] is not usable.
    #[error("toxiproxy url {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
}

impl ClientError {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Client of one Toxiproxy server.
#[derive(Debug, Clone)]
pub struct ToxiproxyClient {
    http: reqwest::Client,
    base: String,
}

fn segment(name: &str) -> String {
    // Names are one path segment; escape what would break the URL.
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl ToxiproxyClient {
    /// A client of the server at `base_url`, e.g. `http://127.0.0.1:8474`.
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let base = base_url.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") {
            return Err(ClientError::BadUrl {
                url: base_url.to_owned(),
                reason: "must start with http://".to_owned(),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("ninefold/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::BadUrl {
                url: base_url.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self { http, base })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Vec<u8>), ClientError> {
        let http_err = |source| ClientError::Http {
            method: method.to_string(),
            path: path.to_owned(),
            source,
        };
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let resp = req.send().await.map_err(http_err)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(http_err)?.to_vec();
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|e| e.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).trim().to_owned());
            return Err(ClientError::Api {
                method: method.to_string(),
                path: path.to_owned(),
                status: status.as_u16(),
                message,
            });
        }
        Ok((status, bytes))
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let body = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let (_, bytes) = self.call(method.clone(), path, body).await?;
        serde_json::from_slice(&bytes).map_err(|source| ClientError::Decode {
            method: method.to_string(),
            path: path.to_owned(),
            source,
        })
    }

    async fn empty(&self, method: Method, path: &str) -> Result<(), ClientError> {
        self.call(method, path, None).await.map(|_| ())
    }

    /// `GET /version`: the server's version, e.g. `2.12.0`.
    pub async fn version(&self) -> Result<String, ClientError> {
        #[derive(serde::Deserialize)]
        struct Version {
            version: String,
        }
        let v: Version = self.json(Method::GET, "/version", None::<&()>).await?;
        Ok(v.version)
    }

    /// `GET /proxies`.
    pub async fn proxies(&self) -> Result<BTreeMap<String, WireProxy>, ClientError> {
        self.json(Method::GET, "/proxies", None::<&()>).await
    }

    /// `POST /proxies`.
    pub async fn create_proxy(&self, spec: &ProxySpec) -> Result<WireProxy, ClientError> {
        self.json(Method::POST, "/proxies", Some(&input(spec)))
            .await
    }

    /// `GET /proxies/{name}`.
    pub async fn proxy(&self, name: &str) -> Result<WireProxy, ClientError> {
        self.json(
            Method::GET,
            &format!("/proxies/{}", segment(name)),
            None::<&()>,
        )
        .await
    }

    /// `POST /proxies/{name}` with a partial update (POST, not PATCH, so that
    /// servers older than 2.6 accept it too).
    pub async fn update_proxy(
        &self,
        name: &str,
        patch: &ProxyPatch,
    ) -> Result<WireProxy, ClientError> {
        self.json(
            Method::POST,
            &format!("/proxies/{}", segment(name)),
            Some(patch),
        )
        .await
    }

    /// Enable or disable a proxy.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<WireProxy, ClientError> {
        let patch = ProxyPatch {
            enabled: Some(enabled),
            ..ProxyPatch::default()
        };
        self.update_proxy(name, &patch).await
    }

    /// `DELETE /proxies/{name}`.
    pub async fn delete_proxy(&self, name: &str) -> Result<(), ClientError> {
        self.empty(Method::DELETE, &format!("/proxies/{}", segment(name)))
            .await
    }

    /// `GET /proxies/{name}/toxics`.
    pub async fn toxics(&self, proxy: &str) -> Result<Vec<WireToxic>, ClientError> {
        self.json(
            Method::GET,
            &format!("/proxies/{}/toxics", segment(proxy)),
            None::<&()>,
        )
        .await
    }

    /// `POST /proxies/{name}/toxics`.
    pub async fn add_toxic(&self, proxy: &str, spec: &ToxicSpec) -> Result<WireToxic, ClientError> {
        let attributes = Attributes::from(&spec.toxic);
        let body = serde_json::json!({
            "name": spec.resolved_name(),
            "type": attributes.kind(),
            "stream": spec.stream.as_str(),
            "toxicity": spec.toxicity,
            "attributes": attributes,
        });
        self.json(
            Method::POST,
            &format!("/proxies/{}/toxics", segment(proxy)),
            Some(&body),
        )
        .await
    }

    /// `PATCH /proxies/{name}/toxics/{toxic}`.
    pub async fn update_toxic(
        &self,
        proxy: &str,
        name: &str,
        patch: &ToxicPatch,
    ) -> Result<WireToxic, ClientError> {
        let mut body = serde_json::Map::new();
        if let Some(t) = &patch.toxic {
            body.insert(
                "attributes".into(),
                serde_json::to_value(Attributes::from(t)).unwrap_or_default(),
            );
        }
        if let Some(x) = patch.toxicity {
            body.insert("toxicity".into(), serde_json::json!(x));
        }
        let path = format!("/proxies/{}/toxics/{}", segment(proxy), segment(name));
        self.json(Method::PATCH, &path, Some(&body)).await
    }

    /// `DELETE /proxies/{name}/toxics/{toxic}`.
    pub async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<(), ClientError> {
        let path = format!("/proxies/{}/toxics/{}", segment(proxy), segment(name));
        self.empty(Method::DELETE, &path).await
    }

    /// `POST /reset`: enable every proxy, remove every toxic.
    pub async fn reset(&self) -> Result<(), ClientError> {
        self.empty(Method::POST, "/reset").await
    }

    /// `POST /populate`.
    pub async fn populate(&self, specs: &[ProxySpec]) -> Result<Vec<WireProxy>, ClientError> {
        let inputs: Vec<ProxyInput> = specs.iter().map(input).collect();
        let body: PopulateBody = self.json(Method::POST, "/populate", Some(&inputs)).await?;
        Ok(body.proxies.unwrap_or_default())
    }
}

fn input(spec: &ProxySpec) -> ProxyInput {
    ProxyInput {
        name: spec.name.clone(),
        listen: spec.listen.clone(),
        upstream: spec.upstream.clone(),
        enabled: Some(spec.enabled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_as_one_segment() {
        assert_eq!(segment("api_be-1.x"), "api_be-1.x");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn only_http_urls() {
        assert!(ToxiproxyClient::new("http://127.0.0.1:8474/").is_ok());
        assert!(ToxiproxyClient::new("127.0.0.1:8474").is_err());
    }
}
