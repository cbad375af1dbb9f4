//! `--client hyper` against the own client: the same open-loop phase, sent once with
//! each, to one raw loopback server (httparse on the server side, hand-written
//! answers) whose answer depends on the request's sequence number alone. Both
//! clients must send the same requests and count the same outcomes, and the counts
//! are the ones the server's rule gives (computed here from the rule, not by the
//! code under test).
//!
//! Real time (the engine runs its own worker runtimes): short, bounded runs.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::Method;
use ninefold::metrics::{Outcome, Recording};
use ninefold::scenario::template::Template;
use ninefold::scenario::{Arrivals, Executor, RequestTemplate, TrafficPhase};
use ninefold::traffic::{ClientKind, Target, TrafficOptions, TrafficPlan};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::support;

/// Requests per run.
const N: u64 = 100;
/// The request timeout: what the hanging answers run into.
const TIMEOUT: Duration = Duration::from_millis(500);
const NOT_FOUND_BODY: &str = "no such item";
const SERVER_ERROR_BODY: &str = "boom!";

/// What the server does with request `seq` (the path's second segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Ok,
    NotFound,
    ServerError,
    Close,
    Hang,
}

fn fate(seq: u64) -> Fate {
    match seq % 10 {
        0..=5 => Fate::Ok,
        6 => Fate::NotFound,
        7 => Fate::ServerError,
        8 => Fate::Close,
        _ => Fate::Hang,
    }
}

/// The outcome each fate must be counted as (docs/metrics.md's classification).
fn expected_outcome(f: Fate) -> Outcome {
    match f {
        Fate::Ok => Outcome::Ok,
        Fate::NotFound => Outcome::UnexpectedStatus,
        Fate::ServerError => Outcome::ServerError,
        Fate::Close => Outcome::IoError,
        Fate::Hang => Outcome::Timeout,
    }
}

/// A raw HTTP/1.1 server on 127.0.0.1:0 that notes every request target it reads
/// and stops when dropped.
struct RawServer {
    addr: SocketAddr,
    paths: Arc<Mutex<Vec<String>>>,
    stop: CancellationToken,
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn raw_server() -> RawServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let paths = Arc::new(Mutex::new(Vec::new()));
    let stop = CancellationToken::new();
    let (p, s) = (Arc::clone(&paths), stop.clone());
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                () = s.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => continue,
                },
            };
            let (p, s) = (Arc::clone(&p), s.clone());
            tokio::spawn(async move {
                tokio::select! {
                    () = s.cancelled() => {}
                    () = serve(stream, p) => {}
                }
            });
        }
    });
    RawServer { addr, paths, stop }
}

/// Read one request (head, and a `Content-Length` body): its target and body.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(n)) = req.parse(buf) {
            let length: usize = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= n + length {
                let path = req.path.unwrap_or_default().to_owned();
                let body = buf[n..n + length].to_vec();
                buf.drain(..n + length);
                return Some((path, body));
            }
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
}

