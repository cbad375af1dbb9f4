//! The table and text sections of the report: verdict, SLOs, availability,
//! latency percentiles, failover, integrity, the scenario as run and the run's
//! metadata. Each writes one `<section>`; every run-supplied string goes
//! through [`e`] (the report's one escaping function).

use std::fmt::Write;

use super::escape::escape as e;
use crate::analysis::slo::{RunVerdict, Verdict};
use crate::format::{format_percent, format_value, group_digits, human_span};
use crate::results::RunResults;
use crate::scenario::model::Scenario;
use crate::scenario::slo::Unit;
use crate::summary::{Percentiles, RecoveryState, Summary};

/// `–` for a missing value, else `show(value)`.
pub fn opt<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "–".to_string(), show)
}

fn secs(s: f64) -> String {
    format_value(Unit::Duration, s)
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Inconclusive => "inconclusive",
        Verdict::NotMeasured => "unmeasured",
    }
}

fn run_class(v: RunVerdict) -> &'static str {
    match v {
        RunVerdict::Pass => "pass",
        RunVerdict::Fail => "fail",
        RunVerdict::Inconclusive => "inconclusive",
        RunVerdict::Invalid | RunVerdict::Broken | RunVerdict::Interrupted => "invalid",
    }
}

/// The one-line reason for the run's verdict.
pub fn reason(s: &Summary) -> String {
    let named = |v: Verdict| -> Vec<&str> {
        s.slos
            .iter()
            .filter(|x| x.verdict == v)
            .map(|x| x.name.as_str())
            .collect()
    };
    let list = |names: &[&str]| names.join(", ");
    match s.verdict {
        RunVerdict::Pass if s.slos.is_empty() => {
            "the run completed; the scenario sets no SLO".into()
        }
        RunVerdict::Pass => format!("all {} SLOs met", s.slos.len()),
        RunVerdict::Fail => {
            let failed = named(Verdict::Fail);
            format!(
                "{} of {} SLOs failed: {}",
                failed.len(),
                s.slos.len(),
                list(&failed)
            )
        }
        RunVerdict::Inconclusive => {
            let mut undecided = named(Verdict::Inconclusive);
            undecided.extend(named(Verdict::NotMeasured));
            format!(
                "too little evidence to judge {} of {} SLOs: {}",
                undecided.len(),
                s.slos.len(),
                list(&undecided)
            )
        }
        RunVerdict::Invalid => format!(
            "the generator could not keep its schedule ({} request(s) dropped): the numbers cannot be trusted",
            group_digits(s.requests.dropped)
        ),
        RunVerdict::Broken => "the run broke part-way; whatever was measured is partial".into(),
        RunVerdict::Interrupted => {
            "verdict withheld: the run was interrupted, so these numbers cover only part of it"
                .into()
        }
    }
}

/// Verdict banner: the run's verdict, its reason, and every warning.
pub fn verdict(html: &mut String, s: &Summary) {
    let _ = write!(
        html,
        "<section id=\"verdict\" class=\"banner {}\"><div class=\"word\">{}{}</div><div><p class=\"reason\">{}</p><p class=\"sub\">scenario <b>{}</b> · exit code {} · {} requests sent in {:.1} s</p>",
        run_class(s.verdict),
        s.verdict.label(),
        if s.partial { " · PARTIAL" } else { "" },
        e(&reason(s)),
        e(&s.scenario),
        s.exit_code,
        group_digits(s.requests.sent),
        s.duration_s,
    );
    if !s.warnings.is_empty() {
        html.push_str("<ul class=\"warnings\">");
        for w in &s.warnings {
            let _ = write!(html, "<li>{}</li>", e(w));
        }
        html.push_str("</ul>");
    }
    html.push_str("</div></section>\n");
}

