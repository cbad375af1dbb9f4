//! The throttle judgement end to end through `ninefold run`: the bundled
//! reference gateway (an exact limiter) in front of a mock backend is never
//! blamed, run after run; a deliberately loose limiter (a tiny server in this
//! test admitting with a bucket refilled at 1.05× the plan's rate) is caught
//! every time. One tenant at twice its plan for a few seconds, on 127.0.0.1,
//! at a rate a busy 2-core machine sustains in a debug build.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::support;

const RATE: f64 = 50.0;
const BURST: f64 = 10.0;

fn dir(name: &str) -> PathBuf {
    support::dir("oracle", name)
}

/// Plan 50 req/s, burst 10; the tenant sends 100 req/s (2x) for `secs` s.
fn scenario(gateway: &str, secs: u32) -> String {
    format!(
        r#"
name = "oracle"
duration = "{secs}s"
seed = 11

[gateway]
{gateway}

[gateway.auth]
algorithm = "HS256"
secret = "oracle-secret"
issuer = "https://auth.example"
audience = "api"
tenant_claim = "tenant_id"

[[tenants]]
id = "acme"
plan = {{ rate = {RATE}, burst = {BURST} }}

[[traffic]]
executor = "constant-arrival-rate"
rate = 100
connections = 8
tenants = {{ acme = 1.0 }}
requests = [{{ path = "/items/{{rand:1..50}}" }}]
expect = [200, 429]
"#
    )
}

/// The `acme` tenant's entry of summary.json after one run of `text`.
fn run(d: &Path, text: &str) -> serde_json::Value {
    let (out, _) = support::run_in(d, text);
    let summary = support::read_json(&out.join("summary.json"));
    let tenants = summary["tenants"].as_array().unwrap();
    tenants
        .iter()
        .find(|t| t["id"] == "acme")
        .unwrap_or_else(|| panic!("no acme in {tenants:?}"))
        .clone()
}

fn count(t: &serde_json::Value, field: &str) -> u64 {
    t[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {t}"))
}

#[test]
fn throttle_oracle_never_blames_the_exact_reference_gateway() {
    let d = dir("exact");
    let text = scenario(
        "instances = 1\n\n[[gateway.routes]]\npath = \"/items\"\nupstream = \"api\"\n\n[upstreams.api]\ninstances = 1",
        3,
    );
    for round in 0..3 {
        let t = run(&d, &text);
        let (offered, admitted) = (count(&t, "offered"), count(&t, "admitted"));
        assert!(offered >= 250, "round {round}: only {offered} sent");
        assert!(admitted < offered, "round {round}: the plan must bite");
        assert_eq!(count(&t, "wrongful_throttles"), 0, "round {round}: {t}");
        assert_eq!(count(&t, "over_admitted"), 0, "round {round}: {t}");
        // The gateway's RateLimit-Remaining and Retry-After are truthful too.
        assert_eq!(t["ratelimit_remaining"]["off_by_more_than_one"], 0, "{t}");
        assert!(count(&t["ratelimit_remaining"], "checked") > 0);
        assert_eq!(t["retry_after"]["off_by_more_than_one"], 0, "{t}");
    }
}

/// A limiter that refills at 1.05x the plan: 200 with a token, else 429. Stops on drop.
struct LooseLimiter {
    addr: String,
    stop: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Drop for LooseLimiter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(&self.addr);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn loose_limiter() -> LooseLimiter {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let bucket = Arc::new(Mutex::new((BURST, Instant::now())));
    let flag = Arc::clone(&stop);
    let accept = std::thread::spawn(move || {
        for conn in listener.incoming() {
            if flag.load(Ordering::SeqCst) {
                return;
            }
            let Ok(conn) = conn else { continue };
            let bucket = Arc::clone(&bucket);
            std::thread::spawn(move || serve(conn, &bucket));
        }
    });
    LooseLimiter {
        addr,
        stop,
        accept: Some(accept),
    }
}

/// Answer GETs on one keep-alive connection until the client closes it.
fn serve(mut conn: TcpStream, bucket: &Mutex<(f64, Instant)>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        buf.drain(..end);
        let (admit, remaining) = {
            let mut b = bucket.lock().unwrap();
            let now = Instant::now();
            b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * RATE * 1.05).min(BURST);
            b.1 = now;
            let admit = b.0 >= 1.0;
            if admit {
                b.0 -= 1.0;
            }
            (admit, b.0.floor())
        };
        let answer = if admit {
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nratelimit-remaining: {remaining}\r\n\r\nok"
            )
        } else {
            "HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\nretry-after: 1\r\nratelimit-remaining: 0\r\n\r\n".to_owned()
        };
        if conn.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn throttle_oracle_catches_a_limiter_that_over_admits_by_5_percent() {
    let d = dir("loose");
    for round in 0..3 {
        let server = loose_limiter();
        let text = scenario(&format!("url = \"http://{}\"", server.addr), 4);
        let t = run(&d, &text);
        drop(server);
        // 5% of 50/s over 4 s: about 10 admissions beyond any exact placement.
        let over = count(&t, "over_admitted");
        eprintln!("round {round}: over-admitted {over} (about 10 expected)");
        assert!(
            (1..=20).contains(&over),
            "round {round}: over-admitted {over}: {t}"
        );
        assert_eq!(count(&t, "wrongful_throttles"), 0, "round {round}: {t}");
    }
}

/// Case 4 of issue 18: once the quota is used up the reference gateway rightly
/// answers `RateLimit-Remaining: 0`; that is the truth (min(bucket, quota)), not a lie.
#[test]
fn ratelimit_remaining_is_truthful_after_the_quota_runs_out() {
    let d = dir("quota");
    let text = scenario(
        "instances = 1\n\n[[gateway.routes]]\npath = \"/items\"\nupstream = \"api\"\n\n[upstreams.api]\ninstances = 1",
        3,
    )
    .replace(
        "plan = { rate = 50, burst = 10 }",
        "plan = { rate = 200, burst = 200, quota = { limit = 100, period = \"1m\" } }",
    );
    assert!(text.contains("limit = 100"), "{text}");
    let t = run(&d, &text);
    // 100 req/s for 3 s against a quota of 100 a minute: about 200 refusals.
    assert_eq!(count(&t, "admitted"), 100, "{t}");
    let remaining = &t["ratelimit_remaining"];
    assert_eq!(count(remaining, "checked"), count(&t, "offered"), "{t}");
    assert_eq!(count(remaining, "off_by_more_than_one"), 0, "{t}");
    assert_eq!(t["retry_after"]["off_by_more_than_one"], 0, "{t}");
    assert_eq!(
        count(&t, "wrongful_throttles") + count(&t, "over_admitted"),
        0
    );
}
