//! Charts of the HTML report, drawn by plotters into SVG text.
//!
//! Two shapes cover every chart: a time series over the run clock with the
//! faults drawn as shaded, numbered bands, and HdrHistogram's percentile
//! spectrum. No text that came from the run goes into an SVG: series are told
//! apart by colour and named in an HTML legend beside the chart (where
//! [`super::escape::escape`] applies), and fault bands carry our own labels
//! (`F1`, `F2`, …) that the fault table explains.
//!
//! Log axes are drawn as linear axes over `log10(value)` with labels that
//! print `10^v`: one code path for both scales, and ticks that fall on whole
//! decades when the range spans whole decades.

use plotters::prelude::*;

/// Width of every chart, px (the page scales it down on narrow screens and paper).
const WIDTH: u32 = 960;
/// Height of a time series chart, px.
const SERIES_HEIGHT: u32 = 240;
/// Height of the percentile spectrum, px.
const SPECTRUM_HEIGHT: u32 = 300;
/// Font family in the SVG; the browser picks the face, no font is embedded.
const FONT: &str = "sans-serif";
/// Lowest value a log axis shows (values at or below are drawn here).
const LOG_FLOOR: f64 = 1e-3;

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#rrggbb`, for the HTML legend.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    fn plotters(self) -> RGBColor {
        RGBColor(self.0, self.1, self.2)
    }
}

/// Colours for series without a colour of their own (tenants, instances).
pub const PALETTE: [Rgb; 10] = [
    Rgb(31, 119, 180),
    Rgb(255, 127, 14),
    Rgb(44, 160, 44),
    Rgb(214, 39, 40),
    Rgb(148, 103, 189),
    Rgb(140, 86, 75),
    Rgb(227, 119, 194),
    Rgb(127, 127, 127),
    Rgb(188, 189, 34),
    Rgb(23, 190, 207),
];

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub color: Rgb,
    /// `(x, y)` in the chart's units; `y` in its own unit even on a log axis.
    pub points: Vec<(f64, f64)>,
}

/// A fault drawn over a time series: shaded from `start_s` to `end_s`; or,
/// for a restart, a green line at `start_s`.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub start_s: f64,
    pub end_s: f64,
    /// Short label drawn at the top of the band (`F1`, `R1`); ours, never run text.
    pub label: String,
    /// A replaced instance came back here (drawn as a line, not a band).
    pub restart: bool,
}

/// How the y axis maps values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log,
}

/// A time series chart over the run clock.
#[derive(Debug, Clone, Copy)]
pub struct TimeChart<'a> {
    /// What a person reads to the left of the y axis, e.g. `requests/s`.
    pub y_desc: &'static str,
    /// Length of the run, s (the x axis goes from 0 to here).
    pub x_max: f64,
    pub lines: &'a [Line],
    pub bands: &'a [Band],
    pub scale: Scale,
    /// Formats a y value (in its own unit) for the axis labels.
    pub y_label: fn(f64) -> String,
}

/// Draw a time series chart as SVG text.
pub fn time_series(c: &TimeChart<'_>) -> String {
    let map = |y: f64| match c.scale {
        Scale::Linear => y,
        Scale::Log => y.max(LOG_FLOOR).log10(),
    };
    let ys = c
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| map(p.1)));
    let (y_min, y_max) = y_range(ys, c.scale);
    let x_max = c.x_max.max(1.0);
    let mut svg = String::new();
    let drawn = draw_time_series(&mut svg, c, x_max, (y_min, y_max), &map);
    finish(svg, drawn, "time series")
}

fn draw_time_series(
    svg: &mut String,
    c: &TimeChart<'_>,
    x_max: f64,
    (y_min, y_max): (f64, f64),
    map: &dyn Fn(f64) -> f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, (WIDTH, SERIES_HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        // Room for the last x label, which plotters would clip.
        .margin_right(28)
        .x_label_area_size(34)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, y_min..y_max)?;
    let unmap = |v: f64| match c.scale {
        Scale::Linear => v,
        Scale::Log => 10f64.powf(v),
    };
    let y_fmt = |v: &f64| (c.y_label)(unmap(*v));
    let x_fmt = |v: &f64| format!("{v:.0}s");
    chart
        .configure_mesh()
        .x_desc("seconds since the start of the run")
        .y_desc(c.y_desc)
        .x_labels(12)
        .y_labels(match c.scale {
            Scale::Linear => 6,
            Scale::Log => ((y_max - y_min).round() as usize + 1).clamp(2, 8),
        })
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .light_line_style(RGBColor(242, 242, 242))
        .bold_line_style(RGBColor(225, 225, 225))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .draw()?;
    let shade = RGBAColor(214, 39, 40, 0.13).filled();
    let edge = RGBAColor(214, 39, 40, 0.55).stroke_width(1);
    let restart = RGBAColor(44, 160, 44, 0.8).stroke_width(2);
    for b in c.bands.iter().filter(|b| b.restart) {
        let x = b.start_s.clamp(0.0, x_max);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x, y_min), (x, y_max)],
            restart,
        )))?;
    }
    for b in c.bands.iter().filter(|b| !b.restart) {
        // An instant fault (a kill) still gets a visible sliver.
        let end = b.end_s.max(b.start_s + x_max / 300.0).min(x_max);
        let start = b.start_s.clamp(0.0, x_max);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(start, y_min), (end, y_max)],
            shade,
        )))?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(start, y_min), (start, y_max)],
            edge,
        )))?;
    }
    for line in c.lines {
        let points: Vec<(f64, f64)> = line.points.iter().map(|&(x, y)| (x, map(y))).collect();
        chart.draw_series(LineSeries::new(
            points,
            line.color.plotters().stroke_width(2),
        ))?;
    }
    // Labels of close events go on rows below each other instead of overprinting.
    let mut placed: Vec<f64> = Vec::new();
    for b in c.bands {
        let x = b.start_s.clamp(0.0, x_max);
        let row = placed
            .iter()
            .filter(|p| (x - **p).abs() < x_max / 30.0)
            .count();
        placed.push(x);
        let label_y = y_max - (y_max - y_min) * (0.02 + 0.09 * row as f64);
        let color = if b.restart {
            RGBColor(20, 120, 20)
        } else {
            RGBColor(160, 20, 20)
        };
        chart.draw_series(std::iter::once(Text::new(
            b.label.clone(),
            (x, label_y),
            (FONT, 12).into_font().color(&color),
        )))?;
    }
    root.present()?;
    Ok(())
}

