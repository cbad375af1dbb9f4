//! One upstream pool: its instances, the healthy set (a bitmask published by the health
//! checker through a `watch` channel), passive outlier ejection and the balancing choice.
//!
//! Instances are at most 64 so that a set of instances is one `u64`: the healthy set, the
//! instances already tried by a request, the ejected ones. Picking allocates nothing.
//!
//! Two kinds of passive ejection share one published set (`ejected`, read by every pick
//! beside the checker's healthy set):
//! - **unreachable** (always on, like nginx's `max_fails=1`): a connect that failed (refused,
//!   unreachable, timed out, reset before a byte of the request was written) proves the
//!   instance is not serving, so it is ejected at once for [`UNREACHABLE_EJECTION`],
//!   doubled for each further ejection before it answers again (up to 32×). A probe of the
//!   health checker that passes after the ejection readmits it early. The last available
//!   instance is never ejected this way: its refusal is then the truthful answer.
//! - **outlier** (with `outlier`): `consecutive_failures` failed attempts in a row.

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
use crate::upstream::client::{HostPool, UpstreamClient};
use crate::upstream::health;

/// First ejection of an instance whose connect failed; doubles per repeat, up to 32×.
pub const UNREACHABLE_EJECTION: std::time::Duration = std::time::Duration::from_secs(1);
/// Largest doubling of an ejection (2^5 = 32×).
const MAX_DOUBLINGS: u32 = 5;

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
    /// When the current unreachable ejection began (pool nanos; 0 = not ejected as unreachable).
    unreachable_since: AtomicU64,
    /// Unreachable ejections since the instance last answered (the doubling exponent).
    unreachable_streak: AtomicU32,
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
    /// Instances with a passive ejection set (bit i = instance i); an expired one's bit is
    /// cleared by the next read. Zero, the common case, costs one load per pick.
    ejected: AtomicU64,
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
                conns: match &config.tls {
                    None => client.host(*addr),
                    Some(tls) => client.host_tls(
                        *addr,
                        Some(tls),
                        Some(
                            crate::upstream::stream::TlsDial::new(tls, *addr)
                                .map_err(|e| e.to_string()),
                        ),
                    ),
                },
                zone: (!config.zones.is_empty())
                    .then(|| config.zones[i % config.zones.len()].clone()),
                in_flight: AtomicUsize::new(0),
                failures: AtomicU32::new(0),
                ejected_until: AtomicU64::new(0),
                ejections: AtomicU32::new(0),
                unreachable_since: AtomicU64::new(0),
                unreachable_streak: AtomicU32::new(0),
            })
            .collect();
        // Instances start healthy: a fresh gateway serves at once, and the checker
        // takes them out within `interval × unhealthy_after` if they are not.
        let (tx, rx) = watch::channel(full_mask(instances.len()));
        let token = shutdown.child_token();
        Arc::new_cyclic(|me: &std::sync::Weak<Pool>| {
            if let Some(h) = &config.health {
                let hosts = instances.iter().map(|i| i.conns.clone()).collect();
                // A probe that passed readmits an instance ejected as unreachable before it.
                let me = me.clone();
                let readmit = move |i: usize, probed_at: Instant| {
                    if let Some(pool) = me.upgrade() {
                        pool.readmit(i, probed_at);
                    }
                };
                let checker = health::run(hosts, h.clone(), tx, readmit, token.clone());
                tokio::spawn(checker);
            }
            Self {
                name: Arc::from(name),
                config: config.clone(),
                instances,
                healthy: rx,
                ejected: AtomicU64::new(0),
                rr: AtomicUsize::new(0),
                epoch: Instant::now(),
                token,
                hasher: Default::default(),
            }
        })
    }

    fn now_nanos(&self) -> u64 {
        self.nanos_at(Instant::now())
    }

    /// `t` in pool nanos, at least 1 (0 means "never").
    fn nanos_at(&self, t: Instant) -> u64 {
        (t.saturating_duration_since(self.epoch).as_nanos() as u64).max(1)
    }

    /// The healthy set published by the checker (bit i = instance i).
    pub fn healthy_mask(&self) -> u64 {
        *self.healthy.borrow()
    }

    /// A receiver of the healthy set, for tests and readiness.
    pub fn watch_healthy(&self) -> watch::Receiver<u64> {
        self.healthy.clone()
    }

    /// Instances currently ejected (unreachable or outlier).
    pub fn ejected_mask(&self) -> u64 {
        let marked = self.ejected.load(Ordering::Relaxed);
        if marked == 0 {
            return 0;
        }
        let now = self.now_nanos();
        let mut m = 0;
        let mut rest = marked;
        while rest != 0 {
            let i = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            if self.instances[i].ejected_until.load(Ordering::Relaxed) > now {
                m |= 1 << i;
            }
        }
        if m != marked {
            // Expired: readmitted. Clear their bits, then look again: an ejection set
            // meanwhile (deadline stored before its bit) must not be lost.
            let expired = marked & !m;
            self.ejected.fetch_and(!expired, Ordering::SeqCst);
            let mut rest = expired;
            while rest != 0 {
                let i = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                let inst = &self.instances[i];
                if inst.ejected_until.load(Ordering::SeqCst) > now {
                    self.ejected.fetch_or(1 << i, Ordering::SeqCst);
                } else {
                    inst.unreachable_since.store(0, Ordering::Relaxed);
                }
            }
        }
        m
    }

    fn eject_for(&self, i: usize, length: std::time::Duration, now: u64) {
        let until = now.saturating_add(length.as_nanos() as u64);
        self.instances[i]
            .ejected_until
            .store(until, Ordering::SeqCst);
        self.ejected.fetch_or(1 << i, Ordering::SeqCst);
    }

    /// A connect to instance `i` failed before anything was sent (refused, unreachable,
    /// timed out, reset before the request was written): eject it at once, unless it is
    /// already ejected or the last available instance. Returns true when it was ejected.
    pub fn eject_unreachable(&self, i: usize) -> bool {
        let avail = self.available_mask();
        if avail & (1 << i) == 0 || avail & !(1 << i) == 0 {
            return false;
        }
        let inst = &self.instances[i];
        let k = inst
            .unreachable_streak
            .fetch_add(1, Ordering::Relaxed)
            .min(MAX_DOUBLINGS);
        let now = self.now_nanos();
        inst.unreachable_since.store(now, Ordering::Relaxed);
        self.eject_for(i, UNREACHABLE_EJECTION * (1 << k), now);
        tracing::warn!(upstream = %self.name, instance = %inst.addr, ejection = k + 1, "instance unreachable: ejected");
        true
    }

    /// The health checker's probe of instance `i`, started at `probed_at`, passed: an
    /// instance ejected as unreachable before that probe began serves again.
    pub fn readmit(&self, i: usize, probed_at: Instant) {
        let inst = &self.instances[i];
        let since = inst.unreachable_since.load(Ordering::Relaxed);
        if since != 0 && since < self.nanos_at(probed_at) {
            inst.unreachable_since.store(0, Ordering::Relaxed);
            inst.ejected_until.store(0, Ordering::Relaxed);
            tracing::info!(upstream = %self.name, instance = %inst.addr, "instance probed healthy: readmitted");
        }
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
    pub fn record(&self, i: usize, success: bool) -> bool {
        let inst = &self.instances[i];
        if success {
            // Only write when needed: a shared cache line written per request is slow.
            if inst.unreachable_streak.load(Ordering::Relaxed) != 0 {
                inst.unreachable_streak.store(0, Ordering::Relaxed);
            }
            if inst.failures.load(Ordering::Relaxed) != 0 {
                inst.failures.store(0, Ordering::Relaxed);
            }
            return false;
        }
        let Some(o) = &self.config.outlier else {
            return false;
        };
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
        let k = inst
            .ejections
            .fetch_add(1, Ordering::Relaxed)
            .min(MAX_DOUBLINGS);
        self.eject_for(i, o.ejection.saturating_mul(1 << k), self.now_nanos());
        inst.failures.store(0, Ordering::Relaxed);
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
    use std::time::Duration;

    use super::*;
    use crate::upstream::client;

    fn pool(n: u16) -> Arc<Pool> {
        let targets = (0..n)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], 9 + i)))
            .collect();
        Pool::new(
            "api",
            &UpstreamConfig::new(targets),
            client::build(Duration::from_secs(1), Default::default()),
            &CancellationToken::new(),
        )
    }

    async fn advance(ms: u64) {
        tokio::time::advance(Duration::from_millis(ms)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn refused_connect_ejects_at_once_for_a_growing_time() {
        let p = pool(2);
        assert!(p.eject_unreachable(1));
        assert_eq!(
            p.available_mask(),
            0b01,
            "out at once, no outlier config needed"
        );
        assert!(!p.eject_unreachable(1), "already out");
        assert!(!p.eject_unreachable(0), "the last available instance stays");
        assert_eq!(p.available_mask(), 0b01);
        // First ejection: 1 s.
        advance(999).await;
        assert_eq!(p.available_mask(), 0b01);
        advance(2).await;
        assert_eq!(p.available_mask(), 0b11, "readmitted after 1 s");
        // Refused again before it answered: 2 s.
        assert!(p.eject_unreachable(1));
        advance(1999).await;
        assert_eq!(p.available_mask(), 0b01);
        advance(2).await;
        assert_eq!(p.available_mask(), 0b11);
        // It answered: the next ejection is 1 s again.
        p.record(1, true);
        assert!(p.eject_unreachable(1));
        advance(1001).await;
        assert_eq!(p.available_mask(), 0b11);
        // Three connect ejections (each `true` above, counted by the balance step), and
        // none of them an outlier ejection: the outlier count starts from nothing.
        assert_eq!(p.instances[1].ejections.load(Ordering::Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_passed_after_the_ejection_readmits() {
        let p = pool(3);
        let earlier = Instant::now();
        advance(10).await;
        assert!(p.eject_unreachable(2));
        p.readmit(2, earlier);
        assert_eq!(
            p.available_mask(),
            0b011,
            "that probe began before the refusal"
        );
        advance(10).await;
        p.readmit(2, Instant::now());
        assert_eq!(p.available_mask(), 0b111);
    }

    #[test]
    fn nth_bit() {
        assert_eq!(nth_set_bit(0b1011, 0), 0);
        assert_eq!(nth_set_bit(0b1011, 1), 1);
        assert_eq!(nth_set_bit(0b1011, 2), 3);
    }
}
