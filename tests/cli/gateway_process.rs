//! `ninefold gateway` as a real child process, where what the kernel does to it matters:
//! a stderr pipe nobody reads (the access log must not freeze the gateway), and its
//! resident memory under stalled uploads (bodies are not read before the token is checked).
//! Traffic goes only to loopback and is bounded; every wait has a generous deadline, so a
//! frozen gateway fails the test instead of hanging it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use ninefold::topology::ready::ReadyLine;
use ninefold_http1::{self as h1, BodyDecoder, Decoded};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStderr, Command};

const BIN: &str = env!("CARGO_BIN_EXE_ninefold");
const SECRET: &str = "gateway-process-test-secret";

/// A file removed on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A gateway child process, killed on drop. `stderr` keeps the read end of its stderr
/// pipe open (and unread, unless a test reads it) for as long as the child lives.
struct Gateway {
    child: Child,
    stderr: Option<ChildStderr>,
    ready: ReadyLine,
    _config: TempFile,
}

impl Gateway {
    /// Starts `ninefold gateway` on a file routing `/items` to `backend`, with HS256
    /// auth and tenant `acme`; `stderr_pipe`: stderr is a pipe that is never read.
    async fn start(backend: SocketAddr, stderr_pipe: bool, extra: &[&str]) -> Gateway {
        let path = std::env::temp_dir().join(format!(
            "nf-gateway-process-{}-{}.toml",
            std::process::id(),
            backend.port()
        ));
        std::fs::write(
            &path,
            format!(
                "[gateway.auth]\nalgorithm = \"HS256\"\nsecret = \"{SECRET}\"\n\
                 [[gateway.routes]]\npath = \"/items\"\nupstream = \"api\"\n\
                 [upstreams.api]\ntargets = [\"{backend}\"]\n\
                 [[tenants]]\nid = \"acme\"\nplan = {{ rate = 1000000, burst = 1000000 }}\n"
            ),
        )
        .unwrap();
        let config = TempFile(path);
        let mut child = Command::new(BIN)
            .arg("gateway")
            .arg("--config")
            .arg(&config.0)
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .args(["--threads", "2"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(if stderr_pipe {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true)
            .spawn()
            .expect("spawn ninefold gateway");
        let stderr = child.stderr.take();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read child stdout") {
                if let Some(ready) = ReadyLine::parse(&line) {
                    return ready;
                }
            }
            panic!("gateway exited before its ready line");
        })
        .await
        .expect("no ready line within 60s");
        Gateway {
            child,
            stderr,
            ready,
            _config: config,
        }
    }

    /// `/metrics` from the admin listener.
    async fn metrics(&self) -> String {
        let admin = self.ready.admin.expect("admin address");
        let mut c = Conn::connect(admin).await;
        let (status, body) = c.get("/metrics", None).await.expect("a /metrics answer");
        assert_eq!(status, 200);
        String::from_utf8(body).unwrap()
    }

    /// The child's resident memory (`VmRSS`), bytes.
    fn rss(&self) -> u64 {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status");
        kb * 1024
    }
}

/// One keep-alive client connection.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> Conn {
        Conn {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: BytesMut::with_capacity(4096),
        }
    }

    /// GET `path`; the status and body, `None` when the connection ended first.
    async fn get(&mut self, path: &str, token: Option<&str>) -> Option<(u16, Vec<u8>)> {
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let req = format!("GET {path} HTTP/1.1\r\nHost: gw\r\n{auth}\r\n");
        self.stream.write_all(req.as_bytes()).await.ok()?;
        let head = loop {
            if let Some(head) = h1::parse_head(&self.buf).expect("a valid answer") {
                break head;
            }
            if self.stream.read_buf(&mut self.buf).await.ok()? == 0 {
                return None;
            }
        };
        let _ = self.buf.split_to(head.len);
        let mut decoder = BodyDecoder::new(head.framing_for(false));
        let mut body = Vec::new();
        loop {
            match decoder.decode(&mut self.buf).expect("a valid body") {
                Decoded::Data(n) => body.extend_from_slice(&self.buf.split_to(n)),
                Decoded::Done => return Some((head.status, body)),
                Decoded::NeedMore => {
                    if self.stream.read_buf(&mut self.buf).await.ok()? == 0 {
                        return None;
                    }
                }
            }
        }
    }
}

/// An HTTP/1.1 upstream that answers every request `200 ok` (keep-alive), until dropped.
struct Upstream {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = BytesMut::with_capacity(4096);
                loop {
                    // Requests without bodies: each ends at its blank line.
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let _ = buf.split_to(end + 4);
                        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if s.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                    if !matches!(s.read_buf(&mut buf).await, Ok(n) if n > 0) {
                        return;
                    }
                }
            });
        }
    });
    Upstream { addr, task }
}

