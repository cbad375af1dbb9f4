//! The regularized incomplete beta function `I_x(a, b)` and its inverse, exact
//! for every shape the availability bounds can ask for (a few trials up to
//! 10¹⁵, any failure count).
//!
//! Why our own: statrs's `beta_reg` computes the prefix `xᵃ(1−x)ᵇ / B(a, b)`
//! from `ln Γ(a) + ln Γ(b) − ln Γ(a + b)`, which cancels catastrophically once a
//! shape passes ~10⁶ (at 10⁹ only six digits survive), and its continued
//! fraction stops after a fixed number of terms, too few for large shapes. A
//! normal approximation above some shape is an approximation, and a report of
//! nines must not switch methods at a count. Here:
//!
//! - the prefix is computed in log space from Stirling's series written so that
//!   nothing large cancels: with `d = x·b − (1−x)·a`,
//!   `ln prefix = a·log1pmx(d/a) + b·log1pmx(−d/b) + ½·ln(ab / (2π(a+b))) − μ(a) − μ(b) + μ(a+b)`,
//!   where `log1pmx(t) = ln(1+t) − t ≤ 0` (both terms have one sign) and `μ` is
//!   the Stirling correction `ln Γ(z) − ((z − ½) ln z − z + ½ ln 2π)`, small
//!   for every `z` (this is an identity, not an approximation);
//! - the continued fraction (the classical one for `I_x`, evaluated by the
//!   modified Lentz method) runs until its terms stop changing the value, on
//!   the side of the mean where it converges;
//! - the quantile is found by Newton's method on the log of the tail that is
//!   being solved for (safeguarded by bisection inside a shrinking bracket),
//!   so a tail probability of 10⁻⁹ keeps its relative precision.
//!
//! The tests check the quantile against SciPy's `beta.ppf` (Boost's
//! `ibeta_inv`) to 1e-9 relative for up to 10¹⁰ trials.

use statrs::function::gamma::ln_gamma;

/// `ln(1 + t) − t` for `t > −1`, precise near 0 (where the subtraction would
/// lose every digit) and `−∞` at `t = −1`.
pub fn log1pmx(t: f64) -> f64 {
    if t.abs() < 0.25 {
        // −t²/2 + t³/3 − t⁴/4 + …: |t|^k / k < 1e-18 · |result| well before k = 40.
        let mut sum = 0.0;
        let mut power = t * t;
        let mut k = 2.0;
        loop {
            let term = power / k;
            sum -= term;
            power *= -t;
            k += 1.0;
            if term.abs() <= 1e-18 * sum.abs() || k > 60.0 {
                return sum;
            }
        }
    }
    t.ln_1p() - t
}

/// Stirling's correction `μ(z) = ln Γ(z) − ((z − ½)·ln z − z + ½·ln 2π)`, `z > 0`.
fn stirling_correction(z: f64) -> f64 {
    if z >= 10.0 {
        // The asymptotic series; its first omitted term at z = 10 is ~3e-17.
        let w = 1.0 / (z * z);
        let series = 1.0 / 12.0
            - w * (1.0 / 360.0
                - w * (1.0 / 1260.0
                    - w * (1.0 / 1680.0
                        - w * (1.0 / 1188.0 - w * (691.0 / 360_360.0 - w / 156.0)))));
        series / z
    } else {
        // Every term is below ~25 here, so the subtraction keeps ~1e-15 absolute.
        ln_gamma(z) - ((z - 0.5) * z.ln() - z + 0.5 * (2.0 * std::f64::consts::PI).ln())
    }
}

/// `ln(xᵃ·yᵇ / B(a, b))` with `y = 1 − x`, without cancellation (module doc).
fn ln_prefix(a: f64, b: f64, x: f64, y: f64) -> f64 {
    let d = x * b - y * a;
    a * log1pmx(d / a)
        + b * log1pmx(-d / b)
        + 0.5 * (a / (a + b) * b / (2.0 * std::f64::consts::PI)).ln()
        - stirling_correction(a)
        - stirling_correction(b)
        + stirling_correction(a + b)
}

