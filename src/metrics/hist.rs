//! Histograms as the recorder keeps them and as results carry them.
//!
//! Every histogram of a kind has the same bounds, so merges are exact across
//! workers, processes and shards. On the wire a histogram is HdrHistogram's V2
//! format with deflate, base64-encoded: the same bytes `hlog` files hold.

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

/// Lowest recordable value, µs.
pub const LOWEST_US: u64 = 1;
/// Highest recordable value, µs (60 s); longer values saturate here.
pub const HIGHEST_US: u64 = 60_000_000;
/// Precision of the run-long histograms (0.1%).
pub const SIGFIG: u8 = 3;
/// Precision of the per-second histograms (1%): ~19 KiB live, a few hundred bytes encoded.
pub const SECOND_SIGFIG: u8 = 2;

/// A new empty histogram with the shared bounds and `sigfig` digits.
pub fn new_histogram(sigfig: u8) -> Histogram<u64> {
    // Bounds are constants that satisfy the library's preconditions.
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, sigfig).expect("constant bounds are valid")
}

/// Why an encoded histogram could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    #[error("histogram is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("histogram is not valid V2 data: {0:?}")]
    Decode(hdrhistogram::serialization::DeserializeError),
    #[error("histograms do not merge: {0:?}")]
    Merge(hdrhistogram::errors::AdditionError),
}

/// Encode a histogram as base64 V2+deflate.
pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::with_capacity(256);
    // Writing into a Vec cannot fail for a histogram we built ourselves.
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("V2 serialization into memory");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decode base64 V2(+deflate) data.
pub fn decode(text: &str) -> Result<Histogram<u64>, HistogramError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text)?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(HistogramError::Decode)
}

/// A run-long histogram, kept live; serialized as base64 V2+deflate.
#[derive(Debug, Clone)]
pub struct Hist(pub Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        Hist(new_histogram(SIGFIG))
    }
}

impl PartialEq for Hist {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Hist {
    /// Add `other`'s counts.
    pub fn merge(&mut self, other: &Hist) -> Result<(), HistogramError> {
        self.0.add(&other.0).map_err(HistogramError::Merge)
    }

    /// A summary in milliseconds (what `--json` and reports print).
    pub fn summary_ms(&self) -> Percentiles {
        Percentiles::of(&self.0)
    }
}

impl Serialize for Hist {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Hist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        decode(&text).map(Hist).map_err(serde::de::Error::custom)
    }
}

/// p50/p90/p99/p99.9/max of a histogram, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    /// Read the summary from a µs histogram (all zero when it is empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_histograms_merge_exactly() {
        let mut a = Hist::default();
        let mut b = Hist::default();
        for v in 1..=1000 {
            a.0.record(v).unwrap();
            b.0.record(v * 1000).unwrap();
        }
        let a2: Hist = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        let b2: Hist = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!(a2, a);
        let mut merged = a2;
        merged.merge(&b2).unwrap();
        let mut direct = a.clone();
        direct.merge(&b).unwrap();
        assert_eq!(merged, direct);
        assert_eq!(merged.0.len(), 2000);
    }

    #[test]
    fn long_values_saturate() {
        let mut h = new_histogram(SIGFIG);
        h.saturating_record(HIGHEST_US * 10);
        assert!(h.max() >= HIGHEST_US);
        assert!(decode("not base64!").is_err());
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// Requests split over any number of shards, each recorded in its
            /// own histogram and shipped as V2+deflate base64, merge into
            /// exactly the histogram one recorder would have kept: same count
            /// at every value, so the same percentiles, min, max and mean.
            #[test]
            fn sharded_encoded_histograms_merge_exactly(
                values in proptest::collection::vec((1u64..HIGHEST_US * 2, 0usize..8), 1..2_000),
                shards in 1usize..8,
                sigfig in prop_oneof![Just(SECOND_SIGFIG), Just(SIGFIG)],
            ) {
                let mut whole = new_histogram(sigfig);
                let mut parts = vec![new_histogram(sigfig); shards];
                for (v, s) in &values {
                    whole.saturating_record(*v);
                    parts[s % shards].saturating_record(*v);
                }
                let mut merged = new_histogram(sigfig);
                for p in &parts {
                    merged.add(decode(&encode(p)).unwrap()).unwrap();
                }
                prop_assert_eq!(merged.len(), values.len() as u64);
                prop_assert_eq!(&merged, &whole);
                for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
                    prop_assert_eq!(merged.value_at_quantile(q), whole.value_at_quantile(q));
                }
                prop_assert_eq!(encode(&merged), encode(&whole));
            }
        }
    }
}
