//! Toxiproxy 2.12's wire JSON, in one place: the proxy and toxic objects in the
//! field order the reference server emits, toxic attributes in its units
//! (milliseconds, KB/s, microseconds for the slicer), and the decoder error
//! texts its clients see. Everything here is turned into domain types
//! ([`Toxic`], [`Duration`]) at the boundary by the `From` impls below.
//!
//! Compatibility choices (see Toxiproxy 2.12.0 (docs/faults.md)): unknown attribute
//! keys are ignored and missing ones are 0, like Go's decoder; a negative
//! latency is stored and echoed as given, and acts as 0 (what Go's
//! `time.Sleep` does with it). Every attribute is range-checked against
//! [`ATTRIBUTE_RANGES`] (the reference overflows or panics past them).
//!
//! The shapes are here; the Go-compatible body decoding is in `wire_decode.rs`,
//! the attribute ranges in `wire_ranges.rs`, and the objects built from a
//! proxy's state in `wire_render.rs`.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};

#[path = "wire_ranges.rs"]
mod ranges;
pub use ranges::ATTRIBUTE_RANGES;

#[path = "wire_decode.rs"]
mod decode;
pub use decode::decode_body;

#[path = "wire_render.rs"]
mod render;

use crate::faults::toxics::{
    Bandwidth, Latency, LimitData, Loss, ResetPeer, Slicer, SlowClose, Timeout, Toxic,
};

/// The exact `/version` body of Toxiproxy 2.12.0 (with its space and newline).
pub const VERSION_BODY: &str = "{\"version\": \"2.12.0\"}\n";

/// The `Logger` member 2.12.0 leaks into every proxy object; always `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyObject {}

/// A proxy as the API emits it: `name, listen, upstream, enabled, Logger, toxics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireProxy {
    /// Unique name of the proxy.
    pub name: String,
    /// The address actually bound (or, while disabled, the one configured).
    pub listen: String,
    /// `host:port` dialled for each accepted connection.
    pub upstream: String,
    /// Whether the listener is open.
    pub enabled: bool,
    /// Always `{}`: emitted because 2.12.0 does, so byte comparisons hold.
    #[serde(rename = "Logger", default)]
    pub logger: EmptyObject,
    /// Upstream-stream toxics in insertion order, then downstream ones; never null.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub toxics: Vec<WireToxic>,
}

/// A toxic as the API emits it: `attributes, name, type, stream, toxicity`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WireToxic {
    /// Type-specific attributes in Toxiproxy's units.
    pub attributes: Attributes,
    /// Unique (per proxy, across both streams) name.
    pub name: String,
    /// The toxic type, e.g. `latency`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `upstream` or `downstream`, spelled as the creator sent it.
    pub stream: String,
    /// Fraction of toxic chains (one per connection and direction) the toxic applies to.
    #[serde(serialize_with = "go_float32")]
    pub toxicity: f32,
}

impl<'de> Deserialize<'de> for WireToxic {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            attributes: Option<serde_json::Value>,
            name: String,
            #[serde(rename = "type")]
            kind: String,
            stream: String,
            toxicity: f32,
        }
        let raw = Raw::deserialize(de)?;
        let attributes = Attributes::decode(&raw.kind, raw.attributes.as_ref())
            .ok_or_else(|| serde::de::Error::custom(format!("unknown toxic type {:?}", raw.kind)))?
            .map_err(serde::de::Error::custom)?;
        Ok(WireToxic {
            attributes,
            name: raw.name,
            kind: raw.kind,
            stream: raw.stream,
            toxicity: raw.toxicity,
        })
    }
}

/// `{"error": "...", "status": N}`: every API error body (followed by `\n`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The message, e.g. `proxy not found`.
    pub error: String,
    /// The HTTP status code, repeated.
    pub status: u16,
}

/// `POST /populate`'s body, with the error members on failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PopulateBody {
    /// Present on failure only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Present on failure only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Proxies created (in input order); `null` when none, as Go emits a nil slice.
    pub proxies: Option<Vec<WireProxy>>,
}

/// Body of `POST /proxies` and one entry of `POST /populate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyInput {
    /// Required (non-empty).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub name: String,
    /// Empty means `127.0.0.1:0` (the reference uses `[::]:0`).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub listen: String,
    /// Required (non-empty).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub upstream: String,
    /// Defaults to true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Body of `PATCH /proxies/{p}`: omitted fields keep their values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProxyPatch {
    /// New listen address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// New upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Enable (start) or disable (stop) the proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Body of `POST /proxies/{p}/toxics` before the attributes are decoded
