//! `[[traffic]]` phases.

use std::collections::HashSet;
use std::time::Duration;

use http::Method;

use super::Checker;
use crate::scenario::diagnostics::{Path, did_you_mean};
use crate::scenario::model::*;
use crate::scenario::raw::*;
use crate::scenario::template::Template;

const EXECUTORS: [&str; 4] = [
    "constant-arrival-rate",
    "ramping-arrival-rate",
    "constant-vus",
    "ramping-vus",
];

pub(super) fn phases(
    cx: &mut Checker<'_>,
    raw: &[RawPhase],
    run: Duration,
    tenants: &[Tenant],
    gateway: &Gateway,
) -> Vec<TrafficPhase> {
    if raw.is_empty() {
        cx.err(
            &Path::root(),
            "a scenario needs at least one `[[traffic]]` phase",
        );
    }
    let mut names = HashSet::new();
    raw.iter()
        .enumerate()
        .map(|(i, p)| {
            let path = Path::root().key("traffic").index(i);
            let name = p.name.clone().unwrap_or_else(|| format!("phase-{i}"));
            if !names.insert(name.clone()) {
                cx.err(&path.key("name"), format!("duplicate phase name `{name}`"));
            }
            phase(cx, &path, name, p, run, tenants, gateway)
        })
        .collect()
}

fn phase(
    cx: &mut Checker<'_>,
    path: &Path,
    name: String,
    p: &RawPhase,
    run: Duration,
    tenants: &[Tenant],
    gateway: &Gateway,
) -> TrafficPhase {
    let start = cx.duration(&path.key("start"), p.start.as_deref(), Duration::ZERO, true);
    if start >= run {
        cx.err(
            &path.key("start"),
            format!(
                "starts at or after the end of the run ({}); it would send nothing",
                crate::scenario::human::format_duration(run)
            ),
        );
    }
    let duration = cx.duration(
        &path.key("duration"),
        p.duration.as_deref(),
        run.saturating_sub(start),
        false,
    );
    if start + duration > run && start < run {
        cx.err(
            &path.key("duration"),
            format!(
                "ends at {} but the run lasts {}",
                crate::scenario::human::format_duration(start + duration),
                crate::scenario::human::format_duration(run)
            ),
        );
    }
    let executor = executor(cx, path, p, duration);
    let tenants_mix = mix(cx, &path.key("tenants"), p.tenants.as_ref(), tenants);
    if p.requests.is_empty() {
        cx.err(&path.key("requests"), "must list at least one request, e.g. `requests = [{ method = \"GET\", path = \"/items/1\" }]`");
    }
    let expect = statuses(cx, &path.key("expect"), p.expect.as_deref());
    let flow = p.flow.unwrap_or(false);
    let requests = requests(cx, path, p, gateway);
    TrafficPhase {
        name,
        start,
        duration,
        executor,
        tenants: tenants_mix,
        requests,
        expect,
        timeout: cx.duration(
            &path.key("timeout"),
            p.timeout.as_deref(),
            Duration::from_secs(5),
            false,
        ),
        connections: cx.nonzero(&path.key("connections"), p.connections, 64),
        max_in_flight: cx.nonzero(&path.key("max_in_flight"), p.max_in_flight, 10_000),
        client_retries: p.retries.unwrap_or(0),
        protocol: protocol(cx, &path.key("protocol"), p.protocol.as_deref()),
        max_streams: max_streams(cx, path, p),
        flow,
    }
}

/// The phase's request classes, each `{NAME}` bound to the flow step that extracts it.
fn requests(
    cx: &mut Checker<'_>,
    path: &Path,
    p: &RawPhase,
    gateway: &Gateway,
) -> Vec<RequestTemplate> {
    let flow = p.flow.unwrap_or(false);
    let mut names = Vec::new();
    let mut requests: Vec<RequestTemplate> = p
        .requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let at = path.key("requests").index(i);
            let mut t = request(cx, &at, r, gateway);
            t.extract = super::flow::extract(cx, &at.key("extract"), r.extract.as_ref(), flow, i, &mut names);
            if flow && r.weight.is_some() {
                cx.err_key(
                    &at.key("weight"),
                    "a flow sends every step in order: `weight` does not apply (remove it, or `flow = true`)",
                );
            }
            t
        })
        .collect();
    super::flow::bind_variables(cx, path, p, &mut requests);
    requests
}

