//! When requests are meant to leave: pure functions of the plan, no clock.
//!
//! An arrival-rate phase is a piecewise-linear rate profile r(t). Its running
//! total Λ(t) = ∫r counts the arrivals due by t, and arrival number i is due at
//! Λ⁻¹(i): computed from i, never from the previous instant, so no error
//! accumulates however long the run. Poisson arrivals use the same map on a
//! unit-rate Poisson process (Λ⁻¹ of a sum of Exp(1) gaps), which is how a
//! non-homogeneous Poisson process is built.
//!
//! Workers share a phase by striding: worker w of n takes arrivals w, w+n, …
//! of the phase's one schedule, uniform or Poisson. Every worker draws the
//! phase's whole Poisson process from the same seeded generator and keeps its
//! own share, so arrival k is at the same instant whatever the worker or shard
//! count (same seed, same requests, at the same times).

use std::time::Duration;

use rand::Rng;
use rand::rngs::SmallRng;
use rand_distr::{Distribution, Exp1};

use crate::scenario::Stage;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    start_s: f64,
    len_s: f64,
    r0: f64,
    r1: f64,
    /// Λ at the segment's start.
    lambda0: f64,
}

impl Segment {
    fn total(&self) -> f64 {
        (self.r0 + self.r1) * 0.5 * self.len_s
    }

    fn rate_at(&self, dt: f64) -> f64 {
        self.r0 + (self.r1 - self.r0) * dt / self.len_s
    }

    fn lambda_at(&self, dt: f64) -> f64 {
        self.r0 * dt + (self.r1 - self.r0) * dt * dt / (2.0 * self.len_s)
    }

    /// dt at which this segment has accumulated `d` arrivals (0 ≤ d ≤ total).
    fn solve(&self, d: f64) -> f64 {
        // Λ(dt) = r0·dt + k·dt²/2 with k = (r1−r0)/len. The form
        // dt = 2d / (r0 + √(r0² + 2kd)) is stable for ramps up and down alike.
        let k = (self.r1 - self.r0) / self.len_s;
        let disc = (self.r0 * self.r0 + 2.0 * k * d).max(0.0);
        let denom = self.r0 + disc.sqrt();
        if denom <= 0.0 {
            0.0
        } else {
            (2.0 * d / denom).min(self.len_s)
        }
    }
}

/// A phase's arrival rate over time (offsets from the phase start).
#[derive(Debug, Clone, PartialEq)]
pub struct RateProfile {
    segments: Vec<Segment>,
    end_s: f64,
}

impl RateProfile {
    /// `rate` req/s for `duration`.
    pub fn constant(rate: f64, duration: Duration) -> Self {
        Self::ramp(rate, &[], duration)
    }

    /// Start at `start_rate`, move linearly to each stage's target over its
    /// duration, hold the last rate until `duration` (cut short if the stages
    /// are longer than the phase).
    pub fn ramp(start_rate: f64, stages: &[Stage], duration: Duration) -> Self {
        let end_s = duration.as_secs_f64();
        let mut segments = Vec::with_capacity(stages.len() + 1);
        let (mut t, mut rate, mut lambda) = (0.0_f64, start_rate.max(0.0), 0.0_f64);
        let mut push = |len: f64, r1: f64, t: &mut f64, rate: &mut f64, lambda: &mut f64| {
            let len = len.min(end_s - *t);
            if len <= 0.0 {
                return;
            }
            // A stage cut short by the phase end stops at the rate it had reached.
            let seg_full = Segment {
                start_s: *t,
                len_s: len,
                r0: *rate,
                r1,
                lambda0: *lambda,
            };
            segments.push(seg_full);
            *t += len;
            *lambda += seg_full.total();
            *rate = r1;
        };
        for stage in stages {
            let full = stage.duration.as_secs_f64();
            let target = stage.target.max(0.0);
            let len = full.min(end_s - t);
            let r1 = if len < full && full > 0.0 {
                rate + (target - rate) * len / full
            } else {
                target
            };
            push(len, r1, &mut t, &mut rate, &mut lambda);
        }
        let hold = rate;
        push(end_s - t, hold, &mut t, &mut rate, &mut lambda);
        RateProfile { segments, end_s }
    }

    /// Length of the phase, seconds.
    pub fn end_s(&self) -> f64 {
        self.end_s
    }

