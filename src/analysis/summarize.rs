//! A run's recording → its [`Summary`]: every figure of `summary.json` and every
//! SLO verdict, computed from what the load engine, the fault timeline, the
//! supervisor and the store read-back left in [`RunResults`].

use std::collections::HashSet;

use super::availability::{Confidence, Counts};
use super::failover;
use super::integrity::integrity;
use super::slo::{Measured, RunHealth, evaluate};
use crate::metrics::{Hist, KeyStats, Outcome, OutcomeCounts, Recording};
use crate::report::summary::{
    AvailabilitySummary, FaultSummary, HeaderCheck, InstanceSummary, IntegritySummary, Percentiles,
    Requests, SloResult, Summary, TenantSummary,
};
use crate::run::runner::RunResults;
use crate::scenario::model::Scenario;
use crate::scenario::slo::{Filters, Metric, Slo, Window};

/// Share of scheduled requests a run may fail to send before its numbers are not trusted.
const MAX_DROP_SHARE: f64 = 0.0;

/// Summarize a run.
pub fn summarize(s: &Scenario, r: &RunResults, time_scale: f64, broken: bool) -> Summary {
    let rec = &r.recording;
    let confidence = Confidence::new(s.confidence)
        .unwrap_or_else(|_| Confidence::new(0.95).expect("0.95 is a confidence"));
    let outcomes = rec.outcomes();
    let dropped = rec.dropped();
    let per_second: Vec<Counts> = rec
        .seconds
        .iter()
        .map(|sec| counts(&sec.outcomes))
        .collect();
    let availability_target = s
        .slos
        .iter()
        .find(|o| o.metric == Metric::Availability && o.filters == Filters::default())
        .map(|o| o.objective.target);
    let faults = failover::analyse(s, r, availability_target);
    let integrity = integrity(s, r);
    let mut warnings = Vec::new();
    if dropped > 0 {
        warnings.push(format!(
            "{dropped} request(s) were dropped at the in-flight cap: the generator could not keep the schedule, so latency and availability are understated"
        ));
    }
    let auth_failed = outcomes.get(Outcome::AuthFetchFailed);
    if auth_failed > 0 {
        warnings.push(format!(
            "{auth_failed} request(s) were not sent: their tenant's OAuth2 token could not be fetched (`auth_fetch_failed`); they count against the credentials, not the system under test"
        ));
    }
    if r.partial {
        warnings.push(
            "the run was interrupted: these are the numbers measured until then, and the verdict is withheld (exit 6)"
                .into(),
        );
    }
    if let Some(client) = &rec.http_client {
        warnings.push(format!(
            "the load was sent with the {client} HTTP client (--client {client}), not ninefold's own: a cross-check (its service time includes connects; it costs more CPU per request)"
        ));
    }
    for e in &r.lifecycle {
        if e.event == crate::topology::supervisor::Lifecycle::DiedUnexpectedly {
            warnings.push(format!(
                "{} died at {:.1}s without a fault asking for it ({})",
                e.instance, e.at_s, e.detail
            ));
        }
    }
    for f in &r.faults {
        if let Some(err) = &f.error {
            warnings.push(format!(
                "fault {} ({}) at {:.1}s failed: {err}",
                f.fault, f.action, f.at_s
            ));
        }
    }
    let ctx = Ctx {
        s,
        r,
        rec,
        faults: &faults,
        integrity: &integrity,
        per_second: &per_second,
    };
    let slos: Vec<SloResult> = s
        .slos
        .iter()
        .map(|slo| SloResult::new(slo, &evaluate(&slo.objective, ctx.measure(slo), confidence)))
        .collect();
    let mut summary = Summary {
        schema_version: crate::report::summary::SCHEMA_VERSION,
        ninefold_version: env!("CARGO_PKG_VERSION").into(),
        scenario: s.name.clone(),
        seed: r.seed,
        started_at: r.started_at.clone(),
        duration_s: rec.duration_s,
        time_scale,
        host_cores: r
            .host_cores
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32)),
        verdict: super::slo::RunVerdict::Pass,
        exit_code: 0,
        partial: r.partial,
        warnings,
        requests: Requests {
            sent: outcomes.sent(),
            ok: outcomes.get(Outcome::Ok),
            rejected: outcomes.get(Outcome::Rejected),
            failed: outcomes.sent().saturating_sub(outcomes.good()),
            dropped,
        },
        outcomes: Outcome::ALL
            .iter()
            .filter(|o| o.listed(outcomes.get(**o)))
            .map(|o| (o.name().to_owned(), outcomes.get(*o)))
            .collect(),
        breakdown: crate::report::breakdown::breakdown(rec),
        latency_ms: rec.latency().ok().map(|h| percentiles(&h)),
        service_time_ms: rec.service().ok().map(|h| percentiles(&h)),
        availability: AvailabilitySummary::compute(
            counts(&outcomes),
            &per_second,
            confidence,
            availability_target,
        ),
        tenants: rec
            .tenants
            .iter()
            .map(|(id, t)| TenantSummary {
                id: id.clone(),
                offered: t.offered,
                admitted: t.admitted,
                model_admitted: t.model_admitted,
                accuracy_error: accuracy_error(t.admitted, t.model_admitted),
                wrongful_throttles: t.wrongful_throttles,
                over_admitted: t.over_admissions,
                retry_after: HeaderCheck::of(t.retry_after_checked, t.retry_after_off),
                ratelimit_remaining: HeaderCheck::of(t.remaining_checked, t.remaining_off),
            })
            .collect(),
        instances: instances(s, rec),
        faults,
        integrity,
        hostile_backend_requests: r
            .hostile_backend_requests
            .filter(|_| has_hostile_traffic(s)),
        slos,
    };
    // Requests never sent for want of a token make the run invalid the way drops do.
    let unsent = dropped + outcomes.get(Outcome::AuthFetchFailed);
    let invalid = unsent as f64 > MAX_DROP_SHARE * outcomes.sent().max(1) as f64;
    summary.decide(RunHealth {
        invalid,
        broken,
        interrupted: r.partial,
    });
    summary
}

