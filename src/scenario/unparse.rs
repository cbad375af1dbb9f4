//! Domain → raw: a validated scenario written back as a scenario file.
//!
//! Used for round-trip tests (raw → model → TOML → model), for the scenario
//! "as run" in reports (with [`redact`] hiding secrets), and for time scaling.

use std::collections::BTreeMap;

use reference_gateway::config::to_raw as gw;

use super::human::format_duration;
use super::model::*;
use super::raw::*;

#[path = "unparse_checks.rs"]
mod checks;
use checks::{check, integrity};

fn d(v: std::time::Duration) -> String {
    format_duration(v)
}

/// The raw form of a validated scenario (every default made explicit).
pub fn to_raw(s: &Scenario) -> RawScenario {
    RawScenario {
        name: s.name.clone(),
        description: (!s.description.is_empty()).then(|| s.description.clone()),
        duration: d(s.duration),
        seed: s.seed,
        confidence: Some(s.confidence),
        gateway: Some(gateway(&s.gateway)),
        upstreams: s
            .upstreams
            .iter()
            .map(|(k, u)| (k.clone(), upstream(u)))
            .collect(),
        tenants: s
            .tenants
            .iter()
            .map(|t| RawTenant {
                id: t.id.clone(),
                plan: plan(&t.plan),
                token: t.token.clone(),
                api_key: t.credentials.api_key.as_ref().map(ToString::to_string),
                headers: (!t.credentials.headers.is_empty()).then(|| {
                    t.credentials
                        .headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                }),
                oauth2: t.credentials.oauth2.as_ref().map(|o| RawOAuth2 {
                    token_url: o.token_url.clone(),
                    client_id: o.client_id.to_string(),
                    client_secret: o.client_secret.to_string(),
                    scope: o.scope.clone(),
                }),
            })
            .collect(),
        traffic: s.traffic.iter().map(phase).collect(),
        faults: s.faults.iter().map(fault).collect(),
        toxiproxy: match &s.fault_proxy {
            FaultProxy::Embedded => None,
            FaultProxy::External(url) => Some(RawToxiproxy { url: url.clone() }),
        },
        links: s
            .links
            .iter()
            .map(|l| RawLink {
                name: l.name.clone(),
                listen: l.listen.to_string(),
                upstream: l.upstream.clone(),
            })
            .collect(),
        slo: s
            .slos
            .iter()
            .map(|o| {
                let objective = o.objective.to_string();
                let value = if o.abort {
                    RawSlo::Table(RawSloTable {
                        objective,
                        abort: Some(true),
                    })
                } else {
                    RawSlo::Objective(objective)
                };
                (o.name.clone(), value)
            })
            .collect(),
        client: client(&s.client),
    }
}

/// `[client]`, absent when every setting is the default.
fn client(c: &Client) -> Option<RawClient> {
    if *c == Client::default() {
        return None;
    }
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let t = &c.tls;
    Some(RawClient {
        tls: (!t.is_default()).then(|| RawClientTls {
            ca_file: path(&t.ca_file),
            cert_file: path(&t.cert_file),
            key_file: path(&t.key_file),
            insecure: t.insecure.then_some(true),
        }),
        protocol: Some(c.protocol.name().to_owned()),
        connect_to: (!c.connect_to.is_empty())
            .then(|| c.connect_to.iter().map(ToString::to_string).collect()),
        resolve_every: (c.resolve_every != crate::scenario::model::DEFAULT_RESOLVE_EVERY)
            .then(|| d(c.resolve_every)),
    })
}

/// Hide secrets (JWT secrets, static tokens, URLs with credentials) before a
/// scenario is shown in a report.
pub fn redact(raw: &mut RawScenario) {
    const HIDDEN: &str = "<redacted>";
    if let Some(auth) = raw.gateway.as_mut().and_then(|g| g.auth.as_mut())
        && auth.secret.is_some()
    {
        auth.secret = Some(HIDDEN.into());
    }
    for t in &mut raw.tenants {
        if t.token.is_some() {
            t.token = Some(HIDDEN.into());
        }
        // `{env:NAME}` names a secret without holding it: those stay, literal keys go.
        for v in t
            .api_key
            .iter_mut()
            .chain(t.headers.iter_mut().flat_map(|h| h.values_mut()))
        {
            if !only_references(v) {
                *v = HIDDEN.into();
            }
        }
        if let Some(o) = t.oauth2.as_mut()
            && !only_references(&o.client_secret)
        {
            o.client_secret = HIDDEN.into();
        }
    }
    if let Some(g) = raw.gateway.as_mut() {
        for k in &mut g.api_keys {
            if !only_references(&k.key) {
                k.key = HIDDEN.into();
            }
        }
    }
    let scrub = |url: &mut String| {
        if let Some((scheme, rest)) = url.split_once("://")
            && let Some((_, host)) = rest.split_once('@')
        {
            *url = format!("{scheme}://{HIDDEN}@{host}");
        }
    };
    for u in raw.upstreams.values_mut() {
        if let Some(store) = u.store.as_mut() {
            scrub(store);
        }
    }
    if let Some(store) = raw
        .gateway
        .as_mut()
        .and_then(|g| g.rate_limit.as_mut())
        .and_then(|r| r.store.as_mut())
    {
        scrub(store);
    }
    for p in &mut raw.traffic {
        for r in &mut p.requests {
            if let Some(h) = r.headers.as_mut() {
                for (k, v) in h.iter_mut() {
                    if SECRET_HEADERS.iter().any(|s| k.eq_ignore_ascii_case(s))
                        && !only_references(v)
                    {
                        *v = HIDDEN.into();
                    }
                }
            }
        }
    }
}

