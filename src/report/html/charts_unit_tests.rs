use super::*;

#[test]
fn percentile_labels_fall_on_whole_nines() {
    let labels: Vec<String> = (0..=5).map(|n| percentile_label(n as f64)).collect();
    assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]);
    assert_eq!(percentile_label(2.5), "");
}

#[test]
fn ms_labels_are_short() {
    assert_eq!(ms_label(1500.0), "1.5s");
    assert_eq!(ms_label(12.0), "12ms");
    assert_eq!(ms_label(0.25), "0.25ms");
}

#[test]
fn a_time_series_is_inline_svg_with_bands() {
    let lines = [Line {
        color: PALETTE[0],
        points: (0..10).map(|s| (s as f64, 100.0 + s as f64)).collect(),
    }];
    let bands = [Band {
        start_s: 3.0,
        end_s: 5.0,
        label: "F1".into(),
        kind: BandKind::Fault,
    }];
    let chart = TimeChart {
        y_desc: "requests/s",
        x_max: 10.0,
        lines: &lines,
        bands: &bands,
        scale: Scale::Linear,
        y_unit: YUnit::Count,
    };
    let svg = time_series(&chart);
    assert!(svg.starts_with("<svg class=\"chart\""), "{svg:.200}");
    assert!(!svg.contains("http"), "no URL, not even the namespace");
    assert!(svg.contains("\nF1\n"), "the band is labelled");
    assert!(svg.contains("<rect"), "the band is shaded");
    assert_eq!(svg, time_series(&chart), "drawing is deterministic");
}

#[test]
fn empty_and_log_charts_draw() {
    let svg = spectrum(&[]);
    assert!(svg.contains("<svg"));
    let lines = [Line {
        color: PALETTE[1],
        points: vec![(0.0, 0.5), (2.0, 3.0), (5.0, 250.0)],
    }];
    let svg = spectrum(&lines);
    assert!(svg.contains("99.999%"), "the axis reaches five nines");
    assert!(svg.contains("<polyline") || svg.contains("<path"));
}
