//! Numbers and durations for people: the formatting every renderer shares
//! (and the SLO evaluation, for the measured value it states).
//!
//! Pure functions of a number (and, for [`format_value`], the objective's
//! unit); they import nothing but the scenario's [`Unit`].

use crate::scenario::slo::Unit;

/// A value in an objective's unit, for people: durations in ms or s, ratios as
/// percentages with enough digits to show their nines, counts as integers.
pub fn format_value(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Duration => format_seconds(value),
        Unit::Ratio => format_percent(value),
        Unit::Count if value.fract() == 0.0 && value.abs() < 1e15 => {
            group_digits(value.abs() as u64)
        }
        Unit::Count | Unit::Number => {
            let text = format!("{value:.3}");
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        }
    }
}

fn format_seconds(s: f64) -> String {
    let ms = s * 1e3;
    if s >= 10.0 {
        format!("{s:.1}s")
    } else if s >= 1.0 {
        format!("{s:.2}s")
    } else if ms >= 100.0 {
        format!("{ms:.0}ms")
    } else if ms >= 10.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.2}ms")
    }
}

/// A fraction as a percentage with two significant digits of its complement,
/// so 0.99997 reads `99.9970%` and never rounds up to `100%` unless it is 1.
pub fn format_percent(r: f64) -> String {
    if !r.is_finite() {
        return "n/a".to_string();
    }
    let complement = (1.0 - r) * 100.0;
    let decimals = if complement <= 0.0 {
        0
    } else {
        (1 - complement.log10().floor() as i64).clamp(2, 12) as usize
    };
    if decimals == 0 {
        return format!("{:.0}%", r * 100.0);
    }
    format!("{:.*}%", decimals, r * 100.0)
}

/// 1234567 → `1,234,567`.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Seconds as the largest sensible unit: `8.8 h`, `52.6 min`, `31.6 s`.
pub fn human_span(s: f64) -> String {
    if s >= 86_400.0 {
        format!("{:.1} d", s / 86_400.0)
    } else if s >= 3_600.0 {
        format!("{:.1} h", s / 3_600.0)
    } else if s >= 60.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.1} s")
    }
}

/// An example body on one line for text outputs: whitespace runs become one
/// space, control characters U+FFFD, and past `max` characters it is cut with
/// `…` (also when the kept body was itself cut).
pub fn one_line(body: &str, truncated: bool, max: usize) -> String {
    let mut out = String::with_capacity(body.len().min(max + 4));
    let mut count = 0;
    let mut space = false;
    for c in body.trim().chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space {
            out.push(' ');
            count += 1;
            space = false;
        }
        if count >= max {
            out.push('…');
            return out;
        }
        out.push(if c.is_control() { '\u{FFFD}' } else { c });
        count += 1;
    }
    if truncated {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_well() {
        assert_eq!(format_percent(0.999), "99.90%");
        assert_eq!(format_percent(0.99997), "99.9970%");
        assert_eq!(format_percent(1.0), "100%");
        assert_eq!(format_percent(0.5), "50.00%");
        assert_ne!(format_percent(0.999_999_999_9), "100.00%");
        assert_eq!(format_value(Unit::Duration, 0.0042), "4.20ms");
        assert_eq!(format_value(Unit::Duration, 2.5), "2.50s");
        assert_eq!(format_value(Unit::Count, 12_345.0), "12,345");
        assert_eq!(format_value(Unit::Number, 1.25), "1.25");
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(1_000), "1,000");
    }

    #[test]
    fn one_line_bodies_are_flat_and_cut() {
        assert_eq!(
            one_line("  a\n\tb  c \u{1b}[2J", false, 100),
            "a b c \u{FFFD}[2J"
        );
        assert_eq!(one_line("abcdef", false, 3), "abc…");
        assert_eq!(one_line("abc", true, 10), "abc…");
    }
}