/// Whether any request class sends a hostile token.
fn has_hostile_traffic(s: &Scenario) -> bool {
    s.traffic
        .iter()
        .flat_map(|p| &p.requests)
        .any(|r| r.token.is_hostile())
}

/// Good and eligible requests: dropped requests are not eligible (they make the run invalid instead).
fn counts(o: &OutcomeCounts) -> Counts {
    let eligible = o.sent();
    Counts::new(o.good().min(eligible), eligible).unwrap_or_else(|_| Counts::from_good_bad(0, 0))
}

fn percentiles(h: &Hist) -> Percentiles {
    let p = h.summary_ms();
    Percentiles {
        count: h.0.len(),
        p50: p.p50,
        p90: p.p90,
        p99: p.p99,
        p999: p.p999,
        max: p.max,
    }
}

/// Admitted vs what a perfect gateway would have admitted, relative.
fn accuracy_error(admitted: u64, model: u64) -> Option<f64> {
    (model > 0).then(|| (admitted as f64 - model as f64) / model as f64)
}

fn instances(s: &Scenario, rec: &Recording) -> Vec<InstanceSummary> {
    let mut out: Vec<InstanceSummary> = Vec::new();
    for (pool, u) in &s.upstreams {
        for i in 0..u.instances.count() {
            let name = format!("{pool}-{i}");
            out.push(InstanceSummary {
                served: rec.instances.get(&name).copied().unwrap_or(0),
                zone: u.zone_of(i).map(str::to_owned),
                name,
            });
        }
    }
    let known: HashSet<String> = out.iter().map(|i| i.name.clone()).collect();
    for (name, served) in &rec.instances {
        if !known.contains(name) {
            out.push(InstanceSummary {
                name: name.clone(),
                zone: None,
                served: *served,
            });
        }
    }
    out
}

struct Ctx<'a> {
    s: &'a Scenario,
    r: &'a RunResults,
    rec: &'a Recording,
    faults: &'a [FaultSummary],
    integrity: &'a IntegritySummary,
    per_second: &'a [Counts],
}

