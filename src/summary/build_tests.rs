//! Unit tests of `summarize`: the integrity figures.

use super::*;
use crate::metrics::{AckedWrite, Recording};
use crate::results::StoreReadback;

/// A scenario whose pool `api` is `instances` (managed mock backends) or
/// `targets` (someone else's), with `slo` lines.
pub(crate) fn scenario(pool: &str, slo: &str) -> Scenario {
    let text = format!(
        "name = \"i\"\nduration = \"10s\"\n[[gateway.routes]]\npath = \"/orders\"\nupstream = \"api\"\n\
         [upstreams.api]\n{pool}\n[[traffic]]\nexecutor = \"constant-arrival-rate\"\nrate = 10\n\
         requests = [{{ method = \"POST\", path = \"/orders\", body = \"{{}}\" }}]\n[slo]\n{slo}\n"
    );
    crate::scenario::load::parse_str("i.toml", &text, std::path::Path::new("."))
        .unwrap_or_else(|d| panic!("{d}"))
        .scenario
}

fn managed() -> Scenario {
    scenario("instances = 1", "")
}

fn order(key: Option<&str>, id: &str, applied: u64) -> mock_backends::ExportedOrder {
    mock_backends::ExportedOrder {
        idempotency_key: key.map(str::to_owned),
        order_id: id.into(),
        tenant: Some("acme".into()),
        applied,
        replays: 0,
        instance: "api-0".into(),
        created_ms: 0,
    }
}

#[test]
fn a_key_applied_twice_is_one_duplicate() {
    let r = RunResults {
        scenario: "t".into(),
        seed: 1,
        started_at: String::new(),
        partial: false,
        recording: Recording::default(),
        faults: Vec::new(),
        lifecycle: Vec::new(),
        stores: vec![StoreReadback {
            pool: "api".into(),
            orders: Some(vec![
                order(Some("k1"), "o-1", 2),
                order(Some("k1"), "o-2", 2),
                order(Some("k2"), "o-3", 3),
                order(Some("k2"), "o-4", 3),
                order(Some("k2"), "o-5", 3),
                order(Some("k3"), "o-6", 1),
                order(None, "o-7", 1),
            ]),
            error: None,
        }],
        gateway_counters: Default::default(),
        api_readback: None,
        time_scale: 1.0,
        shard: None,
        hostile_backend_requests: None,
        host_cores: Some(2),
        aborted: None,
        pools: None,
    };
    let i = integrity(&managed(), &r);
    assert!(i.checked);
    // k1: one extra effect, k2: two, k3 and the keyless order: none.
    assert_eq!(i.duplicates, Some(3));
    // No write was acknowledged: none could be lost, and none was shown kept.
    assert_eq!((i.lost, i.acknowledged_writes), (None, 0));
}

pub(crate) fn acked(key: &str, id: &str) -> AckedWrite {
    AckedWrite {
        key: key.into(),
        order_id: Some(id.into()),
        status: 201,
        phase: "p".into(),
        tenant: None,
        second: 0,
        class: None,
        sent: None,
    }
}

#[test]
fn unkeyed_orders_nobody_acknowledged_are_the_duplicates_keys_prevent() {
    let recording = Recording {
        ledger: vec![
            acked("k1", "o1"),
            acked("k2", "o2"),
            acked("", "u1"),
            acked("", "u2"),
            acked("", "u-lost"),
        ],
        ..Recording::default()
    };
    let results = RunResults {
        scenario: "i".into(),
        seed: 1,
        started_at: String::new(),
        partial: false,
        recording,
        faults: Vec::new(),
        lifecycle: Vec::new(),
        stores: vec![StoreReadback {
            pool: "api".into(),
            orders: Some(vec![
                order(Some("k1"), "o1", 1),
                order(Some("k2"), "o2", 1),
                order(None, "u1", 1),
                order(None, "u1-again", 1),
                order(None, "u2", 1),
                order(None, "u2-again", 1),
            ]),
            error: None,
        }],
        gateway_counters: Default::default(),
        api_readback: None,
        time_scale: 1.0,
        shard: None,
        hostile_backend_requests: None,
        host_cores: Some(2),
        aborted: None,
        pools: None,
    };
    let i = integrity(&managed(), &results);
    assert!(i.checked);
    assert_eq!(i.acknowledged_writes, 5);
    // The unkeyed acks share the empty key: that is not a key applied twice.
    assert_eq!(i.duplicates, Some(0));
    assert_eq!(
        i.unkeyed_duplicates,
        Some(2),
        "two unkeyed orders no ack names"
    );
    assert_eq!(
        i.lost,
        Some(1),
        "an acknowledged unkeyed order is checked too"
    );
}

