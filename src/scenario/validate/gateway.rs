//! `[gateway]`, `[upstreams.*]` and `[[tenants]]`.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use http::Method;

use super::Ctx;
use crate::scenario::diagnostics::{Path, did_you_mean};
use crate::scenario::human::parse_duration;
use crate::scenario::model::*;
use crate::scenario::raw::*;

pub(super) fn tenants(cx: &mut Ctx<'_>, raw: &[RawTenant]) -> Vec<Tenant> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        let path = Path::root().key("tenants").index(i);
        if t.id.trim().is_empty() {
            cx.err(&path.key("id"), "must not be empty");
        } else if !seen.insert(t.id.clone()) {
            cx.err(
                &path.key("id"),
                format!(
                    "duplicate tenant id `{}`; each tenant is declared once",
                    t.id
                ),
            );
        }
        let plan = plan(cx, &path.key("plan"), &t.plan);
        let credentials = super::credentials::tenant(cx, &path, t);
        let token = t
            .token
            .as_deref()
            .map(|text| super::credentials::constant(cx, &path.key("token"), text).render_static());
        out.push(Tenant {
            id: t.id.clone(),
            plan,
            token,
            credentials,
        });
    }
    out
}

pub(super) fn plan(cx: &mut Ctx<'_>, path: &Path, raw: &RawPlan) -> Plan {
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

pub(super) fn gateway(
    cx: &mut Ctx<'_>,
    g: &RawGateway,
    upstreams: &BTreeMap<String, Upstream>,
) -> Gateway {
    let path = Path::root().key("gateway");
    let target = match (&g.url, g.instances) {
        (Some(_), Some(_)) => {
            cx.err(
                &path.key("instances"),
                "an external gateway (`url`) is not started by ninefold: remove `instances`",
            );
            GatewayTarget::Bundled {
                instances: std::num::NonZeroU32::MIN,
                zones: Vec::new(),
            }
        }
        (Some(url), None) => {
            let authority = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"))
                .map(|rest| rest.split('/').next().unwrap_or_default());
            let ok = authority
                .is_some_and(|a| !a.is_empty() && a.parse::<http::uri::Authority>().is_ok());
            if !ok {
                cx.err(&path.key("url"), format!("`{url}` is not an http:// or https:// URL such as \"http://127.0.0.1:8080\""));
            }
            GatewayTarget::External {
                url: url.trim_end_matches('/').to_owned(),
            }
        }
        (None, n) => GatewayTarget::Bundled {
            instances: cx.nonzero(&path.key("instances"), n, 1),
            zones: g.zones.clone().unwrap_or_default(),
        },
    };
    if matches!(target, GatewayTarget::External { .. }) && g.zones.is_some() {
        cx.err(
            &path.key("zones"),
            "zones apply to gateway instances ninefold starts; remove them with `url`",
        );
    }
    let auth = g.auth.as_ref().map(|a| auth(cx, &path.key("auth"), a));
    let cache = g.cache.as_ref().map(|c| {
        let cp = path.key("cache");
        Cache {
            ttl: cx.required_duration(&cp.key("ttl"), &c.ttl),
            max_entries: cx.nonzero64(&cp.key("max_entries"), c.max_entries.unwrap_or(10_000)),
            vary: c.vary.clone().unwrap_or_default(),
        }
    });
    let rl = g.rate_limit.clone().unwrap_or_default();
    let store = match rl.store.as_deref() {
        None | Some("local") => LimiterStore::Local,
        Some("redis") => LimiterStore::Redis(None),
        Some(s) if s.starts_with("redis://") => LimiterStore::Redis(Some(s.to_owned())),
        Some(other) => {
            cx.err(
                &path.key("rate_limit").key("store"),
                format!(
                    "unknown store `{other}`; accepted: \"local\", \"redis\", \"redis://HOST:PORT\""
                ),
            );
            LimiterStore::Local
        }
    };
    let unknown_tenant = match (g.unknown_tenant.as_deref(), &g.default_plan) {
        (None | Some("reject"), None) => UnknownTenant::Reject,
        (None | Some("default"), Some(p)) => {
            UnknownTenant::DefaultPlan(plan(cx, &path.key("default_plan"), p))
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
    };
    let mut routes: Vec<Route> = g
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| route(cx, &path.key("routes").index(i), r, upstreams))
        .collect();
    let mut auth = auth;
    if let Some(a) = auth.as_mut() {
        let granted: std::collections::BTreeSet<&String> =
            routes.iter().flat_map(|r| &r.scopes).collect();
        a.scopes = granted.into_iter().cloned().collect();
    }
    let external = matches!(target, GatewayTarget::External { .. });
    if routes.is_empty() && !external {
        match upstreams.keys().next() {
            Some(only) if upstreams.len() == 1 => routes.push(Route {
                path: "/".into(),
                upstream: only.clone(),
                methods: Vec::new(),
                cache: false,
                retry: None,
                strip_prefix: false,
                rewrite: None,
                scopes: Vec::new(),
                plan: None,
                timeout: None,
            }),
            Some(_) => cx.err(&path, "with several upstream pools, declare `[[gateway.routes]]` saying which path goes where"),
            None => cx.err(&Path::root(), "the bundled gateway needs at least one `[upstreams.NAME]` pool to route to"),
        }
    }
    Gateway {
        target,
        request_timeout: cx.duration(
            &path.key("request_timeout"),
            g.request_timeout.as_deref(),
            Duration::from_secs(2),
            false,
        ),
        auth,
        cache,
        rate_limit: RateLimit {
            store,
            fail_open: rl.fail_open.unwrap_or(true),
        },
        routes,
        unknown_tenant,
        max_body_bytes: g.max_body_bytes.unwrap_or(1 << 20),
        // Checked against the tenants by `credentials::api_keys`.
        api_keys: Vec::new(),
    }
}

fn auth(cx: &mut Ctx<'_>, path: &Path, a: &RawAuth) -> Auth {
    let algorithm = match a.algorithm.as_str() {
        "HS256" => JwtAlgorithm::HS256,
        "HS384" => JwtAlgorithm::HS384,
        "HS512" => JwtAlgorithm::HS512,
        "RS256" => JwtAlgorithm::RS256,
        "PS256" => JwtAlgorithm::PS256,
        "ES256" => JwtAlgorithm::ES256,
        "EdDSA" => JwtAlgorithm::EdDSA,
        other => {
            let known = [
                "HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "EdDSA",
            ];
            let hint = did_you_mean(other, known).unwrap_or_default();
            cx.err(
                &path.key("algorithm"),
                format!(
                    "unknown algorithm `{other}`{hint}; accepted: {}",
                    known.join(", ")
                ),
            );
            JwtAlgorithm::HS256
        }
    };
    let key = match (&a.secret, &a.key_file, &a.jwks_file) {
        (Some(s), None, None) => {
            if !algorithm.is_hmac() {
                cx.err(&path.key("secret"), format!("{algorithm:?} verifies with a public key: give `key_file` or `jwks_file`, not `secret`"));
            }
            let secret = super::credentials::constant(cx, &path.key("secret"), s);
            if secret.render_static().is_empty() {
                cx.err(&path.key("secret"), "must not be empty");
            }
            KeySource::Secret(secret)
        }
        (None, Some(f), None) => {
            if algorithm.is_hmac() {
                cx.err(
                    &path.key("key_file"),
                    format!("{algorithm:?} uses a shared `secret`, not a key file"),
                );
            }
            KeySource::KeyFile(cx.existing_file(&path.key("key_file"), f))
        }
        (None, None, Some(f)) => KeySource::JwksFile(cx.existing_file(&path.key("jwks_file"), f)),
        (None, None, None) => {
            cx.err(
                path,
                "give the key: `secret` (HS*), `key_file` or `jwks_file`",
            );
            KeySource::Secret(crate::scenario::template::Template::default())
        }
        _ => {
            cx.err(
                path,
                "give exactly one of `secret`, `key_file`, `jwks_file`",
            );
            KeySource::Secret(crate::scenario::template::Template::default())
        }
    };
    let signing_key_file = a
        .signing_key_file
        .as_ref()
        .map(|f| cx.existing_file(&path.key("signing_key_file"), f));
    Auth {
        algorithm,
        key,
        signing_key_file,
        issuer: a.issuer.clone(),
        audience: a.audience.clone(),
        tenant_claim: a.tenant_claim.clone().unwrap_or_else(|| "tenant_id".into()),
        leeway: cx.duration(
            &path.key("leeway"),
            a.leeway.as_deref(),
            Duration::from_secs(5),
            true,
        ),
        forward_authorization: a.forward_authorization.unwrap_or(false),
        scopes: Vec::new(),
    }
}

fn route(
    cx: &mut Ctx<'_>,
    path: &Path,
    r: &RawRoute,
    upstreams: &BTreeMap<String, Upstream>,
) -> Route {
    if !r.path.starts_with('/') {
        cx.err(
            &path.key("path"),
            format!("`{}` must start with `/`", r.path),
        );
    }
    if !upstreams.contains_key(&r.upstream) {
        let hint =
            did_you_mean(&r.upstream, upstreams.keys().map(String::as_str)).unwrap_or_default();
        let known: Vec<&str> = upstreams.keys().map(String::as_str).collect();
        cx.err(
            &path.key("upstream"),
            format!(
                "no upstream pool `{}`{hint}; declared: {}",
                r.upstream,
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        );
    }
    let methods = r
        .methods
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, m)| match Method::from_bytes(m.as_bytes()) {
            Ok(method) if m.chars().all(|c| c.is_ascii_uppercase()) => Some(method),
            _ => {
                cx.err(
                    &path.key("methods").index(i),
                    format!(
                        "`{m}` is not an HTTP method (GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS)"
                    ),
                );
                None
            }
        })
        .collect();
    let retry = r.retry.as_ref().map(|rt| {
        let rp = path.key("retry");
        Retry {
            attempts: cx.nonzero(&rp.key("attempts"), Some(rt.attempts), 1),
            per_try_timeout: cx.duration(
                &rp.key("per_try_timeout"),
                rt.per_try_timeout.as_deref(),
                Duration::from_millis(500),
                false,
            ),
            budget: cx.share(&rp.key("budget"), rt.budget.as_deref(), 0.2),
        }
    });
    if r.rewrite.as_deref().is_some_and(|w| !w.starts_with('/')) {
        cx.err(&path.key("rewrite"), "must start with `/`");
    }
    Route {
        path: r.path.clone(),
        upstream: r.upstream.clone(),
        methods,
        cache: r.cache.unwrap_or(false),
        retry,
        strip_prefix: r.strip_prefix.unwrap_or(false),
        rewrite: r.rewrite.clone(),
        scopes: r.scopes.clone().unwrap_or_default(),
        plan: r.plan.as_ref().map(|p| plan(cx, &path.key("plan"), p)),
        timeout: r
            .timeout
            .as_deref()
            .map(|t| cx.duration(&path.key("timeout"), Some(t), Duration::from_secs(1), false)),
    }
}