/// (they need the type first, as in the reference).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToxicInput {
    /// Defaults to `<type>_<stream>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Toxic type; unknown or missing → `invalid toxic type`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Case-insensitive `upstream`/`downstream`; defaults to downstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toxicity: Option<f32>,
    /// Type-specific attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<serde_json::Value>,
}

/// Body of `PATCH /proxies/{p}/toxics/{t}`: attributes merge into the current ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToxicUpdateInput {
    /// Partial attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<serde_json::Value>,
    /// New toxicity; unchanged if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toxicity: Option<f32>,
}

macro_rules! attrs {
    ($(#[$doc:meta] $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? })*) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct $name { $($(#[$fdoc])* pub $field: $ty),* }
    )*};
}

attrs! {
    /// `latency`: `latency` and `jitter` in ms.
    LatencyAttrs { /// ms added to every chunk.
        latency: i64, /// ± ms of uniform jitter.
        jitter: i64 }
    /// `bandwidth`: `rate` in KB/s (1 KB = 1000 bytes); ≤ 0 is unlimited.
    BandwidthAttrs { /// KB/s.
        rate: i64 }
    /// `slow_close`: `delay` in ms before the close is passed on.
    SlowCloseAttrs { /// ms.
        delay: i64 }
    /// `timeout`: `timeout` in ms; 0 holds the connection forever.
    TimeoutAttrs { /// ms.
        timeout: i64 }
    /// `reset_peer`: `timeout` in ms between the first data and the RST.
    ResetPeerAttrs { /// ms.
        timeout: i64 }
    /// `slicer`: sizes in bytes, `delay` in µs between slices.
    SlicerAttrs { /// bytes.
        average_size: i64, /// bytes.
        size_variation: i64, /// µs.
        delay: i64 }
    /// `limit_data`: `bytes` forwarded before the connection is closed.
    LimitDataAttrs { /// bytes.
        bytes: i64 }
    /// `noop`: no attributes.
    NoopAttrs {}
}

/// `packet_loss` (Toxiproxy PR #739): `loss_rate` 0–1 (default
/// 0.1) and `correlation` (extra drop probability right after a drop).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LossAttrs {
    /// Probability that a chunk is dropped.
    #[serde(serialize_with = "go_float64")]
    pub loss_rate: f64,
    /// Added to `loss_rate` for the chunk after a dropped one.
    #[serde(serialize_with = "go_float64")]
    pub correlation: f64,
}

impl Default for LossAttrs {
    fn default() -> Self {
        Self {
            loss_rate: 0.1,
            correlation: 0.0,
        }
    }
}

/// The closed set of toxic attribute objects, serialized as the bare object.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Attributes {
    /// `latency`.
    Latency(LatencyAttrs),
    /// `bandwidth`.
    Bandwidth(BandwidthAttrs),
    /// `slow_close`.
    SlowClose(SlowCloseAttrs),
    /// `timeout`.
    Timeout(TimeoutAttrs),
    /// `reset_peer`.
    ResetPeer(ResetPeerAttrs),
    /// `slicer`.
    Slicer(SlicerAttrs),
    /// `limit_data`.
    LimitData(LimitDataAttrs),
    /// `packet_loss` (Toxiproxy PR #739; `loss` accepted as an alias).
    Loss(LossAttrs),
    /// `noop`.
    Noop(NoopAttrs),
}

/// Every toxic type name the API accepts.
pub const TOXIC_TYPES: [&str; 9] = [
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
    "packet_loss",
    "noop",
];

