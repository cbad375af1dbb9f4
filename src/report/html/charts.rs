//! Charts of the HTML report, drawn by plotters into SVG text.
//!
//! Two shapes cover every chart: a time series over the run clock with the
//! faults drawn as shaded, numbered bands, and HdrHistogram's percentile
//! spectrum. No text that came from the run goes into an SVG: series are told
//! apart by colour and named in an HTML legend beside the chart (where
//! [`super::escape::escape`] applies), and fault bands carry our own labels
//! (`fault:0`, `fault:1`, …, as SLO filters name them) that the fault table explains.
//!
//! Log axes are drawn as linear axes over `log10(value)` with labels that
//! print `10^v`: one code path for both scales, and ticks that fall on whole
//! decades when the range spans whole decades.
//!
//! Ticks are chosen here, not by plotters: steps of 1, 2 or 5 × 10^k (whole
//! numbers for counts, whole seconds on the time axis, whole decades on a log
//! axis), printed with as many decimals as the step needs, so no two labels
//! of an axis read the same.
//!
//! A point whose `y` is NaN breaks its line: the points on either side are not
//! joined (a second without answers leaves a gap in a latency line).

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
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
/// Margin around every chart, px.
pub const MARGIN: u32 = 8;
/// Right margin of a time series, px (room for the last x label).
pub const MARGIN_RIGHT: u32 = 28;
/// Width of the y label area, px.
pub const Y_LABEL_AREA: u32 = 70;

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
/// for a mark (a restart, a pool event), a line at `start_s`.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub start_s: f64,
    pub end_s: f64,
    /// Short label drawn at the top of the band (`fault:0`, `R1`); ours, never run text.
    pub label: String,
    pub kind: BandKind,
}

/// What a band shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandKind {
    /// A fault: shaded.
    Fault,
    /// A replaced instance came back here: a green line.
    Restart,
    /// A gateway's pool took an instance out (ejected, failing checks): an orange line.
    PoolOut,
    /// A gateway's pool took it back (readmitted, passing checks): a blue line.
    PoolIn,
}

impl BandKind {
    /// The colour of a mark's line and of its label.
    fn mark_color(self) -> RGBColor {
        match self {
            BandKind::Fault => RGBColor(160, 20, 20),
            BandKind::Restart => RGBColor(20, 120, 20),
            BandKind::PoolOut => RGBColor(230, 110, 0),
            BandKind::PoolIn => RGBColor(31, 119, 180),
        }
    }
}

/// How the y axis maps values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log,
}

/// What the y values of a time series are, for their tick labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YUnit {
    /// Requests (per second): ticks on whole numbers.
    Count,
    /// A percentage: ticks with the decimals their step needs, and a `%`.
    Percent,
    /// Milliseconds (on a log axis: whole decades).
    Ms,
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
    /// What a y value is, for the axis labels.
    pub y_unit: YUnit,
}

/// Draw a time series chart as SVG text.
pub fn time_series(c: &TimeChart<'_>) -> String {
    let map = |y: f64| match c.scale {
        Scale::Linear => y,
        Scale::Log => y.max(LOG_FLOOR).log10(),
    };
    let ys = c.lines.iter().flat_map(|l| {
        l.points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|p| map(p.1))
    });
    let y = match c.scale {
        Scale::Linear => linear_axis(ys, c.y_unit),
        Scale::Log => log_axis(ys),
    };
    let x_max = c.x_max.max(1.0);
    let mut svg = String::new();
    let drawn = draw_time_series(&mut svg, c, x_max, &y, &map);
    finish(svg, drawn, "time series")
}

/// An axis: its range and its labelled ticks.
#[derive(Debug, Clone, PartialEq)]
struct Axis {
    min: f64,
    max: f64,
    ticks: Vec<f64>,
    labels: Vec<String>,
}

impl Axis {
    /// The label of the tick at `v` (plotters asks with the tick's own value).
    fn label(&self, v: f64) -> String {
        self.ticks
            .iter()
            .position(|t| (t - v).abs() <= 1e-9 * (1.0 + t.abs()))
            .map_or_else(String::new, |i| self.labels[i].clone())
    }
}

