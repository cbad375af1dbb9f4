//! Recorder tests of the per-second series: a second rolls exactly at its boundary,
//! and a send at its intended instant has equal service time and latency.

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
