//! Faults: the timeline that plays `[[faults]]` against a run ([`timeline`]),
//! the Toxiproxy-compatible fault proxy (its TCP data path, its toxics,
//! its HTTP API) and the client the harness uses to drive it or a real
//! Toxiproxy server.
//!
//! ```text
//!            ┌────────────────────── FaultProxy (server.rs) ──────────────────────┐
//!  HTTP API  │  proxies by name ──► Proxy (proxy/mod.rs): listener + upstream      │
//!  (api.rs) ─┤                        │ per accepted connection (proxy/conn.rs):    │
//!  client.rs │                        ▼                                             │
//!            │  client ─read─► [noop]─►[toxic]─►…─► write ─► upstream server        │
//!            │          upstream link: stages joined by bounded mpsc of Chunk        │
//!            │  client ◄write─ …◄─[toxic]◄─[noop] ◄─read─ upstream server           │
//!            │          downstream link (proxy/link.rs, proxy/stage.rs)              │
//!            └──────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Toxiproxy's wire JSON (milliseconds, KB/s, field order) lives in [`wire`]
//! only; everything else works with [`std::time::Duration`] and the closed
//! [`toxics::Toxic`] enum.

pub mod api;
pub mod client;
pub mod error;
pub mod proxy;
pub mod server;
pub mod timeline;
pub mod toxics;
pub mod wire;

pub use client::{ClientError, ToxiproxyClient};
pub use error::FaultProxyError;
pub use proxy::Stream;
pub use server::{FaultProxy, FaultProxyConfig, ProxySpec, ToxicPatch, ToxicSpec};
pub use toxics::Toxic;