/// Answer the requests of one connection: a write (`/orders/SEQ`) with its order id,
/// anything else by its fate.
async fn serve(mut stream: TcpStream, paths: Arc<Mutex<Vec<String>>>) {
    let mut buf = Vec::new();
    loop {
        let Some((path, body)) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        paths
            .lock()
            .unwrap()
            .push(format!("{path} {}", String::from_utf8_lossy(&body)));
        let seq: u64 = path
            .split('/')
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let answer = if path.starts_with("/orders/") {
            let id = format!(r#"{{"id": "o-{seq}"}}"#);
            format!(
                "HTTP/1.1 201 Created\r\ncontent-length: {}\r\n\r\n{id}",
                id.len()
            )
        } else {
            match fate(seq) {
                Fate::Ok => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_owned(),
                Fate::NotFound => format!(
                    "HTTP/1.1 404 Not Found\r\ncontent-length: {}\r\n\r\n{NOT_FOUND_BODY}",
                    NOT_FOUND_BODY.len()
                ),
                // Chunked: the framing is each client's own to read.
                Fate::ServerError => format!(
                    "HTTP/1.1 500 Internal Server Error\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{SERVER_ERROR_BODY}\r\n0\r\n\r\n",
                    SERVER_ERROR_BODY.len()
                ),
                // The request was read; the connection ends without an answer.
                Fate::Close => return,
                // No answer until the client gives up and closes.
                Fate::Hang => {
                    let _ = stream.read(&mut [0u8; 1]).await;
                    return;
                }
            }
        };
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn phase(request: RequestTemplate) -> TrafficPhase {
    TrafficPhase {
        flow: false,
        name: "p".into(),
        start: Duration::ZERO,
        duration: Duration::from_secs(3),
        executor: Executor::ConstantArrivalRate {
            rate: 200.0,
            arrivals: Arrivals::Uniform,
        },
        tenants: Vec::new(),
        requests: vec![request],
        expect: Vec::new(),
        timeout: TIMEOUT,
        connections: NonZeroU32::new(8).unwrap(),
        max_in_flight: NonZeroU32::new(1000).unwrap(),
        client_retries: 0,
        protocol: None,
        max_streams: None,
    }
}

fn request(method: Method, path: &str, body: Option<&str>) -> RequestTemplate {
    RequestTemplate {
        check: None,
        extract: Vec::new(),
        body: body.map(|b| Template::parse(b).unwrap()),
        ..support::request(method, path)
    }
}

/// The random segment makes the seed matter: same seed, same paths.
fn read() -> RequestTemplate {
    request(Method::GET, "/r/{seq}/{rand:1..1000000}", None)
}

async fn run_with(client: ClientKind, addr: SocketAddr, request: RequestTemplate) -> Recording {
    let plan = TrafficPlan {
        phases: vec![phase(request)],
        tenants: Vec::new(),
        auth: None,
        seed: 11,
        run_start: Instant::now() + Duration::from_millis(20),
    };
    let options = TrafficOptions {
        workers: NonZeroUsize::new(1),
        max_requests: NonZeroU64::new(N),
        client,
        ..TrafficOptions::default()
    };
    support::run(plan, vec![Target::new(addr)], options).await
}

fn counts(r: &Recording) -> Vec<(Outcome, u64)> {
    let o = r.outcomes();
    Outcome::ALL.iter().map(|x| (*x, o.get(*x))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_and_own_client_count_the_same_outcomes_on_the_same_requests() {
    // The server's rule over seq 0..N, independently of the engine.
    let mut expected = vec![0u64; Outcome::ALL.len()];
    for seq in 0..N {
        let o = expected_outcome(fate(seq));
        let i = Outcome::ALL.iter().position(|x| *x == o).unwrap();
        expected[i] += 1;
    }
    let expected: Vec<(Outcome, u64)> = Outcome::ALL.iter().copied().zip(expected).collect();
    let answered = (0..N)
        .filter(|s| matches!(fate(*s), Fate::Ok | Fate::NotFound | Fate::ServerError))
        .count() as u64;

    let mut seen = Vec::new();
    for client in [ClientKind::Ninefold, ClientKind::Hyper] {
        let server = raw_server().await;
        let r = run_with(client, server.addr, read()).await;
        assert_eq!(counts(&r), expected, "{client:?}");
        assert_eq!(r.outcomes().total(), N, "{client:?}");
        // Every answered request has a latency and a service time.
        assert_eq!(r.latency().unwrap().0.len(), answered, "{client:?}");
        assert_eq!(r.service().unwrap().0.len(), answered, "{client:?}");
        assert!(r.latency().unwrap().0.max() >= 1, "{client:?}");
        // Error bodies are kept for the breakdown, whole (the 500 came chunked).
        let body = |status: u16| {
            r.examples
                .iter()
                .find(|e| e.status == status)
                .and_then(|e| e.body.clone())
        };
        assert_eq!(body(404).as_deref(), Some(NOT_FOUND_BODY), "{client:?}");
        assert_eq!(body(500).as_deref(), Some(SERVER_ERROR_BODY), "{client:?}");
        assert_eq!(
            r.http_client.as_deref(),
            (client == ClientKind::Hyper).then_some("hyper"),
        );
        let mut paths = server.paths.lock().unwrap().clone();
        paths.sort();
        // Each request reached the server once (no client retried behind our back).
        assert_eq!(paths.len() as u64, N, "{client:?}");
        seen.push(paths);
    }
    assert_eq!(seen[0], seen[1], "the same seed sends the same requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_client_keeps_write_answers_for_the_integrity_ledger() {
    let write = request(
        Method::POST,
        "/orders/{seq}",
        Some(r#"{"sku": {rand:1..50}}"#),
    );
    let mut seen = Vec::new();
    for client in [ClientKind::Ninefold, ClientKind::Hyper] {
        let server = raw_server().await;
        let r = run_with(client, server.addr, write.clone()).await;
        assert_eq!(r.outcomes().get(Outcome::Ok), N, "{client:?}");
        let mut ids: Vec<_> = r.ledger.iter().map(|w| w.order_id.clone()).collect();
        ids.sort();
        let mut expected: Vec<_> = (0..N).map(|s| Some(format!("o-{s}"))).collect();
        expected.sort();
        assert_eq!(ids, expected, "{client:?}");
        let mut bodies = server.paths.lock().unwrap().clone();
        bodies.sort();
        seen.push(bodies);
    }
    assert_eq!(seen[0], seen[1], "the same seed sends the same bodies");
}

#[test]
fn attack_with_client_hyper_counts_as_the_own_client_does() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(raw_server());
    let bin = env!("CARGO_BIN_EXE_ninefold");
    let url = format!("http://{}/r/{{seq}}", server.addr);
    let mut outcomes = Vec::new();
    for client in ["ninefold", "hyper"] {
        let out = std::process::Command::new(bin)
            .args(["attack", &url, "--json", "--client", client])
            .args(["-n", "50", "--rate", "200", "-c", "8", "--workers", "1"])
            .args(["--timeout", "500ms"])
            .output()
            .unwrap();
        // Half the requests fail by the server's rule: above --max-error-rate 0, exit 1.
        assert_eq!(
            out.status.code(),
            Some(1),
            "{client}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["client"], client);
        assert_eq!(v["requests"], 50);
        let o = &v["outcomes"];
        // seq 0..50 by the rule: 30 ok, 5 each of the others.
        assert_eq!(o["ok"], 30, "{client}: {o}");
        for name in ["unexpected_status", "server_error", "io_error", "timeout"] {
            assert_eq!(o[name], 5, "{client}: {name} in {o}");
        }
        assert!(v["latency_ms"]["p50"].as_f64().is_some(), "{client}");
        outcomes.push(o.clone());
    }
    assert_eq!(outcomes[0], outcomes[1]);
    drop(server);
}
