//! The CI smoke run of the scenario library: every scenario but `soak` and
//! `chaos` runs end to end with `--time-scale`, one at a time (they share a
//! lock: two runs at once would fight over two cores), each bounded in time,
//! and each is judged by its exit code and the figure that says it did what
//! its description promises, read from `summary.json` and `results.json`.
//!
//! Scales are per scenario: small enough that the whole set takes a few
//! minutes, large enough that every SLO still sees the requests it needs
//! (e.g. the cache needs its TTL to span several requests per key).
//!
//! Release builds only (`cargo test --release --test library_e2e`): the
//! scenarios drive 150–500 req/s through a gateway, backends and the fault
//! proxy on two cores, which an unoptimized build cannot keep up with on a
//! busy machine (its generator falls behind and every latency SLO fails for
//! the build's sake, not the scenario's). In a debug build the tests are
//! ignored, visibly.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

/// One scenario run at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Run {
    dir: PathBuf,
    code: Option<i32>,
    summary: Value,
    results: Value,
    output: String,
}

impl Run {
    fn slo(&self, name: &str) -> &Value {
        self.summary["slos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no SLO {name}:\n{}", self.output))
    }

    fn tenant(&self, id: &str) -> &Value {
        self.summary["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap_or_else(|| panic!("no tenant {id}:\n{}", self.output))
    }

    /// Route classes of one phase in the recording.
    fn keys(&self, phase: &str) -> Vec<&Value> {
        self.results["recording"]["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["phase"] == phase)
            .collect()
    }

    /// Answers an instance (`api-1`, `gateway-0`) gave in seconds [from, to) of the run.
    fn served(&self, instance: &str, from: f64, to: f64) -> u64 {
        self.results["recording"]["seconds"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| {
                let t = s["second"].as_f64().unwrap();
                t >= from && t + 1.0 <= to
            })
            .map(|s| s["instances"][instance].as_u64().unwrap_or(0))
            .sum()
    }
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"))
}

/// Run `scenarios/NAME.toml` at `scale`; killed if it outlives its bound.
fn run(name: &str, scale: f64) -> Run {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let out = std::env::temp_dir().join(format!("ninefold-library-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let length = ninefold::scenario::load::load_file(&scenario(name))
        .unwrap()
        .scenario
        .duration
        .mul_f64(scale);
    // Start-up, teardown and a busy machine: generous, but a hung run still ends.
    let bound = length * 3 + Duration::from_secs(60);
    let child = Command::new(env!("CARGO_BIN_EXE_ninefold"))
        .arg("run")
        .arg(scenario(name))
        .args(["--time-scale", &scale.to_string(), "--out"])
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(bound) {
        Ok(o) => o.unwrap(),
        Err(_) => {
            // SIGINT first: the harness tears its children down on it.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            let _ = rx.recv_timeout(Duration::from_secs(20));
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            panic!("{name} at time scale {scale} did not finish within {bound:?}");
        }
    };
    let text = format!(
        "{name} ×{scale}\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let read = |file: &str| -> Value {
        let path = out.join(file);
        let body = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()));
        serde_json::from_str(&body).unwrap()
    };
    let run = Run {
        dir: out.clone(),
        code: output.status.code(),
        summary: read("summary.json"),
        results: read("results.json"),
        output: text,
    };
    assert_eq!(
        run.summary["time_scale"], scale,
        "the results say the run was scaled"
    );
    assert_eq!(run.results["time_scale"], scale);
    assert!(
        run.output.contains(&format!("time scale {scale}")),
        "the terminal says so too:\n{}",
        run.output
    );
    assert_eq!(run.summary["requests"]["dropped"], 0, "{}", run.output);
    // Kept when the test fails, to read; removed when it passes.
    run
}

impl Drop for Run {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn passes(r: &Run) {
    assert_eq!(r.code, Some(0), "the scenario passes:\n{}", r.output);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "run with --release (see the module docs)")]
fn quickstart_passes() {
    let r = run("quickstart", 0.3);
    passes(&r);
    assert!(r.summary["requests"]["sent"].as_u64().unwrap() > 1000);
    assert!(
        r.summary["integrity"]["acknowledged_writes"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore = "run with --release (see the module docs)")]
fn failover_moves_the_killed_instances_traffic_and_takes_it_back() {
    // Half speed: at a quarter, the fixed costs of a replacement (process start,
    // new connections) weigh on too few requests and the p99 SLO misses.
    let r = run("failover", 0.5);
    passes(&r);
    // Scaled: api[1] is killed at 12.5 s and replaced 7.5 s later.
    let lifecycle = r.results["lifecycle"].as_array().unwrap();
    let replaced = lifecycle
        .iter()
        .find(|e| e["instance"] == "api-1" && e["event"] == "replaced")
        .unwrap_or_else(|| panic!("no replacement: {lifecycle:?}"));
    let back = replaced["at_s"].as_f64().unwrap();
    assert!((19.5..23.0).contains(&back), "replaced at {back}");
    assert!(
        r.served("api-1", 0.0, 12.0) > 0,
        "api[1] served before the kill"
    );
    // From 16 s: cached answers api[1] gave before the kill (2.5 s TTL) have
    // expired, and zone c (api[2]) is down 16–18.5 s: api[0] carries it all.
    assert_eq!(
        r.served("api-1", 16.0, 19.0),
        0,
        "nothing from a dead instance"
    );
    assert!(
        r.served("api-0", 16.0, 19.0) + r.served("api-2", 16.0, 19.0) > 300,
        "the others took its traffic"
    );
    assert!(
        r.served("api-1", back.ceil(), 30.0) > 0,
        "it came back after replacement"
    );
    assert_eq!(r.summary["integrity"]["lost"], 0);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "run with --release (see the module docs)")]
fn rolling_restart_drains_each_instance_and_loses_nothing() {
    let r = run("rolling-restart", 0.2);
    passes(&r);
    let faults = r.summary["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 3);
    for f in faults {
        assert_eq!(f["action"], "terminate");
        assert!(
            f["reverted_at_s"].is_number(),
            "each instance came back: {f}"
        );
    }
    let integrity = &r.summary["integrity"];
    assert_eq!(integrity["checked"], true);
    assert!(integrity["acknowledged_writes"].as_u64().unwrap() > 100);
    assert_eq!(integrity["lost"], 0);
    assert_eq!(integrity["duplicates"], 0);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "run with --release (see the module docs)")]
fn latency_injection_is_routed_around() {
    let r = run("latency-injection", 0.3);
    passes(&r);
    let during = r.slo("latency.p80{window=fault:0}");
    assert_eq!(during["verdict"], "pass");
    // Below half the injected 200 ms: least-request sent the slow instance little.
    assert!(during["measured"].as_f64().unwrap() < 0.1, "{during}");
}

#[test]
#[cfg_attr(debug_assertions, ignore = "run with --release (see the module docs)")]
fn throttling_admits_what_each_plan_allows() {
    let r = run("throttling", 0.3);
    passes(&r);
    for id in ["gold", "silver", "free-tier"] {
        let t = r.tenant(id);
        let err = t["accuracy_error"]
            .as_f64()
            .unwrap_or_else(|| panic!("accuracy of {id} present: {t}"));
        assert!(err.abs() <= 0.03, "{id}: {t}");
    }
    for id in ["gold", "silver"] {
        let t = r.tenant(id);
        assert_eq!(t["admitted"], t["offered"], "{id} is under its plan: {t}");
        assert_eq!(t["wrongful_throttles"], 0, "{t}");
    }
    let free = r.tenant("free-tier");
    let (offered, admitted) = (
        free["offered"].as_u64().unwrap(),
        free["admitted"].as_u64().unwrap(),
    );
    assert!(
        admitted * 2 < offered,
        "the noisy neighbour was throttled: {free}"
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore = "run with --release (see the module docs)")]
fn quota_boundary_is_exact() {
    let r = run("quota", 0.3);
    passes(&r);
    // 600 per minute, scaled: 180 per 18 s, run out after ~4.5 s of a 9 s run.
    let trial = r.tenant("trial");
    assert_eq!(trial["admitted"], 180, "{trial}");
    assert_eq!(trial["model_admitted"], 180, "{trial}");
    assert_eq!(trial["over_admitted"], 0, "{trial}");
    assert_eq!(trial["wrongful_throttles"], 0, "{trial}");
    assert!(
        trial["offered"].as_u64().unwrap() > 250,
        "it went past the quota: {trial}"
    );
    let paying = r.tenant("paying");
    assert_eq!(paying["admitted"], paying["offered"], "{paying}");
}

#[test]
#[cfg_attr(debug_assertions, ignore = "run with --release (see the module docs)")]
fn auth_refuses_every_hostile_request_itself() {
    let r = run("auth", 0.3);
    passes(&r);
    let hostile = r.keys("hostile");
    assert_eq!(hostile.len(), 6, "six hostile kinds");
    for k in hostile {
        let statuses = k["statuses"].as_object().unwrap();
        let total: u64 = statuses.values().map(|v| v.as_u64().unwrap()).sum();
        assert!(total > 0, "{k}");
        assert_eq!(
            statuses.get("401").and_then(Value::as_u64),
            Some(total),
            "all 401: {k}"
        );
    }
    assert!(r.summary["requests"]["sent"].as_u64().unwrap() > 1000);
    // Counted by the backends themselves: not one hostile request reached them.
    assert_eq!(r.summary["hostile_backend_requests"], 0, "{}", r.output);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "run with --release (see the module docs)")]
