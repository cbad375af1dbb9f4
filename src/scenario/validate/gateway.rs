//! `[gateway]` and `[[tenants]]`: what only the harness knows (bundled or external
//! gateway, the signing key, the scopes its tokens carry) is checked here; the gateway's
//! own keys (plans, routes, the unknown-tenant policy) by its `config::from_raw`.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use reference_gateway::config::from_raw;

use super::Checker;
use super::command::{self, RawCommand};
use crate::scenario::diagnostics::{Path, did_you_mean};
use crate::scenario::model::*;
use crate::scenario::raw::*;

pub(super) fn tenants(cx: &mut Checker<'_>, raw: &[RawTenant]) -> Vec<Tenant> {
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

pub(super) fn plan(cx: &mut Checker<'_>, path: &Path, raw: &RawPlan) -> Plan {
    from_raw::plan(cx, path, raw)
}

pub(super) fn gateway(
    cx: &mut Checker<'_>,
    g: &RawGateway,
    upstreams: &BTreeMap<String, Upstream>,
) -> Gateway {
    let path = Path::root().key("gateway");
    let target = match &g.command {
        Some(argv) => command_target(cx, &path, g, argv, upstreams),
        None => {
            command::stray_keys(cx, &path, &raw_command(g, &[]), g.config.is_some());
            target(cx, &path, g)
        }
    };
    let mut auth = g.auth.as_ref().map(|a| auth(cx, &path.key("auth"), a));
    let cache = g.cache.as_ref().map(|c| {
        let cp = path.key("cache");
        Cache {
            ttl: cx.required_duration(&cp.key("ttl"), &c.ttl),
            max_entries: cx.nonzero64(&cp.key("max_entries"), c.max_entries.unwrap_or(10_000)),
            vary: c.vary.clone().unwrap_or_default(),
        }
    });
    let rl = g.rate_limit.clone().unwrap_or_default();
    let store = store(
        cx,
        &path.key("rate_limit").key("store"),
        rl.store.as_deref(),
    );
    let unknown_tenant = from_raw::unknown_tenant(cx, &path, g);
    let pools: Vec<&str> = upstreams.keys().map(String::as_str).collect();
    let mut routes: Vec<Route> = g
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (config, retry_budget) =
                from_raw::route(cx, &path.key("routes").index(i), r, &pools);
            Route {
                config,
                retry_budget,
                strip_prefix_with_rewrite: r.rewrite.is_some() && r.strip_prefix == Some(true),
            }
        })
        .collect();
    if let Some(a) = auth.as_mut() {
        let granted: std::collections::BTreeSet<&String> =
            routes.iter().flat_map(|r| &r.scopes).collect();
        a.scopes = granted.into_iter().cloned().collect();
    }
    let external = !matches!(target, GatewayTarget::Bundled { .. });
    if routes.is_empty() && !external {
        default_route(cx, &path, upstreams, &mut routes);
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
        tls: g
            .tls
            .as_ref()
            .map(|t| from_raw::server_tls(cx, &path.key("tls"), t)),
    }
}

fn raw_command<'a>(g: &'a RawGateway, argv: &'a [String]) -> RawCommand<'a> {
    RawCommand {
        command: argv,
        env: g.env.as_ref(),
        cwd: g.cwd.as_deref(),
        ready: g.ready.as_ref(),
    }
}

/// `[gateway] command`: the user's own gateway, `instances` of it (default 1), with a
/// `config` template rendered per instance. The reference gateway's own tables
/// configure nothing then, so they are refused rather than ignored.
fn command_target(
    cx: &mut Checker<'_>,
    path: &Path,
    g: &RawGateway,
    argv: &[String],
    upstreams: &BTreeMap<String, Upstream>,
) -> GatewayTarget {
    if g.url.is_some() {
        cx.err(
            &path.key("url"),
            "give either `command` (ninefold starts your gateway) or `url` (you run it), not both",
        );
    }
    let reference_only = [
        ("routes", !g.routes.is_empty()),
        ("cache", g.cache.is_some()),
        ("api_keys", !g.api_keys.is_empty()),
        ("tls", g.tls.is_some()),
    ];
    for (key, given) in reference_only {
        if given {
            cx.err_key(&path.key(key), format!("`{key}` configures the reference gateway; your `command` gateway is configured by its own `config`"));
        }
    }
    let pools: Vec<&str> = upstreams.keys().map(String::as_str).collect();
    let config = g
        .config
        .as_deref()
        .map(|c| command::config_template(cx, &path.key("config"), c, &pools));
    let mut known = vec!["port", "dir", "instance"];
    if config.is_some() {
        known.push("config");
    }
    let command = command::command(cx, path, &raw_command(g, argv), &known);
    GatewayTarget::Command {
        instances: cx.nonzero(&path.key("instances"), g.instances, 1),
        zones: g.zones.clone().unwrap_or_default(),
        command,
        config,
    }
}

/// Bundled instances (with zones) or an external `url`.
fn target(cx: &mut Checker<'_>, path: &Path, g: &RawGateway) -> GatewayTarget {
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
            if url.contains(['?', '#']) {
                cx.err(&path.key("url"), format!("`{url}`: a query or fragment in `url` is not sent; put a query in each request's `path`"));
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
    target
}

/// `rate_limit.store`: `"local"`, `"redis"` (ninefold starts one) or a URL.
fn store(cx: &mut Checker<'_>, path: &Path, raw: Option<&str>) -> LimiterStore {
    match raw {
        None | Some("local") => LimiterStore::Local,
        Some("redis") => LimiterStore::Redis(None),
        Some(s) if s.starts_with("redis://") => LimiterStore::Redis(Some(s.to_owned())),
        Some(other) => {
            cx.err(
                path,
                format!(
                    "unknown store `{other}`; accepted: \"local\", \"redis\", \"redis://HOST:PORT\""
                ),
            );
            LimiterStore::Local
        }
    }
}

/// No `[[gateway.routes]]`: everything goes to the only pool (several pools need routes).
fn default_route(
    cx: &mut Checker<'_>,
    path: &Path,
    upstreams: &BTreeMap<String, Upstream>,
    routes: &mut Vec<Route>,
) {
    match upstreams.keys().next() {
        Some(only) if upstreams.len() == 1 => routes.push(Route {
            config: RouteConfig::new("/", only.clone()),
            retry_budget: None,
            strip_prefix_with_rewrite: false,
        }),
        Some(_) => cx.err(path, "with several upstream pools, declare `[[gateway.routes]]` saying which path goes where"),
        None => cx.err(&Path::root(), "the bundled gateway needs at least one `[upstreams.NAME]` pool to route to"),
    }
}

fn auth(cx: &mut Checker<'_>, path: &Path, a: &RawAuth) -> Auth {
    let algorithm = algorithm(cx, &path.key("algorithm"), &a.algorithm);
    let key = key_source(cx, path, a, algorithm);
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

fn algorithm(cx: &mut Checker<'_>, path: &Path, text: &str) -> JwtAlgorithm {
    match text {
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
                path,
                format!(
                    "unknown algorithm `{other}`{hint}; accepted: {}",
                    known.join(", ")
                ),
            );
            JwtAlgorithm::HS256
        }
    }
}

/// Exactly one of `secret` (HS*), `key_file` (a PEM public key) or `jwks_file`.
fn key_source(
    cx: &mut Checker<'_>,
    path: &Path,
    a: &RawAuth,
    algorithm: JwtAlgorithm,
) -> KeySource {
    match (&a.secret, &a.key_file, &a.jwks_file) {
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
    }
}
