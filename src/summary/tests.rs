//! The report model: its checked-in schema, and an example every renderer tests with.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::analysis::slo::{evaluate_availability, evaluate_point};
use crate::scenario::slo::{Filters, Metric, Objective, Slo};

fn slo(name: &str, objective: &str) -> Slo {
    let (metric, _) = crate::scenario::slo::split_selector(name).unwrap();
    let metric = Metric::parse(metric).unwrap();
    Slo {
        name: name.to_string(),
        metric,
        filters: Filters::default(),
        objective: Objective::parse(objective, metric.unit()).unwrap(),
        abort: false,
    }
}

/// A failover run with one SLO of each verdict and text that needs escaping.
/// The example's outcomes by request class: 23,000 ok, 980 rejected, 14
/// server errors and 6 timeouts over two classes.
fn example_breakdown() -> Vec<crate::summary::breakdown::ClassBreakdown> {
    use crate::summary::breakdown::{BreakdownRow, ClassBreakdown};
    let row = |status: Option<u16>, outcome: &str, count: u64, body: Option<&str>| BreakdownRow {
        status,
        outcome: Some(outcome.into()),
        count,
        example_body: body.map(str::to_owned),
        example_truncated: false,
        reason: None,
    };
    vec![
        ClassBreakdown {
            method: "GET".into(),
            path: "/items/{rand:1..1000}".into(),
            sent: 20_000,
            bad: 20,
            dropped: 0,
            rows: vec![
                row(Some(200), "ok", 19_000, None),
                row(
                    Some(429),
                    "rejected",
                    980,
                    Some(r#"{"error":"rate limited"}"#),
                ),
                row(
                    Some(503),
                    "server_error",
                    14,
                    Some(r#"{"error":"no healthy upstream"}"#),
                ),
                row(None, "timeout", 6, None),
            ],
        },
        ClassBreakdown {
            method: "POST".into(),
            path: "/orders".into(),
            sent: 4_000,
            bad: 0,
            dropped: 0,
            rows: vec![row(Some(201), "ok", 4_000, None)],
        },
    ]
}

// Long: a fixture, one literal Summary every renderer is tested with.
pub(crate) fn example() -> Summary {
    let c95 = Confidence::new(0.95).unwrap();
    let counts = Counts::new(23_980, 24_000).unwrap();
    let per_second: Vec<Counts> = (0..60)
        .map(|s| {
            let bad = if (25..27).contains(&s) { 10 } else { 0 };
            Counts::from_good_bad(400 - bad, bad)
        })
        .collect();
    let availability_slo = slo("availability", ">= 99.9%");
    let p99 = slo("latency.p99{tenant=acme,route=/items}", "< 150ms");
    let lost = slo("integrity.lost_writes", "== 0");
    let recovery = slo("failover.recovery", "< 5s");
    let slos = vec![
        SloResult::new(
            &availability_slo,
            &evaluate_availability(&availability_slo.objective, counts, c95),
        ),
        SloResult::new(&p99, &evaluate_point(&p99.objective, Some(0.0412))),
        SloResult::new(&lost, &evaluate_point(&lost.objective, Some(2.0))),
        SloResult::new(&recovery, &evaluate_point(&recovery.objective, None)),
    ];
    let mut outcomes = BTreeMap::new();
    outcomes.insert("ok".to_string(), 23_000);
    outcomes.insert("rejected".to_string(), 980);
    outcomes.insert("server_error".to_string(), 14);
    outcomes.insert("timeout".to_string(), 6);
    let mut summary = Summary {
        schema_version: SCHEMA_VERSION,
        ninefold_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: "failover <&> \"quoted\" | piped".to_string(),
        seed: 7,
        started_at: rfc3339_utc(UNIX_EPOCH + Duration::from_secs(1_795_672_800)),
        duration_s: 60.0,
        time_scale: 1.0,
        host_cores: 2,
        verdict: RunVerdict::Pass,
        exit_code: 0,
        partial: false,
        warnings: vec!["the generator fell behind by up to 3 ms".to_string()],
        requests: Requests {
            sent: 24_000,
            ok: 23_000,
            rejected: 980,
            failed: 20,
            dropped: 0,
        },
        outcomes,
        breakdown: example_breakdown(),
        flows: Vec::new(),
        latency_ms: Some(Percentiles {
            count: 24_000,
            p50: 4.1,
            p90: 9.8,
            p99: 41.2,
            p999: 180.5,
            max: 2_001.0,
        }),
        service_time_ms: Some(Percentiles {
            count: 24_000,
            p50: 4.0,
            p90: 9.5,
            p99: 39.9,
            p999: 170.2,
            max: 2_000.1,
        }),
        availability: AvailabilitySummary::compute(counts, &per_second, c95, Some(0.999)),
        tenants: vec![TenantSummary {
            id: "acme".to_string(),
            offered: 19_200,
            admitted: 12_030,
            model_admitted: 12_000,
            accuracy_error: Some(0.0025),
            wrongful_throttles: 1,
            over_admitted: 30,
            retry_after: Some(HeaderCheck {
                checked: 30,
                off_by_more_than_one: 0,
            }),
            ratelimit_remaining: None,
        }],
        instances: vec![
            InstanceSummary {
                name: "api[0]".to_string(),
                zone: Some("a".to_string()),
                served: 12_500,
            },
            InstanceSummary {
                name: "api[1]".to_string(),
                zone: Some("b".to_string()),
                served: 11_480,
            },
        ],
        faults: vec![FaultSummary {
            index: 0,
            action: "kill".to_string(),
            target: "api[1]".to_string(),
            at_s: 25.0,
            reverted_at_s: Some(40.0),
            time_to_first_error_s: Some(0.004),
            error_burst_s: Some(1.8),
            bad_requests: Some(20),
            recovery: RecoveryState::NotRecovered,
            recovery_s: None,
            not_recovered_for_s: Some(35.0),
            not_attributed: None,
            reintegration_s: Some(15.6),
        }],
        integrity: IntegritySummary {
            checked: true,
            acknowledged_writes: 4_800,
            lost: Some(2),
            duplicates: Some(0),
            unkeyed_duplicates: Some(0),
            not_measured: None,
            through_api: None,
        },
        hostile_backend_requests: None,
        slos,
        connection_setup_ms: None,
        tls_insecure: false,
        aborted: None,
    };
    summary.decide(RunHealth::default());
    summary
}

fn schema_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/summary.schema.json")
}

#[test]
fn checked_in_schema_matches_the_types() {
    let generated = schema_json();
    if std::env::var_os("NINEFOLD_BLESS").is_some() {
        std::fs::write(schema_path(), &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(schema_path()).unwrap_or_default();
    assert!(
        checked_in == generated,
        "schemas/summary.schema.json is stale; run `NINEFOLD_BLESS=1 cargo test --lib summary::tests` and commit it"
    );
}

#[test]
fn example_validates_against_the_checked_in_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path()).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let summary = example();
    let instance = serde_json::to_value(&summary).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // And the schema rejects what it should.
    let mut broken = instance.clone();
    broken["verdict"] = serde_json::json!("maybe");
    assert!(!validator.is_valid(&broken));
    broken = instance;
    broken["availability"]["nines"] = serde_json::json!("many");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn example_has_the_expected_verdicts_and_round_trips() {
    let summary = example();
    let verdicts: Vec<Verdict> = summary.slos.iter().map(|s| s.verdict).collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Inconclusive,
            Verdict::Pass,
            Verdict::Fail,
            Verdict::NotMeasured
        ]
    );
    assert_eq!((summary.verdict, summary.exit_code), (RunVerdict::Fail, 1));
    let json = summary.to_json().unwrap();
    let back: Summary = serde_json::from_str(&json).unwrap();
    assert_eq!(back, summary);
    for key in [
        "\"schema_version\"",
        "\"lower_bound_nines\"",
        "\"requests_to_demonstrate\": 2995",
        "\"verdict\": \"fail\"",
        "\"downtime_per_year_s\"",
    ] {
        assert!(json.contains(key), "{key} missing");
    }
}

