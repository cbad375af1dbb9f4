//! Recorder tests of the per-second series: a second rolls exactly at its boundary,
//! a send at its intended instant has equal service time and latency, and each
//! second is kept by phase (and merges across workers exactly).

use std::time::Duration;

use super::*;

fn sample(start: Instant, done_ms: u64, status: u16) -> Sample<'static> {
    let at = start + Duration::from_millis(done_ms);
    Sample {
        phase: 0,
        tenant: None,
        class: 0,
        outcome: if status < 400 {
            Outcome::Ok
        } else {
            Outcome::ServerError
        },
        status: Some(status),
        intended: at - Duration::from_millis(2),
        sent: at - Duration::from_millis(1),
        done: at,
        instance: Some(&b"api-0"[..]),
        retries: 0,
        body: None,
        reason: None,
    }
}

/// A recorder for one closed-loop phase with one class, started at `start`.
fn one_class_recorder(start: Instant) -> Recorder {
    let layout = Arc::new(Layout {
        phases: vec![PhaseLayout {
            name: "p".into(),
            open_loop: false,
            classes: vec![("GET".into(), "/".into())],
            flow: false,
        }],
        tenants: Vec::new(),
    });
    Recorder::new(layout, start, 0.005)
}

/// Second boundaries are exact (an answer at 999.999 ms is in second 0, at 1000 ms in
/// second 1), a late sample stays in the live second, and statuses are counted apart.
#[test]
fn seconds_roll_exactly_at_their_boundary() {
    let start = Instant::now();
    let mut rec = one_class_recorder(start);
    let mut s = sample(start, 999, 200);
    s.done = start + Duration::from_nanos(999_999_999);
    rec.record(&s);
    assert_eq!(rec.live_second(), 0);
    rec.record(&sample(start, 1000, 500));
    assert_eq!(rec.live_second(), 1);
    // Late: its second was sealed already; it counts in the live one.
    rec.record(&sample(start, 500, 200));
    rec.record(&sample(start, 2500, 200));
    assert_eq!(rec.live_second(), 2);
    let r = rec.finish(3.0);
    let counts: Vec<(u32, u64)> = r
        .seconds
        .iter()
        .map(|s| (s.second, s.outcomes.total()))
        .collect();
    assert_eq!(counts, [(0, 1), (1, 2), (2, 1)]);
    assert_eq!(r.instances["api-0"], 4);
    assert_eq!(r.keys[0].statuses, BTreeMap::from([(200, 3), (500, 1)]));
}

/// Sent at its intended instant: service time and latency are the same span.
#[test]
fn a_send_at_the_intended_instant_has_equal_service_and_latency() {
    let start = Instant::now();
    let mut rec = one_class_recorder(start);
    let mut s = sample(start, 10, 200);
    s.sent = s.intended;
    rec.record(&s);
    let r = rec.finish(1.0);
    let (latency, service) = (&r.keys[0].latency.0, &r.keys[0].service.0);
    assert!((1990..=2010).contains(&latency.max()), "{}", latency.max());
    assert_eq!(latency.max(), service.max());
}

/// A recorder for two closed-loop phases, `warm` and `main`, one class each.
fn two_phase_recorder(start: Instant) -> Recorder {
    let phase = |name: &str| PhaseLayout {
        name: name.into(),
        open_loop: false,
        classes: vec![("GET".into(), format!("/{name}"))],
        flow: false,
    };
    let layout = Layout {
        phases: vec![phase("warm"), phase("main")],
        tenants: Vec::new(),
    };
    Recorder::new(Arc::new(layout), start, 0.005)
}

/// `(phase, done at ms, latency ms, status)` of the samples the two-phase tests feed.
const TWO_PHASES: [(usize, u64, u64, u16); 6] = [
    (0, 100, 10, 200),
    (0, 400, 20, 200),
    (1, 500, 100, 200),
    (0, 900, 30, 500),
    (1, 1200, 200, 200),
    (1, 1700, 400, 200),
];

fn feed(rec: &mut Recorder, start: Instant, samples: &[(usize, u64, u64, u16)]) {
    for &(phase, done_ms, latency_ms, status) in samples {
        let mut s = sample(start, done_ms, status);
        s.phase = phase;
        s.intended = s.done - Duration::from_millis(latency_ms);
        s.sent = s.intended;
        rec.record(&s);
    }
}

/// Within the 2-significant-digit histograms' precision: at most 1% above `us`.
fn near(found: u64, us: u64) -> bool {
    (us..=us + us / 100).contains(&found)
}

