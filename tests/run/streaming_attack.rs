//! `ninefold attack` streaming its metrics: `--metrics-listen` scraped during
//! and after the attack, `--prometheus-rw` into a real Prometheus (skipped,
//! saying so, without one), and the bad input. Every streamed count must equal
//! what the attack's own `--json` says, by outcome.
//!
//! The target is a plain-thread HTTP/1.1 server on 127.0.0.1:0 whose every
//! fourth answer is a 503, so two outcomes (`ok`, `server_error`) are counted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::streaming::{metrics_addr, scrape_until_finished, sum_of};
use crate::streaming_support::{Prometheus, free_port};
use crate::support;

/// An HTTP/1.1 server on 127.0.0.1:0 answering its `n`th request (from 0,
/// over all connections) with `status(n)`, and its count of requests. Its
/// threads end with the test process.
fn counted(status: fn(u64) -> u16) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let requests = Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let count = Arc::clone(&count);
            std::thread::spawn(move || serve(stream, status, &count));
        }
    });
    (addr, requests)
}

fn server(status: fn(u64) -> u16) -> SocketAddr {
    counted(status).0
}

fn serve(stream: TcpStream, status: fn(u64) -> u16, count: &AtomicU64) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let (mut length, mut line) = (0usize, String::new());
        loop {
            line.clear();
            if !matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let s = status(count.fetch_add(1, Ordering::SeqCst));
        let reply = format!("HTTP/1.1 {s} X\r\ncontent-length: 2\r\n\r\nok");
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// Every fourth answer a 503.
fn mostly_ok(n: u64) -> u16 {
    if n % 4 == 3 { 503 } else { 200 }
}

/// `ninefold attack --json` of `target` for 2 s at 100 req/s (up to half
/// may fail for exit 0), with `extra` flags, in the background.
fn spawn(target: SocketAddr, extra: &[&str]) -> Child {
    Command::new(support::BIN)
        .arg("attack")
        .arg(format!("http://{target}/items/{{seq}}"))
        .args(["-r", "100", "-d", "2s", "-c", "4", "--json"])
        .args(["--max-error-rate", "50%"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Read a pipe to its end in a thread (the child never blocks on it).
fn drain(pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || BufReader::new(pipe).lines().map_while(Result::ok).collect())
}

/// Wait for the attack with a deadline (then kill it); its exit code and stderr.
fn wait(child: Child, stderr: std::thread::JoinHandle<Vec<String>>) -> (i32, String) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let mut child = child;
    std::thread::spawn(move || {
        let _ = tx.send(child.wait().map(|s| s.code().unwrap_or(-1)));
    });
    let Ok(Ok(code)) = rx.recv_timeout(std::time::Duration::from_secs(120)) else {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        panic!("the attack did not end in 120 s");
    };
    (code, stderr.join().unwrap().join("\n"))
}

/// Wait for the attack (deadline): exit code, its `--json`, its stderr.
fn finish(
    child: Child,
    stdout: std::thread::JoinHandle<Vec<String>>,
    stderr: std::thread::JoinHandle<Vec<String>>,
) -> (i32, serde_json::Value, String) {
    let (code, stderr) = wait(child, stderr);
    let stdout = stdout.join().unwrap().join("\n");
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    (code, json, stderr)
}

/// The `--json` outcome counts that are not 0, and their sum.
fn outcomes(json: &serde_json::Value) -> (Vec<(String, u64)>, u64) {
    let all: Vec<(String, u64)> = json["outcomes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    let total = all.iter().map(|(_, n)| n).sum();
    (all, total)
}

// Long: one attack scraped during and after, then its counts and labels compared with its --json.
#[test]
fn attack_metrics_listen_scraped_after_the_attack_equals_its_json() {
    let target = server(mostly_ok);
    let mut child = spawn(
        target,
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--metrics-linger",
            "60s",
            "--run-id",
            "scrape-attack",
        ],
    );
    let stdout = drain(child.stdout.take().unwrap());
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // Readiness: the line that names the endpoint's address, as `run` prints it.
    let addr: SocketAddr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| metrics_addr(&l))
        .expect("the attack names its metrics address");
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let (during, last) = scrape_until_finished(addr);
    assert!(during, "a scrape during the attack saw counts growing");
    let (code, json, stderr) = finish(child, stdout, rest);
    assert_eq!(code, 0, "{stderr}");
    let (want, total) = outcomes(&json);
    assert_eq!(json["requests"].as_u64(), Some(total));
    // 2 s at 100 req/s; a generous floor for a busy machine.
    assert!(total > 100, "the attack sent {total}");
    assert_eq!(sum_of(&last, "ninefold_requests_total", &[]), total as f64);
    for (outcome, n) in &want {
        assert_eq!(
            sum_of(&last, "ninefold_requests_total", &[("outcome", outcome)]),
            *n as f64,
            "outcome {outcome}"
        );
    }
    // Both outcomes happened: every fourth answer of the target was a 503.
    let errors = json["outcomes"]["server_error"].as_u64().unwrap();
    assert!(errors > 0 && errors < total, "{errors} of {total}");
    // Attack's labels, as docs/streaming.md lists them.
    let attack = [
        ("run", "scrape-attack"),
        ("scenario", "attack"),
        ("phase", "attack"),
        ("class", "0"),
        ("request", "GET /items/{seq}"),
    ];
    assert_eq!(
        sum_of(&last, "ninefold_requests_total", &attack),
        total as f64
    );
    let requests: Vec<_> = last
        .iter()
        .filter(|(n, _, _)| n == "ninefold_requests_total")
        .collect();
    assert!(
        requests
            .iter()
            .all(|(_, l, _)| l.iter().all(|(k, _)| k != "tenant" && k != "shard")),
        "no tenant, no shard: {requests:?}"
    );
    let answered = json["answered"].as_u64().unwrap();
    let inf = sum_of(
        &last,
        "ninefold_latency_seconds_bucket",
        &[("phase", "attack"), ("le", "+Inf")],
    );
    assert!(inf <= answered as f64 && inf > 0.0, "{inf} vs {answered}");
}

#[test]
fn attack_remote_write_into_prometheus_equals_its_json() {
    let d = support::dir("streaming", "attack-rw");
    let Some(prom) = Prometheus::start(&d) else {
        eprintln!("skipped: prometheus is not installed (Debian: apt-get install prometheus)");
        return;
    };
    let url = format!("http://{}/api/v1/write", prom.addr);
    let target = server(mostly_ok);
    let mut child = spawn(target, &["--prometheus-rw", &url, "--run-id", "rw-attack"]);
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let (code, json, stderr) = finish(child, stdout, stderr);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("ninefold: Prometheus remote-write to "),
        "{stderr}"
    );
    assert!(
        !stderr.contains("remote-write:"),
        "a push failed:\n{stderr}"
    );
    let run = "run=\"rw-attack\",scenario=\"attack\"";
    let one = |q: &str| -> f64 {
        let r = prom.query(q);
        assert_eq!(r.len(), 1, "{q}: {r:?}");
        r[0].1
    };
    assert_eq!(one(&format!("ninefold_finished{{{run}}}")), 1.0);
    let (want, total) = outcomes(&json);
    assert!(total > 100, "the attack sent {total}");
    assert_eq!(
        one(&format!(
            "sum(ninefold_requests_total{{{run},phase=\"attack\"}})"
        )),
        total as f64
    );
    for (outcome, n) in &want {
        let got = prom.query(&format!(
            "sum(ninefold_requests_total{{{run},outcome=\"{outcome}\"}})"
        ));
        assert_eq!(got.first().map_or(0.0, |r| r.1), *n as f64, "{outcome}");
    }
    assert!(json["outcomes"]["server_error"].as_u64().unwrap() > 0);
    // The one request class, by its method and path.
    assert_eq!(
        one(&format!(
            "sum(ninefold_requests_total{{{run},class=\"0\",request=\"GET /items/{{seq}}\"}})"
        )),
        total as f64
    );
}

