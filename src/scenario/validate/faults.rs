//! `[[faults]]` and `[[links]]`.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::Checker;
use crate::scenario::diagnostics::{Path, did_you_mean};
use crate::scenario::human::format_duration;
use crate::scenario::model::*;
use crate::scenario::raw::*;

const ACTIONS: [&str; 17] = [
    "kill",
    "terminate",
    "stop",
    "resume",
    "restart",
    "down",
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
    "loss",
    "error_rate",
    "fail_health",
    "chaos",
];

pub(super) fn links(cx: &mut Checker<'_>, raw: &[RawLink]) -> Vec<Link> {
    let mut names = HashSet::new();
    raw.iter()
        .enumerate()
        .map(|(i, l)| {
            let path = Path::root().key("links").index(i);
            if !names.insert(l.name.clone()) {
                cx.err(
                    &path.key("name"),
                    format!("duplicate link name `{}`", l.name),
                );
            }
            let listen = l.listen.parse().unwrap_or_else(|_| {
                cx.err(
                    &path.key("listen"),
                    format!(
                        "`{}` is not an address such as \"127.0.0.1:18080\"",
                        l.listen
                    ),
                );
                std::net::SocketAddr::from(([127, 0, 0, 1], 0))
            });
            if l.upstream
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
            {
                cx.err(
                    &path.key("upstream"),
                    format!("`{}` is not `host:port`", l.upstream),
                );
            }
            Link {
                name: l.name.clone(),
                listen,
                upstream: l.upstream.clone(),
            }
        })
        .collect()
}

pub(super) fn faults(
    cx: &mut Checker<'_>,
    raw: &[RawFault],
    run: Duration,
    gateway: &Gateway,
    upstreams: &BTreeMap<String, Upstream>,
    links: &[Link],
) -> Vec<Fault> {
    raw.iter()
        .enumerate()
        .map(|(i, f)| {
            fault(
                cx,
                &Path::root().key("faults").index(i),
                f,
                run,
                gateway,
                upstreams,
                links,
            )
        })
        .collect()
}

fn fault(
    cx: &mut Checker<'_>,
    path: &Path,
    f: &RawFault,
    run: Duration,
    gateway: &Gateway,
    upstreams: &BTreeMap<String, Upstream>,
    links: &[Link],
) -> Fault {
    let (at, duration) = timing(cx, path, f, run);
    let action = action(cx, path, f);
    let target = target(
        cx,
        &path.key("target"),
        &f.target,
        gateway,
        upstreams,
        links,
    );
    if let (Some(action), Some(target)) = (&action, &target) {
        compatible(cx, path, action, target, upstreams, duration.is_some());
    }
    let streams = streams(cx, path, f, action.as_ref());
    let toxicity = f.toxicity.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&toxicity) {
        cx.err(
            &path.key("toxicity"),
            format!("must be between 0.0 and 1.0, got {toxicity}"),
        );
    }
    Fault {
        at,
        duration,
        action: action.unwrap_or(FaultAction::Kill),
        target: target.unwrap_or(FaultTarget::Gateway(0)),
        streams,
        toxicity,
    }
}

/// When the fault starts and for how long, both inside the run.
fn timing(
    cx: &mut Checker<'_>,
    path: &Path,
    f: &RawFault,
    run: Duration,
) -> (Duration, Option<Duration>) {
    let at = cx.duration(&path.key("at"), Some(&f.at), Duration::ZERO, true);
    if at >= run {
        cx.err(
            &path.key("at"),
            format!(
                "`{}` is at or after the end of the run ({})",
                f.at,
                format_duration(run)
            ),
        );
    }
    let duration = f.duration.as_deref().map(|d| {
        cx.duration(
            &path.key("duration"),
            Some(d),
            Duration::from_secs(1),
            false,
        )
    });
    if let Some(d) = duration
        && at < run
        && at + d > run
    {
        cx.err(
            &path.key("duration"),
            format!(
                "the fault would revert at {}, after the run ends at {}",
                format_duration(at + d),
                format_duration(run)
            ),
        );
    }
    (at, duration)
}

/// The directions of the connection a toxic acts on (`stream`), for toxics only.
fn streams(
    cx: &mut Checker<'_>,
    path: &Path,
    f: &RawFault,
    action: Option<&FaultAction>,
) -> Vec<Stream> {
    let streams = match f.stream.as_deref() {
        None | Some("downstream") => vec![Stream::Downstream],
        Some("upstream") => vec![Stream::Upstream],
        Some("both") => vec![Stream::Upstream, Stream::Downstream],
        Some(other) => {
            cx.err(
                &path.key("stream"),
                format!("`{other}`: accepted \"upstream\", \"downstream\" or \"both\""),
            );
            vec![Stream::Downstream]
        }
    };
    if f.stream.is_some() && !action.is_some_and(|a| a.is_network() && *a != FaultAction::Down) {
        cx.err_key(&path.key("stream"), "applies only to toxics (latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data, loss)");
    }
    streams
}