/// Request headers whose literal values are credentials.
const SECRET_HEADERS: [&str; 7] = [
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "apikey",
    "api-key",
    "x-auth-token",
    "cookie",
];

/// Whether a credential's template holds no secret of its own: only variables
/// (`{env:NAME}`, `{tenant.api_key}`, …) and at most an auth scheme (`Bearer `).
fn only_references(text: &str) -> bool {
    use super::template::{Part, Template};
    Template::parse(text).is_ok_and(|t| {
        t.parts().iter().all(|p| match p {
            Part::Literal(l) => ["Bearer ", "Basic ", "Token ", "ApiKey "].contains(&l.as_str()),
            _ => true,
        })
    })
}

fn plan(p: &Plan) -> RawPlan {
    p.into()
}

fn gateway(g: &Gateway) -> RawGateway {
    let (instances, zones, url) = match &g.target {
        GatewayTarget::Bundled { instances, zones }
        | GatewayTarget::Command {
            instances, zones, ..
        } => (
            Some(instances.get()),
            (!zones.is_empty()).then(|| zones.clone()),
            None,
        ),
        GatewayTarget::External { url } => (None, None, Some(url.clone())),
    };
    let (command, config, ready, env, cwd) = gateway_command(g);
    let (unknown_tenant, default_plan) = gw::unknown_tenant(&g.unknown_tenant);
    RawGateway {
        instances,
        zones,
        url,
        command,
        config,
        ready,
        env,
        cwd,
        request_timeout: Some(d(g.request_timeout)),
        max_body_bytes: Some(g.max_body_bytes),
        tls: g.tls.as_ref().map(gw::server_tls),
        unknown_tenant,
        default_plan,
        auth: g.auth.as_ref().map(|a| {
            let (secret, key_file, jwks_file) = match &a.key {
                KeySource::Secret(s) => (Some(s.to_string()), None, None),
                KeySource::KeyFile(p) => (None, Some(p.display().to_string()), None),
                KeySource::JwksFile(p) => (None, None, Some(p.display().to_string())),
            };
            RawAuth {
                algorithm: format!("{:?}", a.algorithm),
                secret,
                key_file,
                jwks_file,
                signing_key_file: a.signing_key_file.as_ref().map(|p| p.display().to_string()),
                issuer: a.issuer.clone(),
                audience: a.audience.clone(),
                tenant_claim: Some(a.tenant_claim.clone()),
                leeway: Some(d(a.leeway)),
                forward_authorization: Some(a.forward_authorization),
            }
        }),
        cache: g.cache.as_ref().map(|c| RawCache {
            ttl: d(c.ttl),
            max_entries: Some(c.max_entries.get()),
            vary: (!c.vary.is_empty()).then(|| c.vary.clone()),
        }),
        rate_limit: Some(RawRateLimit {
            store: Some(match &g.rate_limit.store {
                LimiterStore::Local => "local".into(),
                LimiterStore::Redis(None) => "redis".into(),
                LimiterStore::Redis(Some(url)) => url.clone(),
            }),
            fail_open: Some(g.rate_limit.fail_open),
        }),
        routes: g.routes.iter().map(route).collect(),
        api_keys: g
            .api_keys
            .iter()
            .map(|k| RawApiKey {
                key: k.key.to_string(),
                tenant: k.tenant.clone(),
            })
            .collect(),
    }
}

fn route(r: &Route) -> RawRoute {
    let mut raw = gw::route(&r.config, r.retry_budget);
    if r.strip_prefix_with_rewrite {
        raw.strip_prefix = Some(true);
    }
    raw
}

