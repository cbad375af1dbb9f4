//! Raw → checked: each section of [`super::raw`] becomes its type of [`crate::config`],
//! every problem reported to a [`Check`] at its path, a default standing in so the
//! check goes on. The `ninefold` scenario checker calls these for the gateway's keys.

use std::time::Duration;

use http::{HeaderName, Method};

use super::check::{Check, Path, did_you_mean};
use super::human::parse_duration;
use super::raw::*;
use super::*;

/// A usage plan: `rate`, `burst` (default: the rate rounded up), `quota`.
pub fn plan(cx: &mut impl Check, path: &Path, raw: &RawPlan) -> Plan {
    let rate = cx.positive(&path.key("rate"), raw.rate);
    let burst = cx.nonzero(
        &path.key("burst"),
        raw.burst,
        rate.ceil().max(1.0).min(u32::MAX as f64) as u32,
    );
    let quota = raw.quota.as_ref().map(|q| {
        let qp = path.key("quota");
        let limit = cx.nonzero64(&qp.key("limit"), q.limit);
        let period = match q.period.as_str() {
            "day" => QuotaPeriod::Day,
            "week" => QuotaPeriod::Week,
            "month" => QuotaPeriod::Month,
            other => match parse_duration(other) {
                Ok(d) if !d.is_zero() => QuotaPeriod::Every(d),
                _ => {
                    cx.err(&qp.key("period"), format!("`{other}` is not a period; write \"day\", \"week\", \"month\" or a duration such as \"10s\""));
                    QuotaPeriod::Day
                }
            },
        };
        Quota { limit, period }
    });
    Plan { rate, burst, quota }
}

/// `unknown_tenant` and `default_plan` of `[gateway]`: what a tenant without a plan gets.
pub fn unknown_tenant(cx: &mut impl Check, path: &Path, g: &RawGateway) -> UnknownTenant {
    match (g.unknown_tenant.as_deref(), &g.default_plan) {
        (None | Some("reject"), None) => UnknownTenant::Reject,
        (None | Some("default"), Some(p)) => {
            UnknownTenant::Plan(plan(cx, &path.key("default_plan"), p))
        }
        (Some("default"), None) => {
            cx.err(
                &path.key("unknown_tenant"),
                "\"default\" needs a `default_plan = { rate, burst }`",
            );
            UnknownTenant::Reject
        }
        (Some("reject"), Some(_)) => {
            cx.err(
                &path.key("default_plan"),
                "has no effect with unknown_tenant = \"reject\"",
            );
            UnknownTenant::Reject
        }
        (Some(other), _) => {
            cx.err(
                &path.key("unknown_tenant"),
                format!("`{other}`: accepted \"reject\" or \"default\""),
            );
            UnknownTenant::Reject
        }
    }
}

/// One `[[gateway.routes]]` entry, and its retry `budget` (the gateway keeps one
/// budget, the largest of its routes'). `upstreams` are the declared pool names.
pub fn route(
    cx: &mut impl Check,
    path: &Path,
    r: &RawRoute,
    upstreams: &[&str],
) -> (RouteConfig, Option<f64>) {
    if !r.path.starts_with('/') {
        cx.err(
            &path.key("path"),
            format!("`{}` must start with `/`", r.path),
        );
    }
    if !upstreams.contains(&r.upstream.as_str()) {
        let hint = did_you_mean(&r.upstream, upstreams.iter().copied()).unwrap_or_default();
        cx.err(
            &path.key("upstream"),
            format!(
                "no upstream pool `{}`{hint}; declared: {}",
                r.upstream,
                if upstreams.is_empty() {
                    "none".to_owned()
                } else {
                    upstreams.join(", ")
                }
            ),
        );
    }
    let methods = methods(
        cx,
        &path.key("methods"),
        r.methods.as_deref().unwrap_or_default(),
    );
    let retry = r.retry.as_ref().map(|rt| retry(cx, &path.key("retry"), rt));
    if r.rewrite.as_deref().is_some_and(|w| !w.starts_with('/')) {
        cx.err(&path.key("rewrite"), "must start with `/`");
    }
    let route = RouteConfig {
        path: r.path.clone(),
        upstream: r.upstream.clone(),
        methods,
        cache: r.cache.unwrap_or(false),
        retry: retry.map(|(policy, _)| policy),
        rewrite: match (&r.rewrite, r.strip_prefix.unwrap_or(false)) {
            (Some(p), _) => Rewrite::ReplacePrefix(p.clone()),
            (None, true) => Rewrite::StripPrefix,
            (None, false) => Rewrite::Keep,
        },
        scopes: r.scopes.clone().unwrap_or_default(),
        plan: r.plan.as_ref().map(|p| plan(cx, &path.key("plan"), p)),
        timeout: r
            .timeout
            .as_deref()
            .map(|t| cx.duration(&path.key("timeout"), Some(t), Duration::from_secs(1), false)),
    };
    (route, retry.map(|(_, budget)| budget))
}

