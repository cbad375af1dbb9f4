//! Every case of Toxiproxy's `toxics/*_test.go`, ported: proxy-level cases
//! drive our server over real loopback sockets, adding toxics with the JSON
//! its `ToxicToJson` builds. The stage-level cases (a toxic between two
//! channels, Toxiproxy's `ToxicStub`) are in `toxiproxy_port_stages.rs`.
//!
//! Deviations, each also noted at the case: wall-clock tolerances are wider
//! than the original's (the machine is shared; accuracy is measured by
//! `bench/faults/`), never allowing a delay shorter than the one asked for;
//! fixed sleeps the original uses to let time pass are kept short and only
//! where the case is about elapsed time.

use crate::faults_common;

use std::time::{Duration, Instant};

use faults_common::{Api, WAIT, http, spawn_api};
use ninefold::faults::ProxySpec;
use ninefold::faults::toxics::Toxic;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------- helpers

/// NewTestProxy: proxy `test` on an ephemeral port to `upstream`, started.
async fn test_proxy(api: &Api, upstream: &str) -> String {
    api.fp
        .create_proxy(ProxySpec::new("test", "127.0.0.1:0", upstream))
        .await
        .unwrap();
    api.fp.listen_addr("test").await.unwrap().to_string()
}

/// AddToxicJson with ToxicToJson's body: name, type, stream, attributes.
async fn add_toxic(api: &Api, name: &str, kind: &str, stream: &str, attrs: Value) {
    let b = json!({"name": name, "type": kind, "stream": stream, "attributes": attrs});
    let r = http(
        api.addr,
        "POST",
        "/proxies/test/toxics",
        Some(&b.to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn remove_toxic(api: &Api, name: &str) {
    let r = http(
        api.addr,
        "DELETE",
        &format!("/proxies/test/toxics/{name}"),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
}

/// ResetToxics: every toxic of the proxy removed.
async fn reset_toxics(api: &Api) {
    for t in api.fp.toxics("test").await.unwrap() {
        remove_toxic(api, &t.name).await;
    }
}

async fn dial(addr: &str) -> TcpStream {
    tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap()
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f).await.expect("bounded wait")
}

async fn read_line(r: &mut BufReader<TcpStream>) -> Vec<u8> {
    let mut line = Vec::new();
    bounded(r.read_until(b'\n', &mut line)).await.unwrap();
    line
}

/// WithEchoServer: accepts one connection, reads one line, reports it on the
/// channel and writes it back. Stops with the test's runtime.
async fn echo_server() -> (String, mpsc::Receiver<(Vec<u8>, Instant)>) {
    let ln = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = ln.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let Ok((sock, _)) = ln.accept().await else {
            return;
        };
        drop(ln);
        let mut r = BufReader::new(sock);
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line).await.is_ok_and(|n| n > 0) {
            let _ = tx.send((line.clone(), Instant::now())).await;
            let _ = r.get_mut().write_all(&line).await;
        }
    });
    (addr, rx)
}

/// A client and the upstream's side of the same proxied connection.
async fn established(api: &Api) -> (TcpStream, TcpStream) {
    let ln = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listen = test_proxy(api, &ln.local_addr().unwrap().to_string()).await;
    let client = dial(&listen).await;
    let (server, _) = bounded(ln.accept()).await.unwrap();
    (client, server)
}

/// AssertEchoResponse: a line client → server, then back server → client.
async fn assert_echo(client: &mut BufReader<TcpStream>, server: &mut BufReader<TcpStream>) {
    let msg = b"hello world\n";
    bounded(client.get_mut().write_all(msg)).await.unwrap();
    assert_eq!(read_line(server).await, msg, "server read");
    bounded(server.get_mut().write_all(msg)).await.unwrap();
    assert_eq!(read_line(client).await, msg, "client read");
}

/// `actual` is at least `expected` (a toxic never delays less than asked)
/// and at most `expected + slack`.
fn assert_took(what: &str, actual: Duration, expected: Duration, slack: Duration) {
    assert!(
        actual + Duration::from_micros(500) >= expected && actual <= expected + slack,
        "[{what}] took {actual:?}, expected {expected:?} (+{slack:?})"
    );
}

// ------------------------------------------------------------ toxic_test.go

#[tokio::test]
async fn test_persistent_connections() {
    let api = spawn_api(1).await;
    let (client, server) = established(&api).await;
    let (mut client, mut server) = (BufReader::new(client), BufReader::new(server));
    add_toxic(&api, "noop_up", "noop", "upstream", json!({})).await;
    add_toxic(&api, "noop_down", "noop", "downstream", json!({})).await;
    assert_echo(&mut client, &mut server).await;
    reset_toxics(&api).await;
    assert_echo(&mut client, &mut server).await;
    reset_toxics(&api).await;
    assert_echo(&mut client, &mut server).await;
}

