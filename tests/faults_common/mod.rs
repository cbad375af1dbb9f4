//! Helpers shared by the fault-proxy tests (`tests/faults/`): servers on
//! 127.0.0.1:0 that stop when dropped, and a raw HTTP/1.1 client that keeps
//! every byte of the answer for byte-for-byte checks.
#![allow(dead_code)]

pub mod toxiproxy_api;

use std::net::SocketAddr;
use std::time::Duration;

use ninefold::faults::{FaultProxyConfig, FaultProxyHandle, api};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

/// The API server on an ephemeral port; stops on drop.
pub struct Api {
    pub addr: SocketAddr,
    pub fp: FaultProxyHandle,
    shutdown: CancellationToken,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn_api(seed: u64) -> Api {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fp = FaultProxyHandle::new(FaultProxyConfig {
        seed,
        ..FaultProxyConfig::default()
    });
    let shutdown = CancellationToken::new();
    tokio::spawn(api::serve(listener, fp.clone(), shutdown.clone()));
    Api { addr, fp, shutdown }
}

/// A TCP echo server; stops on drop.
pub struct Echo {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn_echo() -> Echo {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = tokio::select! {
                () = stop.cancelled() => return,
                r = listener.accept() => r.unwrap(),
            };
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = tokio::select! {
                        () = stop.cancelled() => return,
                        r = sock.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
                    };
                    if sock.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Echo { addr, shutdown }
}

/// An HTTP answer, bytes intact.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection (`Connection: close`), answer read to EOF.
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Raw {
    http_with(addr, method, path, body, "ninefold-test").await
}

pub async fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    user_agent: &str,
) -> Raw {
    let mut sock = tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: {user_agent}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, sock.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    assert!(
        !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding")),
        "bodies are sent with a length"
    );
    Raw {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// The API's error body, as Toxiproxy writes it.
pub fn err(msg: &str, status: u16) -> String {
    format!("{{\"error\":\"{msg}\",\"status\":{status}}}\n")
}

/// A proxy's JSON, as Toxiproxy writes it.
pub fn proxy_json(name: &str, listen: &str, upstream: &str, enabled: bool, toxics: &str) -> String {
    format!(
        r#"{{"name":"{name}","listen":"{listen}","upstream":"{upstream}","enabled":{enabled},"Logger":{{}},"toxics":[{toxics}]}}"#
    )
}
