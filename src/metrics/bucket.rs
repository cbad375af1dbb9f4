//! The throttle model: the tenant's plan (token bucket + quota, AWS API Gateway
//! semantics) run over the actual send times, so the recorder knows what a
//! perfect gateway would have admitted and can judge each 429 and each
//! `Retry-After` / `RateLimit-Remaining` header.
//!
//! The bucket state is shared by every worker (behind a mutex held for a few
//! nanoseconds per tenant request); the tallies are per worker and merged.

use serde::{Deserialize, Serialize};

use crate::scenario::Plan;

/// Tokens below this are treated as zero (float refill arithmetic).
const EPSILON: f64 = 1e-9;

/// A perfect gateway's limiter for one tenant.
#[derive(Debug, Clone)]
pub struct BucketModel {
    plan: Plan,
    /// The bucket's size; the plan's burst, or a shard's share of it.
    burst: f64,
    /// The refill rate, tokens/s; the plan's, or a shard's share of it.
    rate: f64,
    /// The quota limit of this model (a shard's share of the plan's).
    quota_limit: u64,
    tokens: f64,
    /// Seconds on the run clock of the last offer (time never runs backwards here).
    last_s: f64,
    quota_period: u64,
    quota_used: u64,
}

/// What the model decided for one request, and what it knew then.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Whether a perfect gateway admits this request.
    pub admitted: bool,
    /// Tokens in the bucket when the request arrived (before taking one).
    pub tokens: f64,
    /// Seconds until the model would admit a request again (0 when it admitted).
    pub wait_s: f64,
    /// Tokens left after this request (what `RateLimit-Remaining` should say).
    pub remaining: f64,
    /// The plan's refill rate, tokens/s (to turn a time tolerance into tokens).
    pub rate: f64,
}

impl BucketModel {
    /// A full bucket for `plan`, at run time 0.
    pub fn new(plan: Plan) -> Self {
        Self::for_shard(plan, 0, 1)
    }

    /// The model of shard `index` of `count` load generators: each sees
    /// `1/count` of the tenant's requests (interleaved), so each models
    /// `1/count` of the plan (rate, burst and quota). Summed over the shards
    /// this is the whole plan; it differs from one model over every send by at
    /// most about one token per shard at each refill boundary.
    pub fn for_shard(plan: Plan, index: u32, count: u32) -> Self {
        let n = f64::from(count.max(1));
        // A bucket below one token would never admit anything.
        let burst = (f64::from(plan.burst.get()) / n).max(1.0);
        let quota_limit = plan.quota.map_or(0, |q| {
            let (total, count) = (q.limit.get(), u64::from(count.max(1)));
            total / count + u64::from(u64::from(index) < total % count)
        });
        BucketModel {
            plan,
            burst,
            rate: plan.rate / n,
            quota_limit,
            tokens: burst,
            last_s: 0.0,
            quota_period: 0,
            quota_used: 0,
        }
    }

    /// A request arrives at `t_s` seconds on the run clock.
    pub fn offer(&mut self, t_s: f64) -> Verdict {
        let t = t_s.max(self.last_s);
        self.tokens = (self.tokens + (t - self.last_s) * self.rate).min(self.burst);
        self.last_s = t;
        let quota_wait = self.quota_wait(t);
        let tokens = self.tokens;
        let has_token = tokens + EPSILON >= 1.0;
        let admitted = has_token && quota_wait.is_none();
        if admitted {
            self.tokens = (self.tokens - 1.0).max(0.0);
            self.quota_used += 1;
        }
        let bucket_wait = if has_token {
            0.0
        } else {
            (1.0 - tokens) / self.rate
        };
        Verdict {
            admitted,
            tokens,
            wait_s: if admitted {
                0.0
            } else {
                quota_wait.unwrap_or(0.0).max(bucket_wait)
            },
            remaining: self.tokens.max(0.0),
            rate: self.rate,
        }
    }

    /// `Some(seconds to the next period)` when the quota is used up at `t`.
    fn quota_wait(&mut self, t: f64) -> Option<f64> {
        let quota = self.plan.quota?;
        let len = quota.period.length().as_secs_f64();
        let period = (t / len).floor() as u64;
        if period != self.quota_period {
            self.quota_period = period;
            self.quota_used = 0;
        }
        (self.quota_used >= self.quota_limit).then(|| (period + 1) as f64 * len - t)
    }
}

