//! Active health checks: a background task per pool probes every instance each
//! `interval` and publishes the healthy set (a bitmask) through a `watch` channel.
//! An instance flips only after `unhealthy_after` consecutive failures or
//! `healthy_after` consecutive passes (pingora's rule), so one lost probe moves nothing.
//! Every passing probe is also reported to the pool (`readmit`): an instance ejected
//! passively as unreachable before that probe began is readmitted at once.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior, interval, timeout};
use tokio_util::sync::CancellationToken;

use crate::config::HealthConfig;
use crate::upstream::client::HostPool;

/// Consecutive-result thresholds for one instance.
#[derive(Debug, Clone, Copy)]
pub struct Threshold {
    healthy: bool,
    streak: u32,
}

impl Threshold {
    /// Starts healthy.
    pub fn new() -> Self {
        Self {
            healthy: true,
            streak: 0,
        }
    }

    /// Feeds one probe result; returns the (possibly flipped) state.
    pub fn observe(&mut self, pass: bool, unhealthy_after: u32, healthy_after: u32) -> bool {
        if pass == self.healthy {
            self.streak = 0;
        } else {
            self.streak += 1;
            let needed = if self.healthy {
                unhealthy_after
            } else {
                healthy_after
            };
            if self.streak >= needed {
                self.healthy = pass;
                self.streak = 0;
            }
        }
        self.healthy
    }
}

impl Default for Threshold {
    fn default() -> Self {
        Self::new()
    }
}

async fn probe(host: &Arc<HostPool>, cfg: &HealthConfig) -> bool {
    let Ok(uri) = http::Uri::try_from(cfg.path.as_str()) else {
        return false;
    };
    let req = match http::Request::get(uri).body(Bytes::new()) {
        Ok(r) => r,
        Err(_) => return false,
    };
    let fut = async {
        let resp = host.send(&req).await.ok()?;
        let ok = resp.status().is_success();
        // Read the body so that the connection goes back to the pool.
        resp.into_body().collect().await.ok()?;
        Some(ok)
    };
    matches!(timeout(cfg.timeout, fut).await, Ok(Some(true)))
}

/// The checker loop; ends on cancellation. `readmit(i, started)` is told of each pass of
/// instance `i` by a probe round that began at `started`.
pub async fn run(
    hosts: Vec<Arc<HostPool>>,
    cfg: HealthConfig,
    tx: watch::Sender<u64>,
    readmit: impl Fn(usize, Instant) + Send + 'static,
    token: CancellationToken,
) {
    let mut states = vec![Threshold::new(); hosts.len()];
    let mut tick = interval(cfg.interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tick.tick() => {}
        }
        let started = Instant::now();
        let results = tokio::select! {
            _ = token.cancelled() => return,
            r = futures::future::join_all(hosts.iter().map(|h| probe(h, &cfg))) => r,
        };
        let mut mask = 0u64;
        for (i, (state, pass)) in states.iter_mut().zip(results).enumerate() {
            if pass {
                readmit(i, started);
            }
            if state.observe(pass, cfg.unhealthy_after.get(), cfg.healthy_after.get()) {
                mask |= 1 << i;
            }
        }
        tx.send_if_modified(|m| {
            if *m != mask {
                tracing::info!(healthy = format!("{mask:b}"), "upstream health changed");
                *m = mask;
                true
            } else {
                false
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_only_after_consecutive_results() {
        let mut t = Threshold::new();
        assert!(t.observe(false, 2, 3));
        assert!(t.observe(true, 2, 3), "a pass resets the failure streak");
        assert!(t.observe(false, 2, 3));
        assert!(!t.observe(false, 2, 3), "two failures in a row flip it");
        assert!(!t.observe(true, 2, 3));
        assert!(!t.observe(true, 2, 3));
        assert!(t.observe(true, 2, 3), "three passes bring it back");
    }
}
