//! The throttle model: the tenant's plan (token bucket + quota, AWS API Gateway
//! semantics) run over the actual send times, so the recorder knows what a
//! perfect gateway would have admitted and can judge each 429 and each
//! `Retry-After` / `RateLimit-Remaining` header.
//!
//! The bucket state is shared by every worker (behind a mutex held for a few
//! nanoseconds per tenant request); the tallies are per worker and merged.

use serde::{Deserialize, Serialize};

use super::throttle::{self, Gate, JudgedPlan, ThrottleEvent};
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
pub struct Admission {
    /// Whether a perfect gateway admits this request.
    pub admitted: bool,
    /// Tokens in the bucket when the request arrived (before taking one).
    pub tokens: f64,
    /// Seconds until the model would admit a request again (0 when it admitted).
    pub wait_s: f64,
    /// Tokens left after this request (what `RateLimit-Remaining` should say).
    pub remaining: f64,
    /// The plan's refill rate, tokens/s (a shard's share under `--shard`).
    pub rate: f64,
    /// The tenant's whole plan (what the gateway enforces for every shard together).
    pub plan: Plan,
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
    pub fn offer(&mut self, t_s: f64) -> Admission {
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
        Admission {
            admitted,
            tokens,
            wait_s: if admitted {
                0.0
            } else {
                quota_wait.unwrap_or(0.0).max(bucket_wait)
            },
            remaining: self.tokens.max(0.0),
            rate: self.rate,
            plan: self.plan,
        }
    }

    /// `Some(seconds to the next period)` when the quota is used up at `t`.
    fn quota_wait(&mut self, t: f64) -> Option<f64> {
        let quota = self.plan.quota?;
        let len = quota.period.duration().as_secs_f64();
        let period = (t / len).floor() as u64;
        if period != self.quota_period {
            self.quota_period = period;
            self.quota_used = 0;
        }
        (self.quota_used >= self.quota_limit).then(|| (period + 1) as f64 * len - t)
    }
}

/// Per-tenant tallies: the independent model's aggregate, and the judgement of
/// each answer over the uncertainty of when the gateway saw it ([`super::throttle`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantModelStats {
    /// Requests with a valid token that got an HTTP answer.
    pub offered: u64,
    /// Of those, the ones the gateway admitted (anything but 429).
    pub admitted: u64,
    /// The ones the independent model (the plan replayed over our send order) admitted.
    pub model_admitted: u64,
    /// 429s that left a whole token under every placement of the requests in
    /// their send-to-answer intervals (and the quota was surely not used up).
    pub wrongful_throttles: u64,
    /// Admissions beyond `burst + rate × window` (or the quota) under every placement.
    pub over_admissions: u64,
    /// Answers that differ from the independent model's decision (timing and order
    /// explain these unless they are counted above).
    #[serde(alias = "within_tolerance")]
    pub model_disagreements: u64,
    /// 429s that carried a numeric `Retry-After`.
    pub retry_after_checked: u64,
    /// Of those, the ones more than one second outside every possible wait.
    pub retry_after_off: u64,
    /// Answers that carried a numeric `RateLimit-Remaining`.
    pub remaining_checked: u64,
    /// Of those, the ones more than one outside every possible remaining count.
    pub remaining_off: u64,
    /// The plan the attempts are judged against (whole plan, not a shard's share).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<JudgedPlan>,
    /// Every attempt with a valid token: `[sent_us, done_us, gate, remaining, retry_after]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<ThrottleEvent>,
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
    /// Keep one attempt (sent and done in µs on the run clock; `answer` is whether
    /// it was a 429 and its headers, `None` when no answer came). `counted`: the
    /// request's final attempt, which the aggregate tallies count; earlier
    /// (retried) attempts only enter the judgement.
    pub fn observe(
        &mut self,
        admission: &Admission,
        sent_us: u64,
        done_us: u64,
        answer: Option<(bool, LimitHeaders)>,
        counted: bool,
        slack_s: f64,
    ) {
        if self.plan.is_none() {
            self.plan = Some(JudgedPlan {
                rate: admission.plan.rate,
                burst: f64::from(admission.plan.burst.get()),
                quota_limit: admission.plan.quota.map(|q| q.limit.get()),
                quota_period_s: admission
                    .plan
                    .quota
                    .map_or(0.0, |q| q.period.duration().as_secs_f64()),
                slack_s,
            });
        }
        let (gate, headers) = match answer {
            Some((true, h)) => (Gate::Throttled, h),
            Some((false, h)) => (Gate::Admitted, h),
            None => (Gate::Unknown, LimitHeaders::default()),
        };
        self.events.push(ThrottleEvent {
            sent_us,
            done_us,
            gate,
            remaining: headers.remaining,
            retry_after_s: headers.retry_after_s.filter(|_| gate == Gate::Throttled),
        });
        if let (Some((throttled, _)), true) = (answer, counted) {
            self.offered += 1;
            self.admitted += u64::from(!throttled);
            self.model_admitted += u64::from(admission.admitted);
            self.model_disagreements += u64::from(throttled == admission.admitted);
        }
    }

    /// Judge the attempts kept so far (replaces the judged counts).
    pub fn judge(&mut self) {
        let Some(plan) = self.plan else { return };
        if self.events.is_empty() {
            return;
        }
        self.events
            .sort_by_key(|e| (e.sent_us, e.done_us, e.gate as u8));
        let j = throttle::judge(&self.events, &plan);
        self.wrongful_throttles = j.wrongful;
        self.over_admissions = j.over_admitted;
        self.retry_after_checked = j.retry_after_checked;
        self.retry_after_off = j.retry_after_off;
        self.remaining_checked = j.remaining_checked;
        self.remaining_off = j.remaining_off;
    }

    /// Add another worker's (or shard's) tallies, and judge the attempts of both together.
    pub fn merge(&mut self, o: &TenantModelStats) {
        self.offered += o.offered;
        self.admitted += o.admitted;
        self.model_admitted += o.model_admitted;
        self.model_disagreements += o.model_disagreements;
        self.plan = self.plan.or(o.plan);
        if self.events.is_empty() && o.events.is_empty() {
            // Results without attempts (an older ninefold): the counts are all there is.
            self.wrongful_throttles += o.wrongful_throttles;
            self.over_admissions += o.over_admissions;
            self.retry_after_checked += o.retry_after_checked;
            self.retry_after_off += o.retry_after_off;
            self.remaining_checked += o.remaining_checked;
            self.remaining_off += o.remaining_off;
            return;
        }
        self.events.extend_from_slice(&o.events);
        self.judge();
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
        let admissions: Vec<Admission> = arrivals[..7].iter().map(|t| model.offer(*t)).collect();
        assert!((admissions[6].wait_s - 0.4).abs() < 1e-9);
        assert!((admissions[5].remaining - 0.0).abs() < 1e-9);
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
