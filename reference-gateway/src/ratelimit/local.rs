//! The exact local limiter: GCRA (a token bucket expressed as one "theoretical arrival
//! time" per key) plus a fixed-window quota counter, each one `AtomicU64` updated by
//! compare-and-swap. Keys live in 64 shards of `RwLock<HashMap>`: the read lock is
//! uncontended in the steady state; the write lock is taken only for a new key.
//!
//! Over T seconds a bucket (rate r, burst b) that starts full admits exactly
//! `b + floor(r·T)` requests: a request at `now` is admitted iff
//! `max(tat, now) + 1/r − now ≤ b/r`, and then `tat` becomes `max(tat, now) + 1/r`.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;

use super::{Decision, RateLimitStore};
use crate::config::{Plan, Quota};
use crate::error::{GatewayError, LimitInfo};

const SHARDS: usize = 64;
const COUNT_BITS: u32 = 40;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

// foldhash: keys are tenant ids (from verified tokens) and route plan keys.
type Shard = RwLock<HashMap<Box<str>, Cell, foldhash::fast::RandomState>>;

#[derive(Default)]
struct Cell {
    /// GCRA theoretical arrival time, nanoseconds since the store's epoch.
    tat: AtomicU64,
    /// Quota: window index (high 24 bits) and count (low 40 bits).
    quota: AtomicU64,
}

/// Exact in-process limiter state.
pub struct LocalStore {
    epoch: Instant,
    shards: Box<[Shard]>,
    hasher: foldhash::fast::RandomState,
}

impl Default for LocalStore {
    fn default() -> Self {
        Self::new()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl LocalStore {
    /// An empty store; its clock starts now (tokio time, so tests can pause it).
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            shards: (0..SHARDS)
                .map(|_| RwLock::new(HashMap::default()))
                .collect(),
            hasher: Default::default(),
        }
    }

    fn with_cell<R>(&self, key: &str, f: impl Fn(&Cell) -> R) -> R {
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        {
            let map = shard.read().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = map.get(key) {
                return f(c);
            }
        }
        let mut map = shard.write().unwrap_or_else(|p| p.into_inner());
        f(map.entry(key.into()).or_default())
    }

    /// Decides for one request at the current (tokio) instant.
    pub fn check_now(&self, key: &str, plan: &Plan) -> Decision {
        let now = nanos(self.epoch.elapsed());
        self.with_cell(key, |c| decide(c, plan, now))
    }
}

impl RateLimitStore for LocalStore {
    fn check<'a>(
        &'a self,
        key: &'a str,
        plan: &'a Plan,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move { Ok(self.check_now(key, plan)) })
    }
}

fn decide(c: &Cell, plan: &Plan, now: u64) -> Decision {
    let t = ((1e9 / plan.rate).round() as u64).max(1);
    let burst = u64::from(plan.burst.get());
    let tau = t.saturating_mul(burst);
    let mut tat = c.tat.load(Ordering::Acquire);
    let new_tat = loop {
        let new = tat.max(now) + t;
        if new - now > tau {
            let retry_after = new - now - tau;
            return Decision::Throttled(LimitInfo {
                limit: burst,
                remaining: 0,
                reset: Duration::from_nanos(tat.saturating_sub(now)),
                retry_after: Duration::from_nanos(retry_after),
            });
        }
        match c
            .tat
            .compare_exchange_weak(tat, new, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => break new,
            Err(actual) => tat = actual,
        }
    };
    if let Some(q) = &plan.quota
        && let Err(info) = take_quota(c, q, now)
    {
        return Decision::QuotaExhausted(info);
    }
    Decision::Allowed(LimitInfo {
        limit: burst,
        remaining: (tau - (new_tat - now)) / t,
        reset: Duration::from_nanos(new_tat - now),
        retry_after: Duration::ZERO,
    })
}

