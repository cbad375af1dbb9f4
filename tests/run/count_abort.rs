//! `abort = true` on counts end to end (docs/live.md): a gateway that admits
//! everything over-admits a tenant's plan, and the run stops early on
//! `throttle.over_admitted`, exit 1, with the count it fired on (a lower bound
//! of the final figure); the exact reference gateway under the same load is
//! never stopped; hostile requests that an open gateway lets through to a
//! managed backend stop the run on `auth.hostile_backend_requests`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::support::{self, BIN, read_json, run_code};

/// Plan 10 req/s, burst 5; the tenant sends 60 req/s for `secs` s to `gateway`.
fn throttled(gateway: &str, secs: u32, slo: &str) -> String {
    format!(
        r#"
name = "count-abort"
duration = "{secs}s"
seed = 24

[gateway]
{gateway}

[gateway.auth]
algorithm = "HS256"
secret = "count-abort-secret"
issuer = "https://auth.example"
audience = "api"
tenant_claim = "tenant_id"

[[tenants]]
id = "acme"
plan = {{ rate = 10, burst = 5 }}

[[traffic]]
executor = "constant-arrival-rate"
rate = 60
connections = 4
tenants = {{ acme = 1.0 }}
requests = [{{ path = "/items/{{rand:1..50}}" }}]
expect = [200, 429]

[slo]
{slo}
"#
    )
}

/// A "gateway" that answers 200 to every request, whatever the plan. Stops on drop.
struct AdmitsAll {
    addr: String,
    stop: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Drop for AdmitsAll {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(&self.addr);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn admits_all() -> AdmitsAll {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let accept = std::thread::spawn(move || {
        for conn in listener.incoming() {
            if flag.load(Ordering::SeqCst) {
                return;
            }
            let Ok(conn) = conn else { continue };
            std::thread::spawn(move || serve(conn));
        }
    });
    AdmitsAll {
        addr,
        stop,
        accept: Some(accept),
    }
}

/// Answer 200 to each request head on one keep-alive connection until it closes.
fn serve(mut conn: TcpStream) {
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
        if conn
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .is_err()
        {
            return;
        }
    }
}

fn acme(summary: &serde_json::Value) -> serde_json::Value {
    summary["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "acme")
        .unwrap_or_else(|| panic!("no acme in {summary}"))
        .clone()
}

fn slo<'a>(summary: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    summary["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {summary}"))
}

#[test]
fn a_gateway_that_over_admits_is_stopped_on_the_count_with_exit_1() {
    let d = support::dir("count-abort", "over");
    let server = admits_all();
    let name = "throttle.over_admitted{tenant=acme}";
    let text = throttled(
        &format!("url = \"http://{}\"", server.addr),
        60,
        &format!("\"{name}\" = {{ objective = \"<= 20\", abort = true }}"),
    );
    let started = Instant::now();
    let (out, stderr, code) = run_code(&d, &text);
    drop(server);
    assert_eq!(code, Some(1), "{stderr}");
    // 50 admissions a second beyond the plan: far from the 60 s asked for
    // (generous: a busy machine).
    assert!(started.elapsed().as_secs() < 45, "{:?}", started.elapsed());
    assert!(
        stderr.contains(&format!("aborting: `{name}` cannot pass any more")),
        "{stderr}"
    );
    let summary = read_json(&out.join("summary.json"));
    let a = &summary["aborted"];
    assert_eq!(a["slo"], name, "{a}");
    assert_eq!(a["objective"], "<= 20", "{a}");
    assert_eq!(a["target"], 20.0, "{a}");
    let count = a["count"].as_u64().unwrap_or_else(|| panic!("{a}"));
    assert!(count > 20, "{a}");
    assert!(a["good"].is_null(), "not an availability record: {a}");
    assert!(a["second"].as_u64().unwrap() < 40, "{a}");
    // The count it fired on is a lower bound of the final figure over every attempt.
    let fin = acme(&summary)["over_admitted"].as_u64().unwrap();
    assert!(fin >= count, "final {fin} < live {count}");
    assert_eq!(summary["verdict"], "fail");
    let s = slo(&summary, name);
    assert_eq!(s["verdict"], "fail", "{s}");
    assert_eq!(s["measured"], count as f64, "{s}");
    assert!(
        s["detail"].as_str().unwrap().starts_with("aborted at "),
        "{s}"
    );
    assert_eq!(read_json(&out.join("results.json"))["aborted"], *a);
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("the run was aborted at"), "{md}");
}