/// Parse the action and its parameters; parameters of other actions are errors.
fn action(cx: &mut Checker<'_>, path: &Path, f: &RawFault) -> Option<FaultAction> {
    parameters(cx, path, f)?;
    Some(build_action(cx, path, f))
}

/// Checks the action's name and that each parameter given is one it takes;
/// `None` for an unknown action.
fn parameters(cx: &mut Checker<'_>, path: &Path, f: &RawFault) -> Option<()> {
    let params: [(&str, bool); 10] = [
        ("latency", f.latency.is_some()),
        ("jitter", f.jitter.is_some()),
        ("rate", f.rate.is_some()),
        ("status", f.status.is_some()),
        ("delay", f.delay.is_some()),
        ("timeout", f.timeout.is_some()),
        ("bytes", f.bytes.is_some()),
        ("average_size", f.average_size.is_some()),
        ("size_variation", f.size_variation.is_some()),
        ("every", f.every.is_some()),
    ];
    let takes: &[&str] = match f.action.as_str() {
        "kill" | "terminate" | "stop" | "resume" | "restart" | "down" | "fail_health" => &[],
        "latency" => &["latency", "jitter"],
        "bandwidth" | "loss" => &["rate"],
        "slow_close" => &["delay"],
        "timeout" | "reset_peer" => &["timeout"],
        "slicer" => &["average_size", "size_variation", "delay"],
        "limit_data" => &["bytes"],
        "error_rate" => &["rate", "status"],
        "chaos" => &["every", "jitter"],
        other => {
            let hint = did_you_mean(other, ACTIONS).unwrap_or_default();
            cx.err(
                &path.key("action"),
                format!(
                    "unknown action `{other}`{hint}; accepted: {}",
                    ACTIONS.join(", ")
                ),
            );
            return None;
        }
    };
    for (key, present) in params {
        if present && !takes.contains(&key) {
            let accepted = if takes.is_empty() {
                "no parameters".to_owned()
            } else {
                takes.join(", ")
            };
            cx.err_key(
                &path.key(key),
                format!(
                    "does not apply to action `{}` (it takes: {accepted})",
                    f.action
                ),
            );
        }
    }
    Some(())
}

/// The action with its parameters, once its name is known good (a missing
/// parameter is an error, then defaults).
// Long: a table, one arm per action, each naming the parameters it reads.
fn build_action(cx: &mut Checker<'_>, path: &Path, f: &RawFault) -> FaultAction {
    let d = |cx: &mut Checker<'_>, key: &str, v: &Option<String>| {
        cx.duration(&path.key(key), v.as_deref(), Duration::ZERO, true)
    };
    let need = |cx: &mut Checker<'_>, key: &str, present: bool| {
        if !present {
            cx.err(path, format!("action `{}` needs `{key}`", f.action));
        }
    };
    match f.action.as_str() {
        "kill" => FaultAction::Kill,
        "terminate" => FaultAction::Terminate,
        "stop" => FaultAction::Stop,
        "resume" => FaultAction::Resume,
        "restart" => FaultAction::Restart,
        "down" => FaultAction::Down,
        "fail_health" => FaultAction::FailHealth,
        "latency" => {
            need(cx, "latency", f.latency.is_some());
            FaultAction::Latency {
                latency: d(cx, "latency", &f.latency),
                jitter: d(cx, "jitter", &f.jitter),
            }
        }
        "bandwidth" => {
            need(cx, "rate", f.rate.is_some());
            let rate = f.rate.unwrap_or(1.0);
            if !(rate.is_finite() && rate >= 1.0 && rate.fract() == 0.0) {
                cx.err(
                    &path.key("rate"),
                    format!("bandwidth is a whole number of KB/s ≥ 1, got {rate}"),
                );
            }
            FaultAction::Bandwidth {
                rate_kbps: rate.max(1.0) as u64,
            }
        }
        "loss" => {
            need(cx, "rate", f.rate.is_some());
            FaultAction::Loss {
                rate: cx.unit_interval(&path.key("rate"), f.rate.unwrap_or(0.0)),
            }
        }
        "slow_close" => FaultAction::SlowClose {
            delay: d(cx, "delay", &f.delay),
        },
        "timeout" => FaultAction::Timeout {
            timeout: d(cx, "timeout", &f.timeout),
        },
        "reset_peer" => FaultAction::ResetPeer {
            timeout: d(cx, "timeout", &f.timeout),
        },
        "slicer" => {
            need(cx, "average_size", f.average_size.is_some());
            FaultAction::Slicer {
                average_size: f.average_size.unwrap_or(1).max(1),
                size_variation: f.size_variation.unwrap_or(0),
                delay: d(cx, "delay", &f.delay),
            }
        }
        "limit_data" => {
            need(cx, "bytes", f.bytes.is_some());
            FaultAction::LimitData {
                bytes: f.bytes.unwrap_or(0),
            }
        }
        "error_rate" => {
            need(cx, "rate", f.rate.is_some());
            FaultAction::ErrorRate {
                rate: cx.unit_interval(&path.key("rate"), f.rate.unwrap_or(0.0)),
                status: cx.status(&path.key("status"), f.status.unwrap_or(500)),
            }
        }
        _ => {
            need(cx, "every", f.every.is_some());
            FaultAction::Chaos {
                every: cx.duration(
                    &path.key("every"),
                    f.every.as_deref(),
                    Duration::from_secs(20),
                    false,
                ),
                jitter: d(cx, "jitter", &f.jitter),
            }
        }
    }
}

