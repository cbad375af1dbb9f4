//! Unit tests of `summarize`: the integrity figures.

use super::*;
use crate::metrics::{AckedWrite, Recording};
use crate::run::runner::StoreReadback;

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
        time_scale: 1.0,
        shard: None,
        hostile_backend_requests: None,
        host_cores: Some(2),
    };
    let i = integrity(&r);
    assert!(i.checked);
    // k1: one extra effect, k2: two, k3 and the keyless order: none.
    assert_eq!(i.duplicates, 3);
    assert_eq!((i.lost, i.acknowledged_writes), (0, 0));
}

fn acked(key: &str, id: &str) -> AckedWrite {
    AckedWrite {
        key: key.into(),
        order_id: Some(id.into()),
        status: 201,
        phase: "p".into(),
        tenant: None,
        second: 0,
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
        time_scale: 1.0,
        shard: None,
        hostile_backend_requests: None,
        host_cores: Some(2),
    };
    let i = integrity(&results);
    assert!(i.checked);
    assert_eq!(i.acknowledged_writes, 5);
    // The unkeyed acks share the empty key: that is not a key applied twice.
    assert_eq!(i.duplicates, 0);
    assert_eq!(i.unkeyed_duplicates, 2, "two unkeyed orders no ack names");
    assert_eq!(i.lost, 1, "an acknowledged unkeyed order is checked too");
}
