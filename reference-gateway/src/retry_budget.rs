//! The retry budget (finagle style), which keeps a failing pool from multiplying load:
//! each request deposits `ratio` of a retry, each retry withdraws one; besides,
//! `min_retries_per_sec` retries are allowed in every second whatever the traffic
//! (finagle's minimum retries per second), so a quiet gateway can still retry. The
//! gateway's state holds one across reloads; the retry step ([`crate::pipeline::retry`])
//! spends it.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use tokio::time::Instant;

use crate::config::RetryBudgetConfig;

const MILLI: i64 = 1000;
/// Most deposited retries saved (so a long busy spell cannot fund a storm).
const SAVINGS_CAP: i64 = 100;

/// Lock-free retry budget: deposits in thousandths of a retry, plus a floor per second.
pub struct RetryBudget {
    balance: AtomicI64,
    deposit: AtomicI64,
    cap: AtomicI64,
    /// Floor: retries allowed in each second (`min_retries_per_sec`).
    floor: AtomicI64,
    /// The second (since `epoch`) and the floor retries used in it, packed `second << 32 | used`.
    floor_used: AtomicU64,
    epoch: Instant,
}

impl RetryBudget {
    /// Starts with nothing deposited; the floor is available at once.
    pub fn new(cfg: &RetryBudgetConfig) -> Self {
        let b = Self {
            balance: AtomicI64::new(0),
            deposit: AtomicI64::new(0),
            cap: AtomicI64::new(SAVINGS_CAP * MILLI),
            floor: AtomicI64::new(0),
            floor_used: AtomicU64::new(0),
            epoch: Instant::now(),
        };
        b.reconfigure(cfg);
        b
    }

    /// Applies a reloaded configuration, keeping the balance.
    pub fn reconfigure(&self, cfg: &RetryBudgetConfig) {
        self.deposit
            .store((cfg.ratio * MILLI as f64).round() as i64, Ordering::Relaxed);
        self.floor
            .store(i64::from(cfg.min_retries_per_sec), Ordering::Relaxed);
    }

    /// One request's deposit.
    pub fn deposit(&self) {
        let cap = self.cap.load(Ordering::Relaxed);
        let d = self.deposit.load(Ordering::Relaxed);
        let _ = self
            .balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                (b < cap).then(|| (b + d).min(cap))
            });
    }

    /// Takes one retry if the budget allows it: from this second's floor first (it
    /// expires anyway), else from the deposits.
    pub fn try_withdraw(&self) -> bool {
        self.try_floor()
            || self
                .balance
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                    (b >= MILLI).then_some(b - MILLI)
                })
                .is_ok()
    }

    fn try_floor(&self) -> bool {
        let floor = self.floor.load(Ordering::Relaxed).clamp(0, u32::MAX.into()) as u64;
        if floor == 0 {
            return false;
        }
        let second = self.epoch.elapsed().as_secs() & u64::from(u32::MAX);
        self.floor_used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |packed| {
                let used = if packed >> 32 == second {
                    packed & u64::from(u32::MAX)
                } else {
                    0
                };
                (used < floor).then_some(second << 32 | (used + 1))
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn budget(ratio: f64, per_sec: u32) -> RetryBudget {
        RetryBudget::new(&RetryBudgetConfig {
            ratio,
            min_retries_per_sec: per_sec,
        })
    }

    fn drain(b: &RetryBudget) -> usize {
        let mut n = 0;
        while b.try_withdraw() {
            n += 1;
        }
        n
    }

    #[tokio::test(start_paused = true)]
    async fn budget_allows_the_floor_each_second_plus_ratio_of_requests() {
        let b = budget(0.2, 3);
        for _ in 0..100 {
            b.deposit();
        }
        assert_eq!(drain(&b), 3 + 20);
        // No traffic, no deposits: the floor alone, renewed each second.
        assert_eq!(drain(&b), 0);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(drain(&b), 3);
        tokio::time::advance(Duration::from_millis(999)).await;
        assert_eq!(drain(&b), 0, "still the same second");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(drain(&b), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn budget_floor_limits_a_storm_without_traffic_to_fund_it() {
        // Ratio 0: only the floor. Over 10 s of retries, 10 × 10 are allowed, not more.
        let b = budget(0.0, 10);
        let mut allowed = 0;
        for _ in 0..10 {
            for _ in 0..1000 {
                allowed += usize::from(b.try_withdraw());
            }
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert_eq!(allowed, 100);
    }
}