#[test]
fn the_exact_reference_gateway_is_not_stopped() {
    let d = support::dir("count-abort", "exact");
    let text = throttled(
        "instances = 1\n\n[[gateway.routes]]\npath = \"/items\"\nupstream = \"api\"\n\n[upstreams.api]\ninstances = 1",
        4,
        "\"throttle.over_admitted\" = { objective = \"<= 0\", abort = true }",
    );
    let (out, stderr, code) = run_code(&d, &text);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("aborting"), "{stderr}");
    let summary = read_json(&out.join("summary.json"));
    assert!(summary["aborted"].is_null(), "{summary}");
    let t = acme(&summary);
    assert!(t["offered"].as_u64().unwrap() > 100, "{t}");
    assert!(
        t["admitted"].as_u64().unwrap() < t["offered"].as_u64().unwrap(),
        "the plan must bite: {t}"
    );
    assert_eq!(t["over_admitted"], 0, "{t}");
    assert_eq!(slo(&summary, "throttle.over_admitted")["verdict"], "pass");
}

#[test]
fn hostile_requests_that_reach_a_backend_stop_the_run() {
    let d = support::dir("count-abort", "hostile");
    // The reference gateway run as "your gateway" with a configuration of no
    // `[gateway.auth]`: it forwards every request, hostile or not. It runs
    // under the guard, which hands it its own pid to die with (a ninefold
    // role given the harness's pid there would kill itself at once).
    std::fs::write(
        d.join("open.toml.tmpl"),
        "[[gateway.routes]]\npath = \"/items\"\nupstream = \"api\"\n\n[upstreams.api]\ntargets = [\"{upstreams.api.addr}\"]\n",
    )
    .unwrap();
    let text = format!(
        r#"
name = "hostile-abort"
duration = "60s"
seed = 24

[gateway]
command = ["sh", "-c", "exec \"$0\" gateway --config \"$1\" --listen 127.0.0.1:$2", "{BIN}", "{{config}}", "{{port}}"]
config = "open.toml.tmpl"
ready = {{ http = "/items/1" }}

[gateway.auth]
algorithm = "HS256"
secret = "count-abort-secret"

[upstreams.api]
instances = 1

[[traffic]]
executor = "constant-arrival-rate"
rate = 30
requests = [{{ path = "/items/1", token = "missing", expect = [200] }}]

[slo]
"auth.hostile_backend_requests" = {{ objective = "<= 5", abort = true }}
"#
    );
    let started = Instant::now();
    let (out, stderr, code) = run_code(&d, &text);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(started.elapsed().as_secs() < 45, "{:?}", started.elapsed());
    assert!(
        stderr.contains("aborting: `auth.hostile_backend_requests` cannot pass any more"),
        "{stderr}"
    );
    let summary = read_json(&out.join("summary.json"));
    let a = &summary["aborted"];
    assert_eq!(a["slo"], "auth.hostile_backend_requests", "{a}");
    let count = a["count"].as_u64().unwrap_or_else(|| panic!("{a}"));
    assert!(count > 5, "{a}");
    // Read after the traffic, the backend's own counter is at least what the poll saw.
    let fin = summary["hostile_backend_requests"].as_u64().unwrap();
    assert!(fin >= count, "final {fin} < polled {count}");
    assert_eq!(summary["verdict"], "fail");
    assert_eq!(
        slo(&summary, "auth.hostile_backend_requests")["verdict"],
        "fail"
    );
}
