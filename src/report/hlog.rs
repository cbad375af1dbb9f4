//! `histograms.hlog`: the per-second latency histograms as an HdrHistogram
//! interval log (base64, compressed V2), readable by HdrHistogram's own tools
//! (HistogramLogProcessor, HdrHistogram Plotter).

use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use crate::metrics::Recording;
use crate::metrics::hist::decode;

/// The interval log of a recording's per-second intended-time latency (µs).
pub fn render(rec: &Recording) -> String {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut builder = IntervalLogWriterBuilder::new();
        builder
            .add_comment(
                "ninefold per-second latency from the intended send instant, in microseconds",
            )
            .with_start_time(SystemTime::UNIX_EPOCH)
            .with_base_time(SystemTime::UNIX_EPOCH)
            .with_max_value_divisor(1000.0);
        let Ok(mut writer) = builder.begin_log_with(&mut out, &mut serializer) else {
            return String::new();
        };
        let tag = Tag::new("latency");
        for sec in &rec.seconds {
            let Ok(h) = decode(&sec.latency) else {
                continue;
            };
            let start = Duration::from_secs(u64::from(sec.second));
            let _ = writer.write_histogram(&h, start, Duration::from_secs(1), tag);
        }
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::SecondStats;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    #[test]
    fn each_second_is_one_interval_that_decodes_back() {
        let mut rec = Recording::default();
        for s in 0..3u32 {
            let mut h = crate::metrics::hist::new_histogram(3);
            for v in 1..=100u64 {
                h.record(v * 1000 * u64::from(s + 1)).unwrap();
            }
            rec.seconds.push(SecondStats::new(s, &h));
        }
        let text = render(&rec);
        let intervals: Vec<_> = IntervalLogIterator::new(text.as_bytes())
            .filter_map(|e| match e {
                Ok(LogEntry::Interval(i)) => Some(i),
                _ => None,
            })
            .collect();
        assert_eq!(intervals.len(), 3, "{text}");
        assert_eq!(intervals[2].start_timestamp(), Duration::from_secs(2));
        let mut d = hdrhistogram::serialization::Deserializer::new();
        let bytes = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            intervals[1].encoded_histogram(),
        )
        .unwrap();
        let h: hdrhistogram::Histogram<u64> = d.deserialize(&mut bytes.as_slice()).unwrap();
        assert_eq!(h.len(), 100);
        assert!((h.max() as f64 - 200_000.0).abs() / 200_000.0 < 0.01);
    }
}
