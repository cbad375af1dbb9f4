//! A run's recording → its [`Summary`]: every figure of `summary.json` and every
//! SLO verdict, computed from what the load engine, the fault timeline, the
//! supervisor and the store read-back left in [`RunResults`]. Each SLO's figure
//! comes from `measure` (one function per metric family), the per-fault
//! figures from [`failover`], the store check from [`integrity`].

use std::collections::HashSet;

use super::failover;
use super::integrity::integrity;
use super::measure::Evidence;
use super::{
    AvailabilitySummary, HeaderCheck, InstanceSummary, Percentiles, Requests, SloResult, Summary,
    TenantSummary,
};
use crate::analysis::availability::{Confidence, Counts};
use crate::analysis::slo::{RunHealth, evaluate};
use crate::metrics::{Hist, Outcome, OutcomeCounts, Recording};
use crate::results::RunResults;
use crate::scenario::model::Scenario;
use crate::scenario::slo::{Filters, Metric};

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
    let availability_target = availability_target(s);
    let faults = failover::analyse(s, r, availability_target);
    let integrity = integrity(s, r);
    let warnings = warnings(r, dropped);
    let evidence = Evidence {
        s,
        r,
        rec,
        faults: &faults,
        integrity: &integrity,
        per_second: &per_second,
    };
    let slos = slo_results(s, &evidence, confidence, r.aborted.as_ref());
    let mut summary = Summary {
        schema_version: super::SCHEMA_VERSION,
        ninefold_version: env!("CARGO_PKG_VERSION").into(),
        scenario: s.name.clone(),
        seed: r.seed,
        started_at: r.started_at.clone(),
        duration_s: rec.duration_s,
        time_scale,
        host_cores: r
            .host_cores
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32)),
        verdict: crate::analysis::slo::RunVerdict::Pass,
        exit_code: 0,
        partial: r.partial,
        warnings,
        requests: requests(&outcomes, dropped),
        outcomes: listed_outcomes(&outcomes),
        breakdown: super::breakdown::breakdown(rec),
        flows: super::flows::flows(rec, s),
        latency_ms: rec.latency().ok().map(|h| percentiles(&h)),
        service_time_ms: rec.service().ok().map(|h| percentiles(&h)),
        availability: AvailabilitySummary::compute(
            counts(&outcomes),
            &per_second,
            confidence,
            availability_target,
        ),
        tenants: tenants(rec),
        instances: instances(s, rec),
        faults,
        integrity,
        hostile_backend_requests: r
            .hostile_backend_requests
            .filter(|_| has_hostile_traffic(s)),
        slos,
        connection_setup_ms: rec.connection_setup.as_ref().map(connection_setup),
        tls_insecure: r.recording.tls_insecure,
        aborted: r.aborted.clone(),
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

/// The run-wide availability objective's target (no filters), if there is one.
fn availability_target(s: &Scenario) -> Option<f64> {
    s.slos
        .iter()
        .find(|o| o.metric == Metric::Availability && o.filters == Filters::default())
        .map(|o| o.objective.target)
}

/// Counts by outcome name, the outcomes a run may not have had left out at zero.
fn listed_outcomes(outcomes: &OutcomeCounts) -> std::collections::BTreeMap<String, u64> {
    Outcome::ALL
        .iter()
        .filter(|o| o.listed(outcomes.get(**o)))
        .map(|o| (o.name().to_owned(), outcomes.get(*o)))
        .collect()
}

/// TCP connect and TLS handshake percentiles.
fn connection_setup(
    c: &crate::metrics::recording::ConnectionSetup,
) -> super::ConnectionSetupSummary {
    super::ConnectionSetupSummary {
        tcp_connect: percentiles(&c.tcp_connect),
        tls_handshake: c.tls_handshake.as_ref().map(percentiles),
    }
}

/// Each SLO measured and judged.
/// The SLO a run aborted on is judged on the evidence it aborted with (a
/// refuted upper bound); the others on what was measured until the stop.
fn slo_results(
    s: &Scenario,
    evidence: &Evidence<'_>,
    confidence: Confidence,
    aborted: Option<&crate::results::Aborted>,
) -> Vec<SloResult> {
    s.slos
        .iter()
        .map(|slo| {
            if let Some(a) = aborted.filter(|a| a.slo == slo.name)
                && let Some(eval) = super::abort::evaluation(slo, a)
            {
                return SloResult::new(slo, &eval);
            }
            let measured = evidence.measure(slo);
            SloResult::new(slo, &evaluate(&slo.objective, measured, confidence))
        })
        .collect()
}

/// The request counts of the whole run.
fn requests(outcomes: &OutcomeCounts, dropped: u64) -> Requests {
    Requests {
        sent: outcomes.sent(),
        ok: outcomes.get(Outcome::Ok),
        rejected: outcomes.get(Outcome::Rejected),
        failed: outcomes.sent().saturating_sub(outcomes.good()),
        dropped,
    }
}

/// What a reader must know before trusting the numbers: drops, an
/// interrupted run, a foreign HTTP client, deaths and failed faults.
fn warnings(r: &RunResults, dropped: u64) -> Vec<String> {
    let rec = &r.recording;
    let mut warnings = Vec::new();
    if dropped > 0 {
        warnings.push(format!(
            "{dropped} request(s) were dropped at the in-flight cap: the generator could not keep the schedule, so latency and availability are understated"
        ));
    }
    let auth_failed = rec.outcomes().get(Outcome::AuthFetchFailed);
    if auth_failed > 0 {
        warnings.push(format!(
            "{auth_failed} request(s) were not sent: their tenant's OAuth2 token could not be fetched (`auth_fetch_failed`); they count against the credentials, not the system under test"
        ));
    }
    if let Some(a) = &r.aborted {
        warnings.push(super::abort::warning(a));
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
    if rec.tls_insecure {
        warnings.push(
            "INSECURE: the servers' TLS certificates were NOT verified ([client.tls] insecure = true): these answers may not have come from the system under test"
                .into(),
        );
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
    warnings
}

/// Each tenant's throttle figures against the bucket model.
fn tenants(rec: &Recording) -> Vec<TenantSummary> {
    rec.tenants
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
        .collect()
}

/// Whether any request class sends a hostile token.
pub(super) fn has_hostile_traffic(s: &Scenario) -> bool {
    s.traffic
        .iter()
        .flat_map(|p| &p.requests)
        .any(|r| r.token.is_hostile())
}

/// Good and eligible requests: dropped requests are not eligible (they make the run invalid instead).
pub(super) fn counts(o: &OutcomeCounts) -> Counts {
    let eligible = o.sent();
    Counts::new(o.good().min(eligible), eligible).unwrap_or_else(|_| Counts::from_good_bad(0, 0))
}

pub(super) fn percentiles(h: &Hist) -> Percentiles {
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
pub(super) fn accuracy_error(admitted: u64, model: u64) -> Option<f64> {
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

#[cfg(test)]
#[path = "build_tests.rs"]
pub(crate) mod tests;
