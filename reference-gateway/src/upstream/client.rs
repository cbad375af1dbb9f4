//! The pooled keep-alive HTTP/1 client towards upstream instances, shared by every pool,
//! every reload and the health checker (one connection pool per instance address).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// The client type.
pub type UpstreamClient = Client<HttpConnector, Full<Bytes>>;

/// Builds the client: no Nagle delay, bounded connect time, idle connections kept 90 s.
pub fn build(connect_timeout: Duration) -> UpstreamClient {
    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    conn.set_connect_timeout(Some(connect_timeout));
    conn.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .build(conn)
}