fn cache_offloads_the_backends_through_an_instance_loss() {
    let r = run("cache", 0.4);
    passes(&r);
    let hit = r.slo("cache.hit_ratio");
    assert!(hit["measured"].as_f64().unwrap() >= 0.8, "{hit}");
    // Backend offload: only cache misses went upstream (cached answers keep
    // the instance header of the answer they copy, so instance counts cannot tell).
    let sent = r.summary["requests"]["sent"].as_f64().unwrap();
    let misses = r.results["gateway_counters"]["gateway_cache_misses_total"]
        .as_f64()
        .unwrap();
    assert!(
        misses * 4.0 < sent,
        "most answers came from the cache: {misses} misses of {sent}"
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore = "run with --release (see the module docs)")]
fn gateway_ha_client_fails_over_to_the_other_gateway() {
    let r = run("gateway-ha", 0.5);
    passes(&r);
    let fault = &r.summary["faults"][0];
    assert_eq!(fault["target"], "gateway-0");
    assert!(fault["reverted_at_s"].is_number(), "it came back: {fault}");
    // One gateway of two was dead for a quarter of the run: the client's
    // retries on the other one kept almost every request good.
    assert!(fault["bad_requests"].as_u64().unwrap() < 20, "{fault}");
    assert_eq!(r.summary["integrity"]["lost"], 0);
    assert_eq!(r.summary["integrity"]["duplicates"], 0);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "run with --release (see the module docs)")]
