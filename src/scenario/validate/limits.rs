//! Limits that `ninefold run` enforces further down (in the reference gateway, the
//! mock backends and the load engine), checked here so that `validate` refuses
//! what `run` would refuse, with the place in the file and the limit.
//!
//! Each limit names the component that enforces it; `tests/scenario/limits.rs`
//! checks every one against that component (the value at the limit is accepted
//! by it, one past is refused), so a limit changed there fails a test here.

use std::time::Duration;

use super::Checker;
use crate::scenario::diagnostics::Path;
use crate::scenario::human::format_duration;
use crate::scenario::model::*;

/// The reference gateway balances over at most this many instances per pool
/// (`reference_gateway::Config::validate`).
pub const MAX_POOL_INSTANCES: usize = 64;
/// The reference gateway's largest plan rate, req/s (`Plan::check`).
pub const MAX_PLAN_RATE: f64 = 1e9;
/// The mock backends accept durations up to 168 h (`mock_backends::Dur`).
pub const MAX_MOCK_DURATION: Duration = Duration::from_secs(168 * 3600);
/// The mock backends' largest item payload (`Behaviour::compile`).
pub const MAX_PAYLOAD_BYTES: u32 = 16 * 1024 * 1024;
/// The reference gateway refuses a bearer token longer than this with 401
/// (`reference_gateway::jwt::MAX_TOKEN_BYTES`).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The highest arrival rate of one phase, req/s. The load engine spends a few
/// hundred nanoseconds of one core per arrival on its schedule and draws alone,
/// before any I/O, and loopback HTTP tops out at a few hundred thousand requests
/// per second per core: 10 million per second would take dozens of cores that
/// did nothing else. A rate above it cannot be kept by any generator this tool
/// runs; it is a typo (`1e12`), refused here rather than discovered as an
/// invalid run.
pub const MAX_PHASE_RATE: f64 = 1e7;

/// Check the limits of the components `run` starts.
pub(super) fn check(
    cx: &mut Checker<'_>,
    gateway: &Gateway,
    upstreams: &std::collections::BTreeMap<String, Upstream>,
    tenants: &[Tenant],
    traffic: &[TrafficPhase],
) {
    let bundled = matches!(gateway.target, GatewayTarget::Bundled { .. });
    if bundled {
        pool_sizes(cx, upstreams);
        plans(cx, gateway, tenants);
        for (i, t) in tenants.iter().enumerate() {
            if let Some(token) = &t.token
                && token.len() > MAX_TOKEN_BYTES
            {
                cx.err(
                    &Path::root().key("tenants").index(i).key("token"),
                    format!(
                        "{} bytes; the bundled gateway refuses tokens longer than {MAX_TOKEN_BYTES} bytes (401)",
                        token.len()
                    ),
                );
            }
        }
    }
    for u in upstreams.values() {
        if matches!(u.instances, Instances::Managed(_)) {
            mock_backend(cx, u);
        }
    }
    for (i, phase) in traffic.iter().enumerate() {
        phase_rates(cx, &Path::root().key("traffic").index(i), &phase.executor);
    }
}

/// Pool sizes of a gateway configuration file (always served by the reference gateway).
pub(super) fn check_gateway_file(
    cx: &mut Checker<'_>,
    gateway: &Gateway,
    upstreams: &std::collections::BTreeMap<String, Upstream>,
    tenants: &[Tenant],
) {
    pool_sizes(cx, upstreams);
    plans(cx, gateway, tenants);
}

fn pool_sizes(cx: &mut Checker<'_>, upstreams: &std::collections::BTreeMap<String, Upstream>) {
    for (name, u) in upstreams {
        let n = u.instances.count();
        if n > MAX_POOL_INSTANCES {
            let key = u.instances.key();
            cx.err(
                &Path::root().key("upstreams").key(name).key(key),
                format!(
                    "{n} instances; the bundled gateway balances over at most {MAX_POOL_INSTANCES} per pool"
                ),
            );
        }
    }
}

fn plans(cx: &mut Checker<'_>, gateway: &Gateway, tenants: &[Tenant]) {
    let plan = |cx: &mut Checker<'_>, path: Path, p: &Plan| {
        if p.rate > MAX_PLAN_RATE {
            cx.err(
                &path.key("rate"),
                format!(
                    "{} req/s; the bundled gateway accepts plan rates up to {MAX_PLAN_RATE:e} req/s",
                    p.rate
                ),
            );
        }
    };
    for (i, t) in tenants.iter().enumerate() {
        plan(
            cx,
            Path::root().key("tenants").index(i).key("plan"),
            &t.plan,
        );
    }
    if let UnknownTenant::Plan(p) = &gateway.unknown_tenant {
        plan(cx, Path::root().key("gateway").key("default_plan"), p);
    }
    for (i, r) in gateway.routes.iter().enumerate() {
        if let Some(p) = &r.plan {
            let path = Path::root()
                .key("gateway")
                .key("routes")
                .index(i)
                .key("plan");
            plan(cx, path, p);
        }
    }
}

fn mock_backend(cx: &mut Checker<'_>, u: &Upstream) {
    let path = Path::root().key("upstreams").key(&u.name);
    let duration = |cx: &mut Checker<'_>, path: Path, d: Duration| {
        if d > MAX_MOCK_DURATION {
            cx.err(
                &path,
                format!(
                    "{}; the mock backends accept durations up to {}",
                    format_duration(d),
                    format_duration(MAX_MOCK_DURATION)
                ),
            );
        }
    };
    let lp = path.key("latency");
    match u.latency {
        LatencyModel::None => {}
        LatencyModel::Fixed(d) => duration(cx, lp.key("fixed"), d),
        LatencyModel::Uniform { min, max } => {
            duration(cx, lp.key("min"), min);
            duration(cx, lp.key("max"), max);
        }
        LatencyModel::LogNormal { median, p99 } => {
            duration(cx, lp.key("median"), median);
            duration(cx, lp.key("p99"), p99);
        }
    }
    if let Some(s) = &u.serverless {
        let sp = path.key("serverless");
        duration(cx, sp.key("cold_start"), s.cold_start);
        duration(cx, sp.key("idle_after"), s.idle_after);
    }
    if !(400..=599).contains(&u.errors.status) {
        cx.err(
            &path.key("errors").key("status"),
            format!(
                "{}; the mock backends inject error statuses 400–599 only",
                u.errors.status
            ),
        );
    }
    if u.payload_bytes > MAX_PAYLOAD_BYTES {
        cx.err(
            &path.key("payload_bytes"),
            format!(
                "{} bytes; the mock backends serve payloads up to {MAX_PAYLOAD_BYTES} bytes (16 MiB)",
                u.payload_bytes
            ),
        );
    }
}

fn phase_rates(cx: &mut Checker<'_>, path: &Path, executor: &Executor) {
    let rate = |cx: &mut Checker<'_>, path: Path, r: f64| {
        if r > MAX_PHASE_RATE {
            cx.err(
                &path,
                format!(
                    "{r} req/s is more than any load generator can keep; the limit is {MAX_PHASE_RATE:e} req/s per phase (10 million)"
                ),
            );
        }
    };
    match executor {
        Executor::ConstantArrivalRate { rate: r, .. } => rate(cx, path.key("rate"), *r),
        Executor::RampingArrivalRate {
            start_rate, stages, ..
        } => {
            rate(cx, path.key("start_rate"), *start_rate);
            for (j, s) in stages.iter().enumerate() {
                rate(cx, path.key("stages").index(j).key("target"), s.target);
            }
        }
        Executor::ConstantVus { .. } | Executor::RampingVus { .. } => {}
    }
}