impl Ctx<'_> {
    /// A failover figure over the faults the SLO's window names: the worst of
    /// them, a recovery that never came as "at least", and the true reason
    /// when there is nothing to judge.
    fn failover(&self, slo: &Slo) -> Measured {
        use crate::report::summary::RecoveryState;
        let selected: Vec<&FaultSummary> = self
            .faults
            .iter()
            .filter(|fs| match slo.filters.window {
                Window::Fault(i) | Window::Recovery(i) => fs.index == i,
                _ => true,
            })
            .collect();
        if selected.is_empty() {
            return Measured::Absent(if self.faults.is_empty() {
                "no fault was applied during the run, so there is nothing to recover from".into()
            } else {
                "the fault this SLO names was not applied during the run".into()
            });
        }
        let attributed: Vec<&FaultSummary> = selected
            .iter()
            .copied()
            .filter(|fs| fs.not_attributed.is_none())
            .collect();
        if attributed.is_empty() {
            let why: Vec<&str> = selected
                .iter()
                .filter_map(|fs| fs.not_attributed.as_deref())
                .collect();
            return Measured::Absent(format!("the fault had {}", why.join("; ")));
        }
        let worst = |values: Vec<f64>| values.into_iter().reduce(f64::max);
        match slo.metric {
            Metric::FailoverRecovery => {
                let recovered = worst(attributed.iter().filter_map(|fs| fs.recovery_s).collect());
                let never = worst(
                    attributed
                        .iter()
                        .filter_map(|fs| fs.not_recovered_for_s)
                        .collect(),
                );
                if let Some(n) = never {
                    return Measured::NotRecovered(recovered.map_or(n, |r| r.max(n)));
                }
                if let Some(r) = recovered {
                    return Measured::Value(r);
                }
                // No error followed any fault: the service never left its
                // allowance, so it was recovered at once.
                if attributed
                    .iter()
                    .any(|fs| fs.recovery == RecoveryState::NoErrors)
                {
                    return Measured::NothingToRecover;
                }
                Measured::Absent("no request was answered after the fault".into())
            }
            Metric::FailoverTimeToFirstError => worst(
                attributed
                    .iter()
                    .filter_map(|fs| fs.time_to_first_error_s)
                    .collect(),
            )
            .map_or_else(
                || Measured::Absent("no error followed the fault".into()),
                Measured::Value,
            ),
            _ => worst(
                attributed
                    .iter()
                    .filter_map(|fs| fs.reintegration_s)
                    .collect(),
            )
            .map_or_else(
                || Measured::Absent("no replaced instance was seen serving after the fault".into()),
                Measured::Value,
            ),
        }
    }

    /// Keys matching the tenant/route/phase filters.
    fn keys(&self, f: &Filters) -> Vec<&KeyStats> {
        self.rec
            .keys
            .iter()
            .filter(|k| {
                f.tenant
                    .as_ref()
                    .is_none_or(|t| k.tenant.as_ref() == Some(t))
            })
            .filter(|k| f.phase.as_ref().is_none_or(|p| &k.phase == p))
            .filter(|k| {
                f.route
                    .as_ref()
                    .is_none_or(|r| k.path.starts_with(r.as_str()))
            })
            .collect()
    }

    /// The seconds of the run a window covers.
    fn seconds(&self, w: Window) -> Vec<usize> {
        let n = self.rec.seconds.len();
        let faults = &self.s.faults;
        let during = |i: usize, sec: usize| {
            let f = &faults[i];
            let start = f.at.as_secs_f64();
            let end = f.duration.map_or(start + 1.0, |d| start + d.as_secs_f64());
            let t = self.rec.seconds[sec].second as f64;
            t + 1.0 > start && t < end
        };
        (0..n)
            .filter(|&sec| match w {
                Window::All => true,
                Window::Steady => !(0..faults.len()).any(|i| during(i, sec)),
                Window::Fault(i) => during(i, sec),
                Window::Recovery(i) => {
                    let f = &faults[i];
                    let end = f.at.as_secs_f64() + f.duration.map_or(0.0, |d| d.as_secs_f64());
                    self.rec.seconds[sec].second as f64 >= end
                }
            })
            .collect()
    }

    fn measure(&self, slo: &Slo) -> Measured {
        let f = &slo.filters;
        let by_key = f.tenant.is_some() || f.route.is_some() || f.phase.is_some();
        if by_key && f.window != Window::All && !matches!(slo.metric, m if m.is_failover()) {
            // Per-second data is kept for the run as a whole, not per tenant/route/phase.
            return Measured::Nothing;
        }
        let windowed = f.window != Window::All;
        match slo.metric {
            Metric::Latency(p) | Metric::ServiceTime(p) => {
                let service = matches!(slo.metric, Metric::ServiceTime(_));
                let mut h = Hist::default();
                if windowed {
                    if service {
                        return Measured::Nothing;
                    }
                    for sec in self.seconds(f.window) {
                        if let Ok(x) = crate::metrics::hist::decode(&self.rec.seconds[sec].latency)
                        {
                            let _ = h.0.add(&x);
                        }
                    }
                } else {
                    for k in self.keys(f) {
                        let _ = h.merge(if service { &k.service } else { &k.latency });
                    }
                }
                if h.0.is_empty() {
                    return Measured::Nothing;
                }
                Measured::Value(h.0.value_at_quantile(p / 100.0) as f64 / 1e6)
            }
            Metric::Availability | Metric::ErrorRate => {
                let c = if windowed {
                    self.seconds(f.window)
                        .iter()
                        .map(|&s| self.per_second[s])
                        .sum()
                } else {
                    self.keys(f)
                        .iter()
                        .map(|k| counts(&k.outcomes))
                        .sum::<Counts>()
                };
                if c.eligible() == 0 {
                    return Measured::Nothing;
                }
                if slo.metric == Metric::Availability {
                    Measured::Availability(c)
                } else {
                    Measured::Proportion {
                        events: c.bad(),
                        trials: c.eligible(),
                    }
                }
            }
            Metric::AvailabilityTimeBased => {
                let secs: Vec<Counts> = self
                    .seconds(f.window)
                    .iter()
                    .map(|&s| self.per_second[s])
                    .collect();
                // A second is good when it meets the availability target of the
                // same traffic (an availability SLO with the same filters), else
                // the run's (the unfiltered one), else this objective's own.
                let availability = |filters: &Filters| {
                    self.s
                        .slos
                        .iter()
                        .find(|o| o.metric == Metric::Availability && o.filters == *filters)
                };
                let target = availability(f)
                    .or_else(|| availability(&Filters::default()))
                    .map_or(slo.objective.target, |o| o.objective.target);
                super::availability::time_based(&secs, target)
                    .map_or(Measured::Nothing, Measured::Value)
            }
            Metric::Throughput => {
                let secs = self.seconds(f.window);
                if secs.is_empty() {
                    return Measured::Nothing;
                }
                let answered: u64 = if windowed {
                    secs.iter()
                        .map(|&s| self.rec.seconds[s].outcomes.sent())
                        .sum()
                } else {
                    self.keys(f).iter().map(|k| k.outcomes.sent()).sum()
                };
                Measured::Value(answered as f64 / secs.len() as f64)
            }
            Metric::ThrottleAccuracy | Metric::ThrottleWrongful | Metric::ThrottleOverAdmitted => {
                let tenants: Vec<_> = self
                    .rec
                    .tenants
                    .iter()
                    .filter(|(id, _)| f.tenant.as_ref().is_none_or(|t| t == *id))
                    .collect();
                if tenants.is_empty() {
                    return Measured::Nothing;
                }
                Measured::Value(match slo.metric {
                    Metric::ThrottleAccuracy => {
                        // Undefined for a tenant the model admitted nothing for: not 0.
                        let Some(worst) = tenants
                            .iter()
                            .filter_map(|(_, t)| accuracy_error(t.admitted, t.model_admitted))
                            .map(f64::abs)
                            .reduce(f64::max)
                        else {
                            return Measured::Absent(
                                "the model admitted no request of these tenants, so the relative error is undefined".into(),
                            );
                        };
                        worst
                    }
                    Metric::ThrottleWrongful => tenants
                        .iter()
                        .map(|(_, t)| t.wrongful_throttles)
                        .sum::<u64>() as f64,
                    _ => tenants.iter().map(|(_, t)| t.over_admissions).sum::<u64>() as f64,
                })
            }
            Metric::FailoverRecovery
            | Metric::FailoverTimeToFirstError
            | Metric::FailoverReintegration => self.failover(slo),
            Metric::AuthHostileBackendRequests => {
                match self
                    .r
                    .hostile_backend_requests
                    .filter(|_| !by_key && !windowed)
                {
                    Some(n) if has_hostile_traffic(self.s) => Measured::Value(n as f64),
                    _ => Measured::Nothing,
                }
            }
            Metric::IntegrityLostWrites
            | Metric::IntegrityDuplicates
            | Metric::IntegrityUnkeyedDuplicates => {
                let i = self.integrity;
                if let Some(why) = &i.not_measured {
                    return Measured::Absent(why.clone());
                }
                let value = match slo.metric {
                    Metric::IntegrityLostWrites => i.lost,
                    Metric::IntegrityDuplicates => i.duplicates,
                    _ => i.unkeyed_duplicates,
                };
                match value {
                    Some(n) => Measured::Value(n as f64),
                    None => {
                        Measured::Absent("no write was acknowledged, so none could be lost".into())
                    }
                }
            }
            Metric::RetryAmplification => {
                let keys = self.keys(f);
                let sent: u64 = keys.iter().map(|k| k.outcomes.sent()).sum();
                // Client retries of these keys, plus the gateway's own retries (run-wide only).
                let gateway = if by_key {
                    0
                } else {
                    match self.r.gateway_counters.get("gateway_retries_total") {
                        Some(n) => *n as u64,
                        // Unknown is not none: the figure would understate.
                        None => {
                            return Measured::Absent(match &self.s.gateway.target {
                                crate::scenario::model::GatewayTarget::External { .. } => {
                                    "the gateway is external, so its own retries cannot be counted"
                                }
                                _ => "the gateway's retry counter could not be read from its /metrics",
                            }
                            .into());
                        }
                    }
                };
                let retries: u64 = keys.iter().map(|k| k.retries).sum::<u64>() + gateway;
                if sent == 0 {
                    return Measured::Nothing;
                }
                Measured::Value((sent + retries) as f64 / sent as f64)
            }
            Metric::BalanceSkew => {
                // Every instance a route reaches counts, the ones that served nothing included.
                let mut by_name: std::collections::BTreeMap<String, u64> =
                    self.rec.instances.clone();
                if matches!(
                    self.s.gateway.target,
                    crate::scenario::model::GatewayTarget::Bundled { .. }
                ) {
                    for (pool, u) in &self.s.upstreams {
                        let managed =
                            matches!(u.instances, crate::scenario::model::Instances::Managed(_));
                        if managed && self.s.gateway.routes.iter().any(|r| &r.upstream == pool) {
                            for i in 0..u.instances.count() {
                                by_name.entry(format!("{pool}-{i}")).or_insert(0);
                            }
                        }
                    }
                }
                let served: Vec<f64> = by_name.values().map(|v| *v as f64).collect();
                if served.len() < 2 {
                    return Measured::Nothing;
                }
                let mean = served.iter().sum::<f64>() / served.len() as f64;
                let max = served.iter().copied().fold(0.0, f64::max);
                Measured::Value(if mean > 0.0 { (max - mean) / mean } else { 0.0 })
            }
            // Counted by the bundled gateway (scraped from its /metrics), run-wide.
            Metric::CacheHitRatio => {
                let get = |k: &str| self.r.gateway_counters.get(k).copied().unwrap_or(0.0) as u64;
                let (hits, misses) = (
                    get("gateway_cache_hits_total"),
                    get("gateway_cache_misses_total"),
                );
                if by_key || windowed || hits + misses == 0 {
                    return Measured::Nothing;
                }
                Measured::Proportion {
                    events: hits,
                    trials: hits + misses,
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "summarize_tests.rs"]
mod tests;
