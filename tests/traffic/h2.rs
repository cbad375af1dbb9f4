//! HTTP/2 in the load engine (`protocol = "h2"`, `attack --h2`) against loopback
//! HTTP/2 servers written here: hyper's HTTP/2 server (h2c, prior knowledge) that
//! notes the version and the streams open at once per connection, the same server
//! resetting requests by a rule of its own, and a raw frame-level server that sends
//! GOAWAY with a last stream id of its choosing. Every expected count comes from what
//! the servers saw and their rules, not from the code under test.
//!
//! Real time (the engine runs its own worker runtimes): short, bounded runs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use ninefold::metrics::{Outcome, Recording};
use ninefold::scenario::template::Template;
use ninefold::scenario::{Executor, HttpProtocol, RequestTemplate, TokenKind, TrafficPhase};
use ninefold::traffic::{Target, TrafficOptions, TrafficPlan, run_traffic};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Requests per run.
const N: u64 = 300;
/// How long the hyper server holds each answer: streams overlap.
const HOLD: Duration = Duration::from_millis(5);

/// What the hyper server saw.
#[derive(Debug, Default)]
struct Seen {
    /// Request sequence numbers (the path's last segment), in arrival order.
    seqs: Vec<u64>,
    /// Requests that were not HTTP/2.
    not_h2: u64,
    /// Per connection: streams open now, and the most at once.
    open: HashMap<usize, (u32, u32)>,
}

struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// hyper's HTTP/2 server on 127.0.0.1:0 allowing `max_concurrent` streams per
/// connection; a request whose sequence number `reset` picks is answered with
/// RST_STREAM REFUSED_STREAM, the others with 200 after [`HOLD`].
async fn hyper_h2_server(max_concurrent: u32, reset: fn(u64) -> bool) -> Server {
    hyper_h2_server_holding(max_concurrent, reset, HOLD).await
}

async fn hyper_h2_server_holding(
    max_concurrent: u32,
    reset: fn(u64) -> bool,
    hold: Duration,
) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = CancellationToken::new();
    let (seen2, stop2) = (Arc::clone(&seen), stop.clone());
    tokio::spawn(async move {
        for conn in 0.. {
            let stream = tokio::select! {
                () = stop2.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => continue,
                },
            };
            let seen = Arc::clone(&seen2);
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let seen = Arc::clone(&seen);
                async move {
                    let seq: u64 = req
                        .uri()
                        .path()
                        .rsplit('/')
                        .next()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(u64::MAX);
                    {
                        let mut s = seen.lock().unwrap();
                        s.seqs.push(seq);
                        if req.version() != http::Version::HTTP_2 {
                            s.not_h2 += 1;
                        }
                        let (now, most) = s.open.entry(conn).or_default();
                        *now += 1;
                        *most = (*most).max(*now);
                    }
                    // Holding each stream open is what makes streams overlap: the
                    // concurrency under test, not a wait for readiness.
                    tokio::time::sleep(hold).await;
                    seen.lock().unwrap().open.get_mut(&conn).unwrap().0 -= 1;
                    if reset(seq) {
                        return Err(h2::Error::from(h2::Reason::REFUSED_STREAM));
                    }
                    Ok::<_, h2::Error>(http::Response::new(Full::new(Bytes::from_static(b"hello"))))
                }
            });
            let stop = stop2.clone();
            tokio::spawn(async move {
                let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .max_concurrent_streams(max_concurrent)
                    .serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    () = stop.cancelled() => {}
                    _ = conn => {}
                }
            });
        }
    });
    Server { addr, seen, stop }
}

fn phase(connections: u32, vus: u32, max_streams: u32) -> TrafficPhase {
    TrafficPhase {
        flow: false,
        name: "p".into(),
        start: Duration::ZERO,
        duration: Duration::from_secs(20),
        executor: Executor::ConstantVus {
            vus: NonZeroU32::new(vus).unwrap(),
            think_time: Duration::ZERO,
        },
        tenants: Vec::new(),
        requests: vec![RequestTemplate {
            check: None,
            extract: Vec::new(),
            method: Method::GET,
            path: Template::parse("/r/{seq}").unwrap(),
            headers: Vec::new(),
            body: None,
            idempotency_key: false,
            weight: NonZeroU32::MIN,
            expect: Vec::new(),
            token: TokenKind::Valid,
            integrity: None,
        }],
        expect: Vec::new(),
        timeout: Duration::from_secs(5),
        connections: NonZeroU32::new(connections).unwrap(),
        max_in_flight: NonZeroU32::new(1000).unwrap(),
        client_retries: 0,
        protocol: Some(HttpProtocol::H2),
        max_streams: NonZeroU32::new(max_streams),
    }
}

async fn run(phase: TrafficPhase, addr: SocketAddr) -> Recording {
    run_n(phase, addr, N).await
}

