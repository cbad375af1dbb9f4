//! The binary at the edges where its exit code used to lie (issue 18):
//! `attack` against a closed port and against a server that only fails (cases 7
//! and 13), `compare --threshold 10` (case 8), and a closed stdout (case 15).
//!
//! Servers bind 127.0.0.1:0 in the test and answer in plain threads; each attack
//! is bounded by `-n`, so nothing waits on a clock.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_ninefold");

pub(crate) fn ninefold(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("ninefold runs")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A port nothing listens on: bind one, then let it go.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// An HTTP/1.1 server on 127.0.0.1:0 whose `n`th answer (from 0, over all
/// connections) is `answer(n)`: (status, body). Its threads end with the test process.
pub(crate) fn server(answer: impl Fn(u64) -> (u16, &'static str) + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = Arc::new(answer);
    let count = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (answer, count) = (Arc::clone(&answer), Arc::clone(&count));
            std::thread::spawn(move || serve(stream, &*answer, &count));
        }
    });
    port
}

fn serve(stream: TcpStream, answer: &dyn Fn(u64) -> (u16, &'static str), count: &AtomicU64) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        // Bodiless requests (GET): the head ends at the first empty line.
        let mut length = 0usize;
        let mut line = String::new();
        let mut saw_any = false;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" && saw_any {
                break;
            }
            saw_any = true;
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, text) = answer(count.fetch_add(1, Ordering::SeqCst));
        let reply = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\ncontent-type: application/json\r\n\r\n{text}",
            text.len()
        );
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)))
}

#[test]
fn attack_against_a_closed_port_exits_3_and_prints_no_latency() {
    let url = format!("http://127.0.0.1:{}/items/1", closed_port());
    let out = ninefold(&["attack", &url, "-n", "20", "-c", "2", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let v = json(&out);
    assert_eq!(v["answered"], 0);
    assert_eq!(v["outcomes"]["connect_error"], 20);
    assert_eq!(v["verdict"], "unreachable");
    for figure in ["latency_ms", "service_time_ms", "dispatch_lag_ms"] {
        assert!(v[figure].is_null(), "{figure}: {}", v[figure]);
    }
    assert!(
        text(&out.stderr).contains("could not be reached"),
        "{}",
        text(&out.stderr)
    );
    let out = ninefold(&["attack", &url, "-n", "20", "-c", "2"]);
    assert_eq!(out.status.code(), Some(3));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("p50 —"), "{stdout}");
    assert!(!stdout.contains("0.000ms"), "{stdout}");
}

#[test]
fn attack_at_100_percent_errors_exits_1_with_a_breakdown_and_an_example_body() {
    let port = server(|_| (500, r#"{"error":"database on fire"}"#));
    let url = format!("http://127.0.0.1:{port}/orders/7");
    let out = ninefold(&["attack", &url, "-n", "30", "-c", "3", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v = json(&out);
    assert_eq!(v["answered"], 30);
    assert_eq!(v["error_rate"], 1.0);
    assert_eq!(v["verdict"], "errors");
    assert!(v["latency_ms"]["p50"].is_number(), "answers were measured");
    // The breakdown has the shape of a run's summary.json: classes, then rows.
    let classes = v["breakdown"].as_array().unwrap();
    assert_eq!(classes.len(), 1, "{classes:?}");
    assert_eq!(classes[0]["method"], "GET");
    assert_eq!(classes[0]["path"], "/orders/7");
    assert_eq!(
        (classes[0]["sent"].as_u64(), classes[0]["bad"].as_u64()),
        (Some(30), Some(30))
    );
    let rows = classes[0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], 500);
    assert_eq!(rows[0]["outcome"], "server_error");
    assert_eq!(rows[0]["count"], 30);
    assert_eq!(rows[0]["example_body"], r#"{"error":"database on fire"}"#);
    let out = ninefold(&["attack", &url, "-n", "30", "-c", "3"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("500  server_error") && stdout.contains("database on fire"),
        "{stdout}"
    );
    assert!(stdout.contains("FAIL:"), "{stdout}");
    // Everything may fail: then the gate passes.
    let out = ninefold(&[
        "attack",
        &url,
        "-n",
        "10",
        "-c",
        "1",
        "--max-error-rate",
        "100%",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn attack_max_error_rate_gates_on_the_share_of_bad_outcomes() {
    // Every other answer fails: 20 of 40 requests, a share of exactly 0.5.
    let port = server(|n| {
        if n % 2 == 1 {
            (503, "busy")
        } else {
            (200, "ok")
        }
    });
    let url = format!("http://127.0.0.1:{port}/");
    let run = |rate: &str| {
        let out = ninefold(&[
            "attack",
            &url,
            "-n",
            "40",
            "-c",
            "1",
            "--json",
            "--max-error-rate",
            rate,
        ]);
        (out.status.code(), json(&out))
    };
    let (code, v) = run("60%");
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["error_rate"], 0.5);
    assert_eq!(v["max_error_rate"], 0.6);
    let statuses: Vec<_> = v["breakdown"][0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["status"].as_u64(),
                r["count"].as_u64(),
                r["example_body"].clone(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (Some(503), Some(20), "busy".into()),
            (Some(200), Some(20), serde_json::Value::Null),
        ]
    );
    assert_eq!(run("0.4").0, Some(1));
    // The default allows no error at all.
    let out = ninefold(&["attack", &url, "-n", "4", "-c", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    // A bare number above 1 is ambiguous, as for compare.
    let out = ninefold(&["attack", &url, "-n", "4", "--max-error-rate", "5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--max-error-rate"));
}

#[test]
fn compare_threshold_10_is_refused_not_read_as_1000_percent() {
    let dir = std::env::temp_dir();
    let dir = dir.to_str().unwrap();
    let out = ninefold(&["compare", dir, dir, "--threshold", "10"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--threshold") && stderr.contains("`10%`") && stderr.contains("0.1"),
        "{stderr}"
    );
}

/// Run `args` with stdout a pipe whose reader is already closed.
fn into_closed_pipe(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn closed_pipe_exits_quietly_with_141() {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/chaos.toml");
    for args in [
        &["schema"][..],
        &["schema", "--gateway"],
        &["run", scenario, "--dry-run"],
        &["attack", "http://127.0.0.1:1/", "-n", "1", "-c", "1"],
    ] {
        let out = into_closed_pipe(args);
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
    }
}

/// Case 2 for `attack`: SIGINT or SIGTERM stops it with what was measured and
/// exit 6 (verdict withheld), never 0. The signal goes once the server has
/// answered five requests; `--duration 60s` bounds a run that ignored it.
#[test]
fn an_interrupted_attack_exits_6_with_its_verdict_withheld() {
    for signal in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGTERM,
    ] {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let tx = std::sync::Mutex::new(tx);
        let port = server(move |n| {
            if n == 5 {
                let _ = tx.lock().unwrap().try_send(());
            }
            (200, "{}")
        });
        let url = format!("http://127.0.0.1:{port}/items/1");
        let child = Command::new(BIN)
            .args([
                "attack",
                &url,
                "--rate",
                "50",
                "-c",
                "2",
                "--duration",
                "60s",
                "--json",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        rx.recv_timeout(std::time::Duration::from_secs(60))
            .expect("the attack reached the server");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(6),
            "{signal}: {}",
            text(&out.stderr)
        );
        let v = json(&out);
        assert_eq!(v["verdict"], "interrupted", "{signal}");
        assert!(v["answered"].as_u64().unwrap() >= 5, "{signal}: {v}");
    }
}
