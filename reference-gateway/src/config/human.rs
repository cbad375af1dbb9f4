//! Human-written quantities: durations (`"250ms"`, `"1.5s"`, `"2m"`) and
//! percentages (`"99.9%"`), parsed into types at the edge. The scenario reads
//! them through `ninefold::scenario::human`, which re-exports this module.

use std::time::Duration;

const UNITS: &[(&str, f64)] = &[
    ("ns", 1e-9),
    ("us", 1e-6),
    ("µs", 1e-6),
    ("ms", 1e-3),
    ("s", 1.0),
    ("m", 60.0),
    ("h", 3600.0),
    ("d", 86_400.0),
];

/// Parse `"250ms"`, `"1.5s"`, `"2m"`, `"1h"`, `"0s"`. A unit is required.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let accepted = "a number and a unit: ns, us, ms, s, m, h, d (e.g. \"250ms\", \"1.5s\", \"2m\")";
    if t.starts_with('-') {
        return Err(format!("`{text}` is negative; a duration is {accepted}"));
    }
    if number.is_empty() {
        return Err(format!("`{text}` is not a duration; write {accepted}"));
    }
    let scale = UNITS
        .iter()
        .find(|(u, _)| *u == unit.trim())
        .map(|(_, s)| *s)
        .ok_or_else(|| {
            if unit.trim().is_empty() {
                format!("`{text}` has no unit; write {accepted}")
            } else {
                format!("`{text}`: unknown unit `{}`; write {accepted}", unit.trim())
            }
        })?;
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write {accepted}"))?;
    let secs = value * scale;
    if !secs.is_finite() || secs > 1e9 {
        return Err(format!("`{text}` is too long"));
    }
    // Round to whole nanoseconds so "0.1s" is exactly 100ms.
    Ok(Duration::from_nanos((secs * 1e9).round() as u64))
}

/// The shortest exact human form: 150ms, 1.5s, 2m, 250us.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    let units: [(u128, &str); 6] = [
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
    ];
    for (scale, unit) in units {
        if nanos.is_multiple_of(scale) {
            return format!("{}{unit}", nanos / scale);
        }
    }
    // Not a whole number of microseconds: nanoseconds are always exact.
    format!("{nanos}ns")
}

/// Parse `"99.9%"` (→ (99.9, true)) or `"0.999"` (→ (0.999, false)).
pub fn parse_number_or_percent(text: &str) -> Result<(f64, bool), String> {
    let t = text.trim();
    let (number, percent) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (t, false),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a number or a percentage (e.g. \"99.9%\")"))?;
    if !value.is_finite() {
        return Err(format!("`{text}` is not finite"));
    }
    Ok((value, percent))
}

/// Parse a share in [0, 1] written as `"20%"` or `0.2`.
pub fn parse_share(text: &str) -> Result<f64, String> {
    let (v, percent) = parse_number_or_percent(text)?;
    let share = if percent { v / 100.0 } else { v };
    if (0.0..=1.0).contains(&share) {
        Ok(share)
    } else {
        Err(format!("`{text}` must be between 0% and 100% (or 0 and 1)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations() {
        let ok = [
            ("250ms", Duration::from_millis(250)),
            ("1.5s", Duration::from_millis(1500)),
            ("2m", Duration::from_secs(120)),
            ("0s", Duration::ZERO),
            ("0.1s", Duration::from_millis(100)),
            ("20us", Duration::from_micros(20)),
            (" 3h ", Duration::from_secs(3 * 3600)),
        ];
        for (text, d) in ok {
            assert_eq!(parse_duration(text).unwrap(), d, "{text}");
        }
        for (bad, needle) in [
            ("250", "has no unit"),
            ("-1s", "negative"),
            ("fast", "not a duration"),
            ("5 parsecs", "unknown unit"),
            ("1..2s", "not a duration"),
            ("", "not a duration"),
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn shares() {
        assert_eq!(parse_share("20%").unwrap(), 0.2);
        assert_eq!(parse_share("0.5").unwrap(), 0.5);
        assert!(parse_share("120%").is_err());
        assert!(parse_share("-0.1").is_err());
    }

    proptest! {
        #[test]
        fn format_then_parse_is_exact(nanos in 0u64..10_000_000_000_000) {
            let d = Duration::from_nanos(nanos);
            prop_assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }

        #[test]
        fn never_panics(text in "\\PC{0,12}") {
            let _ = parse_duration(&text);
            let _ = parse_number_or_percent(&text);
        }
    }
}