fn protocol(cx: &mut Checker<'_>, path: &Path, value: Option<&str>) -> Option<HttpProtocol> {
    match value? {
        "h1" => Some(HttpProtocol::H1),
        "h2" => Some(HttpProtocol::H2),
        other => {
            cx.err(path, format!("`{other}`: accepted \"h1\" or \"h2\""));
            None
        }
    }
}

fn max_streams(cx: &mut Checker<'_>, path: &Path, p: &RawPhase) -> Option<std::num::NonZeroU32> {
    let n = p.max_streams?;
    if p.protocol.as_deref() == Some("h1") {
        cx.err(
            &path.key("max_streams"),
            "applies to HTTP/2 only; this phase says `protocol = \"h1\"`",
        );
    }
    Some(cx.nonzero(&path.key("max_streams"), Some(n), 1))
}

fn executor(cx: &mut Checker<'_>, path: &Path, p: &RawPhase, duration: Duration) -> Executor {
    let arrivals = arrivals(cx, path, p);
    let Some(allowed) = executor_keys(cx, path, p) else {
        return Executor::ConstantArrivalRate {
            rate: 1.0,
            arrivals,
        };
    };
    misplaced_keys(cx, path, p, allowed);
    let think = cx.duration(
        &path.key("think_time"),
        p.think_time.as_deref(),
        Duration::ZERO,
        true,
    );
    match p.executor.as_str() {
        "constant-arrival-rate" => match p.rate {
            Some(r) => Executor::ConstantArrivalRate {
                rate: cx.positive(&path.key("rate"), r),
                arrivals,
            },
            None => {
                cx.err(
                    path,
                    "missing required key `rate` (requests per second) for constant-arrival-rate",
                );
                Executor::ConstantArrivalRate {
                    rate: 1.0,
                    arrivals,
                }
            }
        },
        "ramping-arrival-rate" => ramping_arrival_rate(cx, path, p, duration, arrivals),
        "constant-vus" => Executor::ConstantVus {
            vus: match p.vus {
                Some(v) => cx.nonzero(&path.key("vus"), Some(v), 1),
                None => {
                    cx.err(path, "missing required key `vus` for constant-vus");
                    std::num::NonZeroU32::MIN
                }
            },
            think_time: think,
        },
        _ => Executor::RampingVus {
            start_vus: p.start_vus.unwrap_or(0),
            stages: stages(cx, path, p, duration),
            think_time: think,
        },
    }
}

/// `arrivals`: how an open-loop phase spaces its requests.
fn arrivals(cx: &mut Checker<'_>, path: &Path, p: &RawPhase) -> Arrivals {
    match p.arrivals.as_deref() {
        None | Some("uniform") => Arrivals::Uniform,
        Some("poisson") => Arrivals::Poisson,
        Some(other) => {
            cx.err(
                &path.key("arrivals"),
                format!("`{other}`: accepted \"uniform\" or \"poisson\""),
            );
            Arrivals::Uniform
        }
    }
}

/// The keys the phase's executor takes; `None` (and an error) for an unknown executor.
fn executor_keys(
    cx: &mut Checker<'_>,
    path: &Path,
    p: &RawPhase,
) -> Option<&'static [&'static str]> {
    Some(match p.executor.as_str() {
        "constant-arrival-rate" => &["rate", "arrivals"],
        "ramping-arrival-rate" => &["start_rate", "stages", "arrivals"],
        "constant-vus" => &["vus", "think_time"],
        "ramping-vus" => &["start_vus", "stages", "think_time"],
        other => {
            let hint = did_you_mean(other, EXECUTORS).unwrap_or_default();
            cx.err(
                &path.key("executor"),
                format!(
                    "unknown executor `{other}`{hint}; accepted: {}",
                    EXECUTORS.join(", ")
                ),
            );
            return None;
        }
    })
}

/// Keys that belong to other executors are mistakes worth naming.
fn misplaced_keys(cx: &mut Checker<'_>, path: &Path, p: &RawPhase, allowed: &[&str]) {
    let given: [(&str, bool); 7] = [
        ("rate", p.rate.is_some()),
        ("start_rate", p.start_rate.is_some()),
        ("vus", p.vus.is_some()),
        ("start_vus", p.start_vus.is_some()),
        ("stages", p.stages.is_some()),
        ("arrivals", p.arrivals.is_some()),
        ("think_time", p.think_time.is_some()),
    ];
    for (key, present) in given {
        if present && !allowed.contains(&key) {
            cx.err_key(
                &path.key(key),
                format!(
                    "does not apply to executor `{}` (it takes: {})",
                    p.executor,
                    allowed.join(", ")
                ),
            );
        }
    }
}