/// Two phases: each second's outcomes, latency and in-flight maximum by phase,
/// and the second's overall figures the phases' sums (in-flight: the worker's own).
#[test]
fn two_phases_are_kept_apart_in_each_second() {
    let start = Instant::now();
    let mut rec = two_phase_recorder(start);
    rec.in_flight(start + Duration::from_millis(50), 0, 3, 3);
    rec.in_flight(start + Duration::from_millis(450), 1, 1, 4);
    feed(&mut rec, start, &TWO_PHASES);
    rec.dropped(0, None, 0, start + Duration::from_millis(1300));
    let r = rec.finish(2.0);
    assert!(r.seconds_by_phase);
    assert_eq!(r.seconds.len(), 2);
    let (s0, s1) = (&r.seconds[0], &r.seconds[1]);
    // Second 0: warm answered 10, 20 (ok) and 30 ms (500); main 100 ms.
    assert_eq!(
        (
            s0.outcomes.get(Outcome::Ok),
            s0.outcomes.get(Outcome::ServerError)
        ),
        (3, 1)
    );
    assert!(
        near(s0.p50_us, 20_000) && near(s0.p99_us, 100_000),
        "{s0:?}"
    );
    assert!(near(s0.max_us, 100_000));
    assert_eq!(s0.in_flight_max, 4);
    let names: Vec<&str> = s0.phases.iter().map(|p| p.phase.as_str()).collect();
    assert_eq!(names, ["warm", "main"]);
    let (warm, main) = (&s0.phases[0], &s0.phases[1]);
    assert_eq!(
        (
            warm.outcomes.get(Outcome::Ok),
            warm.outcomes.get(Outcome::ServerError)
        ),
        (2, 1)
    );
    assert_eq!(hist::decode(&warm.latency).unwrap().len(), 3);
    assert!(
        near(warm.p50_us, 20_000) && near(warm.p99_us, 30_000),
        "{warm:?}"
    );
    assert!(near(warm.max_us, 30_000));
    assert_eq!((warm.in_flight_max, main.in_flight_max), (3, 1));
    assert_eq!(main.outcomes.total(), 1);
    assert!(
        near(main.p50_us, 100_000) && near(main.max_us, 100_000),
        "{main:?}"
    );
    // Second 1: main answered 200 and 400 ms; warm only dropped one (no latency).
    assert_eq!(s1.outcomes.total(), 3);
    let names: Vec<&str> = s1.phases.iter().map(|p| p.phase.as_str()).collect();
    assert_eq!(names, ["warm", "main"]);
    let (warm, main) = (&s1.phases[0], &s1.phases[1]);
    assert_eq!(
        (warm.outcomes.get(Outcome::Dropped), warm.outcomes.total()),
        (1, 1)
    );
    assert_eq!(hist::decode(&warm.latency).unwrap().len(), 0);
    assert_eq!(main.outcomes.get(Outcome::Ok), 2);
    assert!(
        near(main.p50_us, 200_000) && near(main.max_us, 400_000),
        "{main:?}"
    );
    assert!(near(s1.p99_us, 400_000));
}

/// A run of one phase writes no breakdown: its seconds are that phase's.
#[test]
fn one_phase_writes_no_breakdown() {
    let start = Instant::now();
    let mut rec = one_class_recorder(start);
    rec.record(&sample(start, 10, 200));
    let r = rec.finish(1.0);
    assert!(r.seconds_by_phase);
    assert!(r.seconds[0].phases.is_empty());
    assert_eq!(r.seconds[0].outcomes.total(), 1);
}

/// One phase's part of a second: its outcomes and its latency histogram, decoded.
type Part = (OutcomeCounts, Histogram<u64>);

/// A second's figures by phase name, the histograms decoded, to compare recordings.
fn by_phase(r: &Recording) -> Vec<(u32, BTreeMap<String, Part>)> {
    r.seconds
        .iter()
        .map(|s| {
            let parts = s.phases.iter().map(|p| {
                let h = hist::decode(&p.latency).unwrap();
                (p.phase.clone(), (p.outcomes, h))
            });
            (s.second, parts.collect())
        })
        .collect()
}

/// Two workers' recordings, merged (through JSON, as shards are), equal one
/// recorder fed every sample: the breakdown's counts summed, histograms added.
#[test]
fn two_workers_merge_to_what_one_recorder_saw() {
    let start = Instant::now();
    let mut one = two_phase_recorder(start);
    feed(&mut one, start, &TWO_PHASES);
    let one = one.finish(2.0);
    let (mut a, mut b) = (two_phase_recorder(start), two_phase_recorder(start));
    feed(
        &mut a,
        start,
        &[TWO_PHASES[0], TWO_PHASES[2], TWO_PHASES[4]],
    );
    feed(
        &mut b,
        start,
        &[TWO_PHASES[1], TWO_PHASES[3], TWO_PHASES[5]],
    );
    let b = serde_json::to_string(&b.finish(2.0)).unwrap();
    let mut merged = Recording::default();
    merged.merge(a.finish(2.0)).unwrap();
    merged.merge(serde_json::from_str(&b).unwrap()).unwrap();
    assert!(merged.seconds_by_phase);
    assert_eq!(by_phase(&merged), by_phase(&one));
    for (m, o) in merged.seconds.iter().zip(&one.seconds) {
        assert_eq!((m.second, m.outcomes), (o.second, o.outcomes));
        assert_eq!(
            hist::decode(&m.latency).unwrap(),
            hist::decode(&o.latency).unwrap()
        );
        assert_eq!(
            (m.p50_us, m.p99_us, m.max_us),
            (o.p50_us, o.p99_us, o.max_us)
        );
    }
    // With results of an older version the breakdown would not add up: it is dropped.
    let mut old = one.clone();
    old.seconds_by_phase = false;
    old.seconds.iter_mut().for_each(|s| s.phases.clear());
    merged.merge(old).unwrap();
    assert!(!merged.seconds_by_phase);
    assert!(merged.seconds.iter().all(|s| s.phases.is_empty()));
    assert_eq!(
        merged.seconds[0].outcomes.total(),
        2 * one.seconds[0].outcomes.total()
    );
}
