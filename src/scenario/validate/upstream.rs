//! `[upstreams.*]`: the pools and their instances (managed or listed targets). What the
//! gateway reads of them (balancing, health checks, outlier ejection) is checked by the
//! gateway's own `config::from_raw`. How a mock backend
//! behaves (latency, errors, store, serverless, restart) is in [`super::backend`].

use reference_gateway::config::from_raw;
use std::collections::BTreeMap;

use super::command::RawCommand;
use super::{Checker, backend, command};
use crate::scenario::diagnostics::Path;
use crate::scenario::model::*;
use crate::scenario::raw::*;

/// `managed_allowed`: scenarios may ask ninefold to start instances; gateway files list targets.
pub(super) fn upstreams(
    cx: &mut Checker<'_>,
    raw: &BTreeMap<String, RawUpstream>,
    managed_allowed: bool,
) -> BTreeMap<String, Upstream> {
    raw.iter()
        .map(|(name, u)| (name.clone(), upstream(cx, name, u, managed_allowed)))
        .collect()
}

fn upstream(cx: &mut Checker<'_>, name: &str, u: &RawUpstream, managed_allowed: bool) -> Upstream {
    let path = Path::root().key("upstreams").key(name);
    pool_name(cx, &path, name);
    let instances = match &u.command {
        Some(argv) => command_instances(cx, &path, u, argv, managed_allowed),
        None => {
            command::stray_keys(cx, &path, &raw_command(u, &[]), false);
            instances(cx, &path, u, managed_allowed)
        }
    };
    let balance = from_raw::balance(cx, &path.key("balance"), u.balance.as_deref());
    let health = from_raw::health(
        cx,
        &path.key("health"),
        &u.health.clone().unwrap_or_default(),
    );
    let outlier = u
        .outlier
        .as_ref()
        .map(|o| from_raw::outlier(cx, &path.key("outlier"), o));
    let restart_after = backend::restart_after(cx, &path.key("restart"), u, &instances);
    let tls = u.tls.as_ref().map(|t| tls(cx, &path, u, t, &instances));
    Upstream {
        name: name.to_owned(),
        instances,
        zones: u.zones.clone().unwrap_or_default(),
        balance,
        health,
        outlier,
        restart_after,
        latency: backend::latency(cx, &path.key("latency"), u.latency.as_ref()),
        errors: backend::errors(cx, &path.key("errors"), u.errors.as_ref()),
        store: backend::store(cx, &path.key("store"), u.store.as_deref()),
        serverless: u
            .serverless
            .as_ref()
            .map(|s| backend::serverless(cx, &path.key("serverless"), s)),
        payload_bytes: u.payload_bytes.unwrap_or(256),
        tls,
    }
}

/// `tls`: only for `targets` (mock backends speak plain HTTP); the default SNI is the
/// targets' host name when they share one.
fn tls(
    cx: &mut Checker<'_>,
    path: &Path,
    u: &RawUpstream,
    t: &reference_gateway::config::raw::RawUpstreamTls,
    instances: &Instances,
) -> reference_gateway::tls::UpstreamTls {
    if matches!(instances, Instances::Managed(_)) {
        cx.err(
            &path.key("tls"),
            "the mock backends ninefold starts speak plain HTTP: `tls` is for `targets` someone else runs",
        );
    }
    let hosts: std::collections::BTreeSet<&str> = u
        .targets
        .iter()
        .flatten()
        .filter_map(|t| t.rsplit_once(':').map(|(h, _)| h))
        .filter(|h| {
            h.trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_err()
        })
        .collect();
    let host = (hosts.len() == 1)
        .then(|| hosts.into_iter().next())
        .flatten();
    from_raw::upstream_tls(cx, &path.key("tls"), t, host)
}

fn raw_command<'a>(u: &'a RawUpstream, argv: &'a [String]) -> RawCommand<'a> {
    RawCommand {
        command: argv,
        env: u.env.as_ref(),
        cwd: u.cwd.as_deref(),
        ready: u.ready.as_ref(),
    }
}

/// `command`: the user's own service, `instances` copies of it (default 1); the keys
/// that shape ninefold's mock backend are not its.
fn command_instances(
    cx: &mut Checker<'_>,
    path: &Path,
    u: &RawUpstream,
    argv: &[String],
    managed_allowed: bool,
) -> Instances {
    if !managed_allowed {
        cx.err_key(&path.key("command"), "a gateway configuration lists the instances it balances over as `targets`; `command` is for scenarios");
    }
    if u.targets.is_some() {
        cx.err(&path.key("targets"), "give either `command` (ninefold starts your service) or `targets` (you run it), not both");
    }
    let mock_only = [
        ("latency", u.latency.is_some()),
        ("errors", u.errors.is_some()),
        ("store", u.store.is_some()),
        ("serverless", u.serverless.is_some()),
        ("payload_bytes", u.payload_bytes.is_some()),
        ("tls", u.tls.is_some()),
    ];
    for (key, given) in mock_only {
        if given {
            cx.err_key(&path.key(key), format!("`{key}` shapes ninefold's mock backend; this pool runs your `command`, which behaves as it does (break it with `[[faults]]`)"));
        }
    }
    let count = cx.nonzero(&path.key("instances"), u.instances, 1);
    let command = command::command(
        cx,
        path,
        &raw_command(u, argv),
        &["port", "instance", "dir"],
    );
    Instances::Command { count, command }
}

fn pool_name(cx: &mut Checker<'_>, path: &Path, name: &str) {
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || name == "gateway"
        || name == "zone"
        || name == "link"
    {
        cx.err_key(path, format!("pool name `{name}` may use only letters, digits, `-` and `_`, and cannot be `gateway`, `zone` or `link`"));
    }
}

/// `instances` (ninefold starts mock backends) or `targets` (someone else runs them).
fn instances(
    cx: &mut Checker<'_>,
    path: &Path,
    u: &RawUpstream,
    managed_allowed: bool,
) -> Instances {
    match (&u.instances, &u.targets) {
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
            cx.err(path, "missing required key `targets`");
            Instances::Targets(Vec::new())
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