pub(crate) fn results_with(recording: Recording, stores: Vec<StoreReadback>) -> RunResults {
    RunResults {
        scenario: "i".into(),
        seed: 1,
        started_at: String::new(),
        partial: false,
        recording,
        faults: Vec::new(),
        lifecycle: Vec::new(),
        stores,
        gateway_counters: Default::default(),
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
fn an_unreadable_store_and_a_run_that_never_read_back_say_so() {
    let recording = Recording {
        ledger: vec![acked("k", "o")],
        ..Recording::default()
    };
    let unreadable = StoreReadback {
        pool: "api".into(),
        orders: None,
        error: Some("connection refused".into()),
    };
    let i = integrity(
        &managed(),
        &results_with(recording.clone(), vec![unreadable]),
    );
    assert_eq!((i.checked, i.lost), (false, None));
    assert_eq!(
        i.not_measured.as_deref(),
        Some("the store of pool api could not be read back (connection refused)")
    );
    let i = integrity(&managed(), &results_with(recording, Vec::new()));
    assert_eq!((i.checked, i.duplicates), (false, None));
    assert!(i.not_measured.unwrap().contains("not read back"));
}

/// Case 6 of issue 18, the other figures that read 0 when nothing was
/// counted: the gateway's retries when its counter is unknown, the throttle
/// error when the model admitted nothing, and the instances that served
/// nothing (absent from the answers, so left out of the skew).
#[test]
fn figures_nobody_counted_are_not_zero() {
    let slos = "\"retry.amplification\" = \"< 1.5\"\n\"balance.skew\" = \"< 0.2\"\n\"throttle.accuracy\" = \"< 5%\"";
    let s = scenario("instances = 3", slos);
    let mut recording = Recording::default();
    let mut key = crate::metrics::KeyStats {
        phase: "p".into(),
        tenant: None,
        class: 0,
        method: "GET".into(),
        path: "/orders".into(),
        outcomes: Default::default(),
        statuses: Default::default(),
        latency: Default::default(),
        service: Default::default(),
        retries: 0,
    };
    for _ in 0..200 {
        key.outcomes.add(crate::metrics::Outcome::Ok);
    }
    recording.keys.push(key);
    recording.instances.insert("api-0".into(), 100);
    recording.instances.insert("api-1".into(), 100);
    // A tenant the model admitted nothing for (every request refused).
    recording.tenants.insert("acme".into(), Default::default());
    let r = results_with(recording, Vec::new());
    let summary = summarize(&s, &r, 1.0, false);
    let slo = |name: &str| summary.slos.iter().find(|x| x.name == name).unwrap();
    let (retry, skew) = (slo("retry.amplification"), slo("balance.skew"));
    // No gateway counters were scraped: the gateway's retries are unknown.
    assert_eq!(
        retry.verdict,
        crate::analysis::Verdict::NotMeasured,
        "{retry:?}"
    );
    assert!(
        retry.detail.contains("retry counter could not be read"),
        "{retry:?}"
    );
    // api-2 served nothing: (100 − 200/3) / (200/3) = 0.5, not 0.
    let m = skew.measured.unwrap();
    assert!((m - 0.5).abs() < 1e-12, "{skew:?}");
    assert_eq!(skew.verdict, crate::analysis::Verdict::Fail);
    let accuracy = slo("throttle.accuracy");
    assert_eq!(
        (accuracy.verdict, accuracy.measured),
        (crate::analysis::Verdict::NotMeasured, None),
        "{accuracy:?}"
    );
    assert!(accuracy.detail.contains("undefined"), "{accuracy:?}");
}