#[tokio::test]
async fn test_toxic_add_remove() {
    let api = spawn_api(1).await;
    let (client, server) = established(&api).await;
    let (mut client, mut server) = (BufReader::new(client), BufReader::new(server));
    let stop = CancellationToken::new();
    let fp = api.fp.clone();
    let flipper = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let noop = |s| ninefold::faults::ToxicSpec::new(Toxic::Noop, s);
            let mut enabled = false;
            while !stop.is_cancelled() {
                if enabled {
                    let _ = fp
                        .add_toxic(
                            "test",
                            noop(ninefold::faults::Stream::Upstream).named("noop_up"),
                        )
                        .await;
                    let _ = fp.remove_toxic("test", "noop_down").await;
                } else {
                    let _ = fp.remove_toxic("test", "noop_up").await;
                    let _ = fp
                        .add_toxic(
                            "test",
                            noop(ninefold::faults::Stream::Downstream).named("noop_down"),
                        )
                        .await;
                }
                enabled = !enabled;
                tokio::task::yield_now().await;
            }
        })
    };
    for _ in 0..100 {
        assert_echo(&mut client, &mut server).await;
    }
    stop.cancel();
    bounded(flipper).await.unwrap();
}

/// Original: average one-way latency under 300 µs. Here under 3 ms (debug
/// build on a shared machine); the benchmark measures the real figure.
#[tokio::test]
async fn test_proxy_latency() {
    let api = spawn_api(1).await;
    let (client, server) = established(&api).await;
    let (mut client, mut server) = (BufReader::new(client), BufReader::new(server));
    let start = Instant::now();
    for _ in 0..100 {
        assert_echo(&mut client, &mut server).await;
    }
    let one_way = start.elapsed() / 200;
    assert!(
        one_way < Duration::from_millis(3),
        "average proxy latency {one_way:?}"
    );
}

// ----------------------------------------------------------- latency_test.go

/// DoLatencyTest. Original tolerance: jitter + 10 ms each way (+20 ms round
/// trip). Here: never early, at most 250 ms late (shared machine).
async fn latency_case(up: Option<u64>, down: Option<u64>) {
    let api = spawn_api(1).await;
    let (upstream, mut response) = echo_server().await;
    let listen = test_proxy(&api, &upstream).await;
    let mut conn = BufReader::new(dial(&listen).await);
    if let Some(ms) = up {
        add_toxic(
            &api,
            "latency_up",
            "latency",
            "upstream",
            json!({"latency": ms}),
        )
        .await;
    }
    if let Some(ms) = down {
        add_toxic(
            &api,
            "latency_down",
            "latency",
            "downstream",
            json!({"latency": ms}),
        )
        .await;
    }
    let slack = Duration::from_millis(250);
    let msg = format!("hello world {}\n", "a".repeat(32 * 1024)).into_bytes();
    let timer = Instant::now();
    bounded(conn.get_mut().write_all(&msg)).await.unwrap();
    let (got, at) = bounded(response.recv()).await.unwrap();
    assert!(got == msg, "server read other bytes");
    let up_ms = Duration::from_millis(up.unwrap_or(0));
    let down_ms = Duration::from_millis(down.unwrap_or(0));
    assert_took("Server read", at - timer, up_ms, slack);
    let timer2 = Instant::now();
    assert!(read_line(&mut conn).await == msg, "client read other bytes");
    assert_took("Client read", timer2.elapsed(), down_ms, slack);
    assert_took("Round trip", timer.elapsed(), up_ms + down_ms, slack * 2);
    if up.is_some() {
        remove_toxic(&api, "latency_up").await;
    }
    if down.is_some() {
        remove_toxic(&api, "latency_down").await;
    }
}

#[tokio::test]
async fn test_upstream_latency() {
    latency_case(Some(100), None).await;
}

#[tokio::test]
async fn test_downstream_latency() {
    latency_case(None, Some(100)).await;
}

#[tokio::test]
async fn test_fullstream_latency_even() {
    latency_case(Some(100), Some(100)).await;
}

#[tokio::test]
async fn test_fullstream_latency_bias_up() {
    latency_case(Some(1000), Some(100)).await;
}

#[tokio::test]
async fn test_fullstream_latency_bias_down() {
    latency_case(Some(100), Some(1000)).await;
}

#[tokio::test]
async fn test_zero_latency() {
    latency_case(Some(0), Some(0)).await;
}

