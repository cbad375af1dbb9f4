//! Judging each tenant answer against what an exact gateway *could* have done.
//!
//! We know when we sent request k (`s_k`) and when its answer was complete
//! (`a_k`); the gateway decided at some instant `g_k` in `[s_k, a_k]` that we
//! cannot see, and concurrent requests may reach it in another order than we
//! sent them. So no single replay of the plan is "what the gateway saw". Each
//! judgement here holds for *every* placement of every request in its interval
//! (widened by a small clock slack on both sides), which is what makes it fair:
//!
//! - **over-admitted**: an exact bucket (rate r, burst b) admits at most
//!   `b + r·(t − τ)` requests in any window `[τ, t]`. The admissions that
//!   *surely* fell in the window are those sent at or after τ and answered by t.
//!   Any excess over the bound in a set of disjoint windows needs at least that
//!   many admissions removed; the largest such total is the count. A quota adds
//!   the same test per quota period (`admitted in the period ≤ limit`), with the
//!   periods on the run clock (the one place where the gateway's period phase is
//!   assumed, as the independent model assumes it).
//! - **wrongful**: a 429 is wrongful only when even the least generous reading
//!   leaves a whole token at every instant of its interval: refill only up to
//!   `s_k`, and every request that *may* have taken a token before `a_k` (every
//!   admission, every unanswered attempt, every 429 that may have been a quota
//!   refusal) counted as taken. A 429 while the quota may have been used up (by
//!   the admissions that may fall in the last period before it, whatever the
//!   phase of the gateway's periods) is never wrongful.
//! - **headers**: `RateLimit-Remaining` must lie within one of the range of
//!   `min(bucket, quota)` and `bucket` remaining over the same uncertainty;
//!   `Retry-After` within one second of the range of possible waits.
//!
//! The bounds follow from the bucket identity
//! `tokens(g) = min over τ ≤ g of (b + r·(g − τ) − taken in (τ, g])`
//! (a bucket that is full at the run start), evaluated with sorted send and
//! answer instants: O(n log n) per tenant.

use serde::{Deserialize, Serialize};

/// Whole tokens are compared with this much room for float and nanosecond rounding.
const EPS: f64 = 1e-6;

/// What the gateway answered to one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// An answer other than 429.
    Admitted,
    /// 429.
    Throttled,
    /// No answer (timeout, broken connection): the gateway may have admitted it.
    Unknown,
}

/// One attempt of a tenant request with a valid token, as the judge needs it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "EventWire", into = "EventWire")]
pub struct ThrottleEvent {
    /// µs on the run clock when the request was written.
    pub sent_us: u64,
    /// µs on the run clock when its answer was complete (or the failure was known).
    pub done_us: u64,
    pub gate: Gate,
    /// `RateLimit-Remaining` of the answer, when present and numeric.
    pub remaining: Option<f64>,
    /// `Retry-After` of a 429, seconds, when present and numeric.
    pub retry_after_s: Option<f64>,
}

/// The compact shape in `results.json`: `[sent_us, done_us, gate, remaining, retry_after]`
/// with gate 0 admitted, 1 throttled, 2 no answer.
#[derive(Serialize, Deserialize)]
struct EventWire(u64, u64, u8, Option<f64>, Option<f64>);

impl From<EventWire> for ThrottleEvent {
    fn from(w: EventWire) -> Self {
        let gate = match w.2 {
            0 => Gate::Admitted,
            1 => Gate::Throttled,
            _ => Gate::Unknown,
        };
        ThrottleEvent {
            sent_us: w.0,
            done_us: w.1,
            gate,
            remaining: w.3,
            retry_after_s: w.4,
        }
    }
}

impl From<ThrottleEvent> for EventWire {
    fn from(e: ThrottleEvent) -> Self {
        let gate = match e.gate {
            Gate::Admitted => 0,
            Gate::Throttled => 1,
            Gate::Unknown => 2,
        };
        EventWire(e.sent_us, e.done_us, gate, e.remaining, e.retry_after_s)
    }
}

/// The tenant's whole plan (not a shard's share), as the judge reads it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JudgedPlan {
    /// Tokens per second.
    pub rate: f64,
    /// Bucket size.
    pub burst: f64,
    /// Requests per quota period, when the plan has a quota.
    pub quota_limit: Option<u64>,
    /// Quota period, seconds (periods start at multiples of it on the run clock).
    pub quota_period_s: f64,
    /// Seconds each interval is widened on both sides (clock reading slack).
    pub slack_s: f64,
}

