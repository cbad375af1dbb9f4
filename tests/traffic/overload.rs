//! Issue 18, case 11: a rate no generator can keep (`rate = 1e12`) used to spin
//! both load threads forever: the producer, always behind, never awaited, so no
//! request left, the phase never ended and SIGINT was never seen. A producer that
//! is behind must still stop at its phase's end and on cancellation.
//!
//! Real time (the engine runs its own worker threads), bounded: each run is
//! short, loopback only, one connection; the outer timeouts only guard the test.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Response};
use http_body_util::Full;
use ninefold::metrics::Recording;
use ninefold::scenario::{Arrivals, Executor, TrafficPhase};
use ninefold::traffic::{Target, TrafficOptions, TrafficPlan, run_traffic};
use tokio_util::sync::CancellationToken;

use crate::support;

/// An `ok` server on 127.0.0.1:0; it stops when the `Server` is dropped. The
/// `Notify` gets a permit at the first request it answers.
async fn spawn_server() -> (
    SocketAddr,
    support::Server,
    std::sync::Arc<tokio::sync::Notify>,
) {
    let answered = std::sync::Arc::new(tokio::sync::Notify::new());
    let first = std::sync::Arc::clone(&answered);
    let server = support::serve(move |_req| {
        first.notify_one();
        async { Response::new(Full::new(Bytes::from_static(b"ok"))) }
    })
    .await;
    (server.addr, server, answered)
}

fn absurd_phase(duration: Duration) -> TrafficPhase {
    TrafficPhase {
        flow: false,
        name: "absurd".into(),
        start: Duration::ZERO,
        duration,
        executor: Executor::ConstantArrivalRate {
            rate: 1e12,
            arrivals: Arrivals::Uniform,
        },
        tenants: Vec::new(),
        requests: vec![support::request(Method::GET, "/items/{seq}")],
        expect: Vec::new(),
        timeout: Duration::from_secs(1),
        connections: NonZeroU32::MIN,
        max_in_flight: NonZeroU32::new(100).unwrap(),
        client_retries: 0,
        protocol: None,
        max_streams: None,
    }
}

async fn run(
    duration: Duration,
    addr: SocketAddr,
    shutdown: CancellationToken,
) -> (Recording, Duration) {
    let plan = TrafficPlan {
        phases: vec![absurd_phase(duration)],
        tenants: Vec::new(),
        auth: None,
        seed: 7,
        run_start: Instant::now() + Duration::from_millis(20),
    };
    let options = TrafficOptions {
        workers: NonZeroUsize::new(2),
        ..TrafficOptions::default()
    };
    let began = Instant::now();
    let recording = tokio::time::timeout(
        Duration::from_secs(60),
        run_traffic(plan, vec![Target::new(addr)], options, shutdown),
    )
    .await
    .expect("a producer behind its schedule still ends")
    .unwrap();
    (recording, began.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_at_an_absurd_rate_stops_at_its_phase_end() {
    let (addr, _server, _) = spawn_server().await;
    let (recording, took) = run(Duration::from_millis(500), addr, CancellationToken::new()).await;
    // Phase 0.5 s + drain (client timeout 1 s): before the fix it never returned.
    assert!(took < Duration::from_secs(15), "took {took:?}");
    // Requests did leave (the connection got its turn) and the overload shows as drops.
    assert!(
        recording.outcomes().sent() > 0,
        "{:?}",
        recording.outcomes()
    );
    assert!(recording.dropped() > 0, "{:?}", recording.outcomes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_at_an_absurd_rate_stops_on_cancel() {
    let (addr, _server, answered) = spawn_server().await;
    let shutdown = CancellationToken::new();
    let cancel = shutdown.clone();
    // A one-hour phase, cancelled (as SIGINT does) once requests flow: the
    // producer is behind its schedule from its first arrival on.
    tokio::spawn(async move {
        answered.notified().await;
        cancel.cancel();
    });
    let (_, took) = run(Duration::from_secs(3600), addr, shutdown).await;
    assert!(took < Duration::from_secs(15), "took {took:?}");
}
