//! The over-admitted count seen while a run goes is a lower bound of the final
//! one: over any subset of the attempts (in particular those completed by any
//! instant) it is at most the count over all of them. The abort rule on
//! `throttle.over_admitted` relies on this (docs/live.md).

use proptest::prelude::*;

use super::{Gate, JudgedPlan, ThrottleEvent, judge, over_admitted_count};

fn plan(rate: f64, burst: f64, quota: Option<(u64, f64)>, slack_s: f64) -> JudgedPlan {
    JudgedPlan {
        rate,
        burst,
        quota_limit: quota.map(|q| q.0),
        quota_period_s: quota.map_or(0.0, |q| q.1),
        slack_s,
    }
}

fn admitted(sent_s: f64, done_s: f64) -> ThrottleEvent {
    ThrottleEvent {
        sent_us: (sent_s * 1e6).round() as u64,
        done_us: (done_s * 1e6).round() as u64,
        gate: Gate::Admitted,
        remaining: None,
        retry_after_s: None,
    }
}

/// The events completed by `t_us`, as the live feed has them then.
fn completed_by(events: &[ThrottleEvent], t_us: u64) -> Vec<ThrottleEvent> {
    events
        .iter()
        .filter(|e| e.done_us <= t_us)
        .copied()
        .collect()
}

#[test]
fn a_hand_computed_case_and_its_prefixes() {
    // rate 1/s, burst 2, no slack. Five admissions sent at 0 and answered at
    // 0.1, 0.2, 0.3, 0.4, 0.5 s; four more sent at 10 s, answered at 10.05 s.
    // Worked by hand: in [0, a_k] the k answered so far surely fell, and an
    // exact bucket admits at most floor(2 + a_k) = 2 there: excess k − 2.
    // In [10, 10.05]: 4 − floor(2.05) = 2. Both windows are disjoint: 3 + 2.
    // A window over both groups allows floor(2 + 10.05) = 12 ≥ 9: no excess.
    let p = plan(1.0, 2.0, None, 0.0);
    let mut events: Vec<ThrottleEvent> = (1..=5)
        .map(|k| admitted(0.0, f64::from(k) / 10.0))
        .collect();
    events.extend((0..4).map(|_| admitted(10.0, 10.05)));
    assert_eq!(over_admitted_count(&events, &p), 5);
    assert_eq!(judge(&events, &p).over_admitted, 5);
    let by_time: Vec<u64> = [0.1, 0.2, 0.3, 0.4, 0.5, 5.0, 10.05]
        .iter()
        .map(|t| over_admitted_count(&completed_by(&events, (t * 1e6) as u64), &p))
        .collect();
    assert_eq!(by_time, [0, 0, 1, 2, 3, 3, 5]);
    // A quota of 6 per 100 s: 9 admissions sent and answered in period 0, so
    // 3 over the limit; the bucket's 5 is the larger.
    let q = plan(1.0, 2.0, Some((6, 100.0)), 0.0);
    assert_eq!(over_admitted_count(&events, &q), 5);
    let q = plan(100.0, 100.0, Some((6, 100.0)), 0.0);
    assert_eq!(over_admitted_count(&events, &q), 3);
    assert_eq!(over_admitted_count(&events[..7], &q), 1);
}

/// Random attempts: sends within 20 s, answers 0–2 s later, every gate.
fn arb_events() -> impl Strategy<Value = Vec<ThrottleEvent>> {
    prop::collection::vec((0u64..20_000_000, 0u64..2_000_000, 0u8..10), 0..150).prop_map(|v| {
        v.into_iter()
            .map(|(sent, took, g)| ThrottleEvent {
                sent_us: sent,
                done_us: sent + took,
                gate: match g {
                    0 => Gate::Unknown,
                    1..=2 => Gate::Throttled,
                    _ => Gate::Admitted,
                },
                remaining: None,
                retry_after_s: None,
            })
            .collect()
    })
}

fn arb_plan() -> impl Strategy<Value = JudgedPlan> {
    (
        0.5f64..20.0,
        1u32..10,
        prop::option::of((1u64..40, 1.0f64..10.0)),
        prop::sample::select(vec![0.0, 0.001, 0.05]),
    )
        .prop_map(|(rate, burst, quota, slack)| plan(rate, f64::from(burst), quota, slack))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_subset_counts_at_most_the_whole(
        events in arb_events(),
        p in arb_plan(),
        keep in prop::collection::vec(any::<bool>(), 150),
    ) {
        let all = over_admitted_count(&events, &p);
        prop_assert_eq!(all, judge(&events, &p).over_admitted);
        let subset: Vec<ThrottleEvent> = events
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(e, _)| *e)
            .collect();
        prop_assert!(over_admitted_count(&subset, &p) <= all);
    }

    #[test]
    fn counts_by_completion_time_never_decrease_and_end_at_the_whole(
        events in arb_events(),
        p in arb_plan(),
    ) {
        let all = over_admitted_count(&events, &p);
        let mut instants: Vec<u64> = events.iter().map(|e| e.done_us).collect();
        instants.sort_unstable();
        instants.dedup();
        let mut before = 0;
        for t in instants {
            let now = over_admitted_count(&completed_by(&events, t), &p);
            prop_assert!(now >= before, "fell from {} to {} at {}", before, now, t);
            prop_assert!(now <= all);
            before = now;
        }
        prop_assert_eq!(before, all);
    }
}
