//! Significance tests for comparing two runs: is a difference more than
//! run-to-run noise? Pure functions of samples and counts.
//!
//! - [`mann_whitney`]: two samples (e.g. a percentile read out of every second
//!   of each run) drawn from the same distribution?
//! - [`two_proportions`]: two failure proportions equal?

use statrs::function::erf::erfc;

/// Fewest samples on each side for [`mann_whitney`].
pub const MIN_SAMPLES: usize = 5;

/// Two-sided p-value of the Mann–Whitney U test that `a` and `b` come from
/// the same distribution (normal approximation with tie and continuity
/// corrections); `None` with fewer than [`MIN_SAMPLES`] values on a side.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> Option<f64> {
    let (n1, n2) = (a.len(), b.len());
    if n1 < MIN_SAMPLES || n2 < MIN_SAMPLES {
        return None;
    }
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&v| (v, true))
        .chain(b.iter().map(|&v| (v, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let (mut rank_sum_a, mut ties) = (0.0, 0.0);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their average.
        let rank = (i + j + 2) as f64 / 2.0;
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        rank_sum_a += rank * all[i..=j].iter().filter(|x| x.1).count() as f64;
        i = j + 1;
    }
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u = rank_sum_a - n1f * (n1f + 1.0) / 2.0;
    let mean = n1f * n2f / 2.0;
    let var = n1f * n2f / 12.0 * ((nf + 1.0) - ties / (nf * (nf - 1.0)));
    if var <= 0.0 {
        // Every value equal: no evidence of any difference.
        return Some(1.0);
    }
    let diff = (u - mean).abs();
    let z = (diff - 0.5).max(0.0) / var.sqrt();
    Some(erfc(z / std::f64::consts::SQRT_2).min(1.0))
}

/// Two-sided p-value of the pooled two-proportion z-test of `x1/n1` against
/// `x2/n2`; `None` when a side has no trials.
pub fn two_proportions(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<f64> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (x1, n1, x2, n2) = (x1 as f64, n1 as f64, x2 as f64, n2 as f64);
    let pooled = (x1 + x2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se == 0.0 {
        return Some(1.0);
    }
    let z = (x1 / n1 - x2 / n2).abs() / se;
    Some(erfc(z / std::f64::consts::SQRT_2).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mann_whitney_matches_the_textbook_value() {
        // scipy.stats.mannwhitneyu([1..5], [6..10], method="asymptotic") → 0.012186
        let p = mann_whitney(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]).unwrap();
        assert!((p - 0.012_185_78).abs() < 1e-6, "{p}");
        // Symmetric in its arguments.
        let q = mann_whitney(&[6.0, 7.0, 8.0, 9.0, 10.0], &[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert!((p - q).abs() < 1e-12);
    }

    #[test]
    fn mann_whitney_sees_no_difference_in_the_same_data() {
        let a = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        assert!(mann_whitney(&a, &a).unwrap() > 0.9);
        assert_eq!(mann_whitney(&[2.0; 6], &[2.0; 6]), Some(1.0), "all ties");
        assert_eq!(mann_whitney(&a[..4], &a), None, "too few seconds");
    }

    #[test]
    fn two_proportions_matches_the_textbook_value() {
        // 10/1000 vs 30/1000: pooled z = 3.194, two-sided p = 0.0014013
        let p = two_proportions(10, 1000, 30, 1000).unwrap();
        assert!((p - 0.001_401_3).abs() < 1e-6, "{p}");
        assert_eq!(two_proportions(0, 1000, 0, 500), Some(1.0));
        assert_eq!(two_proportions(0, 0, 1, 10), None);
    }
}