fn idempotency_keys_lose_and_duplicate_nothing() {
    let r = run("idempotency", 0.3);
    passes(&r);
    let integrity = &r.summary["integrity"];
    assert_eq!(integrity["checked"], true, "{integrity}");
    assert!(integrity["acknowledged_writes"].as_u64().unwrap() > 200);
    assert_eq!(integrity["lost"], 0);
    assert_eq!(integrity["duplicates"], 0);
    let retries = |phase: &str| -> u64 {
        r.keys(phase)
            .iter()
            .map(|k| k["retries"].as_u64().unwrap())
            .sum()
    };
    // Keyed writes are retried by the gateway (it may: they carry a key), unkeyed
    // ones only by the client: both happened, so the test is not vacuous.
    let gateway_retries = r.results["gateway_counters"]["gateway_retries_total"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(
        gateway_retries + retries("with-keys") as f64 > 0.0,
        "keyed writes were retried"
    );
    assert!(
        retries("without-keys") > 0,
        "the control's writes were retried by the client"
    );
    let control = integrity["unkeyed_duplicates"].as_u64().unwrap();
    assert!(
        control > 0,
        "without keys the same retries duplicate: {integrity}"
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore = "run with --release (see the module docs)")]
fn serverless_throttles_the_burst_and_keeps_the_median_warm() {
    let r = run("serverless", 0.3);
    passes(&r);
    let throttled: u64 = r
        .keys("burst")
        .iter()
        .map(|k| k["statuses"]["429"].as_u64().unwrap_or(0))
        .sum();
    assert!(throttled > 0, "the burst went past the concurrency limit");
    assert!(
        r.summary["latency_ms"]["max"].as_f64().unwrap() >= 300.0,
        "a cold start showed"
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore = "run with --release (see the module docs)")]
fn nginx_failover_runs_your_nginx_and_service_under_the_faults() {
    let on_path = |program: &str| {
        std::env::var_os("PATH").is_some_and(|p| {
            std::env::split_paths(&p)
                .chain(["/usr/sbin".into(), "/sbin".into()])
                .any(|d| d.join(program).is_file())
        })
    };
    if !on_path("nginx") || !on_path("python3") {
        eprintln!(
            "skipped: nginx-failover needs nginx and python3 (Debian: apt-get install nginx-light python3)"
        );
        return;
    }
    let r = run("nginx-failover", 0.5);
    passes(&r);
    let lifecycle = r.results["lifecycle"].as_array().unwrap();
    assert!(
        lifecycle
            .iter()
            .any(|e| e["instance"] == "api-1" && e["event"] == "replaced"),
        "{lifecycle:?}"
    );
    assert!(
        r.served("api-1", 0.0, 4.0) > 0,
        "api[1] served through nginx"
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore = "run with --release (see the module docs)")]
fn failing_slo_gates_with_exit_1() {
    let r = run("failing-slo", 0.5);
    assert_eq!(r.code, Some(1), "{}", r.output);
    assert_eq!(r.slo("latency.p99")["verdict"], "fail");
    assert_eq!(r.slo("availability")["verdict"], "pass");
}

#[test]
#[cfg_attr(debug_assertions, ignore = "run with --release (see the module docs)")]
fn two_gateways_share_one_plan_through_redis() {
    let r = run("gateway-ha-throttling", 0.5);
    passes(&r);
    let acme = r.tenant("acme");
    let err = acme["accuracy_error"].as_f64().expect("accuracy present");
    assert!(err.abs() <= 0.02, "shared limits admit one plan: {acme}");
    let (offered, admitted) = (
        acme["offered"].as_u64().unwrap(),
        acme["admitted"].as_u64().unwrap(),
    );
    assert!(admitted * 2 < offered, "3x the plan is throttled: {acme}");
}

#[test]
#[cfg_attr(debug_assertions, ignore = "run with --release (see the module docs)")]
fn a_redis_outage_fails_open_and_the_report_measures_the_cost() {
    let r = run("gateway-ha-redis-outage", 0.5);
    assert_eq!(
        r.code,
        Some(1),
        "over-admission fails the gate: {}",
        r.output
    );
    assert_eq!(r.slo("throttle.accuracy")["verdict"], "fail");
    assert_eq!(
        r.slo("availability")["verdict"],
        "pass",
        "failing open keeps serving"
    );
    let unavailable = r.results["gateway_counters"]["gateway_limiter_unavailable_total"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(unavailable > 0.0, "the gateways noticed Redis was gone");
}
