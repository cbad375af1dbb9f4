//! Merging recordings: exact sums, and formats that do not merge refused.

use super::*;
use crate::metrics::Outcome;

fn key(phase: &str, values: &[u64]) -> KeyStats {
    let mut latency = Hist::default();
    let mut outcomes = OutcomeCounts::default();
    for v in values {
        latency.0.record(*v).unwrap();
        outcomes.add(Outcome::Ok);
    }
    KeyStats {
        phase: phase.into(),
        tenant: Some("acme".into()),
        class: 0,
        method: "GET".into(),
        path: "/items".into(),
        outcomes,
        statuses: BTreeMap::from([(200, values.len() as u64)]),
        latency: latency.clone(),
        service: latency,
        retries: 0,
    }
}

fn second(n: u32, values: &[u64]) -> SecondStats {
    let mut h = hist::new_histogram(hist::SECOND_SIGFIG);
    for v in values {
        h.record(*v).unwrap();
    }
    let mut s = SecondStats::new(n, &h);
    s.instances.insert("api-0".into(), values.len() as u64);
    s.tenants.insert(
        "acme".into(),
        TenantSecond {
            offered: values.len() as u64,
            admitted: values.len() as u64,
            model_admitted: 1,
        },
    );
    s
}

#[test]
fn shards_merge_exactly_through_json() {
    let a = Recording {
        format: FORMAT,
        workers: 1,
        duration_s: 10.0,
        keys: vec![key("steady", &[100, 200])],
        seconds: vec![second(0, &[100]), second(1, &[200])],
        ..Recording::default()
    };
    let b = Recording {
        format: FORMAT,
        workers: 1,
        duration_s: 11.0,
        keys: vec![key("steady", &[300]), key("burst", &[5])],
        seconds: vec![second(1, &[300])],
        ..Recording::default()
    };
    let b: Recording = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
    let mut merged = a;
    merged.merge(b).unwrap();
    assert_eq!(merged.workers, 2);
    assert_eq!(merged.duration_s, 11.0);
    assert_eq!(merged.keys.len(), 2);
    let steady = merged.keys.iter().find(|k| k.phase == "steady").unwrap();
    assert_eq!(steady.latency.0.len(), 3);
    assert_eq!(steady.statuses[&200], 3);
    assert_eq!(merged.outcomes().get(Outcome::Ok), 4);
    assert_eq!(merged.seconds.len(), 2);
    let s1 = &merged.seconds[1];
    assert_eq!(hist::decode(&s1.latency).unwrap().len(), 2);
    assert_eq!(s1.instances["api-0"], 2);
    assert_eq!(s1.tenants["acme"].offered, 2);
    assert_eq!(s1.tenants["acme"].model_admitted, 2);
    assert!(s1.max_us >= 299);
    assert!(
        merged.merge(Recording::default()).is_err(),
        "format 0 is refused"
    );
}