impl Attributes {
    /// The type name, e.g. `latency`.
    pub fn kind(&self) -> &'static str {
        match self {
            Attributes::Latency(_) => "latency",
            Attributes::Bandwidth(_) => "bandwidth",
            Attributes::SlowClose(_) => "slow_close",
            Attributes::Timeout(_) => "timeout",
            Attributes::ResetPeer(_) => "reset_peer",
            Attributes::Slicer(_) => "slicer",
            Attributes::LimitData(_) => "limit_data",
            Attributes::Loss(_) => "packet_loss",
            Attributes::Noop(_) => "noop",
        }
    }

    /// The default (all-zero) attributes of `kind`, or `None` for an unknown type.
    pub fn default_for(kind: &str) -> Option<Attributes> {
        Some(match kind {
            "latency" => Attributes::Latency(LatencyAttrs::default()),
            "bandwidth" => Attributes::Bandwidth(BandwidthAttrs::default()),
            "slow_close" => Attributes::SlowClose(SlowCloseAttrs::default()),
            "timeout" => Attributes::Timeout(TimeoutAttrs::default()),
            "reset_peer" => Attributes::ResetPeer(ResetPeerAttrs::default()),
            "slicer" => Attributes::Slicer(SlicerAttrs::default()),
            "limit_data" => Attributes::LimitData(LimitDataAttrs::default()),
            // `loss` was this server's name before Toxiproxy named it `packet_loss`.
            "packet_loss" | "loss" => Attributes::Loss(LossAttrs::default()),
            "noop" => Attributes::Noop(NoopAttrs::default()),
            _ => return None,
        })
    }

    /// Decode `value` as the attributes of `kind`: `None` for an unknown type,
    /// `Some(Err)` for a value of the wrong shape. `null`/absent = defaults.
    pub fn decode(
        kind: &str,
        value: Option<&serde_json::Value>,
    ) -> Option<Result<Attributes, serde_json::Error>> {
        let base = Attributes::default_for(kind)?;
        Some(match value {
            None | Some(serde_json::Value::Null) => Ok(base),
            Some(patch) => base.merge(patch),
        })
    }

    /// Decode `patch` *into* these attributes (Go's decode-into-struct): keys
    /// present replace, absent keys keep their value, unknown keys are ignored.
    pub fn merge(&self, patch: &serde_json::Value) -> Result<Attributes, serde_json::Error> {
        fn into<T: Serialize + DeserializeOwned>(
            current: &T,
            patch: &serde_json::Value,
        ) -> Result<T, serde_json::Error> {
            let mut merged = serde_json::to_value(current)?;
            match (patch, &mut merged) {
                (serde_json::Value::Object(p), serde_json::Value::Object(m)) => {
                    for (k, v) in p {
                        if m.contains_key(k) && !v.is_null() {
                            m.insert(k.clone(), v.clone());
                        }
                    }
                }
                (serde_json::Value::Null, _) => {}
                // Not an object: let the decoder produce its type error.
                (other, _) => merged = other.clone(),
            }
            serde_json::from_value(merged)
        }
        let merged = match self {
            Attributes::Latency(a) => Attributes::Latency(into(a, patch)?),
            Attributes::Bandwidth(a) => Attributes::Bandwidth(into(a, patch)?),
            Attributes::SlowClose(a) => Attributes::SlowClose(into(a, patch)?),
            Attributes::Timeout(a) => Attributes::Timeout(into(a, patch)?),
            Attributes::ResetPeer(a) => Attributes::ResetPeer(into(a, patch)?),
            Attributes::Slicer(a) => Attributes::Slicer(into(a, patch)?),
            Attributes::LimitData(a) => Attributes::LimitData(into(a, patch)?),
            Attributes::Loss(a) => Attributes::Loss(into(a, patch)?),
            Attributes::Noop(a) => Attributes::Noop(into(a, patch)?),
        };
        ranges::validated(merged)
    }
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn to_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn to_unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl From<&Attributes> for Toxic {
    fn from(attrs: &Attributes) -> Toxic {
        match *attrs {
            Attributes::Latency(a) => Toxic::Latency(Latency {
                latency: millis(a.latency),
                jitter: millis(a.jitter),
            }),
            Attributes::Bandwidth(a) => Toxic::Bandwidth(Bandwidth {
                rate_kb_per_s: to_unsigned(a.rate),
            }),
            Attributes::SlowClose(a) => Toxic::SlowClose(SlowClose {
                delay: millis(a.delay),
            }),
            Attributes::Timeout(a) => Toxic::Timeout(Timeout {
                timeout: (a.timeout > 0).then(|| millis(a.timeout)),
            }),
            Attributes::ResetPeer(a) => Toxic::ResetPeer(ResetPeer {
                timeout: millis(a.timeout),
            }),
            Attributes::Slicer(a) => Toxic::Slicer(Slicer {
                average_size: usize::try_from(a.average_size).unwrap_or(0),
                size_variation: usize::try_from(a.size_variation).unwrap_or(0),
                delay: Duration::from_micros(to_unsigned(a.delay)),
            }),
            Attributes::LimitData(a) => Toxic::LimitData(LimitData {
                bytes: to_unsigned(a.bytes),
            }),
            Attributes::Loss(a) => Toxic::Loss(Loss {
                loss_rate: a.loss_rate,
                correlation: a.correlation,
            }),
            Attributes::Noop(_) => Toxic::Noop,
        }
    }
}

