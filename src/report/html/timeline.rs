//! The chart sections of the report: the latency spectrum, the time series
//! with fault bands, per-tenant throttling and per-instance traffic.
//! Each chart has an HTML legend (names escaped) and, over time, the same
//! numbered fault bands that the fault legend explains.

use std::fmt::Write;

use super::charts::{self, Band, BandKind, Line, Scale, TimeChart, YUnit};
use super::escape::escape as e;
use super::sections::{latency_table, opt};
use super::series::{self, FaultBand, Named};
use crate::format::group_digits;
use crate::results::RunResults;
use crate::summary::Summary;

/// Most tenant charts on one page.
const MAX_TENANT_CHARTS: usize = 8;

/// One chart with its title and legend.
fn figure(html: &mut String, title: &str, svg: &str, legend: &[Named]) {
    figure_noted(html, title, None, svg, legend);
}

/// One chart with its title, a note under the title, and its legend.
fn figure_noted(html: &mut String, title: &str, note: Option<&str>, svg: &str, legend: &[Named]) {
    let _ = write!(html, "<figure><figcaption>{}", e(title));
    if let Some(note) = note {
        let _ = write!(html, "<span class=\"note caption-note\">{}</span>", e(note));
    }
    let _ = write!(html, "</figcaption>{svg}");
    if !legend.is_empty() {
        html.push_str("<ul class=\"legend\">");
        for n in legend {
            let _ = write!(
                html,
                "<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
                n.line.color.hex(),
                e(&n.name)
            );
        }
        html.push_str("</ul>");
    }
    html.push_str("</figure>");
}

fn lines(named: &[Named]) -> Vec<Line> {
    named.iter().map(|n| n.line.clone()).collect()
}

fn chart(
    named: &[Named],
    bands: &[Band],
    x_max: f64,
    y_desc: &'static str,
    scale: Scale,
    y_unit: YUnit,
) -> String {
    charts::time_series(&TimeChart {
        y_desc,
        x_max,
        lines: &lines(named),
        bands,
        scale,
        y_unit,
    })
}

/// Latency: percentile table and the HdrHistogram percentile spectrum.
pub fn latency(html: &mut String, s: &Summary, r: &RunResults) {
    html.push_str("<section id=\"latency\"><h2>Latency</h2><p class=\"note\">Latency counts from the instant the schedule meant to send each request (coordinated-omission free); service time from the actual send.</p>");
    latency_table(html, s);
    let mut named = Vec::new();
    if let Ok(h) = r.recording.latency() {
        named.push(Named {
            name: "latency from the intended send".into(),
            line: Line {
                color: charts::PALETTE[0],
                points: series::spectrum(&h.0),
            },
        });
    }
    if let Ok(h) = r.recording.service() {
        named.push(Named {
            name: "service time".into(),
            line: Line {
                color: charts::PALETTE[1],
                points: series::spectrum(&h.0),
            },
        });
    }
    named.retain(|n| !n.line.points.is_empty());
    figure(
        html,
        "Percentile spectrum (HdrHistogram), log axes out to 99.999%",
        &charts::spectrum(&lines(&named)),
        &named,
    );
    html.push_str("</section>\n");
}

/// The fault legend: what each numbered band is.
fn fault_legend(html: &mut String, faults: &[FaultBand]) {
    if faults.is_empty() {
        html.push_str("<p class=\"note\">No fault ran: the charts have no fault band.</p>");
        return;
    }
    html.push_str("<table class=\"faults\"><thead><tr><th>band</th><th>event</th><th>targets</th><th>from</th><th>to</th></tr></thead><tbody>");
    for f in faults {
        let _ = write!(
            html,
            "<tr><td><span class=\"{}>{}</span></td><td>{}</td><td><code>{}</code></td><td class=\"num\">{:.1} s</td><td class=\"num\">{}</td></tr>",
            match f.band.kind {
                BandKind::Fault => "band\"",
                BandKind::Restart => "band restart\"",
                // Pool marks: the stylesheet (shared with older reports) has no class for them.
                BandKind::PoolOut =>
                    "band\" style=\"background:rgba(230,110,0,.15);border-left-color:#e66e00;color:#8a4200\"",
                BandKind::PoolIn =>
                    "band\" style=\"background:rgba(31,119,180,.15);border-left-color:#1f77b4;color:#124a70\"",
            },
            e(&f.band.label),
            e(&f.action),
            e(&f.targets.join(", ")),
            f.band.start_s,
            opt(f.reverted_at_s, |t| format!("{t:.1} s")),
        );
    }
    html.push_str("</tbody></table>");
}

