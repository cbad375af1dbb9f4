//! The fault proxy's data path over real sockets, driven through the
//! embeddable handle. No timing assertions: timing is proven at the stage
//! level on paused time; here only what arrives, and how connections end.

use crate::faults_common;

use std::io::ErrorKind;
use std::time::Duration;

use faults_common::{WAIT, spawn_api, spawn_echo};
use ninefold::faults::toxics::{Latency, LimitData, ResetPeer, Timeout};
use ninefold::faults::{ProxySpec, Stream, Toxic, ToxicPatch, ToxicSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn connect(addr: std::net::SocketAddr) -> std::io::Result<TcpStream> {
    tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect in time")
}

async fn round_trip(sock: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    sock.write_all(msg).await.unwrap();
    let mut buf = vec![0u8; msg.len()];
    tokio::time::timeout(WAIT, sock.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    buf
}

/// Read until EOF or error; the bytes and how it ended.
async fn read_all(sock: &mut TcpStream) -> (Vec<u8>, Option<ErrorKind>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(WAIT, sock.read(&mut buf))
            .await
            .expect("ends in time")
        {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Some(e.kind())),
        }
    }
}

#[tokio::test]
async fn passes_bytes_both_ways() {
    let api = spawn_api(1).await;
    let echo = spawn_echo().await;
    api.fp
        .create_proxy(ProxySpec::new("e", "127.0.0.1:0", echo.addr.to_string()))
        .await
        .unwrap();
    let addr = api.fp.listen_addr("e").await.unwrap();
    let mut sock = connect(addr).await.unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(round_trip(&mut sock, b"hello").await, b"hello");
    assert_eq!(round_trip(&mut sock, &big).await, big);
}

#[tokio::test]
async fn disable_refuses_and_closes_enable_restores() {
    let api = spawn_api(1).await;
    let echo = spawn_echo().await;
    api.fp
        .create_proxy(ProxySpec::new("e", "127.0.0.1:0", echo.addr.to_string()))
        .await
        .unwrap();
    let addr = api.fp.listen_addr("e").await.unwrap();
    let mut live = connect(addr).await.unwrap();
    assert_eq!(round_trip(&mut live, b"x").await, b"x");

    let p = api.fp.set_enabled("e", false).await.unwrap();
    assert!(!p.enabled);
    let err = connect(addr).await.expect_err("refused while disabled");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    let (_, _) = read_all(&mut live).await; // the live connection was closed: it ends

    api.fp.set_enabled("e", true).await.unwrap();
    assert_eq!(
        api.fp.listen_addr("e").await.unwrap(),
        addr,
        "same port again"
    );
    let mut again = connect(addr).await.unwrap();
    assert_eq!(round_trip(&mut again, b"back").await, b"back");

    api.fp.delete_proxy("e").await.unwrap();
    assert_eq!(
        connect(addr).await.expect_err("deleted").kind(),
        ErrorKind::ConnectionRefused
    );
}

#[tokio::test]
async fn upstream_down_means_accept_then_close() {
    let api = spawn_api(1).await;
    // A port nobody listens on.
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    api.fp
        .create_proxy(ProxySpec::new("d", "127.0.0.1:0", dead.to_string()))
        .await
        .unwrap();
    let mut sock = connect(api.fp.listen_addr("d").await.unwrap())
        .await
        .expect("accepted");
    let (data, _) = read_all(&mut sock).await;
    assert!(data.is_empty());
}

#[tokio::test]
async fn reset_peer_sends_rst() {
    let api = spawn_api(1).await;
    let echo = spawn_echo().await;
    api.fp
        .create_proxy(ProxySpec::new("r", "127.0.0.1:0", echo.addr.to_string()))
        .await
        .unwrap();
    let toxic = Toxic::ResetPeer(ResetPeer {
        timeout: Duration::ZERO,
    });
    api.fp
        .add_toxic("r", ToxicSpec::new(toxic, Stream::Upstream))
        .await
        .unwrap();
    let mut sock = connect(api.fp.listen_addr("r").await.unwrap())
        .await
        .unwrap();
    sock.write_all(b"boom").await.unwrap();
    let (data, ended) = read_all(&mut sock).await;
    assert!(data.is_empty());
    assert_eq!(ended, Some(ErrorKind::ConnectionReset));
}