/// SLO table: objective, measured, verdict, why.
pub fn slos(html: &mut String, s: &Summary) {
    html.push_str("<section id=\"slos\"><h2>Service level objectives</h2>");
    if s.slos.is_empty() {
        html.push_str("<p>The scenario sets no SLO.</p></section>\n");
        return;
    }
    html.push_str("<table><thead><tr><th>SLO</th><th>objective</th><th>measured</th><th>bounds</th><th>verdict</th><th>why</th></tr></thead><tbody>");
    for slo in &s.slos {
        let unit = slo.unit.into();
        let bounds = match (slo.lower_bound, slo.upper_bound) {
            (Some(l), Some(u)) => format!("{} – {}", format_value(unit, l), format_value(unit, u)),
            _ => "–".into(),
        };
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td><span class=\"pill {}\">{}</span></td><td>{}</td></tr>",
            e(&slo.name),
            e(&slo.objective),
            e(slo.measured_display.as_deref().unwrap_or("–")),
            e(&bounds),
            verdict_class(slo.verdict),
            slo.verdict.label(),
            e(&slo.detail),
        );
    }
    html.push_str("</tbody></table></section>\n");
}

/// Availability: nines, bounds, requests needed, downtime per year, error budget.
pub fn availability(html: &mut String, s: &Summary) {
    let a = &s.availability;
    html.push_str("<section id=\"availability\"><h2>Availability</h2>");
    let Some(ratio) = a.ratio else {
        html.push_str("<p>No eligible request was sent.</p></section>\n");
        return;
    };
    let conf = format!("{}%", a.confidence * 100.0);
    let nines = if a.perfect {
        "∞ (no failure)".to_string()
    } else {
        opt(a.nines, |n| format!("{n:.2}"))
    };
    let _ = write!(
        html,
        "<div class=\"cards\"><div class=\"card\"><div class=\"k\">observed</div><div class=\"v\">{}</div><div class=\"s\">{} nines · {} of {} good</div></div>\
         <div class=\"card\"><div class=\"k\">lower bound ({conf}, one-sided)</div><div class=\"v\">{}</div><div class=\"s\">{} nines demonstrated</div></div>\
         <div class=\"card\"><div class=\"k\">upper bound ({conf}, one-sided)</div><div class=\"v\">{}</div><div class=\"s\">Clopper–Pearson</div></div>\
         <div class=\"card\"><div class=\"k\">downtime per year</div><div class=\"v\">{}</div><div class=\"s\">{} at the lower bound</div></div></div>",
        format_percent(ratio),
        nines,
        group_digits(a.good),
        group_digits(a.eligible),
        opt(a.lower_bound, format_percent),
        opt(a.lower_bound_nines, |n| format!("{n:.2}")),
        opt(a.upper_bound, format_percent),
        opt(a.downtime_per_year_s, human_span),
        opt(a.downtime_per_year_upper_s, human_span),
    );
    html.push_str("<table class=\"kv\"><tbody>");
    let row = |html: &mut String, k: &str, v: String| {
        let _ = write!(
            html,
            "<tr><th>{k}</th><td class=\"num\">{}</td></tr>",
            e(&v)
        );
    };
    match a.target {
        Some(target) => {
            row(html, "target", format_percent(target));
            row(
                html,
                "requests needed to demonstrate the target (all good)",
                opt(a.requests_to_demonstrate, group_digits),
            );
            row(
                html,
                "more requests at this failure rate to settle the verdict",
                opt(a.more_requests_to_settle, group_digits),
            );
            row(
                html,
                "time-based (share of 1 s windows meeting the target)",
                opt(a.time_based, format_percent),
            );
            let budget = opt(a.error_budget_consumed, |b| format!("{:.1}%", b * 100.0));
            let _ = write!(
                html,
                "<tr><th>error budget used</th><td class=\"num\">{}{}</td></tr>",
                e(&budget),
                a.error_budget_consumed.map_or(String::new(), |b| format!(
                    "<div class=\"meter\"><div style=\"width:{:.1}%\"></div></div>",
                    (b * 100.0).clamp(0.0, 100.0)
                )),
            );
            row(html, "burn rate", opt(a.burn_rate, |b| format!("{b:.2}")));
            row(
                html,
                "peak burn rate over 60 s",
                opt(a.peak_burn_rate_60s, |b| format!("{b:.2}")),
            );
        }
        None => row(
            html,
            "target",
            "none: the scenario has no run-wide availability SLO".into(),
        ),
    }
    html.push_str("</tbody></table></section>\n");
}