/// A linear f64 coordinate whose ticks (and grid lines) are the axis's own.
#[derive(Clone)]
struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(min: f64, max: f64, ticks: &[f64]) -> Self {
        Ticked {
            inner: (min..max).into(),
            ticks: ticks.to_vec(),
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

/// Ticks `0, step, 2·step, …` up to the first at or above `hi`, with a step of
/// 1, 2 or 5 × 10^k giving at most six intervals (at least 1 when `whole`), and
/// the number of decimals that step needs to print.
pub fn linear_ticks(hi: f64, whole: bool) -> (Vec<f64>, usize) {
    let hi = if hi.is_finite() && hi > 0.0 { hi } else { 1.0 };
    let raw = hi / 6.0;
    let mag = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * (1.0 - 1e-12))
        .unwrap_or(10.0 * mag);
    if whole {
        step = step.max(1.0).round();
    }
    let n = ((hi / step) * (1.0 - 1e-12)).ceil().max(1.0) as usize;
    let ticks = (0..=n).map(|i| i as f64 * step).collect();
    let decimals = (0..12)
        .find(|d| {
            let scaled = step * 10f64.powi(*d);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(12) as usize;
    (ticks, decimals)
}

/// A linear axis from 0 over `values`, with a little room above the highest.
fn linear_axis(values: impl Iterator<Item = f64>, unit: YUnit) -> Axis {
    let hi = values.fold(0f64, f64::max);
    let (ticks, decimals) = linear_ticks(hi * 1.04, unit == YUnit::Count);
    let suffix = if unit == YUnit::Percent { "%" } else { "" };
    let labels = ticks
        .iter()
        .map(|t| format!("{t:.decimals$}{suffix}"))
        .collect();
    Axis {
        min: 0.0,
        max: *ticks.last().unwrap_or(&1.0),
        ticks,
        labels,
    }
}

/// A log axis (values are `log10(ms)`) over whole decades, a tick on each
/// decade (every other one past eight), labelled in ms or s.
fn log_axis(values: impl Iterator<Item = f64>) -> Axis {
    let (min, max) = y_range(values, Scale::Log);
    let decades = (max - min).round().max(1.0) as i64;
    let every = if decades > 8 { 2 } else { 1 };
    let ticks: Vec<f64> = (0..=decades)
        .step_by(every)
        .map(|k| min + k as f64)
        .collect();
    let labels = ticks.iter().map(|t| ms_label(10f64.powf(*t))).collect();
    Axis {
        min,
        max,
        ticks,
        labels,
    }
}

/// Whole-second ticks over `0..=x_max`: every 1, 2, 5, 10, 15, 30 or 60 s
/// (then whole minutes), at most twelve intervals.
fn time_axis(x_max: f64) -> Axis {
    let steps = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0];
    let step = steps
        .iter()
        .copied()
        .find(|s| x_max / s <= 12.0)
        .unwrap_or_else(|| (x_max / 12.0 / 600.0).ceil() * 600.0);
    let n = (x_max / step + 1e-9).floor() as usize;
    let ticks: Vec<f64> = (0..=n).map(|i| i as f64 * step).collect();
    let labels = ticks.iter().map(|t| format!("{t:.0}s")).collect();
    Axis {
        min: 0.0,
        max: x_max,
        ticks,
        labels,
    }
}

/// The runs of finite points of a line, each drawn on its own.
fn segments(points: &[(f64, f64)]) -> impl Iterator<Item = &[(f64, f64)]> {
    points
        .split(|p| !p.1.is_finite() || !p.0.is_finite())
        .filter(|run| !run.is_empty())
}

fn draw_time_series(
    svg: &mut String,
    c: &TimeChart<'_>,
    x_max: f64,
    y: &Axis,
    map: &dyn Fn(f64) -> f64,
) -> Drawn {
    let (y_min, y_max) = (y.min, y.max);
    let x = time_axis(x_max);
    let root = SVGBackend::with_string(svg, (WIDTH, SERIES_HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(MARGIN)
        // Room for the last x label, which plotters would clip.
        .margin_right(MARGIN_RIGHT)
        .x_label_area_size(34)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(
            Ticked::new(0.0, x_max, &x.ticks),
            Ticked::new(y_min, y_max, &y.ticks),
        )?;
    let y_fmt = |v: &f64| y.label(*v);
    let x_fmt = |v: &f64| x.label(*v);
    chart
        .configure_mesh()
        .x_desc("seconds since the start of the run")
        .y_desc(c.y_desc)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .light_line_style(RGBColor(242, 242, 242))
        .bold_line_style(RGBColor(225, 225, 225))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .draw()?;
    draw_bands(&mut chart, c.bands, x_max, y)?;
    for line in c.lines {
        for run in segments(&line.points) {
            let points: Vec<(f64, f64)> = run.iter().map(|&(x, y)| (x, map(y))).collect();
            chart.draw_series(LineSeries::new(
                points,
                line.color.plotters().stroke_width(2),
            ))?;
        }
    }
    draw_band_labels(&mut chart, c.bands, x_max, y)?;
    root.present()?;
    Ok(())
}

/// What a drawing step gives: plotters' error, boxed, when it fails.
type Drawn = Result<(), Box<dyn std::error::Error>>;

/// The time chart's drawing area, in seconds × the y axis' values.
type TimeChartArea<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Ticked, Ticked>>;

/// The faults' bands (shaded, with an edge at their start) and the restarts' lines.
fn draw_bands(chart: &mut TimeChartArea<'_, '_>, bands: &[Band], x_max: f64, y: &Axis) -> Drawn {
    let (y_min, y_max) = (y.min, y.max);
    let shade = RGBAColor(214, 39, 40, 0.13).filled();
    let edge = RGBAColor(214, 39, 40, 0.55).stroke_width(1);
    let restart = RGBAColor(44, 160, 44, 0.8).stroke_width(2);
    for b in bands.iter().filter(|b| b.kind != BandKind::Fault) {
        let x = b.start_s.clamp(0.0, x_max);
        let style = match b.kind {
            BandKind::Restart => restart,
            k => k.mark_color().stroke_width(2),
        };
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x, y_min), (x, y_max)],
            style,
        )))?;
    }
    for b in bands.iter().filter(|b| b.kind == BandKind::Fault) {
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
    Ok(())
}

