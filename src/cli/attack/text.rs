//! The human summary of `ninefold attack`.

use std::fmt::Write as _;

use super::AttackSummary;
use crate::metrics::{Outcome, OutcomeCounts};

pub(super) fn outcome_list(outcomes: &OutcomeCounts) -> String {
    let list: Vec<String> = Outcome::ALL
        .iter()
        .filter(|o| outcomes.get(**o) > 0)
        .map(|o| format!("{} {}", o.name(), outcomes.get(*o)))
        .collect();
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// The human summary, as printed.
pub(super) fn human(s: &AttackSummary) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "{} {}  {} loop, {} connections",
        s.method, s.url, s.mode, s.connections
    );
    match s.h2_streams {
        Some(n) => {
            let _ = writeln!(out, " (HTTP/2, up to {n} streams each)");
        }
        None => out.push('\n'),
    }
    if s.client != "ninefold" {
        let _ = writeln!(
            out,
            "client    {} (--client {}): a cross-check through another HTTP stack",
            s.client, s.client
        );
    }
    let _ = writeln!(
        out,
        "requests {}  answered {}  in {:.2}s  = {:.0} req/s{}",
        s.requests,
        s.answered,
        s.duration_s,
        s.rps,
        s.target_rate
            .map(|r| format!(" (target {r:.0})"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "outcomes  {}", outcome_list(&s.outcomes));
    if let Some(e) = s.error_rate {
        let _ = writeln!(
            out,
            "errors    {:.3}% of requests sent (at most {}% allowed)",
            e * 100.0,
            s.max_error_rate * 100.0
        );
    }
    percentiles(&mut out, s);
    setup(&mut out, s);
    crate::report::terminal::breakdown(&mut out, &s.breakdown);
    for problem in &s.problems {
        let _ = writeln!(out, "INVALID: {problem}");
    }
    if s.tls_insecure {
        let _ = writeln!(
            out,
            "INSECURE: --insecure: the server's TLS certificate was not verified"
        );
    }
    match s.verdict {
        "unreachable" => {
            let _ = writeln!(out, "UNREACHABLE: no answer to any request");
        }
        "interrupted" => {
            let _ = writeln!(
                out,
                "INTERRUPTED: stopped by a signal; what was measured is above, the verdict is withheld"
            );
        }
        "errors" => {
            let _ = writeln!(
                out,
                "FAIL: {:.3}% of requests failed, above --max-error-rate {}%",
                s.error_rate.unwrap_or(0.0) * 100.0,
                s.max_error_rate * 100.0
            );
        }
        _ => {}
    }
    out
}

/// The latency and service-time lines: `—` where nothing was measured.
fn percentiles(out: &mut String, s: &AttackSummary) {
    for (name, p) in [("latency", &s.latency_ms), ("service", &s.service_time_ms)] {
        match p {
            Some(p) => {
                let _ = writeln!(
                    out,
                    "{name:<9} p50 {:.3}ms  p90 {:.3}ms  p99 {:.3}ms  p99.9 {:.3}ms  max {:.3}ms",
                    p.p50, p.p90, p.p99, p.p999, p.max
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "{name:<9} p50 —  p90 —  p99 —  p99.9 —  max —  (not measured: no answer)"
                );
            }
        }
    }
}

/// Connection set-up lines (TCP connect, TLS handshake), when connections were timed.
fn setup(out: &mut String, s: &AttackSummary) {
    let Some(c) = &s.connection_setup_ms else {
        return;
    };
    let rows = [
        ("connect", Some(&c.tcp_connect)),
        ("handshake", c.tls_handshake.as_ref()),
    ];
    for (name, p) in rows {
        if let Some(p) = p {
            let _ = writeln!(
                out,
                "{name:<9} p50 {:.3}ms  p99 {:.3}ms  max {:.3}ms  (connection set-up)",
                p.p50, p.p99, p.max
            );
        }
    }
}