    /// r(t), req/s.
    pub fn rate_at(&self, t: f64) -> f64 {
        self.segment_at(t)
            .map_or(0.0, |s| s.rate_at((t - s.start_s).min(s.len_s)))
    }

    /// Λ(t): arrivals due in [0, t).
    pub fn cumulative(&self, t: f64) -> f64 {
        match self.segment_at(t) {
            Some(s) => s.lambda0 + s.lambda_at((t - s.start_s).clamp(0.0, s.len_s)),
            None => self.total(),
        }
    }

    /// Λ(end): the expected number of arrivals.
    pub fn total(&self) -> f64 {
        self.segments.last().map_or(0.0, |s| s.lambda0 + s.total())
    }

    /// Λ⁻¹(λ): when the λ-th arrival is due, or `None` past the phase end.
    pub fn instant_of(&self, lambda: f64) -> Option<f64> {
        if lambda >= self.total() {
            return None;
        }
        // Segments are few (one per stage): a scan beats a search.
        let s = self
            .segments
            .iter()
            .find(|s| lambda < s.lambda0 + s.total() && s.total() > 0.0)?;
        let t = s.start_s + s.solve(lambda - s.lambda0);
        (t < self.end_s).then_some(t)
    }

    fn segment_at(&self, t: f64) -> Option<&Segment> {
        if t >= self.end_s {
            return None;
        }
        self.segments
            .iter()
            .find(|s| t < s.start_s + s.len_s)
            .or(self.segments.last())
    }
}

/// How arrival positions (in Λ units) are produced for one worker.
#[derive(Debug)]
pub enum ArrivalGen {
    /// Λ = w, w+n, w+2n, …
    Uniform { next: u64, stride: u64 },
    /// Λ grows by Exp(1) per arrival of the phase; this worker keeps arrivals
    /// `offset`, `offset + stride`, …
    Poisson {
        lambda: f64,
        offset: u64,
        stride: u64,
        seq: u64,
        rng: SmallRng,
    },
}

impl ArrivalGen {
    /// Evenly spaced arrivals for worker `worker` of `workers`.
    pub fn uniform(worker: u64, workers: u64) -> Self {
        ArrivalGen::Uniform {
            next: worker,
            stride: workers.max(1),
        }
    }

    /// Worker `worker` of `workers`'s share of the phase's Poisson arrivals;
    /// `rng` must be the phase's generator, the same for every worker.
    pub fn poisson(worker: u64, workers: u64, rng: SmallRng) -> Self {
        ArrivalGen::Poisson {
            lambda: 0.0,
            offset: worker,
            stride: workers.max(1),
            seq: 0,
            rng,
        }
    }

    /// The next arrival: its sequence number in the phase and its offset from
    /// the phase start; `None` once past the end.
    pub fn next(&mut self, profile: &RateProfile) -> Option<(u64, Duration)> {
        match self {
            ArrivalGen::Uniform { next, stride } => {
                let i = *next;
                let t = profile.instant_of(i as f64)?;
                *next += *stride;
                Some((i, Duration::from_secs_f64(t)))
            }
            ArrivalGen::Poisson {
                lambda,
                offset,
                stride,
                seq,
                rng,
            } => loop {
                // The other workers' arrivals are drawn and skipped (a few ns
                // each), so that this worker's fall where the phase's do.
                let gap: f64 = Exp1.sample(rng);
                *lambda += gap;
                let i = *seq;
                *seq += 1;
                if i % *stride == *offset {
                    let t = profile.instant_of(*lambda)?;
                    return Some((i, Duration::from_secs_f64(t)));
                }
            },
        }
    }
}

/// How many virtual users a closed-loop phase wants at offset `t` seconds:
/// linear through the stages from `start`, the last target held afterwards.
pub fn vus_at(start: u32, stages: &[Stage], t: f64) -> u32 {
    let mut from = f64::from(start);
    let mut at = 0.0;
    for stage in stages {
        let len = stage.duration.as_secs_f64();
        if t < at + len {
            let v = from + (stage.target - from) * (t - at) / len;
            return (v + 1e-9).floor().max(0.0) as u32;
        }
        at += len;
        from = stage.target;
    }
    (from + 1e-9).floor().max(0.0) as u32
}

/// The most virtual users a closed-loop phase ever wants.
pub fn max_vus(start: u32, stages: &[Stage]) -> u32 {
    stages
        .iter()
        .map(|s| (s.target + 1e-9).floor().max(0.0) as u32)
        .fold(start, u32::max)
}