fn target(
    cx: &mut Checker<'_>,
    path: &Path,
    text: &str,
    gateway: &Gateway,
    upstreams: &BTreeMap<String, Upstream>,
    links: &[Link],
) -> Option<FaultTarget> {
    if text == "redis" && !upstreams.contains_key("redis") {
        return redis_target(cx, path, gateway, upstreams);
    }
    if let Some(zone) = text.strip_prefix("zone:") {
        return zone_target(cx, path, zone, gateway, upstreams);
    }
    if let Some(link) = text.strip_prefix("link:") {
        if !links.iter().any(|l| l.name == link) {
            cx.err(path, format!("no link `{link}`; declare it in `[[links]]`"));
            return None;
        }
        return Some(FaultTarget::Link(link.to_owned()));
    }
    let (name, index) = match text.split_once('[') {
        Some((name, rest)) => match rest.strip_suffix(']').and_then(|n| n.parse::<usize>().ok()) {
            Some(i) => (name, Some(i)),
            None => {
                cx.err(path, format!("`{text}` is not a target; {TARGETS}"));
                return None;
            }
        },
        None => (text, None),
    };
    if name == "gateway" {
        return gateway_target(cx, path, text, index, gateway);
    }
    pool_target(cx, path, text, name, index, upstreams)
}

/// What a fault's `target` may be, for the error messages.
const TARGETS: &str =
    "accepted: POOL[N] (e.g. api[1]), POOL, gateway[N], zone:NAME, link:NAME, redis";

/// `redis`: the Redis ninefold starts, when the scenario asks for one.
fn redis_target(
    cx: &mut Checker<'_>,
    path: &Path,
    gateway: &Gateway,
    upstreams: &BTreeMap<String, Upstream>,
) -> Option<FaultTarget> {
    let gateway_redis = matches!(gateway.target, GatewayTarget::Bundled { .. })
        && gateway.rate_limit.store == LimiterStore::Redis(None);
    let pool_redis = upstreams
        .values()
        .any(|u| matches!(u.instances, Instances::Managed(_)) && u.store == StoreSpec::Redis(None));
    if !(gateway_redis || pool_redis) {
        cx.err(path, "`redis` is the Redis ninefold starts for `store = \"redis\"` (without a URL); this scenario does not ask for one");
        return None;
    }
    Some(FaultTarget::Redis)
}

/// `zone:NAME`: every instance in a zone some pool or the gateway declares.
fn zone_target(
    cx: &mut Checker<'_>,
    path: &Path,
    zone: &str,
    gateway: &Gateway,
    upstreams: &BTreeMap<String, Upstream>,
) -> Option<FaultTarget> {
    let gateway_zones = gateway.target.zones();
    let known: Vec<&str> = upstreams
        .values()
        .flat_map(|u| u.zones.iter())
        .chain(gateway_zones)
        .map(String::as_str)
        .collect();
    if !known.contains(&zone) {
        let hint = did_you_mean(zone, known.iter().copied()).unwrap_or_default();
        cx.err(path, format!("no instance is in zone `{zone}`{hint}; zones come from `zones = [...]` of a pool or the gateway"));
        return None;
    }
    Some(FaultTarget::Zone(zone.to_owned()))
}

