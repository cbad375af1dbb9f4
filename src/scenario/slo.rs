//! SLO objectives: `"METRIC{filters}" = "OP VALUE"`.
//!
//! The key names a metric and optional filters
//! (`latency.p99{tenant=acme,route=/items,phase=steady,window=fault:0}`), the
//! value an operator and a target (`"< 150ms"`, `">= 99.9%"`, `"within 2%"`,
//! `"== 0"`). Both are parsed here into types; whether the tenant, route, phase or
//! fault a filter names exists is checked by validation against the scenario.

use std::fmt;
use std::time::Duration;

use super::human::{format_duration, parse_duration, parse_number_or_percent};

/// What an SLO measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// Latency from the intended send instant, at a percentile in (0, 100].
    Latency(f64),
    /// Service time from the actual send, at a percentile.
    ServiceTime(f64),
    Availability,
    AvailabilityTimeBased,
    ErrorRate,
    Throughput,
    ThrottleAccuracy,
    ThrottleWrongful,
    ThrottleOverAdmitted,
    FailoverRecovery,
    FailoverTimeToFirstError,
    FailoverReintegration,
    IntegrityLostWrites,
    IntegrityDuplicates,
    /// Writes whose record read back through the API differs from what was sent.
    IntegrityMismatched,
    /// Orders created without an idempotency key that no acknowledgement accounts for.
    IntegrityUnkeyedDuplicates,
    /// Requests with a hostile token that a backend saw.
    AuthHostileBackendRequests,
    CacheHitRatio,
    RetryAmplification,
    BalanceSkew,
}

/// The kind of value a metric is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Duration,
    /// A share in [0, 1], written as a percentage or a fraction.
    Ratio,
    /// A count of things.
    Count,
    /// Requests per second, or a plain factor.
    Number,
}

const SIMPLE_METRICS: &[(&str, Metric, Unit)] = &[
    ("availability", Metric::Availability, Unit::Ratio),
    (
        "availability.time_based",
        Metric::AvailabilityTimeBased,
        Unit::Ratio,
    ),
    ("error_rate", Metric::ErrorRate, Unit::Ratio),
    ("throughput", Metric::Throughput, Unit::Number),
    ("throttle.accuracy", Metric::ThrottleAccuracy, Unit::Ratio),
    ("throttle.wrongful", Metric::ThrottleWrongful, Unit::Count),
    (
        "throttle.over_admitted",
        Metric::ThrottleOverAdmitted,
        Unit::Count,
    ),
    (
        "failover.recovery",
        Metric::FailoverRecovery,
        Unit::Duration,
    ),
    (
        "failover.time_to_first_error",
        Metric::FailoverTimeToFirstError,
        Unit::Duration,
    ),
    (
        "failover.reintegration",
        Metric::FailoverReintegration,
        Unit::Duration,
    ),
    (
        "integrity.lost_writes",
        Metric::IntegrityLostWrites,
        Unit::Count,
    ),
    (
        "integrity.duplicates",
        Metric::IntegrityDuplicates,
        Unit::Count,
    ),
    (
        "integrity.mismatched",
        Metric::IntegrityMismatched,
        Unit::Count,
    ),
    (
        "integrity.unkeyed_duplicates",
        Metric::IntegrityUnkeyedDuplicates,
        Unit::Count,
    ),
    ("cache.hit_ratio", Metric::CacheHitRatio, Unit::Ratio),
    (
        "auth.hostile_backend_requests",
        Metric::AuthHostileBackendRequests,
        Unit::Count,
    ),
    (
        "retry.amplification",
        Metric::RetryAmplification,
        Unit::Number,
    ),
    ("balance.skew", Metric::BalanceSkew, Unit::Ratio),
];

/// Every metric name, for messages and suggestions.
pub fn metric_names() -> Vec<&'static str> {
    let mut names = vec!["latency.pNN", "service_time.pNN"];
    names.extend(SIMPLE_METRICS.iter().map(|(n, _, _)| *n));
    names
}

impl Metric {
    /// Parse a metric name such as `latency.p99` or `availability`.
    pub fn parse(name: &str) -> Result<Self, String> {
        if let Some(p) = name.strip_prefix("latency.") {
            return parse_percentile(p).map(Metric::Latency);
        }
        if let Some(p) = name.strip_prefix("service_time.") {
            return parse_percentile(p).map(Metric::ServiceTime);
        }
        SIMPLE_METRICS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, m, _)| *m)
            .ok_or_else(|| {
                let known = metric_names();
                let hint = super::diagnostics::did_you_mean(name, known.iter().copied())
                    .unwrap_or_default();
                format!("unknown metric `{name}`{hint}; known: {}", known.join(", "))
            })
    }

    /// The unit the metric's objective is written in.
    pub fn unit(self) -> Unit {
        match self {
            Metric::Latency(_) | Metric::ServiceTime(_) => Unit::Duration,
            other => SIMPLE_METRICS
                .iter()
                .find(|(_, m, _)| *m == other)
                .map_or(Unit::Number, |(_, _, u)| *u),
        }
    }

    /// Whether a fault window or fault index matters to the metric.
    pub fn is_failover(self) -> bool {
        matches!(
            self,
            Metric::FailoverRecovery
                | Metric::FailoverTimeToFirstError
                | Metric::FailoverReintegration
        )
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::Latency(p) => write!(f, "latency.{}", format_percentile(*p)),
            Metric::ServiceTime(p) => write!(f, "service_time.{}", format_percentile(*p)),
            other => {
                let name = SIMPLE_METRICS
                    .iter()
                    .find(|(_, m, _)| m == other)
                    .map_or("?", |(n, _, _)| n);
                f.write_str(name)
            }
        }
    }
}

