//! Latency distributions a backend adds before it answers.
//!
//! A [`LatencyModel`] is plain data (serde, tagged by `model`); [`Sampler`] is its
//! validated, ready-to-draw form. Sampling takes the RNG as an argument so the
//! caller owns the seed (one seeded RNG per instance) and tests can check
//! quantiles by drawing from the model directly, without any clock.
//!
//! The lognormal is fitted to a median and a p99, which is how people state
//! latency: `mu = ln(median)`, `sigma = (ln(p99) − mu) / z₀.₉₉` with
//! `z₀.₉₉ = 2.3263` (the standard normal's 99th percentile).

use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, LogNormal, Normal};
use serde::{Deserialize, Serialize};

use crate::duration::Dur;

/// The standard normal's 99th percentile.
const Z_P99: f64 = 2.326_347_874;

/// How long a response is held before it is sent.
///
/// JSON/TOML: `{ model = "lognormal", median = "4ms", p99 = "25ms" }`,
/// `{ model = "fixed", value = "5ms" }`, `{ model = "uniform", min = "1ms", max = "9ms" }`,
/// `{ model = "normal", mean = "5ms", stddev = "1ms" }` (clamped at zero), or
/// `{ model = "empirical", points = [{ p = 50, value = "4ms" }, { p = 99, value = "25ms" }] }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum LatencyModel {
    /// Always the same delay (`"0ms"`: none).
    Fixed {
        /// The delay.
        value: Dur,
    },
    /// Uniform between `min` and `max`.
    Uniform {
        /// Lower bound.
        min: Dur,
        /// Upper bound (inclusive).
        max: Dur,
    },
    /// Normal with the given mean and standard deviation, negative draws clamped to zero.
    Normal {
        /// Mean.
        mean: Dur,
        /// Standard deviation.
        stddev: Dur,
    },
    /// Lognormal fitted so that its median and 99th percentile are the ones given.
    Lognormal {
        /// The 50th percentile.
        median: Dur,
        /// The 99th percentile; must exceed the median.
        p99: Dur,
    },
    /// An empirical percentile table, linearly interpolated between points.
    /// Draws below the first point's percentile take its value, above the last
    /// point's take the last value; so include `p = 0` and `p = 100` to bound it.
    Empirical {
        /// Points sorted by strictly increasing `p` with non-decreasing values.
        points: Vec<PercentilePoint>,
    },
}

/// One row of an empirical latency table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PercentilePoint {
    /// Percentile in `[0, 100]`.
    pub p: f64,
    /// The latency at that percentile.
    pub value: Dur,
}

impl Default for LatencyModel {
    fn default() -> Self {
        Self::none()
    }
}

impl LatencyModel {
    /// No added latency.
    pub const fn none() -> Self {
        Self::Fixed {
            value: Dur(Duration::ZERO),
        }
    }

    /// Always `value`.
    pub fn fixed(value: Duration) -> Self {
        Self::Fixed {
            value: value.into(),
        }
    }

    /// Lognormal fitted to a median and a p99 (the scenario's `latency = { median, p99 }`).
    pub fn lognormal(median: Duration, p99: Duration) -> Self {
        Self::Lognormal {
            median: median.into(),
            p99: p99.into(),
        }
    }

    /// Uniform between `min` and `max`.
    pub fn uniform(min: Duration, max: Duration) -> Self {
        Self::Uniform {
            min: min.into(),
            max: max.into(),
        }
    }

    /// Normal, clamped at zero.
    pub fn normal(mean: Duration, stddev: Duration) -> Self {
        Self::Normal {
            mean: mean.into(),
            stddev: stddev.into(),
        }
    }

    /// An empirical table from `(percentile, latency)` pairs.
    pub fn empirical(points: impl IntoIterator<Item = (f64, Duration)>) -> Self {
        Self::Empirical {
            points: points
                .into_iter()
                .map(|(p, v)| PercentilePoint { p, value: v.into() })
                .collect(),
        }
    }