/// The continued fraction of `I_x(a, b)` (modified Lentz), for
/// `x < (a + 1) / (a + b + 2)`, where it converges. Its length grows with the
/// square root of the shapes: bounded by `MAX_TERMS`.
fn continued_fraction(a: f64, b: f64, x: f64, y: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const MAX_TERMS: u32 = 50_000_000;
    let fix = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    // 1 − (a + b)·x/(a + 1); written with y = 1 − x when x is close to 1 (the
    // complement side of a Beta(2, 1e9)), where the direct form cancels.
    let first = if x > 0.5 {
        (1.0 - b + qab * y) / qap
    } else {
        1.0 - qab * x / qap
    };
    let mut d = 1.0 / fix(first);
    let mut h = d;
    for m in 1..=MAX_TERMS {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let even = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / fix(1.0 + even * d);
        c = fix(1.0 + even / c);
        h *= d * c;
        let odd = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / fix(1.0 + odd * d);
        c = fix(1.0 + odd / c);
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() <= 1e-16 {
            break;
        }
    }
    h
}

/// Below this `x` the complement side's fraction would lose more than ~1e-11.
const SMALL_X: f64 = 1e-6;

/// Both tails of Beta(a, b) at `x`: `(I_x(a, b), 1 − I_x(a, b))`, the smaller
/// one computed directly (full relative precision), the other as its complement.
pub fn tails(a: f64, b: f64, x: f64) -> (f64, f64) {
    if x <= 0.0 {
        return (0.0, 1.0);
    }
    if x >= 1.0 {
        return (1.0, 0.0);
    }
    let y = 1.0 - x;
    // The continued fraction converges below the mean, (a + 1)/(a + b + 2);
    // above it, the upper tail is the fraction of Beta(b, a) at 1 − x.
    if x < (a + 1.0) / (a + b + 2.0) {
        let lower = (ln_prefix(a, b, x, y).exp() * continued_fraction(a, b, x, y) / a).min(1.0);
        (lower, 1.0 - lower)
    } else if let Some(upper) = binomial_upper(a, b, x, y) {
        (1.0 - upper, upper)
    } else {
        let upper = (ln_prefix(b, a, y, x).exp() * continued_fraction(b, a, y, x) / b).min(1.0);
        (1.0 - upper, upper)
    }
}

/// Where the complement side's fraction would cancel (`x` below [`SMALL_X`]),
/// and the shapes are whole numbers with `a` small, as the Clopper–Pearson
/// bounds give them (`a = k + 1` failures, `a + b − 1 = n` trials): the upper
/// tail is the binomial sum `P(Bin(n, x) ≤ k) = Σ_{j ≤ k} C(n, j)·xʲ·(1−x)ⁿ⁻ʲ`,
/// every term positive. Above the mean its terms grow with `j`, so they are
/// summed relative to the last. `None` outside that case.
fn binomial_upper(a: f64, b: f64, x: f64, y: f64) -> Option<f64> {
    const MAX_TERMS: f64 = 1_000_000.0;
    if x >= SMALL_X || a.fract() != 0.0 || b.fract() != 0.0 || a > MAX_TERMS {
        return None;
    }
    let (n, k) = (a + b - 1.0, a - 1.0);
    let ln_ratio = (x / y).ln();
    // ln of term j, from term 0 = (1 − x)ⁿ.
    let mut logs = Vec::with_capacity(k as usize + 1);
    let mut ln_term = n * (-x).ln_1p();
    let mut j = 0.0;
    loop {
        logs.push(ln_term);
        if j >= k {
            break;
        }
        ln_term += ((n - j) / (j + 1.0)).ln() + ln_ratio;
        j += 1.0;
    }
    let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = logs.iter().map(|l| (l - top).exp()).sum();
    Some((top.exp() * sum).min(1.0))
}

/// The density of Beta(a, b) at `x` in (0, 1), from the same prefix.
fn density(a: f64, b: f64, x: f64) -> f64 {
    let y = 1.0 - x;
    ln_prefix(a, b, x, y).exp() / (x * y)
}

