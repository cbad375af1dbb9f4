//! Helpers shared by the integration tests: temporary stores, running
//! instances on 127.0.0.1:0 that stop on drop, and a throwaway `redis-server`.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mock_backends::{Backend, Config, StoreSpec};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nf-mock-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    /// A SQLite store inside the directory.
    pub fn sqlite(&self) -> StoreSpec {
        StoreSpec::Sqlite(self.0.join("store.db"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A backend serving on 127.0.0.1:0 (API and admin); stopped on drop.
pub struct Running {
    pub backend: Backend,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// Cancel and wait for the serve loop to return (bounded).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("backend did not stop within 10s")
                .expect("serve task panicked");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Open the store and serve. The listeners are bound before this returns, so
/// the instance accepts connections at once: no waiting needed.
pub async fn spawn(config: Config) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let admin_addr = admin.local_addr().unwrap();
    let backend = Backend::open(config).await.expect("backend opens");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(
        backend
            .clone()
            .serve(listener, Some(admin), shutdown.clone()),
    );
    Running {
        backend,
        addr,
        admin: admin_addr,
        shutdown,
        task: Some(task),
    }
}

/// A client with bounded waits.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A `redis-server` on a free loopback port, killed on drop.
pub struct RedisServer {
    pub url: String,
    pub child: Child,
}

impl RedisServer {
    /// Start one; `None` (test skipped) only when `NINEFOLD_SKIP_REDIS=1` and
    /// `redis-server` is missing. Otherwise a missing binary fails the test.
    pub async fn start() -> Option<Self> {
        let present = std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !present {
            if std::env::var("NINEFOLD_SKIP_REDIS").as_deref() == Ok("1") {
                eprintln!(
                    "redis-server not on PATH and NINEFOLD_SKIP_REDIS=1: skipping the Redis test"
                );
                return None;
            }
            panic!(
                "redis-server is not on PATH: install it (Debian: apt-get install -y redis-server) \
                 or set NINEFOLD_SKIP_REDIS=1 to skip the Redis store tests"
            );
        }
        // Redis needs a concrete port: take a free one from the kernel, release it,
        // and retry if another process grabs it first.
        for _ in 0..5 {
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().port()
            };
            let mut child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("spawn redis-server");
            let stdout = child.stdout.take().unwrap();
            let mut lines = BufReader::new(stdout).lines();
            let ready = tokio::time::timeout(Duration::from_secs(10), async {
                while let Ok(Some(line)) = lines.next_line().await {
                    if line.contains("Ready to accept connections") {
                        return true;
                    }
                }
                false
            })
            .await
            .unwrap_or(false);
            if ready {
                // Keep draining its log so redis never blocks on a full pipe.
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                return Some(Self {
                    url: format!("redis://127.0.0.1:{port}/0"),
                    child,
                });
            }
            let _ = child.kill().await;
        }
        panic!("redis-server did not become ready on any of 5 free ports");
    }
}