async fn run_n(phase: TrafficPhase, addr: SocketAddr, n: u64) -> Recording {
    let plan = TrafficPlan {
        phases: vec![phase],
        tenants: Vec::new(),
        auth: None,
        seed: 5,
        run_start: Instant::now() + Duration::from_millis(20),
    };
    let options = TrafficOptions {
        workers: NonZeroUsize::new(1),
        max_requests: NonZeroU64::new(n),
        ..TrafficOptions::default()
    };
    tokio::time::timeout(
        Duration::from_secs(30),
        run_traffic(
            plan,
            vec![Target::new(addr)],
            options,
            CancellationToken::new(),
        ),
    )
    .await
    .expect("the run ends")
    .expect("the run works")
}

fn never(_: u64) -> bool {
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2_phase_gets_every_answer_over_multiplexed_streams_within_the_cap() {
    // The server allows 1000 streams: the phase's own cap (4) is the limit.
    let server = hyper_h2_server(1000, never).await;
    let r = run(phase(2, 20, 4), server.addr).await;
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.seqs.len() as u64, N, "the server saw every request");
    assert_eq!(seen.not_h2, 0, "every request came as HTTP/2");
    assert_eq!(r.outcomes().get(Outcome::Ok), N);
    assert_eq!(r.outcomes().total(), N);
    assert!(seen.open.len() <= 2, "2 connections: {:?}", seen.open);
    let most = seen.open.values().map(|(_, m)| *m).max().unwrap();
    assert!(
        most <= 4,
        "at most max_streams = 4 at once: {:?}",
        seen.open
    );
    assert!(most >= 2, "streams were multiplexed: {:?}", seen.open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_stream_limit_caps_the_phases() {
    // max_streams = 10, but the server's SETTINGS allow 3.
    let server = hyper_h2_server(3, never).await;
    let r = run(phase(1, 20, 10), server.addr).await;
    let seen = server.seen.lock().unwrap();
    assert_eq!(r.outcomes().get(Outcome::Ok), N, "{:?}", r.outcomes());
    let most = seen.open.values().map(|(_, m)| *m).max().unwrap();
    assert!(
        most <= 3,
        "never above SETTINGS_MAX_CONCURRENT_STREAMS: {:?}",
        seen.open
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waiting_for_a_stream_is_late_not_lost() {
    // One connection of one stream, 10 ms per answer (at most ~100/s), asked for 200/s
    // open loop: requests wait for the stream. Latency counts from the intended
    // instant (it grows with the backlog), service time from the stream's opening.
    let hold = Duration::from_millis(10);
    let server = hyper_h2_server_holding(1000, never, hold).await;
    let mut p = phase(1, 1, 1);
    p.executor = Executor::ConstantArrivalRate {
        rate: 200.0,
        arrivals: ninefold::scenario::Arrivals::Uniform,
    };
    let n = 60;
    let r = run_n(p, server.addr, n).await;
    assert_eq!(r.outcomes().get(Outcome::Ok), n, "{:?}", r.outcomes());
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.open.values().map(|(_, m)| *m).max(), Some(1));
    let latency = r.latency().unwrap().summary_ms();
    let service = r.service().unwrap().summary_ms();
    assert!(
        service.p50 >= 10.0,
        "service time holds the server's 10 ms: {service:?}"
    );
    // 60 requests due over 0.3 s take at least 0.6 s to serve one at a time: the
    // last ones are ≥ 0.3 s late.
    assert!(latency.max >= 250.0, "{latency:?}");
    assert!(
        latency.p99 > service.p99 + 100.0,
        "{latency:?} vs {service:?}"
    );
}

fn every_7th(seq: u64) -> bool {
    seq % 7 == 3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rst_stream_is_counted_as_h2_reset_exactly() {
    let server = hyper_h2_server(1000, every_7th).await;
    let r = run(phase(2, 16, 8), server.addr).await;
    let seen = server.seen.lock().unwrap();
    let reset = seen.seqs.iter().filter(|s| every_7th(**s)).count() as u64;
    assert_eq!(seen.seqs.len() as u64, N);
    assert!(reset > 0);
    let o = r.outcomes();
    assert_eq!(o.get(Outcome::H2Reset), reset, "{o:?}");
    // The error code is kept as the example of the reset requests.
    let e = r
        .examples
        .iter()
        .find(|e| e.outcome == Outcome::H2Reset)
        .expect("an example of the resets");
    assert_eq!((e.status, e.count), (0, reset));
    assert_eq!(
        e.body.as_deref(),
        Some("RST_STREAM REFUSED_STREAM (error code 0x7)")
    );
    assert_eq!(o.get(Outcome::Ok), N - reset, "{o:?}");
    assert_eq!(o.total(), N);
}

/// What the GOAWAY server saw, over all its connections.
#[derive(Debug, Default)]
struct GoawaySeen {
    connections: u64,
    answered: u64,
    /// Streams opened above a GOAWAY's last stream id.
    above_last: u64,
}

/// A frame-level HTTP/2 server (h2c) on 127.0.0.1:0: on each connection it answers
/// the first `answer` streams with 200, then, at the next stream, sends GOAWAY whose
/// last stream id is the last one it answered, and reads on to the end of the
/// connection, counting every stream opened above it.
async fn goaway_server(answer: u64) -> (SocketAddr, Arc<Mutex<GoawaySeen>>, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(GoawaySeen::default()));
    let stop = CancellationToken::new();
    let (seen2, stop2) = (Arc::clone(&seen), stop.clone());
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                () = stop2.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => continue,
                },
            };
            seen2.lock().unwrap().connections += 1;
            let (seen, stop) = (Arc::clone(&seen2), stop2.clone());
            tokio::spawn(async move {
                tokio::select! {
                    () = stop.cancelled() => {}
                    _ = goaway_conn(stream, answer, seen) => {}
                }
            });
        }
    });
    (addr, seen, stop)
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