/// `methods = ["GET", …]`: upper-case HTTP methods.
fn methods(cx: &mut impl Check, path: &Path, raw: &[String]) -> Vec<Method> {
    raw.iter()
        .enumerate()
        .filter_map(|(i, m)| match Method::from_bytes(m.as_bytes()) {
            Ok(method) if m.chars().all(|c| c.is_ascii_uppercase()) => Some(method),
            _ => {
                cx.err(
                    &path.index(i),
                    format!(
                        "`{m}` is not an HTTP method (GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS)"
                    ),
                );
                None
            }
        })
        .collect()
}

/// `retry = { attempts, per_try_timeout, budget }`: the policy and the budget.
fn retry(cx: &mut impl Check, path: &Path, rt: &RawRetry) -> (RetryConfig, f64) {
    let policy = RetryConfig {
        attempts: cx.nonzero(&path.key("attempts"), Some(rt.attempts), 1),
        per_try_timeout: cx.duration(
            &path.key("per_try_timeout"),
            rt.per_try_timeout.as_deref(),
            Duration::from_millis(500),
            false,
        ),
    };
    (
        policy,
        cx.share(&path.key("budget"), rt.budget.as_deref(), 0.2),
    )
}

/// `balance = "round-robin" | "least-request" | "random" | "hash:<header>"`.
pub fn balance(cx: &mut impl Check, path: &Path, raw: Option<&str>) -> Balance {
    match raw.unwrap_or("round-robin") {
        "round-robin" => Balance::RoundRobin,
        "least-request" => Balance::LeastRequest,
        "random" => Balance::Random,
        other => match other
            .strip_prefix("hash:")
            .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok())
        {
            Some(header) => Balance::Hash(header),
            None => {
                let hint = did_you_mean(other, ["round-robin", "least-request", "random"])
                    .unwrap_or_default();
                cx.err(path, format!("unknown policy `{other}`{hint}; accepted: round-robin, least-request, random, hash:<header>"));
                Balance::RoundRobin
            }
        },
    }
}

/// `health = { path, interval, timeout, unhealthy_after, healthy_after }`.
pub fn health(cx: &mut impl Check, path: &Path, h: &RawHealth) -> HealthConfig {
    let health = HealthConfig {
        path: h.path.clone().unwrap_or_else(|| "/health".into()),
        interval: cx.duration(
            &path.key("interval"),
            h.interval.as_deref(),
            Duration::from_secs(1),
            false,
        ),
        timeout: cx.duration(
            &path.key("timeout"),
            h.timeout.as_deref(),
            Duration::from_millis(250),
            false,
        ),
        unhealthy_after: cx.nonzero(&path.key("unhealthy_after"), h.unhealthy_after, 2),
        healthy_after: cx.nonzero(&path.key("healthy_after"), h.healthy_after, 2),
    };
    if !health.path.starts_with('/') {
        cx.err(
            &path.key("path"),
            format!("`{}` must start with `/`", health.path),
        );
    }
    health
}

/// `outlier = { consecutive_failures, ejection, max_ejected }`.
pub fn outlier(cx: &mut impl Check, path: &Path, o: &RawOutlier) -> OutlierConfig {
    OutlierConfig {
        consecutive_failures: cx.nonzero(
            &path.key("consecutive_failures"),
            Some(o.consecutive_failures),
            5,
        ),
        ejection: cx.duration(
            &path.key("ejection"),
            o.ejection.as_deref(),
            Duration::from_secs(10),
            false,
        ),
        max_ejected: cx.share(&path.key("max_ejected"), o.max_ejected.as_deref(), 0.5),
    }
}

