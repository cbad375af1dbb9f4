//! Faults: the timeline that plays `[[faults]]` against a run ([`timeline`]),
//! the Toxiproxy-compatible fault proxy (its TCP data path, its toxics,
//! its HTTP API) and the client the harness uses to drive it or a real
//! Toxiproxy server.
//!
//! ```text
//!            ┌──────────────────── FaultProxyHandle (handle.rs) ──────────────────┐
//!  HTTP API  │  proxies by name ──► Proxy (proxy/mod.rs): listener + upstream      │
//!  (api.rs) ─┤                        │ per accepted connection (proxy/conn.rs):    │
//!  client.rs │                        ▼                                             │
//!            │  client ─read─► [noop]─►[toxic]─►…─► write ─► upstream server        │
//!            │          upstream chain: stages joined by bounded mpsc of Chunk      │
//!            │  client ◄write─ …◄─[toxic]◄─[noop] ◄─read─ upstream server           │
//!            │          downstream chain (proxy/chain.rs, proxy/stage.rs)           │
//!            └──────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Words: a *link* is what the scenario and the harness call one fault-proxy
//! entry (listen address → upstream; Toxiproxy's *proxy*, [`proxy::Proxy`]);
//! a *toxic chain* is the chain of toxic stages of one direction of one
//! connection through it (Toxiproxy's `ToxicLink`).
//!
//! Toxiproxy's wire JSON (milliseconds, KB/s, field order) lives in [`wire`]
//! only; everything else works with [`std::time::Duration`] and the closed
//! [`toxics::Toxic`] enum.

pub mod api;
pub mod client;
pub mod error;
pub mod handle;
pub mod proxy;
pub mod timeline;
pub mod toxics;
pub mod wire;

pub use client::{ClientError, ToxiproxyClient};
pub use error::FaultProxyError;
pub use handle::{FaultProxyConfig, FaultProxyHandle, ProxySpec, ToxicPatch, ToxicSpec};
pub use proxy::Stream;
pub use toxics::Toxic;
