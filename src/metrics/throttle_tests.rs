//! The throttle judgement against gateways simulated here: an exact token bucket
//! (and quota) written in this file, fed requests that reach it after a random
//! delay (so concurrent requests arrive in another order than they were sent) and
//! answered after another. The expected counts come from the simulation itself:
//! what the simulated gateway did wrong is known exactly, independently of the judge.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::{Gate, JudgedPlan, ThrottleEvent, judge};

/// A token bucket that starts full (and an optional fixed-window quota).
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: f64,
    quota: Option<(u64, f64)>,
    period: i64,
    used: u64,
}

/// What the simulated gateway decided and said.
struct Decision {
    admit: bool,
    /// Whether an exact gateway would have admitted it.
    exact: bool,
    remaining: f64,
    retry_after: Option<f64>,
}

impl Bucket {
    fn new(rate: f64, burst: f64, quota: Option<(u64, f64)>) -> Self {
        Bucket {
            rate,
            burst,
            tokens: burst,
            last: 0.0,
            quota,
            period: 0,
            used: 0,
        }
    }

    /// Decide at gateway time `g`; `flip` refuses a request it should admit.
    fn decide(&mut self, g: f64, flip: bool) -> Decision {
        self.tokens = (self.tokens + (g - self.last) * self.rate).min(self.burst);
        self.last = g;
        if let Some((_, len)) = self.quota {
            let p = (g / len).floor() as i64;
            if p != self.period {
                (self.period, self.used) = (p, 0);
            }
        }
        let has_token = self.tokens >= 1.0;
        let quota_left = self.quota.map(|(limit, _)| limit.saturating_sub(self.used));
        let exact = has_token && quota_left != Some(0);
        if exact && !flip {
            self.tokens -= 1.0;
            self.used += 1;
            return Decision {
                admit: true,
                exact,
                remaining: self.tokens.floor(),
                retry_after: None,
            };
        }
        let wait = match (has_token, self.quota) {
            (true, Some((_, len))) if quota_left == Some(0) => (self.period + 1) as f64 * len - g,
            (true, _) => 0.0,
            (false, _) => (1.0 - self.tokens) / self.rate,
        };
        Decision {
            admit: false,
            exact,
            remaining: 0.0,
            retry_after: Some(wait.ceil().max(1.0)),
        }
    }
}

/// One simulated run: what the judge sees, and what the gateway really did wrong.
struct Sim {
    events: Vec<ThrottleEvent>,
    /// Refusals of requests an exact bucket had a token for (flipped ones).
    wrongful: u64,
    /// The fewest admissions to remove for an exact bucket (rate, burst) to allow the rest.
    excess: i64,
}

/// `sends` in seconds; the gateway sees each after `d1` and answers after `d2`
/// (random, so concurrent requests are reordered); `gateway` decides in its order.
fn simulate(
    seed: u64,
    sends: &[f64],
    gateway: &mut Bucket,
    flip_every: Option<usize>,
    exact: (f64, f64),
) -> Sim {
    simulate_with(seed, sends, gateway, flip_every, exact, 0.004)
}

/// [`simulate`] with the delay to the gateway up to `max_delay` s (plus 2% spikes of 50 ms).
fn simulate_with(
    seed: u64,
    sends: &[f64],
    gateway: &mut Bucket,
    flip_every: Option<usize>,
    exact: (f64, f64),
    max_delay: f64,
) -> Sim {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut seen: Vec<(f64, f64, usize)> = sends
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let spike = rng.random_bool(0.02);
            let d1 = rng.random_range(0.0..max_delay) + if spike { 0.05 } else { 0.0 };
            let d2 = rng.random_range(0.0005..0.006);
            (s + d1, s + d1 + d2, i)
        })
        .collect();
    seen.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut events = vec![None; sends.len()];
    let (mut wrongful, mut admitted, mut candidates) = (0, 0_i64, 0_usize);
    for (g, a, i) in &seen {
        // Every n-th request an exact gateway admits is refused instead.
        let flip = flip_every.is_some_and(|n| (candidates + 1) % n == 0);
        let d = gateway.decide(*g, flip);
        if d.exact {
            candidates += 1;
        }
        if d.exact && !d.admit {
            wrongful += 1;
        }
        admitted += i64::from(d.admit);
        events[*i] = Some(ThrottleEvent {
            sent_us: (sends[*i] * 1e6) as u64,
            done_us: (a * 1e6).ceil() as u64,
            gate: if d.admit {
                Gate::Admitted
            } else {
                Gate::Throttled
            },
            remaining: Some(d.remaining),
            retry_after_s: d.retry_after,
        });
    }
    // The fewest admissions to take away so that an exact bucket allows the rest: an
    // exact bucket policing the admissions in the gateway's order keeps the most.
    let (rate, burst) = exact;
    let mut police = Bucket::new(rate, burst, None);
    let mut conforming = 0_i64;
    for (g, _, i) in &seen {
        if events[*i].is_some_and(|e| e.gate == Gate::Admitted) {
            conforming += i64::from(police.decide(*g, false).admit);
        }
    }
    let excess = admitted - conforming;
    Sim {
        events: events.into_iter().flatten().collect(),
        wrongful,
        excess,
    }
}