/// Where the requests went: outcomes by request class (method + path
/// template) × status, with an example body of each status that was not `ok`.
pub fn classes(html: &mut String, s: &Summary) {
    html.push_str("<section id=\"classes\"><h2>Requests by class</h2>");
    if s.breakdown.is_empty() {
        html.push_str("<p>No request was recorded.</p></section>\n");
        return;
    }
    html.push_str("<p class=\"note\">Outcomes by request class (method and path template as the scenario writes them) and status. One example body is kept per class and status that was not <code>ok</code> (its first 512 bytes).</p>");
    html.push_str("<table class=\"classes\"><thead><tr><th>class</th><th>sent</th><th>bad</th><th>status</th><th>outcome</th><th>count</th><th>example body</th></tr></thead><tbody>");
    for c in &s.breakdown {
        let span = c.rows.len().max(1);
        let _ = write!(
            html,
            "<tr><td rowspan=\"{span}\"><code>{} {}</code></td><td class=\"num\" rowspan=\"{span}\">{}</td><td class=\"num\" rowspan=\"{span}\">{}</td>",
            e(&c.method),
            e(&c.path),
            group_digits(c.sent),
            group_digits(c.bad),
        );
        if c.rows.is_empty() {
            html.push_str("<td colspan=\"4\">–</td></tr>");
        }
        for (i, r) in c.rows.iter().enumerate() {
            if i > 0 {
                html.push_str("<tr>");
            }
            let body = r.example_body.as_deref().map_or_else(
                || "–".to_string(),
                |b| {
                    format!(
                        "<code class=\"body\">{}{}</code>",
                        e(b),
                        if r.example_truncated { "…" } else { "" }
                    )
                },
            );
            let body = match &r.reason {
                Some(reason) => format!("<div class=\"reason\">{}</div>{body}", e(reason)),
                None => body,
            };
            let _ = write!(
                html,
                "<td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td>{body}</td></tr>",
                e(&r.status_text()),
                e(r.outcome.as_deref().unwrap_or("–")),
                group_digits(r.count),
            );
        }
    }
    html.push_str("</tbody></table></section>\n");
}

/// Percentile table: intended-time latency beside service time.
pub fn latency_table(html: &mut String, s: &Summary) {
    html.push_str("<table><thead><tr><th>percentile</th><th>latency from the intended send (ms)</th><th>service time from the actual send (ms)</th></tr></thead><tbody>");
    type Pick = fn(&Percentiles) -> f64;
    let pick: [(&str, Pick); 5] = [
        ("p50", |p| p.p50),
        ("p90", |p| p.p90),
        ("p99", |p| p.p99),
        ("p99.9", |p| p.p999),
        ("max", |p| p.max),
    ];
    let cell = |p: Option<Percentiles>, f: fn(&Percentiles) -> f64| {
        p.filter(|p| p.count > 0)
            .map_or_else(|| "–".into(), |p| format!("{:.2}", f(&p)))
    };
    for (name, f) in pick {
        let _ = write!(
            html,
            "<tr><th>{name}</th><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            cell(s.latency_ms, f),
            cell(s.service_time_ms, f),
        );
    }
    let _ = write!(
        html,
        "<tr><th>answers</th><td class=\"num\">{}</td><td class=\"num\">{}</td></tr></tbody></table>",
        opt(s.latency_ms.map(|p| p.count), group_digits),
        opt(s.service_time_ms.map(|p| p.count), group_digits),
    );
    connection_setup(html, s);
}

/// Connection set-up (TCP connect, TLS handshake), when it was measured.
fn connection_setup(html: &mut String, s: &Summary) {
    let Some(c) = &s.connection_setup_ms else {
        return;
    };
    html.push_str("<table><thead><tr><th>connection set-up (ms)</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>connections</th></tr></thead><tbody>");
    let rows = [
        ("TCP connect", Some(c.tcp_connect)),
        ("TLS handshake", c.tls_handshake),
    ];
    for (name, p) in rows {
        if let Some(p) = p {
            let _ = write!(
                html,
                "<tr><th>{name}</th><td class=\"num\">{:.2}</td><td class=\"num\">{:.2}</td><td class=\"num\">{:.2}</td><td class=\"num\">{:.2}</td><td class=\"num\">{:.2}</td><td class=\"num\">{}</td></tr>",
                p.p50,
                p.p90,
                p.p99,
                p.p999,
                p.max,
                group_digits(p.count)
            );
        }
    }
    html.push_str("</tbody></table>");
}