/// Time series with fault bands: throughput by outcome, p50/p99 per second,
/// error rate and in-flight requests.
pub fn time_series(html: &mut String, r: &RunResults, faults: &[FaultBand]) {
    let bands: Vec<Band> = faults.iter().map(|f| f.band.clone()).collect();
    let x_max = r.recording.duration_s;
    let note = series::tail_note(r);
    html.push_str("<section id=\"timeseries\"><h2>Over time</h2>");
    fault_legend(html, faults);
    let throughput = series::throughput(r);
    figure_noted(
        html,
        "Answers per second by outcome",
        Some(&note),
        &chart(
            &throughput,
            &bands,
            x_max,
            "requests/s",
            Scale::Linear,
            YUnit::Count,
        ),
        &throughput,
    );
    let latency = series::latency(r);
    figure_noted(
        html,
        "Latency per second (from the intended send), log axis",
        Some(&note),
        &chart(&latency, &bands, x_max, "latency", Scale::Log, YUnit::Ms),
        &latency,
    );
    let errors = series::error_rate(r);
    figure_noted(
        html,
        "Error rate per second",
        Some(&note),
        &chart(
            &errors,
            &bands,
            x_max,
            "% bad",
            Scale::Linear,
            YUnit::Percent,
        ),
        &errors,
    );
    let in_flight = series::in_flight(r);
    figure_noted(
        html,
        "Requests in flight (waiting + sent), highest per second",
        Some(&note),
        &chart(
            &in_flight,
            &bands,
            x_max,
            "requests",
            Scale::Linear,
            YUnit::Count,
        ),
        &in_flight,
    );
    html.push_str("</section>\n");
}

/// "N of M" for a header check.
fn header_check(c: crate::summary::HeaderCheck) -> String {
    format!(
        "{} of {}",
        group_digits(c.off_by_more_than_one),
        group_digits(c.checked)
    )
}

/// Per-tenant throttling over time and the accuracy table.
pub fn tenants(html: &mut String, s: &Summary, r: &RunResults, faults: &[FaultBand]) {
    html.push_str("<section id=\"tenants\"><h2>Tenant throttling</h2>");
    if s.tenants.is_empty() {
        html.push_str("<p>No tenant traffic was sent.</p></section>\n");
        return;
    }
    html.push_str("<p class=\"note\">The model runs each tenant's plan (token bucket and quota) over the actual send times: it admits what a perfect gateway would. Wrongful 429s, over-admissions and header checks hold for every instant the gateway may have seen each request (between its send and its answer): they count only what no exact limiter could have done.</p>");
    html.push_str("<table><thead><tr><th>tenant</th><th>offered</th><th>admitted</th><th>model admitted</th><th>accuracy error</th><th>wrongful 429s</th><th>over-admitted</th><th>Retry-After off by &gt; 1 s</th><th>RateLimit-Remaining off by &gt; 1</th></tr></thead><tbody>");
    for t in &s.tenants {
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            e(&t.id),
            group_digits(t.offered),
            group_digits(t.admitted),
            group_digits(t.model_admitted),
            opt(t.accuracy_error, |a| format!("{:+.2}%", a * 100.0)),
            group_digits(t.wrongful_throttles),
            group_digits(t.over_admitted),
            opt(t.retry_after, header_check),
            opt(t.ratelimit_remaining, header_check),
        );
    }
    html.push_str("</tbody></table>");
    if !series::has_tenant_seconds(r) {
        html.push_str("<p class=\"note\">These results carry no per-second tenant series (recorded by an older ninefold): totals only.</p></section>\n");
        return;
    }
    let bands: Vec<Band> = faults.iter().map(|f| f.band.clone()).collect();
    let note = series::tail_note(r);
    // One chart per tenant, for the busiest few: a page of fifty charts helps nobody.
    let mut busiest: Vec<_> = s.tenants.iter().collect();
    busiest.sort_by(|a, b| b.offered.cmp(&a.offered).then_with(|| a.id.cmp(&b.id)));
    if busiest.len() > MAX_TENANT_CHARTS {
        let _ = write!(
            html,
            "<p class=\"note\">Charts for the {MAX_TENANT_CHARTS} busiest of {} tenants; the table has them all.</p>",
            busiest.len()
        );
        busiest.truncate(MAX_TENANT_CHARTS);
    }
    for t in busiest {
        let named = series::tenant(r, &t.id);
        figure_noted(
            html,
            &format!("Tenant {}: requests per second", t.id),
            Some(&note),
            &chart(
                &named,
                &bands,
                r.recording.duration_s,
                "requests/s",
                Scale::Linear,
                YUnit::Count,
            ),
            &named,
        );
    }
    html.push_str("</section>\n");
}

/// Per-instance traffic over time (who served during a kill and after the restart).
pub fn instances(html: &mut String, s: &Summary, r: &RunResults, faults: &[FaultBand]) {
    html.push_str("<section id=\"instances\"><h2>Instances</h2>");
    if s.instances.is_empty() {
        html.push_str("<p>No instance was known or named itself.</p></section>\n");
        return;
    }
    html.push_str("<table><thead><tr><th>instance</th><th>zone</th><th>answers served</th></tr></thead><tbody>");
    for i in &s.instances {
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td></tr>",
            e(&i.name),
            e(i.zone.as_deref().unwrap_or("–")),
            group_digits(i.served),
        );
    }
    html.push_str("</tbody></table>");
    let named = series::instances(r);
    if named.is_empty() {
        html.push_str("<p class=\"note\">No answer carried an <code>X-Backend-Instance</code> header, so traffic per instance over time is unknown.</p>");
    } else {
        let bands: Vec<Band> = faults.iter().map(|f| f.band.clone()).collect();
        let note = series::tail_note(r);
        figure_noted(
            html,
            "Answers per second by serving instance (X-Backend-Instance)",
            Some(&note),
            &chart(
                &named,
                &bands,
                r.recording.duration_s,
                "requests/s",
                Scale::Linear,
                YUnit::Count,
            ),
            &named,
        );
    }
    html.push_str("</section>\n");
}