fn ramping_arrival_rate(
    cx: &mut Checker<'_>,
    path: &Path,
    p: &RawPhase,
    duration: Duration,
    arrivals: Arrivals,
) -> Executor {
    let start_rate = p.start_rate.unwrap_or(0.0);
    if !(start_rate.is_finite() && start_rate >= 0.0) {
        cx.err(
            &path.key("start_rate"),
            format!("must be ≥ 0, got {start_rate}"),
        );
    }
    let stages = stages(cx, path, p, duration);
    if start_rate == 0.0 && stages.iter().all(|s| s.target == 0.0) {
        cx.err(
            &path.key("stages"),
            "every stage targets 0 req/s: the phase would send nothing",
        );
    }
    Executor::RampingArrivalRate {
        start_rate,
        stages,
        arrivals,
    }
}

/// A ramping executor's `stages`, which must fit in the phase.
fn stages(cx: &mut Checker<'_>, path: &Path, p: &RawPhase, duration: Duration) -> Vec<Stage> {
    let sp = path.key("stages");
    let raw = p.stages.as_deref().unwrap_or_default();
    if raw.is_empty() {
        cx.err(
            &sp,
            "a ramping executor needs `stages = [{ duration = \"10s\", target = 100 }, …]`",
        );
    }
    let out: Vec<Stage> = raw
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let target = if s.target.is_finite() && s.target >= 0.0 {
                s.target
            } else {
                cx.err(
                    &sp.index(i).key("target"),
                    format!("must be ≥ 0, got {}", s.target),
                );
                0.0
            };
            Stage {
                duration: cx.required_duration(&sp.index(i).key("duration"), &s.duration),
                target,
            }
        })
        .collect();
    let total: Duration = out.iter().map(|s| s.duration).sum();
    if total > duration {
        cx.err(
            &sp,
            format!(
                "stages last {} but the phase lasts {}",
                crate::scenario::human::format_duration(total),
                crate::scenario::human::format_duration(duration)
            ),
        );
    }
    out
}

fn mix(
    cx: &mut Checker<'_>,
    path: &Path,
    raw: Option<&std::collections::BTreeMap<String, f64>>,
    tenants: &[Tenant],
) -> Vec<(String, f64)> {
    let Some(raw) = raw else {
        // No mix: every declared tenant, equally.
        return tenants.iter().map(|t| (t.id.clone(), 1.0)).collect();
    };
    let mut sum = 0.0;
    let mut out = Vec::new();
    for (id, w) in raw {
        if !tenants.iter().any(|t| &t.id == id) {
            let hint = did_you_mean(id, tenants.iter().map(|t| t.id.as_str())).unwrap_or_default();
            cx.err_key(
                &path.key(id),
                format!("no tenant `{id}`{hint}; declare it in `[[tenants]]`"),
            );
        }
        if !(w.is_finite() && *w >= 0.0) {
            cx.err(&path.key(id), format!("weight must be ≥ 0, got {w}"));
        } else {
            sum += w;
        }
        out.push((id.clone(), *w));
    }
    if sum <= 0.0 {
        cx.err(
            path,
            "the tenant weights sum to 0: no tenant would ever be drawn",
        );
    }
    out.retain(|(_, w)| *w > 0.0);
    out
}

fn statuses(cx: &mut Checker<'_>, path: &Path, raw: Option<&[u16]>) -> Vec<u16> {
    raw.unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, s)| cx.status(&path.index(i), *s))
        .collect()
}

pub(super) fn template(cx: &mut Checker<'_>, path: &Path, text: &str) -> Template {
    template_with(cx, path, Template::parse(text))
}

/// A request class's template, where `{NAME}` may be a flow variable (bound by the phase).
fn request_template(cx: &mut Checker<'_>, path: &Path, text: &str) -> Template {
    template_with(cx, path, Template::parse_request(text))
}

fn template_with(
    cx: &mut Checker<'_>,
    path: &Path,
    parsed: Result<Template, crate::scenario::template::TemplateError>,
) -> Template {
    let mut t = parsed.unwrap_or_else(|e| {
        cx.err(
            path,
            format!("{} (at character {})", e.message, e.offset + 1),
        );
        Template::parse("").unwrap_or_else(|_| unreachable!("the empty template parses"))
    });
    super::credentials::resolve_env(cx, path, &mut t);
    t
}

