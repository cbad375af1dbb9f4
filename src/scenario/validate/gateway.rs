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
        out.push(Tenant {
            id: t.id.clone(),
            plan,
            token: t.token.clone(),
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

/// `managed_allowed`: scenarios may ask ninefold to start instances; gateway files list targets.
pub(super) fn upstreams(
    cx: &mut Ctx<'_>,
    raw: &BTreeMap<String, RawUpstream>,
    managed_allowed: bool,
) -> BTreeMap<String, Upstream> {
    raw.iter()
        .map(|(name, u)| (name.clone(), upstream(cx, name, u, managed_allowed)))
        .collect()
}

fn upstream(cx: &mut Ctx<'_>, name: &str, u: &RawUpstream, managed_allowed: bool) -> Upstream {
    let path = Path::root().key("upstreams").key(name);
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || name == "gateway"
        || name == "zone"
        || name == "link"
    {
        cx.err_key(&path, format!("pool name `{name}` may use only letters, digits, `-` and `_`, and cannot be `gateway`, `zone` or `link`"));
    }
    let instances = match (&u.instances, &u.targets) {
        (Some(_), Some(_)) => {
            cx.err(&path.key("targets"), "give either `instances` (ninefold starts them) or `targets` (you run them), not both");
            Instances::Managed(std::num::NonZeroU32::MIN)
        }
        (Some(n), None) if managed_allowed => {
            Instances::Managed(cx.nonzero(&path.key("instances"), Some(*n), 1))
        }
        (Some(_), None) => {
            cx.err(&path.key("instances"), "a gateway configuration lists the instances it balances over as `targets = [\"127.0.0.1:9001\", …]`");
            Instances::Targets(Vec::new())
        }
        (None, Some(targets)) => {
            if targets.is_empty() {
                cx.err(&path.key("targets"), "must list at least one `host:port`");
            }
            for (i, t) in targets.iter().enumerate() {
                if !is_host_port(t) {
                    cx.err(
                        &path.key("targets").index(i),
                        format!("`{t}` is not `host:port` (e.g. \"127.0.0.1:9001\")"),
                    );
                }
            }
            Instances::Targets(targets.clone())
        }
        (None, None) if managed_allowed => Instances::Managed(std::num::NonZeroU32::MIN),
        (None, None) => {
            cx.err(&path, "missing required key `targets`");
            Instances::Targets(Vec::new())
        }
    };
    let balance = match u.balance.as_deref().unwrap_or("round-robin") {
        "round-robin" => Balance::RoundRobin,
        "least-request" => Balance::LeastRequest,
        "random" => Balance::Random,
        other => match other.strip_prefix("hash:") {
            Some(h) if http::HeaderName::from_bytes(h.as_bytes()).is_ok() => {
                Balance::Hash(h.to_ascii_lowercase())
            }
            _ => {
                let hint = did_you_mean(other, ["round-robin", "least-request", "random"])
                    .unwrap_or_default();
                cx.err(&path.key("balance"), format!("unknown policy `{other}`{hint}; accepted: round-robin, least-request, random, hash:<header>"));
                Balance::RoundRobin
            }
        },
    };
    let h = u.health.clone().unwrap_or_default();
    let hp = path.key("health");
    let health = HealthCheck {
        path: h.path.clone().unwrap_or_else(|| "/health".into()),
        interval: cx.duration(
            &hp.key("interval"),
            h.interval.as_deref(),
            Duration::from_secs(1),
            false,
        ),
        timeout: cx.duration(
            &hp.key("timeout"),
            h.timeout.as_deref(),
            Duration::from_millis(250),
            false,
        ),
        unhealthy_after: cx.nonzero(&hp.key("unhealthy_after"), h.unhealthy_after, 2),
        healthy_after: cx.nonzero(&hp.key("healthy_after"), h.healthy_after, 2),
    };
    if !health.path.starts_with('/') {
        cx.err(
            &hp.key("path"),
            format!("`{}` must start with `/`", health.path),
        );
    }
    let outlier = u.outlier.as_ref().map(|o| {
        let op = path.key("outlier");
        Outlier {
            consecutive_failures: cx.nonzero(
                &op.key("consecutive_failures"),
                Some(o.consecutive_failures),
                5,
            ),
            ejection: cx.duration(
                &op.key("ejection"),
                o.ejection.as_deref(),
                Duration::from_secs(10),
                false,
            ),
            max_ejected: cx.share(&op.key("max_ejected"), o.max_ejected.as_deref(), 0.5),
        }
    });
    let restart_after = u.restart.as_ref().map(|r| {
        cx.duration(
            &path.key("restart").key("after"),
            Some(&r.after),
            Duration::ZERO,
            true,
        )
    });
    if restart_after.is_some() && matches!(instances, Instances::Targets(_)) {
        cx.err(
            &path.key("restart"),
            "ninefold can only replace instances it starts; use `instances` instead of `targets`",
        );
    }
    let latency = latency(cx, &path.key("latency"), u.latency.as_ref());
    let errors = match &u.errors {
        None => ErrorModel {
            rate: 0.0,
            status: 500,
        },
        Some(e) => ErrorModel {
            rate: cx.unit_interval(&path.key("errors").key("rate"), e.rate),
            status: cx.status(&path.key("errors").key("status"), e.status.unwrap_or(500)),
        },
    };
    let store = match u.store.as_deref() {
        None | Some("sqlite") => StoreSpec::Sqlite(None),
        Some("redis") => StoreSpec::Redis(None),
        Some(s) if s.starts_with("redis://") => StoreSpec::Redis(Some(s.to_owned())),
        Some(s) if s.starts_with("sqlite:") => {
            StoreSpec::Sqlite(Some(cx.base_dir.join(&s["sqlite:".len()..])))
        }
        Some(other) => {
            cx.err(&path.key("store"), format!("unknown store `{other}`; accepted: \"sqlite\", \"sqlite:PATH\", \"redis\", \"redis://HOST:PORT\""));
            StoreSpec::Sqlite(None)
        }
    };
    let serverless = u.serverless.as_ref().map(|s| {
        let sp = path.key("serverless");
        let status = s.over_limit_status.unwrap_or(429);
        if status != 429 && status != 503 {
            cx.err(
                &sp.key("over_limit_status"),
                format!("must be 429 or 503, got {status}"),
            );
        }
        Serverless {
            cold_start: cx.duration(
                &sp.key("cold_start"),
                Some(&s.cold_start),
                Duration::ZERO,
                true,
            ),
            idle_after: cx.duration(
                &sp.key("idle_after"),
                s.idle_after.as_deref(),
                Duration::from_secs(60),
                false,
            ),
            concurrency: cx.nonzero(&sp.key("concurrency"), Some(s.concurrency), 1),
            over_limit_status: status,
        }
    });
    Upstream {
        name: name.to_owned(),
        instances,
        zones: u.zones.clone().unwrap_or_default(),
        balance,
        health,
        outlier,
        restart_after,
        latency,
        errors,
        store,
        serverless,
        payload_bytes: u.payload_bytes.unwrap_or(256),
    }
}

fn latency(cx: &mut Ctx<'_>, path: &Path, raw: Option<&RawLatency>) -> LatencyModel {
    let Some(l) = raw else {
        return LatencyModel::None;
    };
    let d = |cx: &mut Ctx<'_>, key: &str, v: &Option<String>| {
        cx.duration(&path.key(key), v.as_deref(), Duration::ZERO, true)
    };
    match (&l.median, &l.p99, &l.fixed, &l.min, &l.max) {
        (Some(_), Some(_), None, None, None) => {
            let median = d(cx, "median", &l.median);
            let p99 = d(cx, "p99", &l.p99);
            if p99 < median {
                cx.err(&path.key("p99"), "must be at least the median");
            }
            if median.is_zero() {
                cx.err(
                    &path.key("median"),
                    "must be longer than 0 (use `fixed = \"0s\"` for no latency)",
                );
            }
            LatencyModel::LogNormal { median, p99 }
        }
        (None, None, Some(_), None, None) => LatencyModel::Fixed(d(cx, "fixed", &l.fixed)),
        (None, None, None, Some(_), Some(_)) => {
            let (min, max) = (d(cx, "min", &l.min), d(cx, "max", &l.max));
            if max < min {
                cx.err(&path.key("max"), "must be at least `min`");
            }
            LatencyModel::Uniform { min, max }
        }
        _ => {
            cx.err(
                path,
                "give `{ median, p99 }` (lognormal), `{ fixed }` or `{ min, max }`",
            );
            LatencyModel::None
        }
    }
}

fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok_and(|p| p > 0)
        }
        None => false,
    }
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
            if s.is_empty() {
                cx.err(&path.key("secret"), "must not be empty");
            }
            KeySource::Secret(s.clone())
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
            KeySource::Secret(String::new())
        }
        _ => {
            cx.err(
                path,
                "give exactly one of `secret`, `key_file`, `jwks_file`",
            );
            KeySource::Secret(String::new())
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