/// A seeded RNG for one worker's use in one phase.
pub fn rng_for(seed: u64, phase: usize, worker: usize, purpose: u64) -> SmallRng {
    use rand::SeedableRng;
    // SplitMix-style mixing so nearby inputs give unrelated streams.
    let mut x = seed
        ^ (phase as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (worker as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ purpose.wrapping_mul(0x1656_67B1_9E37_79F9);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    SmallRng::seed_from_u64(x ^ (x >> 31))
}

/// Draw an index from cumulative weights (last element = total).
pub fn pick(cumulative: &[f64], rng: &mut impl Rng) -> usize {
    let total = cumulative.last().copied().unwrap_or(0.0);
    if cumulative.len() <= 1 || total <= 0.0 {
        return 0;
    }
    let x = rng.random::<f64>() * total;
    cumulative
        .iter()
        .position(|c| x < *c)
        .unwrap_or(cumulative.len() - 1)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn all(profile: &RateProfile, mut generator: ArrivalGen) -> Vec<(u64, Duration)> {
        std::iter::from_fn(|| generator.next(profile)).collect()
    }

    fn stage(secs: f64, target: f64) -> Stage {
        Stage {
            duration: Duration::from_secs_f64(secs),
            target,
        }
    }

    proptest! {
        #[test]
        fn constant_rate_count_monotone_no_drift(rate in 0.5f64..5000.0, ms in 100u64..20_000) {
            let d = Duration::from_millis(ms);
            let p = RateProfile::constant(rate, d);
            let arrivals = all(&p, ArrivalGen::uniform(0, 1));
            let want = rate * d.as_secs_f64();
            prop_assert!((arrivals.len() as f64 - want).abs() <= 1.0, "{} vs {}", arrivals.len(), want);
            for w in arrivals.windows(2) {
                prop_assert!(w[0].1 <= w[1].1);
            }
            // No drift: arrival i is at i/rate (to a microsecond), however late in the run.
            for (i, t) in &arrivals {
                let ideal = *i as f64 / rate;
                prop_assert!((t.as_secs_f64() - ideal).abs() < 1e-6, "i={} t={:?}", i, t);
            }
        }

        #[test]
        fn strided_workers_partition_the_schedule(rate in 1.0f64..2000.0, n in 1u64..5) {
            let p = RateProfile::constant(rate, Duration::from_secs(2));
            let single = all(&p, ArrivalGen::uniform(0, 1));
            let mut merged: Vec<_> = (0..n).flat_map(|w| all(&p, ArrivalGen::uniform(w, n))).collect();
            merged.sort();
            prop_assert_eq!(merged, single);
        }

        #[test]
        fn ramps_hit_their_rates(r0 in 0.0f64..500.0, r1 in 0.0f64..500.0, r2 in 1.0f64..500.0) {
            let stages = [stage(2.0, r1), stage(3.0, r2)];
            let p = RateProfile::ramp(r0, &stages, Duration::from_secs(8));
            prop_assert!((p.rate_at(0.0) - r0).abs() < 1e-9);
            prop_assert!((p.rate_at(1.0) - (r0 + r1) / 2.0).abs() < 1e-6);
            prop_assert!((p.rate_at(2.0) - r1).abs() < 1e-6);
            prop_assert!((p.rate_at(5.0) - r2).abs() < 1e-6);
            prop_assert!((p.rate_at(7.5) - r2).abs() < 1e-6, "held after the stages");
            let want = (r0 + r1) / 2.0 * 2.0 + (r1 + r2) / 2.0 * 3.0 + r2 * 3.0;
            let arrivals = all(&p, ArrivalGen::uniform(0, 1));
            prop_assert!((arrivals.len() as f64 - want).abs() <= 1.0, "{} vs {}", arrivals.len(), want);
            for w in arrivals.windows(2) {
                prop_assert!(w[0].1 <= w[1].1);
            }
            // Arrivals in each second match the integral of the rate over it (±1).
            for sec in 0..8 {
                let n = arrivals.iter().filter(|(_, t)| t.as_secs() == sec).count() as f64;
                let expected = p.cumulative(sec as f64 + 1.0) - p.cumulative(sec as f64);
                prop_assert!((n - expected).abs() <= 1.0 + 1e-6, "second {}: {} vs {}", sec, n, expected);
            }
        }

        #[test]
        fn instant_of_inverts_cumulative(r0 in 1.0f64..100.0, r1 in 0.0f64..100.0, x in 0.0f64..0.999) {
            let p = RateProfile::ramp(r0, &[stage(4.0, r1)], Duration::from_secs(4));
            let lambda = x * p.total();
            let t = p.instant_of(lambda).unwrap();
            prop_assert!((p.cumulative(t) - lambda).abs() < 1e-6);
        }
    }

    #[test]
    fn poisson_mean_within_tolerance() {
        let rate = 1000.0;
        let p = RateProfile::constant(rate, Duration::from_secs(20));
        let mut counts = Vec::new();
        for worker in 0..2 {
            let arrivals = all(&p, ArrivalGen::poisson(worker, 2, rng_for(7, 0, 0, 1)));
            for w in arrivals.windows(2) {
                assert!(w[0].1 <= w[1].1);
            }
            counts.push(arrivals.len());
        }
        // 20,000 expected; Poisson sd ≈ 141, so 5 sd is ±710.
        let total: usize = counts.iter().sum();
        assert!((total as f64 - 20_000.0).abs() < 710.0, "{total}");
        // Gaps are exponential: their coefficient of variation is ~1 (uniform would be 0).
        let arrivals = all(&p, ArrivalGen::poisson(0, 1, rng_for(7, 0, 0, 1)));
        let gaps: Vec<f64> = arrivals
            .windows(2)
            .map(|w| (w[1].1 - w[0].1).as_secs_f64())
            .collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        let cv = var.sqrt() / mean;
        assert!((cv - 1.0).abs() < 0.05, "cv {cv}");
        assert!((mean - 0.001).abs() < 0.00005, "mean gap {mean}");
    }

    /// Issue 18, case 5, for arrival instants: Poisson arrival k of a phase is
    /// at the same instant whether one, two or five workers (or shards) share it.
    #[test]
    fn same_seed_same_poisson_instants_across_worker_counts() {
        let p = RateProfile::ramp(50.0, &[stage(2.0, 400.0)], Duration::from_secs(3));
        let single = all(&p, ArrivalGen::poisson(0, 1, rng_for(7, 0, 0, 1)));
        assert!(single.len() > 500, "{}", single.len());
        for n in [2, 5] {
            let mut merged: Vec<_> = (0..n)
                .flat_map(|w| all(&p, ArrivalGen::poisson(w, n, rng_for(7, 0, 0, 1))))
                .collect();
            merged.sort();
            assert_eq!(merged, single, "{n} workers");
        }
    }

    #[test]
    fn zero_rate_stretches_have_no_arrivals() {
        let p = RateProfile::ramp(
            0.0,
            &[stage(1.0, 0.0), stage(1.0, 100.0)],
            Duration::from_secs(2),
        );
        let arrivals = all(&p, ArrivalGen::uniform(0, 1));
        assert!((arrivals.len() as f64 - 50.0).abs() <= 1.0);
        assert!(arrivals.iter().all(|(_, t)| t.as_secs_f64() >= 1.0));
        // Stages longer than the phase are cut at the rate they reached.
        let cut = RateProfile::ramp(0.0, &[stage(10.0, 100.0)], Duration::from_secs(5));
        assert!((cut.total() - 125.0).abs() < 1e-9);
    }

    #[test]
    fn vus_ramp_and_hold() {
        let stages = [stage(10.0, 10.0), stage(10.0, 0.0)];
        assert_eq!(vus_at(0, &stages, 0.0), 0);
        assert_eq!(vus_at(0, &stages, 5.0), 5);
        assert_eq!(vus_at(0, &stages, 10.0), 10);
        assert_eq!(vus_at(0, &stages, 15.0), 5);
        assert_eq!(vus_at(0, &stages, 25.0), 0);
        assert_eq!(vus_at(3, &[], 1.0), 3);
        assert_eq!(max_vus(2, &stages), 10);
    }

    #[test]
    fn weighted_picks_follow_weights() {
        let cumulative = [8.0, 10.0];
        let mut rng = rng_for(1, 0, 0, 0);
        let firsts = (0..10_000)
            .filter(|_| pick(&cumulative, &mut rng) == 0)
            .count();
        assert!((7_600..8_400).contains(&firsts), "{firsts}");
        assert_eq!(pick(&[3.0], &mut rng), 0);
    }
}