#[tokio::test]
async fn reset_peer_at_toxicity_zero_leaves_clean_closes() {
    // Toxiproxy #603: the reference sets SO_LINGER 0 even when the roll said no.
    let api = spawn_api(1).await;
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_addr = upstream.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = upstream.accept().await.unwrap();
        s.write_all(b"bye").await.unwrap();
        let mut buf = [0u8; 16];
        // The proxy must close this side with a FIN (Ok(0)), not an RST.
        tokio::time::timeout(WAIT, s.read(&mut buf))
            .await
            .unwrap()
            .map_err(|e| e.kind())
    });
    api.fp
        .create_proxy(ProxySpec::new("z", "127.0.0.1:0", up_addr.to_string()))
        .await
        .unwrap();
    for stream in [Stream::Upstream, Stream::Downstream] {
        let spec = ToxicSpec::new(
            Toxic::ResetPeer(ResetPeer {
                timeout: Duration::ZERO,
            }),
            stream,
        )
        .with_toxicity(0.0);
        api.fp.add_toxic("z", spec).await.unwrap();
    }
    let mut sock = connect(api.fp.listen_addr("z").await.unwrap())
        .await
        .unwrap();
    let mut buf = [0u8; 3];
    tokio::time::timeout(WAIT, sock.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"bye");
    drop(sock);
    assert_eq!(server.await.unwrap(), Ok(0));
}

#[tokio::test]
async fn limit_data_closes_after_n_bytes() {
    let api = spawn_api(1).await;
    let echo = spawn_echo().await;
    api.fp
        .create_proxy(ProxySpec::new("l", "127.0.0.1:0", echo.addr.to_string()))
        .await
        .unwrap();
    let toxic = Toxic::LimitData(LimitData { bytes: 10 });
    api.fp
        .add_toxic("l", ToxicSpec::new(toxic, Stream::Downstream))
        .await
        .unwrap();
    let mut sock = connect(api.fp.listen_addr("l").await.unwrap())
        .await
        .unwrap();
    sock.write_all(b"0123456789abcdefghij").await.unwrap();
    let (data, _) = read_all(&mut sock).await;
    assert_eq!(data, b"0123456789");
}

#[tokio::test]
async fn removing_latency_delivers_held_bytes_and_timeout_removal_closes() {
    let api = spawn_api(1).await;
    let echo = spawn_echo().await;
    api.fp
        .create_proxy(ProxySpec::new("h", "127.0.0.1:0", echo.addr.to_string()))
        .await
        .unwrap();
    let addr = api.fp.listen_addr("h").await.unwrap();
    let mut sock = connect(addr).await.unwrap();
    assert_eq!(round_trip(&mut sock, b"warm").await, b"warm");
    // A latency far beyond the test's wait: bytes arrive only because removal flushes them.
    let hour = Toxic::Latency(Latency {
        latency: Duration::from_secs(3600),
        jitter: Duration::ZERO,
    });
    api.fp
        .add_toxic("h", ToxicSpec::new(hour, Stream::Downstream).named("slow"))
        .await
        .unwrap();
    sock.write_all(b"held").await.unwrap();
    // The echo's answer is now inside the latency stage; wait until it is there.
    let mut buf = [0u8; 4];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), sock.read_exact(&mut buf))
            .await
            .is_err()
    );
    api.fp.remove_toxic("h", "slow").await.unwrap();
    tokio::time::timeout(WAIT, sock.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"held");

    let hold = Toxic::Timeout(Timeout { timeout: None });
    api.fp
        .add_toxic("h", ToxicSpec::new(hold, Stream::Upstream))
        .await
        .unwrap();
    sock.write_all(b"swallowed").await.unwrap();
    api.fp
        .update_toxic(
            "h",
            "timeout_upstream",
            ToxicPatch {
                toxicity: Some(1.0),
                toxic: None,
            },
        )
        .await
        .unwrap();
    api.fp.remove_toxic("h", "timeout_upstream").await.unwrap();
    let (data, _) = read_all(&mut sock).await;
    assert!(data.is_empty(), "closed without the swallowed bytes");
}

#[tokio::test]
async fn same_seed_same_toxicity_pattern() {
    // Which of 16 sequential connections get a toxicity-0.5 limit_data(0).
    async fn pattern(seed: u64) -> Vec<bool> {
        let api = spawn_api(seed).await;
        let echo = spawn_echo().await;
        api.fp
            .create_proxy(ProxySpec::new("s", "127.0.0.1:0", echo.addr.to_string()))
            .await
            .unwrap();
        let spec = ToxicSpec::new(Toxic::LimitData(LimitData { bytes: 0 }), Stream::Downstream)
            .with_toxicity(0.5);
        api.fp.add_toxic("s", spec).await.unwrap();
        let addr = api.fp.listen_addr("s").await.unwrap();
        let mut out = Vec::new();
        for _ in 0..16 {
            let mut sock = connect(addr).await.unwrap();
            sock.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            let ok = tokio::time::timeout(WAIT, sock.read_exact(&mut buf))
                .await
                .unwrap()
                .is_ok();
            out.push(!ok);
        }
        out
    }
    let a = pattern(42).await;
    assert_eq!(a, pattern(42).await);
    assert!(a.contains(&true) && a.contains(&false), "{a:?}");
}
