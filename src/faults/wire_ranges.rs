//! The validated range of every toxic attribute, checked wherever attributes
//! are decoded (create and update alike): Toxiproxy checks none, and past
//! these bounds its arithmetic overflows or panics (`jitter` ≥ 2^62 ms).

use super::Attributes;

/// One day in milliseconds: the bound of every millisecond attribute.
const DAY_MS: f64 = 86_400_000.0;

/// The validated range of every toxic attribute: `(type, attribute, min, max, unit)`.
/// Negative times and rates are accepted as Toxiproxy accepts them (they act
/// as 0, or as unlimited for `rate`); the bounds are where the reference's
/// arithmetic overflows or panics (`jitter` ≥ 2^62 ms) and far past any fault
/// worth injecting. Out of range → 400 `bad request body: …` naming it.
pub const ATTRIBUTE_RANGES: &[(&str, &str, f64, f64, &str)] = &[
    ("latency", "latency", -DAY_MS, DAY_MS, "ms"),
    ("latency", "jitter", -DAY_MS, DAY_MS, "ms"),
    ("bandwidth", "rate", -1e8, 1e8, "KB/s"),
    ("slow_close", "delay", -DAY_MS, DAY_MS, "ms"),
    ("timeout", "timeout", -DAY_MS, DAY_MS, "ms"),
    ("reset_peer", "timeout", -DAY_MS, DAY_MS, "ms"),
    (
        "slicer",
        "average_size",
        -1_073_741_824.0,
        1_073_741_824.0,
        "bytes",
    ),
    (
        "slicer",
        "size_variation",
        -1_073_741_824.0,
        1_073_741_824.0,
        "bytes",
    ),
    ("slicer", "delay", -DAY_MS * 1000.0, DAY_MS * 1000.0, "µs"),
    (
        "limit_data",
        "bytes",
        -9_007_199_254_740_992.0,
        9_007_199_254_740_992.0,
        "bytes",
    ),
    ("packet_loss", "loss_rate", 0.0, 1.0, "(probability)"),
    ("packet_loss", "correlation", 0.0, 1.0, "(probability)"),
];

/// A range bound printed as an integer when it is one.
struct Range(f64);

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.fract() == 0.0 && self.0.abs() < 1e16 {
            write!(f, "{:.0}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// `attrs` if every value is within its range ([`ATTRIBUTE_RANGES`]),
/// else a decoder error naming the toxic type and the attribute.
pub(super) fn validated(attrs: Attributes) -> Result<Attributes, serde_json::Error> {
    let value = serde_json::to_value(attrs)?;
    for &(kind, name, min, max, unit) in ATTRIBUTE_RANGES {
        if kind != attrs.kind() {
            continue;
        }
        let Some(v) = value.get(name) else { continue };
        // Integers compared as integers: 2^53 + 1 is not 2^53.
        let out = match (v.as_i64(), v.as_f64()) {
            (Some(i), _) => i128::from(i) < min as i128 || i128::from(i) > max as i128,
            (None, Some(f)) => !(min..=max).contains(&f),
            _ => false,
        };
        if out {
            let shown = v.to_string();
            return Err(serde::de::Error::custom(format!(
                "{kind} attribute {name:?} out of range: {shown} \
                 (allowed {} to {} {unit})",
                Range(min),
                Range(max)
            )));
        }
    }
    Ok(attrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each attribute's documented bounds (docs/faults.md), written out here
    /// rather than read from the table under test.
    const BOUNDS: &[(&str, &str, i64, i64)] = &[
        ("latency", "latency", -86_400_000, 86_400_000),
        ("latency", "jitter", -86_400_000, 86_400_000),
        ("bandwidth", "rate", -100_000_000, 100_000_000),
        ("slow_close", "delay", -86_400_000, 86_400_000),
        ("timeout", "timeout", -86_400_000, 86_400_000),
        ("reset_peer", "timeout", -86_400_000, 86_400_000),
        ("slicer", "average_size", -(1 << 30), 1 << 30),
        ("slicer", "size_variation", -(1 << 30), 1 << 30),
        ("slicer", "delay", -86_400_000_000, 86_400_000_000),
        ("limit_data", "bytes", -(1 << 53), 1 << 53),
    ];

    fn check(kind: &str, attrs: serde_json::Value) -> Result<Attributes, String> {
        let created = Attributes::decode(kind, Some(&attrs))
            .unwrap()
            .map_err(|e| e.to_string());
        // An update (merge into the defaults) is checked the same way.
        let merged = Attributes::default_for(kind)
            .unwrap()
            .merge(&attrs)
            .map_err(|e| e.to_string());
        assert_eq!(created, merged, "{kind} {attrs}");
        created
    }

    #[test]
    fn every_toxic_attribute_has_a_validated_range() {
        for &(kind, name, min, max) in BOUNDS {
            for ok in [min, max, 0] {
                let r = check(kind, serde_json::json!({ name: ok }));
                assert!(r.is_ok(), "{kind}.{name} = {ok}: {r:?}");
            }
            for bad in [min - 1, max + 1, i64::MIN, i64::MAX] {
                let err = check(kind, serde_json::json!({ name: bad })).unwrap_err();
                assert!(
                    err.contains(&format!("{kind} attribute \"{name}\" out of range: {bad}")),
                    "{err}"
                );
            }
        }
        for name in ["loss_rate", "correlation"] {
            for ok in [0.0, 0.5, 1.0] {
                assert!(check("packet_loss", serde_json::json!({ name: ok })).is_ok());
            }
            for bad in [-0.01, 1.01, 1e300] {
                let err = check("packet_loss", serde_json::json!({ name: bad })).unwrap_err();
                assert!(err.contains(&format!("\"{name}\" out of range")), "{err}");
            }
        }
    }

    #[test]
    fn jitter_of_2_pow_62_is_refused_naming_it() {
        let err = check(
            "latency",
            serde_json::json!({"latency": 10, "jitter": 1i64 << 62}),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "latency attribute \"jitter\" out of range: 4611686018427387904 \
         (allowed -86400000 to 86400000 ms)"
        );
    }
}