/// The `p`-quantile of Beta(a, b), `a, b > 0`: the `x` with `I_x(a, b) = p`;
/// 0 for `p ≤ 0`, 1 for `p ≥ 1`. Relative precision ~1e-14; bounded work.
pub fn quantile(a: f64, b: f64, p: f64) -> f64 {
    if p.is_nan() || a.is_nan() || b.is_nan() || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    // Solve on the tail that holds p's precision: the lower tail for p ≤ ½,
    // else the upper tail against 1 − p (exact in floating point for p ≥ ½).
    let lower_side = p <= 0.5;
    let goal = if lower_side { p } else { 1.0 - p };
    let ln_goal = goal.ln();
    // g(x) = ln(tail(x)) − ln(goal): increasing in x on the lower side.
    let g = |x: f64| {
        let (lo, hi) = tails(a, b, x);
        let tail = if lower_side { lo } else { hi };
        (tail, tail.ln() - ln_goal)
    };
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    // Start at the mean: the quantiles asked for here are near it.
    let mut x = a / (a + b);
    for _ in 0..500 {
        let (tail, gx) = g(x);
        if gx == 0.0 {
            return x;
        }
        let below = if lower_side { gx < 0.0 } else { gx > 0.0 };
        if below {
            lo = x;
        } else {
            hi = x;
        }
        // Newton on ln(tail): d/dx ln(tail) = ±density / tail.
        let slope = density(a, b, x) / tail;
        let step = if lower_side { gx / slope } else { -gx / slope };
        let mut next = x - step;
        if !(next > lo && next < hi && next.is_finite()) {
            // Outside the bracket: bisect it, geometrically across magnitudes.
            next = if lo > 0.0 && hi / lo > 4.0 {
                (lo * hi).sqrt()
            } else if lo == 0.0 && hi > 1e-300 {
                hi / 1024.0
            } else {
                lo + (hi - lo) / 2.0
            };
        }
        if (next - x).abs() <= 1e-15 * x || hi - lo <= 1e-15 * hi || next == x {
            return next;
        }
        x = next;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log1pmx_matches_the_direct_form_away_from_zero_and_the_series_near_it() {
        for t in [-0.9, -0.5, -0.26, 0.26, 0.5, 3.0, 1e6] {
            let direct = f64::ln_1p(t) - t;
            assert!((log1pmx(t) - direct).abs() <= 1e-15 * direct.abs(), "{t}");
        }
        // Near 0: −t²/2 + t³/3, by hand for t = 1e-5.
        let t: f64 = 1e-5;
        let want = -t * t / 2.0 + t * t * t / 3.0 - t.powi(4) / 4.0;
        assert!((log1pmx(t) - want).abs() <= 1e-15 * want.abs());
        assert_eq!(log1pmx(-1.0), f64::NEG_INFINITY);
    }

    #[test]
    fn stirling_correction_is_continuous_where_the_series_takes_over() {
        // 1/(12z) − 1/(360z³) … at z = 10 vs the direct form just below.
        let series = stirling_correction(10.0);
        let direct =
            ln_gamma(10.0) - (9.5 * 10f64.ln() - 10.0 + 0.5 * (2.0 * std::f64::consts::PI).ln());
        assert!((series - direct).abs() < 1e-14, "{series} vs {direct}");
    }

    #[test]
    fn tails_of_closed_forms() {
        // Beta(1, b): I_x = 1 − (1 − x)^b. Beta(a, 1): I_x = x^a.
        for (b, x) in [(3.0_f64, 0.2_f64), (1e6, 1e-6), (1e9, 3e-9)] {
            let want = -(b * (-x).ln_1p()).exp_m1();
            let (lo, _) = tails(1.0, b, x);
            assert!(
                (lo - want).abs() <= 1e-12 * want,
                "Beta(1, {b}) at {x}: {lo} vs {want}"
            );
        }
        for (a, x) in [(2.0, 0.5), (50.0, 0.9)] {
            let want = f64::powf(x, a);
            let (lo, hi) = tails(a, 1.0, x);
            assert!((lo - want).abs() <= 1e-12 * want, "{lo} vs {want}");
            assert!((lo + hi - 1.0).abs() < 1e-15);
        }
    }

    #[test]
    fn quantile_edges_and_bad_input_do_not_panic() {
        assert_eq!(quantile(2.0, 3.0, 0.0), 0.0);
        assert_eq!(quantile(2.0, 3.0, 1.0), 1.0);
        assert_eq!(quantile(f64::NAN, 3.0, 0.5), 0.0);
        // Beta(1, 1) is uniform.
        assert!((quantile(1.0, 1.0, 0.3) - 0.3).abs() < 1e-14);
    }
}
