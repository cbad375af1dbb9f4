//! Counters for `/metrics` (Prometheus text format 0.0.4), kept in atomics; the per
//! (route, status, tenant) request counters live in a sharded map so that recording
//! takes only an uncontended read lock and an atomic add.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hashbrown::HashTable;

use crate::upstream::pool::Pool;

/// A power of two: a hash's top bits pick the shard.
const SHARDS: usize = 16;
/// Latency histogram bucket bounds, seconds.
const BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

type Key = (Arc<str>, u16, Arc<str>);
/// One shard of the request counters. A `HashTable`, so that one hash of the borrowed
/// labels finds the shard (top bits) and the slot, and the label `Arc`s are cloned only
/// when a new counter is made (a `HashMap` keyed by the owned tuple cost two `Arc` clones
/// and two hashes per request).
type Shard = RwLock<HashTable<(Key, AtomicU64)>>;

/// All gateway counters.
pub struct Metrics {
    requests: Box<[Shard]>,
    // foldhash: SipHash over the three labels showed in profiles; labels are config
    // names and verified tenant ids, not arbitrary client input.
    hasher: foldhash::fast::RandomState,
    buckets: [AtomicU64; BOUNDS.len() + 1],
    latency_sum_us: AtomicU64,
    /// `none` label for requests without a route or tenant.
    pub none: Arc<str>,
    /// 429 throttled.
    pub throttled: AtomicU64,
    /// 429 quota exhausted.
    pub quota_exhausted: AtomicU64,
    /// Retries sent.
    pub retries: AtomicU64,
    /// Retries refused by the budget.
    pub retry_budget_exhausted: AtomicU64,
    /// Outlier ejections.
    pub ejections: AtomicU64,
    /// Ejections of an instance whose connect failed (refused, unreachable, timed out).
    pub connect_ejections: AtomicU64,
    /// Retries of attempts that never reached an upstream (not charged to the budget).
    pub unsent_retries: AtomicU64,
    /// Requests re-sent on a fresh connection because the upstream closed the pooled one
    /// (shared with the upstream client, which counts them).
    pub stale_resends: Arc<AtomicU64>,
    /// Cache hits.
    pub cache_hits: AtomicU64,
    /// Cache misses.
    pub cache_misses: AtomicU64,
    /// Requests shed by the in-flight limit.
    pub shed: AtomicU64,
    /// Limiter checks the shared store could not answer (fail open or closed).
    pub limiter_unavailable: AtomicU64,
    /// Request body bytes held in memory now (read for replay, not yet answered).
    pub body_buffered: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: (0..SHARDS).map(|_| RwLock::new(HashTable::new())).collect(),
            hasher: Default::default(),
            buckets: Default::default(),
            latency_sum_us: AtomicU64::new(0),
            none: Arc::from("none"),
            throttled: AtomicU64::new(0),
            quota_exhausted: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            retry_budget_exhausted: AtomicU64::new(0),
            ejections: AtomicU64::new(0),
            connect_ejections: AtomicU64::new(0),
            unsent_retries: AtomicU64::new(0),
            stale_resends: Arc::default(),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            shed: AtomicU64::new(0),
            limiter_unavailable: AtomicU64::new(0),
            body_buffered: AtomicU64::new(0),
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    fn hash(&self, route: &str, status: u16, tenant: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        route.hash(&mut h);
        status.hash(&mut h);
        tenant.hash(&mut h);
        h.finish()
    }

    /// Counts one finished request.
    pub fn record(&self, route: &Arc<str>, status: u16, tenant: &Arc<str>, latency: Duration) {
        let hash = self.hash(route, status, tenant);
        let shard = &self.requests[(hash >> (64 - SHARDS.trailing_zeros())) as usize];
        let is_key = |((r, s, t), _): &(Key, AtomicU64)| {
            // Labels are mostly the same interned `Arc`s: pointers first, bytes if not.
            let same = |a: &Arc<str>, b: &Arc<str>| Arc::ptr_eq(a, b) || **a == **b;
            *s == status && same(r, route) && same(t, tenant)
        };
        let done = {
            let table = shard.read().unwrap_or_else(|p| p.into_inner());
            table
                .find(hash, is_key)
                .map(|(_, c)| c.fetch_add(1, Ordering::Relaxed))
                .is_some()
        };
        if !done {
            let mut table = shard.write().unwrap_or_else(|p| p.into_inner());
            let rehash = |((r, s, t), _): &(Key, AtomicU64)| self.hash(r, *s, t);
            let (_, counter) = table
                .entry(hash, is_key, rehash)
                .or_insert_with(|| ((route.clone(), status, tenant.clone()), AtomicU64::new(0)))
                .into_mut();
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let secs = latency.as_secs_f64();
        let b = BOUNDS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BOUNDS.len());
        self.buckets[b].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, pools: &BTreeMap<String, Arc<Pool>>) -> String {
        let mut out = String::with_capacity(4096);
        self.render_requests(&mut out);
        self.render_latency(&mut out);
        self.render_counters(&mut out);
        self.render_memory_and_log(&mut out);
        render_upstreams(&mut out, pools);
        out
    }

