//! The TCP side of the fault proxy, mirroring Toxiproxy: a [`Proxy`] (one
//! link) is a listener, an upstream address and the toxics installed on it
//! (their JSON objects are built in [`crate::faults::wire`]). Each accepted
//! connection dials the upstream and runs two toxic chains, one per
//! direction (see [`conn`] and [`chain`]), whose stages are edited live when
//! toxics are added, updated or removed. Disabling a proxy closes its
//! listener (new connections are refused) and every connection it carries.

pub(crate) mod chain;
pub(crate) mod conn;
pub(crate) mod seed;
pub mod stage;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::faults::error::{FaultProxyError, listen_error};
use crate::faults::toxics::Toxic;
use crate::faults::wire::{Attributes, WireProxy, WireToxic};
use chain::ToxicChain;
use conn::{ChainEnds, ConnEntry, ConnShared};

/// An edit of one chain that takes longer than this (its downstream is
/// stuck) kills that connection rather than stalling the API.
const CHAIN_EDIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Which direction of a connection a toxic acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Client → server bytes.
    Upstream,
    /// Server → client bytes (the default).
    Downstream,
}

impl Stream {
    /// Parse case-insensitively, as the reference does.
    pub fn parse(text: &str) -> Option<Stream> {
        match text.to_ascii_lowercase().as_str() {
            "upstream" => Some(Stream::Upstream),
            "downstream" => Some(Stream::Downstream),
            _ => None,
        }
    }

    /// `upstream` or `downstream`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }
}

/// A toxic installed on a proxy.
#[derive(Debug)]
pub(crate) struct ToxicRecord {
    pub name: String,
    pub stream: Stream,
    /// The stream as the creator spelled it (echoed back, e.g. `UPSTREAM`).
    pub stream_label: String,
    pub toxicity: f32,
    /// As given on the wire (echoed back unchanged, negative values included).
    pub attributes: Attributes,
    /// What the data path runs.
    pub toxic: Toxic,
}

impl ToxicRecord {
    fn wire(&self) -> WireToxic {
        WireToxic::render(
            &self.name,
            &self.stream_label,
            self.toxicity,
            self.attributes,
        )
    }
}

/// A toxic to add, validated except for its attributes, whose decoding error
/// is reported only after the name check (the reference's order).
#[derive(Debug)]
pub(crate) struct NewToxic {
    pub name: String,
    pub stream: Stream,
    pub stream_label: String,
    pub toxicity: f32,
    pub attributes: Result<Attributes, FaultProxyError>,
}

/// Behaviour switches of a proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyOptions {
    /// When the upstream cannot be dialled, reset the accepted client (RST)
    /// instead of the reference's plain close (which looks like EOF).
    pub refuse_when_upstream_down: bool,
}

struct Running {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

struct State {
    listen: String,
    upstream: String,
    enabled: bool,
    upstream_toxics: Vec<Arc<ToxicRecord>>,
    downstream_toxics: Vec<Arc<ToxicRecord>>,
    conns: HashMap<u64, ConnEntry>,
    running: Option<Running>,
}

impl State {
    fn toxics(&self, stream: Stream) -> &Vec<Arc<ToxicRecord>> {
        match stream {
            Stream::Upstream => &self.upstream_toxics,
            Stream::Downstream => &self.downstream_toxics,
        }
    }

    fn toxics_mut(&mut self, stream: Stream) -> &mut Vec<Arc<ToxicRecord>> {
        match stream {
            Stream::Upstream => &mut self.upstream_toxics,
            Stream::Downstream => &mut self.downstream_toxics,
        }
    }

    /// (stream, index within the stream) of toxic `name`.
    fn find(&self, name: &str) -> Option<(Stream, usize)> {
        [Stream::Upstream, Stream::Downstream]
            .into_iter()
            .find_map(|s| {
                self.toxics(s)
                    .iter()
                    .position(|t| t.name == name)
                    .map(|i| (s, i))
            })
    }