fn token(tenant: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({ "tenant_id": tenant, "exp": exp }),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// A counter's value in Prometheus text, `None` when absent.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_log_reader_does_not_freeze_the_gateway() {
    const REQUESTS: usize = 50_000;
    const CLIENTS: usize = 4;
    let up = upstream().await;
    let gw = Gateway::start(up.addr, true, &["--access-log", "stderr"]).await;
    let addr = gw.ready.addr;
    let token: Arc<str> = token("acme").into();
    // A 64 KiB pipe holds a few hundred access-log lines; nobody reads it, so a gateway
    // that writes its log synchronously freezes long before the end.
    let served = tokio::time::timeout(Duration::from_secs(300), async {
        let clients = (0..CLIENTS).map(|c| {
            let token = token.clone();
            tokio::spawn(async move {
                let mut conn = Conn::connect(addr).await;
                let mut ok = 0;
                for i in 0..REQUESTS / CLIENTS {
                    let path = format!("/items/{c}-{i}");
                    match conn.get(&path, Some(&token)).await {
                        Some((200, _)) => ok += 1,
                        Some((status, body)) => {
                            panic!("{path}: {status} {}", String::from_utf8_lossy(&body))
                        }
                        None => panic!("{path}: connection closed"),
                    }
                }
                ok
            })
        });
        let mut served = 0;
        for c in futures::future::join_all(clients).await {
            served += c.unwrap();
        }
        served
    })
    .await
    .expect("the gateway froze: 50,000 requests not served within 300 s with stderr unread");
    assert_eq!(served, REQUESTS);
    let metrics = gw.metrics().await;
    let dropped = metric(&metrics, "gateway_log_lines_dropped_total")
        .expect("gateway_log_lines_dropped_total in /metrics");
    eprintln!("served {served} requests with stderr unread; {dropped} log lines dropped");
    assert!(dropped > 0, "no log line dropped with stderr unread");
    // At most every request's line was dropped (the pipe took a few).
    assert!(dropped <= REQUESTS as u64, "{dropped}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_unauthenticated_uploads_keep_the_gateways_memory_near_idle() {
    const CLIENTS: usize = 300;
    const BODY: usize = 1024 * 1024;
    const MIB: u64 = 1024 * 1024;
    let up = upstream().await;
    let gw = Gateway::start(up.addr, false, &["--access-log", "off"]).await;
    let addr = gw.ready.addr;
    let mut warm = Conn::connect(addr).await;
    assert_eq!(
        warm.get("/items/1", Some(&token("acme")))
            .await
            .map(|a| a.0),
        Some(200)
    );
    let idle = gw.rss();
    // Each client announces 1 MiB without a token, sends all of it but the last byte,
    // and stalls; the gateway that buffered bodies before checking the token held them all.
    let head = format!("POST /items/1 HTTP/1.1\r\nHost: gw\r\nContent-Length: {BODY}\r\n\r\n");
    let body: Arc<[u8]> = vec![b'x'; BODY - 1].into();
    let clients = (0..CLIENTS).map(|_| {
        let head = head.clone();
        let body = body.clone();
        tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let sent = async {
                s.write_all(head.as_bytes()).await?;
                s.write_all(&body).await
            };
            // A refused upload is closed by the gateway: the rest of the body may not go.
            let _ = tokio::time::timeout(Duration::from_secs(60), sent).await;
            s
        })
    });
    let stalled: Vec<TcpStream> = futures::future::join_all(clients)
        .await
        .into_iter()
        .map(|c| c.unwrap())
        .collect();
    let loaded = gw.rss();
    drop(stalled);
    let grew = loaded.saturating_sub(idle);
    eprintln!(
        "gateway RSS idle {} MiB, with {CLIENTS} stalled uploads {} MiB",
        idle / MIB,
        loaded / MIB
    );
    assert!(
        grew < 50 * MIB,
        "RSS grew by {} MiB with {CLIENTS} stalled unauthenticated 1 MiB uploads",
        grew / MIB
    );
}

#[tokio::test]
async fn an_access_log_file_gets_the_access_lines_and_stderr_none() {
    let up = upstream().await;
    let log = TempFile(std::env::temp_dir().join(format!(
        "nf-gateway-process-{}-{}.log",
        std::process::id(),
        up.addr.port()
    )));
    let dest = log.0.to_str().unwrap().to_string();
    let mut gw = Gateway::start(up.addr, true, &["--access-log", &dest]).await;
    let mut c = Conn::connect(gw.ready.addr).await;
    let token = token("acme");
    for i in 0..3 {
        let path = format!("/items/{i}");
        assert_eq!(c.get(&path, Some(&token)).await.map(|a| a.0), Some(200));
    }
    assert_eq!(
        c.get("/nowhere", Some(&token)).await.map(|a| a.0),
        Some(404)
    );
    // SIGTERM drains and flushes the log writers before the process exits.
    let pid = gw.child.id().expect("running") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(60), gw.child.wait())
        .await
        .expect("the gateway did not exit within 60 s of SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit}");
    let mut stderr = String::new();
    gw.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log.0)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let statuses: Vec<u64> = lines
        .iter()
        .map(|l| {
            assert_eq!(l["target"], "access", "{l}");
            l["fields"]["status"].as_u64().expect("a status")
        })
        .collect();
    assert_eq!(statuses, [200, 200, 200, 404]);
    assert!(
        !stderr.contains("\"access\""),
        "access lines on stderr: {stderr}"
    );
}