    /// `gateway_requests_total`, one row per route, status and tenant, sorted.
    fn render_requests(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP gateway_requests_total Requests by route, status and tenant."
        );
        let _ = writeln!(out, "# TYPE gateway_requests_total counter");
        let mut rows = Vec::new();
        for shard in self.requests.iter() {
            let map = shard.read().unwrap_or_else(|p| p.into_inner());
            for ((r, s, t), c) in map.iter() {
                rows.push((r.to_string(), *s, t.to_string(), c.load(Ordering::Relaxed)));
            }
        }
        rows.sort();
        for (r, s, t, c) in rows {
            let _ = writeln!(
                out,
                "gateway_requests_total{{route=\"{}\",status=\"{s}\",tenant=\"{}\"}} {c}",
                escape(&r),
                escape(&t)
            );
        }
    }

    /// The `gateway_request_duration_seconds` histogram.
    fn render_latency(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP gateway_request_duration_seconds Time from request to response head."
        );
        let _ = writeln!(out, "# TYPE gateway_request_duration_seconds histogram");
        let mut cum = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            cum += b.load(Ordering::Relaxed);
            let le = BOUNDS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "gateway_request_duration_seconds_bucket{{le=\"{le}\"}} {cum}"
            );
        }
        let sum = self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "gateway_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "gateway_request_duration_seconds_count {cum}");
    }

    /// The plain counters, each with its help line.
    fn render_counters(&self, out: &mut String) {
        for (name, help, c) in [
            (
                "gateway_limiter_unavailable_total",
                "Limiter checks the shared store could not answer (admitted when failing open).",
                &self.limiter_unavailable,
            ),
            (
                "gateway_throttled_total",
                "Requests refused because the token bucket was empty.",
                &self.throttled,
            ),
            (
                "gateway_quota_exhausted_total",
                "Requests refused because the quota was used up.",
                &self.quota_exhausted,
            ),
            (
                "gateway_retries_total",
                "Retries sent upstream after an attempt that reached an instance (charged to the retry budget).",
                &self.retries,
            ),
            (
                "gateway_retry_budget_exhausted_total",
                "Retries refused by the retry budget.",
                &self.retry_budget_exhausted,
            ),
            (
                "gateway_ejections_total",
                "Instances ejected by outlier detection.",
                &self.ejections,
            ),
            (
                "gateway_connect_ejections_total",
                "Instances ejected at once because a connect to them failed.",
                &self.connect_ejections,
            ),
            (
                "gateway_unsent_retries_total",
                "Attempts that never reached an upstream, retried on another instance outside the retry budget.",
                &self.unsent_retries,
            ),
            (
                "gateway_stale_resends_total",
                "Requests re-sent on a fresh connection because the upstream had closed the pooled one.",
                &*self.stale_resends,
            ),
            (
                "gateway_cache_hits_total",
                "Responses served from cache.",
                &self.cache_hits,
            ),
            (
                "gateway_cache_misses_total",
                "Cacheable requests fetched upstream.",
                &self.cache_misses,
            ),
            (
                "gateway_shed_total",
                "Requests shed by the in-flight limit.",
                &self.shed,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", c.load(Ordering::Relaxed));
        }
    }

    /// The request bodies held now, and the log lines dropped (when counted).
    fn render_memory_and_log(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP gateway_request_body_buffered_bytes Request body bytes held in memory now."
        );
        let _ = writeln!(out, "# TYPE gateway_request_body_buffered_bytes gauge");
        let _ = writeln!(
            out,
            "gateway_request_body_buffered_bytes {}",
            self.body_buffered.load(Ordering::Relaxed)
        );
        // Absent when this process installed no log writer: nothing was counted.
        if let Some(n) = crate::logging::dropped_lines() {
            let _ = writeln!(
                out,
                "# HELP gateway_log_lines_dropped_total Log lines dropped because the log's reader fell behind."
            );
            let _ = writeln!(out, "# TYPE gateway_log_lines_dropped_total counter");
            let _ = writeln!(out, "gateway_log_lines_dropped_total {n}");
        }
    }
}

/// `gateway_upstream_healthy` and `gateway_upstream_ejected`, one row each per instance
/// of each pool, from one read of the ejected set so the two agree.
fn render_upstreams(out: &mut String, pools: &BTreeMap<String, Arc<Pool>>) {
    let rows: Vec<(&String, &Arc<Pool>, u64, u64)> = pools
        .iter()
        .map(|(name, pool)| {
            let ejected = pool.ejected_mask();
            (name, pool, pool.healthy_mask() & !ejected, ejected)
        })
        .collect();
    for (metric, help, pick) in [
        (
            "gateway_upstream_healthy",
            "1 if the instance is healthy and not ejected.",
            0,
        ),
        (
            "gateway_upstream_ejected",
            "1 while a passive ejection (connect failure or outlier) of the instance is in force.",
            1,
        ),
    ] {
        let _ = writeln!(out, "# HELP {metric} {help}");
        let _ = writeln!(out, "# TYPE {metric} gauge");
        for (name, pool, avail, ejected) in &rows {
            let mask = if pick == 0 { *avail } else { *ejected };
            for (i, inst) in pool.instances.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{metric}{{upstream=\"{}\",instance=\"{}\",zone=\"{}\"}} {}",
                    escape(name),
                    inst.addr,
                    escape(inst.zone.as_deref().unwrap_or("")),
                    u8::from(mask & (1 << i) != 0)
                );
            }
        }
    }
}