/// `gateway[N]`: an instance of the bundled gateway.
fn gateway_target(
    cx: &mut Checker<'_>,
    path: &Path,
    text: &str,
    index: Option<usize>,
    gateway: &Gateway,
) -> Option<FaultTarget> {
    let instances = gateway.target.started_instances();
    if !gateway.target.is_started() {
        cx.err(path, "the gateway is external (`url`): ninefold cannot act on it; declare `[[links]]` and target `link:NAME`");
        return None;
    }
    let i = index.unwrap_or(0);
    if i >= instances {
        cx.err(
            path,
            format!(
                "`{text}`: the gateway has {} instance(s), so the index must be below {}",
                instances, instances
            ),
        );
        return None;
    }
    Some(FaultTarget::Gateway(i))
}

/// `POOL` or `POOL[N]`: a pool of the scenario, or one of its instances.
fn pool_target(
    cx: &mut Checker<'_>,
    path: &Path,
    text: &str,
    name: &str,
    index: Option<usize>,
    upstreams: &BTreeMap<String, Upstream>,
) -> Option<FaultTarget> {
    let Some(pool) = upstreams.get(name) else {
        let mut known: Vec<&str> = upstreams.keys().map(String::as_str).collect();
        known.push("gateway");
        let hint = did_you_mean(name, known.iter().copied()).unwrap_or_default();
        cx.err(path, format!("no pool `{name}`{hint}; {TARGETS}"));
        return None;
    };
    match index {
        Some(i) if i >= pool.instances.count() => {
            cx.err(
                path,
                format!(
                    "`{text}`: pool `{name}` has {} instance(s), so the index must be below {}",
                    pool.instances.count(),
                    pool.instances.count()
                ),
            );
            None
        }
        Some(i) => Some(FaultTarget::Instance {
            pool: name.to_owned(),
            index: i,
        }),
        None => Some(FaultTarget::Pool(name.to_owned())),
    }
}

/// Can this action act on this target?
fn compatible(
    cx: &mut Checker<'_>,
    path: &Path,
    action: &FaultAction,
    target: &FaultTarget,
    upstreams: &BTreeMap<String, Upstream>,
    has_duration: bool,
) {
    let pool_of = |t: &FaultTarget| match t {
        FaultTarget::Instance { pool, .. } | FaultTarget::Pool(pool) => upstreams.get(pool),
        _ => None,
    };
    let external_pool =
        pool_of(target).is_some_and(|u| matches!(u.instances, Instances::Targets(_)));
    let admin = matches!(
        action,
        FaultAction::ErrorRate { .. } | FaultAction::FailHealth
    );
    if admin && pool_of(target).is_some_and(|u| matches!(u.instances, Instances::Command { .. })) {
        cx.err(&path.key("action"), format!("`{}` uses the admin API of ninefold's mock backend; pool `{target}` runs your `command`: break it with a process or network fault", action.name()));
    }
    if (action.is_process()
        || matches!(
            action,
            FaultAction::ErrorRate { .. } | FaultAction::FailHealth
        ))
        && external_pool
    {
        cx.err(
            &path.key("target"),
            format!(
                "`{}` needs instances ninefold starts; pool `{target}` lists `targets`",
                action.name()
            ),
        );
    }
    if matches!(target, FaultTarget::Redis) && !action.is_process() {
        cx.err(
            &path.key("action"),
            format!(
                "redis takes process faults (kill, terminate, stop, restart), not `{}`",
                action.name()
            ),
        );
    }
    if matches!(target, FaultTarget::Link(_)) && !action.is_network() {
        cx.err(
            &path.key("action"),
            format!(
                "a link can only take network faults, not `{}`",
                action.name()
            ),
        );
    }
    if matches!(target, FaultTarget::Gateway(_))
        && matches!(
            action,
            FaultAction::ErrorRate { .. } | FaultAction::FailHealth
        )
    {
        cx.err(
            &path.key("action"),
            format!(
                "`{}` uses a backend's admin API; target a pool instance",
                action.name()
            ),
        );
    }
    if matches!(action, FaultAction::Chaos { .. }) && !matches!(target, FaultTarget::Pool(_)) {
        cx.err(
            &path.key("target"),
            "chaos picks random instances of a pool: target the pool by name (e.g. `api`)",
        );
    }
    reverts(cx, path, action, has_duration);
}

/// Can this action be undone after its `duration`?
fn reverts(cx: &mut Checker<'_>, path: &Path, action: &FaultAction, has_duration: bool) {
    // kill/terminate + duration = start the instance again afterwards; stop + duration = SIGCONT.
    if matches!(
        action,
        FaultAction::Resume | FaultAction::Restart | FaultAction::Chaos { .. }
    ) && has_duration
        && !matches!(action, FaultAction::Chaos { .. })
    {
        cx.err_key(
            &path.key("duration"),
            format!(
                "`{}` is instantaneous and cannot revert; remove `duration`",
                action.name()
            ),
        );
    }
}
