//! `ninefold backend` as a real child process: readiness, durability across a
//! SIGKILL, graceful drain on SIGTERM, exit codes for bad input.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use ninefold::topology::ready::ReadyLine;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_ninefold");

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nf-backend-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A backend child process, killed on drop.
struct Backend {
    child: Child,
    ready: ReadyLine,
}

impl Backend {
    /// Start `ninefold backend` and wait (bounded) for its ready line.
    async fn start(store: &Path, instance: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(["backend", "--instance", instance, "--seed", "1", "--store"])
            .arg(store)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn ninefold backend");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read child stdout") {
                if let Some(ready) = ReadyLine::parse(&line) {
                    return ready;
                }
            }
            panic!("backend exited before its ready line");
        })
        .await
        .expect("no ready line within 60s");
        assert_eq!(ready.role, "backend");
        assert_eq!(ready.instance.as_deref(), Some(instance));
        Self { child, ready }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.ready.addr)
    }

    fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.ready.admin.expect("admin address"))
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// One acknowledged write: which kind, and what must be found afterwards.
#[derive(Debug)]
enum Acked {
    Order { key: String, order_id: String },
    Item { id: u32 },
}

// Long: one kill-during-writes experiment read top to bottom: write, kill, restart, read back, compare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_writes_loses_no_acknowledged_write() {
    let dir = TempDir::new("sigkill");
    let store = dir.0.join("store.db");
    let mut victim = Backend::start(&store, "victim", &[]).await;
    let http = client();

    // 1,000 writes, 16 at a time: orders with unique keys and item overwrites.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Acked>(64);
    let writer = tokio::spawn({
        let http = http.clone();
        let orders = victim.url("/orders");
        let items = victim.url("/items");
        async move {
            futures::stream::iter(0..1000u32)
                .for_each_concurrent(16, |i| {
                    let (http, tx, orders, items) =
                        (http.clone(), tx.clone(), orders.clone(), items.clone());
                    async move {
                        let acked = if i % 2 == 0 {
                            let key = format!("k-{i}");
                            let resp = http
                                .post(&orders)
                                .header("idempotency-key", &key)
                                .json(&json!({"sku": i}))
                                .send();
                            match resp.await {
                                Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                                    Ok(v) => Some(Acked::Order {
                                        key,
                                        order_id: v["id"].as_str().unwrap().to_owned(),
                                    }),
                                    Err(_) => None,
                                },
                                _ => None,
                            }
                        } else {
                            let resp = http
                                .put(format!("{items}/{i}"))
                                .json(&json!({"v": i}))
                                .send()
                                .await;
                            matches!(resp, Ok(r) if r.status().is_success())
                                .then_some(Acked::Item { id: i })
                        };
                        if let Some(a) = acked {
                            let _ = tx.send(a).await;
                        }
                    }
                })
                .await;
        }
    });

    let mut acked = Vec::new();
    let collect = async {
        while let Some(a) = rx.recv().await {
            acked.push(a);
            if acked.len() == 500 {
                // Mid-stream: hundreds of writes are in flight or still to come.
                victim.child.start_kill().expect("SIGKILL the backend");
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), collect)
        .await
        .expect("writes finish within 120s");
    writer.await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), victim.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        !status.success(),
        "the victim was killed, not stopped: {status:?}"
    );
    assert!(
        acked.len() >= 500 && acked.len() < 1000,
        "kill landed mid-stream: {} acknowledged",
        acked.len()
    );

    // A new instance opens the same store: every acknowledged write is there.
    let survivor = Backend::start(&store, "survivor", &[]).await;
    let export: Value = http
        .get(survivor.admin_url("/admin/orders"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: std::collections::HashMap<String, (String, u64)> = export["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let key = o["idempotency_key"].as_str().unwrap().to_owned();
            (
                key,
                (
                    o["order_id"].as_str().unwrap().to_owned(),
                    o["applied"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    let mut checked = (0, 0);
    for a in &acked {
        match a {
            Acked::Order { key, order_id } => {
                assert_eq!(
                    stored.get(key),
                    Some(&(order_id.clone(), 1)),
                    "acknowledged order {key} lost"
                );
                checked.0 += 1;
            }
            Acked::Item { id } => {
                let v: Value = http
                    .get(survivor.url(&format!("/items/{id}")))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(v, json!({"v": id}), "acknowledged item {id} lost");
                checked.1 += 1;
            }
        }
    }
    assert!(checked.0 > 0 && checked.1 > 0, "{checked:?}");
    // The library reads the same store back without any instance.
    let direct = mock_backends::export_orders(&mock_backends::StoreSpec::Sqlite(store.clone()))
        .await
        .unwrap();
    assert_eq!(direct.len(), stored.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_request_in_flight_and_exits_zero() {
    let dir = TempDir::new("sigterm");
    let config = dir.0.join("slow.toml");
    std::fs::write(
        &config,
        "payload_bytes = 200\nslow_body = { chunk_bytes = 20, interval = \"50ms\" }\n",
    )
    .unwrap();
    let mut backend = Backend::start(
        &dir.0.join("store.db"),
        "drainer",
        &["--config", config.to_str().unwrap()],
    )
    .await;
    let http = client();
    // Headers arrived: the request is in flight, its body still trickling.
    let resp = http.get(backend.url("/items/5")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let pid = backend.child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let body: Value = resp.json().await.expect("the in-flight body completes");
    assert_eq!(body["payload"].as_str().unwrap().len(), 200);
    let status = tokio::time::timeout(Duration::from_secs(15), backend.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn unusable_store_or_flags_exit_2_with_a_message() {
    let dir = TempDir::new("bad");
    let bad_config = dir.0.join("bad.toml");
    std::fs::write(&bad_config, "errors = { rate = 3.0 }\n").unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--store", "/nonexistent/dir/store.db"], "unable to open"),
        (
            &["--store", "x.db", "--admin-listen", "0.0.0.0:0"],
            "loopback",
        ),
        (
            &["--store", "x.db", "--config", bad_config.to_str().unwrap()],
            "errors.rate",
        ),
        (
            &["--store", "x.db", "--listen", "not-an-address"],
            "invalid value",
        ),
    ];
    for (args, needle) in cases {
        let out = tokio::time::timeout(
            Duration::from_secs(30),
            Command::new(BIN)
                .arg("backend")
                .args(args)
                .current_dir(&dir.0)
                .output(),
        )
        .await
        .unwrap()
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "no ready line on failure");
    }
}