/// A tenant at 1.5× its plan for 20 s with a 5× burst from 5 s to 10 s (Poisson arrivals).
fn overloaded_sends(seed: u64) -> Vec<f64> {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
    let mut out = Vec::new();
    let mut t = 0.0;
    while t < 20.0 {
        let rate = if (5.0..10.0).contains(&t) {
            130.0
        } else {
            30.0
        };
        t += -(1.0 - rng.random::<f64>()).ln() / rate;
        out.push(t);
    }
    out
}

fn plan(rate: f64, burst: f64, quota: Option<(u64, f64)>) -> JudgedPlan {
    JudgedPlan {
        rate,
        burst,
        quota_limit: quota.map(|q| q.0),
        quota_period_s: quota.map_or(0.0, |q| q.1),
        slack_s: 0.0,
    }
}

#[test]
fn throttle_oracle_does_not_blame_an_exact_gateway() {
    for seed in 0..40 {
        let sends = overloaded_sends(seed);
        let mut gw = Bucket::new(20.0, 40.0, None);
        let sim = simulate(seed, &sends, &mut gw, None, (20.0, 40.0));
        assert_eq!(sim.wrongful, 0);
        assert!(sim.excess <= 0, "the simulated gateway is exact");
        let j = judge(&sim.events, &plan(20.0, 40.0, None));
        assert_eq!((j.wrongful, j.over_admitted), (0, 0), "seed {seed}");
        assert_eq!(j.remaining_checked as usize, sends.len());
        assert_eq!(j.remaining_off, 0, "seed {seed}");
        assert!(j.retry_after_checked > 0);
        assert_eq!(j.retry_after_off, 0, "seed {seed}");
    }
}

#[test]
fn throttle_oracle_catches_a_gateway_that_over_admits_by_5_percent() {
    for seed in 0..40 {
        let sends = overloaded_sends(seed);
        let mut gw = Bucket::new(20.0 * 1.05, 40.0, None);
        let sim = simulate(seed, &sends, &mut gw, None, (20.0, 40.0));
        // 5% of 20/s over 20 s: about 20 admissions too many.
        assert!((15..=22).contains(&sim.excess), "{}", sim.excess);
        let j = judge(&sim.events, &plan(20.0, 40.0, None));
        assert!(j.over_admitted > 0, "seed {seed}");
        assert!(
            j.over_admitted as i64 <= sim.excess && j.over_admitted as i64 >= sim.excess - 3,
            "seed {seed}: judged {} of a true excess of {}",
            j.over_admitted,
            sim.excess
        );
    }
}

#[test]
fn throttle_oracle_catches_a_gateway_that_refuses_5_percent_it_should_admit() {
    for seed in 0..40 {
        let sends = overloaded_sends(seed);
        let mut gw = Bucket::new(20.0, 40.0, None);
        let sim = simulate(seed, &sends, &mut gw, Some(20), (20.0, 40.0));
        assert!(sim.wrongful >= 15, "{}", sim.wrongful);
        let j = judge(&sim.events, &plan(20.0, 40.0, None));
        assert!(j.wrongful > 0, "seed {seed}");
        assert!(
            j.wrongful <= sim.wrongful,
            "seed {seed}: never more than the truth"
        );
        assert_eq!(j.over_admitted, 0, "seed {seed}");
    }
}

#[test]
fn ratelimit_remaining_is_truthful_when_the_quota_is_exhausted_and_the_gateway_says_0() {
    // The quota (600 a minute) runs out at 15 s of 40 req/s; the bucket (100/s) never does.
    for seed in 0..10 {
        let sends: Vec<f64> = (0..1200).map(|i| f64::from(i) / 40.0).collect();
        let mut gw = Bucket::new(100.0, 100.0, Some((600, 60.0)));
        let sim = simulate(seed, &sends, &mut gw, None, (100.0, 100.0));
        let refused = sim
            .events
            .iter()
            .filter(|e| e.gate == Gate::Throttled)
            .count();
        assert_eq!(
            refused, 600,
            "the quota refuses every request after the 600th"
        );
        let j = judge(&sim.events, &plan(100.0, 100.0, Some((600, 60.0))));
        assert_eq!(
            (j.remaining_checked, j.remaining_off),
            (1200, 0),
            "seed {seed}"
        );
        assert_eq!((j.retry_after_checked, j.retry_after_off), (600, 0));
        assert_eq!((j.wrongful, j.over_admitted), (0, 0));
    }
}

