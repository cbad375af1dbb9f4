//! `[upstreams.*]` keys that shape the mock backends ninefold starts: latency model,
//! injected errors, shared store, serverless behaviour and the restart of killed instances.

use std::time::Duration;

use super::Checker;
use crate::scenario::diagnostics::Path;
use crate::scenario::model::*;
use crate::scenario::raw::*;

/// `restart = { after }`: only for instances ninefold starts.
pub(super) fn restart_after(
    cx: &mut Checker<'_>,
    path: &Path,
    u: &RawUpstream,
    instances: &Instances,
) -> Option<Duration> {
    let after = u
        .restart
        .as_ref()
        .map(|r| cx.duration(&path.key("after"), Some(&r.after), Duration::ZERO, true));
    if after.is_some() && matches!(instances, Instances::Targets(_)) {
        cx.err(
            path,
            "ninefold can only replace instances it starts; use `instances` instead of `targets`",
        );
    }
    after
}

pub(super) fn latency(cx: &mut Checker<'_>, path: &Path, raw: Option<&RawLatency>) -> LatencyModel {
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

pub(super) fn errors(cx: &mut Checker<'_>, path: &Path, raw: Option<&RawErrors>) -> ErrorModel {
    match raw {
        None => ErrorModel {
            rate: 0.0,
            status: 500,
        },
        Some(e) => ErrorModel {
            rate: cx.unit_interval(&path.key("rate"), e.rate),
            status: cx.status(&path.key("status"), e.status.unwrap_or(500)),
        },
    }
}

pub(super) fn store(cx: &mut Checker<'_>, path: &Path, raw: Option<&str>) -> StoreSpec {
    match raw {
        None | Some("sqlite") => StoreSpec::Sqlite(None),
        Some("redis") => StoreSpec::Redis(None),
        Some(s) if s.starts_with("redis://") => StoreSpec::Redis(Some(s.to_owned())),
        Some(s) if s.starts_with("sqlite:") => {
            StoreSpec::Sqlite(Some(cx.base_dir.join(&s["sqlite:".len()..])))
        }
        Some(other) => {
            cx.err(path, format!("unknown store `{other}`; accepted: \"sqlite\", \"sqlite:PATH\", \"redis\", \"redis://HOST:PORT\""));
            StoreSpec::Sqlite(None)
        }
    }
}

pub(super) fn serverless(cx: &mut Checker<'_>, path: &Path, s: &RawServerless) -> Serverless {
    let status = s.over_limit_status.unwrap_or(429);
    if status != 429 && status != 503 {
        cx.err(
            &path.key("over_limit_status"),
            format!("must be 429 or 503, got {status}"),
        );
    }
    Serverless {
        cold_start: cx.duration(
            &path.key("cold_start"),
            Some(&s.cold_start),
            Duration::ZERO,
            true,
        ),
        idle_after: cx.duration(
            &path.key("idle_after"),
            s.idle_after.as_deref(),
            Duration::from_secs(60),
            false,
        ),
        concurrency: cx.nonzero(&path.key("concurrency"), Some(s.concurrency), 1),
        over_limit_status: status,
    }
}
