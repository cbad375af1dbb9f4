//! One SLO's measured figure, one function per metric family: what
//! [`evaluate`](crate::analysis::slo::evaluate) judges against the objective.
//!
//! [`Evidence`] is what a run left that an SLO is measured from (the
//! recording, the raw results, and the fault and integrity figures the
//! summary already computed); [`Evidence::measure`] picks the family.

use crate::analysis::availability::{self, Counts};
use crate::analysis::slo::Measured;
use crate::metrics::{Hist, KeyStats, Recording};
use crate::results::RunResults;
use crate::scenario::model::{GatewayTarget, Instances, Scenario};
use crate::scenario::slo::{Filters, Metric, Slo, Window};

use super::build::{accuracy_error, counts, has_hostile_traffic};
use super::{FaultSummary, IntegritySummary, RecoveryState};

/// What a run left that an SLO is measured from.
pub(super) struct Evidence<'a> {
    pub s: &'a Scenario,
    pub r: &'a RunResults,
    pub rec: &'a Recording,
    pub faults: &'a [FaultSummary],
    pub integrity: &'a IntegritySummary,
    /// Good and eligible requests of each second of the run.
    pub per_second: &'a [Counts],
}

/// Whether the SLO selects by tenant, route or phase (per-key data only).
fn by_key(f: &Filters) -> bool {
    f.tenant.is_some() || f.route.is_some() || f.phase.is_some()
}

