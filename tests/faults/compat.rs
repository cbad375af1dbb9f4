//! Existing Rust users' client, `toxiproxy_rust` (blocking reqwest 0.11),
//! driving our server unchanged. Plain `#[test]`s: the client blocks, so the
//! server runs on its own runtime thread.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use ninefold::faults::{FaultProxyConfig, FaultProxyHandle, api};
use tokio_util::sync::CancellationToken;
use toxiproxy_rust::client::Client;
use toxiproxy_rust::proxy::ProxyPack;

const WAIT: Duration = Duration::from_secs(10);

/// Our server on a background runtime; stops and joins on drop.
struct Background {
    addr: SocketAddr,
    shutdown: CancellationToken,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    fn start() -> Self {
        let (tx, rx) = mpsc::sync_channel(1);
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let fp = FaultProxyHandle::new(FaultProxyConfig::default());
                api::serve(listener, fp, stop).await.unwrap();
            });
        });
        let addr = rx.recv_timeout(WAIT).expect("server up");
        Self {
            addr,
            shutdown,
            thread: Some(thread),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A blocking echo server for one connection at a time; lives until the test ends.
fn echo() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn round_trip(addr: &str, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(WAIT))?;
    s.write_all(msg)?;
    let mut buf = vec![0u8; msg.len()];
    s.read_exact(&mut buf)?;
    Ok(buf)
}

#[test]
fn toxiproxy_rust_drives_our_server() {
    let server = Background::start();
    let client = Client::new(server.addr);
    assert!(client.is_running());
    assert_eq!(client.version().unwrap(), "{\"version\": \"2.12.0\"}\n");

    let upstream = echo();
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let proxies = client
        .populate(vec![ProxyPack::new(
            "socket".into(),
            free.to_string(),
            upstream.to_string(),
        )])
        .expect("populate");
    assert_eq!(proxies.len(), 1);
    assert_eq!(proxies[0].proxy_pack.listen, free.to_string());
    assert!(proxies[0].proxy_pack.enabled);
    let listen = free.to_string();
    assert_eq!(round_trip(&listen, b"hi").unwrap(), b"hi");

    let proxy = client
        .find_and_reset_proxy("socket")
        .expect("find and reset");
    proxy
        .with_latency("downstream".into(), 10, 2, 1.0)
        .with_bandwidth("upstream".into(), 1000, 1.0)
        .with_slicer("downstream".into(), 64, 8, 10, 1.0)
        .with_limit_data("upstream".into(), 1_000_000, 1.0)
        .with_slow_close("downstream".into(), 1, 1.0)
        .with_timeout("upstream".into(), 60_000, 0.0);
    let toxics = proxy.toxics().expect("toxics list");
    let names: Vec<&str> = toxics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "bandwidth_upstream",
            "limit_data_upstream",
            "timeout_upstream",
            "latency_downstream",
            "slicer_downstream",
            "slow_close_downstream"
        ]
    );
    assert_eq!(toxics[3].attributes["latency"], 10);
    assert_eq!(
        round_trip(&listen, b"through six toxics").unwrap(),
        b"through six toxics"
    );

    let all = client.all().expect("all");
    assert_eq!(all["socket"].proxy_pack.toxics.len(), 6);

    proxy
        .with_down(|| {
            let err = TcpStream::connect(&listen).expect_err("refused while down");
            assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        })
        .expect("down and up");
    assert_eq!(round_trip(&listen, b"up").unwrap(), b"up");

    client.reset().expect("reset");
    assert!(
        client
            .find_proxy("socket")
            .unwrap()
            .toxics()
            .unwrap()
            .is_empty()
    );
    // The client maps errors to Err only on transport failures; a 404 shows as a decode error.
    assert!(client.find_proxy("missing").is_err());
    proxy.delete().expect("delete");
    assert!(client.all().unwrap().is_empty());
}
