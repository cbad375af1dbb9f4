//! [`FaultProxyHandle`]: the in-process handle on a fault proxy, which the
//! harness drives directly (proxies and toxics created by method calls, no
//! HTTP) and [`crate::faults::api`] serves over HTTP. It holds the proxies by
//! name; each [`Proxy`] owns its listener, connections and toxics.
//!
//! ```text
//!  harness ──► FaultProxyHandle (this file) ◄── api.rs (axum) ◄── HTTP clients
//!                 │ name → Arc<Proxy>
//!                 ▼
//!              proxy/ (listeners, connections, toxic chains, toxics)
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::Mutex;

use crate::faults::error::FaultProxyError;
use crate::faults::proxy::{NewToxic, Proxy, ProxyOptions, Stream};
use crate::faults::toxics::Toxic;
use crate::faults::wire::{Attributes, WireProxy, WireToxic};

/// Settings of one fault proxy, applied to every proxy it holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultProxyConfig {
    /// Root of every random stream (toxicity rolls, jitter, slicer, loss).
    pub seed: u64,
    /// Options applied to every proxy.
    pub options: ProxyOptions,
}

/// A proxy to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySpec {
    /// Unique name (one path segment: no `/`).
    pub name: String,
    /// Address to listen on; `127.0.0.1:0` for an ephemeral port; empty = `127.0.0.1:0`.
    pub listen: String,
    /// `host:port` to dial for each connection.
    pub upstream: String,
    /// Start listening now (default true).
    pub enabled: bool,
}

impl ProxySpec {
    /// An enabled proxy `name` from `listen` to `upstream`.
    pub fn new(
        name: impl Into<String>,
        listen: impl Into<String>,
        upstream: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            listen: listen.into(),
            upstream: upstream.into(),
            enabled: true,
        }
    }
}

/// A toxic to add.
#[derive(Debug, Clone, PartialEq)]
pub struct ToxicSpec {
    /// Defaults to `<type>_<stream>`.
    pub name: Option<String>,
    /// Direction it acts on.
    pub stream: Stream,
    /// Fraction of toxic chains (one per connection and direction) it
    /// applies to, rolled per chain.
    pub toxicity: f32,
    /// What it does.
    pub toxic: Toxic,
}

impl ToxicSpec {
    /// `toxic` on `stream` for every connection (toxicity 1), default name.
    pub fn new(toxic: Toxic, stream: Stream) -> Self {
        Self {
            name: None,
            stream,
            toxicity: 1.0,
            toxic,
        }
    }

    /// Set the name.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Set the toxicity.
    #[must_use]
    pub fn with_toxicity(mut self, toxicity: f32) -> Self {
        self.toxicity = toxicity;
        self
    }

    /// The name it will get: the given one or `<type>_<stream>`.
    pub fn resolved_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            format!(
                "{}_{}",
                Attributes::from(&self.toxic).kind(),
                self.stream.as_str()
            )
        })
    }
}

/// A change to an existing toxic; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToxicPatch {
    /// New attributes (must be the same toxic type).
    pub toxic: Option<Toxic>,
    /// New toxicity.
    pub toxicity: Option<f32>,
}

/// `/populate` failed at one entry; the ones before it were created.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}")]
pub struct PopulateError {
    /// What failed.
    pub error: FaultProxyError,
    /// Proxies created (or kept) before the failure, in input order.
    pub created: Vec<WireProxy>,
}

struct Inner {
    config: FaultProxyConfig,
    proxies: Mutex<BTreeMap<String, Arc<Proxy>>>,
}

