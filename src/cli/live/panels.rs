//! The dashboard's panels, drawn from one snapshot and the dashboard's state:
//! the run's clock with its fault timeline, rates, outcomes and latency per
//! second, tenants, instances, the SLOs' running state, and the events.
//! Every figure is the live feed's (exact merges of the workers' sealed
//! seconds); one not measured yet shows `—`.

use std::time::Duration;

use hdrhistogram::Histogram;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Wrap};

use super::state::{State, When};
use crate::analysis::availability::{Confidence, Estimate, error_budget_consumed};
use crate::format::format_percent;
use crate::metrics::Outcome;
use crate::run::watch::slo_counts;
use crate::scenario::slo::{Metric, Slo, Window};
use crate::traffic::live::{LiveSnapshot, SecondSummary};

/// Seconds the per-second table shows.
const TABLE_SECONDS: usize = 30;

/// One frame's inputs.
pub(super) struct View<'a> {
    pub title: &'a str,
    pub snap: Option<&'a LiveSnapshot>,
    pub state: &'a State,
    /// `q` was pressed: the run is stopping.
    pub stopping: bool,
}

impl View<'_> {
    pub fn render(&self, f: &mut Frame<'_>) {
        let rows = Layout::vertical([
            Constraint::Length(5),
            Constraint::Min(8),
            Constraint::Min(7),
            Constraint::Length(1),
        ])
        .split(f.area());
        f.render_widget(self.clock(rows[0].width), rows[0]);
        let mid = Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
            .split(rows[1]);
        f.render_widget(self.seconds(), mid[0]);
        f.render_widget(self.slos(), mid[1]);
        let low = Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)])
            .split(rows[2]);
        f.render_widget(self.who(), low[0]);
        f.render_widget(self.events(low[1]), low[1]);
        let keys = if self.stopping {
            " stopping: tearing down and writing what was measured; the verdict is withheld (exit 6)"
        } else {
            " q: stop the run (results written, verdict withheld, exit 6)"
        };
        f.render_widget(Paragraph::new(keys).style(dim()), rows[3]);
    }

    /// Elapsed / total, the fault timeline drawn on a bar, the rates.
    fn clock(&self, width: u16) -> Paragraph<'_> {
        let block = Block::default()
            .borders(Borders::ALL)
            .title(format!(" ninefold · {} ", self.title));
        let Some(s) = self.snap else {
            return Paragraph::new("waiting for the first second of traffic…").block(block);
        };
        let (now, total) = (s.now.elapsed, s.now.total);
        let bar_width = usize::from(width.saturating_sub(4)).max(10);
        let windows = self.state.faults();
        let cell = |i: usize| total.mul_f64(i as f64 / bar_width as f64);
        let bar: String = (0..bar_width)
            .map(|i| {
                let t = cell(i);
                let faulted = windows
                    .iter()
                    .any(|w| t + cell(1) > w.start && w.end.map_or(t <= w.start, |e| t < e));
                match (t < now, faulted) {
                    (true, true) => '▓',
                    (true, false) => '━',
                    (false, true) => '░',
                    (false, false) => '─',
                }
            })
            .collect();
        let mut faults = Vec::new();
        for w in &windows {
            let name = format!("#{} {} {}", w.fault, w.action, w.targets.join(","));
            faults.push(match w.when(now) {
                When::Past => Span::styled(format!("{name} ✓  "), dim()),
                When::Active => Span::styled(
                    format!(
                        "{name} ACTIVE{}  ",
                        w.end.map_or(String::new(), |e| format!(
                            ", ends in {}",
                            secs(e.saturating_sub(now))
                        ))
                    ),
                    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
                ),
                When::Next => Span::styled(
                    format!("{name} in {}  ", secs(w.start.saturating_sub(now))),
                    Style::default().fg(Color::Yellow),
                ),
            });
        }
        if faults.is_empty() {
            faults.push(Span::styled("no faults", dim()));
        }
        let achieved = last_complete(s).map(|x| x.outcomes.total());
        let rates = format!(
            "target {:.0} req/s · achieved {} req/s · dispatch lag {} ms{} · in flight {} · dropped {}{}",
            s.now.target_rate,
            achieved.map_or("—".into(), |n| n.to_string()),
            lag_ms(s.now.dispatch_lag_us),
            if self.state.behind { " (behind)" } else { "" },
            s.now.in_flight,
            s.now.dropped,
            if s.now.dropped > 0 {
                " (the generator fell behind: invalid run)"
            } else {
                ""
            },
        );
        let mut lines = vec![
            Line::from(format!("{} / {}   {bar}", secs(now), secs(total))),
            Line::from(faults),
            if self.state.behind {
                Line::styled(rates, Style::default().fg(Color::Yellow))
            } else {
                Line::from(rates)
            },
        ];
        if let Some(a) = &self.state.aborted {
            lines[2] = Line::styled(a.clone(), Style::default().fg(Color::Red));
        }
        Paragraph::new(lines).block(block)
    }

    /// Outcomes, latency and service time per second (the latest seconds).
    fn seconds(&self) -> Table<'_> {
        let header = Row::new([
            "s", "total", "ok", "rej", "5xx", "status", "t/o", "conn/io", "lat p50", "p99",
            "svc p50", "p99", "infl",
        ])
        .style(Style::default().add_modifier(Modifier::BOLD));
        let rows: Vec<Row<'_>> = self.snap.map_or_else(Vec::new, |s| {
            s.seconds
                .iter()
                .rev()
                .take(TABLE_SECONDS)
                .map(|x| {
                    let o = &x.outcomes;
                    let complete = s.complete_through.is_some_and(|c| x.second <= c);
                    let conn = o.get(Outcome::ConnectError) + o.get(Outcome::IoError);
                    Row::new([
                        format!("{}{}", x.second, if complete { "" } else { "…" }),
                        o.total().to_string(),
                        o.get(Outcome::Ok).to_string(),
                        o.get(Outcome::Rejected).to_string(),
                        o.get(Outcome::ServerError).to_string(),
                        o.get(Outcome::UnexpectedStatus).to_string(),
                        o.get(Outcome::Timeout).to_string(),
                        conn.to_string(),
                        ms(x.latency_p50_us),
                        ms(x.latency_p99_us),
                        ms(x.service_p50_us),
                        ms(x.service_p99_us),
                        x.in_flight_max.to_string(),
                    ])
                })
                .collect()
        });
        let widths = [
            Constraint::Length(4),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(4),
            Constraint::Length(4),
            Constraint::Length(6),
            Constraint::Length(4),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(4),
        ];
        Table::new(rows, widths)
            .header(header)
            .block(Block::default().borders(Borders::ALL).title(
            " per second (… may grow) · ms: latency from intended send, service from actual send ",
        ))
    }

    /// Each SLO's running state.
    fn slos(&self) -> Paragraph<'_> {
        let block = Block::default()
            .borders(Borders::ALL)
            .title(" SLOs so far ");
        let (Some(s), Some(sc)) = (self.snap, self.state.scenario.as_deref()) else {
            return Paragraph::new("—").block(block);
        };
        let lines: Vec<Line<'_>> = sc
            .slos
            .iter()
            .map(|slo| slo_line(slo, s, sc.confidence))
            .collect();
        Paragraph::new(lines).block(block).wrap(Wrap { trim: true })
    }

    /// Tenants (admitted / throttled) and instances (traffic, state).
    fn who(&self) -> Paragraph<'_> {
        let mut lines = Vec::new();
        if let Some(s) = self.snap {
            let mut tenants = std::collections::BTreeMap::<&str, (u64, u64)>::new();
            for x in &s.seconds {
                for (id, t) in &x.tenants {
                    let e = tenants.entry(id.as_str()).or_default();
                    e.0 += t.admitted;
                    e.1 += t.offered.saturating_sub(t.admitted);
                }
            }
            for (id, (admitted, throttled)) in tenants {
                lines.push(Line::from(format!(
                    "tenant {id}: admitted {admitted} · throttled {throttled}"
                )));
            }
            let last = last_complete(s);
            let mut names: std::collections::BTreeSet<&str> =
                self.state.instances.keys().map(String::as_str).collect();
            names.extend(self.state.pools.keys().map(String::as_str));
            if let Some(x) = last {
                names.extend(x.instances.keys().map(String::as_str));
            }
            for name in names {
                let rate = last
                    .and_then(|x| x.instances.get(name))
                    .copied()
                    .unwrap_or(0);
                let said = self.state.instance_word(name);
                let style = if said.starts_with("up") {
                    Style::default()
                } else {
                    Style::default().fg(Color::Red)
                };
                lines.push(Line::styled(
                    format!("{name}: {said} · {rate} answers last second"),
                    style,
                ));
            }
        }
        let title = format!(
            " tenants (last {} s) · instances ",
            crate::traffic::live::RECENT_SECONDS
        );
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title))
    }

    /// The newest events that fit.
    fn events(&self, area: Rect) -> Paragraph<'_> {
        let fit = usize::from(area.height.saturating_sub(2));
        let lines: Vec<Line<'_>> = self
            .state
            .events
            .iter()
            .rev()
            .take(fit)
            .rev()
            .map(|h| Line::from(h.line()))
            .collect();
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" events (run clock) "),
        )
    }
}

