//! Watching a run (docs/live.md): in plain mode (stderr is a pipe) the run's
//! events are lines on stderr whose run-clock times are the very ones
//! results.json keeps; an SLO with `abort = true` stops a run as soon as its
//! upper confidence bound misses the target, exit 1, results written.

use crate::support::{dir, read_json, run_code, run_in};

/// Three backends, api[1] killed at 2 s (and replaced by the pool).
const KILL: &str = r#"
name = "live-events"
duration = "5s"
seed = 5

[gateway]
instances = 1

[[gateway.routes]]
path = "/items"
upstream = "api"
methods = ["GET"]
retry = { attempts = 3, per_try_timeout = "500ms" }

[upstreams.api]
instances = 3
health = { interval = "200ms", timeout = "100ms", unhealthy_after = 1, healthy_after = 1 }
restart = { after = "1s" }

[[traffic]]
executor = "constant-arrival-rate"
rate = 40
requests = [{ path = "/items/{rand:1..100}" }]

[[faults]]
at = "2s"
action = "kill"
target = "api[1]"

[slo]
availability = ">= 50%"
"#;

#[test]
fn plain_mode_prints_each_event_at_the_time_results_json_keeps() {
    let d = dir("live", "events");
    let (out, stderr) = run_in(&d, KILL);
    let results = read_json(&out.join("results.json"));
    let fault = &results["faults"][0];
    let line = format!(
        "[{:>9.3}s] fault 0 kill started on api-1",
        fault["at_s"].as_f64().unwrap()
    );
    assert!(stderr.contains(&line), "no `{line}` in\n{stderr}");
    let exited = results["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["instance"] == "api-1" && e["event"] == "exited")
        .expect("api-1's exit is recorded");
    let line = format!(
        "[{:>9.3}s] instance api-1 exited (signalled by the fault)",
        exited["at_s"].as_f64().unwrap()
    );
    assert!(stderr.contains(&line), "no `{line}` in\n{stderr}");
}

/// Every request fails (the backend answers 500 to all of them): the bound
/// misses 99.9 % within the first second or two of a 60 s run.
const FAILING: &str = r#"
name = "live-abort"
duration = "60s"
seed = 9

[gateway]
instances = 1

[[gateway.routes]]
path = "/items"
upstream = "api"

[upstreams.api]
instances = 1
errors = { rate = 1.0, status = 500 }

[[traffic]]
executor = "constant-arrival-rate"
rate = 50
requests = [{ path = "/items/{rand:1..100}" }]

[slo]
availability = { objective = ">= 99.9%", abort = true }
"latency.p99" = "< 10s"
"#;

#[test]
fn an_slo_that_cannot_pass_aborts_the_run_with_exit_1_and_says_when() {
    let d = dir("live", "abort");
    let started = std::time::Instant::now();
    let (out, stderr, code) = run_code(&d, FAILING);
    assert_eq!(code, Some(1), "{stderr}");
    // Far from the 60 s the scenario asks for (generous: a busy machine).
    assert!(started.elapsed().as_secs() < 45, "{:?}", started.elapsed());
    assert!(
        stderr.contains("aborting: `availability` cannot pass any more"),
        "{stderr}"
    );
    let summary = read_json(&out.join("summary.json"));
    let a = &summary["aborted"];
    assert_eq!(a["slo"], "availability", "{summary}");
    let (good, eligible) = (a["good"].as_u64().unwrap(), a["eligible"].as_u64().unwrap());
    assert!(eligible > 0 && good < eligible, "{a}");
    assert!(a["upper_bound"].as_f64().unwrap() < 0.999, "{a}");
    assert!(a["second"].as_u64().unwrap() < 40, "{a}");
    assert_eq!(summary["verdict"], "fail");
    assert_eq!(summary["partial"], false);
    let slo = summary["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "availability")
        .unwrap();
    assert_eq!(slo["verdict"], "fail");
    assert!(
        slo["detail"].as_str().unwrap().starts_with("aborted at "),
        "{slo}"
    );
    // The results keep the record, and the Markdown says when it stopped.
    assert_eq!(read_json(&out.join("results.json"))["aborted"], *a);
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("the run was aborted at"), "{md}");
}

/// api[1] killed at 2 s and started again 1 s later; the gateway's outlier
/// rule ejects it on its first failed attempt, for 4 s, so it is readmitted
/// well after its replacement is ready (the health checks, 3 failed probes
/// 200 ms apart, take it out only after the traffic has). Two of the three
/// may be out at once, so a slow answer of another instance on a busy
/// machine cannot keep api[1] in.
const EJECT: &str = r#"
name = "live-pools"
duration = "8s"
seed = 7

[gateway]
instances = 1

[[gateway.routes]]
path = "/items"
upstream = "api"
methods = ["GET"]
retry = { attempts = 3, per_try_timeout = "500ms" }

[upstreams.api]
instances = 3
health = { interval = "200ms", timeout = "100ms", unhealthy_after = 3, healthy_after = 1 }
outlier = { consecutive_failures = 1, ejection = "4s", max_ejected = "67%" }
restart = { after = "1s" }

[[traffic]]
executor = "constant-arrival-rate"
rate = 40
requests = [{ path = "/items/{rand:1..100}" }]

[[faults]]
at = "2s"
action = "kill"
target = "api[1]"

[slo]
availability = ">= 50%"
"#;

/// The words of a pool event's line (docs/live.md).
fn pool_line(e: &serde_json::Value) -> String {
    let f = |k: &str| e[k].as_f64().unwrap();
    let s = |k: &str| e[k].as_str().unwrap();
    let what = match s("event") {
        "ejected" => "ejected by",
        "readmitted" => "readmitted by",
        "unhealthy" => "failing the health checks of",
        "healthy" => "passing the health checks of",
        other => panic!("unknown pool event {other}"),
    };
    format!(
        "[{:>9.3}s] instance {} {what} {} (pool {}), between {:.3}s and {:.3}s",
        f("at_s"),
        s("instance"),
        s("gateway"),
        s("upstream"),
        f("since_s"),
        f("at_s")
    )
}

#[test]
fn plain_mode_prints_ejections_and_readmissions_as_results_json_keeps_them() {
    let d = dir("live", "pools");
    let (out, stderr) = run_in(&d, EJECT);
    let results = read_json(&out.join("results.json"));
    let pools = &results["pools"];
    assert_eq!(pools["interval_ms"], 250, "{pools}");
    assert!(pools["polls"].as_u64().unwrap() > 10, "{pools}");
    let events = pools["events"].as_array().unwrap();
    // Every event kept is the very line printed, in the order printed.
    let printed: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("] instance ") && l.contains("(pool "))
        .collect();
    let kept: Vec<String> = events
        .iter()
        .map(|e| format!("ninefold: {}", pool_line(e)))
        .collect();
    assert_eq!(printed, kept, "\n{stderr}");
    for e in events {
        let (since, at) = (e["since_s"].as_f64().unwrap(), e["at_s"].as_f64().unwrap());
        assert!(0.0 <= since && since < at, "{e}");
    }
    let kill_at = results["faults"][0]["at_s"].as_f64().unwrap();
    let ready_at = results["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["instance"] == "api-1" && e["at_s"].as_f64().unwrap() > kill_at)
        .find(|e| e["event"] == "replaced" || e["event"] == "ready")
        .map(|e| e["at_s"].as_f64().unwrap())
        .unwrap_or_else(|| panic!("api-1 ready again: {}", results["lifecycle"]));
    // On a busy machine another instance may flap too: only api-1's are judged.
    let api1: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["instance"] == "api-1").collect();
    let after_kill = |e: &&&serde_json::Value| e["at_s"].as_f64().unwrap() > kill_at;
    // Ejected once the kill began (the poll that saw it answered after the
    // kill), and out while it was down (the poll before it, before the ready line).
    let ejected = api1
        .iter()
        .filter(after_kill)
        .find(|e| e["event"] == "ejected")
        .unwrap_or_else(|| panic!("api-1 ejected after {kill_at}: {events:?}\n{stderr}"));
    assert!(
        ejected["since_s"].as_f64().unwrap() < ready_at,
        "{ejected} vs ready at {ready_at}"
    );
    // Back in the pool only once its replacement was ready: the last change
    // (a readmission or passing checks again) was seen after the ready line.
    assert!(
        api1.iter()
            .filter(after_kill)
            .any(|e| e["event"] == "readmitted"),
        "{api1:?}\n{stderr}"
    );
    let last = api1.last().unwrap();
    assert!(
        last["event"] == "readmitted" || last["event"] == "healthy",
        "api-1 ends up: {api1:?}"
    );
    assert!(
        last["at_s"].as_f64().unwrap() >= ready_at,
        "{last} vs ready at {ready_at}"
    );
}