/// Per-tenant tallies of the model against what the gateway did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantModelStats {
    /// Requests with a valid token that got an HTTP answer.
    pub offered: u64,
    /// Of those, the ones the gateway admitted (anything but 429).
    pub admitted: u64,
    /// The ones a perfect gateway would have admitted.
    pub model_admitted: u64,
    /// 429 while the model had a token to spare beyond the timing tolerance.
    pub wrongful_throttles: u64,
    /// Admitted while the model was short of a token beyond the tolerance.
    pub over_admissions: u64,
    /// Disagreements small enough to be explained by timing (not counted above).
    pub within_tolerance: u64,
    /// 429s that carried `Retry-After`.
    pub retry_after_present: u64,
    /// Of those, the ones whose value matched the model's wait (±1 s granularity).
    pub retry_after_honest: u64,
    /// Answers that carried `RateLimit-Remaining`.
    pub remaining_present: u64,
    /// Of those, the ones within one token of the model.
    pub remaining_honest: u64,
}

/// The rate-limit headers of one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LimitHeaders {
    /// `Retry-After` in seconds, when present and numeric.
    pub retry_after_s: Option<f64>,
    /// `RateLimit-Remaining`, when present and numeric.
    pub remaining: Option<f64>,
}

impl TenantModelStats {
    /// Judge one answered request against the model's verdict.
    ///
    /// `tolerance_s` absorbs the gap between our send instant and the
    /// gateway's own clock (network, scheduling): it becomes `rate × tolerance` tokens.
    pub fn observe(
        &mut self,
        verdict: &Verdict,
        throttled: bool,
        headers: LimitHeaders,
        tolerance_s: f64,
    ) {
        self.offered += 1;
        self.admitted += u64::from(!throttled);
        self.model_admitted += u64::from(verdict.admitted);
        let slack = verdict.rate * tolerance_s;
        match (throttled, verdict.admitted) {
            (true, true) if verdict.tokens - slack >= 1.0 => self.wrongful_throttles += 1,
            (false, false) if verdict.tokens + slack < 1.0 || verdict.wait_s > tolerance_s => {
                self.over_admissions += 1
            }
            (true, true) | (false, false) => self.within_tolerance += 1,
            _ => {}
        }
        if throttled && let Some(retry) = headers.retry_after_s {
            self.retry_after_present += 1;
            // Retry-After has whole-second granularity: it may round up, not down.
            let honest =
                retry + 1.0 + tolerance_s >= verdict.wait_s && retry <= verdict.wait_s.ceil() + 1.0;
            self.retry_after_honest += u64::from(honest);
        }
        if let Some(remaining) = headers.remaining {
            self.remaining_present += 1;
            let honest = (remaining - verdict.remaining.floor()).abs() <= 1.0 + slack;
            self.remaining_honest += u64::from(honest);
        }
    }

    /// Add another worker's tallies.
    pub fn merge(&mut self, o: &TenantModelStats) {
        self.offered += o.offered;
        self.admitted += o.admitted;
        self.model_admitted += o.model_admitted;
        self.wrongful_throttles += o.wrongful_throttles;
        self.over_admissions += o.over_admissions;
        self.within_tolerance += o.within_tolerance;
        self.retry_after_present += o.retry_after_present;
        self.retry_after_honest += o.retry_after_honest;
        self.remaining_present += o.remaining_present;
        self.remaining_honest += o.remaining_honest;
    }
}

#[cfg(test)]
mod tests {
    use std::num::{NonZeroU32, NonZeroU64};
    use std::time::Duration;

    use super::*;
    use crate::scenario::{Quota, QuotaPeriod};

    fn plan(rate: f64, burst: u32, quota: Option<(u64, u64)>) -> Plan {
        Plan {
            rate,
            burst: NonZeroU32::new(burst).unwrap(),
            quota: quota.map(|(limit, secs)| Quota {
                limit: NonZeroU64::new(limit).unwrap(),
                period: QuotaPeriod::Every(Duration::from_secs(secs)),
            }),
        }
    }

    #[test]
    fn matches_a_hand_computed_bucket() {
        // rate 2/s, burst 3. Worked by hand:
        // t=0: 3 tokens → admit, admit, admit, deny (0 left)
        // t=0.25: 0.5 → deny · t=0.5: 1.0 → admit · t=0.6: 0.2 → deny
        // t=1.5: 2.0 → admit, admit, deny · t=10: full (3) → admit · t=10.1: 2.2 → admit
        let arrivals = [
            0.0, 0.0, 0.0, 0.0, 0.25, 0.5, 0.6, 1.5, 1.5, 1.5, 10.0, 10.1,
        ];
        let want = [1, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1, 1];
        let mut model = BucketModel::new(plan(2.0, 3, None));
        let got: Vec<u8> = arrivals
            .iter()
            .map(|t| u8::from(model.offer(*t).admitted))
            .collect();
        assert_eq!(got, want);
        // The denied one at t=0.6 had 0.2 tokens: 0.4 s until the next one.
        let mut model = BucketModel::new(plan(2.0, 3, None));
        let verdicts: Vec<Verdict> = arrivals[..7].iter().map(|t| model.offer(*t)).collect();
        assert!((verdicts[6].wait_s - 0.4).abs() < 1e-9);
        assert!((verdicts[5].remaining - 0.0).abs() < 1e-9);
    }