/// Failover table: what each fault did to the clients.
pub fn failover(html: &mut String, s: &Summary, r: &RunResults) {
    html.push_str("<section id=\"failover\"><h2>Failover</h2>");
    if s.faults.is_empty() {
        html.push_str("<p>No fault was injected.</p>");
    } else {
        html.push_str("<table><thead><tr><th>fault</th><th>action</th><th>target</th><th>at</th><th>reverted</th><th>first error after</th><th>error burst</th><th>bad requests</th><th>recovery</th><th>restarted instance serving after</th></tr></thead><tbody>");
        for f in &s.faults {
            let _ = write!(
                html,
                "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td class=\"num\">{:.1} s</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                super::series::fault_label(f.index),
                e(&f.action),
                e(&f.target),
                f.at_s,
                opt(f.reverted_at_s, |t| format!("{t:.1} s")),
                opt(f.time_to_first_error_s, secs),
                opt(f.error_burst_s, secs),
                opt(f.bad_requests, group_digits),
                e(&RecoveryState::describe(f)),
                opt(f.reintegration_s, secs),
            );
        }
        html.push_str("</tbody></table>");
        for f in &s.faults {
            if let Some(why) = &f.not_attributed {
                let _ = write!(html, "<p class=\"note\">F{}: {}.</p>", f.index + 1, e(why));
            }
        }
    }
    let failed: Vec<_> = r.faults.iter().filter(|f| f.error.is_some()).collect();
    if !failed.is_empty() {
        html.push_str("<h3>Fault steps that failed</h3><ul class=\"errors\">");
        for f in failed {
            let _ = write!(
                html,
                "<li><code>{}</code> {} at {:.1} s: <code>{}</code></li>",
                super::series::fault_label(f.fault),
                e(&f.action),
                f.at_s,
                e(f.error.as_deref().unwrap_or_default()),
            );
        }
        html.push_str("</ul>");
    }
    if !r.lifecycle.is_empty() {
        html.push_str("<details open><summary>Process lifecycle</summary><table><thead><tr><th>at</th><th>instance</th><th>event</th><th>detail</th></tr></thead><tbody>");
        for l in &r.lifecycle {
            let _ = write!(
                html,
                "<tr><td class=\"num\">{:.2} s</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                l.at_s,
                e(&l.instance),
                e(&format!("{:?}", l.event)),
                e(&l.detail),
            );
        }
        html.push_str("</tbody></table></details>");
    }
    html.push_str("</section>\n");
}

