//! Case 13 of issue 18: the breakdown of outcomes by request class and status.
//! What each output says of it is tested in `report::says_tests`, from these fixtures.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::metrics::{Layout, PhaseLayout, Recorder, Sample};
use crate::results::RunResults;

pub(crate) const SCENARIO: &str = r#"
name = "breakdown"
duration = "10s"

[gateway]
instances = 1

[[gateway.routes]]
path = "/items"
upstream = "api"

[upstreams.api]
instances = 1

[[traffic]]
executor = "constant-arrival-rate"
rate = 10
requests = [{ path = "/items/{rand:1..100}" }, { method = "PUT", path = "/items/{seq}" }]

[slo]
availability = ">= 99%"
"#;

/// The body the PUT answers carry: markup, a quote and a newline, to see each
/// output carry it safely.
pub(crate) const BODY: &str = "{\"error\": \"PUT is <not> implemented\"}\n";

fn layout(tenants: &[&str]) -> Arc<Layout> {
    Arc::new(Layout {
        phases: vec![PhaseLayout {
            name: "steady".into(),
            open_loop: true,
            classes: vec![
                ("GET".into(), "/items/{rand:1..100}".into()),
                ("PUT".into(), "/items/{id}".into()),
            ],
            flow: false,
        }],
        tenants: tenants.iter().map(|t| (*t).to_string()).collect(),
    })
}

fn sample<'a>(
    start: Instant,
    i: u64,
    class: usize,
    tenant: Option<usize>,
    status: u16,
    outcome: Outcome,
    body: Option<&'a [u8]>,
) -> Sample<'a> {
    let at = start + Duration::from_millis(10 * i);
    Sample {
        phase: 0,
        tenant,
        class,
        outcome,
        status: Some(status),
        intended: at,
        sent: at,
        done: at + Duration::from_millis(2),
        instance: None,
        retries: 0,
        body,
        reason: None,
    }
}

/// 100 `GET` → 200 and 88 `PUT /items/{id}` → 501 with [`BODY`], recorded
/// by the recorder as the load engine records them.
pub(crate) fn recording() -> Recording {
    let start = Instant::now();
    let mut rec = Recorder::new(layout(&[]), start, 0.005);
    for i in 0..100 {
        rec.record(&sample(
            start,
            i,
            0,
            None,
            200,
            Outcome::Ok,
            Some(b"{\"id\": 1}"),
        ));
    }
    for i in 0..88 {
        // Each answer has a body; the first one is the example.
        let body = if i == 0 {
            BODY.to_string()
        } else {
            format!("other {i}")
        };
        rec.record(&sample(
            start,
            100 + i,
            1,
            None,
            501,
            Outcome::ServerError,
            Some(body.as_bytes()),
        ));
    }
    rec.finish(2.0)
}

pub(crate) fn results(recording: Recording) -> RunResults {
    RunResults {
        scenario: "breakdown".into(),
        seed: 1,
        started_at: "2026-11-26T08:00:00Z".into(),
        partial: false,
        recording,
        faults: Vec::new(),
        lifecycle: Vec::new(),
        stores: Vec::new(),
        gateway_counters: BTreeMap::new(),
        api_readback: None,
        time_scale: 1.0,
        shard: None,
        hostile_backend_requests: None,
        host_cores: Some(2),
        aborted: None,
        pools: None,
    }
}

#[test]
fn example_bodies_are_bounded_and_tenants_add_up() {
    let start = Instant::now();
    let mut rec = Recorder::new(layout(&["acme", "free"]), start, 0.005);
    let long = vec![b'x'; 2_000];
    for i in 0..5 {
        let tenant = Some((i % 2) as usize);
        rec.record(&sample(
            start,
            i,
            1,
            tenant,
            429,
            Outcome::Rejected,
            Some(&long),
        ));
    }
    rec.record(&sample(
        start,
        9,
        1,
        None,
        503,
        Outcome::ServerError,
        Some(b""),
    ));
    let r = rec.finish(1.0);
    assert_eq!(r.examples.len(), 2, "{:?}", r.examples);
    let rejected = &r.examples[0];
    assert_eq!(
        (rejected.status, rejected.count),
        (429, 5),
        "tenants add up"
    );
    assert_eq!(
        rejected.body.as_ref().unwrap().len(),
        crate::metrics::recording::EXAMPLE_BODY_BYTES
    );
    assert!(rejected.body_truncated);
    assert_eq!(r.examples[1].body, None, "an empty body is no example");

    // Two workers' recordings merge: counts add, the first body stays.
    let mut merged = r.clone();
    merged.merge(r).unwrap();
    assert_eq!(merged.examples.len(), 2);
    assert_eq!(merged.examples[0].count, 10);
    let b = breakdown(&merged);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].sent, 12);
    assert_eq!(b[0].bad, 2, "rejections are good");
    let rows: Vec<(Option<u16>, Option<&str>, u64)> = b[0]
        .rows
        .iter()
        .map(|r| (r.status, r.outcome.as_deref(), r.count))
        .collect();
    assert_eq!(
        rows,
        [
            (Some(503), Some("server_error"), 2),
            (Some(429), Some("rejected"), 10)
        ],
        "bad rows first"
    );
}

#[test]
fn requests_without_an_answer_and_older_results_get_rows_too() {
    let mut rec = recording();
    // Results of an older ninefold: statuses, but no examples.
    rec.examples.clear();
    rec.keys[1].outcomes.add(Outcome::Timeout);
    let b = breakdown(&rec);
    let put = b.iter().find(|c| c.method == "PUT").unwrap();
    assert_eq!(put.bad, 89);
    let rows: Vec<(Option<u16>, Option<&str>, u64)> = put
        .rows
        .iter()
        .map(|r| (r.status, r.outcome.as_deref(), r.count))
        .collect();
    assert_eq!(
        rows,
        [(None, Some("timeout"), 1), (Some(501), None, 88)],
        "a status whose outcome the results do not say is not called ok"
    );
}