    /// Check the parameters; the error says what is wrong, prefixed by nothing
    /// (the caller adds the field path).
    pub fn sampler(&self) -> Result<Sampler, String> {
        let secs = |d: Dur| d.0.as_secs_f64();
        Ok(match self {
            Self::Fixed { value } => Sampler::Fixed(value.0),
            Self::Uniform { min, max } => {
                if min > max {
                    return Err(format!("min ({min}) must not exceed max ({max})"));
                }
                Sampler::Uniform(secs(*min), secs(*max))
            }
            Self::Normal { mean, stddev } => {
                let dist = Normal::new(secs(*mean), secs(*stddev))
                    .map_err(|e| format!("bad normal parameters: {e}"))?;
                Sampler::Normal(dist)
            }
            Self::Lognormal { median, p99 } => {
                if median.0.is_zero() {
                    return Err("median must be > 0".to_owned());
                }
                if p99 <= median {
                    return Err(format!("p99 ({p99}) must exceed the median ({median})"));
                }
                let mu = secs(*median).ln();
                let sigma = (secs(*p99).ln() - mu) / Z_P99;
                let dist = LogNormal::new(mu, sigma)
                    .map_err(|e| format!("bad lognormal parameters: {e}"))?;
                Sampler::Lognormal(dist)
            }
            Self::Empirical { points } => {
                if points.is_empty() {
                    return Err("points must not be empty".to_owned());
                }
                for (i, w) in points.windows(2).enumerate() {
                    if w[1].p <= w[0].p {
                        return Err(format!(
                            "points[{}].p must be greater than points[{i}].p",
                            i + 1
                        ));
                    }
                    if w[1].value < w[0].value {
                        return Err(format!(
                            "points[{}].value must not be below points[{i}].value",
                            i + 1
                        ));
                    }
                }
                if let Some((i, pt)) = points
                    .iter()
                    .enumerate()
                    .find(|(_, pt)| !(0.0..=100.0).contains(&pt.p))
                {
                    return Err(format!(
                        "points[{i}].p must be within 0..=100, got {}",
                        pt.p
                    ));
                }
                Sampler::Empirical(
                    points
                        .iter()
                        .map(|pt| (pt.p / 100.0, secs(pt.value)))
                        .collect(),
                )
            }
        })
    }
}

/// A validated latency model, ready to draw from.
#[derive(Debug, Clone)]
pub enum Sampler {
    /// Constant.
    Fixed(Duration),
    /// Uniform over `[lo, hi]` seconds.
    Uniform(f64, f64),
    /// Normal in seconds, clamped at zero.
    Normal(Normal<f64>),
    /// Lognormal in seconds.
    Lognormal(LogNormal<f64>),
    /// `(quantile in [0,1], seconds)` points.
    Empirical(Vec<(f64, f64)>),
}

impl Sampler {
    /// True when every draw is zero: the hot path skips the RNG and the timer.
    pub fn is_zero(&self) -> bool {
        matches!(self, Sampler::Fixed(d) if d.is_zero())
    }

    /// One draw.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let secs = match self {
            Sampler::Fixed(d) => return *d,
            Sampler::Uniform(lo, hi) => {
                if lo == hi {
                    *lo
                } else {
                    rng.random_range(*lo..=*hi)
                }
            }
            Sampler::Normal(n) => n.sample(rng),
            Sampler::Lognormal(l) => l.sample(rng),
            Sampler::Empirical(points) => interpolate(points, rng.random::<f64>()),
        };
        // Clamp: a normal can go negative, and nothing should wait past an hour.
        Duration::from_secs_f64(secs.clamp(0.0, 3600.0))
    }
}