/// `p99` → 99, `p999` → 99.9, `p50` → 50, `p99.5` → 99.5, `p100` → 100 (the max).
pub fn parse_percentile(text: &str) -> Result<f64, String> {
    let bad = || {
        format!(
            "`{text}` is not a percentile; write p50, p90, p99, p999 (99.9), p99.99 or p100 (max)"
        )
    };
    let digits = text.strip_prefix('p').ok_or_else(bad)?;
    let value = if digits == "100" {
        100.0
    } else if digits.contains('.') {
        digits.parse::<f64>().map_err(|_| bad())?
    } else if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        if digits.len() <= 2 {
            digits.parse::<f64>().map_err(|_| bad())?
        } else {
            format!("{}.{}", &digits[..2], &digits[2..])
                .parse::<f64>()
                .map_err(|_| bad())?
        }
    } else {
        return Err(bad());
    };
    if value > 0.0 && value <= 100.0 {
        Ok(value)
    } else {
        Err(format!("percentile `{text}` must be in (0, 100]"))
    }
}

/// The shortest name of a percentile: 99 → `p99`, 99.9 → `p999`, 99.95 → `p9995`.
pub fn format_percentile(p: f64) -> String {
    if p == 100.0 {
        return "p100".into();
    }
    let text = format!("{p}");
    match text.split_once('.') {
        Some((int, frac)) if int.len() == 2 => format!("p{int}{frac}"),
        _ => format!("p{text}"),
    }
}

/// Which part of the run an SLO looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Window {
    #[default]
    All,
    /// Outside every fault.
    Steady,
    /// During fault N.
    Fault(usize),
    /// After fault N ends.
    Recovery(usize),
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::All => f.write_str("all"),
            Window::Steady => f.write_str("steady"),
            Window::Fault(n) => write!(f, "fault:{n}"),
            Window::Recovery(n) => write!(f, "recovery:{n}"),
        }
    }
}

/// Filters of an SLO selector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filters {
    pub tenant: Option<String>,
    pub route: Option<String>,
    pub phase: Option<String>,
    pub window: Window,
}

impl Filters {
    /// Whether the tenant filter (if any) selects tenant `id`: how per-tenant
    /// figures (throttle) are selected, at the end and while the run goes.
    pub fn selects_tenant(&self, id: &str) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == id)
    }
}

/// The filter names a selector accepts.
pub const FILTER_NAMES: &[&str] = &["tenant", "route", "phase", "window"];

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    /// |measured| ≤ target (a relative tolerance such as an accuracy error).
    Within,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Within => "within",
        }
    }

    /// Whether `measured` meets `target` under this operator.
    pub fn holds(self, measured: f64, target: f64) -> bool {
        match self {
            Op::Lt => measured < target,
            Op::Le => measured <= target,
            Op::Gt => measured > target,
            Op::Ge => measured >= target,
            Op::Eq => (measured - target).abs() <= f64::EPSILON * target.abs().max(1.0),
            Op::Within => measured.abs() <= target,
        }
    }
}

/// An objective: an operator and a target in the metric's unit. Durations are
/// kept in seconds, ratios as fractions (99.9% → 0.999).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective {
    pub op: Op,
    pub target: f64,
    pub unit: Unit,
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.op.symbol())?;
        match self.unit {
            Unit::Duration => f.write_str(&format_duration(Duration::from_secs_f64(self.target))),
            Unit::Ratio => write!(f, "{}%", trim_float(self.target * 100.0)),
            Unit::Count | Unit::Number => write!(f, "{}", trim_float(self.target)),
        }
    }
}

fn trim_float(v: f64) -> String {
    // Round away binary noise (0.999 * 100 = 99.89999…) before printing.
    let rounded = (v * 1e9).round() / 1e9;
    format!("{rounded}")
}