/// Integrity: acknowledged writes against the store read back.
pub fn integrity(html: &mut String, s: &Summary, r: &RunResults) {
    let i = &s.integrity;
    html.push_str("<section id=\"integrity\"><h2>Data integrity</h2>");
    let verdict = if !i.checked {
        "<span class=\"pill unmeasured\">NOT CHECKED</span>"
    } else if i.lost.unwrap_or(0) == 0 && i.duplicates == Some(0) {
        "<span class=\"pill pass\">INTACT</span>"
    } else {
        "<span class=\"pill fail\">DAMAGED</span>"
    };
    let _ = write!(
        html,
        "<table class=\"kv\"><tbody><tr><th>store read back and compared</th><td>{} {verdict}</td></tr><tr><th>acknowledged writes</th><td class=\"num\">{}</td></tr><tr><th>lost (acknowledged, absent from the store)</th><td class=\"num\">{}</td></tr><tr><th>duplicates (one idempotency key applied twice)</th><td class=\"num\">{}</td></tr></tbody></table>",
        if i.checked { "yes" } else { "no" },
        group_digits(i.acknowledged_writes),
        opt(i.lost, group_digits),
        opt(i.duplicates, group_digits),
    );
    if let Some(why) = &i.not_measured {
        let what = if i.through_api.is_some() {
            "In the stores"
        } else {
            "Lost and duplicated writes"
        };
        let _ = write!(
            html,
            "<p class=\"note\">{what}: not measured: {}.</p>",
            e(why)
        );
    } else if i.lost.is_none() {
        html.push_str("<p class=\"note\">Lost writes: not measured: no write was acknowledged, so none could be lost.</p>");
    }
    if let Some(api) = &i.through_api {
        let _ = write!(
            html,
            "<h3>Through the API {}</h3><p>{}.</p>",
            api_pill(api),
            e(&crate::report::integrity::headline(api))
        );
        for (label, items) in crate::report::integrity::examples(api, 50) {
            let _ = write!(html, "<p class=\"note\">{}:</p><ul>", e(&label));
            for item in items {
                let _ = write!(html, "<li><code>{}</code></li>", e(&item));
            }
            html.push_str("</ul>");
        }
    }
    for store in &r.stores {
        if let Some(err) = &store.error {
            let _ = write!(
                html,
                "<p class=\"error\">The store of pool <code>{}</code> could not be read back: <code>{}</code></p>",
                e(&store.pool),
                e(err),
            );
        }
    }
    html.push_str("</section>\n");
}

/// INTACT only when every write was read back and none was lost, duplicated or
/// changed; DAMAGED when one was; else not settled.
fn api_pill(api: &crate::summary::ApiIntegrity) -> &'static str {
    let bad = |v: Option<u64>| v.is_some_and(|n| n > 0);
    if bad(api.lost) || bad(api.duplicated) || bad(api.mismatched) {
        "<span class=\"pill fail\">DAMAGED</span>"
    } else if api.lost == Some(0) && api.not_read == 0 && api.not_listed == 0 {
        "<span class=\"pill pass\">INTACT</span>"
    } else {
        "<span class=\"pill unmeasured\">NOT SETTLED</span>"
    }
}

/// The scenario as run (secrets redacted) and the run's metadata.
pub fn scenario_and_metadata(
    html: &mut String,
    s: &Summary,
    scenario: &Scenario,
    scenario_toml: &str,
    r: &RunResults,
) {
    html.push_str("<section id=\"metadata\"><h2>Run</h2><table class=\"kv\"><tbody>");
    let row = |html: &mut String, k: &str, v: &str| {
        let _ = write!(html, "<tr><th>{k}</th><td>{}</td></tr>", e(v));
    };
    row(html, "scenario", &s.scenario);
    if !scenario.description.is_empty() {
        row(html, "description", &scenario.description);
    }
    row(html, "ninefold version", &s.ninefold_version);
    row(html, "seed", &s.seed.to_string());
    row(html, "started (UTC)", &s.started_at);
    row(html, "duration", &format!("{:.1} s", s.duration_s));
    row(html, "host CPU cores", &s.host_cores.to_string());
    row(
        html,
        "load-generator workers",
        &r.recording.workers.to_string(),
    );
    if (s.time_scale - 1.0).abs() > f64::EPSILON {
        row(
            html,
            "time scale",
            &format!(
                "×{} (every time in the scenario was scaled; the report shows the run clock)",
                s.time_scale
            ),
        );
    }
    row(
        html,
        "complete",
        if s.partial {
            "no: partial run (interrupted or broken)"
        } else {
            "yes"
        },
    );
    let r_ = &s.requests;
    row(
        html,
        "requests",
        &format!(
            "{} sent: {} ok, {} rejected as expected, {} failed; {} dropped",
            group_digits(r_.sent),
            group_digits(r_.ok),
            group_digits(r_.rejected),
            group_digits(r_.failed),
            group_digits(r_.dropped)
        ),
    );
    html.push_str("</tbody></table></section>\n");
    let _ = writeln!(
        html,
        "<section id=\"scenario\"><h2>Scenario as run</h2><p class=\"note\">Secrets (JWT secrets, tokens, API keys, credentials in store URLs) are redacted.</p><pre>{}</pre></section>",
        e(scenario_toml)
    );
}