fn request(
    cx: &mut Checker<'_>,
    path: &Path,
    r: &RawRequest,
    gateway: &Gateway,
) -> RequestTemplate {
    let method = method(cx, path, r);
    if !r.path.starts_with('/') {
        cx.err(
            &path.key("path"),
            format!("`{}` must start with `/`", r.path),
        );
    }
    let path_t = request_template(cx, &path.key("path"), &r.path);
    let headers = headers(cx, path, r);
    let body = r
        .body
        .as_deref()
        .map(|b| request_template(cx, &path.key("body"), b));
    let token = token(cx, path, r, gateway);
    let integrity = r.integrity.as_ref().and_then(|i| {
        let keyed = r.idempotency_key.unwrap_or(false);
        super::integrity::integrity(cx, &path.key("integrity"), i, &method, keyed)
    });
    RequestTemplate {
        method,
        path: path_t,
        headers,
        body,
        idempotency_key: r.idempotency_key.unwrap_or(false),
        weight: cx.nonzero(&path.key("weight"), r.weight, 1),
        expect: statuses(cx, &path.key("expect"), r.expect.as_deref()),
        token,
        integrity,
        check: super::flow::check(cx, &path.key("check"), r.check.as_ref()),
        extract: Vec::new(),
    }
}

fn method(cx: &mut Checker<'_>, path: &Path, r: &RawRequest) -> Method {
    let method_text = r.method.as_deref().unwrap_or("GET");
    match Method::from_bytes(method_text.as_bytes()) {
        Ok(m) if method_text.chars().all(|c| c.is_ascii_uppercase()) => m,
        _ => {
            cx.err(&path.key("method"), format!("`{method_text}` is not an HTTP method (GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS)"));
            Method::GET
        }
    }
}

fn headers(cx: &mut Checker<'_>, path: &Path, r: &RawRequest) -> Vec<(http::HeaderName, Template)> {
    headers_with(cx, path, r.headers.as_ref(), request_template)
}

/// `headers = { NAME = "template", … }` at `path`.
pub(super) fn header_templates(
    cx: &mut Checker<'_>,
    path: &Path,
    raw: Option<&std::collections::BTreeMap<String, String>>,
) -> Vec<(http::HeaderName, Template)> {
    headers_with(cx, path, raw, template)
}

fn headers_with(
    cx: &mut Checker<'_>,
    path: &Path,
    raw: Option<&std::collections::BTreeMap<String, String>>,
    parse: fn(&mut Checker<'_>, &Path, &str) -> Template,
) -> Vec<(http::HeaderName, Template)> {
    raw.into_iter()
        .flatten()
        .filter_map(|(k, v)| match http::HeaderName::from_bytes(k.as_bytes()) {
            Ok(name) => Some((name, parse(cx, &path.key("headers").key(k), v))),
            Err(_) => {
                cx.err_key(
                    &path.key("headers").key(k),
                    format!("`{k}` is not a valid header name"),
                );
                None
            }
        })
        .collect()
}

/// The request's `token` kind, and whether the gateway can tell it from a valid one.
fn token(cx: &mut Checker<'_>, path: &Path, r: &RawRequest, gateway: &Gateway) -> TokenKind {
    let token = match r.token.as_deref() {
        None | Some("valid") => TokenKind::Valid,
        Some("expired") => TokenKind::Expired,
        Some("bad-signature") => TokenKind::BadSignature,
        Some("alg-none") => TokenKind::AlgNone,
        Some("wrong-audience") => TokenKind::WrongAudience,
        Some("missing") => TokenKind::Missing,
        Some("garbage") => TokenKind::Garbage,
        Some(other) => {
            let known = [
                "valid",
                "expired",
                "bad-signature",
                "alg-none",
                "wrong-audience",
                "missing",
                "garbage",
            ];
            let hint = did_you_mean(other, known).unwrap_or_default();
            cx.err(
                &path.key("token"),
                format!(
                    "unknown token kind `{other}`{hint}; accepted: {}",
                    known.join(", ")
                ),
            );
            TokenKind::Valid
        }
    };
    if token.is_hostile()
        && gateway.auth.is_none()
        && matches!(gateway.target, GatewayTarget::Bundled { .. })
    {
        cx.err(
            &path.key("token"),
            "hostile tokens need `[gateway.auth]`: without it the gateway checks no token",
        );
    }
    if token == TokenKind::WrongAudience
        && matches!(gateway.target, GatewayTarget::Bundled { .. })
        && gateway.auth.as_ref().is_some_and(|a| a.audience.is_none())
    {
        cx.err(
            &path.key("token"),
            "`wrong-audience` tokens need `[gateway.auth] audience`: without one the gateway \
             checks no audience and accepts them",
        );
    }
    token
}