/// One SLO: its live figure against its objective, or why it has none.
fn slo_line<'a>(slo: &'a Slo, s: &LiveSnapshot, confidence: f64) -> Line<'a> {
    let abort = if slo.abort { " [abort]" } else { "" };
    let head = format!("{}{abort} {}: ", slo.name, slo.objective);
    let body = match slo.metric {
        Metric::Availability if slo.filters.window == Window::All => {
            availability(slo, s, confidence)
        }
        Metric::Latency(p) | Metric::ServiceTime(p)
            if slo.filters.tenant.is_none()
                && slo.filters.route.is_none()
                && slo.filters.window == Window::All =>
        {
            let hists = if matches!(slo.metric, Metric::Latency(_)) {
                &s.latency
            } else {
                &s.service
            };
            let phase = slo
                .filters
                .phase
                .as_ref()
                .and_then(|n| s.layout.phases.iter().position(|p| &p.name == n));
            let h = merged(hists, phase);
            if h.is_empty() {
                ("—".into(), Color::Reset)
            } else {
                let v = h.value_at_quantile(p / 100.0) as f64 / 1e6;
                let ok = slo.objective.op.holds(v, slo.objective.target);
                (
                    format!("{:.1} ms so far", v * 1e3),
                    if ok { Color::Green } else { Color::Red },
                )
            }
        }
        Metric::ThrottleOverAdmitted if slo.abort => {
            match crate::run::count_abort::over_admitted_so_far(slo, s) {
                // A lower bound of the final count (docs/live.md).
                Some(n) => {
                    let ok = slo.objective.op.holds(n as f64, slo.objective.target);
                    let color = if ok { Color::Green } else { Color::Red };
                    (format!("at least {n} so far"), color)
                }
                None => ("—".into(), Color::Reset),
            }
        }
        Metric::AuthHostileBackendRequests if slo.abort => (
            "watched while the run goes, judged after it".into(),
            Color::DarkGray,
        ),
        _ => ("judged after the run".into(), Color::DarkGray),
    };
    Line::from(vec![
        Span::raw(head),
        Span::styled(body.0, Style::default().fg(body.1)),
    ])
}