    fn all_toxics(&self) -> impl Iterator<Item = &Arc<ToxicRecord>> {
        self.upstream_toxics.iter().chain(&self.downstream_toxics)
    }
}

enum ChainEdit {
    Add(Arc<ToxicRecord>),
    Update(usize, Arc<ToxicRecord>),
    Remove(usize),
}

/// One proxy: a name, a listener (while enabled), an upstream, its toxics and
/// its live connections.
pub struct Proxy {
    /// Unique name.
    pub name: String,
    seed: u64,
    pub(crate) options: ProxyOptions,
    next_conn: AtomicU64,
    state: Mutex<State>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Where to bind for a configured `listen`: empty → `127.0.0.1:0` (the
/// reference would bind every interface), `:port` → `[::]:port` as Go does.
fn bind_target(listen: &str) -> String {
    if listen.is_empty() {
        "127.0.0.1:0".to_owned()
    } else if let Some(port) = listen.strip_prefix(':') {
        format!("[::]:{port}")
    } else {
        listen.to_owned()
    }
}

/// Resolve like Go's `net.ResolveTCPAddr`: first IPv4 address if any.
async fn resolve(listen: &str) -> Result<SocketAddr, FaultProxyError> {
    let target = bind_target(listen);
    if !target.contains(':') {
        return Err(FaultProxyError::Listen(format!(
            "address {target}: missing port in address"
        )));
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(target.as_str())
        .await
        .map_err(|e| FaultProxyError::Listen(format!("lookup {target}: {e}")))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| FaultProxyError::Listen(format!("lookup {target}: no such host")))
}

impl Proxy {
    /// A stopped proxy. `root_seed` (the fault proxy's) feeds its
    /// deterministic random streams.
    pub(crate) fn new(
        name: String,
        listen: String,
        upstream: String,
        root_seed: u64,
        options: ProxyOptions,
    ) -> Arc<Proxy> {
        let seed = seed::proxy_seed(root_seed, &name);
        Arc::new(Proxy {
            name,
            seed,
            options,
            next_conn: AtomicU64::new(0),
            state: Mutex::new(State {
                listen,
                upstream,
                enabled: false,
                upstream_toxics: Vec::new(),
                downstream_toxics: Vec::new(),
                conns: HashMap::new(),
                running: None,
            }),
        })
    }

    /// Open the listener (no-op if open). `listen` becomes the bound address.
    pub(crate) async fn start(self: &Arc<Self>) -> Result<(), FaultProxyError> {
        let mut st = self.state.lock().await;
        self.start_locked(&mut st).await
    }

    async fn start_locked(self: &Arc<Self>, st: &mut State) -> Result<(), FaultProxyError> {
        if st.running.is_some() {
            return Ok(());
        }
        let addr = resolve(&st.listen).await?;
        // The error names the resolved address, as the reference's does
        // (`listen tcp 127.0.0.1:3310: …` for `localhost:3310`).
        let named = if st.listen.starts_with(':') {
            st.listen.clone()
        } else {
            addr.to_string()
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| listen_error(&named, &e))?;
        let bound = listener
            .local_addr()
            .map_err(|e| listen_error(&named, &e))?;
        st.listen = bound.to_string();
        st.enabled = true;
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept_loop(
            Arc::clone(self),
            listener,
            Arc::from(st.upstream.as_str()),
            stop.clone(),
        ));
        st.running = Some(Running { stop, task });
        tracing::info!(proxy = %self.name, listen = %st.listen, upstream = %st.upstream, "proxy started");
        Ok(())
    }

    /// Close the listener and every connection (no-op if stopped).
    pub(crate) async fn stop(&self) {
        let mut st = self.state.lock().await;
        Self::stop_locked(&mut st).await;
    }

    async fn stop_locked(st: &mut State) {
        if let Some(running) = st.running.take() {
            running.stop.cancel();
            // Wait for the listener to be dropped: once we answer, the port refuses.
            let _ = running.task.await;
        }
        for (_, entry) in st.conns.drain() {
            entry.shared.kill.cancel();
        }
        st.enabled = false;
    }

    /// The proxy as the API shows it.
    pub async fn wire(&self) -> WireProxy {
        let st = self.state.lock().await;
        WireProxy::render(
            &self.name,
            &st.listen,
            &st.upstream,
            st.enabled,
            st.all_toxics().map(|t| t.wire()),
        )
    }

    /// The reference's `Differs`: whether `listen` (resolved, as
    /// `net.ResolveTCPAddr` does) or `upstream` differ from the current ones.
    /// A listen that does not resolve differs.
    pub(crate) async fn differs(&self, listen: &str, upstream: &str) -> bool {
        let resolved = resolve(listen).await.map(|a| a.to_string());
        let st = self.state.lock().await;
        resolved.as_deref() != Ok(st.listen.as_str()) || upstream != st.upstream
    }

    /// Apply a partial update with the reference's semantics: a new listen or
    /// upstream restarts the proxy (closing its connections, keeping toxics);
    /// `enabled` starts or stops it.
    pub(crate) async fn update(
        self: &Arc<Self>,
        listen: Option<String>,
        upstream: Option<String>,
        enabled: Option<bool>,
    ) -> Result<(), FaultProxyError> {
        let mut st = self.state.lock().await;
        let new_listen = listen.unwrap_or_else(|| st.listen.clone());
        let new_upstream = upstream.unwrap_or_else(|| st.upstream.clone());
        let enabled = enabled.unwrap_or(st.enabled);
        let resolved = resolve(&new_listen).await?;
        let before = (st.listen.clone(), st.upstream.clone(), st.enabled);
        if resolved.to_string() != st.listen || new_upstream != st.upstream {
            Self::stop_locked(&mut st).await;
            st.listen = new_listen;
            st.upstream = new_upstream;
        }
        if enabled != st.enabled {
            if enabled {
                if let Err(e) = self.start_locked(&mut st).await {
                    // Leave the proxy as it was: old addresses, old state
                    // (the reference leaves it disabled on the bad address).
                    let (listen, upstream, was_enabled) = before;
                    st.listen = listen;
                    st.upstream = upstream;
                    if was_enabled && let Err(again) = self.start_locked(&mut st).await {
                        tracing::warn!(proxy = %self.name, error = %again, "could not reopen the old listener");
                    }
                    return Err(e);
                }
            } else {
                Self::stop_locked(&mut st).await;
            }
        }
        Ok(())
    }

    /// All toxics: upstream ones in insertion order, then downstream ones.
    pub async fn toxics(&self) -> Vec<WireToxic> {
        self.state
            .lock()
            .await
            .all_toxics()
            .map(|t| t.wire())
            .collect()
    }

    /// One toxic by name.
    pub async fn toxic(&self, name: &str) -> Result<WireToxic, FaultProxyError> {
        let st = self.state.lock().await;
        st.all_toxics()
            .find(|t| t.name == name)
            .map(|t| t.wire())
            .ok_or(FaultProxyError::ToxicNotFound)
    }

    /// Append a toxic to its stream on every live connection and all future ones.
    pub(crate) async fn add_toxic(&self, new: NewToxic) -> Result<WireToxic, FaultProxyError> {
        let mut st = self.state.lock().await;
        if st.find(&new.name).is_some() {
            return Err(FaultProxyError::ToxicAlreadyExists);
        }
        let attributes = new.attributes?;
        let record = Arc::new(ToxicRecord {
            toxic: Toxic::from(&attributes),
            name: new.name,
            stream: new.stream,
            stream_label: new.stream_label,
            toxicity: new.toxicity,
            attributes,
        });
        st.toxics_mut(record.stream).push(Arc::clone(&record));
        let wire = record.wire();
        Self::edit_chains(&mut st, record.stream, ChainEdit::Add(record)).await;
        Ok(wire)
    }

    /// Change a toxic's attributes and/or toxicity; `change` gets the current
    /// record and returns the new values. Restarts it on every chain (re-roll).
    pub(crate) async fn update_toxic(
        &self,
        name: &str,
        change: impl FnOnce(&Attributes, f32) -> Result<(Attributes, f32), FaultProxyError>,
    ) -> Result<WireToxic, FaultProxyError> {
        let mut st = self.state.lock().await;
        let (stream, index) = st.find(name).ok_or(FaultProxyError::ToxicNotFound)?;
        let old = Arc::clone(&st.toxics(stream)[index]);
        let (attributes, toxicity) = change(&old.attributes, old.toxicity)?;
        let record = Arc::new(ToxicRecord {
            name: old.name.clone(),
            stream,
            stream_label: old.stream_label.clone(),
            toxicity,
            toxic: Toxic::from(&attributes),
            attributes,
        });
        st.toxics_mut(stream)[index] = Arc::clone(&record);
        let wire = record.wire();
        Self::edit_chains(&mut st, stream, ChainEdit::Update(index + 1, record)).await;
        Ok(wire)
    }

    /// Remove a toxic from every chain (buffered data is passed on).
    pub(crate) async fn remove_toxic(&self, name: &str) -> Result<(), FaultProxyError> {
        let mut st = self.state.lock().await;
        let (stream, index) = st.find(name).ok_or(FaultProxyError::ToxicNotFound)?;
        st.toxics_mut(stream).remove(index);
        Self::edit_chains(&mut st, stream, ChainEdit::Remove(index + 1)).await;
        Ok(())
    }

    /// Remove every toxic, one by one with removal semantics.
    pub(crate) async fn remove_all_toxics(&self) {
        let mut st = self.state.lock().await;
        for stream in [Stream::Upstream, Stream::Downstream] {
            while !st.toxics(stream).is_empty() {
                st.toxics_mut(stream).remove(0);
                Self::edit_chains(&mut st, stream, ChainEdit::Remove(1)).await;
            }
        }
    }

    async fn edit_chains(st: &mut State, stream: Stream, edit: ChainEdit) {
        let edits = st.conns.values_mut().map(|entry| {
            let edit = &edit;
            async move {
                let ConnEntry { shared, .. } = &*entry;
                let kill = shared.kill.clone();
                let chain: &mut ToxicChain = entry.chain(stream);
                if chain.is_dead() {
                    return;
                }
                let run = async {
                    match edit {
                        ChainEdit::Add(r) => chain.add(Arc::clone(r)).await,
                        ChainEdit::Update(i, r) => chain.update(*i, Arc::clone(r)).await,
                        ChainEdit::Remove(i) => chain.remove(*i).await,
                    }
                };
                if tokio::time::timeout(CHAIN_EDIT_TIMEOUT, run).await.is_err() {
                    chain.mark_dead();
                    kill.cancel();
                }
            }
        });
        futures::future::join_all(edits).await;
    }

    /// Register a new connection: start its chains from the current toxics.
    /// `None` if the proxy was stopped meanwhile.
    pub(crate) async fn register(
        &self,
        id: u64,
        shared: &Arc<ConnShared>,
    ) -> Option<(ChainEnds, ChainEnds)> {
        let mut st = self.state.lock().await;
        if shared.kill.is_cancelled() {
            return None;
        }
        let (entry, up, down) = conn::start_chains(
            self.seed,
            id,
            shared,
            &st.upstream_toxics,
            &st.downstream_toxics,
        );
        st.conns.insert(id, entry);
        Some((up, down))
    }

    /// Forget a finished connection.
    pub(crate) async fn deregister(&self, id: u64) {
        self.state.lock().await.conns.remove(&id);
    }

    /// Number of live connections (for tests and metrics).
    pub async fn connection_count(&self) -> usize {
        self.state.lock().await.conns.len()
    }
}

async fn accept_loop(
    proxy: Arc<Proxy>,
    listener: TcpListener,
    upstream: Arc<str>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            () = stop.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((client, _)) => {
                let id = proxy.next_conn.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(conn::serve(
                    client,
                    Arc::clone(&proxy),
                    id,
                    stop.child_token(),
                    Arc::clone(&upstream),
                ));
            }
            Err(e) => {
                // E.g. out of file descriptors: back off instead of spinning.
                tracing::warn!(proxy = %proxy.name, error = %e, "accept failed");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
    }
}
