//! The live feed of a real run: snapshots arrive while the traffic goes, and
//! the final one counts exactly what the server answered (counted by the
//! server itself), second by second as the results do.

use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Response};
use http_body_util::Full;
use ninefold::metrics::Outcome;
use ninefold::scenario::{Arrivals, Executor, TrafficPhase};
use ninefold::traffic::live::LiveWatch;
use ninefold::traffic::{Target, TrafficOptions, TrafficPlan};

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_feed_counts_what_the_server_answered() {
    let hits = Arc::new(AtomicU64::new(0));
    let h = Arc::clone(&hits);
    let server = support::serve(move |_| {
        // Every 10th answer is a 500, counted by the server as it answers.
        let n = h.fetch_add(1, Ordering::SeqCst);
        async move {
            Response::builder()
                .status(if n % 10 == 9 { 500 } else { 200 })
                .body(Full::new(Bytes::from_static(b"ok")))
                .unwrap()
        }
    })
    .await;
    let phase = TrafficPhase {
        name: "p".into(),
        start: Duration::ZERO,
        duration: Duration::from_millis(2500),
        executor: Executor::ConstantArrivalRate {
            rate: 200.0,
            arrivals: Arrivals::Uniform,
        },
        tenants: Vec::new(),
        requests: vec![support::request(Method::GET, "/x")],
        expect: Vec::new(),
        timeout: Duration::from_secs(5),
        connections: NonZeroU32::new(4).unwrap(),
        max_in_flight: NonZeroU32::new(10_000).unwrap(),
        client_retries: 0,
        protocol: None,
        max_streams: None,
        flow: false,
    };
    let plan = TrafficPlan {
        phases: vec![phase],
        tenants: Vec::new(),
        auth: None,
        seed: 3,
        run_start: Instant::now() + Duration::from_millis(20),
    };
    let watch = LiveWatch::new();
    let mut rx = watch.subscribe();
    let options = TrafficOptions {
        workers: NonZeroUsize::new(2),
        live: Some(watch),
        ..TrafficOptions::default()
    };
    // Watch while it runs: snapshots come before the traffic has ended.
    let watcher = tokio::spawn(async move {
        let mut early = 0;
        let mut last = None;
        while rx.changed().await.is_ok() {
            let snap = rx.borrow_and_update().clone();
            if let Some(s) = snap {
                early += u32::from(!s.finished);
                let done = s.finished;
                last = Some(s);
                if done {
                    break;
                }
            }
        }
        (early, last)
    });
    let recording = support::run(plan, vec![Target::new(server.addr)], options).await;
    let (early, last) = tokio::time::timeout(Duration::from_secs(10), watcher)
        .await
        .expect("the final snapshot arrives")
        .unwrap();
    let last = last.expect("a final snapshot");
    assert!(early >= 2, "only {early} snapshots during a 2.5 s run");
    let answered = hits.load(Ordering::SeqCst);
    let outcomes = last.outcomes();
    assert_eq!(outcomes.total(), answered, "{outcomes:?}");
    assert_eq!(outcomes.get(Outcome::ServerError), answered / 10);
    assert_eq!(outcomes.get(Outcome::Ok), answered - answered / 10);
    // Second by second as the results count them.
    let live: Vec<(u32, u64)> = last
        .seconds
        .iter()
        .map(|s| (s.second, s.outcomes.total()))
        .collect();
    let results: Vec<(u32, u64)> = recording
        .seconds
        .iter()
        .map(|s| (s.second, s.outcomes.total()))
        .collect();
    assert_eq!(live, results);
    assert_eq!(last.latency[0].len(), answered);
    assert!(last.seconds.iter().all(|s| s.latency_p99_us.is_some()));
    assert_eq!(last.complete_through, live.last().map(|(s, _)| *s));
}
