//! Integration tests: real sockets on 127.0.0.1:0, in-test upstreams that count calls.

mod support;

mod auth;
mod balancing;
mod connection;
mod errors;
mod failover;
mod features;
mod http2;
mod mtls;
mod request_safety;
mod slow_clients;
mod tls;