/// The judgement of one tenant's answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Judgement {
    pub wrongful: u64,
    pub over_admitted: u64,
    pub remaining_checked: u64,
    pub remaining_off: u64,
    pub retry_after_checked: u64,
    pub retry_after_off: u64,
}

/// Count of sorted values ≤ x.
fn count_le(sorted: &[f64], x: f64) -> usize {
    sorted.partition_point(|v| *v <= x)
}

/// Count of sorted values < x.
fn count_lt(sorted: &[f64], x: f64) -> usize {
    sorted.partition_point(|v| *v < x)
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// One attempt's interval `[s, a]` in seconds (a = ∞ when unanswered).
#[derive(Debug, Clone, Copy)]
struct Span {
    s: f64,
    a: f64,
    gate: Gate,
}

/// The instants the judge works from, sorted.
struct Index {
    rate: f64,
    burst: f64,
    /// Sends and answers of the surely admitted requests.
    adm_s: Vec<f64>,
    adm_a: Vec<f64>,
    /// Sends of the requests that may have used quota (admitted or unanswered).
    quota_s: Vec<f64>,
    /// Sends and (finite) answers of the requests that may have taken a token.
    take_s: Vec<f64>,
    take_a: Vec<f64>,
    /// `prefix_min[i] = min over j ≤ i of (j − r·take_a[j])`: `D(τ) − r·τ` just before each answer.
    prefix_min: Vec<f64>,
    /// The early bucket: admissions taken at their send instants, after each one.
    early: Vec<f64>,
    quota: Option<(u64, f64)>,
}

impl Index {
    /// Lower bound of the tokens at any instant of `span`, not counting the span's own request.
    fn tokens_low(&self, sp: &Span, own_takes: bool) -> f64 {
        let x = sp.s;
        let n = count_le(&self.take_a, x);
        let mut g = (n as f64 - self.rate * x).min(0.0);
        if n > 0 {
            g = g.min(self.prefix_min[n - 1]);
        }
        let may_take = count_le(&self.take_s, sp.a) - usize::from(own_takes);
        self.burst + self.rate * x - may_take as f64 + g
    }

    /// Upper bound of the tokens at any instant of `span`, before its own request.
    fn tokens_high(&self, sp: &Span) -> f64 {
        let i = count_le(&self.adm_s, sp.s);
        let early = match i {
            0 => self.burst,
            _ => (self.early[i - 1] + self.rate * (sp.s - self.adm_s[i - 1])).min(self.burst),
        };
        let in_flight = i - count_le(&self.adm_a, sp.s);
        (early + self.rate * (sp.a - sp.s) + in_flight as f64).min(self.burst)
    }

    /// The least quota that may have been left before the span's request, whatever
    /// the phase of the gateway's quota periods: its current period began at most one
    /// period before the decision, so only admissions that may fall in
    /// `(s − period, a]` can have used it.
    fn quota_low(&self, sp: &Span, own_uses: bool) -> Option<f64> {
        let (limit, len) = self.quota?;
        let may = count_le(&self.quota_s, sp.a) as f64
            - count_lt(&self.adm_a, sp.s - len) as f64
            - f64::from(u8::from(own_uses));
        Some(limit as f64 - may)
    }
}

/// Judge one tenant's attempts against its plan.
pub fn judge(events: &[ThrottleEvent], plan: &JudgedPlan) -> Judgement {
    let spans = spans(events, plan.slack_s.max(0.0));
    let rate = plan.rate.max(f64::MIN_POSITIVE);
    let mut index = Index::of_admissions(&spans, plan, rate);
    // A 429 may have been a quota refusal (which may still have taken a token).
    let quota_refusal: Vec<bool> = spans
        .iter()
        .map(|sp| {
            sp.gate == Gate::Throttled && index.quota_low(sp, false).is_some_and(|lo| lo <= EPS)
        })
        .collect();
    let takes = |i: usize| spans[i].gate != Gate::Throttled || quota_refusal[i];
    index.index_takes(&spans, takes);
    index.index_early();

    let mut out = Judgement {
        over_admitted: over_admitted(&spans, plan, rate),
        ..Judgement::default()
    };
    for (i, (sp, ev)) in spans.iter().zip(events).enumerate() {
        if sp.gate == Gate::Unknown {
            continue;
        }
        index.check(sp, ev, takes(i), quota_refusal[i], &mut out);
    }
    out
}

/// Each attempt's interval, widened by `slack` seconds on both sides.
fn spans(events: &[ThrottleEvent], slack: f64) -> Vec<Span> {
    events
        .iter()
        .map(|e| Span {
            s: e.sent_us as f64 / 1e6 - slack,
            a: match e.gate {
                Gate::Unknown => f64::INFINITY,
                _ => e.done_us as f64 / 1e6 + slack,
            },
            gate: e.gate,
        })
        .collect()
}

impl Index {
    /// The admissions' and quota users' instants; the token takers' come later
    /// ([`Index::index_takes`]), once the quota refusals are known.
    fn of_admissions(spans: &[Span], plan: &JudgedPlan, rate: f64) -> Index {
        let adm: Vec<&Span> = spans.iter().filter(|s| s.gate == Gate::Admitted).collect();
        let adm_s = sorted(adm.iter().map(|s| s.s).collect());
        let adm_a = sorted(adm.iter().map(|s| s.a).collect());
        let quota_s = sorted(
            spans
                .iter()
                .filter(|s| s.gate != Gate::Throttled)
                .map(|s| s.s)
                .collect(),
        );
        Index {
            rate,
            burst: plan.burst,
            adm_s,
            adm_a,
            quota_s,
            take_s: Vec::new(),
            take_a: Vec::new(),
            prefix_min: Vec::new(),
            early: Vec::new(),
            quota: plan.quota_limit.map(|l| (l, plan.quota_period_s.max(1e-6))),
        }
    }

    /// The instants of the attempts that took a token (`takes(i)`), and the running
    /// minimum the upper bound on tokens reads.
    fn index_takes(&mut self, spans: &[Span], takes: impl Fn(usize) -> bool) {
        self.take_s = sorted(
            (0..spans.len())
                .filter(|i| takes(*i))
                .map(|i| spans[i].s)
                .collect(),
        );
        self.take_a = sorted(
            (0..spans.len())
                .filter(|i| takes(*i) && spans[*i].a.is_finite())
                .map(|i| spans[i].a)
                .collect(),
        );
        let rate = self.rate;
        let mut m = f64::INFINITY;
        self.prefix_min = self
            .take_a
            .iter()
            .enumerate()
            .map(|(j, a)| {
                m = m.min(j as f64 - rate * a);
                m
            })
            .collect();
    }

    /// The early bucket: the tokens left after each admission, taken at its send instant.
    fn index_early(&mut self) {
        let (rate, burst) = (self.rate, self.burst);
        let mut e = burst;
        let mut last = self.adm_s.first().map_or(0.0, |s| s.min(0.0));
        self.early = self
            .adm_s
            .iter()
            .map(|s| {
                e = (e + rate * (s - last)).min(burst) - 1.0;
                last = *s;
                e
            })
            .collect();
    }

    /// Checks one answered attempt: a wrongful refusal, and the `remaining` and
    /// `Retry-After` figures it carried against what the bucket allows.
    fn check(
        &self,
        sp: &Span,
        ev: &ThrottleEvent,
        takes: bool,
        quota_refusal: bool,
        out: &mut Judgement,
    ) {
        let rate = self.rate;
        let admitted = sp.gate == Gate::Admitted;
        let low = self.tokens_low(sp, takes);
        let high = self.tokens_high(sp);
        let quota = self.quota_low(sp, admitted);
        if !admitted && !quota_refusal && low >= 1.0 + EPS {
            out.wrongful += 1;
        }
        if let Some(r) = ev.remaining {
            // Admitted: what is left after its own token (and its own quota unit).
            let taken = f64::from(u8::from(admitted));
            let q_low = quota.map_or(f64::INFINITY, |lo| lo - taken);
            let lo = (low - taken).min(q_low).max(0.0);
            let hi = (high - taken).max(0.0);
            out.remaining_checked += 1;
            let (lo, hi) = ((lo + EPS).floor(), (hi + EPS).floor());
            out.remaining_off += u64::from(r < lo - 1.0 || r > hi + 1.0);
        }
        if let (Some(retry), false) = (ev.retry_after_s, admitted) {
            let w_lo = (1.0 - high.min(1.0)).max(0.0) / rate;
            let mut w_hi = (1.0 - low.clamp(0.0, 1.0)) / rate;
            // A quota refusal waits for the end of the gateway's period: at most one period.
            if let (Some(lo), Some((_, len))) = (quota, self.quota)
                && lo <= EPS
            {
                w_hi = w_hi.max(len);
            }
            out.retry_after_checked += 1;
            out.retry_after_off += u64::from(retry < w_lo - 1.0 || retry > w_hi + 1.0);
        }
    }
}

/// Only the over-admitted count of [`judge`], for the live feed's abort rule.
///
/// It is monotone in the attempts: for any subset of `events` (in particular
/// the attempts completed by any instant) the count is at most the count of
/// all of them, because every window's and every quota period's surely
/// admitted requests can only grow when attempts are added, and the count is
/// the best sum over the same candidate windows. So a count seen while the run
/// goes is a lower bound of the final one (`throttle_prefix_tests.rs` checks it).
pub fn over_admitted_count(events: &[ThrottleEvent], plan: &JudgedPlan) -> u64 {
    let spans = spans(events, plan.slack_s.max(0.0));
    over_admitted(&spans, plan, plan.rate.max(f64::MIN_POSITIVE))
}

/// The admissions beyond what any placement allows: the largest total excess of
/// disjoint windows over `burst + rate × window`, or of quota periods over the limit.
fn over_admitted(spans: &[Span], plan: &JudgedPlan, rate: f64) -> u64 {
    let mut adm: Vec<(f64, f64)> = spans
        .iter()
        .filter(|s| s.gate == Gate::Admitted)
        .map(|s| (s.s, s.a))
        .collect();
    if adm.is_empty() {
        return 0;
    }
    adm.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Sweep the instants: a send opens window starts, an answer closes windows.
    // Leaf i holds best(before s_i) + r·s_i + (admissions sent ≥ s_i and answered so far).
    let mut events: Vec<(f64, u8, usize)> = Vec::with_capacity(adm.len() * 2);
    for (i, (s, a)) in adm.iter().enumerate() {
        events.push((*s, 0, i));
        events.push((*a, 1, i));
    }
    events.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    let mut tree = MaxTree::new(adm.len());
    let mut best = 0.0_f64;
    for (t, kind, i) in events {
        if kind == 0 {
            tree.set(i, best + rate * t);
        } else {
            tree.add_prefix(i, 1.0);
            // Whole admissions: N − floor(b + r·W) = ceil(N − b − r·W).
            let excess = tree.max() - rate * t - plan.burst;
            best = best.max((excess - EPS).ceil());
        }
    }
    let bucket = best.max(0.0) as u64;
    let quota = match plan.quota_limit {
        Some(limit) => {
            let len = plan.quota_period_s.max(1e-6);
            let mut per: std::collections::BTreeMap<i64, u64> = Default::default();
            for (s, a) in &adm {
                let p = (s / len).floor();
                if *a < (p + 1.0) * len {
                    *per.entry(p as i64).or_default() += 1;
                }
            }
            per.values().map(|n| n.saturating_sub(limit)).sum()
        }
        None => 0,
    };
    bucket.max(quota)
}

/// Max over leaves, with "add to a prefix" and "set a leaf" in O(log n).
struct MaxTree {
    n: usize,
    max: Vec<f64>,
    add: Vec<f64>,
}

impl MaxTree {
    fn new(n: usize) -> Self {
        MaxTree {
            n,
            max: vec![f64::NEG_INFINITY; 4 * n],
            add: vec![0.0; 4 * n],
        }
    }

    fn max(&self) -> f64 {
        self.max[1]
    }

    fn set(&mut self, i: usize, v: f64) {
        self.set_at(1, 0, self.n - 1, i, v, 0.0);
    }

    fn set_at(&mut self, node: usize, lo: usize, hi: usize, i: usize, v: f64, acc: f64) {
        if lo == hi {
            self.max[node] = v - acc;
            return;
        }
        let mid = (lo + hi) / 2;
        let acc = acc + self.add[node];
        if i <= mid {
            self.set_at(2 * node, lo, mid, i, v, acc);
        } else {
            self.set_at(2 * node + 1, mid + 1, hi, i, v, acc);
        }
        self.pull(node);
    }

    /// Add `v` to leaves `0..=i`.
    fn add_prefix(&mut self, i: usize, v: f64) {
        self.add_at(1, 0, self.n - 1, i, v);
    }

    fn add_at(&mut self, node: usize, lo: usize, hi: usize, i: usize, v: f64) {
        if hi <= i {
            self.add[node] += v;
            self.max[node] += v;
            return;
        }
        let mid = (lo + hi) / 2;
        self.add_at(2 * node, lo, mid, i, v);
        if i > mid {
            self.add_at(2 * node + 1, mid + 1, hi, i, v);
        }
        self.pull(node);
    }

    fn pull(&mut self, node: usize) {
        self.max[node] = self.add[node] + self.max[2 * node].max(self.max[2 * node + 1]);
    }
}

#[cfg(test)]
#[path = "throttle_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "throttle_prefix_tests.rs"]
mod prefix_tests;