fn availability(slo: &Slo, s: &LiveSnapshot, confidence: f64) -> (String, Color) {
    let counts = slo_counts(slo, s);
    let Some(est) = Confidence::new(confidence)
        .ok()
        .and_then(|c| Estimate::new(counts, c))
    else {
        return ("—".into(), Color::Reset);
    };
    let target = slo.objective.target;
    let budget = error_budget_consumed(counts, target).map_or("—".into(), |u| {
        format!("{} left", format_percent(1.0 - u))
    });
    let (word, color) = if est.lower >= target {
        ("met so far", Color::Green)
    } else if est.upper < target {
        ("cannot pass", Color::Red)
    } else {
        ("undecided", Color::Yellow)
    };
    (
        format!(
            "{} (bounds {} .. {}) · budget {budget} · {word}",
            format_percent(est.ratio),
            format_percent(est.lower),
            format_percent(est.upper),
        ),
        color,
    )
}

fn merged(hs: &[Histogram<u64>], only: Option<usize>) -> Histogram<u64> {
    let mut all = Histogram::<u64>::new(3).unwrap_or_else(|_| unreachable!("3 sigfig is valid"));
    for (i, h) in hs.iter().enumerate() {
        if only.is_none_or(|p| p == i) {
            let _ = all.add(h);
        }
    }
    all
}