/// A rate no generator keeps, at an API of the test's (`[gateway] url`: nothing is
/// started): the run says, on stderr at a run-clock time, that the generator fell
/// behind its schedule, beside the drops that make it invalid (exit 5).
#[test]
fn a_run_whose_generator_cannot_keep_the_rate_says_it_fell_behind() {
    let app = axum::Router::new().route("/items/1", axum::routing::get(|| async { "{}" }));
    let server = crate::credentials::serve(app);
    let d = dir("live", "behind");
    let scenario = format!(
        r#"
name = "live-behind"
duration = "2s"
seed = 3

[gateway]
url = "http://{}"

[[traffic]]
executor = "constant-arrival-rate"
rate = 5000000
connections = 2
max_in_flight = 100
requests = [{{ path = "/items/1" }}]
"#,
        server.addr
    );
    let (out, stderr, code) = run_code(&d, &scenario);
    assert_eq!(code, Some(5), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("the generator is behind its schedule"))
        .unwrap_or_else(|| panic!("no falling-behind event in\n{stderr}"));
    let at: f64 = line
        .split_once('[')
        .and_then(|(_, r)| r.split_once("s]"))
        .and_then(|(t, _)| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("no run-clock time in `{line}`"));
    // Within the traffic's 2 s and its last snapshot (generous: a busy machine).
    assert!((0.0..10.0).contains(&at), "{line}");
    // The run folder keeps the drops the events told of.
    let results = read_json(&out.join("results.json"));
    let dropped = results["recording"]["phases"][0]["dropped"].as_u64();
    assert!(dropped.is_some_and(|n| n > 0), "{:?}", dropped);
}
