//! Human durations on the wire: `"250ms"`, `"1.5s"`, `"40us"`, `"2m"`.
//!
//! Every duration in the admin JSON and the `--config` TOML is such a string
//! (the same convention as the scenario file), never a bare number, so a value
//! always carries its unit. [`Dur`] parses at the serde boundary into a
//! [`std::time::Duration`]; it serializes back in the largest unit that keeps
//! the value exact.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A [`Duration`] that reads and writes as a human string such as `"25ms"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub Duration);

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {input:?}: {reason} (expected a number and a unit: ns, us, ms, s, m, h, e.g. \"25ms\")"
)]
pub struct DurationError {
    /// What was given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Dur {
    /// `ms` milliseconds.
    pub const fn ms(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    /// The wrapped duration.
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl From<Duration> for Dur {
    fn from(d: Duration) -> Self {
        Self(d)
    }
}

impl From<Dur> for Duration {
    fn from(d: Dur) -> Self {
        d.0
    }
}

impl FromStr for Dur {
    type Err = DurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| DurationError {
            input: input.to_owned(),
            reason,
        };
        let s = input.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| err("missing unit"))?;
        let (number, unit) = s.split_at(split);
        if number.is_empty() {
            return Err(err("missing number"));
        }
        let value: f64 = number.parse().map_err(|_| err("not a number"))?;
        let nanos_per_unit = match unit.trim() {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(err("unknown unit")),
        };
        let nanos = value * nanos_per_unit;
        // A week is far beyond anything a mock backend should wait; it also keeps
        // the f64 → u64 conversion exact enough and overflow-free.
        if !nanos.is_finite() || nanos > 7.0 * 86_400e9 {
            return Err(err("out of range (at most 168h)"));
        }
        Ok(Self(Duration::from_nanos(nanos.round() as u64)))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.as_nanos();
        let units: [(u128, &str); 5] = [
            (3_600_000_000_000, "h"),
            (1_000_000_000, "s"),
            (1_000_000, "ms"),
            (1_000, "us"),
            (1, "ns"),
        ];
        if n == 0 {
            return f.write_str("0ms");
        }
        for (size, unit) in units {
            if n.is_multiple_of(size) {
                return write!(f, "{}{unit}", n / size);
            }
        }
        write!(f, "{n}ns")
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_fractions() {
        let cases = [
            ("25ms", Duration::from_millis(25)),
            ("1.5s", Duration::from_millis(1500)),
            ("40us", Duration::from_micros(40)),
            ("40µs", Duration::from_micros(40)),
            ("2m", Duration::from_secs(120)),
            ("0ms", Duration::ZERO),
            (" 7ns ", Duration::from_nanos(7)),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Dur>().unwrap().0, want, "{text}");
        }
    }

    #[test]
    fn refuses_what_has_no_unit_or_number() {
        for bad in ["25", "ms", "", "1.2.3s", "5 parsecs", "-1ms", "1000h"] {
            assert!(bad.parse::<Dur>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["25ms", "1500ms", "2s", "3h", "40us", "7ns", "0ms"] {
            let d: Dur = text.parse().unwrap();
            assert_eq!(d.to_string().parse::<Dur>().unwrap(), d);
        }
        assert_eq!(Dur::ms(1500).to_string(), "1500ms");
        assert_eq!(Dur::ms(2000).to_string(), "2s");
    }
}
