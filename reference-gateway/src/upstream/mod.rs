//! Upstream pools: instances with passive outlier state, the background health checker
//! that publishes each pool's healthy set through a `watch` channel, and the pooled
//! keep-alive HTTP client.

pub mod client;
pub mod health;
pub mod pool;
pub mod stream;