fn take_quota(c: &Cell, q: &Quota, now: u64) -> Result<(), LimitInfo> {
    let period = nanos(q.period.duration()).max(1);
    let window = now / period;
    let tag = window & ((1 << (64 - COUNT_BITS)) - 1);
    let limit = q.limit.get().min(COUNT_MASK);
    let mut cur = c.quota.load(Ordering::Acquire);
    loop {
        let count = if cur >> COUNT_BITS == tag {
            cur & COUNT_MASK
        } else {
            0
        };
        if count >= limit {
            let left = Duration::from_nanos((window + 1) * period - now);
            return Err(LimitInfo {
                limit,
                remaining: 0,
                reset: left,
                retry_after: left,
            });
        }
        let next = (tag << COUNT_BITS) | (count + 1);
        match c
            .quota
            .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => return Ok(()),
            Err(actual) => cur = actual,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::{NonZeroU32, NonZeroU64};

    use super::*;
    use crate::config::QuotaPeriod;

    fn plan(rate: f64, burst: u32) -> Plan {
        Plan {
            rate,
            burst: NonZeroU32::new(burst).unwrap(),
            quota: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn admits_exactly_burst_plus_rate_times_t_at_five_times_the_rate() {
        let store = LocalStore::new();
        let p = plan(20.0, 40);
        let (secs, offered_rate) = (10u64, 100u64);
        let step = Duration::from_nanos(1_000_000_000 / offered_rate);
        let mut admitted = 0;
        for _ in 0..secs * offered_rate {
            if matches!(store.check_now("t", &p), Decision::Allowed(_)) {
                admitted += 1;
            }
            tokio::time::advance(step).await;
        }
        // The last request is sent at T − step; the bucket refilled for T − step.
        let t = Duration::from_secs(secs) - step;
        let expected = 40 + (20.0 * t.as_secs_f64()).floor() as u64;
        assert_eq!(admitted, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn throttled_answers_say_when_to_retry() {
        let store = LocalStore::new();
        let p = plan(2.0, 1);
        assert!(matches!(store.check_now("t", &p), Decision::Allowed(_)));
        let Decision::Throttled(info) = store.check_now("t", &p) else {
            panic!("second request in the same instant must be throttled");
        };
        assert_eq!(info.retry_after, Duration::from_millis(500));
        tokio::time::advance(info.retry_after).await;
        assert!(matches!(store.check_now("t", &p), Decision::Allowed(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn quota_boundary_is_exact_and_resets_with_the_period() {
        let store = LocalStore::new();
        let mut p = plan(1e6, 1000);
        p.quota = Some(Quota {
            limit: NonZeroU64::new(5).unwrap(),
            period: QuotaPeriod::Every(Duration::from_secs(60)),
        });
        for _ in 0..5 {
            assert!(matches!(store.check_now("t", &p), Decision::Allowed(_)));
        }
        let Decision::QuotaExhausted(info) = store.check_now("t", &p) else {
            panic!("limit + 1 must be refused");
        };
        assert_eq!(info.retry_after, Duration::from_secs(60));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(matches!(store.check_now("t", &p), Decision::Allowed(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn keys_are_independent() {
        let store = LocalStore::new();
        let p = plan(1.0, 2);
        for _ in 0..10 {
            store.check_now("flood", &p);
        }
        assert!(matches!(store.check_now("calm", &p), Decision::Allowed(_)));
    }

    proptest::proptest! {
        #[test]
        fn never_admits_more_than_the_bucket_allows(
            rate in 1u32..1000, burst in 1u32..100, gaps in proptest::collection::vec(0u64..50_000_000, 1..300)
        ) {
            let c = Cell::default();
            let p = plan(f64::from(rate), burst);
            let mut now = 0u64;
            let mut admitted = 0u64;
            for g in gaps {
                now += g;
                if matches!(decide(&c, &p, now), Decision::Allowed(_)) { admitted += 1; }
            }
            let t = (1e9 / f64::from(rate)).round() as u64;
            proptest::prop_assert!(admitted <= u64::from(burst) + now / t);
        }
    }
}
