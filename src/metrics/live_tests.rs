//! The live feed against an exact model: two workers' recorders fed a known
//! set of answers; the merged view's per-second and total figures are counted
//! here from the inputs, not by the code under test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::metrics::{Outcome, PhaseLayout, Recorder, Sample};

fn layout() -> Arc<Layout> {
    Arc::new(Layout {
        phases: vec![
            PhaseLayout {
                name: "a".into(),
                open_loop: true,
                classes: vec![("GET".into(), "/x".into()), ("POST".into(), "/y".into())],
                flow: false,
            },
            PhaseLayout {
                name: "b".into(),
                open_loop: false,
                classes: vec![("GET".into(), "/z".into())],
                flow: false,
            },
        ],
        tenants: vec!["acme".into()],
    })
}

/// One answer: (phase, tenant, class, done at ms, status, service ms, latency ms).
type Input = (usize, Option<usize>, usize, u64, u16, u64, u64);

fn sample(start: Instant, i: &Input) -> Sample<'static> {
    let (phase, tenant, class, done_ms, status, service_ms, latency_ms) = *i;
    let done = start + Duration::from_millis(done_ms);
    Sample {
        phase,
        tenant,
        class,
        outcome: if status < 500 {
            Outcome::Ok
        } else {
            Outcome::ServerError
        },
        status: Some(status),
        intended: done - Duration::from_millis(latency_ms),
        sent: done - Duration::from_millis(service_ms),
        done,
        instance: Some(&b"api-0"[..]),
        retries: 0,
        body: None,
        reason: None,
    }
}

#[test]
fn two_workers_merge_into_exact_seconds_and_totals() {
    let start = Instant::now() + Duration::from_secs(10);
    let (tx, mut hub) = channel(layout(), start);
    let inputs: [Vec<Input>; 2] = [
        vec![
            (0, None, 0, 100, 200, 1, 3),
            (0, Some(0), 1, 900, 500, 2, 2),
            (1, None, 0, 1500, 200, 5, 5),
            (0, None, 0, 2100, 200, 1, 40),
        ],
        vec![
            (0, Some(0), 0, 400, 200, 1, 1),
            (0, Some(0), 0, 1200, 503, 1, 9),
            (0, Some(0), 0, 1300, 200, 1, 1),
        ],
    ];
    for (w, ins) in inputs.iter().enumerate() {
        let mut rec = Recorder::new(layout(), start, 0.005).with_live(tx.for_worker(w));
        for i in ins {
            rec.record(&sample(start, i));
        }
        // Worker 1 has sealed second 0 only (its last sample is in second 1)
        // before it finishes.
        if w == 1 {
            let view = hub.drain();
            assert_eq!(view.sealed.get(&1), Some(&0));
            assert_eq!(view.complete_through(2), Some(0), "worker 0 sealed 0 to 2");
        }
        let _ = rec.finish(3.0);
    }
    let view = hub.drain();
    // Expected, by hand from `inputs`: second 0 = 3 answers (1 bad), second 1 =
    // 3 answers (1 bad), second 2 = 1 answer.
    let per_second: Vec<(u32, u64, u64)> = view
        .seconds
        .values()
        .map(|s| {
            (
                s.second,
                s.outcomes.total(),
                s.outcomes.get(Outcome::ServerError),
            )
        })
        .collect();
    assert_eq!(per_second, vec![(0, 3, 1), (1, 3, 1), (2, 1, 0)]);
    // Latency of phase 0 in second 1: 9 ms and 1 ms; phase 1: 5 ms.
    let s1 = &view.seconds[&1];
    assert_eq!(s1.latency[0].len(), 2);
    assert!(s1.latency[0].equivalent(s1.latency[0].max(), 9_000));
    assert!(s1.service[1].equivalent(s1.service[1].max(), 5_000));
    assert_eq!(s1.instances.get("api-0"), Some(&3));
    // Totals by key.
    let total = |p, t, c| {
        view.keys
            .get(&(p, t, c))
            .map_or(0, |o: &OutcomeCounts| o.total())
    };
    assert_eq!(total(0, None, 0), 2);
    assert_eq!(total(0, Some(0), 1), 1);
    assert_eq!(total(0, Some(0), 0), 3);
    assert_eq!(total(1, None, 0), 1);
    assert_eq!(view.outcomes().total(), 7);
    assert_eq!(view.outcomes().get(Outcome::ServerError), 2);
    assert_eq!(view.latency[0].len(), 6);
    // Worker 1's last second is 1: the view cannot know it will send no more
    // (the publisher marks the final snapshot finished instead).
    assert_eq!(view.complete_through(2), Some(1));
    assert_eq!(
        view.complete_through(3),
        None,
        "a worker that sent nothing yet"
    );
}

