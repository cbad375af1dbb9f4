//! The fault proxy (`ninefold toxiproxy`, `ninefold::faults`): its Toxiproxy HTTP API and
//! error table, the data path over real sockets, the toxics' stages on paused time, the
//! ports of Toxiproxy's own test suite, an existing Rust client, and the process.
//! One test binary: each module was once its own, linking the whole crate.

#[path = "../faults_common/mod.rs"]
mod faults_common;

mod api;
mod api_errors;
mod cli;
mod compat;
mod proxy;
mod timing;
mod toxiproxy_port;
mod toxiproxy_port_api_toxics;
mod toxiproxy_port_stages;
mod toxiproxy_port_toxics;