#[tokio::test]
async fn test_latency_toxic_close_race() {
    let api = spawn_api(1).await;
    let ln = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listen = test_proxy(&api, &ln.local_addr().unwrap().to_string()).await;
    tokio::spawn(async move { while ln.accept().await.is_ok() {} });
    for _ in 0..1000 {
        // Name "" → "latency_upstream"; the original removes "latency"
        // (a no-op there, a 404 here): removed by its real name instead.
        let b = json!({"name": "", "type": "latency", "stream": "upstream", "attributes": {"latency": 10}});
        let r = http(
            api.addr,
            "POST",
            "/proxies/test/toxics",
            Some(&b.to_string()),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let mut conn = dial(&listen).await;
        let _ = conn.write_all(b"hello").await;
        drop(conn);
        remove_toxic(&api, "latency_upstream").await;
    }
}

/// Original tolerance ±10 ms; here never early, at most 250 ms late.
#[tokio::test]
async fn test_two_latency_toxics() {
    let api = spawn_api(1).await;
    let (upstream, mut response) = echo_server().await;
    let listen = test_proxy(&api, &upstream).await;
    let mut conn = dial(&listen).await;
    for i in 0..2 {
        add_toxic(
            &api,
            &format!("latency_{i}"),
            "latency",
            "upstream",
            json!({"latency": 500}),
        )
        .await;
    }
    let msg = format!("hello world {}\n", "a".repeat(32 * 1024)).into_bytes();
    let timer = Instant::now();
    bounded(conn.write_all(&msg)).await.unwrap();
    let (got, at) = bounded(response.recv()).await.unwrap();
    assert!(got == msg);
    assert_took(
        "Upstream two latency toxics",
        at - timer,
        Duration::from_millis(1000),
        Duration::from_millis(250),
    );
    for i in 0..2 {
        remove_toxic(&api, &format!("latency_{i}")).await;
    }
}

/// Original: after a 150 ms sleep, 100 reads of 12,000 bytes through a
/// 100 ms latency toxic take at most count/100000 ms (≥ 100 MB/s). Here the
/// wait is the first byte's arrival (no sleep) and the bound is ten times
/// looser (≥ 10 MB/s: debug build, shared machine).
///
/// Note: the original's toxic JSON carries `"stream": ""`, which Toxiproxy
/// itself refuses (`ParseDirection("")` fails; the test ignores the error),
/// so its case measures an untoxic'd link. The same request gets the same
/// 400 here, and the same link is measured.
#[tokio::test]
async fn test_latency_toxic_bandwidth() {
    let api = spawn_api(1).await;
    let (client, mut server) = established(&api).await;
    let payload = "hello world ".repeat(1000).into_bytes();
    let writer = {
        let payload = payload.clone();
        tokio::spawn(async move { while server.write_all(&payload).await.is_ok() {} })
    };
    let b = json!({"name": "", "type": "latency", "stream": "", "attributes": {"latency": 100}});
    let r = http(
        api.addr,
        "POST",
        "/proxies/test/toxics",
        Some(&b.to_string()),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let mut client = client;
    let mut first = [0u8; 1];
    bounded(client.read_exact(&mut first)).await.unwrap();
    let mut response = vec![0u8; payload.len()];
    let start = Instant::now();
    let mut count = 0usize;
    for _ in 0..100 {
        count += bounded(client.read_exact(&mut response)).await.unwrap();
    }
    let limit = Duration::from_millis((count / 100_000) as u64) * 10;
    assert!(
        start.elapsed() <= limit,
        "{count} bytes took {:?} (limit {limit:?})",
        start.elapsed()
    );
    drop(client);
    writer.abort();
}

// --------------------------------------------------------- bandwidth_test.go

#[tokio::test]
async fn test_bandwidth_toxic() {
    let api = spawn_api(1).await;
    let (client, mut server) = established(&api).await;
    let rate = 1000u64; // KB/s
    add_toxic(&api, "", "bandwidth", "upstream", json!({"rate": rate})).await;
    let payload = "hello world ".repeat(40_000).into_bytes(); // 480 KB
    let mut client = client;
    let sent = payload.clone();
    let writer = tokio::spawn(async move {
        client.write_all(&sent).await.unwrap();
        drop(client);
    });
    let mut got = vec![0u8; payload.len()];
    let start = Instant::now();
    bounded(server.read_exact(&mut got)).await.unwrap();
    let took = start.elapsed();
    assert!(got == payload, "server did not read the same bytes");
    let expected = Duration::from_secs_f64(payload.len() as f64 / (rate as f64 * 1000.0));
    // Original tolerance ±10 ms. Here: never more than 10 ms early (that would be
    // over the rate), at most 250 ms late (a shared CI machine); the ±10 ms accuracy
    // is measured by bench/faults/run.sh on a quiet machine.
    assert!(
        took + Duration::from_millis(10) >= expected
            && took <= expected + Duration::from_millis(250),
        "bandwidth: took {took:?}, expected {expected:?} (-10 ms, +250 ms)"
    );
    writer.await.unwrap();
}

// -------------------------------------------------------- reset_peer_test.go

/// resetTCPHelper + checkConnectionState: the client's first read is a
/// connection reset, the next one EOF.
async fn reset_case(stream: &str, timeout_ms: u64) -> Duration {
    let api = spawn_api(1).await;
    let ln = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listen = test_proxy(&api, &ln.local_addr().unwrap().to_string()).await;
    add_toxic(
        &api,
        "resettcp",
        "reset_peer",
        stream,
        json!({"timeout": timeout_ms}),
    )
    .await;
    let msg = b"reset me please\n";
    tokio::spawn(async move {
        let Ok((sock, _)) = ln.accept().await else {
            return;
        };
        let mut r = BufReader::new(sock);
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line).await.is_ok_and(|n| n > 0) {
            let _ = r.get_mut().write_all(msg).await;
        }
    });
    let start = Instant::now();
    let mut conn = dial(&listen).await;
    bounded(conn.write_all(msg)).await.unwrap();
    let mut tmp = [0u8; 1000];
    let first = bounded(conn.read(&mut tmp)).await;
    let took = start.elapsed();
    assert_eq!(
        first.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionReset),
        "expected connection reset by peer"
    );
    let second = bounded(conn.read(&mut tmp)).await;
    assert!(
        matches!(second, Ok(0)),
        "expected EOF after the reset: {second:?}"
    );
    took
}

