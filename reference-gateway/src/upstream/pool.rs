//! One upstream pool: its instances, the healthy set (a bitmask published by the health
//! checker through a `watch` channel), passive outlier ejection and the balancing choice.
//!
//! Instances are at most 64 so that a set of instances is one `u64`: the healthy set, the
//! instances already tried by a request, the ejected ones. Picking allocates nothing.

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use http::uri::Authority;
use rand::Rng;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{Balance, UpstreamConfig};
use crate::metrics::Metrics;
use crate::upstream::client::{HostPool, UpstreamClient};
use crate::upstream::health;

/// One instance and its live counters.
pub struct Instance {
    /// Address.
    pub addr: SocketAddr,
    /// `host:port`, built once for request URIs.
    pub authority: Authority,
    /// Availability zone (reporting).
    pub zone: Option<String>,
    /// Its keep-alive connections.
    pub conns: Arc<HostPool>,
    in_flight: AtomicUsize,
    failures: AtomicU32,
    ejected_until: AtomicU64,
    ejections: AtomicU32,
}

/// Decrements the instance's in-flight count when the attempt ends.
pub struct InFlight<'a>(&'a Instance);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An upstream pool.
pub struct Pool {
    /// `[upstreams.NAME]` key.
    pub name: Arc<str>,
    /// Its configuration (pools are reused across reloads when it is unchanged).
    pub config: UpstreamConfig,
    /// Instances, in `targets` order.
    pub instances: Vec<Instance>,
    healthy: watch::Receiver<u64>,
    rr: AtomicUsize,
    epoch: Instant,
    // Cancels the health checker when the last snapshot using this pool is gone.
    token: CancellationToken,
    hasher: std::collections::hash_map::RandomState,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

fn full_mask(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

impl Pool {
    /// Builds the pool and, when health checks are configured, spawns its checker
    /// (stopped by `shutdown` or when the pool is dropped). Needs a tokio runtime.
    pub fn new(
        name: &str,
        config: &UpstreamConfig,
        client: UpstreamClient,
        shutdown: &CancellationToken,
    ) -> Arc<Self> {
        let instances: Vec<Instance> = config
            .targets
            .iter()
            .enumerate()
            .map(|(i, addr)| Instance {
                addr: *addr,
                authority: Authority::try_from(addr.to_string().as_str())
                    .expect("a socket address is a valid authority"),
                conns: client.host(*addr),
                zone: (!config.zones.is_empty())
                    .then(|| config.zones[i % config.zones.len()].clone()),
                in_flight: AtomicUsize::new(0),
                failures: AtomicU32::new(0),
                ejected_until: AtomicU64::new(0),
                ejections: AtomicU32::new(0),
            })
            .collect();
        // Instances start healthy: a fresh gateway serves at once, and the checker
        // takes them out within `interval × unhealthy_after` if they are not.
        let (tx, rx) = watch::channel(full_mask(instances.len()));
        let token = shutdown.child_token();
        if let Some(h) = &config.health {
            let addrs = config.targets.clone();
            tokio::spawn(health::run(addrs, h.clone(), client, tx, token.clone()));
        }
        Arc::new(Self {
            name: Arc::from(name),
            config: config.clone(),
            instances,
            healthy: rx,
            rr: AtomicUsize::new(0),
            epoch: Instant::now(),
            token,
            hasher: Default::default(),
        })
    }

    fn now_nanos(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// The healthy set published by the checker (bit i = instance i).
    pub fn healthy_mask(&self) -> u64 {
        *self.healthy.borrow()
    }

    /// A receiver of the healthy set, for tests and readiness.
    pub fn watch_healthy(&self) -> watch::Receiver<u64> {
        self.healthy.clone()
    }

    /// Instances currently ejected by outlier detection.
    pub fn ejected_mask(&self) -> u64 {
        if self.config.outlier.is_none() {
            return 0;
        }
        let now = self.now_nanos();
        let mut m = 0;
        for (i, inst) in self.instances.iter().enumerate() {
            if inst.ejected_until.load(Ordering::Relaxed) > now {
                m |= 1 << i;
            }
        }
        m
    }

    /// Instances that may take traffic: healthy and not ejected.
    pub fn available_mask(&self) -> u64 {
        self.healthy_mask() & !self.ejected_mask()
    }

    /// Picks an instance not in `tried` if possible (else any available one).
    pub fn pick(&self, tried: u64, hash_key: Option<&[u8]>) -> Option<usize> {
        let avail = self.available_mask();
        let mut cand = avail & !tried;
        if cand == 0 {
            cand = avail;
        }
        if cand == 0 {
            return None;
        }
        let n = self.instances.len();
        Some(match &self.config.balance {
            Balance::RoundRobin => {
                let start = self.rr.fetch_add(1, Ordering::Relaxed);
                (0..n)
                    .map(|k| (start + k) % n)
                    .find(|i| cand & (1 << i) != 0)
                    .unwrap_or(0)
            }
            Balance::Random => nth_set_bit(cand, rand::rng().random_range(0..cand.count_ones())),
            Balance::LeastRequest => {
                let c = cand.count_ones();
                let mut rng = rand::rng();
                let a = nth_set_bit(cand, rng.random_range(0..c));
                let b = nth_set_bit(cand, rng.random_range(0..c));
                let load = |i: usize| self.instances[i].in_flight.load(Ordering::Relaxed);
                if load(b) < load(a) { b } else { a }
            }
            Balance::Hash(_) => {
                // Rendezvous hashing: the same key keeps its instance while it is available.
                let key = hash_key.unwrap_or_default();
                (0..n)
                    .filter(|i| cand & (1 << i) != 0)
                    .max_by_key(|i| {
                        let mut h = self.hasher.build_hasher();
                        h.write(key);
                        h.write_usize(*i);
                        h.finish()
                    })
                    .unwrap_or(0)
            }
        })
    }

    /// Counts an attempt in flight on instance `i` until the guard drops.
    pub fn start(&self, i: usize) -> InFlight<'_> {
        let inst = &self.instances[i];
        inst.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(inst)
    }

    /// Feeds passive outlier detection; returns true when this failure ejected `i`.
    pub fn record(&self, i: usize, success: bool, metrics: &Metrics) -> bool {
        let inst = &self.instances[i];
        let Some(o) = &self.config.outlier else {
            return false;
        };
        if success {
            // Only write when needed: a shared cache line written per request is slow.
            if inst.failures.load(Ordering::Relaxed) != 0 {
                inst.failures.store(0, Ordering::Relaxed);
            }
            return false;
        }
        let f = inst.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if f < o.consecutive_failures.get() {
            return false;
        }
        let ejected = self.ejected_mask();
        if ejected & (1 << i) != 0 {
            return false;
        }
        let allowed = (o.max_ejected * self.instances.len() as f64).floor() as u32;
        if ejected.count_ones() + 1 > allowed {
            return false;
        }
        let k = inst.ejections.fetch_add(1, Ordering::Relaxed).min(5);
        let until = self.now_nanos() + (o.ejection.as_nanos() as u64).saturating_mul(1 << k);
        inst.ejected_until.store(until, Ordering::Relaxed);
        inst.failures.store(0, Ordering::Relaxed);
        metrics.ejections.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(upstream = %self.name, instance = %inst.addr, ejection = k + 1, "instance ejected");
        true
    }
}

fn nth_set_bit(mut m: u64, n: u32) -> usize {
    for _ in 0..n {
        m &= m - 1;
    }
    m.trailing_zeros() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_bit() {
        assert_eq!(nth_set_bit(0b1011, 0), 0);
        assert_eq!(nth_set_bit(0b1011, 1), 1);
        assert_eq!(nth_set_bit(0b1011, 2), 3);
    }
}
