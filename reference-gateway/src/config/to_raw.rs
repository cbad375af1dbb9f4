//! Checked → raw: a checked section written back with every default explicit (the
//! inverse of [`super::from_raw`]), for the `ninefold` crate's scenario "as run" and
//! the configuration file it hands a gateway process.

use std::time::Duration;

use super::human::format_duration;
use super::raw::*;
use super::*;

fn d(v: Duration) -> String {
    format_duration(v)
}

/// A share as a percentage string, `"20%"`.
pub fn pct(v: f64) -> String {
    let p = (v * 100.0 * 1e9).round() / 1e9;
    format!("{p}%")
}

impl From<&Plan> for RawPlan {
    fn from(p: &Plan) -> Self {
        RawPlan {
            rate: p.rate,
            burst: Some(p.burst.get()),
            quota: p.quota.map(|q| RawQuota {
                limit: q.limit.get(),
                period: match q.period {
                    QuotaPeriod::Day => "day".into(),
                    QuotaPeriod::Week => "week".into(),
                    QuotaPeriod::Month => "month".into(),
                    QuotaPeriod::Every(p) => d(p),
                },
            }),
        }
    }
}

/// `(unknown_tenant, default_plan)` of `[gateway]`.
pub fn unknown_tenant(u: &UnknownTenant) -> (Option<String>, Option<RawPlan>) {
    match u {
        UnknownTenant::Reject | UnknownTenant::Unlimited => (Some("reject".to_owned()), None),
        UnknownTenant::Plan(p) => (Some("default".to_owned()), Some(p.into())),
    }
}

/// A route with its retry `budget` (written on its `retry`).
pub fn route(r: &RouteConfig, budget: Option<f64>) -> RawRoute {
    let (strip_prefix, rewrite) = match &r.rewrite {
        Rewrite::Keep => (false, None),
        Rewrite::StripPrefix => (true, None),
        Rewrite::ReplacePrefix(p) => (false, Some(p.clone())),
    };
    RawRoute {
        path: r.path.clone(),
        upstream: r.upstream.clone(),
        methods: (!r.methods.is_empty()).then(|| r.methods.iter().map(|m| m.to_string()).collect()),
        cache: Some(r.cache),
        retry: r.retry.as_ref().map(|rt| RawRetry {
            attempts: rt.attempts.get(),
            per_try_timeout: Some(d(rt.per_try_timeout)),
            budget: Some(pct(budget.unwrap_or(0.2))),
        }),
        strip_prefix: Some(strip_prefix),
        rewrite,
        scopes: (!r.scopes.is_empty()).then(|| r.scopes.clone()),
        plan: r.plan.as_ref().map(RawPlan::from),
        timeout: r.timeout.map(d),
    }
}

/// `balance = "…"`.
pub fn balance(b: &Balance) -> String {
    match b {
        Balance::RoundRobin => "round-robin".into(),
        Balance::LeastRequest => "least-request".into(),
        Balance::Random => "random".into(),
        Balance::Hash(h) => format!("hash:{h}"),
    }
}

impl From<&HealthConfig> for RawHealth {
    fn from(h: &HealthConfig) -> Self {
        RawHealth {
            path: Some(h.path.clone()),
            interval: Some(d(h.interval)),
            timeout: Some(d(h.timeout)),
            unhealthy_after: Some(h.unhealthy_after.get()),
            healthy_after: Some(h.healthy_after.get()),
        }
    }
}

impl From<&OutlierConfig> for RawOutlier {
    fn from(o: &OutlierConfig) -> Self {
        RawOutlier {
            consecutive_failures: o.consecutive_failures.get(),
            ejection: Some(d(o.ejection)),
            max_ejected: Some(pct(o.max_ejected)),
        }
    }
}

/// `[gateway.tls]` as written (`client_auth` said when client certificates are asked).
pub fn server_tls(t: &crate::tls::ServerTls) -> RawServerTls {
    RawServerTls {
        cert_file: t.cert_file.display().to_string(),
        key_file: t.key_file.display().to_string(),
        client_ca_file: t.client_ca_file.as_ref().map(|p| p.display().to_string()),
        client_auth: t
            .client_ca_file
            .is_some()
            .then(|| t.client_auth.as_str().to_owned()),
    }
}

/// `[upstreams.NAME] tls` as written (the system's store: neither `ca_file` nor `insecure`).
pub fn upstream_tls(t: &crate::tls::UpstreamTls) -> RawUpstreamTls {
    use crate::tls::UpstreamVerify;
    RawUpstreamTls {
        ca_file: match &t.verify {
            UpstreamVerify::CaFile(p) => Some(p.display().to_string()),
            UpstreamVerify::System | UpstreamVerify::Insecure => None,
        },
        insecure: matches!(t.verify, UpstreamVerify::Insecure).then_some(true),
        server_name: t.server_name.clone(),
    }
}