#[test]
fn a_recorder_without_a_feed_sends_nothing_and_a_closed_hub_is_no_error() {
    let start = Instant::now();
    let (tx, hub) = channel(layout(), start);
    drop(hub);
    let mut rec = Recorder::new(layout(), start, 0.005).with_live(tx.for_worker(0));
    rec.record(&sample(start, &(0, None, 0, 1500, 200, 1, 1)));
    let r = rec.finish(2.0);
    assert_eq!(r.outcomes().total(), 1);
}

/// A worker's sealed second carrying only throttle tallies.
fn tenant_second(worker: usize, second: u32, tallies: &[(usize, u64, u64, u64)]) -> LiveSecond {
    LiveSecond {
        worker,
        second,
        outcomes: OutcomeCounts::default(),
        latency: vec![new_hist(), new_hist()],
        service: vec![new_hist(), new_hist()],
        in_flight_max: 0,
        instances: Vec::new(),
        tenants: tallies
            .iter()
            .map(|&(t, offered, admitted, model_admitted)| {
                (
                    t,
                    TenantSecond {
                        offered,
                        admitted,
                        model_admitted,
                    },
                )
            })
            .collect(),
        keys: Vec::new(),
        phases: vec![LivePhase::default(); 2],
        throttle: Vec::new(),
    }
}

#[test]
fn throttle_tallies_add_up_over_seconds_and_workers() {
    let mut view = LiveView::new(
        Arc::new(Layout {
            tenants: vec!["acme".into(), "globex".into()],
            ..(*layout()).clone()
        }),
        Instant::now(),
    );
    view.apply(tenant_second(0, 0, &[(0, 5, 4, 4), (1, 2, 2, 1)]));
    view.apply(tenant_second(1, 0, &[(0, 3, 1, 2)]));
    view.apply(tenant_second(0, 1, &[(0, 7, 7, 6)]));
    // By hand: acme 5+3+7 offered, 4+1+7 admitted, 4+2+6 by the model; globex 2, 2, 1.
    let acme = view.tenants[&0];
    assert_eq!(
        (acme.offered, acme.admitted, acme.model_admitted),
        (15, 12, 12)
    );
    let globex = view.tenants[&1];
    assert_eq!(
        (globex.offered, globex.admitted, globex.model_admitted),
        (2, 2, 1)
    );
    // The per-second view still holds each second alone.
    assert_eq!(view.seconds[&0].tenants[&0].offered, 8);
    assert_eq!(view.seconds[&1].tenants[&0].offered, 7);
}

#[test]
fn judged_tenants_attempts_reach_the_feed_once_from_every_worker() {
    use crate::metrics::live_throttle::ThrottleFeed;
    use crate::metrics::{Admission, LimitHeaders};
    let start = Instant::now() + Duration::from_secs(10);
    let at = |ms: u64| start + Duration::from_millis(ms);
    let (tx, mut hub) = channel(layout(), start);
    let tx = tx.judging(vec![true]);
    let admission = Admission {
        admitted: true,
        tokens: 2.0,
        wait_s: 0.0,
        remaining: 1.0,
        rate: 1.0,
        plan: crate::scenario::Plan {
            rate: 1.0,
            burst: std::num::NonZeroU32::new(2).unwrap(),
            quota: None,
        },
    };
    // Each of two workers: three admissions sent at 100 ms and answered at
    // 110 ms, then one sent at 2 500 ms and answered at 2 510 ms.
    for w in 0..2 {
        let mut rec = Recorder::new(layout(), start, 0.005).with_live(tx.for_worker(w));
        for (sent, done) in [(100, 110), (100, 110), (100, 110), (2500, 2510)] {
            rec.record(&sample(start, &(0, Some(0), 0, done, 200, done - sent, 10)));
            let answer = Some((false, LimitHeaders::default()));
            rec.throttle(0, &admission, (at(sent), at(done)), answer, true);
        }
        let _ = rec.finish(3.0);
    }
    hub.drain();
    let mut feed = ThrottleFeed::default();
    hub.take_throttle().into_iter().for_each(|b| feed.add(b));
    feed.judge();
    // By hand, with the 5 ms slack on both sides: the six admissions of both
    // workers surely fell in [95 ms, 115 ms], where an exact bucket (rate 1,
    // burst 2) admits floor(2 + 0.02) = 2: 4 over. The two at 2.5 s fit the
    // refilled bucket. Sent twice, the first six would count 12 − 2 = 10.
    let judged = feed.judged()[&0];
    assert_eq!((judged.attempts, judged.over_admitted), (8, 4));
    assert!(hub.take_throttle().is_empty(), "taken once");
    // A sender that judges no tenant sends no attempts.
    let (tx, mut hub) = channel(layout(), start);
    let mut rec = Recorder::new(layout(), start, 0.005).with_live(tx.for_worker(0));
    rec.record(&sample(start, &(0, Some(0), 0, 110, 200, 10, 10)));
    rec.throttle(0, &admission, (at(100), at(110)), None, true);
    let _ = rec.finish(1.0);
    hub.drain();
    assert!(hub.take_throttle().is_empty());
}