// Long: a receiver that is down, one that refuses, and four bad flags, each its own attack.
#[test]
fn attack_with_a_failing_receiver_keeps_its_verdict_and_bad_flags_are_bad_input() {
    let target = server(mostly_ok);
    // Nobody listens on a port released a moment ago; the other refuses every write.
    let down = format!("http://127.0.0.1:{}/api/v1/write", free_port());
    let refusing = format!("http://{}/api/v1/write", server(|_| 400));
    for (url, says) in [
        (down, "warning: Prometheus remote-write: 0 pushes accepted"),
        (refusing, "pushes dropped"),
    ] {
        let mut child = spawn(target, &["--prometheus-rw", &url]);
        let stdout = drain(child.stdout.take().unwrap());
        let stderr = drain(child.stderr.take().unwrap());
        let (code, json, stderr) = finish(child, stdout, stderr);
        // The verdict is the attack's own (25% errors, 50% allowed): 0.
        assert_eq!(code, 0, "{url}: {stderr}");
        assert_eq!(json["verdict"], "pass", "{url}");
        assert!(stderr.contains(says), "{url}: {stderr}");
        assert!(
            stderr.contains("the run's results are unaffected"),
            "{stderr}"
        );
        if says == "pushes dropped" {
            assert!(
                stderr.contains("0 pushes accepted") && !stderr.contains(" 0 pushes dropped"),
                "{stderr}"
            );
        }
    }
    // A listen address already taken, a URL that is not http(s), an address
    // that is none, a linger without an endpoint: exit 2, saying which flag,
    // before any request is sent.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (quiet, reached) = counted(|_| 200);
    for (flags, says) in [
        (vec!["--metrics-listen", addr.as_str()], "--metrics-listen"),
        (vec!["--prometheus-rw", "ftp://x/y"], "http:// or https://"),
        (vec!["--prometheus-rw", "not a url"], "--prometheus-rw"),
        (
            vec!["--metrics-listen", "not-an-address"],
            "--metrics-listen",
        ),
        (vec!["--metrics-linger", "5s"], "--metrics-listen"),
    ] {
        let mut child = spawn(quiet, &flags);
        let stdout = drain(child.stdout.take().unwrap());
        let stderr = drain(child.stderr.take().unwrap());
        let (code, stderr) = wait(child, stderr);
        assert_eq!(code, 2, "{flags:?}: {stderr}");
        assert!(stderr.contains(says), "{flags:?}: {stderr}");
        assert!(stdout.join().unwrap().is_empty(), "{flags:?}: no summary");
    }
    // Nothing reached the target of the refused attacks.
    assert_eq!(reached.load(Ordering::SeqCst), 0);
}