    #[test]
    fn quota_caps_admissions_per_period() {
        // Quota 4 per 10 s on top of the same bucket.
        let mut model = BucketModel::new(plan(2.0, 3, Some((4, 10))));
        let arrivals = [0.0, 0.0, 0.0, 0.0, 0.5, 1.5, 1.5, 10.0];
        let want = [true, true, true, false, true, false, false, true];
        for (t, w) in arrivals.iter().zip(want) {
            let v = model.offer(*t);
            assert_eq!(v.admitted, w, "t={t}");
            if *t == 1.5 {
                assert!((v.wait_s - 8.5).abs() < 1e-9, "quota wait {}", v.wait_s);
            }
        }
    }

    #[test]
    fn tallies_judge_the_gateway() {
        let mut model = BucketModel::new(plan(10.0, 2, None));
        let mut stats = TenantModelStats::default();
        let no_headers = LimitHeaders::default();
        let admit = model.offer(0.0); // 2 tokens
        stats.observe(&admit, true, no_headers, 0.005); // 429 with tokens to spare: wrongful
        let _ = model.offer(0.0); // the last token goes
        let deny = model.offer(0.001); // 0.01 tokens
        stats.observe(&deny, false, no_headers, 0.005); // admitted with none: over-admission
        let edge = model.offer(0.0995); // 0.995 tokens: admitting here is within tolerance
        stats.observe(
            &edge,
            false,
            LimitHeaders {
                retry_after_s: None,
                remaining: Some(0.0),
            },
            0.005,
        );
        let _ = model.offer(0.1); // exactly one token: admitted by the model
        let late = model.offer(0.12); // 0.2 tokens: 0.08 s to wait
        stats.observe(
            &late,
            true,
            LimitHeaders {
                retry_after_s: Some(1.0),
                remaining: None,
            },
            0.005,
        );
        assert_eq!(stats.wrongful_throttles, 1);
        assert_eq!(stats.over_admissions, 1);
        assert_eq!(stats.within_tolerance, 1);
        assert_eq!(
            (stats.offered, stats.admitted, stats.model_admitted),
            (4, 2, 1)
        );
        assert_eq!(
            (stats.retry_after_present, stats.retry_after_honest),
            (1, 1)
        );
        assert_eq!((stats.remaining_present, stats.remaining_honest), (1, 1));
    }

    #[test]
    fn shard_models_add_up_to_the_whole_plan() {
        // A tenant at 3x its plan (rate 50/s, burst 20) for 10 s, uniform
        // arrivals, split over 2 shards by sequence parity as `--shard` does.
        let p = plan(50.0, 20, None);
        let arrivals: Vec<f64> = (0..1500).map(|i| f64::from(i) / 150.0).collect();
        let mut whole = BucketModel::new(p);
        let whole_admitted = arrivals
            .iter()
            .filter(|t| whole.offer(**t).admitted)
            .count();
        let mut shards = [
            BucketModel::for_shard(p, 0, 2),
            BucketModel::for_shard(p, 1, 2),
        ];
        let sharded_admitted = arrivals
            .iter()
            .enumerate()
            .filter(|(i, t)| shards[i % 2].offer(**t).admitted)
            .count();
        // 20 + 50·10 = 520 admitted by a perfect gateway; the shard models agree
        // within one token per shard.
        assert!((519..=521).contains(&whole_admitted), "{whole_admitted}");
        assert!(
            sharded_admitted.abs_diff(whole_admitted) <= 2,
            "{sharded_admitted} vs {whole_admitted}"
        );
        // Quota shares add up to the quota.
        let q = plan(1e6, 1000, Some((7, 3600)));
        let admitted: usize = (0..3)
            .map(|i| {
                let mut m = BucketModel::for_shard(q, i, 3);
                (0..10).filter(|_| m.offer(0.0).admitted).count()
            })
            .sum();
        assert_eq!(admitted, 7);
    }
}