/// The embeddable fault proxy: cheap to clone, all methods async and safe to
/// call concurrently. Errors carry Toxiproxy's messages and statuses.
///
/// How the harness uses it for one instance's link (text, not a doc-test):
///
/// ```text
/// let fp = FaultProxyHandle::new(FaultProxyConfig { seed, ..Default::default() });
/// fp.create_proxy(ProxySpec::new("api-0", "127.0.0.1:0", backend_addr.to_string())).await?;
/// let link_addr = fp.listen_addr("api-0").await?;          // give this to the gateway
/// let lag = Toxic::Latency(Latency { latency: ms(150), jitter: ms(20) });
/// fp.add_toxic("api-0", ToxicSpec::new(lag, Stream::Downstream).named("fault-3")).await?;
/// fp.remove_toxic("api-0", "fault-3").await?;              // revert
/// fp.set_enabled("api-0", false).await?;                   // `down`: refused, conns closed
/// fp.set_enabled("api-0", true).await?;                    // revert: same port again
/// ```
#[derive(Clone)]
pub struct FaultProxyHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FaultProxyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxyHandle")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl FaultProxyHandle {
    /// An empty fault proxy (no proxies).
    pub fn new(config: FaultProxyConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                proxies: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// The seed every random stream derives from.
    pub fn seed(&self) -> u64 {
        self.inner.config.seed
    }

    /// The proxy `name` (`proxy not found` if there is none).
    pub(crate) async fn get(&self, name: &str) -> Result<Arc<Proxy>, FaultProxyError> {
        self.inner
            .proxies
            .lock()
            .await
            .get(name)
            .cloned()
            .ok_or(FaultProxyError::ProxyNotFound)
    }

    fn build(&self, spec: &ProxySpec) -> Arc<Proxy> {
        Proxy::new(
            spec.name.clone(),
            spec.listen.clone(),
            spec.upstream.clone(),
            self.inner.config.seed,
            self.inner.config.options,
        )
    }

    fn check_fields(spec: &ProxySpec, suffix: &str) -> Result<(), FaultProxyError> {
        if spec.name.is_empty() {
            return Err(FaultProxyError::MissingField(format!("name{suffix}")));
        }
        if spec.upstream.is_empty() {
            return Err(FaultProxyError::MissingField(format!("upstream{suffix}")));
        }
        if spec.name.contains('/') {
            return Err(FaultProxyError::InvalidProxyName);
        }
        Ok(())
    }

    /// Create a proxy (and open its listener if `enabled`). 409 if the name is taken.
    pub async fn create_proxy(&self, spec: ProxySpec) -> Result<WireProxy, FaultProxyError> {
        Self::check_fields(&spec, "")?;
        let mut proxies = self.inner.proxies.lock().await;
        if proxies.contains_key(&spec.name) {
            return Err(FaultProxyError::ProxyAlreadyExists);
        }
        let proxy = self.build(&spec);
        if spec.enabled {
            proxy.start().await?;
        }
        proxies.insert(spec.name, Arc::clone(&proxy));
        drop(proxies);
        Ok(proxy.wire().await)
    }

    /// Create proxies in order with `AddOrReplace` semantics: an existing proxy
    /// with the same listen and upstream is kept untouched (toxics, enabled
    /// state); any other existing one is stopped and replaced. All entries are
    /// validated before anything is created.
    pub async fn populate(&self, specs: Vec<ProxySpec>) -> Result<Vec<WireProxy>, PopulateError> {
        for (i, spec) in specs.iter().enumerate() {
            Self::check_fields(spec, &format!(" at proxy {}", i + 1)).map_err(|error| {
                PopulateError {
                    error,
                    created: Vec::new(),
                }
            })?;
        }
        let mut proxies = self.inner.proxies.lock().await;
        let mut created = Vec::with_capacity(specs.len());
        for spec in specs {
            if let Some(existing) = proxies.get(&spec.name) {
                // Compared as the reference's `Differs` does: the new listen
                // resolved (`localhost:7070` → `127.0.0.1:7070`) against the
                // current one, so an unchanged proxy keeps its toxics.
                if !existing.differs(&spec.listen, &spec.upstream).await {
                    created.push(existing.wire().await);
                    continue;
                }
                existing.stop().await;
            }
            let proxy = self.build(&spec);
            if spec.enabled
                && let Err(error) = proxy.start().await
            {
                return Err(PopulateError { error, created });
            }
            proxies.insert(spec.name, Arc::clone(&proxy));
            created.push(proxy.wire().await);
        }
        Ok(created)
    }

    /// Every proxy by name (sorted, as Go's JSON map is).
    pub async fn proxies(&self) -> BTreeMap<String, WireProxy> {
        let all: Vec<Arc<Proxy>> = self.inner.proxies.lock().await.values().cloned().collect();
        let mut out = BTreeMap::new();
        for p in all {
            out.insert(p.name.clone(), p.wire().await);
        }
        out
    }

    /// One proxy.
    pub async fn proxy(&self, name: &str) -> Result<WireProxy, FaultProxyError> {
        Ok(self.get(name).await?.wire().await)
    }

    /// The address a proxy listens on (its bound port once enabled).
    pub async fn listen_addr(&self, name: &str) -> Result<SocketAddr, FaultProxyError> {
        let listen = self.get(name).await?.wire().await.listen;
        listen.parse().map_err(|_| {
            FaultProxyError::Listen(format!("listen address {listen:?} is not an IP:port"))
        })
    }

    /// Partial update (`None` keeps the value): a new listen or upstream
    /// restarts the proxy and closes its connections; `enabled` opens or closes it.
    /// If the new listener cannot be opened, the proxy is left as it was
    /// (same address, same state) and the error is returned.
    pub async fn update_proxy(
        &self,
        name: &str,
        listen: Option<String>,
        upstream: Option<String>,
        enabled: Option<bool>,
    ) -> Result<WireProxy, FaultProxyError> {
        let proxy = self.get(name).await?;
        proxy.update(listen, upstream, enabled).await?;
        Ok(proxy.wire().await)
    }

    /// Enable (listen again) or disable (close the port and every connection:
    /// new connections get ECONNREFUSED) a proxy.
    pub async fn set_enabled(
        &self,
        name: &str,
        enabled: bool,
    ) -> Result<WireProxy, FaultProxyError> {
        self.update_proxy(name, None, None, Some(enabled)).await
    }

    /// Stop and forget a proxy.
    pub async fn delete_proxy(&self, name: &str) -> Result<(), FaultProxyError> {
        let proxy = self
            .inner
            .proxies
            .lock()
            .await
            .remove(name)
            .ok_or(FaultProxyError::ProxyNotFound)?;
        proxy.stop().await;
        Ok(())
    }

    /// A proxy's toxics (upstream first, each stream in insertion order).
    pub async fn toxics(&self, proxy: &str) -> Result<Vec<WireToxic>, FaultProxyError> {
        Ok(self.get(proxy).await?.toxics().await)
    }

    /// One toxic.
    pub async fn toxic(&self, proxy: &str, name: &str) -> Result<WireToxic, FaultProxyError> {
        self.get(proxy).await?.toxic(name).await
    }

    /// Add a toxic; it applies at once to every live connection of the proxy.
    pub async fn add_toxic(
        &self,
        proxy: &str,
        spec: ToxicSpec,
    ) -> Result<WireToxic, FaultProxyError> {
        let proxy = self.get(proxy).await?;
        let new = NewToxic {
            name: spec.resolved_name(),
            stream: spec.stream,
            stream_label: spec.stream.as_str().to_owned(),
            toxicity: spec.toxicity,
            attributes: Ok(Attributes::from(&spec.toxic)),
        };
        proxy.add_toxic(new).await
    }

    pub(crate) async fn add_toxic_raw(
        &self,
        proxy: &str,
        new: NewToxic,
    ) -> Result<WireToxic, FaultProxyError> {
        self.get(proxy).await?.add_toxic(new).await
    }

    /// Change a toxic's attributes or toxicity (its type cannot change).
    pub async fn update_toxic(
        &self,
        proxy: &str,
        name: &str,
        patch: ToxicPatch,
    ) -> Result<WireToxic, FaultProxyError> {
        let proxy = self.get(proxy).await?;
        proxy
            .update_toxic(name, |attrs, toxicity| {
                let attributes = match &patch.toxic {
                    Some(t) => {
                        let new = Attributes::from(t);
                        if new.kind() != attrs.kind() {
                            return Err(FaultProxyError::InvalidToxicType);
                        }
                        new
                    }
                    None => *attrs,
                };
                Ok((attributes, patch.toxicity.unwrap_or(toxicity)))
            })
            .await
    }

    /// Remove a toxic (data it holds is passed on; a `timeout` toxic's
    /// connections are closed).
    pub async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<(), FaultProxyError> {
        self.get(proxy).await?.remove_toxic(name).await
    }

    /// Enable every proxy and remove every toxic (proxies are kept).
    pub async fn reset(&self) -> Result<(), FaultProxyError> {
        let all: Vec<Arc<Proxy>> = self.inner.proxies.lock().await.values().cloned().collect();
        for proxy in all {
            proxy.start().await?;
            proxy.remove_all_toxics().await;
        }
        Ok(())
    }

    /// Stop every proxy (listeners and connections); the proxies stay defined.
    pub async fn shutdown(&self) {
        let all: Vec<Arc<Proxy>> = self.inner.proxies.lock().await.values().cloned().collect();
        for proxy in all {
            proxy.stop().await;
        }
    }
}