#[tokio::test]
async fn test_reset_toxic_no_timeout() {
    reset_case("upstream", 0).await;
}

/// Original: within timeout + 10 ms of the timeout; here never early, at
/// most 400 ms late.
#[tokio::test]
async fn test_reset_toxic_with_timeout() {
    let took = reset_case("upstream", 100).await;
    assert_took(
        "Reset after timeout",
        took,
        Duration::from_millis(100),
        Duration::from_millis(400),
    );
}

#[tokio::test]
async fn test_reset_toxic_with_timeout_downstream() {
    let took = reset_case("downstream", 100).await;
    assert_took(
        "Reset after timeout",
        took,
        Duration::from_millis(100),
        Duration::from_millis(400),
    );
}

// ----------------------------------------------------------- timeout_test.go

/// WithEstablishedProxy: "foobar" both ways, each read within 1 s.
async fn established_checked(api: &Api) -> (TcpStream, TcpStream) {
    let (mut client, mut server) = established(api).await;
    write_and_receive(&mut client, &mut server).await;
    write_and_receive(&mut server, &mut client).await;
    (client, server)
}

async fn write_and_receive(from: &mut TcpStream, to: &mut TcpStream) {
    from.write_all(b"foobar").await.unwrap();
    let mut resp = [0u8; 6];
    tokio::time::timeout(Duration::from_secs(1), to.read_exact(&mut resp))
        .await
        .expect("read within 1 s")
        .unwrap();
    assert_eq!(&resp, b"foobar");
}

/// The original sleeps 200 ms after each write so the latency toxic passes
/// the bytes on to the timeout toxic; 20 ms is already twice that latency.
#[tokio::test]
async fn test_timeout_toxic_does_not_cause_hang() {
    let api = spawn_api(1).await;
    let (mut conn, _server) = established_checked(&api).await;
    add_toxic(
        &api,
        "might_block",
        "latency",
        "upstream",
        json!({"latency": 10}),
    )
    .await;
    add_toxic(
        &api,
        "timeout",
        "timeout",
        "upstream",
        json!({"timeout": 0}),
    )
    .await;
    // Paced writes into the blocked chain are the case under test, not a wait.
    for _ in 0..5 {
        conn.write_all(b"hello").await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::timeout(Duration::from_secs(1), remove_toxic(&api, "might_block"))
        .await
        .expect("removing the latency toxic must not hang");
}

#[tokio::test]
async fn test_timeout_toxic_closes_connection_on_remove() {
    let api = spawn_api(1).await;
    let (mut conn, mut server) = established_checked(&api).await;
    add_toxic(
        &api,
        "to_delete",
        "timeout",
        "upstream",
        json!({"timeout": 0}),
    )
    .await;
    remove_toxic(&api, "to_delete").await;
    tokio::time::timeout(Duration::from_secs(1), async {
        let mut buf = [0u8; 1];
        assert!(
            matches!(conn.read(&mut buf).await, Ok(0)),
            "expected EOF from closed connection"
        );
        assert!(
            matches!(server.read(&mut buf).await, Ok(0)),
            "expected EOF from closed server connection"
        );
    })
    .await
    .expect("both ends closed within 1 s");
}