impl Evidence<'_> {
    /// The figure `slo` is judged on.
    pub fn measure(&self, slo: &Slo) -> Measured {
        let f = &slo.filters;
        if by_key(f) && f.window != Window::All && !matches!(slo.metric, m if m.is_failover()) {
            // Per-second data is kept for the run as a whole, not per tenant/route/phase.
            return Measured::Nothing;
        }
        match slo.metric {
            Metric::Latency(p) | Metric::ServiceTime(p) => self.latency(slo, p),
            Metric::Availability | Metric::ErrorRate => self.availability(slo),
            Metric::AvailabilityTimeBased => self.time_based_availability(slo),
            Metric::Throughput => self.throughput(f),
            Metric::ThrottleAccuracy | Metric::ThrottleWrongful | Metric::ThrottleOverAdmitted => {
                self.throttle(slo)
            }
            Metric::FailoverRecovery
            | Metric::FailoverTimeToFirstError
            | Metric::FailoverReintegration => self.failover(slo),
            Metric::AuthHostileBackendRequests => self.hostile_backend_requests(f),
            Metric::IntegrityLostWrites
            | Metric::IntegrityDuplicates
            | Metric::IntegrityMismatched
            | Metric::IntegrityUnkeyedDuplicates => self.integrity(slo.metric),
            Metric::RetryAmplification => self.retry_amplification(f),
            Metric::BalanceSkew => self.balance_skew(),
            Metric::CacheHitRatio => self.cache_hit_ratio(f),
        }
    }

    /// A latency or service-time percentile `p` (in %), in seconds.
    fn latency(&self, slo: &Slo, p: f64) -> Measured {
        let f = &slo.filters;
        let service = matches!(slo.metric, Metric::ServiceTime(_));
        let mut h = Hist::default();
        if f.window != Window::All {
            if service {
                return Measured::Nothing;
            }
            for sec in self.seconds(f.window) {
                if let Ok(x) = crate::metrics::hist::decode(&self.rec.seconds[sec].latency) {
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

    /// Availability (good / eligible) or the error rate (bad / eligible).
    fn availability(&self, slo: &Slo) -> Measured {
        let f = &slo.filters;
        let c = if f.window != Window::All {
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

    /// The share of seconds that met an availability target.
    fn time_based_availability(&self, slo: &Slo) -> Measured {
        let f = &slo.filters;
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
        availability::time_based(&secs, target).map_or(Measured::Nothing, Measured::Value)
    }

    /// Answered requests per second of the window.
    fn throughput(&self, f: &Filters) -> Measured {
        let secs = self.seconds(f.window);
        if secs.is_empty() {
            return Measured::Nothing;
        }
        let answered: u64 = if f.window != Window::All {
            secs.iter()
                .map(|&s| self.rec.seconds[s].outcomes.sent())
                .sum()
        } else {
            self.keys(f).iter().map(|k| k.outcomes.sent()).sum()
        };
        Measured::Value(answered as f64 / secs.len() as f64)
    }

    /// The throttle figures of the selected tenants against the bucket model:
    /// the worst relative admission error, or the wrongful / over-admitted counts.
    fn throttle(&self, slo: &Slo) -> Measured {
        let f = &slo.filters;
        let tenants: Vec<_> = self
            .rec
            .tenants
            .iter()
            .filter(|(id, _)| f.selects_tenant(id))
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

    /// A failover figure over the faults the SLO's window names: the worst of
    /// them, a recovery that never came as "at least", and the true reason
    /// when there is nothing to judge.
    fn failover(&self, slo: &Slo) -> Measured {
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

    /// Hostile-token requests that reached a managed backend (run-wide only).
    fn hostile_backend_requests(&self, f: &Filters) -> Measured {
        match self
            .r
            .hostile_backend_requests
            .filter(|_| !by_key(f) && f.window == Window::All)
        {
            Some(n) if has_hostile_traffic(self.s) => Measured::Value(n as f64),
            _ => Measured::Nothing,
        }
    }

    /// Lost writes, duplicates or unkeyed duplicates from the store read-back.
    fn integrity(&self, metric: Metric) -> Measured {
        let i = self.integrity;
        // Declared read-backs through the API are the evidence when there are some.
        if let Some(api) = &i.through_api
            && metric != Metric::IntegrityUnkeyedDuplicates
        {
            return api_integrity(api, metric);
        }
        if metric == Metric::IntegrityMismatched {
            return Measured::Absent(
                "no request class declares `integrity` with `compare`, so no stored content was compared with what was sent".into(),
            );
        }
        if let Some(why) = &i.not_measured {
            return Measured::Absent(why.clone());
        }
        let value = match metric {
            Metric::IntegrityLostWrites => i.lost,
            Metric::IntegrityDuplicates => i.duplicates,
            _ => i.unkeyed_duplicates,
        };
        match value {
            Some(n) => Measured::Value(n as f64),
            None => Measured::Absent("no write was acknowledged, so none could be lost".into()),
        }
    }

    /// Requests sent per request wanted: (sent + retries) / sent.
    fn retry_amplification(&self, f: &Filters) -> Measured {
        let keys = self.keys(f);
        let sent: u64 = keys.iter().map(|k| k.outcomes.sent()).sum();
        // Client retries of these keys, plus the gateway's own retries (run-wide only).
        let gateway = if by_key(f) {
            0
        } else {
            match self.r.gateway_counters.get("gateway_retries_total") {
                Some(n) => *n as u64,
                // Unknown is not none: the figure would understate.
                None => {
                    return Measured::Absent(
                        match &self.s.gateway.target {
                            GatewayTarget::External { .. } => {
                                "the gateway is external, so its own retries cannot be counted"
                            }
                            GatewayTarget::Command { .. } => {
                                "the gateway is your command, whose own retries ninefold cannot count"
                            }
                            _ => "the gateway's retry counter could not be read from its /metrics",
                        }
                        .into(),
                    );
                }
            }
        };
        let retries: u64 = keys.iter().map(|k| k.retries).sum::<u64>() + gateway;
        if sent == 0 {
            return Measured::Nothing;
        }
        Measured::Value((sent + retries) as f64 / sent as f64)
    }

    /// How far the busiest instance is above the mean, relative to the mean.
    fn balance_skew(&self) -> Measured {
        // Every instance a route reaches counts, the ones that served nothing included.
        let mut by_name: std::collections::BTreeMap<String, u64> = self.rec.instances.clone();
        if matches!(self.s.gateway.target, GatewayTarget::Bundled { .. }) {
            for (pool, u) in &self.s.upstreams {
                let managed = matches!(u.instances, Instances::Managed(_));
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

    /// Cache hits / lookups, counted by the bundled gateway (scraped from its
    /// /metrics), run-wide.
    fn cache_hit_ratio(&self, f: &Filters) -> Measured {
        let get = |k: &str| self.r.gateway_counters.get(k).copied().unwrap_or(0.0) as u64;
        let (hits, misses) = (
            get("gateway_cache_hits_total"),
            get("gateway_cache_misses_total"),
        );
        if by_key(f) || f.window != Window::All || hits + misses == 0 {
            return Measured::Nothing;
        }
        Measured::Proportion {
            events: hits,
            trials: hits + misses,
        }
    }
}

/// Lost, duplicated or mismatched writes read back through the API: a count,
/// or a range when some writes could not be checked (each may be one more).
fn api_integrity(api: &crate::summary::ApiIntegrity, metric: Metric) -> Measured {
    let (name, value, unknown, what) = match metric {
        Metric::IntegrityLostWrites => ("lost", api.lost, api.not_read, "could not be read back"),
        Metric::IntegrityDuplicates => (
            "duplicated",
            api.duplicated,
            api.not_listed,
            "had no list of their records read",
        ),
        _ => (
            "mismatched",
            api.mismatched,
            api.not_read,
            "could not be read back",
        ),
    };
    let Some(n) = value else {
        let why = api.not_measured.get(name).cloned();
        return Measured::Absent(why.unwrap_or_else(|| format!("{name} writes were not measured")));
    };
    if unknown == 0 {
        return Measured::Value(n as f64);
    }
    Measured::Bounded {
        lower: n as f64,
        upper: (n + unknown) as f64,
        why: format!("{unknown} acknowledged writes {what}"),
    }
}