/// The raw `command`, `config`, `ready`, `env` and `cwd` of `[gateway]`.
#[allow(clippy::type_complexity)]
fn gateway_command(
    g: &Gateway,
) -> (
    Option<Vec<String>>,
    Option<String>,
    Option<RawReady>,
    Option<BTreeMap<String, String>>,
    Option<String>,
) {
    let GatewayTarget::Command {
        command, config, ..
    } = &g.target
    else {
        return (None, None, None, None, None);
    };
    let (command, ready, env, cwd) = command_keys(Some(command));
    let config = config.as_ref().map(|p| p.display().to_string());
    (command, config, ready, env, cwd)
}

/// The raw `command`, `ready`, `env` and `cwd` of a program of the user's.
#[allow(clippy::type_complexity)]
fn command_keys(
    c: Option<&ProcessCommand>,
) -> (
    Option<Vec<String>>,
    Option<RawReady>,
    Option<BTreeMap<String, String>>,
    Option<String>,
) {
    let Some(c) = c else {
        return (None, None, None, None);
    };
    let ready = match &c.ready {
        CommandReady::Http(path) => RawReady {
            http: Some(path.clone()),
            ..RawReady::default()
        },
        CommandReady::Line(pattern) => RawReady {
            line: Some(pattern.clone()),
            ..RawReady::default()
        },
    };
    let ready = RawReady {
        timeout: Some(d(c.ready_timeout)),
        ..ready
    };
    (
        Some(c.argv.clone()),
        Some(ready),
        (!c.env.is_empty()).then(|| c.env.iter().cloned().collect()),
        Some(c.cwd.display().to_string()),
    )
}

fn upstream(u: &Upstream) -> RawUpstream {
    let (instances, targets, command) = match &u.instances {
        Instances::Managed(n) => (Some(n.get()), None, None),
        Instances::Targets(t) => (None, Some(t.clone()), None),
        Instances::Command { count, command } => (Some(count.get()), None, Some(command)),
    };
    let mock = command.is_none();
    let (command, ready, env, cwd) = command_keys(command);
    let raw = RawUpstream {
        instances,
        targets,
        command,
        ready,
        env,
        cwd,
        zones: (!u.zones.is_empty()).then(|| u.zones.clone()),
        balance: Some(gw::balance(&u.balance)),
        health: Some((&u.health).into()),
        outlier: u.outlier.as_ref().map(RawOutlier::from),
        tls: u.tls.as_ref().map(gw::upstream_tls),
        restart: u.restart_after.map(|a| RawRestart { after: d(a) }),
        latency: match &u.latency {
            LatencyModel::None => None,
            LatencyModel::Fixed(f) => Some(RawLatency {
                fixed: Some(d(*f)),
                ..Default::default()
            }),
            LatencyModel::Uniform { min, max } => Some(RawLatency {
                min: Some(d(*min)),
                max: Some(d(*max)),
                ..Default::default()
            }),
            LatencyModel::LogNormal { median, p99 } => Some(RawLatency {
                median: Some(d(*median)),
                p99: Some(d(*p99)),
                ..Default::default()
            }),
        },
        errors: Some(RawErrors {
            rate: u.errors.rate,
            status: Some(u.errors.status),
        }),
        store: Some(match &u.store {
            StoreSpec::Sqlite(None) => "sqlite".into(),
            StoreSpec::Sqlite(Some(p)) => format!("sqlite:{}", p.display()),
            StoreSpec::Redis(None) => "redis".into(),
            StoreSpec::Redis(Some(url)) => url.clone(),
        }),
        serverless: u.serverless.as_ref().map(|s| RawServerless {
            cold_start: d(s.cold_start),
            idle_after: Some(d(s.idle_after)),
            concurrency: s.concurrency.get(),
            over_limit_status: Some(s.over_limit_status),
        }),
        payload_bytes: Some(u.payload_bytes),
    };
    if mock { raw } else { without_mock_keys(raw) }
}

/// A `command` is the user's service: the keys that shape the mock backend are not its.
fn without_mock_keys(raw: RawUpstream) -> RawUpstream {
    RawUpstream {
        latency: None,
        errors: None,
        store: None,
        serverless: None,
        payload_bytes: None,
        ..raw
    }
}

fn stages(s: &[Stage]) -> Option<Vec<RawStage>> {
    Some(
        s.iter()
            .map(|s| RawStage {
                duration: d(s.duration),
                target: s.target,
            })
            .collect(),
    )
}

fn arrivals(a: Arrivals) -> Option<String> {
    Some(match a {
        Arrivals::Uniform => "uniform".into(),
        Arrivals::Poisson => "poisson".into(),
    })
}