impl From<&Toxic> for Attributes {
    fn from(toxic: &Toxic) -> Attributes {
        match toxic {
            Toxic::Latency(t) => Attributes::Latency(LatencyAttrs {
                latency: to_millis(t.latency),
                jitter: to_millis(t.jitter),
            }),
            Toxic::Bandwidth(t) => Attributes::Bandwidth(BandwidthAttrs {
                rate: i64::try_from(t.rate_kb_per_s).unwrap_or(i64::MAX),
            }),
            Toxic::SlowClose(t) => Attributes::SlowClose(SlowCloseAttrs {
                delay: to_millis(t.delay),
            }),
            Toxic::Timeout(t) => Attributes::Timeout(TimeoutAttrs {
                timeout: t.timeout.map_or(0, to_millis),
            }),
            Toxic::ResetPeer(t) => Attributes::ResetPeer(ResetPeerAttrs {
                timeout: to_millis(t.timeout),
            }),
            Toxic::Slicer(t) => Attributes::Slicer(SlicerAttrs {
                average_size: i64::try_from(t.average_size).unwrap_or(i64::MAX),
                size_variation: i64::try_from(t.size_variation).unwrap_or(i64::MAX),
                delay: i64::try_from(t.delay.as_micros()).unwrap_or(i64::MAX),
            }),
            Toxic::LimitData(t) => Attributes::LimitData(LimitDataAttrs {
                bytes: i64::try_from(t.bytes).unwrap_or(i64::MAX),
            }),
            Toxic::Loss(t) => Attributes::Loss(LossAttrs {
                loss_rate: t.loss_rate,
                correlation: t.correlation,
            }),
            Toxic::Noop => Attributes::Noop(NoopAttrs {}),
        }
    }
}

/// Serialize an `f32` the way Go's `encoding/json` does: shortest decimal for
/// 32 bits, and no `.0` on whole numbers (`1`, `0.5`, `0.1`).
pub fn go_float32<S: Serializer>(value: &f32, ser: S) -> Result<S::Ok, S::Error> {
    let v = *value;
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        // Whole and small enough to be exact as an integer.
        #[allow(clippy::cast_possible_truncation)]
        return ser.serialize_i64(v as i64);
    }
    // `Display` of an f32 is its shortest round-trip decimal; re-read as f64 so
    // serde_json prints those digits and not the f64 expansion of the f32.
    let shortest: f64 = v.to_string().parse().unwrap_or(f64::from(v));
    ser.serialize_f64(shortest)
}

/// Serialize an `f64` as Go does: whole numbers without `.0`.
pub fn go_float64<S: Serializer>(value: &f64, ser: S) -> Result<S::Ok, S::Error> {
    let v = *value;
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        #[allow(clippy::cast_possible_truncation)]
        return ser.serialize_i64(v as i64);
    }
    ser.serialize_f64(v)
}

fn null_as_empty<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toxic_serializes_in_reference_field_order() {
        let t = WireToxic {
            attributes: Attributes::Latency(LatencyAttrs {
                latency: 200,
                jitter: 50,
            }),
            name: "latency_upstream".into(),
            kind: "latency".into(),
            stream: "upstream".into(),
            toxicity: 0.5,
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"attributes":{"latency":200,"jitter":50},"name":"latency_upstream","type":"latency","stream":"upstream","toxicity":0.5}"#
        );
        let back: WireToxic = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn float32_is_printed_like_go() {
        #[derive(Serialize)]
        struct F(#[serde(serialize_with = "go_float32")] f32);
        for (v, text) in [
            (1.0, "1"),
            (0.5, "0.5"),
            (0.1, "0.1"),
            (2.5, "2.5"),
            (-1.0, "-1"),
            (0.3, "0.3"),
        ] {
            assert_eq!(serde_json::to_string(&F(v)).unwrap(), text);
        }
    }

    #[test]
    fn merge_keeps_absent_keys_and_ignores_unknown_ones() {
        let a = Attributes::Latency(LatencyAttrs {
            latency: 200,
            jitter: 50,
        });
        let m = a
            .merge(&serde_json::json!({"jitter": 0, "bogus": 3}))
            .unwrap();
        assert_eq!(
            m,
            Attributes::Latency(LatencyAttrs {
                latency: 200,
                jitter: 0
            })
        );
        assert!(a.merge(&serde_json::json!({"latency": "x"})).is_err());
        assert!(a.merge(&serde_json::json!({"latency": 1.5})).is_err());
    }

    #[test]
    fn wire_and_domain_round_trip() {
        for kind in TOXIC_TYPES {
            let attrs = Attributes::default_for(kind).unwrap();
            assert_eq!(attrs.kind(), kind);
            let toxic = Toxic::from(&attrs);
            assert_eq!(Attributes::from(&toxic), attrs, "{kind}");
        }
        let neg = Attributes::Latency(LatencyAttrs {
            latency: -5,
            jitter: 0,
        });
        assert_eq!(
            Toxic::from(&neg),
            Toxic::Latency(Latency {
                latency: Duration::ZERO,
                jitter: Duration::ZERO
            })
        );
    }
}