/// `[gateway.tls]`: the files exist and make a rustls server configuration, read with
/// the code the listener starts with; problems at `cert_file` / `key_file` /
/// `client_ca_file`; `client_auth` one of its words, and only with `client_ca_file`.
pub fn server_tls(cx: &mut impl Check, path: &Path, raw: &RawServerTls) -> crate::tls::ServerTls {
    use crate::tls::ClientAuth;
    let client_auth = match raw.client_auth.as_deref() {
        None | Some("required") => ClientAuth::Required,
        Some("optional") => ClientAuth::Optional,
        Some(other) => {
            let hint = did_you_mean(other, ["required", "optional"]).unwrap_or_default();
            cx.err(
                &path.key("client_auth"),
                format!("unknown client_auth `{other}`{hint}; accepted: required, optional"),
            );
            ClientAuth::Required
        }
    };
    if raw.client_auth.is_some() && raw.client_ca_file.is_none() {
        cx.err(
            &path.key("client_auth"),
            "asks for client certificates but says no CA to verify them with: give `client_ca_file`",
        );
    }
    let tls = crate::tls::ServerTls {
        cert_file: cx.existing_file(&path.key("cert_file"), &raw.cert_file),
        key_file: cx.existing_file(&path.key("key_file"), &raw.key_file),
        client_ca_file: raw
            .client_ca_file
            .as_ref()
            .map(|f| cx.existing_file(&path.key("client_ca_file"), f)),
        client_auth,
    };
    if tls.cert_file.is_file()
        && tls.key_file.is_file()
        && tls.client_ca_file.as_ref().is_none_or(|p| p.is_file())
        && let Err(e) = crate::tls::server_config(&tls)
    {
        cx.err(&path.key(e.key), e.to_string());
    }
    tls
}

/// `[upstreams.NAME] tls`: at most one of `ca_file` (read and parsed now) and
/// `insecure = true`, neither meaning the system's trust store (read now: it must hold
/// a certificate); `server_name` a DNS name or an IP address. `host` is the targets'
/// one host name, the default `server_name`.
pub fn upstream_tls(
    cx: &mut impl Check,
    path: &Path,
    raw: &RawUpstreamTls,
    host: Option<&str>,
) -> crate::tls::UpstreamTls {
    use crate::tls::UpstreamVerify;
    let verify = match (&raw.ca_file, raw.insecure.unwrap_or(false)) {
        (Some(_), true) => {
            cx.err(
                &path.key("insecure"),
                "`insecure = true` verifies no certificate, so `ca_file` would be ignored: keep one of them",
            );
            UpstreamVerify::Insecure
        }
        (Some(f), false) => {
            let p = cx.existing_file(&path.key("ca_file"), f);
            if p.is_file()
                && let Err(e) = crate::tls::client_config(&UpstreamVerify::CaFile(p.clone()))
            {
                cx.err(&path.key("ca_file"), e.to_string());
            }
            UpstreamVerify::CaFile(p)
        }
        (None, true) => UpstreamVerify::Insecure,
        (None, false) => {
            if let Err(e) = crate::tls::system_roots() {
                cx.err(path, e.to_string());
            }
            UpstreamVerify::System
        }
    };
    let server_name = raw.server_name.clone().or_else(|| host.map(str::to_owned));
    if let Some(n) = &server_name
        && rustls::pki_types::ServerName::try_from(n.as_str()).is_err()
    {
        cx.err(
            &path.key("server_name"),
            format!("`{n}` is not a DNS name or an IP address"),
        );
    }
    crate::tls::UpstreamTls {
        verify,
        server_name,
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::Problems;
    use super::super::to_raw;
    use super::*;

    #[test]
    fn a_route_reports_each_problem_at_its_path_and_goes_on() {
        let mut cx = Problems::default();
        let raw = RawRoute {
            path: "items".into(),
            upstream: "apii".into(),
            methods: Some(vec!["get".into()]),
            retry: Some(RawRetry {
                attempts: 0,
                ..Default::default()
            }),
            ..Default::default()
        };
        let (route, budget) = route(&mut cx, &Path::root().key("r"), &raw, &["api"]);
        let messages: Vec<&str> = cx.problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "r.path: `items` must start with `/`",
                "r.upstream: no upstream pool `apii`; did you mean `api`?; declared: api",
                "r.methods[0]: `get` is not an HTTP method (GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS)",
                "r.retry.attempts: must be at least 1, got 0",
            ]
        );
        assert_eq!(budget, Some(0.2));
        assert_eq!(route.retry.map(|r| r.attempts.get()), Some(1));
    }

    #[test]
    fn a_checked_route_written_back_reads_the_same() {
        let mut cx = Problems::default();
        let raw = RawRoute {
            path: "/items".into(),
            upstream: "api".into(),
            rewrite: Some("/v2".into()),
            retry: Some(RawRetry {
                attempts: 3,
                per_try_timeout: Some("250ms".into()),
                budget: Some("10%".into()),
            }),
            plan: Some(RawPlan {
                rate: 5.0,
                burst: None,
                quota: None,
            }),
            ..Default::default()
        };
        let (checked, budget) = route(&mut cx, &Path::root(), &raw, &["api"]);
        let back = to_raw::route(&checked, budget);
        let (again, budget_again) = route(&mut cx, &Path::root(), &back, &["api"]);
        assert!(cx.problems.is_empty(), "{:?}", cx.problems);
        assert_eq!((again, budget_again), (checked, budget));
        assert_eq!(back.plan.and_then(|p| p.burst), Some(5));
    }
}