/// The value at quantile `q` of a piecewise-linear table.
fn interpolate(points: &[(f64, f64)], q: f64) -> f64 {
    let first = points[0];
    let last = points[points.len() - 1];
    if q <= first.0 {
        return first.1;
    }
    if q >= last.0 {
        return last.1;
    }
    let i = points.partition_point(|(p, _)| *p <= q);
    let (p0, v0) = points[i - 1];
    let (p1, v1) = points[i];
    v0 + (v1 - v0) * (q - p0) / (p1 - p0)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    /// Draw `n` samples and return them sorted, in milliseconds.
    fn draws(model: &LatencyModel, n: usize) -> Vec<f64> {
        let sampler = model.sampler().unwrap();
        let mut rng = StdRng::seed_from_u64(42);
        let mut v: Vec<f64> = (0..n)
            .map(|_| sampler.sample(&mut rng).as_secs_f64() * 1e3)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    fn quantile(sorted: &[f64], q: f64) -> f64 {
        sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
    }

    fn assert_close(got: f64, want: f64, rel: f64, what: &str) {
        assert!(
            (got - want).abs() <= want * rel,
            "{what}: got {got:.4}, want {want:.4} ±{:.0}%",
            rel * 100.0
        );
    }

    #[test]
    fn lognormal_hits_its_median_and_p99() {
        let v = draws(
            &LatencyModel::lognormal(Duration::from_millis(4), Duration::from_millis(25)),
            200_000,
        );
        assert_close(quantile(&v, 0.5), 4.0, 0.03, "median");
        assert_close(quantile(&v, 0.99), 25.0, 0.05, "p99");
    }

    #[test]
    fn uniform_normal_and_fixed_have_their_moments() {
        let v = draws(
            &LatencyModel::uniform(Duration::from_millis(2), Duration::from_millis(10)),
            100_000,
        );
        assert!(v[0] >= 2.0 && v[v.len() - 1] <= 10.0);
        assert_close(quantile(&v, 0.25), 4.0, 0.03, "uniform p25");
        assert_close(quantile(&v, 0.5), 6.0, 0.03, "uniform median");

        let v = draws(
            &LatencyModel::normal(Duration::from_millis(20), Duration::from_millis(2)),
            100_000,
        );
        assert_close(quantile(&v, 0.5), 20.0, 0.02, "normal median");
        // mean + 2.3263 sd
        assert_close(quantile(&v, 0.99), 24.65, 0.03, "normal p99");

        let v = draws(&LatencyModel::fixed(Duration::from_millis(3)), 10);
        assert!(v.iter().all(|x| (*x - 3.0).abs() < 1e-9));
        assert!(LatencyModel::none().sampler().unwrap().is_zero());
    }

    #[test]
    fn normal_never_goes_negative() {
        let v = draws(
            &LatencyModel::normal(Duration::from_millis(1), Duration::from_millis(5)),
            10_000,
        );
        assert!(v[0] >= 0.0);
    }

    #[test]
    fn empirical_table_reproduces_its_points() {
        let model = LatencyModel::empirical([
            (0.0, Duration::from_millis(1)),
            (50.0, Duration::from_millis(4)),
            (90.0, Duration::from_millis(10)),
            (99.0, Duration::from_millis(30)),
            (100.0, Duration::from_millis(50)),
        ]);
        let v = draws(&model, 200_000);
        assert_close(quantile(&v, 0.5), 4.0, 0.03, "p50");
        assert_close(quantile(&v, 0.9), 10.0, 0.03, "p90");
        assert_close(quantile(&v, 0.99), 30.0, 0.05, "p99");
        assert!(v[0] >= 1.0 && v[v.len() - 1] <= 50.0);
        // Midway between p50 and p90 interpolates linearly.
        assert_close(quantile(&v, 0.7), 7.0, 0.03, "p70");
    }

    #[test]
    fn bad_parameters_are_refused_with_a_reason() {
        let bad = [
            LatencyModel::lognormal(Duration::from_millis(10), Duration::from_millis(5)),
            LatencyModel::lognormal(Duration::ZERO, Duration::from_millis(5)),
            LatencyModel::uniform(Duration::from_millis(10), Duration::from_millis(5)),
            LatencyModel::empirical([]),
            LatencyModel::empirical([
                (50.0, Duration::from_millis(5)),
                (40.0, Duration::from_millis(6)),
            ]),
            LatencyModel::empirical([
                (50.0, Duration::from_millis(5)),
                (60.0, Duration::from_millis(4)),
            ]),
            LatencyModel::empirical([(150.0, Duration::from_millis(5))]),
        ];
        for model in bad {
            assert!(model.sampler().is_err(), "{model:?} should be refused");
        }
    }

    #[test]
    fn same_seed_same_draws() {
        let sampler = LatencyModel::lognormal(Duration::from_millis(4), Duration::from_millis(25))
            .sampler()
            .unwrap();
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..100)
                .map(|_| sampler.sample(&mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn serde_shape_is_tagged_by_model() {
        let m: LatencyModel =
            serde_json::from_str(r#"{"model":"lognormal","median":"4ms","p99":"25ms"}"#).unwrap();
        assert_eq!(
            m,
            LatencyModel::lognormal(Duration::from_millis(4), Duration::from_millis(25))
        );
        let t: LatencyModel =
            toml::from_str("model = \"empirical\"\npoints = [{ p = 50, value = \"4ms\" }]")
                .unwrap();
        assert_eq!(
            t,
            LatencyModel::empirical([(50.0, Duration::from_millis(4))])
        );
        assert!(
            serde_json::from_str::<LatencyModel>(r#"{"model":"fixed","value":"4ms","x":1}"#)
                .is_err()
        );
    }
}