fn last_complete(s: &LiveSnapshot) -> Option<&SecondSummary> {
    let c = s.complete_through?;
    s.seconds.iter().rev().find(|x| x.second <= c)
}

/// A dispatch lag: µs precision below a millisecond, where the generator keeps it.
fn lag_ms(us: Option<u64>) -> String {
    us.map_or("—".into(), |v| format!("{:.3}", v as f64 / 1000.0))
}

fn ms(us: Option<u64>) -> String {
    us.map_or("—".into(), |v| format!("{:.1}", v as f64 / 1000.0))
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::metrics::Layout;
    use crate::metrics::live_throttle::OverAdmittedSoFar;
    use crate::scenario::slo::{Filters, Objective, Unit};
    use crate::traffic::live::LiveNow;

    fn snapshot(over_admitted: BTreeMap<String, OverAdmittedSoFar>) -> LiveSnapshot {
        LiveSnapshot {
            layout: Arc::new(Layout {
                phases: Vec::new(),
                tenants: vec!["acme".into()],
            }),
            run_start: Instant::now(),
            now: LiveNow {
                elapsed: Duration::from_secs(3),
                total: Duration::from_secs(60),
                target_rate: 0.0,
                answered: 0,
                bad: 0,
                dropped: 0,
                in_flight: 0,
                p99_us: 0,
                dispatch_lag_us: None,
            },
            seconds: Vec::new(),
            complete_through: None,
            keys: BTreeMap::new(),
            phases: Vec::new(),
            latency: Vec::new(),
            service: Vec::new(),
            tenants: BTreeMap::new(),
            finished: false,
            lost: 0,
            over_admitted,
        }
    }

    fn text(line: &Line<'_>) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn an_over_admission_abort_slo_shows_its_live_lower_bound() {
        let slo = Slo {
            name: "throttle.over_admitted".into(),
            metric: Metric::ThrottleOverAdmitted,
            filters: Filters::default(),
            objective: Objective::parse("<= 2", Unit::Count).unwrap(),
            abort: true,
        };
        let judged = OverAdmittedSoFar {
            over_admitted: 3,
            attempts: 40,
        };
        let s = snapshot(BTreeMap::from([("acme".to_owned(), judged)]));
        let line = slo_line(&slo, &s, 0.95);
        assert_eq!(
            text(&line),
            "throttle.over_admitted [abort] <= 2: at least 3 so far"
        );
        assert_eq!(line.spans[1].style.fg, Some(Color::Red));
        // Nothing judged yet: not measured, not 0.
        let line = slo_line(&slo, &snapshot(BTreeMap::new()), 0.95);
        assert_eq!(text(&line), "throttle.over_admitted [abort] <= 2: —");
        // Without abort the feed does not judge it.
        let quiet = Slo {
            abort: false,
            ..slo
        };
        let line = slo_line(&quiet, &s, 0.95);
        assert!(text(&line).ends_with("judged after the run"));
    }
}