impl Objective {
    /// Parse `"< 150ms"` for a metric of `unit`.
    pub fn parse(text: &str, unit: Unit) -> Result<Self, String> {
        let text = text.trim();
        let ops = [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
            ("within", Op::Within),
        ];
        let (op, rest) = ops
            .iter()
            .find_map(|(sym, op)| text.strip_prefix(sym).map(|rest| (*op, rest.trim())))
            .ok_or_else(|| {
                format!(
                    "objective `{text}` must start with <, <=, >, >=, == or within (e.g. \"< 150ms\", \">= 99.9%\", \"within 2%\")"
                )
            })?;
        let target = match unit {
            Unit::Duration => parse_duration(rest)
                .map_err(|e| format!("objective `{text}`: {e}"))?
                .as_secs_f64(),
            Unit::Ratio => {
                let (value, percent) = parse_number_or_percent(rest)
                    .map_err(|e| format!("objective `{text}`: {e}"))?;
                let ratio = if percent { value / 100.0 } else { value };
                if !(0.0..=1.0).contains(&ratio) {
                    return Err(format!(
                        "objective `{text}`: a ratio must be between 0% and 100% (or 0 and 1)"
                    ));
                }
                ratio
            }
            Unit::Count | Unit::Number => {
                let v: f64 = rest
                    .parse()
                    .map_err(|_| format!("objective `{text}`: `{rest}` is not a number"))?;
                if !v.is_finite() || v < 0.0 {
                    return Err(format!("objective `{text}`: must be a finite number ≥ 0"));
                }
                v
            }
        };
        Ok(Objective { op, target, unit })
    }
}

/// One `[slo]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// The key exactly as written (the SLO's name in reports).
    pub name: String,
    pub metric: Metric,
    pub filters: Filters,
    pub objective: Objective,
    /// Stop the run as soon as this SLO cannot pass any more (`abort = true`).
    pub abort: bool,
}

/// A metric name and its `NAME=VALUE` filter pairs, borrowed from the key.
pub type Selector<'a> = (&'a str, Vec<(&'a str, &'a str)>);

/// Split `metric{a=b,c=d}` into the metric name and its filter pairs.
pub fn split_selector(key: &str) -> Result<Selector<'_>, String> {
    let Some(open) = key.find('{') else {
        return Ok((key.trim(), Vec::new()));
    };
    let body = key[open + 1..].strip_suffix('}').ok_or_else(|| {
        format!("`{key}`: filters must be closed with `}}`, e.g. `latency.p99{{tenant=acme}}`")
    })?;
    let mut pairs = Vec::new();
    for item in body.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("`{key}`: filter `{item}` must be NAME=VALUE"))?;
        pairs.push((k.trim(), v.trim()));
    }
    Ok((key[..open].trim(), pairs))
}

/// Parse a `window` filter value.
pub fn parse_window(text: &str) -> Result<Window, String> {
    let index = |s: &str| {
        s.parse::<usize>()
            .map_err(|_| format!("window `{text}`: `{s}` is not a fault index (0, 1, …)"))
    };
    match text {
        "all" => Ok(Window::All),
        "steady" => Ok(Window::Steady),
        _ => match text.split_once(':') {
            Some(("fault", n)) => index(n).map(Window::Fault),
            Some(("recovery", n)) => index(n).map(Window::Recovery),
            _ => Err(format!(
                "unknown window `{text}`; known: all, steady, fault:N, recovery:N"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        for (text, p) in [
            ("p50", 50.0),
            ("p99", 99.0),
            ("p999", 99.9),
            ("p9999", 99.99),
            ("p99.5", 99.5),
            ("p100", 100.0),
            ("p9", 9.0),
        ] {
            assert_eq!(parse_percentile(text).unwrap(), p, "{text}");
            assert_eq!(
                parse_percentile(&format_percentile(p)).unwrap(),
                p,
                "{text}"
            );
        }
        for bad in ["99", "p", "p0", "p101.5", "px", "p-1"] {
            assert!(parse_percentile(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn objectives_parse_in_their_unit() {
        let o = Objective::parse("< 150ms", Unit::Duration).unwrap();
        assert_eq!((o.op, o.target), (Op::Lt, 0.15));
        let o = Objective::parse(">= 99.9%", Unit::Ratio).unwrap();
        assert!((o.target - 0.999).abs() < 1e-12);
        assert_eq!(o.to_string(), ">= 99.9%");
        let o = Objective::parse("within 2%", Unit::Ratio).unwrap();
        assert_eq!(o.op, Op::Within);
        assert!(
            Objective::parse("== 0", Unit::Count)
                .unwrap()
                .op
                .holds(0.0, 0.0)
        );
        assert!(Objective::parse("~ 5", Unit::Count).is_err());
        assert!(Objective::parse(">= 120%", Unit::Ratio).is_err());
        assert!(Objective::parse("< fast", Unit::Duration).is_err());
        assert!(Objective::parse("< -3", Unit::Number).is_err());
    }

    #[test]
    fn selectors_split() {
        let (m, f) = split_selector("latency.p99{tenant=acme, route=/items}").unwrap();
        assert_eq!(m, "latency.p99");
        assert_eq!(f, vec![("tenant", "acme"), ("route", "/items")]);
        assert!(split_selector("latency.p99{tenant=acme").is_err());
        assert!(split_selector("latency.p99{tenant}").is_err());
        assert_eq!(parse_window("recovery:2").unwrap(), Window::Recovery(2));
        assert!(parse_window("during").is_err());
    }

    #[test]
    fn metric_names_round_trip() {
        for name in metric_names().into_iter().filter(|n| !n.ends_with("pNN")) {
            assert_eq!(Metric::parse(name).unwrap().to_string(), name);
        }
        let err = Metric::parse("availabilty").unwrap_err();
        assert!(err.contains("did you mean `availability`"), "{err}");
    }
}