#[test]
fn availability_summary_of_a_perfect_run() {
    let c95 = Confidence::new(0.95).unwrap();
    let perfect =
        AvailabilitySummary::compute(Counts::new(5_000, 5_000).unwrap(), &[], c95, Some(0.999));
    assert!(perfect.perfect);
    assert_eq!(perfect.nines, None);
    assert!(perfect.lower_bound_nines.unwrap() > 3.0);
    assert_eq!(perfect.more_requests_to_settle, Some(0));
    assert_eq!(perfect.error_budget_consumed, Some(0.0));
    assert_eq!(perfect.time_based, None);
    let empty = AvailabilitySummary::compute(Counts::default(), &[], c95, None);
    assert!(!empty.perfect);
    assert_eq!(
        (
            empty.ratio,
            empty.lower_bound,
            empty.requests_to_demonstrate
        ),
        (None, None, None)
    );
    let json = serde_json::to_string(&perfect).unwrap();
    assert!(json.contains("\"nines\":null"), "{json}");
}

#[test]
fn timestamps_are_rfc3339_utc() {
    assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    // date -u -d @1795672800 → Thu Nov 26 06:00:00 UTC 2026.
    assert_eq!(
        rfc3339_utc(UNIX_EPOCH + Duration::from_secs(1_795_672_800)),
        "2026-11-26T06:00:00Z"
    );
    // 2024-02-29T23:59:59Z is 1709251199 (a leap day).
    assert_eq!(
        rfc3339_utc(UNIX_EPOCH + Duration::from_secs(1_709_251_199)),
        "2024-02-29T23:59:59Z"
    );
}