fn phase(p: &TrafficPhase) -> RawPhase {
    let mut raw = RawPhase {
        name: Some(p.name.clone()),
        start: Some(d(p.start)),
        duration: Some(d(p.duration)),
        // An anonymous phase (no tenants declared) has no mix: `{}` would read back as weights summing to 0.
        tenants: (!p.tenants.is_empty())
            .then(|| p.tenants.iter().cloned().collect::<BTreeMap<_, _>>()),
        requests: p.requests.iter().map(|r| request(r, p.flow)).collect(),
        expect: (!p.expect.is_empty()).then(|| p.expect.clone()),
        timeout: Some(d(p.timeout)),
        connections: Some(p.connections.get()),
        max_in_flight: Some(p.max_in_flight.get()),
        retries: Some(p.client_retries),
        protocol: p.protocol.map(|x| x.name().to_owned()),
        max_streams: p.max_streams.map(std::num::NonZeroU32::get),
        flow: p.flow.then_some(true),
        ..Default::default()
    };
    match &p.executor {
        Executor::ConstantArrivalRate { rate, arrivals: a } => {
            raw.executor = "constant-arrival-rate".into();
            raw.rate = Some(*rate);
            raw.arrivals = arrivals(*a);
        }
        Executor::RampingArrivalRate {
            start_rate,
            stages: s,
            arrivals: a,
        } => {
            raw.executor = "ramping-arrival-rate".into();
            raw.start_rate = Some(*start_rate);
            raw.stages = stages(s);
            raw.arrivals = arrivals(*a);
        }
        Executor::ConstantVus { vus, think_time } => {
            raw.executor = "constant-vus".into();
            raw.vus = Some(vus.get());
            raw.think_time = Some(d(*think_time));
        }
        Executor::RampingVus {
            start_vus,
            stages: s,
            think_time,
        } => {
            raw.executor = "ramping-vus".into();
            raw.start_vus = Some(*start_vus);
            raw.stages = stages(s);
            raw.think_time = Some(d(*think_time));
        }
    }
    raw
}

/// A request class; in a flow (`flow`), without the `weight` flows do not take.
fn request(r: &RequestTemplate, flow: bool) -> RawRequest {
    RawRequest {
        method: Some(r.method.to_string()),
        path: r.path.to_string(),
        headers: (!r.headers.is_empty()).then(|| {
            r.headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        }),
        body: r.body.as_ref().map(|b| b.to_string()),
        idempotency_key: Some(r.idempotency_key),
        weight: (!flow).then_some(r.weight.get()),
        expect: (!r.expect.is_empty()).then(|| r.expect.clone()),
        token: Some(
            match r.token {
                TokenKind::Valid => "valid",
                TokenKind::Expired => "expired",
                TokenKind::BadSignature => "bad-signature",
                TokenKind::AlgNone => "alg-none",
                TokenKind::WrongAudience => "wrong-audience",
                TokenKind::Missing => "missing",
                TokenKind::Garbage => "garbage",
            }
            .into(),
        ),
        integrity: r.integrity.as_deref().map(integrity),
        check: r.check.as_ref().map(check),
        extract: (!r.extract.is_empty()).then(|| {
            r.extract
                .iter()
                .map(|e| (e.name.clone(), e.path.text.clone()))
                .collect()
        }),
    }
}

fn fault(f: &Fault) -> RawFault {
    let mut raw = RawFault {
        at: d(f.at),
        duration: f.duration.map(d),
        action: f.action.name().into(),
        target: f.target.to_string(),
        ..Default::default()
    };
    if f.action.is_network() && f.action != FaultAction::Down {
        raw.stream = Some(match f.streams.as_slice() {
            [Stream::Upstream] => "upstream".into(),
            [Stream::Downstream] => "downstream".into(),
            _ => "both".into(),
        });
        raw.toxicity = Some(f.toxicity);
    }
    match &f.action {
        FaultAction::Latency { latency, jitter } => {
            raw.latency = Some(d(*latency));
            raw.jitter = Some(d(*jitter));
        }
        FaultAction::Bandwidth { rate_kbps } => raw.rate = Some(*rate_kbps as f64),
        FaultAction::SlowClose { delay } => raw.delay = Some(d(*delay)),
        FaultAction::Timeout { timeout } | FaultAction::ResetPeer { timeout } => {
            raw.timeout = Some(d(*timeout))
        }
        FaultAction::Slicer {
            average_size,
            size_variation,
            delay,
        } => {
            raw.average_size = Some(*average_size);
            raw.size_variation = Some(*size_variation);
            raw.delay = Some(d(*delay));
        }
        FaultAction::LimitData { bytes } => raw.bytes = Some(*bytes),
        FaultAction::Loss { rate } => raw.rate = Some(*rate),
        FaultAction::ErrorRate { rate, status } => {
            raw.rate = Some(*rate);
            raw.status = Some(*status);
        }
        FaultAction::Chaos { every, jitter } => {
            raw.every = Some(d(*every));
            raw.jitter = Some(d(*jitter));
        }
        _ => {}
    }
    raw
}