/// The bands' labels at the top of the chart.
fn draw_band_labels(
    chart: &mut TimeChartArea<'_, '_>,
    bands: &[Band],
    x_max: f64,
    y: &Axis,
) -> Drawn {
    let (y_min, y_max) = (y.min, y.max);
    // Labels of close events go on rows below each other instead of overprinting.
    let mut placed: Vec<f64> = Vec::new();
    for b in bands {
        let x = b.start_s.clamp(0.0, x_max);
        let row = placed
            .iter()
            .filter(|p| (x - **p).abs() < x_max / 30.0)
            .count();
        placed.push(x);
        let label_y = y_max - (y_max - y_min) * (0.02 + 0.09 * row as f64);
        let color = b.kind.mark_color();
        chart.draw_series(std::iter::once(Text::new(
            b.label.clone(),
            (x, label_y),
            (FONT, 12).into_font().color(&color),
        )))?;
    }
    Ok(())
}

/// HdrHistogram's percentile spectrum: x is the percentile on a log scale of
/// its complement (0%, 90%, 99%, … 99.999%), y the latency in ms on a log axis.
/// Each line's points are `(nines, ms)` where `nines = −log10(1 − q)`.
pub fn spectrum(lines: &[Line]) -> String {
    let ys = lines.iter().flat_map(|l| {
        l.points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|p| p.1.max(LOG_FLOOR).log10())
    });
    let y = log_axis(ys);
    let mut svg = String::new();
    let drawn = draw_spectrum(&mut svg, lines, &y);
    finish(svg, drawn, "percentile spectrum")
}

fn draw_spectrum(svg: &mut String, lines: &[Line], y: &Axis) -> Drawn {
    let root = SVGBackend::with_string(svg, (WIDTH, SPECTRUM_HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(MARGIN)
        .margin_right(40)
        .x_label_area_size(34)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(
            Ticked::new(0.0, 5.0, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
            Ticked::new(y.min, y.max, &y.ticks),
        )?;
    let x_fmt = |v: &f64| percentile_label(*v);
    let y_fmt = |v: &f64| y.label(*v);
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency")
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .light_line_style(RGBColor(242, 242, 242))
        .bold_line_style(RGBColor(225, 225, 225))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .draw()?;
    for line in lines {
        for run in segments(&line.points) {
            let points: Vec<(f64, f64)> = run
                .iter()
                .map(|&(x, y)| (x, y.max(LOG_FLOOR).log10()))
                .collect();
            chart.draw_series(LineSeries::new(
                points,
                line.color.plotters().stroke_width(2),
            ))?;
        }
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
fn finish(svg: String, drawn: Drawn, what: &str) -> String {
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
#[path = "charts_unit_tests.rs"]
mod tests;
