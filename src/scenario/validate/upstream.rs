//! `[upstreams.*]`: the pools, their instances (managed or listed targets), balancing,
//! health checks and the latency model of managed instances.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Checker;
use crate::scenario::diagnostics::{Path, did_you_mean};
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
        other => match other
            .strip_prefix("hash:")
            .and_then(|h| http::HeaderName::from_bytes(h.as_bytes()).ok())
        {
            Some(header) => Balance::Hash(header),
            None => {
                let hint = did_you_mean(other, ["round-robin", "least-request", "random"])
                    .unwrap_or_default();
                cx.err(&path.key("balance"), format!("unknown policy `{other}`{hint}; accepted: round-robin, least-request, random, hash:<header>"));
                Balance::RoundRobin
            }
        },
    };
    let h = u.health.clone().unwrap_or_default();
    let hp = path.key("health");
    let health = HealthConfig {
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
        OutlierConfig {
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

fn latency(cx: &mut Checker<'_>, path: &Path, raw: Option<&RawLatency>) -> LatencyModel {
    let Some(l) = raw else {
        return LatencyModel::None;
    };
    let d = |cx: &mut Checker<'_>, key: &str, v: &Option<String>| {
        cx.duration(&path.key(key), v.as_deref(), Duration::ZERO, true)
    };
    match (&l.median, &l.p99, &l.fixed, &l.min, &l.max) {
        (Some(_), Some(_), None, None, None) => {
            let median = d(cx, "median", &l.median);
            let p99 = d(cx, "p99", &l.p99);
            if p99 <= median && !median.is_zero() {
                cx.err(
                    &path.key("p99"),
                    "must be longer than the median (for equal values write `fixed`)",
                );
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
