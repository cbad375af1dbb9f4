//! `ninefold run --time-scale F`: the same experiment on a faster (or slower) clock.
//!
//! Every time that places something on the run's timeline is multiplied by
//! `F`: the run's duration, phase starts and durations, ramp stages, fault
//! times and durations, chaos intervals, restart delays, health-check
//! intervals, outlier ejections, cache TTLs, quota periods and serverless idle
//! times. A CI smoke test can then run the whole library in minutes and still
//! see every fault, replacement and phase in the same order and proportion.
//!
//! What is *not* scaled, and why — these are magnitudes of the system under
//! test, not positions on the timeline, and scaling them would change what the
//! SLOs judge:
//!
//! - **rates**: arrival rates, stage targets, VU counts, plan rates and bursts
//!   (the machine's load and the throttling model stay the same; a scaled run
//!   just sends fewer requests). For the same reason closed-loop **think time**
//!   is kept: it is a user's pacing, i.e. a per-user rate.
//! - **latencies and timeouts**: backend latency models, serverless cold
//!   starts, injected toxic latency/jitter/delays/timeouts, gateway request,
//!   route, per-try and client timeouts, health-check timeouts and JWT leeway.
//!   They are compared with latency SLOs, which are not scaled either. A health
//!   timeout is how long a healthy instance may take to answer; scaling it
//!   would make a loaded machine look unhealthy.
//! - **SLO targets**, including failover durations: they stay as written, so a
//!   scaled run judges recovery against the real objective (the health and
//!   restart times that drive recovery *are* scaled, so recovery only shrinks).
//!
//! Quotas: a quota's period is a time (`"10s"` scales; `day`, `week`, `month`
//! are calendar periods longer than any run and stay) and its **limit is
//! scaled too** (rounded, at least 1). At an unscaled rate a scaled run sends
//! `F` times as many requests, so scaling the limit keeps the quota running out
//! at the same point of the (scaled) run, and the boundary the throttle model
//! checks is still exact. Token buckets keep their rate and burst; their
//! accuracy is judged against the same model over the requests actually sent.

use std::num::NonZeroU64;
use std::time::Duration;

use super::model::{
    Executor, FaultAction, Plan, Quota, QuotaPeriod, Scenario, Stage, UnknownTenant,
};

/// The largest accepted `--time-scale` (slowing a run down 100× is already a soak).
pub const MAX_TIME_SCALE: f64 = 100.0;

/// A `--time-scale` outside (0, [`MAX_TIME_SCALE`]].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "--time-scale must be a number greater than 0 and at most {MAX_TIME_SCALE} (0.1 runs ten times faster), got {0}"
)]
pub struct TimeScaleError(pub f64);

/// Check a time scale: finite, > 0 and ≤ [`MAX_TIME_SCALE`].
pub fn check_time_scale(f: f64) -> Result<f64, TimeScaleError> {
    if f.is_finite() && f > 0.0 && f <= MAX_TIME_SCALE {
        Ok(f)
    } else {
        Err(TimeScaleError(f))
    }
}

/// `d × f`, rounded to whole microseconds (so it prints short and exact); a
/// non-zero time never becomes zero, which would change its meaning.
pub fn scale_duration(d: Duration, f: f64) -> Duration {
    if d.is_zero() {
        return d;
    }
    let micros = (d.as_secs_f64() * f * 1e6).round().max(1.0);
    Duration::from_micros(micros as u64)
}

fn scale_plan(p: &mut Plan, f: f64) {
    if let Some(q) = p.quota.as_mut() {
        *q = scale_quota(*q, f);
    }
}

fn scale_quota(q: Quota, f: f64) -> Quota {
    let limit = ((q.limit.get() as f64) * f).round().max(1.0) as u64;
    Quota {
        limit: NonZeroU64::new(limit).unwrap_or(NonZeroU64::MIN),
        period: match q.period {
            QuotaPeriod::Every(d) => QuotaPeriod::Every(scale_duration(d, f)),
            calendar => calendar,
        },
    }
}

/// Scale ramp stages; rounding must not make them outlast their phase.
fn scale_stages(stages: &mut [Stage], f: f64, phase: Duration) {
    let mut left = phase;
    for s in stages {
        s.duration = scale_duration(s.duration, f).min(left);
        left -= s.duration;
    }
}

impl Scenario {
    /// This scenario with every timeline time multiplied by `f` (see the module
    /// docs for what is scaled and what is not). `f` should come from
    /// [`check_time_scale`]; `1.0` returns an equal scenario.
    pub fn scaled(&self, f: f64) -> Scenario {
        let mut s = self.clone();
        let t = |d: Duration| scale_duration(d, f);
        s.duration = t(s.duration);

        let g = &mut s.gateway;
        if let Some(c) = g.cache.as_mut() {
            c.ttl = t(c.ttl);
        }
        if let UnknownTenant::Plan(p) = &mut g.unknown_tenant {
            scale_plan(p, f);
        }
        for r in &mut g.routes {
            if let Some(p) = r.plan.as_mut() {
                scale_plan(p, f);
            }
        }

        for u in s.upstreams.values_mut() {
            u.health.interval = t(u.health.interval);
            if let Some(o) = u.outlier.as_mut() {
                o.ejection = t(o.ejection);
            }
            u.restart_after = u.restart_after.map(t);
            if let Some(sl) = u.serverless.as_mut() {
                sl.idle_after = t(sl.idle_after);
            }
        }

        for tenant in &mut s.tenants {
            scale_plan(&mut tenant.plan, f);
        }

        for p in &mut s.traffic {
            p.start = t(p.start).min(s.duration);
            // Rounding must not push a phase past the end of the run.
            p.duration = t(p.duration).min(s.duration - p.start);
            match &mut p.executor {
                Executor::RampingArrivalRate { stages, .. }
                | Executor::RampingVus { stages, .. } => scale_stages(stages, f, p.duration),
                Executor::ConstantArrivalRate { .. } | Executor::ConstantVus { .. } => {}
            }
        }

        for fault in &mut s.faults {
            fault.at = t(fault.at).min(s.duration);
            fault.duration = fault.duration.map(t);
            if let FaultAction::Chaos { every, jitter } = &mut fault.action {
                *every = t(*every);
                *jitter = t(*jitter);
            }
        }
        s
    }
}

#[cfg(test)]
#[path = "scale_tests.rs"]
mod tests;
