use super::*;

const UP: Gauges = Gauges {
    healthy: true,
    ejected: false,
};
const EJECTED: Gauges = Gauges {
    healthy: false,
    ejected: true,
};
const FAILING: Gauges = Gauges {
    healthy: false,
    ejected: false,
};

fn key(i: &str) -> Key {
    ("api".to_owned(), i.to_owned())
}

#[test]
fn each_change_of_the_gauges_is_one_event_and_no_change_is_none() {
    use PoolChange::*;
    let up = Known::default();
    assert_eq!(changes(up, UP), (up, vec![]));
    let ejected = Known {
        ejected: true,
        unhealthy: false,
    };
    assert_eq!(changes(up, EJECTED), (ejected, vec![Ejected]));
    assert_eq!(changes(ejected, EJECTED), (ejected, vec![]));
    assert_eq!(changes(ejected, UP), (up, vec![Readmitted]));
    let failing = Known {
        ejected: false,
        unhealthy: true,
    };
    // The ejection ended while the checks fail: both, the readmission first.
    assert_eq!(
        changes(ejected, FAILING),
        (failing, vec![Readmitted, Unhealthy])
    );
    assert_eq!(changes(up, FAILING), (failing, vec![Unhealthy]));
    assert_eq!(changes(failing, UP), (up, vec![Healthy]));
    // While ejected the checks' state is unknown: it keeps its last value.
    let both = Known {
        ejected: true,
        unhealthy: true,
    };
    assert_eq!(changes(failing, EJECTED), (both, vec![Ejected]));
    assert_eq!(changes(both, UP), (up, vec![Readmitted, Healthy]));
}

#[test]
fn transitions_over_a_pool_start_from_up_and_remember_the_last_poll() {
    use PoolChange::*;
    let mut known = BTreeMap::new();
    let poll = |a: Gauges, b: Gauges| BTreeMap::from([(key("a"), a), (key("b"), b)]);
    assert_eq!(transitions(&mut known, &poll(UP, UP)), vec![]);
    assert_eq!(
        transitions(&mut known, &poll(UP, EJECTED)),
        vec![(key("b"), Ejected)]
    );
    assert_eq!(transitions(&mut known, &poll(UP, EJECTED)), vec![]);
    // An instance missing from a poll keeps what was known of it.
    let only_a = BTreeMap::from([(key("a"), FAILING)]);
    assert_eq!(
        transitions(&mut known, &only_a),
        vec![(key("a"), Unhealthy)]
    );
    assert_eq!(
        transitions(&mut known, &poll(UP, UP)),
        vec![(key("a"), Healthy), (key("b"), Readmitted)]
    );
    // First seen already ejected: it counted as up before.
    let mut fresh = BTreeMap::new();
    assert_eq!(
        transitions(&mut fresh, &poll(EJECTED, UP)),
        vec![(key("a"), Ejected)]
    );
}

#[test]
fn the_gauges_are_read_from_the_gateways_metrics_text() {
    let text = "\
# HELP gateway_upstream_healthy 1 if the instance is healthy and not ejected.
# TYPE gateway_upstream_healthy gauge
gateway_upstream_healthy{upstream=\"api\",instance=\"127.0.0.1:4001\",zone=\"\"} 1
gateway_upstream_healthy{upstream=\"api\",instance=\"127.0.0.1:4002\",zone=\"eu\"} 0
gateway_upstream_healthy{upstream=\"we\\\"ird\",instance=\"127.0.0.1:4003\",zone=\"\"} 0
gateway_upstream_healthy{upstream=\"api\",instance=\"127.0.0.1:4004\",zone=\"\"} 1
# TYPE gateway_upstream_ejected gauge
gateway_upstream_ejected{upstream=\"api\",instance=\"127.0.0.1:4001\",zone=\"\"} 0
gateway_upstream_ejected{upstream=\"api\",instance=\"127.0.0.1:4002\",zone=\"eu\"} 1
gateway_upstream_ejected{upstream=\"we\\\"ird\",instance=\"127.0.0.1:4003\",zone=\"\"} 0
gateway_shed_total 3
";
    let g = parse_gauges(text);
    assert_eq!(
        g,
        BTreeMap::from([
            (key("127.0.0.1:4001"), UP),
            (key("127.0.0.1:4002"), EJECTED),
            (("we\"ird".to_owned(), "127.0.0.1:4003".to_owned()), FAILING),
        ]),
        "4004 lacks its ejected gauge, so nothing is said of it"
    );
    assert!(parse_gauges("gateway_shed_total 3\nnot metrics").is_empty());
}

#[test]
fn the_line_says_the_interval_the_change_happened_in() {
    let e = PoolEvent {
        at_s: 2.5034,
        since_s: 2.25,
        gateway: "gateway-0".into(),
        upstream: "api".into(),
        instance: "api-1".into(),
        event: PoolChange::Ejected,
    };
    assert_eq!(
        text(&e),
        "instance api-1 ejected by gateway-0 (pool api), between 2.250s and 2.503s"
    );
}
