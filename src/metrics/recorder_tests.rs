//! Recorder tests: samples land in their key (phase, class, tenant) and their second,
//! and fold into a recording.

use super::*;

fn layout() -> Arc<Layout> {
    Arc::new(Layout {
        phases: vec![PhaseLayout {
            name: "steady".into(),
            open_loop: true,
            classes: vec![
                ("GET".into(), "/items".into()),
                ("POST".into(), "/orders".into()),
            ],
            flow: false,
        }],
        tenants: vec!["acme".into(), "free".into()],
    })
}

#[test]
fn samples_land_in_keys_and_seconds() {
    let start = Instant::now();
    let mut rec = Recorder::new(layout(), start, 0.005);
    let at = |ms: u64| start + Duration::from_millis(ms);
    for (i, ms) in [100u64, 900, 1500, 3200].into_iter().enumerate() {
        rec.scheduled(0, 1);
        rec.record(&Sample {
            phase: 0,
            tenant: Some(i % 2),
            class: 1,
            outcome: Outcome::Ok,
            status: Some(201),
            intended: at(ms),
            sent: at(ms + 1),
            done: at(ms + 3),
            instance: Some(if i == 3 { &b"api-1"[..] } else { &b"api-0"[..] }),
            retries: 0,
            body: None,
            reason: None,
        });
        let admission = Admission {
            admitted: true,
            tokens: 5.0,
            wait_s: 0.0,
            remaining: 4.0,
            rate: 10.0,
            plan: crate::scenario::Plan {
                rate: 10.0,
                burst: std::num::NonZeroU32::new(5).unwrap(),
                quota: None,
            },
        };
        let answer = Some((i == 2, LimitHeaders::default()));
        rec.throttle(i % 2, &admission, (at(ms + 1), at(ms + 3)), answer, true);
    }
    rec.dropped(0, None, 0, at(3300));
    let r = rec.finish(4.0);
    assert_eq!(r.keys.len(), 3, "acme, free, anonymous");
    let acme = r
        .keys
        .iter()
        .find(|k| k.tenant.as_deref() == Some("acme"))
        .unwrap();
    assert_eq!(acme.outcomes.get(Outcome::Ok), 2);
    assert_eq!(acme.statuses, BTreeMap::from([(201, 2)]));
    assert_eq!(
        (acme.method.as_str(), acme.path.as_str()),
        ("POST", "/orders")
    );
    let lat = acme.latency.0.max();
    assert!((2990..=3010).contains(&lat), "{lat}");
    assert!((1990..=2010).contains(&acme.service.0.max()));
    let seconds: Vec<u32> = r.seconds.iter().map(|s| s.second).collect();
    assert_eq!(seconds, [0, 1, 3]);
    assert_eq!(r.seconds[0].outcomes.get(Outcome::Ok), 2);
    assert_eq!(r.seconds[2].outcomes.get(Outcome::Dropped), 1);
    assert_eq!(r.seconds[2].instances["api-1"], 1);
    // Per-second throttle tallies land in the answer's completion second.
    assert_eq!(r.seconds[0].tenants["acme"].offered, 1);
    assert_eq!(r.seconds[0].tenants["free"].offered, 1);
    let acme_1 = r.seconds[1].tenants["acme"];
    assert_eq!(
        (acme_1.offered, acme_1.admitted, acme_1.model_admitted),
        (1, 0, 1)
    );
    assert!(!r.seconds[1].tenants.contains_key("free"));
    assert_eq!(r.instances["api-0"], 3);
    assert_eq!(r.phases[0].scheduled, 4);
    assert_eq!(r.dropped(), 1);
}