#[test]
fn headers_that_lie_are_counted_off() {
    let sends = overloaded_sends(1);
    let mut gw = Bucket::new(20.0, 40.0, None);
    let mut sim = simulate(1, &sends, &mut gw, None, (20.0, 40.0));
    // Every 10th answer claims the full bucket; every 429 says "retry in 30 s".
    let mut lies = 0;
    for (i, e) in sim.events.iter_mut().enumerate() {
        if i % 10 == 0 && e.remaining.is_some_and(|r| r < 35.0) {
            e.remaining = Some(40.0);
            lies += 1;
        }
        if e.gate == Gate::Throttled {
            e.retry_after_s = Some(30.0);
        }
    }
    let j = judge(&sim.events, &plan(20.0, 40.0, None));
    assert_eq!(j.remaining_off, lies);
    assert_eq!(j.retry_after_off, j.retry_after_checked);
}

#[test]
fn small_cases_worked_by_hand() {
    let ev = |s_ms: u64, a_ms: u64, gate| ThrottleEvent {
        sent_us: s_ms * 1000,
        done_us: a_ms * 1000,
        gate,
        remaining: None,
        retry_after_s: None,
    };
    let p = plan(1.0, 2.0, None);
    // Three admissions inside 10 ms with a bucket of 2 at 1/s: one too many.
    let three = [
        ev(0, 5, Gate::Admitted),
        ev(1, 6, Gate::Admitted),
        ev(2, 10, Gate::Admitted),
    ];
    assert_eq!(judge(&three, &p).over_admitted, 1);
    // The same three spread over 1.2 s: 2 + 1.2 tokens, fine.
    let spread = [
        ev(0, 5, Gate::Admitted),
        ev(600, 605, Gate::Admitted),
        ev(1200, 1205, Gate::Admitted),
    ];
    assert_eq!(judge(&spread, &p).over_admitted, 0);
    // Two separate bursts of four, 100 s apart: two too many in each.
    let bursts: Vec<_> = (0..8)
        .map(|i| {
            ev(
                (i / 4) * 100_000 + i % 4,
                (i / 4) * 100_000 + i % 4 + 3,
                Gate::Admitted,
            )
        })
        .collect();
    assert_eq!(judge(&bursts, &p).over_admitted, 4);
    // A 429 into a full bucket is wrongful; after two admissions in flight it is not.
    assert_eq!(judge(&[ev(0, 5, Gate::Throttled)], &p).wrongful, 1);
    let busy = [
        ev(0, 5, Gate::Admitted),
        ev(1, 6, Gate::Admitted),
        ev(2, 4, Gate::Throttled),
    ];
    assert_eq!(judge(&busy, &p).wrongful, 0);
    // An unanswered attempt may have taken the token: the 429 is not wrongful.
    let unknown = [
        ev(0, 5, Gate::Admitted),
        ev(1, 2000, Gate::Unknown),
        ev(3, 6, Gate::Throttled),
    ];
    assert_eq!(judge(&unknown, &p).wrongful, 0);
    // A bucket of 3 and one admission overlapping the 429: two tokens left, wrongful.
    let one = [ev(0, 5, Gate::Admitted), ev(2, 4, Gate::Throttled)];
    assert_eq!(judge(&one, &plan(1.0, 3.0, None)).wrongful, 1);
    // A bucket of 2 and one: exactly one token is all that is sure; the benefit of the
    // doubt (float rounding at the boundary) goes to the gateway.
    assert_eq!(judge(&one, &p).wrongful, 0);
}

mod prop {
    use proptest::prelude::*;
    use rand::Rng;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Any plan, any overload, any jitter up to 30 ms: an exact gateway is never
        /// blamed, and the over-admissions of a 1.05x one never exceed the truth.
        #[test]
        fn an_exact_gateway_scores_zero_and_a_loose_one_never_more_than_its_excess(
            seed in 0u64..1_000_000,
            rate in 2.0f64..200.0,
            burst in 1u32..100,
            load in 0.5f64..4.0,
            max_delay in 0.0001f64..0.03,
        ) {
            let burst = f64::from(burst);
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut sends = Vec::new();
            let mut t = 0.0_f64;
            while t < 8.0 && sends.len() < 4000 {
                t += -(1.0 - rng.random::<f64>()).ln() / (rate * load);
                sends.push(t);
            }
            let mut gw = Bucket::new(rate, burst, None);
            let sim = simulate_with(seed, &sends, &mut gw, None, (rate, burst), max_delay);
            let j = judge(&sim.events, &plan(rate, burst, None));
            prop_assert_eq!((j.wrongful, j.over_admitted), (0, 0));
            prop_assert_eq!(j.remaining_off, 0);
            prop_assert_eq!(j.retry_after_off, 0);
            let mut loose = Bucket::new(rate * 1.05, burst, None);
            let sim = simulate_with(seed, &sends, &mut loose, None, (rate, burst), max_delay);
            let j = judge(&sim.events, &plan(rate, burst, None));
            prop_assert!(j.over_admitted as i64 <= sim.excess.max(0));
            prop_assert_eq!(j.wrongful, 0);
        }
    }
}