/// HdrHistogram's percentile spectrum: x is the percentile on a log scale of
/// its complement (0%, 90%, 99%, … 99.999%), y the latency in ms on a log axis.
/// Each line's points are `(nines, ms)` where `nines = −log10(1 − q)`.
pub fn spectrum(lines: &[Line]) -> String {
    let ys = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1.max(LOG_FLOOR).log10()));
    let (y_min, y_max) = y_range(ys, Scale::Log);
    let mut svg = String::new();
    let drawn = draw_spectrum(&mut svg, lines, (y_min, y_max));
    finish(svg, drawn, "percentile spectrum")
}

fn draw_spectrum(
    svg: &mut String,
    lines: &[Line],
    (y_min, y_max): (f64, f64),
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, (WIDTH, SPECTRUM_HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        .margin_right(40)
        .x_label_area_size(34)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..5f64, y_min..y_max)?;
    let x_fmt = |v: &f64| percentile_label(*v);
    let y_fmt = |v: &f64| ms_label(10f64.powf(*v));
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency")
        .x_labels(6)
        .y_labels(((y_max - y_min).round() as usize + 1).clamp(2, 8))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .light_line_style(RGBColor(242, 242, 242))
        .bold_line_style(RGBColor(225, 225, 225))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .draw()?;
    for line in lines {
        let points: Vec<(f64, f64)> = line
            .points
            .iter()
            .map(|&(x, y)| (x, y.max(LOG_FLOOR).log10()))
            .collect();
        chart.draw_series(LineSeries::new(
            points,
            line.color.plotters().stroke_width(2),
        ))?;
    }
    root.present()?;
    Ok(())
}

/// The percentile at `nines` (0 → `0%`, 2 → `99%`, 5 → `99.999%`); only
/// whole nines get a label.
fn percentile_label(nines: f64) -> String {
    let n = nines.round();
    if (nines - n).abs() > 1e-6 {
        return String::new();
    }
    match n as i64 {
        0 => "0%".into(),
        1 => "90%".into(),
        k => format!("99.{}%", "9".repeat((k - 2).max(0) as usize)).replace(".%", "%"),
    }
}

/// Milliseconds for an axis label, three significant digits at most.
pub fn ms_label(ms: f64) -> String {
    if ms >= 1000.0 {
        trim(format!("{:.2}", ms / 1000.0)) + "s"
    } else if ms >= 1.0 {
        trim(format!("{ms:.1}")) + "ms"
    } else {
        trim(format!("{:.3}", ms)) + "ms"
    }
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The y range that holds every value; log ranges snap to whole decades.
fn y_range(values: impl Iterator<Item = f64>, scale: Scale) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return match scale {
            Scale::Linear => (0.0, 1.0),
            Scale::Log => (0.0, 1.0),
        };
    }
    match scale {
        Scale::Linear => (0.0, if hi > 0.0 { hi * 1.08 } else { 1.0 }),
        Scale::Log => {
            let (lo, hi) = (lo.floor(), hi.ceil());
            (lo, if hi > lo { hi } else { lo + 1.0 })
        }
    }
}

/// The SVG ready to inline in HTML: plotters' XML namespace declaration is
/// dropped (HTML does not need it, and the report holds no URL at all), and
/// the chart says what it is to screen readers. A chart that could not be
/// drawn becomes a sentence saying so.
fn finish(svg: String, drawn: Result<(), Box<dyn std::error::Error>>, what: &str) -> String {
    if let Err(e) = drawn {
        return format!(
            "<p class=\"note\">The {what} chart could not be drawn: {}.</p>",
            super::escape::escape(&e.to_string())
        );
    }
    let svg = svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
    svg.replacen(
        "<svg ",
        &format!("<svg class=\"chart\" role=\"img\" aria-label=\"{what} chart\" "),
        1,
    )
}

#[cfg(test)]
mod tests {
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
            restart: false,
        }];
        let chart = TimeChart {
            y_desc: "requests/s",
            x_max: 10.0,
            lines: &lines,
            bands: &bands,
            scale: Scale::Linear,
            y_label: |v| format!("{v:.0}"),
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
}
