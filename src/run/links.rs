//! The links of a run: one fault-proxy proxy per instance, on the embedded
//! Toxiproxy-compatible proxy or on an external Toxiproxy server, behind one
//! small interface the runner and the fault driver use.

use std::net::SocketAddr;
use std::sync::Mutex;

use crate::faults::toxics::{
    Bandwidth, Latency, LimitData, Loss, ResetPeer, Slicer, SlowClose, Timeout,
};
use crate::faults::wire::ProxyPatch;
use crate::faults::{
    FaultProxyHandle, ProxySpec, Stream as ProxyStream, Toxic, ToxicSpec, ToxiproxyClient,
};
use crate::scenario::model::{FaultAction, Stream};

/// Where links live.
pub enum Links {
    Embedded(FaultProxyHandle),
    /// A Toxiproxy server; the proxies ninefold created are deleted at the end.
    External {
        client: ToxiproxyClient,
        created: Mutex<Vec<String>>,
    },
}

impl Links {
    /// Create link `name` → `upstream` on an OS-picked loopback port; its address.
    pub async fn create(&self, name: &str, upstream: &str) -> Result<SocketAddr, String> {
        let listen = self
            .create_proxy(ProxySpec::new(name, "127.0.0.1:0", upstream))
            .await?;
        listen
            .parse()
            .map_err(|_| format!("link {name} listens on {listen:?}, not an IP:port"))
    }

    /// Create a link on a fixed address (external mode's `[[links]]`).
    pub async fn create_at(
        &self,
        name: &str,
        listen: SocketAddr,
        upstream: &str,
    ) -> Result<SocketAddr, String> {
        let listen = self
            .create_proxy(ProxySpec::new(name, listen.to_string(), upstream))
            .await?;
        listen
            .parse()
            .map_err(|_| format!("link {name} listens on {listen:?}"))
    }

    /// Create the proxy of `spec` (remembered for deletion on an external
    /// server); the address it listens on, as the proxy reports it.
    async fn create_proxy(&self, spec: ProxySpec) -> Result<String, String> {
        match self {
            Links::Embedded(p) => Ok(p
                .create_proxy(spec)
                .await
                .map_err(|e| e.to_string())?
                .listen),
            Links::External { client, created } => {
                let wire = client
                    .create_proxy(&spec)
                    .await
                    .map_err(|e| e.to_string())?;
                created
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(spec.name.clone());
                Ok(wire.listen)
            }
        }
    }

    /// Open or close a link (closed: connection refused).
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<(), String> {
        match self {
            Links::Embedded(p) => p
                .set_enabled(name, enabled)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Links::External { client, .. } => client
                .set_enabled(name, enabled)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
        }
    }

    /// Point a link at a new upstream (a replaced instance).
    pub async fn set_upstream(&self, name: &str, upstream: &str) -> Result<(), String> {
        match self {
            Links::Embedded(p) => p
                .update_proxy(name, None, Some(upstream.to_owned()), None)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Links::External { client, .. } => {
                let patch = ProxyPatch {
                    upstream: Some(upstream.to_owned()),
                    ..ProxyPatch::default()
                };
                client
                    .update_proxy(name, &patch)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Add a toxic.
    pub async fn add_toxic(&self, name: &str, spec: ToxicSpec) -> Result<(), String> {
        match self {
            Links::Embedded(p) => p
                .add_toxic(name, spec)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Links::External { client, .. } => client
                .add_toxic(name, &spec)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
        }
    }

    /// Remove a toxic.
    pub async fn remove_toxic(&self, name: &str, toxic: &str) -> Result<(), String> {
        match self {
            Links::Embedded(p) => p.remove_toxic(name, toxic).await.map_err(|e| e.to_string()),
            Links::External { client, .. } => client
                .remove_toxic(name, toxic)
                .await
                .map_err(|e| e.to_string()),
        }
    }

    /// Stop the embedded proxy, or delete what we created on an external one.
    pub async fn close(&self) {
        match self {
            Links::Embedded(p) => p.shutdown().await,
            Links::External { client, created } => {
                let names = std::mem::take(&mut *created.lock().unwrap_or_else(|e| e.into_inner()));
                for n in names {
                    let _ = client.delete_proxy(&n).await;
                }
            }
        }
    }
}

/// The proxy toxic for a network fault action (`None` for `down`).
pub fn toxic_of(action: &FaultAction) -> Option<Toxic> {
    Some(match action {
        FaultAction::Latency { latency, jitter } => Toxic::Latency(Latency {
            latency: *latency,
            jitter: *jitter,
        }),
        FaultAction::Bandwidth { rate_kbps } => Toxic::Bandwidth(Bandwidth {
            rate_kb_per_s: *rate_kbps,
        }),
        FaultAction::SlowClose { delay } => Toxic::SlowClose(SlowClose { delay: *delay }),
        FaultAction::Timeout { timeout } => Toxic::Timeout(Timeout {
            timeout: (!timeout.is_zero()).then_some(*timeout),
        }),
        FaultAction::ResetPeer { timeout } => Toxic::ResetPeer(ResetPeer { timeout: *timeout }),
        FaultAction::Slicer {
            average_size,
            size_variation,
            delay,
        } => Toxic::Slicer(Slicer {
            average_size: usize::try_from(*average_size).unwrap_or(usize::MAX),
            size_variation: usize::try_from(*size_variation).unwrap_or(usize::MAX),
            delay: *delay,
        }),
        FaultAction::LimitData { bytes } => Toxic::LimitData(LimitData { bytes: *bytes }),
        FaultAction::Loss { rate } => Toxic::Loss(Loss {
            loss_rate: *rate,
            correlation: 0.0,
        }),
        _ => return None,
    })
}

/// The proxy's stream for a scenario stream.
pub fn proxy_stream(s: Stream) -> ProxyStream {
    match s {
        Stream::Upstream => ProxyStream::Upstream,
        Stream::Downstream => ProxyStream::Downstream,
    }
}

/// The toxic's name on a link: unique per fault and stream.
pub fn toxic_name(fault: usize, stream: Stream) -> String {
    match stream {
        Stream::Upstream => format!("ninefold_{fault}_upstream"),
        Stream::Downstream => format!("ninefold_{fault}_downstream"),
    }
}