const HEADERS: u8 = 1;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const ACK: u8 = 1;
const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;

async fn goaway_conn(
    mut s: TcpStream,
    answer: u64,
    seen: Arc<Mutex<GoawaySeen>>,
) -> std::io::Result<()> {
    let mut preface = [0u8; 24];
    s.read_exact(&mut preface).await?;
    assert_eq!(
        &preface, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "h2c prior knowledge"
    );
    s.write_all(&frame(SETTINGS, 0, 0, &[])).await?;
    let mut answered = 0;
    let mut last: Option<u32> = None;
    let mut sent_goaway = false;
    loop {
        let mut head = [0u8; 9];
        if s.read_exact(&mut head).await.is_err() {
            return Ok(()); // the client closed the connection
        }
        let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload).await?;
        match kind {
            SETTINGS if flags & ACK == 0 => s.write_all(&frame(SETTINGS, ACK, 0, &[])).await?,
            PING if flags & ACK == 0 => s.write_all(&frame(PING, ACK, 0, &payload)).await?,
            HEADERS => match last {
                None => {
                    // `:status: 200` is entry 8 of HPACK's static table.
                    s.write_all(&frame(HEADERS, END_STREAM | END_HEADERS, id, &[0x88]))
                        .await?;
                    answered += 1;
                    seen.lock().unwrap().answered += 1;
                    if answered == answer {
                        last = Some(id);
                    }
                }
                Some(l) => {
                    assert!(id > l, "stream ids grow");
                    seen.lock().unwrap().above_last += 1;
                    if !sent_goaway {
                        let mut p = l.to_be_bytes().to_vec();
                        p.extend_from_slice(&0u32.to_be_bytes()); // NO_ERROR
                        s.write_all(&frame(GOAWAY, 0, 0, &p)).await?;
                        sent_goaway = true;
                    }
                }
            },
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goaway_fails_the_streams_above_its_last_id_and_the_run_goes_on_anew() {
    let (addr, seen, stop) = goaway_server(5).await;
    let r = run(phase(1, 8, 4), addr).await;
    stop.cancel();
    let seen = seen.lock().unwrap();
    let o = r.outcomes();
    assert!(seen.above_last > 0, "{seen:?}");
    assert!(seen.connections > 2, "connections opened anew: {seen:?}");
    // Every request the server answered is `ok`; every other one was refused by a
    // GOAWAY (the server answers all streams up to its last stream id). The server
    // saw most of them arrive above the last id; one whose HEADERS the client had
    // not flushed when the GOAWAY came never reached it.
    assert_eq!(o.get(Outcome::Ok), seen.answered, "{o:?} {seen:?}");
    assert_eq!(
        o.get(Outcome::H2Goaway),
        N - seen.answered,
        "{o:?} {seen:?}"
    );
    assert!(seen.above_last <= N - seen.answered, "{seen:?}");
    assert_eq!(o.total(), N, "{o:?}");
}

#[test]
fn attack_h2_speaks_http2_and_counts_every_answer() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(hyper_h2_server(1000, never));
    let url = format!("http://{}/r/{{seq}}", server.addr);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ninefold"))
        .args(["attack", &url, "--json", "--h2", "--h2-streams", "5"])
        .args(["-n", "200", "-c", "2", "--workers", "1"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["protocol"], "h2");
    assert_eq!(v["h2_streams"], 5);
    assert_eq!(v["outcomes"]["ok"], 200, "{}", v["outcomes"]);
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.seqs.len(), 200);
    assert_eq!(seen.not_h2, 0);
    let most = seen.open.values().map(|(_, m)| *m).max().unwrap();
    assert!(most <= 5, "{:?}", seen.open);
    drop(seen);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_refuses_connections_is_a_connect_error_per_request() {
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let n = 40;
    let r = run_n(phase(2, 8, 4), addr, n).await;
    assert_eq!(
        r.outcomes().get(Outcome::ConnectError),
        n,
        "{:?}",
        r.outcomes()
    );
}
