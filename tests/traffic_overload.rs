//! Issue 18, case 11: a rate no generator can keep (`rate = 1e12`) used to spin
//! both load threads forever: the producer, always behind, never awaited, so no
//! request left, the phase never ended and SIGINT was never seen. A producer that
//! is behind must still stop at its phase's end and on cancellation.
//!
//! Real time (the engine runs its own worker threads), bounded: each run is
//! short, loopback only, one connection; the outer timeouts only guard the test.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Response};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use ninefold::metrics::Recording;
use ninefold::scenario::template::Template;
use ninefold::scenario::{Arrivals, Executor, RequestTemplate, TokenKind, TrafficPhase};
use ninefold::traffic::{Target, TrafficOptions, TrafficPlan, run_traffic};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// An `ok` server on 127.0.0.1:0; it stops when the token is dropped. The
/// `Notify` gets a permit at the first request it answers.
async fn spawn_server() -> (
    SocketAddr,
    tokio_util::sync::DropGuard,
    std::sync::Arc<tokio::sync::Notify>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let s = stop.clone();
    let answered = std::sync::Arc::new(tokio::sync::Notify::new());
    let first = std::sync::Arc::clone(&answered);
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                () = s.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => continue,
                },
            };
            let s = s.clone();
            let first = std::sync::Arc::clone(&first);
            tokio::spawn(async move {
                let service = service_fn(move |_req| {
                    first.notify_one();
                    async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                    }
                });
                let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    () = s.cancelled() => {}
                    _ = conn => {}
                }
            });
        }
    });
    (addr, stop.drop_guard(), answered)
}

fn absurd_phase(duration: Duration) -> TrafficPhase {
    TrafficPhase {
        name: "absurd".into(),
        start: Duration::ZERO,
        duration,
        executor: Executor::ConstantArrivalRate {
            rate: 1e12,
            arrivals: Arrivals::Uniform,
        },
        tenants: Vec::new(),
        requests: vec![RequestTemplate {
            method: Method::GET,
            path: Template::parse("/items/{seq}").unwrap(),
            headers: Vec::new(),
            body: None,
            idempotency_key: false,
            weight: NonZeroU32::MIN,
            expect: Vec::new(),
            token: TokenKind::Valid,
        }],
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
